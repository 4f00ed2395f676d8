// LEB128 varints, length-prefixed strings and raw ids: the building blocks of the
// compact binary formats (backup trees, live dataset nodes and items).
//
// The reader is strict so every value has exactly one encoding: minimal
// varints only (no redundant zero groups, nothing over 64 bits); it never
// reads past its input, and counts are checked against the bytes that remain
// before the caller allocates for them.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "codec/keyed_hash.h"
#include "util/bytes.h"
#include "util/check.h"
#include "util/status.h"

namespace lares {

inline constexpr size_t kMaxVarintBytes = 10;  // ceil(64 / 7)

inline uint64_t zigzag(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}
inline int64_t unzigzag(uint64_t u) { return static_cast<int64_t>((u >> 1) ^ (~(u & 1) + 1)); }

// u = varint, s = zigzag varint, str = u length || bytes.
class VarWriter {
 public:
  explicit VarWriter(Bytes* out) : out_(out) {}
  void u8(uint8_t v) { out_->push_back(v); }
  void u(uint64_t v) {
    while (v >= 0x80) {
      out_->push_back(static_cast<uint8_t>(v | 0x80));
      v >>= 7;
    }
    out_->push_back(static_cast<uint8_t>(v));
  }
  void s(int64_t v) { u(zigzag(v)); }
  void str(std::string_view v) {
    u(v.size());
    raw(as_bytes(v));
  }
  void raw(ByteView v) { out_->insert(out_->end(), v.begin(), v.end()); }

 private:
  Bytes* out_;
};

// Each call returns the first failure as kCorruption naming `what`.
class VarReader {
 public:
  explicit VarReader(ByteView in) : in_(in) {}
  size_t remaining() const { return in_.size() - pos_; }

  Status u8(uint8_t* v, const char* what) {
    if (remaining() < 1) return truncated(what);
    *v = in_[pos_++];
    return Status::ok();
  }
  // Minimal LEB128 only: an encoding with a redundant final zero group, or one
  // over 64 bits, is rejected so every value has exactly one encoding.
  Status u(uint64_t* v, const char* what) {
    uint64_t value = 0;
    for (size_t i = 0; i < kMaxVarintBytes; ++i) {
      if (remaining() < 1) return truncated(what);
      const uint8_t byte = in_[pos_++];
      if (i == kMaxVarintBytes - 1 && byte > 1) {
        return Status::corruption(std::string(what) + ": varint over 64 bits");
      }
      value |= static_cast<uint64_t>(byte & 0x7f) << (7 * i);
      if ((byte & 0x80) == 0) {
        if (byte == 0 && i > 0) return Status::corruption(std::string(what) + ": overlong varint");
        *v = value;
        return Status::ok();
      }
    }
    LARES_CHECK(false);  // the tenth byte either ends the varint or is rejected above
  }
  Status u32(uint32_t* v, const char* what) {
    uint64_t value = 0;
    RETURN_IF_ERROR(u(&value, what));
    if (value > std::numeric_limits<uint32_t>::max()) {
      return Status::corruption(std::string(what) + " does not fit 32 bits");
    }
    *v = static_cast<uint32_t>(value);
    return Status::ok();
  }
  Status s(int64_t* v, const char* what) {
    uint64_t value = 0;
    RETURN_IF_ERROR(u(&value, what));
    *v = unzigzag(value);
    return Status::ok();
  }
  Status raw(size_t count, ByteView* v, const char* what) {
    if (remaining() < count) return truncated(what);
    *v = in_.subspan(pos_, count);
    pos_ += count;
    return Status::ok();
  }
  Status str(std::string* v, const char* what) {
    uint64_t length = 0;
    RETURN_IF_ERROR(u(&length, what));
    if (length > remaining()) return truncated(what);
    v->assign(as_chars(in_.subspan(pos_, length)));
    pos_ += length;
    return Status::ok();
  }
  Status id(ChunkId* v, const char* what) {
    ByteView bytes;
    RETURN_IF_ERROR(raw(ChunkId::kSize, &bytes, what));
    std::copy(bytes.begin(), bytes.end(), v->bytes.begin());
    return Status::ok();
  }
  // A count of items of at least `min_item_bytes` each, checked against the
  // bytes that remain so a damaged count cannot force a large allocation.
  Status count(size_t* v, size_t min_item_bytes, const char* what) {
    uint64_t value = 0;
    RETURN_IF_ERROR(u(&value, what));
    if (value > remaining() / min_item_bytes) {
      return Status::corruption(std::string(what) + " " + std::to_string(value) +
                                " is more than the remaining bytes can hold");
    }
    *v = static_cast<size_t>(value);
    return Status::ok();
  }

 private:
  static Status truncated(const char* what) {
    return Status::corruption(std::string("truncated at ") + what);
  }
  ByteView in_;
  size_t pos_ = 0;
};

}  // namespace lares
