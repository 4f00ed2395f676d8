// A live dataset: a POSIX filesystem whose state is a B+tree (fs/btree.h) of
// inodes, directory entries, extended attributes and file extents, stored as
// blobs of the repository (chunks/repository.h). The FUSE adapter
// (fs/fuse_mount.h) is a thin translation of kernel requests into calls here;
// tests call it directly too.
//
// Items of the tree (keys are ordered bytewise; integers big-endian so they
// sort numerically; docs/FORMAT.md, "Live datasets"):
//
//   be64 ino || 0x01                  inode record (LiveInode, encoded)
//   be64 dir || 0x02 || name          directory entry: u child ino, u8 type
//   be64 ino || 0x03 || name          extended attribute: the value
//   be64 ino || 0x04 || be64 end      file extent [end - length, end): u8 0,
//                                     id (32 bytes), u skip, u length: bytes
//                                     [skip, skip + length) of the data blob
//                                     (keyed by its end, so the extent that
//                                     holds offset x is the first one whose
//                                     key is past x)
//   be64 0   || 0x05 || be64 ino      orphan: unlinked while open; freed when
//                                     the last user lets go, or at the next
//                                     open of the dataset
//
// The root directory is inode 1. Holes are the absence of extents. Extents
// written here are aligned records of `recordsize` bytes (the last one of a
// file may be shorter); extents of any length (from `lares backup`'s content
// defined chunks) are read and are replaced by records when written over.
//
// Transaction groups. Every change goes to memory: the tree's nodes, and
// per-file dirty records. A sync (every `txg_interval`, when dirty data
// passes `dirty_sync_bytes`, on fsync, and on close) does, with the dataset
// briefly locked: hash every dirty record, put its extent into the tree,
// encode the changed tree nodes; then, unlocked, while the next group
// gathers: compress, encrypt and pack those blobs, flush the repository, and
// write the dataset head (fs/dataset.h) pointing at the new root. A crash
// loses only what was not yet synced; what a completed fsync covered is
// durable. Writers wait (they are throttled, not failed) while dirty data is
// above `dirty_max_bytes`.
//
// Errors: calls return 0 or a positive errno value, as the kernel wants
// them. Storage errors (a damaged blob, a failed pool) are EIO, logged with
// their detail through `on_error`.
//
// Thread safety: every public method may be called from many threads.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "chunks/repository.h"
#include "fs/dataset.h"
#include "util/bytes.h"
#include "util/file.h"
#include "util/status.h"

namespace lares {

inline constexpr uint64_t kRootIno = 1;

// An inode as the tree stores it (value of the 0x01 item), version 1:
//   u8 version = 1, u mode (S_IFMT type bits | permission bits), u uid,
//   u gid, u nlink, u size, u rdev, s atime_ns, s mtime_ns, s ctime_ns,
//   s btime_ns, u generation, u parent (a folder's parent; for any other
//   inode the folder it was made or last renamed in, which with several
//   links may no longer hold a name of it),
//   u allocated (bytes of the file's extents), str symlink target (empty
//   unless a symlink)
struct LiveInode {
  uint32_t mode = 0;
  uint32_t uid = 0, gid = 0;
  uint32_t nlink = 0;
  uint64_t size = 0;
  uint64_t rdev = 0;
  int64_t atime_ns = 0, mtime_ns = 0, ctime_ns = 0, btime_ns = 0;
  uint64_t generation = 0;
  uint64_t parent = 0;
  uint64_t allocated = 0;
  std::string symlink_target;
  bool operator==(const LiveInode&) const = default;
};
Bytes encode_live_inode(const LiveInode& inode);
Result<LiveInode> decode_live_inode(ByteView bytes);  // strict, kCorruption

// Checks one tree item (key and value) against the layout above, as a
// reader would parse it: kCorruption naming what is wrong. For the fuzz
// target and consistency checks.
Status check_live_item(ByteView key, ByteView value);

struct LiveAttr {
  uint64_t ino = 0;
  LiveInode inode;
  uint64_t blocks = 0;  // 512-byte units: the records the file holds
};

// Who asks (for the owner of new files; access checks are the kernel's, as
// the mount uses default_permissions).
struct Caller {
  uint32_t uid = 0;
  uint32_t gid = 0;
};

// What setattr changes (the set_* flags say which fields count).
struct SetAttr {
  bool set_mode = false, set_uid = false, set_gid = false, set_size = false;
  bool set_atime = false, set_mtime = false, set_ctime = false;
  bool atime_now = false, mtime_now = false;  // UTIME_NOW
  uint32_t mode = 0, uid = 0, gid = 0;
  uint64_t size = 0;
  int64_t atime_ns = 0, mtime_ns = 0, ctime_ns = 0;
};

struct LiveDirEntry {
  std::string name;
  uint64_t ino = 0;
  uint32_t type = 0;  // S_IFMT bits
};

struct LiveStatfs {
  uint64_t block_size = 4096;
  uint64_t total_bytes = 0;      // usable bytes, after redundancy (quota caps it)
  uint64_t free_bytes = 0;       // usable bytes still free
  uint64_t files = 0;            // inodes in use
  uint64_t files_free = 0;
  uint32_t name_max = 255;
};

struct LiveOptions {
  bool read_only = false;
  // Nothing is ever written: commits only happen in memory (a backup
  // snapshot imported for a read-only mount). Everything stays in memory.
  bool ephemeral = false;
  uint64_t txg_interval_ms = 5000;
  uint64_t dirty_sync_bytes = uint64_t{64} << 20;
  uint64_t dirty_max_bytes = uint64_t{256} << 20;
  uint64_t record_cache_bytes = uint64_t{128} << 20;  // decoded records kept for reads
  uint64_t node_cache_bytes = uint64_t{64} << 20;     // clean tree nodes kept
  // Space the dataset may use (util/file.h), from whoever owns the store:
  // the pool's free space after redundancy, a folder's filesystem. Null:
  // unlimited.
  std::function<SpaceInfo()> space;
  std::function<void(const Status&)> on_error;        // null: stderr
  std::function<int64_t()> clock_ns;                  // null: CLOCK_REALTIME
};

// Every blob a live tree holds (its nodes and the data its extents name) is
// added to *live; a node already in *live is not walked again, so walking
// many snapshots of one dataset reads each shared subtree once. kFailed-
// Precondition when a blob is not in the index; kCorruption for a damaged
// node.
Status mark_live_tree(Repository& repo, const ChunkId& root,
                      std::unordered_set<ChunkId, ChunkIdHash>* live);

class LiveFs {
 public:
  // Opens the dataset `head` names (its root, or an empty root directory
  // owned by `owner` when the head has none yet). Frees orphans left by a
  // crash. The repository must stay open, and the caller must hold its
  // writer lock unless read_only, for the LiveFs's lifetime.
  static Result<std::unique_ptr<LiveFs>> open(Repository& repo, DatasetStore& datasets,
                                              DatasetHead head, const LiveOptions& options);
  // Syncs (unless read-only) and stops the sync thread. Errors are logged.
  ~LiveFs();

