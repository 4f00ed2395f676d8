#include "codec/name_hash.h"

#include <sodium.h>

#include "codec/key.h"
#include "util/bytes.h"

namespace lares {

std::string name_hash_hex(const std::string& name) {
  ensure_sodium();  // selects libsodium's fastest BLAKE2b for this CPU
  uint8_t digest[16];
  crypto_generichash(digest, sizeof digest, reinterpret_cast<const uint8_t*>(name.data()),
                     name.size(), nullptr, 0);
  return to_hex(digest);
}

}  // namespace lares
