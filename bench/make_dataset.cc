// lares_make_dataset: the mixed data set of the backup benchmark, and a change to it.
//
//   lares_make_dataset <dir> <total MiB> [seed]
//   lares_make_dataset --mutate <dir> <percent> [seed]
//
// The first form writes a new tree of <total MiB> of file content into <dir> (which must not
// exist yet), mixed like a home server's share (shares of bytes):
//   20 %  documents: text-like, compressible files of 1-64 KiB (about 19,000 at 3 GiB), 40 to
//         a folder, in docs/project<NN>/topic<NN>/;
//   50 %  photos: incompressible files of 1-8 MiB, 40 to a folder, in photos/<year>/<month>/;
//   30 %  large files: a few of about 350 MiB (200-500 MiB at 3 GiB; one smaller file when the
//         total is small), in video/ and images/, made of 64 KiB blocks that are either
//         incompressible or text-like log lines, half and half, so about half of each
//         compresses.
// No two blocks repeat, so the first backup of the tree has nothing to deduplicate.
//
// The second form changes <percent> of the regular files under <dir> (picked at random by
// count, so mostly documents): 40 % get 1-64 KiB appended, 40 % get a block of up to 64 KiB
// rewritten in the middle, 10 % are deleted, and for 10 % a new document is added beside.
//
// Everything derives from SplitMix64 seeded by [seed] (default 1): the same arguments give the
// same names, bytes and mtimes. Each run prints one JSON line on stdout (counts and bytes).
// bench/run_backup_bench.sh backs the tree up with lares, restic and borg.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "util/bytes.h"
#include "util/file.h"
#include "util/random.h"
#include "util/status.h"

namespace lares {
namespace {

constexpr uint64_t kKiB = 1024;
constexpr uint64_t kMiB = 1024 * kKiB;
constexpr uint64_t kBlockBytes = 64 * kKiB;  // unit of generation and of large-file mixing
constexpr uint64_t kFilesPerFolder = 40;
constexpr uint64_t kLargeFileBytesTypical = 350 * kMiB;

// Separate generators per file kind and index, so a file's bytes do not depend on how many
// bytes the files before it took.
SeededRandom rng_for(uint64_t seed, uint64_t kind, uint64_t index) {
  SeededRandom mix(seed * 0x100000001b3ULL + kind * 0x9e3779b97f4a7c15ULL + index);
  return SeededRandom(mix.next());
}

void fill_random(SeededRandom& rng, MutableByteView out) {
  size_t i = 0;
  for (; i + 8 <= out.size(); i += 8) {
    uint64_t v = rng.next();
    std::memcpy(out.data() + i, &v, 8);
  }
  for (uint64_t v = rng.next(); i < out.size(); ++i, v >>= 8) out[i] = static_cast<uint8_t>(v);
}

// Words of 2-10 lower-case letters; 64 of them common. Text drawn from it compresses
// about 3x with zstd, like prose or logs.
class Vocabulary {
 public:
  Vocabulary() {
    SeededRandom rng(0x7e77);
    for (auto& word : words_) {
      size_t length = 2 + rng.uniform(9);
      for (size_t i = 0; i < length; ++i) word += static_cast<char>('a' + rng.uniform(26));
    }
  }
  void fill_text(SeededRandom& rng, MutableByteView out) const {
    size_t i = 0;
    while (i < out.size()) {
      uint64_t r = rng.next();
      const std::string& word = words_[(r & 1) ? (r >> 1) % 64 : (r >> 1) % words_.size()];
      char separator = (r >> 40) % 12 == 0 ? '\n' : ((r >> 40) % 29 == 1 ? ',' : ' ');
      for (size_t k = 0; k < word.size() && i < out.size(); ++k) out[i++] = word[k];
      if (i < out.size()) out[i++] = static_cast<uint8_t>(separator);
    }
  }

