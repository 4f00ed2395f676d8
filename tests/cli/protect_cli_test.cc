// End-to-end tests of `lares target add|list|remove`, `lares replicate` and
// `lares restore --from`: a pool's dataset replicated to a folder, the pool
// then destroyed, and everything restored from the replica with the
// passphrase alone; and the errors a user sees.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "protect/targets.h"
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

class ProtectCliTest : public ::testing::Test {
 protected:
  ProtectCliTest() : home_(temp_.sub("home")) {
    EXPECT_TRUE(write_file_atomic(temp_.sub("pass"), as_bytes("off site\n")).is_ok());
  }
  RunResult lares(const std::string& args) {
    return testing::run_lares(LARES_BINARY, home_,
                              args + " --passphrase-file " + shell_quote(temp_.sub("pass")),
                              "/dev/null", temp_.sub("stderr.txt"));
  }
  RunResult lares_plain(const std::string& args) {
    return testing::run_lares(LARES_BINARY, home_, args, "/dev/null", temp_.sub("stderr.txt"));
  }
  nlohmann::json json_of(const RunResult& r) {
    nlohmann::json value = nlohmann::json::parse(r.out, nullptr, false);
    EXPECT_FALSE(value.is_discarded()) << "not JSON: " << r.out << r.err;
    return value;
  }
  void make_pool() {
    std::string devices;
    for (int i = 0; i < 3; ++i) devices += " " + shell_quote(temp_.sub("d" + std::to_string(i)));
    RunResult created = lares("pool create tank --kdf-memory 8M --kdf-ops 1" + devices);
    ASSERT_EQ(created.exit_code, 0) << created.err;
  }

  lares::testing::TempDir temp_;
  std::string home_;
};

TEST_F(ProtectCliTest, TargetsAreAddedListedAndRemoved) {
  const std::string usb = temp_.sub("usb");
  ASSERT_EQ(lares_plain("target add usb " + shell_quote(usb)).exit_code, 0);
  RunResult box = lares_plain(
      "target add box sftp://u123@box.example.org:23/lares --identity-file /root/.ssh/id_ed25519 "
      "--known-hosts /root/.ssh/known_hosts");
  ASSERT_EQ(box.exit_code, 0) << box.err;
  ASSERT_EQ(lares_plain("target add cold s3://family/lares --endpoint https://s3.example.com "
                        "--region eu-central-1 --storage-class DEEP_ARCHIVE")
                .exit_code,
            0);
  nlohmann::json list = json_of(lares_plain("target list --json"));
  ASSERT_EQ(list.size(), 3u);
  EXPECT_EQ(list[0]["name"], "box");
  EXPECT_EQ(list[0]["url"], "sftp://u123@box.example.org:23/lares");
  EXPECT_EQ(list[0]["offsite"], true);
  EXPECT_EQ(list[1]["storage_class"], "DEEP_ARCHIVE");
  EXPECT_EQ(list[2]["type"], "local");
  EXPECT_EQ(list[2]["offsite"], false);
  // The file is what the format says, and reads back the same.
  auto parsed = load_targets(home_ + "/lares.toml");
  ASSERT_TRUE(parsed.is_ok()) << parsed.status().to_string();
  ASSERT_EQ(parsed->size(), 3u);
  EXPECT_EQ((*parsed)[0].port, 23);
  EXPECT_EQ((*parsed)[1].region, "eu-central-1");

  EXPECT_EQ(lares_plain("target add usb /elsewhere").exit_code, 1);         // name taken
  EXPECT_EQ(lares_plain("target add rel relative/path").exit_code, 1);      // not absolute
  EXPECT_EQ(lares_plain("target add x sftp://nouser/path").exit_code, 1);   // no user
  EXPECT_EQ(lares_plain("target add x sftp://u@h:99999/p --identity-file /a --known-hosts /b")
                .exit_code,
            1);
  EXPECT_EQ(lares_plain("target add x s3://bucket").exit_code, 1);          // no endpoint
  EXPECT_EQ(lares_plain("target add -x /abs").exit_code, 2);                // looks like an option
  EXPECT_EQ(lares_plain("target add").exit_code, 2);

  ASSERT_EQ(lares_plain("target remove box").exit_code, 0);
  EXPECT_EQ(lares_plain("target remove box").exit_code, 1);
  EXPECT_EQ(json_of(lares_plain("target list --json")).size(), 2u);
}

