// Capture and restore of POSIX metadata (Linux): see fs/file_meta.h for what
// is restored, in which order, and what is skipped.
#include "fs/file_meta.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace lares {
namespace {

constexpr int64_t kNanosPerSecond = 1'000'000'000;

// ---- Owner names.

// Calls a getpw*_r / getgr*_r function, growing the caller buffer it wants
// (whose size sysconf only hints at) while it says ERANGE. Returns the entry,
// or nullptr where this system has none. `buffer` holds the entry's strings.
template <typename Entry, typename Key, typename Lookup>
const Entry* lookup_entry(Lookup lookup, Key key, int size_hint, Entry* entry,
                          std::vector<char>* buffer) {
  constexpr size_t kMaxBufferBytes = 1 << 20;
  const long hint = ::sysconf(size_hint);
  buffer->resize(hint > 0 ? static_cast<size_t>(hint) : 1024);
  for (;;) {
    Entry* found = nullptr;
    const int err = lookup(key, entry, buffer->data(), buffer->size(), &found);
    if (err == ERANGE && buffer->size() < kMaxBufferBytes) {
      buffer->resize(buffer->size() * 2);
      continue;
    }
    return err == 0 ? found : nullptr;
  }
}

// The lookups below read /etc/passwd or /etc/group (or ask NSS) each time,
// and a backup or restore asks once per file: each thread remembers the
// answers for the length of the process.
template <typename Key, typename Value, typename Lookup>
Value remembered(std::unordered_map<Key, Value>& cache, const Key& key, Lookup lookup) {
  auto it = cache.find(key);
  if (it != cache.end()) return it->second;
  Value value = lookup(key);
  if (cache.size() < 4096) cache.emplace(key, value);
  return value;
}

std::string lookup_user_name(uid_t uid);
std::string lookup_group_name(gid_t gid);
std::optional<uid_t> lookup_user_id(const std::string& name);
std::optional<gid_t> lookup_group_id(const std::string& name);

std::string user_name(uid_t uid) {
  thread_local std::unordered_map<uid_t, std::string> cache;
  return remembered(cache, uid, lookup_user_name);
}
std::string group_name(gid_t gid) {
  thread_local std::unordered_map<gid_t, std::string> cache;
  return remembered(cache, gid, lookup_group_name);
}
std::optional<uid_t> user_id(const std::string& name) {
  thread_local std::unordered_map<std::string, std::optional<uid_t>> cache;
  return remembered(cache, name, lookup_user_id);
}
std::optional<gid_t> group_id(const std::string& name) {
  thread_local std::unordered_map<std::string, std::optional<gid_t>> cache;
  return remembered(cache, name, lookup_group_id);
}

// The user name of `uid`, or "" if this system has none.
std::string lookup_user_name(uid_t uid) {
  passwd entry{};
  std::vector<char> buffer;
  const passwd* found = lookup_entry(::getpwuid_r, uid, _SC_GETPW_R_SIZE_MAX, &entry, &buffer);
  return found != nullptr ? std::string(found->pw_name) : std::string();
}

std::string lookup_group_name(gid_t gid) {
  group entry{};
  std::vector<char> buffer;
  const group* found = lookup_entry(::getgrgid_r, gid, _SC_GETGR_R_SIZE_MAX, &entry, &buffer);
  return found != nullptr ? std::string(found->gr_name) : std::string();
}

// The id this system gives the user `name`, if it has one.
std::optional<uid_t> lookup_user_id(const std::string& name) {
  if (name.empty()) return std::nullopt;
  passwd entry{};
  std::vector<char> buffer;
  const passwd* found =
      lookup_entry(::getpwnam_r, name.c_str(), _SC_GETPW_R_SIZE_MAX, &entry, &buffer);
  return found != nullptr ? std::optional<uid_t>(found->pw_uid) : std::nullopt;
}

std::optional<gid_t> lookup_group_id(const std::string& name) {
  if (name.empty()) return std::nullopt;
  group entry{};
  std::vector<char> buffer;
  const group* found =
      lookup_entry(::getgrnam_r, name.c_str(), _SC_GETGR_R_SIZE_MAX, &entry, &buffer);
  return found != nullptr ? std::optional<gid_t>(found->gr_gid) : std::nullopt;
}

// ---- Capture.

Result<NodeType> node_type(mode_t mode, const std::string& path) {
  if (S_ISREG(mode)) return NodeType::kFile;
  if (S_ISDIR(mode)) return NodeType::kDir;
  if (S_ISLNK(mode)) return NodeType::kSymlink;
  if (S_ISFIFO(mode)) return NodeType::kFifo;
  if (S_ISCHR(mode)) return NodeType::kCharDev;
  if (S_ISBLK(mode)) return NodeType::kBlockDev;
  if (S_ISSOCK(mode)) return NodeType::kSocket;
  return Status::invalid_argument(path + ": unknown file type");
}

// Nanoseconds since the epoch: int64 covers the years 1677 to 2262.
Result<int64_t> to_nanos(const timespec& ts, const std::string& path) {
  int64_t ns = 0;
  if (__builtin_mul_overflow(static_cast<int64_t>(ts.tv_sec), kNanosPerSecond, &ns) ||
      __builtin_add_overflow(ns, static_cast<int64_t>(ts.tv_nsec), &ns)) {
    return Status::invalid_argument(path + ": a timestamp is outside the years 1677..2262");
  }
  return ns;
}

timespec to_timespec(int64_t ns) {
  // Floor division: tv_nsec must be in 0..999999999 for times before 1970 too.
  int64_t seconds = ns / kNanosPerSecond;
  int64_t rest = ns % kNanosPerSecond;
  if (rest < 0) {
    seconds -= 1;
    rest += kNanosPerSecond;
  }
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(seconds);
  ts.tv_nsec = static_cast<long>(rest);
  return ts;
}

Status read_symlink(const std::string& path, std::string* target) {
  // One byte more than the longest target the format allows, to see one that is longer.
  std::string buffer(kMaxSymlinkLength + 1, '\0');
  ssize_t length = ::readlink(path.c_str(), buffer.data(), buffer.size());
  if (length < 0) return Status::from_errno(errno, "readlink " + path);
  if (length == 0 || static_cast<size_t>(length) > kMaxSymlinkLength) {
    return Status::invalid_argument(path + ": symlink target length is outside 1..4095");
  }
  buffer.resize(static_cast<size_t>(length));
  *target = std::move(buffer);
  return Status::ok();
}

bool xattrs_unsupported(int err) { return err == ENOTSUP || err == EOPNOTSUPP; }

// The NUL-separated list of xattr names; empty where the filesystem has none.
Status list_xattr_names(const std::string& path, std::string* names) {
  for (;;) {
    ssize_t size = ::llistxattr(path.c_str(), nullptr, 0);
    if (size < 0) {
      if (xattrs_unsupported(errno)) return Status::ok();
      return Status::from_errno(errno, "llistxattr " + path);
    }
    names->resize(static_cast<size_t>(size));
    if (size == 0) return Status::ok();
    size = ::llistxattr(path.c_str(), names->data(), names->size());
    if (size < 0 && errno == ERANGE) continue;  // the list grew in between
    if (size < 0) return Status::from_errno(errno, "llistxattr " + path);
    names->resize(static_cast<size_t>(size));
    return Status::ok();
  }
}

// One xattr's value; nullopt if it vanished after it was listed.
Result<std::optional<Bytes>> read_xattr(const std::string& path, const std::string& name) {
  for (;;) {
    ssize_t size = ::lgetxattr(path.c_str(), name.c_str(), nullptr, 0);
    if (size < 0 && errno == ENODATA) return std::optional<Bytes>();
    if (size < 0) return Status::from_errno(errno, "lgetxattr " + path + " " + name);
    if (static_cast<size_t>(size) > kMaxXattrValueLength) {
      return Status::invalid_argument(path + ": xattr " + name + " is over 65536 bytes");
    }
    Bytes value(static_cast<size_t>(size));
    size = ::lgetxattr(path.c_str(), name.c_str(), value.data(), value.size());
    if (size < 0 && errno == ERANGE) continue;  // the value grew in between
    if (size < 0 && errno == ENODATA) return std::optional<Bytes>();
    if (size < 0) return Status::from_errno(errno, "lgetxattr " + path + " " + name);
    value.resize(static_cast<size_t>(size));
    return std::optional<Bytes>(std::move(value));
  }
}

Status capture_xattrs(const std::string& path, std::vector<Xattr>* xattrs) {
  std::string names;
  RETURN_IF_ERROR(list_xattr_names(path, &names));
  xattrs->clear();
  size_t start = 0;
  while (start < names.size()) {
    size_t end = names.find('\0', start);
    if (end == std::string::npos) end = names.size();
    std::string name = names.substr(start, end - start);
    start = end + 1;
    if (name.empty()) continue;
    if (name.size() > kMaxNameLength) {
      return Status::invalid_argument(path + ": an xattr name is over 255 bytes");
    }
    ASSIGN_OR_RETURN(std::optional<Bytes> value, read_xattr(path, name));
    if (value.has_value()) xattrs->push_back({std::move(name), std::move(*value)});
  }
  std::sort(xattrs->begin(), xattrs->end(),
            [](const Xattr& a, const Xattr& b) { return a.name < b.name; });
  return Status::ok();
}

// ---- Apply.

void warn(ApplyWarnings* warnings, const std::string& path, const std::string& what) {
  if (warnings != nullptr) warnings->messages.push_back(path + ": " + what);
}

// The owner to restore. Like tar --same-owner, a stored name that exists here
// wins over the stored id: a uid means nothing on another machine, while the
// name is what the user sees (the id is used where the name is unknown here).
std::pair<uid_t, gid_t> owner_to_restore(const Node& node) {
  uid_t uid = user_id(node.user).value_or(node.uid);
  gid_t gid = group_id(node.group).value_or(node.gid);
  return {uid, gid};
}

Status apply_owner(const std::string& path, const Node& node, const struct stat& st,
                   ApplyWarnings* warnings) {
  auto [uid, gid] = owner_to_restore(node);
  if (st.st_uid == uid && st.st_gid == gid) return Status::ok();
  const std::string ids = std::to_string(uid) + ":" + std::to_string(gid);
  if (::geteuid() != 0) {
    warn(warnings, path, "owner " + ids + " not restored (needs root)");
    return Status::ok();
  }
  if (::lchown(path.c_str(), uid, gid) == 0) return Status::ok();
  const int err = errno;
  // Root may still be refused: EINVAL for an id outside this user namespace,
  // EPERM without CAP_CHOWN (a container, an NFS root squash). Like the
  // non-root case, the data is intact: report it and go on.
  if (err == EINVAL || err == EPERM) {
    warn(warnings, path, "owner " + ids + " not restored (" + std::strerror(err) + ")");
    return Status::ok();
  }
  return Status::from_errno(err, "lchown " + path);
}

Status apply_xattrs(const std::string& path, const Node& node, ApplyWarnings* warnings) {
  for (const Xattr& x : node.xattrs) {
    if (::lsetxattr(path.c_str(), x.name.c_str(), x.value.data(), x.value.size(), 0) == 0) continue;
    const int err = errno;
    // EPERM/EACCES: a namespace this process may not write (trusted.* without
    // root, user.* on a symlink or device); ENOTSUP: the filesystem or the
    // namespace is not supported here; E2BIG: over this filesystem's limit.
    if (err == EPERM || err == EACCES || xattrs_unsupported(err) || err == E2BIG) {
      warn(warnings, path, "xattr " + x.name + " not restored (" + std::strerror(err) + ")");
      continue;
    }
    return Status::from_errno(err, "lsetxattr " + path + " " + x.name);
  }
  return Status::ok();
}

Status apply_mode(const std::string& path, const Node& node, ApplyWarnings* warnings) {
  if (::fchmodat(AT_FDCWD, path.c_str(), static_cast<mode_t>(node.mode), 0) != 0) {
    return Status::from_errno(errno, "chmod " + path);
  }
  // The kernel silently drops setgid for a caller outside the file's group.
  if ((node.mode & (S_ISUID | S_ISGID)) != 0) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) return Status::from_errno(errno, "lstat " + path);
    if ((st.st_mode & 07777) != node.mode) {
      warn(warnings, path, "set-id bits of the mode were dropped by the system");
    }
  }
  return Status::ok();
}

