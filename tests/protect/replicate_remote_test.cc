// Replication to real servers on loopback, one suite run against each:
// OpenSSH's sshd (SFTP, src/testing/sshd_server.h) and Ceph's radosgw (S3,
// src/testing/s3_server.h). Full and incremental copies; disaster recovery
// from the replica into an empty pool; the server killed in the middle of an
// upload and restarted, after which the run resumes without sending the
// packs that had arrived; verify finding a corrupted and a missing remote
// object, and --repair; nothing readable in any stored object. The S3 case
// also goes through the target as lares.toml names it (credentials from the
// AWS environment, packs in their own storage class).
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <set>

#include "fs/check.h"
#include "objects/prefix_store.h"
#include "objects/s3_store.h"
#include "objects/sftp_store.h"
#include "pool/pool.h"
#include "protect/recover.h"
#include "protect/replicate.h"
#include "protect/targets.h"
#include "testing/recording_store.h"
#include "testing/repo_fixture.h"
#include "testing/s3_server.h"
#include "testing/sshd_server.h"
#include "testing/tree_gen.h"
#include "util/file.h"
#include "util/random.h"

namespace lares {
namespace {

using testing::kTestPassphrase;

bool in_ci() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && std::string(ci) == "true";
}

// A server of one kind, and stores on it.
class Backend {
 public:
  virtual ~Backend() = default;
  // "" when it runs; else why not (a test fails on it under CI, else skips).
  virtual std::string start(const std::string& folder) = 0;
  // A store in a fresh place on the server. `fail_fast`: give up quickly
  // when the server is gone.
  virtual std::unique_ptr<ObjectStore> connect(bool fail_fast) = 0;
  virtual Status kill() = 0;
  virtual Status restart() = 0;
  virtual std::string logs() = 0;
};

class SftpBackend final : public Backend {
 public:
  std::string start(const std::string& folder) override {
    if (!testing::SshdServer::available()) return "needs /usr/sbin/sshd (openssh-server)";
    folder_ = folder;
    if (!make_dirs(folder + "/sshd").is_ok()) return "cannot make " + folder + "/sshd";
    auto server = testing::SshdServer::start(folder + "/sshd");
    if (!server.is_ok()) return "sshd did not start: " + server.status().to_string();
    server_ = std::move(*server);
    return "";
  }
  std::unique_ptr<ObjectStore> connect(bool fail_fast) override {
    SftpOptions options = server_->options(folder_ + "/remote-" + random_hex(4));
    options.timeout_s = fail_fast ? 5 : 10;
    auto store = SftpStore::open(options, CreateIfMissing::kYes);
    EXPECT_TRUE(store.is_ok()) << store.status().to_string();
    return store.is_ok() ? std::move(*store) : nullptr;
  }
  Status kill() override {
    server_->kill();
    return Status::ok();
  }
  Status restart() override { return server_->restart(); }
  std::string logs() override { return server_->log(); }

 private:
  std::string folder_;
  std::unique_ptr<testing::SshdServer> server_;
};

class S3Backend final : public Backend {
 public:
  std::string start(const std::string& /*folder*/) override {
    std::string why_not;
    server_ = testing::shared_s3_server(LARES_SOURCE_DIR "/scripts/s3-test-server.sh", &why_not);
    return why_not;
  }
  std::unique_ptr<ObjectStore> connect(bool fail_fast) override {
    S3Options options = server_->options("lares-replica-" + random_hex(6));
    if (fail_fast) options.max_retries = 1;
    auto store = S3Store::open(options, CreateIfMissing::kYes);
    EXPECT_TRUE(store.is_ok()) << store.status().to_string();
    return store.is_ok() ? std::move(*store) : nullptr;
  }
  Status kill() override { return server_->kill(); }
  Status restart() override { return server_->restart(); }
  std::string logs() override { return server_->logs(); }
  testing::S3Server& server() { return *server_; }

