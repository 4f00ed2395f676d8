// The repository verbs: `lares repo init|check|repair`, `lares backup`,
// `lares restore`, `lares snapshot list|diff`.
//
// A repository is named by where it lives: a registered pool's name (its
// repository is under the pool's "repo/" objects), or a folder path (one that
// starts with '/', './', '../' or '~'), e.g. a USB disk. A dataset is named
// <repository>/<dataset>, and a snapshot <repository>/<dataset>@<snapshot>.
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "chunks/repository.h"
#include "cli/commands.h"
#include "cli/repo_access.h"
#include "fs/backup.h"
#include "fs/check.h"
#include "fs/gc.h"
#include "fs/live_space.h"
#include "fs/live_diff.h"
#include "objects/dir_store.h"
#include "objects/prefix_store.h"
#include "util/file.h"
#include "util/progress.h"

namespace lares::cli {
namespace {

constexpr char kPoolRepoPrefix[] = "repo/";

bool looks_like_path(const std::string& text) {
  return !text.empty() && (text[0] == '/' || text[0] == '~' || text.rfind("./", 0) == 0 ||
                           text.rfind("../", 0) == 0 || text == "." || text == "..");
}

Result<std::string> read_secret_file(const std::string& path) {
  ASSIGN_OR_RETURN(Bytes bytes, read_file(path));
  std::string text(as_chars(bytes));
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  return text;
}

Result<std::string> prompt_secret(const std::string& prompt) {
  std::FILE* tty = std::fopen("/dev/tty", "r+");
  if (tty == nullptr) return Status::not_found("no terminal");
  int fd = fileno(tty);
  termios old{};
  bool restore = tcgetattr(fd, &old) == 0;
  if (restore) {
    termios quiet = old;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    tcsetattr(fd, TCSAFLUSH, &quiet);
  }
  std::fprintf(tty, "%s", prompt.c_str());
  std::fflush(tty);
  char buf[1024];
  bool got = std::fgets(buf, sizeof buf, tty) != nullptr;
  if (restore) tcsetattr(fd, TCSAFLUSH, &old);
  std::fprintf(tty, "\n");
  std::fclose(tty);
  if (!got) return Status::invalid_argument("no passphrase entered");
  std::string text = buf;
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  return text;
}

// --passphrase-file, then LARES_PASSPHRASE, then a prompt on the terminal.
Result<std::string> get_passphrase(const Arguments& args, bool confirm) {
  if (!args.passphrase_file.empty()) return read_secret_file(args.passphrase_file);
  if (const char* env = std::getenv("LARES_PASSPHRASE"); env != nullptr) return std::string(env);
  if (isatty(STDIN_FILENO) == 0) {
    return Status::invalid_argument(
        "no passphrase: pass --passphrase-file FILE or set LARES_PASSPHRASE");
  }
  ASSIGN_OR_RETURN(std::string first, prompt_secret("Passphrase: "));
  if (confirm) {
    ASSIGN_OR_RETURN(std::string again, prompt_secret("Passphrase again: "));
    if (again != first) return Status::invalid_argument("the passphrases differ");
  }
  return first;
}

Result<Unlock> get_unlock(const Arguments& args) {
  Unlock unlock;
  std::string recovery;
  if (!args.recovery_key_file.empty()) {
    ASSIGN_OR_RETURN(recovery, read_secret_file(args.recovery_key_file));
  } else if (const char* env = std::getenv("LARES_RECOVERY_KEY"); env != nullptr) {
    recovery = env;
  }
  if (!recovery.empty()) {
    ASSIGN_OR_RETURN(Key32 key, parse_recovery_key(recovery));
    unlock.recovery_key = std::move(key);
    return unlock;
  }
  ASSIGN_OR_RETURN(unlock.passphrase, get_passphrase(args, /*confirm=*/false));
  return unlock;
}

Result<Argon2Params> kdf_params(const Arguments& args) {
  Argon2Params params = kArgon2Default;
  if (!args.kdf_memory.empty()) {
    uint64_t bytes = 0;
    if (!parse_size(args.kdf_memory, &bytes)) {
      return Status::invalid_argument("--kdf-memory: not a size such as 256M");
    }
    params.mem_bytes = static_cast<size_t>(bytes);
  }
  if (args.kdf_ops != 0) params.ops = args.kdf_ops;
  RETURN_IF_ERROR(validate_argon2_params(params));
  return params;
}

void print_recovery_key(const std::string& key) {
  std::printf(
      "\nRecovery key (shown only now; write it down and keep it apart from this server):\n\n"
      "    %s\n\n"
      "With it, 'lares' opens this repository if every passphrase is lost "
      "(--recovery-key-file or LARES_RECOVERY_KEY).\n",
      key.c_str());
}

}  // namespace

// Opens the store of repository `where` (a pool name or a folder).
Result<OpenRepo> open_store(const std::string& where, bool write, bool create_folder) {
  OpenRepo r;
  if (looks_like_path(where)) {
    std::string root = absolute_path(where);
    ASSIGN_OR_RETURN(std::unique_ptr<DirStore> dir,
                     DirStore::open(root, create_folder ? CreateIfMissing::kYes
                                                        : CreateIfMissing::kNo));
    if (write) {
      auto lock = FileLock::acquire(root + "/writer.lock", "repository " + root);
      if (!lock.is_ok()) return lock.status();
      r.lock.emplace(std::move(*lock));
    }
    r.store = std::move(dir);
  } else {
    ASSIGN_OR_RETURN(r.pool,
                     open_registered_pool(where, write ? OpenMode::kReadWrite : OpenMode::kReadOnly));
    r.store = std::make_unique<PrefixStore>(*r.pool, kPoolRepoPrefix);
  }
  return r;
}

namespace {
Status require_repository(ObjectStore& store, const std::string& where) {
  ASSIGN_OR_RETURN(bool present, Repository::exists(store));
  if (present) return Status::ok();
  return Status::not_found("'" + where + "' holds no Lares repository; create one with 'lares repo init " +
                           where + "'");
}
}  // namespace

Result<Unlock> read_unlock(const Arguments& args) { return get_unlock(args); }

Result<OpenRepo> open_repo_with(const std::string& where, bool write, const Unlock& unlock) {
  ASSIGN_OR_RETURN(OpenRepo r, open_store(where, write, /*create_folder=*/false));
  RETURN_IF_ERROR(require_repository(*r.store, where));
  ASSIGN_OR_RETURN(r.repo, Repository::open(*r.store, unlock));
  return r;
}

Result<OpenRepo> open_repo(const std::string& where, bool write, const Arguments& args) {
  ASSIGN_OR_RETURN(OpenRepo r, open_store(where, write, /*create_folder=*/false));
  RETURN_IF_ERROR(require_repository(*r.store, where));
  ASSIGN_OR_RETURN(Unlock unlock, get_unlock(args));
  ASSIGN_OR_RETURN(r.repo, Repository::open(*r.store, unlock));
  return r;
}

Result<DatasetRef> parse_dataset_ref(const std::string& text, bool allow_snapshot) {
  DatasetRef ref;
  std::string rest = text;
  size_t at = rest.rfind('@');
  size_t slash = rest.rfind('/');
  if (at != std::string::npos && (slash == std::string::npos || at > slash)) {
    if (!allow_snapshot) {
      return Status::invalid_argument("'" + text + "': name a dataset here, not a snapshot");
    }
    ref.snapshot = rest.substr(at + 1);
    rest.resize(at);
  }
  slash = rest.rfind('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == rest.size()) {
    return Status::invalid_argument("'" + text +
                                    "' is not <pool>/<dataset> (or <folder>/<dataset>)");
  }
  ref.repo = rest.substr(0, slash);
  ref.dataset = rest.substr(slash + 1);
  RETURN_IF_ERROR(validate_dataset_name(ref.dataset));
  if (!ref.snapshot.empty()) RETURN_IF_ERROR(validate_snapshot_name(ref.snapshot));
  return ref;
}

std::string iso_time(int64_t time_ns) {
  std::time_t secs = static_cast<std::time_t>(time_ns / 1000000000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

nlohmann::json snapshot_json(const SnapshotRecord& s) {
  return {{"id", s.id},
          {"dataset", s.dataset},
          {"name", s.name},
          {"time", iso_time(s.time_ns)},
          {"time_ns", s.time_ns},
          {"hostname", s.hostname},
          {"source", s.source},
          {"parent", s.parent},
          {"files", s.files},
          {"dirs", s.dirs},
          {"bytes", s.bytes},
          {"new_blobs", s.new_blobs},
          {"new_bytes_stored", s.new_bytes_stored},
          {"duration_s", s.duration_s}};
}


bool passphrase_available(const Arguments& args) {
  return !args.passphrase_file.empty() || std::getenv("LARES_PASSPHRASE") != nullptr ||
         isatty(STDIN_FILENO) != 0;
}

Status init_repository(ObjectStore& store, const Arguments& args) {
  ASSIGN_OR_RETURN(std::string passphrase, get_passphrase(args, /*confirm=*/true));
  ASSIGN_OR_RETURN(Argon2Params params, kdf_params(args));
  InitOptions options;
  options.argon2 = params;
  std::string recovery;
  ASSIGN_OR_RETURN(std::unique_ptr<Repository> repo,
                   Repository::init(store, passphrase, options, &recovery));
  print_recovery_key(recovery);
  return Status::ok();
}

Status init_pool_repository(Pool& pool, const Arguments& args) {
  PrefixStore store(pool, kPoolRepoPrefix);
  return init_repository(store, args);
}

Result<ExitCode> repo_init(const Arguments& args) {
  ASSIGN_OR_RETURN(OpenRepo r, open_store(args.repo, /*write=*/true, /*create_folder=*/true));
  RETURN_IF_ERROR(init_repository(*r.store, args));
  std::printf("created an encrypted repository in '%s'\n", args.repo.c_str());
  return ExitCode::kOk;
}

Result<ExitCode> backup_command(const Arguments& args) {
  ASSIGN_OR_RETURN(DatasetRef ref, parse_dataset_ref(args.target, /*allow_snapshot=*/false));
  ASSIGN_OR_RETURN(OpenRepo r, open_repo(ref.repo, /*write=*/true, args));
  BackupOptions options;
  options.dataset = ref.dataset;
  options.name = args.name;
  options.excludes = args.excludes;
  Progress progress("backup " + args.target, 0,
                    args.json ? Progress::Mode::kQuiet : Progress::Mode::kAuto);
  progress.set_items_noun("files");
  if (progress.enabled()) {
    options.progress = [&](const BackupProgress& p) {
      progress.set_total(p.bytes_total);
      progress.update(p.bytes_done, p.files);
    };
  }
  ASSIGN_OR_RETURN(BackupResult result, backup(*r.repo, args.source, options));
  progress.finish();
  for (const auto& s : result.skipped) std::fprintf(stderr, "lares: skipped %s\n", s.c_str());
  const SnapshotRecord& s = result.snapshot;
  if (args.json) {
    nlohmann::json j = snapshot_json(s);
    j["skipped"] = result.skipped;
    j["files_read"] = result.files_read;
    print_json(j);
  } else {
    std::printf("snapshot %s/%s@%s: %llu files, %llu folders, %s; %s new in %llu blobs; %.1f s\n",
                ref.repo.c_str(), s.dataset.c_str(), s.name.c_str(),
                static_cast<unsigned long long>(s.files), static_cast<unsigned long long>(s.dirs),
                format_size(s.bytes).c_str(), format_size(s.new_bytes_stored).c_str(),
                static_cast<unsigned long long>(s.new_blobs), s.duration_s);
    if (!result.skipped.empty()) {
      std::printf("%zu entries were skipped (listed above)\n", result.skipped.size());
    }
  }
  return ExitCode::kOk;
}

Result<ExitCode> restore_command(const Arguments& args) {
  DatasetRef ref;
  OpenRepo r;
  if (!args.from.empty()) {
    // Disaster recovery: the replica alone, opened with the passphrase (or
    // the recovery key) and the target's credentials.
    ASSIGN_OR_RETURN(ref, parse_dataset_ref("replica/" + args.target, /*allow_snapshot=*/true));
    ASSIGN_OR_RETURN(TargetConfig target, resolve_target(args.from));
    ASSIGN_OR_RETURN(Unlock unlock, read_unlock(args));
    ASSIGN_OR_RETURN(r.store, open_target_store(target));
    ASSIGN_OR_RETURN(r.repo, Repository::open(*r.store, unlock));
  } else {
    ASSIGN_OR_RETURN(ref, parse_dataset_ref(args.target, /*allow_snapshot=*/true));
    ASSIGN_OR_RETURN(r, open_repo(ref.repo, /*write=*/false, args));
  }
  ASSIGN_OR_RETURN(SnapshotRecord snap, r.repo->find_snapshot(ref.dataset, ref.snapshot));
  RestoreOptions options;
  options.path = args.path;
  options.overwrite = args.overwrite;
  Progress progress("restore " + ref.dataset + "@" + snap.name, snap.bytes,
                    args.json ? Progress::Mode::kQuiet : Progress::Mode::kAuto);
  progress.set_items_noun("files");
  if (progress.enabled()) {
    options.progress = [&](const RestoreProgress& p) { progress.update(p.bytes_done, p.files); };
  }
  ASSIGN_OR_RETURN(RestoreResult result, restore(*r.repo, snap, absolute_path(args.source), options));
  progress.finish();
  for (const auto& w : result.warnings) std::fprintf(stderr, "lares: warning: %s\n", w.c_str());
  if (args.json) {
    print_json({{"snapshot", snapshot_json(snap)},
                {"files", result.files},
                {"dirs", result.dirs},
                {"bytes", result.bytes},
                {"warnings", result.warnings}});
  } else {
    std::printf("restored %s@%s to %s: %llu files, %llu folders, %s\n", ref.dataset.c_str(),
                snap.name.c_str(), args.source.c_str(),
                static_cast<unsigned long long>(result.files),
                static_cast<unsigned long long>(result.dirs), format_size(result.bytes).c_str());
  }
  return ExitCode::kOk;
}

Result<ExitCode> snapshot_list(const Arguments& args) {
  ASSIGN_OR_RETURN(DatasetRef ref, parse_dataset_ref(args.target, /*allow_snapshot=*/false));
  ASSIGN_OR_RETURN(OpenRepo r, open_repo(ref.repo, /*write=*/false, args));
  ASSIGN_OR_RETURN(std::vector<SnapshotRecord> snaps, r.repo->list_snapshots(ref.dataset));
  // A live dataset's snapshots also show their space: what each references
  // and what only it holds (what destroying it would free).
  std::optional<DatasetSpace> space;
  if (std::any_of(snaps.begin(), snaps.end(),
                  [](const SnapshotRecord& s) { return s.layout == SnapshotLayout::kLive; })) {
    ASSIGN_OR_RETURN(space, dataset_space(*r.repo, ref.dataset));
  }
  auto space_of = [&](const SnapshotRecord& s) -> const VersionSpace* {
    if (!space || s.layout != SnapshotLayout::kLive) return nullptr;
    auto it = space->snapshots.find(s.name);
    return it == space->snapshots.end() ? nullptr : &it->second;
  };
  if (args.json) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& s : snaps) {
      nlohmann::json j = snapshot_json(s);
      j["layout"] = s.layout == SnapshotLayout::kLive ? "live" : "backup";
      if (const VersionSpace* v = space_of(s)) {
        j["referenced_bytes"] = v->referenced_bytes;
        j["unique_bytes"] = v->unique_bytes;
      }
      list.push_back(std::move(j));
    }
    print_json(list);
    return ExitCode::kOk;
  }
  Table table({"NAME", "TIME", "FILES", "SIZE", "NEW/UNIQUE", "SOURCE"});
  for (const auto& s : snaps) {
    const VersionSpace* v = space_of(s);
    table.add_row({s.name, iso_time(s.time_ns), std::to_string(s.files), format_size(s.bytes),
                   format_size(v ? v->unique_bytes : s.new_bytes_stored),
                   v ? "(live)" : s.source});
  }
  table.print(stdout);
  return ExitCode::kOk;
}

Result<CheckReport> run_check(Repository& repo, const CheckOptions& options,
                              const std::string& label, bool quiet) {
  uint64_t total = 0;
  for (const auto& p : repo.index_packs()) {
    for (const auto& e : p.entries) total += e.sealed_length;
  }
  total = static_cast<uint64_t>(static_cast<double>(total) * options.read_data_fraction);
  Progress progress(label, total,
                    quiet || !options.read_data ? Progress::Mode::kQuiet : Progress::Mode::kAuto);
  progress.set_items_noun("packs");
  CheckOptions with_progress = options;
  with_progress.progress = [&](uint64_t bytes, uint64_t packs) { progress.update(bytes, packs); };
  auto report = check_repository(repo, with_progress);
  progress.finish();
  return report;
}

nlohmann::json check_json(const CheckReport& report) {
  return {{"ok", report.problems.empty()},
          {"snapshots", report.snapshots},
          {"trees", report.trees},
          {"files", report.files},
          {"packs", report.packs},
          {"packs_read", report.packs_read},
          {"bytes_read", report.bytes_read},
          {"problems", report.problems}};
}

Result<ExitCode> repo_check(const Arguments& args) {
  ASSIGN_OR_RETURN(OpenRepo r, open_repo(args.repo, /*write=*/false, args));
  CheckOptions options;
  options.read_data = args.read_data;
  ASSIGN_OR_RETURN(CheckReport report, run_check(*r.repo, options, "check " + args.repo, args.json));
  if (args.json) {
    print_json(check_json(report));
  } else {
    for (const auto& p : report.problems) std::printf("problem: %s\n", p.c_str());
    std::printf("%s: %llu snapshots, %llu folders, %llu files, %llu packs%s: %s\n",
                args.repo.c_str(), static_cast<unsigned long long>(report.snapshots),
                static_cast<unsigned long long>(report.trees),
                static_cast<unsigned long long>(report.files),
                static_cast<unsigned long long>(report.packs),
                args.read_data ? " (all data read)" : "",
                report.problems.empty() ? "no problems found"
                                        : (std::to_string(report.problems.size()) +
                                           " problems found")
                                              .c_str());
  }
  return report.problems.empty() ? ExitCode::kOk : ExitCode::kDataProblem;
}

Result<ExitCode> snapshot_diff(const Arguments& args) {
  ASSIGN_OR_RETURN(DatasetRef a, parse_dataset_ref(args.target, /*allow_snapshot=*/true));
  DatasetRef b = a;
  if (args.other.find('/') != std::string::npos) {
    ASSIGN_OR_RETURN(b, parse_dataset_ref(args.other, /*allow_snapshot=*/true));
    if (b.repo != a.repo) return Status::invalid_argument("both snapshots must be in one repository");
  } else {
    b.snapshot = args.other.rfind('@', 0) == 0 ? args.other.substr(1) : args.other;
  }
  if (a.snapshot.empty()) {
    return Status::invalid_argument("name the first snapshot: <pool>/<dataset>@<snapshot>");
  }
  ASSIGN_OR_RETURN(OpenRepo r, open_repo(a.repo, /*write=*/false, args));
  ASSIGN_OR_RETURN(SnapshotRecord sa, r.repo->find_snapshot(a.dataset, a.snapshot));
  ASSIGN_OR_RETURN(SnapshotRecord sb, r.repo->find_snapshot(b.dataset, b.snapshot));
  if (sa.layout != sb.layout) {
    auto kind = [](const SnapshotRecord& s) {
      return s.layout == SnapshotLayout::kLive ? "a live dataset snapshot" : "a backup snapshot";
    };
    return Status::invalid_argument(sa.dataset + "@" + sa.name + " is " + kind(sa) + " and " +
                                    sb.dataset + "@" + sb.name + " is " + kind(sb) +
                                    ": only snapshots of one kind can be compared");
  }
  std::vector<DiffEntry> diff;
  if (sa.layout == SnapshotLayout::kLive) {
    ASSIGN_OR_RETURN(diff, diff_live_trees(*r.repo, sa.tree, sb.tree));
  } else {
    ASSIGN_OR_RETURN(diff, diff_trees(*r.repo, sa.tree, sb.tree));
  }
  if (args.json) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& d : diff) {
      const char* change = d.change == '+'   ? "added"
                           : d.change == '-' ? "removed"
                           : d.change == 'M' ? "modified"
                           : d.change == 'T' ? "type"
                           : d.change == 'R' ? "renamed"
                                             : "metadata";
      list.push_back({{"change", change}, {"path", d.path}});
    }
    print_json(list);
  } else {
    for (const auto& d : diff) std::printf("%c %s\n", d.change, d.path.c_str());
  }
  return ExitCode::kOk;
}