Status apply_times(const std::string& path, const Node& node) {
  const timespec times[2] = {to_timespec(node.atime_ns), to_timespec(node.mtime_ns)};
  if (::utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0) {
    return Status::from_errno(errno, "utimensat " + path);
  }
  return Status::ok();
}

}  // namespace

Status capture_metadata(const std::string& path, Node* node) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return Status::from_errno(errno, "lstat " + path);
  ASSIGN_OR_RETURN(node->type, node_type(st.st_mode, path));
  node->mode = st.st_mode & 07777;
  node->uid = st.st_uid;
  node->gid = st.st_gid;
  node->user = user_name(st.st_uid);
  node->group = group_name(st.st_gid);
  ASSIGN_OR_RETURN(node->mtime_ns, to_nanos(st.st_mtim, path));
  ASSIGN_OR_RETURN(node->atime_ns, to_nanos(st.st_atim, path));
  ASSIGN_OR_RETURN(node->ctime_ns, to_nanos(st.st_ctim, path));
  node->inode = st.st_ino;
  node->device = st.st_dev;
  node->nlink = st.st_nlink;
  node->size = node->type == NodeType::kDir ? 0 : static_cast<uint64_t>(st.st_size);
  node->symlink_target.clear();
  if (node->type == NodeType::kSymlink) RETURN_IF_ERROR(read_symlink(path, &node->symlink_target));
  const bool device = node->type == NodeType::kCharDev || node->type == NodeType::kBlockDev;
  node->rdev = device ? st.st_rdev : 0;
  return capture_xattrs(path, &node->xattrs);
}

