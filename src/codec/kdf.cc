#include "codec/kdf.h"

#include <sodium.h>

#include <string>

#include "util/check.h"

namespace lares {

static_assert(kSaltSize == crypto_pwhash_SALTBYTES);
static_assert(kSubkeyContextSize == crypto_kdf_CONTEXTBYTES);
static_assert(Key32::kSize == crypto_kdf_KEYBYTES);
static_assert(kArgon2OpsMin >= crypto_pwhash_argon2id_OPSLIMIT_MIN);
static_assert(kArgon2MemBytesMin >= crypto_pwhash_argon2id_MEMLIMIT_MIN);

Status validate_argon2_params(const Argon2Params& params) {
  if (params.ops < kArgon2OpsMin || params.ops > kArgon2OpsMax) {
    return Status::invalid_argument("Argon2id ops " + std::to_string(params.ops) + " is outside [" +
                                    std::to_string(kArgon2OpsMin) + ", " +
                                    std::to_string(kArgon2OpsMax) + "]");
  }
  if (params.mem_bytes < kArgon2MemBytesMin || params.mem_bytes > kArgon2MemBytesMax) {
    return Status::invalid_argument("Argon2id memory " + std::to_string(params.mem_bytes) +
                                    " bytes is outside [" + std::to_string(kArgon2MemBytesMin) +
                                    ", " + std::to_string(kArgon2MemBytesMax) + "]");
  }
  if (params.mem_bytes % 1024 != 0) {
    return Status::invalid_argument("Argon2id memory " + std::to_string(params.mem_bytes) +
                                    " bytes is not a whole number of KiB");
  }
  return Status::ok();
}

Result<Key32> derive_key(std::string_view passphrase, ByteView salt, const Argon2Params& params) {
  if (salt.size() != kSaltSize) {
    return Status::invalid_argument("an Argon2id salt is " + std::to_string(kSaltSize) +
                                    " bytes, not " + std::to_string(salt.size()));
  }
  RETURN_IF_ERROR(validate_argon2_params(params));
  if (passphrase.size() > crypto_pwhash_PASSWD_MAX) {
    return Status::invalid_argument("passphrase is longer than Argon2id accepts");
  }
  ensure_sodium();
  Key32 key;
  const int rc =
      crypto_pwhash(key.data(), key.size(), passphrase.data(), passphrase.size(), salt.data(),
                    params.ops, params.mem_bytes, crypto_pwhash_ALG_ARGON2ID13);
  if (rc != 0) {
    // Every argument is in range, so only the allocation can have failed.
    return Status::failed_precondition("Argon2id could not allocate " +
                                       std::to_string(params.mem_bytes >> 20) +
                                       " MiB; free memory or lower the key slot's cost");
  }
  return key;
}

Key32 derive_subkey(const Key32& master, uint64_t subkey_id, std::string_view context) {
  LARES_CHECK(context.size() == kSubkeyContextSize);
  ensure_sodium();
  Key32 subkey;
  const int rc = crypto_kdf_derive_from_key(subkey.data(), subkey.size(), subkey_id, context.data(),
                                            master.data());
  LARES_CHECK(rc == 0);  // fails only on out-of-range lengths, fixed here
  return subkey;
}

}  // namespace lares
