// The FUSE adapter (fs/fuse_mount.h): every kernel request is decoded here,
// routed to the view its inode number names, and answered from a LiveFs call.
//
// Kernel inode numbers (header): (view << kViewShift) | the view's own inode.
//   view 0             the live dataset (its root, kRootIno, is FUSE_ROOT_ID)
//   view kControlView  1: .lares, 2: .lares/snapshots (synthetic folders)
//   views 1..          snapshots, numbered in the order they were first opened
//
// Reference counts: the kernel forgets what lookup-like replies handed out.
// Dataset replies come from LiveFs calls that count a reference (lookup,
// mknod, mkdir, symlink, link), so forgets go back to that LiveFs; a reply
// the kernel did not take (interrupted request) is forgotten here at once.
// Roots are never looked up, so forgets of kRootIno are dropped.
//
// API 3.12 is the first with fuse_loop_cfg_set_max_threads.
#define FUSE_USE_VERSION 312

#include "fs/fuse_mount.h"

#include <fuse_lowlevel.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <type_traits>
#include <unordered_set>
#include <sstream>
#include <string_view>
#include <utility>

#include "util/check.h"

extern char** environ;

namespace lares {
namespace {

constexpr uint64_t kLiveView = 0;
constexpr uint64_t kLocalInoMask = (uint64_t{1} << kViewShift) - 1;
constexpr uint64_t kMaxSnapshotViews = kControlView - 1;  // views 1 .. kControlView - 1
constexpr uint64_t kControlDirIno = 1;                    // .lares
constexpr uint64_t kSnapshotsDirIno = 2;                  // .lares/snapshots
constexpr std::string_view kControlDirName = ".lares";
constexpr std::string_view kSnapshotsDirName = "snapshots";
constexpr size_t kNameBytesMax = 255;
constexpr unsigned kMaxWriteBytes = 1u << 20;
constexpr double kCacheTimeoutS = 1.0;
// Snapshots come and go outside this mount (schedules), so names under
// .lares/snapshots are looked up again every time.
constexpr double kSnapshotEntryTimeoutS = 0.0;
constexpr int64_t kNsPerS = 1'000'000'000;
// d_ino of a snapshot folder not opened yet (libfuse's high-level API uses the same).
constexpr fuse_ino_t kUnknownDirIno = 0xffffffff;

static_assert(kControlView == (uint64_t{1} << (64 - kViewShift)) - 1,
              "the control view is the highest view number");

fuse_ino_t kernel_ino(uint64_t view, uint64_t local_ino) {
  LARES_DCHECK(local_ino <= kLocalInoMask);
  return (view << kViewShift) | local_ino;
}

timespec to_timespec(int64_t ns) {
  int64_t seconds = ns / kNsPerS;
  int64_t rest_ns = ns % kNsPerS;
  if (rest_ns < 0) {  // floor, so that -1 ns is 1969-12-31T23:59:59.999999999
    rest_ns += kNsPerS;
    --seconds;
  }
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(seconds);
  ts.tv_nsec = static_cast<long>(rest_ns);
  return ts;
}

// False when the time does not fit in int64 nanoseconds (years beyond 2262).
bool to_ns(const timespec& ts, int64_t* out) {
  if (ts.tv_sec > INT64_MAX / kNsPerS - 1 || ts.tv_sec < INT64_MIN / kNsPerS + 1) return false;
  *out = static_cast<int64_t>(ts.tv_sec) * kNsPerS + ts.tv_nsec;
  return true;
}

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct stat to_stat(const LiveAttr& attr, fuse_ino_t ino, uint32_t blksize) {
  struct stat st {};
  st.st_ino = ino;
  st.st_mode = attr.inode.mode;
  st.st_nlink = attr.inode.nlink;
  st.st_uid = attr.inode.uid;
  st.st_gid = attr.inode.gid;
  st.st_rdev = attr.inode.rdev;
  st.st_size = static_cast<off_t>(attr.inode.size);
  st.st_blocks = static_cast<blkcnt_t>(attr.blocks);
  st.st_blksize = static_cast<blksize_t>(blksize);
  st.st_atim = to_timespec(attr.inode.atime_ns);
  st.st_mtim = to_timespec(attr.inode.mtime_ns);
  st.st_ctim = to_timespec(attr.inode.ctime_ns);
  return st;
}

// The errno a provider's Status stands for; storage failures are EIO and
// logged, as LiveFs does through on_error.
int errno_of(const Status& status, std::string_view what) {
  switch (status.code()) {
    case Code::kOk: return 0;
    case Code::kNotFound: return ENOENT;
    case Code::kAlreadyExists: return EEXIST;
    case Code::kInvalidArgument: return EINVAL;
    case Code::kNoSpace: return ENOSPC;
    case Code::kBusy: return EBUSY;
    case Code::kFailedPrecondition: return EBUSY;
    case Code::kPermissionDenied: return EACCES;
    default: break;
  }
  std::fprintf(stderr, "lares fuse: %.*s: %s\n", static_cast<int>(what.size()), what.data(),
               status.to_string().c_str());
  return EIO;
}

// "," separates mount options; a backslash escapes it (fuse_opt).
std::string escape_option(std::string_view value) {
  std::string out;
  for (char c : value) {
    if (c == ',' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

// An open file: which LiveFs serves it, and whether it was opened O_APPEND
// (the kernel's offset then does not count; LiveFs appends at its own end).
struct FileHandle {
  LiveFs* fs = nullptr;
  uint64_t ino = 0;  // the view's own number
  bool append = false;
};

struct DirSlot {
  std::string name;
  fuse_ino_t ino = 0;  // the kernel's number
  uint32_t type = 0;   // S_IFMT bits
};

// An open folder: its entries as of opendir, "." and ".." first. The
// readdir offset of slots[i] is i + 1, so offset 0 starts at the beginning
// and a later offset resumes after the slot it names.
struct DirHandle {
  std::vector<DirSlot> slots;
};

template <typename T>
T& handle_of(const fuse_file_info* fi) {
  return *reinterpret_cast<T*>(static_cast<uintptr_t>(fi->fh));
}

// The open files and folders the kernel holds handles to. What is still
// open when the session ends (stopped with files open, or the kernel gone)
// is released when the mount is destroyed.
class Handles {
 public:
  template <typename T>
  uint64_t add(std::unique_ptr<T> handle) {
    std::lock_guard lock(mu_);
    set<T>().insert(handle.get());
    return static_cast<uint64_t>(reinterpret_cast<uintptr_t>(handle.release()));
  }
  template <typename T>
  std::unique_ptr<T> take(const fuse_file_info* fi) {
    T* handle = reinterpret_cast<T*>(static_cast<uintptr_t>(fi->fh));
    std::lock_guard lock(mu_);
    set<T>().erase(handle);
    return std::unique_ptr<T>(handle);
  }
  template <typename T>
  std::vector<std::unique_ptr<T>> take_all() {
    std::lock_guard lock(mu_);
    std::vector<std::unique_ptr<T>> out;
    for (T* handle : set<T>()) out.emplace_back(handle);
    set<T>().clear();
    return out;
  }

 private:
  template <typename T>
  std::unordered_set<T*>& set() {
    if constexpr (std::is_same_v<T, FileHandle>) {
      return files_;
    } else {
      return dirs_;
    }
  }
  std::mutex mu_;
  std::unordered_set<FileHandle*> files_;  // GUARDED_BY(mu_)
  std::unordered_set<DirHandle*> dirs_;    // GUARDED_BY(mu_)
};

enum class Counted { kYes, kNo };  // whether the reply's reference was counted by LiveFs

// What a kernel inode number names.
struct Node {
  uint64_t view = kLiveView;
  uint64_t ino = 0;      // the view's own number
  LiveFs* fs = nullptr;  // null for the control view
  uint32_t blksize = 4096;
  bool is_control() const { return fs == nullptr; }
  bool read_only() const { return view != kLiveView; }
};

// Everything a mount holds; the request callbacks get it as userdata.
struct FuseServer {
  FuseServer(LiveFs& live_fs, SnapshotProvider* provider, MountOptions mount_options)
      : live(live_fs), snapshots(provider), options(std::move(mount_options)) {}

  // ---- routing ----
  int resolve(fuse_ino_t ino, Node* out);
  int open_snapshot_view(const std::string& name, Node* root);
  void forget_view(std::string_view name);
  bool is_control_name(const Node& parent, std::string_view name) const {
    return snapshots != nullptr && parent.view == kLiveView && parent.ino == kRootIno &&
           name == kControlDirName;
  }
  int control_stat(uint64_t local_ino, struct stat* out);

  // ---- replies ----
  void reply_entry(fuse_req_t req, const Node& parent_view, const LiveAttr& attr, Counted counted,
                   double entry_timeout_s);
  void reply_control_entry(fuse_req_t req, uint64_t local_ino);
  void reply_attr(fuse_req_t req, const Node& node, const LiveAttr& attr);

  // ---- requests ----
  void lookup(fuse_req_t req, fuse_ino_t parent, const char* name);
  void lookup_control(fuse_req_t req, const Node& parent, const std::string& name);
  void forget(fuse_ino_t ino, uint64_t count);
  void getattr(fuse_req_t req, fuse_ino_t ino);
  void setattr(fuse_req_t req, fuse_ino_t ino, const struct stat& attr, int to_set);
  void make_node(fuse_req_t req, fuse_ino_t parent, const char* name, uint32_t mode, dev_t rdev,
                 const char* symlink_target);
  void mkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode);
  void readlink(fuse_req_t req, fuse_ino_t ino);
  void link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t new_parent, const char* new_name);
  void remove(fuse_req_t req, fuse_ino_t parent, const char* name, bool is_dir);
  void rename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t new_parent,
              const char* new_name, unsigned flags);
  void open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
  void create(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, fuse_file_info* fi);
  int lookup_existing_file(const Node& dir, const char* name, LiveAttr* attr);
  void read(fuse_req_t req, size_t size, off_t offset, fuse_file_info* fi);
  void write(fuse_req_t req, const char* data, size_t size, off_t offset, fuse_file_info* fi);
  void release(fuse_req_t req, fuse_file_info* fi);
  void attach_file(fuse_file_info* fi, LiveFs* fs, uint64_t ino);
  void fsync(fuse_req_t req, fuse_ino_t ino, int datasync);
  void opendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
  int list_control_dir(uint64_t local_ino, DirHandle* out);
  void readdir(fuse_req_t req, size_t size, off_t offset, fuse_file_info* fi);
  void statfs(fuse_req_t req, fuse_ino_t ino);
  void setxattr(fuse_req_t req, fuse_ino_t ino, const char* name, const char* value, size_t size,
                int flags);
  void getxattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size);
  void listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);
  void removexattr(fuse_req_t req, fuse_ino_t ino, const char* name);
  void fallocate(fuse_req_t req, int mode, off_t offset, off_t length, fuse_file_info* fi);

