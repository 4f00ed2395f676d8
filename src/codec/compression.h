// zstd compression of chunk payloads, and the policy that decides when it pays.
//
// A compressed payload is one zstd frame that records its content size and no
// checksum (the AEAD tag and the chunk id above already verify every byte).
// Photos, video and archives are compressed already: maybe_compress() spots
// them with a cheap probe and stores them as they are, so the CPU never
// compresses them a second time.
//
// Thread safety: every function may be called from any thread; each thread
// keeps its own zstd contexts.
#pragma once

#include <cstddef>
#include <cstdint>

#include "util/bytes.h"
#include "util/status.h"

namespace lares {

// How a stored payload is encoded. The chunk layer records this byte beside
// each blob, so the values are part of the on-disk format: never renumber.
enum class Compression : uint8_t { kNone = 0, kZstd = 1 };

inline constexpr int kDefaultCompressionLevel = 3;
// decompress() refuses to produce more than this, whatever it is asked for:
// far above any chunk, low enough that a corrupt size field cannot make a
// process allocate without bound.
inline constexpr size_t kMaxDecompressedBytes = size_t{256} << 20;

// zstd's levels: negative (fastest) through 22 (smallest); 0 means zstd's default.
bool is_valid_compression_level(int level);

// One zstd frame holding `data`.
// REQUIRES: is_valid_compression_level(level).
Bytes compress(ByteView data, int level);

struct CompressedBlob {
  Compression compression = Compression::kNone;
  // The zstd frame for kZstd; a copy of the input for kNone.
  Bytes bytes;
  // True when the probe judged the data incompressible and compression of the
  // whole input was skipped (for statistics; `compression` is then kNone).
  bool skipped_by_probe = false;
};

// Compresses `data` when that saves more than 3% of it; otherwise returns it
// as it is (kNone). Inputs of 128 KiB or more are probed first: four 16 KiB
// samples, one from the middle of each quarter of the input, are compressed
// at level 1, and if they do not shrink by 3% the input is taken to be
// compressed media and stored without compressing it whole.
// REQUIRES: is_valid_compression_level(level).
CompressedBlob maybe_compress(ByteView data, int level);

// Decompresses one zstd frame that must expand to exactly `expected_size`
// bytes. The frame's own size field is checked against expected_size, never
// trusted: nothing larger is allocated or written. kCorruption for anything
// that is not exactly such a frame (bad magic, damage, a different size,
// trailing bytes); kInvalidArgument when expected_size > kMaxDecompressedBytes.
Result<Bytes> decompress(ByteView frame, size_t expected_size);

}  // namespace lares
