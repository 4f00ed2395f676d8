#include "pool/pool.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <ctime>
#include <set>

#include "codec/crc32c.h"
#include "codec/erasure_code.h"
#include "codec/name_hash.h"
#include "pool/placement.h"
#include "util/aligned_buffer.h"
#include "util/file.h"
#include "util/random.h"

namespace lares {

namespace {

constexpr size_t kCacheEntriesMax = 1024;
// Enough that the widest stripe (8 data + 3 parity) goes out in one wave;
// the calling thread works too.
constexpr size_t kIoThreads = 11;
// Free space kept back on every device so metadata writes still fit.
constexpr uint64_t kReserveBytes = 32ull << 20;

bool valid_pool_name(const std::string& name) {
  if (name.empty() || name.size() > 64 || name[0] == '-' || name[0] == '.') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
  });
}

Bytes hex_to_bytes(const std::string& hex) {
  Bytes out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<uint8_t>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  }
  return out;
}

Status verify_blocks(const ShardHeader& h, int shard, uint64_t first_block, ByteView data) {
  uint64_t blocks = (data.size() + h.block_size - 1) / h.block_size;
  for (uint64_t b = 0; b < blocks; ++b) {
    size_t begin = static_cast<size_t>(b * h.block_size);
    size_t length = std::min<size_t>(h.block_size, data.size() - begin);
    if (crc32c(data.subspan(begin, length)) != h.checksum(shard, first_block + b)) {
      return Status::corruption("checksum mismatch in shard " + std::to_string(shard) + " block " +
                                std::to_string(first_block + b) + " of '" + h.name + "'");
    }
  }
  return Status::ok();
}

AlignedBuffer encode_header_aligned(const ShardHeader& header) {
  Bytes encoded = encode_shard_header(header);
  AlignedBuffer out(encoded.size());
  std::memcpy(out.data(), encoded.data(), encoded.size());
  return out;
}

void fill_checksums(ShardHeader& h, int shard, ByteView data) {
  uint64_t blocks = h.block_count();
  for (uint64_t b = 0; b < blocks; ++b) {
    size_t begin = static_cast<size_t>(b * h.block_size);
    size_t length = std::min<size_t>(h.block_size, data.size() - begin);
    h.checksums[static_cast<size_t>(shard) * blocks + b] = crc32c(data.subspan(begin, length));
  }
}

}  // namespace

Pool::Pool(const PoolOptions& options)
    : options_(options), io_threads_(std::make_unique<ThreadPool>(kIoThreads)) {}

Pool::~Pool() {
  if (options_.mode == OpenMode::kReadWrite) (void)flush_counters();
}

// ---- create and open ------------------------------------------------------

Result<std::unique_ptr<Pool>> Pool::create(const std::string& name, int redundancy,
                                           const std::vector<std::string>& device_dirs,
                                           const PoolOptions& options) {
  if (!valid_pool_name(name)) {
    return Status::invalid_argument("pool name '" + name +
                                    "' must be 1-64 letters, digits, '_', '-' or '.'");
  }
  if (redundancy < 1 || redundancy > 3) {
    return Status::invalid_argument("redundancy must be 1, 2 or 3");
  }
  if (device_dirs.size() < static_cast<size_t>(redundancy) + 1) {
    return Status::invalid_argument("redundancy " + std::to_string(redundancy) +
                                    " needs at least " + std::to_string(redundancy + 1) +
                                    " devices");
  }
  std::set<std::string> seen;
  PoolLabel label;
  label.pool_id = random_hex(16);
  label.pool_name = name;
  label.generation = 1;
  label.redundancy = redundancy;
  label.created_unix = static_cast<int64_t>(std::time(nullptr));
  std::vector<std::string> dirs;
  for (const auto& d : device_dirs) {
    RETURN_IF_ERROR(make_dirs(d));
    std::string dir = absolute_path(d);
    if (!seen.insert(dir).second) return Status::invalid_argument("device listed twice: " + dir);
    RETURN_IF_ERROR(prepare_device_folder(dir));
    label.members.push_back({random_hex(8), dir, MemberState::kActive, ""});
    dirs.push_back(dir);
  }
  for (const auto& m : label.members) {
    PoolLabel copy = label;
    copy.device_id = m.device_id;
    RETURN_IF_ERROR(write_label(m.path, copy));
  }
  return open(dirs, options);
}

Result<std::unique_ptr<Pool>> Pool::open(const std::vector<std::string>& device_dirs,
                                         const PoolOptions& options) {
  std::unique_ptr<Pool> pool(new Pool(options));
  RETURN_IF_ERROR(pool->open_members(device_dirs));
  return pool;
}

