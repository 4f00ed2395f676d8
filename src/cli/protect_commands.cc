// `lares target add|list|remove` (the targets of $LARES_HOME/lares.toml) and
// `lares replicate <pool>/<dataset> <target>` (protect/replicate.h).
//
// A target is named by its name in lares.toml, or given as an absolute
// folder path (a local target without a name).
#include <sys/file.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <string>

#include "cli/commands.h"
#include "cli/repo_access.h"
#include "fs/check.h"
#include "fs/dataset.h"
#include "protect/protection.h"
#include "protect/prune.h"
#include "protect/recover.h"
#include "protect/replicate.h"
#include "protect/targets.h"
#include "pool/registry.h"
#include "util/file.h"
#include "util/progress.h"

namespace lares::cli {
namespace {

nlohmann::json target_json(const TargetConfig& t) {
  nlohmann::json j{{"name", t.name},
                   {"type", std::string(target_kind_name(t.kind))},
                   {"url", t.url()},
                   {"offsite", t.offsite}};
  if (t.kind == TargetKind::kS3 && !t.storage_class.empty()) j["storage_class"] = t.storage_class;
  j["retention"] = {{"last", t.keep_last},       {"hourly", t.keep_hourly},
                    {"daily", t.keep_daily},     {"weekly", t.keep_weekly},
                    {"monthly", t.keep_monthly}, {"yearly", t.keep_yearly}};
  j["min_storage_days"] = t.min_storage_days;
  return j;
}

int64_t now_unix() { return static_cast<int64_t>(std::time(nullptr)); }

// Records what a replicate or verify did, for `lares protect status`. Only
// named targets are recorded (a bare folder has no name to report under).
// A failure to write the state is a warning: the data was handled.
void record_state(const std::function<void(ProtectState&)>& change) {
  auto state = load_protect_state(protect_state_path());
  if (!state.is_ok()) {
    std::fprintf(stderr, "lares: warning: %s not updated: %s\n", protect_state_path().c_str(),
                 state.status().message().c_str());
    return;
  }
  change(*state);
  if (Status st = save_protect_state(protect_state_path(), *state); !st.is_ok()) {
    std::fprintf(stderr, "lares: warning: %s not updated: %s\n", protect_state_path().c_str(),
                 st.message().c_str());
  }
}

bool is_named(const std::string& text) { return !text.empty() && text[0] != '/'; }

// One replication (or prune) of a target at a time, per LARES_HOME.
Result<FileLock> lock_target(const TargetConfig& target) {
  RETURN_IF_ERROR(make_dirs(lares_home() + "/run"));
  const std::string path = lares_home() + "/run/replicate-" +
                           std::to_string(std::hash<std::string>{}(target.url())) + ".lock";
  return FileLock::acquire(path, "a replication to " + target.name);
}

// Options whose progress callback draws on `progress` (blobs, bytes, rate, ETA).
ReplicateOptions replicate_options(Progress& progress) {
  progress.set_items_noun("blobs");
  ReplicateOptions options;
  if (progress.enabled()) {
    options.progress = [&progress](const ReplicateProgress& p) {
      progress.set_total(p.bytes_total);
      progress.update(p.bytes_done, p.blobs_done);
    };
  }
  return options;
}

std::string age_text(int64_t seconds) {
  if (seconds < 0) seconds = 0;
  if (seconds < 3600) return std::to_string(seconds / 60) + "m";
  if (seconds < 48 * 3600) return std::to_string(seconds / 3600) + "h";
  return std::to_string(seconds / 86400) + "d";
}

}  // namespace

Result<TargetConfig> resolve_target(const std::string& text) {
  if (!text.empty() && text[0] == '/') {
    TargetConfig t;
    t.name = "folder";
    t.kind = TargetKind::kLocal;
    t.path = text;
    return t;
  }
  ASSIGN_OR_RETURN(std::vector<TargetConfig> targets, load_targets(config_path()));
  for (const auto& t : targets) {
    if (t.name == text) return t;
  }
  return Status::not_found("no target named '" + text + "' in " + config_path() +
                           "; add one with 'lares target add', or give an absolute folder path");
}

Result<ExitCode> target_add(const Arguments& args) {
  RETURN_IF_ERROR(validate_target_name(args.target_name));
  TargetConfig t;
  t.name = args.target_name;
  const std::string& url = args.target_url;
  // local: /abs/path; sftp://user@host[:port]/path; s3://bucket[/prefix]
  if (!url.empty() && url[0] == '/') {
    t.kind = TargetKind::kLocal;
    t.path = url;
    t.offsite = args.offsite;
  } else if (url.rfind("sftp://", 0) == 0) {
    t.kind = TargetKind::kSftp;
    t.offsite = true;
    const std::string rest = url.substr(7);
    const size_t at = rest.find('@');
    const size_t slash = rest.find('/', at == std::string::npos ? 0 : at);
    if (at == std::string::npos || slash == std::string::npos || slash + 1 >= rest.size()) {
      return Status::invalid_argument("an SFTP target is sftp://<user>@<host>[:<port>]/<folder>");
    }
    t.user = rest.substr(0, at);
    std::string host = rest.substr(at + 1, slash - at - 1);
    if (const size_t colon = host.rfind(':'); colon != std::string::npos) {
      const std::string port = host.substr(colon + 1);
      char* end = nullptr;
      const long value = std::strtol(port.c_str(), &end, 10);
      if (port.empty() || *end != '\0' || value < 1 || value > 65535) {
        return Status::invalid_argument("'" + port + "' is not a port number");
      }
      t.port = static_cast<uint16_t>(value);
      host.resize(colon);
    }
    t.host = host;
    t.path = rest.substr(slash + 1);
    t.identity_file = args.identity_file;
    t.known_hosts = args.known_hosts;
  } else if (url.rfind("s3://", 0) == 0) {
    t.kind = TargetKind::kS3;
    t.offsite = true;
    const std::string rest = url.substr(5);
    const size_t slash = rest.find('/');
    t.bucket = rest.substr(0, slash);
    if (slash != std::string::npos) t.prefix = rest.substr(slash + 1);
    t.endpoint = args.endpoint;
    t.region = args.region.empty() ? "us-east-1" : args.region;
    t.storage_class = args.storage_class;
    t.path_style = !args.virtual_hosted;
  } else {
    return Status::invalid_argument(
        "a target is an absolute folder, sftp://<user>@<host>[:<port>]/<folder> or "
        "s3://<bucket>[/<prefix>]");
  }
  t.keep_last = args.keep_last;
  t.keep_hourly = args.keep_hourly;
  t.keep_daily = args.keep_daily;
  t.keep_weekly = args.keep_weekly;
  t.keep_monthly = args.keep_monthly;
  t.keep_yearly = args.keep_yearly;
  t.min_storage_days = args.min_storage_days;
  RETURN_IF_ERROR(validate_target(t));
  ASSIGN_OR_RETURN(std::vector<TargetConfig> targets, load_targets(config_path()));
  for (const auto& existing : targets) {
    if (existing.name == t.name) {
      return Status::already_exists("a target named '" + t.name +
                                    "' exists; remove it first or pick another name");
    }
  }
  targets.push_back(t);
  RETURN_IF_ERROR(save_targets(config_path(), targets));
  std::printf("added target %s: %s%s\n", t.name.c_str(), t.url().c_str(),
              t.offsite ? " (off-site)" : "");
  return ExitCode::kOk;
}

Result<ExitCode> target_list(const Arguments& args) {
  ASSIGN_OR_RETURN(std::vector<TargetConfig> targets, load_targets(config_path()));
  if (args.json) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& t : targets) list.push_back(target_json(t));
    print_json(list);
    return ExitCode::kOk;
  }
  if (targets.empty()) {
    std::printf("no targets; add one with 'lares target add <name> <folder|sftp://...|s3://...>'\n");
    return ExitCode::kOk;
  }
  Table table({"NAME", "TYPE", "WHERE", "OFF-SITE"});
  for (const auto& t : targets) {
    table.add_row({t.name, std::string(target_kind_name(t.kind)), t.url(), t.offsite ? "yes" : "no"});
  }
  table.print(stdout);
  return ExitCode::kOk;
}

