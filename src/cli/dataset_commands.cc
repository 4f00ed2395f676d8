// The live dataset verbs: `lares dataset create|list|destroy`, `lares mount`,
// `lares umount`, `lares snapshot create|destroy`, `lares rollback`,
// `lares clone` (fs/live_fs.h, fs/fuse_mount.h).
//
// A mount holds its repository's writer lock for as long as it runs. While a
// dataset is mounted, `lares snapshot create|destroy` go through the mount
// (mkdir/rmdir under <mountpoint>/.lares/snapshots), found by its fsname
// ("lares:<repo>/<dataset>") in /proc/self/mountinfo; rollback and destroy
// ask for it to be unmounted first.
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <chrono>
#include <condition_variable>
#include <optional>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "cli/commands.h"
#include "cli/repo_access.h"
#include "fs/dataset.h"
#include "fs/fuse_mount.h"
#include "fs/live_fs.h"
#include "fs/live_import.h"
#include "fs/live_snapshots.h"
#include "fs/live_space.h"
#include "pool/registry.h"
#include "util/file.h"

namespace lares::cli {
namespace {

// The fsname of a mount of the dataset itself (how a running mount is found).
std::string fsname_of(const DatasetRef& ref) { return "lares:" + ref.repo + "/" + ref.dataset; }
// What a mount shows in mount(8) and df: with "@snapshot" for a snapshot.
std::string mount_fsname(const DatasetRef& ref) {
  return fsname_of(ref) + (ref.snapshot.empty() ? "" : "@" + ref.snapshot);
}

// A mountpoint as the kernel records it in /proc/self/mountinfo: the parent
// folder resolved (symlinks, "..") and the last name kept, so that a dead
// FUSE mount (whose root cannot be stat'ed) still resolves.
std::string canonical_mountpoint(const std::string& path) {
  std::string abs = absolute_path(path);
  while (abs.size() > 1 && abs.back() == '/') abs.pop_back();
  const size_t slash = abs.rfind('/');
  const std::string parent = slash == 0 ? "/" : abs.substr(0, slash);
  char resolved[PATH_MAX];
  if (::realpath(parent.c_str(), resolved) == nullptr) return abs;
  const std::string base(resolved);
  return (base == "/" ? "" : base) + abs.substr(slash);
}

// $LARES_HOME/run/mount-<hash>.pid names the process serving a mountpoint
// ("<pid>\n<fsname>\n"), so `lares umount` can wait until it has committed
// and let go of the pool, and so that commands find the mounts of their own
// pools: pool names are unique within one LARES_HOME, not on the machine.
std::string pid_file_for(const std::string& mountpoint) {
  char name[64];
  std::snprintf(name, sizeof name, "mount-%016zx.pid", std::hash<std::string>{}(mountpoint));
  return lares_home() + "/run/" + name;
}

struct MountRecord {
  pid_t pid = 0;
  std::string fsname;
};

MountRecord read_mount_record(const std::string& mountpoint) {
  MountRecord rec;
  auto text = read_file(pid_file_for(mountpoint));
  if (!text.is_ok()) return rec;
  std::istringstream in{std::string(as_chars(*text))};
  std::string pid_line;
  std::getline(in, pid_line);
  std::getline(in, rec.fsname);
  rec.pid = static_cast<pid_t>(std::atol(pid_line.c_str()));
  return rec;
}

// Where this LARES_HOME has `ref`'s dataset mounted ("" when it has not): a
// FUSE mount with its fsname whose pid file here names the same fsname. A
// same-named pool of another LARES_HOME is not ours to snapshot through.
std::string mount_of(const DatasetRef& ref) {
  const std::string fsname = fsname_of(ref);
  for (const MountEntry& m : read_mounts()) {
    if (m.fs_type.rfind("fuse", 0) != 0 || m.source != fsname) continue;
    const MountRecord rec = read_mount_record(m.mountpoint);
    if (rec.pid > 0 && rec.fsname == fsname && ::kill(rec.pid, 0) == 0) return m.mountpoint;
  }
  return "";
}

Status refuse_if_mounted(const DatasetRef& ref, const std::string& what) {
  const std::string at = mount_of(ref);
  if (at.empty()) return Status::ok();
  return Status::busy(ref.repo + "/" + ref.dataset + " is mounted at " + at + "; 'lares umount " +
                      at + "' first, then " + what);
}

// Usable space for a mount's statfs and ENOSPC: the free space of the
// folders under the repository, scaled by the pool's redundancy (data
// shards over all shards; mirrored copies when there are too few devices).
std::function<SpaceInfo()> space_function(OpenRepo& r, const std::string& where) {
  std::vector<std::string> dirs;
  double usable = 1.0;
  if (r.pool) {
    const PoolStatus st = r.pool->status();
    for (const auto& d : st.devices) dirs.push_back(d.path);
    const auto n = static_cast<double>(dirs.size());
    const auto redundancy = static_cast<double>(st.redundancy);
    usable = n > redundancy + 1 ? (n - redundancy) / n : 1.0 / (redundancy + 1);
  } else {
    dirs.push_back(absolute_path(where));
  }
  return [dirs, usable] {
    SpaceInfo s;
    for (const auto& dir : dirs) {
      auto one = filesystem_space(dir);
      if (!one.is_ok()) continue;  // a vanished device: the pool is degraded, not full
      s.total_bytes += one->total_bytes;
      s.available_bytes += one->available_bytes;
    }
    s.total_bytes = static_cast<uint64_t>(static_cast<double>(s.total_bytes) * usable);
    s.available_bytes = static_cast<uint64_t>(static_cast<double>(s.available_bytes) * usable);
    return s;
  };
}


// Ctrl-C, SIGTERM and SIGHUP end a mount cleanly (commit, unmount). They are
// blocked in every thread, and one thread waits for them and asks the mount
// to stop: FuseMount::stop is not async-signal-safe.
class SignalStopper {
 public:
  SignalStopper() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGINT);
    sigaddset(&set_, SIGTERM);
    sigaddset(&set_, SIGHUP);
    sigaddset(&set_, SIGUSR1);  // our own wake-up at the end
    pthread_sigmask(SIG_BLOCK, &set_, &old_);
  }
  ~SignalStopper() {
    unwatch();
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  // Stops watching (before the mount goes away).
  void unwatch() {
    if (!thread_.joinable()) return;
    done_ = true;
    ::kill(::getpid(), SIGUSR1);
    thread_.join();
  }
  void watch(FuseMount* mount) {
    thread_ = std::thread([this, mount] {
      for (;;) {
        int sig = 0;
        if (sigwait(&set_, &sig) != 0) continue;
        if (done_) return;
        if (sig != SIGUSR1) mount->stop();
      }
    });
  }

 private:
  sigset_t set_{}, old_{};
  std::atomic<bool> done_{false};
  std::thread thread_;
};

// Runs the dataset's automatic snapshots (fs/live_snapshots.h) once a
// minute while it is mounted read-write; stops with the mount.
class AutoSnapshots {
 public:
  AutoSnapshots(Repository& repo, LiveFs& fs) : repo_(repo), fs_(fs) {
    thread_ = std::thread([this] { loop(); });
  }
  ~AutoSnapshots() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  void loop() {
    std::unique_lock lock(mu_);
    for (;;) {
      // First a minute's wait: a dataset just mounted has not changed yet.
      cv_.wait_for(lock, std::chrono::minutes(1), [&] { return stopping_; });
      if (stopping_) return;
      lock.unlock();
      const SnapshotSchedule schedule = fs_.head().schedule;
      const auto now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
      auto done = run_snapshot_schedule(repo_, fs_, schedule, static_cast<int64_t>(now));
      if (!done.is_ok()) {
        std::fprintf(stderr, "lares: automatic snapshot of %s: %s\n", fs_.head().name.c_str(),
                     done.status().to_string().c_str());
      } else if (!done->taken.empty() || !done->pruned.empty()) {
        std::fprintf(stderr, "lares: %s: snapshot %s, %zu pruned\n", fs_.head().name.c_str(),
                     done->taken.empty() ? "(none)" : done->taken.c_str(), done->pruned.size());
      }
      lock.lock();
    }
  }

