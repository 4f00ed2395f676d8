#include "fs/gc.h"

#include <algorithm>
#include <map>
#include <unordered_map>
#include <unordered_set>

#include "fs/backup.h"
#include "fs/dataset.h"
#include "fs/live_fs.h"

namespace lares {
namespace {

using IdSet = std::unordered_set<ChunkId, ChunkIdHash>;

Status mark_tree(Repository& repo, const ChunkId& id, IdSet* live) {
  if (!live->insert(id).second) return Status::ok();  // already walked
  if (!repo.find_blob(id)) {
    return Status::failed_precondition("tree " + id.hex() +
                                       " is not in the index; run 'lares repo check' (and "
                                       "'lares repo repair --rebuild-index') before gc");
  }
  ASSIGN_OR_RETURN(Tree tree, load_tree(repo, id));
  for (const Node& node : tree.nodes) {
    if (node.type == NodeType::kDir) {
      RETURN_IF_ERROR(mark_tree(repo, node.subtree, live));
    } else if (node.type == NodeType::kFile) {
      for (const Extent& e : node.extents) {
        if (!e.id) continue;
        if (live->insert(*e.id).second && !repo.find_blob(*e.id)) {
          return Status::failed_precondition(
              "chunk " + e.id->hex() + " of '" + node.name +
              "' is not in the index; run 'lares repo check' (and 'lares repo repair "
              "--rebuild-index') before gc");
        }
      }
    }
  }
  return Status::ok();
}

}  // namespace

Status mark_reachable(Repository& repo, const std::vector<SnapshotRecord>& snapshots,
                      IdSet* live) {
  for (const auto& s : snapshots) {
    Status st = s.layout == SnapshotLayout::kLive ? mark_live_tree(repo, s.tree, live)
                                                  : mark_tree(repo, s.tree, live);
    if (!st.is_ok()) return st.with_context("snapshot " + s.dataset + "@" + s.name + ": ");
  }
  return Status::ok();
}

Result<GcReport> collect_garbage(Repository& repo, const GcOptions& options) {
  GcReport report;
  ASSIGN_OR_RETURN(std::vector<SnapshotRecord> snapshots, repo.list_snapshots());
  report.snapshots = snapshots.size();
  IdSet live;
  RETURN_IF_ERROR(mark_reachable(repo, snapshots, &live));
  // Live datasets: their current heads hold blobs no snapshot may hold.
  DatasetStore datasets(repo);
  ASSIGN_OR_RETURN(std::vector<DatasetHead> heads, datasets.list());
  for (const DatasetHead& head : heads) {
    if (!head.root) continue;
    Status st = mark_live_tree(repo, *head.root, &live);
    if (!st.is_ok()) return st.with_context("dataset " + head.name);
  }
  report.live_blobs = live.size();

  std::vector<IndexPack> packs = repo.index_packs();
  report.packs = packs.size();
  ASSIGN_OR_RETURN(std::vector<std::string> stored_names, repo.store().list("packs/"));
  const std::unordered_set<std::string> stored(stored_names.begin(), stored_names.end());
  std::unordered_set<std::string> indexed;
  std::vector<IndexPack> keep;
  std::vector<ChunkId> remove;
  // Packs to rewrite, each with the entries to copy.
  std::vector<IndexPack> repack;
  // A live blob is live in one pack only: a second copy (possible after a
  // crash) is garbage like any dead blob, so a gc leaves nothing for the next.
  IdSet claimed;
  for (const IndexPack& pack : packs) {
    const std::string name = pack_object_name(pack.pack_id);
    indexed.insert(name);
    if (stored.count(name) == 0) {
      // Named by the index but gone: dropped from the index (check reports the
      // loss); a copy of its blobs in an unindexed pack is kept below.
      remove.push_back(pack.pack_id);
      continue;
    }
    uint64_t live_bytes = 0, dead_bytes = 0;
    IndexPack copy{pack.pack_id, {}};
    for (const auto& e : pack.entries) {
      if (live.count(e.id) != 0 && claimed.insert(e.id).second) {
        live_bytes += e.sealed_length;
        copy.entries.push_back(e);
      } else {
        dead_bytes += e.sealed_length;
      }
    }
    if (dead_bytes != 0 && options.hold_pack && options.hold_pack(pack.pack_id)) {
      keep.push_back(pack);
      ++report.packs_held;
    } else if (live_bytes == 0) {
      remove.push_back(pack.pack_id);
      report.bytes_freed += dead_bytes;
      ++report.packs_deleted;
    } else if (static_cast<double>(dead_bytes) >=
               options.repack_unused * static_cast<double>(live_bytes + dead_bytes)) {
      repack.push_back(std::move(copy));
      remove.push_back(pack.pack_id);
      report.bytes_freed += dead_bytes;
      report.bytes_copied += live_bytes;
      ++report.packs_repacked;
    } else {
      keep.push_back(pack);
    }
  }

  // Packs no index names: garbage of an interrupted backup, unless they hold
  // a live blob no indexed pack has (then they are indexed again).
  std::vector<std::string> orphans;
  for (const auto& name : stored_names) {
    if (indexed.count(name) != 0) continue;
    auto id = pack_id_from_name(name);
    auto entries = repo.read_pack_trailer(name);
    bool needed = false;
    if (entries.is_ok() && id.is_ok()) {
      for (const auto& e : *entries) {
        if (live.count(e.id) != 0 && claimed.insert(e.id).second) needed = true;
      }
      if (needed) keep.push_back({*id, std::move(*entries)});
    }
    if (!needed && id.is_ok() && options.hold_pack && options.hold_pack(*id)) {
      ++report.packs_held;
    } else if (!needed) {
      orphans.push_back(name);
      ++report.orphan_packs;
      if (auto size = repo.store().size(name); size.is_ok()) report.bytes_freed += *size;
    }
  }
  if (options.dry_run) return report;

  // Copy the live blobs of mostly dead packs, checking each one first.
  for (const IndexPack& pack : repack) {
    const std::string name = pack_object_name(pack.pack_id);
    ASSIGN_OR_RETURN(Bytes bytes, repo.store().get(name));
    for (const auto& e : pack.entries) {
      if (e.offset + e.sealed_length > bytes.size()) {
        return Status::corruption(name + " is truncated; gc stopped before changing anything");
      }
      ByteView sealed(bytes.data() + e.offset, e.sealed_length);
      if (!repo.open_blob(e, sealed).is_ok()) {
        return Status::corruption("blob " + e.id.hex() + " in " + name +
                                  " is damaged; gc stopped before changing anything (run "
                                  "'lares repo check --read-data')");
      }
      RETURN_IF_ERROR(repo.add_sealed_blob(e, sealed));
    }
  }
  RETURN_IF_ERROR(repo.flush());
  // The new index: what stays, plus the packs just written.
  std::unordered_set<ChunkId, ChunkIdHash> removed(remove.begin(), remove.end());
  std::unordered_set<ChunkId, ChunkIdHash> kept_ids;
  for (const auto& p : keep) kept_ids.insert(p.pack_id);
  for (const IndexPack& p : repo.index_packs()) {
    if (removed.count(p.pack_id) == 0 && kept_ids.count(p.pack_id) == 0) keep.push_back(p);
  }
  // Blobs of removed packs that were copied appear in the new packs; entries
  // of dead blobs in kept packs stay (they cost only index space until the
  // pack is repacked).
  if (options.before_step) options.before_step("index");
  RETURN_IF_ERROR(repo.rewrite_index(keep));
  if (options.before_step) options.before_step("delete");
  for (const auto& id : remove) {
    Status st = repo.store().remove(pack_object_name(id));
    if (!st.is_ok() && st.code() != Code::kNotFound) return st;
  }
  for (const auto& name : orphans) {
    Status st = repo.store().remove(name);
    if (!st.is_ok() && st.code() != Code::kNotFound) return st;
  }
  return report;
}

// ---- retention ----

std::vector<RetentionDecision> apply_retention(const std::vector<SnapshotRecord>& snapshots,
                                               const RetentionPolicy& policy, bool utc) {
  std::vector<RetentionDecision> out(snapshots.size());
  struct Rule {
    const char* name;
    int count;
    int kind;  // 0 last, 1 hour, 2 day, 3 week, 4 month, 5 year
  };
  const Rule rules[] = {{"last", policy.last, 0},       {"hourly", policy.hourly, 1},
                        {"daily", policy.daily, 2},     {"weekly", policy.weekly, 3},
                        {"monthly", policy.monthly, 4}, {"yearly", policy.yearly, 5}};
  auto bucket = [&](const SnapshotRecord& s, int kind) -> int64_t {
    std::time_t t = static_cast<std::time_t>(s.time_ns / 1000000000);
    std::tm tm{};
    if (utc) {
      gmtime_r(&t, &tm);
    } else {
      localtime_r(&t, &tm);
    }
    int64_t year = tm.tm_year + 1900;
    switch (kind) {
      case 1: return ((year * 1000 + tm.tm_yday) * 100) + tm.tm_hour;
      case 2: return year * 1000 + tm.tm_yday;
      case 3: {
        char buf[16];
        std::strftime(buf, sizeof buf, "%G%V", &tm);  // ISO year and week
        return std::atoll(buf);
      }
      case 4: return year * 100 + tm.tm_mon;
      case 5: return year;
      default: return 0;
    }
  };
  for (const Rule& rule : rules) {
    if (rule.count <= 0) continue;
    int left = rule.count;
    bool have_last = false;
    int64_t last_bucket = 0;
    for (size_t i = snapshots.size(); i-- > 0 && left > 0;) {
      if (rule.kind == 0) {
        out[i].keep = true;
        out[i].reasons.push_back(rule.name);
        --left;
        continue;
      }
      int64_t b = bucket(snapshots[i], rule.kind);
      if (have_last && b == last_bucket) continue;  // an older one of a bucket already kept
      have_last = true;
      last_bucket = b;
      out[i].keep = true;
      out[i].reasons.push_back(rule.name);
      --left;
    }
  }
  return out;
}

// ---- diff ----

namespace {

bool same_metadata(const Node& a, const Node& b) {
  return a.mode == b.mode && a.uid == b.uid && a.gid == b.gid && a.mtime_ns == b.mtime_ns &&
         a.xattrs == b.xattrs && a.symlink_target == b.symlink_target && a.rdev == b.rdev;
}

Status diff_into(Repository& repo, const ChunkId* a, const ChunkId* b, const std::string& rel,
                 std::vector<DiffEntry>* out);

void all_under(Repository& repo, const Node& node, const std::string& path, char change,
               std::vector<DiffEntry>* out, Status* error) {
  out->push_back({change, path});
  if (node.type != NodeType::kDir || !error->is_ok()) return;
  auto tree = load_tree(repo, node.subtree);
  if (!tree.is_ok()) {
    *error = tree.status();
    return;
  }
  for (const Node& child : tree->nodes) all_under(repo, child, path + "/" + child.name, change, out, error);
}

Status diff_into(Repository& repo, const ChunkId* a, const ChunkId* b, const std::string& rel,
                 std::vector<DiffEntry>* out) {
  if (a != nullptr && b != nullptr && *a == *b) return Status::ok();
  Tree ta, tb;
  if (a != nullptr) {
    ASSIGN_OR_RETURN(ta, load_tree(repo, *a));
  }
  if (b != nullptr) {
    ASSIGN_OR_RETURN(tb, load_tree(repo, *b));
  }
  size_t i = 0, j = 0;
  Status error;
  while (i < ta.nodes.size() || j < tb.nodes.size()) {
    const Node* x = i < ta.nodes.size() ? &ta.nodes[i] : nullptr;
    const Node* y = j < tb.nodes.size() ? &tb.nodes[j] : nullptr;
    if (y == nullptr || (x != nullptr && x->name < y->name)) {
      all_under(repo, *x, rel + "/" + x->name, '-', out, &error);
      ++i;
    } else if (x == nullptr || y->name < x->name) {
      all_under(repo, *y, rel + "/" + y->name, '+', out, &error);
      ++j;
    } else {
      const std::string path = rel + "/" + x->name;
      if (x->type != y->type) {
        all_under(repo, *x, path, '-', out, &error);
        all_under(repo, *y, path, '+', out, &error);
      } else if (x->type == NodeType::kDir) {
        if (!same_metadata(*x, *y)) out->push_back({'m', path});
        RETURN_IF_ERROR(diff_into(repo, &x->subtree, &y->subtree, path, out));
      } else if (x->extents != y->extents || x->size != y->size) {
        out->push_back({'M', path});
      } else if (!same_metadata(*x, *y)) {
        out->push_back({'m', path});
      }
      ++i;
      ++j;
    }
    RETURN_IF_ERROR(error);
  }
  return Status::ok();
}

}  // namespace

Result<std::vector<DiffEntry>> diff_trees(Repository& repo, const ChunkId& a, const ChunkId& b) {
  std::vector<DiffEntry> out;
  RETURN_IF_ERROR(diff_into(repo, &a, &b, "", &out));
  std::stable_sort(out.begin(), out.end(),
                   [](const DiffEntry& x, const DiffEntry& y) { return x.path < y.path; });
  return out;
}

}  // namespace lares
