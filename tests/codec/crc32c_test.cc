#include "codec/crc32c.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "util/random.h"

namespace lares {
namespace {

TEST(Crc32cTest, KnownVector) { EXPECT_EQ(crc32c(as_bytes("123456789")), 0xE3069283u); }

TEST(Crc32cTest, EmptyInputIsZero) { EXPECT_EQ(crc32c(ByteView()), 0u); }

// The iSCSI test patterns of RFC 3720, appendix B.4.
TEST(Crc32cTest, Rfc3720Vectors) {
  Bytes zeros(32, 0x00);
  Bytes ones(32, 0xff);
  Bytes ascending(32), descending(32);
  for (size_t i = 0; i < 32; ++i) {
    ascending[i] = static_cast<uint8_t>(i);
    descending[i] = static_cast<uint8_t>(31 - i);
  }
  EXPECT_EQ(crc32c(zeros), 0x8A9136AAu);
  EXPECT_EQ(crc32c(ones), 0x62A8AB43u);
  EXPECT_EQ(crc32c(ascending), 0x46DD794Eu);
  EXPECT_EQ(crc32c(descending), 0x113FDB5Cu);
}

TEST(Crc32cTest, ExtendEqualsOneShotAtEverySplit) {
  const std::string text = "The quick brown fox jumps over the lazy dog";
  const uint32_t whole = crc32c(as_bytes(text));
  for (size_t split = 0; split <= text.size(); ++split) {
    ByteView a = as_bytes(text).subspan(0, split);
    ByteView b = as_bytes(text).subspan(split);
    EXPECT_EQ(crc32c_extend(crc32c(a), b), whole) << "split " << split;
  }
  EXPECT_EQ(crc32c_extend(0, as_bytes(text)), whole);  // extending the empty crc
}

TEST(Crc32cTest, ExtendOverManyRandomPieces) {
  const uint64_t seed = 20240601;
  SCOPED_TRACE("seed " + std::to_string(seed));
  SeededRandom random(seed);
  Bytes data(1 << 20);
  for (auto& b : data) b = static_cast<uint8_t>(random.next());
  const uint32_t whole = crc32c(data);
  uint32_t running = crc32c(ByteView());
  size_t offset = 0;
  while (offset < data.size()) {
    size_t piece = std::min<size_t>(random.uniform(5000), data.size() - offset);
    running = crc32c_extend(running, ByteView(data).subspan(offset, piece));
    offset += piece;
  }
  EXPECT_EQ(running, whole);
}

TEST(Crc32cTest, EverySingleBitFlipChangesTheChecksum) {
  Bytes data(4096, 0x5a);
  const uint32_t original = crc32c(data);
  for (size_t bit = 0; bit < data.size() * 8; ++bit) {
    data[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    ASSERT_NE(crc32c(data), original) << "bit " << bit;
    data[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
  }
}

TEST(Crc32cTest, IndependentOfAlignment) {
  Bytes buffer(64 + 16);
  for (size_t i = 0; i < buffer.size(); ++i) buffer[i] = static_cast<uint8_t>(i * 7);
  Bytes copy(ByteView(buffer).subspan(16, 64).begin(), ByteView(buffer).subspan(16, 64).end());
  const uint32_t expected = crc32c(copy);
  for (size_t shift = 0; shift < 16; ++shift) {
    Bytes shifted(shift, 0);
    shifted.insert(shifted.end(), copy.begin(), copy.end());
    EXPECT_EQ(crc32c(ByteView(shifted).subspan(shift)), expected) << "shift " << shift;
  }
}

}  // namespace
}  // namespace lares