Status Pool::open_members(const std::vector<std::string>& dirs) {
  struct Found {
    std::string path;
    PoolLabel label;
  };
  std::vector<Found> found;
  std::string errors;
  auto known = [&](const std::string& path) {
    return std::any_of(found.begin(), found.end(), [&](const Found& f) { return f.path == path; });
  };
  for (const auto& d : dirs) {
    std::string dir = absolute_path(d);
    if (known(dir)) continue;
    auto label = read_label(dir);
    if (label.is_ok()) {
      found.push_back({dir, std::move(label).value()});
    } else {
      errors += "\n  " + dir + ": " + label.status().message();
    }
  }
  if (found.empty()) return Status::not_found("no Lares pool label found" + errors);
  for (const auto& f : found) {
    if (f.label.pool_id != found[0].label.pool_id) {
      return Status::invalid_argument("the folders belong to different pools ('" +
                                      found[0].label.pool_name + "' and '" + f.label.pool_name +
                                      "')");
    }
  }
  // Follow the members' last known paths: a device named on the command
  // line may be stale, and the newest generation may live only elsewhere.
  // Each round adds at least one label, so this ends.
  for (bool grew = true; grew;) {
    grew = false;
    const Found* best = &*std::max_element(
        found.begin(), found.end(),
        [](const Found& a, const Found& b) { return a.label.generation < b.label.generation; });
    std::vector<PoolMember> members = best->label.members;
    for (const auto& member : members) {
      if (known(member.path)) continue;
      auto hinted = read_label(member.path);
      if (hinted.is_ok() && hinted->pool_id == found[0].label.pool_id) {
        found.push_back({member.path, std::move(hinted).value()});
        grew = true;
      }
    }
  }
  const Found& best = *std::max_element(
      found.begin(), found.end(),
      [](const Found& a, const Found& b) { return a.label.generation < b.label.generation; });
  label_ = best.label;
  pool_id_raw_ = hex_to_bytes(label_.pool_id);
  for (auto& member : label_.members) {
    std::string path = member.path;
    bool online = false;
    for (const auto& f : found) {
      if (f.label.device_id == member.device_id) {
        path = f.path;
        online = true;
      }
    }
    member.path = path;
    auto device = std::make_unique<Device>(path, member.device_id, options_.faults);
    device->set_state(online ? DeviceState::kOnline : DeviceState::kFaulted);
    if (online) (void)device->load_counters();
    devices_.push_back(std::move(device));
  }
  if (options_.mode == OpenMode::kReadOnly) return Status::ok();
  for (auto& device : devices_) {
    if (!device->online()) continue;
    ASSIGN_OR_RETURN(FileLock lock, FileLock::acquire(join_path(device->path(), "lares.lock"),
                                                      "pool '" + label_.pool_name + "'"));
    locks_.push_back(std::move(lock));
  }
  // Bring stale labels (a device that missed a generation) up to date.
  for (auto& device : devices_) {
    if (!device->online()) continue;
    auto current = read_label(device->path());
    PoolLabel mine = label_;
    mine.device_id = device->id();
    // A label is only ever replaced by one of the same or a newer generation.
    if (current.is_ok() && current->generation > mine.generation) {
      return Status::failed_precondition(device->path() +
                                         ": its label changed while opening; retry");
    }
    if (!current.is_ok() || !(*current == mine)) RETURN_IF_ERROR(write_label(device->path(), mine));
    RETURN_IF_ERROR(make_dirs(device->path() + "/shards"));
  }
  return recover_interrupted();
}

// ---- state ----------------------------------------------------------------

std::string Pool::name() const {
  std::shared_lock lock(config_mu_);
  return label_.pool_name;
}

std::string Pool::id() const {
  std::shared_lock lock(config_mu_);
  return label_.pool_id;
}

std::vector<std::string> Pool::device_paths() const {
  std::shared_lock lock(config_mu_);
  std::vector<std::string> paths;
  for (const auto& d : devices_) paths.push_back(d->path());
  return paths;
}

PoolStatus Pool::status() const {
  std::shared_lock lock(config_mu_);
  PoolStatus s;
  s.name = label_.pool_name;
  s.id = label_.pool_id;
  s.redundancy = label_.redundancy;
  s.generation = label_.generation;
  int faulted = 0;
  for (size_t i = 0; i < devices_.size(); ++i) {
    const Device& d = *devices_[i];
    const PoolMember& m = label_.members[i];
    DeviceStatus ds;
    ds.path = d.path();
    ds.id = d.id();
    ds.state = device_state_name(d.state());
    if (d.online() && m.state == MemberState::kRemoving) ds.state = "REMOVING";
    if (d.online() && m.state == MemberState::kReplacing) ds.state = "REPLACING";
    if (!d.online()) ++faulted;
    if (d.online()) {
      auto space = filesystem_space(d.path());
      if (space.is_ok()) ds.size_bytes = space->total_bytes;
      ds.used_bytes = d.used_bytes();
    }
    ds.read_errors = d.counters().read_errors.load();
    ds.checksum_errors = d.counters().checksum_errors.load();
    ds.repaired = d.counters().repaired.load();
    s.devices.push_back(std::move(ds));
  }
  s.state = faulted == 0 ? "ONLINE" : faulted <= label_.redundancy ? "DEGRADED" : "FAULTED";
  return s;
}

