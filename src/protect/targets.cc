#include "protect/targets.h"

#include <sys/stat.h>

#include <algorithm>
#include <set>
#include <sstream>
#include <toml++/toml.h>

#include "objects/dir_store.h"
#include "objects/s3_store.h"
#include "objects/sftp_store.h"
#include "pool/registry.h"
#include "util/file.h"

namespace lares {
namespace {

Status bad(const std::string& path, const std::string& what) {
  return Status::corruption(path + ": " + what + "; fix the file or remove the target with "
                                                 "'lares target remove'");
}

// Reads string key `key` of `table` into *out. Missing is fine unless required.
Status get_string(const toml::table& table, const std::string& where, const char* key,
                  bool required, std::string* out) {
  const toml::node* node = table.get(key);
  if (node == nullptr) {
    return required ? Status::invalid_argument(where + ": missing '" + key + "'") : Status::ok();
  }
  const auto* value = node->as_string();
  if (value == nullptr) return Status::invalid_argument(where + ": '" + key + "' must be a string");
  *out = value->get();
  return Status::ok();
}

Status get_bool(const toml::table& table, const std::string& where, const char* key, bool* out) {
  const toml::node* node = table.get(key);
  if (node == nullptr) return Status::ok();
  const auto* value = node->as_boolean();
  if (value == nullptr) return Status::invalid_argument(where + ": '" + key + "' must be true or false");
  *out = value->get();
  return Status::ok();
}

Result<TargetConfig> parse_target(const std::string& name, const toml::table& table) {
  const std::string where = "target '" + name + "'";
  TargetConfig t;
  t.name = name;
  std::string type;
  RETURN_IF_ERROR(get_string(table, where, "type", true, &type));
  std::set<std::string> allowed{"type"};
  if (type == "local") {
    t.kind = TargetKind::kLocal;
    allowed.insert({"path", "offsite"});
    RETURN_IF_ERROR(get_string(table, where, "path", true, &t.path));
    RETURN_IF_ERROR(get_bool(table, where, "offsite", &t.offsite));
  } else if (type == "sftp") {
    t.kind = TargetKind::kSftp;
    t.offsite = true;
    allowed.insert({"host", "port", "user", "path", "identity_file", "known_hosts"});
    RETURN_IF_ERROR(get_string(table, where, "host", true, &t.host));
    RETURN_IF_ERROR(get_string(table, where, "user", true, &t.user));
    RETURN_IF_ERROR(get_string(table, where, "path", true, &t.path));
    RETURN_IF_ERROR(get_string(table, where, "identity_file", true, &t.identity_file));
    RETURN_IF_ERROR(get_string(table, where, "known_hosts", true, &t.known_hosts));
    if (const toml::node* port = table.get("port")) {
      const auto* value = port->as_integer();
      if (value == nullptr || value->get() < 1 || value->get() > 65535) {
        return Status::invalid_argument(where + ": 'port' must be a number from 1 to 65535");
      }
      t.port = static_cast<uint16_t>(value->get());
    }
  } else if (type == "s3") {
    t.kind = TargetKind::kS3;
    t.offsite = true;
    allowed.insert({"endpoint", "region", "bucket", "prefix", "storage_class", "path_style"});
    RETURN_IF_ERROR(get_string(table, where, "endpoint", true, &t.endpoint));
    RETURN_IF_ERROR(get_string(table, where, "bucket", true, &t.bucket));
    t.region = "us-east-1";
    RETURN_IF_ERROR(get_string(table, where, "region", false, &t.region));
    RETURN_IF_ERROR(get_string(table, where, "prefix", false, &t.prefix));
    RETURN_IF_ERROR(get_string(table, where, "storage_class", false, &t.storage_class));
    RETURN_IF_ERROR(get_bool(table, where, "path_style", &t.path_style));
  } else {
    return Status::invalid_argument(where + ": unknown type '" + type +
                                    "' (local, sftp or s3)");
  }
  // Retention, for every type.
  struct Count {
    const char* key;
    int* out;
    int64_t max;
  };
  for (const Count& c : {Count{"keep_last", &t.keep_last, 100000},
                         Count{"keep_hourly", &t.keep_hourly, 100000},
                         Count{"keep_daily", &t.keep_daily, 100000},
                         Count{"keep_weekly", &t.keep_weekly, 100000},
                         Count{"keep_monthly", &t.keep_monthly, 100000},
                         Count{"keep_yearly", &t.keep_yearly, 1000},
                         Count{"min_storage_days", &t.min_storage_days, 3660}}) {
    allowed.insert(c.key);
    const toml::node* node = table.get(c.key);
    if (node == nullptr) continue;
    const auto* value = node->as_integer();
    if (value == nullptr || value->get() < 0 || value->get() > c.max) {
      return Status::invalid_argument(where + ": '" + c.key + "' must be a number from 0 to " +
                                      std::to_string(c.max));
    }
    *c.out = static_cast<int>(value->get());
  }
  for (const auto& [key, value] : table) {
    if (allowed.count(std::string(key.str())) == 0) {
      return Status::invalid_argument(where + ": unknown key '" + std::string(key.str()) + "'");
    }
  }
  RETURN_IF_ERROR(validate_target(t));
  return t;
}

// Two views of one bucket that differ only in the storage class of what they
// write: objects under packs/ are put through `packs`, the rest through
// `rest`. Reads, lists and removes see the same keys either way.
class PacksApartStore final : public ObjectStore {
 public:
  PacksApartStore(std::unique_ptr<ObjectStore> rest, std::unique_ptr<ObjectStore> packs)
      : rest_(std::move(rest)), packs_(std::move(packs)) {}
  Status put(const std::string& name, ByteView data) override {
    return (name.rfind("packs/", 0) == 0 ? *packs_ : *rest_).put(name, data);
  }
  Result<Bytes> get(const std::string& name, uint64_t offset, uint64_t length) override {
    return rest_->get(name, offset, length);
  }
  using ObjectStore::get;
  Result<uint64_t> size(const std::string& name) override { return rest_->size(name); }
  Result<std::vector<std::string>> list(const std::string& prefix) override {
    return rest_->list(prefix);
  }
  Status remove(const std::string& name) override { return rest_->remove(name); }
  Result<int64_t> modified_unix(const std::string& name) override {
    return rest_->modified_unix(name);
  }

