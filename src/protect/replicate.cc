#include "protect/replicate.h"

#include <algorithm>
#include <chrono>
#include <thread>
#include <unordered_set>

#include "chunks/pack.h"
#include "fs/backup.h"
#include "fs/btree.h"
#include "fs/live_items.h"
#include "fs/tree.h"
#include "util/thread_pool.h"

namespace lares {
namespace {

using IdSet = std::unordered_set<ChunkId, ChunkIdHash>;
using Clock = std::chrono::steady_clock;

constexpr char kSnapshotsPrefix[] = "snapshots/";
// Blobs of one pack closer than this are fetched in one read.
constexpr uint64_t kReadGapBytes = uint64_t{256} << 10;
// One read fetches at most this much.
constexpr uint64_t kReadBytesMax = uint64_t{8} << 20;

// Walks the tree of snapshot `s` on the source. Every blob not yet in *seen
// is added to it and appended to *fresh; a subtree whose root is in *seen is
// not read.
class Walker {
 public:
  Walker(Repository& repo, IdSet* seen, uint64_t* trees_read)
      : repo_(repo), seen_(*seen), trees_read_(*trees_read) {}

  Status walk(const SnapshotRecord& s, std::vector<ChunkId>* fresh) {
    Status st = s.layout == SnapshotLayout::kLive ? walk_live(s.tree, fresh)
                                                  : walk_backup(s.tree, fresh);
    return st.is_ok() ? st : st.with_context("snapshot " + s.dataset + "@" + s.name + ": ");
  }

 private:
  Status walk_backup(const ChunkId& root, std::vector<ChunkId>* fresh) {
    std::vector<ChunkId> stack{root};
    while (!stack.empty()) {
      const ChunkId id = stack.back();
      stack.pop_back();
      if (!seen_.insert(id).second) continue;
      fresh->push_back(id);
      ASSIGN_OR_RETURN(Tree tree, load_tree(repo_, id));
      ++trees_read_;
      for (const Node& node : tree.nodes) {
        if (node.type == NodeType::kDir) {
          stack.push_back(node.subtree);
        } else if (node.type == NodeType::kFile) {
          for (const Extent& e : node.extents) {
            if (e.id && seen_.insert(*e.id).second) fresh->push_back(*e.id);
          }
        }
      }
    }
    return Status::ok();
  }

  Status walk_live(const ChunkId& root, std::vector<ChunkId>* fresh) {
    std::vector<ChunkId> stack{root};
    while (!stack.empty()) {
      const ChunkId id = stack.back();
      stack.pop_back();
      if (!seen_.insert(id).second) continue;
      fresh->push_back(id);
      ASSIGN_OR_RETURN(Bytes bytes, repo_.load_blob(id, BlobType::kNode));
      ++trees_read_;
      ASSIGN_OR_RETURN(BTreeNodeImage node, decode_btree_node(bytes));
      for (const auto& child : node.children) stack.push_back(child.second);
      for (const auto& [key, value] : node.leaf) {
        if (key.size() != 17 || key[8] != live_items::kExtent) continue;
        ASSIGN_OR_RETURN(live_items::ExtentItem e, live_items::parse_extent_item(key, value));
        if (seen_.insert(e.value.id).second) fresh->push_back(e.value.id);
      }
    }
    return Status::ok();
  }

  Repository& repo_;
  IdSet& seen_;
  uint64_t& trees_read_;
};

// Paces the sender to an average rate.
class RateLimit {
 public:
  explicit RateLimit(uint64_t bytes_per_second) : rate_(bytes_per_second) {}
  void account(uint64_t bytes) {
    if (rate_ == 0) return;
    sent_ += bytes;
    const double due_s = static_cast<double>(sent_) / static_cast<double>(rate_);
    const auto due = start_ + std::chrono::duration_cast<Clock::duration>(
                                  std::chrono::duration<double>(due_s));
    if (due > Clock::now()) std::this_thread::sleep_until(due);
  }

 private:
  uint64_t rate_;
  uint64_t sent_ = 0;
  Clock::time_point start_ = Clock::now();
};

struct Pending {
  ChunkId pack;
  PackEntry entry;
};

class Sender {
 public:
  Sender(Repository& source, Repository& target, const ReplicateOptions& options,
         ReplicateReport* report)
      : source_(source), target_(target), options_(options), report_(*report),
        limit_(options.bytes_per_second_max), workers_(2) {}

