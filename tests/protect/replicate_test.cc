// Replication to a replica on another store (here a folder; the SFTP and S3
// backends have their own end-to-end tests): full and incremental copies,
// restores from the replica alone, resuming after an interrupted transfer,
// what goes over the wire, and the errors.
#include "protect/replicate.h"

#include <sys/stat.h>

#include <gtest/gtest.h>

#include <atomic>
#include <ctime>
#include <set>

#include "fs/backup.h"
#include "fs/gc.h"
#include "fs/live_snapshots.h"
#include "protect/prune.h"
#include "protect/recover.h"
#include "testing/live_fixture.h"
#include "testing/recording_store.h"
#include "testing/repo_fixture.h"
#include "testing/tree_gen.h"
#include "util/file.h"

namespace lares {
namespace {

using testing::kTestPassphrase;

class ReplicateTest : public testing::FolderRepoTest {
 protected:
  void SetUp() override {
    FolderRepoTest::SetUp();
    auto target = DirStore::open(dir_.sub("target"), CreateIfMissing::kYes);
    ASSERT_TRUE(target.is_ok());
    target_ = std::move(*target);
  }

  // Opens the replica as disaster recovery would: passphrase only.
  std::unique_ptr<Repository> open_target() {
    auto repo = Repository::open(*target_, Unlock{kTestPassphrase, std::nullopt});
    EXPECT_TRUE(repo.is_ok()) << repo.status().to_string();
    return repo.is_ok() ? std::move(*repo) : nullptr;
  }

  // Restores every snapshot of the replica and compares it with `folders`
  // (snapshot name -> the folder it was taken of).
  void expect_restores_all(const std::map<std::string, std::string>& folders) {
    auto target = open_target();
    ASSERT_NE(target, nullptr);
    auto snaps = target->list_snapshots("photos");
    ASSERT_TRUE(snaps.is_ok());
    ASSERT_EQ(snaps->size(), folders.size());
    for (const auto& s : *snaps) expect_restores(*target, s.name, folders.at(s.name));
  }

