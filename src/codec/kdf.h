// Key derivation: passphrases to keys (Argon2id), and master keys to
// independent subkeys (libsodium's BLAKE2b KDF).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "codec/key.h"
#include "util/bytes.h"
#include "util/status.h"

namespace lares {

// Argon2id (version 1.3, one lane) cost parameters. Both are stored beside
// the salt in each key slot, so a slot made today still opens after the
// defaults change.
struct Argon2Params {
  uint64_t ops = 0;      // passes over the memory (Argon2 "t")
  size_t mem_bytes = 0;  // memory used (Argon2 "m"), a whole number of KiB
};

// The default: RFC 9106's second recommended setting, for machines where
// memory is scarce: t = 3 passes over 64 MiB (about 0.1 s on a current x86
// core). Every `lares` command unlocks once, so this memory is part of every
// command's peak: 64 MiB keeps a backup's peak below restic's on the boards
// Lares targets (1-2 GiB of RAM). Owners who want more pass --kdf-memory
// (e.g. 1G) and --kdf-ops when they create a repository or add a passphrase;
// the parameters are stored in each slot.
inline constexpr Argon2Params kArgon2Default{3, size_t{64} << 20};
// For tests only: fast, and far too weak for a real passphrase.
inline constexpr Argon2Params kArgon2ForTests{1, size_t{8} << 20};

// Bounds accepted by derive_key(). The upper ones protect against a damaged or
// hostile key slot that would make the process allocate without bound or
// spin for hours before the passphrase can even be checked.
inline constexpr uint64_t kArgon2OpsMin = 1;
inline constexpr uint64_t kArgon2OpsMax = 64;
inline constexpr size_t kArgon2MemBytesMin = size_t{8} << 10;
inline constexpr size_t kArgon2MemBytesMax = size_t{4} << 30;
inline constexpr size_t kSaltSize = 16;

// kInvalidArgument naming the bad field, else OK.
Status validate_argon2_params(const Argon2Params& params);

// Stretches `passphrase` with Argon2id into a 32-byte key. The same
// (passphrase, salt, params) always gives the same key.
// kInvalidArgument: salt not kSaltSize bytes, or params out of bounds.
// kFailedPrecondition: the memory could not be allocated.
Result<Key32> derive_key(std::string_view passphrase, ByteView salt, const Argon2Params& params);

// kSubkeyContextSize is libsodium's crypto_kdf context length.
inline constexpr size_t kSubkeyContextSize = 8;

// A subkey of `master`: subkeys with different (subkey_id, context) are
// independent, and none reveals `master` or another.
//   subkey = BLAKE2b(digest length 32, key = master,
//                    salt = le64(subkey_id) || 8 zero bytes,
//                    personal = context || 8 zero bytes)
// REQUIRES: context.size() == kSubkeyContextSize (a constant of the caller).
Key32 derive_subkey(const Key32& master, uint64_t subkey_id, std::string_view context);

}  // namespace lares
