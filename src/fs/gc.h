// Retention (`lares forget`), garbage collection (`lares repo gc`) and
// snapshot comparison (`lares snapshot diff`).
//
// gc marks every blob reachable from a snapshot, then:
//   1. refuses to go on (deleting nothing) if a reachable blob is not in the
//      index, or a pack it would copy from fails to authenticate;
//   2. counts a live blob as live in one pack only (a second copy, left by a
//      crash, is garbage like a dead blob), then copies the live blobs of
//      packs that are mostly dead (at least
//      `repack_unused` of their bytes) into new packs, verbatim (still sealed)
//      after checking each one;
//   3. writes one index segment for everything that stays, then removes the
//      older segments;
//   4. only then deletes packs that are wholly dead or were repacked, and
//      packs no index names (left by an interrupted backup) unless their
//      trailer lists a reachable blob, in which case they are indexed.
// A crash at any point leaves every snapshot whole: until step 3 the old
// index and packs are all there; after it the new index names only packs that
// exist, and what step 4 had not deleted yet is deleted by the next gc.
#pragma once

#include <cstdint>
#include <ctime>
#include <functional>
#include <string>
#include <vector>

#include "chunks/repository.h"

namespace lares {

struct GcOptions {
  bool dry_run = false;
  // A pack whose dead bytes are at least this share of it is rewritten.
  double repack_unused = 0.5;
  // Packs for which this returns true are left as they are — not deleted,
  // not repacked — even when they hold dead blobs: a cold storage tier that
  // charges for a minimum storage duration keeps its young packs until then
  // (`lares target prune`). Null: none.
  std::function<bool(const ChunkId& pack)> hold_pack;
  // Test seam: called before each destructive step ("index", "delete").
  std::function<void(const char* step)> before_step;
};

struct GcReport {
  uint64_t snapshots = 0, live_blobs = 0;
  uint64_t packs = 0, packs_deleted = 0, packs_repacked = 0, orphan_packs = 0;
  uint64_t bytes_freed = 0, bytes_copied = 0;
  uint64_t packs_held = 0;  // garbage left in place by hold_pack
};

Result<GcReport> collect_garbage(Repository& repo, const GcOptions& options);

// Every blob (trees and chunks) reachable from `snapshots`.
Status mark_reachable(Repository& repo, const std::vector<SnapshotRecord>& snapshots,
                      std::unordered_set<ChunkId, ChunkIdHash>* live);

struct RetentionPolicy {
  int last = 0, hourly = 0, daily = 0, weekly = 0, monthly = 0, yearly = 0;
  bool empty() const { return last + hourly + daily + weekly + monthly + yearly == 0; }
};

struct RetentionDecision {
  bool keep = false;
  std::vector<std::string> reasons;  // "last", "daily", ... (why it is kept)
};

// Decides, for snapshots sorted oldest first, which a policy keeps. Like
// restic: --keep-last N keeps the N newest; --keep-daily N keeps the newest
// snapshot of each of the N newest days that have one (and likewise for hours,
// ISO weeks, months, years), in local time (`utc` for tests).
std::vector<RetentionDecision> apply_retention(const std::vector<SnapshotRecord>& snapshots,
                                               const RetentionPolicy& policy, bool utc = false);

struct DiffEntry {
  // '+' added, '-' removed, 'M' content changed, 'm' metadata only, 'T' type,
  // 'R' renamed (live snapshots, fs/live_diff.h: path is "old -> new").
  char change;
  std::string path;
};

// What changed from snapshot tree `a` to `b`, sorted by path. Unchanged
// subtrees (equal ids) are skipped without being read.
Result<std::vector<DiffEntry>> diff_trees(Repository& repo, const ChunkId& a, const ChunkId& b);

}  // namespace lares