  std::unique_ptr<DirStore> target_;
};

TEST_F(ReplicateTest, FullThenIncrementalRestoreFromTheReplicaAlone) {
  const std::string src = dir_.sub("src");
  testing::TreeSpec spec;
  spec.seed = 7;
  spec.dirs = 40;
  ASSERT_TRUE(testing::generate_tree(src, spec).is_ok());
  back_up(src, "one");
  // A frozen copy of the tree as "one" saw it, to compare restores with.
  const std::string frozen = dir_.sub("frozen-one");
  ASSERT_TRUE(testing::generate_tree(frozen, spec).is_ok());

  auto first = replicate_dataset(*repo_, "photos", *target_, ReplicateOptions{});
  ASSERT_TRUE(first.is_ok()) << first.status().to_string();
  EXPECT_TRUE(first->target_created);
  EXPECT_EQ(first->snapshots_copied, 1u);
  EXPECT_GT(first->blobs_sent, 0u);

  // Nothing new: nothing sent, nothing read but the snapshot lists.
  auto again = replicate_dataset(*repo_, "photos", *target_, ReplicateOptions{});
  ASSERT_TRUE(again.is_ok());
  EXPECT_EQ(again->snapshots_copied, 0u);
  EXPECT_EQ(again->blobs_sent, 0u);
  EXPECT_FALSE(again->target_created);

  ASSERT_TRUE(testing::mutate_tree(src, 3, 5).is_ok());
  back_up(src, "two");
  auto second = replicate_dataset(*repo_, "photos", *target_, ReplicateOptions{});
  ASSERT_TRUE(second.is_ok()) << second.status().to_string();
  EXPECT_EQ(second->snapshots_copied, 1u);
  EXPECT_EQ(second->snapshots_present, 1u);
  EXPECT_LT(second->bytes_sent, first->bytes_sent);
  // Unchanged folders of "one" are skipped unread.
  EXPECT_EQ(second->base_trees_read, first->trees_read);
  EXPECT_LT(second->trees_read * 2, first->trees_read)
      << second->trees_read << " of " << first->trees_read << " trees read again";

  expect_restores_all({{"one", frozen}, {"two", src}});
}

// A 1% change sends at most 1.1x what the backup of that change stored.
TEST_F(ReplicateTest, IncrementalSendsLittleMoreThanTheChange) {
  const std::string src = dir_.sub("src");
  testing::TreeSpec spec;
  spec.seed = 11;
  spec.small_files = 200;
  spec.random_files = 60;
  spec.large_files = 2;
  ASSERT_TRUE(testing::generate_tree(src, spec).is_ok());
  back_up(src, "base");
  testing::RecordingStore counted(*target_);
  ASSERT_TRUE(replicate_dataset(*repo_, "photos", counted, ReplicateOptions{}).is_ok());

  ASSERT_TRUE(testing::mutate_tree(src, 5, 1).is_ok());
  // What the backup of the change writes to the source store.
  std::vector<std::string> before_names;
  auto listed = store_->list("");
  ASSERT_TRUE(listed.is_ok());
  uint64_t before_bytes = 0;
  for (const auto& name : *listed) before_bytes += *store_->size(name);
  back_up(src, "changed");
  listed = store_->list("");
  uint64_t after_bytes = 0;
  for (const auto& name : *listed) after_bytes += *store_->size(name);
  const uint64_t change_bytes = after_bytes - before_bytes;

  counted.reset();
  auto r = replicate_dataset(*repo_, "photos", counted, ReplicateOptions{});
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_GT(change_bytes, 0u);
  EXPECT_LE(static_cast<double>(counted.bytes_put()), 1.1 * static_cast<double>(change_bytes))
      << "sent " << counted.bytes_put() << " bytes for a change the backup stored in "
      << change_bytes;
}

TEST_F(ReplicateTest, AnInterruptedTransferResumesWithoutResendingFinishedPacks) {
  const std::string src = dir_.sub("src");
  testing::TreeSpec spec;
  spec.seed = 3;
  spec.random_files = 20;
  spec.large_files = 3;
  ASSERT_TRUE(testing::generate_tree(src, spec).is_ok());
  back_up(src, "one");

  // The connection drops after the key slots, the config and a few packs.
  testing::RecordingStore failing(*target_);
  failing.fail_after_puts(6);
  auto cut = replicate_dataset(*repo_, "photos", failing, ReplicateOptions{});
  ASSERT_FALSE(cut.is_ok());
  EXPECT_EQ(cut.status().code(), Code::kUnavailable);
  const size_t packs_before = failing.names_put("packs/").size();
  ASSERT_GE(packs_before, 2u) << "the cut should land after some packs";
  EXPECT_TRUE(failing.names_put("snapshots/").empty());
  {
    auto half = open_target();
    ASSERT_NE(half, nullptr);
    EXPECT_TRUE(half->list_snapshots()->empty());  // no snapshot before its data
  }

  testing::RecordingStore resumed(*target_);
  auto r = replicate_dataset(*repo_, "photos", resumed, ReplicateOptions{});
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(r->packs_adopted, packs_before);
  EXPECT_GT(r->blobs_deduplicated, 0u);
  // No pack name is written twice, and what arrived first is not sent again.
  const std::vector<std::string> sent_first = failing.names_put();
  const std::set<std::string> first(sent_first.begin(), sent_first.end());
  for (const auto& name : resumed.names_put()) {
    if (name.rfind("packs/", 0) == 0) {
      EXPECT_EQ(first.count(name), 0u) << name;
    }
  }
  // A stray pack whose trailer does not open is named and left alone.
  const std::string stray = "packs/00/" + std::string(64, '0');
  ASSERT_TRUE(target_->put(stray, as_bytes("not a pack")).is_ok());
  auto full = replicate_dataset(*repo_, "photos", *target_, ReplicateOptions{});
  ASSERT_TRUE(full.is_ok()) << full.status().to_string();
  EXPECT_EQ(full->blobs_sent, 0u);
  ASSERT_EQ(full->packs_unreadable.size(), 1u);
  EXPECT_NE(full->packs_unreadable[0].find(stray), std::string::npos);
  ASSERT_TRUE(target_->remove(stray).is_ok());

  const std::string frozen = dir_.sub("frozen");
  ASSERT_TRUE(testing::generate_tree(frozen, spec).is_ok());
  expect_restores_all({{"one", frozen}});
  // And the replica checks clean: no blob missing, none damaged.
  auto target = open_target();
  ASSERT_NE(target, nullptr);
  for (const IndexPack& pack : target->index_packs()) {
    std::vector<ChunkId> bad;
    ASSERT_TRUE(target->verify_pack(pack.pack_id, &bad).is_ok());
    EXPECT_TRUE(bad.empty());
  }
}

// The store sees sealed packs and sealed records only: no file name, no
// content, no dataset or snapshot name in any object.
TEST_F(ReplicateTest, NothingReadableReachesTheTarget) {
  const std::string src = dir_.sub("src");
  ASSERT_TRUE(make_dirs(src + "/Tax returns 2026").is_ok());
  std::string letter;
  for (int i = 0; i < 200; ++i) letter += "Dear bank, my account number is CANARY-4711-PLAIN. ";
  ASSERT_TRUE(write_file_atomic(src + "/Tax returns 2026/letter-to-the-bank.txt",
                                as_bytes(letter)).is_ok());
  BackupOptions options;
  options.dataset = "family-secrets";
  options.name = "snapshot-name-canary";
  ASSERT_TRUE(backup(*repo_, src, options).is_ok());
  ASSERT_TRUE(replicate_dataset(*repo_, "family-secrets", *target_, ReplicateOptions{}).is_ok());

  auto names = target_->list("");
  ASSERT_TRUE(names.is_ok());
  ASSERT_FALSE(names->empty());
  for (const std::string& name : *names) {
    auto bytes = target_->get(name);
    ASSERT_TRUE(bytes.is_ok());
    const std::string text(as_chars(*bytes));
    for (const char* canary : {"CANARY-4711", "letter-to-the-bank", "Tax returns", "family-secrets",
                               "snapshot-name-canary", "Dear bank"}) {
      EXPECT_EQ(text.find(canary), std::string::npos) << canary << " readable in " << name;
      EXPECT_EQ(name.find(canary), std::string::npos) << canary << " in the name " << name;
    }
  }
}

TEST_F(ReplicateTest, KeySlotsFollowTheSource) {
  const std::string src = dir_.sub("src");
  ASSERT_TRUE(testing::generate_tree(src, testing::TreeSpec{}).is_ok());
  back_up(src, "one");
  ASSERT_TRUE(replicate_dataset(*repo_, "photos", *target_, ReplicateOptions{}).is_ok());
  auto slot = repo_->add_passphrase("second one", kArgon2ForTests, "laptop");
  ASSERT_TRUE(slot.is_ok());
  ASSERT_TRUE(replicate_dataset(*repo_, "photos", *target_, ReplicateOptions{}).is_ok());
  EXPECT_TRUE(Repository::open(*target_, Unlock{"second one", std::nullopt}).is_ok());
  ASSERT_TRUE(repo_->remove_slot(*slot).is_ok());
  ASSERT_TRUE(replicate_dataset(*repo_, "photos", *target_, ReplicateOptions{}).is_ok());
  EXPECT_EQ(Repository::open(*target_, Unlock{"second one", std::nullopt}).status().code(),
            Code::kPermissionDenied);
  EXPECT_NE(open_target(), nullptr);
}

TEST_F(ReplicateTest, ATargetHoldingAnotherRepositoryIsRefused) {
  const std::string src = dir_.sub("src");
  ASSERT_TRUE(testing::generate_tree(src, testing::TreeSpec{}).is_ok());
  back_up(src, "one");
  auto other = Repository::init(*target_, "other", testing::fast_init_options(), nullptr);
  ASSERT_TRUE(other.is_ok());
  auto r = replicate_dataset(*repo_, "photos", *target_, ReplicateOptions{});
  EXPECT_EQ(r.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("different"), std::string::npos);
  EXPECT_EQ(replicate_dataset(*repo_, "nothing-here", *target_, ReplicateOptions{}).status().code(),
            Code::kNotFound);
}

// A damaged blob on the source is an error naming it; the replica gets no
// snapshot that would lack it.
TEST_F(ReplicateTest, ADamagedSourceIsReportedNotCopied) {
  const std::string src = dir_.sub("src");
  ASSERT_TRUE(testing::generate_tree(src, testing::TreeSpec{}).is_ok());
  back_up(src, "one");
  auto packs = store_->list("packs/");
  ASSERT_TRUE(packs.is_ok() && !packs->empty());
  // Flip one byte in the middle of every pack.
  for (const auto& name : *packs) {
    auto bytes = store_->get(name);
    ASSERT_TRUE(bytes.is_ok());
    (*bytes)[bytes->size() / 3] ^= 0x40;
    ASSERT_TRUE(write_file_atomic(dir_.sub("repo") + "/" + name, *bytes).is_ok());
  }
  auto r = replicate_dataset(*repo_, "photos", *target_, ReplicateOptions{});
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kCorruption) << r.status().to_string();
  auto snaps = target_->list("snapshots/");
  ASSERT_TRUE(snaps.is_ok());
  EXPECT_TRUE(snaps->empty());
}

// The replica loses a pack and another is damaged (bit rot at the provider):
// a plain run trusts what is there, --repair finds both and sends their
// blobs again, and the replica restores and checks clean.
TEST_F(ReplicateTest, RepairResendsWhatTheReplicaLost) {
  const std::string src = dir_.sub("src");
  testing::TreeSpec spec;
  spec.seed = 5;
  spec.random_files = 12;
  ASSERT_TRUE(testing::generate_tree(src, spec).is_ok());
  back_up(src, "one");
  ASSERT_TRUE(replicate_dataset(*repo_, "photos", *target_, ReplicateOptions{}).is_ok());
  auto packs = target_->list("packs/");
  ASSERT_TRUE(packs.is_ok());
  ASSERT_GE(packs->size(), 2u);
  ASSERT_TRUE(target_->remove((*packs)[0]).is_ok());
  auto bytes = target_->get((*packs)[1]);
  ASSERT_TRUE(bytes.is_ok());
  (*bytes)[40] ^= 0x01;
  ASSERT_TRUE(write_file_atomic(dir_.sub("target") + "/" + (*packs)[1], *bytes).is_ok());

  auto plain = replicate_dataset(*repo_, "photos", *target_, ReplicateOptions{});
  ASSERT_TRUE(plain.is_ok());
  EXPECT_EQ(plain->blobs_sent, 0u);  // nothing new to send: damage needs --repair

  ReplicateOptions repair;
  repair.repair = true;
  auto fixed = replicate_dataset(*repo_, "photos", *target_, repair);
  ASSERT_TRUE(fixed.is_ok()) << fixed.status().to_string();
  EXPECT_EQ(fixed->packs_dropped, 2u);
  EXPECT_GT(fixed->blobs_sent, 0u);
  EXPECT_EQ(fixed->snapshots_copied, 0u);  // the record was there all along

  const std::string frozen = dir_.sub("frozen");
  ASSERT_TRUE(testing::generate_tree(frozen, spec).is_ok());
  expect_restores_all({{"one", frozen}});
  auto again = replicate_dataset(*repo_, "photos", *target_, repair);
  ASSERT_TRUE(again.is_ok());
  EXPECT_EQ(again->packs_dropped, 0u);
  EXPECT_EQ(again->blobs_sent, 0u);
}

// The target keeps fewer snapshots than home; what it pruned is not sent
// back, and young packs on a cold tier stay until their minimum duration.
TEST_F(ReplicateTest, TargetRetentionPrunesAndIsNotUndoneByReplication) {
  const std::string src = dir_.sub("src");
  testing::TreeSpec spec;
  spec.seed = 9;
  ASSERT_TRUE(testing::generate_tree(src, spec).is_ok());
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(testing::mutate_tree(src, static_cast<uint64_t>(i + 1), 30).is_ok());
    back_up(src, "s" + std::to_string(i));
  }
  ASSERT_TRUE(replicate_dataset(*repo_, "photos", *target_, ReplicateOptions{}).is_ok());
  TargetConfig target;
  target.name = "cold";
  target.kind = TargetKind::kLocal;
  target.path = dir_.sub("target");
  auto replica = open_target();
  ASSERT_NE(replica, nullptr);
  EXPECT_EQ(prune_replica(*replica, target, {}, true, 0).status().code(), Code::kFailedPrecondition);