  void set_total(uint64_t bytes, uint64_t blobs) {
    progress_.bytes_total = bytes;
    progress_.blobs_total = blobs;
  }

  // Sends `blobs` (source locations), neighbours in one read.
  Status send(std::vector<Pending> blobs) {
    std::sort(blobs.begin(), blobs.end(), [](const Pending& a, const Pending& b) {
      return a.pack != b.pack ? a.pack < b.pack : a.entry.offset < b.entry.offset;
    });
    for (size_t first = 0; first < blobs.size();) {
      size_t last = first + 1;  // one read: [first, last)
      while (last < blobs.size() && blobs[last].pack == blobs[first].pack) {
        const PackEntry& prev = blobs[last - 1].entry;
        const PackEntry& next = blobs[last].entry;
        const uint64_t prev_end = prev.offset + prev.sealed_length;
        if (next.offset < prev_end || next.offset - prev_end > kReadGapBytes) break;
        if (next.offset + next.sealed_length - blobs[first].entry.offset > kReadBytesMax) break;
        ++last;
      }
      RETURN_IF_ERROR(send_range(blobs, first, last));
      first = last;
    }
    return Status::ok();
  }

 private:
  Status send_range(const std::vector<Pending>& blobs, size_t first, size_t last) {
    const std::string name = pack_object_name(blobs[first].pack);
    const uint64_t start = blobs[first].entry.offset;
    const PackEntry& tail = blobs[last - 1].entry;
    const uint64_t length = tail.offset + tail.sealed_length - start;
    auto bytes = source_.store().get(name, start, length);
    if (!bytes.is_ok()) return bytes.status().with_context("reading " + name + ": ");
    if (bytes->size() != length) return Status::corruption(name + " is truncated");
    // Every blob is opened before it goes: a damaged source is reported,
    // never copied.
    std::vector<Status> checks(last - first);
    workers_.parallel_for(last - first, [&](size_t n) {
      const PackEntry& e = blobs[first + n].entry;
      ByteView sealed(bytes->data() + (e.offset - start), e.sealed_length);
      auto opened = source_.open_blob(e, sealed);
      if (!opened.is_ok()) checks[n] = opened.status();
    });
    for (size_t n = first; n < last; ++n) {
      if (!checks[n - first].is_ok()) {
        return Status::corruption("blob " + blobs[n].entry.id.hex() + " in " + name +
                                  " is damaged on the source (" +
                                  checks[n - first].message() +
                                  "); run 'lares repo check --read-data' there");
      }
      const PackEntry& e = blobs[n].entry;
      ByteView sealed(bytes->data() + (e.offset - start), e.sealed_length);
      limit_.account(e.sealed_length);
      RETURN_IF_ERROR(target_.add_sealed_blob(e, sealed));
      ++report_.blobs_sent;
      report_.bytes_sent += e.sealed_length;
      ++progress_.blobs_done;
      progress_.bytes_done += e.sealed_length;
    }
    if (options_.progress) options_.progress(progress_);
    return Status::ok();
  }