  LiveFs& live;
  SnapshotProvider* const snapshots;  // null: no .lares folder
  const MountOptions options;         // mountpoint made absolute
  Handles handles;                    // open files and folders
  uint32_t live_blksize = kDefaultRecordSize;
  int64_t mounted_ns = 0;  // times of the .lares folders
  fuse_session* session = nullptr;

  struct SnapshotView {
    std::string name;
    LiveFs* fs = nullptr;  // the provider's; alive until the mount ends
    uint32_t blksize = kDefaultRecordSize;
  };
  std::shared_mutex views_mu;
  std::vector<SnapshotView> views;               // GUARDED_BY(views_mu); views[i] is view i + 1
  std::map<std::string, uint64_t> view_by_name;  // GUARDED_BY(views_mu)

  std::mutex run_mu;
  std::condition_variable run_cv;
  bool running = false;  // GUARDED_BY(run_mu): run() is in the session loop
  bool ran = false;      // GUARDED_BY(run_mu): run() was called (it runs once)
};

FuseServer& impl_of(fuse_req_t req) { return *static_cast<FuseServer*>(fuse_req_userdata(req)); }

Caller caller_of(fuse_req_t req) {
  const fuse_ctx* ctx = fuse_req_ctx(req);
  Caller caller;
  caller.uid = ctx->uid;
  caller.gid = ctx->gid;
  return caller;
}

bool name_too_long(const char* name) { return std::strlen(name) > kNameBytesMax; }

}  // namespace

struct FuseMount::Impl : FuseServer {
  using FuseServer::FuseServer;
};

// ---- routing ----

int FuseServer::resolve(fuse_ino_t ino, Node* out) {
  const uint64_t view = ino >> kViewShift;
  out->view = view;
  out->ino = ino & kLocalInoMask;
  if (view == kLiveView) {
    out->fs = &live;
    out->blksize = live_blksize;
    return 0;
  }
  if (view == kControlView) {
    if (snapshots == nullptr || (out->ino != kControlDirIno && out->ino != kSnapshotsDirIno)) {
      return ESTALE;
    }
    out->fs = nullptr;
    return 0;
  }
  std::shared_lock lock(views_mu);
  if (view > views.size()) return ESTALE;
  out->fs = views[view - 1].fs;
  out->blksize = views[view - 1].blksize;
  return 0;
}

