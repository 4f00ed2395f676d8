#include "chunks/repository.h"

#include <sodium.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <set>

#include "codec/compression.h"
#include "util/json_file.h"
#include "util/random.h"

namespace lares {
namespace {

constexpr char kConfigObject[] = "config";
constexpr char kKeysPrefix[] = "keys/";
constexpr char kIndexPrefix[] = "index/";
constexpr char kSnapshotsPrefix[] = "snapshots/";
// Packs written since the last index segment before one is written anyway, so
// an interrupted backup resumes without sending those packs again.
constexpr size_t kPacksPerCheckpoint = 32;

int64_t now_unix() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Bytes prefixed_ad(std::string_view tag, const RepoId& repo) {
  Bytes ad(tag.begin(), tag.end());
  ad.insert(ad.end(), repo.begin(), repo.end());
  return ad;
}

bool parse_repo_id(std::string_view hex, RepoId* out) { return decode_hex(hex, *out); }

Status validate_name(std::string_view name, const char* what) {
  if (name.empty() || name.size() > 64) {
    return Status::invalid_argument(std::string(what) + " name must be 1 to 64 characters");
  }
  if (name[0] == '.' || name[0] == '-') {
    return Status::invalid_argument(std::string(what) + " name '" + std::string(name) +
                                    "' must not start with '.' or '-'");
  }
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-' || c == ':';
    if (!ok) {
      return Status::invalid_argument(std::string(what) + " name '" + std::string(name) +
                                      "' may hold only letters, digits and . _ - :");
    }
  }
  return Status::ok();
}

}  // namespace

std::string encode_snapshot_record(const SnapshotRecord& r) {
  nlohmann::json j = {{"format", SnapshotRecord::kFormat},
                      {"dataset", r.dataset},
                      {"name", r.name},
                      {"time_ns", r.time_ns},
                      {"tree", r.tree.hex()},
                      {"parent", r.parent},
                      {"hostname", r.hostname},
                      {"source", r.source},
                      {"excludes", r.excludes},
                      {"files", r.files},
                      {"dirs", r.dirs},
                      {"bytes", r.bytes},
                      {"new_blobs", r.new_blobs},
                      {"new_bytes_stored", r.new_bytes_stored},
                      {"duration_ms", static_cast<uint64_t>(r.duration_s * 1000)}};
  // Absent means a backup snapshot (records written before live datasets).
  if (r.layout == SnapshotLayout::kLive) {
    j["layout"] = "live";
    j["next_ino"] = r.next_ino;
  }
  return j.dump();
}

Result<SnapshotRecord> decode_snapshot_record(std::string_view text) {
  const std::string what = "snapshot record";
  ASSIGN_OR_RETURN(nlohmann::json j, parse_json(text, what));
  SnapshotRecord r;
  int format = 0;
  RETURN_IF_ERROR(json_field(j, "format", what, &format));
  if (format != SnapshotRecord::kFormat) {
    return Status::failed_precondition("snapshot record format " + std::to_string(format) +
                                       " is not supported by this version of lares");
  }
  std::string tree;
  uint64_t duration_ms = 0;
  RETURN_IF_ERROR(json_field(j, "dataset", what, &r.dataset));
  RETURN_IF_ERROR(json_field(j, "name", what, &r.name));
  RETURN_IF_ERROR(json_field(j, "time_ns", what, &r.time_ns));
  RETURN_IF_ERROR(json_field(j, "tree", what, &tree));
  RETURN_IF_ERROR(json_field(j, "parent", what, &r.parent));
  RETURN_IF_ERROR(json_field(j, "hostname", what, &r.hostname));
  RETURN_IF_ERROR(json_field(j, "source", what, &r.source));
  RETURN_IF_ERROR(json_field(j, "files", what, &r.files));
  RETURN_IF_ERROR(json_field(j, "dirs", what, &r.dirs));
  RETURN_IF_ERROR(json_field(j, "bytes", what, &r.bytes));
  RETURN_IF_ERROR(json_field(j, "new_blobs", what, &r.new_blobs));
  RETURN_IF_ERROR(json_field(j, "new_bytes_stored", what, &r.new_bytes_stored));
  RETURN_IF_ERROR(json_field(j, "duration_ms", what, &duration_ms));
  r.duration_s = static_cast<double>(duration_ms) / 1000;
  auto excludes = j.find("excludes");
  if (excludes == j.end() || !excludes->is_array()) {
    return Status::corruption(what + ": bad excludes");
  }
  for (const auto& e : *excludes) {
    if (!e.is_string()) return Status::corruption(what + ": bad excludes");
    r.excludes.push_back(e.get<std::string>());
  }
  ASSIGN_OR_RETURN(ChunkId tree_id, ChunkId::from_hex(tree));
  r.tree = tree_id;
  if (j.contains("layout")) {
    std::string layout;
    RETURN_IF_ERROR(json_field(j, "layout", what, &layout));
    if (layout == "live") {
      r.layout = SnapshotLayout::kLive;
      RETURN_IF_ERROR(json_field(j, "next_ino", what, &r.next_ino));
    } else if (layout != "backup") {
      return Status::corruption(what + ": unknown layout '" + layout + "'");
    }
  }
  if (!validate_dataset_name(r.dataset).is_ok() || !validate_snapshot_name(r.name).is_ok()) {
    return Status::corruption(what + ": bad dataset or snapshot name");
  }
  return r;
}


