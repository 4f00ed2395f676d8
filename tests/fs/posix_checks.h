// Building blocks of the POSIX behaviour suite (tests/fs/posix_suite.h):
// where the checks run (PosixTarget), system-call assertions that name the
// errno, small file helpers, and a forked child that acts as another user.
//
// Header-only: every tests/**/*_test.cc is its own binary, and the suite is
// meant to be instantiated by more than one of them (a local folder now, a
// Lares mount later).
#pragma once

#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>

#include "testing/temp_dir.h"
#include "util/check.h"
#include "util/file.h"
#include "util/random.h"

namespace lares::testing::posix {

// A fresh, empty folder to run one test in; it lives while the object does
// (a mount stays mounted, a temporary folder stays on disk).
class PosixDir {
 public:
  virtual ~PosixDir() = default;
  virtual const std::string& path() const = 0;
};

// What a check does when the filesystem says it lacks a feature (EOPNOTSUPP
// for a fallocate mode, ENOSPC for a 64 KiB xattr on ext4): the local
// filesystems we compare against may skip; Lares must not.
enum class Unsupported { kSkip, kFail };

struct PosixTarget {
  std::string name;  // the parameter's name in test names: letters, digits, '_'
  // A fresh folder, or null when the target cannot run here (the test skips).
  std::function<std::unique_ptr<PosixDir>()> make_dir;
  Unsupported unsupported = Unsupported::kSkip;
  size_t many_entries = 2000;  // ManyEntries; LARES_POSIX_BIG=1 runs 100000
};

// Test parameters print as their name.
inline void PrintTo(const PosixTarget& target, std::ostream* out) { *out << target.name; }

// A temporary folder others may enter (mkdtemp makes it 0700, and the
// run_as tests need o+x), on whatever $TMPDIR is.
class LocalDir : public PosixDir {
 public:
  LocalDir() { LARES_CHECK(::chmod(dir_.path().c_str(), 0755) == 0); }
  const std::string& path() const override { return dir_.path(); }

 private:
  TempDir dir_;
};

// A fresh tmpfs mounted on a temporary folder (root only), unmounted lazily
// (a test may leave a descriptor open) before the folder goes.
class TmpfsDir : public PosixDir {
 public:
  // Null unless root and the mount works. Sparse files count by what they
  // hold, so the default size is plenty for 5 GiB sparse files.
  static std::unique_ptr<PosixDir> make(const char* options = "size=8g,mode=0755") {
    if (::geteuid() != 0) return nullptr;
    auto dir = std::unique_ptr<TmpfsDir>(new TmpfsDir());
    if (::mount("lares-test", dir->path().c_str(), "tmpfs", 0, options) != 0) return nullptr;
    dir->mounted_ = true;
    return dir;
  }
  ~TmpfsDir() override {
    if (mounted_) ::umount2(dir_.path().c_str(), MNT_DETACH);
  }
  const std::string& path() const override { return dir_.path(); }

