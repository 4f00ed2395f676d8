// Device lifecycle: add (grow), replace (rebuild onto a new device), remove
// (evacuate). Member-list changes hold config_mu_ exclusively and move the
// pool by one label generation; the long rebuild or evacuation in between
// holds it shared, per object, so reads and writes go on meanwhile.
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "codec/name_hash.h"
#include "pool/pool.h"
#include "util/file.h"
#include "util/progress.h"
#include "util/random.h"

namespace lares {
namespace {

// A device that left the pool: its label goes first (so it can never be
// imported again), then its shards.
void retire_device_folder(const std::string& dir) {
  (void)remove_file(join_path(dir, PoolLabel::kFileName));
  (void)fsync_dir(dir);
  std::error_code ec;
  std::filesystem::remove_all(dir + "/shards", ec);
  for (const char* name : {"counters.json", "scrub-state.json", "lares.lock"}) {
    (void)remove_file(join_path(dir, name));
  }
}

}  // namespace

Status Pool::add_devices(const std::vector<std::string>& device_dirs) {
  if (options_.mode != OpenMode::kReadWrite)
    return Status::failed_precondition("pool is read-only");
  std::unique_lock lock(config_mu_);
  PoolLabel next = label_;
  std::vector<int> added;
  for (const auto& d : device_dirs) {
    RETURN_IF_ERROR(make_dirs(d));
    std::string dir = absolute_path(d);
    if (find_device(dir) >= 0) return Status::already_exists(dir + " is already in the pool");
    RETURN_IF_ERROR(prepare_device_folder(dir));
    ASSIGN_OR_RETURN(FileLock lock_file,
                     FileLock::acquire(join_path(dir, "lares.lock"), "device " + dir));
    locks_.push_back(std::move(lock_file));
    PoolMember member{random_hex(8), dir, MemberState::kActive, ""};
    next.members.push_back(member);
    devices_.push_back(std::make_unique<Device>(dir, member.device_id, options_.faults));
    added.push_back(static_cast<int>(devices_.size() - 1));
  }
  {
    std::lock_guard cache_lock(cache_mu_);
    cache_.clear();
  }
  Status st = commit_label(next, added);
  if (!st.is_ok()) {
    for (size_t i = 0; i < added.size(); ++i) devices_.pop_back();
  }
  return st;
}

Status Pool::replace_device(const std::string& old_device, const std::string& new_dir) {
  if (options_.mode != OpenMode::kReadWrite)
    return Status::failed_precondition("pool is read-only");
  int old_index;
  int new_index;
  {
    std::unique_lock lock(config_mu_);
    old_index = find_device(old_device);
    if (old_index < 0) {
      return Status::not_found("'" + old_device + "' is not a device of pool '" + label_.pool_name +
                               "'; see 'lares pool status " + label_.pool_name + "'");
    }
    RETURN_IF_ERROR(make_dirs(new_dir));
    std::string dir = absolute_path(new_dir);
    new_index = find_device(dir);
    const std::string old_id = devices_[old_index]->id();
    if (new_index < 0 || label_.members[new_index].replaces != old_id) {
      // A fresh replacement (not a resumed one).
      if (new_index >= 0) return Status::already_exists(dir + " is already in the pool");
      RETURN_IF_ERROR(prepare_device_folder(dir));
      ASSIGN_OR_RETURN(FileLock lock_file,
                       FileLock::acquire(join_path(dir, "lares.lock"), "device " + dir));
      locks_.push_back(std::move(lock_file));
      PoolLabel next = label_;
      next.members.push_back({random_hex(8), dir, MemberState::kReplacing, old_id});
      devices_.push_back(
          std::make_unique<Device>(dir, next.members.back().device_id, options_.faults));
      new_index = static_cast<int>(devices_.size() - 1);
      Status st = commit_label(next, {new_index});
      if (!st.is_ok()) {
        devices_.pop_back();
        return st;
      }
    }
  }
  RETURN_IF_ERROR(rebuild_onto(new_index, old_index));
  std::unique_lock lock(config_mu_);
  PoolLabel next = label_;
  const std::string old_path = devices_[old_index]->path();
  const bool old_online = devices_[old_index]->online();
  next.members[new_index].state = MemberState::kActive;
  next.members[new_index].replaces.clear();
  next.members.erase(next.members.begin() + old_index);
  RETURN_IF_ERROR(commit_label(next, {new_index}));
  devices_.erase(devices_.begin() + old_index);
  {
    std::lock_guard cache_lock(cache_mu_);
    cache_.clear();
  }
  if (old_online) retire_device_folder(old_path);
  return Status::ok();
}

Status Pool::rebuild_onto(int new_index, int old_index) {
  uint64_t estimate = 0;  // what the old device held, or the average of the others
  {
    std::shared_lock lock(config_mu_);
    if (devices_[old_index]->online()) {
      estimate = devices_[old_index]->used_bytes();
    } else {
      uint64_t online = 0;
      for (const auto& d : devices_) {
        if (d->online()) estimate += d->used_bytes(), ++online;
      }
      estimate = online > 0 ? estimate / online : 0;
    }
  }
  Progress progress("rebuild onto " + devices_[new_index]->path(), estimate);
  uint64_t done_bytes = 0;
  uint64_t done_objects = 0;
  return for_each_hash([&](int, const std::string& hash) {
    std::shared_lock lock(config_mu_);
    ASSIGN_OR_RETURN(uint64_t written, rebuild_object(hash, new_index, old_index));
    done_bytes += written;
    progress.update(done_bytes, ++done_objects);
    return Status::ok();
  });
}

// Gives the new device the shard the old one held (or one that is missing).
// Returns the bytes written. REQUIRES: config_mu_ held shared.
Result<uint64_t> Pool::rebuild_object(const std::string& hash, int new_index, int old_index) {
  auto loc = locate(hash, /*use_cache=*/false);
  if (!loc.is_ok()) return uint64_t{0};  // removed meanwhile, or lost: scrub names it
  auto& where = loc->device_of;
  if (std::find(where.begin(), where.end(), new_index) != where.end()) return uint64_t{0};
  int index = -1;
  for (size_t i = 0; i < where.size(); ++i) {
    if (where[i] == old_index) index = static_cast<int>(i);
  }
  for (size_t i = 0; index < 0 && i < where.size(); ++i) {
    if (where[i] < 0) index = static_cast<int>(i);
  }
  if (index < 0) return uint64_t{0};
  auto stripe = read_shards(hash, *loc, /*verify_parity=*/false, nullptr);
  if (!stripe.is_ok()) return uint64_t{0};  // beyond repair: scrub names it
  ShardHeader mine = loc->header;
  mine.shard_index = index;
  Status st = write_one_shard(new_index, hash, mine, stripe->shard(static_cast<size_t>(index)));
  buffers_.give(std::move(stripe->buffer));
  if (!st.is_ok()) return st.with_context("rebuilding onto " + devices_[new_index]->path());
  forget_cached(hash);
  return mine.header_size() + mine.shard_size;
}

Status Pool::remove_device(const std::string& device) {
  if (options_.mode != OpenMode::kReadWrite)
    return Status::failed_precondition("pool is read-only");
  int index;
  {
    std::unique_lock lock(config_mu_);
    index = find_device(device);
    if (index < 0) {
      return Status::not_found("'" + device + "' is not a device of pool '" + label_.pool_name +
                               "'");
    }
    if (devices_.size() < static_cast<size_t>(label_.redundancy) + 2) {
      return Status::failed_precondition(
          "pool '" + label_.pool_name + "' has redundancy " + std::to_string(label_.redundancy) +
          " and needs at least " + std::to_string(label_.redundancy + 1) +
          " devices; add or replace instead of removing");
    }
    uint64_t need = devices_[index]->used_bytes();
    uint64_t room = 0;
    for (int d : writable_devices({index})) {
      auto space = filesystem_space(devices_[d]->path());
      if (space.is_ok()) room += space->available_bytes;
    }
    if (need > room) {
      return Status::no_space("the other devices have " + format_size(room) + " free but " +
                              format_size(need) + " must move off " + devices_[index]->path());
    }
    if (label_.members[index].state != MemberState::kRemoving) {
      PoolLabel next = label_;
      next.members[index].state = MemberState::kRemoving;
      RETURN_IF_ERROR(commit_label(next, {}));
    }
  }
  RETURN_IF_ERROR(evacuate(index));
  std::unique_lock lock(config_mu_);
  PoolLabel next = label_;
  const std::string path = devices_[index]->path();
  const bool online = devices_[index]->online();
  next.members.erase(next.members.begin() + index);
  devices_[index]->set_state(DeviceState::kFaulted);  // no label write to it any more
  RETURN_IF_ERROR(commit_label(next, {}));
  devices_.erase(devices_.begin() + index);
  {
    std::lock_guard cache_lock(cache_mu_);
    cache_.clear();
  }
  if (online) retire_device_folder(path);
  return Status::ok();
}

Status Pool::evacuate(int index) {
  uint64_t done_objects = 0;
  // Objects are spread evenly over the 256 fan-out folders, so the share of
  // folders done is a fair estimate of the share of bytes moved.
  const uint64_t estimate = devices_[index]->online() ? devices_[index]->used_bytes() : 0;
  Progress progress("moving data off " + devices_[index]->path(), estimate);
  return for_each_hash([&](int fanout, const std::string& hash) {
    progress.update(estimate * static_cast<uint64_t>(fanout) / 256, done_objects++);
    std::shared_lock lock(config_mu_);
    return rehome(hash, index);
  });
}

// Moves the object's shard off device `index` (REQUIRES: config_mu_ shared).
// Where every other writable device already holds a shard, the object is
// written again, narrower (a new version that replaces the old one).
Status Pool::rehome(const std::string& hash, int index) {
  auto loc = locate(hash, /*use_cache=*/false);
  if (!loc.is_ok()) return Status::ok();  // removed meanwhile, or lost (scrub names it)
  auto& where = loc->device_of;
  int shard = -1;
  for (size_t i = 0; i < where.size(); ++i) {
    if (where[i] == index) shard = static_cast<int>(i);
  }
  const bool touches = shard >= 0 ||
                       std::find(loc->stale.begin(), loc->stale.end(), index) != loc->stale.end() ||
                       std::find(loc->bad.begin(), loc->bad.end(), index) != loc->bad.end();
  if (!touches) return Status::ok();
  Device& leaving = *devices_[index];
  if (shard < 0) {  // only garbage there
    if (::unlink(leaving.shard_path(hash).c_str()) == 0) (void)fsync_dir(leaving.shard_dir(hash));
    return Status::ok();
  }
  ASSIGN_OR_RETURN(Stripe stripe, read_shards(hash, *loc, /*verify_parity=*/false, nullptr));
  int target = -1;
  for (int d : writable_devices({index})) {
    if (std::find(where.begin(), where.end(), d) == where.end()) target = d;
  }
  if (target >= 0) {
    ShardHeader mine = loc->header;
    mine.shard_index = shard;
    RETURN_IF_ERROR(write_one_shard(target, hash, mine, stripe.shard(static_cast<size_t>(shard))));
    if (::unlink(leaving.shard_path(hash).c_str()) == 0) (void)fsync_dir(leaving.shard_dir(hash));
    forget_cached(hash);
    return Status::ok();
  }
  Bytes whole = assemble(*loc, stripe);
  forget_cached(hash);
  return put_locked(loc->header.name, whole, &loc.value(), {index});
}

}  // namespace lares