Status Pool::flush_counters() {
  std::shared_lock lock(config_mu_);
  Status first;
  for (const auto& d : devices_) {
    if (!d->online()) continue;
    Status st = d->save_counters();
    if (!st.is_ok() && first.is_ok()) first = st;
  }
  return first;
}

int Pool::find_device(const std::string& path_or_id) const {
  std::string abs = absolute_path(path_or_id);
  for (size_t i = 0; i < devices_.size(); ++i) {
    if (devices_[i]->id() == path_or_id || devices_[i]->path() == abs ||
        devices_[i]->path() == path_or_id) {
      return static_cast<int>(i);
    }
  }
  return -1;
}

std::vector<int> Pool::writable_devices(const std::vector<int>& exclude) const {
  std::vector<int> out;
  for (size_t i = 0; i < devices_.size(); ++i) {
    const int index = static_cast<int>(i);
    const PoolMember& m = label_.members[i];
    bool being_replaced =
        std::any_of(label_.members.begin(), label_.members.end(),
                    [&](const PoolMember& o) { return o.replaces == m.device_id; });
    if (!devices_[i]->online() || m.state != MemberState::kActive || being_replaced) continue;
    if (std::find(exclude.begin(), exclude.end(), index) != exclude.end()) continue;
    out.push_back(index);
  }
  return out;
}

std::vector<std::pair<int, uint64_t>> Pool::free_space(const std::vector<int>& exclude) {
  std::vector<std::pair<int, uint64_t>> out;
  for (int index : writable_devices(exclude)) {
    auto space = filesystem_space(devices_[index]->path());
    if (!space.is_ok()) {
      // The folder is gone (a disk unplugged or unmounted under us).
      devices_[index]->set_state(DeviceState::kFaulted);
      continue;
    }
    out.emplace_back(index, space->available_bytes);
  }
  return out;
}

Result<std::vector<int>> Pool::choose_devices(const std::vector<std::pair<int, uint64_t>>& space,
                                              size_t count, uint64_t shard_file_bytes) {
  std::vector<int> candidates;
  std::vector<uint64_t> weights;
  for (const auto& [index, available] : space) {
    if (available < shard_file_bytes + kReserveBytes) continue;
    candidates.push_back(index);
    weights.push_back(available - kReserveBytes);
  }
  if (candidates.size() < count) {
    return Status::no_space(
        "pool '" + label_.pool_name + "' is full: " + std::to_string(candidates.size()) +
        " devices have room for a " + format_size(shard_file_bytes) + " shard, " +
        std::to_string(count) + " are needed; add a device or free space");
  }
  SeededRandom random(random_u64());
  std::vector<int> chosen;
  for (size_t pick : weighted_pick(weights, count, random)) chosen.push_back(candidates[pick]);
  return chosen;
}

Status Pool::commit_label(PoolLabel next, const std::vector<int>& first) {
  next.generation = label_.generation + 1;
  std::vector<int> order = first;
  for (size_t i = 0; i < devices_.size(); ++i) {
    if (std::find(order.begin(), order.end(), static_cast<int>(i)) == order.end()) {
      order.push_back(static_cast<int>(i));
    }
  }
  int written = 0;
  Status first_error;
  for (int index : order) {
    if (static_cast<size_t>(index) >= devices_.size() || !devices_[index]->online()) continue;
    if (next.find_member(devices_[index]->id()) == nullptr) continue;
    PoolLabel mine = next;
    mine.device_id = devices_[index]->id();
    Status st = write_label(devices_[index]->path(), mine);
    if (st.is_ok()) {
      ++written;
    } else if (first_error.is_ok()) {
      first_error = st;
    }
  }
  if (written == 0)
    return first_error.is_ok() ? Status::unavailable("no device online") : first_error;
  label_ = std::move(next);
  return Status::ok();
}

void Pool::forget_cached(const std::string& hash) {
  std::lock_guard lock(cache_mu_);
  cache_.erase(hash);
}

// ---- locating an object ---------------------------------------------------

