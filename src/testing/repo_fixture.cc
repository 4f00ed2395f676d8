#include "testing/repo_fixture.h"

#include "fs/backup.h"
#include "testing/tree_gen.h"

namespace lares::testing {

InitOptions fast_init_options(uint64_t pack_size_bytes) {
  InitOptions o;
  o.argon2 = kArgon2ForTests;
  o.pack_size_bytes = pack_size_bytes;
  return o;
}

std::string join_lines(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

void FolderRepoTest::SetUp() {
  auto store = DirStore::open(dir_.sub("repo"), CreateIfMissing::kYes);
  ASSERT_TRUE(store.is_ok()) << store.status().message();
  store_ = std::move(*store);
  auto repo = Repository::init(*store_, kTestPassphrase, fast_init_options(pack_size_), nullptr);
  ASSERT_TRUE(repo.is_ok()) << repo.status().message();
  repo_ = std::move(*repo);
}

Result<std::unique_ptr<Repository>> FolderRepoTest::reopen() {
  Unlock unlock;
  unlock.passphrase = kTestPassphrase;
  return Repository::open(*store_, unlock);
}

SnapshotRecord FolderRepoTest::back_up(const std::string& folder, const std::string& name) {
  BackupOptions options;
  options.dataset = "photos";
  options.name = name;
  auto r = backup(*repo_, folder, options);
  EXPECT_TRUE(r.is_ok()) << r.status().to_string();
  return r.is_ok() ? r->snapshot : SnapshotRecord{};
}

void FolderRepoTest::expect_restores(Repository& repo, const std::string& snapshot,
                                     const std::string& tree) {
  auto snap = repo.find_snapshot("photos", snapshot);
  ASSERT_TRUE(snap.is_ok()) << snapshot << ": " << snap.status().to_string();
  const std::string out = dir_.sub("restored-" + snapshot + "-" + std::to_string(restores_++));
  auto r = restore(repo, *snap, out, RestoreOptions{});
  ASSERT_TRUE(r.is_ok()) << snapshot << ": " << r.status().to_string();
  EXPECT_EQ(join_lines(compare_trees(tree, out)), "") << snapshot;
}

}  // namespace lares::testing
