// The POSIX behaviour suite: what a program may rely on from a Linux
// filesystem, checked through system calls only, so the same tests run on
// tmpfs and ext4 (tests/fs/posix_suite_test.cc) and on a Lares mount.
//
// Use: include this header in one *_test.cc and instantiate the fixture
// with the targets to check:
//
//   INSTANTIATE_TEST_SUITE_P(Mine, PosixSuite, ::testing::Values(target),
//                            PosixTargetName);
//
// Each test gets a fresh empty folder from the target. Tests that need other
// users (modes, owners, sticky folders) run only as root: they fork a child
// that drops to uids 40001/40002 (no names needed). The folder's ancestors
// must let those users through (mode o+x).
//
// Groups: regular files, folders and rename, symlinks, hard links, modes and
// owners, times, xattrs, and the errno of common mistakes.
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <set>
#include <thread>
#include <vector>

#include "posix_checks.h"

namespace lares::testing::posix {

inline constexpr uid_t kUserA = 40001;
inline constexpr uid_t kUserB = 40002;
inline constexpr gid_t kGroupA = 40001;
inline constexpr gid_t kGroupB = 40002;
inline constexpr uint64_t kMiB = uint64_t{1} << 20;
inline constexpr uint64_t kGiB = uint64_t{1} << 30;

inline std::string PosixTargetName(const ::testing::TestParamInfo<PosixTarget>& info) {
  return info.param.name;
}

class PosixSuite : public ::testing::TestWithParam<PosixTarget> {
 protected:
  void SetUp() override {
    dir_ = GetParam().make_dir();
    if (dir_ == nullptr) GTEST_SKIP() << GetParam().name << " cannot run here";
    root_ = dir_->path();
  }

  std::string path(std::string_view name) const { return root_ + "/" + std::string(name); }

  // Lets the child users of run_as() into the test folder.
  void open_to_others() { ASSERT_SYS(::chmod(root_.c_str(), 0755)); }

  // Waits long enough for a coarse filesystem clock to tick, so a time
  // that must change does.
  static void let_clock_tick() { std::this_thread::sleep_for(std::chrono::milliseconds(20)); }