// Opens (first time) or finds the view of snapshot `name`; *root is its root.
int FuseServer::open_snapshot_view(const std::string& name, Node* root) {
  {
    std::shared_lock lock(views_mu);
    auto it = view_by_name.find(name);
    if (it != view_by_name.end()) return resolve(kernel_ino(it->second, kRootIno), root);
  }
  Result<LiveFs*> fs = snapshots->open(name);
  if (!fs.is_ok()) return errno_of(fs.status(), "opening snapshot " + name);
  LARES_CHECK(*fs != nullptr);
  const uint32_t blksize = (*fs)->head().recordsize;
  uint64_t view = 0;
  {
    std::unique_lock lock(views_mu);
    auto it = view_by_name.find(name);
    if (it != view_by_name.end()) {
      view = it->second;  // another request opened it meanwhile
    } else {
      if (views.size() >= kMaxSnapshotViews) return ENFILE;
      views.push_back(SnapshotView{name, *fs, blksize});
      view = views.size();
      view_by_name.emplace(name, view);
    }
  }
  return resolve(kernel_ino(view, kRootIno), root);
}

// After a snapshot is destroyed its name may be reused by a new one; the old
// view stays (the kernel may still hold its inodes) but is no longer found.
void FuseServer::forget_view(std::string_view name) {
  std::unique_lock lock(views_mu);
  view_by_name.erase(std::string(name));
}

int FuseServer::control_stat(uint64_t local_ino, struct stat* out) {
  LiveAttr root;
  if (int err = live.getattr(kRootIno, &root); err != 0) return err;
  *out = {};
  out->st_ino = kernel_ino(kControlView, local_ino);
  // .lares is fixed; .lares/snapshots takes mkdir/rmdir from the dataset's owner.
  out->st_mode = S_IFDIR | (local_ino == kSnapshotsDirIno ? 0755 : 0555);
  out->st_nlink = 2;
  out->st_uid = root.inode.uid;
  out->st_gid = root.inode.gid;
  out->st_blksize = 4096;
  out->st_atim = out->st_mtim = out->st_ctim = to_timespec(mounted_ns);
  return 0;
}

// ---- replies ----

void FuseServer::reply_entry(fuse_req_t req, const Node& parent_view, const LiveAttr& attr,
                             Counted counted, double entry_timeout_s) {
  auto give_back = [&] {
    if (counted == Counted::kYes) parent_view.fs->forget(attr.ino, 1);
  };
  if (attr.ino == 0 || attr.ino > kLocalInoMask) {
    // Invariant (header): dataset inode numbers stay below 2^48.
    std::fprintf(stderr, "lares fuse: inode number %llu out of range\n",
                 static_cast<unsigned long long>(attr.ino));
    give_back();
    fuse_reply_err(req, EIO);
    return;
  }
  fuse_entry_param entry{};
  entry.ino = kernel_ino(parent_view.view, attr.ino);
  entry.generation = attr.inode.generation;
  entry.attr = to_stat(attr, entry.ino, parent_view.blksize);
  entry.attr_timeout = kCacheTimeoutS;
  entry.entry_timeout = entry_timeout_s;
  if (fuse_reply_entry(req, &entry) != 0) give_back();  // the kernel did not take it
}

void FuseServer::reply_control_entry(fuse_req_t req, uint64_t local_ino) {
  fuse_entry_param entry{};
  if (int err = control_stat(local_ino, &entry.attr); err != 0) {
    fuse_reply_err(req, err);
    return;
  }
  entry.ino = entry.attr.st_ino;
  entry.attr_timeout = kCacheTimeoutS;
  entry.entry_timeout = kCacheTimeoutS;
  fuse_reply_entry(req, &entry);
}

void FuseServer::reply_attr(fuse_req_t req, const Node& node, const LiveAttr& attr) {
  const struct stat st = to_stat(attr, kernel_ino(node.view, node.ino), node.blksize);
  fuse_reply_attr(req, &st, kCacheTimeoutS);
}

// ---- namespace ----

void FuseServer::lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  if (name_too_long(name)) return (void)fuse_reply_err(req, ENAMETOOLONG);
  Node dir;
  if (int err = resolve(parent, &dir); err != 0) return (void)fuse_reply_err(req, err);
  if (dir.is_control()) return lookup_control(req, dir, name);
  if (is_control_name(dir, name)) return reply_control_entry(req, kControlDirIno);
  LiveAttr attr;
  int err = dir.fs->lookup(dir.ino, name, &attr);
  if (err == ENOENT) {
    // Negative entry: every change goes through this mount (or is a snapshot).
    fuse_entry_param entry{};
    entry.entry_timeout = kCacheTimeoutS;
    fuse_reply_entry(req, &entry);
    return;
  }
  if (err != 0) return (void)fuse_reply_err(req, err);
  reply_entry(req, dir, attr, Counted::kYes, kCacheTimeoutS);
}

void FuseServer::lookup_control(fuse_req_t req, const Node& parent, const std::string& name) {
  if (parent.ino == kControlDirIno) {
    if (name != kSnapshotsDirName) return (void)fuse_reply_err(req, ENOENT);
    return reply_control_entry(req, kSnapshotsDirIno);
  }
  Node root;
  if (int err = open_snapshot_view(name, &root); err != 0) return (void)fuse_reply_err(req, err);
  LiveAttr attr;
  if (int err = root.fs->getattr(kRootIno, &attr); err != 0) {
    return (void)fuse_reply_err(req, err);
  }
  reply_entry(req, root, attr, Counted::kNo, kSnapshotEntryTimeoutS);
}

void FuseServer::forget(fuse_ino_t ino, uint64_t count) {
  Node node;
  if (resolve(ino, &node) != 0 || node.is_control() || node.ino == kRootIno) return;
  node.fs->forget(node.ino, count);
}

void FuseServer::getattr(fuse_req_t req, fuse_ino_t ino) {
  Node node;
  if (int err = resolve(ino, &node); err != 0) return (void)fuse_reply_err(req, err);
  if (node.is_control()) {
    struct stat st {};
    if (int err = control_stat(node.ino, &st); err != 0) return (void)fuse_reply_err(req, err);
    fuse_reply_attr(req, &st, kCacheTimeoutS);
    return;
  }
  LiveAttr attr;
  if (int err = node.fs->getattr(node.ino, &attr); err != 0) {
    return (void)fuse_reply_err(req, err);
  }
  reply_attr(req, node, attr);
}

