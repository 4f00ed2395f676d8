// Replication to a real OpenSSH sshd on loopback (src/testing/sshd_server.h):
// full and incremental copies; the server killed in the middle of an upload
// and restarted, after which the run resumes without sending the packs that
// had arrived; disaster recovery from the SFTP replica into an empty pool;
// verify finding a damaged and a missing remote object; and nothing readable
// in what the server stores.
#include <sys/stat.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "fs/backup.h"
#include "fs/check.h"
#include "objects/prefix_store.h"
#include "objects/sftp_store.h"
#include "pool/pool.h"
#include "protect/recover.h"
#include "protect/replicate.h"
#include "testing/recording_store.h"
#include "testing/repo_fixture.h"
#include "testing/sshd_server.h"
#include "testing/tree_gen.h"
#include "util/file.h"

namespace lares {
namespace {

using testing::kTestPassphrase;

bool in_ci() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && std::string(ci) == "true";
}

class ReplicateSftpTest : public testing::FolderRepoTest {
 protected:
  void SetUp() override {
    if (!testing::SshdServer::available()) {
      if (in_ci()) FAIL() << "CI must install openssh-server (scripts/install-deps.sh)";
      GTEST_SKIP() << "needs /usr/sbin/sshd (openssh-server)";
    }
    FolderRepoTest::SetUp();
    ASSERT_TRUE(make_dirs(dir_.sub("sshd")).is_ok());
    auto server = testing::SshdServer::start(dir_.sub("sshd"));
    ASSERT_TRUE(server.is_ok()) << server.status().to_string();
    server_ = std::move(*server);
  }

  std::unique_ptr<SftpStore> connect() {
    SftpOptions options = server_->options(dir_.sub("remote"));
    options.timeout_s = 10;
    auto store = SftpStore::open(options, CreateIfMissing::kYes);
    EXPECT_TRUE(store.is_ok()) << store.status().to_string();
    return store.is_ok() ? std::move(*store) : nullptr;
  }