  std::unique_ptr<PosixDir> dir_;
  std::string root_;
};

// Ends the test when the filesystem lacks a feature: a skip on a lenient
// target, a failure on a strict one.
#define SKIP_IF_UNSUPPORTED(cond, what)                                            \
  do {                                                                             \
    if (cond) {                                                                    \
      if (GetParam().unsupported == ::lares::testing::posix::Unsupported::kFail) { \
        FAIL() << what << " is not supported";                                     \
      }                                                                            \
      GTEST_SKIP() << what << " is not supported on this filesystem";              \
    }                                                                              \
  } while (0)

#define SKIP_UNLESS_ROOT() \
  if (!::lares::testing::posix::is_root()) GTEST_SKIP() << "needs root (other users)"

// ---------------------------------------------------------------------------
// Regular files
// ---------------------------------------------------------------------------

TEST_P(PosixSuite, SparseFileHolesReadAsZeros) {
  const std::string file = path("sparse");
  UniqueFd fd = open_fd(file, O_RDWR | O_CREAT | O_EXCL);
  ASSERT_TRUE(fd.valid()) << errno_text(errno);
  const std::string data = pattern_bytes(4096, 1);
  const uint64_t second_at = 3 * kMiB + 100;  // not aligned to anything
  ASSERT_TRUE(pwrite_all(fd.get(), data, kMiB));
  ASSERT_TRUE(pwrite_all(fd.get(), data, second_at));
  struct stat st {};
  ASSERT_SYS(::fstat(fd.get(), &st));
  EXPECT_EQ(static_cast<uint64_t>(st.st_size), second_at + data.size());

  EXPECT_TRUE(all_zero(pread_upto(fd.get(), 0, kMiB)));
  EXPECT_EQ(pread_upto(fd.get(), kMiB, data.size()), data);
  EXPECT_TRUE(all_zero(pread_upto(fd.get(), kMiB + data.size(), second_at - kMiB - data.size())));
  EXPECT_EQ(pread_upto(fd.get(), second_at, data.size()), data);
  // A read across a hole's edge.
  EXPECT_EQ(pread_upto(fd.get(), kMiB - 10, 20), std::string(10, '\0') + data.substr(0, 10));
  // From a fresh descriptor too (nothing answered from this one's state).
  fd = UniqueFd();
  EXPECT_EQ(read_file_text(file).size(), second_at + data.size());
}

TEST_P(PosixSuite, SeekDataAndSeekHoleAreSane) {
  UniqueFd fd = open_fd(path("holes"), O_RDWR | O_CREAT | O_EXCL);
  ASSERT_TRUE(fd.valid()) << errno_text(errno);
  const uint64_t data_at = 8 * kMiB;
  const std::string data = pattern_bytes(64 << 10, 2);
  ASSERT_TRUE(pwrite_all(fd.get(), data, data_at));
  const uint64_t size = 16 * kMiB;
  ASSERT_SYS(::ftruncate(fd.get(), static_cast<off_t>(size)));

  const off_t first_data = ::lseek(fd.get(), 0, SEEK_DATA);
  ASSERT_SYS(first_data);
  EXPECT_LE(static_cast<uint64_t>(first_data), data_at);
  const off_t hole_after = ::lseek(fd.get(), static_cast<off_t>(data_at), SEEK_HOLE);
  ASSERT_SYS(hole_after);
  EXPECT_GE(static_cast<uint64_t>(hole_after), data_at + data.size()) << "data reported as hole";
  EXPECT_LE(static_cast<uint64_t>(hole_after), size);
  EXPECT_ERRNO(ENXIO, ::lseek(fd.get(), static_cast<off_t>(size), SEEK_DATA));
  EXPECT_ERRNO(ENXIO, ::lseek(fd.get(), static_cast<off_t>(size), SEEK_HOLE));

  // Every range reported as a hole reads as zeros.
  uint64_t position = 0;
  for (int step = 0; step < 1000 && position < size; ++step) {
    const off_t next_data = ::lseek(fd.get(), static_cast<off_t>(position), SEEK_DATA);
    const uint64_t hole_end = next_data < 0 ? size : static_cast<uint64_t>(next_data);
    if (next_data < 0) {
      EXPECT_EQ(errno, ENXIO) << errno_text(errno);
    }
    ASSERT_GE(hole_end, position);
    for (uint64_t at = position; at < hole_end; at += kMiB) {
      EXPECT_TRUE(all_zero(pread_upto(fd.get(), at, std::min(kMiB, hole_end - at))))
          << "hole at " << at << " is not zero";
    }
    if (next_data < 0) break;
    const off_t next_hole = ::lseek(fd.get(), next_data, SEEK_HOLE);
    ASSERT_SYS(next_hole);
    ASSERT_GT(next_hole, next_data);
    position = static_cast<uint64_t>(next_hole);
  }
}

TEST_P(PosixSuite, HolesTakeNoSpace) {
  UniqueFd fd = open_fd(path("mostly-hole"), O_RDWR | O_CREAT | O_EXCL);
  ASSERT_TRUE(fd.valid()) << errno_text(errno);
  ASSERT_TRUE(pwrite_all(fd.get(), pattern_bytes(4096, 3), 256 * kMiB));
  ASSERT_SYS(::fsync(fd.get()));
  struct stat st {};
  ASSERT_SYS(::fstat(fd.get(), &st));
  EXPECT_EQ(static_cast<uint64_t>(st.st_size), 256 * kMiB + 4096);
  EXPECT_LT(static_cast<uint64_t>(st.st_blocks) * 512, 16 * kMiB) << "the hole was allocated";
}

TEST_P(PosixSuite, FileBeyondFourGiB) {
  const std::string file = path("big");
  UniqueFd fd = open_fd(file, O_RDWR | O_CREAT | O_EXCL);
  ASSERT_TRUE(fd.valid()) << errno_text(errno);
  const uint64_t far = 5 * kGiB + 12345;
  const std::string data = pattern_bytes(kMiB, 4);
  ASSERT_TRUE(pwrite_all(fd.get(), data, far));
  const std::string across = pattern_bytes(200, 5);  // straddles 2^32
  ASSERT_TRUE(pwrite_all(fd.get(), across, 4 * kGiB - 100));

  struct stat st {};
  ASSERT_SYS(::fstat(fd.get(), &st));
  EXPECT_EQ(static_cast<uint64_t>(st.st_size), far + data.size());
  EXPECT_EQ(pread_upto(fd.get(), far, data.size()), data);
  EXPECT_EQ(pread_upto(fd.get(), 4 * kGiB - 100, across.size()), across);
  EXPECT_TRUE(all_zero(pread_upto(fd.get(), 4 * kGiB + 100, 4096)));
  EXPECT_TRUE(all_zero(pread_upto(fd.get(), far - 4096, 4096)));
  EXPECT_EQ(pread_upto(fd.get(), far + data.size() - 10, 100), data.substr(data.size() - 10));

  fd = open_fd(file, O_RDONLY);
  ASSERT_TRUE(fd.valid());
  EXPECT_EQ(pread_upto(fd.get(), far + 1000, 1000), data.substr(1000, 1000));
  ASSERT_SYS(::truncate(file.c_str(), static_cast<off_t>(4 * kGiB + 50)));
  EXPECT_EQ(pread_upto(fd.get(), 4 * kGiB - 100, 1000), across.substr(0, 150));
}

// Random pwrite/pread/ftruncate against an in-memory copy of the file.
TEST_P(PosixSuite, RandomReadWriteMatchesModel) {
  const uint64_t seed = test_seed(0x905e1);
  SCOPED_TRACE("seed=" + std::to_string(seed) + " (LARES_TEST_SEED replays)");
  SeededRandom random(seed);
  UniqueFd fd = open_fd(path("model"), O_RDWR | O_CREAT | O_EXCL);
  ASSERT_TRUE(fd.valid()) << errno_text(errno);
  std::string model;
  const uint64_t span = 3 * kMiB;
  // Sizes around the usual record and page sizes, and odd ones.
  const size_t sizes[] = {1, 7, 512, 4095, 4096, 4097, 65536, 131071, 131072, 131073, 400000};
  for (int step = 0; step < 400; ++step) {
    SCOPED_TRACE("step " + std::to_string(step));
    const uint64_t choice = random.uniform(100);
    if (choice < 55) {
      const uint64_t offset = random.uniform(4) == 0 ? model.size() : random.uniform(span);
      const size_t size = sizes[random.uniform(std::size(sizes))];
      const std::string data = pattern_bytes(size, random.next());
      ASSERT_TRUE(pwrite_all(fd.get(), data, offset));
      if (model.size() < offset + size) model.resize(offset + size, '\0');
      model.replace(offset, size, data);
    } else if (choice < 90) {
      const uint64_t offset = random.uniform(model.size() + 200000);
      const size_t size = static_cast<size_t>(random.uniform(300000)) + 1;
      const std::string expected = offset < model.size() ? model.substr(offset, size) : "";
      ASSERT_EQ(pread_upto(fd.get(), offset, size), expected)
          << "read " << size << " at " << offset;
    } else {
      const uint64_t size = random.uniform(span + span / 4);
      ASSERT_SYS(::ftruncate(fd.get(), static_cast<off_t>(size)));
      model.resize(size, '\0');
    }
    struct stat st {};
    ASSERT_SYS(::fstat(fd.get(), &st));
    ASSERT_EQ(static_cast<uint64_t>(st.st_size), model.size());
  }
  fd = UniqueFd();
  EXPECT_TRUE(read_file_text(path("model")) == model) << "content differs after reopening";
}

TEST_P(PosixSuite, TruncateDownThenUpReadsZeros) {
  const std::string file = path("trunc");
  const std::string data = pattern_bytes(300000, 6);
  ASSERT_TRUE(write_file(file, data));
  UniqueFd fd = open_fd(file, O_RDWR);
  ASSERT_TRUE(fd.valid());
  ASSERT_SYS(::ftruncate(fd.get(), 100000));  // inside a 128 KiB record
  struct stat st {};
  ASSERT_SYS(::fstat(fd.get(), &st));
  EXPECT_EQ(st.st_size, 100000);
  EXPECT_EQ(pread_upto(fd.get(), 100000, 10), "");
  ASSERT_SYS(::ftruncate(fd.get(), 300000));
  const std::string back = pread_upto(fd.get(), 0, 300000);
  ASSERT_EQ(back.size(), 300000u);
  EXPECT_EQ(back.substr(0, 100000), data.substr(0, 100000));
  EXPECT_TRUE(all_zero(back.substr(100000))) << "old bytes came back after truncate + extend";

  ASSERT_SYS(::truncate(file.c_str(), 10));  // by path
  ASSERT_TRUE(pwrite_all(fd.get(), "x", 20));
  EXPECT_EQ(read_file_text(file), data.substr(0, 10) + std::string(10, '\0') + "x");
  ASSERT_SYS(::truncate(file.c_str(), 0));
  EXPECT_EQ(read_file_text(file), "");
  ASSERT_TRUE(write_file(file, "short"));  // O_TRUNC on open
  EXPECT_EQ(read_file_text(file), "short");
}

TEST_P(PosixSuite, FallocateDefaultModeAllocatesZeros) {
  UniqueFd fd = open_fd(path("falloc"), O_RDWR | O_CREAT | O_EXCL);
  ASSERT_TRUE(fd.valid());
  ASSERT_TRUE(pwrite_all(fd.get(), "head", 0));
  const int rc = ::fallocate(fd.get(), 0, 0, static_cast<off_t>(kMiB));
  const int err = errno;
  SKIP_IF_UNSUPPORTED(rc != 0 && err == EOPNOTSUPP, "fallocate mode 0");
  ASSERT_EQ(rc, 0) << errno_text(err);
  struct stat st {};
  ASSERT_SYS(::fstat(fd.get(), &st));
  EXPECT_EQ(static_cast<uint64_t>(st.st_size), kMiB);
  EXPECT_EQ(pread_upto(fd.get(), 0, 4), "head") << "fallocate changed data";
  EXPECT_TRUE(all_zero(pread_upto(fd.get(), 4, kMiB)));
}

TEST_P(PosixSuite, FallocateKeepSize) {
  UniqueFd fd = open_fd(path("keep"), O_RDWR | O_CREAT | O_EXCL);
  ASSERT_TRUE(fd.valid());
  const std::string data = pattern_bytes(1000, 7);
  ASSERT_TRUE(pwrite_all(fd.get(), data, 0));
  const int rc = ::fallocate(fd.get(), FALLOC_FL_KEEP_SIZE, 0, static_cast<off_t>(kMiB));
  const int err = errno;
  SKIP_IF_UNSUPPORTED(rc != 0 && err == EOPNOTSUPP, "FALLOC_FL_KEEP_SIZE");
  ASSERT_EQ(rc, 0) << errno_text(err);
  struct stat st {};
  ASSERT_SYS(::fstat(fd.get(), &st));
  EXPECT_EQ(st.st_size, 1000);
  EXPECT_EQ(pread_upto(fd.get(), 0, 5000), data);
}

TEST_P(PosixSuite, FallocatePunchHole) {
  UniqueFd fd = open_fd(path("punch"), O_RDWR | O_CREAT | O_EXCL);
  ASSERT_TRUE(fd.valid());
  const std::string data = pattern_bytes(3 * 131072, 8);
  ASSERT_TRUE(pwrite_all(fd.get(), data, 0));
  // Linux requires KEEP_SIZE with PUNCH_HOLE.
  EXPECT_ERRNO(EOPNOTSUPP, ::fallocate(fd.get(), FALLOC_FL_PUNCH_HOLE, 0, 4096));
  const int rc = ::fallocate(fd.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 100000, 200000);
  const int err = errno;
  SKIP_IF_UNSUPPORTED(rc != 0 && err == EOPNOTSUPP, "FALLOC_FL_PUNCH_HOLE");
  ASSERT_EQ(rc, 0) << errno_text(err);
  std::string expected = data;
  std::fill(expected.begin() + 100000, expected.begin() + 300000, '\0');
  EXPECT_TRUE(pread_upto(fd.get(), 0, data.size() + 10) == expected);
  // Past the end: nothing changes, the size stays.
  ASSERT_SYS(::fallocate(fd.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                         static_cast<off_t>(data.size()), 100000));
  struct stat st {};
  ASSERT_SYS(::fstat(fd.get(), &st));
  EXPECT_EQ(static_cast<size_t>(st.st_size), data.size());
}

TEST_P(PosixSuite, FallocateZeroRange) {
  UniqueFd fd = open_fd(path("zero"), O_RDWR | O_CREAT | O_EXCL);
  ASSERT_TRUE(fd.valid());
  const std::string data = pattern_bytes(300000, 9);
  ASSERT_TRUE(pwrite_all(fd.get(), data, 0));
  const int rc = ::fallocate(fd.get(), FALLOC_FL_ZERO_RANGE, 100000, 50000);
  const int err = errno;
  SKIP_IF_UNSUPPORTED(rc != 0 && err == EOPNOTSUPP, "FALLOC_FL_ZERO_RANGE");
  ASSERT_EQ(rc, 0) << errno_text(err);
  std::string expected = data;
  std::fill(expected.begin() + 100000, expected.begin() + 150000, '\0');
  EXPECT_TRUE(pread_upto(fd.get(), 0, 400000) == expected);
  // Past the end it extends the file, unless KEEP_SIZE.
  ASSERT_SYS(::fallocate(fd.get(), FALLOC_FL_ZERO_RANGE, 250000, 100000));
  struct stat st {};
  ASSERT_SYS(::fstat(fd.get(), &st));
  EXPECT_EQ(st.st_size, 350000);
  EXPECT_TRUE(all_zero(pread_upto(fd.get(), 250000, 100000)));
  ASSERT_SYS(::fallocate(fd.get(), FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, 340000, 100000));
  ASSERT_SYS(::fstat(fd.get(), &st));
  EXPECT_EQ(st.st_size, 350000);
}

inline ::testing::AssertionResult write_at_position(int fd, std::string_view data) {
  const ssize_t n = ::write(fd, data.data(), data.size());
  if (n != static_cast<ssize_t>(data.size())) {
    return ::testing::AssertionFailure() << "write: " << (n < 0 ? errno_text(errno) : "short");
  }
  return ::testing::AssertionSuccess();
}

TEST_P(PosixSuite, AppendFromTwoDescriptors) {
  const std::string file = path("log");
  UniqueFd first = open_fd(file, O_WRONLY | O_CREAT | O_APPEND);
  UniqueFd second = open_fd(file, O_WRONLY | O_APPEND);
  UniqueFd plain = open_fd(file, O_WRONLY);
  ASSERT_TRUE(first.valid() && second.valid() && plain.valid()) << errno_text(errno);
  std::string expected;
  SeededRandom random(11);
  for (int i = 0; i < 40; ++i) {
    const int fd = i % 2 == 0 ? first.get() : second.get();
    const std::string chunk = pattern_bytes(random.uniform(20000) + 1, random.next());
    ASSERT_TRUE(write_at_position(fd, chunk));
    expected += chunk;
    // The descriptor's position is the new end, whatever it was before.
    EXPECT_EQ(::lseek(fd, 0, SEEK_CUR), static_cast<off_t>(expected.size()));
    if (i == 20) {  // an ordinary write at 0 does not disturb the appenders
      ASSERT_TRUE(write_at_position(plain.get(), "HEAD"));
      expected.replace(0, 4, "HEAD");
    }
  }
  EXPECT_TRUE(read_file_text(file) == expected);
}

TEST_P(PosixSuite, UnlinkedWhileOpenLivesUntilClose) {
  const std::string file = path("doomed");
  UniqueFd writer = open_fd(file, O_RDWR | O_CREAT | O_EXCL);
  ASSERT_TRUE(writer.valid());
  ASSERT_TRUE(pwrite_all(writer.get(), "before", 0));
  UniqueFd reader = open_fd(file, O_RDONLY);
  ASSERT_TRUE(reader.valid());
  ASSERT_SYS(::unlink(file.c_str()));

  struct stat st {};
  EXPECT_ERRNO(ENOENT, ::lstat(file.c_str(), &st));
  ASSERT_SYS(::fstat(writer.get(), &st));
  EXPECT_EQ(st.st_nlink, 0u);
  const std::string later = pattern_bytes(200000, 12);
  ASSERT_TRUE(pwrite_all(writer.get(), later, kMiB));
  ASSERT_SYS(::fsync(writer.get()));
  EXPECT_EQ(pread_upto(reader.get(), 0, 6), "before");
  EXPECT_EQ(pread_upto(reader.get(), kMiB, later.size()), later);
  ASSERT_SYS(::ftruncate(writer.get(), 3));
  EXPECT_EQ(pread_upto(reader.get(), 0, 100), "bef");

  // The name is free again, and the new file is another file.
  ASSERT_TRUE(write_file(file, "new"));
  EXPECT_EQ(pread_upto(reader.get(), 0, 100), "bef");
  writer = UniqueFd();
  EXPECT_EQ(pread_upto(reader.get(), 0, 100), "bef") << "closing one user freed the file";
  reader = UniqueFd();
  EXPECT_EQ(read_file_text(file), "new");
  ASSERT_SYS(::unlink(file.c_str()));
  EXPECT_ERRNO(ENOENT, ::lstat(file.c_str(), &st));
}

TEST_P(PosixSuite, ReadAtAndPastTheEnd) {
  const std::string file = path("short");
  ASSERT_TRUE(write_file(file, "0123456789"));
  UniqueFd fd = open_fd(file, O_RDONLY);
  ASSERT_TRUE(fd.valid());
  char buffer[64];
  EXPECT_EQ(::pread(fd.get(), buffer, sizeof(buffer), 5), 5);
  EXPECT_EQ(::pread(fd.get(), buffer, sizeof(buffer), 10), 0);
  EXPECT_EQ(::pread(fd.get(), buffer, sizeof(buffer), 1 << 30), 0);
  EXPECT_EQ(::read(fd.get(), buffer, sizeof(buffer)), 10);
  EXPECT_EQ(::read(fd.get(), buffer, sizeof(buffer)), 0);
  EXPECT_ERRNO(EINVAL, ::pread(fd.get(), buffer, sizeof(buffer), -1));
}

// ---------------------------------------------------------------------------
// Folders and rename
// ---------------------------------------------------------------------------

inline unsigned char dirent_type_of(mode_t mode) {
  if (S_ISDIR(mode)) return DT_DIR;
  if (S_ISREG(mode)) return DT_REG;
  if (S_ISLNK(mode)) return DT_LNK;
  if (S_ISFIFO(mode)) return DT_FIFO;
  if (S_ISSOCK(mode)) return DT_SOCK;
  if (S_ISCHR(mode)) return DT_CHR;
  if (S_ISBLK(mode)) return DT_BLK;
  return DT_UNKNOWN;
}

// name -> d_type, "." and ".." included; a name seen twice is a failure.
inline std::map<std::string, unsigned char> read_dir(const std::string& dir) {
  std::map<std::string, unsigned char> names;
  DIR* stream = ::opendir(dir.c_str());
  EXPECT_NE(stream, nullptr) << dir << ": " << errno_text(errno);
  if (stream == nullptr) return names;
  errno = 0;
  while (const dirent* entry = ::readdir(stream)) {
    EXPECT_TRUE(names.emplace(entry->d_name, entry->d_type).second)
        << "readdir returned " << entry->d_name << " twice";
  }
  EXPECT_EQ(errno, 0) << "readdir: " << errno_text(errno);
  ::closedir(stream);
  return names;
}

inline void check_many_entries(const std::string& dir, size_t count) {
  ASSERT_SYS(::mkdir(dir.c_str(), 0755));
  // Names of many lengths, so entries straddle readdir buffers.
  auto name_of = [](size_t i) { return "e" + std::to_string(i) + "_" + std::string(i % 60, 'n'); };
  for (size_t i = 0; i < count; ++i) {
    const std::string entry = dir + "/" + name_of(i);
    if (i % 10 == 0) {
      ASSERT_SYS(::mkdir(entry.c_str(), 0755)) << entry;
    } else {
      UniqueFd fd = open_fd(entry, O_WRONLY | O_CREAT | O_EXCL);
      ASSERT_TRUE(fd.valid()) << entry << ": " << errno_text(errno);
    }
  }
  const std::map<std::string, unsigned char> names = read_dir(dir);
  ASSERT_EQ(names.size(), count + 2);
  EXPECT_TRUE(names.count(".") == 1 && names.count("..") == 1);
  for (size_t i = 0; i < count; ++i) {
    auto it = names.find(name_of(i));
    ASSERT_NE(it, names.end()) << name_of(i) << " missing from readdir";
    const unsigned char want = i % 10 == 0 ? DT_DIR : DT_REG;
    EXPECT_TRUE(it->second == want || it->second == DT_UNKNOWN) << name_of(i);
  }
  struct stat st {};
  ASSERT_SYS(::stat(dir.c_str(), &st));
  EXPECT_EQ(st.st_nlink, 2 + (count + 9) / 10) << "a folder's links: 2 + its subfolders";
  for (size_t i = 0; i < count; ++i) {
    const std::string entry = dir + "/" + name_of(i);
    ASSERT_SYS(i % 10 == 0 ? ::rmdir(entry.c_str()) : ::unlink(entry.c_str())) << entry;
  }
  EXPECT_EQ(read_dir(dir).size(), 2u);
  ASSERT_SYS(::rmdir(dir.c_str()));
}

TEST_P(PosixSuite, ManyEntries) { check_many_entries(path("many"), GetParam().many_entries); }

// 100000 entries: slow, so only with LARES_POSIX_BIG=1.
TEST_P(PosixSuite, ManyEntriesBig) {
  const char* big = std::getenv("LARES_POSIX_BIG");
  if (big == nullptr || std::string_view(big) != "1") GTEST_SKIP() << "set LARES_POSIX_BIG=1";
  check_many_entries(path("many"), 100000);
}

TEST_P(PosixSuite, DirentTypesMatchStat) {
  ASSERT_TRUE(write_file(path("file"), "x"));
  ASSERT_SYS(::mkdir(path("dir").c_str(), 0755));
  ASSERT_SYS(::symlink("file", path("link").c_str()));
  ASSERT_SYS(::mkfifo(path("fifo").c_str(), 0644));
  for (const auto& [name, type] : read_dir(root_)) {
    if (name == "." || name == "..") continue;
    const struct stat st = lstat_or_fail(path(name));
    EXPECT_TRUE(type == DT_UNKNOWN || type == dirent_type_of(st.st_mode)) << name;
  }
}

TEST_P(PosixSuite, RenameReplacesFileAtomically) {
  ASSERT_TRUE(write_file(path("new"), "new content"));
  ASSERT_TRUE(write_file(path("target"), "old content"));
  const ino_t new_ino = lstat_or_fail(path("new")).st_ino;
  UniqueFd old_reader = open_fd(path("target"), O_RDONLY);
  ASSERT_TRUE(old_reader.valid());
  ASSERT_SYS(::rename(path("new").c_str(), path("target").c_str()));
  struct stat st {};
  EXPECT_ERRNO(ENOENT, ::lstat(path("new").c_str(), &st));
  EXPECT_EQ(read_file_text(path("target")), "new content");
  EXPECT_EQ(lstat_or_fail(path("target")).st_ino, new_ino);
  EXPECT_EQ(pread_upto(old_reader.get(), 0, 100), "old content") << "the replaced file is open";

  // A reader never finds the name missing or a file half written.
  std::atomic<bool> done{false};
  std::atomic<int> bad_reads{0};
  std::thread reader([&] {
    while (!done.load()) {
      const std::string text = read_file_text(path("target"));
      if (text != "new content" && text.rfind("version ", 0) != 0) bad_reads.fetch_add(1);
    }
  });
  for (int i = 0; i < 200; ++i) {
    ASSERT_TRUE(write_file(path("tmp"), "version " + std::to_string(i)));
    ASSERT_SYS(::rename(path("tmp").c_str(), path("target").c_str()));
  }
  done.store(true);
  reader.join();
  EXPECT_EQ(bad_reads.load(), 0);
}

TEST_P(PosixSuite, RenameOverEmptyDirectory) {
  ASSERT_SYS(::mkdir(path("full").c_str(), 0755));
  ASSERT_TRUE(write_file(path("full/inside"), "x"));
  ASSERT_SYS(::mkdir(path("empty").c_str(), 0755));
  ASSERT_SYS(::rename(path("full").c_str(), path("empty").c_str()));
  struct stat st {};
  EXPECT_ERRNO(ENOENT, ::lstat(path("full").c_str(), &st));
  EXPECT_EQ(read_file_text(path("empty/inside")), "x");
  EXPECT_EQ(lstat_or_fail(root_).st_nlink, 3u);
}

TEST_P(PosixSuite, RenameErrors) {
  ASSERT_SYS(::mkdir(path("dir").c_str(), 0755));
  ASSERT_SYS(::mkdir(path("nonempty").c_str(), 0755));
  ASSERT_TRUE(write_file(path("nonempty/child"), "x"));
  ASSERT_TRUE(write_file(path("file"), "f"));
  EXPECT_ERRNO(ENOTEMPTY, ::rename(path("dir").c_str(), path("nonempty").c_str()));
  EXPECT_ERRNO(EISDIR, ::rename(path("file").c_str(), path("dir").c_str()));
  EXPECT_ERRNO(ENOTDIR, ::rename(path("dir").c_str(), path("file").c_str()));
  EXPECT_ERRNO(ENOENT, ::rename(path("missing").c_str(), path("other").c_str()));
  EXPECT_ERRNO(ENOENT, ::rename(path("file").c_str(), path("missing/file").c_str()));
  EXPECT_ERRNO(ENOTDIR, ::rename(path("file").c_str(), path("file/x").c_str()));
  // Nothing moved.
  EXPECT_EQ(read_file_text(path("nonempty/child")), "x");
  EXPECT_EQ(read_file_text(path("file")), "f");
  EXPECT_TRUE(S_ISDIR(lstat_or_fail(path("dir")).st_mode));
}

TEST_P(PosixSuite, RenameDirectoryIntoAnotherSubtree) {
  for (const char* dir : {"a", "a/b", "a/b/c", "a/b/c/d", "x", "x/y"}) {
    ASSERT_SYS(::mkdir(path(dir).c_str(), 0755)) << dir;
  }
  ASSERT_TRUE(write_file(path("a/b/c/d/file"), "deep"));
  EXPECT_EQ(lstat_or_fail(path("a/b")).st_nlink, 3u);
  EXPECT_EQ(lstat_or_fail(path("x/y")).st_nlink, 2u);
  ASSERT_SYS(::rename(path("a/b/c").c_str(), path("x/y/c2").c_str()));
  EXPECT_EQ(read_file_text(path("x/y/c2/d/file")), "deep");
  struct stat st {};
  EXPECT_ERRNO(ENOENT, ::lstat(path("a/b/c").c_str(), &st));
  EXPECT_EQ(lstat_or_fail(path("a/b")).st_nlink, 2u);
  EXPECT_EQ(lstat_or_fail(path("x/y")).st_nlink, 3u);
  EXPECT_EQ(lstat_or_fail(path("x/y/c2/..")).st_ino, lstat_or_fail(path("x/y")).st_ino)
      << "'..' of a moved folder names its new parent";
  EXPECT_EQ(read_dir(path("a/b")).size(), 2u);
  EXPECT_EQ(read_dir(path("x/y")).count("c2"), 1u);
}

TEST_P(PosixSuite, RenameIntoOwnDescendantFails) {
  for (const char* dir : {"a", "a/b", "a/b/c"}) ASSERT_SYS(::mkdir(path(dir).c_str(), 0755));
  EXPECT_ERRNO(EINVAL, ::rename(path("a").c_str(), path("a/b/c/a").c_str()));
  EXPECT_ERRNO(EINVAL, ::rename(path("a/b").c_str(), path("a/b/c/new").c_str()));
  EXPECT_TRUE(S_ISDIR(lstat_or_fail(path("a/b/c")).st_mode));
}

TEST_P(PosixSuite, RenameNoReplace) {
  ASSERT_TRUE(write_file(path("a"), "A"));
  ASSERT_TRUE(write_file(path("b"), "B"));
  const int rc =
      ::renameat2(AT_FDCWD, path("a").c_str(), AT_FDCWD, path("b").c_str(), RENAME_NOREPLACE);
  const int err = errno;
  SKIP_IF_UNSUPPORTED(rc != 0 && err == EINVAL, "RENAME_NOREPLACE");
  EXPECT_NE(rc, 0);
  EXPECT_EQ(err, EEXIST) << errno_text(err);
  EXPECT_EQ(read_file_text(path("a")), "A");
  EXPECT_EQ(read_file_text(path("b")), "B");
  ASSERT_SYS(
      ::renameat2(AT_FDCWD, path("a").c_str(), AT_FDCWD, path("c").c_str(), RENAME_NOREPLACE));
  EXPECT_EQ(read_file_text(path("c")), "A");
}

TEST_P(PosixSuite, RenameExchange) {
  ASSERT_SYS(::mkdir(path("p1").c_str(), 0755));
  ASSERT_SYS(::mkdir(path("p2").c_str(), 0755));
  ASSERT_SYS(::mkdir(path("p1/dir").c_str(), 0755));
  ASSERT_TRUE(write_file(path("p1/dir/child"), "c"));
  ASSERT_TRUE(write_file(path("p2/file"), "F"));
  const int rc = ::renameat2(AT_FDCWD, path("p1/dir").c_str(), AT_FDCWD, path("p2/file").c_str(),
                             RENAME_EXCHANGE);
  const int err = errno;
  SKIP_IF_UNSUPPORTED(rc != 0 && err == EINVAL, "RENAME_EXCHANGE");
  ASSERT_EQ(rc, 0) << errno_text(err);
  EXPECT_EQ(read_file_text(path("p1/dir")), "F");
  EXPECT_EQ(read_file_text(path("p2/file/child")), "c");
  EXPECT_EQ(lstat_or_fail(path("p1")).st_nlink, 2u) << "p1 lost its subfolder";
  EXPECT_EQ(lstat_or_fail(path("p2")).st_nlink, 3u) << "p2 gained one";
  EXPECT_EQ(lstat_or_fail(path("p2/file/..")).st_ino, lstat_or_fail(path("p2")).st_ino);
  EXPECT_ERRNO(ENOENT, ::renameat2(AT_FDCWD, path("p1/dir").c_str(), AT_FDCWD,
                                   path("p1/missing").c_str(), RENAME_EXCHANGE));
  EXPECT_ERRNO(EINVAL, ::renameat2(AT_FDCWD, path("p1/dir").c_str(), AT_FDCWD,
                                   path("p2/file").c_str(), RENAME_EXCHANGE | RENAME_NOREPLACE));
}

TEST_P(PosixSuite, RenameOntoAnotherLinkOfTheSameFileDoesNothing) {
  ASSERT_TRUE(write_file(path("a"), "same"));
  ASSERT_SYS(::link(path("a").c_str(), path("b").c_str()));
  ASSERT_SYS(::rename(path("a").c_str(), path("b").c_str()));
  EXPECT_EQ(read_file_text(path("a")), "same");
  EXPECT_EQ(read_file_text(path("b")), "same");
  EXPECT_EQ(lstat_or_fail(path("a")).st_nlink, 2u);
}

TEST_P(PosixSuite, DirectoryLinkCountsSubdirectories) {
  ASSERT_SYS(::mkdir(path("d").c_str(), 0755));
  EXPECT_EQ(lstat_or_fail(path("d")).st_nlink, 2u);
  ASSERT_SYS(::mkdir(path("d/s1").c_str(), 0755));
  ASSERT_SYS(::mkdir(path("d/s2").c_str(), 0755));
  ASSERT_TRUE(write_file(path("d/file"), ""));
  EXPECT_EQ(lstat_or_fail(path("d")).st_nlink, 4u);
  ASSERT_SYS(::rmdir(path("d/s1").c_str()));
  EXPECT_EQ(lstat_or_fail(path("d")).st_nlink, 3u);
}

TEST_P(PosixSuite, RmdirAndUnlinkErrors) {
  ASSERT_SYS(::mkdir(path("d").c_str(), 0755));
  ASSERT_TRUE(write_file(path("d/f"), ""));
  EXPECT_ERRNO(ENOTEMPTY, ::rmdir(path("d").c_str()));
  EXPECT_ERRNO(ENOTDIR, ::rmdir(path("d/f").c_str()));
  EXPECT_ERRNO(ENOENT, ::rmdir(path("missing").c_str()));
  EXPECT_ERRNO(EINVAL, ::rmdir(path("d/.").c_str()));
  EXPECT_ERRNO(EISDIR, ::unlink(path("d").c_str()));
  EXPECT_ERRNO(ENOENT, ::unlink(path("d/missing").c_str()));
  ASSERT_SYS(::unlink(path("d/f").c_str()));
  ASSERT_SYS(::rmdir(path("d").c_str()));
}

// ---------------------------------------------------------------------------
// Symlinks and hard links
// ---------------------------------------------------------------------------

inline std::string read_link(const std::string& link) {
  std::string target(8192, '\0');
  const ssize_t n = ::readlink(link.c_str(), target.data(), target.size());
  if (n < 0) return "<readlink failed: " + errno_text(errno) + ">";
  target.resize(static_cast<size_t>(n));
  return target;
}

TEST_P(PosixSuite, SymlinkReadlinkAndLstat) {
  const std::string target = "some/relative/target";
  ASSERT_SYS(::symlink(target.c_str(), path("link").c_str()));
  EXPECT_EQ(read_link(path("link")), target);
  const struct stat st = lstat_or_fail(path("link"));
  EXPECT_TRUE(S_ISLNK(st.st_mode));
  EXPECT_EQ(static_cast<size_t>(st.st_size), target.size());
  EXPECT_ERRNO(EEXIST, ::symlink("other", path("link").c_str()));
  ASSERT_TRUE(write_file(path("plain"), "p"));
  char buffer[16];
  EXPECT_ERRNO(EINVAL, ::readlink(path("plain").c_str(), buffer, sizeof(buffer)));

  // Through a link to a folder, and to a file.
  ASSERT_SYS(::mkdir(path("dir").c_str(), 0755));
  ASSERT_TRUE(write_file(path("dir/file"), "through"));
  ASSERT_SYS(::symlink("dir", path("dirlink").c_str()));
  EXPECT_EQ(read_file_text(path("dirlink/file")), "through");
  ASSERT_SYS(::symlink("dir/file", path("filelink").c_str()));
  EXPECT_EQ(read_file_text(path("filelink")), "through");
  EXPECT_ERRNO(ELOOP, ::open(path("filelink").c_str(), O_RDONLY | O_NOFOLLOW));

  const std::string long_target(4000, 'x');
  ASSERT_SYS(::symlink(long_target.c_str(), path("longlink").c_str()));
  EXPECT_EQ(read_link(path("longlink")), long_target);
}

TEST_P(PosixSuite, DanglingSymlink) {
  ASSERT_SYS(::symlink("nowhere", path("dangling").c_str()));
  struct stat st {};
  EXPECT_ERRNO(ENOENT, ::stat(path("dangling").c_str(), &st));
  EXPECT_TRUE(S_ISLNK(lstat_or_fail(path("dangling")).st_mode));
  EXPECT_ERRNO(ENOENT, ::open(path("dangling").c_str(), O_RDONLY));
  // Creating through it makes the target.
  UniqueFd fd = open_fd(path("dangling"), O_WRONLY | O_CREAT);
  ASSERT_TRUE(fd.valid()) << errno_text(errno);
  fd = UniqueFd();
  EXPECT_TRUE(S_ISREG(lstat_or_fail(path("nowhere")).st_mode));
  ASSERT_SYS(::unlink(path("dangling").c_str()));
  EXPECT_TRUE(S_ISREG(lstat_or_fail(path("nowhere")).st_mode)) << "unlink followed the link";
}

TEST_P(PosixSuite, HardLinksShareDataAndCountLinks) {
  ASSERT_TRUE(write_file(path("a"), "shared"));
  ASSERT_SYS(::link(path("a").c_str(), path("b").c_str()));
  ASSERT_SYS(::mkdir(path("sub").c_str(), 0755));
  ASSERT_SYS(::link(path("a").c_str(), path("sub/c").c_str()));
  const struct stat a = lstat_or_fail(path("a"));
  EXPECT_EQ(a.st_nlink, 3u);
  EXPECT_EQ(lstat_or_fail(path("b")).st_ino, a.st_ino);
  EXPECT_EQ(lstat_or_fail(path("sub/c")).st_nlink, 3u);
  {
    UniqueFd fd = open_fd(path("b"), O_WRONLY);
    ASSERT_TRUE(fd.valid());
    ASSERT_TRUE(pwrite_all(fd.get(), "SH", 0));
  }
  EXPECT_EQ(read_file_text(path("a")), "SHared");
  EXPECT_EQ(read_file_text(path("sub/c")), "SHared");
  ASSERT_SYS(::unlink(path("a").c_str()));
  EXPECT_EQ(lstat_or_fail(path("b")).st_nlink, 2u);
  EXPECT_EQ(read_file_text(path("b")), "SHared");
  EXPECT_ERRNO(EEXIST, ::link(path("b").c_str(), path("sub/c").c_str()));
  EXPECT_ERRNO(ENOENT, ::link(path("a").c_str(), path("d").c_str()));
  EXPECT_ERRNO(EPERM, ::link(path("sub").c_str(), path("sublink").c_str()));
  for (int i = 0; i < 50; ++i) {
    ASSERT_SYS(::link(path("b").c_str(), path("n" + std::to_string(i)).c_str()));
  }
  EXPECT_EQ(lstat_or_fail(path("b")).st_nlink, 52u);
}

// ---------------------------------------------------------------------------
// Modes and owners
// ---------------------------------------------------------------------------

TEST_P(PosixSuite, ChmodSetsEveryBit) {
  ASSERT_TRUE(write_file(path("f"), ""));
  for (mode_t mode : {0000, 0644, 0777, 04755, 02755, 01777, 07777, 0400}) {
    ASSERT_SYS(::chmod(path("f").c_str(), mode));
    EXPECT_EQ(lstat_or_fail(path("f")).st_mode, S_IFREG | mode) << std::oct << mode;
  }
  ASSERT_SYS(::mkdir(path("d").c_str(), 0700));
  ASSERT_SYS(::chmod(path("d").c_str(), 01777));
  EXPECT_EQ(lstat_or_fail(path("d")).st_mode, S_IFDIR | 01777);
  UniqueFd fd = open_fd(path("f"), O_RDONLY);
  ASSERT_TRUE(fd.valid());
  ASSERT_SYS(::fchmod(fd.get(), 0640));
  EXPECT_EQ(lstat_or_fail(path("f")).st_mode, S_IFREG | 0640);
}

TEST_P(PosixSuite, UmaskAppliesOnCreate) {
  ScopedUmask mask(027);
  UniqueFd fd = open_fd(path("f"), O_WRONLY | O_CREAT | O_EXCL, 0666);
  ASSERT_TRUE(fd.valid());
  EXPECT_EQ(lstat_or_fail(path("f")).st_mode, S_IFREG | 0640);
  ASSERT_SYS(::mkdir(path("d").c_str(), 0777));
  EXPECT_EQ(lstat_or_fail(path("d")).st_mode, S_IFDIR | 0750);
  ASSERT_SYS(::mkfifo(path("p").c_str(), 0666));
  EXPECT_EQ(lstat_or_fail(path("p")).st_mode, S_IFIFO | 0640);
}

TEST_P(PosixSuite, SpecialFiles) {
  ASSERT_SYS(::mkfifo(path("fifo").c_str(), 0644));
  EXPECT_TRUE(S_ISFIFO(lstat_or_fail(path("fifo")).st_mode));
  ASSERT_SYS(::mknod(path("socket").c_str(), S_IFSOCK | 0644, 0));
  EXPECT_TRUE(S_ISSOCK(lstat_or_fail(path("socket")).st_mode));
  if (!is_root()) return;
  ASSERT_SYS(::mknod(path("null").c_str(), S_IFCHR | 0666, makedev(1, 3)));
  const struct stat st = lstat_or_fail(path("null"));
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_EQ(st.st_rdev, makedev(1, 3));
  ASSERT_SYS(::mknod(path("block").c_str(), S_IFBLK | 0600, makedev(259, 77)));
  EXPECT_EQ(lstat_or_fail(path("block")).st_rdev, makedev(259, 77));
}

TEST_P(PosixSuite, ChownAsRoot) {
  SKIP_UNLESS_ROOT();
  ASSERT_TRUE(write_file(path("f"), "x"));
  ASSERT_SYS(::chown(path("f").c_str(), kUserA, kGroupB));
  struct stat st = lstat_or_fail(path("f"));
  EXPECT_EQ(st.st_uid, kUserA);
  EXPECT_EQ(st.st_gid, kGroupB);
  ASSERT_SYS(::chown(path("f").c_str(), static_cast<uid_t>(-1), kGroupA));  // group only
  st = lstat_or_fail(path("f"));
  EXPECT_EQ(st.st_uid, kUserA);
  EXPECT_EQ(st.st_gid, kGroupA);
  // lchown changes the link, not its target.
  ASSERT_SYS(::symlink("f", path("link").c_str()));
  ASSERT_SYS(::lchown(path("link").c_str(), kUserB, kGroupB));
  EXPECT_EQ(lstat_or_fail(path("link")).st_uid, kUserB);
  EXPECT_EQ(lstat_or_fail(path("f")).st_uid, kUserA);
  // chown of a regular file clears setuid, and setgid when group-executable.
  ASSERT_SYS(::chmod(path("f").c_str(), 06755));
  ASSERT_SYS(::chown(path("f").c_str(), kUserB, kGroupB));
  EXPECT_EQ(lstat_or_fail(path("f")).st_mode, S_IFREG | 0755);
}

TEST_P(PosixSuite, SetgidDirectoryPassesItsGroupOn) {
  SKIP_UNLESS_ROOT();
  ASSERT_SYS(::mkdir(path("d").c_str(), 0775));
  ASSERT_SYS(::chown(path("d").c_str(), 0, kGroupA));
  ASSERT_SYS(::chmod(path("d").c_str(), 02775));
  ASSERT_TRUE(write_file(path("d/file"), ""));
  ASSERT_SYS(::mkdir(path("d/sub").c_str(), 0755));
  EXPECT_EQ(lstat_or_fail(path("d/file")).st_gid, kGroupA);
  const struct stat sub = lstat_or_fail(path("d/sub"));
  EXPECT_EQ(sub.st_gid, kGroupA);
  EXPECT_TRUE((sub.st_mode & S_ISGID) != 0) << "subfolders inherit the setgid bit";
}

TEST_P(PosixSuite, OtherUserIsDeniedByModes) {
  SKIP_UNLESS_ROOT();
  open_to_others();
  ASSERT_TRUE(write_file(path("secret"), "s", 0600));
  ASSERT_TRUE(write_file(path("readable"), "r", 0644));
  ASSERT_SYS(::mkdir(path("closed").c_str(), 0700));
  ASSERT_TRUE(write_file(path("closed/inside"), "i", 0644));
  const std::string failures = run_as(kUserA, kGroupA, [&](ChildLog& log) {
    CHILD_ERRNO(log, EACCES, ::open(path("secret").c_str(), O_RDONLY));
    CHILD_ERRNO(log, EACCES, ::open(path("secret").c_str(), O_WRONLY));
    CHILD_ERRNO(log, EACCES, ::truncate(path("secret").c_str(), 0));
    CHILD_ERRNO(log, EACCES, ::open(path("readable").c_str(), O_WRONLY));
    const int fd = ::open(path("readable").c_str(), O_RDONLY);
    CHILD_OK(log, fd);
    if (fd >= 0) ::close(fd);
    struct stat st {};
    CHILD_ERRNO(log, EACCES, ::stat(path("closed/inside").c_str(), &st));
    CHILD_ERRNO(log, EACCES, ::open(path("new").c_str(), O_WRONLY | O_CREAT, 0644));
    CHILD_ERRNO(log, EACCES, ::unlink(path("readable").c_str()));
    CHILD_ERRNO(log, EACCES, ::mkdir(path("newdir").c_str(), 0755));
  });
  EXPECT_EQ(failures, "");
  EXPECT_EQ(read_file_text(path("secret")), "s");
}

TEST_P(PosixSuite, OtherUserCannotChangeOwnersOrModes) {
  SKIP_UNLESS_ROOT();
  open_to_others();
  ASSERT_TRUE(write_file(path("roots"), "r", 0644));
  ASSERT_SYS(::mkdir(path("open").c_str(), 0777));
  ASSERT_SYS(::chmod(path("open").c_str(), 0777));  // past the umask
  const std::string failures = run_as(kUserA, kGroupA, [&](ChildLog& log) {
    CHILD_ERRNO(log, EPERM, ::chmod(path("roots").c_str(), 0666));
    CHILD_ERRNO(log, EPERM, ::chown(path("roots").c_str(), kUserA, kGroupA));
    const timespec times[2] = {timespec_of(1), timespec_of(2)};
    CHILD_ERRNO(log, EPERM, ::utimensat(AT_FDCWD, path("roots").c_str(), times, 0));
    CHILD_ERRNO(log, EACCES, ::utimensat(AT_FDCWD, path("roots").c_str(), nullptr, 0));
    // Its own file: new files take the caller's ids; it may chmod, not give away.
    const std::string mine = path("open/mine");
    const int fd = ::open(mine.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0644);
    CHILD_OK(log, fd);
    if (fd >= 0) ::close(fd);
    struct stat st {};
    CHILD_OK(log, ::stat(mine.c_str(), &st));
    log.expect(st.st_uid == kUserA && st.st_gid == kGroupA, "new file not owned by the caller");
    CHILD_OK(log, ::chmod(mine.c_str(), 0600));
    CHILD_ERRNO(log, EPERM, ::chown(mine.c_str(), kUserB, static_cast<gid_t>(-1)));
    CHILD_ERRNO(log, EPERM, ::chown(mine.c_str(), static_cast<uid_t>(-1), kGroupB));
  });
  EXPECT_EQ(failures, "");
  EXPECT_EQ(lstat_or_fail(path("roots")).st_mode, S_IFREG | 0644);
}

TEST_P(PosixSuite, StickyDirectoryDeletionRules) {
  SKIP_UNLESS_ROOT();
  open_to_others();
  ASSERT_SYS(::mkdir(path("sticky").c_str(), 0777));
  ASSERT_SYS(::chmod(path("sticky").c_str(), 01777));
  ASSERT_SYS(::mkdir(path("open").c_str(), 0777));
  ASSERT_SYS(::chmod(path("open").c_str(), 0777));
  std::string failures = run_as(kUserA, kGroupA, [&](ChildLog& log) {
    for (const char* name : {"sticky/a1", "sticky/a2", "sticky/a3", "open/a1"}) {
      const int fd = ::open(path(name).c_str(), O_WRONLY | O_CREAT | O_EXCL, 0666);
      CHILD_OK(log, fd);
      if (fd >= 0) ::close(fd);
    }
  });
  ASSERT_EQ(failures, "");
  failures = run_as(kUserB, kGroupB, [&](ChildLog& log) {
    CHILD_ERRNO(log, EPERM, ::unlink(path("sticky/a1").c_str()));
    CHILD_ERRNO(log, EPERM, ::rename(path("sticky/a1").c_str(), path("sticky/b").c_str()));
    const int fd = ::open(path("sticky/b1").c_str(), O_WRONLY | O_CREAT | O_EXCL, 0666);
    CHILD_OK(log, fd);
    if (fd >= 0) ::close(fd);
    CHILD_ERRNO(log, EPERM, ::rename(path("sticky/b1").c_str(), path("sticky/a2").c_str()));
    CHILD_OK(log, ::unlink(path("open/a1").c_str()));  // no sticky bit: the folder's mode rules
  });
  EXPECT_EQ(failures, "");
  failures = run_as(kUserA, kGroupA, [&](ChildLog& log) {
    CHILD_OK(log, ::unlink(path("sticky/a1").c_str()));  // the file's owner may
  });
  EXPECT_EQ(failures, "");
  ASSERT_SYS(::chown(path("sticky").c_str(), kUserB, kGroupB));
  failures = run_as(kUserB, kGroupB, [&](ChildLog& log) {
    CHILD_OK(log, ::unlink(path("sticky/a2").c_str()));  // so may the folder's owner
  });
  EXPECT_EQ(failures, "");
  ASSERT_SYS(::unlink(path("sticky/a3").c_str()));  // and root
}

TEST_P(PosixSuite, WriteByOwnerClearsSetuid) {
  SKIP_UNLESS_ROOT();
  open_to_others();
  ASSERT_SYS(::mkdir(path("open").c_str(), 0777));
  ASSERT_SYS(::chmod(path("open").c_str(), 0777));
  const std::string failures = run_as(kUserA, kGroupA, [&](ChildLog& log) {
    const std::string file = path("open/tool");
    const int fd = ::open(file.c_str(), O_RDWR | O_CREAT | O_EXCL, 0755);
    CHILD_OK(log, fd);
    if (fd < 0) return;
    CHILD_OK(log, ::fchmod(fd, 04755));
    CHILD_OK(log, ::pwrite(fd, "patched", 7, 0));
    struct stat st {};
    CHILD_OK(log, ::fstat(fd, &st));
    log.expect((st.st_mode & S_ISUID) == 0, "setuid survived a write by a non-root user");
    ::close(fd);
  });
  EXPECT_EQ(failures, "");
}

// ---------------------------------------------------------------------------
// Times
// ---------------------------------------------------------------------------

TEST_P(PosixSuite, UtimensatKeepsNanoseconds) {
  ASSERT_TRUE(write_file(path("f"), "x"));
  const int64_t atime_ns = 1'111'111'111'123'456'789;
  const int64_t mtime_ns = 1'234'567'890'987'654'321;
  const timespec times[2] = {timespec_of(atime_ns), timespec_of(mtime_ns)};
  ASSERT_SYS(::utimensat(AT_FDCWD, path("f").c_str(), times, 0));
  struct stat st = lstat_or_fail(path("f"));
  EXPECT_EQ(ns_of(st.st_atim), atime_ns);
  EXPECT_EQ(ns_of(st.st_mtim), mtime_ns);

  timespec omit_atime[2] = {timespec_of(0), timespec_of(mtime_ns + 1)};
  omit_atime[0].tv_nsec = UTIME_OMIT;
  ASSERT_SYS(::utimensat(AT_FDCWD, path("f").c_str(), omit_atime, 0));
  st = lstat_or_fail(path("f"));
  EXPECT_EQ(ns_of(st.st_atim), atime_ns);
  EXPECT_EQ(ns_of(st.st_mtim), mtime_ns + 1);

  const auto now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  ASSERT_SYS(::utimensat(AT_FDCWD, path("f").c_str(), nullptr, 0));  // both UTIME_NOW
  st = lstat_or_fail(path("f"));
  EXPECT_LT(std::llabs(ns_of(st.st_mtim) - now_ns), 5'000'000'000LL);
  EXPECT_LT(std::llabs(ns_of(st.st_atim) - now_ns), 5'000'000'000LL);

  // Before 1970, on a symlink itself, and through a descriptor.
  ASSERT_SYS(::symlink("f", path("link").c_str()));
  const int64_t target_mtime_ns = ns_of(lstat_or_fail(path("f")).st_mtim);
  const timespec old_times[2] = {timespec_of(-1'500'000'000'000'000'000),
                                 timespec_of(-1'000'000'000'000'000'001)};
  ASSERT_SYS(::utimensat(AT_FDCWD, path("link").c_str(), old_times, AT_SYMLINK_NOFOLLOW));
  st = lstat_or_fail(path("link"));
  EXPECT_EQ(ns_of(st.st_mtim), -1'000'000'000'000'000'001);
  EXPECT_EQ(ns_of(lstat_or_fail(path("f")).st_mtim), target_mtime_ns) << "the link was followed";
  UniqueFd fd = open_fd(path("f"), O_RDONLY);
  ASSERT_SYS(::futimens(fd.get(), times));
  EXPECT_EQ(ns_of(lstat_or_fail(path("f")).st_mtim), mtime_ns);
}

TEST_P(PosixSuite, WriteAndTruncateUpdateMtimeAndCtime) {
  ASSERT_TRUE(write_file(path("f"), "x"));
  const timespec old_times[2] = {timespec_of(1'000'000'000'000'000'000),
                                 timespec_of(1'000'000'000'000'000'000)};
  ASSERT_SYS(::utimensat(AT_FDCWD, path("f").c_str(), old_times, 0));
  UniqueFd fd = open_fd(path("f"), O_RDWR);
  ASSERT_TRUE(fd.valid());
  const struct stat before = lstat_or_fail(path("f"));
  let_clock_tick();
  char buffer[4];
  ASSERT_SYS(::pread(fd.get(), buffer, sizeof(buffer), 0));
  EXPECT_EQ(ns_of(lstat_or_fail(path("f")).st_mtim), ns_of(before.st_mtim)) << "read changed mtime";
  ASSERT_TRUE(pwrite_all(fd.get(), "more", 1));
  const struct stat written = lstat_or_fail(path("f"));
  EXPECT_GT(ns_of(written.st_mtim), ns_of(before.st_mtim));
  EXPECT_GT(ns_of(written.st_ctim), ns_of(before.st_ctim));
  let_clock_tick();
  ASSERT_SYS(::ftruncate(fd.get(), 2));
  const struct stat truncated = lstat_or_fail(path("f"));
  EXPECT_GT(ns_of(truncated.st_mtim), ns_of(written.st_mtim));
  EXPECT_GT(ns_of(truncated.st_ctim), ns_of(written.st_ctim));
}

TEST_P(PosixSuite, CtimeChangesOnChmodAndLink) {
  ASSERT_TRUE(write_file(path("f"), "x"));
  const struct stat start = lstat_or_fail(path("f"));
  let_clock_tick();
  ASSERT_SYS(::chmod(path("f").c_str(), 0600));
  const struct stat chmodded = lstat_or_fail(path("f"));
  EXPECT_GT(ns_of(chmodded.st_ctim), ns_of(start.st_ctim));
  EXPECT_EQ(ns_of(chmodded.st_mtim), ns_of(start.st_mtim)) << "chmod changed mtime";
  let_clock_tick();
  ASSERT_SYS(::link(path("f").c_str(), path("g").c_str()));
  const struct stat linked = lstat_or_fail(path("f"));
  EXPECT_GT(ns_of(linked.st_ctim), ns_of(chmodded.st_ctim));
  let_clock_tick();
  ASSERT_SYS(::unlink(path("g").c_str()));
  EXPECT_GT(ns_of(lstat_or_fail(path("f")).st_ctim), ns_of(linked.st_ctim));
}

TEST_P(PosixSuite, DirectoryTimesChangeWithItsEntries) {
  ASSERT_SYS(::mkdir(path("d").c_str(), 0755));
  const timespec old_times[2] = {timespec_of(1'000'000'000'000'000'000),
                                 timespec_of(1'000'000'000'000'000'000)};
  auto age = [&] { ASSERT_SYS(::utimensat(AT_FDCWD, path("d").c_str(), old_times, 0)); };
  auto changed = [&](const char* what) {
    const struct stat st = lstat_or_fail(path("d"));
    EXPECT_GT(ns_of(st.st_mtim), 1'000'000'000'000'000'000) << what;
    EXPECT_GT(ns_of(st.st_ctim), 1'000'000'000'000'000'000) << what;
  };
  age();
  ASSERT_TRUE(write_file(path("d/f"), ""));
  changed("create");
  age();
  ASSERT_SYS(::mkdir(path("d/s").c_str(), 0755));
  changed("mkdir");
  age();
  ASSERT_SYS(::rename(path("d/f").c_str(), path("moved").c_str()));
  changed("rename out");
  age();
  ASSERT_SYS(::rmdir(path("d/s").c_str()));
  changed("rmdir");
}

// ---------------------------------------------------------------------------
// Extended attributes
// ---------------------------------------------------------------------------

inline std::string get_xattr(const std::string& file, const char* name) {
  std::string value(70000, '\0');
  const ssize_t n = ::getxattr(file.c_str(), name, value.data(), value.size());
  if (n < 0) return "<getxattr failed: " + errno_text(errno) + ">";
  value.resize(static_cast<size_t>(n));
  return value;
}

inline std::set<std::string> list_xattrs(const std::string& file) {
  std::string names(65536, '\0');
  const ssize_t n = ::listxattr(file.c_str(), names.data(), names.size());
  EXPECT_GE(n, 0) << errno_text(errno);
  std::set<std::string> out;
  for (size_t at = 0; n > 0 && at < static_cast<size_t>(n);) {
    const std::string name(names.c_str() + at);
    out.insert(name);
    at += name.size() + 1;
  }
  return out;
}

TEST_P(PosixSuite, XattrSetGetListRemove) {
  ASSERT_TRUE(write_file(path("f"), ""));
  const std::string file = path("f");
  const int rc = ::setxattr(file.c_str(), "user.color", "blue", 4, 0);
  const int err = errno;
  SKIP_IF_UNSUPPORTED(rc != 0 && err == EOPNOTSUPP, "user xattrs");
  ASSERT_EQ(rc, 0) << errno_text(err);
  ASSERT_SYS(::setxattr(file.c_str(), "user.empty", "", 0, 0));
  ASSERT_SYS(::setxattr(file.c_str(), "user.binary", "a\0b\xff", 4, 0));
  EXPECT_EQ(get_xattr(file, "user.color"), "blue");
  EXPECT_EQ(get_xattr(file, "user.empty"), "");
  EXPECT_EQ(get_xattr(file, "user.binary"), std::string("a\0b\xff", 4));
  std::set<std::string> names = list_xattrs(file);
  EXPECT_TRUE(names.count("user.color") && names.count("user.empty") && names.count("user.binary"));
  ASSERT_SYS(::setxattr(file.c_str(), "user.color", "green!", 6, 0));  // replace, longer
  EXPECT_EQ(get_xattr(file, "user.color"), "green!");
  ASSERT_SYS(::removexattr(file.c_str(), "user.color"));
  char buffer[16];
  EXPECT_ERRNO(ENODATA, ::getxattr(file.c_str(), "user.color", buffer, sizeof(buffer)));
  EXPECT_ERRNO(ENODATA, ::removexattr(file.c_str(), "user.color"));
  EXPECT_EQ(list_xattrs(file).count("user.color"), 0u);

  // Folders hold them too; symlinks may not hold user.* (Linux).
  ASSERT_SYS(::mkdir(path("d").c_str(), 0755));
  ASSERT_SYS(::setxattr(path("d").c_str(), "user.tag", "dir", 3, 0));
  EXPECT_EQ(get_xattr(path("d"), "user.tag"), "dir");
  ASSERT_SYS(::symlink("f", path("link").c_str()));
  EXPECT_ERRNO(EPERM, ::lsetxattr(path("link").c_str(), "user.tag", "l", 1, 0));
  // They belong to the inode: every hard link sees them, rename keeps them.
  ASSERT_SYS(::link(file.c_str(), path("f2").c_str()));
  ASSERT_SYS(::rename(file.c_str(), path("f3").c_str()));
  EXPECT_EQ(get_xattr(path("f2"), "user.binary"), std::string("a\0b\xff", 4));
  EXPECT_EQ(get_xattr(path("f3"), "user.empty"), "");
  // An unknown namespace is not supported.
  EXPECT_ERRNO(EOPNOTSUPP, ::setxattr(path("f2").c_str(), "nonsense.name", "x", 1, 0));
}

TEST_P(PosixSuite, XattrCreateAndReplaceFlags) {
  ASSERT_TRUE(write_file(path("f"), ""));
  const std::string file = path("f");
  const char* file_name = file.c_str();
  const int rc = ::setxattr(file_name, "user.a", "1", 1, XATTR_CREATE);
  const int err = errno;
  SKIP_IF_UNSUPPORTED(rc != 0 && err == EOPNOTSUPP, "user xattrs");
  ASSERT_EQ(rc, 0) << errno_text(err);
  EXPECT_ERRNO(EEXIST, ::setxattr(file_name, "user.a", "2", 1, XATTR_CREATE));
  EXPECT_ERRNO(ENODATA, ::setxattr(file_name, "user.b", "2", 1, XATTR_REPLACE));
  ASSERT_SYS(::setxattr(file_name, "user.a", "3", 1, XATTR_REPLACE));
  EXPECT_EQ(get_xattr(file, "user.a"), "3");
  EXPECT_EQ(list_xattrs(file).count("user.b"), 0u);
}

TEST_P(PosixSuite, XattrSizeQueryAndErange) {
  ASSERT_TRUE(write_file(path("f"), ""));
  const std::string file = path("f");
  const int rc = ::setxattr(file.c_str(), "user.ten", "0123456789", 10, 0);
  const int err = errno;
  SKIP_IF_UNSUPPORTED(rc != 0 && err == EOPNOTSUPP, "user xattrs");
  ASSERT_EQ(rc, 0) << errno_text(err);
  EXPECT_EQ(::getxattr(file.c_str(), "user.ten", nullptr, 0), 10);
  char buffer[64];
  EXPECT_ERRNO(ERANGE, ::getxattr(file.c_str(), "user.ten", buffer, 9));
  EXPECT_EQ(::getxattr(file.c_str(), "user.ten", buffer, 10), 10);
  const ssize_t list_size = ::listxattr(file.c_str(), nullptr, 0);
  ASSERT_GE(list_size, static_cast<ssize_t>(sizeof("user.ten")));
  EXPECT_ERRNO(ERANGE, ::listxattr(file.c_str(), buffer, static_cast<size_t>(list_size) - 1));
  EXPECT_EQ(::listxattr(file.c_str(), buffer, sizeof(buffer)), list_size);
  const std::string long_name = "user." + std::string(251, 'n');  // 256 > XATTR_NAME_MAX
  EXPECT_ERRNO(ERANGE, ::setxattr(file.c_str(), long_name.c_str(), "x", 1, 0));
}

TEST_P(PosixSuite, XattrBigValue) {
  ASSERT_TRUE(write_file(path("f"), ""));
  const std::string file = path("f");
  const std::string value = pattern_bytes(65536, 13);  // XATTR_SIZE_MAX
  const int rc = ::setxattr(file.c_str(), "user.big", value.data(), value.size(), 0);
  const int err = errno;
  SKIP_IF_UNSUPPORTED(rc != 0 && (err == EOPNOTSUPP || err == ENOSPC || err == E2BIG),
                      "a 64 KiB xattr value");
  ASSERT_EQ(rc, 0) << errno_text(err);
  EXPECT_TRUE(get_xattr(file, "user.big") == value);
  const std::string too_big(65537, 'x');
  EXPECT_ERRNO(E2BIG, ::setxattr(file.c_str(), "user.bigger", too_big.data(), too_big.size(), 0));
  ASSERT_SYS(::removexattr(file.c_str(), "user.big"));
}

// ---------------------------------------------------------------------------
// The rest: statfs, fsync, names, errno
// ---------------------------------------------------------------------------

TEST_P(PosixSuite, StatfsIsSane) {
  struct statvfs st {};
  ASSERT_SYS(::statvfs(root_.c_str(), &st));
  EXPECT_GT(st.f_bsize, 0u);
  EXPECT_GT(st.f_frsize, 0u);
  EXPECT_GT(st.f_blocks, 0u);
  EXPECT_LE(st.f_bfree, st.f_blocks);
  EXPECT_LE(st.f_bavail, st.f_bfree);
  EXPECT_LE(st.f_ffree, st.f_files);
  EXPECT_GE(st.f_namemax, 255u);
  ASSERT_TRUE(write_file(path("f"), "x"));
  UniqueFd fd = open_fd(path("f"), O_RDONLY);
  struct statvfs by_fd {};
  ASSERT_SYS(::fstatvfs(fd.get(), &by_fd));
  EXPECT_EQ(by_fd.f_blocks, st.f_blocks);
}

TEST_P(PosixSuite, FsyncAndFdatasyncSucceed) {
  UniqueFd fd = open_fd(path("f"), O_RDWR | O_CREAT | O_EXCL);
  ASSERT_TRUE(fd.valid());
  ASSERT_TRUE(pwrite_all(fd.get(), pattern_bytes(300000, 14), 0));
  EXPECT_SYS(::fsync(fd.get()));
  ASSERT_TRUE(pwrite_all(fd.get(), "again", 5));
  EXPECT_SYS(::fdatasync(fd.get()));
  EXPECT_SYS(::syncfs(fd.get()));
  UniqueFd dir = open_fd(root_, O_RDONLY | O_DIRECTORY);
  ASSERT_TRUE(dir.valid());
  EXPECT_SYS(::fsync(dir.get()));
  EXPECT_SYS(::fdatasync(dir.get()));
  UniqueFd reader = open_fd(path("f"), O_RDONLY);
  EXPECT_SYS(::fsync(reader.get()));  // allowed on a read-only descriptor
}

TEST_P(PosixSuite, NameTooLong) {
  const std::string longest(255, 'n');
  const std::string too_long(256, 'n');
  ASSERT_TRUE(write_file(path(longest), "ok"));
  EXPECT_EQ(read_file_text(path(longest)), "ok");
  EXPECT_EQ(read_dir(root_).count(longest), 1u);
  struct stat st {};
  EXPECT_ERRNO(ENAMETOOLONG, ::open(path(too_long).c_str(), O_WRONLY | O_CREAT, 0644));
  EXPECT_ERRNO(ENAMETOOLONG, ::mkdir(path(too_long).c_str(), 0755));
  EXPECT_ERRNO(ENAMETOOLONG, ::symlink("x", path(too_long).c_str()));
  EXPECT_ERRNO(ENAMETOOLONG, ::link(path(longest).c_str(), path(too_long).c_str()));
  EXPECT_ERRNO(ENAMETOOLONG, ::rename(path(longest).c_str(), path(too_long).c_str()));
  EXPECT_ERRNO(ENAMETOOLONG, ::lstat(path(too_long).c_str(), &st));
  EXPECT_ERRNO(ENAMETOOLONG, ::mkfifo(path(too_long).c_str(), 0644));
}

TEST_P(PosixSuite, ErrnoOfCommonMistakes) {
  ASSERT_TRUE(write_file(path("file"), "f"));
  ASSERT_SYS(::mkdir(path("dir").c_str(), 0755));
  struct stat st {};
  // EEXIST
  EXPECT_ERRNO(EEXIST, ::mkdir(path("dir").c_str(), 0755));
  EXPECT_ERRNO(EEXIST, ::mkdir(path("file").c_str(), 0755));
  EXPECT_ERRNO(EEXIST, ::open(path("file").c_str(), O_WRONLY | O_CREAT | O_EXCL, 0644));
  EXPECT_ERRNO(EEXIST, ::mkfifo(path("dir").c_str(), 0644));
  EXPECT_ERRNO(EEXIST, ::link(path("file").c_str(), path("dir").c_str()));
  // ENOENT
  EXPECT_ERRNO(ENOENT, ::open(path("missing").c_str(), O_RDONLY));
  EXPECT_ERRNO(ENOENT, ::lstat(path("missing/x").c_str(), &st));
  EXPECT_ERRNO(ENOENT, ::mkdir(path("missing/x").c_str(), 0755));
  EXPECT_ERRNO(ENOENT, ::open(path("missing/x").c_str(), O_WRONLY | O_CREAT, 0644));
  // ENOTDIR
  EXPECT_ERRNO(ENOTDIR, ::open(path("file/x").c_str(), O_RDONLY));
  EXPECT_ERRNO(ENOTDIR, ::mkdir(path("file/x").c_str(), 0755));
  EXPECT_ERRNO(ENOTDIR, ::open(path("file").c_str(), O_RDONLY | O_DIRECTORY));
  EXPECT_ERRNO(ENOTDIR, ::lstat(path("file/").c_str(), &st));
  // EISDIR
  EXPECT_ERRNO(EISDIR, ::open(path("dir").c_str(), O_WRONLY));
  EXPECT_ERRNO(EISDIR, ::open(path("dir").c_str(), O_RDWR));
  EXPECT_ERRNO(EISDIR, ::truncate(path("dir").c_str(), 0));
  UniqueFd dir = open_fd(path("dir"), O_RDONLY);
  ASSERT_TRUE(dir.valid());
  char buffer[8];
  EXPECT_ERRNO(EISDIR, ::read(dir.get(), buffer, sizeof(buffer)));
  // Descriptors opened for the other direction.
  UniqueFd read_only = open_fd(path("file"), O_RDONLY);
  UniqueFd write_only = open_fd(path("file"), O_WRONLY);
  EXPECT_ERRNO(EBADF, ::write(read_only.get(), "x", 1));
  EXPECT_ERRNO(EBADF, ::read(write_only.get(), buffer, sizeof(buffer)));
  EXPECT_ERRNO(EINVAL, ::ftruncate(read_only.get(), 0));
  EXPECT_ERRNO(EBADF, ::fallocate(read_only.get(), 0, 0, 10));
  EXPECT_EQ(read_file_text(path("file")), "f");
}

}  // namespace lares::testing::posix
