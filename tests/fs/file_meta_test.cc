#include "fs/file_meta.h"

#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "testing/temp_dir.h"
#include "util/file.h"

namespace lares {
namespace {

constexpr int64_t kMtimeNs = 1'234'567'890'123'456'789;
constexpr int64_t kAtimeNs = 1'000'000'000'987'654'321;

bool is_root() { return ::geteuid() == 0; }

void set_times(const std::string& path, int64_t atime_ns, int64_t mtime_ns) {
  const timespec times[2] = {
      {static_cast<time_t>(atime_ns / 1'000'000'000), static_cast<long>(atime_ns % 1'000'000'000)},
      {static_cast<time_t>(mtime_ns / 1'000'000'000), static_cast<long>(mtime_ns % 1'000'000'000)}};
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW), 0)
      << path << ": " << std::strerror(errno);
}

void write_text(const std::string& path, const std::string& text) {
  ASSERT_TRUE(write_file_atomic(path, as_bytes(text), Sync::kNo).is_ok());
}

Node capture(const std::string& path) {
  Node node;
  Status st = capture_metadata(path, &node);
  EXPECT_TRUE(st.is_ok()) << st.to_string();
  return node;
}

// Applies `node` onto `path` and expects no error and no warning.
void apply_cleanly(const std::string& path, const Node& node) {
  ApplyWarnings warnings;
  Status st = apply_metadata(path, node, &warnings);
  ASSERT_TRUE(st.is_ok()) << st.to_string();
  for (const std::string& w : warnings.messages) ADD_FAILURE() << "warning: " << w;
}

// What a restore brings back: everything but where the file lives (inode,
// device, nlink) and ctime, which no call can set.
void expect_restored(const Node& restored, const Node& original) {
  EXPECT_EQ(restored.type, original.type);
  EXPECT_EQ(restored.mode, original.mode);
  EXPECT_EQ(restored.uid, original.uid);
  EXPECT_EQ(restored.gid, original.gid);
  EXPECT_EQ(restored.user, original.user);
  EXPECT_EQ(restored.group, original.group);
  EXPECT_EQ(restored.mtime_ns, original.mtime_ns);
  EXPECT_EQ(restored.atime_ns, original.atime_ns);
  EXPECT_EQ(restored.size, original.size);
  EXPECT_EQ(restored.symlink_target, original.symlink_target);
  EXPECT_EQ(restored.rdev, original.rdev);
  EXPECT_EQ(restored.xattrs, original.xattrs);
}

// The temp dir's filesystem may not take user.* xattrs (tmpfs before 6.6,
// some overlays): then the xattr parts are skipped.
bool user_xattrs_supported(const std::string& path) {
  if (::lsetxattr(path.c_str(), "user.lares_probe", "1", 1, 0) != 0) {
    return !(errno == ENOTSUP || errno == EOPNOTSUPP);
  }
  return ::lremovexattr(path.c_str(), "user.lares_probe") == 0;
}

class FileMetaTest : public ::testing::Test {
 protected:
  testing::TempDir dir_;
  std::string src(const std::string& name) const { return dir_.sub("src-" + name); }
  std::string dst(const std::string& name) const { return dir_.sub("dst-" + name); }
};

TEST_F(FileMetaTest, RegularFileRoundTrip) {
  const std::string from = src("file");
  write_text(from, "hello, metadata");
  ASSERT_EQ(::chmod(from.c_str(), 02751), 0);  // setgid: the creator is in the file's group
  const bool xattrs = user_xattrs_supported(from);
  const std::string binary("\x00\x01\xff\x00zz", 6);
  if (xattrs) {
    ASSERT_EQ(::lsetxattr(from.c_str(), "user.b", binary.data(), binary.size(), 0), 0);
    ASSERT_EQ(::lsetxattr(from.c_str(), "user.a", "", 0, 0), 0);
  }
  set_times(from, kAtimeNs, kMtimeNs);

  Node node = capture(from);
  EXPECT_EQ(node.type, NodeType::kFile);
  EXPECT_EQ(node.mode, 02751u);
  EXPECT_EQ(node.uid, ::geteuid());
  EXPECT_EQ(node.gid, ::getegid());
  if (is_root()) {
    EXPECT_EQ(node.user, "root");
  }
  EXPECT_EQ(node.mtime_ns, kMtimeNs);
  EXPECT_EQ(node.atime_ns, kAtimeNs);
  EXPECT_GT(node.ctime_ns, 0);
  EXPECT_EQ(node.size, 15u);
  EXPECT_EQ(node.nlink, 1u);
  struct stat st {};
  ASSERT_EQ(::lstat(from.c_str(), &st), 0);
  EXPECT_EQ(node.inode, st.st_ino);
  EXPECT_EQ(node.device, st.st_dev);
  if (xattrs) {
    std::vector<Xattr> user_xattrs;
    for (const Xattr& x : node.xattrs) {
      if (x.name.starts_with("user.")) user_xattrs.push_back(x);
    }
    ASSERT_EQ(user_xattrs.size(), 2u);
    EXPECT_EQ(user_xattrs[0].name, "user.a");  // sorted
    EXPECT_TRUE(user_xattrs[0].value.empty());
    EXPECT_EQ(user_xattrs[1].name, "user.b");
    EXPECT_EQ(as_chars(user_xattrs[1].value), binary);
  }

  const std::string to = dst("file");
  write_text(to, "hello, metadata");
  apply_cleanly(to, node);
  expect_restored(capture(to), node);
  if (!xattrs) GTEST_SKIP() << "the temp dir's filesystem has no user.* xattrs: not checked";
}