Result<ExitCode> forget_command(const Arguments& args) {
  ASSIGN_OR_RETURN(DatasetRef ref, parse_dataset_ref(args.target, /*allow_snapshot=*/false));
  RetentionPolicy policy{args.keep_last,  args.keep_hourly,  args.keep_daily,
                         args.keep_weekly, args.keep_monthly, args.keep_yearly};
  if (policy.empty()) {
    return Status::invalid_argument(
        "give at least one --keep-* option (e.g. --keep-daily 7 --keep-weekly 4)");
  }
  ASSIGN_OR_RETURN(OpenRepo r, open_repo(ref.repo, /*write=*/args.apply, args));
  ASSIGN_OR_RETURN(std::vector<SnapshotRecord> snaps, r.repo->list_snapshots(ref.dataset));
  std::vector<RetentionDecision> decisions = apply_retention(snaps, policy);
  if (args.apply) {
    for (size_t i = 0; i < snaps.size(); ++i) {
      if (!decisions[i].keep) RETURN_IF_ERROR(r.repo->remove_snapshot(snaps[i].id));
    }
  }
  size_t dropped = 0;
  for (const auto& d : decisions) dropped += d.keep ? 0 : 1;
  if (args.json) {
    nlohmann::json list = nlohmann::json::array();
    for (size_t i = 0; i < snaps.size(); ++i) {
      nlohmann::json j = snapshot_json(snaps[i]);
      j["keep"] = decisions[i].keep;
      j["reasons"] = decisions[i].reasons;
      list.push_back(j);
    }
    print_json({{"applied", args.apply}, {"snapshots", list}});
    return ExitCode::kOk;
  }
  Table table({"NAME", "TIME", "DECISION", "WHY"});
  for (size_t i = 0; i < snaps.size(); ++i) {
    std::string why;
    for (const auto& reason : decisions[i].reasons) why += (why.empty() ? "" : ",") + reason;
    table.add_row({snaps[i].name, iso_time(snaps[i].time_ns),
                   decisions[i].keep ? "keep" : (args.apply ? "dropped" : "drop"), why});
  }
  table.print(stdout);
  if (args.apply) {
    std::printf("dropped %zu snapshots; run 'lares repo gc %s' to free their space\n", dropped,
                ref.repo.c_str());
  } else {
    std::printf("dry run: %zu snapshots would be dropped; add --apply to drop them\n", dropped);
  }
  return ExitCode::kOk;
}