// One committed blob in the sorted index array.
struct Repository::CompactEntry {
  ChunkId id;
  uint32_t pack = 0;
  uint32_t sealed_length = 0;
  uint32_t raw_length = 0;
  uint64_t offset = 0;
  BlobType type = BlobType::kData;
  Compression compression = Compression::kNone;

  PackEntry to_entry() const {
    PackEntry e;
    e.id = id;
    e.type = type;
    e.compression = compression;
    e.sealed_length = sealed_length;
    e.raw_length = raw_length;
    e.offset = offset;
    return e;
  }
};

Status validate_dataset_name(std::string_view name) { return validate_name(name, "dataset"); }
Status validate_snapshot_name(std::string_view name) { return validate_name(name, "snapshot"); }

std::string encode_repo_config(const RepoConfig& c) {
  nlohmann::json j = {{"format", RepoConfig::kFormat},
                      {"repo_id", to_hex(c.id)},
                      {"created_unix", c.created_unix},
                      {"chunker",
                       {{"min", c.chunker.size_bytes_min},
                        {"avg", c.chunker.size_bytes_avg},
                        {"max", c.chunker.size_bytes_max}}},
                      {"compression_level", c.compression_level},
                      {"pack_size_bytes", c.pack_size_bytes}};
  return j.dump(2) + "\n";
}

Result<RepoConfig> decode_repo_config(std::string_view text) {
  const std::string what = "repository config";
  ASSIGN_OR_RETURN(nlohmann::json j, parse_json(text, what));
  RepoConfig c;
  int format = 0;
  RETURN_IF_ERROR(json_field(j, "format", what, &format));
  if (format != RepoConfig::kFormat) {
    return Status::failed_precondition("repository format " + std::to_string(format) +
                                       " is not supported by this version of lares");
  }
  std::string id;
  RETURN_IF_ERROR(json_field(j, "repo_id", what, &id));
  if (!parse_repo_id(id, &c.id)) return Status::corruption(what + ": bad repo_id");
  RETURN_IF_ERROR(json_field(j, "created_unix", what, &c.created_unix));
  auto chunker = j.find("chunker");
  if (chunker == j.end()) return Status::corruption(what + ": missing chunker");
  RETURN_IF_ERROR(json_field(*chunker, "min", what, &c.chunker.size_bytes_min));
  RETURN_IF_ERROR(json_field(*chunker, "avg", what, &c.chunker.size_bytes_avg));
  RETURN_IF_ERROR(json_field(*chunker, "max", what, &c.chunker.size_bytes_max));
  if (!c.chunker.validate().is_ok()) return Status::corruption(what + ": bad chunker parameters");
  RETURN_IF_ERROR(json_field(j, "compression_level", what, &c.compression_level));
  if (!is_valid_compression_level(c.compression_level)) {
    return Status::corruption(what + ": bad compression level");
  }
  RETURN_IF_ERROR(json_field(j, "pack_size_bytes", what, &c.pack_size_bytes));
  if (c.pack_size_bytes < (uint64_t{1} << 20) || c.pack_size_bytes > (uint64_t{1} << 30)) {
    return Status::corruption(what + ": pack size out of range (1 MiB..1 GiB)");
  }
  return c;
}

Repository::Repository(ObjectStore& store, RepoConfig config, Key32 master, std::string slot_id,
                       KeySlotKind slot_kind)
    : store_(store),
      config_(std::move(config)),
      master_(std::move(master)),
      id_key_(derive_subkey(master_, 1, "LRSIDKEY")),
      data_(AeadKeys::derive_subkeys(master_, "LRSDATA1")),
      meta_(AeadKeys::derive_subkeys(master_, "LRSMETA1")),
      unlocked_slot_(std::move(slot_id)),
      unlocked_kind_(slot_kind) {
  // Here, not in the initializer list: new_pack_builder() uses members
  // declared after open_pack_.
  open_pack_ = new_pack_builder();
}

Repository::~Repository() = default;

Result<bool> Repository::exists(ObjectStore& store) {
  auto size = store.size(kConfigObject);
  if (size.is_ok()) return true;
  if (size.status().code() == Code::kNotFound) return false;
  return size.status();
}

