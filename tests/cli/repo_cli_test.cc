// End-to-end tests of the repository verbs of the `lares` binary: pool create
// with a passphrase, backup, snapshot list/diff (of backup and of live
// snapshots), restore, forget, gc, check, repair, and the errors a user sees
// for a wrong passphrase or bad names.
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "testing/cli_runner.h"
#include "testing/temp_dir.h"
#include "testing/tree_gen.h"
#include "util/bytes.h"
#include "util/file.h"

namespace lares {
namespace {

using testing::RunResult;
using testing::shell_quote;

class RepoCliTest : public ::testing::Test {
 protected:
  RepoCliTest() : home_(temp_.sub("home")) {
    EXPECT_TRUE(write_file_atomic(temp_.sub("pass"), as_bytes("family photos\n")).is_ok());
    EXPECT_TRUE(write_file_atomic(temp_.sub("wrong"), as_bytes("not it\n")).is_ok());
  }

  // `lares <args>` unlocked with the right passphrase file unless told otherwise.
  RunResult lares(const std::string& args, const std::string& pass_file = "pass",
                  const std::string& env = "") {
    std::string full = args + (pass_file.empty() ? "" : " --passphrase-file " +
                                                            shell_quote(temp_.sub(pass_file)));
    return testing::run_lares(LARES_BINARY, home_, full, "/dev/null", temp_.sub("stderr.txt"), env);
  }

  std::string devices() const {
    std::string words;
    for (int i = 0; i < 3; ++i) words += " " + shell_quote(temp_.sub("d" + std::to_string(i)));
    return words;
  }

  nlohmann::json json_of(const RunResult& r) {
    nlohmann::json value = nlohmann::json::parse(r.out, nullptr, false);
    EXPECT_FALSE(value.is_discarded()) << "not JSON: " << r.out << r.err;
    return value;
  }

  std::string src() const { return shell_quote(temp_.sub("src")); }

