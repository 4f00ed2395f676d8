// Seeds for live_items_fuzz: one well-formed item of each kind (inode,
// directory entry, xattr, extent, orphan) and a few broken ones. Each seed
// is a key length byte, the key, then the value (see live_items_fuzz.cc).
#include "codec/varint.h"
#include "fs/btree.h"
#include "fs/live_fs.h"
#include "fuzz/seeds.h"

#include <sys/stat.h>

namespace lares::fuzz {
namespace {

Bytes item(uint64_t ino, uint8_t kind, ByteView suffix, ByteView value) {
  Bytes key;
  append_be64(key, ino);
  key.push_back(kind);
  key.insert(key.end(), suffix.begin(), suffix.end());
  Bytes out{static_cast<uint8_t>(key.size())};
  out.insert(out.end(), key.begin(), key.end());
  out.insert(out.end(), value.begin(), value.end());
  return out;
}

}  // namespace

Seeds live_items_seeds() {
  Seeds seeds;
  LiveInode file;
  file.mode = S_IFREG | 0644;
  file.uid = 1000;
  file.gid = 1000;
  file.nlink = 1;
  file.size = 123456;
  file.mtime_ns = file.ctime_ns = file.atime_ns = file.btime_ns = 1763899200000000000;
  file.generation = 3;
  file.parent = 1;
  file.allocated = 131072;
  seeds.emplace_back("inode_file", item(2, 0x01, {}, encode_live_inode(file)));
  LiveInode link = file;
  link.mode = S_IFLNK | 0777;
  link.symlink_target = "../target";
  link.size = link.symlink_target.size();
  link.allocated = 0;
  seeds.emplace_back("inode_symlink", item(3, 0x01, {}, encode_live_inode(link)));

  Bytes dirent;
  VarWriter(&dirent).u(2);
  dirent.push_back(static_cast<uint8_t>(S_IFREG >> 12));
  seeds.emplace_back("dirent", item(1, 0x02, as_bytes("photo.jpg"), dirent));
  seeds.emplace_back("dirent_bad_name", item(1, 0x02, as_bytes("a/b"), dirent));
  seeds.emplace_back("xattr", item(2, 0x03, as_bytes("user.comment"), as_bytes("hello")));

  Bytes extent{0};
  extent.resize(1 + 32, 0xab);
  VarWriter w(&extent);
  w.u(0);
  w.u(131072);
  Bytes end;
  append_be64(end, 131072);
  seeds.emplace_back("extent", item(2, 0x04, end, extent));
  Bytes bad_end;
  append_be64(bad_end, 10);  // shorter than the extent's length
  seeds.emplace_back("extent_before_zero", item(2, 0x04, bad_end, extent));

  Bytes orphan_ino;
  append_be64(orphan_ino, 7);
  seeds.emplace_back("orphan", item(0, 0x05, orphan_ino, {}));
  seeds.emplace_back("unknown_kind", item(2, 0x09, {}, {}));
  Bytes truncated = encode_live_inode(file);
  truncated.resize(truncated.size() / 2);
  seeds.emplace_back("inode_truncated", item(2, 0x01, {}, truncated));
  return seeds;
}

}  // namespace lares::fuzz