Result<Pool::Located> Pool::locate(const std::string& hash, bool use_cache) {
  if (use_cache) {
    {
      std::lock_guard lock(cache_mu_);
      auto it = cache_.find(hash);
      if (it != cache_.end()) return *it->second;
    }
  }
  const size_t n = devices_.size();
  std::vector<std::optional<Result<OpenShard>>> probes(n);
  io_threads_->parallel_for(n, [&](size_t i) {
    if (devices_[i]->online()) probes[i] = devices_[i]->open_shard(hash);
  });
  Located loc;
  loc.hash = hash;
  std::map<uint64_t, std::vector<std::pair<int, const ShardHeader*>>> versions;
  for (size_t i = 0; i < n; ++i) {
    if (!probes[i].has_value()) continue;
    const auto& probe = *probes[i];
    const int index = static_cast<int>(i);
    if (probe.is_ok()) {
      if (probe->header.pool_id == pool_id_raw_) {
        versions[probe->header.put_id].push_back({index, &probe->header});
        continue;
      }
      devices_[i]->counters().checksum_errors.fetch_add(1);  // a foreign shard
      loc.bad.push_back(index);
    } else if (probe.status().code() == Code::kCorruption) {
      devices_[i]->counters().checksum_errors.fetch_add(1);
      loc.bad.push_back(index);
    } else if (probe.status().code() != Code::kNotFound) {
      devices_[i]->note_io_error();
      loc.bad.push_back(index);
    }
  }
  if (versions.empty()) {
    if (!loc.bad.empty()) {
      return Status::corruption("every shard of object " + hash + " is damaged or unreadable");
    }
    return Status::not_found("object " + hash + " not found");
  }
  // The current version: not superseded by another present one; then the
  // one with most shards; then the newest put id.
  const std::vector<std::pair<int, const ShardHeader*>>* chosen = nullptr;
  for (const auto& [put_id, shards] : versions) {
    bool superseded = false;
    for (const auto& [other_id, other] : versions) {
      if (other_id != put_id && other[0].second->replaces_put_id == put_id) superseded = true;
    }
    if (superseded) continue;
    if (chosen == nullptr || shards.size() >= chosen->size()) chosen = &shards;
  }
  if (chosen == nullptr) chosen = &versions.rbegin()->second;
  loc.header = *(*chosen)[0].second;
  loc.device_of.assign(static_cast<size_t>(loc.header.k + loc.header.r), -1);
  for (const auto& [put_id, shards] : versions) {
    for (const auto& [index, header] : shards) {
      bool mine = &shards == chosen && header->same_version(loc.header);
      if (mine && loc.device_of[static_cast<size_t>(header->shard_index)] < 0) {
        loc.device_of[static_cast<size_t>(header->shard_index)] = index;
      } else {
        loc.stale.push_back(index);
      }
    }
  }
  std::lock_guard lock(cache_mu_);
  if (cache_.size() >= kCacheEntriesMax) cache_.clear();
  cache_[hash] = std::make_shared<const Located>(loc);
  return loc;
}

// ---- put ------------------------------------------------------------------

Status Pool::put(const std::string& name, ByteView data) {
  RETURN_IF_ERROR(validate_object_name(name));
  if (options_.mode != OpenMode::kReadWrite) {
    return Status::failed_precondition("pool is open read-only");
  }
  std::shared_lock lock(config_mu_);
  const std::string hash = name_hash_hex(name);
  auto old = locate(hash, /*use_cache=*/true);
  const Located* previous = old.is_ok() ? &old.value() : nullptr;
  Status st = put_locked(name, data, previous, {});
  if (st.code() == Code::kIOError) {
    // A device failed the write and is now FAULTED; place the object again.
    st = put_locked(name, data, previous, {});
  }
  return st.with_context("put '" + name + "'");
}

