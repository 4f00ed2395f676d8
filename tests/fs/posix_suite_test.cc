// The POSIX behaviour suite (posix_suite.h) on the local filesystems, as the
// reference a Lares mount is held to: a temporary folder on whatever
// $TMPDIR is (ext4 on CI), and a fresh tmpfs when running as root.
#include "posix_suite.h"

namespace lares::testing::posix {
namespace {

std::vector<PosixTarget> local_targets() {
  PosixTarget local;
  local.name = "LocalTemp";
  local.make_dir = [] { return std::unique_ptr<PosixDir>(new LocalDir()); };
  PosixTarget tmpfs;
  tmpfs.name = "Tmpfs";
  tmpfs.make_dir = [] { return TmpfsDir::make(); };
  return {local, tmpfs};
}

INSTANTIATE_TEST_SUITE_P(Local, PosixSuite, ::testing::ValuesIn(local_targets()), PosixTargetName);

}  // namespace
}  // namespace lares::testing::posix