Result<ExitCode> repo_gc(const Arguments& args) {
  ASSIGN_OR_RETURN(OpenRepo r, open_repo(args.repo, /*write=*/!args.dry_run, args));
  GcOptions options;
  options.dry_run = args.dry_run;
  ASSIGN_OR_RETURN(GcReport report, collect_garbage(*r.repo, options));
  if (args.json) {
    print_json({{"dry_run", args.dry_run},
                {"snapshots", report.snapshots},
                {"live_blobs", report.live_blobs},
                {"packs", report.packs},
                {"packs_deleted", report.packs_deleted},
                {"packs_repacked", report.packs_repacked},
                {"orphan_packs", report.orphan_packs},
                {"bytes_freed", report.bytes_freed},
                {"bytes_copied", report.bytes_copied}});
  } else {
    std::printf("%s%s freed: %llu of %llu packs deleted, %llu repacked (%s copied), %llu left over "
                "from interrupted backups\n",
                args.dry_run ? "dry run: would have " : "", format_size(report.bytes_freed).c_str(),
                static_cast<unsigned long long>(report.packs_deleted),
                static_cast<unsigned long long>(report.packs),
                static_cast<unsigned long long>(report.packs_repacked),
                format_size(report.bytes_copied).c_str(),
                static_cast<unsigned long long>(report.orphan_packs));
  }
  return ExitCode::kOk;
}

