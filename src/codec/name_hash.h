// A 128-bit BLAKE2b digest of an object name, in hex: the file name of the
// object's shards on every device. Collisions are detected (each shard header
// carries the full name), never silently merged.
#pragma once

#include <string>

namespace lares {

std::string name_hash_hex(const std::string& name);

}  // namespace lares