  Repository& repo_;
  LiveFs& fs_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;  // GUARDED_BY(mu_)
  std::thread thread_;
};

// What `lares mount` serves: a live dataset (read-write); a snapshot of one
// (read-only); or a backup dataset's newest or named snapshot, imported into
// a read-only tree held in memory.
Result<std::unique_ptr<LiveFs>> open_for_mount(OpenRepo& r, DatasetStore& datasets,
                                               const DatasetRef& ref) {
  auto head = datasets.load(ref.dataset);
  if (head.is_ok() && ref.snapshot.empty()) {
    LiveOptions options;
    options.space = space_function(r, ref.repo);
    return LiveFs::open(*r.repo, datasets, *head, options);
  }
  if (!head.is_ok() && head.status().code() != Code::kNotFound) return head.status();
  auto snap = r.repo->find_snapshot(ref.dataset, ref.snapshot);
  if (!snap.is_ok()) return head.is_ok() ? snap.status() : head.status();
  if (snap->layout == SnapshotLayout::kLive) {
    DatasetHead view = head.is_ok() ? *head : DatasetHead{};
    view.name = ref.dataset;
    view.root = snap->tree;
    view.next_ino = std::max<uint64_t>(snap->next_ino, 2);
    LiveOptions options;
    options.read_only = true;
    return LiveFs::open(*r.repo, datasets, view, options);
  }
  DatasetHead scratch;
  scratch.name = ref.dataset;
  LiveOptions options;
  options.ephemeral = true;
  ASSIGN_OR_RETURN(std::unique_ptr<LiveFs> fs, LiveFs::open(*r.repo, datasets, scratch, options));
  RETURN_IF_ERROR(import_backup_snapshot(*r.repo, *snap, *fs).status());
  RETURN_IF_ERROR(fs->sync());  // in memory: the nodes are kept, nothing is written
  fs->set_read_only();
  return fs;
}

// Serves the mount until it is unmounted. `ready` is called once the
// filesystem is mounted (or with the error that kept it from mounting).
Status serve(const Arguments& args, const DatasetRef& ref, const Unlock& unlock,
             const std::function<void(const Status&)>& ready) {
  auto fail = [&](const Status& st) {
    ready(st);
    return st;
  };
  SignalStopper signals;  // before any thread starts, so all of them block the signals
  // A snapshot is served read-only and needs no writer lock (readers never
  // wait for writers).
  auto opened = open_repo_with(ref.repo, /*write=*/ref.snapshot.empty(), unlock);
  if (!opened.is_ok()) return fail(opened.status());
  OpenRepo& r = *opened;
  DatasetStore datasets(*r.repo);
  auto fs = open_for_mount(r, datasets, ref);
  if (!fs.is_ok()) return fail(fs.status());
  LiveSnapshotProvider snapshots(*r.repo, datasets, **fs, ref.dataset);
  std::optional<AutoSnapshots> auto_snapshots;
  if (ref.snapshot.empty() && datasets.load(ref.dataset).is_ok()) {
    auto_snapshots.emplace(*r.repo, **fs);  // a live dataset (not a backup), read-write
  }
  MountOptions mount_options;
  mount_options.mountpoint = canonical_mountpoint(args.mountpoint);
  mount_options.fsname = mount_fsname(ref);
  mount_options.allow_other = args.allow_other;
  mount_options.debug = std::getenv("LARES_FUSE_DEBUG") != nullptr;  // libfuse request log
  auto mount = FuseMount::mount(**fs, &snapshots, mount_options);
  if (!mount.is_ok()) return fail(mount.status());
  signals.watch(mount->get());
  const std::string pid_file = pid_file_for(mount_options.mountpoint);
  if (make_dirs(lares_home() + "/run").is_ok()) {
    (void)write_file_atomic(
        pid_file, as_bytes(std::to_string(::getpid()) + "\n" + mount_options.fsname + "\n"));
  }
  ready(Status::ok());
  Status st = (*mount)->run();
  signals.unwatch();
  mount->reset();
  Status synced = (*fs)->sync();
  ::unlink(pid_file.c_str());
  return st.is_ok() ? synced : st;
}

}  // namespace

