#include "testing/repo_fixture.h"

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

}  // namespace lares::testing
