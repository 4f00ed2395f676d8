// Byte buffers and little-endian encoding helpers shared by every format.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace lares {

// Leaves new elements uninitialized (resize/construct by size does no
// memset): buffers about to be filled by a read or an encoder are not
// zeroed first. Code that needs zeros says so (assign(n, 0)).
template <typename T>
struct DefaultInitAllocator : std::allocator<T> {
  template <typename U>
  struct rebind {
    using other = DefaultInitAllocator<U>;
  };
  DefaultInitAllocator() = default;
  template <typename U>
  DefaultInitAllocator(const DefaultInitAllocator<U>&) noexcept {}  // NOLINT
  template <typename U>
  void construct(U* p) noexcept {
    ::new (static_cast<void*>(p)) U;
  }
  template <typename U, typename... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
};

using Bytes = std::vector<uint8_t, DefaultInitAllocator<uint8_t>>;
using ByteView = std::span<const uint8_t>;
using MutableByteView = std::span<uint8_t>;

inline ByteView as_bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}
inline std::string_view as_chars(ByteView b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

// Appends fixed-width little-endian integers (all Lares formats are LE).
class ByteWriter {
 public:
  explicit ByteWriter(Bytes* out) : out_(out) {}
  void u8(uint8_t v) { out_->push_back(v); }
  void u16(uint16_t v) { put(v, 2); }
  void u32(uint32_t v) { put(v, 4); }
  void u64(uint64_t v) { put(v, 8); }
  void raw(ByteView b) { out_->insert(out_->end(), b.begin(), b.end()); }
  void zeros(size_t count) { out_->insert(out_->end(), count, 0); }
  size_t size() const { return out_->size(); }

 private:
  void put(uint64_t v, int width) {
    for (int i = 0; i < width; ++i) out_->push_back(static_cast<uint8_t>(v >> (8 * i)));
  }
  Bytes* out_;
};

// Reads fixed-width little-endian integers; never reads past the end: a short
// read sets failed() and yields zeros, so parsers check once at the end.
class ByteReader {
 public:
  explicit ByteReader(ByteView in) : in_(in) {}
  uint8_t u8() { return static_cast<uint8_t>(get(1)); }
  uint16_t u16() { return static_cast<uint16_t>(get(2)); }
  uint32_t u32() { return static_cast<uint32_t>(get(4)); }
  uint64_t u64() { return get(8); }
  ByteView raw(size_t count) {
    if (count > remaining()) {
      failed_ = true;
      pos_ = in_.size();
      return {};
    }
    ByteView v = in_.subspan(pos_, count);
    pos_ += count;
    return v;
  }
  size_t position() const { return pos_; }
  size_t remaining() const { return in_.size() - pos_; }
  bool failed() const { return failed_; }

 private:
  uint64_t get(int width) {
    if (static_cast<size_t>(width) > remaining()) {
      failed_ = true;
      pos_ = in_.size();
      return 0;
    }
    uint64_t v = 0;
    for (int i = 0; i < width; ++i)
      v |= static_cast<uint64_t>(in_[pos_ + static_cast<size_t>(i)]) << (8 * i);
    pos_ += static_cast<size_t>(width);
    return v;
  }
  ByteView in_;
  size_t pos_ = 0;
  bool failed_ = false;
};

std::string to_hex(ByteView bytes);
enum class HexCase { kLowerOnly, kEither };
// Decodes exactly out.size() bytes from 2 * out.size() hex digits (lowercase,
// as to_hex writes, unless kEither). False for any other input; `out` is then
// unspecified.
bool decode_hex(std::string_view hex, MutableByteView out, HexCase accept = HexCase::kLowerOnly);
// Parses a size such as "4096", "64K", "1.5G" (powers of 1024). Returns false on junk.
bool parse_size(std::string_view text, uint64_t* out);
// "1.5 GiB" style, for humans.
std::string format_size(uint64_t bytes);

}  // namespace lares