void FuseServer::setattr(fuse_req_t req, fuse_ino_t ino, const struct stat& attr, int to_set) {
  Node node;
  if (int err = resolve(ino, &node); err != 0) return (void)fuse_reply_err(req, err);
  if (node.is_control()) return (void)fuse_reply_err(req, EPERM);
  if (node.read_only()) return (void)fuse_reply_err(req, EROFS);
  SetAttr changes;
  changes.set_mode = (to_set & FUSE_SET_ATTR_MODE) != 0;
  changes.mode = attr.st_mode & 07777;  // permission bits only; the type never changes
  changes.set_uid = (to_set & FUSE_SET_ATTR_UID) != 0;
  changes.uid = attr.st_uid;
  changes.set_gid = (to_set & FUSE_SET_ATTR_GID) != 0;
  changes.gid = attr.st_gid;
  changes.set_size = (to_set & FUSE_SET_ATTR_SIZE) != 0;  // truncate and ftruncate alike
  if (changes.set_size && attr.st_size < 0) return (void)fuse_reply_err(req, EINVAL);
  changes.size = static_cast<uint64_t>(attr.st_size);
  changes.atime_now = (to_set & FUSE_SET_ATTR_ATIME_NOW) != 0;
  changes.set_atime = changes.atime_now || (to_set & FUSE_SET_ATTR_ATIME) != 0;
  changes.mtime_now = (to_set & FUSE_SET_ATTR_MTIME_NOW) != 0;
  changes.set_mtime = changes.mtime_now || (to_set & FUSE_SET_ATTR_MTIME) != 0;
  changes.set_ctime = (to_set & FUSE_SET_ATTR_CTIME) != 0;
  if ((changes.set_atime && !changes.atime_now && !to_ns(attr.st_atim, &changes.atime_ns)) ||
      (changes.set_mtime && !changes.mtime_now && !to_ns(attr.st_mtim, &changes.mtime_ns)) ||
      (changes.set_ctime && !to_ns(attr.st_ctim, &changes.ctime_ns))) {
    return (void)fuse_reply_err(req, EOVERFLOW);
  }
  LiveAttr out;
  if (int err = node.fs->setattr(node.ino, changes, &out); err != 0) {
    return (void)fuse_reply_err(req, err);
  }
  reply_attr(req, node, out);
}

// mknod and symlink (symlink_target non-null): the checks every creation in
// a folder shares, then the LiveFs call.
void FuseServer::make_node(fuse_req_t req, fuse_ino_t parent, const char* name, uint32_t mode,
                           dev_t rdev, const char* symlink_target) {
  if (name_too_long(name)) return (void)fuse_reply_err(req, ENAMETOOLONG);
  Node dir;
  if (int err = resolve(parent, &dir); err != 0) return (void)fuse_reply_err(req, err);
  if (dir.is_control()) return (void)fuse_reply_err(req, EPERM);
  if (dir.read_only()) return (void)fuse_reply_err(req, EROFS);
  if (is_control_name(dir, name)) return (void)fuse_reply_err(req, EEXIST);
  LiveAttr attr;
  const int err = symlink_target != nullptr
                      ? dir.fs->symlink(dir.ino, name, symlink_target, caller_of(req), &attr)
                      : dir.fs->mknod(dir.ino, name, mode, rdev, caller_of(req), &attr);
  if (err != 0) return (void)fuse_reply_err(req, err);
  reply_entry(req, dir, attr, Counted::kYes, kCacheTimeoutS);
}

void FuseServer::mkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
  if (name_too_long(name)) return (void)fuse_reply_err(req, ENAMETOOLONG);
  Node dir;
  if (int err = resolve(parent, &dir); err != 0) return (void)fuse_reply_err(req, err);
  if (dir.is_control()) {
    if (dir.ino != kSnapshotsDirIno) return (void)fuse_reply_err(req, EPERM);
    Status made = snapshots->create(name);
    if (!made.is_ok()) {
      return (void)fuse_reply_err(req, errno_of(made, std::string("creating snapshot ") + name));
    }
    return lookup_control(req, dir, name);
  }
  if (dir.read_only()) return (void)fuse_reply_err(req, EROFS);
  if (is_control_name(dir, name)) return (void)fuse_reply_err(req, EEXIST);
  LiveAttr attr;
  const uint32_t dir_mode = S_IFDIR | (mode & 07777);
  if (int err = dir.fs->mkdir(dir.ino, name, dir_mode, caller_of(req), &attr); err != 0) {
    return (void)fuse_reply_err(req, err);
  }
  reply_entry(req, dir, attr, Counted::kYes, kCacheTimeoutS);
}

void FuseServer::readlink(fuse_req_t req, fuse_ino_t ino) {
  Node node;
  if (int err = resolve(ino, &node); err != 0) return (void)fuse_reply_err(req, err);
  if (node.is_control()) return (void)fuse_reply_err(req, EINVAL);
  std::string target;
  if (int err = node.fs->readlink(node.ino, &target); err != 0) {
    return (void)fuse_reply_err(req, err);
  }
  fuse_reply_readlink(req, target.c_str());
}

void FuseServer::link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t new_parent, const char* new_name) {
  if (name_too_long(new_name)) return (void)fuse_reply_err(req, ENAMETOOLONG);
  Node node;
  Node dir;
  if (int err = resolve(ino, &node); err != 0) return (void)fuse_reply_err(req, err);
  if (int err = resolve(new_parent, &dir); err != 0) return (void)fuse_reply_err(req, err);
  if (node.view != dir.view) return (void)fuse_reply_err(req, EXDEV);
  if (dir.is_control()) return (void)fuse_reply_err(req, EPERM);
  if (dir.read_only()) return (void)fuse_reply_err(req, EROFS);
  if (is_control_name(dir, new_name)) return (void)fuse_reply_err(req, EEXIST);
  LiveAttr attr;
  if (int err = dir.fs->link(node.ino, dir.ino, new_name, &attr); err != 0) {
    return (void)fuse_reply_err(req, err);
  }
  reply_entry(req, dir, attr, Counted::kYes, kCacheTimeoutS);
}

// unlink and rmdir; rmdir in .lares/snapshots destroys a snapshot.
void FuseServer::remove(fuse_req_t req, fuse_ino_t parent, const char* name, bool is_dir) {
  if (name_too_long(name)) return (void)fuse_reply_err(req, ENAMETOOLONG);
  Node dir;
  if (int err = resolve(parent, &dir); err != 0) return (void)fuse_reply_err(req, err);
  if (dir.is_control()) {
    if (!is_dir || dir.ino != kSnapshotsDirIno) return (void)fuse_reply_err(req, EPERM);
    Status destroyed = snapshots->destroy(name);
    if (!destroyed.is_ok()) {
      return (void)fuse_reply_err(req,
                                  errno_of(destroyed, std::string("destroying snapshot ") + name));
    }
    forget_view(name);
    return (void)fuse_reply_err(req, 0);
  }
  if (dir.read_only()) return (void)fuse_reply_err(req, EROFS);
  if (is_control_name(dir, name)) return (void)fuse_reply_err(req, EBUSY);
  const int err = is_dir ? dir.fs->rmdir(dir.ino, name) : dir.fs->unlink(dir.ino, name);
  fuse_reply_err(req, err);
}

void FuseServer::rename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t new_parent,
                        const char* new_name, unsigned flags) {
  if (name_too_long(name) || name_too_long(new_name)) {
    return (void)fuse_reply_err(req, ENAMETOOLONG);
  }
  if ((flags & ~unsigned{RENAME_NOREPLACE | RENAME_EXCHANGE}) != 0) {
    return (void)fuse_reply_err(req, EINVAL);  // RENAME_WHITEOUT is for overlay filesystems
  }
  Node from;
  Node to;
  if (int err = resolve(parent, &from); err != 0) return (void)fuse_reply_err(req, err);
  if (int err = resolve(new_parent, &to); err != 0) return (void)fuse_reply_err(req, err);
  if (from.view != to.view) return (void)fuse_reply_err(req, EXDEV);
  if (from.is_control()) return (void)fuse_reply_err(req, EPERM);
  if (from.read_only()) return (void)fuse_reply_err(req, EROFS);
  if (is_control_name(from, name) || is_control_name(to, new_name)) {
    return (void)fuse_reply_err(req, EBUSY);
  }
  fuse_reply_err(req, from.fs->rename(from.ino, name, to.ino, new_name, flags));
}

