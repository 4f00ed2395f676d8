// One member device of a pool: a directory, normally one per physical disk.
//
//   <device>/lares-label      the pool label (pool/label.h)
//   <device>/lares.lock       flock'ed by the one writer of the pool
//   <device>/counters.json    persistent error counters
//   <device>/scrub-state.json the scrub cursor (pool/scrub.h)
//   <device>/shards/<hh>/<h>  one shard of the object whose name hashes to <h>
//   .../<h>.<put id>.tmp      a shard being written (put phase 1)
//   .../<h>.del               an object being removed
//
// Thread safety: counters are atomic; the state is changed only under the
// pool's exclusive lock.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "pool/device_faults.h"
#include "pool/shard_header.h"
#include "util/bytes.h"
#include "util/status.h"

namespace lares {

// Readies a folder to become a new member: it exists (created if need be),
// holds no pool label and nothing but a filesystem's lost+found; creates its
// shard area. kAlreadyExists names the pool it belongs to.
Status prepare_device_folder(const std::string& dir);

enum class DeviceState { kOnline, kFaulted };
std::string device_state_name(DeviceState state);

// counters.json: {"read_errors": N, "checksum_errors": N, "repaired": N}.
struct CounterValues {
  uint64_t read_errors = 0;
  uint64_t checksum_errors = 0;
  uint64_t repaired = 0;
};
std::string encode_counters(const CounterValues& values);
// kCorruption on anything but an object of non-negative integers; absent
// fields are 0 (counters are advisory, never a reason to refuse a pool).
Result<CounterValues> decode_counters(std::string_view text);

struct DeviceCounters {
  std::atomic<uint64_t> read_errors{0};
  std::atomic<uint64_t> checksum_errors{0};
  std::atomic<uint64_t> repaired{0};
};

// A shard file opened for reading, with its validated header.
struct OpenShard {
  ShardHeader header;
  int fd = -1;  // owned by `file`
  std::string path;
  std::shared_ptr<void> file;  // keeps the descriptor open
};

class Device {
 public:
  // Device I/O errors beyond this make the device FAULTED for the session.
  static constexpr uint64_t kFaultAfterIoErrors = 8;

  Device(std::string path, std::string id, DeviceFaults* faults);

  const std::string& path() const { return path_; }
  const std::string& id() const { return id_; }
  // The id as the number stored in shard headers' placement.
  uint64_t number() const { return number_; }
  DeviceState state() const { return state_.load(); }
  void set_state(DeviceState state) { state_.store(state); }
  bool online() const { return state() == DeviceState::kOnline; }
  DeviceCounters& counters() { return counters_; }
  const DeviceCounters& counters() const { return counters_; }

  std::string shard_dir(const std::string& hash) const;
  std::string shard_path(const std::string& hash) const;

  // Opens and validates the shard for `hash`. kNotFound when absent,
  // kCorruption when its header is bad, kIOError when the device failed.
  Result<OpenShard> open_shard(const std::string& hash) const;
  // Reads shard data [offset, offset + out.size()) (offset relative to the data).
  Status read_shard_data(const OpenShard& shard, uint64_t offset, MutableByteView out) const;
  // Reads all of a shard's data into `out` (page-aligned, shard size long)
  // with direct I/O where the filesystem allows: a scrub streams through
  // every shard and should neither copy through nor evict the page cache.
  Status read_shard_direct(const OpenShard& shard, MutableByteView out) const;
  // Phase 1 of a put: writes <hash>.<put id>.tmp and fsyncs it. Returns its path.
  Result<std::string> write_shard_tmp(const std::string& hash, ByteView header, ByteView data,
                                      uint64_t put_id) const;

  // Records an I/O error; enough of them fault the device.
  void note_io_error();
  Status load_counters();
  Status save_counters() const;
  uint64_t used_bytes() const;  // bytes in shard files (walks the shard folders)

 private:
  std::string path_;
  std::string id_;
  uint64_t number_;
  DeviceFaults* faults_;  // not owned; may be null
  std::atomic<DeviceState> state_{DeviceState::kOnline};
  std::atomic<uint64_t> io_errors_session_{0};
  DeviceCounters counters_;
};

}  // namespace lares