  target.keep_last = 2;
  target.min_storage_days = 30;
  const int64_t now = static_cast<int64_t>(std::time(nullptr));
  auto dry = prune_replica(*replica, target, {}, /*apply=*/false, now);
  ASSERT_TRUE(dry.is_ok()) << dry.status().to_string();
  EXPECT_EQ(dry->forgotten["photos"], (std::vector<std::string>{"s0", "s1", "s2"}));
  EXPECT_EQ(replica->list_snapshots()->size(), 5u);  // a dry run changes nothing

  auto young = prune_replica(*replica, target, {}, /*apply=*/true, now);
  ASSERT_TRUE(young.is_ok()) << young.status().to_string();
  EXPECT_EQ(young->kept, 2u);
  EXPECT_GT(young->gc.packs_held, 0u);
  EXPECT_EQ(young->gc.packs_deleted + young->gc.packs_repacked, 0u);  // all packs are young
  auto later = prune_replica(*replica, target, {}, /*apply=*/true, now + 31 * 86400);
  ASSERT_TRUE(later.is_ok());
  EXPECT_EQ(later->gc.packs_held, 0u);
  EXPECT_GT(later->gc.bytes_freed, 0u);

  // A dataset's own policy wins over the target's retention.
  auto one = prune_replica(*replica, target, {{"photos", RetentionPolicy{1, 0, 0, 0, 0, 0}}},
                           /*apply=*/false, now + 31 * 86400);
  ASSERT_TRUE(one.is_ok());
  EXPECT_EQ(one->forgotten["photos"], std::vector<std::string>{"s3"});
  EXPECT_EQ(one->kept, 1u);

