// Recomputes the checksum of a (possibly mutated) label or shard header, so
// that fuzz inputs and near-valid seeds get past the checksum to the checks
// behind it. Shared by the fuzz targets and make_seeds; knows only the byte
// layouts of docs/FORMAT.md, never the decoders' code.
#pragma once

#include <cstddef>
#include <cstdint>

#include "codec/crc32c.h"
#include "util/bytes.h"

namespace lares::fuzz {

inline uint64_t read_le(ByteView bytes, size_t offset, size_t width) {
  uint64_t v = 0;
  for (size_t i = 0; i < width; ++i) v |= static_cast<uint64_t>(bytes[offset + i]) << (8 * i);
  return v;
}

inline void write_le(Bytes& bytes, size_t offset, uint64_t v, size_t width) {
  for (size_t i = 0; i < width; ++i) bytes[offset + i] = static_cast<uint8_t>(v >> (8 * i));
}

// Pool label: magic (8), version (4), body length (4), crc32c of the body (4), body.
inline constexpr size_t kLabelEnvelopeBytes = 20;
inline constexpr size_t kLabelLengthOffset = 12;
inline constexpr size_t kLabelCrcOffset = 16;

// Sets the label's crc to that of the body. Returns false for an input
// shorter than the envelope.
inline bool seal_label(Bytes& bytes) {
  if (bytes.size() < kLabelEnvelopeBytes) return false;
  uint32_t crc = crc32c(ByteView(bytes).subspan(kLabelEnvelopeBytes));
  write_le(bytes, kLabelCrcOffset, crc, 4);
  return true;
}

// Shard header: the fields that place its trailing crc32c.
inline constexpr size_t kShardVersionOffset = 8;
inline constexpr size_t kShardHeaderSizeOffset = 12;
inline constexpr size_t kShardObjectSizeOffset = 48;
inline constexpr size_t kShardSizeOffset = 56;
inline constexpr size_t kShardBlockSizeOffset = 64;
inline constexpr size_t kShardDataCountOffset = 68;
inline constexpr size_t kShardParityCountOffset = 69;
inline constexpr size_t kShardIndexOffset = 70;
inline constexpr size_t kShardReservedOffset = 71;
inline constexpr size_t kShardNameLengthOffset = 72;
inline constexpr size_t kShardFixedBytes = 74;

// Writes the crc32c of all bytes before it where the header's own fields
// place it. Returns false when they place it outside the input.
inline bool seal_shard_header(Bytes& bytes) {
  if (bytes.size() < kShardFixedBytes) return false;
  const uint64_t shard_size = read_le(bytes, kShardSizeOffset, 8);
  const uint64_t block_size = read_le(bytes, kShardBlockSizeOffset, 4);
  const uint64_t shard_count =
      uint64_t{bytes[kShardDataCountOffset]} + uint64_t{bytes[kShardParityCountOffset]};
  const uint64_t name_length = read_le(bytes, kShardNameLengthOffset, 2);
  if (block_size == 0) return false;
  const uint64_t block_count = shard_size / block_size + (shard_size % block_size != 0 ? 1 : 0);
  if (block_count > bytes.size()) return false;  // the table cannot fit; also bars overflow
  const uint64_t crc_offset = kShardFixedBytes + name_length + 4 * shard_count * block_count;
  if (crc_offset + 4 > bytes.size()) return false;
  write_le(bytes, crc_offset, crc32c(ByteView(bytes).subspan(0, crc_offset)), 4);
  return true;
}

}  // namespace lares::fuzz
