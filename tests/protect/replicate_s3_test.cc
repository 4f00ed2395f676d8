// Replication to a real S3 server on loopback — Ceph's radosgw on a one-node
// cluster (src/testing/s3_server.h): full and incremental copies through a
// target as lares.toml names it (credentials from the AWS environment, packs
// in their own storage class); radosgw killed in the middle of an upload and
// restarted, after which the run resumes without sending the packs that had
// arrived; disaster recovery into an empty pool; verify finding a corrupted
// and a missing remote object; and nothing readable in any object.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <set>

#include "fs/backup.h"
#include "fs/check.h"
#include "objects/prefix_store.h"
#include "objects/s3_store.h"
#include "pool/pool.h"
#include "protect/recover.h"
#include "protect/replicate.h"
#include "protect/targets.h"
#include "testing/recording_store.h"
#include "testing/repo_fixture.h"
#include "testing/s3_server.h"
#include "testing/tree_gen.h"
#include "util/file.h"
#include "util/random.h"

namespace lares {
namespace {

using testing::kTestPassphrase;

class ReplicateS3Test : public testing::FolderRepoTest {
 protected:
  void SetUp() override {
    std::string why_not;
    server_ = testing::shared_s3_server(LARES_SOURCE_DIR "/scripts/s3-test-server.sh", &why_not);
    if (server_ == nullptr) {
      const char* ci = std::getenv("CI");
      if ((ci != nullptr && std::string(ci) == "true") ||
          why_not.starts_with("radosgw did not start")) {
        FAIL() << why_not;
      }
      GTEST_SKIP() << why_not;
    }
    FolderRepoTest::SetUp();
    bucket_ = "lares-replica-" + random_hex(6);
  }

  std::unique_ptr<S3Store> connect() {
    auto store = S3Store::open(server_->options(bucket_), CreateIfMissing::kYes);
    EXPECT_TRUE(store.is_ok()) << store.status().to_string();
    return store.is_ok() ? std::move(*store) : nullptr;
  }