Status Pool::put_locked(const std::string& name, ByteView data, const Located* old,
                        const std::vector<int>& exclude) {
  const int r = label_.redundancy;
  const auto space = free_space(exclude);
  const int k = choose_data_shards(space.size(), r, label_.max_data_shards, data.size());
  if (k == 0) {
    return Status::unavailable("pool '" + label_.pool_name + "' has too few healthy devices for " +
                               "redundancy " + std::to_string(r) + "; replace faulted devices");
  }
  ShardHeader h;
  h.pool_id = pool_id_raw_;
  do {
    h.put_id = random_u64();
  } while (h.put_id == 0);
  h.replaces_put_id = old != nullptr ? old->header.put_id : 0;
  h.object_size = data.size();
  h.shard_size = shard_size_for(data.size(), k);
  h.block_size = label_.block_size;
  h.k = k;
  h.r = r;
  h.name = name;
  h.checksums.assign(static_cast<size_t>(k + r) * h.block_count(), 0);
  const size_t shard_size = static_cast<size_t>(h.shard_size);
  const size_t width = static_cast<size_t>(k + r);

  // All shards in one page-aligned buffer (data, zero padding, parity), so
  // every shard goes to its device with direct I/O. The one copy of the
  // caller's bytes happens here.
  AlignedBuffer stripe = buffers_.take(width * shard_size);
  struct GiveBack {
    BufferCache& cache;
    AlignedBuffer& buffer;
    ~GiveBack() { cache.give(std::move(buffer)); }
  } give_back{buffers_, stripe};
  if (!data.empty()) std::memcpy(stripe.data(), data.data(), data.size());
  std::memset(stripe.data() + data.size(), 0, static_cast<size_t>(k) * shard_size - data.size());
  std::vector<ByteView> shards(width);
  std::vector<MutableByteView> parity;
  for (size_t i = 0; i < width; ++i) {
    shards[i] = stripe.subspan(i * shard_size, shard_size);
    if (i >= static_cast<size_t>(k)) parity.push_back(stripe.subspan(i * shard_size, shard_size));
  }
  if (shard_size > 0) ErasureCode(k, r).encode({shards.begin(), shards.begin() + k}, parity);
  io_threads_->parallel_for(width,
                            [&](size_t i) { fill_checksums(h, static_cast<int>(i), shards[i]); });
  const std::string hash = name_hash_hex(name);
  ASSIGN_OR_RETURN(std::vector<int> targets,
                   choose_devices(space, width, h.header_size() + h.shard_size));
  for (int t : targets) h.devices.push_back(devices_[t]->number());

  // Phase 1: every shard durable under its temporary name, and its folder entry too.
  std::vector<Status> written(width);
  std::vector<std::string> tmp_paths(width);
  io_threads_->parallel_for(width, [&](size_t i) {
    ShardHeader mine = h;
    mine.shard_index = static_cast<int>(i);
    Device& dev = *devices_[targets[i]];
    AlignedBuffer header = encode_header_aligned(mine);
    auto tmp = dev.write_shard_tmp(hash, header.span(), shards[i], h.put_id);
    if (!tmp.is_ok()) {
      written[i] = tmp.status();
      return;
    }
    tmp_paths[i] = *tmp;
    // An overwrite must not publish until every new shard's name is durable:
    // its renames destroy the old version. A new object needs no such
    // guarantee: recovery rolls it back if too few shards survive.
    if (old != nullptr) written[i] = fsync_dir(dev.shard_dir(hash));
  });
  for (size_t i = 0; i < width; ++i) {
    if (written[i].is_ok()) continue;
    for (const auto& path : tmp_paths) {
      if (!path.empty()) ::unlink(path.c_str());
    }
    Device& failed = *devices_[targets[i]];
    if (written[i].code() == Code::kNoSpace)
      return written[i].with_context("device " + failed.path());
    // Any other failure to write means the device is failing or gone: fault
    // it, and report kIOError so the caller places the object again.
    failed.set_state(DeviceState::kFaulted);
    return Status::io_error("device " + failed.path() +
                            " failed and is now FAULTED: " + written[i].to_string());
  }
  // Phase 2: publish. From the first rename on, recovery rolls this put forward.
  Status published;
  std::mutex published_mu;
  io_threads_->parallel_for(width, [&](size_t i) {
    Device& dev = *devices_[targets[i]];
    Status st;
    if (::rename(tmp_paths[i].c_str(), dev.shard_path(hash).c_str()) != 0) {
      st = Status::from_errno(errno, "rename " + tmp_paths[i]);
    } else {
      st = fsync_dir(dev.shard_dir(hash));
    }
    if (!st.is_ok()) {
      dev.note_io_error();
      std::lock_guard lock(published_mu);
      if (published.is_ok()) published = st;
    }
  });
  // Phase 3: drop what is left of the replaced version outside the new set.
  if (old != nullptr) {
    std::vector<int> leftovers = old->stale;
    for (int d : old->device_of) leftovers.push_back(d);
    for (int d : leftovers) {
      if (d < 0 || std::find(targets.begin(), targets.end(), d) != targets.end()) continue;
      if (::unlink(devices_[d]->shard_path(hash).c_str()) == 0) {
        (void)fsync_dir(devices_[d]->shard_dir(hash));
      }
    }
  }
  Located loc;
  loc.hash = hash;
  loc.header = std::move(h);
  loc.device_of = targets;
  {
    std::lock_guard lock(cache_mu_);
    if (cache_.size() >= kCacheEntriesMax) cache_.clear();
    cache_[hash] = std::make_shared<const Located>(std::move(loc));
  }
  return published;
}

Status Pool::write_one_shard(int device_index, const std::string& hash, const ShardHeader& header,
                             ByteView data) {
  Device& dev = *devices_[device_index];
  AlignedBuffer encoded = encode_header_aligned(header);
  ASSIGN_OR_RETURN(std::string tmp, dev.write_shard_tmp(hash, encoded.span(), data, header.put_id));
  Status st = fsync_dir(dev.shard_dir(hash));
  if (st.is_ok() && ::rename(tmp.c_str(), dev.shard_path(hash).c_str()) != 0) {
    st = Status::from_errno(errno, "rename " + tmp);
  }
  if (!st.is_ok()) {
    ::unlink(tmp.c_str());
    return st;
  }
  return fsync_dir(dev.shard_dir(hash));
}

