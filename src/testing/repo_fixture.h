// A repository in a temporary folder, for tests of the repository and of
// what is built on it (backup, restore, gc, check).
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "chunks/repository.h"
#include "objects/dir_store.h"
#include "testing/temp_dir.h"

namespace lares::testing {

// The passphrase of every FolderRepoTest repository.
inline constexpr char kTestPassphrase[] = "pw";

// Fast key derivation, small packs (so tests see many of them).
InitOptions fast_init_options(uint64_t pack_size_bytes = 1 << 20);

// Lines joined with newlines, for test failure messages.
std::string join_lines(const std::vector<std::string>& lines);

// A fixture with a new repository in <temp>/repo.
class FolderRepoTest : public ::testing::Test {
 protected:
  explicit FolderRepoTest(uint64_t pack_size_bytes = 1 << 20) : pack_size_(pack_size_bytes) {}
  void SetUp() override;
  // Opens the repository again, as a new process would.
  Result<std::unique_ptr<Repository>> reopen();
  // Backs `folder` up into dataset "photos" as snapshot `name` (a failure
  // fails the test and returns an empty record).
  SnapshotRecord back_up(const std::string& folder, const std::string& name);
  // Restores photos@`snapshot` of `repo` into a new folder and expects it to
  // be identical to `tree`.
  void expect_restores(Repository& repo, const std::string& snapshot, const std::string& tree);

  TempDir dir_;
  std::unique_ptr<DirStore> store_;
  std::unique_ptr<Repository> repo_;

 private:
  uint64_t pack_size_;
  int restores_ = 0;
};

}  // namespace lares::testing
