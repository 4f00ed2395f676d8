// Recovery at open: finishes or discards what a crash interrupted.
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <map>
#include <set>

#include "pool/pool.h"
#include "util/file.h"

namespace lares {
namespace {

bool is_object_hash(const std::string& s) {
  if (s.size() != 32) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

struct TmpShard {
  size_t device;
  uint64_t put_id;
  std::string path;
};

std::set<uint64_t> put_ids_of(const std::vector<TmpShard>& shards) {
  std::set<uint64_t> ids;
  for (const auto& s : shards) ids.insert(s.put_id);
  return ids;
}

}  // namespace

Result<std::vector<std::string>> Pool::all_hashes(const std::string& fanout) const {
  std::set<std::string> hashes;
  for (const auto& dev : devices_) {
    if (!dev->online()) continue;
    auto names = list_dir(dev->path() + "/shards/" + fanout);
    if (!names.is_ok()) {
      if (names.status().code() == Code::kNotFound) continue;
      return names.status();
    }
    for (const auto& n : *names) {
      if (is_object_hash(n) && n.compare(0, 2, fanout) == 0) hashes.insert(n);
    }
  }
  return std::vector<std::string>(hashes.begin(), hashes.end());
}

Status Pool::for_each_hash(const std::function<Status(int, const std::string&)>& fn) const {
  for (int fanout = 0; fanout < 256; ++fanout) {
    char dir[3];
    std::snprintf(dir, sizeof dir, "%02x", fanout);
    std::vector<std::string> hashes;
    {
      std::shared_lock lock(config_mu_);
      ASSIGN_OR_RETURN(hashes, all_hashes(dir));
    }
    for (const auto& hash : hashes) RETURN_IF_ERROR(fn(fanout, hash));
  }
  return Status::ok();
}

Status Pool::recover_interrupted() {
  std::map<std::string, std::vector<TmpShard>> tmps;
  std::set<std::string> removals;
  for (size_t d = 0; d < devices_.size(); ++d) {
    const Device& dev = *devices_[d];
    if (!dev.online()) continue;
    // Leftovers of interrupted atomic file replacements (labels, counters, cursors).
    ASSIGN_OR_RETURN(auto top, list_dir(dev.path()));
    for (const auto& n : top) {
      if (ends_with(n, ".tmp")) (void)remove_file(join_path(dev.path(), n));
    }
    auto fanouts = list_dir(dev.path() + "/shards");
    if (!fanouts.is_ok()) continue;
    for (const auto& fanout : *fanouts) {
      std::string dir = dev.path() + "/shards/" + fanout;
      auto names = list_dir(dir);
      if (!names.is_ok()) continue;
      for (const auto& n : *names) {
        if (ends_with(n, ".del") && is_object_hash(n.substr(0, n.size() - 4))) {
          removals.insert(n.substr(0, 32));
        } else if (ends_with(n, ".tmp") && n.size() == 32 + 1 + 16 + 4 &&
                   is_object_hash(n.substr(0, 32))) {
          uint64_t put_id = std::strtoull(n.substr(33, 16).c_str(), nullptr, 16);
          tmps[n.substr(0, 32)].push_back({d, put_id, dir + "/" + n});
        }
      }
    }
  }
  // An interrupted remove: finish it everywhere, marker last.
  for (const auto& hash : removals) {
    for (const auto& dev : devices_) {
      if (!dev->online()) continue;
      if (::unlink(dev->shard_path(hash).c_str()) == 0)
        RETURN_IF_ERROR(fsync_dir(dev->shard_dir(hash)));
    }
    for (const auto& dev : devices_) {
      if (!dev->online()) continue;
      std::string marker = dev->shard_path(hash) + ".del";
      if (::unlink(marker.c_str()) == 0) RETURN_IF_ERROR(fsync_dir(dev->shard_dir(hash)));
    }
  }
  // An interrupted put: roll forward if any shard was published and enough
  // shards exist to read it, else roll back. (A put that had returned has
  // no .tmp left, so whatever is rolled back was never committed.)
  for (const auto& [hash, shards] : tmps) {
    std::map<uint64_t, std::vector<size_t>> published;  // put id -> devices
    std::map<uint64_t, int> data_shards;                // put id -> its k
    for (size_t d = 0; d < devices_.size(); ++d) {
      if (!devices_[d]->online()) continue;
      auto shard = devices_[d]->open_shard(hash);
      if (!shard.is_ok()) continue;
      published[shard->header.put_id].push_back(d);
      data_shards[shard->header.put_id] = shard->header.k;
    }
    for (uint64_t put_id : put_ids_of(shards)) {
      auto it = published.find(put_id);
      size_t tmp_count = 0;
      for (const auto& tmp : shards) tmp_count += tmp.put_id == put_id ? 1 : 0;
      const bool forward = it != published.end() && removals.count(hash) == 0 &&
                           static_cast<int>(it->second.size() + tmp_count) >= data_shards[put_id];
      for (const auto& tmp : shards) {
        if (tmp.put_id != put_id) continue;
        const Device& dev = *devices_[tmp.device];
        if (forward) {
          if (::rename(tmp.path.c_str(), dev.shard_path(hash).c_str()) != 0) {
            return Status::from_errno(errno, "rename " + tmp.path);
          }
        } else {
          RETURN_IF_ERROR(remove_file(tmp.path));
        }
        RETURN_IF_ERROR(fsync_dir(dev.shard_dir(hash)));
      }
      if (!forward && it != published.end()) {
        // Published shards of a put too torn to read (only after a power
        // loss ate some new names): it never returned, so it goes too.
        for (size_t d : it->second) {
          RETURN_IF_ERROR(remove_file(devices_[d]->shard_path(hash)));
          RETURN_IF_ERROR(fsync_dir(devices_[d]->shard_dir(hash)));
        }
      }
    }
  }
  return Status::ok();
}

}  // namespace lares
