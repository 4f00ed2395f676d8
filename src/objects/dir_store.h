// DirStore: an ObjectStore in one local folder (a USB disk, a NAS mount, tests).
//
// Object "a/b/c" is the file <root>/a/b/c; each '/' is a folder. A put writes
// <root>/a/b/c.<random>.tmp, fsyncs it, renames it over c and fsyncs the
// folder (write_file_atomic), after making any new folders durable: a crash
// leaves the old object or the new one, never a torn file, and once put()
// returns the object survives power loss.
//
// Names follow validate_object_name(), and three rules more, so that names
// and files map one to one: no empty or "." component ("a//b", "a/./b",
// "a/"), and no last component ending in ".tmp" (reserved for temporaries).
// A name cannot be both an object and a folder of objects: putting "a/b"
// while object "a" exists (or "a" while "a/b" exists) is kFailedPrecondition.
//
// The folder belongs to the store: list() reports every valid file under it.
// Use a case-sensitive POSIX filesystem (ext4, xfs, btrfs); on vfat or exFAT
// names that differ only in case collide and renames may not be atomic.
//
// DirStore keeps no checksums of its own: it returns the bytes the
// filesystem returns. The repository above verifies every blob it reads
// (AEAD tags, chunk ids), which is what makes this backend safe to use.
//
// Stray *.tmp files of puts cut short by a crash are removed by open(), but
// only when no other DirStore (in any process) has the folder open: each
// holds a shared flock on the root folder, and the clean-up needs the
// exclusive one. So a reader opening the store never deletes the temporary
// file of a writer's put in flight.
//
// Thread safety: all methods may be called concurrently. Concurrent puts of
// one name leave one of the values, whole.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "objects/object_store.h"
#include "util/file.h"

namespace lares {

enum class CreateIfMissing { kNo, kYes };

class DirStore final : public ObjectStore {
 public:
  // Opens the store in folder `root`, creating it (and its parents) when
  // asked. kNotFound when it is missing and create is kNo;
  // kFailedPrecondition when `root` is not a folder.
  static Result<std::unique_ptr<DirStore>> open(const std::string& root, CreateIfMissing create);

  Status put(const std::string& name, ByteView data) override;
  Result<Bytes> get(const std::string& name, uint64_t offset, uint64_t length) override;
  using ObjectStore::get;
  Result<uint64_t> size(const std::string& name) override;
  Result<std::vector<std::string>> list(const std::string& prefix) override;
  Status remove(const std::string& name) override;
  Result<int64_t> modified_unix(const std::string& name) override;

  const std::string& root() const { return root_; }
  // How many stray temporary files open() removed.
  size_t stray_files_removed() const { return stray_files_removed_; }

  // The naming rule above: validate_object_name() plus DirStore's own.
  static Status validate_name(const std::string& name);

 private:
  DirStore(std::string root, UniqueFd root_fd)
      : root_(std::move(root)), root_fd_(std::move(root_fd)) {}

  std::string path_of(const std::string& name) const { return root_ + "/" + name; }
  // Creates the folders above `name` and makes each durable (its entry in its
  // parent fsynced) before the object's rename relies on it.
  Status make_folders(const std::string& name);
  // Calls visit(path) for each regular file below folder `start` ("" for the
  // root, else a relative path ending in '/'), entering a sub-folder only when
  // descend(its relative path, ending in '/') is true. Symbolic links and
  // other special files are skipped; a missing `start` visits nothing.
  Status walk(const std::string& start, const std::function<bool(const std::string&)>& descend,
              const std::function<void(const std::string&)>& visit) const;
  // Removes every *.tmp file under the root; returns how many.
  Result<size_t> remove_stray_files();

  const std::string root_;
  const UniqueFd root_fd_;  // holds the shared flock on the root folder
  size_t stray_files_removed_ = 0;
  std::mutex mu_;
  // Folders (relative to root_) known to exist durably.
  std::set<std::string> durable_folders_;  // GUARDED_BY(mu_)
};

}  // namespace lares