Result<std::unique_ptr<Repository>> Repository::init(ObjectStore& store,
                                                     std::string_view passphrase,
                                                     const InitOptions& options,
                                                     std::string* recovery_key) {
  ASSIGN_OR_RETURN(bool present, exists(store));
  if (present) return Status::already_exists("this store already holds a Lares repository");
  if (passphrase.empty()) return Status::invalid_argument("the passphrase must not be empty");
  RETURN_IF_ERROR(options.chunker.validate());
  if (!is_valid_compression_level(options.compression_level)) {
    return Status::invalid_argument("compression level out of range");
  }
  RepoConfig config;
  fill_random(config.id);
  config.created_unix = now_unix();
  config.chunker = options.chunker;
  config.compression_level = options.compression_level;
  config.pack_size_bytes = options.pack_size_bytes;

  Key32 master = Key32::random();
  Key32 recovery = Key32::random();
  // Slots first, the config last: a store with a config always has its keys.
  KeySlot recovery_slot = make_recovery_slot(master, config.id, recovery);
  RETURN_IF_ERROR(store.put(key_slot_object_name(recovery_slot.slot_id),
                            as_bytes(encode_key_slot(recovery_slot))));
  ASSIGN_OR_RETURN(KeySlot pass_slot, make_passphrase_slot(master, config.id, passphrase,
                                                           options.argon2, "initial passphrase"));
  RETURN_IF_ERROR(
      store.put(key_slot_object_name(pass_slot.slot_id), as_bytes(encode_key_slot(pass_slot))));
  RETURN_IF_ERROR(store.put(kConfigObject, as_bytes(encode_repo_config(config))));
  if (recovery_key != nullptr) *recovery_key = format_recovery_key(recovery);
  std::unique_ptr<Repository> repo(
      new Repository(store, std::move(config), std::move(master), pass_slot.slot_id,
                     KeySlotKind::kPassphrase));
  return repo;
}

Result<std::unique_ptr<Repository>> Repository::open(ObjectStore& store, const Unlock& unlock) {
  auto text = store.get(kConfigObject);
  if (!text.is_ok()) {
    if (text.status().code() == Code::kNotFound) {
      return Status::not_found("no Lares repository here (no 'config' object); create one first");
    }
    return text.status();
  }
  ASSIGN_OR_RETURN(RepoConfig config, decode_repo_config(as_chars(*text)));
  ASSIGN_OR_RETURN(std::vector<std::string> names, store.list(kKeysPrefix));
  std::vector<KeySlot> slots;
  std::string damaged;
  for (const auto& name : names) {
    ASSIGN_OR_RETURN(Bytes bytes, store.get(name));
    auto slot = decode_key_slot(as_chars(bytes));
    if (!slot.is_ok() || slot->repo_id != config.id ||
        key_slot_object_name(slot->slot_id) != name) {
      damaged += " " + name;
      continue;
    }
    slots.push_back(std::move(*slot));
  }
  const KeySlotKind wanted =
      unlock.recovery_key.has_value() ? KeySlotKind::kRecovery : KeySlotKind::kPassphrase;
  bool any = false;
  for (const auto& slot : slots) {
    if (slot.kind != wanted) continue;
    any = true;
    auto master = wanted == KeySlotKind::kRecovery
                      ? open_recovery_slot(slot, *unlock.recovery_key)
                      : open_passphrase_slot(slot, unlock.passphrase);
    if (master.is_ok()) {
      std::unique_ptr<Repository> repo(
          new Repository(store, std::move(config), std::move(*master), slot.slot_id, slot.kind));
      RETURN_IF_ERROR(repo->load_index());
      return repo;
    }
    if (master.status().code() != Code::kPermissionDenied) return master.status();
  }
  std::string note = damaged.empty() ? "" : " (unreadable key slots:" + damaged + ")";
  if (!any) {
    return Status::permission_denied(
        std::string("this repository has no ") +
        (wanted == KeySlotKind::kRecovery ? "recovery" : "passphrase") + " key slot" + note);
  }
  if (wanted == KeySlotKind::kRecovery) {
    return Status::permission_denied("the recovery key does not open this repository" + note);
  }
  return Status::permission_denied(
      "the passphrase does not open this repository; check it, or unlock with the recovery "
      "key" +
      note);
}

