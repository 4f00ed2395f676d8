// Space accounting of live datasets: a snapshot's unique bytes are exactly
// what destroying it and running gc frees; referenced and used-by-snapshots
// follow the versions' contents; clones share.
#include "fs/live_space.h"

#include <sys/stat.h>

#include <gtest/gtest.h>

#include <random>

#include "fs/dataset.h"
#include "fs/gc.h"
#include "fs/live_fs.h"
#include "fs/live_snapshots.h"
#include "testing/live_fixture.h"

namespace lares {
namespace {

std::string random_text(size_t size, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string out(size, '\0');
  for (auto& c : out) c = static_cast<char>(rng());
  return out;
}

class LiveSpaceTest : public testing::LiveDatasetTest {
 protected:
  uint64_t make_file(const std::string& name, const std::string& content) {
    LiveAttr a;
    EXPECT_EQ(fs_->mknod(kRootIno, name, S_IFREG | 0644, 0, Caller{}, &a), 0);
    EXPECT_EQ(fs_->write(a.ino, 0, as_bytes(content), false, nullptr), 0);
    return a.ino;
  }
  void snapshot(const std::string& name) {
    ASSERT_TRUE(fs_->sync().is_ok());
    ASSERT_TRUE(create_live_snapshot(*repo_, fs_->head(), name).is_ok());
  }
  // Stored bytes of every blob the index names (after a full gc: the live ones).
  uint64_t indexed_bytes() {
    uint64_t total = 0;
    for (const auto& pack : repo_->index_packs()) {
      for (const auto& e : pack.entries) total += e.sealed_length;
    }
    return total;
  }
  // gc that rewrites every pack holding anything dead.
  void full_gc() {
    GcOptions options;
    options.repack_unused = 1e-9;
    auto report = collect_garbage(*repo_, options);
    ASSERT_TRUE(report.is_ok()) << report.status().to_string();
  }
};

TEST_F(LiveSpaceTest, DestroyingASnapshotFreesExactlyItsUniqueBytes) {
  const uint64_t a = make_file("a", random_text(200 << 10, 1));
  make_file("shared", random_text(300 << 10, 2));
  snapshot("s1");
  ASSERT_EQ(fs_->write(a, 0, as_bytes(random_text(200 << 10, 3)), false, nullptr), 0);
  snapshot("s2");
  make_file("later", random_text(100 << 10, 4));
  ASSERT_TRUE(fs_->sync().is_ok());

  auto space = dataset_space(*repo_, "live");
  ASSERT_TRUE(space.is_ok()) << space.status().to_string();
  const VersionSpace s1 = space->snapshots.at("s1");
  const VersionSpace s2 = space->snapshots.at("s2");
  // s1 alone holds a's first content; s2's content of a is the head's too.
  EXPECT_GE(s1.unique_bytes, uint64_t{200} << 10);
  EXPECT_LT(s1.unique_bytes, uint64_t{220} << 10);
  EXPECT_LT(s2.unique_bytes, uint64_t{16} << 10);  // a few tree nodes at most
  EXPECT_GE(s1.referenced_bytes, uint64_t{500} << 10);
  EXPECT_GE(space->head.referenced_bytes, uint64_t{600} << 10);
  EXPECT_GE(space->used_by_snapshots_bytes, s1.unique_bytes);

  fs_.reset();
  full_gc();  // only what some version holds is left
  const uint64_t before = indexed_bytes();
  auto snap = repo_->find_snapshot("live", "s1");
  ASSERT_TRUE(snap.is_ok());
  ASSERT_TRUE(repo_->remove_snapshot(snap->id).is_ok());
  full_gc();
  EXPECT_EQ(before - indexed_bytes(), s1.unique_bytes);
}

TEST_F(LiveSpaceTest, AClonesDataIsNotUniqueToItsOrigin) {
  make_file("f", random_text(128 << 10, 5));
  snapshot("base");
  fs_.reset();
  auto snap = repo_->find_snapshot("live", "base");
  ASSERT_TRUE(snap.is_ok());
  DatasetHead clone;
  clone.name = "copy";
  clone.root = snap->tree;
  clone.next_ino = snap->next_ino;
  ASSERT_TRUE(datasets_->create(clone).is_ok());
  // The origin's head and snapshot and the clone all hold the file: unique
  // to none of them.
  auto space = dataset_space(*repo_, "live");
  ASSERT_TRUE(space.is_ok()) << space.status().to_string();
  EXPECT_EQ(space->snapshots.at("base").unique_bytes, 0u);
  EXPECT_EQ(space->head.unique_bytes, 0u);
  EXPECT_EQ(dataset_space(*repo_, "nothing").status().code(), Code::kNotFound);
}

}  // namespace
}  // namespace lares
