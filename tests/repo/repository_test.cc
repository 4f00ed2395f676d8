// The repository over a folder and over the pool: keys, blobs, packs, index,
// snapshots; damage is detected, never returned as data.
#include "chunks/repository.h"

#include <gtest/gtest.h>

#include <set>

#include "objects/dir_store.h"
#include "objects/prefix_store.h"
#include "pool/pool.h"
#include "testing/pool_fixture.h"
#include "testing/temp_dir.h"
#include "util/file.h"

namespace lares {
namespace {

using testing::TempDir;

InitOptions fast_options() {
  InitOptions o;
  o.argon2 = kArgon2ForTests;
  o.pack_size_bytes = 1 << 20;
  return o;
}

Unlock with_passphrase(std::string p) {
  Unlock u;
  u.passphrase = std::move(p);
  return u;
}

class RepositoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = DirStore::open(dir_.sub("repo"), CreateIfMissing::kYes);
    ASSERT_TRUE(store.is_ok()) << store.status().message();
    store_ = std::move(*store);
    auto repo = Repository::init(*store_, "correct horse", fast_options(), &recovery_);
    ASSERT_TRUE(repo.is_ok()) << repo.status().message();
    repo_ = std::move(*repo);
  }

  // Adds blobs of the given sizes; returns their ids.
  std::vector<ChunkId> add(std::vector<size_t> sizes, uint64_t seed = 1) {
    std::vector<ChunkId> ids;
    for (size_t size : sizes) {
      Bytes data = testing::test_bytes(seed++, size);
      ChunkId id = repo_->blob_id(data);
      auto added = repo_->add_blob(BlobType::kData, id, data);
      EXPECT_TRUE(added.is_ok()) << added.status().message();
      ids.push_back(id);
    }
    return ids;
  }

  TempDir dir_;
  std::unique_ptr<DirStore> store_;
  std::unique_ptr<Repository> repo_;
  std::string recovery_;
};

TEST_F(RepositoryTest, BlobsRoundTripAcrossReopen) {
  auto ids = add({0, 1, 4096, 300000, 2 << 20, 777});
  // Compressible data too.
  Bytes text(500000, 'a');
  ChunkId text_id = repo_->blob_id(text);
  ASSERT_TRUE(repo_->add_blob(BlobType::kData, text_id, text).is_ok());
  ASSERT_TRUE(repo_->flush().is_ok());
  EXPECT_LT(repo_->added_bytes_stored(), 2 * (2u << 20));

  auto again = Repository::open(*store_, with_passphrase("correct horse"));
  ASSERT_TRUE(again.is_ok()) << again.status().message();
  uint64_t seed = 1;
  for (size_t i = 0; i < ids.size(); ++i) {
    auto data = (*again)->load_blob(ids[i], BlobType::kData);
    ASSERT_TRUE(data.is_ok()) << data.status().message();
    std::vector<size_t> sizes{0, 1, 4096, 300000, 2 << 20, 777};
    EXPECT_EQ(*data, testing::test_bytes(seed++, sizes[i]));
  }
  auto t = (*again)->load_blob(text_id, BlobType::kData);
  ASSERT_TRUE(t.is_ok());
  EXPECT_EQ(*t, text);
  // Asking for the wrong type is refused.
  EXPECT_FALSE((*again)->load_blob(text_id, BlobType::kTree).is_ok());
}

TEST_F(RepositoryTest, DuplicatesAreStoredOnce) {
  auto first = add({100000}, 9);
  uint64_t stored = repo_->added_bytes_stored();
  auto second = add({100000}, 9);
  EXPECT_EQ(first, second);
  EXPECT_EQ(repo_->added_bytes_stored(), stored);
  ASSERT_TRUE(repo_->flush().is_ok());
  auto third = add({100000}, 9);
  EXPECT_EQ(repo_->added_bytes_stored(), stored);
  EXPECT_EQ(repo_->stats().blobs, 1u);
}

