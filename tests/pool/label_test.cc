#include "pool/label.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "codec/crc32c.h"
#include "testing/temp_dir.h"
#include "util/file.h"

namespace lares {
namespace {

constexpr size_t kEnvelopeBytes = 20;  // magic, version, length, crc (docs/FORMAT.md)

PoolLabel make_label() {
  PoolLabel label;
  label.pool_id = "0123456789abcdef0123456789abcdef";
  label.pool_name = "tank";
  label.device_id = "00000000000000a1";
  label.generation = 3;
  label.redundancy = 2;
  label.max_data_shards = 8;
  label.block_size = 64 * 1024;
  label.created_unix = 1700000000;
  label.members = {
      {"00000000000000a1", "/mnt/a", MemberState::kActive, ""},
      {"00000000000000b2", "/mnt/b", MemberState::kRemoving, ""},
      {"00000000000000c3", "/mnt/c", MemberState::kReplacing, "00000000000000d4"},
  };
  return label;
}

// An envelope around any body, with a correct length and checksum.
Bytes envelope(const std::string& body, uint32_t version = PoolLabel::kFormatVersion) {
  Bytes out;
  ByteWriter w(&out);
  w.raw(as_bytes("LARESLBL"));
  w.u32(version);
  w.u32(static_cast<uint32_t>(body.size()));
  w.u32(crc32c(as_bytes(body)));
  w.raw(as_bytes(body));
  return out;
}

nlohmann::json body_json(const PoolLabel& label) {
  Bytes bytes = encode_label(label);
  return nlohmann::json::parse(as_chars(ByteView(bytes).subspan(kEnvelopeBytes)));
}

Code decode_code(const Bytes& bytes) { return decode_label(bytes).status().code(); }

// Decodes a label whose JSON body was edited; the envelope is valid, so a
// rejection comes from the body checks.
Code decode_edited(void (*edit)(nlohmann::json&)) {
  nlohmann::json body = body_json(make_label());
  edit(body);
  return decode_code(envelope(body.dump()));
}

TEST(LabelTest, RoundTrip) {
  PoolLabel label = make_label();
  auto decoded = decode_label(encode_label(label));
  ASSERT_TRUE(decoded.is_ok()) << decoded.status().to_string();
  EXPECT_EQ(*decoded, label);
}

TEST(LabelTest, RoundTripOfExtremeValues) {
  PoolLabel label = make_label();
  label.generation = UINT64_MAX;
  label.created_unix = INT64_MIN;
  label.redundancy = 3;
  label.max_data_shards = 16;
  label.block_size = 1u << 20;
  label.pool_name = std::string(64, 'x');
  label.members[0].path = "/mnt/\"quoted\" \\ \xc3\xa9t\xc3\xa9";  // JSON escapes and UTF-8
  auto decoded = decode_label(encode_label(label));
  ASSERT_TRUE(decoded.is_ok()) << decoded.status().to_string();
  EXPECT_EQ(*decoded, label);
}

TEST(LabelTest, EnvelopeLayout) {
  Bytes bytes = encode_label(make_label());
  ASSERT_GT(bytes.size(), kEnvelopeBytes);
  EXPECT_EQ(as_chars(ByteView(bytes).subspan(0, 8)), "LARESLBL");
  ByteReader r(ByteView(bytes).subspan(8));
  EXPECT_EQ(r.u32(), PoolLabel::kFormatVersion);
  EXPECT_EQ(r.u32(), bytes.size() - kEnvelopeBytes);
  EXPECT_EQ(r.u32(), crc32c(ByteView(bytes).subspan(kEnvelopeBytes)));
  EXPECT_EQ(bytes[kEnvelopeBytes], '{');
}

TEST(LabelTest, FindMember) {
  PoolLabel label = make_label();
  ASSERT_NE(label.find_member("00000000000000b2"), nullptr);
  EXPECT_EQ(label.find_member("00000000000000b2")->path, "/mnt/b");
  EXPECT_EQ(label.find_member("00000000000000ff"), nullptr);
}

TEST(LabelTest, RejectsBadMagic) {
  Bytes bytes = encode_label(make_label());
  bytes[3] = 'X';
  EXPECT_EQ(decode_code(bytes), Code::kCorruption);
}

TEST(LabelTest, RejectsOtherVersionsAsUnsupported) {
  std::string body = body_json(make_label()).dump();
  for (uint32_t version : {0u, 2u, 0xffffffffu}) {
    auto decoded = decode_label(envelope(body, version));
    EXPECT_EQ(decoded.status().code(), Code::kInvalidArgument) << "version " << version;
    EXPECT_NE(decoded.status().message().find("upgrade"), std::string::npos);
  }
}

TEST(LabelTest, RejectsEveryTruncation) {
  Bytes bytes = encode_label(make_label());
  for (size_t length = 0; length < bytes.size(); ++length) {
    Bytes truncated(bytes.begin(), bytes.begin() + static_cast<ptrdiff_t>(length));
    EXPECT_EQ(decode_code(truncated), Code::kCorruption) << "length " << length;
  }
}

TEST(LabelTest, RejectsTrailingBytes) {
  Bytes bytes = encode_label(make_label());
  bytes.push_back(' ');
  EXPECT_EQ(decode_code(bytes), Code::kCorruption);
}

TEST(LabelTest, RejectsOversizedLength) {
  Bytes bytes = envelope(std::string(PoolLabel::kMaxBodyBytes + 1, ' '));
  EXPECT_EQ(decode_code(bytes), Code::kCorruption);
}

TEST(LabelTest, EveryFlippedBitIsDetected) {
  const Bytes bytes = encode_label(make_label());
  for (size_t bit = 0; bit < bytes.size() * 8; ++bit) {
    Bytes flipped = bytes;
    flipped[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    // A flip in the version field reads as a format this lares does not know.
    bool in_version = bit / 8 >= 8 && bit / 8 < 12;
    EXPECT_EQ(decode_code(flipped), in_version ? Code::kInvalidArgument : Code::kCorruption)
        << "bit " << bit;
  }
}

TEST(LabelTest, RejectsBodiesThatAreNotAnObject) {
  EXPECT_EQ(decode_code(envelope("")), Code::kCorruption);
  EXPECT_EQ(decode_code(envelope("{\"pool_id\":")), Code::kCorruption);
  EXPECT_EQ(decode_code(envelope("[]")), Code::kCorruption);
  EXPECT_EQ(decode_code(envelope("42")), Code::kCorruption);
  EXPECT_EQ(decode_code(envelope("\"label\"")), Code::kCorruption);
  EXPECT_EQ(decode_code(envelope("{\"x\":\"\xff\"}")), Code::kCorruption);  // invalid UTF-8
}

TEST(LabelTest, RejectsDeepNestingWithoutCrashing) {
  const size_t depth = 200000;
  std::string body = std::string(depth, '[') + std::string(depth, ']');
  EXPECT_EQ(decode_code(envelope(body)), Code::kCorruption);
  body = "{\"members\":" + std::string(depth, '[');
  EXPECT_EQ(decode_code(envelope(body)), Code::kCorruption);
}

TEST(LabelTest, RejectsEachMissingField) {
  for (const char* key : {"pool_id", "pool_name", "device_id", "generation", "redundancy",
                          "max_data_shards", "block_size", "created_unix", "members"}) {
    nlohmann::json body = body_json(make_label());
    body.erase(key);
    EXPECT_EQ(decode_code(envelope(body.dump())), Code::kCorruption) << key;
  }
  for (const char* key : {"device_id", "path", "state"}) {
    nlohmann::json body = body_json(make_label());
    body["members"][1].erase(key);
    EXPECT_EQ(decode_code(envelope(body.dump())), Code::kCorruption) << "member " << key;
  }
}

TEST(LabelTest, RejectsFieldsOfTheWrongType) {
  for (const char* key : {"pool_id", "pool_name", "device_id"}) {
    nlohmann::json body = body_json(make_label());
    body[key] = 7;
    EXPECT_EQ(decode_code(envelope(body.dump())), Code::kCorruption) << key;
  }
  for (const char* key :
       {"generation", "redundancy", "max_data_shards", "block_size", "created_unix"}) {
    nlohmann::json body = body_json(make_label());
    body[key] = "7";
    EXPECT_EQ(decode_code(envelope(body.dump())), Code::kCorruption) << key;
    body[key] = 7.5;
    EXPECT_EQ(decode_code(envelope(body.dump())), Code::kCorruption) << key;
  }
  // Unsigned fields refuse negative numbers.
  for (const char* key : {"generation", "block_size"}) {
    nlohmann::json body = body_json(make_label());
    body[key] = -1;
    EXPECT_EQ(decode_code(envelope(body.dump())), Code::kCorruption) << key;
  }
  EXPECT_EQ(decode_edited([](nlohmann::json& b) { b["members"][0]["state"] = 1; }),
            Code::kCorruption);
  EXPECT_EQ(decode_edited([](nlohmann::json& b) { b["members"][2]["replaces"] = 1; }),
            Code::kCorruption);
}

TEST(LabelTest, RejectsMalformedIds) {
  auto with = [](const char* key, const char* value) {
    nlohmann::json body = body_json(make_label());
    body[key] = value;
    return decode_code(envelope(body.dump()));
  };
  EXPECT_EQ(with("pool_id", "0123456789abcdef"), Code::kCorruption);                  // too short
  EXPECT_EQ(with("pool_id", "0123456789ABCDEF0123456789ABCDEF"), Code::kCorruption);  // upper
  EXPECT_EQ(with("pool_id", "0123456789abcdef0123456789abcdeg"), Code::kCorruption);
  EXPECT_EQ(with("device_id", "00000000000000a"), Code::kCorruption);
  EXPECT_EQ(with("device_id", "00000000000000a1 "), Code::kCorruption);
  EXPECT_EQ(decode_edited([](nlohmann::json& b) { b["members"][1]["device_id"] = "b2"; }),
            Code::kCorruption);
}

TEST(LabelTest, RejectsBadPoolNames) {
  auto with_name = [](const std::string& name) {
    nlohmann::json body = body_json(make_label());
    body["pool_name"] = name;
    return decode_code(envelope(body.dump()));
  };
  EXPECT_EQ(with_name(""), Code::kCorruption);
  EXPECT_EQ(with_name(std::string(65, 'x')), Code::kCorruption);
}

TEST(LabelTest, RejectsLayoutValuesOutOfRange) {
  struct Case {
    const char* key;
    int64_t value;
  };
  for (Case c : {Case{"redundancy", 0}, Case{"redundancy", 4}, Case{"redundancy", -1},
                 Case{"max_data_shards", 0}, Case{"max_data_shards", 17}, Case{"block_size", 2048},
                 Case{"block_size", 2 << 20}, Case{"block_size", 3 * 4096}}) {
    nlohmann::json body = body_json(make_label());
    body[c.key] = c.value;
    EXPECT_EQ(decode_code(envelope(body.dump())), Code::kCorruption) << c.key << "=" << c.value;
  }
}

TEST(LabelTest, RejectsBadMemberLists) {
  EXPECT_EQ(decode_edited([](nlohmann::json& b) { b["members"] = nlohmann::json::object(); }),
            Code::kCorruption);
  EXPECT_EQ(decode_edited([](nlohmann::json& b) { b["members"] = nlohmann::json::array(); }),
            Code::kCorruption);
  EXPECT_EQ(decode_edited([](nlohmann::json& b) { b["members"][1] = "00000000000000b2"; }),
            Code::kCorruption);
  EXPECT_EQ(decode_edited([](nlohmann::json& b) { b["members"][1]["state"] = "asleep"; }),
            Code::kCorruption);
  EXPECT_EQ(decode_edited([](nlohmann::json& b) { b["members"].push_back(b["members"][1]); }),
            Code::kCorruption);  // duplicate member
  EXPECT_EQ(decode_edited([](nlohmann::json& b) { b["members"].erase(0); }),
            Code::kCorruption);  // the device itself is not a member
}

TEST(LabelTest, AcceptsUpToSixtyFourMembers) {
  PoolLabel label = make_label();
  label.members.clear();
  for (int i = 0; i < 64; ++i) {
    char id[17];
    std::snprintf(id, sizeof id, "%016x", i + 0xa1);
    label.members.push_back({id, "/mnt/" + std::to_string(i), MemberState::kActive, ""});
  }
  auto decoded = decode_label(encode_label(label));
  ASSERT_TRUE(decoded.is_ok()) << decoded.status().to_string();
  EXPECT_EQ(*decoded, label);

  label.members.push_back({"ffffffffffffffff", "/mnt/64", MemberState::kActive, ""});
  EXPECT_EQ(decode_code(encode_label(label)), Code::kCorruption);
}

TEST(LabelTest, WriteThenReadFromADevice) {
  testing::TempDir dir;
  PoolLabel label = make_label();
  ASSERT_TRUE(write_label(dir.path(), label).is_ok());
  auto read = read_label(dir.path());
  ASSERT_TRUE(read.is_ok()) << read.status().to_string();
  EXPECT_EQ(*read, label);

  label.generation += 1;  // a label is replaced, never edited in place
  ASSERT_TRUE(write_label(dir.path(), label).is_ok());
  read = read_label(dir.path());
  ASSERT_TRUE(read.is_ok());
  EXPECT_EQ(read->generation, 4u);
  auto names = list_dir(dir.path());
  ASSERT_TRUE(names.is_ok());
  EXPECT_EQ(*names, std::vector<std::string>{PoolLabel::kFileName});  // no temporary left
}

TEST(LabelTest, ReadReportsAMissingLabelAsNotFound) {
  testing::TempDir dir;
  EXPECT_EQ(read_label(dir.path()).status().code(), Code::kNotFound);
}

TEST(LabelTest, ReadNamesTheDamagedFile) {
  testing::TempDir dir;
  Bytes bytes = encode_label(make_label());
  bytes.back() ^= 0x01;
  std::string path = join_path(dir.path(), PoolLabel::kFileName);
  ASSERT_TRUE(write_file_atomic(path, bytes).is_ok());
  auto read = read_label(dir.path());
  EXPECT_EQ(read.status().code(), Code::kCorruption);
  EXPECT_NE(read.status().message().find(path), std::string::npos) << read.status().to_string();
}

// tests/data/label_v1.bin was written by fuzz/make_seeds when format 1 was
// current and is never rewritten: every future lares must still read it.
TEST(LabelTest, DecodesTheCheckedInVersion1Sample) {
  auto bytes = read_file(std::string(LARES_SOURCE_DIR) + "/tests/data/label_v1.bin");
  ASSERT_TRUE(bytes.is_ok()) << bytes.status().to_string();
  auto label = decode_label(*bytes);
  ASSERT_TRUE(label.is_ok()) << label.status().to_string();
  EXPECT_EQ(label->pool_id, "3f2a9c1e5b7d4a608e1f2c3b4d5e6f70");
  EXPECT_EQ(label->pool_name, "tank");
  EXPECT_EQ(label->device_id, "a1b2c3d4e5f60718");
  EXPECT_EQ(label->generation, 7u);
  EXPECT_EQ(label->redundancy, 2);
  EXPECT_EQ(label->max_data_shards, 8);
  EXPECT_EQ(label->block_size, 65536u);
  EXPECT_EQ(label->created_unix, 1700000000);
  ASSERT_EQ(label->members.size(), 3u);
  EXPECT_EQ(label->members[0],
            (PoolMember{"a1b2c3d4e5f60718", "/srv/disk0", MemberState::kActive, ""}));
  EXPECT_EQ(label->members[1],
            (PoolMember{"0badc0ffee123456", "/srv/disk1", MemberState::kRemoving, ""}));
  EXPECT_EQ(label->members[2], (PoolMember{"99aabbccddeeff00", "/srv/disk2",
                                           MemberState::kReplacing, "1122334455667788"}));
}

}  // namespace
}  // namespace lares

namespace lares {
namespace {

// A checksum-valid label whose numbers overflow their fields must be
// rejected, not wrapped into range (found by fuzzing).
TEST(LabelRangeTest, OutOfRangeNumbersAreRejected) {
  PoolLabel label;
  label.pool_id = std::string(32, 'a');
  label.pool_name = "tank";
  label.device_id = std::string(16, 'b');
  label.generation = 3;
  label.redundancy = 2;
  label.members.push_back({label.device_id, "/d", MemberState::kActive, ""});
  Bytes good = encode_label(label);
  ASSERT_TRUE(decode_label(good).is_ok());
  for (const auto& [from, to] : std::vector<std::pair<std::string, std::string>>{
           {"\"redundancy\":2", "\"redundancy\":4294967298"},
           {"\"block_size\":65536", "\"block_size\":4294971392"},
           {"\"created_unix\":0", "\"created_unix\":18446744073709551615"},
           {"\"max_data_shards\":8", "\"max_data_shards\":-4294967288"}}) {
    std::string body(as_chars(ByteView(good).subspan(20)));
    size_t at = body.find(from);
    ASSERT_NE(at, std::string::npos) << from;
    body.replace(at, from.size(), to);
    Bytes bad(good.begin(), good.begin() + 20);
    ByteWriter w(&bad);
    w.raw(as_bytes(body));
    // Rewrite the envelope's length and checksum so only the value is wrong.
    uint32_t length = static_cast<uint32_t>(body.size());
    uint32_t crc = crc32c(as_bytes(body));
    for (int i = 0; i < 4; ++i) {
      bad[12 + static_cast<size_t>(i)] = static_cast<uint8_t>(length >> (8 * i));
      bad[16 + static_cast<size_t>(i)] = static_cast<uint8_t>(crc >> (8 * i));
    }
    auto decoded = decode_label(bad);
    EXPECT_FALSE(decoded.is_ok()) << to;
    if (!decoded.is_ok()) {
      EXPECT_EQ(decoded.status().code(), Code::kCorruption);
    }
  }
}

}  // namespace
}  // namespace lares
