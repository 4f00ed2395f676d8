// Backup and restore round trips over generated trees with every file type
// and attribute; incremental backups; restore options; check.
#include "fs/backup.h"

#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "fs/check.h"
#include "objects/dir_store.h"
#include "objects/prefix_store.h"
#include "pool/pool.h"
#include "testing/pool_fixture.h"
#include "testing/repo_fixture.h"
#include "testing/temp_dir.h"
#include "testing/tree_gen.h"
#include "util/file.h"

namespace lares {
namespace {

using testing::TempDir;

using testing::join_lines;

class BackupTest : public testing::FolderRepoTest {
 protected:
  BackupTest() : FolderRepoTest(2 << 20) {}

  Result<BackupResult> run_backup(const std::string& name, BackupOptions options = {}) {
    options.dataset = "home";
    options.name = name;
    return backup(*repo_, dir_.sub("src"), options);
  }

  void expect_restores(const SnapshotRecord& snap, const std::string& expected,
                       const std::string& target, RestoreOptions options = {}) {
    auto result = restore(*repo_, snap, target, options);
    ASSERT_TRUE(result.is_ok()) << result.status().message();
    auto diffs = testing::compare_trees(expected, target);
    EXPECT_TRUE(diffs.empty()) << join_lines(diffs);
  }

};

TEST_F(BackupTest, RoundTripKeepsContentAndEveryAttribute) {
  testing::TreeSpec spec;
  spec.seed = testing::test_seed(11);
  auto bytes = testing::generate_tree(dir_.sub("src"), spec);
  ASSERT_TRUE(bytes.is_ok()) << bytes.status().message();
  auto first = run_backup("one");
  ASSERT_TRUE(first.is_ok()) << first.status().message();
  EXPECT_TRUE(first->skipped.empty()) << join_lines(first->skipped);
  EXPECT_GT(first->snapshot.files, 40u);
  expect_restores(first->snapshot, dir_.sub("src"), dir_.sub("out"));
  // Restore counts what the snapshot counts.
  auto again = restore(*repo_, first->snapshot, dir_.sub("out-counted"), {});
  ASSERT_TRUE(again.is_ok());
  EXPECT_EQ(again->files, first->snapshot.files);
  EXPECT_EQ(again->dirs, first->snapshot.dirs);
  // The restored sparse file has its holes back.
  struct stat st{};
  ASSERT_EQ(::stat(dir_.sub("out/sparse.img").c_str(), &st), 0);
  EXPECT_LT(static_cast<uint64_t>(st.st_blocks) * 512, uint64_t{8} << 20);
}

TEST_F(BackupTest, UnchangedTreeIsNotReadAgainAndStoresAlmostNothing) {
  ASSERT_TRUE(testing::generate_tree(dir_.sub("src"), {}).is_ok());
  auto first = run_backup("one");
  ASSERT_TRUE(first.is_ok()) << first.status().message();
  auto second = run_backup("two");
  ASSERT_TRUE(second.is_ok()) << second.status().message();
  EXPECT_EQ(second->files_read, 0u);
  EXPECT_EQ(second->snapshot.new_bytes_stored, 0u);
  EXPECT_EQ(second->snapshot.tree, first->snapshot.tree);
  EXPECT_EQ(second->snapshot.parent, first->snapshot.id);
}

TEST_F(BackupTest, IncrementalAfterChangesRestoresEveryVersion) {
  ASSERT_TRUE(testing::generate_tree(dir_.sub("src"), {}).is_ok());
  auto first = run_backup("one");
  ASSERT_TRUE(first.is_ok());
  expect_restores(first->snapshot, dir_.sub("src"), dir_.sub("v1"));
  ASSERT_TRUE(testing::mutate_tree(dir_.sub("src"), 5, 20).is_ok());
  auto second = run_backup("two");
  ASSERT_TRUE(second.is_ok()) << second.status().message();
  EXPECT_GT(second->files_read, 0u);
  EXPECT_LT(second->files_read, first->snapshot.files);
  EXPECT_LT(second->snapshot.new_bytes_stored, first->snapshot.new_bytes_stored / 2);
  expect_restores(second->snapshot, dir_.sub("src"), dir_.sub("v2"));
  // The first version is still whole.
  expect_restores(first->snapshot, dir_.sub("v1"), dir_.sub("v1-again"));
}

TEST_F(BackupTest, ExcludesLeaveEntriesOut) {
  ASSERT_TRUE(testing::generate_tree(dir_.sub("src"), {}).is_ok());
  BackupOptions o;
  o.excludes = {"*.jpg", "/dir0/dir*"};
  auto r = run_backup("one", o);
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  auto out = restore(*repo_, r->snapshot, dir_.sub("out"), {});
  ASSERT_TRUE(out.is_ok()) << out.status().message();
  auto diffs = testing::compare_trees(dir_.sub("src"), dir_.sub("out"), {.dir_mtime = false});
  ASSERT_FALSE(diffs.empty());
  for (const auto& d : diffs) {
    bool expected = d.find(".jpg: only in") != std::string::npos ||
                    d.find("dir0/dir") == 0 || d.find(": mtime differs") != std::string::npos;
    EXPECT_TRUE(expected) << d;
  }
}

TEST_F(BackupTest, VanishedFileIsReportedAndSkipped) {
  ASSERT_TRUE(make_dirs(dir_.sub("src/a_dir")).is_ok());
  ASSERT_TRUE(write_file_atomic(dir_.sub("src/b_file"), as_bytes("bye")).is_ok());
  ASSERT_TRUE(write_file_atomic(dir_.sub("src/c_file"), as_bytes("stays")).is_ok());
  BackupOptions o;
  // Called as the walker enters each folder; the second call is a_dir, after
  // the root was listed: b_file vanishes between the listing and its turn.
  int calls = 0;
  o.keep_going = [&] {
    if (++calls == 2) (void)::unlink(dir_.sub("src/b_file").c_str());
    return true;
  };
  auto r = run_backup("one", o);
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  ASSERT_EQ(r->skipped.size(), 1u);
  EXPECT_EQ(r->skipped[0].rfind("b_file: ", 0), 0u) << r->skipped[0];
  auto out = restore(*repo_, r->snapshot, dir_.sub("out"), {});
  ASSERT_TRUE(out.is_ok());
  auto c = read_file(dir_.sub("out/c_file"));
  ASSERT_TRUE(c.is_ok());
  EXPECT_EQ(std::string(as_chars(*c)), "stays");
}

TEST_F(BackupTest, RestoreRefusesANonEmptyTargetUnlessOverwrite) {
  ASSERT_TRUE(testing::generate_tree(dir_.sub("src"), {.specials = false}).is_ok());
  auto r = run_backup("one");
  ASSERT_TRUE(r.is_ok());
  ASSERT_TRUE(make_dirs(dir_.sub("out")).is_ok());
  ASSERT_TRUE(write_file_atomic(dir_.sub("out/keep"), as_bytes("mine")).is_ok());
  auto refused = restore(*repo_, r->snapshot, dir_.sub("out"), {});
  ASSERT_FALSE(refused.is_ok());
  EXPECT_EQ(refused.status().code(), Code::kAlreadyExists);
  EXPECT_NE(refused.status().message().find("--overwrite"), std::string::npos);
  RestoreOptions o;
  o.overwrite = true;
  ASSERT_TRUE(restore(*repo_, r->snapshot, dir_.sub("out"), o).is_ok());
  ASSERT_TRUE(::unlink(dir_.sub("out/keep").c_str()) == 0);
  auto diffs = testing::compare_trees(dir_.sub("src"), dir_.sub("out"), {.dir_mtime = false});
  EXPECT_TRUE(diffs.empty()) << join_lines(diffs);
}

TEST_F(BackupTest, RestoreOfOnePath) {
  ASSERT_TRUE(testing::generate_tree(dir_.sub("src"), {.specials = false}).is_ok());
  auto r = run_backup("one");
  ASSERT_TRUE(r.is_ok());
  RestoreOptions o;
  o.path = "dir0";
  expect_restores(r->snapshot, dir_.sub("src/dir0"), dir_.sub("out"), o);
  o.path = "nope/x";
  EXPECT_EQ(restore(*repo_, r->snapshot, dir_.sub("out2"), o).status().code(), Code::kNotFound);
}

TEST_F(BackupTest, CheckFindsDamageAndNamesFilesAndSnapshots) {
  ASSERT_TRUE(testing::generate_tree(dir_.sub("src"), {.specials = false}).is_ok());
  auto r = run_backup("one");
  ASSERT_TRUE(r.is_ok());
  CheckOptions read_all;
  read_all.read_data = true;
  auto clean = check_repository(*repo_, read_all);
  ASSERT_TRUE(clean.is_ok()) << clean.status().message();
  EXPECT_TRUE(clean->problems.empty()) << join_lines(clean->problems);
  EXPECT_EQ(clean->snapshots, 1u);
  EXPECT_GT(clean->packs_read, 0u);

  // Damage the largest pack (it holds file data, not only trees).
  auto packs = store_->list("packs/");
  ASSERT_TRUE(packs.is_ok());
  std::string biggest;
  uint64_t size = 0;
  for (const auto& p : *packs) {
    if (*store_->size(p) > size) size = *store_->size(p), biggest = p;
  }
  std::string path = dir_.sub("repo") + "/" + biggest;
  auto bytes = read_file(path);
  ASSERT_TRUE(bytes.is_ok());
  (*bytes)[bytes->size() / 2] ^= 0x40;
  ASSERT_TRUE(write_file_atomic(path, *bytes).is_ok());

  auto damaged = check_repository(*repo_, read_all);
  ASSERT_TRUE(damaged.is_ok());
  ASSERT_FALSE(damaged->problems.empty());
  bool names_file = false;
  for (const auto& p : damaged->problems) {
    if (p.find(" in home@one") != std::string::npos) names_file = true;
  }
  EXPECT_TRUE(names_file) << join_lines(damaged->problems);
  // Restore fails with an error naming the snapshot; it never writes wrong bytes.
  auto out = restore(*repo_, r->snapshot, dir_.sub("out"), {});
  ASSERT_FALSE(out.is_ok());
  EXPECT_NE(out.status().message().find("home@one"), std::string::npos) << out.status().message();
}

TEST(BackupOnPoolTest, RoundTripAndSelfHealUnderTheRepository) {
  TempDir dir;
  std::vector<std::string> devices;
  for (int i = 0; i < 4; ++i) devices.push_back(dir.sub("d" + std::to_string(i)));
  auto pool = Pool::create("tank", 1, devices);
  ASSERT_TRUE(pool.is_ok());
  PrefixStore store(**pool, "repo/");
  auto repo = Repository::init(store, "pw", testing::fast_init_options(), nullptr);
  ASSERT_TRUE(repo.is_ok());
  ASSERT_TRUE(testing::generate_tree(dir.sub("src"), {}).is_ok());
  BackupOptions b;
  b.dataset = "home";
  auto r = backup(**repo, dir.sub("src"), b);
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  for (const auto& f : testing::shard_files(devices[2])) testing::flip_bit(f, 4096 * 8 + 77);
  auto out = restore(**repo, r->snapshot, dir.sub("out"), {});
  ASSERT_TRUE(out.is_ok()) << out.status().message();
  auto diffs = testing::compare_trees(dir.sub("src"), dir.sub("out"));
  EXPECT_TRUE(diffs.empty()) << join_lines(diffs);
}

}  // namespace
}  // namespace lares
