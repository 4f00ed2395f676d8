// The random op sequence (op_sequence.h) is a function of its seed: run
// twice on two fresh folders of the same kind it gives the same log and the
// same tree. That is what lets it later compare a Lares mount with tmpfs.
#include "op_sequence.h"

#include <gtest/gtest.h>

#include <set>

#include "posix_checks.h"

namespace lares::testing {
namespace {

using posix::LocalDir;
using posix::PosixDir;
using posix::TmpfsDir;

// tmpfs when root (fsync is free there), a local temporary folder otherwise.
std::unique_ptr<PosixDir> scratch_dir() {
  std::unique_ptr<PosixDir> dir = TmpfsDir::make("size=2g,mode=0755");
  if (dir != nullptr) return dir;
  return std::make_unique<LocalDir>();
}

struct SequenceCase {
  uint64_t seed;
  size_t ops;
  int threads;
};

// The error names a log holds, and how many calls succeeded.
struct LogSummary {
  std::set<std::string> errnos;
  std::set<std::string> calls;
  size_t successes = 0;
};

LogSummary summarize(const OpLog& log) {
  LogSummary summary;
  for (const std::string& line : log.lines) {
    const size_t call_at = line.find(' ', line.find(' ') + 1) + 1;
    summary.calls.insert(line.substr(call_at, line.find(' ', call_at) - call_at));
    const std::string result = line.substr(line.rfind(" = ") + 3);
    if (result.size() > 1 && result[0] == 'E') {
      summary.errnos.insert(result);
    } else if (result != "no-fd") {
      ++summary.successes;
    }
  }
  return summary;
}

void expect_same_twice(const SequenceCase& c) {
  SCOPED_TRACE("seed=" + std::to_string(c.seed) + " ops=" + std::to_string(c.ops) +
               " threads=" + std::to_string(c.threads));
  std::unique_ptr<PosixDir> first = scratch_dir();
  std::unique_ptr<PosixDir> second = scratch_dir();
  const OpLog first_log = run_op_sequence(first->path(), c.seed, c.ops, c.threads);
  const OpLog second_log = run_op_sequence(second->path(), c.seed, c.ops, c.threads);
  ASSERT_EQ(first_log.lines.size(), c.ops) << (first_log.lines.empty() ? "" : first_log.lines[0]);
  EXPECT_TRUE(first_log == second_log) << first_difference(first_log, second_log);
  const std::string first_tree = describe_tree(first->path(), TreeTimes::kExclude);
  EXPECT_EQ(first_tree, describe_tree(second->path(), TreeTimes::kExclude));
  EXPECT_EQ(first_tree.find('!'), std::string::npos) << "link counts disagree:\n" << first_tree;

  // The sequence is worth comparing: most calls do something, many fail.
  const LogSummary summary = summarize(first_log);
  EXPECT_GT(summary.successes, c.ops / 5);
  EXPECT_LT(summary.successes, c.ops * 9 / 10);
  EXPECT_NE(first_tree, "");
}

TEST(OpSequence, SameSeedGivesSameLogAndTree) {
  // 100000 calls in all; one seed spread over four threads.
  const SequenceCase cases[] = {{1, 30000, 1}, {2, 25000, 1}, {3, 25000, 1}, {4, 20000, 4}};
  for (const SequenceCase& c : cases) expect_same_twice(c);
  if (const char* seed = std::getenv("LARES_TEST_SEED")) {
    expect_same_twice({std::strtoull(seed, nullptr, 10), 20000, 1});
  }
}

TEST(OpSequence, CoversEveryCallAndTheCommonErrors) {
  std::unique_ptr<PosixDir> dir = scratch_dir();
  const LogSummary summary = summarize(run_op_sequence(dir->path(), 5, 20000, 1));
  for (const char* call :
       {"create",   "open",      "close",     "write",   "pwrite",   "read",        "pread",
        "truncate", "ftruncate", "fallocate", "mkdir",   "rmdir",    "unlink",      "rename",
        "link",     "symlink",   "chmod",     "utimens", "setxattr", "removexattr", "getxattr",
        "fsync",    "fdatasync", "lstat",     "readdir"}) {
    EXPECT_EQ(summary.calls.count(call), 1u) << call << " never ran";
  }
  for (const char* err :
       {"ENOENT", "EEXIST", "ENOTDIR", "EISDIR", "ENOTEMPTY", "EBADF", "ENODATA", "EINVAL"}) {
    EXPECT_EQ(summary.errnos.count(err), 1u) << err << " never came up";
  }
}

TEST(OpSequence, DifferentSeedsDiffer) {
  std::unique_ptr<PosixDir> first = scratch_dir();
  std::unique_ptr<PosixDir> second = scratch_dir();
  EXPECT_FALSE(run_op_sequence(first->path(), 1, 500, 1) ==
               run_op_sequence(second->path(), 2, 500, 1));
  EXPECT_NE(describe_tree(first->path(), TreeTimes::kExclude),
            describe_tree(second->path(), TreeTimes::kExclude));
}

// Makes the same small tree in `root` each time: every kind of entry, hard
// links, xattrs and explicit times.
void build_sample_tree(const std::string& root) {
  ASSERT_TRUE(posix::write_file(root + "/file", "content"));
  ASSERT_SYS(::mkdir((root + "/dir").c_str(), 0750));
  ASSERT_SYS(::mkdir((root + "/dir/sub").c_str(), 0755));
  ASSERT_SYS(::link((root + "/file").c_str(), (root + "/dir/hard").c_str()));
  ASSERT_SYS(::symlink("../file", (root + "/dir/link").c_str()));
  ASSERT_SYS(::mkfifo((root + "/fifo").c_str(), 0600));
  ASSERT_SYS(::setxattr((root + "/file").c_str(), "user.k", "v", 1, 0));
  const timespec times[2] = {posix::timespec_of(1), posix::timespec_of(1'234'567'890'123'456'789)};
  ASSERT_SYS(::utimensat(AT_FDCWD, (root + "/file").c_str(), times, 0));
}

TEST(DescribeTree, ShowsEveryAttributeAndOnlyThat) {
  std::unique_ptr<PosixDir> first = scratch_dir();
  std::unique_ptr<PosixDir> second = scratch_dir();
  build_sample_tree(first->path());
  build_sample_tree(second->path());
  const std::string tree = describe_tree(first->path(), TreeTimes::kExclude);
  EXPECT_EQ(tree, describe_tree(second->path(), TreeTimes::kExclude));
  EXPECT_NE(tree.find("dir dir mode=0750"), std::string::npos) << tree;
  EXPECT_NE(tree.find("dir/hard file mode="), std::string::npos) << tree;
  EXPECT_NE(tree.find("nlink=2/2 same_as=file"), std::string::npos) << tree;
  EXPECT_NE(tree.find("dir/link symlink mode=0777"), std::string::npos) << tree;
  EXPECT_NE(tree.find("-> ../file"), std::string::npos) << tree;
  EXPECT_NE(tree.find("fifo fifo mode=0600"), std::string::npos) << tree;
  EXPECT_NE(tree.find("xattrs=[user.k:1#"), std::string::npos) << tree;
  EXPECT_NE(tree.find("dir dir mode=0750 owner=" + std::to_string(::geteuid())), std::string::npos)
      << tree;
  EXPECT_EQ(tree.find("mtime="), std::string::npos);
  const std::string with_times = describe_tree(first->path());
  EXPECT_NE(with_times.find("mtime=1234567890123456789"), std::string::npos) << with_times;

  // Each kind of change shows.
  const std::string path = second->path();
  std::string before = describe_tree(path);
  auto expect_change = [&](const char* what) {
    const std::string after = describe_tree(path);
    EXPECT_NE(after, before) << what << " did not show";
    before = after;
  };
  ASSERT_SYS(::chmod((path + "/file").c_str(), 0600));
  expect_change("chmod");
  ASSERT_TRUE(posix::write_file(path + "/dir/hard", "CONTENT"));  // same size, new bytes
  expect_change("content");
  ASSERT_SYS(::setxattr((path + "/file").c_str(), "user.k", "w", 1, 0));
  expect_change("xattr value");
  const timespec times[2] = {posix::timespec_of(1), posix::timespec_of(5)};
  ASSERT_SYS(::utimensat(AT_FDCWD, (path + "/fifo").c_str(), times, 0));
  expect_change("mtime");
  ASSERT_SYS(::unlink((path + "/dir/link").c_str()));
  ASSERT_SYS(::symlink("../fifo", (path + "/dir/link").c_str()));
  expect_change("symlink target");
}

}  // namespace
}  // namespace lares::testing
