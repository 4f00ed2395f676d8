// `lares`: parses `lares <noun> <verb> ...` into Arguments and runs the verb
// (cli/commands.h). Exit codes are those of cli/output.h; nothing is thrown
// out of main.
#include <malloc.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/output.h"

namespace lares::cli {
namespace {

// LARES_VERSION comes from project(... VERSION) in the top-level CMakeLists.txt.
constexpr char kVersion[] = "lares " LARES_VERSION;

CLI::App* add_verb(CLI::App* noun, const std::string& name, const std::string& description,
                   Verb verb, Verb* chosen) {
  CLI::App* command = noun->add_subcommand(name, description);
  command->callback([verb, chosen] { *chosen = verb; });
  return command;
}

void add_pool_name(CLI::App* command, Arguments& args) {
  command->add_option("pool", args.pool, "Name of a registered pool")->required();
}

void add_json_flag(CLI::App* command, Arguments& args) {
  command->add_flag("--json", args.json, "Print JSON instead of a table");
}

CLI::Validator rate_validator() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        uint64_t rate = 0;
        return parse_rate(text, &rate) ? "" : "not a rate such as 50M or 50M/s";
      },
      "SIZE/s");
}

void add_passphrase_options(CLI::App* command, Arguments& args) {
  command->add_option("--passphrase-file", args.passphrase_file,
                      "Read the passphrase from this file (else LARES_PASSPHRASE, else a prompt)");
}

void add_unlock_options(CLI::App* command, Arguments& args) {
  add_passphrase_options(command, args);
  command->add_option("--recovery-key-file", args.recovery_key_file,
                      "Unlock with the recovery key in this file (or LARES_RECOVERY_KEY)");
}

// Creating a repository: the passphrase and its Argon2id cost.
void add_key_options(CLI::App* command, Arguments& args) {
  add_passphrase_options(command, args);
  command->add_option("--kdf-memory", args.kdf_memory,
                      "Argon2id memory per unlock (default 64M; 8K..4G)");
  command->add_option("--kdf-ops", args.kdf_ops, "Argon2id passes (default 3; 1..64)");
}

// Automatic snapshots of a live dataset (defaults: on, 24 hourly, 7 daily,
// 4 weekly, 12 monthly).
void add_schedule_options(CLI::App* command, Arguments& args) {
  command->add_option("--auto-snapshots", args.auto_snapshots,
                      "Take hourly snapshots while it changes and prune them (default on)")
      ->check(CLI::IsMember({"on", "off"}));
  command->add_option("--keep-hourly", args.sched_hourly, "Automatic snapshots: hours kept (24)")
      ->check(CLI::Range(0, 100000));
  command->add_option("--keep-daily", args.sched_daily, "Automatic snapshots: days kept (7)")
      ->check(CLI::Range(0, 100000));
  command->add_option("--keep-weekly", args.sched_weekly, "Automatic snapshots: weeks kept (4)")
      ->check(CLI::Range(0, 100000));
  command->add_option("--keep-monthly", args.sched_monthly, "Automatic snapshots: months kept (12)")
      ->check(CLI::Range(0, 100000));
}

