#include "codec/keyed_hash.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <unordered_set>

#include "testing/pool_fixture.h"
#include "util/random.h"

namespace lares {
namespace {

Key32 key_of(uint8_t first) { return testing::sequential_key(first); }

Bytes counting_bytes(size_t size) {
  Bytes out(size);
  for (size_t i = 0; i < size; ++i) out[i] = static_cast<uint8_t>(i);
  return out;
}

// Known answers from an independent BLAKE2 implementation (CPython's
// hashlib, the BLAKE2 reference code):
//   hashlib.blake2b(data, digest_size=32, key=bytes(range(32))).hexdigest()
TEST(KeyedHashTest, KnownAnswers) {
  const Key32 key = key_of(0x00);
  EXPECT_EQ(keyed_hash(key, ByteView()).hex(),
            "4e51e7a913fc80137da52880fecca175bf81e117d5c68126dc2774033517ea0d");
  EXPECT_EQ(keyed_hash(key, as_bytes("abc")).hex(),
            "d63a32d3e44738d7907f964316c241adaba0abfeabc32349677578a15a203f7f");
  EXPECT_EQ(keyed_hash(key, counting_bytes(256)).hex(),
            "b42be36ea26392f67d1d3706ffa72b6c61c2ff38e1fabd9a49e154d54b967d83");
  EXPECT_EQ(keyed_hash(key, as_bytes("The quick brown fox jumps over the lazy dog")).hex(),
            "5d9461aff732d77d0cc98725ea29298c914fd5193b4c08ec9e3ad6b28c3e2faf");
  // key = bytes(range(0x80, 0xa0))
  EXPECT_EQ(keyed_hash(key_of(0x80), ByteView()).hex(),
            "672fefcc627d0d8ffcd23b5fe491b1fb5658afa6b4bc8048263a82a3f75fceac");
  // 1 MiB of (i * 7) % 251
  Bytes big(1 << 20);
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<uint8_t>(i * 7 % 251);
  EXPECT_EQ(keyed_hash(key, big).hex(),
            "168b8ca0c87efd7d57d5c38ba985f644dfdacf922ff2ff5258aaca8c501710fd");
}

TEST(KeyedHashTest, DifferentKeysGiveUnrelatedIds) {
  const Bytes data = counting_bytes(1000);
  const ChunkId a = keyed_hash(key_of(0), data);
  const ChunkId b = keyed_hash(key_of(1), data);
  EXPECT_NE(a, b);
  Key32 one_bit = key_of(0);
  one_bit.data()[31] ^= 0x80;
  EXPECT_NE(keyed_hash(one_bit, data), a);
}

TEST(KeyedHashTest, EveryBitOfTheDataMatters) {
  const Key32 key = key_of(3);
  Bytes data = counting_bytes(64);
  std::set<ChunkId> seen = {keyed_hash(key, data)};
  for (size_t bit = 0; bit < data.size() * 8; ++bit) {
    data[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    seen.insert(keyed_hash(key, data));
    data[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
  }
  EXPECT_EQ(seen.size(), 1 + data.size() * 8);
}

TEST(KeyedHashTest, StreamingEqualsOneShotAtEverySplit) {
  const Key32 key = key_of(7);
  const Bytes data = counting_bytes(300);
  const ChunkId whole = keyed_hash(key, data);
  for (size_t split = 0; split <= data.size(); ++split) {
    KeyedHasher hasher(key);
    hasher.update(ByteView(data).subspan(0, split));
    hasher.update(ByteView(data).subspan(split));
    EXPECT_EQ(hasher.finish(), whole) << "split " << split;
  }
}

TEST(KeyedHashTest, StreamingOverManyRandomPieces) {
  const uint64_t seed = 20260302;
  SCOPED_TRACE("seed " + std::to_string(seed));
  SeededRandom random(seed);
  const Key32 key = Key32::random();
  Bytes data(3 << 20);
  for (auto& b : data) b = static_cast<uint8_t>(random.next());
  KeyedHasher hasher(key);
  size_t offset = 0;
  while (offset < data.size()) {
    const size_t piece = std::min<size_t>(random.uniform(200000), data.size() - offset);
    hasher.update(ByteView(data).subspan(offset, piece));
    offset += piece;
  }
  EXPECT_EQ(hasher.finish(), keyed_hash(key, data));
}

TEST(KeyedHashTest, HasherMoves) {
  const Key32 key = key_of(9);
  KeyedHasher first(key);
  first.update(as_bytes("ab"));
  KeyedHasher second = std::move(first);
  second.update(as_bytes("c"));
  EXPECT_EQ(second.finish(), keyed_hash(key, as_bytes("abc")));
}

TEST(KeyedHashTest, FinishTwiceIsAProgrammingError) {
  const Key32 key = key_of(9);
  KeyedHasher hasher(key);
  (void)hasher.finish();
  EXPECT_DEATH((void)hasher.finish(), "finished");
}

TEST(KeyedHashTest, HexRoundTrip) {
  const ChunkId id = keyed_hash(key_of(0), as_bytes("abc"));
  const std::string hex = id.hex();
  ASSERT_EQ(hex.size(), 64u);
  EXPECT_EQ(hex.find_first_not_of("0123456789abcdef"), std::string::npos);
  auto parsed = ChunkId::from_hex(hex);
  ASSERT_TRUE(parsed.is_ok());
  EXPECT_EQ(*parsed, id);
  std::string upper = hex;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  auto parsed_upper = ChunkId::from_hex(upper);
  ASSERT_TRUE(parsed_upper.is_ok());
  EXPECT_EQ(*parsed_upper, id);
}

TEST(KeyedHashTest, FromHexRejectsBadInput) {
  const std::string good(64, 'a');
  for (const std::string& bad :
       {std::string(), std::string(63, 'a'), std::string(65, 'a'), good.substr(0, 63) + "g",
        " " + good.substr(1), good.substr(0, 62) + "-1"}) {
    auto parsed = ChunkId::from_hex(bad);
    ASSERT_FALSE(parsed.is_ok()) << bad;
    EXPECT_EQ(parsed.status().code(), Code::kInvalidArgument);
  }
}

TEST(KeyedHashTest, FromBytes) {
  const ChunkId id = keyed_hash(key_of(0), as_bytes("x"));
  auto back = ChunkId::from_bytes(id.bytes);
  ASSERT_TRUE(back.is_ok());
  EXPECT_EQ(*back, id);
  EXPECT_EQ(ChunkId::from_bytes(ByteView(id.bytes).subspan(1)).status().code(),
            Code::kInvalidArgument);
}

TEST(KeyedHashTest, OrderIsTheOrderOfTheBytesAndOfHex) {
  ChunkId low, high;
  low.bytes[0] = 0x01;
  low.bytes[31] = 0xff;
  high.bytes[0] = 0x02;
  EXPECT_LT(low, high);
  EXPECT_LT(low.hex(), high.hex());
  ChunkId low_last = low;
  low_last.bytes[31] = 0xfe;
  EXPECT_LT(low_last, low);
  EXPECT_EQ(low, low);
  EXPECT_NE(low, high);
}

TEST(KeyedHashTest, IdsWorkInUnorderedSets) {
  const Key32 key = key_of(5);
  std::unordered_set<ChunkId, ChunkIdHash> ids;
  for (int i = 0; i < 1000; ++i) ids.insert(keyed_hash(key, as_bytes(std::to_string(i))));
  EXPECT_EQ(ids.size(), 1000u);
  EXPECT_TRUE(ids.contains(keyed_hash(key, as_bytes("500"))));
  EXPECT_FALSE(ids.contains(keyed_hash(key, as_bytes("1000"))));
}

}  // namespace
}  // namespace lares
