// Crash loop: a child process writes, overwrites and removes objects and is
// killed with SIGKILL at a random moment, over and over (testing/crash_loop.h).
// After each kill the pool must open, every committed object must read back
// identical, the one operation in flight must be all-or-nothing, and scrub
// must find nothing unrecoverable. Replay a failure with LARES_TEST_SEED=<seed>.
#include <gtest/gtest.h>

#include <filesystem>

#include "pool/pool.h"
#include "testing/crash_loop.h"
#include "testing/pool_fixture.h"
#include "testing/temp_dir.h"
#include "util/random.h"

namespace lares {
namespace {

TEST(PoolCrashTest, KillNineAtRandomPointsLosesNothingCommitted) {
  const uint64_t seed = testing::test_seed(20261123);
  SCOPED_TRACE("LARES_TEST_SEED=" + std::to_string(seed));
  const int iterations = 60;
  testing::TempDir tmp;
  std::vector<std::string> dirs;
  for (int i = 0; i < 5; ++i) dirs.push_back(tmp.sub("d" + std::to_string(i)));
  ASSERT_TRUE(Pool::create("crashy", 2, dirs).is_ok());
  testing::CrashLoopModel model(1536 * 1024);
  auto open = [&]() -> Result<std::unique_ptr<ObjectStore>> {
    ASSIGN_OR_RETURN(auto pool, Pool::open(dirs));
    return std::unique_ptr<ObjectStore>(std::move(pool));
  };
  auto new_name = [](SeededRandom&, uint64_t round_seed, int j) {
    return "crash/" + std::to_string(round_seed) + "/" + std::to_string(j);
  };
  SeededRandom random(seed);
  int kills_mid_operation = 0;
  for (int iteration = 0; iteration < iterations; ++iteration) {
    SCOPED_TRACE("iteration " + std::to_string(iteration));
    auto in_flight =
        model.run_round(open, new_name, random.next() ^ static_cast<uint64_t>(iteration),
                        static_cast<uint32_t>(2000 + random.uniform(120'000)));
    ASSERT_TRUE(in_flight.is_ok()) << in_flight.status().to_string();
    if (in_flight->has_value()) ++kills_mid_operation;

    auto pool = Pool::open(dirs);
    ASSERT_TRUE(pool.is_ok()) << pool.status().to_string();
    // Recovery finishes or undoes every interrupted put and remove.
    for (const auto& dir : dirs) {
      for (const auto& f : std::filesystem::recursive_directory_iterator(dir)) {
        const auto ext = f.path().extension();
        ASSERT_TRUE(ext != ".tmp" && ext != ".del") << "left behind: " << f.path();
      }
    }
    Status verified = model.verify(**pool, *in_flight);
    ASSERT_TRUE(verified.is_ok()) << verified.to_string();
    if (iteration % 10 == 9 || iteration == iterations - 1) {
      ScrubOptions options;
      options.restart = true;
      options.quiet = true;
      auto report = (*pool)->scrub(options);
      ASSERT_TRUE(report.is_ok());
      EXPECT_EQ(report->unrecoverable, 0u);
      EXPECT_EQ(report->errors_found, 0u) << "recovery left damage for scrub";
    }
  }
  EXPECT_GT(kills_mid_operation, iterations / 2) << "the kills should land inside operations";
  EXPECT_GT(model.committed().size(), 20u);
}

}  // namespace
}  // namespace lares
