// Chunk ids: BLAKE2b-256 keyed with the repository's 32-byte id key.
//
// Keying means an id says nothing about the content to anyone without the
// key (no "is this known file stored here?" by hashing it), while equal
// content under one key still gets equal ids, so it is stored once.
//
//   id = BLAKE2b(digest length 32, key = id key (32 bytes), message = data)
//
// (libsodium's crypto_generichash; no salt, no personalisation.)
#pragma once

#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "codec/key.h"
#include "util/bytes.h"
#include "util/status.h"

struct crypto_generichash_blake2b_state;

namespace lares {

struct ChunkId {
  static constexpr size_t kSize = 32;
  std::array<uint8_t, kSize> bytes{};

  // 64 lowercase hex digits.
  std::string hex() const;
  // Parses what hex() writes (either case); kInvalidArgument otherwise.
  static Result<ChunkId> from_hex(std::string_view hex);
  // kInvalidArgument unless exactly kSize bytes.
  static Result<ChunkId> from_bytes(ByteView bytes);

  // Byte-wise (lexicographic) order: the order of hex().
  friend auto operator<=>(const ChunkId&, const ChunkId&) = default;
  friend bool operator==(const ChunkId&, const ChunkId&) = default;
};

// For unordered containers: ids are uniformly distributed, so their first
// eight bytes are already a good hash.
struct ChunkIdHash {
  size_t operator()(const ChunkId& id) const;
};

ChunkId keyed_hash(const Key32& key, ByteView data);

// The same hash over data that arrives in pieces:
//   KeyedHasher h(key); h.update(a); h.update(b); h.finish() == keyed_hash(key, a ++ b).
// Not thread-safe; the state (which depends on the key) is wiped on destruction.
class KeyedHasher {
 public:
  explicit KeyedHasher(const Key32& key);
  ~KeyedHasher();
  KeyedHasher(KeyedHasher&&) noexcept;
  KeyedHasher& operator=(KeyedHasher&&) noexcept;
  KeyedHasher(const KeyedHasher&) = delete;
  KeyedHasher& operator=(const KeyedHasher&) = delete;

  // REQUIRES: finish() not called yet.
  void update(ByteView data);
  // REQUIRES: called once.
  ChunkId finish();

 private:
  struct StateWipe {
    void operator()(crypto_generichash_blake2b_state* state) const;
  };
  std::unique_ptr<crypto_generichash_blake2b_state, StateWipe> state_;
  bool finished_ = false;
};

}  // namespace lares
