#include "codec/keyed_hash.h"

#include <sodium.h>

#include <cstring>

#include "util/check.h"

namespace lares {
namespace {

static_assert(ChunkId::kSize == crypto_generichash_BYTES);
static_assert(Key32::kSize == crypto_generichash_KEYBYTES);

}  // namespace

std::string ChunkId::hex() const { return to_hex(bytes); }

Result<ChunkId> ChunkId::from_hex(std::string_view hex) {
  if (hex.size() != 2 * kSize) {
    return Status::invalid_argument("a chunk id is " + std::to_string(2 * kSize) +
                                    " hex digits, not " + std::to_string(hex.size()));
  }
  ChunkId id;
  if (!decode_hex(hex, id.bytes, HexCase::kEither)) {
    return Status::invalid_argument("chunk id has a non-hex digit: " + std::string(hex));
  }
  return id;
}

Result<ChunkId> ChunkId::from_bytes(ByteView bytes) {
  if (bytes.size() != kSize) {
    return Status::invalid_argument("a chunk id is " + std::to_string(kSize) + " bytes, not " +
                                    std::to_string(bytes.size()));
  }
  ChunkId id;
  std::memcpy(id.bytes.data(), bytes.data(), kSize);
  return id;
}

size_t ChunkIdHash::operator()(const ChunkId& id) const {
  uint64_t prefix;
  std::memcpy(&prefix, id.bytes.data(), sizeof prefix);
  return static_cast<size_t>(prefix);
}

ChunkId keyed_hash(const Key32& key, ByteView data) {
  ensure_sodium();
  ChunkId id;
  const int rc = crypto_generichash(id.bytes.data(), id.bytes.size(), data.data(), data.size(),
                                    key.data(), key.size());
  LARES_CHECK(rc == 0);  // fails only on out-of-range lengths, fixed here
  return id;
}

void KeyedHasher::StateWipe::operator()(crypto_generichash_blake2b_state* state) const {
  sodium_memzero(state, sizeof *state);
  std::default_delete<crypto_generichash_blake2b_state>()(state);
}

KeyedHasher::KeyedHasher(const Key32& key)
    : state_(std::make_unique<crypto_generichash_blake2b_state>().release()) {
  ensure_sodium();
  const int rc = crypto_generichash_init(state_.get(), key.data(), key.size(), ChunkId::kSize);
  LARES_CHECK(rc == 0);
}

KeyedHasher::~KeyedHasher() = default;
KeyedHasher::KeyedHasher(KeyedHasher&&) noexcept = default;
KeyedHasher& KeyedHasher::operator=(KeyedHasher&&) noexcept = default;

void KeyedHasher::update(ByteView data) {
  LARES_CHECK(state_ != nullptr && !finished_);
  const int rc = crypto_generichash_update(state_.get(), data.data(), data.size());
  LARES_CHECK(rc == 0);
}

ChunkId KeyedHasher::finish() {
  LARES_CHECK(state_ != nullptr && !finished_);
  finished_ = true;
  ChunkId id;
  const int rc = crypto_generichash_final(state_.get(), id.bytes.data(), id.bytes.size());
  LARES_CHECK(rc == 0);
  return id;
}

}  // namespace lares
