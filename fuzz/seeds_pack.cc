// Seeds for pack_fuzz (chunks/pack.h): valid packs, entry tables, index
// segments, footers and headers, and near-valid ones that each break one rule.
//
// sample_pack() and sample_index() are also the pinned samples
// tests/data/pack_v1.bin and tests/data/index_segment_v1.bin (the corpus files
// valid_pack.bin and valid_index_segment.bin, copied once): changing them
// changes neither those files nor what tests/chunks/pack_test.cc expects.
// Everything is deterministic: seal() is, and the one compressed blob is a
// hand-written zstd frame rather than the output of whichever zstd is linked.
#include <algorithm>
#include <cstddef>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "chunks/pack.h"
#include "codec/aead.h"
#include "codec/keyed_hash.h"
#include "fuzz/seeds.h"

namespace lares::fuzz {
namespace {

// Offsets in an entry table: u8 version, le32 count, then 56-byte entries.
constexpr size_t kTableHeaderSize = 5;
// An index segment: u8 version, le32 pack count, then the packs.
constexpr size_t kSegmentHeaderSize = 5;
constexpr size_t kTypeOffset = 32;
constexpr size_t kCompressionOffset = 33;
constexpr size_t kReservedOffset = 34;
constexpr size_t kSealedLengthOffset = 36;
constexpr size_t kRawLengthOffset = 40;
constexpr size_t kOffsetOffset = 44;
constexpr size_t kStoredLengthOffset = 52;

size_t at(size_t index, size_t field_offset) {
  return kTableHeaderSize + index * kPackEntrySize + field_offset;
}

void put_le(Bytes& bytes, size_t offset, uint64_t value, size_t width) {
  for (size_t i = 0; i < width; ++i) bytes[offset + i] = static_cast<uint8_t>(value >> (8 * i));
}

// The keys of the samples (pack_fuzz.cc opens the pack seeds with the same):
// bytes first, first + 1, ..., first + 31.
Key32 sample_key(uint8_t first) {
  Key32 key;
  for (size_t i = 0; i < Key32::kSize; ++i) key.data()[i] = static_cast<uint8_t>(first + i);
  return key;
}
AeadKeys meta_keys() { return AeadKeys{sample_key(0x00), sample_key(0x20)}; }
AeadKeys data_keys() { return AeadKeys{sample_key(0x40), sample_key(0x60)}; }
Key32 id_key() { return sample_key(0x80); }

RepoId repo_id() {
  RepoId id;
  for (size_t i = 0; i < id.size(); ++i) id[i] = static_cast<uint8_t>(0xa0 + i);
  return id;
}

ChunkId filled_id(uint8_t value) {
  ChunkId id;
  id.bytes.fill(value);
  return id;
}

// One zstd frame holding `count` copies of `value`: single segment, a 1-byte
// content size, one last block of type RLE (RFC 8878, 3.1.1).
Bytes rle_zstd_frame(uint8_t value, uint8_t count) {
  const uint32_t block_header = 1u | (1u << 1) | (uint32_t{count} << 3);  // last, RLE, size
  return {0x28,
          0xb5,
          0x2f,
          0xfd,
          0x20,  // frame header descriptor: single segment, 1-byte content size
          count,
          static_cast<uint8_t>(block_header),
          static_cast<uint8_t>(block_header >> 8),
          static_cast<uint8_t>(block_header >> 16),
          value};
}

struct SamplePack {
  Bytes bytes;
  std::vector<PackEntry> entries;
};

// Two blobs: a data blob stored as it is, and a tree blob of 200 x 'L' as a
// 10-byte zstd frame.
SamplePack sample_pack() {
  const std::string_view blob0 = "Lares pack sample, version 1: blob 0, stored as it is.\n";
  const std::string blob1(200, 'L');
  PackBuilder builder;
  PackEntry e0;
  e0.id = keyed_hash(id_key(), as_bytes(blob0));
  e0.type = BlobType::kData;
  e0.compression = Compression::kNone;
  e0.raw_length = static_cast<uint32_t>(blob0.size());
  builder.add(e0, seal(data_keys(), as_bytes(blob0), blob_associated_data(repo_id(), e0)));
  PackEntry e1;
  e1.id = keyed_hash(id_key(), as_bytes(blob1));
  e1.type = BlobType::kTree;
  e1.compression = Compression::kZstd;
  e1.raw_length = static_cast<uint32_t>(blob1.size());
  builder.add(e1, seal(data_keys(), rle_zstd_frame('L', 200), blob_associated_data(repo_id(), e1)));
  SamplePack pack;
  pack.entries = builder.entries();
  pack.bytes = builder.finish(meta_keys(), repo_id());
  return pack;
}

// The sample pack under its id, and one more pack named only here.
std::vector<IndexPack> sample_index(const SamplePack& pack) {
  PackEntry other;
  other.id = filled_id(0xdd);
  other.type = BlobType::kData;
  other.compression = Compression::kZstd;
  other.sealed_length = 1000 + kSealOverhead;
  other.raw_length = 5000;
  other.offset = kPackHeaderSize;
  return {{pack_id_of(id_key(), pack.entries), pack.entries}, {filled_id(0xee), {other}}};
}

// A table with gaps, as an index segment lists a pack whose other blobs are gone.
std::vector<PackEntry> gapped_entries() {
  std::vector<PackEntry> entries;
  uint64_t offset = kPackHeaderSize;
  for (uint8_t i = 0; i < 5; ++i) {
    PackEntry e;
    e.id = filled_id(static_cast<uint8_t>(0x10 * (i + 1)));
    e.type = i % 2 == 0 ? BlobType::kData : BlobType::kTree;
    e.compression = i % 3 == 0 ? Compression::kNone : Compression::kZstd;
    e.sealed_length = static_cast<uint32_t>(kSealOverhead + 100 * i);
    e.raw_length = e.compression == Compression::kNone ? 100u * i : 1000u * i;
    e.offset = offset;
    entries.push_back(e);
    offset += e.sealed_length + (i % 2 == 0 ? 7 : 0);
  }
  return entries;
}

Bytes footer_of(uint64_t trailer_size, std::string_view magic) {
  Bytes out;
  ByteWriter w(&out);
  w.u64(trailer_size);
  w.raw(as_bytes(magic));
  return out;
}

void add_entry_table_seeds(const Bytes& valid, Seeds& seeds) {
  seeds.emplace_back("valid_entries", valid);
  seeds.emplace_back("valid_entries_empty", encode_pack_entries({}));
  seeds.emplace_back("valid_entries_gaps", encode_pack_entries(gapped_entries()));
  auto patched = [&](const char* name, size_t offset, uint64_t value, size_t width) {
    Bytes b = valid;
    put_le(b, offset, value, width);
    seeds.emplace_back(name, std::move(b));
  };
  patched("entries_version_2", 0, 2, 1);
  patched("entries_count_3", 1, 3, 4);
  patched("entries_count_huge", 1, std::numeric_limits<uint32_t>::max(), 4);
  patched("entries_type_0", at(0, kTypeOffset), 0, 1);
  patched("entries_compression_2", at(1, kCompressionOffset), 2, 1);
  patched("entries_reserved_set", at(0, kReservedOffset + 1), 1, 1);
  patched("entries_sealed_below_overhead", at(0, kSealedLengthOffset), kSealOverhead - 1, 4);
  patched("entries_stored_mismatch", at(1, kStoredLengthOffset), 11, 4);
  patched("entries_raw_too_big", at(1, kRawLengthOffset), kMaxDecompressedBytes + 1, 4);
  patched("entries_none_raw_mismatch", at(0, kRawLengthOffset), 1, 4);
  patched("entries_overlap", at(1, kOffsetOffset), kPackHeaderSize + 1, 8);
  patched("entries_in_header", at(0, kOffsetOffset), 0, 8);
  patched("entries_offset_overflow", at(1, kOffsetOffset), std::numeric_limits<uint64_t>::max() - 8,
          8);
  Bytes swapped = valid;
  std::copy(valid.begin() + at(1, 0), valid.begin() + at(2, 0), swapped.begin() + at(0, 0));
  std::copy(valid.begin() + at(0, 0), valid.begin() + at(1, 0), swapped.begin() + at(1, 0));
  seeds.emplace_back("entries_unsorted", std::move(swapped));
  Bytes longer = valid;
  longer.push_back(0);
  seeds.emplace_back("entries_trailing_byte", std::move(longer));
}

void add_index_seeds(const Bytes& valid, size_t second_pack_offset, Seeds& seeds) {
  seeds.emplace_back("valid_index_segment", valid);
  seeds.emplace_back("valid_index_empty", encode_index_segment({}));
  Bytes b = valid;
  b[0] = 2;
  seeds.emplace_back("index_version_2", b);
  b = valid;
  put_le(b, 1, std::numeric_limits<uint32_t>::max(), 4);
  seeds.emplace_back("index_pack_count_huge", b);
  b = valid;
  put_le(b, 1, 3, 4);
  seeds.emplace_back("index_pack_count_3", b);
  b = valid;
  std::copy(valid.begin() + kSegmentHeaderSize, valid.begin() + kSegmentHeaderSize + ChunkId::kSize,
            b.begin() + static_cast<ptrdiff_t>(second_pack_offset));
  seeds.emplace_back("index_duplicate_pack", b);
  b = valid;
  b[second_pack_offset + ChunkId::kSize + at(0, kTypeOffset)] = 9;
  seeds.emplace_back("index_inner_type_9", b);
  seeds.emplace_back("index_truncated", Bytes(valid.begin(), valid.end() - 1));
  b = valid;
  b.push_back(0);
  seeds.emplace_back("index_trailing_byte", b);
}

void add_header_and_footer_seeds(const Bytes& pack, Seeds& seeds) {
  const Bytes header(pack.begin(), pack.begin() + kPackHeaderSize);
  const Bytes footer(pack.end() - kPackFooterSize, pack.end());
  seeds.emplace_back("valid_header", header);
  Bytes b = header;
  b[0] = 'l';
  seeds.emplace_back("header_bad_magic", b);
  b = header;
  b[8] = 2;
  seeds.emplace_back("header_version_2", b);
  b = header;
  b[15] = 1;
  seeds.emplace_back("header_reserved_set", b);
  seeds.emplace_back("valid_footer", footer);
  seeds.emplace_back("footer_bad_magic", footer_of(200, "LARSPENX"));
  seeds.emplace_back("footer_trailer_too_short", footer_of(kSealOverhead - 1, "LARSPEND"));
  seeds.emplace_back("footer_trailer_too_long",
                     footer_of(kMaxEntryTableBytes + kSealOverhead + 1, "LARSPEND"));
}

void add_pack_seeds(const Bytes& valid, Seeds& seeds) {
  seeds.emplace_back("valid_pack", valid);
  seeds.emplace_back("valid_pack_empty", PackBuilder().finish(meta_keys(), repo_id()));
  Bytes b = valid;
  b[8] = 2;
  seeds.emplace_back("pack_version_2", b);
  b = valid;
  b[valid.size() - kPackFooterSize - 20] ^= 0x01;  // inside the trailer's tag
  seeds.emplace_back("pack_trailer_flipped", b);
  b = valid;
  b[valid.size() - kPackFooterSize] =  // the trailer length, one too many
      static_cast<uint8_t>(b[valid.size() - kPackFooterSize] + 1);
  seeds.emplace_back("pack_trailer_length_off_by_one", b);
  seeds.emplace_back("pack_truncated", Bytes(valid.begin(), valid.end() - 1));
  b = valid;
  b.insert(b.begin() + kPackHeaderSize, 0);  // a stray byte before the blobs
  seeds.emplace_back("pack_stray_byte", b);
}

}  // namespace

Bytes pack_sample_v1() { return sample_pack().bytes; }

Bytes index_segment_sample_v1() { return encode_index_segment(sample_index(sample_pack())); }

Seeds pack_seeds() {
  const SamplePack pack = sample_pack();
  const std::vector<IndexPack> index = sample_index(pack);
  Seeds seeds;
  add_pack_seeds(pack.bytes, seeds);
  add_entry_table_seeds(encode_pack_entries(pack.entries), seeds);
  const size_t second_pack_offset =
      kSegmentHeaderSize + ChunkId::kSize + kTableHeaderSize + pack.entries.size() * kPackEntrySize;
  add_index_seeds(encode_index_segment(index), second_pack_offset, seeds);
  add_header_and_footer_seeds(pack.bytes, seeds);
  return seeds;
}

}  // namespace lares::fuzz
