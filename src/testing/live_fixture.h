// A live dataset in a temporary folder repository, for tests of LiveFs and
// what is built on it (snapshots, space, diff).
#pragma once

#include <memory>

#include "fs/dataset.h"
#include "fs/live_fs.h"
#include "testing/repo_fixture.h"

namespace lares::testing {

class LiveDatasetTest : public FolderRepoTest {
 protected:
  // The dataset "live" with this record size, opened with default options
  // except a long commit interval (tests commit with sync()).
  explicit LiveDatasetTest(uint32_t recordsize = kDefaultRecordSize) : recordsize_(recordsize) {}
  void SetUp() override;
  // Closes the dataset (committing it) and opens it again with `options`.
  void open_fs(LiveOptions options = {});

  std::unique_ptr<DatasetStore> datasets_;
  std::unique_ptr<LiveFs> fs_;

 private:
  uint32_t recordsize_;
};

}  // namespace lares::testing
