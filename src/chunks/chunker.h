// Content-defined chunking (FastCDC): splits a byte stream into chunks whose
// boundaries depend only on the bytes near them, so inserting or deleting
// bytes in a file changes only the chunks around the edit and every other
// chunk deduplicates against the previous version.
//
// FORMAT. Chunk boundaries decide which chunks two versions of a file share,
// so the rule below, the gear table and the parameters are part of the
// repository format: changing any of them re-chunks (and re-uploads)
// everything. The pinned test in tests/chunks/chunker_test.cc fails first.
//
// The rule, for a chunk that starts at stream offset s (i counts bytes from s):
//   1. Bytes i < min are not hashed (cut-point skipping).
//   2. From i = min on, a 64-bit gear hash rolls over each byte, mod 2^64:
//        hash = 0 before byte min;  hash = (hash << 1) + kGearTable[byte i]
//      Bit b of the hash depends on the last b + 1 bytes only.
//   3. The chunk ends after byte i (length i + 1) at the first i with
//        (hash & mask_small) == 0   while i <  normal
//        (hash & mask_large) == 0   while i >= normal
//      mask_small has log2(avg) + 2 one-bits and mask_large log2(avg) - 2
//      (normalized chunking, level 2), both contiguous and ending at bit 62:
//        mask(n) = ((1 << n) - 1) << (63 - n)
//      so every tested bit sees a window of at least 42 bytes (1 MiB avg).
//      Bit 63 is left out so that the 2020 paper's two-bytes-per-step loop
//      (which tests mask << 1 on a half-rolled hash) gives the same cuts.
//      normal = max(min, avg - min / 2).
//   4. With no such i below max, the chunk ends at length max.
//   The stream's last chunk is what remains: 1 to max bytes.
//
// normal: the FastCDC papers switch masks at avg; with cut-point skipping
// that puts the mean near avg + 2/3 min (1.17 MiB for the defaults). Switching
// min/2 earlier brings the mean on random data within about 7% of avg for
// min/avg from 1/8 to 1/2 (1.04 MiB for the defaults).
//
// The gear table: kGearTable[b] is the (b + 1)-th output of SplitMix64
// (util/random.h, SeededRandom) seeded with kGearSeed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "util/bytes.h"
#include "util/status.h"

namespace lares {

// "LARESCDC" in ASCII, big-endian. Part of the format (see above).
inline constexpr uint64_t kGearSeed = 0x4c41524553434443ULL;

// The 256 gear values, one per byte value. Part of the format (see above).
std::span<const uint64_t, 256> gear_table();

// Chunk sizes in bytes. The repository stores them in its config; they are
// validated whenever they are read.
struct ChunkerParams {
  uint64_t size_bytes_min = 256 * 1024;
  uint64_t size_bytes_avg = 1024 * 1024;
  uint64_t size_bytes_max = 4 * 1024 * 1024;

  // OK when avg is a power of two in [kSizeBytesAvgFloor, kSizeBytesCeiling]
  // and kSizeBytesMinFloor <= min <= avg <= max <= kSizeBytesCeiling;
  // InvalidArgument saying which bound failed otherwise.
  Status validate() const;

  // Below this, per-chunk metadata outweighs the data.
  static constexpr uint64_t kSizeBytesMinFloor = 64;
  static constexpr uint64_t kSizeBytesAvgFloor = 256;
  // A chunk is held whole in memory by the layers above (bounded memory).
  static constexpr uint64_t kSizeBytesCeiling = 1ULL << 30;

  bool operator==(const ChunkerParams&) const = default;
};

// One chunk of a stream: bytes [offset, offset + size_bytes).
struct ChunkExtent {
  uint64_t offset = 0;
  uint64_t size_bytes = 0;

  bool operator==(const ChunkExtent&) const = default;
};

// Streaming chunker: feed() the stream in buffers of any size, then finish().
// It never copies or keeps the data; it reports chunks by stream offset and
// the caller keeps the bytes of the open chunk (pending_bytes(), always below
// size_bytes_max) until a chunk covering them is reported. The chunks of a
// stream do not depend on how it was split into feeds.
//
// Not thread-safe; one Chunker per stream at a time.
class Chunker {
 public:
  // InvalidArgument if params.validate() fails.
  static Result<Chunker> create(const ChunkerParams& params);

  Chunker(Chunker&&) = default;
  Chunker& operator=(Chunker&&) = default;
  Chunker(const Chunker&) = delete;
  Chunker& operator=(const Chunker&) = delete;

  // Scans `data`, the next bytes of the stream, and appends to `out` every
  // chunk that ends inside it, in stream order. Empty data is a no-op.
  void feed(ByteView data, std::vector<ChunkExtent>* out);

  // Ends the stream: appends the open chunk, if it has any bytes, then
  // starts a new stream at offset 0.
  void finish(std::vector<ChunkExtent>* out);

  const ChunkerParams& params() const { return params_; }
  // Bytes fed since the stream started.
  uint64_t stream_bytes() const { return chunk_offset_ + chunk_bytes_; }
  // Bytes of the open chunk: fed, but not yet in a reported chunk.
  uint64_t pending_bytes() const { return chunk_bytes_; }

 private:
  explicit Chunker(const ChunkerParams& params);
  // Consumes bytes of `data` up to the end of the open chunk or of `data`,
  // whichever comes first; returns how many, and sets *cut if the chunk ended.
  size_t scan(ByteView data, bool* cut);

  ChunkerParams params_;
  uint64_t normal_bytes_;  // mask_small_ below this chunk length, mask_large_ from it
  uint64_t mask_small_;
  uint64_t mask_large_;

  uint64_t chunk_offset_ = 0;  // stream offset of the open chunk
  uint64_t chunk_bytes_ = 0;   // its bytes fed so far; < size_bytes_max
  uint64_t hash_ = 0;          // gear hash of its bytes from size_bytes_min on
};

// The end offset of every chunk of `whole`, ascending; the last is
// whole.size(). Empty input has no chunks. Same cuts as a Chunker fed `whole`.
// REQUIRES: params.validate() is OK.
std::vector<size_t> cut_points(ByteView whole, const ChunkerParams& params = {});

}  // namespace lares
