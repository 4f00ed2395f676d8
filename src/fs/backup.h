// Backup: a folder outside Lares into a snapshot of a dataset, and restore.
//
// Backup walks the folder depth first (entries in name order), chunks each
// regular file with FastCDC (only its data regions: holes found with
// SEEK_DATA/SEEK_HOLE are recorded as holes, never read), and stores every
// chunk the repository lacks. A file whose size, mtime, ctime, inode and
// device match the dataset's previous snapshot of the same folder is not read
// at all: its chunk list is taken from that snapshot. The walking thread reads
// and hashes; worker threads compress, encrypt and pack. Each directory becomes
// a tree blob (fs/tree.h) once its entries are done, so an unchanged subtree
// encodes to the same blob and costs nothing to store again.
//
// Access times are not kept (reading moves them, and an unchanged folder must
// encode to the same tree blob every time): restore sets them to the mtime.
//
// A file that vanishes, cannot be opened or read, or changes type while it is
// read is reported in `skipped` and left out; the backup goes on. The snapshot
// record is written last, after flush(): a backup cut short leaves earlier
// snapshots as they were (and, at most, packs no snapshot refers to yet,
// which the next backup reuses through the index checkpoints and gc removes).
//
// Restore recreates a snapshot (or a subfolder of it) under a target folder:
// regular files (holes recreated as holes), directories, symlinks, hard links
// (entries of one backed-up inode become links of one restored file), fifos,
// sockets and device nodes (as root), then owners, xattrs, modes and times.
// Every chunk is authenticated and checked against its id before it is
// written; a damaged chunk is an error naming the file and the snapshot.
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include "chunks/repository.h"
#include "fs/tree.h"

namespace lares {

struct BackupProgress {
  uint64_t files = 0, dirs = 0;
  uint64_t bytes_done = 0;       // bytes of file data read or reused
  uint64_t bytes_total = 0;      // of the whole folder, as far as scanned
  bool total_known = false;      // the scan of the folder is complete
  uint64_t new_bytes_stored = 0; // what went into new packs
  uint64_t skipped = 0;
};

struct BackupOptions {
  std::string dataset;
  std::string name;  // empty: the UTC time, e.g. 2026-11-23T14:05:09Z
  // Patterns (fnmatch): without '/' matched against each entry's name, with
  // '/' against its path relative to the folder (a leading '/' is ignored).
  std::vector<std::string> excludes;
  size_t threads = 0;  // workers compressing and encrypting; 0 = one per core
  // Called from the walking thread about five times a second, and once at the end.
  std::function<void(const BackupProgress&)> progress;
  // Checked between files; false stops the backup with kFailedPrecondition
  // (nothing of it becomes a snapshot).
  std::function<bool()> keep_going;
};

struct BackupResult {
  SnapshotRecord snapshot;
  std::vector<std::string> skipped;  // "<relative path>: <reason>"
  uint64_t files_read = 0;           // files whose content was read (not reused)
};

Result<BackupResult> backup(Repository& repo, const std::string& folder,
                            const BackupOptions& options);

struct RestoreProgress {
  uint64_t files = 0, bytes_done = 0, bytes_total = 0;
};

struct RestoreOptions {
  std::string path;  // a subfolder or file of the snapshot ("" = all of it)
  // Allow a non-empty target; existing entries of the same name are replaced.
  bool overwrite = false;
  size_t threads = 0;  // 0 = one per core
  std::function<void(const RestoreProgress&)> progress;
};

struct RestoreResult {
  uint64_t files = 0, dirs = 0, bytes = 0;
  std::vector<std::string> warnings;  // metadata that could not be restored
};

Result<RestoreResult> restore(Repository& repo, const SnapshotRecord& snapshot,
                              const std::string& target, const RestoreOptions& options);

// Loads and decodes one tree blob.
Result<Tree> load_tree(Repository& repo, const ChunkId& id);

}  // namespace lares