// ---- files ----

// Gives an opened file its handle (which LiveFs, which inode, O_APPEND).
void FuseServer::attach_file(fuse_file_info* fi, LiveFs* fs, uint64_t ino) {
  auto handle = std::make_unique<FileHandle>();
  handle->fs = fs;
  handle->ino = ino;
  handle->append = (fi->flags & O_APPEND) != 0;
  fi->fh = handles.add(std::move(handle));
  // Every write goes through this mount (no writeback cache: write-through),
  // so pages cached from an earlier open are still true.
  fi->keep_cache = 1;
}

void FuseServer::open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  Node node;
  if (int err = resolve(ino, &node); err != 0) return (void)fuse_reply_err(req, err);
  if (node.is_control()) return (void)fuse_reply_err(req, EISDIR);
  const bool writes = (fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC) != 0;
  if (writes && node.read_only()) return (void)fuse_reply_err(req, EROFS);
  if (int err = node.fs->open(node.ino, fi->flags); err != 0) {
    return (void)fuse_reply_err(req, err);
  }
  attach_file(fi, node.fs, node.ino);
  if (fuse_reply_open(req, fi) != 0) {  // interrupted: the kernel holds no handle
    handles.take<FileHandle>(fi);
    node.fs->release(node.ino);
  }
}

void FuseServer::create(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode,
                        fuse_file_info* fi) {
  if (name_too_long(name)) return (void)fuse_reply_err(req, ENAMETOOLONG);
  Node dir;
  if (int err = resolve(parent, &dir); err != 0) return (void)fuse_reply_err(req, err);
  if (dir.is_control()) return (void)fuse_reply_err(req, EPERM);
  if (dir.read_only()) return (void)fuse_reply_err(req, EROFS);
  if (is_control_name(dir, name)) return (void)fuse_reply_err(req, EEXIST);
  LiveAttr attr;
  const uint32_t file_mode = S_IFREG | (mode & 07777);
  int err = dir.fs->mknod(dir.ino, name, file_mode, 0, caller_of(req), &attr);
  if (err == EEXIST && (fi->flags & O_EXCL) == 0) err = lookup_existing_file(dir, name, &attr);
  if (err != 0) return (void)fuse_reply_err(req, err);
  if (attr.ino == 0 || attr.ino > kLocalInoMask) {
    return reply_entry(req, dir, attr, Counted::kYes, kCacheTimeoutS);  // replies EIO
  }
  err = dir.fs->open(attr.ino, fi->flags);
  if (err != 0) {
    dir.fs->forget(attr.ino, 1);
    return (void)fuse_reply_err(req, err);
  }
  attach_file(fi, dir.fs, attr.ino);
  fuse_entry_param entry{};
  entry.ino = kernel_ino(dir.view, attr.ino);
  entry.generation = attr.inode.generation;
  entry.attr = to_stat(attr, entry.ino, dir.blksize);
  entry.attr_timeout = kCacheTimeoutS;
  entry.entry_timeout = kCacheTimeoutS;
  if (fuse_reply_create(req, &entry, fi) != 0) {
    handles.take<FileHandle>(fi);
    dir.fs->release(attr.ino);
    dir.fs->forget(attr.ino, 1);
  }
}

// create(2) without O_EXCL of a name that appeared since the kernel looked
// (it holds the folder locked, so only a change from outside the mount):
// open the file there, as open(2) would. Counts a reference, as mknod does.
int FuseServer::lookup_existing_file(const Node& dir, const char* name, LiveAttr* attr) {
  if (int err = dir.fs->lookup(dir.ino, name, attr); err != 0) return err;
  if (S_ISREG(attr->inode.mode)) return 0;
  dir.fs->forget(attr->ino, 1);
  return S_ISDIR(attr->inode.mode) ? EISDIR : EEXIST;
}

void FuseServer::read(fuse_req_t req, size_t size, off_t offset, fuse_file_info* fi) {
  if (offset < 0) return (void)fuse_reply_err(req, EINVAL);
  const FileHandle& handle = handle_of<FileHandle>(fi);
  Bytes data;
  if (int err = handle.fs->read(handle.ino, static_cast<uint64_t>(offset), size, &data); err != 0) {
    return (void)fuse_reply_err(req, err);
  }
  LARES_CHECK(data.size() <= size);
  fuse_reply_buf(req, reinterpret_cast<const char*>(data.data()), data.size());
}

void FuseServer::write(fuse_req_t req, const char* data, size_t size, off_t offset,
                       fuse_file_info* fi) {
  if (offset < 0) return (void)fuse_reply_err(req, EINVAL);
  const FileHandle& handle = handle_of<FileHandle>(fi);
  const ByteView bytes(reinterpret_cast<const uint8_t*>(data), size);
  uint64_t written_at = 0;
  if (int err = handle.fs->write(handle.ino, static_cast<uint64_t>(offset), bytes, handle.append,
                                 &written_at);
      err != 0) {
    return (void)fuse_reply_err(req, err);
  }
  fuse_reply_write(req, size);
}

void FuseServer::release(fuse_req_t req, fuse_file_info* fi) {
  std::unique_ptr<FileHandle> handle = handles.take<FileHandle>(fi);
  handle->fs->release(handle->ino);
  fuse_reply_err(req, 0);
}

// fsync and fsyncdir: a sync of the whole dataset either way.
void FuseServer::fsync(fuse_req_t req, fuse_ino_t ino, int datasync) {
  Node node;
  if (int err = resolve(ino, &node); err != 0) return (void)fuse_reply_err(req, err);
  if (node.is_control()) return (void)fuse_reply_err(req, 0);
  fuse_reply_err(req, node.fs->fsync(node.ino, datasync != 0));
}

void FuseServer::fallocate(fuse_req_t req, int mode, off_t offset, off_t length,
                           fuse_file_info* fi) {
  if (offset < 0 || length <= 0) return (void)fuse_reply_err(req, EINVAL);
  const FileHandle& handle = handle_of<FileHandle>(fi);
  fuse_reply_err(req, handle.fs->fallocate(handle.ino, mode, static_cast<uint64_t>(offset),
                                           static_cast<uint64_t>(length)));
}

// ---- folders ----

