// The verbs of the `lares` CLI: one function per `lares <noun> <verb>`.
//
// main.cc parses the command line into one Arguments value and calls the
// chosen verb; a verb returns the exit code, or a Status that main reports
// (exit 1). Verbs talk to the pool library directly and keep the registry
// ($LARES_HOME/pools.json) in step with what they change.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cli/output.h"
#include "pool/pool.h"
#include "util/status.h"

namespace lares::cli {

// Every value any verb takes; the parser fills the ones the chosen verb
// declares and leaves the rest at their defaults.
struct Arguments {
  std::string pool;                  // <pool>: a registered pool's name
  std::vector<std::string> devices;  // <device-dir>...: as typed; verbs make them absolute
  int redundancy = 1;                // create: parity shards per object, 1..3
  bool json = false;                 // read commands: print JSON instead of a table
  bool force = false;                // export: forget a pool that cannot be opened
  std::string max_rate;              // scrub: "50M" or "50M/s"; empty: unthrottled
  bool restart = false;              // scrub: ignore the saved cursor
  std::string device;                // replace <old> / remove <dev>: member path or id
  std::string new_device;            // replace <new-dir>
  std::string object;                // object <name>
  std::string file = "-";            // object put/get <file|->; "-" is stdin/stdout
  std::string prefix;                // object list --prefix
  uint64_t offset = 0;               // object get --offset, bytes
  uint64_t length = UINT64_MAX;      // object get --length, bytes; clipped at the end
  // Repositories (repo_commands.cc).
  std::string repo;                   // <repo>: a pool name or a folder path
  std::string target;                 // <repo>/<dataset>[@<snapshot>]
  std::string source;                 // backup <dir> / restore <target-dir>
  std::string name;                   // backup --name
  std::vector<std::string> excludes;  // backup --exclude
  std::string path;                   // restore --path
  bool overwrite = false;             // restore --overwrite
  std::string passphrase_file;        // --passphrase-file
  std::string recovery_key_file;      // --recovery-key-file
  std::string kdf_memory;             // create/init --kdf-memory, e.g. 256M
  uint64_t kdf_ops = 0;               // create/init --kdf-ops
  bool rebuild_index = false;         // repo repair --rebuild-index
  bool read_data = false;             // repo check --read-data
  std::string other;                  // snapshot diff <B>
  bool apply = false;                 // forget --apply (else a dry run)
  bool dry_run = false;               // repo gc --dry-run
  int keep_last = 0, keep_hourly = 0, keep_daily = 0;  // forget --keep-*
  int keep_weekly = 0, keep_monthly = 0, keep_yearly = 0;
  std::string new_passphrase_file;    // key add/passwd --new-passphrase-file
  std::string slot;                   // key remove <slot id>
  std::string label;                  // key add --label
  // Live datasets (dataset_commands.cc).
  std::string recordsize;             // dataset create --recordsize, e.g. 128K
  std::string quota;                  // dataset create --quota, e.g. 100G
  std::string mountpoint;             // mount <dataset> <mountpoint> / umount <mountpoint>
  bool foreground = false;            // mount --foreground
  bool allow_other = false;           // mount --allow-other
  bool recursive = false;             // dataset destroy --recursive
  std::string auto_snapshots;         // dataset create/set --auto-snapshots on|off
  int sched_hourly = -1, sched_daily = -1;   // dataset create/set --keep-*: -1 unchanged
  int sched_weekly = -1, sched_monthly = -1;
  // Replication (protect_commands.cc).
  std::string target_name;            // target add/remove <name>; replicate <target>
  std::string target_url;             // target add <folder|sftp://...|s3://...>
  bool offsite = false;               // target add --offsite (a folder kept elsewhere)
  std::string identity_file;          // target add --identity-file (sftp)
  std::string known_hosts;            // target add --known-hosts (sftp)
  std::string endpoint, region;       // target add --endpoint/--region (s3)
  std::string storage_class;          // target add --storage-class (s3)
  bool virtual_hosted = false;        // target add --virtual-hosted (s3)
  std::string from;                   // restore --from <target>
  double sample_percent = 100.0;      // verify --sample
  bool repair = false;                // replicate --repair
  std::string targets;                // protect set --targets a,b
  int interval_hours = 24;            // protect set --interval-hours
  int min_storage_days = 0;           // target add --min-storage-days
};

using Verb = Result<ExitCode> (*)(const Arguments& args);

// Parses a scrub rate such as "50M", "50M/s" or "1.5G/s" into bytes per
// second; false on junk. Shared by the parser (to reject it early) and scrub.
bool parse_rate(const std::string& text, uint64_t* bytes_per_second);

// Opens the pool registered under `name`, checking that its devices still
// hold that pool. kNotFound, naming the next step, when it is not registered.
Result<std::unique_ptr<Pool>> open_registered_pool(const std::string& name, OpenMode mode);

// pool_commands.cc
Result<ExitCode> pool_create(const Arguments& args);
Result<ExitCode> pool_import(const Arguments& args);
Result<ExitCode> pool_export(const Arguments& args);
Result<ExitCode> pool_list(const Arguments& args);
Result<ExitCode> pool_status(const Arguments& args);
Result<ExitCode> pool_scrub(const Arguments& args);
Result<ExitCode> pool_add(const Arguments& args);
Result<ExitCode> pool_replace(const Arguments& args);
Result<ExitCode> pool_remove(const Arguments& args);

// repo_commands.cc
// Creates a repository in `store`, asking for the passphrase as the verbs do,
// and prints the recovery key.
Status init_repository(ObjectStore& store, const Arguments& args);
Status init_pool_repository(Pool& pool, const Arguments& args);
// True when a passphrase can be had without asking (a file or the environment)
// or by asking on a terminal.
bool passphrase_available(const Arguments& args);
Result<ExitCode> repo_init(const Arguments& args);
Result<ExitCode> repo_check(const Arguments& args);
Result<ExitCode> repo_repair(const Arguments& args);
Result<ExitCode> backup_command(const Arguments& args);
Result<ExitCode> restore_command(const Arguments& args);
Result<ExitCode> snapshot_list(const Arguments& args);
Result<ExitCode> snapshot_diff(const Arguments& args);
Result<ExitCode> forget_command(const Arguments& args);
Result<ExitCode> repo_gc(const Arguments& args);
Result<ExitCode> key_list(const Arguments& args);
Result<ExitCode> key_add(const Arguments& args);
Result<ExitCode> key_remove(const Arguments& args);
Result<ExitCode> key_passwd(const Arguments& args);

// dataset_commands.cc
Result<ExitCode> dataset_create(const Arguments& args);
Result<ExitCode> dataset_list(const Arguments& args);
Result<ExitCode> dataset_destroy(const Arguments& args);
Result<ExitCode> dataset_set(const Arguments& args);
Result<ExitCode> mount_command(const Arguments& args);
Result<ExitCode> umount_command(const Arguments& args);
Result<ExitCode> snapshot_create(const Arguments& args);
Result<ExitCode> snapshot_destroy(const Arguments& args);
Result<ExitCode> rollback_command(const Arguments& args);
Result<ExitCode> clone_command(const Arguments& args);

// object_commands.cc
// Replication targets and replication (protect_commands.cc).
Result<ExitCode> target_add(const Arguments& args);
Result<ExitCode> target_list(const Arguments& args);
Result<ExitCode> target_remove(const Arguments& args);
Result<ExitCode> target_prune(const Arguments& args);
Result<ExitCode> replicate_command(const Arguments& args);
Result<ExitCode> verify_command(const Arguments& args);
Result<ExitCode> recover_command(const Arguments& args);
Result<ExitCode> protect_set(const Arguments& args);
Result<ExitCode> protect_status(const Arguments& args);

Result<ExitCode> object_put(const Arguments& args);
Result<ExitCode> object_get(const Arguments& args);
Result<ExitCode> object_list(const Arguments& args);
Result<ExitCode> object_rm(const Arguments& args);

}  // namespace lares::cli