TEST_F(RepositoryTest, IndexMemoryGrowsWithBlobsNotBytes) {
  // 400 small blobs and 4 large ones: the index costs the same per blob.
  std::vector<size_t> small(400, 100), large(4, 3 << 20);
  auto small_ids = add(small, 1000);
  auto large_ids = add(large, 5000);
  ASSERT_TRUE(repo_->flush().is_ok());
  std::set<ChunkId> unique(small_ids.begin(), small_ids.end());
  unique.insert(large_ids.begin(), large_ids.end());
  auto again = Repository::open(*store_, with_passphrase("correct horse"));
  ASSERT_TRUE(again.is_ok());
  RepoStats stats = (*again)->stats();
  EXPECT_EQ(stats.blobs, unique.size());
  // 56 bytes per blob in the sorted array, plus one id per pack.
  EXPECT_LE(stats.index_memory_bytes, unique.size() * 64 + stats.packs * 64);
}

TEST_F(RepositoryTest, WrongPassphraseIsClearAndChangesNothing) {
  ASSERT_TRUE(repo_->flush().is_ok());
  auto before = store_->list("");
  ASSERT_TRUE(before.is_ok());
  auto wrong = Repository::open(*store_, with_passphrase("wrong horse"));
  ASSERT_FALSE(wrong.is_ok());
  EXPECT_EQ(wrong.status().code(), Code::kPermissionDenied);
  EXPECT_NE(wrong.status().message().find("passphrase"), std::string::npos);
  auto after = store_->list("");
  ASSERT_TRUE(after.is_ok());
  EXPECT_EQ(*before, *after);
}

TEST_F(RepositoryTest, RecoveryKeyOpensAndPassphrasesCanChange) {
  auto key = parse_recovery_key(recovery_);
  ASSERT_TRUE(key.is_ok()) << key.status().message();
  Unlock u;
  u.recovery_key = std::move(*key);
  auto by_recovery = Repository::open(*store_, u);
  ASSERT_TRUE(by_recovery.is_ok()) << by_recovery.status().message();

  auto slot = repo_->add_passphrase("second one", kArgon2ForTests, "laptop");
  ASSERT_TRUE(slot.is_ok());
  EXPECT_TRUE(Repository::open(*store_, with_passphrase("second one")).is_ok());
  // Unlocked by the recovery key, there is no passphrase to change.
  EXPECT_EQ((*by_recovery)->change_passphrase("x", kArgon2ForTests).code(),
            Code::kFailedPrecondition);
  ASSERT_TRUE(repo_->change_passphrase("new horse", kArgon2ForTests).is_ok());
  EXPECT_FALSE(Repository::open(*store_, with_passphrase("correct horse")).is_ok());
  EXPECT_TRUE(Repository::open(*store_, with_passphrase("new horse")).is_ok());
  ASSERT_TRUE(repo_->remove_slot(*slot).is_ok());
  EXPECT_FALSE(Repository::open(*store_, with_passphrase("second one")).is_ok());
  // The last passphrase slot stays.
  auto slots = repo_->list_slots();
  ASSERT_TRUE(slots.is_ok());
  for (const auto& s : *slots) {
    if (s.kind == KeySlotKind::kPassphrase) {
      EXPECT_EQ(repo_->remove_slot(s.slot_id).code(), Code::kFailedPrecondition);
    }
  }
}

TEST_F(RepositoryTest, InitRefusesAnExistingRepository) {
  auto again = Repository::init(*store_, "x", fast_options(), nullptr);
  ASSERT_FALSE(again.is_ok());
  EXPECT_EQ(again.status().code(), Code::kAlreadyExists);
}

