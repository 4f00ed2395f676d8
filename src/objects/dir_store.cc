#include "objects/dir_store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <functional>
#include <string_view>

namespace lares {
namespace {

constexpr std::string_view kTemporarySuffix = ".tmp";

// No empty or "." component: each name has exactly one path.
Status check_components(const std::string& name) {
  size_t begin = 0;
  while (true) {
    const size_t end = std::min(name.find('/', begin), name.size());
    const std::string_view component(name.data() + begin, end - begin);
    if (component.empty() || component == ".") {
      return Status::invalid_argument("object name has an empty or '.' component: " + name);
    }
    if (end == name.size()) return Status::ok();
    begin = end + 1;
  }
}

Status not_found(const std::string& name, const std::string& root) {
  return Status::not_found("object '" + name + "' not found in " + root);
}

bool is_not_found_errno(int err) { return err == ENOENT || err == ENOTDIR; }

// Opens an object's file for reading; a missing file (or a path through a
// file) is kNotFound.
Result<UniqueFd> open_for_reading(const std::string& path, const std::string& name,
                                  const std::string& root) {
  int fd;
  do {
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    if (is_not_found_errno(errno)) return not_found(name, root);
    return Status::from_errno(errno, "open " + path);
  }
  return UniqueFd(fd);
}

Status flock_retrying(int fd, int operation, const std::string& path) {
  while (::flock(fd, operation) != 0) {
    if (errno != EINTR) return Status::from_errno(errno, "flock " + path);
  }
  return Status::ok();
}

std::string without_trailing_slashes(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  return path;
}

}  // namespace

Status DirStore::validate_name(const std::string& name) {
  RETURN_IF_ERROR(validate_object_name(name));
  RETURN_IF_ERROR(check_components(name));
  if (name.ends_with(kTemporarySuffix)) {
    return Status::invalid_argument("object name ends in '.tmp' (kept for temporary files): " +
                                    name);
  }
  return Status::ok();
}

Result<std::unique_ptr<DirStore>> DirStore::open(const std::string& root_in,
                                                 CreateIfMissing create) {
  const std::string root = without_trailing_slashes(root_in);
  if (!path_exists(root)) {
    if (create == CreateIfMissing::kNo) {
      return Status::not_found("directory store folder " + root + " does not exist");
    }
    RETURN_IF_ERROR(make_dirs(root));
    RETURN_IF_ERROR(fsync_dir(parent_dir(absolute_path(root))));
  }
  if (!is_directory(root)) return Status::failed_precondition(root + " is not a folder");
  ASSIGN_OR_RETURN(UniqueFd root_fd, open_file(root, O_RDONLY | O_DIRECTORY));
  const int fd = root_fd.get();
  std::unique_ptr<DirStore> store(new DirStore(root, std::move(root_fd)));

  // The exclusive lock succeeds only when no other DirStore has the folder
  // open: then every *.tmp file is left over from a crash.
  if (::flock(fd, LOCK_EX | LOCK_NB) == 0) {
    ASSIGN_OR_RETURN(store->stray_files_removed_, store->remove_stray_files());
  } else if (errno != EWOULDBLOCK && errno != EINTR) {
    return Status::from_errno(errno, "flock " + root);
  }
  // Converting to (or waiting for) the shared lock lets other stores open.
  RETURN_IF_ERROR(flock_retrying(fd, LOCK_SH, root));
  return store;
}

Status DirStore::put(const std::string& name, ByteView data) {
  RETURN_IF_ERROR(validate_name(name));
  RETURN_IF_ERROR(make_folders(name));
  const std::string path = path_of(name);
  auto folder_conflict = [&] {
    return Status::failed_precondition("cannot put '" + name + "' in " + root_ +
                                       ": it is a folder of other objects");
  };
  if (is_directory(path)) return folder_conflict();
  Status status = write_file_atomic(path, data, Sync::kYes);
  // A put of "name/..." may have made the folder meanwhile.
  if (!status.is_ok() && is_directory(path)) return folder_conflict();
  return status.with_context("put '" + name + "' in " + root_);
}

Status DirStore::make_folders(const std::string& name) {
  for (size_t slash = name.find('/'); slash != std::string::npos;
       slash = name.find('/', slash + 1)) {
    const std::string folder = name.substr(0, slash);
    {
      std::lock_guard lock(mu_);
      if (durable_folders_.contains(folder)) continue;
    }
    const std::string path = path_of(folder);
    if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) {
      return Status::from_errno(errno, "mkdir " + path);
    }
    if (!is_directory(path)) {
      return Status::failed_precondition("cannot put '" + name + "' in " + root_ + ": '" + folder +
                                         "' is an object, so it cannot be a folder");
    }
    // Whether this thread made the folder or found it (made by another thread
    // that may not have fsynced yet, or before a crash), its entry must be
    // durable before an object in it is reported durable.
    RETURN_IF_ERROR(fsync_dir(parent_dir(path)));
    std::lock_guard lock(mu_);
    durable_folders_.insert(folder);
  }
  return Status::ok();
}

