#include "codec/aead.h"

#include <sodium.h>

#include <array>
#include <cstring>
#include <string>

#include "codec/kdf.h"
#include "util/check.h"

namespace lares {
namespace {

static_assert(kSealNonceSize == crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
static_assert(kSealTagSize == crypto_aead_xchacha20poly1305_ietf_ABYTES);
static_assert(Key32::kSize == crypto_aead_xchacha20poly1305_ietf_KEYBYTES);
static_assert(kSealNonceSize >= crypto_generichash_BYTES_MIN &&
              kSealNonceSize <= crypto_generichash_BYTES_MAX);
static_assert(kSealOverhead == 41, "the version 1 layout is fixed");

constexpr uint64_t kEncryptionSubkeyId = 1;
constexpr uint64_t kNonceSubkeyId = 2;

std::array<uint8_t, kSealNonceSize> synthetic_nonce(const Key32& nonce_key, ByteView plaintext,
                                                    ByteView associated_data) {
  Bytes ad_size;
  ByteWriter(&ad_size).u64(associated_data.size());
  crypto_generichash_state state;
  int rc = crypto_generichash_init(&state, nonce_key.data(), nonce_key.size(), kSealNonceSize);
  rc |= crypto_generichash_update(&state, ad_size.data(), ad_size.size());
  rc |= crypto_generichash_update(&state, associated_data.data(), associated_data.size());
  rc |= crypto_generichash_update(&state, plaintext.data(), plaintext.size());
  std::array<uint8_t, kSealNonceSize> nonce;
  rc |= crypto_generichash_final(&state, nonce.data(), nonce.size());
  sodium_memzero(&state, sizeof state);
  LARES_CHECK(rc == 0);  // fails only on out-of-range lengths, fixed here
  return nonce;
}

std::array<uint8_t, kSealNonceSize> determined_nonce(const Key32& nonce_key,
                                                     ByteView associated_data) {
  Bytes prefix;
  ByteWriter(&prefix).u64(UINT64_MAX);
  ByteWriter(&prefix).u64(associated_data.size());
  crypto_generichash_state state;
  int rc = crypto_generichash_init(&state, nonce_key.data(), nonce_key.size(), kSealNonceSize);
  rc |= crypto_generichash_update(&state, prefix.data(), prefix.size());
  rc |= crypto_generichash_update(&state, associated_data.data(), associated_data.size());
  std::array<uint8_t, kSealNonceSize> nonce;
  rc |= crypto_generichash_final(&state, nonce.data(), nonce.size());
  sodium_memzero(&state, sizeof state);
  LARES_CHECK(rc == 0);
  return nonce;
}

Bytes seal_with_nonce(const AeadKeys& keys, ByteView plaintext, ByteView associated_data,
                      const std::array<uint8_t, kSealNonceSize>& nonce) {
  Bytes sealed(plaintext.size() + kSealOverhead);
  sealed[0] = kSealVersion;
  std::memcpy(sealed.data() + 1, nonce.data(), nonce.size());
  unsigned long long ciphertext_size = 0;
  const int rc = crypto_aead_xchacha20poly1305_ietf_encrypt(
      sealed.data() + kSealHeaderSize, &ciphertext_size, plaintext.data(), plaintext.size(),
      associated_data.data(), associated_data.size(), nullptr, nonce.data(),
      keys.encryption.data());
  LARES_CHECK(rc == 0);
  // Invariant: the layout above, exactly.
  LARES_CHECK(ciphertext_size == plaintext.size() + kSealTagSize);
  return sealed;
}

}  // namespace

AeadKeys AeadKeys::derive_subkeys(const Key32& master, std::string_view context) {
  return AeadKeys{derive_subkey(master, kEncryptionSubkeyId, context),
                  derive_subkey(master, kNonceSubkeyId, context)};
}

Bytes seal(const AeadKeys& keys, ByteView plaintext, ByteView associated_data) {
  ensure_sodium();
  return seal_with_nonce(keys, plaintext, associated_data,
                         synthetic_nonce(keys.nonce, plaintext, associated_data));
}

Bytes seal_determined(const AeadKeys& keys, ByteView plaintext, ByteView associated_data) {
  ensure_sodium();
  return seal_with_nonce(keys, plaintext, associated_data,
                         determined_nonce(keys.nonce, associated_data));
}

Result<Bytes> open(const AeadKeys& keys, ByteView sealed, ByteView associated_data) {
  if (sealed.size() < kSealOverhead) {
    return Status::corruption("sealed blob is " + std::to_string(sealed.size()) +
                              " bytes, shorter than the " + std::to_string(kSealOverhead) +
                              "-byte minimum");
  }
  if (sealed[0] != kSealVersion) {
    return Status::corruption("sealed blob has unknown version " + std::to_string(sealed[0]));
  }
  ensure_sodium();
  const ByteView nonce = sealed.subspan(1, kSealNonceSize);
  const ByteView ciphertext = sealed.subspan(kSealHeaderSize);
  Bytes plaintext(ciphertext.size() - kSealTagSize);
  unsigned long long plaintext_size = 0;
  uint8_t empty_target = 0;  // a real pointer even for an empty plaintext
  const int rc = crypto_aead_xchacha20poly1305_ietf_decrypt(
      plaintext.empty() ? &empty_target : plaintext.data(), &plaintext_size, nullptr,
      ciphertext.data(), ciphertext.size(), associated_data.data(), associated_data.size(),
      nonce.data(), keys.encryption.data());
  if (rc != 0) {
    return Status::corruption("sealed blob (" + std::to_string(sealed.size()) +
                              " bytes) fails authentication: damaged, or a wrong key or "
                              "associated data");
  }
  LARES_CHECK(plaintext_size == plaintext.size());
  return plaintext;
}

}  // namespace lares