namespace {

Result<std::string> new_passphrase(const Arguments& args) {
  if (!args.new_passphrase_file.empty()) return read_secret_file(args.new_passphrase_file);
  if (isatty(STDIN_FILENO) == 0) {
    return Status::invalid_argument("no new passphrase: pass --new-passphrase-file FILE");
  }
  ASSIGN_OR_RETURN(std::string first, prompt_secret("New passphrase: "));
  ASSIGN_OR_RETURN(std::string again, prompt_secret("New passphrase again: "));
  if (again != first) return Status::invalid_argument("the passphrases differ");
  return first;
}

}  // namespace

Result<ExitCode> key_list(const Arguments& args) {
  ASSIGN_OR_RETURN(OpenRepo r, open_repo(args.repo, /*write=*/false, args));
  ASSIGN_OR_RETURN(std::vector<Repository::SlotInfo> slots, r.repo->list_slots());
  if (args.json) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& s : slots) {
      list.push_back({{"slot", s.slot_id},
                      {"kind", s.kind == KeySlotKind::kRecovery ? "recovery" : "passphrase"},
                      {"label", s.label},
                      {"created_unix", s.created_unix}});
    }
    print_json(list);
    return ExitCode::kOk;
  }
  Table table({"SLOT", "KIND", "CREATED", "LABEL"});
  for (const auto& s : slots) {
    table.add_row({s.slot_id, s.kind == KeySlotKind::kRecovery ? "recovery" : "passphrase",
                   iso_time(s.created_unix * 1000000000), s.label});
  }
  table.print(stdout);
  return ExitCode::kOk;
}

