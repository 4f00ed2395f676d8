// lares_smallfiles: the small-file workload of the live-dataset benchmark (issue 4).
//
//   lares_smallfiles <dir> [--files N] [--folders N] [--file-bytes N] [--phases LIST]
//
// Works in <dir>, an existing folder, on N files (--files, default 100000) of --file-bytes bytes
// (default 4096), spread round-robin over --folders subfolders (default 100): file i is
// d<i % folders>/f<i>. Its bytes come from SplitMix64 seeded by i, so no two files are alike and
// nothing compresses or deduplicates. The phases run in the order LIST gives them (default
// create,stat,read,delete), one after the other, on one thread:
//   create  makes the folders, then creates every file (open O_CREAT|O_EXCL, write, close);
//           then makes it all durable: syncfs(2) on <dir>, then fsync(2) of <dir> (the fsync
//           commits a FUSE filesystem without syncfs, such as a Lares mount, where an fsync of
//           any file or folder commits the whole dataset);
//   stat    fstatat(2) of every file; each must have --file-bytes bytes;
//   read    opens, reads to the end and closes every file; every byte must be as written;
//   delete  unlinks every file, removes the folders, then syncfs and fsync as create does.
// Each phase is timed with CLOCK_MONOTONIC. The sync that ends create and delete is part of
// the phase's time (the figure counts durable operations) and is also given alone.
//
// Prints one JSON line: files, folders, file_bytes, and for each phase run <phase>_s (seconds),
// <phase>_ops_per_s (files / seconds), and for create and delete <phase>_sync_s. Exit status 1
// on an error (a file of the wrong size or with the wrong bytes included), 2 on bad usage.
// bench/run_fs_bench.sh runs it on ext4, on btrfs raid1 and on a Lares mount, one phase per
// call, with the caches dropped between phases.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

#include "util/bytes.h"
#include "util/file.h"
#include "util/random.h"
#include "util/status.h"

namespace lares {
namespace {

constexpr uint64_t kFileBytesMax = uint64_t{1} << 20;  // one buffer holds a whole file
constexpr uint64_t kFilesMax = uint64_t{100} << 20;
constexpr uint64_t kFoldersMax = 100000;

struct Workload {
  std::string dir;
  uint64_t file_count = 100000;
  uint64_t folder_count = 100;
  uint64_t file_bytes = 4096;
  std::vector<std::string> phases = {"create", "stat", "read", "delete"};

