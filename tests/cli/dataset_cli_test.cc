// End-to-end tests of the live dataset verbs of the `lares` binary: dataset
// create/list/destroy, mount in the background and umount, snapshot
// create/destroy while mounted and while not, rollback, clone, and the
// errors a user sees. Mounting needs root and /dev/fuse (else they skip).
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "testing/cli_runner.h"
#include "testing/repo_fixture.h"
#include "testing/temp_dir.h"
#include "testing/tree_gen.h"
#include "util/bytes.h"
#include "util/file.h"

namespace lares {
namespace {

using testing::RunResult;
using testing::shell_quote;

bool fuse_available() { return ::geteuid() == 0 && ::access("/dev/fuse", R_OK | W_OK) == 0; }

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void spit(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
}

class DatasetCliTest : public ::testing::Test {
 protected:
  DatasetCliTest() : home_(temp_.sub("home")) {
    EXPECT_TRUE(write_file_atomic(temp_.sub("pass"), as_bytes("live data\n")).is_ok());
  }
  ~DatasetCliTest() override {
    // A failed test must not leave a mount behind.
    if (mounted_) (void)lares("umount " + mnt());
  }

  RunResult lares(const std::string& args) {
    return testing::run_lares(LARES_BINARY, home_,
                              args + " --passphrase-file " + shell_quote(temp_.sub("pass")),
                              "/dev/null", temp_.sub("stderr.txt"));
  }
  // Verbs without unlock options.
  RunResult lares_plain(const std::string& args) {
    return testing::run_lares(LARES_BINARY, home_, args, "/dev/null", temp_.sub("stderr.txt"));
  }
  void make_pool() {
    std::string devices;
    for (int i = 0; i < 3; ++i) devices += " " + shell_quote(temp_.sub("d" + std::to_string(i)));
    RunResult created = lares("pool create tank --kdf-memory 8M --kdf-ops 1" + devices);
    ASSERT_EQ(created.exit_code, 0) << created.err;
  }
  std::string mnt() { return shell_quote(temp_.sub("mnt")); }
  void mount(const std::string& dataset) {
    ::mkdir(temp_.sub("mnt").c_str(), 0755);
    RunResult m = lares("mount tank/" + dataset + " " + mnt());
    ASSERT_EQ(m.exit_code, 0) << m.err;
    EXPECT_NE(m.out.find("mounted tank/" + dataset), std::string::npos) << m.out;
    mounted_ = true;
  }
  void umount() {
    RunResult u = lares_plain("umount " + mnt());
    ASSERT_EQ(u.exit_code, 0) << u.err;
    mounted_ = false;  // and committed: umount waits for the mount process
  }
  nlohmann::json json_of(const RunResult& r) {
    nlohmann::json value = nlohmann::json::parse(r.out, nullptr, false);
    EXPECT_FALSE(value.is_discarded()) << "not JSON: " << r.out << r.err;
    return value;
  }

  lares::testing::TempDir temp_;
  std::string home_;
  bool mounted_ = false;
};

TEST_F(DatasetCliTest, CreateListDestroyAndBadArguments) {
  make_pool();
  RunResult created = lares("dataset create tank/docs --recordsize 64K --quota 1G");
  ASSERT_EQ(created.exit_code, 0) << created.err;
  EXPECT_EQ(lares("dataset create tank/docs").exit_code, 1);  // exists
  EXPECT_EQ(lares("dataset create tank/bad --recordsize 3K").exit_code, 1);
  EXPECT_EQ(lares("dataset create tank/-x").exit_code, 1);
  EXPECT_EQ(lares("dataset create").exit_code, 2);  // usage
  RunResult list = lares("dataset list --json");
  ASSERT_EQ(list.exit_code, 0) << list.err;
  nlohmann::json all = json_of(list);
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0]["name"], "tank/docs");
  EXPECT_EQ(all[0]["kind"], "live");
  EXPECT_EQ(all[0]["recordsize"], 65536);
  EXPECT_EQ(all[0]["quota_bytes"], uint64_t{1} << 30);
  EXPECT_TRUE(all[0]["mountpoint"].is_null());
  EXPECT_EQ(all[0]["auto_snapshots"]["enabled"], true);  // the default schedule
  EXPECT_EQ(all[0]["auto_snapshots"]["hourly"], 24);
  EXPECT_EQ(all[0]["auto_snapshots"]["monthly"], 12);
  RunResult set = lares("dataset set tank/docs --auto-snapshots off --keep-daily 3 --quota 0");
  ASSERT_EQ(set.exit_code, 0) << set.err;
  EXPECT_EQ(lares("dataset set tank/docs --auto-snapshots maybe").exit_code, 2);
  all = json_of(lares("dataset list tank --json"));
  EXPECT_EQ(all[0]["auto_snapshots"]["enabled"], false);
  EXPECT_EQ(all[0]["auto_snapshots"]["daily"], 3);
  EXPECT_EQ(all[0]["quota_bytes"], 0);
  RunResult gone = lares("dataset destroy tank/docs");
  ASSERT_EQ(gone.exit_code, 0) << gone.err;
  EXPECT_EQ(json_of(lares("dataset list tank --json")).size(), 0u);
  EXPECT_EQ(lares("dataset destroy tank/docs").exit_code, 1);
}