TEST_F(RepositoryTest, DamagedPackIsAnErrorNeverData) {
  auto ids = add({200000, 200000, 200000}, 40);
  ASSERT_TRUE(repo_->flush().is_ok());
  auto packs = store_->list("packs/");
  ASSERT_TRUE(packs.is_ok());
  ASSERT_FALSE(packs->empty());
  // Flip one bit in the middle of every pack.
  for (const auto& name : *packs) {
    std::string path = dir_.sub("repo") + "/" + name;
    auto bytes = read_file(path);
    ASSERT_TRUE(bytes.is_ok());
    (*bytes)[bytes->size() / 3] ^= 0x10;
    ASSERT_TRUE(write_file_atomic(path, *bytes).is_ok());
  }
  auto again = Repository::open(*store_, with_passphrase("correct horse"));
  ASSERT_TRUE(again.is_ok());
  int failures = 0;
  uint64_t seed = 40;
  for (const auto& id : ids) {
    auto data = (*again)->load_blob(id, BlobType::kData);
    if (!data.is_ok()) {
      ++failures;
      EXPECT_EQ(data.status().code(), Code::kCorruption);
      EXPECT_NE(data.status().message().find("packs/"), std::string::npos);
    } else {
      EXPECT_EQ(*data, testing::test_bytes(seed, 200000));
    }
    ++seed;
  }
  EXPECT_GE(failures, 1);
  for (const auto& name : *packs) {
    auto id = pack_id_from_name(name);
    ASSERT_TRUE(id.is_ok());
    std::vector<ChunkId> bad;
    Status st = (*again)->verify_pack(*id, &bad);
    EXPECT_TRUE(!st.is_ok() || !bad.empty());
  }
}

TEST_F(RepositoryTest, IndexRebuildsFromPacksAlone) {
  auto ids = add({100000, 2 << 20, 3 << 20, 5000}, 70);
  ASSERT_TRUE(repo_->flush().is_ok());
  auto segments = store_->list("index/");
  ASSERT_TRUE(segments.is_ok());
  ASSERT_FALSE(segments->empty());
  for (const auto& s : *segments) ASSERT_TRUE(store_->remove(s).is_ok());
  // A stray non-pack is reported, not fatal.
  ASSERT_TRUE(store_->put("packs/zz/not-a-pack", as_bytes("junk")).is_ok());

  auto again = Repository::open(*store_, with_passphrase("correct horse"));
  ASSERT_TRUE(again.is_ok());
  EXPECT_FALSE((*again)->find_blob(ids[0]).has_value());
  std::vector<std::string> bad;
  ASSERT_TRUE((*again)->rebuild_index(&bad).is_ok());
  EXPECT_EQ(bad.size(), 1u);
  for (const auto& id : ids) EXPECT_TRUE((*again)->load_blob(id, BlobType::kData).is_ok());
  auto third = Repository::open(*store_, with_passphrase("correct horse"));
  ASSERT_TRUE(third.is_ok());
  for (const auto& id : ids) EXPECT_TRUE((*third)->find_blob(id).has_value());
}

TEST_F(RepositoryTest, DamagedIndexSegmentSaysHowToRepair) {
  add({1000});
  ASSERT_TRUE(repo_->flush().is_ok());
  auto segments = store_->list("index/");
  ASSERT_TRUE(segments.is_ok() && !segments->empty());
  std::string path = dir_.sub("repo") + "/" + segments->front();
  auto bytes = read_file(path);
  ASSERT_TRUE(bytes.is_ok());
  (*bytes)[30] ^= 1;
  ASSERT_TRUE(write_file_atomic(path, *bytes).is_ok());
  auto again = Repository::open(*store_, with_passphrase("correct horse"));
  ASSERT_FALSE(again.is_ok());
  EXPECT_NE(again.status().message().find("--rebuild-index"), std::string::npos);
}