  static std::string folder_name(uint64_t folder_index) {
    return std::string("d").append(std::to_string(folder_index));
  }
  static std::string file_name(uint64_t file_index) {
    return std::string("f").append(std::to_string(file_index));
  }
  // "d<folder>/f<file>", for messages.
  std::string file_path(uint64_t file_index) const {
    return folder_name(file_index % folder_count) + "/" + file_name(file_index);
  }
};

// One phase's times; sync_s < 0 when the phase does not sync.
struct PhaseTime {
  std::string phase;
  double seconds = 0;
  double sync_seconds = -1;
};

double now_s() {
  timespec t{};
  clock_gettime(CLOCK_MONOTONIC, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

// The bytes of file `file_index`, into `out`.
void fill_file_bytes(uint64_t file_index, MutableByteView out) {
  SeededRandom rng(file_index * 0x9e3779b97f4a7c15ULL + 0x5eed);
  size_t i = 0;
  for (; i + 8 <= out.size(); i += 8) {
    const uint64_t v = rng.next();
    std::memcpy(out.data() + i, &v, 8);
  }
  for (uint64_t v = rng.next(); i < out.size(); ++i, v >>= 8) out[i] = static_cast<uint8_t>(v);
}

// An open descriptor of every subfolder, by folder index.
Result<std::vector<UniqueFd>> open_folders(const Workload& w) {
  std::vector<UniqueFd> folders;
  folders.reserve(w.folder_count);
  for (uint64_t f = 0; f < w.folder_count; ++f) {
    const std::string path = w.dir + "/" + w.folder_name(f);
    ASSIGN_OR_RETURN(UniqueFd fd, open_file(path, O_RDONLY | O_DIRECTORY));
    folders.push_back(std::move(fd));
  }
  return folders;
}

// syncfs, then fsync, of <dir>: what is written is durable afterwards.
Status sync_dir(const Workload& w) {
  ASSIGN_OR_RETURN(UniqueFd fd, open_file(w.dir, O_RDONLY | O_DIRECTORY));
  if (::syncfs(fd.get()) != 0) return Status::from_errno(errno, "syncfs " + w.dir);
  return fsync_fd(fd.get(), w.dir);
}

Status write_whole(int fd, ByteView data, const std::string& what) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Status::from_errno(n < 0 ? errno : EIO, "write " + what);
    data = data.subspan(static_cast<size_t>(n));
  }
  return Status::ok();
}

Status create_files(const Workload& w) {
  for (uint64_t f = 0; f < w.folder_count; ++f) {
    const std::string path = w.dir + "/" + w.folder_name(f);
    if (::mkdir(path.c_str(), 0755) != 0) return Status::from_errno(errno, "mkdir " + path);
  }
  ASSIGN_OR_RETURN(std::vector<UniqueFd> folders, open_folders(w));
  Bytes data(w.file_bytes);
  for (uint64_t i = 0; i < w.file_count; ++i) {
    const std::string name = w.file_name(i);
    fill_file_bytes(i, data);
    UniqueFd fd(::openat(folders[i % w.folder_count].get(), name.c_str(),
                         O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
    if (!fd.valid()) return Status::from_errno(errno, "create " + w.file_path(i));
    RETURN_IF_ERROR(write_whole(fd.get(), data, w.file_path(i)));
    if (::close(fd.release()) != 0) return Status::from_errno(errno, "close " + w.file_path(i));
  }
  return Status::ok();
}

Status stat_files(const Workload& w) {
  ASSIGN_OR_RETURN(std::vector<UniqueFd> folders, open_folders(w));
  for (uint64_t i = 0; i < w.file_count; ++i) {
    const std::string name = w.file_name(i);
    struct stat st {};
    if (::fstatat(folders[i % w.folder_count].get(), name.c_str(), &st, 0) != 0) {
      return Status::from_errno(errno, "stat " + w.file_path(i));
    }
    if (!S_ISREG(st.st_mode) || static_cast<uint64_t>(st.st_size) != w.file_bytes) {
      return Status::corruption(w.file_path(i) + ": not a regular file of " +
                                std::to_string(w.file_bytes) + " bytes (size " +
                                std::to_string(st.st_size) + ")");
    }
  }
  return Status::ok();
}

// Reads the whole of `fd` into `buffer` (at most buffer.size() bytes); the count read.
Result<size_t> read_to_end(int fd, MutableByteView buffer, const std::string& what) {
  size_t done = 0;
  while (done < buffer.size()) {
    const ssize_t n = ::read(fd, buffer.data() + done, buffer.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::from_errno(errno, "read " + what);
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  return done;
}

Status read_files(const Workload& w) {
  ASSIGN_OR_RETURN(std::vector<UniqueFd> folders, open_folders(w));
  Bytes expected(w.file_bytes);
  Bytes buffer(w.file_bytes + 1);  // one byte more, to see a file that is too long
  for (uint64_t i = 0; i < w.file_count; ++i) {
    const std::string name = w.file_name(i);
    UniqueFd fd(::openat(folders[i % w.folder_count].get(), name.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) return Status::from_errno(errno, "open " + w.file_path(i));
    ASSIGN_OR_RETURN(size_t count, read_to_end(fd.get(), buffer, w.file_path(i)));
    fill_file_bytes(i, expected);
    if (count != w.file_bytes || std::memcmp(buffer.data(), expected.data(), count) != 0) {
      return Status::corruption(w.file_path(i) + ": read back other bytes than were written (" +
                                std::to_string(count) + " bytes)");
    }
  }
  return Status::ok();
}

Status delete_files(const Workload& w) {
  {
    ASSIGN_OR_RETURN(std::vector<UniqueFd> folders, open_folders(w));
    for (uint64_t i = 0; i < w.file_count; ++i) {
      const std::string name = w.file_name(i);
      if (::unlinkat(folders[i % w.folder_count].get(), name.c_str(), 0) != 0) {
        return Status::from_errno(errno, "unlink " + w.file_path(i));
      }
    }
  }
  for (uint64_t f = 0; f < w.folder_count; ++f) {
    const std::string path = w.dir + "/" + w.folder_name(f);
    if (::rmdir(path.c_str()) != 0) return Status::from_errno(errno, "rmdir " + path);
  }
  return Status::ok();
}

Result<PhaseTime> run_phase(const Workload& w, const std::string& phase) {
  PhaseTime time{phase};
  const double start = now_s();
  if (phase == "create") {
    RETURN_IF_ERROR(create_files(w));
  } else if (phase == "stat") {
    RETURN_IF_ERROR(stat_files(w));
  } else if (phase == "read") {
    RETURN_IF_ERROR(read_files(w));
  } else if (phase == "delete") {
    RETURN_IF_ERROR(delete_files(w));
  } else {
    return Status::invalid_argument("unknown phase '" + phase + "'");
  }
  if (phase == "create" || phase == "delete") {
    const double sync_start = now_s();
    RETURN_IF_ERROR(sync_dir(w));
    time.sync_seconds = now_s() - sync_start;
  }
  time.seconds = now_s() - start;
  return time;
}

void print_json(const Workload& w, const std::vector<PhaseTime>& times) {
  std::printf("{\"files\": %" PRIu64 ", \"folders\": %" PRIu64 ", \"file_bytes\": %" PRIu64,
              w.file_count, w.folder_count, w.file_bytes);
  for (const PhaseTime& t : times) {
    std::printf(", \"%s_s\": %.6f, \"%s_ops_per_s\": %.1f", t.phase.c_str(), t.seconds,
                t.phase.c_str(), static_cast<double>(w.file_count) / t.seconds);
    if (t.sync_seconds >= 0) std::printf(", \"%s_sync_s\": %.6f", t.phase.c_str(), t.sync_seconds);
  }
  std::printf("}\n");
}

bool parse_number(const char* text, uint64_t* out) {
  char* end = nullptr;
  errno = 0;
  const unsigned long long value = std::strtoull(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || text[0] == '-') return false;
  *out = value;
  return true;
}

std::vector<std::string> split_commas(const std::string& text) {
  std::vector<std::string> parts;
  size_t begin = 0;
  for (size_t comma; (comma = text.find(',', begin)) != std::string::npos; begin = comma + 1) {
    parts.push_back(text.substr(begin, comma - begin));
  }
  parts.push_back(text.substr(begin));
  return parts;
}

// Fills *w from the command line; false on bad usage.
bool parse_arguments(int argc, char** argv, Workload* w) {
  if (argc < 2 || argv[1][0] == '-') return false;
  w->dir = argv[1];
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const char* value = argv[i + 1];
    bool ok = true;
    if (flag == "--files") {
      ok = parse_number(value, &w->file_count) && w->file_count >= 1 && w->file_count <= kFilesMax;
    } else if (flag == "--folders") {
      ok = parse_number(value, &w->folder_count) && w->folder_count >= 1 &&
           w->folder_count <= kFoldersMax;
    } else if (flag == "--file-bytes") {
      ok = parse_number(value, &w->file_bytes) && w->file_bytes <= kFileBytesMax;
    } else if (flag == "--phases") {
      w->phases = split_commas(value);
    } else {
      ok = false;
    }
    if (!ok) return false;
  }
  return argc % 2 == 0;  // every flag has its value
}

int usage() {
  std::fprintf(stderr,
               "usage: lares_smallfiles <dir> [--files N] [--folders N] [--file-bytes N]\n"
               "                        [--phases create,stat,read,delete]\n");
  return 2;
}

}  // namespace
}  // namespace lares

int main(int argc, char** argv) {
  lares::Workload workload;
  if (!lares::parse_arguments(argc, argv, &workload)) return lares::usage();
  std::vector<lares::PhaseTime> times;
  for (const std::string& phase : workload.phases) {
    auto time = lares::run_phase(workload, phase);
    if (!time.is_ok()) {
      std::fprintf(stderr, "lares_smallfiles: %s: %s\n", phase.c_str(),
                   time.status().to_string().c_str());
      return 1;
    }
    times.push_back(*time);
  }
  lares::print_json(workload, times);
  return 0;
}
