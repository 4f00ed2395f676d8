// Disaster recovery: rebuilds a repository (normally a new pool's, on new
// disks) from a replica, with nothing but the replica's store and the
// passphrase or recovery key that opened it.
//
// The new repository becomes a replica of the replica (Repository::
// open_replica: the same id, keys and key slots, so the old passphrases and
// recovery key keep working), and every dataset's snapshots are copied into
// it with replicate_dataset, resumably. A live dataset is then made again
// from its newest snapshot, as a clone of it under its own name: what was
// written after that snapshot was never replicated. Its properties
// (record size, quota, snapshot schedule) start from the defaults; set them
// again with `lares dataset set`.
#pragma once

#include <string>
#include <vector>

#include "chunks/repository.h"
#include "objects/object_store.h"
#include "protect/replicate.h"

namespace lares {

struct RecoverReport {
  std::vector<std::string> datasets;       // every dataset recovered
  std::vector<std::string> live_datasets;  // of those, live ones made again from a snapshot
  uint64_t snapshots = 0, bytes_sent = 0;
  double duration_s = 0;
};

// Copies every dataset of `replica` into the repository in `into` (an empty
// store, or one an interrupted recovery left). kFailedPrecondition when
// `into` holds another repository, or a live dataset of a name being
// recovered already exists there.
Result<RecoverReport> recover_repository(Repository& replica, ObjectStore& into,
                                         const ReplicateOptions& options);

}  // namespace lares