namespace {
void apply_schedule_options(const Arguments& args, SnapshotSchedule* s) {
  if (!args.auto_snapshots.empty()) s->enabled = args.auto_snapshots == "on";
  if (args.sched_hourly >= 0) s->hourly = args.sched_hourly;
  if (args.sched_daily >= 0) s->daily = args.sched_daily;
  if (args.sched_weekly >= 0) s->weekly = args.sched_weekly;
  if (args.sched_monthly >= 0) s->monthly = args.sched_monthly;
}

std::string describe_schedule(const SnapshotSchedule& s) {
  if (!s.enabled) return "off";
  return "hourly " + std::to_string(s.hourly) + ", daily " + std::to_string(s.daily) +
         ", weekly " + std::to_string(s.weekly) + ", monthly " + std::to_string(s.monthly);
}
}  // namespace

Result<ExitCode> dataset_set(const Arguments& args) {
  ASSIGN_OR_RETURN(DatasetRef ref, parse_dataset_ref(args.target, /*allow_snapshot=*/false));
  RETURN_IF_ERROR(refuse_if_mounted(ref, "change it"));
  ASSIGN_OR_RETURN(OpenRepo r, open_repo(ref.repo, /*write=*/true, args));
  DatasetStore datasets(*r.repo);
  ASSIGN_OR_RETURN(DatasetHead head, datasets.load(ref.dataset));
  if (!args.quota.empty() && !parse_size(args.quota, &head.quota_bytes)) {
    return Status::invalid_argument("--quota: not a size such as 10G (0 for none)");
  }
  apply_schedule_options(args, &head.schedule);
  RETURN_IF_ERROR(datasets.save(head));
  std::printf("%s/%s: quota %s; automatic snapshots %s\n", ref.repo.c_str(), ref.dataset.c_str(),
              head.quota_bytes ? format_size(head.quota_bytes).c_str() : "none",
              describe_schedule(head.schedule).c_str());
  return ExitCode::kOk;
}