TEST_F(ProtectCliTest, ADamagedConfigIsAClearError) {
  ASSERT_TRUE(make_dirs(home_).is_ok());
  ASSERT_TRUE(write_file_atomic(home_ + "/lares.toml",
                                as_bytes("[targets.usb]\ntype = \"local\"\npath = 7\n"))
                  .is_ok());
  RunResult r = lares_plain("target list");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("lares.toml"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("'path'"), std::string::npos) << r.err;
  ASSERT_TRUE(write_file_atomic(home_ + "/lares.toml", as_bytes("[targets\n")).is_ok());
  r = lares_plain("target list");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("not valid TOML"), std::string::npos) << r.err;
}

// The pool is lost; the replica and the passphrase bring everything back.
TEST_F(ProtectCliTest, ReplicateThenRecoverFromTheReplicaAlone) {
  make_pool();
  const std::string src = temp_.sub("src");
  testing::TreeSpec spec;
  spec.seed = 21;
  ASSERT_TRUE(testing::generate_tree(src, spec).is_ok());
  ASSERT_EQ(lares("backup " + shell_quote(src) + " tank/photos --name first").exit_code, 0);
  ASSERT_EQ(lares_plain("target add usb " + shell_quote(temp_.sub("usb"))).exit_code, 0);

  // A live dataset too (a clone of the backup), with a snapshot.
  ASSERT_EQ(lares("clone tank/photos@first tank/live").exit_code, 0);
  ASSERT_EQ(lares("snapshot create tank/live@kept").exit_code, 0);
  ASSERT_EQ(lares("replicate tank/live usb").exit_code, 0);
  RunResult first = lares("replicate tank/photos usb --json");
  ASSERT_EQ(first.exit_code, 0) << first.err;
  nlohmann::json report = json_of(first);
  EXPECT_EQ(report["snapshots_copied"], 1);
  EXPECT_EQ(report["created"], false);  // made by the live dataset's replication
  EXPECT_GT(report["bytes_sent"].get<uint64_t>(), 0u);

  ASSERT_TRUE(testing::mutate_tree(src, 4, 5).is_ok());
  ASSERT_EQ(lares("backup " + shell_quote(src) + " tank/photos --name second").exit_code, 0);
  // An absolute folder works as an unnamed target, and --bwlimit parses.
  RunResult second = lares("replicate tank/photos " + shell_quote(temp_.sub("usb")) +
                           " --bwlimit 500M/s --json");
  ASSERT_EQ(second.exit_code, 0) << second.err;
  report = json_of(second);
  EXPECT_EQ(report["snapshots_copied"], 1);
  EXPECT_EQ(report["snapshots_present"], 1);
  EXPECT_GT(report["bytes_sent"].get<uint64_t>(), 0u);

  // Disaster: the pool's disks and the machine's state are gone.
  for (int i = 0; i < 3; ++i) {
    std::filesystem::remove_all(temp_.sub("d" + std::to_string(i)));
  }
  RunResult restored = lares("restore --from usb photos@second " + shell_quote(temp_.sub("out")));
  ASSERT_EQ(restored.exit_code, 0) << restored.err;
  EXPECT_EQ(testing::join_lines(testing::compare_trees(src, temp_.sub("out"))), "");
  // A whole new pool on new disks, rebuilt from the replica.
  std::string devices;
  for (int i = 0; i < 3; ++i) devices += " " + shell_quote(temp_.sub("new" + std::to_string(i)));
  ASSERT_EQ(lares_plain("pool create tank2" + devices).exit_code, 0);  // no repository yet
  RunResult recovered = lares("repo recover tank2 --from usb --json");
  ASSERT_EQ(recovered.exit_code, 0) << recovered.err;
  nlohmann::json rec = json_of(recovered);
  EXPECT_EQ(rec["datasets"], nlohmann::json::array({"live", "photos"}));
  EXPECT_EQ(rec["live_datasets"], nlohmann::json::array({"live"}));
  EXPECT_EQ(rec["snapshots"], 3);
  RunResult again = lares("restore tank2/photos@second " + shell_quote(temp_.sub("out3")));
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(testing::join_lines(testing::compare_trees(src, temp_.sub("out3"))), "");
  nlohmann::json listed = json_of(lares("dataset list tank2 --json"));
  std::vector<std::string> live;
  for (const auto& d : listed) {
    if (d["kind"] == "live") live.push_back(d["name"]);
  }
  EXPECT_EQ(live, std::vector<std::string>{"tank2/live"}) << listed.dump();
  EXPECT_EQ(lares("repo check tank2 --read-data").exit_code, 0);
  // The newest snapshot by default, and a wrong passphrase changes nothing.
  ASSERT_TRUE(write_file_atomic(temp_.sub("pass"), as_bytes("wrong\n")).is_ok());
  RunResult wrong = lares("restore --from usb photos " + shell_quote(temp_.sub("out2")));
  EXPECT_EQ(wrong.exit_code, 1);
  EXPECT_NE(wrong.err.find("passphrase"), std::string::npos) << wrong.err;
}