  lares::testing::TempDir temp_;
  std::string home_;
};

TEST_F(RepoCliTest, PoolBackupListRestoreRoundTrip) {
  RunResult created =
      lares("pool create tank --kdf-memory 8M --kdf-ops 1" + devices());
  ASSERT_EQ(created.exit_code, 0) << created.err;
  EXPECT_NE(created.out.find("Recovery key"), std::string::npos) << created.out;
  ASSERT_TRUE(testing::generate_tree(temp_.sub("src"), {}).is_ok());

  RunResult first = lares("backup " + src() + " tank/home --name monday --json");
  ASSERT_EQ(first.exit_code, 0) << first.err;
  nlohmann::json snap = json_of(first);
  EXPECT_EQ(snap["name"], "monday");
  EXPECT_GT(snap["files"].get<uint64_t>(), 10u);
  RunResult second = lares("backup " + src() + " tank/home --name tuesday");
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_NE(second.out.find("tank/home@tuesday"), std::string::npos) << second.out;

  RunResult list = lares("snapshot list tank/home --json");
  ASSERT_EQ(list.exit_code, 0) << list.err;
  nlohmann::json snaps = json_of(list);
  ASSERT_EQ(snaps.size(), 2u);
  EXPECT_EQ(snaps[0]["name"], "monday");  // oldest first
  EXPECT_EQ(snaps[1]["name"], "tuesday");
  EXPECT_TRUE(snaps[0].contains("time"));

  RunResult restored = lares("restore tank/home@monday " + shell_quote(temp_.sub("out")));
  ASSERT_EQ(restored.exit_code, 0) << restored.err;
  auto diffs = testing::compare_trees(temp_.sub("src"), temp_.sub("out"));
  EXPECT_TRUE(diffs.empty()) << diffs.front();
  // Into a non-empty folder: refused, with the way out named.
  RunResult again = lares("restore tank/home " + shell_quote(temp_.sub("out")));
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_NE(again.err.find("--overwrite"), std::string::npos) << again.err;

  RunResult diff = lares("snapshot diff tank/home@monday tuesday --json");
  ASSERT_EQ(diff.exit_code, 0) << diff.err;
  EXPECT_TRUE(json_of(diff).empty());

  RunResult check = lares("repo check tank --read-data --json");
  ASSERT_EQ(check.exit_code, 0) << check.err << check.out;
  EXPECT_EQ(json_of(check)["ok"], true);
}

TEST_F(RepoCliTest, WrongPassphraseIsAClearErrorAndRecoveryKeyWorks) {
  RunResult init = lares("repo init " + shell_quote(temp_.sub("usb")) + " --kdf-memory 8M --kdf-ops 1");
  ASSERT_EQ(init.exit_code, 0) << init.err;
  // The recovery key is the indented line after the heading.
  size_t at = init.out.find("Recovery key");
  ASSERT_NE(at, std::string::npos);
  size_t start = init.out.find_first_not_of(" \n", init.out.find('\n', at));
  std::string key = init.out.substr(start, init.out.find('\n', start) - start);
  ASSERT_TRUE(testing::generate_tree(temp_.sub("src"), {.specials = false}).is_ok());
  std::string dataset = shell_quote(temp_.sub("usb") + "/docs");
  ASSERT_EQ(lares("backup " + src() + " " + dataset).exit_code, 0);

  RunResult wrong = lares("snapshot list " + dataset, "wrong");
  EXPECT_EQ(wrong.exit_code, 1);
  EXPECT_NE(wrong.err.find("passphrase does not open"), std::string::npos) << wrong.err;

  RunResult none = lares("snapshot list " + dataset, "");
  EXPECT_EQ(none.exit_code, 1);
  EXPECT_NE(none.err.find("LARES_PASSPHRASE"), std::string::npos) << none.err;

  RunResult by_env = lares("snapshot list " + dataset, "", "LARES_PASSPHRASE='family photos'");
  EXPECT_EQ(by_env.exit_code, 0) << by_env.err;

  ASSERT_TRUE(write_file_atomic(temp_.sub("recovery"), as_bytes(key + "\n")).is_ok());
  RunResult recovered =
      lares("restore " + dataset + " " + shell_quote(temp_.sub("out")) + " --recovery-key-file " +
                shell_quote(temp_.sub("recovery")),
            "");
  ASSERT_EQ(recovered.exit_code, 0) << recovered.err;
  EXPECT_TRUE(testing::compare_trees(temp_.sub("src"), temp_.sub("out")).empty());
}

TEST_F(RepoCliTest, ForgetIsADryRunUntilApplyThenGcFrees) {
  ASSERT_EQ(lares("repo init " + shell_quote(temp_.sub("usb")) + " --kdf-memory 8M --kdf-ops 1").exit_code, 0);
  std::string dataset = shell_quote(temp_.sub("usb") + "/home");
  for (const char* name : {"a", "b", "c"}) {
    // A wholly new tree each time, so a forgotten snapshot's packs are all garbage.
    ASSERT_EQ(std::system(("rm -rf " + src()).c_str()), 0);
    testing::TreeSpec spec;
    spec.seed = static_cast<uint64_t>(name[0]);
    spec.specials = false;
    ASSERT_TRUE(testing::generate_tree(temp_.sub("src"), spec).is_ok());
    ASSERT_EQ(lares("backup " + src() + " " + dataset + " --name " + name).exit_code, 0);
  }
  RunResult usage = lares("forget " + dataset);
  EXPECT_EQ(usage.exit_code, 1);
  EXPECT_NE(usage.err.find("--keep"), std::string::npos);

  RunResult dry = lares("forget " + dataset + " --keep-last 1 --json");
  ASSERT_EQ(dry.exit_code, 0) << dry.err;
  nlohmann::json plan = json_of(dry);
  EXPECT_EQ(plan["applied"], false);
  ASSERT_EQ(plan["snapshots"].size(), 3u);
  EXPECT_EQ(plan["snapshots"][2]["keep"], true);
  EXPECT_EQ(plan["snapshots"][0]["keep"], false);
  EXPECT_EQ(json_of(lares("snapshot list " + dataset + " --json")).size(), 3u);

  ASSERT_EQ(lares("forget " + dataset + " --keep-last 1 --apply").exit_code, 0);
  EXPECT_EQ(json_of(lares("snapshot list " + dataset + " --json")).size(), 1u);
  RunResult gc = lares("repo gc " + shell_quote(temp_.sub("usb")) + " --json");
  ASSERT_EQ(gc.exit_code, 0) << gc.err;
  EXPECT_GT(json_of(gc)["bytes_freed"].get<uint64_t>(), 0u);
  RunResult check = lares("repo check " + shell_quote(temp_.sub("usb")) + " --read-data");
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
}

TEST_F(RepoCliTest, DamageIsExitThreeAndRebuildIndexRepairsTheIndex) {
  std::string usb = temp_.sub("usb");
  ASSERT_EQ(lares("repo init " + shell_quote(usb) + " --kdf-memory 8M --kdf-ops 1").exit_code, 0);
  ASSERT_TRUE(testing::generate_tree(temp_.sub("src"), {.specials = false}).is_ok());
  ASSERT_EQ(lares("backup " + src() + " " + shell_quote(usb + "/home") + " --name one").exit_code, 0);

  auto segments = list_dir(usb + "/index");
  ASSERT_TRUE(segments.is_ok() && !segments->empty());
  for (const auto& s : *segments) ASSERT_EQ(::unlink((usb + "/index/" + s).c_str()), 0);
  RunResult broken = lares("repo check " + shell_quote(usb));
  EXPECT_EQ(broken.exit_code, 3) << broken.out << broken.err;
  RunResult repaired = lares("repo repair " + shell_quote(usb) + " --rebuild-index");
  ASSERT_EQ(repaired.exit_code, 0) << repaired.err;
  EXPECT_EQ(lares("repo check " + shell_quote(usb) + " --read-data").exit_code, 0);

  // Flip a byte of a pack: check names the snapshot, exit 3.
  auto dirs = list_dir(usb + "/packs");
  ASSERT_TRUE(dirs.is_ok() && !dirs->empty());
  std::string pack_dir = usb + "/packs/" + dirs->front();
  auto packs = list_dir(pack_dir);
  ASSERT_TRUE(packs.is_ok() && !packs->empty());
  std::string pack = pack_dir + "/" + packs->front();
  auto bytes = read_file(pack);
  ASSERT_TRUE(bytes.is_ok());
  (*bytes)[100] ^= 1;
  ASSERT_TRUE(write_file_atomic(pack, *bytes).is_ok());
  RunResult damaged = lares("repo check " + shell_quote(usb) + " --read-data");
  EXPECT_EQ(damaged.exit_code, 3) << damaged.out << damaged.err;
  EXPECT_NE(damaged.out.find("home@one"), std::string::npos) << damaged.out;
}

TEST_F(RepoCliTest, KeysCanBeAddedChangedAndRemoved) {
  std::string usb = shell_quote(temp_.sub("usb"));
  ASSERT_EQ(lares("repo init " + usb + " --kdf-memory 8M --kdf-ops 1").exit_code, 0);
  ASSERT_TRUE(write_file_atomic(temp_.sub("second"), as_bytes("second one\n")).is_ok());
  ASSERT_TRUE(write_file_atomic(temp_.sub("third"), as_bytes("third one\n")).is_ok());
  RunResult added = lares("key add " + usb + " --label laptop --kdf-memory 8M --kdf-ops 1 " +
                          "--new-passphrase-file " + shell_quote(temp_.sub("second")));
  ASSERT_EQ(added.exit_code, 0) << added.err;
  RunResult list = lares("key list " + usb + " --json", "second");
  ASSERT_EQ(list.exit_code, 0) << list.err;
  nlohmann::json slots = json_of(list);
  ASSERT_EQ(slots.size(), 3u);  // initial passphrase, recovery, laptop
  std::string laptop;
  for (const auto& s : slots) {
    if (s["label"] == "laptop") laptop = s["slot"];
  }
  ASSERT_FALSE(laptop.empty());

  RunResult changed = lares("key passwd " + usb + " --kdf-memory 8M --kdf-ops 1 " +
                            "--new-passphrase-file " + shell_quote(temp_.sub("third")));
  ASSERT_EQ(changed.exit_code, 0) << changed.err;
  EXPECT_EQ(lares("key list " + usb).exit_code, 1);  // the old passphrase is gone
  EXPECT_EQ(lares("key list " + usb, "third").exit_code, 0);

  ASSERT_EQ(lares("key remove " + usb + " " + laptop, "third").exit_code, 0);
  EXPECT_EQ(lares("key list " + usb, "second").exit_code, 1);
  // The last passphrase slot stays.
  nlohmann::json left = json_of(lares("key list " + usb + " --json", "third"));
  for (const auto& s : left) {
    if (s["kind"] != "passphrase") continue;
    RunResult refused = lares("key remove " + usb + " " + s["slot"].get<std::string>(), "third");
    EXPECT_EQ(refused.exit_code, 1);
    EXPECT_NE(refused.err.find("last passphrase"), std::string::npos) << refused.err;
  }
}

TEST_F(RepoCliTest, BadNamesAreUsageErrors) {
  RunResult bad = lares("backup " + src() + " tank");
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("<pool>/<dataset>"), std::string::npos) << bad.err;
  RunResult dots = lares("backup " + src() + " tank/..");
  EXPECT_EQ(dots.exit_code, 1);
  RunResult missing = lares("snapshot list nopool/home");
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("nopool"), std::string::npos) << missing.err;
  RunResult unknown = lares("snapshot frobnicate");
  EXPECT_EQ(unknown.exit_code, 2);
}