Result<ExitCode> dataset_create(const Arguments& args) {
  ASSIGN_OR_RETURN(DatasetRef ref, parse_dataset_ref(args.target, /*allow_snapshot=*/false));
  DatasetHead head;
  head.name = ref.dataset;
  head.created_ns = static_cast<int64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                             std::chrono::system_clock::now().time_since_epoch())
                                             .count());
  if (!args.recordsize.empty()) {
    ASSIGN_OR_RETURN(head.recordsize, parse_recordsize(args.recordsize));
  }
  if (!args.quota.empty() && !parse_size(args.quota, &head.quota_bytes)) {
    return Status::invalid_argument("--quota: not a size such as 10G");
  }
  apply_schedule_options(args, &head.schedule);
  ASSIGN_OR_RETURN(OpenRepo r, open_repo(ref.repo, /*write=*/true, args));
  DatasetStore datasets(*r.repo);
  RETURN_IF_ERROR(datasets.create(head));
  // The first commit makes the root folder, so the dataset is whole at once.
  ASSIGN_OR_RETURN(std::unique_ptr<LiveFs> fs, LiveFs::open(*r.repo, datasets, head, {}));
  RETURN_IF_ERROR(fs->sync());
  std::printf("created dataset %s/%s (recordsize %s%s); mount it with 'lares mount %s/%s DIR'\n",
              ref.repo.c_str(), ref.dataset.c_str(), format_size(head.recordsize).c_str(),
              head.quota_bytes ? (", quota " + format_size(head.quota_bytes)).c_str() : "",
              ref.repo.c_str(), ref.dataset.c_str());
  return ExitCode::kOk;
}

