// Issue 4's acceptance test: kill -9 of the process serving a mount (`lares
// mount --foreground`) during heavy writes, at kKillRounds moments, on one
// dataset of a pool whose state carries over from kill to kill. After each
// kill the dataset is mounted again and must show what the writer had
// fsync'ed, as one sound tree; at the end a clean unmount keeps everything,
// and `lares pool scrub` and `lares repo check --read-data` find nothing.
//
// The writer (a thread of this test) creates, overwrites, appends to,
// rewrites ranges of, renames and unlinks files of up to a few MiB in a few
// folders, makes and removes subfolders, and after some calls fsyncs the file
// and, for names, the folder. Every call that changes the tree is operation
// number n, and before making it the test records the state it leaves each
// path in (WriteHistory). Each write(2) is one FUSE request, which LiveFs
// applies whole (see kWriteBytesMax); so whatever moment a commit was taken
// at, the history names its tree.
//
// The acceptance rule. Let F be the operation number at the last fsync (of a
// file or a folder) that returned success before the kill, and K the number
// of the last operation begun (the one the kill cut short may or may not
// have happened). LiveFs::fsync commits the whole dataset and a commit is one
// transaction group taken between requests (fs/live_fs.h), so the remounted
// tree must be the writer's tree after one operation g, F <= g <= K:
//   - each path (absent, a folder, or a file's exact bytes) is in a state it
//     held after operation F or later: a file shows the content it had at the
//     last fsync, or a later version the writer wrote (a background commit,
//     or the fsync the kill cut short, may have taken it along); a name is
//     there or gone as of the last fsync or later. A state older than F is
//     fsync'ed data lost. (POSIX asks less: a file's bytes as of its own last
//     fsync, its name as of its folder's; Lares's whole-dataset fsync
//     promises this.)
//   - one g explains every path at once (no tree mixing two commits);
//   - the tree is sound: every listed name lstat's, every folder's link
//     count is 2 + its subfolders, every file reads whole (no EIO) at the
//     size stat reports.
// The next round writes on from the tree that was found.
//
// LARES_TEST_SEED replays the schedule (every call and every kill delay);
// where a kill lands depends on timing too.
//
// Needs root and /dev/fuse (CI has both); elsewhere the test skips, saying why.
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "posix_checks.h"
#include "testing/cli_runner.h"
#include "testing/pool_fixture.h"
#include "testing/repo_fixture.h"
#include "testing/temp_dir.h"
#include "util/file.h"
#include "util/random.h"

extern char** environ;

namespace lares {
namespace {

using Clock = std::chrono::steady_clock;
using testing::RunResult;
using testing::shell_quote;
using testing::posix::errno_text;

// Rounds, each ended by a kill -9 of the mount.
constexpr int kKillRounds = 30;
// The kill comes up to this long after the writer starts...
constexpr uint64_t kKillDelayUsMax = 1'500'000;
// ...and in a third of the rounds, then waits for an fsync to begin and
// kills up to this long into it.
constexpr uint64_t kFsyncKillWindowUs = 3'000;
// After a file's data or a name change (and as an operation of its own) the
// writer fsyncs one time in this many: half the rounds sync often, half
// write much between fsyncs (so kills land in writes and background commits
// as well as in fsyncs).
constexpr uint64_t kFsyncOneInOften = 3;
constexpr uint64_t kFsyncOneInSeldom = 20;
// The kernel sends a write(2) as one FUSE request only when it starts on a
// page boundary or stays within one page (it sends a partial first page that
// is not cached on its own) and fits in a request (32 pages at least). The
// writer's calls are all like that, so LiveFs applies each whole and no
// commit holds part of one.
constexpr uint64_t kPageBytes = 4096;
constexpr uint64_t kWriteBytesMax = 64 << 10;
constexpr uint64_t kFileBytesMax = 6 << 20;
constexpr uint64_t kNewFileBytesMax = 4 << 20;
constexpr uint64_t kAppendBytesMax = 256 << 10;
constexpr size_t kFilesMax = 40;
constexpr uint64_t kNamesPerFolder = 12;  // f0..f11: names are reused
constexpr uint64_t kSubfoldersPerFolder = 2;
constexpr uint64_t kOperationsPerRoundMax = 200'000;
constexpr int kFolderDepthMax = 4;
constexpr auto kMountWaitMax = std::chrono::seconds(30);
constexpr const char* kTopFolders[] = {"a", "b", "c"};

// ---- File contents: slices of seeded streams ----

constexpr uint64_t kStreamBlockBytes = 4096;

uint64_t mix(uint64_t seed, uint64_t index) {
  SeededRandom random(seed ^ (index * 0xd6e8feb86659fd93ULL));
  return random.next();
}

// Bytes [skip, skip + size) of the stream of `seed`. Each 4 KiB block is
// either one byte repeated (compressible, deduplicated) or noise, by the
// block's hash; every byte follows from (seed, position) alone, so a prefix
// or a slice of a write is described exactly.
void fill_stream(uint64_t seed, uint64_t skip, char* out, uint64_t size) {
  uint64_t done = 0;
  while (done < size) {
    const uint64_t position = skip + done;
    const uint64_t block = position / kStreamBlockBytes;
    const uint64_t run = std::min(size - done, (block + 1) * kStreamBlockBytes - position);
    const uint64_t kind = mix(seed, block);
    if (kind % 4 == 0) {
      std::memset(out + done, static_cast<int>((kind >> 8) & 0xff), run);
    } else {
      uint64_t word = 0;
      for (uint64_t i = 0; i < run; ++i) {
        const uint64_t p = position + i;
        if (i == 0 || p % 8 == 0) word = mix(~seed, p / 8);
        out[done + i] = static_cast<char>((word >> (8 * (p % 8))) & 0xff);
      }
    }
    done += run;
  }
}

// Bytes [skip, skip + size_bytes) of the stream of `seed`.
struct Piece {
  uint64_t seed = 0;
  uint64_t skip = 0;
  uint64_t size_bytes = 0;
};

// A file's bytes: the pieces written into it, in file order. The writer
// never writes past the end, so there are no holes.
class Content {
 public:
  uint64_t size_bytes() const {
    uint64_t total = 0;
    for (const Piece& p : pieces_) total += p.size_bytes;
    return total;
  }
  // REQUIRES: offset <= size_bytes().
  void write(uint64_t offset, const Piece& piece);
  bool matches(std::string_view bytes) const;

