// Placement: stripe width by device count and object size, and devices
// chosen in proportion to their free space.
#include "pool/placement.h"

#include <gtest/gtest.h>

#include <set>

namespace lares {
namespace {

TEST(PlacementTest, DataShardsFollowDevicesRedundancyAndSize) {
  EXPECT_EQ(choose_data_shards(1, 1, 8, 1 << 20), 0) << "r + 1 devices are the minimum";
  EXPECT_EQ(choose_data_shards(2, 1, 8, 1 << 20), 1);
  EXPECT_EQ(choose_data_shards(6, 2, 8, 64 << 20), 4);
  EXPECT_EQ(choose_data_shards(10, 2, 8, 64 << 20), 8);
  EXPECT_EQ(choose_data_shards(20, 2, 8, 64 << 20), 8) << "k is capped";
  EXPECT_EQ(choose_data_shards(10, 2, 8, 0), 1);
  EXPECT_EQ(choose_data_shards(10, 2, 8, kMinShardBytes), 1);
  EXPECT_EQ(choose_data_shards(10, 2, 8, kMinShardBytes + 1), 2);
  EXPECT_EQ(choose_data_shards(10, 2, 8, 3 * kMinShardBytes), 3);
}

TEST(PlacementTest, PicksAreDistinctAndProportionalToFreeSpace) {
  // Free space 1 : 2 : 4 : 8 (TB, say): single picks should follow it.
  const std::vector<uint64_t> weights = {1000, 2000, 4000, 8000};
  SeededRandom random(1234);
  std::vector<int> hits(weights.size(), 0);
  const int rounds = 60000;
  for (int i = 0; i < rounds; ++i) hits[weighted_pick(weights, 1, random)[0]]++;
  for (size_t i = 0; i < weights.size(); ++i) {
    double expected = rounds * static_cast<double>(weights[i]) / 15000.0;
    EXPECT_NEAR(hits[i], expected, expected * 0.05) << "device " << i;
  }
  for (int i = 0; i < 1000; ++i) {
    auto picks = weighted_pick(weights, 3, random);
    EXPECT_EQ(std::set<size_t>(picks.begin(), picks.end()).size(), 3u);
  }
  EXPECT_EQ(weighted_pick(weights, 4, random).size(), 4u);
}

}  // namespace
}  // namespace lares
