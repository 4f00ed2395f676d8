#include "pool/shard_header.h"

#include <gtest/gtest.h>

#include <string>

#include "codec/crc32c.h"
#include "util/file.h"

namespace lares {
namespace {

// Field offsets of the header (docs/FORMAT.md, "Shard file").
constexpr size_t kVersionOffset = 8;
constexpr size_t kFlagsOffset = 10;
constexpr size_t kHeaderSizeOffset = 12;
constexpr size_t kPoolIdOffset = 16;
constexpr size_t kPutIdOffset = 32;
constexpr size_t kReplacesOffset = 40;
constexpr size_t kObjectSizeOffset = 48;
constexpr size_t kShardSizeOffset = 56;
constexpr size_t kBlockSizeOffset = 64;
constexpr size_t kDataCountOffset = 68;
constexpr size_t kParityCountOffset = 69;
constexpr size_t kShardIndexOffset = 70;
constexpr size_t kReservedOffset = 71;
constexpr size_t kNameLengthOffset = 72;

ShardHeader make_header() {
  ShardHeader h;
  for (uint8_t i = 0; i < 16; ++i) h.pool_id.push_back(static_cast<uint8_t>(0xf0 + i));
  h.put_id = 42;
  h.replaces_put_id = 41;
  h.k = 4;
  h.r = 2;
  h.block_size = 4096;
  h.shard_size = 3 * 4096;
  h.object_size = 4 * h.shard_size - 3;  // ceil(object / k), rounded up to 4 KiB, is the shard size
  h.shard_index = 5;
  h.name = "docs/readme.txt";
  h.devices = {11, 12, 13, 14, 15, 16};
  h.checksums.resize(6 * 3);
  for (size_t i = 0; i < h.checksums.size(); ++i)
    h.checksums[i] = 0x1000u + static_cast<uint32_t>(i);
  return h;
}

void expect_same_fields(const ShardHeader& a, const ShardHeader& b) {
  EXPECT_EQ(a.pool_id, b.pool_id);
  EXPECT_EQ(a.put_id, b.put_id);
  EXPECT_EQ(a.replaces_put_id, b.replaces_put_id);
  EXPECT_EQ(a.object_size, b.object_size);
  EXPECT_EQ(a.shard_size, b.shard_size);
  EXPECT_EQ(a.block_size, b.block_size);
  EXPECT_EQ(a.k, b.k);
  EXPECT_EQ(a.r, b.r);
  EXPECT_EQ(a.shard_index, b.shard_index);
  EXPECT_EQ(a.name, b.name);
  EXPECT_EQ(a.checksums, b.checksums);
  if (!a.devices.empty() && !b.devices.empty()) {
    EXPECT_EQ(a.devices, b.devices);
  }
}

void expect_round_trip(const ShardHeader& h) {
  Bytes bytes = encode_shard_header(h);
  EXPECT_EQ(bytes.size(), h.header_size());
  EXPECT_EQ(bytes.size() % ShardHeader::kAlignment, 0u);
  auto size = peek_header_size(bytes);
  ASSERT_TRUE(size.is_ok()) << size.status().to_string();
  EXPECT_EQ(*size, h.header_size());
  auto decoded = decode_shard_header(bytes);
  ASSERT_TRUE(decoded.is_ok()) << decoded.status().to_string();
  expect_same_fields(*decoded, h);
  EXPECT_TRUE(decoded->same_version(h));
}

void put_le(Bytes& bytes, size_t offset, uint64_t value, size_t width) {
  for (size_t i = 0; i < width; ++i) bytes[offset + i] = static_cast<uint8_t>(value >> (8 * i));
}

// The offset of the trailing crc32c in an encoding of `h`.
size_t crc_offset(const ShardHeader& h) {
  return ShardHeader::kFixedBytes + h.name.size() + 8 * static_cast<size_t>(h.k + h.r) +
         4 * h.checksums.size();
}

// Encodes make_header(), overwrites one field and recomputes the checksum
// where the original layout has it, so the field's own check must reject it.
Status decode_patched(size_t offset, uint64_t value, size_t width) {
  ShardHeader h = make_header();
  Bytes bytes = encode_shard_header(h);
  put_le(bytes, offset, value, width);
  size_t at = crc_offset(h);
  put_le(bytes, at, crc32c(ByteView(bytes).subspan(0, at)), 4);
  return decode_shard_header(bytes).status();
}

void expect_corruption(const Status& status, const std::string& reason) {
  EXPECT_EQ(status.code(), Code::kCorruption) << status.to_string();
  EXPECT_NE(status.message().find(reason), std::string::npos)
      << "expected \"" << reason << "\" in: " << status.to_string();
}

TEST(ShardHeaderTest, RoundTrip) { expect_round_trip(make_header()); }

TEST(ShardHeaderTest, RoundTripOfEdgeLayouts) {
  ShardHeader empty = make_header();  // an empty object: no blocks, no table
  empty.object_size = 0;
  empty.shard_size = 0;
  empty.checksums.clear();
  expect_round_trip(empty);

  ShardHeader mirror = make_header();  // k == 1: r + 1 copies
  mirror.k = 1;
  mirror.r = 3;
  mirror.shard_index = 3;
  mirror.object_size = mirror.shard_size;
  mirror.checksums.resize(4 * 3);
  mirror.devices = {1, 2, 3, 4};
  expect_round_trip(mirror);

  ShardHeader no_parity = make_header();
  no_parity.r = 0;
  no_parity.shard_index = 0;
  no_parity.replaces_put_id = 0;
  no_parity.checksums.resize(4 * 3);
  no_parity.devices.clear();  // written as unknown (zeros)
  expect_round_trip(no_parity);

  ShardHeader widest = make_header();  // the largest k, r, block size and name
  widest.k = 32;
  widest.r = 4;
  widest.block_size = 1 << 20;
  widest.shard_size = 5 * (1 << 20);
  widest.object_size = 32 * widest.shard_size;
  widest.shard_index = 35;
  widest.name = std::string(1024, 'n');
  widest.checksums.assign(36 * 5, 0xdeadbeef);
  widest.devices.assign(36, UINT64_MAX);
  widest.put_id = UINT64_MAX;
  expect_round_trip(widest);
}

TEST(ShardHeaderTest, LargeTablesSpanSeveralPages) {
  ShardHeader h = make_header();
  h.shard_size = 1000 * 4096;
  h.object_size = 4 * h.shard_size;
  h.checksums.assign(6 * 1000, 7);        // 24000 bytes of table
  EXPECT_EQ(h.header_size(), 6u * 4096);  // 74 + 15 + 24000 + 4 bytes, rounded up
  expect_round_trip(h);
}

TEST(ShardHeaderTest, FieldsLieWhereTheFormatSays) {
  ShardHeader h = make_header();
  Bytes bytes = encode_shard_header(h);
  ByteReader r(bytes);
  EXPECT_EQ(as_chars(r.raw(8)), "LARSHARD");
  EXPECT_EQ(r.u16(), ShardHeader::kFormatVersion);
  EXPECT_EQ(r.u16(), 0u);  // flags
  EXPECT_EQ(r.u32(), h.header_size());
  ByteView pool_id = r.raw(16);
  EXPECT_EQ(Bytes(pool_id.begin(), pool_id.end()), h.pool_id);
  EXPECT_EQ(r.u64(), h.put_id);
  EXPECT_EQ(r.u64(), h.replaces_put_id);
  EXPECT_EQ(r.u64(), h.object_size);
  EXPECT_EQ(r.u64(), h.shard_size);
  EXPECT_EQ(r.u32(), h.block_size);
  EXPECT_EQ(r.u8(), h.k);
  EXPECT_EQ(r.u8(), h.r);
  EXPECT_EQ(r.u8(), h.shard_index);
  EXPECT_EQ(r.u8(), 0u);  // reserved
  EXPECT_EQ(size_t{r.u16()}, h.name.size());
  EXPECT_EQ(r.position(), ShardHeader::kFixedBytes);
  EXPECT_EQ(as_chars(r.raw(h.name.size())), h.name);
  for (uint64_t expected : h.devices) EXPECT_EQ(r.u64(), expected);
  for (uint32_t expected : h.checksums) EXPECT_EQ(r.u32(), expected);
  size_t crc_at = r.position();
  EXPECT_EQ(crc_at, crc_offset(h));
  EXPECT_EQ(r.u32(), crc32c(ByteView(bytes).subspan(0, crc_at)));
  while (r.remaining() > 0) ASSERT_EQ(r.u8(), 0u) << "padding must be zeros";
  EXPECT_FALSE(r.failed());
}

TEST(ShardHeaderTest, ChecksumTableIsRowMajorByShard) {
  ShardHeader h = make_header();
  EXPECT_EQ(h.block_count(), 3u);
  EXPECT_EQ(h.checksum(0, 0), 0x1000u);
  EXPECT_EQ(h.checksum(0, 2), 0x1002u);
  EXPECT_EQ(h.checksum(1, 0), 0x1003u);
  EXPECT_EQ(h.checksum(5, 2), 0x1011u);
}

TEST(ShardHeaderTest, SameVersionIgnoresWhichShardItIs) {
  ShardHeader a = make_header();
  ShardHeader b = a;
  b.shard_index = 0;
  b.replaces_put_id = 0;
  EXPECT_TRUE(a.same_version(b));
  b.put_id += 1;
  EXPECT_FALSE(a.same_version(b));
  b = a;
  b.checksums[3] ^= 1;
  EXPECT_FALSE(a.same_version(b));
}

TEST(ShardHeaderTest, PeekRejectsShortInputAndBadMagic) {
  Bytes bytes = encode_shard_header(make_header());
  for (size_t length = 0; length < 16; ++length) {
    expect_corruption(peek_header_size(ByteView(bytes).subspan(0, length)).status(), "shorter");
  }
  Bytes bad = bytes;
  bad[0] = 'l';
  expect_corruption(peek_header_size(bad).status(), "bad magic");
  expect_corruption(decode_shard_header(bad).status(), "bad magic");
}

TEST(ShardHeaderTest, RejectsOtherVersions) {
  for (uint64_t version : {0u, 2u, 0xffffu}) {
    expect_corruption(decode_patched(kVersionOffset, version, 2), "version");
  }
}

TEST(ShardHeaderTest, RejectsHeaderSizesOutOfRange) {
  for (uint64_t size : {0u, 4095u, 4097u, 6144u, (16u << 20) + 4096u, 0xffffffffu}) {
    expect_corruption(decode_patched(kHeaderSizeOffset, size, 4), "size out of range");
  }
  Bytes bytes = encode_shard_header(make_header());
  put_le(bytes, kHeaderSizeOffset, 16u << 20, 4);  // the largest size is fine to peek
  auto peeked = peek_header_size(bytes);
  ASSERT_TRUE(peeked.is_ok());
  EXPECT_EQ(*peeked, 16u << 20);
  expect_corruption(decode_shard_header(bytes).status(), "truncated");
}

TEST(ShardHeaderTest, RejectsEveryTruncation) {
  Bytes bytes = encode_shard_header(make_header());
  for (size_t length = 0; length < bytes.size(); ++length) {
    EXPECT_EQ(decode_shard_header(ByteView(bytes).subspan(0, length)).status().code(),
              Code::kCorruption)
        << "length " << length;
  }
}

TEST(ShardHeaderTest, EveryFlippedBitIsDetected) {
  ShardHeader h = make_header();
  const Bytes bytes = encode_shard_header(h);
  // Every byte up to and including the crc is covered; the zero padding after it is not read.
  for (size_t bit = 0; bit < (crc_offset(h) + 4) * 8; ++bit) {
    Bytes flipped = bytes;
    flipped[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    EXPECT_EQ(decode_shard_header(flipped).status().code(), Code::kCorruption) << "bit " << bit;
  }
}

TEST(ShardHeaderTest, RejectsShardLayoutsOutOfRange) {
  expect_corruption(decode_patched(kDataCountOffset, 0, 1), "shard layout out of range");
  expect_corruption(decode_patched(kDataCountOffset, 33, 1), "shard layout out of range");
  expect_corruption(decode_patched(kParityCountOffset, 5, 1), "shard layout out of range");
  expect_corruption(decode_patched(kShardIndexOffset, 6, 1), "shard layout out of range");
  expect_corruption(decode_patched(kShardIndexOffset, 255, 1), "shard layout out of range");
  expect_corruption(decode_patched(kReservedOffset, 1, 1), "malformed");
}

TEST(ShardHeaderTest, RejectsBlockSizesOutOfRange) {
  for (uint64_t size : {0u, 2048u, 3u * 4096u, 2u << 20, 0xffffffffu}) {
    expect_corruption(decode_patched(kBlockSizeOffset, size, 4), "block size out of range");
  }
}

TEST(ShardHeaderTest, RejectsInconsistentSizes) {
  ShardHeader h = make_header();
  // The shard size must be ceil(object size / k) rounded up to a multiple of 4096.
  expect_corruption(decode_patched(kObjectSizeOffset, 4 * h.shard_size + 1, 8), "inconsistent");
  expect_corruption(decode_patched(kObjectSizeOffset, 4 * (h.shard_size - 4096), 8),
                    "inconsistent");
  expect_corruption(decode_patched(kObjectSizeOffset, 0, 8), "inconsistent");
  expect_corruption(decode_patched(kShardSizeOffset, h.shard_size + 1, 8), "inconsistent");
  expect_corruption(decode_patched(kShardSizeOffset, h.shard_size - 100, 8), "inconsistent");
  expect_corruption(decode_patched(kShardSizeOffset, (uint64_t{1} << 40) + 1, 8), "inconsistent");
  expect_corruption(decode_patched(kShardSizeOffset, UINT64_MAX, 8), "inconsistent");
}

TEST(ShardHeaderTest, RejectsBadNameLengths) {
  expect_corruption(decode_patched(kNameLengthOffset, 0, 2), "bad name length");
  expect_corruption(decode_patched(kNameLengthOffset, 1025, 2), "bad name length");
}

TEST(ShardHeaderTest, RejectsATableThatDoesNotFit) {
  ShardHeader h = make_header();
  // 4 KiB cannot hold a table of 6 x 1000 blocks.
  expect_corruption(decode_patched(kShardSizeOffset, 1000 * 4096, 8), "inconsistent");
  Bytes bytes = encode_shard_header(h);
  put_le(bytes, kShardSizeOffset, 1000 * 4096, 8);
  put_le(bytes, kObjectSizeOffset, 4 * 1000 * 4096, 8);
  expect_corruption(decode_shard_header(bytes).status(), "does not fit");
}

TEST(ShardHeaderTest, RejectsAHeaderSizeLargerThanItsContents) {
  // A header that claims 8 KiB while its contents fit in 4 KiB, with a valid crc.
  Bytes bytes = encode_shard_header(make_header());
  bytes.resize(8192, 0);
  put_le(bytes, kHeaderSizeOffset, 8192, 4);
  size_t at = crc_offset(make_header());
  put_le(bytes, at, crc32c(ByteView(bytes).subspan(0, at)), 4);
  expect_corruption(decode_shard_header(bytes).status(), "does not match its contents");
}

TEST(ShardHeaderTest, RejectsFlippedFlagsThroughTheChecksum) {
  Bytes bytes = encode_shard_header(make_header());
  put_le(bytes, kFlagsOffset, 1, 2);
  expect_corruption(decode_shard_header(bytes).status(), "checksum mismatch");
}

TEST(ShardHeaderTest, RejectsChangedFieldsThroughTheChecksum) {
  for (size_t offset : {kPoolIdOffset, kPutIdOffset, kReplacesOffset}) {
    Bytes bytes = encode_shard_header(make_header());
    bytes[offset] ^= 0x80;
    expect_corruption(decode_shard_header(bytes).status(), "checksum mismatch");
  }
}

// tests/data/shard_header_v1.bin was written by fuzz/make_seeds when format 1
// was current and is never rewritten: every future lares must still read it.
TEST(ShardHeaderTest, DecodesTheCheckedInVersion1Sample) {
  auto bytes = read_file(std::string(LARES_SOURCE_DIR) + "/tests/data/shard_header_v1.bin");
  ASSERT_TRUE(bytes.is_ok()) << bytes.status().to_string();
  ASSERT_EQ(bytes->size(), 4096u);
  auto peeked = peek_header_size(*bytes);
  ASSERT_TRUE(peeked.is_ok()) << peeked.status().to_string();
  EXPECT_EQ(*peeked, 4096u);
  auto h = decode_shard_header(*bytes);
  ASSERT_TRUE(h.is_ok()) << h.status().to_string();
  Bytes pool_id;
  for (uint8_t i = 0; i < 16; ++i) pool_id.push_back(i);
  EXPECT_EQ(h->pool_id, pool_id);
  EXPECT_EQ(h->put_id, 0x0123456789abcdefu);
  EXPECT_EQ(h->replaces_put_id, 0x1111u);
  EXPECT_EQ(h->object_size, 10000u);
  EXPECT_EQ(h->shard_size, 8192u);
  EXPECT_EQ(h->block_size, 4096u);
  EXPECT_EQ(h->k, 2);
  EXPECT_EQ(h->r, 1);
  EXPECT_EQ(h->shard_index, 2);
  EXPECT_EQ(h->name, "photos/2024/beach.jpg");
  EXPECT_EQ(h->devices, (std::vector<uint64_t>{0xd0, 0xd1, 0xd2}));
  ASSERT_EQ(h->checksums.size(), 6u);
  for (uint32_t i = 0; i < 6; ++i) EXPECT_EQ(h->checksums[i], 0xa0000000u + i);
  EXPECT_EQ(h->header_size(), 4096u);
}

}  // namespace
}  // namespace lares
