// `lares pool <verb>`: create, import, export, list, status, scrub, add,
// replace, remove.
#include <atomic>
#include <csignal>
#include <cstdio>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "pool/registry.h"
#include "util/bytes.h"
#include "util/file.h"

namespace lares::cli {
namespace {

std::vector<std::string> absolute_paths(const std::vector<std::string>& paths) {
  std::vector<std::string> out;
  out.reserve(paths.size());
  for (const auto& path : paths) out.push_back(absolute_path(path));
  return out;
}

// A member is named by its path or its device id. Anything that looks like a
// path (has a '/', or exists here) is made absolute to match the label;
// anything else is taken as an id.
std::string member_reference(const std::string& text) {
  if (text.find('/') != std::string::npos || path_exists(text)) return absolute_path(text);
  return text;
}

Status not_registered(const std::string& name, const Registry& registry) {
  return Status::not_found("no pool named '" + name + "' is registered in " + registry.path() +
                           "; run 'lares pool list' or 'lares pool import <device-dir>...'");
}

Result<std::unique_ptr<Pool>> open_entry(const RegistryEntry& entry, OpenMode mode) {
  PoolOptions options;
  options.mode = mode;
  Result<std::unique_ptr<Pool>> pool = Pool::open(entry.devices, options);
  if (!pool.is_ok()) {
    // Most library messages name the pool already; add it where they do not.
    const Status& error = pool.status();
    if (error.message().find("'" + entry.name + "'") != std::string::npos) return error;
    return error.with_context("pool '" + entry.name + "'");
  }
  // The registry is only a hint: the devices may since have been reused.
  if ((*pool)->id() != entry.id) {
    return Status::failed_precondition("the devices registered for pool '" + entry.name +
                                       "' now hold pool '" + (*pool)->name() + "' (id " +
                                       (*pool)->id() + "); run 'lares pool export --force " +
                                       entry.name + "' and 'lares pool import <device-dir>...'");
  }
  return pool;
}

// Records the pool's current members under its name. The registry is loaded
// here, right before the change, so a concurrent change is rarely lost.
Status register_pool(const Pool& pool) {
  ASSIGN_OR_RETURN(Registry registry, Registry::load(lares_home()));
  RETURN_IF_ERROR(registry.add({pool.name(), pool.id(), pool.device_paths()}));
  return registry.save();
}

Status update_registered_devices(const Pool& pool, const std::string& registered_name) {
  ASSIGN_OR_RETURN(Registry registry, Registry::load(lares_home()));
  RETURN_IF_ERROR(registry.set_devices(registered_name, pool.device_paths()));
  return registry.save();
}

// Ctrl-C (or SIGTERM) during a scrub stops it after the current object, so
// its cursor is saved and the next scrub resumes. SA_RESETHAND makes a second
// signal kill the process at once, e.g. while a throttled scrub sleeps.
std::atomic<bool> stop_requested{false};

void request_stop(int /*signal*/) { stop_requested.store(true); }

void stop_on_signals() {
  struct sigaction action = {};
  action.sa_handler = request_stop;
  action.sa_flags = SA_RESETHAND;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

void print_pool_devices(const Pool& pool, const char* what) {
  std::vector<std::string> paths = pool.device_paths();
  std::printf("%s; pool '%s' has %zu devices:\n", what, pool.name().c_str(), paths.size());
  for (const auto& path : paths) std::printf("  %s\n", path.c_str());
}

// Opening for writing takes the pool lock, so a pool in use is never
// exported; the pool is closed again at once. --force forgets a pool whose
// devices are gone or reused, but never one that is in use.
Status check_exportable(const Arguments& args) {
  ASSIGN_OR_RETURN(Registry registry, Registry::load(lares_home()));
  const RegistryEntry* entry = registry.find(args.pool);
  if (entry == nullptr) return not_registered(args.pool, registry);
  Result<std::unique_ptr<Pool>> pool = open_entry(*entry, OpenMode::kReadWrite);
  if (pool.is_ok()) return Status::ok();
  if (pool.status().code() == Code::kBusy) return pool.status();
  if (!args.force) {
    return Status::failed_precondition(pool.status().message() + "\n'lares pool export --force " +
                                       args.pool + "' forgets the pool anyway");
  }
  std::fprintf(stderr, "lares: forgetting pool '%s', which cannot be opened: %s\n",
               args.pool.c_str(), pool.status().message().c_str());
  return Status::ok();
}

}  // namespace

bool parse_rate(const std::string& text, uint64_t* bytes_per_second) {
  std::string_view size = text;
  if (size.ends_with("/s")) size.remove_suffix(2);
  return parse_size(size, bytes_per_second);
}

Result<std::unique_ptr<Pool>> open_registered_pool(const std::string& name, OpenMode mode) {
  ASSIGN_OR_RETURN(Registry registry, Registry::load(lares_home()));
  const RegistryEntry* entry = registry.find(name);
  if (entry == nullptr) return not_registered(name, registry);
  return open_entry(*entry, mode);
}

Result<ExitCode> pool_create(const Arguments& args) {
  RETURN_IF_ERROR(validate_pool_name(args.pool));
  {
    // Checked first so a taken name never leaves an unregistered pool behind.
    ASSIGN_OR_RETURN(Registry registry, Registry::load(lares_home()));
    if (const RegistryEntry* entry = registry.find(args.pool); entry != nullptr) {
      return Status::already_exists("a pool named '" + args.pool + "' is already registered (id " +
                                    entry->id + "); choose another name");
    }
  }
  ASSIGN_OR_RETURN(std::unique_ptr<Pool> pool,
                   Pool::create(args.pool, args.redundancy, absolute_paths(args.devices)));
  Status registered = register_pool(*pool);
  if (!registered.is_ok()) {
    return registered.with_context("pool '" + args.pool +
                                   "' was created but not registered (fix this, then run "
                                   "'lares pool import <device-dir>...')");
  }
  std::printf("created pool '%s' (id %s), redundancy %d, on %zu devices\n", pool->name().c_str(),
              pool->id().c_str(), args.redundancy, args.devices.size());
  if (!passphrase_available(args)) {
    std::printf("no passphrase given, so the pool has no backup repository yet; add one with "
                "'lares repo init %s'\n",
                args.pool.c_str());
    return ExitCode::kOk;
  }
  Status repo = init_pool_repository(*pool, args);
  if (!repo.is_ok()) {
    return repo.with_context("pool '" + args.pool +
                             "' was created, but its repository was not (fix this, then run "
                             "'lares repo init " + args.pool + "'): ");
  }
  return ExitCode::kOk;
}

Result<ExitCode> pool_import(const Arguments& args) {
  ASSIGN_OR_RETURN(std::unique_ptr<Pool> pool, Pool::open(absolute_paths(args.devices)));
  {
    ASSIGN_OR_RETURN(Registry registry, Registry::load(lares_home()));
    const RegistryEntry* entry = registry.find(pool->name());
    if (entry != nullptr && entry->id == pool->id()) {
      return Status::already_exists("pool '" + pool->name() + "' is already imported");
    }
    if (entry != nullptr) {
      return Status::already_exists(
          "another pool named '" + pool->name() + "' is already registered (id " + entry->id +
          "); export it first with 'lares pool export " + pool->name() + "'");
    }
  }
  RETURN_IF_ERROR(register_pool(*pool));
  PoolStatus status = pool->status();
  if (args.json) {
    print_json({{"name", status.name}, {"id", status.id}, {"state", status.state}});
  } else {
    std::printf("imported pool '%s' (id %s): %s\n", status.name.c_str(), status.id.c_str(),
                status.state.c_str());
  }
  return ExitCode::kOk;
}

Result<ExitCode> pool_export(const Arguments& args) {
  RETURN_IF_ERROR(check_exportable(args));
  ASSIGN_OR_RETURN(Registry registry, Registry::load(lares_home()));
  RETURN_IF_ERROR(registry.remove(args.pool));
  RETURN_IF_ERROR(registry.save());
  std::printf("exported pool '%s'; 'lares pool import <device-dir>...' brings it back\n",
              args.pool.c_str());
  return ExitCode::kOk;
}

Result<ExitCode> pool_list(const Arguments& args) {
  ASSIGN_OR_RETURN(Registry registry, Registry::load(lares_home()));
  nlohmann::json pools = nlohmann::json::array();
  Table table({"NAME", "STATE", "DEVICES", "ID"});
  std::vector<std::string> problems;
  for (const auto& entry : registry.entries()) {
    // A pool that cannot be opened at all cannot serve data: FAULTED.
    std::string state = "FAULTED";
    Result<std::unique_ptr<Pool>> pool = open_entry(entry, OpenMode::kReadOnly);
    if (pool.is_ok()) {
      state = (*pool)->status().state;
    } else {
      problems.push_back(pool.status().message());
    }
    pools.push_back({{"name", entry.name},
                     {"id", entry.id},
                     {"state", state},
                     {"devices", entry.devices.size()}});
    table.add_row({entry.name, state, std::to_string(entry.devices.size()), entry.id});
  }
  if (args.json) {
    print_json(pools);
  } else if (registry.entries().empty()) {
    std::printf("no pools; create one with 'lares pool create' or 'lares pool import'\n");
  } else {
    table.print(stdout);
  }
  for (const auto& problem : problems) std::fprintf(stderr, "lares: %s\n", problem.c_str());
  return ExitCode::kOk;
}

Result<ExitCode> pool_status(const Arguments& args) {
  ASSIGN_OR_RETURN(std::unique_ptr<Pool> pool,
                   open_registered_pool(args.pool, OpenMode::kReadOnly));
  PoolStatus status = pool->status();
  if (args.json) {
    print_json(pool_status_json(status));
  } else {
    print_pool_status(status);
  }
  return ExitCode::kOk;
}

Result<ExitCode> pool_scrub(const Arguments& args) {
  ScrubOptions options;
  if (!args.max_rate.empty() && !parse_rate(args.max_rate, &options.max_bytes_per_second)) {
    return Status::invalid_argument("--max-rate '" + args.max_rate + "' is not a rate like 50M");
  }
  options.restart = args.restart;
  options.quiet = args.json;
  options.keep_going = [](uint64_t /*objects_done*/) { return !stop_requested.load(); };
  ASSIGN_OR_RETURN(std::unique_ptr<Pool> pool,
                   open_registered_pool(args.pool, OpenMode::kReadWrite));
  stop_on_signals();
  ASSIGN_OR_RETURN(ScrubReport report, pool->scrub(options));
  if (args.json) {
    print_json(scrub_report_json(report));
  } else {
    print_scrub_report(pool->name(), report);
  }
  if (report.unrecoverable > 0) return ExitCode::kDataProblem;
  return report.finished ? ExitCode::kOk : ExitCode::kFailure;
}

Result<ExitCode> pool_add(const Arguments& args) {
  ASSIGN_OR_RETURN(std::unique_ptr<Pool> pool,
                   open_registered_pool(args.pool, OpenMode::kReadWrite));
  RETURN_IF_ERROR(pool->add_devices(absolute_paths(args.devices)));
  RETURN_IF_ERROR(update_registered_devices(*pool, args.pool));
  print_pool_devices(*pool, "added");
  return ExitCode::kOk;
}

Result<ExitCode> pool_replace(const Arguments& args) {
  ASSIGN_OR_RETURN(std::unique_ptr<Pool> pool,
                   open_registered_pool(args.pool, OpenMode::kReadWrite));
  RETURN_IF_ERROR(
      pool->replace_device(member_reference(args.device), absolute_path(args.new_device)));
  RETURN_IF_ERROR(update_registered_devices(*pool, args.pool));
  print_pool_devices(*pool, "replaced");
  return ExitCode::kOk;
}

Result<ExitCode> pool_remove(const Arguments& args) {
  ASSIGN_OR_RETURN(std::unique_ptr<Pool> pool,
                   open_registered_pool(args.pool, OpenMode::kReadWrite));
  RETURN_IF_ERROR(pool->remove_device(member_reference(args.device)));
  RETURN_IF_ERROR(update_registered_devices(*pool, args.pool));
  print_pool_devices(*pool, "removed");
  return ExitCode::kOk;
}

}  // namespace lares::cli