TEST_F(FileMetaTest, TimesBefore1970AndWithoutFractionRoundTrip) {
  const std::string path = src("old");
  write_text(path, "");
  Node node = capture(path);
  node.mtime_ns = -1'500'000'000;  // 1969-12-31T23:59:58.5Z: tv_sec -2, tv_nsec 5e8
  node.atime_ns = 86'400'000'000'000;
  apply_cleanly(path, node);
  Node back = capture(path);
  EXPECT_EQ(back.mtime_ns, -1'500'000'000);
  EXPECT_EQ(back.atime_ns, 86'400'000'000'000);
}

TEST_F(FileMetaTest, DirectoryRoundTrip) {
  const std::string from = src("dir");
  ASSERT_EQ(::mkdir(from.c_str(), 0700), 0);
  write_text(from + "/inside", "x");
  ASSERT_EQ(::chmod(from.c_str(), 01775), 0);
  set_times(from, kAtimeNs, kMtimeNs);
  Node node = capture(from);
  EXPECT_EQ(node.type, NodeType::kDir);
  EXPECT_EQ(node.mode, 01775u);
  EXPECT_EQ(node.size, 0u);  // left for the caller
  EXPECT_EQ(node.nlink, 2u);

  const std::string to = dst("dir");
  ASSERT_EQ(::mkdir(to.c_str(), 0700), 0);
  apply_cleanly(to, node);
  expect_restored(capture(to), node);
}

TEST_F(FileMetaTest, SymlinkRoundTripTouchesOnlyTheLink) {
  const std::string victim = dir_.sub("victim");
  write_text(victim, "must not change");
  ASSERT_EQ(::chmod(victim.c_str(), 0600), 0);
  set_times(victim, 5'000'000'000, 6'000'000'000);

  const std::string from = src("link");
  ASSERT_EQ(::symlink("victim", from.c_str()), 0);
  set_times(from, kAtimeNs, kMtimeNs);
  Node node = capture(from);
  EXPECT_EQ(node.type, NodeType::kSymlink);
  EXPECT_EQ(node.symlink_target, "victim");
  EXPECT_EQ(node.size, 6u);
  EXPECT_EQ(node.mode, 0777u);
  EXPECT_EQ(node.mtime_ns, kMtimeNs);
  EXPECT_EQ(node.atime_ns, kAtimeNs);

  const std::string to = dst("link");
  ASSERT_TRUE(create_special(to, node).is_ok());
  apply_cleanly(to, node);
  expect_restored(capture(to), node);

  Node target = capture(victim);
  EXPECT_EQ(target.mode, 0600u);
  EXPECT_EQ(target.mtime_ns, 6'000'000'000);
  EXPECT_EQ(target.atime_ns, 5'000'000'000);
}

TEST_F(FileMetaTest, FifoRoundTrip) {
  const std::string from = src("fifo");
  ASSERT_EQ(::mkfifo(from.c_str(), 0600), 0);
  ASSERT_EQ(::chmod(from.c_str(), 0641), 0);
  set_times(from, kAtimeNs, kMtimeNs);
  Node node = capture(from);
  EXPECT_EQ(node.type, NodeType::kFifo);
  EXPECT_EQ(node.mode, 0641u);

  const std::string to = dst("fifo");
  ASSERT_TRUE(create_special(to, node).is_ok());
  apply_cleanly(to, node);
  expect_restored(capture(to), node);
}

TEST_F(FileMetaTest, SocketRoundTrip) {
  const std::string from = src("sock");
  ASSERT_EQ(::mknod(from.c_str(), S_IFSOCK | 0600, 0), 0) << std::strerror(errno);
  ASSERT_EQ(::chmod(from.c_str(), 0755), 0);
  set_times(from, kAtimeNs, kMtimeNs);
  Node node = capture(from);
  EXPECT_EQ(node.type, NodeType::kSocket);
  EXPECT_EQ(node.mode, 0755u);

  const std::string to = dst("sock");
  ASSERT_TRUE(create_special(to, node).is_ok());
  apply_cleanly(to, node);
  expect_restored(capture(to), node);
}

TEST_F(FileMetaTest, CreateSpecialRefusesFilesDirectoriesAndExistingPaths) {
  Node file;
  file.type = NodeType::kFile;
  EXPECT_EQ(create_special(dst("f"), file).code(), Code::kInvalidArgument);
  file.type = NodeType::kDir;
  EXPECT_EQ(create_special(dst("f"), file).code(), Code::kInvalidArgument);
  EXPECT_FALSE(path_exists(dst("f")));
  Node fifo;
  fifo.type = NodeType::kFifo;
  ASSERT_TRUE(create_special(dst("p"), fifo).is_ok());
  EXPECT_EQ(create_special(dst("p"), fifo).code(), Code::kAlreadyExists);
}

TEST_F(FileMetaTest, CaptureOfAMissingPathIsNotFound) {
  Node node;
  EXPECT_EQ(capture_metadata(dir_.sub("missing"), &node).code(), Code::kNotFound);
}

TEST_F(FileMetaTest, ApplyRefusesAPathOfAnotherType) {
  const std::string victim = dir_.sub("victim");
  write_text(victim, "x");
  ASSERT_EQ(::chmod(victim.c_str(), 0600), 0);
  const std::string link = dst("link");
  ASSERT_EQ(::symlink("victim", link.c_str()), 0);
  Node file = capture(victim);
  file.mode = 0777;
  ApplyWarnings warnings;
  EXPECT_EQ(apply_metadata(link, file, &warnings).code(), Code::kFailedPrecondition);
  EXPECT_EQ(capture(victim).mode, 0600u) << "chmod must not follow the symlink";
}

TEST_F(FileMetaTest, XattrsTheProcessMayNotWriteAreReported) {
  const std::string path = src("file");
  write_text(path, "x");
  if (!user_xattrs_supported(path)) GTEST_SKIP() << "no user.* xattrs on the temp dir";
  // user.* is not allowed on symlinks: skipped with a warning, the rest applied.
  const std::string link = src("link");
  ASSERT_EQ(::symlink("file", link.c_str()), 0);
  Node node = capture(link);
  node.xattrs = {{"user.on_link", Bytes{1}}};
  node.mtime_ns = kMtimeNs;
  ApplyWarnings warnings;
  ASSERT_TRUE(apply_metadata(link, node, &warnings).is_ok());
  ASSERT_EQ(warnings.messages.size(), 1u);
  EXPECT_NE(warnings.messages[0].find("user.on_link"), std::string::npos) << warnings.messages[0];
  EXPECT_EQ(capture(link).mtime_ns, kMtimeNs);
}

// ---- Root only: owners and device nodes.

TEST_F(FileMetaTest, RootRestoresAnotherOwner) {
  if (!is_root()) GTEST_SKIP() << "needs root";
  const std::string from = src("owned");
  write_text(from, "x");
  // Ids that are unlikely to have names here.
  ASSERT_EQ(::lchown(from.c_str(), 4242, 4343), 0) << std::strerror(errno);
  ASSERT_EQ(::chmod(from.c_str(), 06755), 0);  // after the chown, which clears set-id bits
  Node node = capture(from);
  EXPECT_EQ(node.uid, 4242u);
  EXPECT_EQ(node.gid, 4343u);
  EXPECT_EQ(node.mode, 06755u);

  const std::string to = dst("owned");
  write_text(to, "x");
  apply_cleanly(to, node);
  expect_restored(capture(to), node);

  // On a symlink the link itself changes owner, not its target.
  const std::string link = dst("link");
  ASSERT_EQ(::symlink("owned", link.c_str()), 0);
  Node link_node = capture(link);
  link_node.uid = 4444;
  link_node.gid = 4545;
  link_node.user.clear();
  link_node.group.clear();
  apply_cleanly(link, link_node);
  EXPECT_EQ(capture(link).uid, 4444u);
  EXPECT_EQ(capture(link).gid, 4545u);
  EXPECT_EQ(capture(to).uid, 4242u);
}

TEST_F(FileMetaTest, RootPrefersTheOwnerNameToTheId) {
  if (!is_root()) GTEST_SKIP() << "needs root";
  const std::string path = src("named");
  write_text(path, "x");
  Node node = capture(path);
  ASSERT_EQ(node.user, "root") << "uid 0 has no name here";
  // Written on a machine where "root" had id 4242: here it is 0, and the name wins.
  node.uid = 4242;
  node.gid = 4343;
  apply_cleanly(path, node);
  Node back = capture(path);
  EXPECT_EQ(back.uid, 0u);
  EXPECT_EQ(back.gid, 0u);
  // A name this system does not know leaves the id to decide.
  node.user = "no-such-user-lares";
  node.group = "no-such-group-lares";
  apply_cleanly(path, node);
  back = capture(path);
  EXPECT_EQ(back.uid, 4242u);
  EXPECT_EQ(back.gid, 4343u);
}

TEST_F(FileMetaTest, RootCreatesDeviceNodes) {
  if (!is_root()) GTEST_SKIP() << "needs root";
  Node chr;
  chr.type = NodeType::kCharDev;
  chr.rdev = makedev(1, 3);
  chr.mode = 0666;
  chr.uid = 4242;
  chr.gid = 4343;
  chr.mtime_ns = kMtimeNs;
  chr.atime_ns = kAtimeNs;
  const std::string path = dst("null");
  Status created = create_special(path, chr);
  if (created.code() == Code::kPermissionDenied) {
    GTEST_SKIP() << "root without CAP_MKNOD (a container?): " << created.to_string();
  }
  ASSERT_TRUE(created.is_ok()) << created.to_string();
  apply_cleanly(path, chr);
  Node back = capture(path);
  EXPECT_EQ(back.type, NodeType::kCharDev);
  EXPECT_EQ(back.rdev, makedev(1, 3));
  EXPECT_EQ(major(back.rdev), 1u);
  EXPECT_EQ(minor(back.rdev), 3u);
  EXPECT_EQ(back.mode, 0666u);
  EXPECT_EQ(back.uid, 4242u);
  EXPECT_EQ(back.mtime_ns, kMtimeNs);

  Node blk = chr;
  blk.type = NodeType::kBlockDev;
  blk.rdev = makedev(7, 200);
  blk.mode = 0660;
  ASSERT_TRUE(create_special(dst("loop"), blk).is_ok());
  apply_cleanly(dst("loop"), blk);
  back = capture(dst("loop"));
  EXPECT_EQ(back.type, NodeType::kBlockDev);
  EXPECT_EQ(back.rdev, makedev(7, 200));
  EXPECT_EQ(back.mode, 0660u);
}

// Run as root, the test forks a child that drops to nobody (65534) to see the
// non-root paths: the owner is skipped with a warning, devices are refused.
TEST_F(FileMetaTest, WithoutRootOwnersAreReportedAndDevicesRefused) {
  if (!is_root()) GTEST_SKIP() << "needs root to switch to an unprivileged user";
  constexpr uid_t kNobody = 65534;
  ASSERT_EQ(::chmod(dir_.path().c_str(), 0777), 0);
  const std::string path = src("theirs");
  write_text(path, "x");
  ASSERT_EQ(::lchown(path.c_str(), kNobody, kNobody), 0);
  Node node = capture(path);
  node.mode = 0640;
  node.mtime_ns = kMtimeNs;
  Node restore_as_root = node;
  restore_as_root.uid = 0;
  restore_as_root.gid = 0;
  restore_as_root.user.clear();
  restore_as_root.group.clear();

  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // Only async-signal-safe-ish work and _exit here: no gtest assertions.
    if (::setgroups(0, nullptr) != 0 || ::setgid(kNobody) != 0 || ::setuid(kNobody) != 0) {
      ::_exit(10);
    }
    ApplyWarnings warnings;
    if (!apply_metadata(path, restore_as_root, &warnings).is_ok()) ::_exit(11);
    if (warnings.messages.size() != 1 || warnings.messages[0].find("owner") == std::string::npos) {
      ::_exit(12);
    }
    Node device;
    device.type = NodeType::kCharDev;
    device.rdev = makedev(1, 3);
    if (create_special(path + ".dev", device).code() != Code::kPermissionDenied) ::_exit(13);
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "10 setuid, 11 apply failed, 12 no owner warning, "
                                       "13 device not refused";
  Node back = capture(path);
  EXPECT_EQ(back.uid, kNobody);
  EXPECT_EQ(back.mode, 0640u);  // the rest was applied
  EXPECT_EQ(back.mtime_ns, kMtimeNs);
}

}  // namespace
}  // namespace lares
