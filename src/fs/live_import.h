// Turning a backup snapshot (fs/tree.h) into a live dataset tree: for
// `lares clone` of a backup snapshot (a writable copy, committed) and for
// `lares mount` of a backup dataset (read-only, built in memory only).
//
// Only metadata is written: each file's extents name the backup's own
// content-defined chunks (extents of any length are read as such), so an
// import costs a walk of the snapshot's folders, not a copy of its data.
// Hard links stay hard links (by the inode and device the backup saw).
#pragma once

#include "chunks/repository.h"
#include "fs/live_fs.h"

namespace lares {

struct ImportStats {
  uint64_t files = 0, dirs = 0, bytes = 0;
};

// Builds the snapshot's tree under `fs`'s root folder, which must be empty.
// The caller commits (fs.sync()) or keeps it in memory. kCorruption or
// kNotFound naming the path when the snapshot cannot be read.
Result<ImportStats> import_backup_snapshot(Repository& repo, const SnapshotRecord& snapshot,
                                           LiveFs& fs);

}  // namespace lares
