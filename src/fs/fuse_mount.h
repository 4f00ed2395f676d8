// The FUSE adapter: serves a live dataset (fs/live_fs.h) at a mountpoint
// through libfuse3's low-level API.
//
// What the kernel sees:
//   <mountpoint>/...                      the live dataset, read-write
//   <mountpoint>/.lares/                  hidden (not listed in the root) but
//                                         reachable by name, as ZFS's .zfs
//   <mountpoint>/.lares/snapshots/        one folder per snapshot; mkdir
//                                         makes a snapshot, rmdir destroys one
//   <mountpoint>/.lares/snapshots/<s>/... the snapshot, read-only (EROFS)
//
// Inode numbers: the kernel's number is (view << 48) | the view's own
// inode number; view 0 is the live dataset, view kControlView the .lares
// folders, views 1.. the snapshots in the order they were first opened.
// Every file the dataset itself holds has an inode number below 2^48.
//
// Mount options: default_permissions (the kernel checks access against the
// modes and owners LiveFs reports), no writeback cache (LiveFs handles
// O_APPEND), 1 MiB writes, attributes and entries cached for 1 s (every
// change goes through this mount, so the kernel's cache stays true).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "fs/live_fs.h"
#include "util/status.h"

namespace lares {

inline constexpr uint64_t kViewShift = 48;
inline constexpr uint64_t kControlView = 0xFFFF;

// The snapshots of the mounted dataset, for .lares/snapshots.
class SnapshotProvider {
 public:
  virtual ~SnapshotProvider() = default;
  // Names, oldest first.
  virtual Result<std::vector<std::string>> list() = 0;
  // The snapshot as a read-only filesystem (the provider owns it and keeps
  // it alive until the mount ends). kNotFound when there is no such name.
  virtual Result<LiveFs*> open(const std::string& name) = 0;
  // mkdir .lares/snapshots/<name>: syncs the live dataset and snapshots it.
  virtual Status create(const std::string& name) = 0;
  // rmdir .lares/snapshots/<name>.
  virtual Status destroy(const std::string& name) = 0;
};

struct MountOptions {
  std::string mountpoint;
  std::string fsname = "lares";   // shown by mount(8) and df: "lares:<pool>/<dataset>"
  bool allow_other = false;       // let other users in (needs user_allow_other or root)
  unsigned max_threads = 8;       // FUSE worker threads
  bool debug = false;             // libfuse's request log on stderr
};

class FuseMount {
 public:
  // Mounts (the mountpoint must be an existing empty folder). `snapshots`
  // may be null (no .lares folder). Neither `fs` nor `snapshots` is owned.
  static Result<std::unique_ptr<FuseMount>> mount(LiveFs& fs, SnapshotProvider* snapshots,
                                                  const MountOptions& options);
  // Unmounts if still mounted, and waits for the session to end.
  ~FuseMount();
  // Serves requests until the filesystem is unmounted (umount, fusermount3
  // -u, `lares umount`) or stop() is called. Returns the session's status.
  Status run();
  // Ends run() from another thread or a signal handler's helper thread.
  void stop();

 private:
  struct Impl;
  explicit FuseMount(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// One line of /proc/self/mountinfo (escapes undone).
struct MountEntry {
  std::string mountpoint;
  std::string fs_type;  // "fuse.lares" for a Lares mount
  std::string source;   // the fsname: "lares:<repo>/<dataset>[@<snapshot>]"
};
std::vector<MountEntry> read_mounts();

// Unmounts a Lares mount at `mountpoint` (umount2, or fusermount3 -u when
// not root). kNotFound when nothing is mounted there.
Status unmount(const std::string& mountpoint);

}  // namespace lares