Result<std::unique_ptr<Repository>> Repository::open_replica(ObjectStore& store,
                                                             const Repository& source,
                                                             bool* created) {
  ObjectStore& from = source.store_;
  auto text = store.get(kConfigObject);
  const bool empty = !text.is_ok() && text.status().code() == Code::kNotFound;
  if (!text.is_ok() && !empty) return text.status();
  if (!empty) {
    ASSIGN_OR_RETURN(RepoConfig config, decode_repo_config(as_chars(*text)));
    if (config.id != source.config_.id) {
      return Status::failed_precondition(
          "the target holds a different Lares repository (id " + to_hex(config.id) +
          ", this one is " + to_hex(source.config_.id) + "); use an empty folder or bucket");
    }
  }
  // Key slots: the source's, exactly.
  ASSIGN_OR_RETURN(std::vector<std::string> wanted, from.list(kKeysPrefix));
  ASSIGN_OR_RETURN(std::vector<std::string> present, store.list(kKeysPrefix));
  const std::set<std::string> have(present.begin(), present.end());
  for (const auto& name : wanted) {
    if (have.count(name) != 0) continue;
    ASSIGN_OR_RETURN(Bytes slot, from.get(name));
    RETURN_IF_ERROR(store.put(name, slot));
  }
  const std::set<std::string> keep(wanted.begin(), wanted.end());
  for (const auto& name : present) {
    if (keep.count(name) == 0) RETURN_IF_ERROR(store.remove(name));
  }
  if (empty) {
    ASSIGN_OR_RETURN(Bytes config_text, from.get(kConfigObject));
    RETURN_IF_ERROR(store.put(kConfigObject, config_text));
  }
  if (created != nullptr) *created = empty;
  Key32 master = source.master_.clone();
  std::unique_ptr<Repository> repo(new Repository(store, source.config_, std::move(master),
                                                  source.unlocked_slot_, source.unlocked_kind_));
  RETURN_IF_ERROR(repo->load_index());
  return repo;
}

// ---- key slots ----

Result<std::vector<Repository::SlotInfo>> Repository::list_slots() {
  ASSIGN_OR_RETURN(std::vector<std::string> names, store_.list(kKeysPrefix));
  std::vector<SlotInfo> out;
  for (const auto& name : names) {
    ASSIGN_OR_RETURN(Bytes bytes, store_.get(name));
    auto slot = decode_key_slot(as_chars(bytes));
    if (!slot.is_ok()) return Status::corruption(name + ": " + slot.status().message());
    out.push_back({slot->slot_id, slot->kind, slot->label, slot->created_unix});
  }
  return out;
}

Result<std::string> Repository::add_passphrase(std::string_view passphrase,
                                               const Argon2Params& params, std::string label) {
  if (passphrase.empty()) return Status::invalid_argument("the passphrase must not be empty");
  ASSIGN_OR_RETURN(KeySlot slot,
                   make_passphrase_slot(master_, config_.id, passphrase, params, std::move(label)));
  RETURN_IF_ERROR(store_.put(key_slot_object_name(slot.slot_id), as_bytes(encode_key_slot(slot))));
  return slot.slot_id;
}

Status Repository::remove_slot(const std::string& slot_id) {
  ASSIGN_OR_RETURN(std::vector<SlotInfo> slots, list_slots());
  auto it = std::find_if(slots.begin(), slots.end(),
                         [&](const SlotInfo& s) { return s.slot_id == slot_id; });
  if (it == slots.end()) return Status::not_found("no key slot " + slot_id);
  size_t passphrase_slots = std::count_if(slots.begin(), slots.end(), [](const SlotInfo& s) {
    return s.kind == KeySlotKind::kPassphrase;
  });
  if (it->kind == KeySlotKind::kPassphrase && passphrase_slots <= 1) {
    return Status::failed_precondition(
        "refusing to remove the last passphrase slot: add another passphrase first");
  }
  return store_.remove(key_slot_object_name(slot_id));
}

Status Repository::change_passphrase(std::string_view new_passphrase, const Argon2Params& params) {
  if (unlocked_kind_ != KeySlotKind::kPassphrase) {
    return Status::failed_precondition(
        "unlocked with the recovery key, there is no passphrase to change: add one with "
        "'lares key add'");
  }
  ASSIGN_OR_RETURN(std::string new_id, add_passphrase(new_passphrase, params, "passphrase"));
  Status st = store_.remove(key_slot_object_name(unlocked_slot_));
  if (!st.is_ok() && st.code() != Code::kNotFound) return st;
  unlocked_slot_ = new_id;
  return Status::ok();
}

// ---- blobs ----

ChunkId Repository::blob_id(ByteView data) const { return keyed_hash(id_key_, data); }

std::optional<BlobLocation> Repository::find_blob(const ChunkId& id) const {
  std::shared_lock lock(index_mu_);
  auto it = std::lower_bound(committed_.begin(), committed_.end(), id,
                             [](const CompactEntry& e, const ChunkId& v) { return e.id < v; });
  if (it != committed_.end() && it->id == id) return BlobLocation{pack_ids_[it->pack], it->to_entry()};
  auto r = recent_.find(id);
  if (r != recent_.end()) return r->second;
  return std::nullopt;
}

bool Repository::has_blob(const ChunkId& id) const {
  if (find_blob(id).has_value()) return true;
  std::lock_guard lock(write_mu_);
  return pending_.count(id) != 0;
}