void add_dataset_commands(CLI::App& app, Arguments& args, Verb* chosen) {
  CLI::App* dataset = app.add_subcommand("dataset", "Create, list and destroy live datasets");
  dataset->require_subcommand(1);
  CLI::App* create = add_verb(dataset, "create", "Create a live dataset (a filesystem to mount)",
                              dataset_create, chosen);
  create->add_option("dataset", args.target, "<pool>/<name>")->required();
  create->add_option("--recordsize", args.recordsize,
                     "Largest block of file data: 4K..1M, a power of two (default 128K)");
  create->add_option("--quota", args.quota, "Most file data it may hold, e.g. 100G (default none)");
  add_schedule_options(create, args);
  add_unlock_options(create, args);
  CLI::App* set = add_verb(dataset, "set", "Change a live dataset's quota or snapshot schedule",
                           dataset_set, chosen);
  set->add_option("dataset", args.target, "<pool>/<name>")->required();
  set->add_option("--quota", args.quota, "Most file data it may hold, e.g. 100G; 0 for none");
  add_schedule_options(set, args);
  add_unlock_options(set, args);
  CLI::App* list = add_verb(dataset, "list", "List datasets, live and backup", dataset_list, chosen);
  list->add_option("repo", args.repo, "A pool or folder repository (default: every pool)");
  add_json_flag(list, args);
  add_unlock_options(list, args);
  CLI::App* destroy = add_verb(dataset, "destroy", "Delete a live dataset (gc frees its space)",
                               dataset_destroy, chosen);
  destroy->add_option("dataset", args.target, "<pool>/<name>")->required();
  destroy->add_flag("--recursive,-r", args.recursive, "Destroy its snapshots too");
  add_unlock_options(destroy, args);

  CLI::App* mount = app.add_subcommand("mount", "Mount a live dataset (FUSE)");
  mount->callback([chosen] { *chosen = mount_command; });
  mount->add_option("dataset", args.target, "<pool>/<dataset>")->required();
  mount->add_option("mountpoint", args.mountpoint, "An existing empty folder")->required();
  mount->add_flag("--foreground,-f", args.foreground,
                  "Serve in this process until unmounted or Ctrl-C (default: in the background)");
  mount->add_flag("--allow-other", args.allow_other, "Let users other than the mounter in");
  add_unlock_options(mount, args);
  CLI::App* umount = app.add_subcommand("umount", "Unmount a mounted dataset (commits first)");
  umount->callback([chosen] { *chosen = umount_command; });
  umount->add_option("mountpoint", args.mountpoint, "Where it is mounted")->required();

  CLI::App* rollback = app.add_subcommand(
      "rollback", "Return a live dataset to a snapshot (it must not be mounted)");
  rollback->callback([chosen] { *chosen = rollback_command; });
  rollback->add_option("snapshot", args.target, "<pool>/<dataset>@<snapshot>")->required();
  add_unlock_options(rollback, args);
  CLI::App* clone = app.add_subcommand("clone", "Make a new live dataset from a snapshot (instant)");
  clone->callback([chosen] { *chosen = clone_command; });
  clone->add_option("snapshot", args.target, "<pool>/<dataset>@<snapshot>")->required();
  clone->add_option("new", args.other, "<pool>/<new dataset>")->required();
  add_unlock_options(clone, args);
}

