#include "codec/erasure_code.h"

#include <gtest/gtest.h>

#include <bit>
#include <cstdlib>
#include <string>
#include <tuple>
#include <vector>

#include "util/random.h"

namespace lares {
namespace {

// Randomized tests replay from their seed: LARES_TEST_SEED=<n> overrides it.
uint64_t test_seed() {
  const char* env = std::getenv("LARES_TEST_SEED");
  return env != nullptr ? std::strtoull(env, nullptr, 10) : 0x5eed0001;
}

struct Stripe {
  std::vector<Bytes> shards;  // k data shards, then r parity shards
};

Stripe encode_random(const ErasureCode& code, size_t shard_length, SeededRandom& random) {
  const int k = code.data_count();
  const int r = code.parity_count();
  Stripe s;
  s.shards.assign(static_cast<size_t>(k + r), Bytes(shard_length));
  for (int i = 0; i < k; ++i) {
    for (auto& b : s.shards[i]) b = static_cast<uint8_t>(random.next());
  }
  std::vector<ByteView> data(s.shards.begin(), s.shards.begin() + k);
  std::vector<MutableByteView> parity(s.shards.begin() + k, s.shards.end());
  code.encode(data, parity);
  return s;
}

// Erases the shards whose bit is set in `mask`, rebuilds them all, and
// returns the status; on success checks every rebuilt byte.
Status erase_and_rebuild(const ErasureCode& code, const Stripe& s, uint64_t mask) {
  const int n = code.data_count() + code.parity_count();
  const size_t length = s.shards[0].size();
  std::vector<ByteView> present(static_cast<size_t>(n));
  std::vector<int> rebuild;
  for (int i = 0; i < n; ++i) {
    if (mask & (uint64_t{1} << i)) {
      rebuild.push_back(i);
    } else {
      present[i] = s.shards[i];
    }
  }
  std::vector<Bytes> out(rebuild.size(), Bytes(length, 0xee));
  std::vector<MutableByteView> out_views(out.begin(), out.end());
  Status st = code.reconstruct(present, rebuild, out_views, length);
  if (!st.is_ok()) return st;
  for (size_t w = 0; w < rebuild.size(); ++w) {
    EXPECT_EQ(out[w], s.shards[rebuild[w]]) << "shard " << rebuild[w] << " rebuilt wrong";
  }
  return st;
}

class ErasureCodeTest : public ::testing::TestWithParam<std::tuple<int, int>> {};

TEST_P(ErasureCodeTest, RebuildsEverySetOfUpToRLostShards) {
  const auto [k, r] = GetParam();
  const uint64_t seed = test_seed();
  SCOPED_TRACE("k=" + std::to_string(k) + " r=" + std::to_string(r) +
               " seed=" + std::to_string(seed));
  SeededRandom random(seed);
  ErasureCode code(k, r);
  ASSERT_EQ(code.data_count(), k);
  ASSERT_EQ(code.parity_count(), r);
  const int n = k + r;
  for (size_t length : {size_t{1}, size_t{1000}, size_t{4096 + 37}}) {
    Stripe s = encode_random(code, length, random);
    int rebuilt_sets = 0;
    for (uint32_t mask = 0; mask < (1u << n); ++mask) {
      const int lost = std::popcount(mask);
      Status st = erase_and_rebuild(code, s, mask);
      if (lost <= r) {
        ASSERT_TRUE(st.is_ok()) << "mask " << mask << ": " << st.to_string();
        ++rebuilt_sets;
      } else {
        ASSERT_EQ(st.code(), Code::kUnavailable) << "mask " << mask;
      }
    }
    int expected_sets = 0;  // sum of C(n, i) for i <= r
    for (uint32_t mask = 0; mask < (1u << n); ++mask) expected_sets += std::popcount(mask) <= r;
    EXPECT_EQ(rebuilt_sets, expected_sets);
  }
}

TEST_P(ErasureCodeTest, MirrorsAndParityAreDeterministic) {
  const auto [k, r] = GetParam();
  SeededRandom a(test_seed()), b(test_seed());
  ErasureCode code(k, r);
  Stripe one = encode_random(code, 512, a);
  Stripe two = encode_random(code, 512, b);
  EXPECT_EQ(one.shards, two.shards);
  if (k == 1) {
    for (int i = 1; i <= r; ++i) EXPECT_EQ(one.shards[i], one.shards[0]) << "copy " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(KByR, ErasureCodeTest,
                         ::testing::Combine(::testing::Values(1, 2, 4, 8),
                                            ::testing::Values(1, 2, 3)),
                         [](const auto& param_info) {
                           return "k" + std::to_string(std::get<0>(param_info.param)) + "_r" +
                                  std::to_string(std::get<1>(param_info.param));
                         });

TEST(ErasureCodeEdgeTest, NoParityEncodesNothing) {
  ErasureCode code(4, 0);
  SeededRandom random(test_seed());
  Stripe s = encode_random(code, 100, random);
  EXPECT_EQ(s.shards.size(), 4u);
  EXPECT_TRUE(erase_and_rebuild(code, s, 0).is_ok());
  EXPECT_EQ(erase_and_rebuild(code, s, 1).code(), Code::kUnavailable);
}

TEST(ErasureCodeEdgeTest, LargestCodeRebuildsLostDataShards) {
  ErasureCode code(ErasureCode::kMaxData, ErasureCode::kMaxParity);
  SeededRandom random(test_seed());
  Stripe s = encode_random(code, 256, random);
  EXPECT_TRUE(erase_and_rebuild(code, s, 0b1111u).is_ok());  // first four data shards
  EXPECT_TRUE(erase_and_rebuild(code, s, (uint64_t{1} << 31) | (uint64_t{1} << 35))
                  .is_ok());  // data and parity
  EXPECT_EQ(erase_and_rebuild(code, s, 0b11111u).code(), Code::kUnavailable);
}

TEST(ErasureCodeEdgeTest, RebuildingOnlySomeOfTheMissingShards) {
  ErasureCode code(4, 2);
  SeededRandom random(test_seed());
  Stripe s = encode_random(code, 333, random);
  std::vector<ByteView> present(s.shards.begin(), s.shards.end());
  present[1] = {};
  present[4] = {};
  Bytes out(333);
  std::vector<MutableByteView> outs = {out};
  ASSERT_TRUE(code.reconstruct(present, {1}, outs, 333).is_ok());
  EXPECT_EQ(out, s.shards[1]);
}

}  // namespace
}  // namespace lares