  auto again = replicate_dataset(*repo_, "photos", *target_, ReplicateOptions{});
  ASSERT_TRUE(again.is_ok());
  EXPECT_EQ(again->snapshots_copied, 0u);
  EXPECT_EQ(again->snapshots_skipped, 3u);
  EXPECT_EQ(again->blobs_sent, 0u);
  back_up(src, "s5");
  auto next = replicate_dataset(*repo_, "photos", *target_, ReplicateOptions{});
  ASSERT_TRUE(next.is_ok());
  EXPECT_EQ(next->snapshots_copied, 1u);
  auto names = open_target()->list_snapshots("photos");
  ASSERT_TRUE(names.is_ok());
  ASSERT_EQ(names->size(), 3u);
  EXPECT_EQ((*names)[0].name, "s3");
  EXPECT_EQ((*names)[2].name, "s5");
}

TEST_F(ReplicateTest, BandwidthLimitPacesTheTransfer) {
  const std::string src = dir_.sub("src");
  testing::TreeSpec spec;
  spec.small_files = 5;
  spec.random_files = 0;
  spec.large_files = 1;
  spec.large_file_bytes = 2 << 20;
  spec.specials = false;
  ASSERT_TRUE(testing::generate_tree(src, spec).is_ok());
  back_up(src, "one");
  ReplicateOptions options;
  options.bytes_per_second_max = 4 << 20;  // about half a second for 2 MiB
  std::atomic<int> calls{0};
  options.progress = [&](const ReplicateProgress& p) {
    ++calls;
    EXPECT_LE(p.bytes_done, p.bytes_total);
  };
  auto r = replicate_dataset(*repo_, "photos", *target_, options);
  ASSERT_TRUE(r.is_ok());
  EXPECT_GT(calls.load(), 0);
  const double floor_s = static_cast<double>(r->bytes_sent) / (4 << 20) * 0.9;
  EXPECT_GE(r->duration_s, floor_s) << r->bytes_sent << " bytes";
}

