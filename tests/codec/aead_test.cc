#include "codec/aead.h"

#include <gtest/gtest.h>
#include <sodium.h>

#include <set>
#include <string>
#include <vector>

#include "codec/kdf.h"
#include "testing/pool_fixture.h"
#include "util/random.h"

namespace lares {
namespace {

Key32 key_of(uint8_t first) { return testing::sequential_key(first); }

AeadKeys fixed_keys() { return AeadKeys{key_of(0x80), key_of(0x40)}; }

Bytes from_hex(std::string_view hex) {
  Bytes out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<uint8_t>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

Bytes pattern(size_t size, uint64_t seed) {
  SeededRandom random(seed);
  Bytes out(size);
  for (auto& b : out) b = static_cast<uint8_t>(random.next());
  return out;
}

// seal(fixed_keys(), "lares sealed sample, format version 1", ad "lares sample ad"),
// written by the first implementation; its nonce checked with CPython's hashlib.
constexpr std::string_view kSealedSampleHex =
    "01dd5535cbe374b7deae327ea61254978a3079481bfa2e0b7e1c700ef7c5d30644f27d7de94b5d29976fe12c"
    "ce505398d4f8ab7b5d1bf87a97be57d03589715388e21a6c66b4a2678dd8e4ff638a";

ByteView nonce_of(const Bytes& sealed) { return ByteView(sealed).subspan(1, kSealNonceSize); }

// --- Key32 ---------------------------------------------------------------

TEST(Key32Test, DefaultIsZeroAndRandomIsNot) {
  Key32 zero;
  for (size_t i = 0; i < Key32::kSize; ++i) EXPECT_EQ(zero.data()[i], 0);
  Key32 a = Key32::random();
  Key32 b = Key32::random();
  EXPECT_FALSE(a == zero);
  EXPECT_FALSE(a == b);
}

TEST(Key32Test, MoveWipesTheSource) {
  Key32 source = key_of(1);
  Key32 expected = key_of(1);
  Key32 target = std::move(source);
  EXPECT_TRUE(target == expected);
  EXPECT_TRUE(source == Key32());  // NOLINT(bugprone-use-after-move): the point of the test
  Key32 assigned;
  assigned = std::move(target);
  EXPECT_TRUE(assigned == expected);
  EXPECT_TRUE(target == Key32());  // NOLINT(bugprone-use-after-move)
}

TEST(Key32Test, CloneIsEqualAndIndependent) {
  Key32 key = key_of(2);
  Key32 copy = key.clone();
  EXPECT_TRUE(copy == key);
  copy.data()[0] ^= 1;
  EXPECT_FALSE(copy == key);
}

TEST(Key32Test, FromBytesChecksTheLength) {
  Bytes bytes(32, 0x5a);
  auto key = Key32::from_bytes(bytes);
  ASSERT_TRUE(key.is_ok());
  EXPECT_TRUE(std::equal(key->view().begin(), key->view().end(), bytes.begin()));
  for (size_t size : {0, 16, 31, 33, 64}) {
    auto bad = Key32::from_bytes(Bytes(size, 1));
    ASSERT_FALSE(bad.is_ok()) << size;
    EXPECT_EQ(bad.status().code(), Code::kInvalidArgument);
  }
}

TEST(Key32Test, ManyKeysOnOnePageLiveAndDieInAnyOrder) {
  // Keys packed together share pages; the page lock count must balance.
  for (int round = 0; round < 3; ++round) {
    std::vector<Key32> keys;
    for (int i = 0; i < 300; ++i) keys.push_back(key_of(static_cast<uint8_t>(i)));
    for (int i = 0; i < 300; i += 2) keys.erase(keys.begin() + i / 2);  // moves many
    for (size_t i = 0; i < keys.size(); ++i) {
      EXPECT_TRUE(keys[i] == key_of(static_cast<uint8_t>(2 * i + 1))) << i;
    }
  }
}

// --- seal / open ---------------------------------------------------------

TEST(AeadTest, RoundTripsAtManySizes) {
  const AeadKeys keys = fixed_keys();
  for (size_t size : {0, 1, 15, 16, 17, 63, 64, 65, 4096, 1 << 20}) {
    const Bytes plaintext = pattern(size, size);
    for (const std::string& ad : {std::string(), std::string("chunk"), std::string(1000, 'x')}) {
      Bytes sealed = seal(keys, plaintext, as_bytes(ad));
      ASSERT_EQ(sealed.size(), size + kSealOverhead);
      EXPECT_EQ(sealed[0], kSealVersion);
      auto opened = open(keys, sealed, as_bytes(ad));
      ASSERT_TRUE(opened.is_ok()) << size << ": " << opened.status().to_string();
      EXPECT_TRUE(*opened == plaintext) << size;
    }
  }
}

TEST(AeadTest, CiphertextDoesNotContainThePlaintext) {
  const AeadKeys keys = fixed_keys();
  const std::string secret = "a very recognisable secret sentence, repeated. ";
  std::string text;
  for (int i = 0; i < 20; ++i) text += secret;
  Bytes sealed = seal(keys, as_bytes(text), {});
  EXPECT_EQ(as_chars(sealed).find("recognisable"), std::string_view::npos);
}

TEST(AeadTest, EverySingleBitFlipIsDetected) {
  const AeadKeys keys = fixed_keys();
  const Bytes plaintext = pattern(64, 1);
  const Bytes ad = pattern(12, 2);
  const Bytes sealed = seal(keys, plaintext, ad);
  for (size_t bit = 0; bit < sealed.size() * 8; ++bit) {
    Bytes damaged = sealed;
    damaged[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    auto opened = open(keys, damaged, ad);
    ASSERT_FALSE(opened.is_ok()) << "bit " << bit << " flipped unnoticed";
    EXPECT_EQ(opened.status().code(), Code::kCorruption);
  }
}

TEST(AeadTest, EveryTruncationAndExtensionIsDetected) {
  const AeadKeys keys = fixed_keys();
  const Bytes sealed = seal(keys, pattern(100, 3), as_bytes("ad"));
  for (size_t size = 0; size < sealed.size(); ++size) {
    auto opened = open(keys, ByteView(sealed).subspan(0, size), as_bytes("ad"));
    ASSERT_FALSE(opened.is_ok()) << "truncated to " << size;
    EXPECT_EQ(opened.status().code(), Code::kCorruption);
  }
  Bytes longer = sealed;
  longer.push_back(0);
  EXPECT_EQ(open(keys, longer, as_bytes("ad")).status().code(), Code::kCorruption);
  // Dropping a byte from the front keeps the length plausible; still refused.
  EXPECT_EQ(open(keys, ByteView(sealed).subspan(1), as_bytes("ad")).status().code(),
            Code::kCorruption);
}

TEST(AeadTest, WrongAssociatedDataIsDetected) {
  const AeadKeys keys = fixed_keys();
  const Bytes plaintext = pattern(200, 4);
  const Bytes sealed = seal(keys, plaintext, as_bytes("pack 17, chunk 3"));
  for (const std::string& ad : {std::string(), std::string("pack 17, chunk 4"),
                                std::string("pack 17, chunk 3 "), std::string("pack 17, chunk ")}) {
    auto opened = open(keys, sealed, as_bytes(ad));
    ASSERT_FALSE(opened.is_ok()) << "'" << ad << "'";
    EXPECT_EQ(opened.status().code(), Code::kCorruption);
  }
}

TEST(AeadTest, WrongKeyIsDetected) {
  const AeadKeys keys = fixed_keys();
  const Bytes sealed = seal(keys, pattern(50, 5), {});
  AeadKeys other{key_of(0x81), key_of(0x40)};
  EXPECT_EQ(open(other, sealed, {}).status().code(), Code::kCorruption);
  AeadKeys random_keys{Key32::random(), Key32::random()};
  EXPECT_EQ(open(random_keys, sealed, {}).status().code(), Code::kCorruption);
}

TEST(AeadTest, OpeningNeedsOnlyTheEncryptionKey) {
  const AeadKeys keys = fixed_keys();
  const Bytes sealed = seal(keys, pattern(50, 6), {});
  AeadKeys other_nonce_key{key_of(0x80), Key32::random()};
  EXPECT_TRUE(open(other_nonce_key, sealed, {}).is_ok());
}

TEST(AeadTest, UnknownVersionIsCorruption) {
  const AeadKeys keys = fixed_keys();
  Bytes sealed = seal(keys, pattern(50, 7), {});
  for (int version : {0, 2, 255}) {
    sealed[0] = static_cast<uint8_t>(version);
    auto opened = open(keys, sealed, {});
    ASSERT_FALSE(opened.is_ok());
    EXPECT_EQ(opened.status().code(), Code::kCorruption);
    EXPECT_NE(opened.status().message().find("version"), std::string::npos);
  }
}

TEST(AeadTest, EqualMessagesGetEqualNoncesAndBlobs) {
  const AeadKeys keys = fixed_keys();
  const Bytes plaintext = pattern(1000, 8);
  const Bytes a = seal(keys, plaintext, as_bytes("ad"));
  const Bytes b = seal(keys, plaintext, as_bytes("ad"));
  EXPECT_TRUE(a == b);
}

TEST(AeadTest, DifferentMessagesGetDifferentNonces) {
  const AeadKeys keys = fixed_keys();
  std::set<Bytes> nonces;
  size_t sealed_count = 0;
  auto add = [&](ByteView plaintext, std::string_view ad) {
    Bytes sealed = seal(keys, plaintext, as_bytes(ad));
    nonces.insert(Bytes(nonce_of(sealed).begin(), nonce_of(sealed).end()));
    ++sealed_count;
  };
  // Plaintexts differing in one bit, in length, or only in the associated data.
  Bytes plaintext = pattern(32, 9);
  add(plaintext, "");
  for (size_t bit = 0; bit < plaintext.size() * 8; ++bit) {
    plaintext[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    add(plaintext, "");
    plaintext[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
  }
  for (size_t size = 0; size < 32; ++size) add(ByteView(plaintext).subspan(0, size), "");
  add(plaintext, "a");
  add(plaintext, "b");
  // The same bytes split differently between ad and plaintext.
  add(as_bytes("c"), "ab");
  add(as_bytes("bc"), "a");
  add(as_bytes("abc"), "");
  EXPECT_EQ(nonces.size(), sealed_count);
}

// The nonce is exactly the documented keyed hash (format check, computed
// here with libsodium directly and, for the fixed vector, with CPython's
// hashlib.blake2b(le64(len(ad)) + ad + pt, digest_size=24, key=nonce_key)).
TEST(AeadTest, NonceIsTheDocumentedKeyedHash) {
  const AeadKeys keys = fixed_keys();
  const std::string ad = "chunk:42";
  const std::string plaintext = "hello, lares";
  const Bytes sealed = seal(keys, as_bytes(plaintext), as_bytes(ad));
  EXPECT_EQ(to_hex(nonce_of(sealed)), "ea1ce7c80d48ff31da2e42d442aaca5385f19aacb72a1c62");

  Bytes message;
  ByteWriter(&message).u64(ad.size());
  message.insert(message.end(), ad.begin(), ad.end());
  message.insert(message.end(), plaintext.begin(), plaintext.end());
  uint8_t expected[kSealNonceSize];
  ASSERT_EQ(crypto_generichash(expected, sizeof expected, message.data(), message.size(),
                               keys.nonce.data(), keys.nonce.size()),
            0);
  EXPECT_EQ(to_hex(nonce_of(sealed)), to_hex(expected));
}

// seal_determined: the nonce depends on the ad only (with its marker), the
// blob opens like any other, and its nonce never equals seal()'s.
TEST(AeadTest, DeterminedNonceIsTheDocumentedHashOfTheAdOnly) {
  const AeadKeys keys = fixed_keys();
  const std::string ad = "blob:0123";
  const std::string plaintext = "data the ad names";
  const Bytes sealed = seal_determined(keys, as_bytes(plaintext), as_bytes(ad));
  auto opened = open(keys, sealed, as_bytes(ad));
  ASSERT_TRUE(opened.is_ok());
  EXPECT_EQ(std::string(as_chars(*opened)), plaintext);
  EXPECT_FALSE(open(keys, sealed, as_bytes("blob:0124")).is_ok());

  Bytes message;
  ByteWriter(&message).u64(UINT64_MAX);
  ByteWriter(&message).u64(ad.size());
  message.insert(message.end(), ad.begin(), ad.end());
  uint8_t expected[kSealNonceSize];
  ASSERT_EQ(crypto_generichash(expected, sizeof expected, message.data(), message.size(),
                               keys.nonce.data(), keys.nonce.size()),
            0);
  EXPECT_EQ(to_hex(nonce_of(sealed)), to_hex(expected));
  // Deterministic, and apart from seal()'s nonce for the same message (even
  // an empty one).
  EXPECT_EQ(seal_determined(keys, as_bytes(plaintext), as_bytes(ad)), sealed);
  EXPECT_NE(to_hex(nonce_of(seal(keys, as_bytes(plaintext), as_bytes(ad)))),
            to_hex(nonce_of(sealed)));
  EXPECT_NE(to_hex(nonce_of(seal(keys, {}, as_bytes(ad)))),
            to_hex(nonce_of(seal_determined(keys, {}, as_bytes(ad)))));
}

// draft-irtf-cfrg-xchacha-03, appendix A.3.1, wrapped in a version-1 blob:
// open() is plain XChaCha20-Poly1305-IETF under the stored nonce.
TEST(AeadTest, OpensTheXChaChaDraftVector) {
  AeadKeys keys{key_of(0x80), Key32()};
  const Bytes nonce = from_hex("404142434445464748494a4b4c4d4e4f5051525354555657");
  const Bytes ad = from_hex("50515253c0c1c2c3c4c5c6c7");
  const std::string plaintext =
      "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the "
      "future, sunscreen would be it.";
  const Bytes ciphertext_and_tag = from_hex(
      "bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb"
      "731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b452"
      "2f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff9"
      "21f9664c97637da9768812f615c68b13b52e"
      "c0875924c1c7987947deafd8780acf49");
  Bytes sealed = {kSealVersion};
  sealed.insert(sealed.end(), nonce.begin(), nonce.end());
  sealed.insert(sealed.end(), ciphertext_and_tag.begin(), ciphertext_and_tag.end());
  auto opened = open(keys, sealed, ad);
  ASSERT_TRUE(opened.is_ok()) << opened.status().to_string();
  EXPECT_EQ(as_chars(*opened), plaintext);
}

// A sealed blob written by this version: a format change that breaks
// existing repositories fails here.
TEST(AeadTest, SealedSampleVersion1) {
  const AeadKeys keys = fixed_keys();
  const Bytes sample = from_hex(kSealedSampleHex);
  auto opened = open(keys, sample, as_bytes("lares sample ad"));
  ASSERT_TRUE(opened.is_ok()) << opened.status().to_string();
  EXPECT_EQ(as_chars(*opened), "lares sealed sample, format version 1");
  EXPECT_EQ(to_hex(seal(keys, as_bytes("lares sealed sample, format version 1"),
                        as_bytes("lares sample ad"))),
            kSealedSampleHex);
}

TEST(AeadTest, DerivedSubkeysAreTheDocumentedKdfSubkeys) {
  const Key32 master = key_of(0);
  const AeadKeys keys = AeadKeys::derive_subkeys(master, "lrs-test");
  EXPECT_TRUE(keys.encryption == derive_subkey(master, 1, "lrs-test"));
  EXPECT_TRUE(keys.nonce == derive_subkey(master, 2, "lrs-test"));
  EXPECT_FALSE(keys.encryption == keys.nonce);
  EXPECT_FALSE(keys.encryption == master);
  const AeadKeys again = AeadKeys::derive_subkeys(master, "lrs-test");
  EXPECT_TRUE(again.encryption == keys.encryption);
  const AeadKeys other_context = AeadKeys::derive_subkeys(master, "lrs-tesu");
  EXPECT_FALSE(other_context.encryption == keys.encryption);
  // And they work.
  Bytes sealed = seal(keys, as_bytes("x"), {});
  EXPECT_TRUE(open(again, sealed, {}).is_ok());
  EXPECT_FALSE(open(other_context, sealed, {}).is_ok());
}

TEST(AeadTest, ContextOfTheWrongLengthIsAProgrammingError) {
  const Key32 master = key_of(0);
  EXPECT_DEATH((void)AeadKeys::derive_subkeys(master, "short"), "context");
}

}  // namespace
}  // namespace lares
