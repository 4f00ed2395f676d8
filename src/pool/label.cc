#include "pool/label.h"

#include <limits>
#include <nlohmann/json.hpp>

#include "codec/crc32c.h"
#include "util/file.h"
#include "util/json_file.h"

namespace lares {
namespace {

constexpr char kMagic[8] = {'L', 'A', 'R', 'E', 'S', 'L', 'B', 'L'};
constexpr size_t kEnvelopeBytes = 20;

bool is_hex(const std::string& s, size_t length) {
  if (s.size() != length) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

Result<MemberState> parse_member_state(const std::string& s) {
  if (s == "active") return MemberState::kActive;
  if (s == "removing") return MemberState::kRemoving;
  if (s == "replacing") return MemberState::kReplacing;
  return Status::corruption("pool label: unknown member state '" + s + "'");
}

template <typename T>
Status get_field(const nlohmann::json& obj, const char* key, T* out) {
  return json_field(obj, key, "pool label", out);
}

}  // namespace

std::string member_state_name(MemberState state) {
  switch (state) {
    case MemberState::kActive: return "active";
    case MemberState::kRemoving: return "removing";
    case MemberState::kReplacing: return "replacing";
  }
  return "active";
}

const PoolMember* PoolLabel::find_member(const std::string& id) const {
  for (const auto& m : members) {
    if (m.device_id == id) return &m;
  }
  return nullptr;
}

Bytes encode_label(const PoolLabel& label) {
  nlohmann::json body = {
      {"pool_id", label.pool_id},           {"pool_name", label.pool_name},
      {"device_id", label.device_id},       {"generation", label.generation},
      {"redundancy", label.redundancy},     {"max_data_shards", label.max_data_shards},
      {"block_size", label.block_size},     {"created_unix", label.created_unix},
      {"members", nlohmann::json::array()},
  };
  for (const auto& m : label.members) {
    nlohmann::json member = {
        {"device_id", m.device_id}, {"path", m.path}, {"state", member_state_name(m.state)}};
    if (!m.replaces.empty()) member["replaces"] = m.replaces;
    body["members"].push_back(member);
  }
  std::string text = body.dump();
  LARES_CHECK(text.size() <= PoolLabel::kMaxBodyBytes);
  Bytes out;
  ByteWriter w(&out);
  w.raw({reinterpret_cast<const uint8_t*>(kMagic), sizeof kMagic});
  w.u32(PoolLabel::kFormatVersion);
  w.u32(static_cast<uint32_t>(text.size()));
  w.u32(crc32c(as_bytes(text)));
  w.raw(as_bytes(text));
  return out;
}

Result<PoolLabel> decode_label(ByteView bytes) {
  static_assert(sizeof kMagic == 8 && kEnvelopeBytes == 8 + 4 + 4 + 4);
  if (bytes.size() < kEnvelopeBytes) return Status::corruption("pool label is truncated");
  if (std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0) {
    return Status::corruption("not a Lares pool label (bad magic)");
  }
  ByteReader r(bytes.subspan(sizeof kMagic));
  uint32_t version = r.u32();
  uint32_t length = r.u32();
  uint32_t crc = r.u32();
  if (version != PoolLabel::kFormatVersion) {
    return Status::invalid_argument("pool label format version " + std::to_string(version) +
                                    " is not supported by this lares; upgrade lares");
  }
  if (length > PoolLabel::kMaxBodyBytes || length != bytes.size() - kEnvelopeBytes) {
    return Status::corruption("pool label length does not match the file");
  }
  ByteView body = bytes.subspan(kEnvelopeBytes);
  if (crc32c(body) != crc) return Status::corruption("pool label checksum mismatch");
  ASSIGN_OR_RETURN(nlohmann::json j, parse_json(as_chars(body), "pool label"));
  if (!j.is_object()) return Status::corruption("pool label body is not a JSON object");

  PoolLabel label;
  RETURN_IF_ERROR(get_field(j, "pool_id", &label.pool_id));
  RETURN_IF_ERROR(get_field(j, "pool_name", &label.pool_name));
  RETURN_IF_ERROR(get_field(j, "device_id", &label.device_id));
  RETURN_IF_ERROR(get_field(j, "generation", &label.generation));
  RETURN_IF_ERROR(get_field(j, "redundancy", &label.redundancy));
  RETURN_IF_ERROR(get_field(j, "max_data_shards", &label.max_data_shards));
  RETURN_IF_ERROR(get_field(j, "block_size", &label.block_size));
  RETURN_IF_ERROR(get_field(j, "created_unix", &label.created_unix));
  if (!is_hex(label.pool_id, 32) || !is_hex(label.device_id, 16)) {
    return Status::corruption("pool label: malformed pool or device id");
  }
  if (label.pool_name.empty() || label.pool_name.size() > 64) {
    return Status::corruption("pool label: bad pool name");
  }
  if (label.redundancy < 1 || label.redundancy > 3 || label.max_data_shards < 1 ||
      label.max_data_shards > 16 || label.block_size < 4096 || label.block_size > (1u << 20) ||
      (label.block_size & (label.block_size - 1)) != 0) {
    return Status::corruption("pool label: layout values out of range");
  }
  auto members = j.find("members");
  if (members == j.end() || !members->is_array() || members->empty() || members->size() > 64) {
    return Status::corruption("pool label: bad member list");
  }
  for (const auto& m : *members) {
    if (!m.is_object()) return Status::corruption("pool label: member is not an object");
    PoolMember member;
    std::string state;
    RETURN_IF_ERROR(get_field(m, "device_id", &member.device_id));
    RETURN_IF_ERROR(get_field(m, "path", &member.path));
    RETURN_IF_ERROR(get_field(m, "state", &state));
    ASSIGN_OR_RETURN(member.state, parse_member_state(state));
    if (m.contains("replaces")) RETURN_IF_ERROR(get_field(m, "replaces", &member.replaces));
    if (!is_hex(member.device_id, 16)) return Status::corruption("pool label: bad member id");
    if (label.find_member(member.device_id) != nullptr) {
      return Status::corruption("pool label: duplicate member " + member.device_id);
    }
    label.members.push_back(std::move(member));
  }
  if (label.find_member(label.device_id) == nullptr) {
    return Status::corruption("pool label: the device is not among the pool's members");
  }
  return label;
}

Result<PoolLabel> read_label(const std::string& device_dir) {
  std::string path = join_path(device_dir, PoolLabel::kFileName);
  auto bytes = read_file(path);
  if (!bytes.is_ok()) return bytes.status();
  auto label = decode_label(*bytes);
  if (!label.is_ok()) return label.status().with_context(path);
  return label;
}

Status write_label(const std::string& device_dir, const PoolLabel& label) {
  return write_file_atomic(join_path(device_dir, PoolLabel::kFileName), encode_label(label));
}

}  // namespace lares