void add_protect_commands(CLI::App& app, Arguments& args, Verb* chosen) {
  CLI::App* target = app.add_subcommand("target", "Name the places replicas go (lares.toml)");
  target->require_subcommand(1);
  CLI::App* add = add_verb(target, "add", "Add a replication target", target_add, chosen);
  add->add_option("name", args.target_name, "A name for it")->required();
  add->add_option("where", args.target_url,
                  "An absolute folder, sftp://<user>@<host>[:<port>]/<folder> (under the "
                  "login folder; '//' for an absolute one) or s3://<bucket>[/<prefix>]")
      ->required();
  add->add_flag("--offsite", args.offsite, "A folder kept off site (a disk taken elsewhere)");
  add->add_option("--identity-file", args.identity_file, "SFTP: the private key to log in with");
  add->add_option("--known-hosts", args.known_hosts,
                  "SFTP: the known_hosts file holding the server's key");
  add->add_option("--endpoint", args.endpoint, "S3: the service URL, e.g. https://s3.example.com");
  add->add_option("--region", args.region, "S3: the region (us-east-1)");
  add->add_option("--storage-class", args.storage_class,
                  "S3: the storage class of packs, e.g. GLACIER_IR (archive classes such as "
                  "DEEP_ARCHIVE cannot be read back by verify)");
  add->add_flag("--virtual-hosted", args.virtual_hosted,
                "S3: address the bucket as <bucket>.<host> (default: path style)");
  add->add_option("--keep-last", args.keep_last, "Its retention: the N newest snapshots");
  add->add_option("--keep-hourly", args.keep_hourly, "Its retention: one per hour, N hours");
  add->add_option("--keep-daily", args.keep_daily, "Its retention: one per day, N days");
  add->add_option("--keep-weekly", args.keep_weekly, "Its retention: one per week, N weeks");
  add->add_option("--keep-monthly", args.keep_monthly, "Its retention: one per month, N months");
  add->add_option("--keep-yearly", args.keep_yearly, "Its retention: one per year, N years");
  add->add_option("--min-storage-days", args.min_storage_days,
                  "Never delete a pack younger than this (a cold tier's minimum storage "
                  "duration, e.g. 180 for DEEP_ARCHIVE)");
  CLI::App* list = add_verb(target, "list", "List the replication targets", target_list, chosen);
  add_json_flag(list, args);
  CLI::App* remove = add_verb(target, "remove", "Forget a target (its data stays)", target_remove,
                              chosen);
  remove->add_option("name", args.target_name, "The target's name")->required();
  CLI::App* prune = add_verb(target, "prune",
                             "Apply a target's own retention to its replica, then gc it (a dry "
                             "run unless --apply)",
                             target_prune, chosen);
  prune->add_option("name", args.target_name, "The target's name")->required();
  prune->add_flag("--apply", args.apply, "Forget and delete (else only show what would go)");
  add_json_flag(prune, args);
  add_unlock_options(prune, args);

  CLI::App* replicate = app.add_subcommand(
      "replicate", "Copy a dataset's new snapshots to a target (incremental, resumable)");
  replicate->callback([chosen] { *chosen = replicate_command; });
  replicate->add_option("dataset", args.target, "<pool>/<dataset>")->required();
  replicate->add_option("target", args.target_name, "A target's name, or an absolute folder")
      ->required();
  replicate->add_flag("--repair", args.repair,
                      "Read the whole replica first; drop what is missing or damaged and send "
                      "it again");
  replicate->add_option("--bwlimit", args.max_rate, "Upload at most this rate, e.g. 10M/s")
      ->check([](const std::string& text) {
        uint64_t rate = 0;
        return parse_rate(text, &rate) ? std::string() : "not a rate such as 10M/s";
      });
  add_json_flag(replicate, args);
  add_unlock_options(replicate, args);

  CLI::App* protect = app.add_subcommand("protect", "Protection policies and the 3-2-1 report");
  protect->require_subcommand(1);
  CLI::App* pset = add_verb(protect, "set", "Name the targets a dataset must reach", protect_set,
                            chosen);
  pset->add_option("dataset", args.target, "<pool>/<dataset>")->required();
  pset->add_option("--targets", args.targets, "Target names, comma-separated ('' for none)")
      ->required();
  pset->add_option("--interval-hours", args.interval_hours,
                   "How often a replication should land (24); older than twice this (48 h at "
                   "least) is stale");
  pset->add_option("--keep-last", args.keep_last, "What its targets keep: the N newest snapshots");
  pset->add_option("--keep-hourly", args.keep_hourly, "What its targets keep: N hours");
  pset->add_option("--keep-daily", args.keep_daily, "What its targets keep: N days");
  pset->add_option("--keep-weekly", args.keep_weekly, "What its targets keep: N weeks");
  pset->add_option("--keep-monthly", args.keep_monthly, "What its targets keep: N months");
  pset->add_option("--keep-yearly", args.keep_yearly, "What its targets keep: N years");
  CLI::App* pstatus = add_verb(protect, "status",
                               "Per dataset: its copies, their media, freshness and whether 3-2-1 "
                               "holds (exit 3 when it does not)",
                               protect_status, chosen);
  add_json_flag(pstatus, args);
  add_unlock_options(pstatus, args);

  CLI::App* verify = app.add_subcommand(
      "verify", "Read back a replica and check it (exit 3 when something is damaged or missing)");
  verify->callback([chosen] { *chosen = verify_command; });
  verify->add_option("target", args.target_name, "A target's name, or an absolute folder")
      ->required();
  verify->add_option("--sample", args.sample_percent,
                     "Read this percentage of its packs, chosen at random (100)")
      ->check(CLI::Range(0.001, 100.0));
  add_json_flag(verify, args);
  add_unlock_options(verify, args);
}

