// Device lifecycle: add, replace (of a dead and of a healthy device, with
// writes going on), remove (evacuate and restripe), import after a
// reinstall, and the scrub cursor and throttle.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <thread>

#include "pool/pool.h"
#include "testing/pool_fixture.h"
#include "testing/temp_dir.h"
#include "util/random.h"

namespace lares {
namespace {

using testing::TempDir;

class LifecycleTest : public ::testing::Test {
 protected:
  std::unique_ptr<Pool> create(int devices, int redundancy) {
    for (int i = 0; i < devices; ++i) dirs_.push_back(tmp_.sub("d" + std::to_string(i)));
    auto pool = Pool::create("life", redundancy, dirs_);
    EXPECT_TRUE(pool.is_ok()) << pool.status().to_string();
    return std::move(pool).value();
  }
  void fill(Pool& pool, int count, uint64_t seed, size_t max_size) {
    SeededRandom random(seed);
    for (int i = 0; i < count; ++i) {
      std::string name = "f/" + std::to_string(seed) + "/" + std::to_string(i);
      Bytes data = testing::test_bytes(random.next(), 1 + random.uniform(max_size));
      ASSERT_TRUE(pool.put(name, data).is_ok());
      objects_[name] = std::move(data);
    }
  }
  void expect_all_readable(Pool& pool) {
    for (const auto& [name, data] : objects_) {
      auto got = pool.get(name);
      ASSERT_TRUE(got.is_ok()) << name << ": " << got.status().to_string();
      ASSERT_TRUE(*got == data) << name;
    }
  }
  // Every object has all k + r shards in place on distinct, present devices.
  void expect_fully_redundant(Pool& pool) {
    for (const auto& [name, data] : objects_) {
      auto layout = pool.layout(name);
      ASSERT_TRUE(layout.is_ok());
      std::set<std::string> ids;
      for (const auto& id : layout->device_ids) {
        EXPECT_FALSE(id.empty()) << name << " is missing a shard";
        ids.insert(id);
      }
      EXPECT_EQ(ids.size(), layout->device_ids.size()) << name;
    }
  }
  ScrubReport scrub(Pool& pool) {
    ScrubOptions options;
    options.restart = true;
    options.quiet = true;
    auto report = pool.scrub(options);
    EXPECT_TRUE(report.is_ok());
    return report.is_ok() ? *report : ScrubReport{};
  }

