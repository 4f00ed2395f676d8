#include "pool/placement.h"

#include <algorithm>

#include "util/check.h"

namespace lares {

int choose_data_shards(size_t eligible, int r, int max_data_shards, uint64_t object_size) {
  if (eligible < static_cast<size_t>(r) + 1) return 0;
  int k = std::min(max_data_shards, static_cast<int>(eligible) - r);
  uint64_t by_size = (object_size + kMinShardBytes - 1) / kMinShardBytes;
  k = static_cast<int>(
      std::min<uint64_t>(static_cast<uint64_t>(k), std::max<uint64_t>(1, by_size)));
  LARES_CHECK(k >= 1);
  return k;
}

std::vector<size_t> weighted_pick(const std::vector<uint64_t>& weights, size_t count,
                                  SeededRandom& random) {
  LARES_CHECK(count <= weights.size());
  std::vector<size_t> chosen;
  std::vector<bool> taken(weights.size(), false);
  for (size_t round = 0; round < count; ++round) {
    long double total = 0;
    for (size_t i = 0; i < weights.size(); ++i) {
      if (!taken[i]) total += static_cast<long double>(weights[i]);
    }
    long double target = static_cast<long double>(random.unit()) * total;
    size_t pick = weights.size();
    for (size_t i = 0; i < weights.size(); ++i) {
      if (taken[i]) continue;
      pick = i;  // the last untaken one absorbs rounding
      target -= static_cast<long double>(weights[i]);
      if (target < 0) break;
    }
    LARES_CHECK(pick < weights.size());
    taken[pick] = true;
    chosen.push_back(pick);
  }
  return chosen;
}

}  // namespace lares