void add_repo_commands(CLI::App& app, Arguments& args, Verb* chosen) {
  CLI::App* repo = app.add_subcommand("repo", "Create, check and repair backup repositories");
  repo->require_subcommand(1);
  const std::string where = "A pool name, or a folder path (starting with /, ./, ../ or ~)";

  CLI::App* init = add_verb(repo, "init", "Create an encrypted repository", repo_init, chosen);
  init->add_option("repo", args.repo, where)->required();
  add_key_options(init, args);

  CLI::App* check = add_verb(repo, "check", "Check that every snapshot is complete and intact",
                             repo_check, chosen);
  check->add_option("repo", args.repo, where)->required();
  check->add_flag("--read-data", args.read_data, "Also read and verify every pack");
  add_json_flag(check, args);
  add_unlock_options(check, args);

  CLI::App* recover = add_verb(repo, "recover",
                               "Rebuild every dataset from a replica into a new pool or folder "
                               "(disaster recovery)",
                               recover_command, chosen);
  recover->add_option("repo", args.repo, where)->required();
  recover->add_option("--from", args.from, "The replica: a target's name or an absolute folder")
      ->required();
  add_json_flag(recover, args);
  add_unlock_options(recover, args);

  CLI::App* repair = add_verb(repo, "repair", "Repair repository metadata", repo_repair, chosen);
  repair->add_option("repo", args.repo, where)->required();
  repair->add_flag("--rebuild-index", args.rebuild_index, "Rebuild the index from the packs");
  add_unlock_options(repair, args);

  CLI::App* backup = app.add_subcommand("backup", "Back up a folder into a new snapshot");
  backup->callback([chosen] { *chosen = backup_command; });
  backup->add_option("dir", args.source, "Folder to back up")->required();
  backup->add_option("dataset", args.target, "<pool>/<dataset> or <folder>/<dataset>")->required();
  backup->add_option("--name", args.name, "Snapshot name (default: the UTC time)");
  backup->add_option("--exclude", args.excludes,
                     "Leave out matching entries (a name pattern, or a path pattern with '/')");
  add_json_flag(backup, args);
  add_unlock_options(backup, args);

  CLI::App* restore = app.add_subcommand("restore", "Restore a snapshot into a folder");
  restore->callback([chosen] { *chosen = restore_command; });
  restore->add_option("snapshot", args.target,
                      "<pool>/<dataset>[@<snapshot>] (default: the newest)")
      ->required();
  restore->add_option("target", args.source, "Folder to restore into (new or empty)")->required();
  restore->add_option("--path", args.path, "Restore only this file or folder of the snapshot");
  restore->add_flag("--overwrite", args.overwrite, "Replace what the target folder holds");
  restore->add_option("--from", args.from,
                      "Restore from a replica: a target's name or folder (the snapshot is then "
                      "<dataset>[@<snapshot>])");
  add_json_flag(restore, args);
  add_unlock_options(restore, args);

  CLI::App* snapshot = app.add_subcommand("snapshot", "List and compare snapshots");
  snapshot->require_subcommand(1);
  CLI::App* list = add_verb(snapshot, "list", "List a dataset's snapshots, oldest first",
                            snapshot_list, chosen);
  list->add_option("dataset", args.target, "<pool>/<dataset>")->required();
  add_json_flag(list, args);
  add_unlock_options(list, args);
  CLI::App* snap_create = add_verb(snapshot, "create",
                                   "Snapshot a live dataset now (instant; read-only under "
                                   "<mountpoint>/.lares/snapshots)",
                                   snapshot_create, chosen);
  snap_create->add_option("snapshot", args.target, "<pool>/<dataset>@<snapshot>")->required();
  add_unlock_options(snap_create, args);
  CLI::App* snap_destroy = add_verb(snapshot, "destroy", "Delete a snapshot (gc frees its space)",
                                    snapshot_destroy, chosen);
  snap_destroy->add_option("snapshot", args.target, "<pool>/<dataset>@<snapshot>")->required();
  add_unlock_options(snap_destroy, args);
  CLI::App* diff = add_verb(snapshot, "diff", "Show what changed between two snapshots",
                            snapshot_diff, chosen);
  diff->add_option("a", args.target, "<pool>/<dataset>@<snapshot>")->required();
  diff->add_option("b", args.other, "Another snapshot: <snapshot> of the same dataset, or a full name")
      ->required();
  add_json_flag(diff, args);
  add_unlock_options(diff, args);

  CLI::App* forget = app.add_subcommand(
      "forget", "Drop snapshots a retention policy does not keep (a dry run unless --apply)");
  forget->callback([chosen] { *chosen = forget_command; });
  forget->add_option("dataset", args.target, "<pool>/<dataset>")->required();
  forget->add_option("--keep-last", args.keep_last, "Keep the N newest snapshots")
      ->check(CLI::NonNegativeNumber);
  forget->add_option("--keep-hourly", args.keep_hourly, "Keep the newest of each of N hours")
      ->check(CLI::NonNegativeNumber);
  forget->add_option("--keep-daily", args.keep_daily, "Keep the newest of each of N days")
      ->check(CLI::NonNegativeNumber);
  forget->add_option("--keep-weekly", args.keep_weekly, "Keep the newest of each of N weeks")
      ->check(CLI::NonNegativeNumber);
  forget->add_option("--keep-monthly", args.keep_monthly, "Keep the newest of each of N months")
      ->check(CLI::NonNegativeNumber);
  forget->add_option("--keep-yearly", args.keep_yearly, "Keep the newest of each of N years")
      ->check(CLI::NonNegativeNumber);
  forget->add_flag("--apply", args.apply, "Really drop them (space returns with 'lares repo gc')");
  add_json_flag(forget, args);
  add_unlock_options(forget, args);

  CLI::App* key = app.add_subcommand("key", "Manage the passphrases that unlock a repository");
  key->require_subcommand(1);
  CLI::App* key_ls = add_verb(key, "list", "List key slots", key_list, chosen);
  key_ls->add_option("repo", args.repo, where)->required();
  add_json_flag(key_ls, args);
  add_unlock_options(key_ls, args);
  CLI::App* key_new = add_verb(key, "add", "Add a passphrase", key_add, chosen);
  key_new->add_option("repo", args.repo, where)->required();
  key_new->add_option("--new-passphrase-file", args.new_passphrase_file,
                      "Read the new passphrase from this file (else a prompt)");
  key_new->add_option("--label", args.label, "A note to tell slots apart, e.g. 'laptop'");
  key_new->add_option("--kdf-memory", args.kdf_memory, "Argon2id memory (default 64M)");
  key_new->add_option("--kdf-ops", args.kdf_ops, "Argon2id passes (default 3)");
  add_unlock_options(key_new, args);
  CLI::App* key_rm = add_verb(key, "remove", "Remove a key slot", key_remove, chosen);
  key_rm->add_option("repo", args.repo, where)->required();
  key_rm->add_option("slot", args.slot, "Slot id (from 'lares key list')")->required();
  add_unlock_options(key_rm, args);
  CLI::App* key_pw = add_verb(key, "passwd", "Change the passphrase used to unlock", key_passwd,
                              chosen);
  key_pw->add_option("repo", args.repo, where)->required();
  key_pw->add_option("--new-passphrase-file", args.new_passphrase_file,
                     "Read the new passphrase from this file (else a prompt)");
  key_pw->add_option("--kdf-memory", args.kdf_memory, "Argon2id memory (default 64M)");
  key_pw->add_option("--kdf-ops", args.kdf_ops, "Argon2id passes (default 3)");
  add_unlock_options(key_pw, args);

  CLI::App* gc = add_verb(repo, "gc", "Delete data no snapshot needs", repo_gc, chosen);
  gc->add_option("repo", args.repo, where)->required();
  gc->add_flag("--dry-run", args.dry_run, "Only say what would be freed");
  add_json_flag(gc, args);
  add_unlock_options(gc, args);
}