Result<bool> Repository::add_blob(BlobType type, const ChunkId& id, ByteView data) {
  if (find_blob(id).has_value()) return false;
  {
    std::lock_guard lock(write_mu_);
    if (!pending_.insert(id).second) return false;
  }
  if (data.size() > kMaxDecompressedBytes) {
    std::lock_guard lock(write_mu_);
    pending_.erase(id);
    return Status::invalid_argument("blob larger than " + format_size(kMaxDecompressedBytes));
  }
  CompressedBlob payload = maybe_compress(data, config_.compression_level);
  PackEntry entry;
  entry.id = id;
  entry.type = type;
  entry.compression = payload.compression;
  entry.raw_length = static_cast<uint32_t>(data.size());
  // Stored as it is, the payload is the data the id (in the ad) hashes, so the
  // ad determines it and the nonce needs no second pass over it.
  const Bytes ad = blob_associated_data(config_.id, entry);
  Bytes sealed = payload.compression == Compression::kNone ? seal_determined(data_, payload.bytes, ad)
                                                           : seal(data_, payload.bytes, ad);
  std::unique_ptr<PackBuilder> full;
  {
    std::lock_guard lock(write_mu_);
    open_pack_->add(entry, sealed);
    if (pack_is_full(*open_pack_)) {
      full = std::move(open_pack_);
      open_pack_ = new_pack_builder();
    }
  }
  added_bytes_stored_ += sealed.size();
  ++added_blobs_;
  if (full) {
    std::vector<PackEntry> entries = full->entries();
    Bytes pack = full->finish(meta_, config_.id);
    RETURN_IF_ERROR(write_pack(std::move(pack), std::move(entries)));
  }
  return true;
}

std::unique_ptr<PackBuilder> Repository::new_pack_builder() {
  auto pack = std::make_unique<PackBuilder>();
  {
    // The buffer of a pack already written, its pages still mapped.
    std::lock_guard lock(spare_mu_);
    if (!spare_packs_.empty()) {
      pack->reuse(std::move(spare_packs_.back()));
      spare_packs_.pop_back();
    }
  }
  // A pack closes once it reaches pack_size_bytes: room for that plus one more
  // chunk of the largest size and the trailer, so it is never copied to grow.
  pack->reserve(config_.pack_size_bytes + config_.chunker.size_bytes_max + (1 << 20));
  return pack;
}

bool Repository::pack_is_full(const PackBuilder& pack) const {
  // Also by count: a pack of tiny blobs must keep its trailer readable.
  constexpr size_t kMaxBlobsPerPack = kMaxEntryTableBytes / kPackEntrySize / 4;
  return pack.size_bytes() >= config_.pack_size_bytes || pack.blob_count() >= kMaxBlobsPerPack;
}

Status Repository::add_sealed_blob(const PackEntry& entry, ByteView sealed) {
  std::unique_ptr<PackBuilder> full;
  {
    std::lock_guard lock(write_mu_);
    pending_.insert(entry.id);
    open_pack_->add(entry, sealed);
    if (pack_is_full(*open_pack_)) {
      full = std::move(open_pack_);
      open_pack_ = new_pack_builder();
    }
  }
  if (full) {
    std::vector<PackEntry> entries = full->entries();
    RETURN_IF_ERROR(write_pack(full->finish(meta_, config_.id), std::move(entries)));
  }
  return Status::ok();
}

Status Repository::write_pack(Bytes pack, std::vector<PackEntry> entries) {
  ChunkId pack_id = pack_id_of(id_key_, entries);
  Status st = store_.put(pack_object_name(pack_id), pack);
  if (!st.is_ok()) {
    std::lock_guard lock(write_mu_);
    for (const auto& e : entries) pending_.erase(e.id);
    return st;
  }
  {
    std::unique_lock lock(index_mu_);
    // The newest copy wins: gc repacks blobs this session may have added
    // itself, and their old pack is about to be deleted.
    for (const auto& e : entries) recent_.insert_or_assign(e.id, BlobLocation{pack_id, e});
  }
  {
    std::lock_guard lock(spare_mu_);
    if (spare_packs_.empty()) spare_packs_.push_back(std::move(pack));
  }
  std::vector<IndexPack> checkpoint;
  {
    std::lock_guard lock(write_mu_);
    for (const auto& e : entries) pending_.erase(e.id);
    unindexed_.push_back({pack_id, std::move(entries)});
    if (unindexed_.size() >= kPacksPerCheckpoint) checkpoint.swap(unindexed_);
  }
  if (!checkpoint.empty()) {
    Status written = write_index_segment(checkpoint, nullptr);
    if (!written.is_ok()) {
      // Keep them for the next attempt; the packs themselves are durable.
      std::lock_guard lock(write_mu_);
      unindexed_.insert(unindexed_.end(), checkpoint.begin(), checkpoint.end());
      return written;
    }
  }
  return Status::ok();
}