  Repository& source_;
  Repository& target_;
  const ReplicateOptions& options_;
  ReplicateReport& report_;
  ReplicateProgress progress_;
  RateLimit limit_;
  ThreadPool workers_;
};

// Repair: reads every pack of the replica; one that is missing or holds a
// damaged blob leaves the index and the store (what it held is sent again).
Status drop_bad_packs(Repository& target, ReplicateReport* report) {
  ASSIGN_OR_RETURN(std::vector<std::string> stored, target.store().list("packs/"));
  const std::unordered_set<std::string> present(stored.begin(), stored.end());
  std::vector<IndexPack> keep;
  for (const IndexPack& pack : target.index_packs()) {
    const std::string name = pack_object_name(pack.pack_id);
    std::vector<ChunkId> bad;
    Status st = present.count(name) == 0 ? Status::not_found(name)
                                         : target.verify_pack(pack.pack_id, &bad);
    if (st.is_ok() && bad.empty()) {
      keep.push_back(pack);
      continue;
    }
    ++report->packs_dropped;
    if (present.count(name) != 0) {
      Status removed = target.store().remove(name);
      if (!removed.is_ok() && removed.code() != Code::kNotFound) return removed;
    }
  }
  if (report->packs_dropped == 0) return Status::ok();
  return target.rewrite_index(keep);
}

}  // namespace

Result<ReplicateReport> replicate_dataset(Repository& source, const std::string& dataset,
                                          ObjectStore& target_store,
                                          const ReplicateOptions& options) {
  const auto started = Clock::now();
  ReplicateReport report;
  ASSIGN_OR_RETURN(std::vector<SnapshotRecord> wanted, source.list_snapshots(dataset));
  if (wanted.empty()) {
    return Status::not_found("dataset " + dataset + " has no snapshot to replicate");
  }
  ASSIGN_OR_RETURN(std::unique_ptr<Repository> target,
                   Repository::open_replica(target_store, source, &report.target_created));
  ASSIGN_OR_RETURN(size_t adopted, target->index_unindexed_packs(&report.packs_unreadable));
  report.packs_adopted = adopted;

  if (options.repair) RETURN_IF_ERROR(drop_bad_packs(*target, &report));

  ASSIGN_OR_RETURN(std::vector<SnapshotRecord> present, target->list_snapshots(dataset));
  std::unordered_set<std::string> there;
  for (const auto& s : present) there.insert(s.id);
  report.snapshots_present = present.size();

  // What the target is known to hold whole: everything the newest snapshot
  // of the dataset on both sides reaches.
  IdSet seen;
  const SnapshotRecord* base = nullptr;
  for (const auto& s : wanted) {
    if (there.count(s.id) != 0 && !options.repair) base = &s;
  }
  if (base != nullptr) {
    std::vector<ChunkId> ignored;
    RETURN_IF_ERROR(Walker(source, &seen, &report.base_trees_read).walk(*base, &ignored));
  }
  Walker walker(source, &seen, &report.trees_read);

  // The blobs each missing snapshot adds, oldest snapshot first.
  struct Plan {
    const SnapshotRecord* snapshot;
    bool record_there;  // repair: the record is on the target; its data may not be
    std::vector<Pending> blobs;
  };
  std::vector<Plan> plans;
  uint64_t total_bytes = 0, total_blobs = 0;
  // Only what is newer than the target's newest snapshot goes: older ones
  // missing there were pruned by the target's own retention, on purpose.
  const int64_t target_newest = present.empty() ? INT64_MIN : present.back().time_ns;
  for (const auto& s : wanted) {
    const bool record_there = there.count(s.id) != 0;
    if (record_there && !options.repair) continue;
    if (!record_there && s.time_ns <= target_newest) {
      ++report.snapshots_skipped;
      continue;
    }
    std::vector<ChunkId> fresh;
    RETURN_IF_ERROR(walker.walk(s, &fresh));
    Plan plan{&s, record_there, {}};
    for (const ChunkId& id : fresh) {
      if (target->has_blob(id)) {
        ++report.blobs_deduplicated;
        continue;
      }
      std::optional<BlobLocation> loc = source.find_blob(id);
      if (!loc) {
        return Status::failed_precondition("blob " + id.hex() + " of " + s.dataset + "@" + s.name +
                                           " is not in the source index; run 'lares repo check'");
      }
      plan.blobs.push_back({loc->pack, loc->entry});
      total_bytes += loc->entry.sealed_length;
      ++total_blobs;
    }
    plans.push_back(std::move(plan));
  }

  Sender sender(source, *target, options, &report);
  sender.set_total(total_bytes, total_blobs);
  for (Plan& plan : plans) {
    RETURN_IF_ERROR(sender.send(std::move(plan.blobs)));
    // Refs move last: the record goes once everything it reaches is durable.
    RETURN_IF_ERROR(target->flush());
    if (plan.record_there) continue;
    const std::string name = kSnapshotsPrefix + plan.snapshot->id;
    ASSIGN_OR_RETURN(Bytes record, source.store().get(name));
    RETURN_IF_ERROR(target_store.put(name, record));
    ++report.snapshots_copied;
    if (options.after_snapshot) options.after_snapshot(*plan.snapshot);
  }
  report.duration_s = std::chrono::duration<double>(Clock::now() - started).count();
  return report;
}

}  // namespace lares
