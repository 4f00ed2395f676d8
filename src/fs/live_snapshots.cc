#include "fs/live_snapshots.h"

#include <unistd.h>

#include <chrono>
#include <ctime>

#include "fs/gc.h"

namespace lares {

SnapshotRecord live_snapshot_record(const DatasetHead& head, const std::string& name) {
  SnapshotRecord s;
  s.dataset = head.name;
  s.name = name;
  s.time_ns = static_cast<int64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                       std::chrono::system_clock::now().time_since_epoch())
                                       .count());
  if (head.root) s.tree = *head.root;
  s.layout = SnapshotLayout::kLive;
  s.next_ino = head.next_ino;
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  s.hostname = host;
  s.files = head.inodes;
  s.bytes = head.logical_bytes;
  return s;
}

Status create_live_snapshot(Repository& repo, const DatasetHead& head, const std::string& name) {
  RETURN_IF_ERROR(validate_snapshot_name(name));
  if (!head.root) return Status::failed_precondition(head.name + " was never written");
  ASSIGN_OR_RETURN(std::vector<SnapshotRecord> snaps, repo.list_snapshots(head.name));
  for (const auto& s : snaps) {
    if (s.name == name) {
      return Status::already_exists("snapshot " + head.name + "@" + name + " already exists");
    }
  }
  SnapshotRecord record = live_snapshot_record(head, name);
  return repo.put_snapshot(&record);
}

Result<ScheduleResult> run_snapshot_schedule(Repository& repo, LiveFs& live,
                                             const SnapshotSchedule& schedule, int64_t now_ns,
                                             bool utc) {
  ScheduleResult result;
  if (!schedule.enabled) return result;
  const std::string dataset = live.head().name;
  ASSIGN_OR_RETURN(std::vector<SnapshotRecord> all, repo.list_snapshots(dataset));
  std::vector<SnapshotRecord> autos;
  for (auto& s : all) {
    if (s.layout == SnapshotLayout::kLive && s.name.starts_with(kAutoSnapshotPrefix)) {
      autos.push_back(std::move(s));
    }
  }
  constexpr int64_t kHourNs = int64_t{3600} * 1000000000;
  const bool due = autos.empty() || autos.back().time_ns / kHourNs < now_ns / kHourNs;
  if (due) {
    RETURN_IF_ERROR(live.sync());
    const DatasetHead head = live.head();
    if (head.root && (autos.empty() || autos.back().tree != *head.root)) {
      const std::time_t secs = static_cast<std::time_t>(now_ns / 1000000000);
      std::tm tm{};
      gmtime_r(&secs, &tm);
      char name[64];
      std::strftime(name, sizeof name, "auto-%Y-%m-%dT%H:%M:%SZ", &tm);
      SnapshotRecord record = live_snapshot_record(head, name);
      record.time_ns = now_ns;
      RETURN_IF_ERROR(repo.put_snapshot(&record));
      result.taken = name;
      autos.push_back(std::move(record));
    }
  }
  RetentionPolicy policy;
  policy.hourly = schedule.hourly;
  policy.daily = schedule.daily;
  policy.weekly = schedule.weekly;
  policy.monthly = schedule.monthly;
  if (policy.empty()) policy.last = 1;  // keep the newest at least
  const std::vector<RetentionDecision> keep = apply_retention(autos, policy, utc);
  for (size_t i = 0; i < autos.size(); ++i) {
    if (keep[i].keep) continue;
    RETURN_IF_ERROR(repo.remove_snapshot(autos[i].id));
    result.pruned.push_back(autos[i].name);
  }
  return result;
}

Result<std::vector<std::string>> LiveSnapshotProvider::list() {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(std::vector<SnapshotRecord> snaps, repo_.list_snapshots(dataset_));
  std::vector<std::string> names;
  for (const auto& s : snaps) {
    if (s.layout == SnapshotLayout::kLive) names.push_back(s.name);
  }
  return names;
}

Result<LiveFs*> LiveSnapshotProvider::open(const std::string& name) {
  std::lock_guard lock(mu_);
  auto it = open_.find(name);
  if (it != open_.end()) return it->second.get();
  auto snap = repo_.find_snapshot(dataset_, name);
  if (!snap.is_ok() || snap->name != name || snap->layout != SnapshotLayout::kLive) {
    return Status::not_found("no snapshot " + dataset_ + "@" + name);
  }
  DatasetHead head = live_.head();
  head.root = snap->tree;
  head.next_ino = snap->next_ino;
  LiveOptions options;
  options.read_only = true;
  ASSIGN_OR_RETURN(std::unique_ptr<LiveFs> fs, LiveFs::open(repo_, datasets_, head, options));
  LiveFs* out = fs.get();
  open_.emplace(name, std::move(fs));
  return out;
}

Status LiveSnapshotProvider::create(const std::string& name) {
  RETURN_IF_ERROR(validate_snapshot_name(name));
  RETURN_IF_ERROR(live_.sync());
  std::lock_guard lock(mu_);
  return create_live_snapshot(repo_, live_.head(), name);
}

Status LiveSnapshotProvider::destroy(const std::string& name) {
  std::lock_guard lock(mu_);
  auto snap = repo_.find_snapshot(dataset_, name);
  if (!snap.is_ok() || snap->name != name) {
    return Status::not_found("no snapshot " + dataset_ + "@" + name);
  }
  RETURN_IF_ERROR(repo_.remove_snapshot(snap->id));
  auto it = open_.find(name);
  if (it != open_.end()) {
    retired_.push_back(std::move(it->second));
    open_.erase(it);
  }
  return Status::ok();
}

}  // namespace lares