  // Commits everything changed so far and waits until it is durable.
  Status sync();
  // The head as last written.
  DatasetHead head() const;

  // ---- namespace ----
  int lookup(uint64_t parent, std::string_view name, LiveAttr* out);
  // The kernel forgets `count` references handed out by lookup-like calls
  // (lookup, mknod, mkdir, symlink, link): an unlinked inode is freed once
  // it has no links, no references and is not open.
  void forget(uint64_t ino, uint64_t count);
  int getattr(uint64_t ino, LiveAttr* out);
  int setattr(uint64_t ino, const SetAttr& changes, LiveAttr* out);
  // Regular files, fifos, sockets and device nodes (type from `mode`).
  int mknod(uint64_t parent, std::string_view name, uint32_t mode, uint64_t rdev,
            const Caller& caller, LiveAttr* out);
  int mkdir(uint64_t parent, std::string_view name, uint32_t mode, const Caller& caller,
            LiveAttr* out);
  int symlink(uint64_t parent, std::string_view name, std::string_view target,
              const Caller& caller, LiveAttr* out);
  int readlink(uint64_t ino, std::string* out);
  int link(uint64_t ino, uint64_t new_parent, std::string_view new_name, LiveAttr* out);
  int unlink(uint64_t parent, std::string_view name);
  int rmdir(uint64_t parent, std::string_view name);
  // flags: 0, RENAME_NOREPLACE or RENAME_EXCHANGE.
  int rename(uint64_t parent, std::string_view name, uint64_t new_parent,
             std::string_view new_name, unsigned flags);
  // Every entry of a directory (without "." and ".."), in a stable order.
  int list_dir(uint64_t ino, std::vector<LiveDirEntry>* out);

  // ---- files ----
  // open/release count users of a file so an unlinked one lives on.
  int open(uint64_t ino, int flags);
  void release(uint64_t ino);
  // Reads up to `size` bytes at `offset` (fewer at the end of the file).
  int read(uint64_t ino, uint64_t offset, uint64_t size, Bytes* out);
  // Writes `data` at `offset`, or at the end of the file when `append`;
  // *written_at says where it went.
  int write(uint64_t ino, uint64_t offset, ByteView data, bool append, uint64_t* written_at);
  // mode: 0, FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
  // FALLOC_FL_ZERO_RANGE (others: EOPNOTSUPP).
  int fallocate(uint64_t ino, int mode, uint64_t offset, uint64_t length);
  // Durable when it returns (a sync of the whole dataset).
  int fsync(uint64_t ino, bool datasync);

  // ---- xattrs ----
  // flags: 0, XATTR_CREATE, XATTR_REPLACE.
  int setxattr(uint64_t ino, std::string_view name, ByteView value, int flags);
  int getxattr(uint64_t ino, std::string_view name, Bytes* out);
  int listxattr(uint64_t ino, std::vector<std::string>* out);
  int removexattr(uint64_t ino, std::string_view name);

  int statfs(LiveStatfs* out);

  // ---- building from a backup (fs/live_import.h) ----
  // Makes bytes [offset, offset + length) of a regular file the first
  // `length` bytes of data blob `id` (a content-defined chunk of a backup),
  // replacing what was there; grows the size to cover it.
  int import_extent(uint64_t ino, uint64_t offset, const ChunkId& id, uint64_t length);
  // From now on every change is EROFS (after an import, before mounting).
  void set_read_only();

 private:
  struct Impl;
  explicit LiveFs(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace lares
