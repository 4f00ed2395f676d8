// A seeded random sequence of file-system calls, and a description of the
// tree it leaves, for differential testing: the same seed run on two
// filesystems must give the same log (every call's result) and the same
// tree. On two local folders that shows the harness is deterministic; on a
// Lares mount against tmpfs it finds where Lares differs.
//
// Calls go through paths drawn from a small pool (four names, up to three
// deep), so collisions and errors are frequent: EEXIST, ENOENT, ENOTDIR,
// EISDIR, ENOTEMPTY, EINVAL, ELOOP all come up. Up to four descriptors stay
// open across calls, so files are written after being renamed or unlinked.
// Random draws never depend on call results: the sequence of calls is a
// function of the seed alone.
//
// With threads > 1, thread i works only in <dir>/t<i> with its own seed, so
// its log does not depend on scheduling; the logs are joined in thread order.
// Symlink targets are relative and never contain "..", so nothing resolves
// outside a thread's folder.
//
// Kept out on purpose, because they differ between correct filesystems:
// FALLOC_FL_ZERO_RANGE (tmpfs lacks it), xattr values over 200 bytes (ext4
// limits them), folder sizes and block counts, file descriptor numbers.
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "util/random.h"

namespace lares::testing {

struct OpLog {
  // One line per call: "t<thread> <index> <call and arguments> = <result>",
  // where the result is "ok", a count ("4096", reads add "#<hash>") or an
  // errno name ("ENOENT").
  std::vector<std::string> lines;
  bool operator==(const OpLog&) const = default;
};

namespace op_sequence_detail {

inline uint64_t fnv1a(std::string_view bytes, uint64_t hash = 0xcbf29ce484222325ULL) {
  for (unsigned char c : bytes) {
    hash ^= c;
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

inline std::string hex(uint64_t value) {
  char text[17];
  std::snprintf(text, sizeof(text), "%016llx", static_cast<unsigned long long>(value));
  return text;
}

inline std::string errno_name(int err) {
  const char* name = ::strerrorname_np(err);
  return name != nullptr ? name : "errno" + std::to_string(err);
}

// "ok" for 0, the count for > 0, the errno's name for < 0 (errno as it was
// right after the call: read it before anything else runs).
inline std::string result_of(long rc, int err) {
  if (rc < 0) return errno_name(err);
  return rc == 0 ? "ok" : std::to_string(rc);
}

inline std::string octal(unsigned value) {
  char text[16];
  std::snprintf(text, sizeof(text), "%04o", value);
  return text;
}

// The paths one thread plays with, relative to its folder.
inline const std::vector<std::string>& path_pool() {
  static const std::vector<std::string> pool = [] {
    const char* names[] = {"a", "b", "c", "d"};
    std::vector<std::string> out;
    for (const char* first : names) out.push_back(first);
    for (const char* first : names) {
      for (const char* second : names) out.push_back(std::string(first) + "/" + second);
    }
    for (const char* deep : {"a/a/a", "a/b/c", "b/a/d", "c/c/c", "d/a/b", "a/d/a"}) {
      out.push_back(deep);
    }
    return out;
  }();
  return pool;
}

inline std::string random_bytes(size_t size, uint64_t seed) {
  SeededRandom random(seed);
  std::string out(size, '\0');
  for (size_t i = 0; i < size; i += 8) {
    uint64_t word = random.next();
    const size_t end = std::min(size, i + 8);
    for (size_t j = i; j < end; ++j, word >>= 8) out[j] = static_cast<char>(word & 0xff);
  }
  return out;
}

// One thread's part of the sequence.
class OpRunner {
 public:
  static constexpr size_t kSlots = 4;              // descriptors kept open
  static constexpr uint64_t kOffsetMax = 1 << 20;  // writes start below 1 MiB
  static constexpr size_t kWriteBytesMax = 64 << 10;
  static constexpr uint64_t kTruncateMax = 3 << 19;  // 1.5 MiB

  OpRunner(std::string root, uint64_t seed, int thread)
      : root_(std::move(root)), random_(seed), thread_(thread) {}
  OpRunner(const OpRunner&) = delete;
  OpRunner& operator=(const OpRunner&) = delete;
  ~OpRunner() {
    for (Slot& slot : slots_) close_slot(slot);
  }

  void run(size_t ops) {
    for (size_t index = 0; index < ops; ++index) step(index);
  }
  std::vector<std::string>& lines() { return lines_; }

 private:
  struct Slot {
    int fd = -1;
    std::string path;  // as opened (the file may since have moved)
  };
  using Op = void (OpRunner::*)();
  struct WeightedOp {
    unsigned weight;
    Op op;
  };

  void step(size_t index) {
    static constexpr WeightedOp kOps[] = {
        {8, &OpRunner::create},    {8, &OpRunner::open},        {2, &OpRunner::close},
        {8, &OpRunner::write},     {10, &OpRunner::pwrite},     {6, &OpRunner::read},
        {6, &OpRunner::pread},     {3, &OpRunner::truncate},    {3, &OpRunner::ftruncate},
        {3, &OpRunner::fallocate}, {4, &OpRunner::mkdir},       {4, &OpRunner::rmdir},
        {5, &OpRunner::unlink},    {6, &OpRunner::rename},      {3, &OpRunner::link},
        {3, &OpRunner::symlink},   {3, &OpRunner::chmod},       {3, &OpRunner::utimens},
        {4, &OpRunner::setxattr},  {2, &OpRunner::removexattr}, {1, &OpRunner::getxattr},
        {1, &OpRunner::fsync},     {1, &OpRunner::stat},        {1, &OpRunner::readdir},
    };
    unsigned total = 0;
    for (const WeightedOp& op : kOps) total += op.weight;
    uint64_t pick = random_.uniform(total);
    prefix_ = "t" + std::to_string(thread_) + " " + std::to_string(index) + " ";
    for (const WeightedOp& op : kOps) {
      if (pick < op.weight) return (this->*op.op)();
      pick -= op.weight;
    }
  }

  void log(const std::string& call, long rc, int err) {
    lines_.push_back(prefix_ + call + " = " + result_of(rc, err));
  }
  // Two in five calls at the top, two in five one down, one deeper: enough
  // folders to nest in, not so deep that most paths cross a file (ENOTDIR).
  std::string pick_path() {
    const uint64_t depth_pick = random_.uniform(5);
    const uint64_t index = random_.next();
    if (depth_pick < 2) return path_pool()[index % 4];
    if (depth_pick < 4) return path_pool()[4 + index % 16];
    return path_pool()[20 + index % (path_pool().size() - 20)];
  }
  std::string full(const std::string& relative) const { return root_ + "/" + relative; }
  // A random slot for open; for calls on a descriptor, the first open slot
  // from a random start (a function of the state, which is itself the same
  // on every run), so few calls find no descriptor.
  Slot& pick_slot(size_t* index) {
    *index = random_.uniform(kSlots);
    return slots_[*index];
  }
  Slot& pick_open_slot(size_t* index) {
    const size_t start = random_.uniform(kSlots);
    *index = start;
    for (size_t i = 0; i < kSlots; ++i) {
      if (slots_[(start + i) % kSlots].fd >= 0) {
        *index = (start + i) % kSlots;
        break;
      }
    }
    return slots_[*index];
  }
  static void close_slot(Slot& slot) {
    if (slot.fd >= 0) ::close(slot.fd);
    slot.fd = -1;
    slot.path.clear();
  }
  // The call on an empty slot is logged as such (same on every filesystem).
  bool empty(const Slot& slot, const std::string& call) {
    if (slot.fd >= 0) return false;
    lines_.push_back(prefix_ + call + " = no-fd");
    return true;
  }
  static std::string slot_name(size_t index) { return "fd" + std::to_string(index); }

  void create() {
    const std::string path = pick_path();
    const bool exclusive = random_.uniform(2) == 0;
    const mode_t mode = kFileModes[random_.uniform(std::size(kFileModes))];
    const int fd =
        ::open(full(path).c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | (exclusive ? O_EXCL : 0), mode);
    const int err = errno;
    if (fd >= 0) ::close(fd);
    log("create " + path + (exclusive ? " excl " : " ") + octal(mode), fd < 0 ? -1 : 0, err);
  }

  void open() {
    size_t index = 0;
    Slot& slot = pick_slot(&index);
    const std::string path = pick_path();
    static constexpr int kAccess[] = {O_RDONLY, O_WRONLY, O_RDWR, O_RDWR};
    int flags = kAccess[random_.uniform(std::size(kAccess))];
    const uint64_t extras = random_.next();
    if ((extras & 3) != 0) flags |= O_CREAT;
    if ((extras & 12) == 12) flags |= O_EXCL;
    if ((extras & 48) == 48) flags |= O_TRUNC;
    if ((extras & 64) != 0) flags |= O_APPEND;
    close_slot(slot);
    const int fd = ::open(full(path).c_str(), flags | O_CLOEXEC, 0644);
    const int err = errno;
    if (fd >= 0) slot = Slot{fd, path};
    log("open " + slot_name(index) + " " + path + " flags=" + octal(static_cast<unsigned>(flags)),
        fd < 0 ? -1 : 0, err);
  }

  void close() {
    size_t index = 0;
    Slot& slot = pick_open_slot(&index);
    const std::string call = "close " + slot_name(index);
    if (empty(slot, call)) return;
    close_slot(slot);
    log(call, 0, 0);
  }

  void write() { write_at(/*positioned=*/false); }
  void pwrite() { write_at(/*positioned=*/true); }
  void write_at(bool positioned) {
    size_t index = 0;
    Slot& slot = pick_open_slot(&index);
    const uint64_t offset = random_.uniform(kOffsetMax);
    const size_t size =
        random_.uniform(4) == 0 ? random_.uniform(16) : random_.uniform(kWriteBytesMax);
    const uint64_t data_seed = random_.next();
    const std::string call = std::string(positioned ? "pwrite " : "write ") + slot_name(index) +
                             (positioned ? " @" + std::to_string(offset) : "") + " +" +
                             std::to_string(size);
    if (empty(slot, call)) return;
    const std::string data = random_bytes(size, data_seed);
    const ssize_t n = positioned ? ::pwrite(slot.fd, data.data(), size, static_cast<off_t>(offset))
                                 : ::write(slot.fd, data.data(), size);
    const int err = errno;
    log(call, n, err);
  }

  void read() { read_at(/*positioned=*/false); }
  void pread() { read_at(/*positioned=*/true); }
  void read_at(bool positioned) {
    size_t index = 0;
    Slot& slot = pick_open_slot(&index);
    const uint64_t offset = random_.uniform(kTruncateMax + 4096);
    const size_t size = random_.uniform(kWriteBytesMax * 2);
    const std::string call = std::string(positioned ? "pread " : "read ") + slot_name(index) +
                             (positioned ? " @" + std::to_string(offset) : "") + " +" +
                             std::to_string(size);
    if (empty(slot, call)) return;
    std::string buffer(size, '\0');
    const ssize_t n = positioned ? ::pread(slot.fd, buffer.data(), size, static_cast<off_t>(offset))
                                 : ::read(slot.fd, buffer.data(), size);
    const int err = errno;
    if (n < 0) return log(call, n, err);
    buffer.resize(static_cast<size_t>(n));
    lines_.push_back(prefix_ + call + " = " + std::to_string(n) + "#" + hex(fnv1a(buffer)));
  }

  void truncate() {
    const std::string path = pick_path();
    const uint64_t size = random_.uniform(kTruncateMax);
    const int rc = ::truncate(full(path).c_str(), static_cast<off_t>(size));
    const int err = errno;
    log("truncate " + path + " " + std::to_string(size), rc, err);
  }

  void ftruncate() {
    size_t index = 0;
    Slot& slot = pick_open_slot(&index);
    const uint64_t size = random_.uniform(kTruncateMax);
    const std::string call = "ftruncate " + slot_name(index) + " " + std::to_string(size);
    if (empty(slot, call)) return;
    const int rc = ::ftruncate(slot.fd, static_cast<off_t>(size));
    const int err = errno;
    log(call, rc, err);
  }

  void fallocate() {
    size_t index = 0;
    Slot& slot = pick_open_slot(&index);
    static constexpr int kModes[] = {0, FALLOC_FL_KEEP_SIZE,
                                     FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE};
    const int mode = kModes[random_.uniform(std::size(kModes))];
    const uint64_t offset = random_.uniform(kOffsetMax);
    const uint64_t length = random_.uniform(kWriteBytesMax * 4) + 1;
    const std::string call = "fallocate " + slot_name(index) + " mode=" + std::to_string(mode) +
                             " @" + std::to_string(offset) + " +" + std::to_string(length);
    if (empty(slot, call)) return;
    const int rc =
        ::fallocate(slot.fd, mode, static_cast<off_t>(offset), static_cast<off_t>(length));
    const int err = errno;
    log(call, rc, err);
  }

  void mkdir() {
    const std::string path = pick_path();
    static constexpr mode_t kModes[] = {0755, 0700, 0777};
    const mode_t mode = kModes[random_.uniform(std::size(kModes))];
    const int rc = ::mkdir(full(path).c_str(), mode);
    const int err = errno;
    log("mkdir " + path + " " + octal(mode), rc, err);
  }

  void rmdir() {
    const std::string path = pick_path();
    const int rc = ::rmdir(full(path).c_str());
    const int err = errno;
    log("rmdir " + path, rc, err);
  }

  void unlink() {
    const std::string path = pick_path();
    const int rc = ::unlink(full(path).c_str());
    const int err = errno;
    log("unlink " + path, rc, err);
  }

  void rename() {
    const std::string from = pick_path();
    const std::string to = pick_path();
    static constexpr unsigned kFlags[] = {0, 0, 0, RENAME_NOREPLACE, RENAME_EXCHANGE};
    const unsigned flags = kFlags[random_.uniform(std::size(kFlags))];
    const int rc = ::renameat2(AT_FDCWD, full(from).c_str(), AT_FDCWD, full(to).c_str(), flags);
    const int err = errno;
    log("rename " + from + " " + to + " flags=" + std::to_string(flags), rc, err);
  }

  void link() {
    const std::string from = pick_path();
    const std::string to = pick_path();
    const int rc = ::link(full(from).c_str(), full(to).c_str());
    const int err = errno;
    log("link " + from + " " + to, rc, err);
  }

  void symlink() {
    static constexpr const char* kTargets[] = {"a", "b", "c/d", "nowhere", "a/b/c", "d"};
    const char* target = kTargets[random_.uniform(std::size(kTargets))];
    const std::string path = pick_path();
    const int rc = ::symlink(target, full(path).c_str());
    const int err = errno;
    log("symlink " + std::string(target) + " " + path, rc, err);
  }

  void chmod() {
    const std::string path = pick_path();
    // The owner keeps rwx, so an unprivileged run can still clean up.
    static constexpr mode_t kModes[] = {0700, 0755, 0744, 0711, 0777, 01777, 02755, 04755};
    const mode_t mode = kModes[random_.uniform(std::size(kModes))];
    const int rc = ::chmod(full(path).c_str(), mode);
    const int err = errno;
    log("chmod " + path + " " + octal(mode), rc, err);
  }

  void utimens() {
    const std::string path = pick_path();
    timespec times[2];
    for (timespec& time : times) {
      time.tv_sec = static_cast<time_t>(random_.uniform(4'000'000'000));
      time.tv_nsec = static_cast<long>(random_.uniform(1'000'000'000));
      const uint64_t special = random_.uniform(10);
      if (special == 0) time.tv_nsec = UTIME_OMIT;
      if (special == 1) time.tv_nsec = UTIME_NOW;
    }
    const int flags = random_.uniform(2) == 0 ? AT_SYMLINK_NOFOLLOW : 0;
    const int rc = ::utimensat(AT_FDCWD, full(path).c_str(), times, flags);
    const int err = errno;
    log("utimens " + path + " " + std::to_string(times[0].tv_sec) + "." +
            std::to_string(times[0].tv_nsec) + " " + std::to_string(times[1].tv_sec) + "." +
            std::to_string(times[1].tv_nsec) + (flags != 0 ? " nofollow" : ""),
        rc, err);
  }

  std::string pick_xattr_name() {
    static constexpr const char* kNames[] = {"user.a", "user.b", "user.c"};
    return kNames[random_.uniform(std::size(kNames))];
  }

  void setxattr() {
    const std::string path = pick_path();
    const std::string name = pick_xattr_name();
    static constexpr int kFlags[] = {0, 0, XATTR_CREATE, XATTR_REPLACE};
    const int flags = kFlags[random_.uniform(std::size(kFlags))];
    const std::string value = random_bytes(random_.uniform(201), random_.next());
    const int rc = ::lsetxattr(full(path).c_str(), name.c_str(), value.data(), value.size(), flags);
    const int err = errno;
    log("setxattr " + path + " " + name + " +" + std::to_string(value.size()) +
            " flags=" + std::to_string(flags),
        rc, err);
  }

  void removexattr() {
    const std::string path = pick_path();
    const std::string name = pick_xattr_name();
    const int rc = ::lremovexattr(full(path).c_str(), name.c_str());
    const int err = errno;
    log("removexattr " + path + " " + name, rc, err);
  }

  void getxattr() {
    const std::string path = pick_path();
    const std::string name = pick_xattr_name();
    std::string value(256, '\0');
    const ssize_t n = ::lgetxattr(full(path).c_str(), name.c_str(), value.data(), value.size());
    const int err = errno;
    const std::string call = "getxattr " + path + " " + name;
    if (n < 0) return log(call, n, err);
    value.resize(static_cast<size_t>(n));
    lines_.push_back(prefix_ + call + " = " + std::to_string(n) + "#" + hex(fnv1a(value)));
  }

  void fsync() {
    size_t index = 0;
    Slot& slot = pick_open_slot(&index);
    const bool data_only = random_.uniform(2) == 0;
    const std::string call = std::string(data_only ? "fdatasync " : "fsync ") + slot_name(index);
    if (empty(slot, call)) return;
    const int rc = data_only ? ::fdatasync(slot.fd) : ::fsync(slot.fd);
    const int err = errno;
    log(call, rc, err);
  }

  // What a program would see mid-sequence: type, size (files), links.
  void stat() {
    const std::string path = pick_path();
    struct stat st {};
    const int rc = ::lstat(full(path).c_str(), &st);
    const int err = errno;
    if (rc != 0) return log("lstat " + path, rc, err);
    std::string summary =
        "type=" + octal((st.st_mode & S_IFMT) >> 12) + " mode=" + octal(st.st_mode & 07777);
    if (!S_ISDIR(st.st_mode)) summary += " size=" + std::to_string(st.st_size);
    summary += " nlink=" + std::to_string(st.st_nlink);
    lines_.push_back(prefix_ + "lstat " + path + " = " + summary);
  }

  void readdir() {
    const std::string path = random_.uniform(4) == 0 ? std::string(".") : pick_path();
    DIR* dir = ::opendir(full(path).c_str());
    const int err = errno;
    if (dir == nullptr) return log("readdir " + path, -1, err);
    std::vector<std::string> names;
    while (const dirent* entry = ::readdir(dir)) names.push_back(entry->d_name);
    ::closedir(dir);
    std::sort(names.begin(), names.end());
    std::string joined;
    for (const std::string& name : names) joined += name + "/";
    lines_.push_back(prefix_ + "readdir " + path + " = " + joined);
  }

  static constexpr mode_t kFileModes[] = {0644, 0600, 0755, 0444, 0640};

  const std::string root_;
  SeededRandom random_;
  const int thread_;
  std::array<Slot, kSlots> slots_;
  std::string prefix_;
  std::vector<std::string> lines_;
};

// Lists one folder's entries (sorted by name), depth first.
struct TreeEntry {
  std::string path;  // relative to the root
  struct stat st;
};

inline void collect_tree(const std::string& root, std::vector<TreeEntry>* out) {
  std::vector<std::string> pending = {""};  // folders still to list, relative
  while (!pending.empty()) {
    const std::string relative = pending.back();
    pending.pop_back();
    DIR* dir = ::opendir((root + (relative.empty() ? "" : "/" + relative)).c_str());
    if (dir == nullptr) {
      const int err = errno;
      out->push_back(TreeEntry{relative + " <opendir: " + errno_name(err) + ">", {}});
      continue;
    }
    std::vector<std::string> names;
    while (const dirent* entry = ::readdir(dir)) {
      const std::string_view name = entry->d_name;
      if (name != "." && name != "..") names.emplace_back(name);
    }
    ::closedir(dir);
    std::sort(names.begin(), names.end());
    std::vector<std::string> subfolders;
    for (const std::string& name : names) {
      TreeEntry entry{relative.empty() ? name : relative + "/" + name, {}};
      if (::lstat((root + "/" + entry.path).c_str(), &entry.st) != 0) {
        const int err = errno;
        entry.path += " <lstat: " + errno_name(err) + ">";
      } else if (S_ISDIR(entry.st.st_mode)) {
        subfolders.push_back(entry.path);
      }
      out->push_back(std::move(entry));
    }
    // Reversed onto the stack so folders are described in name order.
    pending.insert(pending.end(), subfolders.rbegin(), subfolders.rend());
  }
}

inline std::string content_hash(const std::string& file) {
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return "<open: " + errno_name(errno) + ">";
  uint64_t hash = fnv1a("");
  std::string buffer(1 << 20, '\0');
  for (;;) {
    const ssize_t n = ::read(fd, buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      return "<read: " + errno_name(err) + ">";
    }
    if (n == 0) break;
    hash = fnv1a(std::string_view(buffer.data(), static_cast<size_t>(n)), hash);
  }
  ::close(fd);
  return hex(hash);
}

// user.* attributes only: others (security.*, system.*) depend on the host.
inline std::string xattr_summary(const std::string& path) {
  std::string names(65536, '\0');
  const ssize_t size = ::llistxattr(path.c_str(), names.data(), names.size());
  if (size < 0) return errno == ENOTSUP ? "" : " xattrs=<" + errno_name(errno) + ">";
  std::vector<std::string> sorted;
  for (size_t at = 0; at < static_cast<size_t>(size);) {
    std::string name(names.c_str() + at);
    at += name.size() + 1;
    if (name.rfind("user.", 0) == 0) sorted.push_back(std::move(name));
  }
  if (sorted.empty()) return "";
  std::sort(sorted.begin(), sorted.end());
  std::string out = " xattrs=[";
  for (const std::string& name : sorted) {
    std::string value(65536, '\0');
    const ssize_t n = ::lgetxattr(path.c_str(), name.c_str(), value.data(), value.size());
    const int err = errno;
    value.resize(n < 0 ? 0 : static_cast<size_t>(n));
    out +=
        name + ":" + (n < 0 ? errno_name(err) : std::to_string(n) + "#" + hex(fnv1a(value))) + ",";
  }
  out.back() = ']';
  return out;
}

}  // namespace op_sequence_detail

enum class TreeTimes { kInclude, kExclude };

// Every path under `dir` (not `dir` itself), one line each in name order:
// type, permission bits, owner, then per type: files their size and content
// hash, symlinks their target, devices their rdev; every entry its user.*
// xattrs and `nlink=<st_nlink>/<expected>`, where expected counts the names
// of that inode in the tree (a folder: 2 + its subfolders) and a "!" marks
// a difference; a further name of a hard-linked inode says `same_as` its
// first one. kInclude adds mtime in ns (times set by the clock differ from
// run to run; kExclude leaves them out). Folder sizes and block counts are
// left out: they differ between correct filesystems.
inline std::string describe_tree(const std::string& dir, TreeTimes times = TreeTimes::kInclude) {
  using namespace op_sequence_detail;
  std::vector<TreeEntry> entries;
  collect_tree(dir, &entries);
  std::map<std::pair<dev_t, ino_t>, std::vector<size_t>> names_of_inode;
  std::map<std::string, size_t> subfolders;  // folder -> its subfolders
  for (size_t i = 0; i < entries.size(); ++i) {
    const TreeEntry& entry = entries[i];
    if (entry.st.st_mode == 0) continue;  // could not be listed or stat'ed
    names_of_inode[{entry.st.st_dev, entry.st.st_ino}].push_back(i);
    if (S_ISDIR(entry.st.st_mode)) {
      const size_t slash = entry.path.rfind('/');
      ++subfolders[slash == std::string::npos ? "" : entry.path.substr(0, slash)];
    }
  }
  std::string out;
  for (const TreeEntry& entry : entries) {
    const struct stat& st = entry.st;
    out += entry.path;
    if (st.st_mode == 0) {
      out += "\n";
      continue;
    }
    const std::string full = dir + "/" + entry.path;
    const mode_t type = st.st_mode & S_IFMT;
    out += std::string(" ") + (type == S_IFDIR    ? "dir"
                               : type == S_IFREG  ? "file"
                               : type == S_IFLNK  ? "symlink"
                               : type == S_IFIFO  ? "fifo"
                               : type == S_IFSOCK ? "socket"
                                                  : "device");
    out += " mode=" + octal(st.st_mode & 07777) + " owner=" + std::to_string(st.st_uid) + ":" +
           std::to_string(st.st_gid);
    const std::vector<size_t>& names = names_of_inode[{st.st_dev, st.st_ino}];
    uint64_t expected_links = names.size();
    if (type == S_IFDIR) {
      expected_links = 2 + subfolders[entry.path];
    } else if (type == S_IFREG) {
      out += " size=" + std::to_string(st.st_size) + " hash=" + content_hash(full);
    } else if (type == S_IFLNK) {
      std::string target(4096, '\0');
      const ssize_t n = ::readlink(full.c_str(), target.data(), target.size());
      target.resize(n < 0 ? 0 : static_cast<size_t>(n));
      out += " -> " + (n < 0 ? "<" + errno_name(errno) + ">" : target);
    } else if (type == S_IFCHR || type == S_IFBLK) {
      out += " rdev=" + std::to_string(major(st.st_rdev)) + "," + std::to_string(minor(st.st_rdev));
    }
    out += " nlink=" + std::to_string(st.st_nlink) + "/" + std::to_string(expected_links) +
           (st.st_nlink != expected_links ? "!" : "");
    if (names.size() > 1 && entries[names.front()].path != entry.path) {
      out += " same_as=" + entries[names.front()].path;
    }
    out += xattr_summary(full);
    if (times == TreeTimes::kInclude) {
      out += " mtime=" + std::to_string(static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 +
                                        st.st_mtim.tv_nsec);
    }
    out += "\n";
  }
  return out;
}

// Runs `ops` calls (split evenly over `threads`, each in <dir>/t<i>) and
// returns what each returned. REQUIRES: `dir` exists and is empty; threads >= 1.
inline OpLog run_op_sequence(const std::string& dir, uint64_t seed, size_t ops, int threads) {
  using op_sequence_detail::OpRunner;
  const size_t thread_count = static_cast<size_t>(std::max(threads, 1));
  std::vector<std::unique_ptr<OpRunner>> runners;
  OpLog log;
  for (size_t i = 0; i < thread_count; ++i) {
    const std::string root = dir + "/t" + std::to_string(i);
    // Each thread's folder, mode fixed whatever the umask.
    if (::mkdir(root.c_str(), 0755) != 0 || ::chmod(root.c_str(), 0755) != 0) {
      const int err = errno;
      log.lines.push_back("setup mkdir " + root + " = " + op_sequence_detail::errno_name(err));
      return log;
    }
    const uint64_t thread_seed = seed ^ (0x9e3779b97f4a7c15ULL * (i + 1));
    runners.push_back(std::make_unique<OpRunner>(root, thread_seed, static_cast<int>(i)));
  }
  const size_t per_thread = ops / thread_count;
  auto ops_of = [&](size_t i) { return per_thread + (i < ops % thread_count ? 1 : 0); };
  if (thread_count == 1) {
    runners[0]->run(ops);
  } else {
    std::vector<std::thread> workers;
    for (size_t i = 0; i < thread_count; ++i) {
      workers.emplace_back([&runners, i, count = ops_of(i)] { runners[i]->run(count); });
    }
    for (std::thread& worker : workers) worker.join();
  }
  for (auto& runner : runners) {
    std::vector<std::string>& lines = runner->lines();
    log.lines.insert(log.lines.end(), std::make_move_iterator(lines.begin()),
                     std::make_move_iterator(lines.end()));
  }
  return log;
}

// The first line where two logs differ, with the line before it; "" when
// they are equal.
inline std::string first_difference(const OpLog& a, const OpLog& b) {
  const size_t common = std::min(a.lines.size(), b.lines.size());
  for (size_t i = 0; i < common; ++i) {
    if (a.lines[i] != b.lines[i]) {
      return "line " + std::to_string(i) + (i > 0 ? "\n  before: " + a.lines[i - 1] : "") +
             "\n  first:  " + a.lines[i] + "\n  second: " + b.lines[i];
    }
  }
  if (a.lines.size() != b.lines.size()) {
    return "lengths differ: " + std::to_string(a.lines.size()) + " and " +
           std::to_string(b.lines.size());
  }
  return "";
}

}  // namespace lares::testing
