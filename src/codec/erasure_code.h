// Reed–Solomon erasure coding over GF(2^8), via ISA-L.
//
// k data shards and r parity shards, all of the same length. Any k of the
// k+r shards rebuild the rest. k == 1 is mirroring: every parity shard is a
// copy of the data (ISA-L's Cauchy matrix would scale it, so copies are made
// directly; readers of a mirror can then use any copy as data).
//
// Thread safety: an ErasureCode is immutable after construction and may be
// shared by threads.
#pragma once

#include <cstdint>
#include <vector>

#include "util/bytes.h"
#include "util/status.h"

namespace lares {

class ErasureCode {
 public:
  static constexpr int kMaxData = 32;
  static constexpr int kMaxParity = 4;

  // REQUIRES: 1 <= k <= kMaxData, 0 <= r <= kMaxParity.
  ErasureCode(int k, int r);

  int data_count() const { return k_; }
  int parity_count() const { return r_; }

  // Computes the r parity shards from the k data shards.
  // REQUIRES: data.size() == k, parity.size() == r, every span the same length.
  void encode(const std::vector<ByteView>& data, const std::vector<MutableByteView>& parity) const;

  // Rebuilds missing shards. `shards` has k+r entries, each the shard's bytes
  // or an empty span when missing; `rebuild` lists the indices to produce into
  // `out` (same order). Needs at least k present shards, else kUnavailable.
  Status reconstruct(const std::vector<ByteView>& shards, const std::vector<int>& rebuild,
                     const std::vector<MutableByteView>& out, size_t shard_length) const;

 private:
  int k_;
  int r_;
  std::vector<uint8_t> matrix_;         // (k + r) x k encoding matrix
  std::vector<uint8_t> encode_tables_;  // ISA-L expanded tables for the parity rows
};

}  // namespace lares