Result<ExitCode> target_remove(const Arguments& args) {
  ASSIGN_OR_RETURN(std::vector<TargetConfig> targets, load_targets(config_path()));
  const auto it = std::find_if(targets.begin(), targets.end(), [&](const TargetConfig& t) {
    return t.name == args.target_name;
  });
  if (it == targets.end()) {
    return Status::not_found("no target named '" + args.target_name + "' ('lares target list')");
  }
  ASSIGN_OR_RETURN(std::vector<ProtectPolicy> policies, load_policies(config_path()));
  for (const auto& p : policies) {
    if (std::find(p.targets.begin(), p.targets.end(), args.target_name) != p.targets.end()) {
      return Status::failed_precondition("the protection policy of " + p.dataset + " names " +
                                         args.target_name + "; change it first with 'lares "
                                         "protect set " + p.dataset + " --targets ...'");
    }
  }
  targets.erase(it);
  RETURN_IF_ERROR(save_targets(config_path(), targets));
  std::printf("removed target %s (its data stays where it is)\n", args.target_name.c_str());
  return ExitCode::kOk;
}

Result<ExitCode> replicate_command(const Arguments& args) {
  ASSIGN_OR_RETURN(DatasetRef ref, parse_dataset_ref(args.target, /*allow_snapshot=*/false));
  ASSIGN_OR_RETURN(TargetConfig target, resolve_target(args.target_name));
  uint64_t rate = 0;
  if (!args.max_rate.empty() && !parse_rate(args.max_rate, &rate)) {
    return Status::invalid_argument("--bwlimit: not a rate such as 10M or 10M/s");
  }
  // Readers never wait for the writer: replication reads the source only.
  ASSIGN_OR_RETURN(OpenRepo r, open_repo(ref.repo, /*write=*/false, args));
  ASSIGN_OR_RETURN(FileLock lock, lock_target(target));
  ASSIGN_OR_RETURN(std::unique_ptr<ObjectStore> store, open_target_store(target));
  Progress progress("replicate " + args.target + " to " + target.name, 0,
                    args.json ? Progress::Mode::kQuiet : Progress::Mode::kAuto);
  ReplicateOptions options = replicate_options(progress);
  options.bytes_per_second_max = rate;
  options.repair = args.repair;
  auto replicated = replicate_dataset(*r.repo, ref.dataset, *store, options);
  progress.finish();
  if (is_named(args.target_name)) {
    ReplicationRecord rec;
    rec.dataset = ref.repo + "/" + ref.dataset;
    rec.target = target.name;
    rec.time_unix = now_unix();
    rec.ok = replicated.is_ok();
    if (!rec.ok) rec.error = replicated.status().message();
    std::vector<SnapshotRecord> snaps;
    if (rec.ok) {
      auto listed = r.repo->list_snapshots(ref.dataset);
      if (listed.is_ok()) snaps = std::move(*listed);
    }
    record_state([&](ProtectState& state) {
      if (const ReplicationRecord* old = state.replication(rec.dataset, rec.target)) {
        rec.last_success_unix = old->last_success_unix;
        rec.newest_snapshot_ns = old->newest_snapshot_ns;
        rec.snapshots = old->snapshots;
      }
      if (rec.ok) {
        rec.last_success_unix = rec.time_unix;
        rec.snapshots = snaps.size();  // every snapshot of the dataset is there now
        rec.newest_snapshot_ns = snaps.empty() ? 0 : snaps.back().time_ns;
      }
      state.record(rec);
    });
  }
  if (!replicated.is_ok()) return replicated.status();
  const ReplicateReport& report = *replicated;
  for (const auto& pack : report.packs_unreadable) {
    std::fprintf(stderr, "lares: warning: %s on %s cannot be read and was left alone\n",
                 pack.c_str(), target.name.c_str());
  }
  if (args.json) {
    print_json({{"dataset", args.target},
                {"target", target_json(target)},
                {"created", report.target_created},
                {"snapshots_copied", report.snapshots_copied},
                {"snapshots_skipped", report.snapshots_skipped},
                {"snapshots_present", report.snapshots_present},
                {"packs_resumed", report.packs_adopted},
                {"packs_dropped", report.packs_dropped},
                {"packs_unreadable", report.packs_unreadable},
                {"blobs_sent", report.blobs_sent},
                {"bytes_sent", report.bytes_sent},
                {"blobs_deduplicated", report.blobs_deduplicated},
                {"duration_s", report.duration_s}});
  } else {
    std::printf("replicated %s to %s: %llu new snapshots (%llu there already), %s sent in %.1fs%s\n",
                args.target.c_str(), target.name.c_str(),
                static_cast<unsigned long long>(report.snapshots_copied),
                static_cast<unsigned long long>(report.snapshots_present),
                format_size(report.bytes_sent).c_str(), report.duration_s,
                report.packs_adopted ? " (resumed an interrupted run)" : "");
  }
  return ExitCode::kOk;
}