// verify reads the replica back: a missing and a damaged pack are found
// (exit 3, naming them), and replicate --repair makes it whole again.
TEST_F(ProtectCliTest, VerifyFindsDamageAndRepairFixesIt) {
  make_pool();
  const std::string src = temp_.sub("src");
  testing::TreeSpec spec;
  spec.seed = 8;
  spec.random_files = 12;
  spec.large_files = 2;
  spec.large_file_bytes = 10 << 20;  // packs are 16 MiB: a few of them
  ASSERT_TRUE(testing::generate_tree(src, spec).is_ok());
  ASSERT_EQ(lares("backup " + shell_quote(src) + " tank/photos").exit_code, 0);
  const std::string usb = temp_.sub("usb");
  ASSERT_EQ(lares("replicate tank/photos " + shell_quote(usb)).exit_code, 0);
  RunResult clean = lares("verify " + shell_quote(usb) + " --json");
  ASSERT_EQ(clean.exit_code, 0) << clean.err;
  EXPECT_EQ(json_of(clean)["ok"], true);
  RunResult sample = lares("verify " + shell_quote(usb) + " --sample 10 --json");
  ASSERT_EQ(sample.exit_code, 0) << sample.err;
  EXPECT_EQ(json_of(sample)["packs_read"], 1);

  std::vector<std::string> packs;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(usb + "/packs")) {
    if (entry.is_regular_file()) packs.push_back(entry.path());
  }
  std::sort(packs.begin(), packs.end());
  ASSERT_GE(packs.size(), 2u);
  std::filesystem::remove(packs[0]);
  {
    std::fstream f(packs[1], std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(100);
    f.put('\x5a');
  }
  RunResult damaged = lares("verify " + shell_quote(usb));
  EXPECT_EQ(damaged.exit_code, 3) << damaged.out << damaged.err;
  EXPECT_NE(damaged.out.find("is missing"), std::string::npos) << damaged.out;
  EXPECT_NE(damaged.out.find("--repair"), std::string::npos) << damaged.out;

  RunResult repaired = lares("replicate tank/photos " + shell_quote(usb) + " --repair --json");
  ASSERT_EQ(repaired.exit_code, 0) << repaired.err;
  EXPECT_EQ(json_of(repaired)["packs_dropped"], 2);
  EXPECT_EQ(lares("verify " + shell_quote(usb)).exit_code, 0);
  EXPECT_EQ(lares("verify " + shell_quote(usb) + " --sample 0").exit_code, 2);
}

