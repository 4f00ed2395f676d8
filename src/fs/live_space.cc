#include "fs/live_space.h"

#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "fs/dataset.h"
#include "fs/gc.h"
#include "fs/live_fs.h"

namespace lares {
namespace {

using IdSet = std::unordered_set<ChunkId, ChunkIdHash>;

// A version of some dataset: which dataset, and which root.
struct Version {
  std::string dataset;
  std::string snapshot;  // "" for a head
  ChunkId root;
};

uint64_t stored_size(const Repository& repo, const ChunkId& id) {
  auto where = repo.find_blob(id);
  return where ? where->entry.sealed_length : 0;
}

}  // namespace

Result<DatasetSpace> dataset_space(Repository& repo, const std::string& name) {
  // Every version in the repository: each can share blobs with the others.
  std::vector<Version> versions;
  DatasetStore datasets(repo);
  ASSIGN_OR_RETURN(std::vector<DatasetHead> heads, datasets.list());
  for (const auto& h : heads) {
    if (h.root) versions.push_back({h.name, "", *h.root});
  }
  ASSIGN_OR_RETURN(std::vector<SnapshotRecord> snaps, repo.list_snapshots());
  for (const auto& s : snaps) {
    if (s.layout == SnapshotLayout::kLive) versions.push_back({s.dataset, s.name, s.tree});
  }
  // Blob -> how many versions hold it, and each version's set.
  std::unordered_map<ChunkId, uint32_t, ChunkIdHash> holders;
  std::vector<IdSet> held(versions.size());
  for (size_t i = 0; i < versions.size(); ++i) {
    Status st = mark_live_tree(repo, versions[i].root, &held[i]);
    if (!st.is_ok()) {
      return st.with_context(versions[i].dataset +
                             (versions[i].snapshot.empty() ? "" : "@" + versions[i].snapshot));
    }
    for (const auto& id : held[i]) ++holders[id];
  }
  // Backup snapshots hold their chunks too (a clone of a backup shares
  // them): one more holder each, so none of those counts as unique.
  std::vector<SnapshotRecord> backups;
  for (const auto& s : snaps) {
    if (s.layout == SnapshotLayout::kBackup) backups.push_back(s);
  }
  if (!backups.empty()) {
    IdSet backup_held;
    RETURN_IF_ERROR(mark_reachable(repo, backups, &backup_held));
    for (const auto& id : backup_held) ++holders[id];
  }

  DatasetSpace out;
  bool found = false;
  IdSet head_held;
  IdSet snapshot_held;
  for (size_t i = 0; i < versions.size(); ++i) {
    if (versions[i].dataset != name) continue;
    found = true;
    VersionSpace space;
    for (const auto& id : held[i]) {
      const uint64_t size = stored_size(repo, id);
      space.referenced_bytes += size;
      if (holders[id] == 1) space.unique_bytes += size;
    }
    if (versions[i].snapshot.empty()) {
      out.head = space;
      head_held = held[i];
    } else {
      out.snapshots[versions[i].snapshot] = space;
      snapshot_held.insert(held[i].begin(), held[i].end());
    }
  }
  if (!found) return Status::not_found("no live dataset '" + name + "'");
  for (const auto& id : snapshot_held) {
    if (head_held.count(id) == 0) out.used_by_snapshots_bytes += stored_size(repo, id);
  }
  return out;
}

}  // namespace lares
