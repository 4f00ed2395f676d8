// Files and the fsync discipline every durable write follows.
//
// Durable replace of a file (write_file_atomic):
//   1. write <name>.<random>.tmp in the same directory, fsync it;
//   2. rename over <name>;
//   3. fsync the directory.
// A crash leaves either the old or the new file, never a torn one; stray
// *.tmp files are garbage to be removed by whoever owns the directory.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "util/bytes.h"
#include "util/status.h"

namespace lares {

enum class Sync { kNo, kYes };

// An owned file descriptor, closed on destruction.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd();

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_ = -1;
};

Result<UniqueFd> open_file(const std::string& path, int flags, mode_t mode = 0644);

// Reads exactly buf.size() bytes at offset; a short file is kCorruption
// (the caller asked for bytes a valid file must have).
Status pread_exact(int fd, MutableByteView buf, uint64_t offset, const std::string& path);
Status pwrite_all(int fd, ByteView buf, uint64_t offset, const std::string& path);
// Writes the pieces back to back from `offset` in as few system calls as
// possible (one, unless the kernel writes short): with direct I/O each call
// is a round trip to the disk.
Status pwritev_all(int fd, std::vector<ByteView> pieces, uint64_t offset, const std::string& path);
Status fsync_fd(int fd, const std::string& path);
Status fsync_dir(const std::string& dir);

Result<Bytes> read_file(const std::string& path);
Result<uint64_t> file_size(const std::string& path);
Status write_file_atomic(const std::string& path, ByteView data, Sync sync = Sync::kYes);
// Creates the directory and missing parents (mode 0755), fsyncing each
// parent that gained an entry; existing is fine.
Status make_dirs(const std::string& path);
Status remove_file(const std::string& path);
bool path_exists(const std::string& path);
bool is_directory(const std::string& path);
Result<std::vector<std::string>> list_dir(const std::string& path);

std::string join_path(const std::string& a, const std::string& b);
std::string parent_dir(const std::string& path);
std::string absolute_path(const std::string& path);

struct SpaceInfo {
  uint64_t total_bytes = 0;
  uint64_t available_bytes = 0;
};
Result<SpaceInfo> filesystem_space(const std::string& path);

// An exclusive advisory lock (flock) on a file, released on destruction or
// when the process dies, so a kill -9 never leaves a stale lock.
class FileLock {
 public:
  // Fails with kBusy, naming the holder's pid, when another process holds it.
  static Result<FileLock> acquire(const std::string& path, const std::string& what);
  FileLock(FileLock&&) = default;
  FileLock& operator=(FileLock&&) = default;

 private:
  explicit FileLock(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
};

}  // namespace lares