Result<ExitCode> verify_command(const Arguments& args) {
  ASSIGN_OR_RETURN(TargetConfig target, resolve_target(args.target_name));
  if (!(args.sample_percent > 0.0 && args.sample_percent <= 100.0)) {
    return Status::invalid_argument("--sample is a percentage above 0 and at most 100");
  }
  // The replica alone, as a disaster recovery would open it.
  ASSIGN_OR_RETURN(Unlock unlock, read_unlock(args));
  ASSIGN_OR_RETURN(std::unique_ptr<ObjectStore> store, open_target_store(target));
  ASSIGN_OR_RETURN(std::unique_ptr<Repository> repo, Repository::open(*store, unlock));
  CheckOptions options;
  options.read_data = true;
  options.read_data_fraction = args.sample_percent / 100.0;
  ASSIGN_OR_RETURN(CheckReport report,
                   run_check(*repo, options, "verify " + target.name, args.json));
  if (is_named(args.target_name)) {
    record_state([&](ProtectState& state) {
      VerificationRecord v;
      if (const VerificationRecord* old = state.verification(target.name)) v = *old;
      v.target = target.name;
      v.time_unix = now_unix();
      v.ok = report.problems.empty();
      v.sample_percent = args.sample_percent;
      v.problems = report.problems.size();
      if (v.ok) v.last_success_unix = v.time_unix;
      state.record(v);
    });
  }
  if (args.json) {
    nlohmann::json j = check_json(report);
    j["target"] = target_json(target);
    j["sample_percent"] = args.sample_percent;
    print_json(j);
  } else {
    for (const auto& p : report.problems) std::printf("problem: %s\n", p.c_str());
    std::printf("%s: %llu snapshots; read %llu of %llu packs (%s): %s\n", target.name.c_str(),
                static_cast<unsigned long long>(report.snapshots),
                static_cast<unsigned long long>(report.packs_read),
                static_cast<unsigned long long>(report.packs),
                format_size(report.bytes_read).c_str(),
                report.problems.empty()
                    ? "no problems found"
                    : (std::to_string(report.problems.size()) +
                       " problems found; 'lares replicate <pool>/<dataset> " + args.target_name +
                       " --repair' sends again what is missing or damaged")
                          .c_str());
  }
  return report.problems.empty() ? ExitCode::kOk : ExitCode::kDataProblem;
}

