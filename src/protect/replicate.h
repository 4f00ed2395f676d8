// Replication: copies a dataset's snapshots from a repository to a replica of
// it on another ObjectStore (a second pool, a USB disk, an SFTP box, an S3
// bucket), incrementally and resumably.
//
// The replica (Repository::open_replica) is the same repository — same id,
// same master key, same key slots — with its own packs, index and snapshot
// records, so it is usable with the source gone, with nothing but the
// passphrase (or the recovery key) and the store's credentials. Blobs travel
// sealed, exactly as stored: the target never sees a key, a name or a byte of
// content in clear.
//
// One run, for the snapshots of `dataset` that the target lacks and that are
// newer than its newest one (older ones missing there were pruned by the
// target's own retention), oldest first:
//   1. Packs on the target that no index names (a run cut short after they
//      arrived) are indexed, so they are not sent again.
//   2. The Merkle trees are walked on the source. A subtree reachable from a
//      snapshot of the dataset the target already holds is skipped without
//      being read: that snapshot is whole on the target. Every other blob
//      is sent unless the target's index has it already (deduplicated
//      against everything there, other datasets included).
//   3. Each blob to send is read from its source pack (neighbours in one
//      read), authenticated and checked against its id (a damaged source is
//      an error, never copied), and appended, still sealed, to a new target
//      pack.
//   4. Once a snapshot's blobs are durable on the target (packs, then an index
//      segment), its sealed record is copied: refs move last, so a snapshot
//      on the target is always whole.
//
// Why skipping only what a snapshot on the target reaches: a blob the target
// has is not proof that everything under it is there too (a gc of the target
// may keep a tree whose children it dropped), but a snapshot there is.
//
// The caller holds the target's writer lock (one replication to a target at
// a time) and the source repository open.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "chunks/repository.h"
#include "objects/object_store.h"

namespace lares {

struct ReplicateProgress {
  uint64_t bytes_done = 0, bytes_total = 0;  // sealed bytes to send
  uint64_t blobs_done = 0, blobs_total = 0;
};

struct ReplicateOptions {
  // Average upload rate cap, bytes per second; 0 for none.
  uint64_t bytes_per_second_max = 0;
  // Called now and then while blobs are sent.
  std::function<void(const ReplicateProgress&)> progress;
  // Repair a damaged replica first: every target pack is read whole and
  // checked; packs that are missing or hold a damaged blob are dropped from
  // the target (store and index), and every snapshot of the dataset is
  // walked again, so whatever they held is sent anew.
  bool repair = false;
  // Test seam: called after each snapshot record lands on the target.
  std::function<void(const SnapshotRecord&)> after_snapshot;
};

struct ReplicateReport {
  bool target_created = false;
  uint64_t snapshots_copied = 0;   // records written to the target this run
  uint64_t snapshots_present = 0;  // of the dataset, on the target already
  uint64_t snapshots_skipped = 0;  // older than the target's newest (pruned there): not sent
  uint64_t packs_adopted = 0;      // arrived in an earlier, interrupted run
  // Unindexed packs on the target whose trailer does not open (left alone;
  // `lares verify` and `--repair` deal with damage), "<name> (<why>)".
  std::vector<std::string> packs_unreadable;
  uint64_t packs_dropped = 0;      // repair: missing or damaged packs taken out of the replica
  uint64_t base_trees_read = 0;    // tree blobs and nodes of the base snapshot, read on the source
  uint64_t trees_read = 0;         // those of the snapshots sent, minus subtrees of the base
  uint64_t blobs_sent = 0, bytes_sent = 0;  // sealed blobs appended to target packs
  uint64_t blobs_deduplicated = 0;          // the target had them already
  double duration_s = 0;
};

// Replicates every snapshot of `dataset` in `source` to the replica in
// `target` (made when the store is empty). kFailedPrecondition when the
// target holds a different repository; kNotFound when the dataset has no
// snapshot; kCorruption naming the blob when the source is damaged.
Result<ReplicateReport> replicate_dataset(Repository& source, const std::string& dataset,
                                          ObjectStore& target, const ReplicateOptions& options);

}  // namespace lares