// ---- get ------------------------------------------------------------------

Result<Bytes> Pool::get(const std::string& name, uint64_t offset, uint64_t length) {
  RETURN_IF_ERROR(validate_object_name(name));
  std::shared_lock lock(config_mu_);
  const std::string hash = name_hash_hex(name);
  auto located = locate(hash, /*use_cache=*/true);
  if (!located.is_ok()) {
    if (located.status().code() == Code::kNotFound) {
      return Status::not_found("object '" + name + "' not found in pool '" + label_.pool_name +
                               "'");
    }
    return located.status().with_context("object '" + name + "'");
  }
  if (located->header.name != name) return Status::not_found("object '" + name + "' not found");
  const uint64_t size = located->header.object_size;
  const uint64_t begin = std::min(offset, size);
  const uint64_t end = length > size - begin ? size : begin + length;
  Bytes out(static_cast<size_t>(end - begin));
  if (read_range_fast(hash, *located, begin, end, out)) return out;

  // Slow path: something failed; read everything, rebuild, verify, heal.
  forget_cached(hash);
  ASSIGN_OR_RETURN(Located fresh, locate(hash, /*use_cache=*/false));
  auto stripe = read_shards(hash, fresh, /*verify_parity=*/false, nullptr);
  if (!stripe.is_ok()) return stripe.status().with_context("object '" + name + "'");
  if (!out.empty()) std::memcpy(out.data(), stripe->buffer.data() + begin, out.size());
  buffers_.give(std::move(stripe->buffer));
  return out;
}

bool Pool::read_range_fast(const std::string& hash, const Located& loc, uint64_t begin,
                           uint64_t end, MutableByteView out) {
  const ShardHeader& h = loc.header;
  if (begin == end) return true;
  const uint64_t s = h.shard_size;
  const uint64_t bs = h.block_size;
  const auto first = static_cast<int>(begin / s);
  const auto last = static_cast<int>((end - 1) / s);
  std::atomic<bool> ok{true};
  io_threads_->parallel_for(static_cast<size_t>(last - first + 1), [&](size_t n) {
    const int i = first + static_cast<int>(n);
    const int d = loc.device_of[static_cast<size_t>(i)];
    if (d < 0 || !devices_[d]->online()) {
      ok = false;
      return;
    }
    Device& dev = *devices_[d];
    const uint64_t base = static_cast<uint64_t>(i) * s;
    const uint64_t want_begin = std::max(begin, base) - base;  // within the shard
    const uint64_t want_end = std::min(end, base + s) - base;
    OpenShard shard;
    shard.header = h;
    shard.path = dev.shard_path(hash);
    auto fd = open_file(shard.path, O_RDONLY);
    Status st = fd.is_ok() ? Status::ok() : fd.status();
    if (st.is_ok()) shard.fd = fd->get();
    // Reads blocks [b0, b1) into dst (their exact bytes) and verifies them.
    auto read_blocks = [&](uint64_t b0, uint64_t b1, MutableByteView dst) {
      if (!st.is_ok() || b0 >= b1) return;
      st = dev.read_shard_data(shard, b0 * bs, dst);
      if (st.is_ok()) st = verify_blocks(h, i, b0, dst);
    };
    auto block_end = [&](uint64_t b) { return std::min((b + 1) * bs, s); };
    const uint64_t first_block = want_begin / bs;
    const uint64_t last_block = (want_end - 1) / bs;
    // Whole blocks inside the range are read straight into the caller's buffer.
    uint64_t inner_begin = want_begin % bs == 0 ? first_block : first_block + 1;
    uint64_t inner_end = block_end(last_block) == want_end ? last_block + 1 : last_block;
    // Where shard offset x lands in `out` (x >= want_begin, so never before it).
    auto out_at = [&](uint64_t x) { return out.data() + (base + x - begin); };
    if (inner_begin < inner_end) {
      read_blocks(inner_begin, inner_end,
                  {out_at(inner_begin * bs), block_end(inner_end - 1) - inner_begin * bs});
    } else {
      inner_begin = inner_end = last_block + 1;
    }
    // At most two partial blocks at the edges go through a small buffer.
    for (uint64_t b : {first_block, last_block}) {
      if (b >= inner_begin && b < inner_end) continue;
      Bytes buf(static_cast<size_t>(block_end(b) - b * bs));
      read_blocks(b, b + 1, buf);
      if (!st.is_ok()) break;
      const uint64_t from = std::max(want_begin, b * bs);
      const uint64_t to = std::min(want_end, block_end(b));
      std::memcpy(out_at(from), buf.data() + (from - b * bs), static_cast<size_t>(to - from));
      if (first_block == last_block) break;
    }
    if (!st.is_ok()) {
      if (st.code() == Code::kIOError) {
        dev.note_io_error();
      } else {
        dev.counters().checksum_errors.fetch_add(1);
      }
      ok = false;
    }
  });
  return ok;
}