 private:
  void add(const Piece& piece, std::vector<Piece>* out) const;
  std::vector<Piece> pieces_;
};

// Appends, merging with the previous piece when it continues it.
void Content::add(const Piece& piece, std::vector<Piece>* out) const {
  if (piece.size_bytes == 0) return;
  if (!out->empty() && out->back().seed == piece.seed &&
      out->back().skip + out->back().size_bytes == piece.skip) {
    out->back().size_bytes += piece.size_bytes;
    return;
  }
  out->push_back(piece);
}

void Content::write(uint64_t offset, const Piece& piece) {
  LARES_CHECK(offset <= size_bytes());
  const uint64_t end = offset + piece.size_bytes;
  std::vector<Piece> out;
  uint64_t at = 0;
  for (const Piece& p : pieces_) {  // what lies before the write
    if (at < offset) add({p.seed, p.skip, std::min(at + p.size_bytes, offset) - at}, &out);
    at += p.size_bytes;
  }
  add(piece, &out);
  at = 0;
  for (const Piece& p : pieces_) {  // what lies after it
    const uint64_t p_end = at + p.size_bytes;
    if (p_end > end) {
      const uint64_t from = std::max(at, end);
      add({p.seed, p.skip + (from - at), p_end - from}, &out);
    }
    at = p_end;
  }
  pieces_ = std::move(out);
}

bool Content::matches(std::string_view bytes) const {
  if (bytes.size() != size_bytes()) return false;
  std::string expected;
  uint64_t at = 0;
  for (const Piece& p : pieces_) {
    for (uint64_t done = 0; done < p.size_bytes;) {
      const uint64_t n = std::min(p.size_bytes - done, kWriteBytesMax);
      expected.resize(n);
      fill_stream(p.seed, p.skip + done, expected.data(), n);
      if (bytes.compare(at, n, expected) != 0) return false;
      at += n;
      done += n;
    }
  }
  return true;
}

// ---- The writer's history, and what a remounted tree may show ----

enum class Kind : uint8_t { kAbsent, kFolder, kFile };

struct PathState {
  Kind kind = Kind::kAbsent;
  Content content;  // kFile only
};

// A path as the remounted tree shows it.
struct Seen {
  Kind kind = Kind::kAbsent;
  std::string bytes;  // kFile only
};

bool shows(const PathState& state, const Seen* seen) {
  if (seen == nullptr) return state.kind == Kind::kAbsent;
  if (state.kind != seen->kind) return false;
  return state.kind != Kind::kFile || state.content.matches(seen->bytes);
}

std::string describe(Kind kind, uint64_t size_bytes) {
  if (kind == Kind::kAbsent) return "nothing";
  if (kind == Kind::kFolder) return "a folder";
  return "a file of " + std::to_string(size_bytes) + " bytes";
}
std::string describe(const PathState& s) { return describe(s.kind, s.content.size_bytes()); }
std::string describe(const Seen* s) {
  return s == nullptr ? "nothing" : describe(s->kind, s->bytes.size());
}

// What the writer did since the last verified tree: for each path, the state
// each operation that touched it left it in, by operation number. The tree
// after operation g holds each path in its last version numbered <= g.
class WriteHistory {
 public:
  // Starts again from `tree` (present paths only), durable, as operation `seq`.
  void reset(std::map<std::string, PathState> tree, uint64_t seq);
  // Numbers the next operation.
  uint64_t begin_operation() { return ++last_seq_; }
  // Operation `seq` (the latest begun) leaves `path` in `state`.
  void record(uint64_t seq, const std::string& path, const PathState& state);
  // An fsync returned: every operation so far is durable.
  void fsync_returned() { durable_seq_ = last_seq_; }

  const std::map<std::string, PathState>& current() const { return current_; }
  uint64_t durable_seq() const { return durable_seq_; }
  uint64_t last_seq() const { return last_seq_; }
  std::map<std::string, PathState> tree_after(uint64_t seq) const;
  // The operation g in [durable_seq, last_seq] after which the writer's tree
  // was `seen` (the smallest, if several); null with *problems saying why
  // when there is none.
  std::optional<uint64_t> explain(const std::map<std::string, Seen>& seen,
                                  std::vector<std::string>* problems) const;

 private:
  struct Version {
    uint64_t seq = 0;
    PathState state;
  };
  // For each g in [durable_seq, last_seq]: whether `path` was `seen` after
  // operation g. Empty, with a problem, when it was after none of them.
  std::vector<char> when_shown(const std::string& path, const Seen* seen,
                               std::vector<std::string>* problems) const;