Status Repository::write_index_segment(const std::vector<IndexPack>& packs,
                                       std::vector<std::string>* names) {
  // Segments stay well under what a reader accepts (kMaxEntryTableBytes):
  // a large repository's index is several segments.
  constexpr uint64_t kSegmentBudget = kMaxEntryTableBytes / 2;
  size_t start = 0;
  while (start < packs.size()) {
    size_t end = start;
    uint64_t bytes = 5;
    while (end < packs.size()) {
      uint64_t more = ChunkId::kSize + 5 + packs[end].entries.size() * kPackEntrySize;
      if (end > start && bytes + more > kSegmentBudget) break;
      bytes += more;
      ++end;
    }
    std::vector<IndexPack> part(packs.begin() + static_cast<ptrdiff_t>(start),
                                packs.begin() + static_cast<ptrdiff_t>(end));
    Bytes plain = encode_index_segment(part);
    Bytes sealed = seal(meta_, plain, prefixed_ad("LRSINDX1", config_.id));
    std::string name = index_object_name(keyed_hash(id_key_, plain));
    RETURN_IF_ERROR(store_.put(name, sealed));
    {
      std::unique_lock lock(index_mu_);
      segments_.push_back(name);
    }
    if (names != nullptr) names->push_back(name);
    start = end;
  }
  return Status::ok();
}

Status Repository::flush() {
  std::unique_ptr<PackBuilder> last;
  {
    std::lock_guard lock(write_mu_);
    if (open_pack_->blob_count() > 0) {
      last = std::move(open_pack_);
      open_pack_ = new_pack_builder();
    }
  }
  if (last) {
    std::vector<PackEntry> entries = last->entries();
    RETURN_IF_ERROR(write_pack(last->finish(meta_, config_.id), std::move(entries)));
  }
  std::vector<IndexPack> rest;
  {
    std::lock_guard lock(write_mu_);
    rest.swap(unindexed_);
  }
  if (rest.empty()) return Status::ok();
  Status st = write_index_segment(rest, nullptr);
  if (!st.is_ok()) {
    std::lock_guard lock(write_mu_);
    unindexed_.insert(unindexed_.begin(), rest.begin(), rest.end());
  }
  return st;
}

Result<Bytes> Repository::open_sealed_blob(const PackEntry& entry, ByteView sealed) {
  auto payload = lares::open(data_, sealed, blob_associated_data(config_.id, entry));
  if (!payload.is_ok()) return payload.status();
  Bytes raw;
  if (entry.compression == Compression::kZstd) {
    ASSIGN_OR_RETURN(raw, decompress(*payload, entry.raw_length));
  } else {
    if (payload->size() != entry.raw_length) return Status::corruption("blob length mismatch");
    raw = std::move(*payload);
  }
  if (keyed_hash(id_key_, raw) != entry.id) return Status::corruption("blob id mismatch");
  return raw;
}

Result<Bytes> Repository::load_blob(const ChunkId& id, BlobType expected_type) {
  auto loc = find_blob(id);
  if (!loc) return Status::not_found("blob " + id.hex() + " is not in the repository index");
  if (loc->entry.type != expected_type) {
    return Status::corruption("blob " + id.hex() + " has the wrong type in the index");
  }
  const std::string pack = pack_object_name(loc->pack);
  auto sealed = store_.get(pack, loc->entry.offset, loc->entry.sealed_length);
  if (!sealed.is_ok()) {
    return sealed.status().with_context("blob " + id.hex() + " in " + pack + ": ");
  }
  if (sealed->size() != loc->entry.sealed_length) {
    return Status::corruption("blob " + id.hex() + " in " + pack + ": pack is truncated");
  }
  auto raw = open_sealed_blob(loc->entry, *sealed);
  if (!raw.is_ok()) {
    return Status::corruption("blob " + id.hex() + " in " + pack + " is damaged (" +
                              raw.status().message() + ")");
  }
  return raw;
}

// ---- index ----

Status Repository::load_index() {
  ASSIGN_OR_RETURN(std::vector<std::string> names, store_.list(kIndexPrefix));
  std::vector<ChunkId> pack_ids;
  std::unordered_map<ChunkId, uint32_t, ChunkIdHash> pack_numbers;
  std::vector<CompactEntry> entries;
  for (const auto& name : names) {
    ASSIGN_OR_RETURN(Bytes sealed, store_.get(name));
    auto packs = open_index_segment(meta_, config_.id, sealed);
    if (!packs.is_ok()) {
      return Status::corruption("index segment " + name + " is damaged (" +
                                packs.status().message() +
                                "); run 'lares repo repair --rebuild-index'");
    }
    for (const auto& p : *packs) {
      auto [it, inserted] = pack_numbers.emplace(p.pack_id, static_cast<uint32_t>(pack_ids.size()));
      if (inserted) pack_ids.push_back(p.pack_id);
      for (const auto& e : p.entries) {
        entries.push_back({e.id, it->second, e.sealed_length, e.raw_length, e.offset, e.type,
                           e.compression});
      }
    }
  }
  std::sort(entries.begin(), entries.end(),
            [](const CompactEntry& a, const CompactEntry& b) { return a.id < b.id; });
  entries.erase(std::unique(entries.begin(), entries.end(),
                            [](const CompactEntry& a, const CompactEntry& b) { return a.id == b.id; }),
                entries.end());
  entries.shrink_to_fit();
  std::unique_lock lock(index_mu_);
  pack_ids_ = std::move(pack_ids);
  committed_ = std::move(entries);
  recent_.clear();
  segments_ = std::move(names);
  return Status::ok();
}

