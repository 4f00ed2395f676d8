// The 3-2-1 report: policies in lares.toml, the protection state file, and
// the verdict for each situation a home lab meets (no targets, a stale copy,
// damage found by verify, everything on one kind of media, nothing off site).
#include "protect/protection.h"

#include <gtest/gtest.h>

#include "testing/temp_dir.h"
#include "util/file.h"

namespace lares {
namespace {

constexpr int64_t kNow = 1795400000;
constexpr int64_t kHour = 3600;

std::vector<TargetConfig> three_targets() {
  TargetConfig usb;
  usb.name = "usb";
  usb.kind = TargetKind::kLocal;
  usb.path = "/mnt/usb";
  TargetConfig box;
  box.name = "box";
  box.kind = TargetKind::kSftp;
  box.offsite = true;
  box.host = "h";
  box.user = "u";
  box.path = "p";
  box.identity_file = "/k";
  box.known_hosts = "/kh";
  TargetConfig usb2 = usb;
  usb2.name = "usb2";
  usb2.path = "/mnt/usb2";
  return {usb, box, usb2};
}

ReplicationRecord replicated(const std::string& target, int64_t hours_ago) {
  ReplicationRecord r;
  r.dataset = "tank/photos";
  r.target = target;
  r.time_unix = r.last_success_unix = kNow - hours_ago * kHour;
  r.ok = true;
  r.newest_snapshot_ns = (kNow - hours_ago * kHour - 60) * 1000000000;
  r.snapshots = 3;
  return r;
}

TEST(ProtectionTest, HoldsWithAFreshOffsiteCopyOnAnotherMedium) {
  ProtectPolicy policy{"tank/photos", {"usb", "box"}, 24, {}};
  ProtectState state;
  state.record(replicated("usb", 2));
  state.record(replicated("box", 20));
  DatasetProtection d = evaluate_protection("tank/photos", (kNow - 3 * kHour) * 1000000000,
                                            &policy, three_targets(), state, kNow);
  EXPECT_TRUE(d.holds_321) << d.reasons.size();
  ASSERT_EQ(d.copies.size(), 3u);
  EXPECT_EQ(d.copies[0].where, "pool tank");
  EXPECT_EQ(d.copies[2].media, "SFTP server");
  EXPECT_TRUE(d.copies[2].offsite);
}

TEST(ProtectionTest, EachBrokenRuleIsNamedWithTheNextStep) {
  // No policy, nothing replicated: one copy, one medium, nothing off site.
  DatasetProtection none =
      evaluate_protection("tank/photos", kNow * 1000000000, nullptr, three_targets(), {}, kNow);
  EXPECT_FALSE(none.holds_321);
  ASSERT_EQ(none.reasons.size(), 3u);
  EXPECT_NE(none.reasons[0].find("protect set"), std::string::npos) << none.reasons[0];

  // Two local disks: three copies, two media, but nothing off site.
  ProtectPolicy local{"tank/photos", {"usb", "usb2"}, 24, {}};
  ProtectState state;
  state.record(replicated("usb", 1));
  state.record(replicated("usb2", 1));
  DatasetProtection onsite =
      evaluate_protection("tank/photos", kNow * 1000000000, &local, three_targets(), state, kNow);
  ASSERT_EQ(onsite.reasons.size(), 1u);
  EXPECT_NE(onsite.reasons[0].find("off site"), std::string::npos);

  // A stale off-site copy does not count, and says how old it is.
  ProtectPolicy policy{"tank/photos", {"usb", "box"}, 24, {}};
  state.record(replicated("box", 72));
  DatasetProtection stale =
      evaluate_protection("tank/photos", kNow * 1000000000, &policy, three_targets(), state, kNow);
  EXPECT_FALSE(stale.holds_321);
  EXPECT_FALSE(stale.copies[2].counts);
  EXPECT_NE(stale.copies[2].problem.find("72 hours ago"), std::string::npos)
      << stale.copies[2].problem;
  // A weekly policy tolerates it.
  policy.interval_hours = 7 * 24;
  EXPECT_TRUE(evaluate_protection("tank/photos", kNow * 1000000000, &policy, three_targets(),
                                  state, kNow)
                  .holds_321);

  // Damage found by verify: the copy no longer counts until repaired.
  VerificationRecord v;
  v.target = "box";
  v.time_unix = kNow - kHour;
  v.ok = false;
  v.problems = 2;
  state.record(v);
  DatasetProtection damaged =
      evaluate_protection("tank/photos", kNow * 1000000000, &policy, three_targets(), state, kNow);
  EXPECT_FALSE(damaged.holds_321);
  EXPECT_NE(damaged.copies[2].problem.find("--repair"), std::string::npos);

  // A target the policy names but the config lost.
  ProtectPolicy ghost{"tank/photos", {"gone"}, 24, {}};
  DatasetProtection lost =
      evaluate_protection("tank/photos", kNow * 1000000000, &ghost, three_targets(), {}, kNow);
  EXPECT_NE(lost.copies[1].problem.find("no longer defined"), std::string::npos);
}

TEST(ProtectionTest, PoliciesParseStrictly) {
  const std::string targets =
      "[targets.usb]\ntype = \"local\"\npath = \"/mnt/usb\"\n"
      "[targets.box]\ntype = \"local\"\npath = \"/mnt/box\"\noffsite = true\n";
  auto ok = parse_policies(targets + "[protect.\"tank/photos\"]\ntargets = [\"usb\", \"box\"]\n"
                                     "interval_hours = 6\nkeep_daily = 30\n",
                           "/etc/lares.toml");
  ASSERT_TRUE(ok.is_ok()) << ok.status().to_string();
  ASSERT_EQ(ok->size(), 1u);
  EXPECT_EQ((*ok)[0], (ProtectPolicy{"tank/photos", {"usb", "box"}, 6, {0, 0, 30, 0, 0, 0}}));
  for (const char* broken : {
           "[protect.\"tank/photos\"]\ntargets = [\"nowhere\"]\n",
           "[protect.\"tank/photos\"]\ntargets = []\n",
           "[protect.\"tank/photos\"]\ntargets = [\"usb\", \"usb\"]\n",
           "[protect.\"tank/photos\"]\ntargets = [\"usb\"]\ninterval_hours = 0\n",
           "[protect.\"tank/photos\"]\ntargets = [\"usb\"]\nevery = 6\n",
           "[protect.\"tank/photos\"]\ntargets = [\"usb\"]\nkeep_forever = 6\n",
           "[protect.\"tank/photos\"]\ntargets = [\"usb\"]\nkeep_daily = -1\n",
           "[protect.\"photos\"]\ntargets = [\"usb\"]\n",
           "[protect.\"tank/-x\"]\ntargets = [\"usb\"]\n",
           "protect = 3\n",
       }) {
    auto r = parse_policies(targets + broken, "/etc/lares.toml");
    EXPECT_EQ(r.status().code(), Code::kCorruption) << broken;
    EXPECT_NE(r.status().message().find("/etc/lares.toml"), std::string::npos) << broken;
  }
}

TEST(ProtectionTest, PoliciesAndTargetsShareTheFileWithoutLosingEachOther) {
  testing::TempDir dir;
  const std::string path = dir.sub("lares.toml");
  ASSERT_TRUE(save_targets(path, three_targets()).is_ok());
  ASSERT_TRUE(save_policies(path, {{"tank/photos", {"usb", "box"}, 12, {0, 0, 7, 4, 0, 0}}}).is_ok());
  auto targets = load_targets(path);
  ASSERT_TRUE(targets.is_ok());
  EXPECT_EQ(targets->size(), 3u);
  // A later target change keeps the policies.
  targets->pop_back();
  ASSERT_TRUE(save_targets(path, *targets).is_ok());
  auto policies = load_policies(path);
  ASSERT_TRUE(policies.is_ok()) << policies.status().to_string();
  ASSERT_EQ(policies->size(), 1u);
  EXPECT_EQ((*policies)[0].interval_hours, 12);
  EXPECT_EQ((*policies)[0].retention.weekly, 4);
  // Removing a target a policy names would leave the file invalid: the
  // policy check catches it when the file is read.
  ASSERT_TRUE(save_targets(path, {three_targets()[1]}).is_ok());
  EXPECT_EQ(load_policies(path).status().code(), Code::kCorruption);
}

TEST(ProtectionTest, StateRoundTripsAndRejectsDamage) {
  ProtectState state;
  state.record(replicated("usb", 1));
  ReplicationRecord failed = replicated("box", 30);
  failed.ok = false;
  failed.error = "connection refused";
  state.record(failed);
  VerificationRecord v;
  v.target = "usb";
  v.time_unix = kNow;
  v.ok = true;
  v.sample_percent = 12.5;
  v.last_success_unix = kNow;
  state.record(v);
  testing::TempDir dir;
  const std::string path = dir.sub("protect-state.json");
  ASSERT_TRUE(save_protect_state(path, state).is_ok());
  auto back = load_protect_state(path);
  ASSERT_TRUE(back.is_ok()) << back.status().to_string();
  ASSERT_EQ(back->replications.size(), 2u);
  EXPECT_EQ(back->replication("tank/photos", "box")->error, "connection refused");
  EXPECT_DOUBLE_EQ(back->verification("usb")->sample_percent, 12.5);
  EXPECT_TRUE(load_protect_state(dir.sub("missing.json"))->replications.empty());
  for (const char* broken : {"{", "[]", "{\"format\": 2, \"replications\": [], \"verifications\": []}",
                             "{\"format\": 1, \"replications\": [{}], \"verifications\": []}",
                             "{\"format\": 1, \"replications\": []}"}) {
    EXPECT_FALSE(parse_protect_state(broken, path).is_ok()) << broken;
  }
}

}  // namespace
}  // namespace lares