Status apply_metadata(const std::string& path, const Node& node, ApplyWarnings* warnings) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return Status::from_errno(errno, "lstat " + path);
  // Following a symlink that stands where a file should be would change the
  // file it points to: refuse instead.
  ASSIGN_OR_RETURN(NodeType type, node_type(st.st_mode, path));
  if (type != node.type) {
    return Status::failed_precondition(path + ": is not of the type being restored");
  }
  RETURN_IF_ERROR(apply_owner(path, node, st, warnings));
  RETURN_IF_ERROR(apply_xattrs(path, node, warnings));
  if (node.type != NodeType::kSymlink) RETURN_IF_ERROR(apply_mode(path, node, warnings));
  return apply_times(path, node);
}

Status create_special(const std::string& path, const Node& node) {
  // Created owner-only; apply_metadata sets the stored mode afterwards.
  constexpr mode_t kInitialMode = 0600;
  int rc = -1;
  std::string call;  // stays empty for a type that is not special
  switch (node.type) {
    case NodeType::kSymlink:
      rc = ::symlink(node.symlink_target.c_str(), path.c_str());
      call = "symlink ";
      break;
    case NodeType::kFifo:
      rc = ::mkfifo(path.c_str(), kInitialMode);
      call = "mkfifo ";
      break;
    case NodeType::kCharDev:
    case NodeType::kBlockDev:
    case NodeType::kSocket: {
      const mode_t kind = node.type == NodeType::kCharDev    ? S_IFCHR
                          : node.type == NodeType::kBlockDev ? S_IFBLK
                                                             : S_IFSOCK;
      rc = ::mknod(path.c_str(), kind | kInitialMode,
                   node.type == NodeType::kSocket ? 0 : node.rdev);
      call = "mknod ";
      break;
    }
    case NodeType::kFile:
    case NodeType::kDir: break;
  }
  if (call.empty()) {
    return Status::invalid_argument(path + ": create_special is for special files and symlinks");
  }
  if (rc == 0) return Status::ok();
  const int err = errno;
  if (err == EPERM) {
    return Status::permission_denied(call + path + ": not permitted (devices need root)");
  }
  return Status::from_errno(err, call + path);
}

}  // namespace lares