Result<Pool::Stripe> Pool::read_shards(const std::string& hash, Located& loc, bool verify_parity,
                                       ScrubReport* report) {
  const ShardHeader& h = loc.header;
  const size_t width = static_cast<size_t>(h.k + h.r);
  Stripe stripe(buffers_.take(width * static_cast<size_t>(h.shard_size)),
                static_cast<size_t>(h.shard_size));
  std::vector<char> ok(width, 0);
  std::atomic<uint64_t> bytes_read{0};
  io_threads_->parallel_for(width, [&](size_t i) {
    const int d = loc.device_of[i];
    if (d < 0 || !devices_[d]->online()) return;
    Device& dev = *devices_[d];
    auto shard = dev.open_shard(hash);
    Status st = shard.is_ok() ? Status::ok() : shard.status();
    if (st.is_ok() &&
        (!shard->header.same_version(h) || shard->header.shard_index != static_cast<int>(i))) {
      st = Status::corruption("shard changed under us");
    }
    if (st.is_ok()) {
      st = dev.read_shard_direct(*shard, stripe.shard(i));
      bytes_read += stripe.shard_size;
    }
    if (st.is_ok()) st = verify_blocks(h, static_cast<int>(i), 0, stripe.shard(i));
    if (st.is_ok()) {
      ok[i] = 1;
    } else if (st.code() == Code::kIOError) {
      dev.note_io_error();
    } else {
      dev.counters().checksum_errors.fetch_add(1);
    }
  });
  if (report != nullptr) report->bytes_scanned += bytes_read.load();
  std::vector<int> missing;
  for (size_t i = 0; i < width; ++i) {
    if (!ok[i]) missing.push_back(static_cast<int>(i));
  }
  if (report != nullptr) report->errors_found += missing.size();
  if (missing.size() > static_cast<size_t>(h.r)) {
    return Status::corruption("only " + std::to_string(width - missing.size()) + " of " +
                              std::to_string(width) + " shards are intact and " +
                              std::to_string(h.k) + " are needed: the object cannot be recovered");
  }
  if (!missing.empty() && stripe.shard_size > 0) {
    std::vector<ByteView> views(width);
    std::vector<MutableByteView> outs;
    for (size_t i = 0; i < width; ++i) {
      if (ok[i]) views[i] = stripe.shard(i);
    }
    for (int i : missing) outs.push_back(stripe.shard(static_cast<size_t>(i)));
    RETURN_IF_ERROR(ErasureCode(h.k, h.r).reconstruct(views, missing, outs, stripe.shard_size));
    for (int i : missing) {
      // Invariant: rebuilt bytes match the checksums recorded at put time.
      RETURN_IF_ERROR(verify_blocks(h, i, 0, stripe.shard(static_cast<size_t>(i)))
                          .with_context("rebuilt shard does not verify"));
    }
  }
  if (verify_parity && h.r > 0 && stripe.shard_size > 0) {
    Bytes expect(static_cast<size_t>(h.r) * stripe.shard_size);
    std::vector<ByteView> data;
    std::vector<MutableByteView> parity;
    for (int i = 0; i < h.k; ++i) data.push_back(stripe.shard(static_cast<size_t>(i)));
    for (int p = 0; p < h.r; ++p) {
      parity.push_back(MutableByteView(expect).subspan(static_cast<size_t>(p) * stripe.shard_size,
                                                       stripe.shard_size));
    }
    ErasureCode(h.k, h.r).encode(data, parity);
    for (int p = 0; p < h.r; ++p) {
      ByteView stored = stripe.shard(static_cast<size_t>(h.k + p));
      if (std::memcmp(parity[static_cast<size_t>(p)].data(), stored.data(), stored.size()) != 0) {
        return Status::corruption("parity does not agree with data");
      }
    }
  }
  if (!missing.empty() && options_.mode == OpenMode::kReadWrite) {
    Status healed = heal_shards(hash, loc, missing, stripe, report);
    (void)healed;  // the data is good; a failed heal is retried by the next scrub
  }
  return stripe;
}

