// Snapshots of live datasets: the records that name them, and the provider
// a mount serves under <mountpoint>/.lares/snapshots (fs/fuse_mount.h).
//
// A live snapshot is a snapshot record (chunks/repository.h) with layout
// kLive whose tree is the dataset's root node at a committed transaction
// group: taking one costs one small sealed object, whatever the dataset's
// size.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "chunks/repository.h"
#include "fs/dataset.h"
#include "fs/fuse_mount.h"
#include "fs/live_fs.h"

namespace lares {

// The record for a snapshot `name` of `head` (which must have a root),
// stamped now.
SnapshotRecord live_snapshot_record(const DatasetHead& head, const std::string& name);

// Stores that record; kAlreadyExists when the dataset has a snapshot of
// that name, kFailedPrecondition when the head was never committed.
Status create_live_snapshot(Repository& repo, const DatasetHead& head, const std::string& name);

// Automatic snapshots (DatasetHead::schedule), run by whoever mounts the
// dataset, once a minute or so. When the newest auto snapshot is from an
// earlier hour (UTC) than `now_ns` and the dataset changed since, it commits
// the dataset and snapshots it as auto-<UTC time>; then it prunes the auto
// snapshots to the schedule's counts (days, weeks and months in local time,
// or UTC when `utc`). Snapshots made by hand are never touched.
struct ScheduleResult {
  std::string taken;                // the new snapshot's name, or ""
  std::vector<std::string> pruned;  // names of the auto snapshots removed
};
inline constexpr char kAutoSnapshotPrefix[] = "auto-";
Result<ScheduleResult> run_snapshot_schedule(Repository& repo, LiveFs& live,
                                             const SnapshotSchedule& schedule, int64_t now_ns,
                                             bool utc = false);

// The snapshots of one mounted live dataset, opened read-only on demand and
// kept until the provider goes (the kernel may still hold their inodes).
// Thread safety: every method may be called from many threads.
class LiveSnapshotProvider final : public SnapshotProvider {
 public:
  LiveSnapshotProvider(Repository& repo, DatasetStore& datasets, LiveFs& live,
                       std::string dataset)
      : repo_(repo), datasets_(datasets), live_(live), dataset_(std::move(dataset)) {}

  Result<std::vector<std::string>> list() override;
  Result<LiveFs*> open(const std::string& name) override;
  // Commits the live dataset, then snapshots what was committed.
  Status create(const std::string& name) override;
  Status destroy(const std::string& name) override;

 private:
  std::mutex mu_;
  Repository& repo_;
  DatasetStore& datasets_;
  LiveFs& live_;
  std::string dataset_;
  std::map<std::string, std::unique_ptr<LiveFs>> open_;  // GUARDED_BY(mu_)
  // Destroyed snapshots that were open: kept (the kernel may still hold
  // their inodes) but no longer found by name.
  std::vector<std::unique_ptr<LiveFs>> retired_;  // GUARDED_BY(mu_)
};

}  // namespace lares
