// Placement: how wide an object is striped and which devices hold it.
#pragma once

#include <cstdint>
#include <vector>

#include "util/random.h"

namespace lares {

// Objects smaller than k * kMinShardBytes use fewer data shards, so tiny
// objects are not spread into tiny shards (each shard costs a file and a
// 4 KiB header).
inline constexpr uint64_t kMinShardBytes = 64 * 1024;

// The number of data shards for an object of `object_size` bytes on
// `eligible` devices with redundancy r. Returns 0 when fewer than r + 1
// devices are eligible (the object cannot be stored with its redundancy).
int choose_data_shards(size_t eligible, int r, int max_data_shards, uint64_t object_size);

// Picks `count` distinct candidates, each with probability proportional to
// its weight (free bytes), so devices fill in proportion to their free space
// and a newly added, empty device takes new data at once.
// REQUIRES: count <= weights.size(); weights are > 0.
std::vector<size_t> weighted_pick(const std::vector<uint64_t>& weights, size_t count,
                                  SeededRandom& random);

}  // namespace lares
