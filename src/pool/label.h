// The pool label: how a device says which pool it belongs to and what the
// pool looks like. Every member device carries one, at <device>/lares-label.
//
// On-disk layout (docs/FORMAT.md, "Pool label"), little-endian:
//   0   8  magic "LARESLBL"
//   8   4  format version (1)
//   12  4  body length in bytes (<= kMaxBodyBytes)
//   16  4  crc32c of the body
//   20  .. body: UTF-8 JSON object (fields of PoolLabel)
// The file is replaced atomically (temporary name, fsync, rename, fsync of
// the directory). Pool state moves only by writing labels of a higher
// generation to every member; on import the valid label with the highest
// generation wins.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "util/bytes.h"
#include "util/status.h"

namespace lares {

enum class MemberState { kActive, kRemoving, kReplacing };
std::string member_state_name(MemberState state);

struct PoolMember {
  std::string device_id;  // 16 hex digits, unique within the pool
  std::string path;       // where the device was last seen (a hint)
  MemberState state = MemberState::kActive;
  std::string replaces;  // kReplacing: the device id this one takes over from
  bool operator==(const PoolMember&) const = default;
};

struct PoolLabel {
  static constexpr uint32_t kFormatVersion = 1;
  static constexpr uint32_t kMaxBodyBytes = 1 << 20;
  static constexpr char kFileName[] = "lares-label";

  std::string pool_id;  // 32 hex digits
  std::string pool_name;
  std::string device_id;  // the device this copy of the label lives on
  uint64_t generation = 0;
  int redundancy = 1;  // r: parity shards per object (1..3)
  int max_data_shards = 8;
  uint32_t block_size = 64 * 1024;
  int64_t created_unix = 0;
  std::vector<PoolMember> members;

  const PoolMember* find_member(const std::string& id) const;
  bool operator==(const PoolLabel&) const = default;
};

Bytes encode_label(const PoolLabel& label);
// Validates everything: magic, version, length, checksum, JSON shape and
// value ranges. Any failure is kCorruption (or kInvalidArgument for a newer
// format version), never a crash.
Result<PoolLabel> decode_label(ByteView bytes);

Result<PoolLabel> read_label(const std::string& device_dir);
Status write_label(const std::string& device_dir, const PoolLabel& label);

}  // namespace lares