 private:
  std::unique_ptr<ObjectStore> rest_, packs_;
};

bool is_safe_word(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
  });
}

}  // namespace

std::string_view target_kind_name(TargetKind kind) {
  switch (kind) {
    case TargetKind::kLocal: return "local";
    case TargetKind::kSftp: return "sftp";
    case TargetKind::kS3: return "s3";
  }
  return "?";
}

std::string TargetConfig::url() const {
  switch (kind) {
    case TargetKind::kLocal: return path;
    case TargetKind::kSftp:
      return "sftp://" + user + "@" + host + (port == 22 ? "" : ":" + std::to_string(port)) + "/" +
             path;
    case TargetKind::kS3: return "s3://" + bucket + (prefix.empty() ? "" : "/" + prefix);
  }
  return "";
}

Status validate_target_name(std::string_view name) {
  if (name.empty() || name.size() > 64) {
    return Status::invalid_argument("a target name has 1 to 64 characters");
  }
  if (name[0] == '-' || name[0] == '.') {
    return Status::invalid_argument("a target name does not start with '-' or '.'");
  }
  if (!is_safe_word(name)) {
    return Status::invalid_argument("a target name is made of letters, digits, '-', '_' and '.'");
  }
  return Status::ok();
}

Status validate_target(const TargetConfig& t) {
  RETURN_IF_ERROR(validate_target_name(t.name));
  const std::string where = "target '" + t.name + "'";
  auto need = [&](const std::string& value, const char* key) {
    return value.empty() ? Status::invalid_argument(where + ": '" + key + "' is empty")
                         : Status::ok();
  };
  auto absolute = [&](const std::string& value, const char* key) {
    return value.empty() || value[0] != '/'
               ? Status::invalid_argument(where + ": '" + key + "' must be an absolute path")
               : Status::ok();
  };
  switch (t.kind) {
    case TargetKind::kLocal:
      return absolute(t.path, "path");
    case TargetKind::kSftp:
      RETURN_IF_ERROR(need(t.host, "host"));
      RETURN_IF_ERROR(need(t.user, "user"));
      RETURN_IF_ERROR(need(t.path, "path"));
      RETURN_IF_ERROR(absolute(t.identity_file, "identity_file"));
      RETURN_IF_ERROR(absolute(t.known_hosts, "known_hosts"));
      if (t.port == 0) return Status::invalid_argument(where + ": 'port' must not be 0");
      return Status::ok();
    case TargetKind::kS3:
      RETURN_IF_ERROR(need(t.endpoint, "endpoint"));
      if (t.endpoint.rfind("http://", 0) != 0 && t.endpoint.rfind("https://", 0) != 0) {
        return Status::invalid_argument(where + ": 'endpoint' must start with https:// or http://");
      }
      RETURN_IF_ERROR(need(t.bucket, "bucket"));
      RETURN_IF_ERROR(need(t.region, "region"));
      return Status::ok();
  }
  return Status::invalid_argument(where + ": unknown type");
}