Result<ExitCode> recover_command(const Arguments& args) {
  ASSIGN_OR_RETURN(TargetConfig target, resolve_target(args.from));
  ASSIGN_OR_RETURN(Unlock unlock, read_unlock(args));
  ASSIGN_OR_RETURN(std::unique_ptr<ObjectStore> replica_store, open_target_store(target));
  ASSIGN_OR_RETURN(std::unique_ptr<Repository> replica, Repository::open(*replica_store, unlock));
  // The destination: a pool (made with 'lares pool create' and no passphrase)
  // or a folder, with its writer lock.
  ASSIGN_OR_RETURN(OpenRepo into, open_store(args.repo, /*write=*/true, /*create_folder=*/true));
  Progress progress("recover " + args.repo + " from " + target.name, 0,
                    args.json ? Progress::Mode::kQuiet : Progress::Mode::kAuto);
  const ReplicateOptions options = replicate_options(progress);
  ASSIGN_OR_RETURN(RecoverReport report, recover_repository(*replica, *into.store, options));
  progress.finish();
  if (args.json) {
    print_json({{"repo", args.repo},
                {"from", target_json(target)},
                {"datasets", report.datasets},
                {"live_datasets", report.live_datasets},
                {"snapshots", report.snapshots},
                {"bytes_copied", report.bytes_sent},
                {"duration_s", report.duration_s}});
  } else {
    std::printf("recovered %zu datasets (%llu snapshots, %s) into %s from %s in %.1fs\n",
                report.datasets.size(), static_cast<unsigned long long>(report.snapshots),
                format_size(report.bytes_sent).c_str(), args.repo.c_str(), target.name.c_str(),
                report.duration_s);
    for (const auto& name : report.live_datasets) {
      std::printf("live dataset %s is back as of its newest snapshot; its record size, quota and "
                  "schedule are the defaults ('lares dataset set' changes them)\n",
                  name.c_str());
    }
  }
  return ExitCode::kOk;
}