  std::map<std::string, std::vector<Version>> versions_;  // seq ascending
  std::map<std::string, PathState> current_;              // present paths
  uint64_t base_seq_ = 0;  // the verified tree's operation; every path has a version there
  uint64_t last_seq_ = 0;
  uint64_t durable_seq_ = 0;
};

void WriteHistory::reset(std::map<std::string, PathState> tree, uint64_t seq) {
  versions_.clear();
  for (const auto& [path, state] : tree) versions_[path].push_back({seq, state});
  current_ = std::move(tree);
  base_seq_ = last_seq_ = durable_seq_ = seq;
}

void WriteHistory::record(uint64_t seq, const std::string& path, const PathState& state) {
  LARES_CHECK(seq == last_seq_);
  auto& list = versions_[path];
  if (list.empty()) list.push_back({base_seq_, PathState{}});  // absent until now
  // Invariant: one version per operation and path, in order.
  LARES_CHECK(list.empty() || list.back().seq < seq);
  list.push_back({seq, state});
  if (state.kind == Kind::kAbsent) {
    current_.erase(path);
  } else {
    current_[path] = state;
  }
}

std::map<std::string, PathState> WriteHistory::tree_after(uint64_t seq) const {
  std::map<std::string, PathState> tree;
  for (const auto& [path, list] : versions_) {
    const Version* last = nullptr;
    for (const Version& v : list) {
      if (v.seq <= seq) last = &v;
    }
    if (last != nullptr && last->state.kind != Kind::kAbsent) tree[path] = last->state;
  }
  return tree;
}

std::vector<char> WriteHistory::when_shown(const std::string& path, const Seen* seen,
                                           std::vector<std::string>* problems) const {
  std::vector<char> shown(last_seq_ - durable_seq_ + 1, 0);
  auto found = versions_.find(path);
  if (found == versions_.end()) {  // the writer never made it: absent throughout
    if (seen == nullptr) return std::vector<char>(shown.size(), 1);
    problems->push_back(path + ": " + describe(seen) + " the writer never made");
    return {};
  }
  const std::vector<Version>& list = found->second;
  bool any = false;
  std::optional<uint64_t> stale;  // a state from before the last fsync that it shows
  for (size_t i = 0; i < list.size(); ++i) {
    const uint64_t from = list[i].seq;
    const uint64_t to = i + 1 < list.size() ? list[i + 1].seq - 1 : last_seq_;
    if (!shows(list[i].state, seen)) continue;
    if (to < durable_seq_) {
      stale = from;
      continue;
    }
    for (uint64_t g = std::max(from, durable_seq_); g <= to; ++g) shown[g - durable_seq_] = 1;
    any = true;
  }
  if (any) return shown;
  const auto at_fsync = tree_after(durable_seq_);
  const auto expected = at_fsync.find(path);
  problems->push_back(
      path + ": shows " + describe(seen) + ", but at the last fsync (operation " +
      std::to_string(durable_seq_) + ") it was " +
      (expected == at_fsync.end() ? std::string("nothing") : describe(expected->second)) +
      (stale ? "; it is its state of operation " + std::to_string(*stale) +
                   ", before that fsync: fsync'ed data lost"
             : "; the writer never left it so"));
  return {};
}

std::optional<uint64_t> WriteHistory::explain(const std::map<std::string, Seen>& seen,
                                              std::vector<std::string>* problems) const {
  std::set<std::string> paths;
  for (const auto& [path, list] : versions_) paths.insert(path);
  for (const auto& [path, s] : seen) paths.insert(path);
  std::vector<char> possible(last_seq_ - durable_seq_ + 1, 1);
  std::vector<std::string> narrowed;  // paths that rule some operations out
  for (const std::string& path : paths) {
    auto it = seen.find(path);
    const std::vector<char> shown =
        when_shown(path, it == seen.end() ? nullptr : &it->second, problems);
    if (shown.empty()) continue;
    if (std::find(shown.begin(), shown.end(), 0) != shown.end()) narrowed.push_back(path);
    for (size_t i = 0; i < possible.size(); ++i) possible[i] = possible[i] && shown[i];
  }
  if (!problems->empty()) return std::nullopt;
  for (size_t i = 0; i < possible.size(); ++i) {
    if (possible[i]) return durable_seq_ + i;
  }
  std::string names;
  for (size_t i = 0; i < narrowed.size() && i < 8; ++i) names += " " + narrowed[i];
  problems->push_back("every path shows a state the writer left it in, but no one operation in [" +
                      std::to_string(durable_seq_) + ", " + std::to_string(last_seq_) +
                      "] explains them all: the tree mixes commits (paths:" + names + ")");
  return std::nullopt;
}

// ---- Reading the remounted tree ----

// Reads a whole file; a failed read is a problem.
std::string read_whole(const std::string& path, const std::string& name, uint64_t size_bytes,
                       std::vector<std::string>* problems) {
  UniqueFd fd = testing::posix::open_fd(path, O_RDONLY);
  if (!fd.valid()) {
    problems->push_back(name + ": open: " + errno_text(errno));
    return {};
  }
  ::testing::AssertionResult ok = ::testing::AssertionSuccess();
  std::string bytes = testing::posix::pread_upto(fd.get(), 0, size_bytes + 1, &ok);
  if (!ok) problems->push_back(name + ": " + ok.message());
  if (ok && bytes.size() != size_bytes) {
    problems->push_back(name + ": stat says " + std::to_string(size_bytes) + " bytes, read " +
                        std::to_string(bytes.size()));
  }
  return bytes;
}

// Every name of a folder but . and ..
std::vector<std::string> list_names(const std::string& dir, std::vector<std::string>* problems) {
  std::vector<std::string> names;
  std::unique_ptr<DIR, int (*)(DIR*)> d(::opendir(dir.c_str()), ::closedir);
  if (d == nullptr) {
    problems->push_back(dir + ": opendir: " + errno_text(errno));
    return names;
  }
  errno = 0;
  while (const dirent* e = ::readdir(d.get())) {
    const std::string name = e->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  if (errno != 0) problems->push_back(dir + ": readdir: " + errno_text(errno));
  return names;
}

// Reads the tree under root/relative into *seen (paths relative to root),
// checking it is sound: every listed name lstat's, a folder's link count is
// 2 + its subfolders, a file reads whole at the size stat gives.
void observe(const std::string& root, const std::string& relative, int depth,
             std::map<std::string, Seen>* seen, std::vector<std::string>* problems) {
  const std::string dir = relative.empty() ? root : root + "/" + relative;
  struct stat folder {};
  if (::lstat(dir.c_str(), &folder) != 0) {
    problems->push_back("/" + relative + ": lstat: " + errno_text(errno));
    return;
  }
  uint64_t subfolders = 0;
  for (const std::string& name : list_names(dir, problems)) {
    const std::string path = relative.empty() ? name : relative + "/" + name;
    struct stat st {};
    if (::lstat((root + "/" + path).c_str(), &st) != 0) {
      problems->push_back(path + ": listed, but lstat: " + errno_text(errno));
    } else if (S_ISDIR(st.st_mode)) {
      ++subfolders;
      (*seen)[path] = Seen{Kind::kFolder, {}};
      if (depth < kFolderDepthMax) observe(root, path, depth + 1, seen, problems);
    } else if (S_ISREG(st.st_mode)) {
      const auto size_bytes = static_cast<uint64_t>(st.st_size);
      (*seen)[path] = Seen{Kind::kFile, read_whole(root + "/" + path, path, size_bytes, problems)};
    } else {
      problems->push_back(path + ": mode " + std::to_string(st.st_mode) +
                          ", not made by the writer");
    }
  }
  if (folder.st_nlink != 2 + subfolders) {
    problems->push_back("/" + relative + ": link count " + std::to_string(folder.st_nlink) +
                        " with " + std::to_string(subfolders) + " subfolders");
  }
}

// ---- The writer ----

std::string parent_of(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? "" : path.substr(0, slash);
}

// Changes the tree under `root` at random, recording each operation in the
// history before making it, until a call fails (the kill), stop(), or
// kOperationsPerRoundMax. Runs on its own thread; the history is the
// writer's until run() returns.
class Writer {
 public:
  // What the kill cut short.
  enum class Cut { kNothing, kWrite, kFsync, kOther };

  Writer(std::string root, WriteHistory* history, uint64_t seed, uint64_t fsync_one_in)
      : root_(std::move(root)), history_(history), random_(seed), fsync_one_in_(fsync_one_in) {}

  void run() {
    for (uint64_t i = 0; i < kOperationsPerRoundMax && !stop_; ++i) {
      if (!step()) break;
    }
    done_ = true;
  }
  // From another thread: end after the current operation.
  void stop() { stop_ = true; }
  // From another thread, before the kill: failures from now on are its doing.
  void expect_kill() { kill_expected_ = true; }
  bool done() const { return done_; }
  bool in_fsync() const { return in_fsync_; }

  // After run(): what went wrong ("" when nothing did): a call that failed
  // before the kill, or a write the kernel split (see kPageBytes).
  const std::string& failure() const { return failure_; }
  Cut cut() const { return cut_; }
  uint64_t fsyncs() const { return fsyncs_; }
  uint64_t bytes_written() const { return bytes_written_; }

 private:
  enum class Append { kNo, kYes };
  enum class NewName { kNo, kYes };

  std::string full(const std::string& path) const {
    return path.empty() ? root_ : root_ + "/" + path;
  }
  template <typename T>
  const T& pick(const std::vector<T>& from) {
    return from[random_.uniform(from.size())];
  }
  std::vector<std::string> paths_of(Kind kind) const {
    std::vector<std::string> out;
    for (const auto& [path, state] : history_->current()) {
      if (state.kind == kind) out.push_back(path);
    }
    return out;
  }
  PathState state_of(const std::string& path) const {
    auto it = history_->current().find(path);
    return it == history_->current().end() ? PathState{} : it->second;
  }
  uint64_t new_file_bytes() {
    const uint64_t dice = random_.uniform(100);
    if (dice < 45) return random_.uniform(16 << 10);
    if (dice < 80) return random_.uniform(512 << 10);
    return random_.uniform(kNewFileBytesMax + 1);
  }

  bool chance_to_fsync() { return random_.uniform(fsync_one_in_) == 0; }

  // A call's result: false stops the writer, noting why unless a kill was due.
  bool check(long rc, const std::string& what, Cut cut = Cut::kOther) {
    if (rc >= 0) return true;
    const int err = errno;
    if (kill_expected_) {
      cut_ = cut;
    } else {
      failure_ = what + ": " + errno_text(err);
    }
    return false;
  }

  bool step();
  bool create_file(const std::vector<std::string>& folders);
  bool overwrite_file(const std::string& path);
  bool append_to_file(const std::string& path);
  bool rewrite_range(const std::string& path);
  bool rename_file(const std::string& path, const std::vector<std::string>& folders);
  bool unlink_file(const std::string& path);
  bool make_or_remove_subfolder();
  bool fsync_file(const std::string& path);
  bool write_stream(int fd, const std::string& path, uint64_t offset, uint64_t size_bytes,
                    Append append);
  bool settle(UniqueFd fd, const std::string& path, NewName new_name);
  bool fsync_fd(int fd, const std::string& what);
  bool fsync_folder(const std::string& path);

  std::string root_;
  WriteHistory* history_;
  SeededRandom random_;
  uint64_t fsync_one_in_;
  std::atomic<bool> stop_{false}, done_{false}, kill_expected_{false}, in_fsync_{false};
  std::string failure_;
  Cut cut_ = Cut::kNothing;
  uint64_t fsyncs_ = 0, bytes_written_ = 0;
};

bool Writer::step() {
  const std::vector<std::string> files = paths_of(Kind::kFile);
  const std::vector<std::string> folders = paths_of(Kind::kFolder);
  const uint64_t dice = random_.uniform(100);
  if (dice < 25 || files.empty()) {
    return files.size() < kFilesMax ? create_file(folders) : unlink_file(pick(files));
  }
  if (dice < 42) return overwrite_file(pick(files));
  if (dice < 56) return append_to_file(pick(files));
  if (dice < 66) return rewrite_range(pick(files));
  if (dice < 77) return rename_file(pick(files), folders);
  if (dice < 88) return unlink_file(pick(files));
  if (dice < 96) return make_or_remove_subfolder();
  return !chance_to_fsync() || fsync_file(pick(files));
}

bool Writer::create_file(const std::vector<std::string>& folders) {
  const std::string path = pick(folders) + "/f" + std::to_string(random_.uniform(kNamesPerFolder));
  if (state_of(path).kind == Kind::kFile) return overwrite_file(path);
  history_->record(history_->begin_operation(), path, PathState{Kind::kFile, {}});
  UniqueFd fd(::open(full(path).c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (!check(fd.get(), "create " + path)) return false;
  if (!write_stream(fd.get(), path, 0, new_file_bytes(), Append::kNo)) return false;
  return settle(std::move(fd), path, NewName::kYes);
}

bool Writer::overwrite_file(const std::string& path) {
  // O_TRUNC reaches LiveFs as a setattr before the open: its own operation.
  history_->record(history_->begin_operation(), path, PathState{Kind::kFile, {}});
  UniqueFd fd(::open(full(path).c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC));
  if (!check(fd.get(), "open O_TRUNC " + path)) return false;
  if (!write_stream(fd.get(), path, 0, new_file_bytes(), Append::kNo)) return false;
  return settle(std::move(fd), path, NewName::kNo);
}

bool Writer::append_to_file(const std::string& path) {
  const uint64_t size_bytes = state_of(path).content.size_bytes();
  if (size_bytes >= kFileBytesMax) return overwrite_file(path);
  UniqueFd fd(::open(full(path).c_str(), O_WRONLY | O_APPEND | O_CLOEXEC));
  if (!check(fd.get(), "open O_APPEND " + path)) return false;
  const uint64_t more = 1 + random_.uniform(std::min(kAppendBytesMax, kFileBytesMax - size_bytes));
  if (!write_stream(fd.get(), path, size_bytes, more, Append::kYes)) return false;
  return settle(std::move(fd), path, NewName::kNo);
}

// Overwrites a random range that starts inside the file (and may grow it).
bool Writer::rewrite_range(const std::string& path) {
  const uint64_t size_bytes = state_of(path).content.size_bytes();
  if (size_bytes >= kFileBytesMax) return overwrite_file(path);
  const uint64_t offset = random_.uniform(size_bytes + 1);
  const uint64_t length = 1 + random_.uniform(std::min(kAppendBytesMax, kFileBytesMax - offset));
  UniqueFd fd(::open(full(path).c_str(), O_WRONLY | O_CLOEXEC));
  if (!check(fd.get(), "open " + path)) return false;
  if (!write_stream(fd.get(), path, offset, length, Append::kNo)) return false;
  return settle(std::move(fd), path, NewName::kNo);
}

// Moves a file to a name in any folder, replacing a file there.
bool Writer::rename_file(const std::string& path, const std::vector<std::string>& folders) {
  const std::string to = pick(folders) + "/f" + std::to_string(random_.uniform(kNamesPerFolder));
  if (to == path) return true;
  const uint64_t seq = history_->begin_operation();
  history_->record(seq, to, state_of(path));
  history_->record(seq, path, PathState{});
  if (!check(::rename(full(path).c_str(), full(to).c_str()), "rename " + path + " " + to)) {
    return false;
  }
  if (!chance_to_fsync()) return true;
  if (!fsync_folder(parent_of(path))) return false;
  return parent_of(path) == parent_of(to) || fsync_folder(parent_of(to));
}

bool Writer::unlink_file(const std::string& path) {
  history_->record(history_->begin_operation(), path, PathState{});
  if (!check(::unlink(full(path).c_str()), "unlink " + path)) return false;
  return !chance_to_fsync() || fsync_folder(parent_of(path));
}

// Makes a subfolder of a top folder, or removes it when empty.
bool Writer::make_or_remove_subfolder() {
  const std::string top = kTopFolders[random_.uniform(std::size(kTopFolders))];
  const std::string path = top + "/s" + std::to_string(random_.uniform(kSubfoldersPerFolder));
  if (state_of(path).kind == Kind::kAbsent) {
    history_->record(history_->begin_operation(), path, PathState{Kind::kFolder, {}});
    if (!check(::mkdir(full(path).c_str(), 0755), "mkdir " + path)) return false;
  } else {
    auto after = history_->current().upper_bound(path + "/");
    if (after != history_->current().end() && after->first.starts_with(path + "/")) return true;
    history_->record(history_->begin_operation(), path, PathState{});
    if (!check(::rmdir(full(path).c_str()), "rmdir " + path)) return false;
  }
  return !chance_to_fsync() || fsync_folder(top);
}

bool Writer::fsync_file(const std::string& path) {
  UniqueFd fd(::open(full(path).c_str(), O_RDONLY | O_CLOEXEC));
  if (!check(fd.get(), "open " + path)) return false;
  return fsync_fd(fd.get(), "fsync " + path);
}

// Writes `size_bytes` of a fresh stream at `offset` (the end, when
// appending), one operation per write(2): up to the next page boundary
// first, then whole pages, at most kWriteBytesMax each.
bool Writer::write_stream(int fd, const std::string& path, uint64_t offset, uint64_t size_bytes,
                          Append append) {
  const uint64_t seed = random_.next();
  std::string buffer;
  for (uint64_t done = 0; done < size_bytes;) {
    const uint64_t in_page = (offset + done) % kPageBytes;
    const uint64_t pages = kWriteBytesMax / kPageBytes;
    const uint64_t n =
        std::min(size_bytes - done,
                 in_page != 0 ? kPageBytes - in_page : (1 + random_.uniform(pages)) * kPageBytes);
    PathState state = state_of(path);
    state.content.write(offset + done, Piece{seed, done, n});
    history_->record(history_->begin_operation(), path, state);
    buffer.resize(n);
    fill_stream(seed, done, buffer.data(), n);
    const ssize_t written = append == Append::kYes
                                ? ::write(fd, buffer.data(), n)
                                : ::pwrite(fd, buffer.data(), n, static_cast<off_t>(offset + done));
    if (!check(written, "write " + path, Cut::kWrite)) return false;
    if (static_cast<uint64_t>(written) != n) {  // split in two requests: not what the model knows
      failure_ = "write " + path + ": short, " + std::to_string(written) + " of " +
                 std::to_string(n) + " bytes at " + std::to_string(offset + done);
      return false;
    }
    done += n;
    bytes_written_ += n;
  }
  return true;
}

// After a file's data: maybe fsync it; close it; maybe fsync its folder
// (for a new name).
bool Writer::settle(UniqueFd fd, const std::string& path, NewName new_name) {
  if (chance_to_fsync() && !fsync_fd(fd.get(), "fsync " + path)) return false;
  if (!check(::close(fd.release()), "close " + path)) return false;
  return new_name == NewName::kNo || !chance_to_fsync() || fsync_folder(parent_of(path));
}

bool Writer::fsync_fd(int fd, const std::string& what) {
  in_fsync_ = true;
  const int rc = ::fsync(fd);
  in_fsync_ = false;
  if (!check(rc, what, Cut::kFsync)) return false;
  history_->fsync_returned();
  ++fsyncs_;
  return true;
}

bool Writer::fsync_folder(const std::string& path) {
  UniqueFd fd(::open(full(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!check(fd.get(), "open folder /" + path)) return false;
  return fsync_fd(fd.get(), "fsync folder /" + path);
}

// ---- The mount process ----

std::string tail_of(const std::string& path) {
  auto bytes = read_file(path);
  if (!bytes.is_ok()) return "(no log)";
  std::string text(as_chars(*bytes));
  return text.size() > 4000 ? text.substr(text.size() - 4000) : text;
}

// `lares mount <dataset> <mountpoint> --foreground` as a child of the test,
// its output appended to a log file.
class MountProcess {
 public:
  // Starts it and waits until the mountpoint is served; null, with *error
  // saying why, when it is not within kMountWaitMax.
  static std::unique_ptr<MountProcess> start(const std::string& home, const std::string& dataset,
                                             const std::string& mountpoint,
                                             const std::string& passphrase_file,
                                             const std::string& log, std::string* error);
  // A running mount is killed (-9) and its dead mount detached.
  ~MountProcess() { kill_now(); }
  MountProcess(const MountProcess&) = delete;
  MountProcess& operator=(const MountProcess&) = delete;

  // kill -9, reaped, and the dead mount (ENOTCONN) detached.
  void kill_now();
  // Waits for the process to end (after an unmount): its exit status, or
  // -1 when a signal ended it.
  int wait_exit();

 private:
  MountProcess(pid_t pid, std::string mountpoint) : pid_(pid), mountpoint_(std::move(mountpoint)) {}
  bool wait_mounted(dev_t unmounted, const std::string& log, std::string* error);
  pid_t pid_;
  std::string mountpoint_;
};

std::unique_ptr<MountProcess> MountProcess::start(const std::string& home,
                                                  const std::string& dataset,
                                                  const std::string& mountpoint,
                                                  const std::string& passphrase_file,
                                                  const std::string& log, std::string* error) {
  struct stat before {};
  if (::stat(mountpoint.c_str(), &before) != 0) {
    *error = "stat " + mountpoint + ": " + errno_text(errno);
    return nullptr;
  }
  std::vector<std::string> words = {LARES_BINARY,   "mount",        dataset,
                                    mountpoint,     "--foreground", "--passphrase-file",
                                    passphrase_file};
  std::vector<std::string> env = {"LARES_HOME=" + home};
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string_view entry = *e;
    if (!entry.starts_with("LARES_HOME=") && !entry.starts_with("LARES_PASSPHRASE=")) {
      env.emplace_back(entry);
    }
  }
  std::vector<char*> argv, envp;
  for (auto& w : words) argv.push_back(w.data());
  for (auto& e : env) envp.push_back(e.data());
  argv.push_back(nullptr);
  envp.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(),
                                   O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    *error = "posix_spawn " + words[0] + ": " + errno_text(rc);
    return nullptr;
  }
  auto process = std::unique_ptr<MountProcess>(new MountProcess(pid, mountpoint));
  if (!process->wait_mounted(before.st_dev, log, error)) return nullptr;
  return process;
}

// Mounted when the mountpoint is on another device than before.
bool MountProcess::wait_mounted(dev_t unmounted, const std::string& log, std::string* error) {
  const auto deadline = Clock::now() + kMountWaitMax;
  while (Clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      *error = "lares mount ended (status " + std::to_string(status) + ") before mounting:\n" +
               tail_of(log);
      return false;
    }
    struct stat now {};
    if (::stat(mountpoint_.c_str(), &now) == 0 && now.st_dev != unmounted) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  *error = "not mounted after " + std::to_string(kMountWaitMax.count()) + " s:\n" + tail_of(log);
  return false;
}

void MountProcess::kill_now() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
  ::umount2(mountpoint_.c_str(), MNT_DETACH);  // EINVAL when it never mounted: fine
}

int MountProcess::wait_exit() {
  if (pid_ <= 0) return -1;
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// ---- The checker's own tests (no mount needed) ----

TEST(MountCrashContentTest, MatchesTheBytesOfRandomWrites) {
  SeededRandom random(7);
  Content content;
  std::string bytes;
  for (int i = 0; i < 200; ++i) {
    const uint64_t offset = random.uniform(bytes.size() + 1);
    const Piece piece{random.uniform(3), random.uniform(10'000), random.uniform(20'000)};
    content.write(offset, piece);
    std::string data(piece.size_bytes, '\0');
    fill_stream(piece.seed, piece.skip, data.data(), piece.size_bytes);
    bytes.resize(std::max<uint64_t>(bytes.size(), offset + piece.size_bytes));
    bytes.replace(offset, data.size(), data);
    ASSERT_TRUE(content.matches(bytes)) << "write " << i;
  }
  bytes[bytes.size() / 2] ^= 1;
  EXPECT_FALSE(content.matches(bytes));
  EXPECT_FALSE(content.matches(bytes.substr(1)));
}

// Operations: 1 create a/x, 2 write it, fsync, 3 create a/y, 4 write it, 5 truncate a/x.
class MountCrashHistoryTest : public ::testing::Test {
 protected:
  MountCrashHistoryTest() {
    history_.reset({{"a", PathState{Kind::kFolder, {}}}}, 0);
    history_.record(history_.begin_operation(), "a/x", PathState{Kind::kFile, {}});
    history_.record(history_.begin_operation(), "a/x", file_of(1, 1000));
    history_.fsync_returned();
    history_.record(history_.begin_operation(), "a/y", PathState{Kind::kFile, {}});
    history_.record(history_.begin_operation(), "a/y", file_of(2, 3000));
    history_.record(history_.begin_operation(), "a/x", PathState{Kind::kFile, {}});
  }
  static PathState file_of(uint64_t seed, uint64_t size_bytes) {
    PathState state{Kind::kFile, {}};
    state.content.write(0, Piece{seed, 0, size_bytes});
    return state;
  }
  static Seen seen_file(uint64_t seed, uint64_t size_bytes) {
    Seen seen{Kind::kFile, std::string(size_bytes, '\0')};
    fill_stream(seed, 0, seen.bytes.data(), size_bytes);
    return seen;
  }
  std::optional<uint64_t> explain(const std::map<std::string, Seen>& seen) {
    problems_.clear();
    return history_.explain(seen, &problems_);
  }
  WriteHistory history_;
  std::vector<std::string> problems_;
};

TEST_F(MountCrashHistoryTest, AcceptsTheTreeOfOneOperationFromTheLastFsyncOn) {
  const Seen folder{Kind::kFolder, {}};
  EXPECT_EQ(explain({{"a", folder}, {"a/x", seen_file(1, 1000)}}), 2u);
  EXPECT_EQ(explain({{"a", folder}, {"a/x", seen_file(1, 1000)}, {"a/y", Seen{Kind::kFile, {}}}}),
            3u);
  EXPECT_EQ(explain({{"a", folder}, {"a/x", seen_file(1, 1000)}, {"a/y", seen_file(2, 3000)}}), 4u);
  EXPECT_EQ(explain({{"a", folder}, {"a/x", Seen{Kind::kFile, {}}}, {"a/y", seen_file(2, 3000)}}),
            5u);
}

TEST_F(MountCrashHistoryTest, RejectsLostFsyncsMixedCommitsAndStrangers) {
  const Seen folder{Kind::kFolder, {}};
  // a/x gone, as it was before the fsync.
  EXPECT_FALSE(explain({{"a", folder}}));
  ASSERT_EQ(problems_.size(), 1u);
  EXPECT_NE(problems_[0].find("fsync'ed data lost"), std::string::npos) << problems_[0];
  // Bytes the writer never wrote.
  EXPECT_FALSE(explain({{"a", folder}, {"a/x", seen_file(1, 999)}}));
  EXPECT_NE(problems_[0].find("never left it so"), std::string::npos) << problems_[0];
  // a/x truncated (operation 5) but a/y not yet there (operations <= 2).
  EXPECT_FALSE(explain({{"a", folder}, {"a/x", Seen{Kind::kFile, {}}}}));
  EXPECT_NE(problems_.back().find("mixes commits"), std::string::npos) << problems_.back();
  // A name the writer never made; a folder gone.
  EXPECT_FALSE(explain({{"a", folder}, {"a/x", seen_file(1, 1000)}, {"a/z", folder}}));
  EXPECT_FALSE(explain({{"a/x", seen_file(1, 1000)}}));
}

// ---- The test ----

struct Totals {
  int kills_in_fsync = 0;          // the kill cut an fsync short
  int kills_in_write = 0;          // ... a write
  int kills_elsewhere = 0;         // ... another call
  int rounds_behind = 0;           // the tree found was older than the last operation begun
  uint64_t operations = 0;         // operations begun, over all rounds
  uint64_t operations_undone = 0;  // begun, but not in the tree found (after the last fsync)
  uint64_t fsyncs = 0;
  uint64_t bytes_written = 0;
};

class MountCrashTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to mount FUSE filesystems";
    if (::access("/dev/fuse", R_OK | W_OK) != 0) {
      GTEST_SKIP() << "needs a usable /dev/fuse: " << errno_text(errno);
    }
    ASSERT_TRUE(write_file_atomic(temp_.sub("pass"), as_bytes("kill nine\n")).is_ok());
    ASSERT_EQ(::mkdir(mountpoint_.c_str(), 0755), 0);
    std::string devices;
    for (int i = 0; i < 4; ++i) devices += " " + shell_quote(temp_.sub("dev" + std::to_string(i)));
    RunResult pool = lares("pool create tank --redundancy 1 --kdf-memory 8K --kdf-ops 1" + devices);
    ASSERT_EQ(pool.exit_code, 0) << pool.out << pool.err;
    RunResult dataset = lares("dataset create tank/live");
    ASSERT_EQ(dataset.exit_code, 0) << dataset.out << dataset.err;
  }

  // `lares <args>`, unlocked by the passphrase file.
  RunResult lares(const std::string& args) {
    return lares_plain(args + " --passphrase-file " + shell_quote(temp_.sub("pass")));
  }
  // Verbs without unlock options (umount, pool scrub).
  RunResult lares_plain(const std::string& args) {
    return testing::run_lares(LARES_BINARY, temp_.sub("home"), args, "/dev/null",
                              temp_.sub("stderr.txt"));
  }

  void mount() {
    std::string error;
    mount_ = MountProcess::start(temp_.sub("home"), "tank/live", mountpoint_, temp_.sub("pass"),
                                 temp_.sub("mount.log"), &error);
    ASSERT_NE(mount_, nullptr) << error;
  }

  // A clean unmount: `lares umount`, and the mount process exits 0.
  void unmount() {
    RunResult u = lares_plain("umount " + shell_quote(mountpoint_));
    ASSERT_EQ(u.exit_code, 0) << u.out << u.err;
    EXPECT_EQ(mount_->wait_exit(), 0) << tail_of(temp_.sub("mount.log"));
    mount_.reset();
  }

  void write_and_kill(WriteHistory* history, SeededRandom& schedule, Totals* totals);
  void verify(WriteHistory* history, Totals* totals);

  testing::TempDir temp_;
  std::string mountpoint_ = temp_.sub("mnt");
  std::unique_ptr<MountProcess> mount_;  // after temp_: goes first
};

// One round: the writer works on the mount until a kill -9 at a moment the
// schedule picks, sometimes inside an fsync.
void MountCrashTest::write_and_kill(WriteHistory* history, SeededRandom& schedule, Totals* totals) {
  const uint64_t fsync_one_in = schedule.uniform(2) == 0 ? kFsyncOneInOften : kFsyncOneInSeldom;
  const bool in_fsync = schedule.uniform(3) == 0;
  const auto delay = std::chrono::microseconds(schedule.uniform(kKillDelayUsMax + 1));
  const auto window = std::chrono::microseconds(schedule.uniform(kFsyncKillWindowUs + 1));
  const uint64_t first_seq = history->last_seq();
  Writer writer(mountpoint_, history, schedule.next(), fsync_one_in);
  std::thread thread([&writer] { writer.run(); });
  const auto kill_at = Clock::now() + delay;
  while (Clock::now() < kill_at && !writer.done()) {
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  if (in_fsync) {
    const auto give_up = Clock::now() + std::chrono::seconds(5);
    while (!writer.in_fsync() && !writer.done() && Clock::now() < give_up) {
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
    std::this_thread::sleep_for(window);
  }
  writer.expect_kill();
  mount_->kill_now();  // the writer's calls fail (ENOTCONN) from here on
  thread.join();
  mount_.reset();
  ASSERT_EQ(writer.failure(), "");
  totals->kills_in_fsync += writer.cut() == Writer::Cut::kFsync ? 1 : 0;
  totals->kills_in_write += writer.cut() == Writer::Cut::kWrite ? 1 : 0;
  totals->kills_elsewhere += writer.cut() == Writer::Cut::kOther ? 1 : 0;
  totals->operations += history->last_seq() - first_seq;
  totals->fsyncs += writer.fsyncs();
  totals->bytes_written += writer.bytes_written();
}

// The first few problems, one a line.
std::string first_problems(const std::vector<std::string>& problems) {
  constexpr size_t kShown = 20;
  std::vector<std::string> lines(
      problems.begin(),
      problems.begin() + static_cast<ptrdiff_t>(std::min(kShown, problems.size())));
  if (problems.size() > kShown) {
    lines.push_back("... and " + std::to_string(problems.size() - kShown) + " more");
  }
  return testing::join_lines(lines);
}

// Reads the mounted tree, holds it to the acceptance rule, and makes it the
// tree the writer goes on from.
void MountCrashTest::verify(WriteHistory* history, Totals* totals) {
  std::map<std::string, Seen> seen;
  std::vector<std::string> problems;
  observe(mountpoint_, "", 0, &seen, &problems);
  ASSERT_TRUE(problems.empty()) << "the tree is not sound:\n" << first_problems(problems);
  const std::optional<uint64_t> g = history->explain(seen, &problems);
  ASSERT_TRUE(g.has_value()) << "operations " << history->durable_seq() << " (last fsync) to "
                             << history->last_seq() << " (last begun):\n"
                             << first_problems(problems);
  totals->rounds_behind += *g < history->last_seq() ? 1 : 0;
  totals->operations_undone += history->last_seq() - *g;
  history->reset(history->tree_after(*g), history->last_seq());
}

TEST_F(MountCrashTest, KillNineDuringHeavyWritesKeepsWhatWasFsynced) {
  const uint64_t seed = testing::test_seed(0x4c41524553);
  SCOPED_TRACE("seed " + std::to_string(seed) + " (LARES_TEST_SEED=" + std::to_string(seed) +
               " replays the schedule)");
  SeededRandom schedule(seed);
  ASSERT_NO_FATAL_FAILURE(mount());
  std::map<std::string, PathState> tree;
  for (const char* folder : kTopFolders) {
    ASSERT_EQ(::mkdir((mountpoint_ + "/" + folder).c_str(), 0755), 0) << errno_text(errno);
    tree[folder] = PathState{Kind::kFolder, {}};
  }
  ASSERT_TRUE(fsync_dir(mountpoint_).is_ok());
  WriteHistory history;
  history.reset(std::move(tree), 0);
  Totals totals;
  const auto started = Clock::now();
  for (int round = 0; round < kKillRounds; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    ASSERT_NO_FATAL_FAILURE(write_and_kill(&history, schedule, &totals));
    ASSERT_NO_FATAL_FAILURE(mount());
    ASSERT_NO_FATAL_FAILURE(verify(&history, &totals));
  }
  // A last round ends in a clean unmount, which keeps everything.
  {
    Writer writer(mountpoint_, &history, schedule.next(), kFsyncOneInSeldom);
    std::thread thread([&writer] { writer.run(); });
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    writer.stop();
    thread.join();
    ASSERT_EQ(writer.failure(), "");
  }
  ASSERT_NO_FATAL_FAILURE(unmount());
  history.fsync_returned();
  ASSERT_NO_FATAL_FAILURE(mount());
  ASSERT_NO_FATAL_FAILURE(verify(&history, &totals));
  ASSERT_NO_FATAL_FAILURE(unmount());
  const double seconds = std::chrono::duration<double>(Clock::now() - started).count();

  RunResult scrub = lares_plain("pool scrub tank --json");
  EXPECT_EQ(scrub.exit_code, 0) << scrub.out << scrub.err;
  nlohmann::json report = nlohmann::json::parse(scrub.out, nullptr, false);
  ASSERT_FALSE(report.is_discarded()) << "not JSON: " << scrub.out << scrub.err;
  EXPECT_EQ(report["unrecoverable"], 0) << scrub.out;
  RunResult check = lares("repo check tank --read-data");
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;

  EXPECT_GE(totals.kills_in_fsync, 1) << "no kill landed inside an fsync";
  std::printf(
      "%d kills in %.1f s: %d inside an fsync, %d inside a write, %d inside another "
      "call; %llu operations (%llu fsyncs, %.0f MiB written); %d trees found older than "
      "the last operation begun, %llu operations undone in all; scrub: %s\n",
      kKillRounds, seconds, totals.kills_in_fsync, totals.kills_in_write, totals.kills_elsewhere,
      static_cast<unsigned long long>(totals.operations),
      static_cast<unsigned long long>(totals.fsyncs),
      static_cast<double>(totals.bytes_written) / (1 << 20), totals.rounds_behind,
      static_cast<unsigned long long>(totals.operations_undone), report.dump().c_str());
}

}  // namespace
}  // namespace lares
