// gc frees what no snapshot needs and keeps everything else; retention
// decisions; snapshot diff.
#include "fs/gc.h"

#include <gtest/gtest.h>

#include "fs/backup.h"
#include "fs/check.h"
#include "objects/dir_store.h"
#include "testing/repo_fixture.h"
#include "testing/temp_dir.h"
#include "testing/tree_gen.h"
#include "util/file.h"

namespace lares {
namespace {

using testing::TempDir;

using testing::join_lines;

uint64_t folder_bytes(const std::string& root) {
  uint64_t total = 0;
  auto names = list_dir(root);
  if (!names.is_ok()) return 0;
  for (const auto& n : *names) {
    std::string p = root + "/" + n;
    if (is_directory(p)) {
      total += folder_bytes(p);
    } else {
      auto size = file_size(p);
      if (size.is_ok()) total += *size;
    }
  }
  return total;
}

CheckOptions read_all() {
  CheckOptions o;
  o.read_data = true;
  return o;
}

class GcTest : public testing::FolderRepoTest {
 protected:

  SnapshotRecord backup_as(const std::string& name) {
    BackupOptions o;
    o.dataset = "home";
    o.name = name;
    auto r = backup(*repo_, dir_.sub("src"), o);
    EXPECT_TRUE(r.is_ok()) << r.status().message();
    return r.is_ok() ? r->snapshot : SnapshotRecord{};
  }

};

TEST_F(GcTest, FreesForgottenDataAndKeepsTheRest) {
  testing::TreeSpec spec;
  spec.large_file_bytes = 8 << 20;
  ASSERT_TRUE(testing::generate_tree(dir_.sub("src"), spec).is_ok());
  SnapshotRecord first = backup_as("one");
  ASSERT_EQ(std::system(("cp -a '" + dir_.sub("src") + "' '" + dir_.sub("ref1") + "'").c_str()), 0);
  // Replace most of the data: delete the big file and the photos.
  ASSERT_EQ(std::system(("find '" + dir_.sub("src") + "' -name '*.mkv' -delete -o -name '*.jpg' -delete").c_str()), 0);
  ASSERT_TRUE(testing::generate_tree(dir_.sub("src/new"), {.seed = 99, .specials = false}).is_ok());
  SnapshotRecord second = backup_as("two");
  uint64_t before = folder_bytes(dir_.sub("repo/packs"));

  // Nothing forgotten: gc frees nothing.
  auto idle = collect_garbage(*repo_, {});
  ASSERT_TRUE(idle.is_ok()) << idle.status().message();
  EXPECT_EQ(idle->packs_deleted + idle->packs_repacked, 0u);

  ASSERT_TRUE(repo_->remove_snapshot(first.id).is_ok());
  GcOptions dry_run;
  dry_run.dry_run = true;
  auto dry = collect_garbage(*repo_, dry_run);
  ASSERT_TRUE(dry.is_ok());
  EXPECT_GT(dry->bytes_freed, uint64_t{4} << 20);
  EXPECT_EQ(folder_bytes(dir_.sub("repo/packs")), before);  // a dry run changes nothing

  auto done = collect_garbage(*repo_, {});
  ASSERT_TRUE(done.is_ok()) << done.status().message();
  uint64_t after = folder_bytes(dir_.sub("repo/packs"));
  EXPECT_LT(after + (uint64_t{4} << 20), before);
  EXPECT_EQ(done->bytes_freed, dry->bytes_freed);

  // What stays restores, from this handle and from a fresh open.
  auto out = restore(*repo_, second, dir_.sub("out"), {});
  ASSERT_TRUE(out.is_ok()) << out.status().message();
  EXPECT_TRUE(testing::compare_trees(dir_.sub("src"), dir_.sub("out")).empty());
  auto fresh = reopen();
  ASSERT_TRUE(fresh.is_ok());
  auto report = check_repository(**fresh, read_all());
  ASSERT_TRUE(report.is_ok());
  EXPECT_TRUE(report->problems.empty()) << join_lines(report->problems);
  // Dead blobs may stay in packs that are mostly live; with every pack that
  // holds any dead byte rewritten, nothing of the forgotten snapshot is left.
  GcOptions thorough;
  thorough.repack_unused = 1e-9;
  auto all = collect_garbage(**fresh, thorough);
  ASSERT_TRUE(all.is_ok()) << all.status().message();
  EXPECT_FALSE((*fresh)->find_blob(first.tree).has_value());
  auto again = reopen();
  ASSERT_TRUE(again.is_ok());
  EXPECT_FALSE((*again)->find_blob(first.tree).has_value());
  auto rechecked = check_repository(**again, read_all());
  ASSERT_TRUE(rechecked.is_ok());
  EXPECT_TRUE(rechecked->problems.empty()) << join_lines(rechecked->problems);
  out = restore(**again, second, dir_.sub("out2"), {});
  ASSERT_TRUE(out.is_ok()) << out.status().message();
  EXPECT_TRUE(testing::compare_trees(dir_.sub("src"), dir_.sub("out2")).empty());
}

TEST_F(GcTest, RefusesWhenASnapshotNeedsSomethingTheIndexLacks) {
  ASSERT_TRUE(testing::generate_tree(dir_.sub("src"), {.specials = false}).is_ok());
  backup_as("one");
  auto segments = store_->list("index/");
  ASSERT_TRUE(segments.is_ok());
  for (const auto& s : *segments) ASSERT_TRUE(store_->remove(s).is_ok());
  auto fresh = reopen();
  ASSERT_TRUE(fresh.is_ok());
  auto packs_before = store_->list("packs/");
  auto gc = collect_garbage(**fresh, {});
  ASSERT_FALSE(gc.is_ok());
  EXPECT_NE(gc.status().message().find("rebuild-index"), std::string::npos);
  EXPECT_EQ(*store_->list("packs/"), *packs_before);
}

TEST_F(GcTest, OrphanPacksOfAnInterruptedBackupGoUnlessNeeded) {
  ASSERT_TRUE(testing::generate_tree(dir_.sub("src"), {.specials = false}).is_ok());
  backup_as("one");
  // Blobs written and packed but never indexed nor referenced.
  Bytes junk(300000, 7);
  ASSERT_TRUE(repo_->add_blob(BlobType::kData, repo_->blob_id(junk), junk).is_ok());
  ASSERT_TRUE(repo_->flush().is_ok());
  // Drop the junk's index segment (the last written), as if the backup died
  // before writing it.
  ASSERT_TRUE(store_->remove(repo_->index_segments().back()).is_ok());
  auto fresh = reopen();
  ASSERT_TRUE(fresh.is_ok());
  auto gc = collect_garbage(**fresh, {});
  ASSERT_TRUE(gc.is_ok()) << gc.status().message();
  EXPECT_EQ(gc->orphan_packs, 1u);
  auto report = check_repository(**fresh, read_all());
  ASSERT_TRUE(report.is_ok());
  EXPECT_TRUE(report->problems.empty()) << join_lines(report->problems);
}

SnapshotRecord at(const std::string& name, const char* utc) {
  std::tm tm{};
  strptime(utc, "%Y-%m-%d %H:%M", &tm);
  SnapshotRecord r;
  r.name = name;
  r.time_ns = static_cast<int64_t>(timegm(&tm)) * 1000000000;
  return r;
}

TEST(RetentionTest, KeepsNewestPerBucket) {
  std::vector<SnapshotRecord> s = {
      at("a", "2026-01-01 10:00"), at("b", "2026-01-01 18:00"), at("c", "2026-01-02 09:00"),
      at("d", "2026-01-09 09:00"), at("e", "2026-02-01 09:00"), at("f", "2026-02-01 09:30"),
  };
  auto keep = [&](RetentionPolicy p) {
    std::string kept;
    auto d = apply_retention(s, p, /*utc=*/true);
    for (size_t i = 0; i < s.size(); ++i) kept += d[i].keep ? s[i].name : "";
    return kept;
  };
  EXPECT_EQ(keep({.last = 2}), "ef");
  EXPECT_EQ(keep({.daily = 3}), "cdf");
  EXPECT_EQ(keep({.daily = 10}), "bcdf");
  EXPECT_EQ(keep({.monthly = 2}), "df");
  EXPECT_EQ(keep({.yearly = 1}), "f");
  EXPECT_EQ(keep({.hourly = 2}), "df");
  EXPECT_EQ(keep({.weekly = 2}), "df");
  EXPECT_EQ(keep({.last = 1, .monthly = 2}), "df");
  auto d = apply_retention(s, {.last = 1, .daily = 1}, true);
  EXPECT_EQ(d[5].reasons, (std::vector<std::string>{"last", "daily"}));
}

TEST_F(GcTest, DiffNamesAddedRemovedAndModified) {
  ASSERT_TRUE(make_dirs(dir_.sub("src/sub")).is_ok());
  ASSERT_TRUE(write_file_atomic(dir_.sub("src/keep"), as_bytes("same")).is_ok());
  ASSERT_TRUE(write_file_atomic(dir_.sub("src/change"), as_bytes("v1")).is_ok());
  ASSERT_TRUE(write_file_atomic(dir_.sub("src/sub/gone"), as_bytes("x")).is_ok());
  SnapshotRecord a = backup_as("a");
  ASSERT_TRUE(write_file_atomic(dir_.sub("src/change"), as_bytes("v2")).is_ok());
  ASSERT_EQ(::unlink(dir_.sub("src/sub/gone").c_str()), 0);
  ASSERT_TRUE(write_file_atomic(dir_.sub("src/sub/new"), as_bytes("n")).is_ok());
  SnapshotRecord b = backup_as("b");
  auto diff = diff_trees(*repo_, a.tree, b.tree);
  ASSERT_TRUE(diff.is_ok()) << diff.status().message();
  std::string text;
  for (const auto& d : *diff) text += std::string(1, d.change) + " " + d.path + "\n";
  EXPECT_NE(text.find("M /change\n"), std::string::npos) << text;
  EXPECT_NE(text.find("- /sub/gone\n"), std::string::npos) << text;
  EXPECT_NE(text.find("+ /sub/new\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("/keep"), std::string::npos) << text;
  auto none = diff_trees(*repo_, b.tree, b.tree);
  ASSERT_TRUE(none.is_ok());
  EXPECT_TRUE(none->empty());
}

}  // namespace
}  // namespace lares
