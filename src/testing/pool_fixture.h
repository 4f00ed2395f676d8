// Helpers for pool tests: reproducible data and direct damage to shard files.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "codec/key.h"
#include "util/bytes.h"

namespace lares::testing {

// Bytes that depend only on (seed, size): a test regenerates what it wrote.
// Mixes compressible runs and noise, like real files.
Bytes test_bytes(uint64_t seed, size_t size);

// Every published shard file (not .tmp/.del) under a device folder.
std::vector<std::string> shard_files(const std::string& device_dir);

// Flips one bit of a file in place (offset in bits).
void flip_bit(const std::string& path, uint64_t bit_offset);
void truncate_to(const std::string& path, uint64_t size);
void write_junk(const std::string& path, uint64_t seed, size_t size);
uint64_t size_of(const std::string& path);

// A key whose bytes are first, first + 1, ... (mod 256): fixed test keys.
Key32 sequential_key(uint8_t first);

// A seed for randomized tests: LARES_TEST_SEED if set, else a fresh one.
// Tests print it on failure so any run replays exactly.
uint64_t test_seed(uint64_t fixed_default);

}  // namespace lares::testing
