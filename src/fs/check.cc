#include "fs/check.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "fs/backup.h"
#include "fs/dataset.h"
#include "fs/live_fs.h"
#include "util/thread_pool.h"

namespace lares {
namespace {

class Checker {
 public:
  Checker(Repository& repo, CheckReport& report) : repo_(repo), report_(report) {}

  // Blobs known to be unusable, with the reason.
  std::unordered_map<ChunkId, std::string, ChunkIdHash> bad;

  void walk(const ChunkId& tree_id, const std::string& rel, const std::string& snap) {
    if (good_trees_.count(tree_id) != 0) return;
    auto tree = load_tree(repo_, tree_id);
    ++report_.trees;
    if (!tree.is_ok()) {
      problem("folder unreadable (" + tree.status().message() + ")", rel.empty() ? "/" : rel, snap);
      return;
    }
    size_t before = report_.problems.size();
    for (const Node& node : tree->nodes) {
      const std::string path = rel.empty() ? node.name : rel + "/" + node.name;
      if (node.type == NodeType::kDir) {
        walk(node.subtree, path, snap);
      } else if (node.type == NodeType::kFile) {
        ++report_.files;
        for (const Extent& e : node.extents) {
          if (!e.id) continue;
          auto it = bad.find(*e.id);
          if (it != bad.end()) {
            problem(it->second, path, snap);
            break;
          }
          if (!repo_.find_blob(*e.id)) {
            problem("chunk " + e.id->hex().substr(0, 16) + " is missing", path, snap);
            break;
          }
        }
      }
    }
    if (report_.problems.size() == before) good_trees_.insert(tree_id);
  }

 private:
  void problem(const std::string& what, const std::string& path, const std::string& snap) {
    report_.problems.push_back(what + ": " + path + " in " + snap);
  }

  Repository& repo_;
  CheckReport& report_;
  std::unordered_set<ChunkId, ChunkIdHash> good_trees_;
};

}  // namespace

Result<CheckReport> check_repository(Repository& repo, const CheckOptions& options) {
  CheckReport report;
  Checker checker(repo, report);
  ASSIGN_OR_RETURN(std::vector<std::string> pack_names, repo.store().list("packs/"));
  std::unordered_set<std::string> present(pack_names.begin(), pack_names.end());
  std::vector<IndexPack> packs = repo.index_packs();
  report.packs = packs.size();
  // Each pack's verdict; with read_data the packs are read on every core.
  struct Verdict {
    std::string reason;
    std::vector<ChunkId> bad_blobs;
  };
  std::vector<Verdict> verdicts(packs.size());
  std::mutex mu;
  auto judge = [&](size_t i) {
    const IndexPack& pack = packs[i];
    const std::string name = pack_object_name(pack.pack_id);
    Verdict& v = verdicts[i];
    if (present.count(name) == 0) {
      v.reason = "pack " + name + " is missing";
      return;
    }
    if (!options.read_data) return;
    Status st = repo.verify_pack(pack.pack_id, &v.bad_blobs);
    if (!st.is_ok()) v.reason = "pack " + name + " is damaged (" + st.message() + ")";
    uint64_t bytes = 0;
    for (const auto& e : pack.entries) bytes += e.sealed_length;
    std::lock_guard lock(mu);
    ++report.packs_read;
    report.bytes_read += bytes;
    if (options.progress) options.progress(report.bytes_read, report.packs_read);
  };
  if (options.read_data) {
    // Which packs are read: all, or a random sample of them.
    std::vector<size_t> chosen(packs.size());
    for (size_t i = 0; i < chosen.size(); ++i) chosen[i] = i;
    if (options.read_data_fraction < 1.0 && !chosen.empty()) {
      std::mt19937_64 rng(options.sample_seed != 0 ? options.sample_seed : std::random_device{}());
      std::shuffle(chosen.begin(), chosen.end(), rng);
      const double wanted = std::ceil(options.read_data_fraction * static_cast<double>(chosen.size()));
      chosen.resize(std::clamp<size_t>(static_cast<size_t>(wanted), 1, chosen.size()));
    }
    // Packs left out of the sample are still checked for presence.
    for (size_t i = 0; i < packs.size(); ++i) {
      if (present.count(pack_object_name(packs[i].pack_id)) == 0) {
        verdicts[i].reason = "pack " + pack_object_name(packs[i].pack_id) + " is missing";
      }
    }
    ThreadPool pool(std::max<size_t>(1, std::thread::hardware_concurrency()));
    pool.parallel_for(chosen.size(), [&](size_t n) { judge(chosen[n]); });
  } else {
    for (size_t i = 0; i < packs.size(); ++i) judge(i);
  }
  for (size_t i = 0; i < packs.size(); ++i) {
    const IndexPack& pack = packs[i];
    const std::string name = pack_object_name(pack.pack_id);
    const Verdict& v = verdicts[i];
    if (!v.reason.empty()) {
      for (const auto& e : pack.entries) checker.bad.emplace(e.id, v.reason);
      report.problems.push_back(v.reason);
    }
    for (const auto& id : v.bad_blobs) {
      checker.bad.emplace(id, "chunk " + id.hex().substr(0, 16) + " in pack " + name +
                                  " is damaged");
    }
    if (!v.bad_blobs.empty()) {
      report.problems.push_back("pack " + name + " has " + std::to_string(v.bad_blobs.size()) +
                                " damaged blobs");
    }
  }
  ASSIGN_OR_RETURN(std::vector<SnapshotRecord> snaps, repo.list_snapshots());
  std::unordered_set<ChunkId, ChunkIdHash> live_seen;
  auto check_live = [&](const ChunkId& root, const std::string& what) {
    Status st = mark_live_tree(repo, root, &live_seen);
    if (!st.is_ok()) report.problems.push_back(what + ": " + st.message());
  };
  for (const auto& s : snaps) {
    ++report.snapshots;
    if (s.layout == SnapshotLayout::kLive) {
      check_live(s.tree, s.dataset + "@" + s.name);
    } else {
      checker.walk(s.tree, "", s.dataset + "@" + s.name);
    }
  }
  DatasetStore datasets(repo);
  ASSIGN_OR_RETURN(std::vector<DatasetHead> heads, datasets.list());
  for (const DatasetHead& head : heads) {
    if (head.root) check_live(*head.root, "dataset " + head.name);
  }
  return report;
}

}  // namespace lares
