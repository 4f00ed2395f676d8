#include "fs/dataset.h"

#include <algorithm>
#include <cstring>

#include <nlohmann/json.hpp>

#include "codec/aead.h"
#include "util/json_file.h"

namespace lares {

namespace {

constexpr const char* kDatasetsPrefix = "datasets/";

// The associated data binds a sealed head to this repository and to its
// name, so a head cannot be passed off as another dataset's.
Bytes head_ad(const Repository& repo, std::string_view name) {
  const std::string_view tag = "LRSDSET1";
  Bytes ad(tag.begin(), tag.end());
  const RepoId& id = repo.config().id;
  ad.insert(ad.end(), id.begin(), id.end());
  ad.insert(ad.end(), name.begin(), name.end());
  return ad;
}

bool valid_recordsize(uint64_t size) {
  return size >= kMinRecordSize && size <= kMaxRecordSize && (size & (size - 1)) == 0;
}

}  // namespace

std::string encode_dataset_head(const DatasetHead& h) {
  nlohmann::json j = {{"format", DatasetHead::kFormat},
                      {"name", h.name},
                      {"root", h.root ? h.root->hex() : std::string()},
                      {"txg", h.txg},
                      {"next_ino", h.next_ino},
                      {"created_ns", h.created_ns},
                      {"recordsize", h.recordsize},
                      {"quota_bytes", h.quota_bytes},
                      {"origin", h.origin},
                      {"inodes", h.inodes},
                      {"logical_bytes", h.logical_bytes},
                      {"auto_snapshots", {{"enabled", h.schedule.enabled},
                                          {"hourly", h.schedule.hourly},
                                          {"daily", h.schedule.daily},
                                          {"weekly", h.schedule.weekly},
                                          {"monthly", h.schedule.monthly}}}};
  return j.dump();
}

Result<DatasetHead> decode_dataset_head(std::string_view text) {
  const std::string what = "dataset head";
  ASSIGN_OR_RETURN(nlohmann::json j, parse_json(text, what));
  int format = 0;
  RETURN_IF_ERROR(json_field(j, "format", what, &format));
  if (format != DatasetHead::kFormat) {
    return Status::failed_precondition("dataset head format " + std::to_string(format) +
                                       " is not supported by this version of lares");
  }
  DatasetHead h;
  std::string root;
  RETURN_IF_ERROR(json_field(j, "name", what, &h.name));
  RETURN_IF_ERROR(json_field(j, "root", what, &root));
  RETURN_IF_ERROR(json_field(j, "txg", what, &h.txg));
  RETURN_IF_ERROR(json_field(j, "next_ino", what, &h.next_ino));
  RETURN_IF_ERROR(json_field(j, "created_ns", what, &h.created_ns));
  RETURN_IF_ERROR(json_field(j, "recordsize", what, &h.recordsize));
  RETURN_IF_ERROR(json_field(j, "quota_bytes", what, &h.quota_bytes));
  RETURN_IF_ERROR(json_field(j, "origin", what, &h.origin));
  RETURN_IF_ERROR(json_field(j, "inodes", what, &h.inodes));
  RETURN_IF_ERROR(json_field(j, "logical_bytes", what, &h.logical_bytes));
  // Heads written before schedules existed have none: the defaults apply.
  if (j.contains("auto_snapshots")) {
    const nlohmann::json& a = j["auto_snapshots"];
    RETURN_IF_ERROR(json_field(a, "enabled", what, &h.schedule.enabled));
    RETURN_IF_ERROR(json_field(a, "hourly", what, &h.schedule.hourly));
    RETURN_IF_ERROR(json_field(a, "daily", what, &h.schedule.daily));
    RETURN_IF_ERROR(json_field(a, "weekly", what, &h.schedule.weekly));
    RETURN_IF_ERROR(json_field(a, "monthly", what, &h.schedule.monthly));
    for (int n : {h.schedule.hourly, h.schedule.daily, h.schedule.weekly, h.schedule.monthly}) {
      if (n < 0 || n > 100000) return Status::corruption(what + ": bad auto_snapshots count");
    }
  }
  if (!validate_dataset_name(h.name).is_ok()) return Status::corruption(what + ": bad name");
  if (!valid_recordsize(h.recordsize)) return Status::corruption(what + ": bad recordsize");
  if (h.next_ino < 2 || h.next_ino >= (uint64_t{1} << 48)) {
    return Status::corruption(what + ": bad next_ino");
  }
  if (!root.empty()) {
    auto id = ChunkId::from_hex(root);
    if (!id.is_ok()) return Status::corruption(what + ": bad root");
    h.root = *id;
  }
  return h;
}

Result<uint32_t> parse_recordsize(std::string_view text) {
  uint64_t multiplier = 1;
  if (!text.empty() && (text.back() == 'K' || text.back() == 'k')) {
    multiplier = 1024;
    text.remove_suffix(1);
  } else if (!text.empty() && (text.back() == 'M' || text.back() == 'm')) {
    multiplier = 1024 * 1024;
    text.remove_suffix(1);
  }
  uint64_t value = 0;
  bool ok = !text.empty() && text.size() <= 8;
  for (char c : text) {
    if (c < '0' || c > '9') ok = false;
    value = value * 10 + static_cast<uint64_t>(c - '0');
  }
  value *= multiplier;
  if (!ok || !valid_recordsize(value)) {
    return Status::invalid_argument("recordsize must be a power of two from 4K to 1M (e.g. 128K)");
  }
  return static_cast<uint32_t>(value);
}

Result<std::vector<DatasetHead>> DatasetStore::list() {
  ASSIGN_OR_RETURN(std::vector<std::string> names, repo_.store().list(kDatasetsPrefix));
  std::vector<DatasetHead> out;
  for (const auto& object : names) {
    ASSIGN_OR_RETURN(DatasetHead head, load(object.substr(std::strlen(kDatasetsPrefix))));
    out.push_back(std::move(head));
  }
  return out;
}

Result<DatasetHead> DatasetStore::load(const std::string& name) {
  RETURN_IF_ERROR(validate_dataset_name(name));
  auto sealed = repo_.store().get(kDatasetsPrefix + name);
  if (!sealed.is_ok()) {
    if (sealed.status().code() == Code::kNotFound) {
      return Status::not_found("no live dataset '" + name + "'; 'lares dataset list' shows them");
    }
    return sealed.status();
  }
  auto plain = open(repo_.meta_keys(), *sealed, head_ad(repo_, name));
  if (!plain.is_ok()) return Status::corruption("dataset head '" + name + "' is damaged");
  auto head = decode_dataset_head(as_chars(*plain));
  if (!head.is_ok()) return head.status().with_context("dataset '" + name + "'");
  if (head->name != name) return Status::corruption("dataset head '" + name + "' names another");
  return head;
}

Status DatasetStore::create(const DatasetHead& head) {
  RETURN_IF_ERROR(validate_dataset_name(head.name));
  auto existing = repo_.store().size(kDatasetsPrefix + head.name);
  if (existing.is_ok()) {
    return Status::already_exists("dataset '" + head.name + "' already exists");
  }
  if (existing.status().code() != Code::kNotFound) return existing.status();
  ASSIGN_OR_RETURN(std::vector<SnapshotRecord> snaps, repo_.list_snapshots(head.name));
  // Snapshots of this name without a head: a backup dataset (never mixed
  // with a live one), or a live dataset's snapshots with the head gone — as
  // after a recovery from a replica, which makes the head again from one of
  // them (head.origin).
  const bool own_snapshots =
      !head.origin.empty() &&
      std::all_of(snaps.begin(), snaps.end(),
                  [](const SnapshotRecord& s) { return s.layout == SnapshotLayout::kLive; }) &&
      std::any_of(snaps.begin(), snaps.end(),
                  [&](const SnapshotRecord& s) { return s.id == head.origin; });
  if (!snaps.empty() && !own_snapshots) {
    return Status::already_exists("'" + head.name +
                                  "' already names a dataset of backup snapshots; choose "
                                  "another name");
  }
  return save(head);
}

Status DatasetStore::save(const DatasetHead& head) {
  RETURN_IF_ERROR(validate_dataset_name(head.name));
  const std::string plain = encode_dataset_head(head);
  Bytes sealed = seal(repo_.meta_keys(), as_bytes(plain), head_ad(repo_, head.name));
  return repo_.store().put(kDatasetsPrefix + head.name, sealed);
}

Status DatasetStore::destroy(const std::string& name) {
  RETURN_IF_ERROR(validate_dataset_name(name));
  Status st = repo_.store().remove(kDatasetsPrefix + name);
  if (st.code() == Code::kNotFound) {
    return Status::not_found("no live dataset '" + name + "'; 'lares dataset list' shows them");
  }
  return st;
}

}  // namespace lares
