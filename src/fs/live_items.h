// The items of a live dataset's tree (the layout is documented in
// fs/live_fs.h and docs/FORMAT.md): their kinds, keys and the small value
// codecs, shared by the engine (live_fs.cc), the snapshot diff (live_diff.cc)
// and whatever else reads a live tree.
#pragma once

#include <cstdint>
#include <string_view>

#include "codec/keyed_hash.h"
#include "codec/varint.h"
#include "fs/btree.h"
#include "util/bytes.h"
#include "util/status.h"

namespace lares::live_items {

inline constexpr uint8_t kInode = 0x01;
inline constexpr uint8_t kDirent = 0x02;
inline constexpr uint8_t kXattr = 0x03;
inline constexpr uint8_t kExtent = 0x04;
inline constexpr uint8_t kOrphan = 0x05;
inline constexpr size_t kPrefixBytes = 9;       // be64 ino || u8 kind
inline constexpr size_t kExtentKeyBytes = 17;   // ... || be64 end
inline constexpr uint8_t kExtentPlain = 0;
inline constexpr uint64_t kMaxIno = uint64_t{1} << 48;

inline Bytes item_prefix(uint64_t ino, uint8_t kind) {
  Bytes key;
  key.reserve(kExtentKeyBytes);
  append_be64(key, ino);
  key.push_back(kind);
  return key;
}
inline Bytes inode_key(uint64_t ino) { return item_prefix(ino, kInode); }
inline Bytes named_key(uint64_t ino, uint8_t kind, std::string_view name) {
  Bytes key = item_prefix(ino, kind);
  key.insert(key.end(), name.begin(), name.end());
  return key;
}
inline Bytes extent_key(uint64_t ino, uint64_t end) {
  Bytes key = item_prefix(ino, kExtent);
  append_be64(key, end);
  return key;
}
inline Bytes orphan_key(uint64_t ino) {
  Bytes key = item_prefix(0, kOrphan);
  append_be64(key, ino);
  return key;
}

// A directory entry's value: u child ino, u8 (S_IFMT type >> 12).
struct Dirent {
  uint64_t ino = 0;
  uint32_t type = 0;  // S_IFMT bits
};
inline Bytes encode_dirent(const Dirent& d) {
  Bytes out;
  VarWriter w(&out);
  w.u(d.ino);
  w.u8(static_cast<uint8_t>(d.type >> 12));
  return out;
}
inline Result<Dirent> decode_dirent(ByteView bytes) {
  VarReader r(bytes);
  Dirent d;
  uint8_t type = 0;
  RETURN_IF_ERROR(r.u(&d.ino, "directory entry inode"));
  RETURN_IF_ERROR(r.u8(&type, "directory entry type"));
  if (r.remaining() != 0 || d.ino == 0 || d.ino >= kMaxIno) {
    return Status::corruption("malformed directory entry");
  }
  d.type = static_cast<uint32_t>(type) << 12;
  return d;
}

// An extent's value: u8 0, id, u skip, u length.
struct ExtentValue {
  ChunkId id;
  uint64_t skip = 0;
  uint64_t length = 0;
};
inline Bytes encode_extent(const ExtentValue& e) {
  Bytes out;
  VarWriter w(&out);
  w.u8(kExtentPlain);
  w.raw(e.id.bytes);
  w.u(e.skip);
  w.u(e.length);
  return out;
}
inline Result<ExtentValue> decode_extent(ByteView bytes) {
  VarReader r(bytes);
  ExtentValue e;
  uint8_t kind = 0;
  RETURN_IF_ERROR(r.u8(&kind, "extent kind"));
  if (kind != kExtentPlain) return Status::corruption("unknown extent kind");
  RETURN_IF_ERROR(r.id(&e.id, "extent id"));
  RETURN_IF_ERROR(r.u(&e.skip, "extent skip"));
  RETURN_IF_ERROR(r.u(&e.length, "extent length"));
  if (r.remaining() != 0 || e.length == 0) return Status::corruption("malformed extent");
  return e;
}

// An extent item: its end (from the key) and value. kCorruption for a key
// of the wrong length or an extent reaching before offset 0.
struct ExtentItem {
  uint64_t start = 0, end = 0;
  ExtentValue value;
};
inline Result<ExtentItem> parse_extent_item(ByteView key, ByteView value) {
  if (key.size() != kExtentKeyBytes) return Status::corruption("malformed extent key");
  ExtentItem item;
  item.end = read_be64(key.subspan(kPrefixBytes));
  ASSIGN_OR_RETURN(item.value, decode_extent(value));
  if (item.value.length > item.end) return Status::corruption("extent starts before the file");
  item.start = item.end - item.value.length;
  return item;
}

}  // namespace lares::live_items