Result<Bytes> DirStore::get(const std::string& name, uint64_t offset, uint64_t length) {
  RETURN_IF_ERROR(validate_name(name));
  const std::string path = path_of(name);
  ASSIGN_OR_RETURN(UniqueFd fd, open_for_reading(path, name, root_));
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return Status::from_errno(errno, "stat " + path);
  if (!S_ISREG(st.st_mode)) return not_found(name, root_);
  const auto size = static_cast<uint64_t>(st.st_size);
  const uint64_t begin = std::min(offset, size);
  const uint64_t end = length > size - begin ? size : begin + length;
  Bytes out(static_cast<size_t>(end - begin));
  // The file is never modified in place (puts rename a new one over it), so
  // this descriptor sees one whole value; a short read is damage.
  RETURN_IF_ERROR(pread_exact(fd.get(), out, begin, path));
  return out;
}

Result<uint64_t> DirStore::size(const std::string& name) {
  RETURN_IF_ERROR(validate_name(name));
  const std::string path = path_of(name);
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    if (is_not_found_errno(errno)) return not_found(name, root_);
    return Status::from_errno(errno, "stat " + path);
  }
  if (!S_ISREG(st.st_mode)) return not_found(name, root_);
  return static_cast<uint64_t>(st.st_size);
}

Result<int64_t> DirStore::modified_unix(const std::string& name) {
  RETURN_IF_ERROR(validate_name(name));
  const std::string path = path_of(name);
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    if (is_not_found_errno(errno)) return not_found(name, root_);
    return Status::from_errno(errno, "stat " + path);
  }
  if (!S_ISREG(st.st_mode)) return not_found(name, root_);
  return static_cast<int64_t>(st.st_mtime);
}

Status DirStore::remove(const std::string& name) {
  RETURN_IF_ERROR(validate_name(name));
  const std::string path = path_of(name);
  if (::unlink(path.c_str()) != 0) {
    if (is_not_found_errno(errno) || errno == EISDIR) return not_found(name, root_);
    return Status::from_errno(errno, "unlink " + path);
  }
  // Emptied folders stay: removing them would race with a put into them.
  return fsync_dir(parent_dir(path));
}

Status DirStore::walk(const std::string& start,
                      const std::function<bool(const std::string&)>& descend,
                      const std::function<void(const std::string&)>& visit) const {
  if (!is_directory(start.empty() ? root_ : path_of(start))) return Status::ok();
  std::vector<std::string> folders{start};  // relative, "" or ending in '/'
  while (!folders.empty()) {
    const std::string folder = std::move(folders.back());
    folders.pop_back();
    auto entries = list_dir(folder.empty() ? root_ : path_of(folder));
    if (!entries.is_ok()) {
      if (entries.status().code() == Code::kNotFound) continue;  // removed by someone else
      return entries.status();
    }
    for (const std::string& entry : *entries) {
      const std::string relative = folder + entry;
      struct stat st;
      if (::lstat(path_of(relative).c_str(), &st) != 0) {
        if (errno == ENOENT) continue;  // removed meanwhile
        return Status::from_errno(errno, "stat " + path_of(relative));
      }
      if (S_ISDIR(st.st_mode) && descend(relative + "/")) folders.push_back(relative + "/");
      if (S_ISREG(st.st_mode)) visit(relative);
    }
  }
  return Status::ok();
}

Result<std::vector<std::string>> DirStore::list(const std::string& prefix) {
  // Walk only the deepest folder the prefix names, and below it only the
  // folders that can hold a match.
  const std::string start = prefix.substr(0, prefix.rfind('/') + 1);
  std::vector<std::string> names;
  if (!start.empty() && (!validate_object_name(start.substr(0, start.size() - 1)).is_ok() ||
                         !check_components(start.substr(0, start.size() - 1)).is_ok())) {
    return names;  // no valid name lies in such a folder (and it may point outside the root)
  }
  RETURN_IF_ERROR(walk(
      start,
      [&](const std::string& folder) {
        return folder.starts_with(prefix) || prefix.starts_with(folder);
      },
      [&](const std::string& file) {
        if (file.starts_with(prefix) && validate_name(file).is_ok()) names.push_back(file);
      }));
  std::sort(names.begin(), names.end());
  return names;
}

Result<size_t> DirStore::remove_stray_files() {
  size_t removed = 0;
  Status failure;
  RETURN_IF_ERROR(walk(
      "", [](const std::string&) { return true; },
      [&](const std::string& file) {
        if (!file.ends_with(kTemporarySuffix) || !failure.is_ok()) return;
        // Garbage needs no fsync: if the unlink is lost, the next open repeats it.
        if (::unlink(path_of(file).c_str()) == 0) {
          ++removed;
        } else if (errno != ENOENT) {
          failure = Status::from_errno(errno, "unlink " + path_of(file));
        }
      }));
  RETURN_IF_ERROR(failure);
  return removed;
}

}  // namespace lares
