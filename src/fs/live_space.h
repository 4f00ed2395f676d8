// Space accounting of live datasets and their snapshots, as ZFS reports it:
//
//   referenced  bytes stored for everything a version can read (its tree's
//               nodes and the data its extents name), shared or not;
//   unique      of a snapshot: bytes no other version anywhere in the
//               repository holds (not the dataset's head, not another
//               snapshot, not a clone or another dataset): what destroying
//               the snapshot and running gc frees;
//   used by snapshots   of a dataset: bytes its snapshots hold that its head
//               does not.
//
// Bytes are the blobs' stored sizes (compressed and sealed, before the
// pool's redundancy). The computation walks every version's tree once per
// version (shared subtrees are counted, not skipped), so it costs in
// proportion to the sum of the versions' metadata, not their data.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "chunks/repository.h"

namespace lares {

struct VersionSpace {
  uint64_t referenced_bytes = 0;
  uint64_t unique_bytes = 0;
};

struct DatasetSpace {
  VersionSpace head;                          // the live state
  std::map<std::string, VersionSpace> snapshots;  // by snapshot name
  uint64_t used_by_snapshots_bytes = 0;
};

// The space of live dataset `name` (its head and its live snapshots).
Result<DatasetSpace> dataset_space(Repository& repo, const std::string& name);

}  // namespace lares