  std::unique_ptr<testing::SshdServer> server_;
};

TEST_F(ReplicateSftpTest, FullIncrementalAndRecoveryIntoAnEmptyPool) {
  const std::string src = dir_.sub("src");
  testing::TreeSpec spec;
  spec.seed = 31;
  ASSERT_TRUE(testing::generate_tree(src, spec).is_ok());
  back_up(src, "one");
  const std::string frozen = dir_.sub("frozen");
  ASSERT_TRUE(testing::generate_tree(frozen, spec).is_ok());
  auto remote = connect();
  ASSERT_NE(remote, nullptr);
  EXPECT_TRUE(remote->durable_puts());

  auto first = replicate_dataset(*repo_, "photos", *remote, ReplicateOptions{});
  ASSERT_TRUE(first.is_ok()) << first.status().to_string();
  EXPECT_EQ(first->snapshots_copied, 1u);
  ASSERT_TRUE(testing::mutate_tree(src, 2, 10).is_ok());
  back_up(src, "two");
  auto second = replicate_dataset(*repo_, "photos", *remote, ReplicateOptions{});
  ASSERT_TRUE(second.is_ok()) << second.status().to_string();
  EXPECT_EQ(second->snapshots_copied, 1u);
  EXPECT_LT(second->bytes_sent, first->bytes_sent);

  // Disaster: a new pool on new disks, rebuilt from the SFTP replica with
  // the passphrase alone.
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

// sshd dies (SIGKILL, with its sessions) while packs are being uploaded;
// once it is back, the next run sends only what had not arrived.
TEST_F(ReplicateSftpTest, KilledServerMidUploadResumesWithoutResendingFinishedPacks) {
  const std::string src = dir_.sub("src");
  testing::TreeSpec spec;
  spec.seed = 32;
  spec.random_files = 30;
  spec.large_files = 4;
  ASSERT_TRUE(testing::generate_tree(src, spec).is_ok());
  back_up(src, "one");  // 1 MiB packs (the fixture): many of them
  auto remote = connect();
  ASSERT_NE(remote, nullptr);
  testing::RecordingStore counted(*remote);

  std::atomic<bool> killed{false};
  ReplicateOptions options;
  options.progress = [&](const ReplicateProgress& p) {
    // About a third of the way: kill the server under the transfer.
    if (!killed && p.bytes_done * 3 > p.bytes_total) {
      killed = true;
      server_->kill();
    }
  };
  auto cut = replicate_dataset(*repo_, "photos", counted, options);
  ASSERT_TRUE(killed.load());
  ASSERT_FALSE(cut.is_ok()) << "the run should fail with the server gone";
  EXPECT_EQ(cut.status().code(), Code::kUnavailable) << cut.status().to_string();
  const std::vector<std::string> sent = counted.names_put("packs/");
  const std::set<std::string> arrived(sent.begin(), sent.end());
  ASSERT_FALSE(arrived.empty());

  ASSERT_TRUE(server_->restart().is_ok()) << server_->log();
  // The same store object reconnects by itself.
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

// The provider's disk rots one pack and loses another: verify (the check
// with data, on the replica alone) names both; --repair resends them.
TEST_F(ReplicateSftpTest, VerifyFindsDamagedAndMissingRemoteObjects) {
  const std::string src = dir_.sub("src");
  testing::TreeSpec spec;
  spec.seed = 33;
  spec.random_files = 10;
  ASSERT_TRUE(testing::generate_tree(src, spec).is_ok());
  back_up(src, "one");
  auto remote = connect();
  ASSERT_NE(remote, nullptr);
  ASSERT_TRUE(replicate_dataset(*repo_, "photos", *remote, ReplicateOptions{}).is_ok());
  auto packs = remote->list("packs/");
  ASSERT_TRUE(packs.is_ok());
  ASSERT_GE(packs->size(), 2u);
  // Behind the server's back, on its disk.
  const std::string on_disk = dir_.sub("remote") + "/";
  std::filesystem::remove(on_disk + (*packs)[0]);
  {
    std::fstream f(on_disk + (*packs)[1], std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(64);
    f.put('\x7f');
  }
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

// What the server holds: no file name, no content, no dataset or snapshot
// name, in any file, byte for byte.
TEST_F(ReplicateSftpTest, NothingReadableOnTheServer) {
  const std::string src = dir_.sub("src");
  ASSERT_TRUE(make_dirs(src + "/Medical records").is_ok());
  std::string text;
  for (int i = 0; i < 100; ++i) text += "Diagnosis CANARY-90210 for the whole family. ";
  ASSERT_TRUE(write_file_atomic(src + "/Medical records/diagnosis-letter.txt", as_bytes(text)).is_ok());
  BackupOptions options;
  options.dataset = "private-health";
  options.name = "canary-snapshot";
  ASSERT_TRUE(backup(*repo_, src, options).is_ok());
  auto remote = connect();
  ASSERT_NE(remote, nullptr);
  ASSERT_TRUE(replicate_dataset(*repo_, "private-health", *remote, ReplicateOptions{}).is_ok());
  size_t files = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir_.sub("remote"))) {
    const std::string path = entry.path();
    for (const char* canary : {"CANARY-90210", "diagnosis", "Medical", "private-health",
                               "canary-snapshot"}) {
      EXPECT_EQ(path.find(canary), std::string::npos) << path;
    }
    if (!entry.is_regular_file()) continue;
    ++files;
    std::ifstream in(path, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), {});
    for (const char* canary : {"CANARY-90210", "Diagnosis", "diagnosis-letter", "Medical records",
                               "private-health", "canary-snapshot"}) {
      EXPECT_EQ(bytes.find(canary), std::string::npos) << canary << " readable in " << path;
    }
  }
  EXPECT_GT(files, 3u);
}

}  // namespace
}  // namespace lares
