// Opening repositories and naming datasets, shared by the repository verbs
// (repo_commands.cc) and the live dataset verbs (dataset_commands.cc).
//
// A repository is named by where it lives: a registered pool's name (its
// repository is under the pool's "repo/" objects), or a folder path (one that
// starts with '/', './', '../' or '~'). A dataset is <repository>/<dataset>,
// a snapshot <repository>/<dataset>@<snapshot>.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "chunks/repository.h"
#include "cli/commands.h"
#include "fs/check.h"
#include "objects/object_store.h"
#include "pool/pool.h"
#include "protect/targets.h"
#include "util/file.h"

namespace lares::cli {

// An open repository and what it sits on.
struct OpenRepo {
  std::unique_ptr<Pool> pool;
  std::unique_ptr<ObjectStore> store;  // DirStore, or a PrefixStore over the pool
  std::optional<FileLock> lock;        // folder repositories: the writer lock
  std::unique_ptr<Repository> repo;
};

// Opens the store of repository `where` (a pool name or a folder); `write`
// takes the writer lock.
Result<OpenRepo> open_store(const std::string& where, bool write, bool create_folder);
// The store, then the repository, unlocked with the passphrase or recovery
// key the arguments or environment give.
Result<OpenRepo> open_repo(const std::string& where, bool write, const Arguments& args);
// The passphrase or recovery key, from the arguments, the environment or a
// prompt (asked before anything is opened, e.g. before `mount` forks).
Result<Unlock> read_unlock(const Arguments& args);
Result<OpenRepo> open_repo_with(const std::string& where, bool write, const Unlock& unlock);

struct DatasetRef {
  std::string repo, dataset, snapshot;
};
// "<repo>/<dataset>[@<snapshot>]": the repository is everything before the
// last '/'.
Result<DatasetRef> parse_dataset_ref(const std::string& text, bool allow_snapshot);

// A replication target by its name in lares.toml, or an absolute folder.
Result<TargetConfig> resolve_target(const std::string& text);

// The repository check (fs/check.h) with a progress line over the bytes it
// will read (quiet when `quiet` or when it reads no data), and its report as
// the JSON `repo check` and `verify` print.
Result<CheckReport> run_check(Repository& repo, const CheckOptions& options,
                              const std::string& label, bool quiet);
nlohmann::json check_json(const CheckReport& report);

std::string iso_time(int64_t time_ns);
nlohmann::json snapshot_json(const SnapshotRecord& s);

}  // namespace lares::cli