Result<ExitCode> dataset_list(const Arguments& args) {
  std::vector<std::string> repos;
  if (!args.repo.empty()) {
    repos.push_back(args.repo);
  } else {
    ASSIGN_OR_RETURN(Registry registry, Registry::load(lares_home()));
    for (const auto& e : registry.entries()) repos.push_back(e.name);
  }
  std::optional<Unlock> unlock;
  nlohmann::json list = nlohmann::json::array();
  for (const auto& where : repos) {
    if (!unlock) {
      ASSIGN_OR_RETURN(Unlock u, read_unlock(args));
      unlock = std::move(u);
    }
    ASSIGN_OR_RETURN(OpenRepo r, open_repo_with(where, /*write=*/false, *unlock));
    DatasetStore datasets(*r.repo);
    ASSIGN_OR_RETURN(std::vector<DatasetHead> heads, datasets.list());
    ASSIGN_OR_RETURN(std::vector<SnapshotRecord> snaps, r.repo->list_snapshots());
    std::map<std::string, std::vector<const SnapshotRecord*>> by_dataset;
    for (const auto& s : snaps) by_dataset[s.dataset].push_back(&s);
    for (const auto& h : heads) {
      const std::string full = where + "/" + h.name;
      const std::string at = mount_of(DatasetRef{where, h.name, ""});
      ASSIGN_OR_RETURN(DatasetSpace space, dataset_space(*r.repo, h.name));
      list.push_back({{"name", full},
                      {"kind", "live"},
                      {"recordsize", h.recordsize},
                      {"quota_bytes", h.quota_bytes},
                      {"logical_bytes", h.logical_bytes},
                      {"referenced_bytes", space.head.referenced_bytes},
                      {"unique_bytes", space.head.unique_bytes},
                      {"used_by_snapshots_bytes", space.used_by_snapshots_bytes},
                      {"inodes", h.inodes},
                      {"snapshots", by_dataset[h.name].size()},
                      {"origin", h.origin},
                      {"txg", h.txg},
                      {"auto_snapshots", {{"enabled", h.schedule.enabled},
                                          {"hourly", h.schedule.hourly},
                                          {"daily", h.schedule.daily},
                                          {"weekly", h.schedule.weekly},
                                          {"monthly", h.schedule.monthly}}},
                      {"mountpoint", at.empty() ? nlohmann::json() : nlohmann::json(at)}});
      by_dataset.erase(h.name);
    }
    for (const auto& [name, list_of] : by_dataset) {
      list.push_back({{"name", where + "/" + name},
                      {"kind", "backup"},
                      {"logical_bytes", list_of.back()->bytes},
                      {"snapshots", list_of.size()},
                      {"mountpoint", nullptr}});
    }
  }
  if (args.json) {
    print_json(list);
    return ExitCode::kOk;
  }
  std::printf("%-32s %-7s %10s %10s %9s  %s\n", "NAME", "KIND", "REFER", "QUOTA", "SNAPSHOTS",
              "MOUNTPOINT");
  for (const auto& d : list) {
    const uint64_t quota = d.value("quota_bytes", uint64_t{0});
    std::printf("%-32s %-7s %10s %10s %9llu  %s\n", d["name"].get<std::string>().c_str(),
                d["kind"].get<std::string>().c_str(),
                format_size(d.value("referenced_bytes", d.value("logical_bytes", uint64_t{0})))
                    .c_str(),
                quota ? format_size(quota).c_str() : "-",
                static_cast<unsigned long long>(d["snapshots"].get<uint64_t>()),
                d["mountpoint"].is_null() ? "-" : d["mountpoint"].get<std::string>().c_str());
  }
  return ExitCode::kOk;
}

