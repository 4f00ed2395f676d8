// Randomness: OS entropy for identifiers, and a seeded generator for tests
// and placement so a run can be replayed from its seed.
#pragma once

#include <cstdint>
#include <string>

#include "util/bytes.h"

namespace lares {

// Fills `out` from the kernel's CSPRNG (getrandom); aborts if it cannot,
// because an identifier that might repeat is worse than stopping.
void fill_random(MutableByteView out);
uint64_t random_u64();
std::string random_hex(size_t byte_count);

// SplitMix64: tiny, fast, good enough for placement and test schedules.
// Never used for anything secret.
class SeededRandom {
 public:
  explicit SeededRandom(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  // Uniform in [0, bound); REQUIRES: bound > 0.
  uint64_t uniform(uint64_t bound) { return next() % bound; }
  double unit() { return static_cast<double>(next() >> 11) * (1.0 / 9007199254740992.0); }

 private:
  uint64_t state_;
};

}  // namespace lares
