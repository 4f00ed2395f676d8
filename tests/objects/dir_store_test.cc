#include "objects/dir_store.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <map>
#include <optional>
#include <thread>

#include "testing/crash_loop.h"
#include "testing/pool_fixture.h"
#include "testing/temp_dir.h"
#include "util/file.h"
#include "util/random.h"

namespace lares {
namespace {

using testing::test_bytes;

std::unique_ptr<DirStore> open_store(const std::string& root) {
  auto store = DirStore::open(root, CreateIfMissing::kYes);
  LARES_CHECK(store.is_ok());
  return std::move(store).value();
}

// Every *.tmp file under `root`, relative.
std::vector<std::string> temporary_files(const std::string& root) {
  std::vector<std::string> out;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(root)) {
    const std::string path = entry.path().string();
    if (entry.is_regular_file() && path.ends_with(".tmp")) out.push_back(path);
  }
  return out;
}

void write_plain_file(const std::string& path, std::string_view text) {
  ASSERT_TRUE(make_dirs(parent_dir(path)).is_ok());
  ASSERT_TRUE(write_file_atomic(path, as_bytes(text), Sync::kNo).is_ok());
}

TEST(DirStoreTest, PutGetRoundTripAndFilesAreWhereTheNameSays) {
  testing::TempDir tmp;
  auto store = open_store(tmp.sub("store"));
  for (size_t size : {0, 1, 4096, 1 << 20}) {
    const std::string name = "packs/ab/" + std::to_string(size);
    const Bytes data = test_bytes(size, size);
    ASSERT_TRUE(store->put(name, data).is_ok());
    auto got = store->get(name);
    ASSERT_TRUE(got.is_ok()) << got.status().to_string();
    EXPECT_TRUE(*got == data);
    auto on_disk = read_file(tmp.sub("store/" + name));
    ASSERT_TRUE(on_disk.is_ok());
    EXPECT_TRUE(*on_disk == data);
    auto size_back = store->size(name);
    ASSERT_TRUE(size_back.is_ok());
    EXPECT_EQ(*size_back, size);
  }
  EXPECT_TRUE(temporary_files(tmp.sub("store")).empty());
}

TEST(DirStoreTest, RangedGetsClipAtTheEnd) {
  testing::TempDir tmp;
  auto store = open_store(tmp.path());
  const Bytes data = test_bytes(1, 10000);
  ASSERT_TRUE(store->put("object", data).is_ok());
  struct Case {
    uint64_t offset, length, begin, end;
  };
  for (const Case& c :
       {Case{0, 10, 0, 10}, Case{9990, 100, 9990, 10000}, Case{10000, 5, 10000, 10000},
        Case{20000, 5, 10000, 10000}, Case{5, 0, 5, 5}, Case{3, UINT64_MAX, 3, 10000},
        Case{UINT64_MAX, UINT64_MAX, 10000, 10000}}) {
    auto got = store->get("object", c.offset, c.length);
    ASSERT_TRUE(got.is_ok()) << c.offset << "+" << c.length;
    EXPECT_TRUE(*got == Bytes(data.begin() + static_cast<ptrdiff_t>(c.begin),
                              data.begin() + static_cast<ptrdiff_t>(c.end)))
        << c.offset << "+" << c.length;
  }
}

TEST(DirStoreTest, PutReplaces) {
  testing::TempDir tmp;
  auto store = open_store(tmp.path());
  ASSERT_TRUE(store->put("a/b", test_bytes(1, 5000)).is_ok());
  ASSERT_TRUE(store->put("a/b", test_bytes(2, 100)).is_ok());
  auto got = store->get("a/b");
  ASSERT_TRUE(got.is_ok());
  EXPECT_TRUE(*got == test_bytes(2, 100));
  EXPECT_TRUE(temporary_files(tmp.path()).empty());
}

TEST(DirStoreTest, MissingObjectsAreNotFound) {
  testing::TempDir tmp;
  auto store = open_store(tmp.path());
  ASSERT_TRUE(store->put("file", as_bytes("x")).is_ok());
  ASSERT_TRUE(store->put("folder/inside", as_bytes("y")).is_ok());
  // Absent; a path through an object; a folder.
  for (const std::string name : {"absent", "file/below", "folder", "folder/absent/deeper"}) {
    EXPECT_EQ(store->get(name).status().code(), Code::kNotFound) << name;
    EXPECT_EQ(store->size(name).status().code(), Code::kNotFound) << name;
    EXPECT_EQ(store->remove(name).code(), Code::kNotFound) << name;
  }
}

TEST(DirStoreTest, RemoveDeletesAndSecondRemoveIsNotFound) {
  testing::TempDir tmp;
  auto store = open_store(tmp.path());
  ASSERT_TRUE(store->put("refs/main", as_bytes("abc")).is_ok());
  ASSERT_TRUE(store->remove("refs/main").is_ok());
  EXPECT_EQ(store->get("refs/main").status().code(), Code::kNotFound);
  EXPECT_FALSE(path_exists(tmp.sub("refs/main")));
  EXPECT_EQ(store->remove("refs/main").code(), Code::kNotFound);
  // The emptied folder stays, and takes new objects.
  ASSERT_TRUE(store->put("refs/other", as_bytes("d")).is_ok());
}

TEST(DirStoreTest, InvalidNamesAreRefusedEverywhere) {
  testing::TempDir tmp;
  auto store = open_store(tmp.path());
  for (const std::string& name : std::vector<std::string>{
           "", "/abs", "a/../b", "..", "with space", "tab\tname", "a//b", "a/", "./a", "a/./b",
           "a/.", "..a", "x.tmp", "dir/x.123.tmp", std::string(1025, 'a')}) {
    EXPECT_EQ(store->put(name, as_bytes("x")).code(), Code::kInvalidArgument) << name;
    EXPECT_EQ(store->get(name).status().code(), Code::kInvalidArgument) << name;
    EXPECT_EQ(store->size(name).status().code(), Code::kInvalidArgument) << name;
    EXPECT_EQ(store->remove(name).code(), Code::kInvalidArgument) << name;
  }
  // Allowed: dots inside names, a folder whose name ends in .tmp, hidden names.
  for (const std::string name : {"a.b", ".hidden", "x.tmp/y", "a.tmp.b", "a.tmpx"}) {
    EXPECT_TRUE(store->put(name, as_bytes("x")).is_ok()) << name;
    EXPECT_TRUE(store->get(name).is_ok()) << name;
  }
}

TEST(DirStoreTest, ObjectAndFolderOfTheSameNameConflict) {
  testing::TempDir tmp;
  auto store = open_store(tmp.path());
  ASSERT_TRUE(store->put("a", as_bytes("object a")).is_ok());
  EXPECT_EQ(store->put("a/b", as_bytes("x")).code(), Code::kFailedPrecondition);
  EXPECT_EQ(store->put("a/b/c", as_bytes("x")).code(), Code::kFailedPrecondition);
  ASSERT_TRUE(store->put("d/e", as_bytes("object d/e")).is_ok());
  EXPECT_EQ(store->put("d", as_bytes("x")).code(), Code::kFailedPrecondition);
  // Nothing was damaged, and nothing was left behind.
  EXPECT_EQ(as_chars(*store->get("a")), "object a");
  EXPECT_EQ(as_chars(*store->get("d/e")), "object d/e");
  auto names = store->list("");
  ASSERT_TRUE(names.is_ok());
  EXPECT_EQ(*names, (std::vector<std::string>{"a", "d/e"}));
  EXPECT_TRUE(temporary_files(tmp.path()).empty());
}

TEST(DirStoreTest, ListIsSortedAndFiltersByPrefix) {
  testing::TempDir tmp;
  auto store = open_store(tmp.path());
  const std::vector<std::string> names = {
      "config",      "index/00/seg1", "index/01/seg2", "packs/ab/p1", "packs/ab/p2",
      "packs/ac/p3", "packs/b/p4",    "packsfile",     "refs/main",   "refs/snap/2026"};
  for (auto it = names.rbegin(); it != names.rend(); ++it) {
    ASSERT_TRUE(store->put(*it, as_bytes(*it)).is_ok());
  }
  auto all = store->list("");
  ASSERT_TRUE(all.is_ok());
  EXPECT_EQ(*all, names);

  auto expect_list = [&](const std::string& prefix) {
    std::vector<std::string> expected;
    for (const auto& n : names) {
      if (n.starts_with(prefix)) expected.push_back(n);
    }
    auto got = store->list(prefix);
    ASSERT_TRUE(got.is_ok()) << prefix;
    EXPECT_EQ(*got, expected) << "prefix '" << prefix << "'";
  };
  for (const std::string prefix :
       {"packs", "packs/", "packs/a", "packs/ab/", "packs/ab/p1", "packs/ab/p1x", "pa",
        "refs/snap/", "refs/s", "zzz", "index/0", "nothing/here/", "config"}) {
    expect_list(prefix);
  }
}

TEST(DirStoreTest, ListNeverLeavesTheRoot) {
  testing::TempDir tmp;
  write_plain_file(tmp.sub("outside/secret"), "not the store's");
  auto store = open_store(tmp.sub("store"));
  ASSERT_TRUE(store->put("inside", as_bytes("x")).is_ok());
  for (const std::string prefix : {"../", "../outside/", "/", "//", "./", "a//", "../outside/s"}) {
    auto got = store->list(prefix);
    ASSERT_TRUE(got.is_ok()) << prefix;
    EXPECT_TRUE(got->empty()) << prefix;
  }
}

TEST(DirStoreTest, ListSkipsTemporariesForeignFilesAndSymlinks) {
  testing::TempDir tmp;
  auto store = open_store(tmp.path());
  ASSERT_TRUE(store->put("a/real", as_bytes("x")).is_ok());
  write_plain_file(tmp.sub("a/real.0123456789abcdef.tmp"), "half a put");
  write_plain_file(tmp.sub("a/has space"), "a file a person dropped here");
  ASSERT_EQ(::symlink("/etc", tmp.sub("a/link").c_str()), 0);
  ASSERT_EQ(::symlink("real", tmp.sub("a/filelink").c_str()), 0);
  ASSERT_EQ(::mkfifo(tmp.sub("a/fifo").c_str(), 0644), 0);
  auto names = store->list("");
  ASSERT_TRUE(names.is_ok()) << names.status().to_string();
  EXPECT_EQ(*names, std::vector<std::string>{"a/real"});
}

TEST(DirStoreTest, OpenCreatesOrRefuses) {
  testing::TempDir tmp;
  auto missing = DirStore::open(tmp.sub("nope"), CreateIfMissing::kNo);
  ASSERT_FALSE(missing.is_ok());
  EXPECT_EQ(missing.status().code(), Code::kNotFound);
  EXPECT_FALSE(path_exists(tmp.sub("nope")));

  auto created = DirStore::open(tmp.sub("deep/new/store/"), CreateIfMissing::kYes);
  ASSERT_TRUE(created.is_ok()) << created.status().to_string();
  EXPECT_TRUE(is_directory(tmp.sub("deep/new/store")));
  EXPECT_EQ((*created)->root(), tmp.sub("deep/new/store"));
  ASSERT_TRUE((*created)->put("x", as_bytes("1")).is_ok());
  EXPECT_TRUE(path_exists(tmp.sub("deep/new/store/x")));

  write_plain_file(tmp.sub("a_file"), "x");
  auto on_file = DirStore::open(tmp.sub("a_file"), CreateIfMissing::kYes);
  ASSERT_FALSE(on_file.is_ok());
  EXPECT_EQ(on_file.status().code(), Code::kFailedPrecondition);
}

TEST(DirStoreTest, ReopenSeesEverything) {
  testing::TempDir tmp;
  {
    auto store = open_store(tmp.path());
    for (int i = 0; i < 20; ++i) {
      ASSERT_TRUE(
          store->put("o/" + std::to_string(i), test_bytes(static_cast<uint64_t>(i), 3000)).is_ok());
    }
  }
  auto store = DirStore::open(tmp.path(), CreateIfMissing::kNo);
  ASSERT_TRUE(store.is_ok());
  auto names = (*store)->list("o/");
  ASSERT_TRUE(names.is_ok());
  EXPECT_EQ(names->size(), 20u);
  for (int i = 0; i < 20; ++i) {
    auto got = (*store)->get("o/" + std::to_string(i));
    ASSERT_TRUE(got.is_ok());
    EXPECT_TRUE(*got == test_bytes(static_cast<uint64_t>(i), 3000));
  }
}

TEST(DirStoreTest, OpenRemovesStrayTemporaries) {
  testing::TempDir tmp;
  {
    auto store = open_store(tmp.path());
    ASSERT_TRUE(store->put("a/b/c", as_bytes("kept")).is_ok());
  }
  write_plain_file(tmp.sub("a/b/c.0123456789abcdef.tmp"), "torn");
  write_plain_file(tmp.sub("top.fedcba9876543210.tmp"), "torn");
  write_plain_file(tmp.sub("x.tmp/y.aaaaaaaaaaaaaaaa.tmp"), "torn, in a folder named *.tmp");
  auto store = DirStore::open(tmp.path(), CreateIfMissing::kNo);
  ASSERT_TRUE(store.is_ok());
  EXPECT_EQ((*store)->stray_files_removed(), 3u);
  EXPECT_TRUE(temporary_files(tmp.path()).empty());
  EXPECT_EQ(as_chars(*(*store)->get("a/b/c")), "kept");
}

TEST(DirStoreTest, OpeningWhileAnotherStoreIsOpenLeavesTemporariesAlone) {
  testing::TempDir tmp;
  auto writer = open_store(tmp.path());
  // Stands for the temporary file of a put the writer has in flight.
  write_plain_file(tmp.sub("a.0123456789abcdef.tmp"), "in flight");
  {
    auto reader = DirStore::open(tmp.path(), CreateIfMissing::kNo);
    ASSERT_TRUE(reader.is_ok());
    EXPECT_EQ((*reader)->stray_files_removed(), 0u);
    EXPECT_TRUE(path_exists(tmp.sub("a.0123456789abcdef.tmp")));
  }
  writer.reset();
  auto alone = DirStore::open(tmp.path(), CreateIfMissing::kNo);
  ASSERT_TRUE(alone.is_ok());
  EXPECT_EQ((*alone)->stray_files_removed(), 1u);
}

TEST(DirStoreTest, ConcurrentPutsGetsAndRemoves) {
  testing::TempDir tmp;
  auto store = open_store(tmp.path());
  constexpr int kThreads = 4;
  constexpr int kObjectsPerThread = 40;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kObjectsPerThread; ++i) {
        // Threads share folders, so they race to create them.
        const std::string name =
            "shared/" + std::to_string(i % 5) + "/t" + std::to_string(t) + "-" + std::to_string(i);
        const Bytes data = test_bytes(static_cast<uint64_t>(t * 1000 + i), 2000);
        if (!store->put(name, data).is_ok()) ++failures;
        auto got = store->get(name);
        if (!got.is_ok() || *got != data) ++failures;
        if (i % 3 == 0 && !store->remove(name).is_ok()) ++failures;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  auto names = store->list("shared/");
  ASSERT_TRUE(names.is_ok());
  EXPECT_EQ(names->size(), static_cast<size_t>(kThreads * (kObjectsPerThread - 14)));
  EXPECT_TRUE(temporary_files(tmp.path()).empty());
}

TEST(DirStoreTest, ReadersSeeWholeValuesWhileAWriterReplaces) {
  testing::TempDir tmp;
  auto store = open_store(tmp.path());
  const Bytes first = test_bytes(1, 300000);
  const Bytes second = test_bytes(2, 200000);
  ASSERT_TRUE(store->put("hot", first).is_ok());
  std::atomic<bool> stop{false};
  std::atomic<int> torn{0};
  std::atomic<int> reads{0};
  std::thread reader([&] {
    while (!stop) {
      auto got = store->get("hot");
      if (!got.is_ok() || (*got != first && *got != second)) ++torn;
      ++reads;
    }
  });
  for (int i = 0; i < 30; ++i) ASSERT_TRUE(store->put("hot", i % 2 ? first : second).is_ok());
  stop = true;
  reader.join();
  EXPECT_EQ(torn.load(), 0);
  EXPECT_GT(reads.load(), 0);
}

// --- crash loop ------------------------------------------------------------
//
// A child process puts, overwrites and removes objects and is killed with
// SIGKILL at a random moment, over and over. After each kill the store must
// open, remove every stray temporary file, and return every committed object
// identical; the operation in flight must be all or nothing. Replay a failure
// with LARES_TEST_SEED=<seed>.

TEST(DirStoreCrashTest, KillNineAtRandomPointsLosesNothingCommitted) {
  const uint64_t seed = testing::test_seed(20260303);
  SCOPED_TRACE("LARES_TEST_SEED=" + std::to_string(seed));
  const int iterations = 30;
  testing::TempDir tmp;
  const std::string root = tmp.sub("store");
  ASSERT_TRUE(DirStore::open(root, CreateIfMissing::kYes).is_ok());
  testing::CrashLoopModel model(256 * 1024);
  auto open = [&]() -> Result<std::unique_ptr<ObjectStore>> {
    ASSIGN_OR_RETURN(auto store, DirStore::open(root, CreateIfMissing::kNo));
    return std::unique_ptr<ObjectStore>(std::move(store));
  };
  // New names in a few shared folders, some new folders, some deeper.
  auto new_name = [](SeededRandom& random, uint64_t round_seed, int j) {
    const std::string folder =
        "f" + std::to_string(random.uniform(4)) + "/" +
        (random.uniform(3) == 0 ? std::to_string(round_seed % 97) + "/" : "");
    return folder + std::to_string(round_seed) + "-" + std::to_string(j);
  };
  SeededRandom random(seed);
  int kills_mid_operation = 0;
  size_t strays_seen = 0;
  for (int iteration = 0; iteration < iterations; ++iteration) {
    SCOPED_TRACE("iteration " + std::to_string(iteration));
    auto in_flight =
        model.run_round(open, new_name, random.next() ^ static_cast<uint64_t>(iteration),
                        static_cast<uint32_t>(5000 + random.uniform(60'000)));
    ASSERT_TRUE(in_flight.is_ok()) << in_flight.status().to_string();
    if (in_flight->has_value()) ++kills_mid_operation;

    strays_seen += temporary_files(root).size();
    auto store = DirStore::open(root, CreateIfMissing::kNo);
    ASSERT_TRUE(store.is_ok()) << store.status().to_string();
    ASSERT_TRUE(temporary_files(root).empty());
    Status verified = model.verify(**store, *in_flight);
    ASSERT_TRUE(verified.is_ok()) << verified.to_string();
  }
  std::printf("%d of %d kills landed inside an operation; %zu stray temporaries cleaned\n",
              kills_mid_operation, iterations, strays_seen);
  EXPECT_GT(kills_mid_operation, iterations / 2) << "the kills should land inside operations";
  EXPECT_GT(model.committed().size(), 20u);
}

}  // namespace
}  // namespace lares
