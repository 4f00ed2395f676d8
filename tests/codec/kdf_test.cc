#include "codec/kdf.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace lares {
namespace {

Bytes from_hex(std::string_view hex) {
  Bytes out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<uint8_t>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

Bytes salt_of(uint8_t fill) { return Bytes(kSaltSize, fill); }

// Known answers from libsodium's own test suite (test/default/pwhash_argon2id.c,
// tv3, entries that verify): Argon2id v1.3, one lane, 32-byte output.
TEST(KdfTest, Argon2idKnownAnswers) {
  {
    // $argon2id$v=19$m=4882,t=2,p=1$bA81arsiXysd3WbTRzmEOw$Nm8QBM+7RH1DXo9rvp5cwKEOOOfD2g6JuxlXihoNcpE
    auto key = derive_key("", from_hex("6c0f356abb225f2b1ddd66d34739843b"),
                          Argon2Params{2, size_t{4882} * 1024});
    ASSERT_TRUE(key.is_ok()) << key.status().to_string();
    EXPECT_EQ(to_hex(key->view()),
              "366f1004cfbb447d435e8f6bbe9e5cc0a10e38e7c3da0e89bb19578a1a0d7291");
  }
  {
    // $argon2id$v=19$m=4096,t=19,p=1$PkEgMTYtYnl0ZXMgc2FsdA$ltB/ue1kPtBMBGfsysMpPigE6hiNEKZ9vs8vLNVDQGA
    auto key = derive_key("^T5H$JYt39n%K*j:W]!1s?vg!:jGi]Ax?..l7[p0v:1jHTpla9;]bUN;?bWyCbtqg ",
                          as_bytes(">A 16-bytes salt"), Argon2Params{19, size_t{4096} * 1024});
    ASSERT_TRUE(key.is_ok()) << key.status().to_string();
    EXPECT_EQ(to_hex(key->view()),
              "96d07fb9ed643ed04c0467eccac3293e2804ea188d10a67dbecf2f2cd5434060");
  }
}

TEST(KdfTest, SameInputsSameKeyAndEveryInputMatters) {
  const auto base = derive_key("correct horse", salt_of(1), kArgon2ForTests);
  ASSERT_TRUE(base.is_ok());
  const auto again = derive_key("correct horse", salt_of(1), kArgon2ForTests);
  ASSERT_TRUE(again.is_ok());
  EXPECT_TRUE(*base == *again);

  const auto other_passphrase = derive_key("correct horsf", salt_of(1), kArgon2ForTests);
  const auto other_salt = derive_key("correct horse", salt_of(2), kArgon2ForTests);
  const auto other_ops = derive_key("correct horse", salt_of(1), Argon2Params{2, 8 << 20});
  const auto other_mem = derive_key("correct horse", salt_of(1), Argon2Params{1, 9 << 20});
  for (const auto* other : {&other_passphrase, &other_salt, &other_ops, &other_mem}) {
    ASSERT_TRUE(other->is_ok());
    EXPECT_FALSE(**other == *base);
  }
}

TEST(KdfTest, EmptyAndBinaryPassphrasesWork) {
  auto empty = derive_key("", salt_of(3), kArgon2ForTests);
  ASSERT_TRUE(empty.is_ok());
  const std::string with_nul("a\0b", 3);
  auto binary = derive_key(with_nul, salt_of(3), kArgon2ForTests);
  auto truncated = derive_key("a", salt_of(3), kArgon2ForTests);
  ASSERT_TRUE(binary.is_ok());
  ASSERT_TRUE(truncated.is_ok());
  EXPECT_FALSE(*binary == *truncated);  // the whole view counts, not up to a NUL
}

TEST(KdfTest, SaltMustBeSixteenBytes) {
  for (size_t size : {0, 8, 15, 17, 32}) {
    auto key = derive_key("pass", Bytes(size, 1), kArgon2ForTests);
    ASSERT_FALSE(key.is_ok()) << size;
    EXPECT_EQ(key.status().code(), Code::kInvalidArgument);
  }
}

TEST(KdfTest, ParamsOutOfBoundsAreRefused) {
  const std::vector<Argon2Params> bad = {
      {0, 8 << 20},                    // no pass
      {kArgon2OpsMax + 1, 8 << 20},    // hours of work from a damaged slot
      {1, kArgon2MemBytesMin - 1024},  // below libsodium's minimum
      {1, kArgon2MemBytesMax + 1024},  // unbounded allocation from a damaged slot
      {1, (8 << 20) + 1},              // not a whole KiB
      {UINT64_MAX, SIZE_MAX},
  };
  for (const Argon2Params& params : bad) {
    EXPECT_EQ(validate_argon2_params(params).code(), Code::kInvalidArgument)
        << params.ops << " " << params.mem_bytes;
    auto key = derive_key("pass", salt_of(0), params);
    ASSERT_FALSE(key.is_ok());
    EXPECT_EQ(key.status().code(), Code::kInvalidArgument);
  }
  EXPECT_TRUE(validate_argon2_params({kArgon2OpsMin, kArgon2MemBytesMin}).is_ok());
  EXPECT_TRUE(validate_argon2_params(kArgon2Default).is_ok());
  EXPECT_TRUE(validate_argon2_params(kArgon2ForTests).is_ok());
}

TEST(KdfTest, DefaultProfileRuns) {
  // Prints the cost on this machine; asserts only that it works.
  const auto start = std::chrono::steady_clock::now();
  auto key = derive_key("a home server passphrase", salt_of(9), kArgon2Default);
  const std::chrono::duration<double> seconds = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(key.is_ok()) << key.status().to_string();
  std::printf("Argon2id default (ops %llu, %zu MiB): %.2f s\n",
              static_cast<unsigned long long>(kArgon2Default.ops), kArgon2Default.mem_bytes >> 20,
              seconds.count());
}

// libsodium's own KDF vector (test/default/kdf.c and kdf.exp): master key
// 00..1f, context "KDF test", subkey id 32, 32-byte output. Also equal to
// hashlib.blake2b(b"", digest_size=32, key=master,
//                 salt=le64(32) + bytes(8), person=b"KDF test" + bytes(8)).
TEST(KdfTest, SubkeyKnownAnswer) {
  Key32 master;
  for (size_t i = 0; i < Key32::kSize; ++i) master.data()[i] = static_cast<uint8_t>(i);
  const Key32 subkey = derive_subkey(master, 32, "KDF test");
  EXPECT_EQ(to_hex(subkey.view()),
            "154b291f11196737f8b7f491e4ca11764e0227d34f94295408a869f007aa8618");
}

TEST(KdfTest, SubkeysDifferByIdAndContext) {
  const Key32 master = Key32::random();
  const Key32 a = derive_subkey(master, 1, "lares-01");
  EXPECT_TRUE(derive_subkey(master, 1, "lares-01") == a);
  EXPECT_FALSE(derive_subkey(master, 2, "lares-01") == a);
  EXPECT_FALSE(derive_subkey(master, 1, "lares-02") == a);
  EXPECT_FALSE(derive_subkey(Key32::random(), 1, "lares-01") == a);
  EXPECT_FALSE(a == master);
}

TEST(KdfTest, SubkeyContextMustBeEightBytes) {
  const Key32 master;
  EXPECT_DEATH((void)derive_subkey(master, 1, "seven77"), "context");
  EXPECT_DEATH((void)derive_subkey(master, 1, "nine99999"), "context");
}

}  // namespace
}  // namespace lares