 private:
  std::array<std::string, 4096> words_;
};

const Vocabulary& vocabulary() {
  static const Vocabulary kVocabulary;
  return kVocabulary;
}

enum class Content { kText, kRandom, kMixed };

// Writes `size` bytes of `content` to a new file at `path`, with a made-up mtime.
Status write_generated(const std::string& path, uint64_t size, Content content, SeededRandom rng) {
  ASSIGN_OR_RETURN(UniqueFd fd, open_file(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC));
  Bytes buffer(std::min(size, 16 * kBlockBytes));
  for (uint64_t offset = 0; offset < size;) {
    size_t length = static_cast<size_t>(std::min<uint64_t>(buffer.size(), size - offset));
    for (size_t at = 0; at < length; at += kBlockBytes) {
      MutableByteView block(buffer.data() + at, std::min<size_t>(kBlockBytes, length - at));
      bool text = content == Content::kText || (content == Content::kMixed && rng.next() & 1);
      if (text) {
        vocabulary().fill_text(rng, block);
      } else {
        fill_random(rng, block);
      }
    }
    RETURN_IF_ERROR(pwrite_all(fd.get(), ByteView(buffer.data(), length), offset, path));
    offset += length;
  }
  timespec times[2];
  times[0].tv_sec = times[1].tv_sec = 1500000000 + static_cast<time_t>(rng.uniform(200000000));
  times[0].tv_nsec = times[1].tv_nsec = static_cast<long>(rng.uniform(1000000000));
  if (::futimens(fd.get(), times) != 0) return Status::from_errno(errno, "futimens " + path);
  return Status::ok();
}

// mkdir -p without the fsyncs of make_dirs: the benchmark syncs the whole tree once.
Status make_folder(const std::string& path) {
  std::error_code error;
  std::filesystem::create_directories(path, error);
  if (error) return Status::io_error("mkdir " + path + ": " + error.message());
  return Status::ok();
}

struct Tally {
  uint64_t files = 0;
  uint64_t folders = 0;
  uint64_t bytes = 0;
};

// One kind of file: sizes drawn from `size_of` until `budget_bytes` is spent (the last file
// takes what is left), names from `path_of(index)`.
template <typename SizeOf, typename PathOf>
Status write_kind(const std::string& root, uint64_t seed, uint64_t kind, uint64_t budget_bytes,
                  Content content, SizeOf size_of, PathOf path_of, Tally* tally) {
  SeededRandom sizes = rng_for(seed, kind, ~0ULL);
  std::string last_folder;
  for (uint64_t index = 0, left = budget_bytes; left > 0; ++index) {
    uint64_t size = std::min(left, size_of(sizes, left));
    left -= size;
    std::string path = root + "/" + path_of(index);
    std::string folder = parent_dir(path);
    if (folder != last_folder) {
      RETURN_IF_ERROR(make_folder(folder));
      last_folder = folder;
      ++tally->folders;
    }
    RETURN_IF_ERROR(write_generated(path, size, content, rng_for(seed, kind, index)));
    ++tally->files;
    tally->bytes += size;
  }
  return Status::ok();
}

std::string two_digits(uint64_t n) {
  char out[8];
  std::snprintf(out, sizeof out, "%02" PRIu64, n % 100);
  return out;
}

Status generate(const std::string& root, uint64_t total_mib, uint64_t seed) {
  if (path_exists(root)) return Status::already_exists(root + " exists; remove it first");
  const uint64_t total = total_mib * kMiB;
  const uint64_t large_budget = total * 3 / 10;
  const uint64_t photo_budget = total / 2;
  const uint64_t doc_budget = total - large_budget - photo_budget;
  Tally tally;
  RETURN_IF_ERROR(write_kind(
      root, seed, 1, doc_budget, Content::kText,
      [](SeededRandom& r, uint64_t) { return kKiB + r.uniform(63 * kKiB + 1); },
      [](uint64_t i) {
        uint64_t folder = i / kFilesPerFolder;
        return "docs/project" + two_digits(folder / 16) + "/topic" + two_digits(folder % 16) +
               "/note-" + std::to_string(i) + ".txt";
      },
      &tally));
  RETURN_IF_ERROR(write_kind(
      root, seed, 2, photo_budget, Content::kRandom,
      [](SeededRandom& r, uint64_t) { return kMiB + r.uniform(7 * kMiB + 1); },
      [](uint64_t i) {
        uint64_t folder = i / kFilesPerFolder;
        return "photos/" + std::to_string(2010 + folder / 12) + "/" + two_digits(1 + folder % 12) +
               "/IMG_" + std::to_string(1000 + i) + ".jpg";
      },
      &tally));
  // Equal shares of about kLargeFileBytesTypical, each within ±25 %; the last takes the rest
  // (within ±50 %), so there is no runt.
  const uint64_t large_count =
      std::max<uint64_t>(1, (large_budget + kLargeFileBytesTypical / 2) / kLargeFileBytesTypical);
  RETURN_IF_ERROR(write_kind(
      root, seed, 3, large_budget, Content::kMixed,
      [&](SeededRandom& r, uint64_t left) {
        uint64_t share = large_budget / large_count;
        return left < share * 3 / 2 ? left : share * 3 / 4 + r.uniform(share / 2 + 1);
      },
      [](uint64_t i) {
        return i % 2 == 0 ? "video/clip-" + std::to_string(i) + ".mkv"
                          : "images/disk-" + std::to_string(i) + ".img";
      },
      &tally));
  std::printf("{\"dir\": \"%s\", \"seed\": %" PRIu64 ", \"files\": %" PRIu64
              ", \"folders\": %" PRIu64 ", \"bytes\": %" PRIu64 "}\n",
              root.c_str(), seed, tally.files, tally.folders, tally.bytes);
  return Status::ok();
}

// ---- --mutate ------------------------------------------------------------------------

Result<std::vector<std::string>> regular_files(const std::string& root) {
  std::vector<std::string> files;
  std::error_code error;
  for (auto it = std::filesystem::recursive_directory_iterator(root, error);
       !error && it != std::filesystem::recursive_directory_iterator(); it.increment(error)) {
    if (it->is_regular_file() && !it->is_symlink()) files.push_back(it->path().string());
  }
  if (error) return Status::io_error("walking " + root + ": " + error.message());
  std::sort(files.begin(), files.end());  // the walk order is the filesystem's
  return files;
}

struct Changes {
  uint64_t appended = 0;
  uint64_t rewritten = 0;
  uint64_t deleted = 0;
  uint64_t added = 0;
  uint64_t bytes_written = 0;
};

Status append_text(const std::string& path, SeededRandom& rng, Changes* changes) {
  ASSIGN_OR_RETURN(UniqueFd fd, open_file(path, O_WRONLY | O_CLOEXEC));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return Status::from_errno(errno, "stat " + path);
  Bytes more(kKiB + rng.uniform(63 * kKiB + 1));
  vocabulary().fill_text(rng, more);
  RETURN_IF_ERROR(pwrite_all(fd.get(), more, static_cast<uint64_t>(st.st_size), path));
  ++changes->appended;
  changes->bytes_written += more.size();
  return Status::ok();
}

Status rewrite_middle(const std::string& path, SeededRandom& rng, Changes* changes) {
  ASSIGN_OR_RETURN(UniqueFd fd, open_file(path, O_WRONLY | O_CLOEXEC));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return Status::from_errno(errno, "stat " + path);
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  Bytes block(std::min(kBlockBytes, std::max<uint64_t>(1, size / 4)));
  fill_random(rng, block);
  RETURN_IF_ERROR(
      pwrite_all(fd.get(), block, size / 2 - std::min(size / 2, block.size() / 2), path));
  ++changes->rewritten;
  changes->bytes_written += block.size();
  return Status::ok();
}

Status mutate(const std::string& root, int percent, uint64_t seed) {
  ASSIGN_OR_RETURN(std::vector<std::string> files, regular_files(root));
  if (files.empty()) return Status::not_found("no regular files under " + root);
  const size_t count = std::max<size_t>(1, files.size() * static_cast<size_t>(percent) / 100);
  SeededRandom rng = rng_for(seed, 4, files.size());
  Changes changes;
  for (size_t i = 0; i < count; ++i) {
    // A partial Fisher-Yates shuffle: files[0..i) are the picks so far, each picked once.
    std::swap(files[i], files[i + rng.uniform(files.size() - i)]);
    const std::string& path = files[i];
    uint64_t action = rng.uniform(10);
    if (action < 4) {
      RETURN_IF_ERROR(append_text(path, rng, &changes));
    } else if (action < 8) {
      RETURN_IF_ERROR(rewrite_middle(path, rng, &changes));
    } else if (action == 8) {
      RETURN_IF_ERROR(remove_file(path));
      ++changes.deleted;
    } else {
      uint64_t size = kKiB + rng.uniform(63 * kKiB + 1);
      RETURN_IF_ERROR(write_generated(path + ".new-" + std::to_string(seed) + ".txt", size,
                                      Content::kText, rng_for(seed, 5, i)));
      ++changes.added;
      changes.bytes_written += size;
    }
  }
  std::printf("{\"dir\": \"%s\", \"seed\": %" PRIu64
              ", \"files_before\": %zu"
              ", \"appended\": %" PRIu64 ", \"rewritten\": %" PRIu64 ", \"deleted\": %" PRIu64
              ", \"added\": %" PRIu64 ", \"bytes_written\": %" PRIu64 "}\n",
              root.c_str(), seed, files.size(), changes.appended, changes.rewritten,
              changes.deleted, changes.added, changes.bytes_written);
  return Status::ok();
}

bool parse_number(const char* text, uint64_t* out) {
  char* end = nullptr;
  errno = 0;
  unsigned long long value = std::strtoull(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || text[0] == '-') return false;
  *out = value;
  return true;
}

int usage() {
  std::fprintf(stderr,
               "usage: lares_make_dataset <dir> <total MiB> [seed]\n"
               "       lares_make_dataset --mutate <dir> <percent> [seed]\n");
  return 2;
}

}  // namespace
}  // namespace lares

int main(int argc, char** argv) {
  const bool mutating = argc > 1 && std::strcmp(argv[1], "--mutate") == 0;
  const int first = mutating ? 2 : 1;
  if (argc - first < 2 || argc - first > 3) return lares::usage();
  uint64_t amount = 0;
  uint64_t seed = 1;
  if (!lares::parse_number(argv[first + 1], &amount) ||
      (argc - first == 3 && !lares::parse_number(argv[first + 2], &seed))) {
    return lares::usage();
  }
  if (mutating ? (amount < 1 || amount > 100) : amount < 1) {
    std::fprintf(stderr, "lares_make_dataset: %s out of range\n", mutating ? "percent" : "MiB");
    return 2;
  }
  const std::string dir = argv[first];
  lares::Status status = mutating ? lares::mutate(dir, static_cast<int>(amount), seed)
                                  : lares::generate(dir, amount, seed);
  if (!status.is_ok()) {
    std::fprintf(stderr, "lares_make_dataset: %s\n", status.to_string().c_str());
    return 1;
  }
  return 0;
}
