// A replica's own retention (`lares target prune`): each dataset's
// snapshots on the target are thinned by the target's keep_* counts
// (fs/gc.h apply_retention, as `lares forget` does at home), then the
// replica is garbage-collected — except packs younger than the target's
// minimum storage duration, which stay as they are until they are old enough
// (deleting them early costs as much as keeping them on a cold tier).
//
// Replication never sends back what prune removed: it only sends snapshots
// newer than the target's newest (protect/replicate.h).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "chunks/repository.h"
#include "fs/gc.h"
#include "protect/targets.h"

namespace lares {

struct PruneReport {
  std::map<std::string, std::vector<std::string>> forgotten;  // dataset -> snapshot names
  uint64_t kept = 0;
  GcReport gc;  // gc.dry_run when not applied
};

// Dry run unless `apply`. A dataset named in `per_dataset` (bare dataset
// names, as on the replica) is kept by that retention, others by the
// target's; a dataset with neither keeps everything. kFailedPrecondition
// when no retention applies at all. `now_unix` decides which packs are young.
Result<PruneReport> prune_replica(Repository& replica, const TargetConfig& target,
                                  const std::map<std::string, RetentionPolicy>& per_dataset,
                                  bool apply, int64_t now_unix);

}  // namespace lares
