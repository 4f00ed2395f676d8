// Authenticated encryption of blobs: XChaCha20-Poly1305 (IETF) with a
// synthetic nonce, so nonces never repeat for different messages by
// construction, with no counter to keep and no randomness to trust.
//
// Sealed blob, version 1 (all of it is stored; nothing else is needed to
// open it but the encryption key and the associated data):
//
//   offset  size  field
//   0       1     version = 1
//   1       24    nonce = BLAKE2b(digest length 24, key = nonce key,
//                                 le64(|ad|) || ad || plaintext)
//   25      n     XChaCha20 ciphertext of the n plaintext bytes
//   25+n    16    Poly1305 tag over (ad, ciphertext)
//
// The nonce is a keyed hash of everything the ciphertext depends on: two
// different (ad, plaintext) pairs share a nonce only if BLAKE2b collides, and
// equal pairs get equal sealed blobs (harmless in a repository that is
// content-addressed and stores equal chunks once). The ad length prefix keeps
// (ad "ab", plaintext "c") apart from (ad "a", plaintext "bc"). The version
// byte is not authenticated: any value but 1 is refused, and a future version
// will authenticate its own fields under its own keys.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "codec/key.h"
#include "util/bytes.h"
#include "util/status.h"

namespace lares {

inline constexpr uint8_t kSealVersion = 1;
inline constexpr size_t kSealNonceSize = 24;
inline constexpr size_t kSealTagSize = 16;
inline constexpr size_t kSealHeaderSize = 1 + kSealNonceSize;
// sealed size = plaintext size + kSealOverhead.
inline constexpr size_t kSealOverhead = kSealHeaderSize + kSealTagSize;

struct AeadKeys {
  Key32 encryption;  // XChaCha20-Poly1305 key; all that open() needs
  Key32 nonce;       // keys the synthetic nonce; needed only to seal

  // Both keys from one master key: crypto_kdf subkeys 1 (encryption) and 2
  // (nonce) under `context`. Other subkeys of the same master must use
  // another context, or ids other than 1 and 2.
  // REQUIRES: context.size() == kSubkeyContextSize (8, a constant of the caller).
  static AeadKeys derive_subkeys(const Key32& master, std::string_view context);
};

// Encrypts and authenticates `plaintext`, binding `associated_data` (which is
// authenticated but not stored). Deterministic; see the layout above.
Bytes seal(const AeadKeys& keys, ByteView plaintext, ByteView associated_data);

// Like seal(), for a plaintext the associated data already determines: the
// caller promises that equal associated data means equal plaintext (the ad
// holds a collision-resistant keyed hash of the plaintext, as a repository
// blob's does when it is stored uncompressed). The nonce is then
//   BLAKE2b(digest length 24, key = nonce key, le64(2^64 - 1) || le64(|ad|) || ad)
// which saves a hash pass over the plaintext. The leading marker can never
// begin seal()'s input (no ad is 2^64 - 1 bytes long), so the two kinds of
// nonce never meet. The sealed layout is the same, and open() opens both.
Bytes seal_determined(const AeadKeys& keys, ByteView plaintext, ByteView associated_data);

// Checks and decrypts a sealed blob. kCorruption when it is shorter than
// kSealOverhead, has an unknown version, or fails authentication (any damaged
// bit, a wrong key, or different associated data: these cannot be told apart).
Result<Bytes> open(const AeadKeys& keys, ByteView sealed, ByteView associated_data);

}  // namespace lares