// The 3-2-1 report follows what replicate and verify did.
TEST_F(ProtectCliTest, ProtectStatusTurnsSafeOnceTheCopiesExist) {
  make_pool();
  const std::string src = temp_.sub("src");
  ASSERT_TRUE(testing::generate_tree(src, testing::TreeSpec{}).is_ok());
  ASSERT_EQ(lares("backup " + shell_quote(src) + " tank/photos").exit_code, 0);
  RunResult bare = lares("protect status --json");
  EXPECT_EQ(bare.exit_code, 3);  // one copy
  nlohmann::json report = json_of(bare);
  ASSERT_EQ(report.size(), 1u);
  EXPECT_EQ(report[0]["dataset"], "tank/photos");
  EXPECT_EQ(report[0]["rule_3_2_1"], false);

  ASSERT_EQ(lares_plain("target add usb " + shell_quote(temp_.sub("usb"))).exit_code, 0);
  ASSERT_EQ(lares_plain("target add vault " + shell_quote(temp_.sub("vault")) + " --offsite")
                .exit_code,
            0);
  EXPECT_EQ(lares_plain("protect set tank/photos --targets usb,nowhere").exit_code, 1);
  ASSERT_EQ(lares_plain("protect set tank/photos --targets usb,vault --interval-hours 6").exit_code,
            0);
  ASSERT_EQ(lares("replicate tank/photos usb").exit_code, 0);
  report = json_of(lares("protect status --json"));
  EXPECT_EQ(report[0]["rule_3_2_1"], false);
  EXPECT_NE(report[0]["copies"][2]["problem"].get<std::string>().find("never replicated"),
            std::string::npos);
  ASSERT_EQ(lares("replicate tank/photos vault").exit_code, 0);
  RunResult safe = lares("protect status");
  EXPECT_EQ(safe.exit_code, 0) << safe.out;
  EXPECT_NE(safe.out.find("3-2-1 holds"), std::string::npos) << safe.out;

  // Damage found by verify puts it at risk again, with the way out.
  std::filesystem::remove_all(temp_.sub("vault") + "/packs");
  EXPECT_EQ(lares("verify vault").exit_code, 3);
  RunResult risk = lares("protect status");
  EXPECT_EQ(risk.exit_code, 3);
  EXPECT_NE(risk.out.find("--repair"), std::string::npos) << risk.out;
  ASSERT_EQ(lares("replicate tank/photos vault --repair").exit_code, 0);
  EXPECT_EQ(lares("verify vault").exit_code, 0);
  EXPECT_EQ(lares("protect status").exit_code, 0);
  // A target a policy names cannot be removed from under it.
  EXPECT_EQ(lares_plain("target remove vault").exit_code, 1);
  ASSERT_EQ(lares_plain("protect set tank/photos --targets ''").exit_code, 0);
  EXPECT_EQ(lares_plain("target remove vault").exit_code, 0);
}

TEST_F(ProtectCliTest, TargetPruneIsADryRunUntilApplied) {
  make_pool();
  const std::string src = temp_.sub("src");
  ASSERT_TRUE(testing::generate_tree(src, testing::TreeSpec{}).is_ok());
  for (const char* name : {"a", "b", "c"}) {
    ASSERT_EQ(lares("backup " + shell_quote(src) + " tank/photos --name " + name).exit_code, 0);
  }
  ASSERT_EQ(lares_plain("target add cold " + shell_quote(temp_.sub("cold")) +
                        " --keep-last 1 --min-storage-days 90")
                .exit_code,
            0);
  nlohmann::json listed = json_of(lares_plain("target list --json"));
  EXPECT_EQ(listed[0]["retention"]["last"], 1);
  EXPECT_EQ(listed[0]["min_storage_days"], 90);
  ASSERT_EQ(lares("replicate tank/photos cold").exit_code, 0);
  RunResult dry = lares("target prune cold");
  ASSERT_EQ(dry.exit_code, 0) << dry.err;
  EXPECT_NE(dry.out.find("would forget photos@a"), std::string::npos) << dry.out;
  EXPECT_NE(dry.out.find("dry run"), std::string::npos) << dry.out;
  RunResult applied = lares("target prune cold --apply --json");
  ASSERT_EQ(applied.exit_code, 0) << applied.err;
  nlohmann::json report = json_of(applied);
  EXPECT_EQ(report["forgotten"]["photos"], nlohmann::json::array({"a", "b"}));
  EXPECT_EQ(report["kept"], 1);
  // Home keeps all three.
  EXPECT_EQ(json_of(lares("snapshot list tank/photos --json")).size(), 3u);
  // And the next replication does not send a and b back.
  RunResult again = lares("replicate tank/photos cold --json");
  ASSERT_EQ(again.exit_code, 0);
  EXPECT_EQ(json_of(again)["snapshots_copied"], 0);
  ASSERT_EQ(lares_plain("target add nokeep " + shell_quote(temp_.sub("nk"))).exit_code, 0);
  ASSERT_EQ(lares("replicate tank/photos nokeep").exit_code, 0);
  RunResult refused = lares("target prune nokeep --apply");
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("no retention"), std::string::npos) << refused.err;
}

TEST_F(ProtectCliTest, ReplicateErrorsSayWhatToDo) {
  make_pool();
  RunResult r = lares("replicate tank/photos nowhere");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("target add"), std::string::npos) << r.err;
  r = lares("replicate tank/photos " + shell_quote(temp_.sub("usb")));
  EXPECT_EQ(r.exit_code, 1);  // no snapshot yet
  EXPECT_NE(r.err.find("no snapshot"), std::string::npos) << r.err;
  EXPECT_EQ(lares("replicate tank/photos /x --bwlimit fast").exit_code, 2);
  EXPECT_EQ(lares("replicate tank/photos").exit_code, 2);
}

}  // namespace
}  // namespace lares