Status Repository::reload_index() { return load_index(); }

RepoStats Repository::stats() const {
  std::shared_lock lock(index_mu_);
  RepoStats s;
  s.blobs = committed_.size() + recent_.size();
  std::unordered_set<ChunkId, ChunkIdHash> packs(pack_ids_.begin(), pack_ids_.end());
  for (const auto& [id, loc] : recent_) packs.insert(loc.pack);
  s.packs = packs.size();
  s.index_memory_bytes = committed_.capacity() * sizeof(CompactEntry) +
                         pack_ids_.capacity() * sizeof(ChunkId) +
                         recent_.size() * (sizeof(BlobLocation) + sizeof(ChunkId) + 32);
  return s;
}

std::vector<IndexPack> Repository::index_packs() const {
  std::shared_lock lock(index_mu_);
  std::vector<IndexPack> packs(pack_ids_.size());
  for (size_t i = 0; i < pack_ids_.size(); ++i) packs[i].pack_id = pack_ids_[i];
  for (const auto& e : committed_) packs[e.pack].entries.push_back(e.to_entry());
  std::unordered_map<ChunkId, size_t, ChunkIdHash> extra;
  for (const auto& [id, loc] : recent_) {
    auto [it, inserted] = extra.emplace(loc.pack, packs.size());
    if (inserted) packs.push_back({loc.pack, {}});
    packs[it->second].entries.push_back(loc.entry);
  }
  // A pack can appear twice only if both loaded and recent; merge by id.
  std::sort(packs.begin(), packs.end(),
            [](const IndexPack& a, const IndexPack& b) { return a.pack_id < b.pack_id; });
  std::vector<IndexPack> merged;
  for (auto& p : packs) {
    if (!merged.empty() && merged.back().pack_id == p.pack_id) {
      merged.back().entries.insert(merged.back().entries.end(), p.entries.begin(),
                                   p.entries.end());
    } else {
      merged.push_back(std::move(p));
    }
  }
  for (auto& p : merged) {
    std::sort(p.entries.begin(), p.entries.end(),
              [](const PackEntry& a, const PackEntry& b) { return a.offset < b.offset; });
  }
  merged.erase(std::remove_if(merged.begin(), merged.end(),
                              [](const IndexPack& p) { return p.entries.empty(); }),
               merged.end());
  return merged;
}

Status Repository::rewrite_index(const std::vector<IndexPack>& packs) {
  ASSIGN_OR_RETURN(std::vector<std::string> old, store_.list(kIndexPrefix));
  std::vector<std::string> written;
  RETURN_IF_ERROR(write_index_segment(packs, &written));
  for (const auto& segment : old) {
    if (std::find(written.begin(), written.end(), segment) != written.end()) continue;
    Status st = store_.remove(segment);
    if (!st.is_ok() && st.code() != Code::kNotFound) return st;
  }
  return load_index();
}

Result<std::vector<PackEntry>> Repository::read_pack_trailer(const std::string& name) {
  ASSIGN_OR_RETURN(uint64_t size, store_.size(name));
  if (size < kPackHeaderSize + kPackFooterSize) {
    return Status::corruption("shorter than a pack header and footer");
  }
  ASSIGN_OR_RETURN(Bytes footer, store_.get(name, size - kPackFooterSize, kPackFooterSize));
  ASSIGN_OR_RETURN(uint64_t trailer_length, parse_pack_footer(footer, size));
  const uint64_t trailer_offset = size - kPackFooterSize - trailer_length;
  ASSIGN_OR_RETURN(Bytes trailer, store_.get(name, trailer_offset, trailer_length));
  return open_pack_trailer(meta_, config_.id, trailer, trailer_offset);
}

Status Repository::rebuild_index(std::vector<std::string>* bad_packs) {
  ASSIGN_OR_RETURN(std::vector<std::string> names, store_.list("packs/"));
  std::vector<IndexPack> packs;
  for (const auto& name : names) {
    auto id = pack_id_from_name(name);
    if (!id.is_ok()) {
      if (bad_packs) bad_packs->push_back(name + " (not a pack name)");
      continue;
    }
    auto entries = read_pack_trailer(name);
    if (!entries.is_ok()) {
      if (bad_packs) bad_packs->push_back(name + " (" + entries.status().message() + ")");
      continue;
    }
    packs.push_back({*id, std::move(*entries)});
  }
  return rewrite_index(packs);
}