Status Pool::heal_shards(const std::string& hash, Located& loc, const std::vector<int>& missing,
                         Stripe& stripe, ScrubReport* report) {
  forget_cached(hash);
  Status result;
  for (int i : missing) {
    // Prefer the device that held the bad copy, then a device holding a bad
    // or stale file, then any writable device without a shard of this object.
    int target = loc.device_of[static_cast<size_t>(i)];
    if (target >= 0 && !devices_[target]->online()) target = -1;
    std::vector<int> preferred = loc.bad;
    preferred.insert(preferred.end(), loc.stale.begin(), loc.stale.end());
    for (int d : writable_devices({})) preferred.push_back(d);
    for (size_t c = 0; target < 0 && c < preferred.size(); ++c) {
      int d = preferred[c];
      bool holds = std::find(loc.device_of.begin(), loc.device_of.end(), d) != loc.device_of.end();
      if (!holds && devices_[d]->online()) target = d;
    }
    if (target < 0) continue;  // no room for it: stays degraded until a device is added
    ShardHeader mine = loc.header;
    mine.shard_index = i;
    Status st = write_one_shard(target, hash, mine, stripe.shard(static_cast<size_t>(i)));
    if (!st.is_ok()) {
      if (result.is_ok()) result = st;
      continue;
    }
    loc.device_of[static_cast<size_t>(i)] = target;
    loc.bad.erase(std::remove(loc.bad.begin(), loc.bad.end(), target), loc.bad.end());
    loc.stale.erase(std::remove(loc.stale.begin(), loc.stale.end(), target), loc.stale.end());
    devices_[target]->counters().repaired.fetch_add(1);
    if (report != nullptr) ++report->repaired;
  }
  return result;
}

Bytes Pool::assemble(const Located& loc, const Stripe& stripe) const {
  // Data shards lie back to back in the stripe: the object is its prefix.
  const auto size = static_cast<size_t>(loc.header.object_size);
  return Bytes(stripe.buffer.data(), stripe.buffer.data() + size);
}

// ---- size, list, remove, layout ------------------------------------------

Result<uint64_t> Pool::size(const std::string& name) {
  RETURN_IF_ERROR(validate_object_name(name));
  std::shared_lock lock(config_mu_);
  auto loc = locate(name_hash_hex(name), true);
  if (!loc.is_ok()) return loc.status();
  if (loc->header.name != name) return Status::not_found("object '" + name + "' not found");
  return loc->header.object_size;
}

Result<std::vector<std::string>> Pool::list(const std::string& prefix) {
  std::vector<std::string> names;
  RETURN_IF_ERROR(for_each_hash([&](int, const std::string& hash) {
    std::shared_lock lock(config_mu_);
    auto loc = locate(hash, true);
    if (loc.is_ok() && loc->header.name.compare(0, prefix.size(), prefix) == 0) {
      names.push_back(loc->header.name);
    }
    return Status::ok();
  }));
  std::sort(names.begin(), names.end());
  return names;
}

Status Pool::remove(const std::string& name) {
  RETURN_IF_ERROR(validate_object_name(name));
  if (options_.mode != OpenMode::kReadWrite) {
    return Status::failed_precondition("pool is open read-only");
  }
  std::shared_lock lock(config_mu_);
  const std::string hash = name_hash_hex(name);
  auto loc = locate(hash, false);
  if (!loc.is_ok() || loc->header.name != name) {
    return Status::not_found("object '" + name + "' not found in pool '" + label_.pool_name + "'");
  }
  std::vector<int> holders = loc->bad;
  holders.insert(holders.end(), loc->stale.begin(), loc->stale.end());
  for (int d : loc->device_of) {
    if (d >= 0) holders.push_back(d);
  }
  forget_cached(hash);
  // The marker makes the removal all-or-nothing: recovery finishes it.
  const Device& marker_dev = *devices_[holders[0]];
  const std::string marker = marker_dev.shard_path(hash) + ".del";
  if (::rename(marker_dev.shard_path(hash).c_str(), marker.c_str()) != 0) {
    return Status::from_errno(errno, "rename " + marker_dev.shard_path(hash));
  }
  RETURN_IF_ERROR(fsync_dir(marker_dev.shard_dir(hash)));
  for (size_t i = 1; i < holders.size(); ++i) {
    const Device& dev = *devices_[holders[i]];
    if (::unlink(dev.shard_path(hash).c_str()) == 0)
      RETURN_IF_ERROR(fsync_dir(dev.shard_dir(hash)));
  }
  RETURN_IF_ERROR(remove_file(marker));
  return fsync_dir(marker_dev.shard_dir(hash));
}

Result<ObjectLayout> Pool::layout(const std::string& name) {
  std::shared_lock lock(config_mu_);
  ASSIGN_OR_RETURN(Located loc, locate(name_hash_hex(name), false));
  ObjectLayout out;
  out.k = loc.header.k;
  out.r = loc.header.r;
  out.size = loc.header.object_size;
  for (int d : loc.device_of) out.device_ids.push_back(d >= 0 ? devices_[d]->id() : "");
  return out;
}

}  // namespace lares