 private:
  TmpfsDir() = default;
  TempDir dir_;
  bool mounted_ = false;
};

inline std::string errno_text(int err) {
  const char* name = ::strerrorname_np(err);
  return std::string(name != nullptr ? name : "errno " + std::to_string(err)) + " (" +
         std::strerror(err) + ")";
}

// rc >= 0 is success (open returns an fd, read a count).
inline ::testing::AssertionResult sys_ok(long rc, const char* what) {
  const int err = errno;
  if (rc >= 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << what << " failed: " << errno_text(err);
}

inline ::testing::AssertionResult sys_fails_with(long rc, int expected, const char* what) {
  const int err = errno;
  if (rc >= 0) {
    return ::testing::AssertionFailure()
           << what << " succeeded (" << rc << "), expected " << errno_text(expected);
  }
  if (err != expected) {
    return ::testing::AssertionFailure()
           << what << " failed with " << errno_text(err) << ", expected " << errno_text(expected);
  }
  return ::testing::AssertionSuccess();
}

}  // namespace lares::testing::posix

// The call must succeed (return >= 0).
#define ASSERT_SYS(expr) ASSERT_TRUE(::lares::testing::posix::sys_ok((expr), #expr))
#define EXPECT_SYS(expr) EXPECT_TRUE(::lares::testing::posix::sys_ok((expr), #expr))
// The call must fail (return < 0) with errno `err`.
#define EXPECT_ERRNO(err, expr) \
  EXPECT_TRUE(::lares::testing::posix::sys_fails_with((expr), (err), #expr))
#define ASSERT_ERRNO(err, expr) \
  ASSERT_TRUE(::lares::testing::posix::sys_fails_with((expr), (err), #expr))

namespace lares::testing::posix {

// Deterministic, position-dependent bytes: a misplaced block shows.
inline std::string pattern_bytes(size_t size, uint64_t seed) {
  SeededRandom random(seed);
  std::string out(size, '\0');
  for (size_t i = 0; i < size; i += 8) {
    uint64_t word = random.next();
    for (size_t j = i; j < i + 8 && j < size; ++j) {
      out[j] = static_cast<char>(word & 0xff);
      word >>= 8;
    }
  }
  return out;
}

inline ::testing::AssertionResult pwrite_all(int fd, std::string_view data, uint64_t offset) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n =
        ::pwrite(fd, data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      return ::testing::AssertionFailure() << "pwrite of " << data.size() << " bytes at " << offset
                                           << ": " << (n < 0 ? errno_text(errno) : "wrote nothing");
    }
    done += static_cast<size_t>(n);
  }
  return ::testing::AssertionSuccess();
}

// Up to `size` bytes at `offset` (fewer at the end of the file); errors
// come back as a failed assertion through `ok`.
inline std::string pread_upto(int fd, uint64_t offset, size_t size,
                              ::testing::AssertionResult* ok = nullptr) {
  std::string out(size, '\0');
  size_t done = 0;
  while (done < size) {
    const ssize_t n =
        ::pread(fd, out.data() + done, size - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      if (ok != nullptr) *ok = ::testing::AssertionFailure() << "pread: " << errno_text(errno);
      break;
    }
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  out.resize(done);
  return out;
}

inline UniqueFd open_fd(const std::string& path, int flags, mode_t mode = 0644) {
  return UniqueFd(::open(path.c_str(), flags | O_CLOEXEC, mode));
}

// Writes `data` as the whole content of a new (or truncated) file.
inline ::testing::AssertionResult write_file(const std::string& path, std::string_view data,
                                             mode_t mode = 0644) {
  UniqueFd fd = open_fd(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
  if (!fd.valid())
    return ::testing::AssertionFailure() << "open " << path << ": " << errno_text(errno);
  return pwrite_all(fd.get(), data, 0);
}

inline std::string read_file_text(const std::string& path) {
  UniqueFd fd = open_fd(path, O_RDONLY);
  if (!fd.valid()) return "<open failed: " + errno_text(errno) + ">";
  std::string out;
  for (uint64_t offset = 0;;) {
    std::string piece = pread_upto(fd.get(), offset, 1 << 20);
    if (piece.empty()) break;
    offset += piece.size();
    out += piece;
  }
  return out;
}

inline bool all_zero(std::string_view bytes) {
  return bytes.find_first_not_of('\0') == std::string_view::npos;
}

inline int64_t ns_of(const timespec& ts) {
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// tv_nsec stays in [0, 1e9), also before 1970.
inline timespec timespec_of(int64_t ns) {
  int64_t seconds = ns / 1'000'000'000;
  int64_t rest_ns = ns % 1'000'000'000;
  if (rest_ns < 0) {
    rest_ns += 1'000'000'000;
    --seconds;
  }
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(seconds);
  ts.tv_nsec = static_cast<long>(rest_ns);
  return ts;
}

inline struct stat lstat_or_fail(const std::string& path) {
  struct stat st {};
  EXPECT_SYS(::lstat(path.c_str(), &st)) << path;
  return st;
}

inline bool is_root() { return ::geteuid() == 0; }

// Failures seen inside a forked child, where GoogleTest cannot report.
class ChildLog {
 public:
  void expect_ok(long rc, const char* what) {
    const int err = errno;
    if (rc < 0) text_ += std::string(what) + " failed: " + errno_text(err) + "\n";
  }
  void expect_errno(long rc, int expected, const char* what) {
    const int err = errno;
    if (rc >= 0) {
      text_ += std::string(what) + " succeeded, expected " + errno_text(expected) + "\n";
    } else if (err != expected) {
      text_ += std::string(what) + " failed with " + errno_text(err) + ", expected " +
               errno_text(expected) + "\n";
    }
  }
  void expect(bool condition, const std::string& what) {
    if (!condition) text_ += what + "\n";
  }
  const std::string& text() const { return text_; }

 private:
  std::string text_;
};

#define CHILD_OK(log, expr) (log).expect_ok((expr), #expr)
#define CHILD_ERRNO(log, err, expr) (log).expect_errno((expr), (err), #expr)

// Runs `body` in a forked child that has dropped to uid/gid (no
// supplementary groups), and returns what the child logged ("" when every
// expectation held). REQUIRES: root.
inline std::string run_as(uid_t uid, gid_t gid, const std::function<void(ChildLog&)>& body) {
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return "pipe: " + errno_text(errno);
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) return "fork: " + errno_text(errno);
  if (pid == 0) {
    ::close(pipe_fds[0]);
    ChildLog log;
    if (::setgroups(0, nullptr) != 0 || ::setresgid(gid, gid, gid) != 0 ||
        ::setresuid(uid, uid, uid) != 0) {
      log.expect(false, "dropping to uid " + std::to_string(uid) + ": " + errno_text(errno));
    } else {
      body(log);
    }
    const std::string& text = log.text();
    size_t done = 0;
    while (done < text.size()) {
      const ssize_t n = ::write(pipe_fds[1], text.data() + done, text.size() - done);
      if (n <= 0) break;
      done += static_cast<size_t>(n);
    }
    ::_exit(0);
  }
  ::close(pipe_fds[1]);
  std::string text;
  char buffer[4096];
  for (;;) {
    const ssize_t n = ::read(pipe_fds[0], buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    text.append(buffer, static_cast<size_t>(n));
  }
  ::close(pipe_fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) text += "the child died\n";
  return text;
}

// The test's own umask for the duration of a scope (umask is per process).
class ScopedUmask {
 public:
  explicit ScopedUmask(mode_t mask) : previous_(::umask(mask)) {}
  ~ScopedUmask() { ::umask(previous_); }
  ScopedUmask(const ScopedUmask&) = delete;
  ScopedUmask& operator=(const ScopedUmask&) = delete;

 private:
  mode_t previous_;
};

// Randomized checks replay from their seed: LARES_TEST_SEED=<n> overrides it.
inline uint64_t test_seed(uint64_t fallback) {
  const char* env = std::getenv("LARES_TEST_SEED");
  return env != nullptr ? std::strtoull(env, nullptr, 10) : fallback;
}

}  // namespace lares::testing::posix
