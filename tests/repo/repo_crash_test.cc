// kill -9 during backup and during gc, at random moments, round after round:
// every snapshot that was committed restores identically, and a full check
// (every pack read) finds nothing wrong.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <gtest/gtest.h>
#include <map>
#include <thread>

#include "fs/backup.h"
#include "fs/check.h"
#include "fs/gc.h"
#include "objects/dir_store.h"
#include "objects/prefix_store.h"
#include "pool/pool.h"
#include "testing/pool_fixture.h"
#include "testing/repo_fixture.h"
#include "testing/temp_dir.h"
#include "testing/tree_gen.h"
#include "util/file.h"
#include "util/random.h"

namespace lares {
namespace {

using testing::TempDir;
using Clock = std::chrono::steady_clock;

// Rounds go on until this many were cut short by the kill (at most twice as
// many rounds), each at a random moment of a run.
constexpr int kKills = 30;

using testing::join_lines;

// The repository under test: a folder, or the pool's "repo/" objects.
class Target {
 public:
  Target(const TempDir& dir, bool on_pool) : dir_(dir), on_pool_(on_pool) {
    for (int i = 0; i < 4; ++i) devices_.push_back(dir.sub("dev" + std::to_string(i)));
  }

  Status create() {
    if (on_pool_) {
      RETURN_IF_ERROR(Pool::create("tank", 1, devices_).status());
    } else {
      RETURN_IF_ERROR(DirStore::open(dir_.sub("repo"), CreateIfMissing::kYes).status());
    }
    RETURN_IF_ERROR(open_store());
    InitOptions o;
    o.argon2 = kArgon2ForTests;
    o.pack_size_bytes = 1 << 20;
    o.chunker.size_bytes_min = 16 << 10;
    o.chunker.size_bytes_avg = 64 << 10;
    o.chunker.size_bytes_max = 256 << 10;
    ASSIGN_OR_RETURN(auto repo, Repository::init(*store_, "pw", o, nullptr));
    close();
    return Status::ok();
  }

  Result<Repository*> open() {
    RETURN_IF_ERROR(open_store());
    Unlock u;
    u.passphrase = "pw";
    ASSIGN_OR_RETURN(repo_, Repository::open(*store_, u));
    return repo_.get();
  }

  void close() {
    repo_.reset();
    store_.reset();
    prefix_.reset();
    pool_.reset();
  }

 private:
  Status open_store() {
    close();
    if (on_pool_) {
      ASSIGN_OR_RETURN(pool_, Pool::open(devices_));
      prefix_ = std::make_unique<PrefixStore>(*pool_, "repo/");
      store_ = std::move(prefix_);
      return Status::ok();
    }
    ASSIGN_OR_RETURN(auto dir, DirStore::open(dir_.sub("repo"), CreateIfMissing::kNo));
    store_ = std::move(dir);
    return Status::ok();
  }

  const TempDir& dir_;
  bool on_pool_;
  std::vector<std::string> devices_;
  std::unique_ptr<Pool> pool_;
  std::unique_ptr<PrefixStore> prefix_;
  std::unique_ptr<ObjectStore> store_;
  std::unique_ptr<Repository> repo_;
};

class RepoCrashTest : public ::testing::TestWithParam<bool> {
 protected:
  RepoCrashTest() : target_(dir_, GetParam()) {}

  // Runs `body` in a child process and SIGKILLs it after `kill_after`
  // (unless it ends first). Returns true if it was killed; otherwise records
  // how long it took in last_run_, so the next kill lands inside a run.
  bool run_killed(const std::function<void()>& body, std::chrono::microseconds kill_after) {
    target_.close();
    auto started = Clock::now();
    pid_t pid = ::fork();
    if (pid == 0) {
      body();
      std::_Exit(0);
    }
    auto deadline = Clock::now() + kill_after;
    int status = 0;
    while (Clock::now() < deadline) {
      if (::waitpid(pid, &status, WNOHANG) == pid) {
        EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child failed";
        last_run_ = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started);
        return false;
      }
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    return true;
  }

  // Every snapshot that exists restores to its reference copy; the check
  // reads every pack and finds nothing.
  void verify_all(const std::string& label) {
    auto repo = target_.open();
    ASSERT_TRUE(repo.is_ok()) << label << ": " << repo.status().message();
    auto snaps = (*repo)->list_snapshots("home");
    ASSERT_TRUE(snaps.is_ok()) << snaps.status().message();
    for (const auto& s : *snaps) {
      ASSERT_TRUE(refs_.count(s.name)) << label << ": unexpected snapshot " << s.name;
      std::string out = dir_.sub("restore");
      ASSERT_EQ(std::system(("rm -rf '" + out + "'").c_str()), 0);
      auto restored = restore(**repo, s, out, {});
      ASSERT_TRUE(restored.is_ok()) << label << " " << s.name << ": " << restored.status().message();
      auto diffs = testing::compare_trees(refs_[s.name], out);
      ASSERT_TRUE(diffs.empty()) << label << " " << s.name << ":\n" << join_lines(diffs);
    }
    CheckOptions all;
    all.read_data = true;
    auto report = check_repository(**repo, all);
    ASSERT_TRUE(report.is_ok()) << report.status().message();
    EXPECT_TRUE(report->problems.empty()) << label << ":\n" << join_lines(report->problems);
  }

