// The pool end to end: placement, ranged reads, overwrite and remove,
// self-healing against every kind of damage, and the writer lock.
#include "pool/pool.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <map>

#include "testing/faulty_devices.h"
#include "testing/pool_fixture.h"
#include "testing/temp_dir.h"
#include "util/file.h"
#include "util/random.h"

namespace lares {
namespace {

using testing::TempDir;

ScrubOptions quiet_restart() {
  ScrubOptions options;
  options.restart = true;
  options.quiet = true;
  return options;
}

class PoolTest : public ::testing::Test {
 protected:
  std::vector<std::string> make_dirs_named(int count, const std::string& prefix = "dev") {
    std::vector<std::string> dirs;
    for (int i = 0; i < count; ++i) dirs.push_back(tmp_.sub(prefix + std::to_string(i)));
    return dirs;
  }
  std::unique_ptr<Pool> create(int devices, int redundancy, const PoolOptions& options = {}) {
    dirs_ = make_dirs_named(devices);
    auto pool = Pool::create("tank", redundancy, dirs_, options);
    EXPECT_TRUE(pool.is_ok()) << pool.status().to_string();
    return std::move(pool).value();
  }
  std::unique_ptr<Pool> reopen(const PoolOptions& options = {}) {
    auto pool = Pool::open(dirs_, options);
    EXPECT_TRUE(pool.is_ok()) << pool.status().to_string();
    return pool.is_ok() ? std::move(pool).value() : nullptr;
  }
  // Puts `count` objects of assorted sizes; returns name -> contents.
  std::map<std::string, Bytes> fill(Pool& pool, int count, uint64_t seed, size_t max_size) {
    std::map<std::string, Bytes> objects;
    SeededRandom random(seed);
    for (int i = 0; i < count; ++i) {
      std::string name = "obj/" + std::to_string(seed) + "/" + std::to_string(i);
      Bytes data = testing::test_bytes(random.next(), random.uniform(max_size + 1));
      EXPECT_TRUE(pool.put(name, data).is_ok());
      objects[name] = std::move(data);
    }
    return objects;
  }
  void expect_all_readable(Pool& pool, const std::map<std::string, Bytes>& objects) {
    for (const auto& [name, data] : objects) {
      auto got = pool.get(name);
      ASSERT_TRUE(got.is_ok()) << name << ": " << got.status().to_string();
      ASSERT_TRUE(*got == data) << name << " differs";
    }
  }
  void expect_clean_scrub(Pool& pool) {
    ScrubOptions options;
    options.restart = true;
    options.quiet = true;
    auto report = pool.scrub(options);
    ASSERT_TRUE(report.is_ok()) << report.status().to_string();
    EXPECT_EQ(report->unrecoverable, 0u);
    EXPECT_TRUE(report->finished);
  }

