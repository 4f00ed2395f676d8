// lares_pool_bench: pool write, read and scrub throughput, one figure per run.
//
//   lares_pool_bench write --pool-dir D --devices N --redundancy R --object-mib M --total-mib T
//                          [--jobs J]
//   lares_pool_bench read  --pool-dir D [--drop-caches] [--jobs J]
//   lares_pool_bench scrub --pool-dir D [--drop-caches]
//   lares_pool_bench files --dir D --object-mib M --total-mib T
//
// `write` creates pool "bench" on the folders D/dev0 .. D/dev<N-1> and puts
// T/M objects of M MiB; `read` gets every object of the pool under D; `scrub`
// scrubs it from the start; `files` writes the same objects as plain fsynced
// files, so a peer filesystem holds exactly the bytes the pool holds.
//
// Each command prints one JSON line on stdout. Sizes are bytes, times
// seconds, rates MB/s (10^6 bytes per second). "physical" bytes are what hit
// the devices: shard files (data, parity and headers) on write, every byte
// the kernel fetched from storage on read (/proc/self/io). --jobs runs J
// client threads, each with its own share of the objects (default 1).
//
// bench/run_pool_bench.sh runs these beside fio and btrfs scrub in one run on
// one disk and prints the comparison; this program never judges its figures.
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "pool/pool.h"
#include "util/file.h"
#include "util/random.h"

namespace lares {
namespace {

constexpr uint64_t kMiB = 1ull << 20;
constexpr uint64_t kDataSeed = 0x1a2e5b0c4d;
// Every block of this size gets the object index stamped at its start, so
// no block of one object repeats a block of another (the pool's checksum
// block size; shards are never smaller than one).
constexpr size_t kStampStrideBytes = 64 * 1024;
constexpr uint64_t kJobsMax = 64;
constexpr char kPoolName[] = "bench";

// ---- command line ----------------------------------------------------------

// `<command> --name value ... --flag`: every option takes a value except the
// names in kFlags.
class Args {
 public:
  static Result<Args> parse(int argc, char** argv) {
    static const std::set<std::string> kFlags = {"--drop-caches"};
    if (argc < 2) return Status::invalid_argument("missing command (write, read, scrub, files)");
    Args args;
    args.command_ = argv[1];
    for (int i = 2; i < argc; ++i) {
      std::string name = argv[i];
      if (name.rfind("--", 0) != 0) return Status::invalid_argument("unexpected '" + name + "'");
      if (kFlags.count(name) != 0) {
        args.flags_.insert(name);
      } else if (i + 1 < argc) {
        args.values_[name] = argv[++i];
      } else {
        return Status::invalid_argument(name + " needs a value");
      }
    }
    return args;
  }

  const std::string& command() const { return command_; }
  bool flag(const std::string& name) const { return flags_.count(name) != 0; }

  Result<std::string> text(const std::string& name) const {
    auto it = values_.find(name);
    if (it == values_.end()) return Status::invalid_argument(command_ + " needs " + name);
    return it->second;
  }

  // A positive integer; `fallback` when absent (absent and no fallback is an error).
  Result<uint64_t> number(const std::string& name, std::optional<uint64_t> fallback) const {
    auto it = values_.find(name);
    if (it == values_.end()) {
      if (fallback.has_value()) return *fallback;
      return Status::invalid_argument(command_ + " needs " + name);
    }
    char* end = nullptr;
    const unsigned long long value = std::strtoull(it->second.c_str(), &end, 10);
    if (it->second.empty() || *end != '\0' || value == 0) {
      return Status::invalid_argument(name + " must be a positive integer, not '" + it->second +
                                      "'");
    }
    return static_cast<uint64_t>(value);
  }

 private:
  std::string command_;
  std::map<std::string, std::string> values_;
  std::set<std::string> flags_;
};

// ---- data, devices, kernel counters ----------------------------------------

// Incompressible object contents: one seeded random buffer, generated once,
// with the object index stamped at the start of every kStampStrideBytes so
// each object (and each of its shards and parity) differs from the others.
class ObjectSource {
 public:
  explicit ObjectSource(size_t object_bytes) : buffer_(object_bytes) {
    SeededRandom random(kDataSeed);
    for (size_t i = 0; i < buffer_.size(); i += sizeof(uint64_t)) {
      const uint64_t word = random.next();
      std::memcpy(buffer_.data() + i, &word, std::min(sizeof word, buffer_.size() - i));
    }
  }

