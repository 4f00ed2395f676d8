// Secret keys and libsodium initialisation.
//
// Key32 holds one 256-bit secret: an encryption key, a nonce key, a chunk-id
// key, a master key. Its bytes are wiped when it dies, and the memory page
// under it is locked (never written to swap) and left out of core dumps while
// any key lives on it. Locking is best effort: a refused lock (RLIMIT_MEMLOCK)
// leaves the key swappable, never wrong.
//
// Keys move but do not copy: moving wipes the source, and a second copy of a
// secret is made only on purpose, with clone().
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "util/bytes.h"
#include "util/status.h"

namespace lares {

// Initialises libsodium once per process (thread-safe; later calls are a load
// and a branch). Every codec function that uses libsodium calls it first, so
// callers never need to. Aborts if libsodium cannot start (no entropy source):
// keys and nonces drawn from a broken generator are worse than stopping.
void ensure_sodium();

class Key32 {
 public:
  static constexpr size_t kSize = 32;

  Key32();  // all zero bytes
  // A fresh key from the system CSPRNG.
  static Key32 random();
  // kInvalidArgument unless `bytes` is exactly kSize long.
  static Result<Key32> from_bytes(ByteView bytes);

  Key32(Key32&& other) noexcept;             // wipes `other`
  Key32& operator=(Key32&& other) noexcept;  // wipes `other`
  Key32(const Key32&) = delete;
  Key32& operator=(const Key32&) = delete;
  ~Key32();

  Key32 clone() const;

  const uint8_t* data() const { return bytes_.data(); }
  uint8_t* data() { return bytes_.data(); }
  static constexpr size_t size() { return kSize; }
  ByteView view() const { return bytes_; }
  MutableByteView mutable_view() { return bytes_; }

  // Constant time, so a comparison does not leak where two keys differ.
  friend bool operator==(const Key32& a, const Key32& b);

 private:
  // Aligned so the key never straddles two pages.
  alignas(kSize) std::array<uint8_t, kSize> bytes_;
};

}  // namespace lares
