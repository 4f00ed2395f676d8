// Dataset heads: the mutable ref of each live dataset (fs/live_fs.h).
//
// A live dataset is named by one object of the repository's store,
// `datasets/<name>`: a sealed JSON record (docs/FORMAT.md, "Dataset head")
// holding the root of its tree as of the last transaction group, and its
// properties. The head is replaced atomically (the store's put) after every
// blob it points to is durable, so a crash leaves the previous head or the
// new one, never a mix.
//
// Datasets made by `lares backup` have no head: they are their snapshots.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "chunks/repository.h"
#include "codec/keyed_hash.h"
#include "util/status.h"

namespace lares {

inline constexpr uint32_t kDefaultRecordSize = uint32_t{128} << 10;
inline constexpr uint32_t kMinRecordSize = uint32_t{4} << 10;
inline constexpr uint32_t kMaxRecordSize = uint32_t{1} << 20;

// Automatic snapshots of a live dataset: taken at most hourly while it
// changes (by the process that mounts it), named auto-<UTC time>, and pruned
// to these counts (as `lares forget` would: the newest of each of the last N
// hours, days, ISO weeks, months). Snapshots made by hand are never pruned.
struct SnapshotSchedule {
  bool enabled = true;
  int hourly = 24, daily = 7, weekly = 4, monthly = 12;
  bool operator==(const SnapshotSchedule&) const = default;
};

struct DatasetHead {
  static constexpr int kFormat = 1;
  std::string name;
  std::optional<ChunkId> root;  // the tree's root node; none before the first commit
  uint64_t txg = 0;             // transaction groups committed
  uint64_t next_ino = 2;        // the root directory is inode 1
  int64_t created_ns = 0;
  uint32_t recordsize = kDefaultRecordSize;  // a power of two in [4 KiB, 1 MiB]
  uint64_t quota_bytes = 0;                  // 0: none
  std::string origin;                        // snapshot id it was cloned from, or ""
  SnapshotSchedule schedule;
  // Accounting as of `txg`.
  uint64_t inodes = 0;          // inodes in use
  uint64_t logical_bytes = 0;   // bytes of file data held (records, not holes)
  bool operator==(const DatasetHead&) const = default;
};

std::string encode_dataset_head(const DatasetHead& head);
// Strict: kCorruption for anything malformed, kFailedPrecondition for an
// unknown format.
Result<DatasetHead> decode_dataset_head(std::string_view text);

// "4K", "128K", "1M" or a byte count; kInvalidArgument unless a power of two
// in [kMinRecordSize, kMaxRecordSize].
Result<uint32_t> parse_recordsize(std::string_view text);

class DatasetStore {
 public:
  explicit DatasetStore(Repository& repo) : repo_(repo) {}

  // Every live dataset, by name.
  Result<std::vector<DatasetHead>> list();
  // kNotFound when `name` has no head.
  Result<DatasetHead> load(const std::string& name);
  // A new head; kAlreadyExists when the name is taken by a live dataset or
  // by backup snapshots.
  Status create(const DatasetHead& head);
  // Replaces the head (atomic).
  Status save(const DatasetHead& head);
  // Removes the head (the data goes at the next gc, unless snapshots or
  // clones still hold it).
  Status destroy(const std::string& name);

 private:
  Repository& repo_;
};

}  // namespace lares
