// Page-aligned, uninitialized memory for direct I/O (O_DIRECT needs the
// buffer, the file offset and the length aligned to the device's block).
#pragma once

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "util/bytes.h"
#include "util/check.h"

namespace lares {

class AlignedBuffer {
 public:
  static constexpr size_t kAlignment = 4096;

  AlignedBuffer() = default;
  // `size` bytes, not initialized; the allocation is rounded up to kAlignment.
  explicit AlignedBuffer(size_t size) : size_(size), capacity_(round_up(size == 0 ? 1 : size)) {
    void* p = std::aligned_alloc(kAlignment, capacity_);
    LARES_CHECK(p != nullptr);
    data_.reset(static_cast<uint8_t*>(p));
  }

  static size_t round_up(size_t n) { return (n + kAlignment - 1) / kAlignment * kAlignment; }
  static bool is_aligned(ByteView view) {
    return reinterpret_cast<uintptr_t>(view.data()) % kAlignment == 0 &&
           view.size() % kAlignment == 0;
  }

  uint8_t* data() { return data_.get(); }
  const uint8_t* data() const { return data_.get(); }
  size_t size() const { return size_; }
  size_t capacity() const { return capacity_; }
  // REQUIRES: size <= capacity().
  void resize(size_t size) {
    LARES_CHECK(size <= capacity_);
    size_ = size;
  }
  MutableByteView span() { return {data_.get(), size_}; }
  ByteView span() const { return {data_.get(), size_}; }
  MutableByteView subspan(size_t offset, size_t length) { return span().subspan(offset, length); }

 private:
  struct Free {
    void operator()(uint8_t* p) const { std::free(p); }
  };
  std::unique_ptr<uint8_t, Free> data_;
  size_t size_ = 0;
  size_t capacity_ = 0;
};

}  // namespace lares
