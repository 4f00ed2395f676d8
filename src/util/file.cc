#include "util/file.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>

#include "util/random.h"

namespace lares {

UniqueFd& UniqueFd::operator=(UniqueFd&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.release();
  }
  return *this;
}

UniqueFd::~UniqueFd() {
  if (fd_ >= 0) ::close(fd_);
}

Result<UniqueFd> open_file(const std::string& path, int flags, mode_t mode) {
  int fd;
  do {
    fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return Status::from_errno(errno, "open " + path);
  return UniqueFd(fd);
}

Status pread_exact(int fd, MutableByteView buf, uint64_t offset, const std::string& path) {
  size_t done = 0;
  while (done < buf.size()) {
    ssize_t n =
        ::pread(fd, buf.data() + done, buf.size() - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::from_errno(errno, "read " + path);
    }
    if (n == 0) {
      return Status::corruption("read " + path + ": file ends at " + std::to_string(offset + done) +
                                ", expected " + std::to_string(offset + buf.size()) + " bytes");
    }
    done += static_cast<size_t>(n);
  }
  return Status::ok();
}

Status pwrite_all(int fd, ByteView buf, uint64_t offset, const std::string& path) {
  size_t done = 0;
  while (done < buf.size()) {
    ssize_t n =
        ::pwrite(fd, buf.data() + done, buf.size() - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::from_errno(errno, "write " + path);
    }
    done += static_cast<size_t>(n);
  }
  return Status::ok();
}

Status pwritev_all(int fd, std::vector<ByteView> pieces, uint64_t offset, const std::string& path) {
  size_t first = 0;
  while (first < pieces.size()) {
    std::vector<struct iovec> iov;
    for (size_t i = first; i < pieces.size(); ++i) {
      iov.push_back({const_cast<uint8_t*>(pieces[i].data()), pieces[i].size()});
    }
    ssize_t n = ::pwritev(fd, iov.data(), static_cast<int>(iov.size()), static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::from_errno(errno, "write " + path);
    }
    offset += static_cast<uint64_t>(n);
    // Drop what was written, then go on with the rest.
    auto left = static_cast<size_t>(n);
    while (first < pieces.size() && left >= pieces[first].size()) left -= pieces[first++].size();
    if (first < pieces.size()) pieces[first] = pieces[first].subspan(left);
    while (first < pieces.size() && pieces[first].empty()) ++first;
  }
  return Status::ok();
}

Status fsync_fd(int fd, const std::string& path) {
  if (::fsync(fd) != 0) return Status::from_errno(errno, "fsync " + path);
  return Status::ok();
}

Status fsync_dir(const std::string& dir) {
  ASSIGN_OR_RETURN(UniqueFd fd, open_file(dir, O_RDONLY | O_DIRECTORY));
  return fsync_fd(fd.get(), dir);
}

Result<Bytes> read_file(const std::string& path) {
  ASSIGN_OR_RETURN(UniqueFd fd, open_file(path, O_RDONLY));
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return Status::from_errno(errno, "stat " + path);
  Bytes out(static_cast<size_t>(st.st_size));
  RETURN_IF_ERROR(pread_exact(fd.get(), out, 0, path));
  return out;
}

Result<uint64_t> file_size(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return Status::from_errno(errno, "stat " + path);
  return static_cast<uint64_t>(st.st_size);
}

Status write_file_atomic(const std::string& path, ByteView data, Sync sync) {
  std::string tmp = path + "." + random_hex(8) + ".tmp";
  {
    ASSIGN_OR_RETURN(UniqueFd fd, open_file(tmp, O_WRONLY | O_CREAT | O_EXCL, 0644));
    Status st = pwrite_all(fd.get(), data, 0, tmp);
    if (st.is_ok() && sync == Sync::kYes) st = fsync_fd(fd.get(), tmp);
    if (!st.is_ok()) {
      ::unlink(tmp.c_str());
      return st;
    }
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return Status::from_errno(err, "rename " + tmp + " to " + path);
  }
  if (sync == Sync::kYes) return fsync_dir(parent_dir(path));
  return Status::ok();
}

Status make_dirs(const std::string& path) {
  if (path.empty() || is_directory(path)) return Status::ok();
  std::string parent = parent_dir(path);
  if (parent != path) RETURN_IF_ERROR(make_dirs(parent));
  if (::mkdir(path.c_str(), 0755) != 0) {
    if (errno == EEXIST) return Status::ok();
    return Status::from_errno(errno, "mkdir " + path);
  }
  // The new folder's name lives in its parent: make it durable too.
  return fsync_dir(parent);
}

Status remove_file(const std::string& path) {
  if (::unlink(path.c_str()) != 0) return Status::from_errno(errno, "unlink " + path);
  return Status::ok();
}

bool path_exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

bool is_directory(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

Result<std::vector<std::string>> list_dir(const std::string& path) {
  DIR* dir = ::opendir(path.c_str());
  if (dir == nullptr) return Status::from_errno(errno, "opendir " + path);
  std::vector<std::string> names;
  errno = 0;
  while (struct dirent* entry = ::readdir(dir)) {
    std::string_view name(entry->d_name);
    if (name != "." && name != "..") names.emplace_back(name);
    errno = 0;
  }
  int err = errno;
  ::closedir(dir);
  if (err != 0) return Status::from_errno(err, "readdir " + path);
  return names;
}

std::string join_path(const std::string& a, const std::string& b) {
  if (a.empty()) return b;
  if (a.back() == '/') return a + b;
  return a + "/" + b;
}

std::string parent_dir(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string absolute_path(const std::string& path) {
  char buf[PATH_MAX];
  if (::realpath(path.c_str(), buf) != nullptr) return buf;
  if (!path.empty() && path[0] == '/') return path;
  if (::getcwd(buf, sizeof buf) == nullptr) return path;
  return join_path(buf, path);
}

Result<SpaceInfo> filesystem_space(const std::string& path) {
  struct statvfs vfs;
  if (::statvfs(path.c_str(), &vfs) != 0) return Status::from_errno(errno, "statvfs " + path);
  SpaceInfo info;
  info.total_bytes = static_cast<uint64_t>(vfs.f_blocks) * vfs.f_frsize;
  info.available_bytes = static_cast<uint64_t>(vfs.f_bavail) * vfs.f_frsize;
  return info;
}

Result<FileLock> FileLock::acquire(const std::string& path, const std::string& what) {
  ASSIGN_OR_RETURN(UniqueFd fd, open_file(path, O_RDWR | O_CREAT, 0644));
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK) return Status::from_errno(errno, "lock " + path);
    Bytes holder(32, 0);
    ssize_t n = ::pread(fd.get(), holder.data(), holder.size() - 1, 0);
    std::string pid = n > 0 ? std::string(as_chars({holder.data(), static_cast<size_t>(n)})) : "?";
    while (!pid.empty() && (pid.back() == '\n' || pid.back() == '\0')) pid.pop_back();
    return Status::busy(what + " is in use by another lares process (pid " + pid +
                        "); wait for it to finish or stop it");
  }
  std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd.get(), 0) == 0) {
    RETURN_IF_ERROR(pwrite_all(fd.get(), as_bytes(pid), 0, path));
  }
  return FileLock(std::move(fd));
}

}  // namespace lares