std::string config_path() { return lares_home() + "/lares.toml"; }

Result<std::vector<TargetConfig>> parse_targets(std::string_view text, const std::string& path) {
  toml::table doc;
  try {
    doc = toml::parse(text, path);
  } catch (const toml::parse_error& e) {
    std::ostringstream where;
    where << e.source().begin;
    return bad(path, std::string("not valid TOML (") + std::string(e.description()) + " at " +
                         where.str() + ")");
  }
  if (const toml::node* format = doc.get("format")) {
    const auto* value = format->as_integer();
    if (value == nullptr) return bad(path, "'format' must be a number");
    if (value->get() != kConfigFormat) {
      return Status::failed_precondition(path + ": format " + std::to_string(value->get()) +
                                         " is not one this Lares reads (" +
                                         std::to_string(kConfigFormat) + "); upgrade Lares");
    }
  }
  std::vector<TargetConfig> out;
  const toml::node* targets = doc.get("targets");
  if (targets == nullptr) return out;
  const toml::table* table = targets->as_table();
  if (table == nullptr) return bad(path, "'targets' must be a table of [targets.<name>] tables");
  for (const auto& [key, value] : *table) {
    const std::string name(key.str());
    const toml::table* entry = value.as_table();
    if (entry == nullptr) return bad(path, "targets." + name + " must be a table");
    auto target = parse_target(name, *entry);
    if (!target.is_ok()) return bad(path, target.status().message());
    out.push_back(std::move(*target));
  }
  std::sort(out.begin(), out.end(),
            [](const TargetConfig& a, const TargetConfig& b) { return a.name < b.name; });
  return out;
}

Result<std::vector<TargetConfig>> load_targets(const std::string& path) {
  auto text = read_file(path);
  if (!text.is_ok()) {
    if (text.status().code() == Code::kNotFound) return std::vector<TargetConfig>{};
    return text.status();
  }
  return parse_targets(as_chars(*text), path);
}