// `snapshot diff` of live dataset snapshots goes item by item (fs/live_diff.h)
// and reports renames; a live and a backup snapshot cannot be compared. The
// part that changes files needs a mount (root and /dev/fuse; else skipped).
TEST_F(RepoCliTest, SnapshotDiffOfLiveSnapshots) {
  ASSERT_EQ(lares("pool create tank --kdf-memory 8M --kdf-ops 1" + devices()).exit_code, 0);
  ASSERT_EQ(lares("dataset create tank/docs").exit_code, 0);
  ASSERT_EQ(lares("snapshot create tank/docs@empty").exit_code, 0);
  ASSERT_TRUE(testing::generate_tree(temp_.sub("src"), {}).is_ok());
  ASSERT_EQ(lares("backup " + src() + " tank/home --name monday").exit_code, 0);
  RunResult mixed = lares("snapshot diff tank/docs@empty tank/home@monday");
  EXPECT_EQ(mixed.exit_code, 1);
  EXPECT_NE(mixed.err.find("only snapshots of one kind"), std::string::npos) << mixed.err;

  if (::geteuid() != 0 || ::access("/dev/fuse", R_OK | W_OK) != 0) {
    GTEST_SKIP() << "mounting needs root and /dev/fuse";
  }
  const std::string mnt = temp_.sub("mnt");
  ASSERT_EQ(::mkdir(mnt.c_str(), 0755), 0);
  RunResult mounted = lares("mount tank/docs " + shell_quote(mnt));
  ASSERT_EQ(mounted.exit_code, 0) << mounted.err;
  struct Cleanup {
    std::function<void()> run;
    ~Cleanup() { run(); }
  } unmount{[&] { (void)lares("umount " + shell_quote(mnt), ""); }};  // also after a failure
  ASSERT_EQ(::mkdir((mnt + "/a").c_str(), 0755), 0);
  std::ofstream(mnt + "/a/f") << "one";
  ASSERT_EQ(lares("snapshot create tank/docs@one").exit_code, 0);
  ASSERT_EQ(::rename((mnt + "/a").c_str(), (mnt + "/b").c_str()), 0);
  std::ofstream(mnt + "/b/g") << "two";
  ASSERT_EQ(lares("snapshot create tank/docs@two").exit_code, 0);

  RunResult text = lares("snapshot diff tank/docs@one two");
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_EQ(text.out, "m /\nR /a -> /b\nm /b\n+ /b/g\n");
  RunResult json = lares("snapshot diff tank/docs@two one --json");
  ASSERT_EQ(json.exit_code, 0) << json.err;
  EXPECT_EQ(json_of(json), nlohmann::json::parse(R"([
      {"change": "metadata", "path": "/"},
      {"change": "metadata", "path": "/a"},
      {"change": "renamed", "path": "/b -> /a"},
      {"change": "removed", "path": "/b/g"}])"));
}

}  // namespace
}  // namespace lares
