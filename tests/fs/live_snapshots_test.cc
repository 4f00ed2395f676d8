// Live snapshots: taking them by name, and the automatic schedule (taken at
// most hourly while the dataset changes, pruned to hourly/daily/weekly/
// monthly counts, hand-made snapshots never pruned), driven by a fake clock.
#include "fs/live_snapshots.h"

#include <sys/stat.h>

#include <gtest/gtest.h>

#include <set>

#include "testing/live_fixture.h"

namespace lares {
namespace {

constexpr int64_t kHour = int64_t{3600} * 1000000000;
// 2026-11-02 00:00:00 UTC, a Monday.
constexpr int64_t kStart = int64_t{1793577600} * 1000000000;

class LiveSnapshotsTest : public testing::LiveDatasetTest {
 protected:
  void SetUp() override {
    LiveDatasetTest::SetUp();
    LiveAttr a;
    ASSERT_EQ(fs_->mknod(kRootIno, "f", S_IFREG | 0644, 0, Caller{}, &a), 0);
    file_ = a.ino;
  }
  void change(int n) {
    std::string text = "version " + std::to_string(n);
    ASSERT_EQ(fs_->write(file_, 0, as_bytes(text), false, nullptr), 0);
  }
  std::vector<std::string> names() {
    auto snaps = repo_->list_snapshots("live");
    EXPECT_TRUE(snaps.is_ok());
    std::vector<std::string> out;
    for (const auto& s : *snaps) out.push_back(s.name);
    return out;
  }

  uint64_t file_ = 0;
};

TEST_F(LiveSnapshotsTest, NamedSnapshotsAreUniqueAndNeedACommittedHead) {
  ASSERT_TRUE(fs_->sync().is_ok());
  ASSERT_TRUE(create_live_snapshot(*repo_, fs_->head(), "one").is_ok());
  EXPECT_EQ(create_live_snapshot(*repo_, fs_->head(), "one").code(), Code::kAlreadyExists);
  EXPECT_EQ(create_live_snapshot(*repo_, fs_->head(), "-bad").code(), Code::kInvalidArgument);
  DatasetHead never;
  never.name = "other";
  EXPECT_EQ(create_live_snapshot(*repo_, never, "x").code(), Code::kFailedPrecondition);
}

TEST_F(LiveSnapshotsTest, AtMostOnePerHourAndOnlyWhenChanged) {
  change(1);
  auto r = run_snapshot_schedule(*repo_, *fs_, SnapshotSchedule{}, kStart + 60'000'000'000, true);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(r->taken, "auto-2026-11-02T00:01:00Z");
  change(2);
  r = run_snapshot_schedule(*repo_, *fs_, SnapshotSchedule{}, kStart + 30 * 60'000'000'000, true);
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(r->taken, "");  // same hour
  r = run_snapshot_schedule(*repo_, *fs_, SnapshotSchedule{}, kStart + kHour, true);
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(r->taken, "auto-2026-11-02T01:00:00Z");
  r = run_snapshot_schedule(*repo_, *fs_, SnapshotSchedule{}, kStart + 2 * kHour, true);
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(r->taken, "");  // nothing changed since the last one
  SnapshotSchedule off;
  off.enabled = false;
  change(3);
  r = run_snapshot_schedule(*repo_, *fs_, off, kStart + 3 * kHour, true);
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(r->taken, "");
  EXPECT_EQ(names().size(), 2u);
}

// Ten weeks of hourly changes under the default schedule: what remains is
// exactly the newest of each of the last 24 hours, 7 days, 4 weeks and 12
// months, and the hand-made snapshot.
TEST_F(LiveSnapshotsTest, PruningKeepsTheScheduledCounts) {
  ASSERT_TRUE(fs_->sync().is_ok());
  ASSERT_TRUE(create_live_snapshot(*repo_, fs_->head(), "by-hand").is_ok());
  const int hours = 10 * 7 * 24;
  size_t pruned = 0;
  for (int h = 0; h < hours; ++h) {
    change(h);
    auto r = run_snapshot_schedule(*repo_, *fs_, SnapshotSchedule{}, kStart + h * kHour + 5, true);
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    ASSERT_FALSE(r->taken.empty()) << "hour " << h;
    pruned += r->pruned.size();
  }
  const std::vector<std::string> left = names();
  ASSERT_TRUE(std::find(left.begin(), left.end(), "by-hand") != left.end());
  std::set<std::string> autos(left.begin(), left.end());
  autos.erase("by-hand");
  // The last 24 hours; then one per day for 6 more days (the newest day is
  // among the hours); then one per ISO week for 3 more weeks; months: the
  // two months touched add at most what the weeks do not cover.
  EXPECT_GE(autos.size(), 24u + 6u + 3u);
  EXPECT_LE(autos.size(), 24u + 6u + 3u + 2u);
  EXPECT_EQ(pruned + autos.size(), static_cast<size_t>(hours));
  // The newest 24 are the last 24 hours.
  auto newest = std::prev(autos.end());
  EXPECT_EQ(*newest, "auto-2027-01-10T23:00:00Z");
}

}  // namespace
}  // namespace lares
