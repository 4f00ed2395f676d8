#include "protect/protection.h"

#include <sys/stat.h>

#include <algorithm>
#include <set>
#include <sstream>
#include <toml++/toml.h>

#include "chunks/repository.h"
#include "pool/registry.h"
#include "util/file.h"
#include "util/json_file.h"

namespace lares {
namespace {

constexpr int64_t kMinStaleHours = 48;

Status bad(const std::string& path, const std::string& what) {
  return Status::corruption(path + ": " + what);
}

Result<toml::table> parse_toml(std::string_view text, const std::string& path) {
  try {
    return toml::parse(text, path);
  } catch (const toml::parse_error& e) {
    return bad(path, std::string("not valid TOML (") + std::string(e.description()) + ")");
  }
}

// "<pool>/<dataset>": a pool (or folder) name, then a dataset name.
Status validate_dataset_path(const std::string& text) {
  const size_t slash = text.rfind('/');
  if (slash == std::string::npos || slash == 0) {
    return Status::invalid_argument("'" + text + "' is not <pool>/<dataset>");
  }
  return validate_dataset_name(text.substr(slash + 1));
}

}  // namespace

std::string_view media_of(TargetKind kind) {
  switch (kind) {
    case TargetKind::kLocal: return "external disk";
    case TargetKind::kSftp: return "SFTP server";
    case TargetKind::kS3: return "object storage";
  }
  return "?";
}

Result<std::vector<ProtectPolicy>> parse_policies(std::string_view text, const std::string& path) {
  ASSIGN_OR_RETURN(std::vector<TargetConfig> targets, parse_targets(text, path));
  std::set<std::string> defined;
  for (const auto& t : targets) defined.insert(t.name);
  ASSIGN_OR_RETURN(toml::table doc, parse_toml(text, path));
  std::vector<ProtectPolicy> out;
  const toml::node* node = doc.get("protect");
  if (node == nullptr) return out;
  const toml::table* table = node->as_table();
  if (table == nullptr) return bad(path, "'protect' must be a table of [protect.\"<pool>/<dataset>\"]");
  for (const auto& [key, value] : *table) {
    ProtectPolicy p;
    p.dataset = std::string(key.str());
    const std::string where = "protect.\"" + p.dataset + "\"";
    if (Status st = validate_dataset_path(p.dataset); !st.is_ok()) {
      return bad(path, where + ": " + st.message());
    }
    const toml::table* entry = value.as_table();
    if (entry == nullptr) return bad(path, where + " must be a table");
    for (const auto& [k, v] : *entry) {
      const std::string name(k.str());
      if (name != "targets" && name != "interval_hours" && !name.starts_with("keep_")) {
        return bad(path, where + ": unknown key '" + name + "'");
      }
    }
    const toml::node* list = entry->get("targets");
    const toml::array* array = list != nullptr ? list->as_array() : nullptr;
    if (array == nullptr || array->empty()) {
      return bad(path, where + ": 'targets' must be a list of target names");
    }
    for (const toml::node& item : *array) {
      const auto* name = item.as_string();
      if (name == nullptr) return bad(path, where + ": 'targets' holds something not a name");
      if (defined.count(name->get()) == 0) {
        return bad(path, where + ": no target named '" + name->get() + "' in [targets]");
      }
      if (std::find(p.targets.begin(), p.targets.end(), name->get()) != p.targets.end()) {
        return bad(path, where + ": target '" + name->get() + "' named twice");
      }
      p.targets.push_back(name->get());
    }
    if (const toml::node* interval = entry->get("interval_hours")) {
      const auto* hours = interval->as_integer();
      if (hours == nullptr || hours->get() < 1 || hours->get() > 24 * 366) {
        return bad(path, where + ": 'interval_hours' must be a number of hours from 1 to 8784");
      }
      p.interval_hours = static_cast<int>(hours->get());
    }
    struct Count {
      const char* key;
      int* out;
    };
    for (const Count& c : {Count{"keep_last", &p.retention.last},
                           Count{"keep_hourly", &p.retention.hourly},
                           Count{"keep_daily", &p.retention.daily},
                           Count{"keep_weekly", &p.retention.weekly},
                           Count{"keep_monthly", &p.retention.monthly},
                           Count{"keep_yearly", &p.retention.yearly}}) {
      const toml::node* n = entry->get(c.key);
      if (n == nullptr) continue;
      const auto* v = n->as_integer();
      if (v == nullptr || v->get() < 0 || v->get() > 100000) {
        return bad(path, where + ": '" + c.key + "' must be a number from 0 to 100000");
      }
      *c.out = static_cast<int>(v->get());
    }
    for (const auto& [k, v] : *entry) {
      const std::string name(k.str());
      if (name.starts_with("keep_") && name != "keep_last" && name != "keep_hourly" &&
          name != "keep_daily" && name != "keep_weekly" && name != "keep_monthly" &&
          name != "keep_yearly") {
        return bad(path, where + ": unknown key '" + name + "'");
      }
    }
    out.push_back(std::move(p));
  }
  std::sort(out.begin(), out.end(),
            [](const ProtectPolicy& a, const ProtectPolicy& b) { return a.dataset < b.dataset; });
  return out;
}

Result<std::vector<ProtectPolicy>> load_policies(const std::string& path) {
  auto text = read_file(path);
  if (!text.is_ok()) {
    if (text.status().code() == Code::kNotFound) return std::vector<ProtectPolicy>{};
    return text.status();
  }
  return parse_policies(as_chars(*text), path);
}

Status save_policies(const std::string& path, const std::vector<ProtectPolicy>& policies) {
  // Through save_targets, which keeps every other table: first the targets
  // as they are (it validates and writes the format), then the policies.
  ASSIGN_OR_RETURN(std::vector<TargetConfig> targets, load_targets(path));
  RETURN_IF_ERROR(save_targets(path, targets));
  ASSIGN_OR_RETURN(Bytes text, read_file(path));
  ASSIGN_OR_RETURN(toml::table doc, parse_toml(as_chars(text), path));
  toml::table all;
  for (const ProtectPolicy& p : policies) {
    RETURN_IF_ERROR(validate_dataset_path(p.dataset));
    toml::table entry;
    toml::array names;
    for (const auto& t : p.targets) names.push_back(t);
    entry.insert("targets", std::move(names));
    entry.insert("interval_hours", static_cast<int64_t>(p.interval_hours));
    for (const auto& [key, value] :
         {std::pair<const char*, int>{"keep_last", p.retention.last},
          {"keep_hourly", p.retention.hourly}, {"keep_daily", p.retention.daily},
          {"keep_weekly", p.retention.weekly}, {"keep_monthly", p.retention.monthly},
          {"keep_yearly", p.retention.yearly}}) {
      if (value != 0) entry.insert(key, static_cast<int64_t>(value));
    }
    all.insert(p.dataset, std::move(entry));
  }
  doc.insert_or_assign("protect", std::move(all));
  std::ostringstream out;
  out << "# Lares configuration (docs/FORMAT.md, \"lares.toml\"). 'lares target' and 'lares\n"
         "# protect set' rewrite this file; comments are not kept.\n"
      << doc << "\n";
  // Checked as a reader will see it before it replaces the old file.
  RETURN_IF_ERROR(parse_policies(out.str(), path).status());
  RETURN_IF_ERROR(write_file_atomic(path, as_bytes(out.str())));
  if (::chmod(path.c_str(), 0600) != 0) return Status::from_errno(errno, "chmod " + path);
  return Status::ok();
}

// ---- state ----

void ProtectState::record(const ReplicationRecord& r) {
  for (auto& old : replications) {
    if (old.dataset == r.dataset && old.target == r.target) {
      old = r;
      return;
    }
  }
  replications.push_back(r);
}

void ProtectState::record(const VerificationRecord& v) {
  for (auto& old : verifications) {
    if (old.target == v.target) {
      old = v;
      return;
    }
  }
  verifications.push_back(v);
}

const ReplicationRecord* ProtectState::replication(const std::string& dataset,
                                                   const std::string& target) const {
  for (const auto& r : replications) {
    if (r.dataset == dataset && r.target == target) return &r;
  }
  return nullptr;
}

const VerificationRecord* ProtectState::verification(const std::string& target) const {
  for (const auto& v : verifications) {
    if (v.target == target) return &v;
  }
  return nullptr;
}

std::string protect_state_path() { return lares_home() + "/protect-state.json"; }

Result<ProtectState> parse_protect_state(std::string_view text, const std::string& path) {
  ASSIGN_OR_RETURN(nlohmann::json doc, parse_json(text, path));
  int format = 0;
  RETURN_IF_ERROR(json_field(doc, "format", path, &format));
  if (format != ProtectState::kFormat) {
    return Status::failed_precondition(path + ": format " + std::to_string(format) +
                                       " is not one this Lares reads");
  }
  ProtectState state;
  auto list = [&](const char* key) -> Result<const nlohmann::json*> {
    auto it = doc.find(key);
    if (it == doc.end() || !it->is_array()) return bad(path, std::string("missing list ") + key);
    return &*it;
  };
  ASSIGN_OR_RETURN(const nlohmann::json* reps, list("replications"));
  for (const auto& j : *reps) {
    ReplicationRecord r;
    RETURN_IF_ERROR(json_field(j, "dataset", path, &r.dataset));
    RETURN_IF_ERROR(json_field(j, "target", path, &r.target));
    RETURN_IF_ERROR(json_field(j, "time_unix", path, &r.time_unix));
    RETURN_IF_ERROR(json_field(j, "ok", path, &r.ok));
    RETURN_IF_ERROR(json_field(j, "error", path, &r.error));
    RETURN_IF_ERROR(json_field(j, "last_success_unix", path, &r.last_success_unix));
    RETURN_IF_ERROR(json_field(j, "newest_snapshot_ns", path, &r.newest_snapshot_ns));
    RETURN_IF_ERROR(json_field(j, "snapshots", path, &r.snapshots));
    state.replications.push_back(std::move(r));
  }
  ASSIGN_OR_RETURN(const nlohmann::json* vers, list("verifications"));
  for (const auto& j : *vers) {
    VerificationRecord v;
    RETURN_IF_ERROR(json_field(j, "target", path, &v.target));
    RETURN_IF_ERROR(json_field(j, "time_unix", path, &v.time_unix));
    RETURN_IF_ERROR(json_field(j, "ok", path, &v.ok));
    uint64_t sample_millis = 0;  // the percentage in thousandths, an integer on disk
    RETURN_IF_ERROR(json_field(j, "sample_millipercent", path, &sample_millis));
    if (sample_millis == 0 || sample_millis > 100000) return bad(path, "sample out of range");
    v.sample_percent = static_cast<double>(sample_millis) / 1000.0;
    RETURN_IF_ERROR(json_field(j, "problems", path, &v.problems));
    RETURN_IF_ERROR(json_field(j, "last_success_unix", path, &v.last_success_unix));
    state.verifications.push_back(std::move(v));
  }
  return state;
}

Result<ProtectState> load_protect_state(const std::string& path) {
  auto text = read_file(path);
  if (!text.is_ok()) {
    if (text.status().code() == Code::kNotFound) return ProtectState{};
    return text.status();
  }
  return parse_protect_state(as_chars(*text), path);
}

Status save_protect_state(const std::string& path, const ProtectState& state) {
  nlohmann::json reps = nlohmann::json::array();
  for (const auto& r : state.replications) {
    reps.push_back({{"dataset", r.dataset},
                    {"target", r.target},
                    {"time_unix", r.time_unix},
                    {"ok", r.ok},
                    {"error", r.error},
                    {"last_success_unix", r.last_success_unix},
                    {"newest_snapshot_ns", r.newest_snapshot_ns},
                    {"snapshots", r.snapshots}});
  }
  nlohmann::json vers = nlohmann::json::array();
  for (const auto& v : state.verifications) {
    vers.push_back({{"target", v.target},
                    {"time_unix", v.time_unix},
                    {"ok", v.ok},
                    {"sample_millipercent", static_cast<uint64_t>(v.sample_percent * 1000.0 + 0.5)},
                    {"problems", v.problems},
                    {"last_success_unix", v.last_success_unix}});
  }
  return write_json_file(path, {{"format", ProtectState::kFormat},
                                {"replications", std::move(reps)},
                                {"verifications", std::move(vers)}});
}

// ---- the report ----

DatasetProtection evaluate_protection(const std::string& dataset, int64_t local_newest_ns,
                                      const ProtectPolicy* policy,
                                      const std::vector<TargetConfig>& targets,
                                      const ProtectState& state, int64_t now_unix) {
  DatasetProtection out;
  out.dataset = dataset;
  const std::string pool = dataset.substr(0, dataset.rfind('/'));
  CopyStatus local;
  local.where = "pool " + pool;
  local.media = "internal disks";
  local.counts = true;
  local.newest_snapshot_ns = local_newest_ns;
  out.copies.push_back(local);

  const int64_t stale_after_s =
      std::max<int64_t>(kMinStaleHours, 2 * int64_t{policy ? policy->interval_hours : 24}) * 3600;
  std::vector<std::string> names;
  if (policy != nullptr) names = policy->targets;
  for (const auto& r : state.replications) {
    if (r.dataset == dataset && std::find(names.begin(), names.end(), r.target) == names.end()) {
      names.push_back(r.target);
    }
  }
  for (const std::string& name : names) {
    CopyStatus copy;
    copy.where = name;
    const auto t = std::find_if(targets.begin(), targets.end(),
                                [&](const TargetConfig& c) { return c.name == name; });
    if (t == targets.end()) {
      copy.media = "?";
      copy.problem = "target '" + name + "' is no longer defined";
      out.copies.push_back(copy);
      continue;
    }
    copy.media = std::string(media_of(t->kind));
    copy.offsite = t->offsite;
    const ReplicationRecord* r = state.replication(dataset, name);
    const VerificationRecord* v = state.verification(name);
    if (v != nullptr) {
      copy.last_verification_unix = v->time_unix;
      copy.verification_ok = v->ok;
    }
    if (r == nullptr || r->last_success_unix == 0) {
      copy.problem = "never replicated: run 'lares replicate " + dataset + " " + name + "'";
    } else {
      copy.last_replication_unix = r->last_success_unix;
      copy.newest_snapshot_ns = r->newest_snapshot_ns;
      if (now_unix - r->last_success_unix > stale_after_s) {
        copy.problem = "last replicated " +
                       std::to_string((now_unix - r->last_success_unix) / 3600) +
                       " hours ago" + (r->ok ? "" : " (the last run failed: " + r->error + ")") +
                       ": run 'lares replicate " + dataset + " " + name + "'";
      } else if (!copy.verification_ok) {
        copy.problem = "its last verification found damage: run 'lares replicate " + dataset +
                       " " + name + " --repair'";
      } else {
        copy.counts = true;
      }
    }
    out.copies.push_back(copy);
  }

  size_t counted = 0;
  std::set<std::string> media;
  bool offsite = false;
  for (const auto& c : out.copies) {
    if (!c.counts) continue;
    ++counted;
    media.insert(c.media);
    offsite = offsite || c.offsite;
  }
  if (local_newest_ns == 0) {
    out.reasons.push_back("the dataset has no snapshot yet: take one (backup, or 'lares snapshot "
                          "create')");
  }
  if (counted < 3) {
    out.reasons.push_back(std::to_string(counted) + " good " + (counted == 1 ? "copy" : "copies") +
                          " of 3: " +
                          (policy == nullptr ? "give it targets with 'lares protect set " + dataset +
                                                   " --targets <a>,<b>'"
                                             : "replicate to its targets"));
  }
  if (media.size() < 2) {
    out.reasons.push_back("all good copies are on " + (media.empty() ? "no" : *media.begin()) +
                          " media: add a copy on another kind (an external disk, a server)");
  }
  if (!offsite) {
    out.reasons.push_back("no good copy is off site: add an SFTP or S3 target, or a disk kept "
                          "elsewhere ('lares target add ... --offsite')");
  }
  out.holds_321 = out.reasons.empty();
  return out;
}

}  // namespace lares
