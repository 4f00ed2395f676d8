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

  TempDir dir_;
  std::unique_ptr<DirStore> store_;
  std::unique_ptr<Repository> repo_;

 private:
  uint64_t pack_size_;
};

}  // namespace lares::testing