  TempDir tmp_;
  std::vector<std::string> dirs_;
  std::map<std::string, Bytes> objects_;
};

TEST_F(LifecycleTest, AddedDeviceTakesNewDataAtOnce) {
  auto pool = create(3, 1);
  fill(*pool, 10, 1, 300'000);
  uint64_t generation = pool->status().generation;
  ASSERT_TRUE(pool->add_devices({tmp_.sub("new")}).is_ok());
  EXPECT_EQ(pool->status().generation, generation + 1);
  EXPECT_EQ(pool->status().devices.size(), 4u);
  fill(*pool, 30, 2, 600'000);
  EXPECT_FALSE(testing::shard_files(tmp_.sub("new")).empty());
  EXPECT_EQ(pool->add_devices({dirs_[0]}).code(), Code::kAlreadyExists);
  pool.reset();
  // The new member is found from the labels even when only the old folders are named.
  auto reopened = Pool::open(dirs_);
  ASSERT_TRUE(reopened.is_ok());
  EXPECT_EQ((*reopened)->status().state, "ONLINE");
  EXPECT_EQ((*reopened)->status().devices.size(), 4u);
  expect_all_readable(**reopened);
}

// A device that was away while the pool changed comes back with an old
// label: the newer generation wins and the returning device is brought up
// to date instead of confusing the pool.
TEST_F(LifecycleTest, DeviceThatMissedAGenerationRejoins) {
  auto pool = create(4, 1);
  fill(*pool, 10, 11, 300'000);
  pool.reset();
  std::filesystem::rename(dirs_[3], tmp_.sub("away"));
  auto degraded = Pool::open({dirs_[0], dirs_[1], dirs_[2]});
  ASSERT_TRUE(degraded.is_ok());
  EXPECT_EQ((*degraded)->status().state, "DEGRADED");
  ASSERT_TRUE((*degraded)->add_devices({tmp_.sub("extra")}).is_ok());
  const uint64_t generation = (*degraded)->status().generation;
  degraded->reset();
  std::filesystem::rename(tmp_.sub("away"), dirs_[3]);
  // Opening through the stale device alone still finds the newest state.
  auto back = Pool::open({dirs_[3]});
  ASSERT_TRUE(back.is_ok()) << back.status().to_string();
  EXPECT_EQ((*back)->status().generation, generation);
  EXPECT_EQ((*back)->status().state, "ONLINE");
  EXPECT_EQ((*back)->status().devices.size(), 5u);
  expect_all_readable(**back);
  auto label = read_label(dirs_[3]);
  ASSERT_TRUE(label.is_ok());
  EXPECT_EQ(label->generation, generation) << "the returning device's label was not refreshed";
}

TEST_F(LifecycleTest, ReplaceADeadDeviceRestoresFullRedundancy) {
  auto pool = create(5, 2);
  fill(*pool, 25, 3, 800'000);
  pool.reset();
  std::filesystem::remove_all(dirs_[1]);
  auto degraded = Pool::open(dirs_);
  ASSERT_TRUE(degraded.is_ok());
  pool = std::move(degraded).value();
  EXPECT_EQ(pool->status().state, "DEGRADED");
  ASSERT_TRUE(pool->replace_device(dirs_[1], tmp_.sub("spare")).is_ok());
  auto status = pool->status();
  EXPECT_EQ(status.state, "ONLINE");
  EXPECT_EQ(status.devices.size(), 5u);
  expect_fully_redundant(*pool);
  expect_all_readable(*pool);
  auto report = scrub(*pool);
  EXPECT_EQ(report.errors_found, 0u);
  EXPECT_EQ(report.unrecoverable, 0u);
}

TEST_F(LifecycleTest, ReplaceAHealthyDeviceWhileWriting) {
  auto pool = create(4, 1);
  fill(*pool, 30, 4, 500'000);
  std::atomic<bool> stop{false};
  std::map<std::string, Bytes> written_during;
  std::thread writer([&] {
    for (int i = 0; !stop; ++i) {
      std::string name = "during/" + std::to_string(i);
      Bytes data = testing::test_bytes(1000 + static_cast<uint64_t>(i), 150'000);
      if (pool->put(name, data).is_ok()) written_during[name] = std::move(data);
      if (i % 3 == 0) (void)pool->get("f/4/1");
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  Status st = pool->replace_device(dirs_[2], tmp_.sub("fresh"));
  stop = true;
  writer.join();
  ASSERT_TRUE(st.is_ok()) << st.to_string();
  EXPECT_GT(written_during.size(), 0u);
  objects_.insert(written_during.begin(), written_during.end());
  EXPECT_FALSE(std::filesystem::exists(dirs_[2] + "/lares-label")) << "old device retired";
  expect_fully_redundant(*pool);
  expect_all_readable(*pool);
  EXPECT_EQ(scrub(*pool).errors_found, 0u);
  for (const auto& d : pool->status().devices) EXPECT_NE(d.path, dirs_[2]);
}

TEST_F(LifecycleTest, RemoveEvacuatesAndRestripes) {
  auto pool = create(5, 1);
  fill(*pool, 20, 5, 2'000'000);  // mostly 4+1 wide: removing forces narrower stripes
  ASSERT_TRUE(pool->remove_device(dirs_[4]).is_ok());
  EXPECT_EQ(pool->status().devices.size(), 4u);
  EXPECT_FALSE(std::filesystem::exists(dirs_[4] + "/lares-label"));
  EXPECT_TRUE(testing::shard_files(dirs_[4]).empty());
  expect_fully_redundant(*pool);
  expect_all_readable(*pool);
  EXPECT_EQ(scrub(*pool).errors_found, 0u);
  ASSERT_TRUE(pool->remove_device(dirs_[3]).is_ok());
  ASSERT_TRUE(pool->remove_device(dirs_[2]).is_ok());
  EXPECT_EQ(pool->remove_device(dirs_[1]).code(), Code::kFailedPrecondition)
      << "redundancy 1 needs two devices";
  expect_all_readable(*pool);
  pool.reset();
  auto reopened = Pool::open({dirs_[0], dirs_[1]});
  ASSERT_TRUE(reopened.is_ok());
  EXPECT_EQ((*reopened)->status().state, "ONLINE");
}

TEST_F(LifecycleTest, ImportAfterReinstallFindsEverything) {
  auto pool = create(6, 2);
  fill(*pool, 10, 6, 1'000'000);
  std::string id = pool->id();
  pool.reset();
  std::vector<std::string> shuffled = {dirs_[5], dirs_[2], dirs_[0], dirs_[4], dirs_[1], dirs_[3]};
  auto imported = Pool::open(shuffled);
  ASSERT_TRUE(imported.is_ok());
  EXPECT_EQ((*imported)->id(), id);
  EXPECT_EQ((*imported)->name(), "life");
  expect_all_readable(**imported);
  EXPECT_EQ(Pool::open({tmp_.sub("nothing-here")}).status().code(), Code::kNotFound);
}

TEST_F(LifecycleTest, ScrubResumesFromItsCursor) {
  auto pool = create(4, 1);
  fill(*pool, 40, 7, 200'000);
  ScrubOptions stop_early;
  stop_early.quiet = true;
  stop_early.restart = true;
  stop_early.keep_going = [](uint64_t done) { return done < 15; };
  auto first = pool->scrub(stop_early);
  ASSERT_TRUE(first.is_ok());
  EXPECT_FALSE(first->finished);
  EXPECT_GE(first->objects_scanned, 15u);
  EXPECT_LT(first->objects_scanned, 40u);
  pool.reset();  // as if the machine rebooted
  auto reopened = Pool::open(dirs_);
  ASSERT_TRUE(reopened.is_ok());
  ScrubOptions resume;
  resume.quiet = true;
  auto second = (*reopened)->scrub(resume);
  ASSERT_TRUE(second.is_ok());
  EXPECT_TRUE(second->resumed);
  EXPECT_TRUE(second->finished);
  // Totals carry across the restart; exactly 40 means nothing was scanned
  // twice and nothing was skipped.
  EXPECT_EQ(second->objects_scanned, 40u);
}

TEST_F(LifecycleTest, ScrubThrottleHoldsTheRate) {
  auto pool = create(3, 1);
  fill(*pool, 8, 8, 600'000);
  ScrubOptions options;
  options.quiet = true;
  options.restart = true;
  options.max_bytes_per_second = 2 << 20;
  auto start = std::chrono::steady_clock::now();
  auto report = pool->scrub(options);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_TRUE(report.is_ok());
  // A lower bound only: a throttle must slow the scrub to about the rate asked.
  double floor = static_cast<double>(report->bytes_scanned) / (2 << 20) * 0.8;
  EXPECT_GE(seconds, floor - 0.6) << report->bytes_scanned << " bytes";
}

}  // namespace
}  // namespace lares
