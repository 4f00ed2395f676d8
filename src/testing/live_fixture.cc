#include "testing/live_fixture.h"

namespace lares::testing {

void LiveDatasetTest::SetUp() {
  FolderRepoTest::SetUp();
  datasets_ = std::make_unique<DatasetStore>(*repo_);
  DatasetHead head;
  head.name = "live";
  head.recordsize = recordsize_;
  ASSERT_TRUE(datasets_->create(head).is_ok());
  open_fs();
}

void LiveDatasetTest::open_fs(LiveOptions options) {
  fs_.reset();
  if (options.txg_interval_ms == LiveOptions{}.txg_interval_ms) options.txg_interval_ms = 60000;
  auto head = datasets_->load("live");
  ASSERT_TRUE(head.is_ok()) << head.status().to_string();
  auto fs = LiveFs::open(*repo_, *datasets_, *head, options);
  ASSERT_TRUE(fs.is_ok()) << fs.status().to_string();
  fs_ = std::move(*fs);
}

}  // namespace lares::testing