TEST_F(DatasetCliTest, MountSnapshotRollbackClone) {
  if (!fuse_available()) GTEST_SKIP() << "needs root and /dev/fuse";
  make_pool();
  ASSERT_EQ(lares("dataset create tank/docs").exit_code, 0);
  mount("docs");
  const std::string root = temp_.sub("mnt");
  spit(root + "/letter.txt", "first draft");
  ASSERT_EQ(::mkdir((root + "/sub").c_str(), 0755), 0);
  spit(root + "/sub/notes", "notes v1");

  // Mounted: the snapshot goes through the mount.
  RunResult snap = lares("snapshot create tank/docs@monday");
  ASSERT_EQ(snap.exit_code, 0) << snap.err;
  EXPECT_EQ(slurp(root + "/.lares/snapshots/monday/letter.txt"), "first draft");
  spit(root + "/letter.txt", "second draft");
  ::unlink((root + "/sub/notes").c_str());
  // Mounted: rollback and destroy are refused, saying what to do.
  RunResult refused = lares("rollback tank/docs@monday");
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("umount"), std::string::npos) << refused.err;
  RunResult list = lares("dataset list --json");
  ASSERT_EQ(list.exit_code, 0) << list.err;
  EXPECT_EQ(json_of(list)[0]["mountpoint"], root);
  umount();

  RunResult snaps = lares("snapshot list tank/docs --json");
  ASSERT_EQ(snaps.exit_code, 0) << snaps.err;
  ASSERT_EQ(json_of(snaps).size(), 1u);
  nlohmann::json monday = json_of(snaps)[0];
  EXPECT_EQ(monday["layout"], "live");
  // It alone holds the first draft and the notes (changed or gone since).
  EXPECT_GT(monday["unique_bytes"].get<uint64_t>(), 0u);
  EXPECT_GE(monday["referenced_bytes"].get<uint64_t>(), monday["unique_bytes"].get<uint64_t>());
  // Not mounted: a snapshot straight in the repository.
  ASSERT_EQ(lares("snapshot create tank/docs@tuesday").exit_code, 0);
  RunResult rolled = lares("rollback tank/docs@monday");
  ASSERT_EQ(rolled.exit_code, 0) << rolled.err;
  RunResult cloned = lares("clone tank/docs@tuesday tank/copy");
  ASSERT_EQ(cloned.exit_code, 0) << cloned.err;

  mount("docs");
  EXPECT_EQ(slurp(root + "/letter.txt"), "first draft");
  EXPECT_EQ(slurp(root + "/sub/notes"), "notes v1");
  umount();
  mount("copy");
  EXPECT_EQ(slurp(root + "/letter.txt"), "second draft");
  struct stat st {};
  EXPECT_NE(::stat((root + "/sub/notes").c_str(), &st), 0);
  spit(root + "/clone-only", "x");
  umount();
  mount("docs");  // the clone's changes do not show in its origin
  EXPECT_NE(::stat((root + "/clone-only").c_str(), &st), 0);
  umount();

  EXPECT_EQ(lares("dataset destroy tank/docs").exit_code, 1);  // has snapshots
  ASSERT_EQ(lares("dataset destroy tank/docs --recursive").exit_code, 0);
  RunResult gc = lares("repo gc tank");
  ASSERT_EQ(gc.exit_code, 0) << gc.err;
  RunResult check = lares("repo check tank --read-data");
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
  mount("copy");  // still whole after the gc
  EXPECT_EQ(slurp(root + "/letter.txt"), "second draft");
  EXPECT_EQ(slurp(root + "/clone-only"), "x");
  umount();
}

