#include "util/bytes.h"

#include <gtest/gtest.h>

#include <array>

namespace lares {
namespace {

TEST(DecodeHexTest, RoundTripsWhatToHexWrites) {
  const std::array<uint8_t, 4> in = {0x00, 0x7f, 0xa5, 0xff};
  std::array<uint8_t, 4> out{};
  ASSERT_TRUE(decode_hex(to_hex(in), out));
  EXPECT_EQ(out, in);
}

TEST(DecodeHexTest, RefusesWrongLengthsDigitsAndCase) {
  std::array<uint8_t, 2> out{};
  EXPECT_FALSE(decode_hex("abc", out));
  EXPECT_FALSE(decode_hex("abcdef", out));
  EXPECT_FALSE(decode_hex("ab g", out));
  EXPECT_FALSE(decode_hex("ABCD", out));
  EXPECT_TRUE(decode_hex("ABCD", out, HexCase::kEither));
  EXPECT_EQ(out[0], 0xab);
  EXPECT_EQ(out[1], 0xcd);
  EXPECT_FALSE(decode_hex("abcG", out, HexCase::kEither));
  std::array<uint8_t, 0> none{};
  EXPECT_TRUE(decode_hex("", none));
}

}  // namespace
}  // namespace lares
