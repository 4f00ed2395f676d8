// The pool: a redundant, self-healing ObjectStore over many devices.
//
// Each object is cut into k data shards plus r parity shards (Reed–Solomon),
// one shard per device on k + r distinct devices chosen by free space. r is
// fixed at creation; k follows the number of devices (capped by the label's
// max_data_shards) and shrinks for small objects; with too few devices it
// is 1, i.e. r + 1 mirrored copies. See docs/FORMAT.md for the files.
//
// Put protocol (crash-safe, see docs/FORMAT.md "Put and remove"):
//   1. every shard is written as <hash>.<put id>.tmp and fsynced; the shard
//      folders are fsynced;
//   2. each .tmp is renamed to <hash>; the folders are fsynced;
//   3. shards of the replaced version left on devices outside the new set
//      are unlinked.
// On opening for writing, recovery finishes phase 2 for any put that reached
// it (a final shard with the same put id exists) and discards the .tmp files
// of puts that did not; an object being removed (<hash>.del) is removed.
//
// Thread safety: all public methods may be called concurrently, except that
// concurrent puts or removes of the same name are not allowed. Lifecycle
// operations (add/replace/remove device) exclude puts while they change the
// member list but let reads and writes go on during rebuild and evacuation.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "objects/object_store.h"
#include "pool/device.h"
#include "pool/device_faults.h"
#include "pool/label.h"
#include "util/buffer_cache.h"
#include "util/file.h"
#include "util/thread_pool.h"

namespace lares {

enum class OpenMode { kReadOnly, kReadWrite };

struct PoolOptions {
  OpenMode mode = OpenMode::kReadWrite;
  DeviceFaults* faults = nullptr;  // test seam; not owned
};

struct DeviceStatus {
  std::string path;
  std::string id;
  std::string state;  // ONLINE, FAULTED, REMOVING, REPLACING
  uint64_t size_bytes = 0;
  uint64_t used_bytes = 0;
  uint64_t read_errors = 0;
  uint64_t checksum_errors = 0;
  uint64_t repaired = 0;
};

struct PoolStatus {
  std::string name;
  std::string id;
  std::string state;  // ONLINE, DEGRADED, FAULTED
  int redundancy = 0;
  uint64_t generation = 0;
  std::vector<DeviceStatus> devices;
};

struct ScrubOptions {
  uint64_t max_bytes_per_second = 0;  // 0: unthrottled
  bool restart = false;               // ignore a saved cursor and start over
  bool quiet = false;                 // no progress line even on a terminal
  // Called after each object (and while throttled); returning false stops
  // the scrub, leaving the cursor on disk so the next one resumes. The CLI
  // uses it for Ctrl-C; tests use it to simulate a crash.
  std::function<bool(uint64_t objects_done)> keep_going;
};

struct ScrubReport {
  uint64_t bytes_scanned = 0;
  uint64_t objects_scanned = 0;
  uint64_t errors_found = 0;
  uint64_t repaired = 0;
  uint64_t unrecoverable = 0;
  double seconds = 0;
  bool resumed = false;
  bool finished = false;
  std::vector<std::string> unrecoverable_objects;  // names (or hashes) of lost objects
};

// Data about one object, for tests and tools.
struct ObjectLayout {
  int k = 0;
  int r = 0;
  uint64_t size = 0;
  std::vector<std::string> device_ids;  // per shard index; "" where missing
};

class Pool final : public ObjectStore {
 public:
  // Creates a pool on empty (or non-existent) directories and opens it for writing.
  static Result<std::unique_ptr<Pool>> create(const std::string& name, int redundancy,
                                              const std::vector<std::string>& device_dirs,
                                              const PoolOptions& options = {});
  // Opens the pool whose members include these directories. Members not
  // listed (or unreadable) are FAULTED; the highest-generation label wins.
  static Result<std::unique_ptr<Pool>> open(const std::vector<std::string>& device_dirs,
                                            const PoolOptions& options = {});
  ~Pool() override;

  // ObjectStore
  Status put(const std::string& name, ByteView data) override;
  Result<Bytes> get(const std::string& name, uint64_t offset, uint64_t length) override;
  using ObjectStore::get;
  Result<uint64_t> size(const std::string& name) override;
  Result<std::vector<std::string>> list(const std::string& prefix) override;
  Status remove(const std::string& name) override;

  PoolStatus status() const;
  std::string name() const;
  std::string id() const;
  std::vector<std::string> device_paths() const;  // current members, in label order
  Result<ObjectLayout> layout(const std::string& name);