Result<ExitCode> dataset_destroy(const Arguments& args) {
  ASSIGN_OR_RETURN(DatasetRef ref, parse_dataset_ref(args.target, /*allow_snapshot=*/false));
  RETURN_IF_ERROR(refuse_if_mounted(ref, "destroy it"));
  ASSIGN_OR_RETURN(OpenRepo r, open_repo(ref.repo, /*write=*/true, args));
  DatasetStore datasets(*r.repo);
  ASSIGN_OR_RETURN(DatasetHead head, datasets.load(ref.dataset));
  ASSIGN_OR_RETURN(std::vector<SnapshotRecord> snaps, r.repo->list_snapshots(ref.dataset));
  if (!snaps.empty() && !args.recursive) {
    return Status::failed_precondition(ref.dataset + " has " + std::to_string(snaps.size()) +
                                       " snapshots; destroy them too with --recursive");
  }
  for (const auto& s : snaps) RETURN_IF_ERROR(r.repo->remove_snapshot(s.id));
  RETURN_IF_ERROR(datasets.destroy(head.name));
  std::printf("destroyed %s/%s%s; 'lares repo gc %s' frees its space\n", ref.repo.c_str(),
              ref.dataset.c_str(),
              snaps.empty() ? "" : (" and " + std::to_string(snaps.size()) + " snapshots").c_str(),
              ref.repo.c_str());
  return ExitCode::kOk;
}