  TempDir tmp_;
  std::vector<std::string> dirs_;
};

TEST_F(PoolTest, RoundTripsObjectsOfEverySize) {
  auto pool = create(6, 2);
  for (size_t size : {0ul, 1ul, 4095ul, 4096ul, 65536ul, 65537ul, 1000003ul, 9ul << 20}) {
    std::string name = "size/" + std::to_string(size);
    Bytes data = testing::test_bytes(size, size);
    ASSERT_TRUE(pool->put(name, data).is_ok());
    auto got = pool->get(name);
    ASSERT_TRUE(got.is_ok()) << got.status().to_string();
    EXPECT_TRUE(*got == data) << size;
    EXPECT_EQ(*pool->size(name), size);
  }
  auto layout = pool->layout("size/" + std::to_string(9u << 20));
  ASSERT_TRUE(layout.is_ok());
  EXPECT_EQ(layout->k, 4);  // 6 devices, r = 2
  EXPECT_EQ(layout->r, 2);
  std::set<std::string> distinct(layout->device_ids.begin(), layout->device_ids.end());
  EXPECT_EQ(distinct.size(), 6u) << "shards of one object must lie on distinct devices";
  EXPECT_EQ(pool->layout("size/1")->k, 1) << "a tiny object is mirrored, not striped";
}

TEST_F(PoolTest, RangedReadsMatchAnySlice) {
  auto pool = create(5, 1);
  Bytes data = testing::test_bytes(7, 3'000'017);
  ASSERT_TRUE(pool->put("big", data).is_ok());
  SeededRandom random(testing::test_seed(42));
  for (int i = 0; i < 200; ++i) {
    uint64_t offset = random.uniform(data.size() + 10);
    uint64_t length = random.uniform(300'000);
    auto got = pool->get("big", offset, length);
    ASSERT_TRUE(got.is_ok());
    uint64_t begin = std::min<uint64_t>(offset, data.size());
    uint64_t end = std::min<uint64_t>(data.size(), begin + length);
    ASSERT_EQ(got->size(), end - begin);
    ASSERT_TRUE(std::equal(got->begin(), got->end(), data.begin() + static_cast<long>(begin)));
  }
}

TEST_F(PoolTest, LayoutFollowsDeviceCount) {
  struct Case {
    int devices, redundancy, k;
  };
  for (Case c : {Case{2, 1, 1}, Case{3, 2, 1}, Case{4, 3, 1}, Case{3, 1, 2}, Case{10, 2, 8},
                 Case{12, 1, 8}}) {
    TempDir tmp;
    std::vector<std::string> dirs;
    for (int i = 0; i < c.devices; ++i) dirs.push_back(tmp.sub("d" + std::to_string(i)));
    auto pool = Pool::create("p", c.redundancy, dirs);
    ASSERT_TRUE(pool.is_ok()) << pool.status().to_string();
    ASSERT_TRUE((*pool)->put("x", testing::test_bytes(1, 4 << 20)).is_ok());
    auto layout = (*pool)->layout("x");
    EXPECT_EQ(layout->k, c.k) << c.devices << " devices, r=" << c.redundancy;
    EXPECT_EQ(layout->r, c.redundancy);
  }
  EXPECT_FALSE(Pool::create("p", 2, {tmp_.sub("a"), tmp_.sub("b")}).is_ok());
}

TEST_F(PoolTest, OverwriteAndRemoveLeaveNoGarbage) {
  auto pool = create(4, 1);
  ASSERT_TRUE(pool->put("doc", testing::test_bytes(1, 500'000)).is_ok());
  Bytes second = testing::test_bytes(2, 200);
  ASSERT_TRUE(pool->put("doc", second).is_ok());
  EXPECT_TRUE(*pool->get("doc") == second);
  size_t files = 0;
  for (const auto& d : dirs_) files += testing::shard_files(d).size();
  EXPECT_EQ(files, 2u) << "a 200-byte object is 1 data + 1 parity shard; old ones must be gone";
  ASSERT_TRUE(pool->put("a/1", second).is_ok());
  ASSERT_TRUE(pool->put("b/1", second).is_ok());
  EXPECT_EQ(*pool->list("a/"), std::vector<std::string>{"a/1"});
  EXPECT_EQ(pool->list("")->size(), 3u);
  ASSERT_TRUE(pool->remove("doc").is_ok());
  EXPECT_EQ(pool->get("doc").status().code(), Code::kNotFound);
  EXPECT_EQ(pool->remove("doc").code(), Code::kNotFound);
  EXPECT_EQ(pool->put("../etc", second).code(), Code::kInvalidArgument);
  pool.reset();
  pool = reopen();
  EXPECT_EQ(pool->list("")->size(), 2u);
}

TEST_F(PoolTest, SecondWriterGetsAClearError) {
  auto pool = create(3, 1);
  auto second = Pool::open(dirs_);
  ASSERT_FALSE(second.is_ok());
  EXPECT_EQ(second.status().code(), Code::kBusy);
  EXPECT_NE(second.status().message().find("in use"), std::string::npos);
  PoolOptions read_only;
  read_only.mode = OpenMode::kReadOnly;
  EXPECT_TRUE(Pool::open(dirs_, read_only).is_ok()) << "readers never block on the writer";
}

// Flips random bits (header or data) in up to r shards of every object:
// reads return the right bytes and heal what they touch; scrub fixes the
// rest; a second scrub finds nothing.
TEST_F(PoolTest, BitFlipsAreDetectedAndHealed) {
  const uint64_t seed = testing::test_seed(1001);
  SCOPED_TRACE("seed " + std::to_string(seed));
  const int r = 2;
  auto pool = create(6, r);
  auto objects = fill(*pool, 30, seed, 700'000);
  std::map<std::string, std::vector<std::string>> by_object;
  for (const auto& d : dirs_) {
    for (const auto& f : testing::shard_files(d)) {
      by_object[std::filesystem::path(f).filename().string()].push_back(f);
    }
  }
  SeededRandom random(seed);
  uint64_t damaged = 0;
  for (auto& [hash, files] : by_object) {
    const uint64_t count = random.uniform(r + 1);
    for (uint64_t i = 0; i < count; ++i) {
      const std::string& f = files[(i + random.uniform(files.size())) % files.size()];
      testing::flip_bit(f, random.uniform(testing::size_of(f) * 8));
      files.erase(std::find(files.begin(), files.end(), f));
      ++damaged;
    }
  }
  ASSERT_GT(damaged, 10u);
  pool.reset();
  pool = reopen();
  expect_all_readable(*pool, objects);
  auto report = pool->scrub(quiet_restart());
  ASSERT_TRUE(report.is_ok());
  EXPECT_EQ(report->unrecoverable, 0u);
  EXPECT_EQ(report->errors_found, report->repaired);
  uint64_t repaired_total = 0;
  for (const auto& d : pool->status().devices) repaired_total += d.repaired;
  EXPECT_EQ(repaired_total, damaged) << "every damaged shard is rewritten exactly once";
  auto again = pool->scrub(quiet_restart());
  EXPECT_EQ(again->errors_found, 0u);
  expect_all_readable(*pool, objects);
}

TEST_F(PoolTest, ScrubRepairsWhatReadsNeverTouched) {
  const uint64_t seed = testing::test_seed(77);
  auto pool = create(5, 2);
  auto objects = fill(*pool, 20, seed, 400'000);
  SeededRandom random(seed);
  int flipped = 0;
  for (const auto& f : testing::shard_files(dirs_[1])) {
    testing::flip_bit(f, random.uniform(testing::size_of(f) * 8));
    ++flipped;
  }
  for (const auto& f : testing::shard_files(dirs_[3]))
    testing::truncate_to(f, testing::size_of(f) / 2);
  ScrubOptions options;
  options.quiet = true;
  auto report = pool->scrub(options);
  ASSERT_TRUE(report.is_ok());
  EXPECT_EQ(report->unrecoverable, 0u);
  EXPECT_GE(report->errors_found, static_cast<uint64_t>(flipped));
  EXPECT_EQ(report->repaired, report->errors_found);
  EXPECT_GT(report->bytes_scanned, 0u);
  auto status = pool->status();
  EXPECT_GT(status.devices[1].checksum_errors, 0u);
  EXPECT_GT(status.devices[3].repaired + status.devices[1].repaired, 0u);
  auto again = pool->scrub(options);
  EXPECT_EQ(again->errors_found, 0u) << "the first scrub left damage behind";
  expect_all_readable(*pool, objects);
}

TEST_F(PoolTest, DeletedShardsAndJunkFiles) {
  const uint64_t seed = testing::test_seed(5);
  auto pool = create(4, 1);
  auto objects = fill(*pool, 25, seed, 300'000);
  SeededRandom random(seed);
  for (const auto& d : dirs_) {
    testing::write_junk(d + "/junk.bin", random.next(), 1000);
    testing::write_junk(d + "/shards/zz-not-a-shard", random.next(), 10);
    std::filesystem::create_directories(d + "/shards/ab");
    testing::write_junk(d + "/shards/ab/README", random.next(), 10);
  }
  // Delete one shard of every object (r = 1), spread over the devices.
  std::set<std::string> hit;
  for (const auto& d : dirs_) {
    for (const auto& f : testing::shard_files(d)) {
      std::string hash = std::filesystem::path(f).filename().string();
      if (hit.insert(hash).second) std::filesystem::remove(f);
    }
  }
  pool.reset();
  pool = reopen();
  expect_all_readable(*pool, objects);
  expect_clean_scrub(*pool);
  for (const auto& d : dirs_) EXPECT_TRUE(std::filesystem::exists(d + "/junk.bin"));
}

TEST_F(PoolTest, SurvivesLosingRWholeDevices) {
  for (int r = 1; r <= 3; ++r) {
    TempDir tmp;
    std::vector<std::string> dirs;
    for (int i = 0; i < 7; ++i) dirs.push_back(tmp.sub("d" + std::to_string(i)));
    std::map<std::string, Bytes> objects;
    {
      auto pool = Pool::create("p", r, dirs);
      ASSERT_TRUE(pool.is_ok());
      objects = fill(**pool, 15, 900 + static_cast<uint64_t>(r), 2'000'000);
    }
    for (int i = 0; i < r; ++i) std::filesystem::remove_all(dirs[static_cast<size_t>(2 * i)]);
    auto pool = Pool::open(dirs);
    ASSERT_TRUE(pool.is_ok()) << pool.status().to_string();
    EXPECT_EQ((*pool)->status().state, "DEGRADED");
    expect_all_readable(**pool, objects);
    auto report = (*pool)->scrub(quiet_restart());
    ASSERT_TRUE(report.is_ok());
    EXPECT_EQ(report->unrecoverable, 0u) << "r=" << r;
    // New writes still get full redundancy on the survivors.
    ASSERT_TRUE((*pool)->put("after", testing::test_bytes(3, 100'000)).is_ok());
    EXPECT_EQ((*pool)->layout("after")->r, r);
  }
}

TEST_F(PoolTest, FailingDeviceIsFaultedAndDataStillReads) {
  testing::FaultyDevices faults;
  PoolOptions options;
  options.faults = &faults;
  auto pool = create(5, 1, options);
  auto objects = fill(*pool, 20, 31, 500'000);
  std::string sick = pool->status().devices[2].id;
  faults.fail_reads(sick, true);
  pool.reset();
  pool = reopen(options);
  expect_all_readable(*pool, objects);
  auto status = pool->status();
  EXPECT_GT(status.devices[2].read_errors, 0u);
  EXPECT_EQ(status.devices[2].state, "FAULTED");
  EXPECT_EQ(status.state, "DEGRADED");
  // Writes fail over too.
  faults.fail_writes(status.devices[0].id, true);
  ASSERT_TRUE(pool->put("new", testing::test_bytes(9, 300'000)).is_ok());
  EXPECT_TRUE(*pool->get("new") == testing::test_bytes(9, 300'000));
}

// A disk unmounted under a running pool: reads rebuild, writes go to the
// others, and Lares never recreates the vanished folder on the wrong disk.
TEST_F(PoolTest, DeviceVanishingWhileOpen) {
  auto pool = create(4, 1);
  auto objects = fill(*pool, 15, 12, 400'000);
  std::filesystem::remove_all(dirs_[2]);
  expect_all_readable(*pool, objects);
  for (int i = 0; i < 10; ++i) {
    Bytes data = testing::test_bytes(50 + static_cast<uint64_t>(i), 300'000);
    std::string name = "later/" + std::to_string(i);
    Status st = pool->put(name, data);
    ASSERT_TRUE(st.is_ok()) << st.to_string();
    objects[name] = data;
  }
  EXPECT_FALSE(std::filesystem::exists(dirs_[2])) << "the vanished device was recreated";
  EXPECT_EQ(pool->status().devices[2].state, "FAULTED");
  expect_all_readable(*pool, objects);
}

// What a power loss can leave of a put that never returned: some shards
// published, some still under their temporary names, some names lost.
// Recovery rolls forward what can be read and removes what cannot.
TEST_F(PoolTest, RecoveryRollsTornPutsForwardOrBack) {
  auto pool = create(6, 2);
  ASSERT_TRUE(pool->put("forward", testing::test_bytes(1, 1'000'000)).is_ok());
  ASSERT_TRUE(pool->put("back", testing::test_bytes(2, 1'000'000)).is_ok());
  ASSERT_EQ(pool->layout("back")->k, 4);
  pool.reset();
  // Keeps `published` shards, renames `pending` to .tmp, deletes the rest.
  auto tear = [&](const std::string& name, size_t published, size_t pending) {
    std::vector<std::string> files;
    for (const auto& d : dirs_) {
      for (const auto& f : testing::shard_files(d)) {
        auto bytes = read_file(f);
        ASSERT_TRUE(bytes.is_ok());
        auto header = decode_shard_header(*bytes);
        ASSERT_TRUE(header.is_ok());
        if (header->name != name) continue;
        char tmp[64];
        std::snprintf(tmp, sizeof tmp, ".%016llx.tmp",
                      static_cast<unsigned long long>(header->put_id));
        if (files.size() < published) {
          files.push_back(f);
        } else if (files.size() < published + pending) {
          std::filesystem::rename(f, f + tmp);
          files.push_back(f);
        } else {
          std::filesystem::remove(f);
        }
      }
    }
  };
  tear("forward", 1, 3);  // 4 of 6 survive: k = 4 is enough
  tear("back", 1, 2);     // 3 of 6: unreadable, and it never returned
  pool = reopen();
  auto report = pool->scrub(quiet_restart());
  EXPECT_EQ(report->unrecoverable, 0u);
  EXPECT_EQ(report->repaired, 2u) << "the two lost shards of 'forward' are rebuilt";
  auto forward = pool->get("forward");
  ASSERT_TRUE(forward.is_ok()) << forward.status().to_string();
  EXPECT_TRUE(*forward == testing::test_bytes(1, 1'000'000));
  EXPECT_EQ(pool->get("back").status().code(), Code::kNotFound);
  for (const auto& d : dirs_) {
    for (const auto& f : std::filesystem::recursive_directory_iterator(d)) {
      EXPECT_NE(f.path().extension(), ".tmp") << "left behind: " << f.path();
    }
  }
}

TEST_F(PoolTest, TooManyLossesAreNamedNotReturned) {
  auto pool = create(4, 1);
  Bytes data = testing::test_bytes(4, 400'000);
  ASSERT_TRUE(pool->put("precious", data).is_ok());
  int damaged = 0;
  for (const auto& d : dirs_) {
    for (const auto& f : testing::shard_files(d)) {
      if (damaged < 2) testing::flip_bit(f, 8 * 4096 + 8 * static_cast<uint64_t>(damaged++));
    }
  }
  pool.reset();
  pool = reopen();
  auto got = pool->get("precious");
  EXPECT_FALSE(got.is_ok()) << "two bad shards with r = 1 must be an error, never wrong data";
  EXPECT_EQ(got.status().code(), Code::kCorruption);
  auto report = pool->scrub(quiet_restart());
  ASSERT_TRUE(report.is_ok());
  EXPECT_EQ(report->unrecoverable, 1u);
  ASSERT_EQ(report->unrecoverable_objects.size(), 1u);
  EXPECT_NE(report->unrecoverable_objects[0].find("precious"), std::string::npos);
}

}  // namespace
}  // namespace lares
