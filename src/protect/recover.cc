#include "protect/recover.h"

#include <chrono>
#include <set>

#include "fs/dataset.h"

namespace lares {

Result<RecoverReport> recover_repository(Repository& replica, ObjectStore& into,
                                         const ReplicateOptions& options) {
  const auto started = std::chrono::steady_clock::now();
  RecoverReport report;
  ASSIGN_OR_RETURN(std::vector<SnapshotRecord> all, replica.list_snapshots());
  std::set<std::string> names;
  for (const auto& s : all) names.insert(s.dataset);
  for (const std::string& dataset : names) {
    ASSIGN_OR_RETURN(ReplicateReport r, replicate_dataset(replica, dataset, into, options));
    report.datasets.push_back(dataset);
    report.snapshots += r.snapshots_copied;
    report.bytes_sent += r.bytes_sent;
  }
  // Live datasets come back as clones of their newest snapshot.
  ASSIGN_OR_RETURN(std::unique_ptr<Repository> repo, Repository::open_replica(into, replica, nullptr));
  DatasetStore datasets(*repo);
  for (const std::string& dataset : names) {
    ASSIGN_OR_RETURN(std::vector<SnapshotRecord> snaps, repo->list_snapshots(dataset));
    if (snaps.empty() || snaps.back().layout != SnapshotLayout::kLive) continue;
    const SnapshotRecord& newest = snaps.back();
    auto existing = datasets.load(dataset);
    if (existing.is_ok()) {
      if (existing->root == newest.tree) {  // made by an earlier, interrupted recovery
        report.live_datasets.push_back(dataset);
        continue;
      }
      return Status::failed_precondition("live dataset " + dataset +
                                         " exists already where it is being recovered");
    }
    if (existing.status().code() != Code::kNotFound) return existing.status();
    DatasetHead head;
    head.name = dataset;
    head.root = newest.tree;
    head.txg = 1;
    head.next_ino = std::max<uint64_t>(newest.next_ino, 2);
    head.created_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
    head.origin = newest.id;
    head.inodes = newest.files;
    head.logical_bytes = newest.bytes;
    RETURN_IF_ERROR(datasets.create(head));
    report.live_datasets.push_back(dataset);
  }
  report.duration_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return report;
}

}  // namespace lares
