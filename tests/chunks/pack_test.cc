#include "chunks/pack.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "codec/compression.h"
#include "testing/pool_fixture.h"
#include "util/file.h"

namespace lares {
namespace {

using testing::sequential_key;

// Field offsets inside one 56-byte entry of an entry table (chunks/pack.h).
constexpr size_t kTableHeaderSize = 5;  // u8 version, le32 count
constexpr size_t kTypeOffset = 32;
constexpr size_t kCompressionOffset = 33;
constexpr size_t kReservedOffset = 34;
constexpr size_t kSealedLengthOffset = 36;
constexpr size_t kRawLengthOffset = 40;
constexpr size_t kOffsetOffset = 44;
constexpr size_t kStoredLengthOffset = 52;

// Where field `field_offset` of entry `index` lies in an encoded table.
size_t at(size_t index, size_t field_offset) {
  return kTableHeaderSize + index * kPackEntrySize + field_offset;
}

void put_le(Bytes& bytes, size_t offset, uint64_t value, size_t width) {
  for (size_t i = 0; i < width; ++i) bytes[offset + i] = static_cast<uint8_t>(value >> (8 * i));
}

uint64_t get_le(ByteView bytes, size_t offset, size_t width) {
  uint64_t v = 0;
  for (size_t i = 0; i < width; ++i) v |= uint64_t{bytes[offset + i]} << (8 * i);
  return v;
}

void expect_corruption(const Status& status, const std::string& reason) {
  EXPECT_EQ(status.code(), Code::kCorruption) << status.to_string();
  EXPECT_NE(status.message().find(reason), std::string::npos)
      << "expected \"" << reason << "\" in: " << status.to_string();
}

AeadKeys meta_keys() { return AeadKeys{sequential_key(0x00), sequential_key(0x20)}; }
AeadKeys data_keys() { return AeadKeys{sequential_key(0x40), sequential_key(0x60)}; }

RepoId repo_id(uint8_t first = 0xa0) {
  RepoId id;
  for (size_t i = 0; i < id.size(); ++i) id[i] = static_cast<uint8_t>(first + i);
  return id;
}

ChunkId filled_id(uint8_t value) {
  ChunkId id;
  id.bytes.fill(value);
  return id;
}

PackEntry make_entry(uint8_t id, BlobType type, Compression compression, uint32_t stored_length,
                     uint32_t raw_length, uint64_t offset) {
  PackEntry e;
  e.id = filled_id(id);
  e.type = type;
  e.compression = compression;
  e.sealed_length = static_cast<uint32_t>(stored_length + kSealOverhead);
  e.raw_length = raw_length;
  e.offset = offset;
  return e;
}

// A valid table with a gap between its last two blobs (allowed in a table:
// an index segment may list only some of a pack's blobs).
std::vector<PackEntry> sample_entries() {
  return {make_entry(0x11, BlobType::kData, Compression::kNone, 10, 10, 16),
          make_entry(0x22, BlobType::kTree, Compression::kZstd, 20, 1000, 16 + 51),
          make_entry(0x33, BlobType::kData, Compression::kZstd, 59, 0, 200)};
}

// End of the last blob of sample_entries().
constexpr uint64_t kSampleEntriesEnd = 200 + 59 + kSealOverhead;

Status decode_patched_table(size_t offset, uint64_t value, size_t width) {
  Bytes bytes = encode_pack_entries(sample_entries());
  put_le(bytes, offset, value, width);
  return decode_pack_entries(bytes, 0).status();
}

struct BuiltPack {
  Bytes bytes;
  std::vector<PackEntry> entries;
  std::vector<Bytes> raw;
};

// A pack of `count` uncompressed blobs, sealed as the repository seals them.
BuiltPack build_pack(const RepoId& repo, size_t count, uint8_t first_id) {
  BuiltPack built;
  PackBuilder builder;
  for (size_t i = 0; i < count; ++i) {
    Bytes raw = testing::test_bytes(first_id + i, 10 + 7 * i);
    PackEntry e;
    e.id = filled_id(static_cast<uint8_t>(first_id + i));
    e.type = i % 2 == 0 ? BlobType::kData : BlobType::kTree;
    e.raw_length = static_cast<uint32_t>(raw.size());
    builder.add(e, seal(data_keys(), raw, blob_associated_data(repo, e)));
    built.raw.push_back(std::move(raw));
  }
  built.entries = builder.entries();
  built.bytes = builder.finish(meta_keys(), repo);
  return built;
}

// A pack around an arbitrary sealed trailer, for trailers PackBuilder never writes.
Bytes pack_around(uint64_t blob_area_size, ByteView trailer) {
  Bytes pack = {'L', 'A', 'R', 'S', 'P', 'A', 'C', 'K', 1, 0, 0, 0, 0, 0, 0, 0};
  pack.resize(kPackHeaderSize + blob_area_size, 0x5a);
  pack.insert(pack.end(), trailer.begin(), trailer.end());
  ByteWriter w(&pack);
  w.u64(trailer.size());
  w.raw(as_bytes("LARSPEND"));
  return pack;
}

Bytes seal_trailer(const std::vector<PackEntry>& entries, const RepoId& repo) {
  Bytes ad(8 + kRepoIdSize);
  std::string_view tag = "LRSPACK1";
  std::copy(tag.begin(), tag.end(), ad.begin());
  std::copy(repo.begin(), repo.end(), ad.begin() + 8);
  return seal(meta_keys(), encode_pack_entries(entries), ad);
}

// ---- blob associated data --------------------------------------------------

TEST(PackTest, BlobAssociatedDataBindsIdTypeCompressionAndRawLength) {
  PackEntry e = make_entry(0x77, BlobType::kTree, Compression::kZstd, 5, 0x01020304, 16);
  Bytes ad = blob_associated_data(repo_id(), e);
  ASSERT_EQ(ad.size(), 8u + 16 + 32 + 1 + 1 + 4);
  ByteReader r(ad);
  EXPECT_EQ(as_chars(r.raw(8)), "LRSBLOB1");
  ByteView repo = r.raw(kRepoIdSize);
  EXPECT_TRUE(std::equal(repo.begin(), repo.end(), repo_id().begin()));
  ByteView id = r.raw(ChunkId::kSize);
  EXPECT_TRUE(std::equal(id.begin(), id.end(), e.id.bytes.begin()));
  EXPECT_EQ(r.u8(), 2u);  // kTree
  EXPECT_EQ(r.u8(), 1u);  // kZstd
  EXPECT_EQ(r.u32(), 0x01020304u);
  EXPECT_EQ(r.remaining(), 0u);
  // Offset and sealed length are where a blob lies, not what it is: not bound.
  PackEntry moved = e;
  moved.offset = 4096;
  moved.sealed_length += 100;
  EXPECT_EQ(blob_associated_data(repo_id(), moved), ad);
}

TEST(PackTest, ABlobMovedSwappedOrRelabelledFailsToOpen) {
  BuiltPack built = build_pack(repo_id(), 2, 0x40);
  const PackEntry& first = built.entries[0];
  ByteView sealed = ByteView(built.bytes).subspan(first.offset, first.sealed_length);
  auto opened = open(data_keys(), sealed, blob_associated_data(repo_id(), first));
  ASSERT_TRUE(opened.is_ok()) << opened.status().to_string();
  EXPECT_EQ(*opened, built.raw[0]);

  PackEntry other_id = first;
  other_id.id = built.entries[1].id;
  PackEntry other_type = first;
  other_type.type = BlobType::kTree;
  PackEntry other_compression = first;
  other_compression.compression = Compression::kZstd;
  PackEntry other_length = first;
  other_length.raw_length += 1;
  for (const PackEntry& wrong : {other_id, other_type, other_compression, other_length}) {
    EXPECT_EQ(open(data_keys(), sealed, blob_associated_data(repo_id(), wrong)).status().code(),
              Code::kCorruption);
  }
  EXPECT_FALSE(open(data_keys(), sealed, blob_associated_data(repo_id(0x10), first)).is_ok());
}

// ---- entry table -----------------------------------------------------------

TEST(PackTest, EntryTableRoundTrip) {
  for (const auto& entries : {std::vector<PackEntry>{}, sample_entries()}) {
    Bytes bytes = encode_pack_entries(entries);
    EXPECT_EQ(bytes.size(), kTableHeaderSize + entries.size() * kPackEntrySize);
    auto decoded = decode_pack_entries(bytes, 0);
    ASSERT_TRUE(decoded.is_ok()) << decoded.status().to_string();
    EXPECT_EQ(*decoded, entries);
  }
}

TEST(PackTest, EntryTableRoundTripOfExtremes) {
  std::vector<PackEntry> entries = {
      make_entry(0x00, BlobType::kData, Compression::kNone, 0, 0, kPackHeaderSize),
      make_entry(0xff, BlobType::kTree, Compression::kZstd, 0, kMaxDecompressedBytes, 57),
      make_entry(0x01, BlobType::kData, Compression::kZstd,
                 static_cast<uint32_t>(UINT32_MAX - kSealOverhead), 1, 98),
  };
  // The last blob ends exactly at 2^64 - 1.
  entries.push_back(
      make_entry(0x02, BlobType::kData, Compression::kNone, 0, 0, UINT64_MAX - kSealOverhead));
  Bytes bytes = encode_pack_entries(entries);
  auto decoded = decode_pack_entries(bytes, 0);
  ASSERT_TRUE(decoded.is_ok()) << decoded.status().to_string();
  EXPECT_EQ(*decoded, entries);
}

TEST(PackTest, EntryTableFieldsLieWhereTheFormatSays) {
  const std::vector<PackEntry> entries = sample_entries();
  Bytes bytes = encode_pack_entries(entries);
  ByteReader r(bytes);
  EXPECT_EQ(r.u8(), 1u);  // version
  EXPECT_EQ(r.u32(), entries.size());
  for (const PackEntry& e : entries) {
    ByteView id = r.raw(ChunkId::kSize);
    EXPECT_TRUE(std::equal(id.begin(), id.end(), e.id.bytes.begin()));
    EXPECT_EQ(r.u8(), static_cast<uint8_t>(e.type));
    EXPECT_EQ(r.u8(), static_cast<uint8_t>(e.compression));
    EXPECT_EQ(r.u16(), 0u);  // reserved
    EXPECT_EQ(r.u32(), e.sealed_length);
    EXPECT_EQ(r.u32(), e.raw_length);
    EXPECT_EQ(r.u64(), e.offset);
    EXPECT_EQ(r.u32(), e.sealed_length - kSealOverhead);  // stored length
  }
  EXPECT_EQ(r.remaining(), 0u);
  EXPECT_FALSE(r.failed());
  EXPECT_EQ(get_le(bytes, at(1, kOffsetOffset), 8), entries[1].offset);
}

TEST(PackTest, EntryTableRejectsOtherVersions) {
  for (uint64_t version : {0u, 2u, 255u}) {
    expect_corruption(decode_patched_table(0, version, 1), "version " + std::to_string(version));
  }
}

TEST(PackTest, EntryTableRejectsACountThatDisagreesWithTheLength) {
  for (uint64_t count : {0u, 2u, 4u, 0xffffffffu}) {
    expect_corruption(decode_patched_table(1, count, 4), "entry count");
  }
  Bytes bytes = encode_pack_entries(sample_entries());
  bytes.push_back(0);
  expect_corruption(decode_pack_entries(bytes, 0).status(), "1 bytes unread");
}

TEST(PackTest, EntryTableRejectsEveryTruncation) {
  Bytes bytes = encode_pack_entries(sample_entries());
  for (size_t length = 0; length < bytes.size(); ++length) {
    EXPECT_EQ(decode_pack_entries(ByteView(bytes).first(length), 0).status().code(),
              Code::kCorruption)
        << "length " << length;
  }
}

TEST(PackTest, EntryTableRejectsUnknownTypes) {
  for (uint64_t type : {0u, 4u, 255u}) {
    expect_corruption(decode_patched_table(at(1, kTypeOffset), type, 1), "unknown blob type");
  }
}

TEST(PackTest, EntryTableRejectsUnknownCompression) {
  for (uint64_t compression : {2u, 255u}) {
    expect_corruption(decode_patched_table(at(2, kCompressionOffset), compression, 1),
                      "unknown compression");
  }
}

TEST(PackTest, EntryTableRejectsNonZeroReservedBytes) {
  expect_corruption(decode_patched_table(at(0, kReservedOffset), 1, 1), "reserved");
  expect_corruption(decode_patched_table(at(0, kReservedOffset + 1), 0x80, 1), "reserved");
}

TEST(PackTest, EntryTableRejectsSealedLengthsBelowTheSealOverhead) {
  // Stored and raw lengths are patched too, so only the sealed length is wrong.
  Bytes bytes = encode_pack_entries(sample_entries());
  put_le(bytes, at(1, kSealedLengthOffset), kSealOverhead - 1, 4);
  put_le(bytes, at(1, kStoredLengthOffset), 0xffffffff, 4);  // what -1 wraps to
  expect_corruption(decode_pack_entries(bytes, 0).status(), "shorter than the seal overhead");
  expect_corruption(decode_patched_table(at(1, kSealedLengthOffset), 0, 4),
                    "shorter than the seal overhead");
}

TEST(PackTest, EntryTableRejectsAStoredLengthThatDisagrees) {
  const uint64_t stored = sample_entries()[1].sealed_length - kSealOverhead;
  expect_corruption(decode_patched_table(at(1, kStoredLengthOffset), stored + 1, 4),
                    "stored length");
  expect_corruption(decode_patched_table(at(1, kStoredLengthOffset), stored - 1, 4),
                    "stored length");
  expect_corruption(decode_patched_table(at(1, kStoredLengthOffset), stored + kSealOverhead, 4),
                    "stored length");
}

TEST(PackTest, EntryTableRejectsRawLengthsAboveTheLimit) {
  expect_corruption(decode_patched_table(at(1, kRawLengthOffset), kMaxDecompressedBytes + 1, 4),
                    "exceeds the limit");
  expect_corruption(decode_patched_table(at(1, kRawLengthOffset), UINT32_MAX, 4),
                    "exceeds the limit");
}

TEST(PackTest, EntryTableRejectsUncompressedBlobsWhoseRawLengthDiffers) {
  expect_corruption(decode_patched_table(at(0, kRawLengthOffset), 11, 4), "uncompressed blob");
  expect_corruption(decode_patched_table(at(0, kRawLengthOffset), 0, 4), "uncompressed blob");
  // The same lengths are fine once the blob says it is compressed.
  Bytes bytes = encode_pack_entries(sample_entries());
  put_le(bytes, at(0, kRawLengthOffset), 11, 4);
  put_le(bytes, at(0, kCompressionOffset), 1, 1);
  EXPECT_TRUE(decode_pack_entries(bytes, 0).is_ok());
}

TEST(PackTest, EntryTableRejectsEntriesNotSortedByOffset) {
  const std::vector<PackEntry> entries = sample_entries();
  // Entry 2 moved just before entry 1, inside the gap in front of it.
  expect_corruption(decode_patched_table(at(2, kOffsetOffset), entries[1].offset - 1, 8),
                    "not sorted by offset");
  // The first two entries' bytes swapped wholesale.
  const Bytes bytes = encode_pack_entries(entries);
  Bytes swapped = bytes;
  std::copy(bytes.begin() + at(1, 0), bytes.begin() + at(2, 0), swapped.begin() + at(0, 0));
  std::copy(bytes.begin() + at(0, 0), bytes.begin() + at(1, 0), swapped.begin() + at(1, 0));
  expect_corruption(decode_pack_entries(swapped, 0).status(), "not sorted by offset");
}

TEST(PackTest, EntryTableRejectsOverlappingEntries) {
  const std::vector<PackEntry> entries = sample_entries();
  const uint64_t end_of_first = entries[0].offset + entries[0].sealed_length;
  expect_corruption(decode_patched_table(at(1, kOffsetOffset), end_of_first - 1, 8), "overlaps");
  expect_corruption(decode_patched_table(at(1, kOffsetOffset), entries[0].offset, 8), "overlaps");
  // Touching is fine.
  EXPECT_TRUE(decode_patched_table(at(2, kOffsetOffset), entries[1].offset + 61, 8).is_ok());
}

TEST(PackTest, EntryTableRejectsBlobsOutsideTheBlobArea) {
  Bytes bytes = encode_pack_entries(sample_entries());
  ASSERT_TRUE(decode_pack_entries(bytes, kSampleEntriesEnd).is_ok());
  ASSERT_TRUE(decode_pack_entries(bytes, UINT64_MAX).is_ok());
  expect_corruption(decode_pack_entries(bytes, kSampleEntriesEnd - 1).status(),
                    "outside the blob area");
  expect_corruption(decode_pack_entries(bytes, kPackHeaderSize).status(), "outside the blob area");
  // A blob inside the header, with or without an end.
  for (uint64_t end : {uint64_t{0}, kSampleEntriesEnd}) {
    for (uint64_t offset : {uint64_t{0}, uint64_t{kPackHeaderSize - 1}}) {
      bytes = encode_pack_entries(sample_entries());
      put_le(bytes, at(0, kOffsetOffset), offset, 8);
      expect_corruption(decode_pack_entries(bytes, end).status(), "outside the blob area");
    }
  }
  // A blob whose end would pass 2^64.
  expect_corruption(decode_patched_table(at(2, kOffsetOffset), UINT64_MAX - 50, 8),
                    "outside the blob area");
}

TEST(PackTest, EntryTableRejectsTablesAboveTheSizeLimit) {
  Bytes huge(kMaxEntryTableBytes + 1, 0);
  huge[0] = 1;
  expect_corruption(decode_pack_entries(huge, 0).status(), "exceeds the limit");
}

// ---- pack files ------------------------------------------------------------

TEST(PackTest, PackBuilderRoundTrip) {
  BuiltPack built = build_pack(repo_id(), 5, 0x10);
  ASSERT_EQ(built.entries.size(), 5u);
  uint64_t offset = kPackHeaderSize;
  for (size_t i = 0; i < built.entries.size(); ++i) {
    EXPECT_EQ(built.entries[i].offset, offset);
    EXPECT_EQ(built.entries[i].sealed_length, built.raw[i].size() + kSealOverhead);
    offset += built.entries[i].sealed_length;
  }
  auto parsed = parse_pack(meta_keys(), repo_id(), built.bytes);
  ASSERT_TRUE(parsed.is_ok()) << parsed.status().to_string();
  EXPECT_EQ(*parsed, built.entries);
  for (size_t i = 0; i < parsed->size(); ++i) {
    const PackEntry& e = (*parsed)[i];
    auto raw = open(data_keys(), ByteView(built.bytes).subspan(e.offset, e.sealed_length),
                    blob_associated_data(repo_id(), e));
    ASSERT_TRUE(raw.is_ok()) << raw.status().to_string();
    EXPECT_EQ(*raw, built.raw[i]);
  }
}

TEST(PackTest, PackFieldsLieWhereTheFormatSays) {
  BuiltPack built = build_pack(repo_id(), 2, 0x10);
  const Bytes& pack = built.bytes;
  EXPECT_EQ(as_chars(ByteView(pack).first(8)), "LARSPACK");
  EXPECT_EQ(get_le(pack, 8, 4), 1u);
  EXPECT_EQ(get_le(pack, 12, 4), 0u);
  EXPECT_EQ(as_chars(ByteView(pack).last(8)), "LARSPEND");
  const uint64_t trailer_size = get_le(pack, pack.size() - 16, 8);
  const uint64_t trailer_offset = pack.size() - 16 - trailer_size;
  EXPECT_EQ(trailer_offset, built.entries[1].offset + built.entries[1].sealed_length);
  EXPECT_EQ(trailer_size, kSealOverhead + kTableHeaderSize + 2 * kPackEntrySize);
  EXPECT_EQ(Bytes(pack.begin() + static_cast<ptrdiff_t>(trailer_offset), pack.end() - 16),
            seal_trailer(built.entries, repo_id()));
}

TEST(PackTest, PackBuilderStartsOverAfterFinish) {
  PackBuilder builder;
  EXPECT_EQ(builder.size_bytes(), kPackHeaderSize);
  EXPECT_EQ(builder.blob_count(), 0u);
  PackEntry e;
  e.id = filled_id(1);
  e.raw_length = 3;
  builder.add(e, seal(data_keys(), Bytes{1, 2, 3}, blob_associated_data(repo_id(), e)));
  EXPECT_EQ(builder.size_bytes(), kPackHeaderSize + 3 + kSealOverhead);
  Bytes first = builder.finish(meta_keys(), repo_id());
  EXPECT_EQ(builder.blob_count(), 0u);
  EXPECT_TRUE(builder.entries().empty());
  EXPECT_EQ(builder.size_bytes(), kPackHeaderSize);
  builder.add(e, seal(data_keys(), Bytes{1, 2, 3}, blob_associated_data(repo_id(), e)));
  EXPECT_EQ(builder.finish(meta_keys(), repo_id()), first);  // sealing is deterministic

  Bytes empty = builder.finish(meta_keys(), repo_id());
  auto parsed = parse_pack(meta_keys(), repo_id(), empty);
  ASSERT_TRUE(parsed.is_ok()) << parsed.status().to_string();
  EXPECT_TRUE(parsed->empty());
  EXPECT_EQ(empty.size(), kPackHeaderSize + kSealOverhead + kTableHeaderSize + kPackFooterSize);
}

TEST(PackTest, HeaderRejectsShortInputAndBadMagic) {
  Bytes pack = build_pack(repo_id(), 1, 0x10).bytes;
  for (size_t length = 0; length < kPackHeaderSize; ++length) {
    expect_corruption(check_pack_header(ByteView(pack).first(length)), "truncated");
  }
  EXPECT_TRUE(check_pack_header(ByteView(pack).first(kPackHeaderSize)).is_ok());
  for (size_t i = 0; i < 8; ++i) {
    Bytes bad = pack;
    bad[i] ^= 0x20;
    expect_corruption(check_pack_header(bad), "bad magic");
    expect_corruption(parse_pack(meta_keys(), repo_id(), bad).status(), "bad magic");
  }
}

TEST(PackTest, HeaderRefusesOtherVersionsAsAPrecondition) {
  Bytes pack = build_pack(repo_id(), 1, 0x10).bytes;
  for (uint64_t version : {0u, 2u, 0xffffffffu}) {
    Bytes bad = pack;
    put_le(bad, 8, version, 4);
    Status st = check_pack_header(bad);
    EXPECT_EQ(st.code(), Code::kFailedPrecondition) << st.to_string();
    EXPECT_NE(st.message().find("version " + std::to_string(version)), std::string::npos);
    EXPECT_EQ(parse_pack(meta_keys(), repo_id(), bad).status().code(), Code::kFailedPrecondition);
    put_le(bad, 12, 1, 4);  // the version is judged first: another version may use these bytes
    EXPECT_EQ(check_pack_header(bad).code(), Code::kFailedPrecondition);
  }
}

TEST(PackTest, HeaderRejectsNonZeroReservedBytes) {
  Bytes pack = build_pack(repo_id(), 1, 0x10).bytes;
  for (size_t i = 12; i < 16; ++i) {
    Bytes bad = pack;
    bad[i] = 1;
    expect_corruption(check_pack_header(bad), "reserved");
    expect_corruption(parse_pack(meta_keys(), repo_id(), bad).status(), "reserved");
  }
}

Bytes footer(uint64_t trailer_size, std::string_view magic = "LARSPEND") {
  Bytes out;
  ByteWriter w(&out);
  w.u64(trailer_size);
  w.raw(as_bytes(magic));
  return out;
}

TEST(PackTest, FooterGivesTheTrailerLength) {
  auto n = parse_pack_footer(footer(100), 132);
  ASSERT_TRUE(n.is_ok()) << n.status().to_string();
  EXPECT_EQ(*n, 100u);
  EXPECT_TRUE(parse_pack_footer(footer(kSealOverhead), 1000).is_ok());
  EXPECT_TRUE(parse_pack_footer(footer(kMaxEntryTableBytes + kSealOverhead), UINT64_MAX).is_ok());
}

TEST(PackTest, FooterRejectsAWrongSizeOrAShortPack) {
  Bytes f = footer(100);
  for (size_t length : {0u, 8u, 15u}) {
    expect_corruption(parse_pack_footer(ByteView(f).first(length), 1000).status(), "footer is");
  }
  f.push_back(0);
  expect_corruption(parse_pack_footer(f, 1000).status(), "footer is");
  for (uint64_t pack_size : {0u, 16u, 31u}) {
    expect_corruption(parse_pack_footer(footer(kSealOverhead), pack_size).status(), "shorter");
  }
}

TEST(PackTest, FooterRejectsBadMagic) {
  expect_corruption(parse_pack_footer(footer(100, "LARSPENX"), 1000).status(), "bad footer magic");
  expect_corruption(parse_pack_footer(footer(100, "larspend"), 1000).status(), "bad footer magic");
}

TEST(PackTest, FooterRejectsTrailerLengthsBelowTheSealOverhead) {
  for (uint64_t n : {uint64_t{0}, uint64_t{kSealOverhead - 1}}) {
    expect_corruption(parse_pack_footer(footer(n), 1000).status(), "out of range");
  }
}

TEST(PackTest, FooterRejectsTrailerLengthsAboveTheLimit) {
  for (uint64_t n : {kMaxEntryTableBytes + kSealOverhead + 1, uint64_t{UINT64_MAX}}) {
    expect_corruption(parse_pack_footer(footer(n), UINT64_MAX).status(), "out of range");
  }
}

TEST(PackTest, FooterRejectsTrailersLargerThanThePack) {
  EXPECT_TRUE(parse_pack_footer(footer(100), 132).is_ok());
  expect_corruption(parse_pack_footer(footer(101), 132).status(), "does not fit");
  expect_corruption(parse_pack_footer(footer(kSealOverhead), 32 + kSealOverhead - 1).status(),
                    "does not fit");
}

TEST(PackTest, TrailerRejectsAWrongKeyOrRepository) {
  BuiltPack built = build_pack(repo_id(), 3, 0x10);
  AeadKeys other{sequential_key(0x01), sequential_key(0x20)};
  expect_corruption(parse_pack(other, repo_id(), built.bytes).status(), "authentication");
  expect_corruption(parse_pack(meta_keys(), repo_id(0xa1), built.bytes).status(), "authentication");
  // Only the encryption key opens: the nonce key is needed to seal, not to open.
  AeadKeys other_nonce{sequential_key(0x00), sequential_key(0x21)};
  EXPECT_TRUE(parse_pack(other_nonce, repo_id(), built.bytes).is_ok());
}

TEST(PackTest, TrailerIsNotAnIndexSegment) {
  // Domain separation: the same plaintext sealed as an index segment never opens as a trailer.
  std::vector<IndexPack> none;
  Bytes segment = seal_index_segment(meta_keys(), repo_id(), none);
  expect_corruption(open_pack_trailer(meta_keys(), repo_id(), segment, kPackHeaderSize).status(),
                    "authentication");
  Bytes trailer = seal_trailer({}, repo_id());
  expect_corruption(open_index_segment(meta_keys(), repo_id(), trailer).status(), "authentication");
}

TEST(PackTest, ASwappedTrailerFails) {
  BuiltPack a = build_pack(repo_id(), 3, 0x10);
  BuiltPack b = build_pack(repo_id(), 2, 0x20);
  // b's blobs with a's trailer and footer: a's entries do not describe b's blob area.
  const uint64_t a_trailer_size = get_le(a.bytes, a.bytes.size() - 16, 8);
  const uint64_t b_trailer_size = get_le(b.bytes, b.bytes.size() - 16, 8);
  Bytes swapped(b.bytes.begin(), b.bytes.end() - 16 - static_cast<ptrdiff_t>(b_trailer_size));
  swapped.insert(swapped.end(), a.bytes.end() - 16 - static_cast<ptrdiff_t>(a_trailer_size),
                 a.bytes.end());
  EXPECT_EQ(parse_pack(meta_keys(), repo_id(), swapped).status().code(), Code::kCorruption);

  // Two packs of the same shape: the trailer opens, but every blob it names
  // fails to open, because a blob's associated data binds its id.
  BuiltPack c = build_pack(repo_id(), 3, 0x30);
  ASSERT_EQ(c.bytes.size(), a.bytes.size());
  Bytes c_with_a_trailer(c.bytes.begin(),
                         c.bytes.end() - 16 - static_cast<ptrdiff_t>(a_trailer_size));
  c_with_a_trailer.insert(c_with_a_trailer.end(),
                          a.bytes.end() - 16 - static_cast<ptrdiff_t>(a_trailer_size),
                          a.bytes.end());
  auto entries = parse_pack(meta_keys(), repo_id(), c_with_a_trailer);
  ASSERT_TRUE(entries.is_ok()) << entries.status().to_string();
  for (const PackEntry& e : *entries) {
    ByteView sealed = ByteView(c_with_a_trailer).subspan(e.offset, e.sealed_length);
    EXPECT_EQ(open(data_keys(), sealed, blob_associated_data(repo_id(), e)).status().code(),
              Code::kCorruption);
  }
}

TEST(PackTest, TrailerRejectsBlobsThatDoNotFillTheBlobArea) {
  std::vector<PackEntry> entries = {
      make_entry(1, BlobType::kData, Compression::kNone, 9, 9, kPackHeaderSize),
      make_entry(2, BlobType::kData, Compression::kNone, 9, 9, kPackHeaderSize + 50)};
  // Back to back, then a gap between the two, a gap at the start, and slack at the end.
  Bytes good = pack_around(100, seal_trailer(entries, repo_id()));
  EXPECT_TRUE(parse_pack(meta_keys(), repo_id(), good).is_ok());
  entries[1].offset += 1;
  expect_corruption(
      parse_pack(meta_keys(), repo_id(), pack_around(101, seal_trailer(entries, repo_id())))
          .status(),
      "back to back");
  entries[0].offset += 1;
  expect_corruption(
      parse_pack(meta_keys(), repo_id(), pack_around(101, seal_trailer(entries, repo_id())))
          .status(),
      "back to back");
  entries[0].offset -= 1;
  entries[1].offset -= 1;
  expect_corruption(
      parse_pack(meta_keys(), repo_id(), pack_around(101, seal_trailer(entries, repo_id())))
          .status(),
      "trailer starts at");
  // Blobs past the trailer's start.
  expect_corruption(
      parse_pack(meta_keys(), repo_id(), pack_around(99, seal_trailer(entries, repo_id())))
          .status(),
      "outside the blob area");
  // Blobs listed in an empty blob area.
  expect_corruption(
      parse_pack(meta_keys(), repo_id(), pack_around(0, seal_trailer(entries, repo_id()))).status(),
      "outside the blob area");
}

TEST(PackTest, TrailerRejectsOffsetsInsideTheHeaderAndOversizedTrailers) {
  Bytes trailer = seal_trailer({}, repo_id());
  EXPECT_TRUE(open_pack_trailer(meta_keys(), repo_id(), trailer, kPackHeaderSize).is_ok());
  expect_corruption(open_pack_trailer(meta_keys(), repo_id(), trailer, 0).status(), "header");
  expect_corruption(
      open_pack_trailer(meta_keys(), repo_id(), trailer, kPackHeaderSize - 1).status(), "header");
  Bytes huge(kMaxEntryTableBytes + kSealOverhead + 1, 0);
  expect_corruption(open_pack_trailer(meta_keys(), repo_id(), huge, kPackHeaderSize).status(),
                    "exceeds the limit");
}

TEST(PackTest, ParseRejectsEveryTruncation) {
  Bytes pack = build_pack(repo_id(), 2, 0x10).bytes;
  for (size_t length = 0; length < pack.size(); ++length) {
    EXPECT_EQ(parse_pack(meta_keys(), repo_id(), ByteView(pack).first(length)).status().code(),
              Code::kCorruption)
        << "length " << length;
  }
  Bytes longer = pack;
  longer.push_back(0);
  EXPECT_EQ(parse_pack(meta_keys(), repo_id(), longer).status().code(), Code::kCorruption);
}

TEST(PackTest, ParseDetectsEveryFlippedBitOutsideTheBlobs) {
  BuiltPack built = build_pack(repo_id(), 2, 0x10);
  const uint64_t blobs_end = built.entries[1].offset + built.entries[1].sealed_length;
  for (size_t bit = 0; bit < built.bytes.size() * 8; ++bit) {
    const size_t byte = bit / 8;
    if (byte >= kPackHeaderSize && byte < blobs_end) continue;  // checked when a blob is opened
    Bytes flipped = built.bytes;
    flipped[byte] ^= static_cast<uint8_t>(1u << (bit % 8));
    Status st = parse_pack(meta_keys(), repo_id(), flipped).status();
    if (byte >= 8 && byte < 12) {
      EXPECT_EQ(st.code(), Code::kFailedPrecondition) << "bit " << bit;  // the version
    } else {
      EXPECT_EQ(st.code(), Code::kCorruption) << "bit " << bit;
    }
  }
}

// ---- index segments --------------------------------------------------------

std::vector<IndexPack> sample_index() {
  std::vector<PackEntry> second = {
      make_entry(0x44, BlobType::kTree, Compression::kZstd, 100, 4000, 16)};
  return {{filled_id(0xc0), sample_entries()}, {filled_id(0x0c), second}, {filled_id(0x99), {}}};
}

// Where the entry table of sample_index()[1] starts: after the segment header,
// the first pack's id and table (3 entries), and the second pack's id.
constexpr size_t kSecondPackOffset = 5 + 32 + kTableHeaderSize + 3 * kPackEntrySize + 32;

Status decode_patched_index(size_t offset, uint64_t value, size_t width) {
  Bytes bytes = encode_index_segment(sample_index());
  put_le(bytes, offset, value, width);
  return decode_index_segment(bytes).status();
}

TEST(PackTest, IndexSegmentRoundTrip) {
  for (const auto& packs : {std::vector<IndexPack>{}, sample_index()}) {
    Bytes bytes = encode_index_segment(packs);
    auto decoded = decode_index_segment(bytes);
    ASSERT_TRUE(decoded.is_ok()) << decoded.status().to_string();
    EXPECT_EQ(*decoded, packs);
    auto opened = open_index_segment(meta_keys(), repo_id(),
                                     seal_index_segment(meta_keys(), repo_id(), packs));
    ASSERT_TRUE(opened.is_ok()) << opened.status().to_string();
    EXPECT_EQ(*opened, packs);
  }
}

TEST(PackTest, IndexSegmentFieldsLieWhereTheFormatSays) {
  const std::vector<IndexPack> packs = sample_index();
  Bytes bytes = encode_index_segment(packs);
  ByteReader r(bytes);
  EXPECT_EQ(r.u8(), 1u);
  EXPECT_EQ(r.u32(), packs.size());
  for (const IndexPack& p : packs) {
    ByteView id = r.raw(ChunkId::kSize);
    EXPECT_TRUE(std::equal(id.begin(), id.end(), p.pack_id.bytes.begin()));
    Bytes table = encode_pack_entries(p.entries);
    ByteView stored = r.raw(table.size());
    EXPECT_TRUE(std::equal(stored.begin(), stored.end(), table.begin()));
  }
  EXPECT_EQ(r.remaining(), 0u);
  EXPECT_FALSE(r.failed());
  EXPECT_EQ(get_le(bytes, kSecondPackOffset - 32, 1), 0x0cu);
}

TEST(PackTest, IndexSegmentIsSealedWithItsOwnAssociatedData) {
  Bytes ad(8 + kRepoIdSize);
  std::string_view tag = "LRSINDX1";
  std::copy(tag.begin(), tag.end(), ad.begin());
  RepoId repo = repo_id();
  std::copy(repo.begin(), repo.end(), ad.begin() + 8);
  Bytes plaintext = encode_index_segment(sample_index());
  EXPECT_EQ(seal_index_segment(meta_keys(), repo, sample_index()),
            seal(meta_keys(), plaintext, ad));
}

TEST(PackTest, IndexSegmentRejectsOtherVersions) {
  for (uint64_t version : {0u, 2u, 255u}) {
    expect_corruption(decode_patched_index(0, version, 1),
                      "index segment version " + std::to_string(version));
  }
}

TEST(PackTest, IndexSegmentRejectsEveryTruncationAndTrailingBytes) {
  Bytes bytes = encode_index_segment(sample_index());
  for (size_t length = 0; length < bytes.size(); ++length) {
    EXPECT_EQ(decode_index_segment(ByteView(bytes).first(length)).status().code(),
              Code::kCorruption)
        << "length " << length;
  }
  bytes.push_back(0);
  expect_corruption(decode_index_segment(bytes).status(), "after the last pack");
}

TEST(PackTest, IndexSegmentRejectsPackCountsThatDoNotFit) {
  expect_corruption(decode_patched_index(1, 0xffffffff, 4), "does not fit");
  expect_corruption(decode_patched_index(1, 4, 4), "truncated");
  expect_corruption(decode_patched_index(1, 2, 4), "after the last pack");
}

TEST(PackTest, IndexSegmentRejectsAPackListedTwice) {
  Bytes bytes = encode_index_segment(sample_index());
  for (size_t i = 0; i < ChunkId::kSize; ++i) bytes[kSecondPackOffset - 32 + i] = 0xc0;
  expect_corruption(decode_index_segment(bytes).status(), "appears twice");
}

TEST(PackTest, IndexSegmentAppliesTheEntryTableRules) {
  const size_t second = kSecondPackOffset;
  expect_corruption(decode_patched_index(second, 2, 1), "pack entry table version 2");
  expect_corruption(decode_patched_index(second + at(0, kTypeOffset), 9, 1), "unknown blob type");
  expect_corruption(decode_patched_index(second + at(0, kCompressionOffset), 9, 1),
                    "unknown compression");
  expect_corruption(decode_patched_index(second + at(0, kReservedOffset), 9, 1), "reserved");
  expect_corruption(decode_patched_index(second + at(0, kSealedLengthOffset), 40, 4),
                    "seal overhead");
  expect_corruption(decode_patched_index(second + at(0, kStoredLengthOffset), 7, 4),
                    "stored length");
  expect_corruption(decode_patched_index(second + at(0, kRawLengthOffset), UINT32_MAX, 4),
                    "exceeds the limit");
  expect_corruption(decode_patched_index(second + at(0, kOffsetOffset), 15, 8),
                    "outside the blob area");
  expect_corruption(decode_patched_index(5 + 32 + at(1, kOffsetOffset), 20, 8), "overlaps");
  Status st = decode_patched_index(second + at(0, kTypeOffset), 9, 1);
  EXPECT_NE(st.message().find("index segment, pack 1 (" + filled_id(0x0c).hex() + ")"),
            std::string::npos)
      << st.to_string();
  // The entry count: too many for what follows, or too few (the rest is then misread).
  expect_corruption(decode_patched_index(second + 1, 1000, 4), "entry count");
  EXPECT_EQ(decode_patched_index(second + 1, 0, 4).code(), Code::kCorruption);
}

TEST(PackTest, IndexSegmentRejectsSegmentsAboveTheSizeLimit) {
  Bytes huge(kMaxEntryTableBytes + 1, 0);
  huge[0] = 1;
  expect_corruption(decode_index_segment(huge).status(), "exceeds the limit");
  Bytes sealed_huge(kMaxEntryTableBytes + kSealOverhead + 1, 0);
  expect_corruption(open_index_segment(meta_keys(), repo_id(), sealed_huge).status(),
                    "exceeds the limit");
}

TEST(PackTest, SealedIndexSegmentRejectsAWrongKeyRepositoryOrDamage) {
  Bytes sealed = seal_index_segment(meta_keys(), repo_id(), sample_index());
  AeadKeys other{sequential_key(0x02), sequential_key(0x20)};
  expect_corruption(open_index_segment(other, repo_id(), sealed).status(), "authentication");
  expect_corruption(open_index_segment(meta_keys(), repo_id(0xa1), sealed).status(),
                    "authentication");
  for (size_t byte = 0; byte < sealed.size(); byte += 7) {
    Bytes flipped = sealed;
    flipped[byte] ^= 0x04;
    EXPECT_EQ(open_index_segment(meta_keys(), repo_id(), flipped).status().code(),
              Code::kCorruption)
        << "byte " << byte;
  }
}

// ---- object names ----------------------------------------------------------

TEST(PackTest, ObjectNames) {
  ChunkId id;
  for (uint8_t i = 0; i < 32; ++i) id.bytes[i] = static_cast<uint8_t>(0xab + i);
  const std::string hex = id.hex();
  EXPECT_EQ(pack_object_name(id), "packs/ab/" + hex);
  EXPECT_EQ(index_object_name(id), "index/" + hex);
  auto parsed = pack_id_from_name(pack_object_name(id));
  ASSERT_TRUE(parsed.is_ok()) << parsed.status().to_string();
  EXPECT_EQ(*parsed, id);
}

TEST(PackTest, PackIdFromNameRejectsAnythingElse) {
  ChunkId id = filled_id(0x5e);
  const std::string name = pack_object_name(id);
  std::string upper = name;
  for (size_t i = 9; i < upper.size(); ++i) upper[i] = static_cast<char>(std::toupper(upper[i]));
  const std::vector<std::string> bad = {
      "",
      "packs/",
      index_object_name(id),
      "packs/5f/" + id.hex(),           // <hh> from another id
      upper,                            // not as pack_object_name writes it
      name + "0",                       // one digit too many
      name.substr(0, name.size() - 1),  // one too few
      "packs/5e/" + id.hex() + ".tmp",  //
      "pack/5e/" + id.hex() + "x",      // the right length, the wrong prefix
      "packs/5e-" + id.hex(),           //
      "packs/5e/" + std::string(63, '5') + "g",
  };
  for (const auto& b : bad) {
    EXPECT_EQ(pack_id_from_name(b).status().code(), Code::kInvalidArgument) << b;
  }
}

// ---- checked-in samples ----------------------------------------------------

// tests/data/pack_v1.bin and index_segment_v1.bin were written by
// fuzz/make_seeds (fuzz/seeds_pack.cc, the seeds valid_pack and
// valid_index_segment) when version 1 was current, and are never rewritten:
// every future Lares must still read them. They use meta keys of bytes
// 0x00.. (encryption) and 0x20.. (nonce), data keys 0x40.. and 0x60.., the
// id key 0x80.., and repository id a0 a1 .. af.
constexpr std::string_view kSampleBlob0 =
    "Lares pack sample, version 1: blob 0, stored as it is.\n";
constexpr size_t kSampleBlob1Size = 200;  // 200 x 'L', as one zstd frame holding an RLE block

Result<Bytes> read_sample(const std::string& name) {
  return read_file(std::string(LARES_SOURCE_DIR) + "/tests/data/" + name);
}

TEST(PackTest, DecodesTheCheckedInVersion1Pack) {
  auto pack = read_sample("pack_v1.bin");
  ASSERT_TRUE(pack.is_ok()) << pack.status().to_string();
  const Key32 id_key = sequential_key(0x80);
  auto entries = parse_pack(meta_keys(), repo_id(), *pack);
  ASSERT_TRUE(entries.is_ok()) << entries.status().to_string();
  ASSERT_EQ(entries->size(), 2u);

  const PackEntry& e0 = (*entries)[0];
  EXPECT_EQ(e0.id, keyed_hash(id_key, as_bytes(kSampleBlob0)));
  EXPECT_EQ(e0.type, BlobType::kData);
  EXPECT_EQ(e0.compression, Compression::kNone);
  EXPECT_EQ(e0.offset, kPackHeaderSize);
  EXPECT_EQ(e0.sealed_length, kSampleBlob0.size() + kSealOverhead);
  EXPECT_EQ(e0.raw_length, kSampleBlob0.size());
  auto raw0 = open(data_keys(), ByteView(*pack).subspan(e0.offset, e0.sealed_length),
                   blob_associated_data(repo_id(), e0));
  ASSERT_TRUE(raw0.is_ok()) << raw0.status().to_string();
  EXPECT_EQ(as_chars(*raw0), kSampleBlob0);

  const PackEntry& e1 = (*entries)[1];
  const std::string blob1(kSampleBlob1Size, 'L');
  EXPECT_EQ(e1.id, keyed_hash(id_key, as_bytes(blob1)));
  EXPECT_EQ(e1.type, BlobType::kTree);
  EXPECT_EQ(e1.compression, Compression::kZstd);
  EXPECT_EQ(e1.offset, e0.offset + e0.sealed_length);
  EXPECT_EQ(e1.sealed_length, 10 + kSealOverhead);  // the 10-byte zstd frame
  EXPECT_EQ(e1.raw_length, kSampleBlob1Size);
  auto frame = open(data_keys(), ByteView(*pack).subspan(e1.offset, e1.sealed_length),
                    blob_associated_data(repo_id(), e1));
  ASSERT_TRUE(frame.is_ok()) << frame.status().to_string();
  auto raw1 = decompress(*frame, e1.raw_length);
  ASSERT_TRUE(raw1.is_ok()) << raw1.status().to_string();
  EXPECT_EQ(as_chars(*raw1), blob1);

  const uint64_t trailer_size = kSealOverhead + kTableHeaderSize + 2 * kPackEntrySize;
  EXPECT_EQ(pack->size(), e1.offset + e1.sealed_length + trailer_size + kPackFooterSize);
  EXPECT_EQ(get_le(*pack, pack->size() - kPackFooterSize, 8), trailer_size);

  // The writer still writes exactly these bytes.
  PackBuilder builder;
  builder.add(e0, seal(data_keys(), *raw0, blob_associated_data(repo_id(), e0)));
  builder.add(e1, seal(data_keys(), *frame, blob_associated_data(repo_id(), e1)));
  EXPECT_EQ(builder.finish(meta_keys(), repo_id()), *pack);
}

TEST(PackTest, DecodesTheCheckedInVersion1IndexSegment) {
  auto plaintext = read_sample("index_segment_v1.bin");
  ASSERT_TRUE(plaintext.is_ok()) << plaintext.status().to_string();
  auto pack = read_sample("pack_v1.bin");
  ASSERT_TRUE(pack.is_ok()) << pack.status().to_string();
  auto packs = decode_index_segment(*plaintext);
  ASSERT_TRUE(packs.is_ok()) << packs.status().to_string();
  ASSERT_EQ(packs->size(), 2u);

  // The sample pack, under its id, with the entries of its own trailer.
  auto entries = parse_pack(meta_keys(), repo_id(), *pack);
  ASSERT_TRUE(entries.is_ok()) << entries.status().to_string();
  EXPECT_EQ((*packs)[0].pack_id, pack_id_of(sequential_key(0x80), *entries));
  EXPECT_EQ((*packs)[0].entries, *entries);

  // A second pack, named only here.
  EXPECT_EQ((*packs)[1].pack_id, filled_id(0xee));
  ASSERT_EQ((*packs)[1].entries.size(), 1u);
  const PackEntry& e = (*packs)[1].entries[0];
  EXPECT_EQ(e.id, filled_id(0xdd));
  EXPECT_EQ(e.type, BlobType::kData);
  EXPECT_EQ(e.compression, Compression::kZstd);
  EXPECT_EQ(e.sealed_length, 1000 + kSealOverhead);
  EXPECT_EQ(e.raw_length, 5000u);
  EXPECT_EQ(e.offset, kPackHeaderSize);

  EXPECT_EQ(encode_index_segment(*packs), *plaintext);
}

}  // namespace
}  // namespace lares
