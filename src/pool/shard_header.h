// The header at the start of every shard file.
//
// A shard file is <device>/shards/<hh>/<name-hash> (one shard of an object
// per device) and holds the header, zero padding to header_size, then
// shard_size bytes of shard data.
//
// Header layout (docs/FORMAT.md, "Shard file"), little-endian:
//   0   8  magic "LARSHARD"
//   8   2  format version (1)
//   10  2  flags (0)
//   12  4  header_size: bytes before the shard data, a multiple of 4096
//   16  16 pool id (raw bytes)
//   32  8  put id: identifies one put (one version) of the object
//   40  8  replaces put id: the version this put superseded (0: none)
//   48  8  object size in bytes
//   56  8  shard size in bytes: ceil(object size / k) rounded up to a
//          multiple of 4096 (so shards can be written with direct I/O);
//          data shards are zero-padded to it
//   64  4  block size in bytes (power of two, 4 KiB .. 1 MiB)
//   68  1  k (data shards)  69  1  r (parity shards)
//   70  1  shard index (0..k-1 data, k..k+r-1 parity)
//   71  1  reserved (0)
//   72  2  name length n (1..1024)
//   74  n  object name
//   ..     placement: k + r device ids (u64 each; 0 = unknown), the device
//          each shard was written to. A hint for diagnosis and repair
//          only: shards move (heal, replace, remove) and readers always
//          find them by probing the devices.
//   ..     block checksums: (k + r) rows of ceil(shard size / block size)
//          crc32c values, row i for shard i. Every shard carries the whole
//          table, so a shard rebuilt from the others is verified before use.
//   ..  4  crc32c of all header bytes before it
// A header never exceeds kMaxHeaderBytes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "util/bytes.h"
#include "util/status.h"

namespace lares {

struct ShardHeader {
  static constexpr uint16_t kFormatVersion = 1;
  static constexpr uint32_t kAlignment = 4096;
  static constexpr uint32_t kMaxHeaderBytes = 16u << 20;
  static constexpr size_t kFixedBytes = 74;

  Bytes pool_id;  // 16 bytes
  uint64_t put_id = 0;
  uint64_t replaces_put_id = 0;
  uint64_t object_size = 0;
  uint64_t shard_size = 0;
  uint32_t block_size = 0;
  int k = 0;
  int r = 0;
  int shard_index = 0;
  std::string name;
  std::vector<uint64_t> devices;    // k + r device ids (empty when encoding: all unknown)
  std::vector<uint32_t> checksums;  // (k + r) * block_count(), row-major by shard

  uint64_t block_count() const { return (shard_size + block_size - 1) / block_size; }
  uint32_t checksum(int shard, uint64_t block) const {
    return checksums[static_cast<size_t>(shard) * block_count() + block];
  }
  // Bytes the encoded header occupies before the shard data.
  uint32_t header_size() const;
  // True when both describe the same version of the same object.
  bool same_version(const ShardHeader& other) const;
};

// The shard size of an object of `object_size` bytes cut into k data shards.
uint64_t shard_size_for(uint64_t object_size, int k);

Bytes encode_shard_header(const ShardHeader& header);
// The header_size a file claims, from its first 16 bytes, so a reader knows
// how much to read. Fails on bad magic or an out-of-range size.
Result<uint32_t> peek_header_size(ByteView first_bytes);
// Full validation (magic, version, ranges, table size, checksum).
Result<ShardHeader> decode_shard_header(ByteView bytes);

}  // namespace lares