Result<ExitCode> protect_set(const Arguments& args) {
  ASSIGN_OR_RETURN(DatasetRef ref, parse_dataset_ref(args.target, /*allow_snapshot=*/false));
  if (args.interval_hours < 1 || args.interval_hours > 24 * 366) {
    return Status::invalid_argument("--interval-hours is from 1 to 8784");
  }
  ProtectPolicy policy;
  policy.dataset = ref.repo + "/" + ref.dataset;
  policy.interval_hours = args.interval_hours;
  policy.retention = RetentionPolicy{args.keep_last,   args.keep_hourly,  args.keep_daily,
                                     args.keep_weekly, args.keep_monthly, args.keep_yearly};
  std::stringstream names(args.targets);
  for (std::string name; std::getline(names, name, ',');) {
    if (!name.empty()) policy.targets.push_back(name);
  }
  ASSIGN_OR_RETURN(std::vector<TargetConfig> targets, load_targets(config_path()));
  for (const auto& name : policy.targets) {
    if (std::none_of(targets.begin(), targets.end(),
                     [&](const TargetConfig& t) { return t.name == name; })) {
      return Status::not_found("no target named '" + name + "'; add it with 'lares target add'");
    }
  }
  ASSIGN_OR_RETURN(std::vector<ProtectPolicy> policies, load_policies(config_path()));
  policies.erase(std::remove_if(policies.begin(), policies.end(),
                                [&](const ProtectPolicy& p) { return p.dataset == policy.dataset; }),
                 policies.end());
  if (!policy.targets.empty()) policies.push_back(policy);
  RETURN_IF_ERROR(save_policies(config_path(), policies));
  if (policy.targets.empty()) {
    std::printf("%s: no protection policy\n", policy.dataset.c_str());
  } else {
    std::printf("%s: replicated to %s every %d hours\n", policy.dataset.c_str(),
                args.targets.c_str(), policy.interval_hours);
  }
  return ExitCode::kOk;
}

Result<ExitCode> protect_status(const Arguments& args) {
  ASSIGN_OR_RETURN(std::vector<TargetConfig> targets, load_targets(config_path()));
  ASSIGN_OR_RETURN(std::vector<ProtectPolicy> policies, load_policies(config_path()));
  ASSIGN_OR_RETURN(ProtectState state, load_protect_state(protect_state_path()));
  // Every dataset of every registered pool's repository, with its newest
  // snapshot; and the datasets policies or the state name.
  std::map<std::string, int64_t> newest;  // "<pool>/<dataset>" -> ns, 0 if none
  ASSIGN_OR_RETURN(Registry registry, Registry::load(lares_home()));
  std::optional<Unlock> unlock;
  for (const auto& entry : registry.entries()) {
    if (!unlock) {
      ASSIGN_OR_RETURN(Unlock u, read_unlock(args));
      unlock = std::move(u);
    }
    auto r = open_repo_with(entry.name, /*write=*/false, *unlock);
    if (!r.is_ok()) {
      if (r.status().code() == Code::kNotFound) continue;  // a pool without a repository
      return r.status().with_context("pool " + entry.name + ": ");
    }
    ASSIGN_OR_RETURN(std::vector<SnapshotRecord> snaps, r->repo->list_snapshots());
    for (const auto& s : snaps) {
      int64_t& n = newest[entry.name + "/" + s.dataset];
      n = std::max(n, s.time_ns);
    }
    DatasetStore datasets(*r->repo);
    ASSIGN_OR_RETURN(std::vector<DatasetHead> heads, datasets.list());
    for (const auto& h : heads) newest.emplace(entry.name + "/" + h.name, 0);
  }
  for (const auto& p : policies) newest.emplace(p.dataset, 0);
  for (const auto& r : state.replications) newest.emplace(r.dataset, 0);

  const int64_t now = now_unix();
  std::vector<DatasetProtection> report;
  for (const auto& entry : newest) {
    const std::string& dataset = entry.first;
    const auto p = std::find_if(policies.begin(), policies.end(),
                                [&](const ProtectPolicy& x) { return x.dataset == dataset; });
    report.push_back(evaluate_protection(dataset, entry.second,
                                         p == policies.end() ? nullptr : &*p, targets, state, now));
  }
  const bool all_hold = std::all_of(report.begin(), report.end(),
                                    [](const DatasetProtection& d) { return d.holds_321; });
  if (args.json) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& d : report) {
      nlohmann::json copies = nlohmann::json::array();
      for (const auto& c : d.copies) {
        nlohmann::json j{{"where", c.where},   {"media", c.media},   {"offsite", c.offsite},
                         {"counts", c.counts}, {"problem", c.problem}};
        j["last_replication"] = c.last_replication_unix ? nlohmann::json(c.last_replication_unix)
                                                        : nlohmann::json(nullptr);
        j["last_verification"] = c.last_verification_unix
                                     ? nlohmann::json(c.last_verification_unix)
                                     : nlohmann::json(nullptr);
        j["verification_ok"] = c.verification_ok;
        j["newest_snapshot_age_s"] =
            c.newest_snapshot_ns ? nlohmann::json(now - c.newest_snapshot_ns / 1000000000)
                                 : nlohmann::json(nullptr);
        copies.push_back(std::move(j));
      }
      list.push_back({{"dataset", d.dataset},
                      {"rule_3_2_1", d.holds_321},
                      {"reasons", d.reasons},
                      {"copies", std::move(copies)}});
    }
    print_json(list);
  } else if (report.empty()) {
    std::printf("no datasets yet\n");
  } else {
    for (const auto& d : report) {
      std::printf("%s: %s\n", d.dataset.c_str(), d.holds_321 ? "3-2-1 holds" : "AT RISK");
      Table table({"  COPY", "MEDIA", "OFF-SITE", "REPLICATED", "VERIFIED", "NEWEST SNAPSHOT",
                   "STATE"});
      for (const auto& c : d.copies) {
        table.add_row({"  " + c.where, c.media, c.offsite ? "yes" : "no",
                       c.last_replication_unix ? age_text(now - c.last_replication_unix) + " ago"
                                               : "-",
                       c.last_verification_unix
                           ? age_text(now - c.last_verification_unix) + " ago" +
                                 (c.verification_ok ? "" : " (damage)")
                           : "-",
                       c.newest_snapshot_ns
                           ? age_text(now - c.newest_snapshot_ns / 1000000000) + " old"
                           : "none",
                       c.counts ? "ok" : c.problem});
      }
      table.print(stdout);
      for (const auto& reason : d.reasons) std::printf("  - %s\n", reason.c_str());
    }
  }
  return all_hold ? ExitCode::kOk : ExitCode::kDataProblem;
}