  // Copies the source as it is now, as the reference of snapshot `name`.
  void keep_reference(const std::string& name) {
    std::string ref = dir_.sub("ref-" + name);
    ASSERT_EQ(std::system(("cp -a '" + dir_.sub("src") + "' '" + ref + "'").c_str()), 0);
    refs_[name] = ref;
  }

  void backup_now(const std::string& name) {
    auto repo = target_.open();
    ASSERT_TRUE(repo.is_ok()) << repo.status().message();
    BackupOptions o;
    o.dataset = "home";
    o.name = name;
    o.threads = 2;
    auto r = backup(**repo, dir_.sub("src"), o);
    ASSERT_TRUE(r.is_ok()) << r.status().message();
    target_.close();
  }

  TempDir dir_;
  Target target_;
  std::map<std::string, std::string> refs_;  // snapshot name -> reference copy
  std::chrono::microseconds last_run_{0};
};

TEST_P(RepoCrashTest, KillDuringBackup) {
  ASSERT_TRUE(target_.create().is_ok());
  testing::TreeSpec spec;
  spec.seed = testing::test_seed(21);
  spec.random_files = 10;
  spec.large_file_bytes = 3 << 20;
  ASSERT_TRUE(testing::generate_tree(dir_.sub("src"), spec).is_ok());
  keep_reference("s0");
  backup_now("s0");
  SeededRandom random(testing::test_seed(22));
  int killed = 0;
  last_run_ = std::chrono::seconds(1);
  for (int round = 1; killed < kKills && round <= 2 * kKills; ++round) {
    ASSERT_TRUE(testing::mutate_tree(dir_.sub("src"), random.next(), 10).is_ok());
    const std::string name = "s" + std::to_string(round);
    keep_reference(name);
    auto kill_after = std::chrono::microseconds(random.uniform(last_run_.count() * 6 / 5 + 1));
    killed += run_killed(
        [&] {
          auto repo = target_.open();
          if (!repo.is_ok()) std::_Exit(2);
          BackupOptions o;
          o.dataset = "home";
          o.name = name;
          o.threads = 2;
          std::_Exit(backup(**repo, dir_.sub("src"), o).is_ok() ? 0 : 3);
        },
        kill_after);
    // Every few rounds, and at the end, restore everything and read all packs.
    if (round % 10 == 0) verify_all("round " + std::to_string(round));
    if (HasFatalFailure()) return;
  }
  EXPECT_GE(killed, kKills) << "too few rounds were cut short";
  // A backup after all that still works and dedups against what landed.
  const std::string last = "final";
  keep_reference(last);
  backup_now(last);
  verify_all("final");
}

TEST_P(RepoCrashTest, KillDuringGc) {
  ASSERT_TRUE(target_.create().is_ok());
  testing::TreeSpec spec;
  spec.seed = testing::test_seed(31);
  spec.random_files = 8;
  spec.large_file_bytes = 2 << 20;
  ASSERT_TRUE(testing::generate_tree(dir_.sub("src"), spec).is_ok());
  SeededRandom random(testing::test_seed(32));
  int killed = 0;
  int next = 0;
  last_run_ = std::chrono::seconds(1);
  for (int round = 1; killed < kKills && round <= 2 * kKills; ++round) {
    // Two new snapshots of a changing tree, then forget some old ones.
    for (int k = 0; k < 2; ++k) {
      ASSERT_TRUE(testing::mutate_tree(dir_.sub("src"), random.next(), 25).is_ok());
      const std::string name = "g" + std::to_string(next++);
      keep_reference(name);
      backup_now(name);
      if (HasFatalFailure()) return;
    }
    {
      auto repo = target_.open();
      ASSERT_TRUE(repo.is_ok());
      auto snaps = (*repo)->list_snapshots("home");
      ASSERT_TRUE(snaps.is_ok());
      for (size_t i = 0; i + 2 < snaps->size(); ++i) {
        if (random.uniform(2) == 0) {
          ASSERT_TRUE((*repo)->remove_snapshot((*snaps)[i].id).is_ok());
          refs_.erase((*snaps)[i].name);
        }
      }
      target_.close();
    }
    killed += run_killed(
        [&] {
          auto repo = target_.open();
          if (!repo.is_ok()) std::_Exit(2);
          GcOptions o;
          o.repack_unused = 0.2;
          std::_Exit(collect_garbage(**repo, o).is_ok() ? 0 : 3);
        },
        std::chrono::microseconds(random.uniform(last_run_.count() * 6 / 5 + 1)));
    if (round % 10 == 0) verify_all("gc round " + std::to_string(round));
    if (HasFatalFailure()) return;
  }
  EXPECT_GE(killed, kKills) << "too few rounds were cut short";
  // An uncut gc finishes the work and leaves no garbage behind.
  auto repo = target_.open();
  ASSERT_TRUE(repo.is_ok());
  auto done = collect_garbage(**repo, {});
  ASSERT_TRUE(done.is_ok()) << done.status().message();
  GcOptions dry_run;
  dry_run.dry_run = true;
  auto again = collect_garbage(**repo, dry_run);
  ASSERT_TRUE(again.is_ok());
  EXPECT_EQ(again->packs_deleted + again->orphan_packs, 0u);
  target_.close();
  verify_all("final");
}

INSTANTIATE_TEST_SUITE_P(Backends, RepoCrashTest, ::testing::Values(false, true),
                         [](const auto& p) { return p.param ? "Pool" : "Folder"; });

}  // namespace
}  // namespace lares