void add_pool_commands(CLI::App& app, Arguments& args, Verb* chosen) {
  CLI::App* pool = app.add_subcommand("pool", "Create, inspect and repair storage pools");
  pool->require_subcommand(1);

  CLI::App* create =
      add_verb(pool, "create", "Create a pool on empty device folders", pool_create, chosen);
  add_pool_name(create, args);
  create->add_option("--redundancy,-r", args.redundancy, "Devices that may fail (1..3)")
      ->check(CLI::Range(1, 3));
  create->add_option("device-dir", args.devices, "Device folders")->required();
  add_key_options(create, args);

  CLI::App* import =
      add_verb(pool, "import", "Register the pool found on these devices", pool_import, chosen);
  import->add_option("device-dir", args.devices, "Device folders")->required();
  add_json_flag(import, args);

  CLI::App* export_pool =
      add_verb(pool, "export", "Forget a pool (its devices keep it)", pool_export, chosen);
  add_pool_name(export_pool, args);
  export_pool->add_flag("--force", args.force, "Forget it even if its devices cannot be opened");

  add_json_flag(add_verb(pool, "list", "List registered pools", pool_list, chosen), args);

  CLI::App* status =
      add_verb(pool, "status", "Show a pool's devices and health", pool_status, chosen);
  add_pool_name(status, args);
  add_json_flag(status, args);

  CLI::App* scrub =
      add_verb(pool, "scrub", "Verify every shard and repair damage", pool_scrub, chosen);
  add_pool_name(scrub, args);
  add_json_flag(scrub, args);
  scrub->add_option("--max-rate", args.max_rate, "Throttle, e.g. 50M (per second)")
      ->check(rate_validator());
  scrub->add_flag("--restart", args.restart, "Start over instead of resuming");

  CLI::App* add = add_verb(pool, "add", "Add devices to a pool", pool_add, chosen);
  add_pool_name(add, args);
  add->add_option("device-dir", args.devices, "Device folders")->required();

  CLI::App* replace =
      add_verb(pool, "replace", "Rebuild a device's data onto a new one", pool_replace, chosen);
  add_pool_name(replace, args);
  replace->add_option("old", args.device, "Member path or device id")->required();
  replace->add_option("new-dir", args.new_device, "New device folder")->required();

  CLI::App* remove =
      add_verb(pool, "remove", "Move data off a device and drop it", pool_remove, chosen);
  add_pool_name(remove, args);
  remove->add_option("device", args.device, "Member path or device id")->required();
}