Result<ExitCode> key_add(const Arguments& args) {
  ASSIGN_OR_RETURN(OpenRepo r, open_repo(args.repo, /*write=*/true, args));
  ASSIGN_OR_RETURN(std::string passphrase, new_passphrase(args));
  ASSIGN_OR_RETURN(Argon2Params params, kdf_params(args));
  ASSIGN_OR_RETURN(std::string slot, r.repo->add_passphrase(passphrase, params, args.label));
  std::printf("added key slot %s\n", slot.c_str());
  return ExitCode::kOk;
}

Result<ExitCode> key_remove(const Arguments& args) {
  ASSIGN_OR_RETURN(OpenRepo r, open_repo(args.repo, /*write=*/true, args));
  RETURN_IF_ERROR(r.repo->remove_slot(args.slot));
  std::printf("removed key slot %s\n", args.slot.c_str());
  return ExitCode::kOk;
}

Result<ExitCode> key_passwd(const Arguments& args) {
  ASSIGN_OR_RETURN(OpenRepo r, open_repo(args.repo, /*write=*/true, args));
  ASSIGN_OR_RETURN(std::string passphrase, new_passphrase(args));
  ASSIGN_OR_RETURN(Argon2Params params, kdf_params(args));
  RETURN_IF_ERROR(r.repo->change_passphrase(passphrase, params));
  std::printf("changed the passphrase\n");
  return ExitCode::kOk;
}

Result<ExitCode> repo_repair(const Arguments& args) {
  if (!args.rebuild_index) {
    return Status::invalid_argument("say what to repair: --rebuild-index");
  }
  ASSIGN_OR_RETURN(OpenRepo r, open_repo(args.repo, /*write=*/true, args));
  std::vector<std::string> bad;
  RETURN_IF_ERROR(r.repo->rebuild_index(&bad));
  for (const auto& b : bad) std::fprintf(stderr, "lares: unreadable pack %s\n", b.c_str());
  RepoStats stats = r.repo->stats();
  std::printf("rebuilt the index from %llu packs: %llu blobs\n",
              static_cast<unsigned long long>(stats.packs),
              static_cast<unsigned long long>(stats.blobs));
  return bad.empty() ? ExitCode::kOk : ExitCode::kDataProblem;
}

}  // namespace lares::cli