  ByteView object(uint64_t index) {
    for (size_t at = 0; at + sizeof index <= buffer_.size(); at += kStampStrideBytes) {
      std::memcpy(buffer_.data() + at, &index, sizeof index);
    }
    return buffer_;
  }

 private:
  Bytes buffer_;
};

std::string object_name(uint64_t index) {
  char name[32];
  std::snprintf(name, sizeof name, "obj-%06llu", static_cast<unsigned long long>(index));
  return name;
}

std::vector<std::string> new_device_dirs(const std::string& pool_dir, uint64_t count) {
  std::vector<std::string> dirs;
  for (uint64_t i = 0; i < count; ++i) {
    dirs.push_back(join_path(pool_dir, "dev" + std::to_string(i)));
  }
  return dirs;
}

// The dev<N> folders `write` created, in order.
Result<std::vector<std::string>> existing_device_dirs(const std::string& pool_dir) {
  std::vector<std::string> dirs;
  for (uint64_t i = 0; is_directory(join_path(pool_dir, "dev" + std::to_string(i))); ++i) {
    dirs.push_back(join_path(pool_dir, "dev" + std::to_string(i)));
  }
  if (dirs.empty()) return Status::not_found("no " + pool_dir + "/dev0: run 'write' first");
  return dirs;
}

// Sum of the sizes of every file under <device>/shards: data, parity, headers.
uint64_t shard_file_bytes(const std::vector<std::string>& device_dirs) {
  namespace fs = std::filesystem;
  uint64_t total = 0;
  for (const auto& dir : device_dirs) {
    std::error_code ec;
    for (fs::recursive_directory_iterator it(join_path(dir, "shards"), ec), end; !ec && it != end;
         it.increment(ec)) {
      if (it->is_regular_file(ec)) total += it->file_size(ec);
    }
  }
  return total;
}

// Bytes this process made the kernel fetch from or send to storage
// (/proc/self/io, all threads). Zero when the kernel does not account I/O.
struct IoCounters {
  uint64_t read_bytes = 0;
  uint64_t write_bytes = 0;
};

IoCounters read_io_counters() {
  IoCounters counters;
  std::ifstream in("/proc/self/io");
  std::string key;
  uint64_t value = 0;
  while (in >> key >> value) {
    if (key == "read_bytes:") counters.read_bytes = value;
    if (key == "write_bytes:") counters.write_bytes = value;
  }
  return counters;
}

// Writes back everything dirty, then empties the page, dentry and inode
// caches, so the next read comes from the disk. Needs root.
Status drop_page_cache() {
  ::sync();
  auto fd = open_file("/proc/sys/vm/drop_caches", O_WRONLY);
  if (!fd.is_ok()) return fd.status().with_context("--drop-caches needs root");
  if (::write(fd->get(), "3\n", 2) != 2) return Status::from_errno(errno, "drop_caches");
  return Status::ok();
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

double mb_per_second(uint64_t bytes, double seconds) {
  return seconds > 0 ? static_cast<double>(bytes) / seconds / 1e6 : 0;
}

// Runs task(job, index) for index in [0, count): job j takes j, j + jobs, ...
// Returns the first error; a job stops at its first error.
Status run_jobs(uint64_t jobs, uint64_t count,
                const std::function<Status(uint64_t job, uint64_t index)>& task) {
  std::mutex mu;
  Status first_error;
  std::vector<std::thread> threads;
  for (uint64_t job = 0; job < jobs; ++job) {
    threads.emplace_back([&, job] {
      for (uint64_t index = job; index < count; index += jobs) {
        Status st = task(job, index);
        if (st.is_ok()) continue;
        std::lock_guard lock(mu);
        if (first_error.is_ok()) first_error = st;
        return;
      }
    });
  }
  for (auto& t : threads) t.join();
  return first_error;
}

void print_json(const nlohmann::json& j) { std::cout << j.dump() << std::endl; }

// ---- commands ------------------------------------------------------------------

struct Workload {
  uint64_t object_bytes = 0;
  uint64_t object_count = 0;
  uint64_t jobs = 1;
};

Result<Workload> parse_workload(const Args& args) {
  Workload w;
  ASSIGN_OR_RETURN(uint64_t object_mib, args.number("--object-mib", std::nullopt));
  ASSIGN_OR_RETURN(uint64_t total_mib, args.number("--total-mib", std::nullopt));
  ASSIGN_OR_RETURN(w.jobs, args.number("--jobs", 1));
  w.object_bytes = object_mib * kMiB;
  w.object_count = total_mib / object_mib;
  if (w.object_count == 0) return Status::invalid_argument("--total-mib is below --object-mib");
  if (w.jobs > kJobsMax) return Status::invalid_argument("--jobs is at most 64");
  return w;
}

Status run_write(const Args& args) {
  ASSIGN_OR_RETURN(std::string pool_dir, args.text("--pool-dir"));
  ASSIGN_OR_RETURN(uint64_t device_count, args.number("--devices", std::nullopt));
  ASSIGN_OR_RETURN(uint64_t redundancy, args.number("--redundancy", std::nullopt));
  ASSIGN_OR_RETURN(Workload w, parse_workload(args));
  const std::vector<std::string> dirs = new_device_dirs(pool_dir, device_count);
  ASSIGN_OR_RETURN(std::unique_ptr<Pool> pool,
                   Pool::create(kPoolName, static_cast<int>(redundancy), dirs));
  std::vector<ObjectSource> sources;  // generated before the clock starts
  for (uint64_t j = 0; j < w.jobs; ++j) sources.emplace_back(static_cast<size_t>(w.object_bytes));

  const IoCounters before = read_io_counters();
  const auto start = std::chrono::steady_clock::now();
  auto put_one = [&](uint64_t job, uint64_t index) {
    return pool->put(object_name(index), sources[job].object(index));
  };
  RETURN_IF_ERROR(run_jobs(w.jobs, w.object_count, put_one));
  const double seconds = seconds_since(start);
  const IoCounters after = read_io_counters();

  ASSIGN_OR_RETURN(ObjectLayout layout, pool->layout(object_name(0)));
  const uint64_t logical_bytes = w.object_bytes * w.object_count;
  const uint64_t physical_bytes = shard_file_bytes(dirs);
  print_json({{"command", "write"},
              {"k", layout.k},
              {"r", layout.r},
              {"objects", w.object_count},
              {"object_bytes", w.object_bytes},
              {"jobs", w.jobs},
              {"logical_bytes", logical_bytes},
              {"physical_bytes", physical_bytes},
              {"io_write_bytes", after.write_bytes - before.write_bytes},
              {"seconds", seconds},
              {"physical_mb_s", mb_per_second(physical_bytes, seconds)},
              {"logical_mb_s", mb_per_second(logical_bytes, seconds)}});
  return Status::ok();
}

// Names of every object in the pool under `pool_dir` (read-only open).
Result<std::vector<std::string>> list_objects(const std::vector<std::string>& dirs) {
  PoolOptions options;
  options.mode = OpenMode::kReadOnly;
  ASSIGN_OR_RETURN(std::unique_ptr<Pool> pool, Pool::open(dirs, options));
  return pool->list("");
}

Status run_read(const Args& args) {
  ASSIGN_OR_RETURN(std::string pool_dir, args.text("--pool-dir"));
  ASSIGN_OR_RETURN(uint64_t jobs, args.number("--jobs", 1));
  if (jobs > kJobsMax) return Status::invalid_argument("--jobs is at most 64");
  ASSIGN_OR_RETURN(std::vector<std::string> dirs, existing_device_dirs(pool_dir));
  // Listing reads every shard header; a fresh open after dropping the caches
  // makes the timed gets find, check and read their shards from the disk.
  ASSIGN_OR_RETURN(std::vector<std::string> names, list_objects(dirs));
  if (args.flag("--drop-caches")) RETURN_IF_ERROR(drop_page_cache());
  PoolOptions options;
  options.mode = OpenMode::kReadOnly;
  ASSIGN_OR_RETURN(std::unique_ptr<Pool> pool, Pool::open(dirs, options));

  std::vector<uint64_t> bytes_per_job(jobs, 0);
  const IoCounters before = read_io_counters();
  const auto start = std::chrono::steady_clock::now();
  auto get_one = [&](uint64_t job, uint64_t index) -> Status {
    ASSIGN_OR_RETURN(Bytes data, pool->get(names[index]));
    bytes_per_job[job] += data.size();
    return Status::ok();
  };
  RETURN_IF_ERROR(run_jobs(jobs, names.size(), get_one));
  const double seconds = seconds_since(start);
  const IoCounters after = read_io_counters();

  uint64_t logical_bytes = 0;
  for (uint64_t b : bytes_per_job) logical_bytes += b;
  const uint64_t physical_bytes = after.read_bytes - before.read_bytes;
  print_json({{"command", "read"},
              {"objects", names.size()},
              {"jobs", jobs},
              {"drop_caches", args.flag("--drop-caches")},
              {"logical_bytes", logical_bytes},
              {"physical_read_bytes", physical_bytes},
              {"seconds", seconds},
              {"logical_mb_s", mb_per_second(logical_bytes, seconds)},
              {"physical_mb_s", mb_per_second(physical_bytes, seconds)}});
  return Status::ok();
}

Status run_scrub(const Args& args) {
  ASSIGN_OR_RETURN(std::string pool_dir, args.text("--pool-dir"));
  ASSIGN_OR_RETURN(std::vector<std::string> dirs, existing_device_dirs(pool_dir));
  ASSIGN_OR_RETURN(std::unique_ptr<Pool> pool, Pool::open(dirs));
  ASSIGN_OR_RETURN(std::vector<std::string> names, pool->list(""));
  uint64_t logical_bytes = 0;
  for (const auto& name : names) {
    ASSIGN_OR_RETURN(uint64_t size, pool->size(name));
    logical_bytes += size;
  }
  if (args.flag("--drop-caches")) RETURN_IF_ERROR(drop_page_cache());

  ScrubOptions options;
  options.restart = true;
  options.quiet = true;
  const IoCounters before = read_io_counters();
  const auto start = std::chrono::steady_clock::now();
  ASSIGN_OR_RETURN(ScrubReport report, pool->scrub(options));
  const double seconds = seconds_since(start);
  const IoCounters after = read_io_counters();
  print_json({{"command", "scrub"},
              {"objects_scanned", report.objects_scanned},
              {"errors_found", report.errors_found},
              {"drop_caches", args.flag("--drop-caches")},
              {"logical_bytes", logical_bytes},
              {"bytes_scanned", report.bytes_scanned},
              {"io_read_bytes", after.read_bytes - before.read_bytes},
              {"seconds", seconds},
              {"physical_mb_s", mb_per_second(report.bytes_scanned, seconds)},
              {"logical_mb_s", mb_per_second(logical_bytes, seconds)}});
  return Status::ok();
}

// Each object as one file, made durable like a put: file fsynced, then its folder.
Status run_files(const Args& args) {
  ASSIGN_OR_RETURN(std::string dir, args.text("--dir"));
  ASSIGN_OR_RETURN(Workload w, parse_workload(args));
  RETURN_IF_ERROR(make_dirs(dir));
  std::vector<ObjectSource> sources;
  for (uint64_t j = 0; j < w.jobs; ++j) sources.emplace_back(static_cast<size_t>(w.object_bytes));

  const auto start = std::chrono::steady_clock::now();
  auto write_one = [&](uint64_t job, uint64_t index) -> Status {
    const std::string path = join_path(dir, object_name(index));
    ASSIGN_OR_RETURN(UniqueFd fd, open_file(path, O_WRONLY | O_CREAT | O_TRUNC, 0644));
    RETURN_IF_ERROR(pwrite_all(fd.get(), sources[job].object(index), 0, path));
    RETURN_IF_ERROR(fsync_fd(fd.get(), path));
    return fsync_dir(dir);
  };
  RETURN_IF_ERROR(run_jobs(w.jobs, w.object_count, write_one));
  const double seconds = seconds_since(start);
  const uint64_t logical_bytes = w.object_bytes * w.object_count;
  print_json({{"command", "files"},
              {"objects", w.object_count},
              {"object_bytes", w.object_bytes},
              {"logical_bytes", logical_bytes},
              {"seconds", seconds},
              {"logical_mb_s", mb_per_second(logical_bytes, seconds)}});
  return Status::ok();
}

Status run(int argc, char** argv) {
  ASSIGN_OR_RETURN(Args args, Args::parse(argc, argv));
  if (args.command() == "write") return run_write(args);
  if (args.command() == "read") return run_read(args);
  if (args.command() == "scrub") return run_scrub(args);
  if (args.command() == "files") return run_files(args);
  return Status::invalid_argument("unknown command '" + args.command() +
                                  "' (write, read, scrub, files)");
}

}  // namespace
}  // namespace lares

int main(int argc, char** argv) {
  lares::Status st = lares::run(argc, argv);
  if (st.is_ok()) return 0;
  std::cerr << "lares_pool_bench: " << st.to_string() << "\n";
  return 1;
}