Result<ExitCode> target_prune(const Arguments& args) {
  ASSIGN_OR_RETURN(TargetConfig target, resolve_target(args.target_name));
  ASSIGN_OR_RETURN(Unlock unlock, read_unlock(args));
  ASSIGN_OR_RETURN(FileLock lock, lock_target(target));
  ASSIGN_OR_RETURN(std::unique_ptr<ObjectStore> store, open_target_store(target));
  ASSIGN_OR_RETURN(std::unique_ptr<Repository> replica, Repository::open(*store, unlock));
  // Datasets whose protection policy names this target and sets a retention.
  ASSIGN_OR_RETURN(std::vector<ProtectPolicy> policies, load_policies(config_path()));
  std::map<std::string, RetentionPolicy> per_dataset;
  for (const auto& p : policies) {
    if (p.retention.empty() ||
        std::find(p.targets.begin(), p.targets.end(), target.name) == p.targets.end()) {
      continue;
    }
    per_dataset[p.dataset.substr(p.dataset.rfind('/') + 1)] = p.retention;
  }
  ASSIGN_OR_RETURN(PruneReport report,
                   prune_replica(*replica, target, per_dataset, args.apply, now_unix()));
  if (args.json) {
    print_json({{"target", target_json(target)},
                {"applied", args.apply},
                {"forgotten", report.forgotten},
                {"kept", report.kept},
                {"packs_deleted", report.gc.packs_deleted},
                {"packs_repacked", report.gc.packs_repacked},
                {"packs_held", report.gc.packs_held},
                {"bytes_freed", report.gc.bytes_freed}});
    return ExitCode::kOk;
  }
  for (const auto& [dataset, names] : report.forgotten) {
    for (const auto& name : names) {
      std::printf("%s %s@%s\n", args.apply ? "forgot" : "would forget", dataset.c_str(),
                  name.c_str());
    }
  }
  std::printf("%s: %llu snapshots kept; %s %s%s\n", target.name.c_str(),
              static_cast<unsigned long long>(report.kept), args.apply ? "freed" : "would free",
              format_size(report.gc.bytes_freed).c_str(),
              report.gc.packs_held != 0
                  ? (", " + std::to_string(report.gc.packs_held) +
                     " packs held until they reach the minimum storage duration")
                        .c_str()
                  : "");
  if (!args.apply) std::printf("(a dry run: --apply does it)\n");
  return ExitCode::kOk;
}

}  // namespace lares::cli