void FuseServer::opendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  Node node;
  if (int err = resolve(ino, &node); err != 0) return (void)fuse_reply_err(req, err);
  auto handle = std::make_unique<DirHandle>();
  // ".." carries the folder's own number: the parent is not known here, and
  // the kernel answers ".." lookups from its own cache.
  handle->slots.push_back(DirSlot{".", ino, S_IFDIR});
  handle->slots.push_back(DirSlot{"..", ino, S_IFDIR});
  if (node.is_control()) {
    if (int err = list_control_dir(node.ino, handle.get()); err != 0) {
      return (void)fuse_reply_err(req, err);
    }
  } else {
    std::vector<LiveDirEntry> entries;
    if (int err = node.fs->list_dir(node.ino, &entries); err != 0) {
      return (void)fuse_reply_err(req, err);
    }
    handle->slots.reserve(entries.size() + 2);
    for (LiveDirEntry& entry : entries) {
      if (is_control_name(node, entry.name)) continue;  // shadowed by the .lares folder
      if (entry.ino == 0 || entry.ino > kLocalInoMask) return (void)fuse_reply_err(req, EIO);
      handle->slots.push_back(
          DirSlot{std::move(entry.name), kernel_ino(node.view, entry.ino), entry.type});
    }
  }
  fi->fh = handles.add(std::move(handle));
  if (fuse_reply_open(req, fi) != 0) handles.take<DirHandle>(fi);
}

int FuseServer::list_control_dir(uint64_t local_ino, DirHandle* out) {
  if (local_ino == kControlDirIno) {
    out->slots.push_back(DirSlot{std::string(kSnapshotsDirName),
                                 kernel_ino(kControlView, kSnapshotsDirIno), S_IFDIR});
    return 0;
  }
  Result<std::vector<std::string>> names = snapshots->list();
  if (!names.is_ok()) return errno_of(names.status(), "listing snapshots");
  std::shared_lock lock(views_mu);
  for (std::string& name : *names) {
    // Snapshots not opened yet have no number; opening every one to list
    // the folder would cost more than an unknown d_ino.
    auto it = view_by_name.find(name);
    const fuse_ino_t ino =
        it != view_by_name.end() ? kernel_ino(it->second, kRootIno) : kUnknownDirIno;
    out->slots.push_back(DirSlot{std::move(name), ino, S_IFDIR});
  }
  return 0;
}

void FuseServer::readdir(fuse_req_t req, size_t size, off_t offset, fuse_file_info* fi) {
  if (offset < 0) return (void)fuse_reply_err(req, EINVAL);
  const DirHandle& handle = handle_of<DirHandle>(fi);
  std::vector<char> buffer(size);
  size_t used = 0;
  for (size_t index = static_cast<size_t>(offset); index < handle.slots.size(); ++index) {
    const DirSlot& slot = handle.slots[index];
    struct stat st {};
    st.st_ino = slot.ino;
    st.st_mode = slot.type;
    const size_t entry_size =
        fuse_add_direntry(req, buffer.data() + used, size - used, slot.name.c_str(), &st,
                          static_cast<off_t>(index + 1));
    if (entry_size > size - used) break;  // did not fit; the next readdir resumes here
    used += entry_size;
  }
  fuse_reply_buf(req, buffer.data(), used);
}

void FuseServer::statfs(fuse_req_t req, fuse_ino_t ino) {
  Node node;
  if (int err = resolve(ino, &node); err != 0) return (void)fuse_reply_err(req, err);
  LiveFs& fs = node.is_control() ? live : *node.fs;
  LiveStatfs info;
  if (int err = fs.statfs(&info); err != 0) return (void)fuse_reply_err(req, err);
  const uint64_t block_size = info.block_size != 0 ? info.block_size : 4096;
  struct statvfs st {};
  st.f_bsize = block_size;
  st.f_frsize = block_size;
  st.f_blocks = info.total_bytes / block_size;
  st.f_bfree = info.free_bytes / block_size;
  st.f_bavail = info.free_bytes / block_size;
  st.f_files = info.files + info.files_free;
  st.f_ffree = info.files_free;
  st.f_favail = info.files_free;
  st.f_namemax = info.name_max;
  fuse_reply_statfs(req, &st);
}

// ---- xattrs ----

void FuseServer::setxattr(fuse_req_t req, fuse_ino_t ino, const char* name, const char* value,
                          size_t size, int flags) {
  Node node;
  if (int err = resolve(ino, &node); err != 0) return (void)fuse_reply_err(req, err);
  if (node.is_control()) return (void)fuse_reply_err(req, EPERM);
  if (node.read_only()) return (void)fuse_reply_err(req, EROFS);
  const ByteView bytes(reinterpret_cast<const uint8_t*>(value), size);
  fuse_reply_err(req, node.fs->setxattr(node.ino, name, bytes, flags));
}

// size 0 asks for the size; a buffer too small is ERANGE (getxattr(2)).
void FuseServer::getxattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size) {
  Node node;
  if (int err = resolve(ino, &node); err != 0) return (void)fuse_reply_err(req, err);
  if (node.is_control()) return (void)fuse_reply_err(req, ENODATA);
  Bytes value;
  if (int err = node.fs->getxattr(node.ino, name, &value); err != 0) {
    return (void)fuse_reply_err(req, err);
  }
  if (size == 0) return (void)fuse_reply_xattr(req, value.size());
  if (size < value.size()) return (void)fuse_reply_err(req, ERANGE);
  fuse_reply_buf(req, reinterpret_cast<const char*>(value.data()), value.size());
}

void FuseServer::listxattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
  Node node;
  if (int err = resolve(ino, &node); err != 0) return (void)fuse_reply_err(req, err);
  std::vector<std::string> names;
  if (!node.is_control()) {
    if (int err = node.fs->listxattr(node.ino, &names); err != 0) {
      return (void)fuse_reply_err(req, err);
    }
  }
  std::string list;  // each name followed by its NUL (listxattr(2))
  for (const std::string& name : names) list.append(name.c_str(), name.size() + 1);
  if (size == 0) return (void)fuse_reply_xattr(req, list.size());
  if (size < list.size()) return (void)fuse_reply_err(req, ERANGE);
  fuse_reply_buf(req, list.data(), list.size());
}

void FuseServer::removexattr(fuse_req_t req, fuse_ino_t ino, const char* name) {
  Node node;
  if (int err = resolve(ino, &node); err != 0) return (void)fuse_reply_err(req, err);
  if (node.is_control()) return (void)fuse_reply_err(req, EPERM);
  if (node.read_only()) return (void)fuse_reply_err(req, EROFS);
  fuse_reply_err(req, node.fs->removexattr(node.ino, name));
}

// ---- the session ----

