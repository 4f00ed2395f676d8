#include "util/json_file.h"

#include <gtest/gtest.h>

#include "pool/device.h"
#include "pool/scrub.h"

namespace lares {
namespace {

nlohmann::json parse(std::string_view text) {
  auto j = parse_json(text, "test");
  EXPECT_TRUE(j.is_ok()) << j.status().message();
  return j.is_ok() ? *j : nlohmann::json();
}

TEST(JsonFieldTest, ReadsEachTypeWhenItFits) {
  auto j = parse(R"({"s":"x","b":true,"u":4294967295,"i":-5,"big":18446744073709551615})");
  std::string s;
  bool b = false;
  uint32_t u = 0;
  int32_t i = 0;
  uint64_t big = 0;
  ASSERT_TRUE(json_field(j, "s", "t", &s).is_ok());
  ASSERT_TRUE(json_field(j, "b", "t", &b).is_ok());
  ASSERT_TRUE(json_field(j, "u", "t", &u).is_ok());
  ASSERT_TRUE(json_field(j, "i", "t", &i).is_ok());
  ASSERT_TRUE(json_field(j, "big", "t", &big).is_ok());
  EXPECT_EQ(s, "x");
  EXPECT_TRUE(b);
  EXPECT_EQ(u, 4294967295u);
  EXPECT_EQ(i, -5);
  EXPECT_EQ(big, UINT64_MAX);
}

TEST(JsonFieldTest, RejectsWrongTypesAndOutOfRangeNumbers) {
  auto j = parse(R"({"f":1.5,"huge":1e300,"neg":-1,"wide":4294967296,"str":"7","b":1})");
  uint64_t u64 = 42;
  uint32_t u32 = 42;
  int64_t i64 = 42;
  int32_t i32 = 42;
  bool b = false;
  EXPECT_EQ(json_field(j, "f", "t", &i64).code(), Code::kCorruption);
  EXPECT_EQ(json_field(j, "huge", "t", &i64).code(), Code::kCorruption);
  EXPECT_EQ(json_field(j, "huge", "t", &u64).code(), Code::kCorruption);
  EXPECT_EQ(json_field(j, "neg", "t", &u64).code(), Code::kCorruption);
  EXPECT_EQ(json_field(j, "wide", "t", &u32).code(), Code::kCorruption);
  EXPECT_EQ(json_field(j, "wide", "t", &i32).code(), Code::kCorruption);
  EXPECT_EQ(json_field(j, "str", "t", &i64).code(), Code::kCorruption);
  EXPECT_EQ(json_field(j, "b", "t", &b).code(), Code::kCorruption);
  EXPECT_EQ(json_field(j, "missing", "t", &i64).code(), Code::kCorruption);
  // A rejected read leaves the output untouched.
  EXPECT_EQ(u64, 42u);
  EXPECT_EQ(i64, 42);
  auto not_object = parse("[1,2]");
  EXPECT_EQ(json_field(not_object, "x", "t", &i64).code(), Code::kCorruption);
}

TEST(JsonFieldTest, ScrubCursorWithHugeTimestampIsCorruptionNotUndefinedBehaviour) {
  // Found by state_files_fuzz: a 64-digit integer parses as a double.
  std::string text =
      R"({"format":1,"pool_id":"0123456789abcdef0123456789abcdef","last_hash":"7f00aa",)"
      R"("finished":false,"started_unix":17000006666666666660000000000000000000000000000001,)"
      R"("updated_unix":0,"bytes_scanned":0,"objects_scanned":0,"errors_found":0,)"
      R"("repaired":0,"unrecoverable":0})";
  auto cursor = decode_scrub_cursor(text);
  ASSERT_FALSE(cursor.is_ok());
  EXPECT_EQ(cursor.status().code(), Code::kCorruption);

  ScrubCursor good;
  good.pool_id = "0123456789abcdef0123456789abcdef";
  good.last_hash = "7f00aa";
  good.started_unix = 1700000000;
  good.totals.bytes_scanned = 123;
  auto back = decode_scrub_cursor(encode_scrub_cursor(good));
  ASSERT_TRUE(back.is_ok()) << back.status().message();
  EXPECT_EQ(back->last_hash, "7f00aa");
  EXPECT_EQ(back->started_unix, 1700000000);
  EXPECT_EQ(back->totals.bytes_scanned, 123u);
}

TEST(JsonFieldTest, CountersRejectFloatsAndNegatives) {
  EXPECT_FALSE(decode_counters(R"({"repaired":2.5})").is_ok());
  EXPECT_FALSE(decode_counters(R"({"repaired":-1})").is_ok());
  auto ok = decode_counters(R"({"repaired":3})");
  ASSERT_TRUE(ok.is_ok());
  EXPECT_EQ(ok->repaired, 3u);
}

}  // namespace
}  // namespace lares
