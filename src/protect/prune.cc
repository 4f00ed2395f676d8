#include "protect/prune.h"

#include <set>

namespace lares {

Result<PruneReport> prune_replica(Repository& replica, const TargetConfig& target,
                                  const std::map<std::string, RetentionPolicy>& per_dataset,
                                  bool apply, int64_t now_unix) {
  const RetentionPolicy own = target.retention();
  if (own.empty() && per_dataset.empty()) {
    return Status::failed_precondition(
        "target '" + target.name +
        "' has no retention (keep_last, keep_daily, ... in lares.toml): nothing to prune by");
  }
  PruneReport report;
  ASSIGN_OR_RETURN(std::vector<SnapshotRecord> all, replica.list_snapshots());
  std::set<std::string> datasets;
  for (const auto& s : all) datasets.insert(s.dataset);
  for (const std::string& dataset : datasets) {
    ASSIGN_OR_RETURN(std::vector<SnapshotRecord> snaps, replica.list_snapshots(dataset));
    const auto it = per_dataset.find(dataset);
    const RetentionPolicy& policy = it != per_dataset.end() && !it->second.empty() ? it->second : own;
    if (policy.empty()) {  // no retention for this one: everything stays
      report.kept += snaps.size();
      continue;
    }
    const std::vector<RetentionDecision> decisions = apply_retention(snaps, policy);
    for (size_t i = 0; i < snaps.size(); ++i) {
      if (decisions[i].keep) {
        ++report.kept;
        continue;
      }
      report.forgotten[dataset].push_back(snaps[i].name);
      if (apply) RETURN_IF_ERROR(replica.remove_snapshot(snaps[i].id));
    }
  }
  GcOptions gc;
  gc.dry_run = !apply;
  if (target.min_storage_days > 0) {
    const int64_t min_age_s = int64_t{target.min_storage_days} * 86400;
    gc.hold_pack = [&replica, min_age_s, now_unix](const ChunkId& pack) {
      auto written = replica.store().modified_unix(pack_object_name(pack));
      // A store that cannot tell: hold (an early deletion is never silent).
      return !written.is_ok() || now_unix - *written < min_age_s;
    };
  }
  ASSIGN_OR_RETURN(report.gc, collect_garbage(replica, gc));
  return report;
}

}  // namespace lares