void add_object_commands(CLI::App& app, Arguments& args, Verb* chosen) {
  CLI::App* object = app.add_subcommand("object", "Store and read raw pool objects (debugging)");
  object->require_subcommand(1);

  CLI::App* put = add_verb(object, "put", "Store a file as an object", object_put, chosen);
  add_pool_name(put, args);
  put->add_option("name", args.object, "Object name")->required();
  put->add_option("file", args.file, "File to store, or - for standard input")->required();

  CLI::App* get = add_verb(object, "get", "Read an object", object_get, chosen);
  add_pool_name(get, args);
  get->add_option("name", args.object, "Object name")->required();
  get->add_option("file", args.file, "Where to write it; - (the default) is standard output");
  get->add_option("--offset", args.offset, "First byte to read");
  get->add_option("--length", args.length, "Bytes to read (clipped at the end)");

  CLI::App* list = add_verb(object, "list", "List object names", object_list, chosen);
  add_pool_name(list, args);
  list->add_option("--prefix", args.prefix, "Only names starting with this");
  add_json_flag(list, args);

  CLI::App* rm = add_verb(object, "rm", "Remove an object", object_rm, chosen);
  add_pool_name(rm, args);
  rm->add_option("name", args.object, "Object name")->required();
}

// Says which command is unknown or missing, where that is what went wrong:
// CLI11 says only "A subcommand is required" in both cases.
std::string command_problem(const CLI::App& level, const std::string& command) {
  std::vector<const CLI::App*> commands = level.get_subcommands({});
  if (commands.empty()) return "";
  std::vector<std::string> left_over = level.remaining();
  if (!left_over.empty()) return "'" + left_over.front() + "' is not a '" + command + "' command";
  std::string names;
  for (const CLI::App* sub : commands) names += (names.empty() ? "" : ", ") + sub->get_name();
  return "'" + command + "' needs a command: " + names;
}