 private:
  testing::S3Server* server_ = nullptr;
};

enum class Kind { kSftp, kS3 };

class ReplicateRemoteTest : public testing::FolderRepoTest,
                            public ::testing::WithParamInterface<Kind> {
 protected:
  void SetUp() override {
    FolderRepoTest::SetUp();
    if (GetParam() == Kind::kSftp) {
      backend_ = std::make_unique<SftpBackend>();
    } else {
      backend_ = std::make_unique<S3Backend>();
    }
    const std::string why_not = backend_->start(dir_.path());
    if (!why_not.empty()) {
      if (in_ci() || why_not.find("did not start") != std::string::npos) FAIL() << why_not;
      GTEST_SKIP() << why_not;
    }
  }

  std::unique_ptr<Backend> backend_;
};

TEST_P(ReplicateRemoteTest, FullIncrementalAndRecoveryIntoAnEmptyPool) {
  const std::string src = dir_.sub("src");
  testing::TreeSpec spec;
  spec.seed = 31;
  ASSERT_TRUE(testing::generate_tree(src, spec).is_ok());
  back_up(src, "one");
  const std::string frozen = dir_.sub("frozen");
  ASSERT_TRUE(testing::generate_tree(frozen, spec).is_ok());
  std::unique_ptr<ObjectStore> remote = backend_->connect(false);
  ASSERT_NE(remote, nullptr);

  auto first = replicate_dataset(*repo_, "photos", *remote, ReplicateOptions{});
  ASSERT_TRUE(first.is_ok()) << first.status().to_string();
  EXPECT_EQ(first->snapshots_copied, 1u);
  ASSERT_TRUE(testing::mutate_tree(src, 2, 10).is_ok());
  back_up(src, "two");
  auto second = replicate_dataset(*repo_, "photos", *remote, ReplicateOptions{});
  ASSERT_TRUE(second.is_ok()) << second.status().to_string();
  EXPECT_EQ(second->snapshots_copied, 1u);
  EXPECT_LT(second->bytes_sent, first->bytes_sent);

  // Disaster: a new pool on new disks, rebuilt from the replica with the
  // passphrase alone.
  auto replica = Repository::open(*remote, Unlock{kTestPassphrase, std::nullopt});
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
  CheckOptions check;
  check.read_data = true;
  auto checked = check_repository(**rebuilt, check);
  ASSERT_TRUE(checked.is_ok());
  EXPECT_TRUE(checked->problems.empty()) << testing::join_lines(checked->problems);
}

// The server dies (SIGKILL) while packs are being uploaded; once it is back,
// the next run sends only what had not arrived.
TEST_P(ReplicateRemoteTest, KilledServerMidUploadResumesWithoutResendingFinishedPacks) {
  const std::string src = dir_.sub("src");
  testing::TreeSpec spec;
  spec.seed = 32;
  spec.random_files = 30;
  spec.large_files = 4;
  ASSERT_TRUE(testing::generate_tree(src, spec).is_ok());
  back_up(src, "one");  // 1 MiB packs (the fixture): many of them
  std::unique_ptr<ObjectStore> remote = backend_->connect(/*fail_fast=*/true);
  ASSERT_NE(remote, nullptr);
  testing::RecordingStore counted(*remote);

  std::atomic<bool> killed{false};
  ReplicateOptions options;
  options.progress = [&](const ReplicateProgress& p) {
    // About a third of the way: kill the server under the transfer.
    if (!killed && p.bytes_done * 3 > p.bytes_total) {
      killed = true;
      EXPECT_TRUE(backend_->kill().is_ok());
    }
  };
  auto cut = replicate_dataset(*repo_, "photos", counted, options);
  ASSERT_TRUE(killed.load());
  ASSERT_FALSE(cut.is_ok()) << "the run should fail with the server gone";
  EXPECT_EQ(cut.status().code(), Code::kUnavailable) << cut.status().to_string();
  const std::vector<std::string> sent = counted.names_put("packs/");
  const std::set<std::string> arrived(sent.begin(), sent.end());
  ASSERT_FALSE(arrived.empty());

  ASSERT_TRUE(backend_->restart().is_ok()) << backend_->logs();
  // The same store object carries on (it reconnects by itself).
  testing::RecordingStore resumed(*remote);
  auto r = replicate_dataset(*repo_, "photos", resumed, ReplicateOptions{});
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(r->packs_adopted, arrived.size());
  for (const auto& name : resumed.names_put()) EXPECT_EQ(arrived.count(name), 0u) << name;

  const std::string frozen = dir_.sub("frozen");
  ASSERT_TRUE(testing::generate_tree(frozen, spec).is_ok());
  auto replica = Repository::open(*remote, Unlock{kTestPassphrase, std::nullopt});
  ASSERT_TRUE(replica.is_ok());
  expect_restores(**replica, "one", frozen);
}

// No object holds a readable name or content. Then bit rot in one remote
// object and another lost: verify (the check with data, on the replica
// alone) names both, and --repair resends them.
TEST_P(ReplicateRemoteTest, NothingReadableAndVerifyFindsCorruptedAndMissingObjects) {
  const std::string src = dir_.sub("src");
  ASSERT_TRUE(make_dirs(src + "/Wills and deeds").is_ok());
  std::string text;
  for (int i = 0; i < 100; ++i) text += "The house goes to CANARY-55511. ";
  ASSERT_TRUE(write_file_atomic(src + "/Wills and deeds/last-will.txt", as_bytes(text)).is_ok());
  testing::TreeSpec spec;
  spec.seed = 43;
  spec.random_files = 10;
  ASSERT_TRUE(testing::generate_tree(src + "/more", spec).is_ok());
  back_up(src, "canary-snapshot");
  std::unique_ptr<ObjectStore> remote = backend_->connect(false);
  ASSERT_NE(remote, nullptr);
  ASSERT_TRUE(replicate_dataset(*repo_, "photos", *remote, ReplicateOptions{}).is_ok());

  auto names = remote->list("");
  ASSERT_TRUE(names.is_ok());
  EXPECT_GT(names->size(), 3u);
  for (const std::string& name : *names) {
    auto bytes = remote->get(name);
    ASSERT_TRUE(bytes.is_ok());
    const std::string data(as_chars(*bytes));
    for (const char* canary :
         {"CANARY-55511", "last-will", "Wills and deeds", "The house", "canary-snapshot"}) {
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

// The target as lares.toml describes it — credentials from the AWS
// environment (refused without them), packs written with their own storage
// class — carries a replication and a restore.
class S3TargetTest : public testing::FolderRepoTest {
 protected:
  void SetUp() override {
    FolderRepoTest::SetUp();
    const std::string why_not = backend_.start(dir_.path());
    if (!why_not.empty()) {
      if (in_ci() || why_not.find("did not start") != std::string::npos) FAIL() << why_not;
      GTEST_SKIP() << why_not;
    }
  }
  S3Backend backend_;
};

TEST_F(S3TargetTest, AnS3TargetFromTheConfigUsesTheEnvironmentsCredentials) {
  const S3Options server = backend_.server().options("lares-cfg");
  TargetConfig target;
  target.name = "cold";
  target.kind = TargetKind::kS3;
  target.offsite = true;
  target.endpoint = server.endpoint;
  target.region = server.region;
  target.bucket = "lares-cfg-" + random_hex(4);
  target.prefix = "lares";
  target.storage_class = "STANDARD";  // the class radosgw has; a cloud has colder ones
  ::unsetenv("AWS_ACCESS_KEY_ID");
  ::unsetenv("AWS_SECRET_ACCESS_KEY");
  EXPECT_EQ(open_target_store(target).status().code(), Code::kPermissionDenied);
  ::setenv("AWS_ACCESS_KEY_ID", server.access_key.c_str(), 1);
  ::setenv("AWS_SECRET_ACCESS_KEY", server.secret_key.c_str(), 1);
  auto remote = open_target_store(target);
  ASSERT_TRUE(remote.is_ok()) << remote.status().to_string();
  const std::string src = dir_.sub("src");
  ASSERT_TRUE(testing::generate_tree(src, testing::TreeSpec{}).is_ok());
  back_up(src, "one");
  auto r = replicate_dataset(*repo_, "photos", **remote, ReplicateOptions{});
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  auto replica = Repository::open(**remote, Unlock{kTestPassphrase, std::nullopt});
  ASSERT_TRUE(replica.is_ok());
  expect_restores(**replica, "one", src);
}

std::string kind_name(const ::testing::TestParamInfo<Kind>& param) {
  return param.param == Kind::kSftp ? "Sftp" : "S3";
}

INSTANTIATE_TEST_SUITE_P(Servers, ReplicateRemoteTest, ::testing::Values(Kind::kSftp, Kind::kS3),
                         kind_name);

}  // namespace
}  // namespace lares