  Result<ScrubReport> scrub(const ScrubOptions& options);
  Status add_devices(const std::vector<std::string>& device_dirs);
  // `old_device` is a member's path or id. Rebuilds onto new_dir, then swaps.
  Status replace_device(const std::string& old_device, const std::string& new_dir);
  // Moves every shard off the device, then drops it from the pool.
  Status remove_device(const std::string& device);

  // Saves device counters. Called by the destructor too.
  Status flush_counters();

 private:
  // Where the current version of an object lies. Device indices are into
  // devices_ and valid while the member list is unchanged (the cache is
  // cleared whenever it changes).
  struct Located {
    std::string hash;
    ShardHeader header;          // shard_index is meaningless here
    std::vector<int> device_of;  // per shard index: device index, or -1 when missing
    std::vector<int> stale;      // devices holding another version or a duplicate
    std::vector<int> bad;        // devices whose file failed its header check or I/O
  };
  explicit Pool(const PoolOptions& options);

  // Internal helpers, grouped by the file that implements them.
  // pool.cc
  Status open_members(const std::vector<std::string>& dirs);
  // Every online device is probed for the object (use_cache: unless it is
  // cached). All of them, not just the first shard found: a device that was
  // away while the object was overwritten may return holding a superseded
  // version, and only the full picture shows which version is current.
  // After that, reads touch only the data shards they need.
  Result<Located> locate(const std::string& hash, bool use_cache);
  Status put_locked(const std::string& name, ByteView data, const Located* old,
                    const std::vector<int>& exclude_devices);
  bool read_range_fast(const std::string& hash, const Located& loc, uint64_t begin, uint64_t end,
                       MutableByteView out);
  // Reads, verifies and (where needed) rebuilds every shard of the located
  // version; heals what it rebuilt when open for writing.
  // All k + r shards of one object back to back in one aligned buffer
  // (so the data shards together are the object, zero-padded).
  struct Stripe {
    Stripe(AlignedBuffer b, size_t size) : buffer(std::move(b)), shard_size(size) {}
    AlignedBuffer buffer;
    size_t shard_size;
    MutableByteView shard(size_t i) { return buffer.subspan(i * shard_size, shard_size); }
  };
  Result<Stripe> read_shards(const std::string& hash, Located& loc, bool verify_parity,
                             ScrubReport* report);
  Bytes assemble(const Located& loc, const Stripe& stripe) const;
  Status heal_shards(const std::string& hash, Located& loc, const std::vector<int>& missing,
                     Stripe& stripe, ScrubReport* report);
  Status write_one_shard(int device_index, const std::string& hash, const ShardHeader& header,
                         ByteView data);
  // Writable devices and their free bytes; faults devices whose folder vanished.
  std::vector<std::pair<int, uint64_t>> free_space(const std::vector<int>& exclude);
  Result<std::vector<int>> choose_devices(const std::vector<std::pair<int, uint64_t>>& space,
                                          size_t count, uint64_t shard_file_bytes);
  int find_device(const std::string& path_or_id) const;
  void forget_cached(const std::string& hash);
  Status commit_label(PoolLabel next, const std::vector<int>& first);
  void scrub_object(const std::string& hash, ScrubReport* report);
  Status rehome(const std::string& hash, int index);
  std::vector<int> writable_devices(const std::vector<int>& exclude) const;
  // pool_recovery.cc
  Status recover_interrupted();
  Result<std::vector<std::string>> all_hashes(const std::string& fanout) const;
  // Calls fn(fan-out folder number, hash) for every object in hash order.
  // Takes config_mu_ shared only while listing; fn takes what it needs.
  Status for_each_hash(const std::function<Status(int, const std::string&)>& fn) const;
  // lifecycle.cc
  Status rebuild_onto(int new_index, int old_index);
  Result<uint64_t> rebuild_object(const std::string& hash, int new_index, int old_index);
  Status evacuate(int index);

  PoolOptions options_;
  mutable std::shared_mutex config_mu_;           // members, devices_, label_: shared for I/O
  PoolLabel label_;                               // GUARDED_BY(config_mu_)
  std::vector<std::unique_ptr<Device>> devices_;  // GUARDED_BY(config_mu_), label order
  std::vector<FileLock> locks_;
  Bytes pool_id_raw_;
  std::unique_ptr<ThreadPool> io_threads_;
  BufferCache buffers_;  // stripe buffers for put

  std::mutex cache_mu_;
  std::unordered_map<std::string, std::shared_ptr<const Located>> cache_;  // GUARDED_BY(cache_mu_)
};

}  // namespace lares