Result<size_t> Repository::index_unindexed_packs(std::vector<std::string>* bad_packs) {
  ASSIGN_OR_RETURN(std::vector<std::string> names, store_.list("packs/"));
  std::set<std::string> indexed;
  for (const IndexPack& pack : index_packs()) indexed.insert(pack_object_name(pack.pack_id));
  std::vector<IndexPack> found;
  for (const auto& name : names) {
    if (indexed.count(name) != 0) continue;
    auto id = pack_id_from_name(name);
    if (!id.is_ok()) {
      if (bad_packs) bad_packs->push_back(name + " (not a pack name)");
      continue;
    }
    auto entries = read_pack_trailer(name);
    if (!entries.is_ok() || pack_id_of(id_key_, *entries) != *id) {
      if (bad_packs) {
        bad_packs->push_back(name + " (" +
                             (entries.is_ok() ? std::string("trailer does not match its id")
                                              : entries.status().message()) +
                             ")");
      }
      continue;
    }
    found.push_back({*id, std::move(*entries)});
  }
  if (found.empty()) return size_t{0};
  std::vector<std::string> segment_names;
  RETURN_IF_ERROR(write_index_segment(found, &segment_names));
  RETURN_IF_ERROR(reload_index());
  return found.size();
}

Status Repository::verify_pack(const ChunkId& pack_id, std::vector<ChunkId>* bad_blobs) {
  const std::string name = pack_object_name(pack_id);
  ASSIGN_OR_RETURN(Bytes pack, store_.get(name));
  auto entries = parse_pack(meta_, config_.id, pack);
  if (!entries.is_ok()) return Status::corruption(name + ": " + entries.status().message());
  if (pack_id_of(id_key_, *entries) != pack_id) {
    return Status::corruption(name + ": its blob table does not match the pack id");
  }
  for (const auto& e : *entries) {
    ByteView sealed(pack.data() + e.offset, e.sealed_length);
    if (!open_sealed_blob(e, sealed).is_ok() && bad_blobs) bad_blobs->push_back(e.id);
  }
  return Status::ok();
}

// ---- snapshots ----

Result<std::vector<SnapshotRecord>> Repository::list_snapshots(const std::string& dataset) {
  ASSIGN_OR_RETURN(std::vector<std::string> names, store_.list(kSnapshotsPrefix));
  std::vector<SnapshotRecord> out;
  const Bytes ad = prefixed_ad("LRSSNAP1", config_.id);
  for (const auto& name : names) {
    ASSIGN_OR_RETURN(Bytes sealed, store_.get(name));
    auto plain = lares::open(meta_, sealed, ad);
    if (!plain.is_ok()) return Status::corruption("snapshot " + name + " is damaged");
    auto record = decode_snapshot_record(as_chars(*plain));
    if (!record.is_ok()) return Status::corruption(name + ": " + record.status().message());
    record->id = name.substr(std::strlen(kSnapshotsPrefix));
    if (!dataset.empty() && record->dataset != dataset) continue;
    out.push_back(std::move(*record));
  }
  std::sort(out.begin(), out.end(), [](const SnapshotRecord& a, const SnapshotRecord& b) {
    return std::tie(a.time_ns, a.name) < std::tie(b.time_ns, b.name);
  });
  return out;
}

Status Repository::put_snapshot(SnapshotRecord* record) {
  RETURN_IF_ERROR(validate_dataset_name(record->dataset));
  RETURN_IF_ERROR(validate_snapshot_name(record->name));
  std::string plain = encode_snapshot_record(*record);
  record->id = keyed_hash(id_key_, as_bytes(plain)).hex();
  Bytes sealed = seal(meta_, as_bytes(plain), prefixed_ad("LRSSNAP1", config_.id));
  return store_.put(kSnapshotsPrefix + record->id, sealed);
}

Status Repository::remove_snapshot(const std::string& id) {
  return store_.remove(kSnapshotsPrefix + id);
}

Result<SnapshotRecord> Repository::find_snapshot(const std::string& dataset,
                                                 const std::string& name) {
  ASSIGN_OR_RETURN(std::vector<SnapshotRecord> all, list_snapshots(dataset));
  if (all.empty()) return Status::not_found("dataset '" + dataset + "' has no snapshots");
  if (name.empty()) return all.back();
  for (auto it = all.rbegin(); it != all.rend(); ++it) {
    if (it->name == name || it->id == name) return *it;
  }
  return Status::not_found("dataset '" + dataset + "' has no snapshot '" + name +
                           "'; 'lares snapshot list' shows them");
}

}  // namespace lares