  testing::S3Server* server_ = nullptr;
  std::string bucket_;
};

// Through the target as lares.toml describes it: credentials from the AWS
// environment, packs written with their own storage class.
TEST_F(ReplicateS3Test, FullIncrementalAndRecoveryIntoAnEmptyPool) {
  const std::string src = dir_.sub("src");
  testing::TreeSpec spec;
  spec.seed = 41;
  ASSERT_TRUE(testing::generate_tree(src, spec).is_ok());
  back_up(src, "one");
  const std::string frozen = dir_.sub("frozen");
  ASSERT_TRUE(testing::generate_tree(frozen, spec).is_ok());

  const S3Options server = server_->options(bucket_);
  TargetConfig target;
  target.name = "cold";
  target.kind = TargetKind::kS3;
  target.offsite = true;
  target.endpoint = server.endpoint;
  target.region = server.region;
  target.bucket = bucket_;
  target.prefix = "lares";
  target.storage_class = "STANDARD";  // the class radosgw has; a cloud has colder ones
  ::unsetenv("AWS_ACCESS_KEY_ID");
  EXPECT_EQ(open_target_store(target).status().code(), Code::kPermissionDenied);
  ::setenv("AWS_ACCESS_KEY_ID", server.access_key.c_str(), 1);
  ::setenv("AWS_SECRET_ACCESS_KEY", server.secret_key.c_str(), 1);
  auto remote = open_target_store(target);
  ASSERT_TRUE(remote.is_ok()) << remote.status().to_string();

  auto first = replicate_dataset(*repo_, "photos", **remote, ReplicateOptions{});
  ASSERT_TRUE(first.is_ok()) << first.status().to_string();
  EXPECT_EQ(first->snapshots_copied, 1u);
  ASSERT_TRUE(testing::mutate_tree(src, 2, 10).is_ok());
  back_up(src, "two");
  auto second = replicate_dataset(*repo_, "photos", **remote, ReplicateOptions{});
  ASSERT_TRUE(second.is_ok()) << second.status().to_string();
  EXPECT_EQ(second->snapshots_copied, 1u);
  EXPECT_LT(second->bytes_sent, first->bytes_sent);

  auto replica = Repository::open(**remote, Unlock{kTestPassphrase, std::nullopt});
  ASSERT_TRUE(replica.is_ok()) << replica.status().to_string();
  std::vector<std::string> devices;
  for (int i = 0; i < 3; ++i) devices.push_back(dir_.sub("new-disk" + std::to_string(i)));
  auto pool = Pool::create("rebuilt", 1, devices);
  ASSERT_TRUE(pool.is_ok()) << pool.status().to_string();
  PrefixStore pool_repo(**pool, "repo/");
  auto recovered = recover_repository(**replica, pool_repo, ReplicateOptions{});
  ASSERT_TRUE(recovered.is_ok()) << recovered.status().to_string();
  EXPECT_EQ(recovered->snapshots, 2u);
  auto rebuilt = Repository::open(pool_repo, Unlock{kTestPassphrase, std::nullopt});
  ASSERT_TRUE(rebuilt.is_ok());
  expect_restores(**rebuilt, "one", frozen);
  expect_restores(**rebuilt, "two", src);
}

// radosgw dies (SIGKILL) while packs are being uploaded; once it is back,
// the next run sends only what had not arrived.
TEST_F(ReplicateS3Test, KilledServerMidUploadResumesWithoutResendingFinishedPacks) {
  const std::string src = dir_.sub("src");
  testing::TreeSpec spec;
  spec.seed = 42;
  spec.random_files = 30;
  spec.large_files = 4;
  ASSERT_TRUE(testing::generate_tree(src, spec).is_ok());
  back_up(src, "one");  // 1 MiB packs (the fixture): many of them
  S3Options options = server_->options(bucket_);
  options.max_retries = 1;  // fail fast while the server is down
  auto opened = S3Store::open(options, CreateIfMissing::kYes);
  ASSERT_TRUE(opened.is_ok()) << opened.status().to_string();
  testing::RecordingStore counted(**opened);

  std::atomic<bool> killed{false};
  ReplicateOptions replicate;
  replicate.progress = [&](const ReplicateProgress& p) {
    if (!killed && p.bytes_done * 3 > p.bytes_total) {
      killed = true;
      EXPECT_TRUE(server_->kill().is_ok());
    }
  };
  auto cut = replicate_dataset(*repo_, "photos", counted, replicate);
  ASSERT_TRUE(killed.load());
  ASSERT_FALSE(cut.is_ok()) << "the run should fail with the server gone";
  const std::vector<std::string> sent = counted.names_put("packs/");
  const std::set<std::string> arrived(sent.begin(), sent.end());
  ASSERT_FALSE(arrived.empty());
  ASSERT_TRUE(server_->restart().is_ok()) << server_->logs();

  testing::RecordingStore resumed(**opened);
  auto r = replicate_dataset(*repo_, "photos", resumed, ReplicateOptions{});
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(r->packs_adopted, arrived.size());
  for (const auto& name : resumed.names_put()) EXPECT_EQ(arrived.count(name), 0u) << name;
  const std::string frozen = dir_.sub("frozen");
  ASSERT_TRUE(testing::generate_tree(frozen, spec).is_ok());
  auto replica = Repository::open(**opened, Unlock{kTestPassphrase, std::nullopt});
  ASSERT_TRUE(replica.is_ok());
  expect_restores(**replica, "one", frozen);
}

// Bit rot in one remote object and another lost: verify (the check with
// data, on the replica alone) names both; --repair resends them. And no
// object holds a readable name or content.
TEST_F(ReplicateS3Test, VerifyFindsCorruptedAndMissingObjectsAndNothingIsReadable) {
  const std::string src = dir_.sub("src");
  ASSERT_TRUE(make_dirs(src + "/Wills and deeds").is_ok());
  std::string text;
  for (int i = 0; i < 100; ++i) text += "The house goes to CANARY-55511. ";
  ASSERT_TRUE(write_file_atomic(src + "/Wills and deeds/last-will.txt", as_bytes(text)).is_ok());
  testing::TreeSpec spec;
  spec.seed = 43;
  spec.random_files = 10;
  ASSERT_TRUE(testing::generate_tree(src + "/more", spec).is_ok());
  back_up(src, "one");
  auto remote = connect();
  ASSERT_NE(remote, nullptr);
  ASSERT_TRUE(replicate_dataset(*repo_, "photos", *remote, ReplicateOptions{}).is_ok());

  auto names = remote->list("");
  ASSERT_TRUE(names.is_ok());
  for (const std::string& name : *names) {
    auto bytes = remote->get(name);
    ASSERT_TRUE(bytes.is_ok());
    const std::string data(as_chars(*bytes));
    for (const char* canary : {"CANARY-55511", "last-will", "Wills and deeds", "The house"}) {
      EXPECT_EQ(data.find(canary), std::string::npos) << canary << " readable in " << name;
      EXPECT_EQ(name.find(canary), std::string::npos) << name;
    }
  }

  auto packs = remote->list("packs/");
  ASSERT_TRUE(packs.is_ok());
  ASSERT_GE(packs->size(), 2u);
  ASSERT_TRUE(remote->remove((*packs)[0]).is_ok());
  auto rotted = remote->get((*packs)[1]);
  ASSERT_TRUE(rotted.is_ok());
  (*rotted)[64] ^= 0x10;
  ASSERT_TRUE(remote->put((*packs)[1], *rotted).is_ok());

  auto replica = Repository::open(*remote, Unlock{kTestPassphrase, std::nullopt});
  ASSERT_TRUE(replica.is_ok());
  CheckOptions check;
  check.read_data = true;
  auto found = check_repository(**replica, check);
  ASSERT_TRUE(found.is_ok());
  const std::string problems = testing::join_lines(found->problems);
  EXPECT_NE(problems.find((*packs)[0] + " is missing"), std::string::npos) << problems;
  EXPECT_NE(problems.find((*packs)[1]), std::string::npos) << problems;

  ReplicateOptions repair;
  repair.repair = true;
  auto fixed = replicate_dataset(*repo_, "photos", *remote, repair);
  ASSERT_TRUE(fixed.is_ok()) << fixed.status().to_string();
  EXPECT_EQ(fixed->packs_dropped, 2u);
  auto again = Repository::open(*remote, Unlock{kTestPassphrase, std::nullopt});
  ASSERT_TRUE(again.is_ok());
  auto clean = check_repository(**again, check);
  ASSERT_TRUE(clean.is_ok());
  EXPECT_TRUE(clean->problems.empty()) << testing::join_lines(clean->problems);
}

}  // namespace
}  // namespace lares