namespace {

void init_connection(void* /*userdata*/, fuse_conn_info* conn) {
  // O_TRUNC arrives as a setattr; LiveFs handles O_APPEND itself, so no
  // writeback cache; the kernel clears setuid bits on write (by setattr).
  conn->want &= ~(FUSE_CAP_ATOMIC_O_TRUNC | FUSE_CAP_WRITEBACK_CACHE | FUSE_CAP_HANDLE_KILLPRIV |
                  FUSE_CAP_EXPORT_SUPPORT);
  conn->max_write = kMaxWriteBytes;
  conn->time_gran = 1;  // nanoseconds
}

void add_namespace_ops(fuse_lowlevel_ops& ops) {
  ops.lookup = [](fuse_req_t req, fuse_ino_t parent, const char* name) {
    impl_of(req).lookup(req, parent, name);
  };
  ops.forget = [](fuse_req_t req, fuse_ino_t ino, uint64_t count) {
    impl_of(req).forget(ino, count);
    fuse_reply_none(req);
  };
  ops.forget_multi = [](fuse_req_t req, size_t count, fuse_forget_data* forgets) {
    for (size_t i = 0; i < count; ++i) impl_of(req).forget(forgets[i].ino, forgets[i].nlookup);
    fuse_reply_none(req);
  };
  ops.getattr = [](fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
    impl_of(req).getattr(req, ino);
  };
  ops.setattr = [](fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set, fuse_file_info*) {
    impl_of(req).setattr(req, ino, *attr, to_set);
  };
  ops.readlink = [](fuse_req_t req, fuse_ino_t ino) { impl_of(req).readlink(req, ino); };
  ops.mknod = [](fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t rdev) {
    impl_of(req).make_node(req, parent, name, mode, rdev, nullptr);
  };
  ops.mkdir = [](fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
    impl_of(req).mkdir(req, parent, name, mode);
  };
  ops.unlink = [](fuse_req_t req, fuse_ino_t parent, const char* name) {
    impl_of(req).remove(req, parent, name, /*is_dir=*/false);
  };
  ops.rmdir = [](fuse_req_t req, fuse_ino_t parent, const char* name) {
    impl_of(req).remove(req, parent, name, /*is_dir=*/true);
  };
  ops.symlink = [](fuse_req_t req, const char* target, fuse_ino_t parent, const char* name) {
    impl_of(req).make_node(req, parent, name, S_IFLNK | 0777, 0, target);
  };
  ops.rename = [](fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t new_parent,
                  const char* new_name, unsigned flags) {
    impl_of(req).rename(req, parent, name, new_parent, new_name, flags);
  };
  ops.link = [](fuse_req_t req, fuse_ino_t ino, fuse_ino_t new_parent, const char* new_name) {
    impl_of(req).link(req, ino, new_parent, new_name);
  };
}

void add_file_ops(fuse_lowlevel_ops& ops) {
  ops.open = [](fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
    impl_of(req).open(req, ino, fi);
  };
  ops.create = [](fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode,
                  fuse_file_info* fi) { impl_of(req).create(req, parent, name, mode, fi); };
  ops.read = [](fuse_req_t req, fuse_ino_t, size_t size, off_t offset, fuse_file_info* fi) {
    impl_of(req).read(req, size, offset, fi);
  };
  ops.write = [](fuse_req_t req, fuse_ino_t, const char* data, size_t size, off_t offset,
                 fuse_file_info* fi) { impl_of(req).write(req, data, size, offset, fi); };
  // No flush: close(2) has nothing to do here (data is committed by the
  // transaction group, fsync and release), and with no handler the kernel
  // gets ENOSYS once and stops sending FLUSH, one round trip less per close.
  ops.release = [](fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
    impl_of(req).release(req, fi);
  };
  ops.fsync = [](fuse_req_t req, fuse_ino_t ino, int datasync, fuse_file_info*) {
    impl_of(req).fsync(req, ino, datasync);
  };
  ops.fallocate = [](fuse_req_t req, fuse_ino_t, int mode, off_t offset, off_t length,
                     fuse_file_info* fi) { impl_of(req).fallocate(req, mode, offset, length, fi); };
}

void add_folder_and_xattr_ops(fuse_lowlevel_ops& ops) {
  ops.opendir = [](fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
    impl_of(req).opendir(req, ino, fi);
  };
  ops.readdir = [](fuse_req_t req, fuse_ino_t, size_t size, off_t offset, fuse_file_info* fi) {
    impl_of(req).readdir(req, size, offset, fi);
  };
  ops.releasedir = [](fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
    impl_of(req).handles.take<DirHandle>(fi);
    fuse_reply_err(req, 0);
  };
  ops.fsyncdir = [](fuse_req_t req, fuse_ino_t ino, int datasync, fuse_file_info*) {
    impl_of(req).fsync(req, ino, datasync);
  };
  ops.statfs = [](fuse_req_t req, fuse_ino_t ino) { impl_of(req).statfs(req, ino); };
  ops.setxattr = [](fuse_req_t req, fuse_ino_t ino, const char* name, const char* value,
                    size_t size,
                    int flags) { impl_of(req).setxattr(req, ino, name, value, size, flags); };
  ops.getxattr = [](fuse_req_t req, fuse_ino_t ino, const char* name, size_t size) {
    impl_of(req).getxattr(req, ino, name, size);
  };
  ops.listxattr = [](fuse_req_t req, fuse_ino_t ino, size_t size) {
    impl_of(req).listxattr(req, ino, size);
  };
  ops.removexattr = [](fuse_req_t req, fuse_ino_t ino, const char* name) {
    impl_of(req).removexattr(req, ino, name);
  };
}

fuse_lowlevel_ops make_ops() {
  fuse_lowlevel_ops ops{};  // what is left null libfuse answers with ENOSYS or a default
  ops.init = init_connection;
  add_namespace_ops(ops);
  add_file_ops(ops);
  add_folder_and_xattr_ops(ops);
  return ops;
}

// "default_permissions,fsname=...,subtype=lares[,allow_other]" and -d.
std::vector<std::string> session_args(const MountOptions& options) {
  std::string mount_options =
      "default_permissions,fsname=" + escape_option(options.fsname) + ",subtype=lares";
  if (options.allow_other) mount_options += ",allow_other";
  std::vector<std::string> args = {"lares", "-o", mount_options};
  if (options.debug) args.push_back("-d");
  return args;
}

// The mountpoint as an absolute path; it must be an existing empty folder.
Result<std::string> check_mountpoint(const std::string& path) {
  std::error_code ec;
  const std::filesystem::path absolute = std::filesystem::canonical(path, ec);
  if (ec) return Status::not_found("mountpoint " + path + ": " + ec.message());
  if (!std::filesystem::is_directory(absolute, ec)) {
    return Status::invalid_argument("mountpoint " + path + " is not a folder");
  }
  if (!std::filesystem::is_empty(absolute, ec) || ec) {
    return Status::failed_precondition("mountpoint " + path + " is not empty");
  }
  return absolute.string();
}

}  // namespace