// Help and --version exit 0; any other parse error is a usage error (exit 2)
// with a pointer to the help of the deepest command that was recognised.
int handle_parse_error(const CLI::App& app, const CLI::ParseError& error) {
  if (error.get_exit_code() == 0) return app.exit(error);
  std::string command = "lares";
  const CLI::App* level = &app;
  while (!level->get_subcommands().empty()) {
    level = level->get_subcommands().front();
    command += " " + level->get_name();
  }
  std::string message = command_problem(*level, command);
  if (message.empty()) message = error.what();
  std::fprintf(stderr, "lares: %s\nlares: run '%s --help' for usage\n", message.c_str(),
               command.c_str());
  return static_cast<int>(ExitCode::kUsage);
}

int run(int argc, char** argv) {
  CLI::App app("Lares: redundant, self-healing, encrypted storage for a home server", "lares");
  app.set_version_flag("--version", kVersion);
  app.require_subcommand(1);
  app.footer("Run 'lares <noun> --help' for the verbs of a noun.");
  Arguments args;
  Verb chosen = nullptr;
  add_pool_commands(app, args, &chosen);
  add_object_commands(app, args, &chosen);
  add_repo_commands(app, args, &chosen);
  add_dataset_commands(app, args, &chosen);
  add_protect_commands(app, args, &chosen);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return handle_parse_error(app, error);
  }
  // require_subcommand on every noun means a parse that succeeded chose a verb.
  LARES_CHECK(chosen != nullptr);
  Result<ExitCode> result = chosen(args);
  if (!result.is_ok()) return static_cast<int>(report_failure(result.status()));
  return static_cast<int>(*result);
}

}  // namespace
}  // namespace lares::cli

int main(int argc, char** argv) {
  // Chunks and sealed blobs (up to 4 MiB) and packs (16 MiB and more) are
  // made and freed by several threads. Left to itself, glibc keeps an arena
  // per thread and raises its mmap threshold after the first large free, so
  // freed packs stay resident: a backup of 1 GiB peaked at 182 MiB. Instead:
  // two arenas, buffers of 4 MiB and more always mapped (packs, whose buffers
  // the repository reuses), and heap trimmed only past 64 MiB free, so chunk
  // buffers are reused rather than faulted in again. Measured on 1 GiB: peak
  // 95 MiB, as fast as the default (mapping everything from 256 KiB up cost
  // 10-15 %).
  mallopt(M_ARENA_MAX, 2);
  mallopt(M_MMAP_THRESHOLD, 4 << 20);
  mallopt(M_TRIM_THRESHOLD, 64 << 20);
  try {
    return lares::cli::run(argc, argv);
  } catch (const std::exception& error) {
    // A bug or std::bad_alloc (e.g. `object put` of a file larger than memory).
    std::fprintf(stderr, "lares: internal error: %s\n", error.what());
    return static_cast<int>(lares::cli::ExitCode::kFailure);
  }
}
