// Tree nodes: one directory of a snapshot, as a blob of the repository.
//
// A snapshot is a Merkle tree: each directory is a tree blob listing its
// entries, a subdirectory by the id of its own tree blob, a file by the ids of
// its chunks. Equal directories encode to equal bytes, so an unchanged subtree
// has the same id in every snapshot and is stored once.
//
// Tree blob, version 1. Integers are LEB128 varints (u) or zigzag varints (s);
// "str" is u length || bytes; "id" is 32 raw bytes.
//
//   u8  version = 1
//   u   entry count
//   entries, sorted by name (bytewise), names unique:
//     str  name          (1..255 bytes, no '/' or NUL, not "." or "..")
//     u8   type          (NodeType)
//     u    mode          (permission bits and suid/sgid/sticky: <= 07777)
//     u    uid, u gid
//     str  user, str group   (names at backup time, may be empty; <= 255 bytes)
//     s    mtime_ns, s atime_ns, s ctime_ns   (ns since the epoch)
//     u    inode, u device, u nlink   (at backup time: change detection and
//                                       hard links; nlink >= 1)
//     u    size          (bytes; for files, the sum of the extent lengths)
//     type-specific:
//       kFile:     u extent count; extents, in file order:
//                    u8 kind = 0 (data): id chunk id, u length (1..kMaxChunkLength)
//                    u8 kind = 1 (hole): u length (>= 1)
//       kDir:      id subtree (the tree blob of the directory)
//       kSymlink:  str target (1..4095 bytes, no NUL)
//       kCharDev, kBlockDev: u rdev
//       kFifo, kSocket: nothing
//     u    xattr count; xattrs sorted by name, names unique:
//            str name (1..255 bytes, no NUL), str value (<= 65536 bytes)
//   (end: no trailing bytes)
//
// Limits keep a damaged or hostile blob from making the decoder allocate
// without bound: counts are checked against the bytes that remain.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "codec/keyed_hash.h"
#include "util/bytes.h"
#include "util/status.h"

namespace lares {

// Part of the format: never renumber.
enum class NodeType : uint8_t {
  kFile = 1,
  kDir = 2,
  kSymlink = 3,
  kFifo = 4,
  kCharDev = 5,
  kBlockDev = 6,
  kSocket = 7,
};

inline constexpr uint8_t kTreeVersion = 1;
inline constexpr uint64_t kMaxChunkLength = uint64_t{1} << 30;
inline constexpr size_t kMaxNameLength = 255;
inline constexpr size_t kMaxSymlinkLength = 4095;
inline constexpr size_t kMaxXattrValueLength = 65536;

struct Extent {
  std::optional<ChunkId> id;  // empty for a hole
  uint64_t length = 0;
  bool operator==(const Extent&) const = default;
};

struct Xattr {
  std::string name;
  Bytes value;
  bool operator==(const Xattr&) const = default;
};

struct Node {
  std::string name;
  NodeType type = NodeType::kFile;
  uint32_t mode = 0;
  uint32_t uid = 0, gid = 0;
  std::string user, group;
  int64_t mtime_ns = 0, atime_ns = 0, ctime_ns = 0;
  uint64_t inode = 0, device = 0, nlink = 1;
  uint64_t size = 0;
  std::vector<Extent> extents;  // kFile
  ChunkId subtree;              // kDir
  std::string symlink_target;   // kSymlink
  uint64_t rdev = 0;            // kCharDev, kBlockDev
  std::vector<Xattr> xattrs;
  bool operator==(const Node&) const = default;
};

struct Tree {
  std::vector<Node> nodes;  // sorted by name
  bool operator==(const Tree&) const = default;
};

// REQUIRES: the tree satisfies every rule above (validate_tree is OK);
// sorting is the caller's job (sort_tree).
Bytes encode_tree(const Tree& tree);
// Strict: kCorruption naming what is wrong for any input that breaks a rule;
// kFailedPrecondition for an unknown version.
Result<Tree> decode_tree(ByteView bytes);
// The rules above, for trees built in memory (kInvalidArgument). Also
// rejects a field the node's type does not store (extents on a non-file,
// subtree on a non-directory, a symlink target on a non-symlink, rdev on a
// non-device), which encode_tree would silently drop.
Status validate_tree(const Tree& tree);
// Sorts nodes by name and each node's xattrs by name.
void sort_tree(Tree& tree);

}  // namespace lares