Result<std::unique_ptr<FuseMount>> FuseMount::mount(LiveFs& fs, SnapshotProvider* snapshots,
                                                    const MountOptions& options) {
  MountOptions resolved = options;
  ASSIGN_OR_RETURN(resolved.mountpoint, check_mountpoint(options.mountpoint));
  auto impl = std::make_unique<Impl>(fs, snapshots, std::move(resolved));
  impl->live_blksize = fs.head().recordsize;
  impl->mounted_ns = now_ns();

  std::vector<std::string> args = session_args(impl->options);
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  fuse_args fargs = FUSE_ARGS_INIT(static_cast<int>(args.size()), argv.data());
  static const fuse_lowlevel_ops kOps = make_ops();
  FuseServer* server = impl.get();
  impl->session = fuse_session_new(&fargs, &kOps, sizeof(kOps), server);
  fuse_opt_free_args(&fargs);
  if (impl->session == nullptr) {
    return Status::invalid_argument("fuse rejected the mount options (see stderr)");
  }
  if (fuse_session_mount(impl->session, impl->options.mountpoint.c_str()) != 0) {
    fuse_session_destroy(impl->session);
    return Status::io_error("mounting fuse at " + impl->options.mountpoint +
                            " failed (see stderr; is /dev/fuse there, fusermount3 installed?)");
  }
  return std::unique_ptr<FuseMount>(new FuseMount(std::move(impl)));
}

FuseMount::FuseMount(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

FuseMount::~FuseMount() {
  stop();
  {
    std::unique_lock lock(impl_->run_mu);
    impl_->run_cv.wait(lock, [&] { return !impl_->running; });
  }
  fuse_session_unmount(impl_->session);  // no-op when run() unmounted already
  fuse_session_destroy(impl_->session);
  // Files the kernel never released (the session ended first) close now, so
  // an unlinked one is freed.
  for (auto& file : impl_->handles.take_all<FileHandle>()) file->fs->release(file->ino);
  impl_->handles.take_all<DirHandle>();
}

Status FuseMount::run() {
  {
    std::lock_guard lock(impl_->run_mu);
    if (impl_->ran) return Status::failed_precondition("a fuse mount is served only once");
    impl_->ran = true;
    impl_->running = true;
  }
  fuse_loop_config* config = fuse_loop_cfg_create();
  fuse_loop_cfg_set_max_threads(config, std::max(1u, impl_->options.max_threads));
  fuse_loop_cfg_set_clone_fd(config, 0);
  const int rc = fuse_session_loop_mt(impl_->session, config);
  fuse_loop_cfg_destroy(config);
  // The loop has joined its workers, so nothing reads the device any more:
  // unmounting here (it closes the device) cannot race with them, and it
  // ends a stop()'s wake-up request should no worker have taken it.
  fuse_session_unmount(impl_->session);
  {
    std::lock_guard lock(impl_->run_mu);
    impl_->running = false;
  }
  impl_->run_cv.notify_all();
  if (rc < 0) return Status::from_errno(-rc, "serving fuse at " + impl_->options.mountpoint);
  return Status::ok();  // 0: unmounted or stopped; > 0: a signal ended it
}

void FuseMount::stop() {
  fuse_session_exit(impl_->session);
  bool serving = false;
  {
    std::lock_guard lock(impl_->run_mu);
    serving = impl_->running;
  }
  // Workers sleep in read() on the device and look at the exit flag only
  // when a request comes. statfs is never answered from the kernel's cache,
  // so it always wakes one; that worker answers it and ends the loop.
  if (serving) {
    struct statvfs ignored {};
    (void)::statvfs(impl_->options.mountpoint.c_str(), &ignored);
  }
}

// ---- unmount ----

namespace {

// /proc/self/mountinfo escapes space, tab, newline and backslash as \ooo.
std::string unescape_mountinfo(std::string_view field) {
  std::string out;
  for (size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '\\' && i + 3 < field.size()) {
      const std::string_view octal = field.substr(i + 1, 3);
      if (octal.find_first_not_of("01234567") == std::string_view::npos) {
        out.push_back(
            static_cast<char>((octal[0] - '0') * 64 + (octal[1] - '0') * 8 + (octal[2] - '0')));
        i += 3;
        continue;
      }
    }
    out.push_back(field[i]);
  }
  return out;
}

// The filesystem type mounted at `path` ("fuse.lares"), or "" when nothing is.
// The last match wins: it is the mount on top.
std::string mounted_type(const std::string& path) {
  std::string type;
  for (const MountEntry& m : read_mounts()) {
    if (m.mountpoint == path) type = m.fs_type;
  }
  return type;
}

Status run_fusermount_unmount(const std::string& path) {
  std::string program = "fusermount3";
  std::string flag = "-u";
  std::string target = path;
  char* argv[] = {program.data(), flag.data(), target.data(), nullptr};
  pid_t pid = 0;
  if (int err = ::posix_spawnp(&pid, argv[0], nullptr, nullptr, argv, environ); err != 0) {
    return Status::from_errno(err, "running fusermount3");
  }
  int wait_status = 0;
  while (::waitpid(pid, &wait_status, 0) < 0) {
    if (errno != EINTR) return Status::from_errno(errno, "waiting for fusermount3");
  }
  if (!WIFEXITED(wait_status) || WEXITSTATUS(wait_status) != 0) {
    return Status::io_error("fusermount3 -u " + path + " failed (see stderr)");
  }
  return Status::ok();
}

}  // namespace

std::vector<MountEntry> read_mounts() {
  std::vector<MountEntry> out;
  std::ifstream mountinfo("/proc/self/mountinfo");
  std::string line;
  while (std::getline(mountinfo, line)) {
    // id parent major:minor root mountpoint options [optional...] - type source ...
    std::istringstream fields(line);
    std::string id, parent, device, root, mountpoint, word;
    fields >> id >> parent >> device >> root >> mountpoint;
    while (fields >> word && word != "-") {
    }
    MountEntry entry;
    fields >> entry.fs_type >> entry.source;
    if (mountpoint.empty() || entry.fs_type.empty()) continue;
    entry.mountpoint = unescape_mountinfo(mountpoint);
    entry.source = unescape_mountinfo(entry.source);
    out.push_back(std::move(entry));
  }
  return out;
}

Status unmount(const std::string& mountpoint) {
  std::error_code ec;
  const std::filesystem::path absolute = std::filesystem::absolute(mountpoint, ec);
  if (ec) return Status::invalid_argument("mountpoint " + mountpoint + ": " + ec.message());
  // Not canonical(): that would stat the mount, which hangs when its server is stuck.
  const std::string path = absolute.lexically_normal().string();
  const std::string normalized =
      path.size() > 1 && path.back() == '/' ? path.substr(0, path.size() - 1) : path;
  const std::string type = mounted_type(normalized);
  if (type.empty()) return Status::not_found("nothing is mounted at " + normalized);
  if (type != "fuse.lares") {
    return Status::invalid_argument(normalized + " is a " + type + " mount, not a Lares one");
  }
  if (::geteuid() != 0) return run_fusermount_unmount(normalized);
  if (::umount2(normalized.c_str(), 0) != 0) {
    return Status::from_errno(errno, "unmounting " + normalized);
  }
  return Status::ok();
}

}  // namespace lares