// A backup dataset mounts read-only as it was backed up, and clones into a
// writable live dataset that shares its data.
// Pool names are unique within one LARES_HOME, not on the machine: a mount
// of another home's "tank/docs" must not make this home's tank/docs look
// mounted, and a snapshot of ours must not be taken through their mount.
TEST_F(DatasetCliTest, SameNamedPoolOfAnotherHomeIsNotOurs) {
  if (!fuse_available()) GTEST_SKIP() << "needs root and /dev/fuse";
  make_pool();
  ASSERT_EQ(lares("dataset create tank/docs").exit_code, 0);
  mount("docs");
  const std::string other_home = temp_.sub("other-home");
  auto other = [&](const std::string& args) {
    return testing::run_lares(LARES_BINARY, other_home,
                              args + " --passphrase-file " + shell_quote(temp_.sub("pass")),
                              "/dev/null", temp_.sub("stderr-other.txt"));
  };
  std::string devices;
  for (int i = 0; i < 3; ++i) devices += " " + shell_quote(temp_.sub("o" + std::to_string(i)));
  ASSERT_EQ(other("pool create tank --kdf-memory 8M --kdf-ops 1" + devices).exit_code, 0);
  ASSERT_EQ(other("dataset create tank/docs").exit_code, 0);
  nlohmann::json listed = json_of(other("dataset list --json"));
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_TRUE(listed[0]["mountpoint"].is_null()) << listed.dump();
  RunResult snap = other("snapshot create tank/docs@theirs");
  ASSERT_EQ(snap.exit_code, 0) << snap.err;
  // Ours, seen through our own mount, has no such snapshot.
  struct stat st {};
  EXPECT_NE(::stat((temp_.sub("mnt") + "/.lares/snapshots/theirs").c_str(), &st), 0);
  listed = json_of(lares("dataset list --json"));
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0]["mountpoint"], temp_.sub("mnt"));
  RunResult gone = other("dataset destroy tank/docs --recursive");
  EXPECT_EQ(gone.exit_code, 0) << gone.err;
  umount();
  EXPECT_EQ(json_of(lares("dataset list --json")).size(), 1u);  // ours is still there
}

TEST_F(DatasetCliTest, BackupSnapshotsMountAndClone) {
  if (!fuse_available()) GTEST_SKIP() << "needs root and /dev/fuse";
  make_pool();
  const std::string src = temp_.sub("src");
  ASSERT_TRUE(testing::generate_tree(src, {}).is_ok());
  RunResult backup = lares("backup " + shell_quote(src) + " tank/photos --name first");
  ASSERT_EQ(backup.exit_code, 0) << backup.err;
  const std::string root = temp_.sub("mnt");

  mount("photos");  // the newest backup snapshot, read-only
  auto diffs = testing::compare_trees(src, root);
  EXPECT_TRUE(diffs.empty()) << testing::join_lines(diffs);
  EXPECT_NE(::mkdir((root + "/new").c_str(), 0755), 0);
  EXPECT_EQ(errno, EROFS);
  umount();

  RunResult cloned = lares("clone tank/photos@first tank/photos-live");
  ASSERT_EQ(cloned.exit_code, 0) << cloned.err;
  mount("photos-live");
  diffs = testing::compare_trees(src, root);
  EXPECT_TRUE(diffs.empty()) << testing::join_lines(diffs);
  spit(root + "/added", "written in the clone");
  umount();
  mount("photos-live");
  EXPECT_EQ(slurp(root + "/added"), "written in the clone");
  umount();
  RunResult check = lares("repo check tank --read-data");
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
}

TEST_F(DatasetCliTest, MountErrorsAreClear) {
  make_pool();
  ::mkdir(temp_.sub("mnt").c_str(), 0755);
  RunResult missing = lares("mount tank/nothing " + mnt());
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("dataset list"), std::string::npos) << missing.err;
  ASSERT_EQ(lares("dataset create tank/docs").exit_code, 0);
  RunResult not_dir = lares("mount tank/docs " + shell_quote(temp_.sub("no-such-dir")));
  EXPECT_EQ(not_dir.exit_code, 1);
  EXPECT_NE(not_dir.err.find("mkdir"), std::string::npos) << not_dir.err;
  RunResult no_mount = lares_plain("umount " + mnt());
  EXPECT_EQ(no_mount.exit_code, 1);
}

}  // namespace
}  // namespace lares
