#include "codec/key.h"

#include <sodium.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <mutex>
#include <unordered_map>

#include "util/check.h"

namespace lares {
namespace {

// mlock() works on whole pages and does not count: one munlock() unlocks a
// page for every key on it. So keys register here, and a page is locked when
// its first key arrives and unlocked when its last key leaves.
class PageLocks {
 public:
  void add(const void* address) {
    const uintptr_t page = page_of(address);
    std::lock_guard lock(mu_);
    if (keys_on_page_[page]++ > 0) return;
    void* start = reinterpret_cast<void*>(page);
    (void)::mlock(start, page_size_);  // best effort, see key.h
#ifdef MADV_DONTDUMP
    (void)::madvise(start, page_size_, MADV_DONTDUMP);
#endif
  }

  void remove(const void* address) {
    const uintptr_t page = page_of(address);
    std::lock_guard lock(mu_);
    auto it = keys_on_page_.find(page);
    LARES_CHECK(it != keys_on_page_.end());
    if (--it->second > 0) return;
    keys_on_page_.erase(it);
    void* start = reinterpret_cast<void*>(page);
#ifdef MADV_DODUMP
    (void)::madvise(start, page_size_, MADV_DODUMP);
#endif
    (void)::munlock(start, page_size_);
  }

 private:
  uintptr_t page_of(const void* address) const {
    return reinterpret_cast<uintptr_t>(address) & ~(static_cast<uintptr_t>(page_size_) - 1);
  }

  const size_t page_size_ = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  std::mutex mu_;
  std::unordered_map<uintptr_t, uint32_t> keys_on_page_;  // GUARDED_BY(mu_)
};

// A function-local static: it is built before the first key finishes
// construction, so it is destroyed after the last key in static storage.
PageLocks& page_locks() {
  static PageLocks locks;
  return locks;
}

}  // namespace

void ensure_sodium() {
  // sodium_init() is itself thread-safe and idempotent; the static makes every
  // call after the first cost a load and a branch.
  static const bool initialised = [] { return sodium_init() >= 0; }();
  LARES_CHECK(initialised);
}

Key32::Key32() {
  bytes_.fill(0);
  page_locks().add(bytes_.data());
}

Key32 Key32::random() {
  ensure_sodium();
  Key32 key;
  randombytes_buf(key.data(), kSize);
  return key;
}

Result<Key32> Key32::from_bytes(ByteView bytes) {
  if (bytes.size() != kSize) {
    return Status::invalid_argument("a key is " + std::to_string(kSize) + " bytes, not " +
                                    std::to_string(bytes.size()));
  }
  Key32 key;
  std::memcpy(key.data(), bytes.data(), kSize);
  return key;
}

Key32::Key32(Key32&& other) noexcept : Key32() {
  bytes_ = other.bytes_;
  sodium_memzero(other.bytes_.data(), kSize);
}

Key32& Key32::operator=(Key32&& other) noexcept {
  if (this != &other) {
    bytes_ = other.bytes_;
    sodium_memzero(other.bytes_.data(), kSize);
  }
  return *this;
}

Key32::~Key32() {
  sodium_memzero(bytes_.data(), kSize);
  page_locks().remove(bytes_.data());
}

Key32 Key32::clone() const {
  Key32 copy;
  copy.bytes_ = bytes_;
  return copy;
}

bool operator==(const Key32& a, const Key32& b) {
  return sodium_memcmp(a.data(), b.data(), Key32::kSize) == 0;
}

}  // namespace lares