TEST_F(RepositoryTest, SnapshotsListOldestFirstAndFilterByDataset) {
  Bytes tree = testing::test_bytes(5, 100);
  ChunkId id = repo_->blob_id(tree);
  ASSERT_TRUE(repo_->add_blob(BlobType::kTree, id, tree).is_ok());
  ASSERT_TRUE(repo_->flush().is_ok());
  for (int i : {3, 1, 2}) {
    SnapshotRecord r;
    r.dataset = i == 2 ? "docs" : "photos";
    r.name = "s" + std::to_string(i);
    r.time_ns = i * 1000;
    r.tree = id;
    ASSERT_TRUE(repo_->put_snapshot(&r).is_ok());
    EXPECT_EQ(r.id.size(), 64u);
  }
  auto photos = repo_->list_snapshots("photos");
  ASSERT_TRUE(photos.is_ok());
  ASSERT_EQ(photos->size(), 2u);
  EXPECT_EQ((*photos)[0].name, "s1");
  EXPECT_EQ((*photos)[1].name, "s3");
  auto newest = repo_->find_snapshot("photos", "");
  ASSERT_TRUE(newest.is_ok());
  EXPECT_EQ(newest->name, "s3");
  EXPECT_EQ(repo_->find_snapshot("photos", "nope").status().code(), Code::kNotFound);
  ASSERT_TRUE(repo_->remove_snapshot(newest->id).is_ok());
  EXPECT_EQ(repo_->list_snapshots("photos")->size(), 1u);
  // Bad names are refused.
  SnapshotRecord bad;
  bad.dataset = "../x";
  bad.name = "a";
  EXPECT_EQ(repo_->put_snapshot(&bad).code(), Code::kInvalidArgument);
}

TEST(RepoConfigTest, DecodeIsStrict) {
  RepoConfig c;
  c.id[0] = 1;
  c.created_unix = 5;
  auto back = decode_repo_config(encode_repo_config(c));
  ASSERT_TRUE(back.is_ok()) << back.status().message();
  EXPECT_EQ(back->id, c.id);
  EXPECT_EQ(back->chunker, c.chunker);
  EXPECT_EQ(decode_repo_config("{}").status().code(), Code::kCorruption);
  EXPECT_EQ(decode_repo_config(R"({"format":2})").status().code(), Code::kFailedPrecondition);
  std::string text = encode_repo_config(c);
  text.replace(text.find("\"min\": 262144"), 13, "\"min\": 1.5");
  EXPECT_EQ(decode_repo_config(text).status().code(), Code::kCorruption);
}

TEST(RepositoryOnPoolTest, DamagedShardsUnderTheRepositorySelfHeal) {
  TempDir dir;
  std::vector<std::string> devices;
  for (int i = 0; i < 4; ++i) devices.push_back(dir.sub("d" + std::to_string(i)));
  auto pool = Pool::create("tank", 1, devices);
  ASSERT_TRUE(pool.is_ok()) << pool.status().message();
  PrefixStore store(**pool, "repo/");
  auto repo = Repository::init(store, "pw", fast_options(), nullptr);
  ASSERT_TRUE(repo.is_ok()) << repo.status().message();
  std::vector<ChunkId> ids;
  for (uint64_t s = 0; s < 6; ++s) {
    Bytes data = testing::test_bytes(100 + s, 400000);
    ids.push_back((*repo)->blob_id(data));
    ASSERT_TRUE((*repo)->add_blob(BlobType::kData, ids.back(), data).is_ok());
  }
  ASSERT_TRUE((*repo)->flush().is_ok());
  // Flip a bit in every shard file on one device.
  auto shards = testing::shard_files(devices[1]);
  ASSERT_FALSE(shards.empty());
  for (const auto& f : shards) testing::flip_bit(f, 5000 * 8);
  auto again = Repository::open(store, with_passphrase("pw"));
  ASSERT_TRUE(again.is_ok()) << again.status().message();
  for (uint64_t s = 0; s < 6; ++s) {
    auto data = (*again)->load_blob(ids[s], BlobType::kData);
    ASSERT_TRUE(data.is_ok()) << data.status().message();
    EXPECT_EQ(*data, testing::test_bytes(100 + s, 400000));
  }
}

}  // namespace
}  // namespace lares