class ReplicateLiveTest : public testing::LiveDatasetTest {};

TEST_F(ReplicateLiveTest, LiveSnapshotsReplicateAndBrowseOnTheReplica) {
  auto target_store = DirStore::open(dir_.sub("target"), CreateIfMissing::kYes);
  ASSERT_TRUE(target_store.is_ok());
  LiveAttr a;
  ASSERT_EQ(fs_->mknod(kRootIno, "notes.txt", S_IFREG | 0644, 0, Caller{}, &a), 0);
  const std::string v1(300000, 'x');
  ASSERT_EQ(fs_->write(a.ino, 0, as_bytes(v1), false, nullptr), 0);
  ASSERT_TRUE(fs_->sync().is_ok());
  ASSERT_TRUE(create_live_snapshot(*repo_, fs_->head(), "monday").is_ok());
  ASSERT_EQ(fs_->write(a.ino, 1000, as_bytes(std::string("tuesday")), false, nullptr), 0);
  ASSERT_TRUE(fs_->sync().is_ok());
  ASSERT_TRUE(create_live_snapshot(*repo_, fs_->head(), "tuesday").is_ok());

  auto r = replicate_dataset(*repo_, "live", **target_store, ReplicateOptions{});
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(r->snapshots_copied, 2u);

  auto target = Repository::open(**target_store, Unlock{kTestPassphrase, std::nullopt});
  ASSERT_TRUE(target.is_ok());
  DatasetStore datasets(**target);
  // Recovery into a third store brings the live dataset back as of tuesday.
  auto rebuilt_store = DirStore::open(dir_.sub("rebuilt"), CreateIfMissing::kYes);
  ASSERT_TRUE(rebuilt_store.is_ok());
  auto recovered = recover_repository(**target, **rebuilt_store, ReplicateOptions{});
  ASSERT_TRUE(recovered.is_ok()) << recovered.status().to_string();
  EXPECT_EQ(recovered->live_datasets, std::vector<std::string>{"live"});
  EXPECT_EQ(recovered->snapshots, 2u);
  {
    auto rebuilt = Repository::open(**rebuilt_store, Unlock{kTestPassphrase, std::nullopt});
    ASSERT_TRUE(rebuilt.is_ok());
    DatasetStore rebuilt_sets(**rebuilt);
    auto head = rebuilt_sets.load("live");
    ASSERT_TRUE(head.is_ok()) << head.status().to_string();
    auto live = LiveFs::open(**rebuilt, rebuilt_sets, *head, LiveOptions{});
    ASSERT_TRUE(live.is_ok()) << live.status().to_string();
    LiveAttr found;
    ASSERT_EQ((*live)->lookup(kRootIno, "notes.txt", &found), 0);
    Bytes data;
    ASSERT_EQ((*live)->read(found.ino, 1000, 7, &data), 0);
    EXPECT_EQ(std::string(as_chars(data)), "tuesday");
    // Writable again.
    ASSERT_EQ((*live)->write(found.ino, 0, as_bytes(std::string("wednesday")), false, nullptr), 0);
    ASSERT_TRUE((*live)->sync().is_ok());
  }
  // Running it again (an interrupted recovery resumed) changes nothing.
  EXPECT_EQ(recover_repository(**target, **rebuilt_store, ReplicateOptions{}).status().code(),
            Code::kFailedPrecondition);  // the live dataset moved on since
  for (const char* name : {"monday", "tuesday"}) {
    auto snap = (*target)->find_snapshot("live", name);
    ASSERT_TRUE(snap.is_ok()) << name;
    DatasetHead head = fs_->head();
    head.root = snap->tree;
    head.next_ino = snap->next_ino;
    LiveOptions options;
    options.read_only = true;
    auto view = LiveFs::open(**target, datasets, head, options);
    ASSERT_TRUE(view.is_ok()) << view.status().to_string();
    LiveAttr found;
    ASSERT_EQ((*view)->lookup(kRootIno, "notes.txt", &found), 0);
    Bytes data;
    ASSERT_EQ((*view)->read(found.ino, 0, v1.size(), &data), 0);
    std::string expected = v1;
    if (std::string(name) == "tuesday") expected.replace(1000, 7, "tuesday");
    EXPECT_EQ(std::string(as_chars(data)), expected) << name;
  }
}

}  // namespace
}  // namespace lares