Status save_targets(const std::string& path, const std::vector<TargetConfig>& targets) {
  toml::table doc;
  if (auto text = read_file(path); text.is_ok()) {
    try {
      doc = toml::parse(as_chars(*text), path);
    } catch (const toml::parse_error& e) {
      return bad(path, std::string("not valid TOML (") + std::string(e.description()) + ")");
    }
  } else if (text.status().code() != Code::kNotFound) {
    return text.status();
  }
  toml::table all;
  for (const TargetConfig& t : targets) {
    RETURN_IF_ERROR(validate_target(t));
    toml::table entry;
    entry.insert("type", std::string(target_kind_name(t.kind)));
    switch (t.kind) {
      case TargetKind::kLocal:
        entry.insert("path", t.path);
        if (t.offsite) entry.insert("offsite", true);
        break;
      case TargetKind::kSftp:
        entry.insert("host", t.host);
        if (t.port != 22) entry.insert("port", static_cast<int64_t>(t.port));
        entry.insert("user", t.user);
        entry.insert("path", t.path);
        entry.insert("identity_file", t.identity_file);
        entry.insert("known_hosts", t.known_hosts);
        break;
      case TargetKind::kS3:
        entry.insert("endpoint", t.endpoint);
        entry.insert("region", t.region);
        entry.insert("bucket", t.bucket);
        if (!t.prefix.empty()) entry.insert("prefix", t.prefix);
        if (!t.storage_class.empty()) entry.insert("storage_class", t.storage_class);
        if (!t.path_style) entry.insert("path_style", false);
        break;
    }
    for (const auto& [key, value] :
         {std::pair<const char*, int>{"keep_last", t.keep_last}, {"keep_hourly", t.keep_hourly},
          {"keep_daily", t.keep_daily}, {"keep_weekly", t.keep_weekly},
          {"keep_monthly", t.keep_monthly}, {"keep_yearly", t.keep_yearly},
          {"min_storage_days", t.min_storage_days}}) {
      if (value != 0) entry.insert(key, static_cast<int64_t>(value));
    }
    all.insert(t.name, std::move(entry));
  }
  if (const toml::node* format = doc.get("format");
      format != nullptr && format->value_or(int64_t{0}) != kConfigFormat) {
    return Status::failed_precondition(path + ": written by another version of Lares; not "
                                              "changing it");
  }
  doc.insert_or_assign("format", int64_t{kConfigFormat});
  doc.insert_or_assign("targets", std::move(all));
  std::ostringstream out;
  out << "# Lares configuration (docs/FORMAT.md, \"lares.toml\"). 'lares target add|remove'\n"
         "# rewrite this file; comments are not kept.\n"
      << doc << "\n";
  const std::string dir = path.substr(0, path.rfind('/'));
  if (!dir.empty()) RETURN_IF_ERROR(make_dirs(dir));
  RETURN_IF_ERROR(write_file_atomic(path, as_bytes(out.str())));
  if (::chmod(path.c_str(), 0600) != 0) return Status::from_errno(errno, "chmod " + path);
  return Status::ok();
}

Result<std::unique_ptr<ObjectStore>> open_target_store(const TargetConfig& target) {
  RETURN_IF_ERROR(validate_target(target));
  switch (target.kind) {
    case TargetKind::kLocal: {
      ASSIGN_OR_RETURN(std::unique_ptr<DirStore> store,
                       DirStore::open(target.path, CreateIfMissing::kYes));
      return std::unique_ptr<ObjectStore>(std::move(store));
    }
    case TargetKind::kSftp: {
      SftpOptions options;
      options.host = target.host;
      options.port = target.port;
      options.user = target.user;
      options.root = target.path;
      options.identity_file = target.identity_file;
      options.known_hosts_file = target.known_hosts;
      ASSIGN_OR_RETURN(std::unique_ptr<SftpStore> store,
                       SftpStore::open(options, CreateIfMissing::kYes));
      return std::unique_ptr<ObjectStore>(std::move(store));
    }
    case TargetKind::kS3: {
      S3Options options;
      options.endpoint = target.endpoint;
      options.region = target.region;
      options.bucket = target.bucket;
      options.prefix = target.prefix;
      options.path_style = target.path_style;
      options = S3Options::from_environment(options);  // credentials: never in lares.toml
      if (options.access_key.empty() || options.secret_key.empty()) {
        return Status::permission_denied(
            "target '" + target.name +
            "': no S3 credentials; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY");
      }
      ASSIGN_OR_RETURN(std::unique_ptr<S3Store> standard,
                       S3Store::open(options, CreateIfMissing::kYes));
      if (target.storage_class.empty()) return std::unique_ptr<ObjectStore>(std::move(standard));
      // Packs go to the cold class; the small objects a replication reads
      // every time (config, keys, index, snapshot records) stay readable at
      // once in the bucket's default class.
      options.storage_class = target.storage_class;
      ASSIGN_OR_RETURN(std::unique_ptr<S3Store> cold, S3Store::open(options, CreateIfMissing::kNo));
      return std::unique_ptr<ObjectStore>(
          std::make_unique<PacksApartStore>(std::move(standard), std::move(cold)));
    }
  }
  return Status::failed_precondition("target '" + target.name + "': " +
                                     std::string(target_kind_name(target.kind)) +
                                     " targets are not in this build yet");
}

}  // namespace lares