Result<ExitCode> mount_command(const Arguments& args) {
  ASSIGN_OR_RETURN(DatasetRef ref, parse_dataset_ref(args.target, /*allow_snapshot=*/true));
  struct stat st {};
  if (::stat(args.mountpoint.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return Status::invalid_argument("mountpoint " + args.mountpoint +
                                    " is not a folder; create it first (mkdir -p)");
  }
  if (ref.snapshot.empty()) RETURN_IF_ERROR(refuse_if_mounted(ref, "mount it again"));
  // Ask for the passphrase before forking: the prompt needs the terminal.
  ASSIGN_OR_RETURN(Unlock unlock, read_unlock(args));
  if (args.foreground) {
    Status served = serve(args, ref, unlock, [&](const Status& s) {
      if (s.is_ok()) {
        std::printf("mounted %s at %s (Ctrl-C or 'lares umount %s' to stop)\n",
                    args.target.c_str(), args.mountpoint.c_str(), args.mountpoint.c_str());
        std::fflush(stdout);
      }
    });
    RETURN_IF_ERROR(served);
    return ExitCode::kOk;
  }
  // Background: the child serves; the parent waits until it is mounted (or
  // failed) and reports that. Forking first, before any thread exists.
  int pipe_fds[2];
  if (::pipe(pipe_fds) != 0) return Status::from_errno(errno, "pipe");
  const pid_t pid = ::fork();
  if (pid < 0) return Status::from_errno(errno, "fork");
  if (pid == 0) {
    ::close(pipe_fds[0]);
    ::setsid();
    const int ready_fd = pipe_fds[1];
    Status served = serve(args, ref, unlock, [&](const Status& s) {
      std::string message = s.is_ok() ? std::string("ok") : s.to_string();
      (void)!::write(ready_fd, message.data(), message.size());
      ::close(ready_fd);
      if (s.is_ok()) {
        // Detach from the terminal; errors later go to the mount log.
        const std::string log = lares_home() + "/mount.log";
        (void)make_dirs(lares_home());
        int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
        int null_fd = ::open("/dev/null", O_RDWR);
        if (null_fd >= 0) ::dup2(null_fd, STDIN_FILENO);
        if (fd >= 0) {
          ::dup2(fd, STDOUT_FILENO);
          ::dup2(fd, STDERR_FILENO);
        }
      }
    });
    std::_Exit(served.is_ok() ? 0 : 1);
  }
  ::close(pipe_fds[1]);
  std::string message;
  char buf[512];
  ssize_t n;
  while ((n = ::read(pipe_fds[0], buf, sizeof buf)) > 0) message.append(buf, static_cast<size_t>(n));
  ::close(pipe_fds[0]);
  if (message != "ok") {
    int status = 0;
    ::waitpid(pid, &status, 0);
    return Status::io_error(message.empty() ? "the mount process ended before mounting"
                                            : message);
  }
  std::printf("mounted %s at %s ('lares umount %s' to stop; log: %s/mount.log)\n",
              args.target.c_str(), args.mountpoint.c_str(), args.mountpoint.c_str(),
              lares_home().c_str());
  return ExitCode::kOk;
}

namespace {
// True while `pid` is a running (not zombie) lares process.
bool lares_running(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return false;
  const size_t paren = line.rfind(')');
  if (paren == std::string::npos || paren + 2 >= line.size() || line[paren + 2] == 'Z') return false;
  char exe[4096];
  const ssize_t n = ::readlink(("/proc/" + std::to_string(pid) + "/exe").c_str(), exe, sizeof exe - 1);
  if (n <= 0) return true;  // cannot tell: assume it is ours
  const std::string path(exe, static_cast<size_t>(n));
  return path.find("lares") != std::string::npos;
}
}  // namespace

Result<ExitCode> umount_command(const Arguments& args) {
  const std::string mountpoint = canonical_mountpoint(args.mountpoint);
  const pid_t server = read_mount_record(mountpoint).pid;
  RETURN_IF_ERROR(unmount(mountpoint));
  // The serving process commits what is left and exits: wait for it, so
  // that when this returns the data is durable and the pool free again.
  if (server > 0) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(5);
    while (lares_running(server)) {
      if (std::chrono::steady_clock::now() > deadline) {
        return Status::busy("unmounted " + args.mountpoint + ", but process " +
                            std::to_string(server) + " is still committing; see " + lares_home() +
                            "/mount.log");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  std::printf("unmounted %s\n", args.mountpoint.c_str());
  return ExitCode::kOk;
}

namespace {
// <pool>/<dataset>@<snapshot>, and where the dataset is mounted ("" if not).
Result<std::pair<DatasetRef, std::string>> snapshot_target(const Arguments& args) {
  ASSIGN_OR_RETURN(DatasetRef ref, parse_dataset_ref(args.target, /*allow_snapshot=*/true));
  if (ref.snapshot.empty()) {
    return Status::invalid_argument("name the snapshot: <pool>/<dataset>@<snapshot>");
  }
  const std::string at = mount_of(ref);
  return std::make_pair(ref, at);
}
}  // namespace

Result<ExitCode> snapshot_create(const Arguments& args) {
  ASSIGN_OR_RETURN(auto target, snapshot_target(args));
  const auto& [ref, at] = target;
  if (!at.empty()) {
    const std::string dir = at + "/.lares/snapshots/" + ref.snapshot;
    if (::mkdir(dir.c_str(), 0755) != 0) return Status::from_errno(errno, "snapshot via " + dir);
  } else {
    ASSIGN_OR_RETURN(OpenRepo r, open_repo(ref.repo, /*write=*/true, args));
    DatasetStore datasets(*r.repo);
    ASSIGN_OR_RETURN(DatasetHead head, datasets.load(ref.dataset));
    RETURN_IF_ERROR(create_live_snapshot(*r.repo, head, ref.snapshot));
  }
  std::printf("snapshot %s\n", args.target.c_str());
  return ExitCode::kOk;
}

Result<ExitCode> snapshot_destroy(const Arguments& args) {
  ASSIGN_OR_RETURN(auto target, snapshot_target(args));
  const auto& [ref, at] = target;
  if (!at.empty()) {
    const std::string dir = at + "/.lares/snapshots/" + ref.snapshot;
    if (::rmdir(dir.c_str()) != 0) return Status::from_errno(errno, "destroy via " + dir);
  } else {
    ASSIGN_OR_RETURN(OpenRepo r, open_repo(ref.repo, /*write=*/true, args));
    ASSIGN_OR_RETURN(SnapshotRecord snap, r.repo->find_snapshot(ref.dataset, ref.snapshot));
    RETURN_IF_ERROR(r.repo->remove_snapshot(snap.id));
  }
  std::printf("destroyed snapshot %s; 'lares repo gc %s' frees its unique space\n",
              args.target.c_str(), ref.repo.c_str());
  return ExitCode::kOk;
}

Result<ExitCode> rollback_command(const Arguments& args) {
  ASSIGN_OR_RETURN(DatasetRef ref, parse_dataset_ref(args.target, /*allow_snapshot=*/true));
  if (ref.snapshot.empty()) {
    return Status::invalid_argument("name the snapshot: <pool>/<dataset>@<snapshot>");
  }
  RETURN_IF_ERROR(refuse_if_mounted(ref, "roll it back"));
  ASSIGN_OR_RETURN(OpenRepo r, open_repo(ref.repo, /*write=*/true, args));
  DatasetStore datasets(*r.repo);
  ASSIGN_OR_RETURN(DatasetHead head, datasets.load(ref.dataset));
  ASSIGN_OR_RETURN(SnapshotRecord snap, r.repo->find_snapshot(ref.dataset, ref.snapshot));
  if (snap.layout != SnapshotLayout::kLive) {
    return Status::failed_precondition(args.target + " is a backup snapshot; 'lares restore' it");
  }
  head.root = snap.tree;
  ++head.txg;
  head.inodes = snap.files;
  head.logical_bytes = snap.bytes;
  head.next_ino = std::max(head.next_ino, snap.next_ino);  // inode numbers are never reused
  RETURN_IF_ERROR(datasets.save(head));
  std::printf("rolled %s/%s back to @%s (later snapshots are kept)\n", ref.repo.c_str(),
              ref.dataset.c_str(), snap.name.c_str());
  return ExitCode::kOk;
}

Result<ExitCode> clone_command(const Arguments& args) {
  ASSIGN_OR_RETURN(DatasetRef from, parse_dataset_ref(args.target, /*allow_snapshot=*/true));
  ASSIGN_OR_RETURN(DatasetRef to, parse_dataset_ref(args.other, /*allow_snapshot=*/false));
  if (from.snapshot.empty()) {
    return Status::invalid_argument("clone from a snapshot: <pool>/<dataset>@<snapshot>");
  }
  if (from.repo != to.repo) {
    return Status::invalid_argument("a clone lives beside its origin: both must be in " +
                                    from.repo);
  }
  ASSIGN_OR_RETURN(OpenRepo r, open_repo(from.repo, /*write=*/true, args));
  DatasetStore datasets(*r.repo);
  ASSIGN_OR_RETURN(SnapshotRecord snap, r.repo->find_snapshot(from.dataset, from.snapshot));
  if (snap.layout == SnapshotLayout::kBackup) {
    // A writable live copy of a backup: metadata is written, data is shared.
    DatasetHead head;
    head.name = to.dataset;
    head.created_ns = static_cast<int64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                               std::chrono::system_clock::now().time_since_epoch())
                                               .count());
    head.origin = snap.id;
    RETURN_IF_ERROR(datasets.create(head));
    ASSIGN_OR_RETURN(std::unique_ptr<LiveFs> fs, LiveFs::open(*r.repo, datasets, head, {}));
    auto imported = import_backup_snapshot(*r.repo, snap, *fs);
    if (!imported.is_ok()) {
      fs.reset();
      (void)datasets.destroy(to.dataset);  // no half-made dataset is left behind
      return imported.status();
    }
    RETURN_IF_ERROR(fs->sync());
    std::printf("cloned backup %s to live dataset %s: %llu files, %llu folders, %s\n",
                args.target.c_str(), args.other.c_str(),
                static_cast<unsigned long long>(imported->files),
                static_cast<unsigned long long>(imported->dirs), format_size(imported->bytes).c_str());
    return ExitCode::kOk;
  }
  DatasetHead head;
  head.name = to.dataset;
  head.root = snap.tree;
  head.txg = 1;
  head.next_ino = std::max<uint64_t>(snap.next_ino, 2);
  head.created_ns = static_cast<int64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                             std::chrono::system_clock::now().time_since_epoch())
                                             .count());
  auto origin = datasets.load(from.dataset);
  if (origin.is_ok()) {
    head.recordsize = origin->recordsize;
    head.quota_bytes = origin->quota_bytes;
  }
  head.origin = snap.id;
  head.inodes = snap.files;
  head.logical_bytes = snap.bytes;
  RETURN_IF_ERROR(datasets.create(head));
  std::printf("cloned %s to %s\n", args.target.c_str(), args.other.c_str());
  return ExitCode::kOk;
}

}  // namespace lares::cli
