// LiveFs called directly (no kernel): POSIX semantics, persistence across
// reopen, snapshots of the tree, crash consistency (a child process killed
// after a sync), gc keeping live data, and a randomized model test.
#include "fs/live_fs.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <map>
#include <random>

#include "fs/dataset.h"
#include "fs/gc.h"
#include "testing/live_fixture.h"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

namespace lares {
namespace {


constexpr Caller kRoot{0, 0};

Bytes text(std::string_view s) { return Bytes(s.begin(), s.end()); }

class LiveFsTest : public testing::LiveDatasetTest {
 protected:
  LiveFsTest() : LiveDatasetTest(4096) {}  // small records: many of them in small tests

  // Closes everything and opens the repository again, as a new process.
  void reopen_all() {
    fs_.reset();
    datasets_.reset();
    auto repo = reopen();
    ASSERT_TRUE(repo.is_ok()) << repo.status().to_string();
    repo_ = std::move(*repo);
    datasets_ = std::make_unique<DatasetStore>(*repo_);
    open_fs();
  }

  uint64_t make_file(uint64_t parent, const std::string& name, uint32_t mode = 0644) {
    LiveAttr a;
    EXPECT_EQ(fs_->mknod(parent, name, S_IFREG | mode, 0, kRoot, &a), 0) << name;
    return a.ino;
  }
  uint64_t make_dir(uint64_t parent, const std::string& name) {
    LiveAttr a;
    EXPECT_EQ(fs_->mkdir(parent, name, 0755, kRoot, &a), 0) << name;
    return a.ino;
  }
  uint64_t ino_of(uint64_t parent, const std::string& name) {
    LiveAttr a;
    int e = fs_->lookup(parent, name, &a);
    return e == 0 ? a.ino : 0;
  }
  std::string read_all(uint64_t ino) {
    LiveAttr a;
    EXPECT_EQ(fs_->getattr(ino, &a), 0);
    Bytes out;
    EXPECT_EQ(fs_->read(ino, 0, a.inode.size + 10, &out), 0);
    return std::string(as_chars(out));
  }
  void write_at(uint64_t ino, uint64_t offset, std::string_view data) {
    uint64_t at = 0;
    ASSERT_EQ(fs_->write(ino, offset, as_bytes(data), false, &at), 0);
  }
  std::vector<std::string> names(uint64_t dir) {
    std::vector<LiveDirEntry> entries;
    EXPECT_EQ(fs_->list_dir(dir, &entries), 0);
    std::vector<std::string> out;
    for (auto& e : entries) out.push_back(e.name);
    return out;
  }
};

TEST_F(LiveFsTest, NewDatasetHasAnEmptyRootFolder) {
  LiveAttr a;
  ASSERT_EQ(fs_->getattr(kRootIno, &a), 0);
  EXPECT_TRUE(S_ISDIR(a.inode.mode));
  EXPECT_EQ(a.inode.nlink, 2u);
  EXPECT_TRUE(names(kRootIno).empty());
  EXPECT_TRUE(fs_->head().root.has_value());
}

TEST_F(LiveFsTest, FilesAndFoldersSurviveReopen) {
  const uint64_t dir = make_dir(kRootIno, "docs");
  const uint64_t f = make_file(dir, "a.txt");
  write_at(f, 0, "hello world");
  write_at(f, 6, "there");
  LiveAttr a;
  ASSERT_EQ(fs_->symlink(dir, "link", "a.txt", kRoot, &a), 0);
  ASSERT_EQ(fs_->setxattr(f, "user.tag", text("blue"), 0), 0);
  EXPECT_EQ(read_all(f), "hello there");
  ASSERT_TRUE(fs_->sync().is_ok());
  reopen_all();
  const uint64_t dir2 = ino_of(kRootIno, "docs");
  ASSERT_EQ(dir2, dir);
  const uint64_t f2 = ino_of(dir2, "a.txt");
  EXPECT_EQ(read_all(f2), "hello there");
  std::string target;
  ASSERT_EQ(fs_->readlink(ino_of(dir2, "link"), &target), 0);
  EXPECT_EQ(target, "a.txt");
  Bytes tag;
  ASSERT_EQ(fs_->getxattr(f2, "user.tag", &tag), 0);
  EXPECT_EQ(as_chars(tag), "blue");
  EXPECT_EQ(names(dir2), (std::vector<std::string>{"a.txt", "link"}));
  LiveAttr root;
  ASSERT_EQ(fs_->getattr(kRootIno, &root), 0);
  EXPECT_EQ(root.inode.nlink, 3u);
}

TEST_F(LiveFsTest, SparseFilesReadZerosInHolesAndKeepTheirSize) {
  const uint64_t f = make_file(kRootIno, "sparse");
  const uint64_t far = (uint64_t{5} << 30) + 123;  // past 4 GiB
  write_at(f, far, "end");
  write_at(f, 10000, "middle");
  ASSERT_TRUE(fs_->sync().is_ok());
  reopen_all();
  LiveAttr a;
  ASSERT_EQ(fs_->getattr(f, &a), 0);
  EXPECT_EQ(a.inode.size, far + 3);
  EXPECT_LT(a.blocks * 512, uint64_t{1} << 20);  // holes take no space
  Bytes out;
  ASSERT_EQ(fs_->read(f, 9990, 30, &out), 0);
  std::string expect(10, '\0');
  expect += "middle";
  expect += std::string(14, '\0');
  EXPECT_EQ(std::string(as_chars(out)), expect);
  ASSERT_EQ(fs_->read(f, far - 2, 100, &out), 0);
  EXPECT_EQ(std::string(as_chars(out)), std::string("\0\0end", 5));
}

TEST_F(LiveFsTest, TruncateDropsDataAndGrowingReadsZeros) {
  const uint64_t f = make_file(kRootIno, "t");
  write_at(f, 0, std::string(10000, 'x'));
  ASSERT_TRUE(fs_->sync().is_ok());
  SetAttr shrink;
  shrink.set_size = true;
  shrink.size = 5000;
  ASSERT_EQ(fs_->setattr(f, shrink, nullptr), 0);
  SetAttr grow = shrink;
  grow.size = 12000;
  ASSERT_EQ(fs_->setattr(f, grow, nullptr), 0);
  std::string expect = std::string(5000, 'x') + std::string(7000, '\0');
  EXPECT_EQ(read_all(f), expect);
  ASSERT_TRUE(fs_->sync().is_ok());
  reopen_all();
  EXPECT_EQ(read_all(f), expect);
}

TEST_F(LiveFsTest, AppendPunchHoleAndZeroRange) {
  const uint64_t f = make_file(kRootIno, "f");
  uint64_t at = 0;
  ASSERT_EQ(fs_->write(f, 0, as_bytes(std::string(9000, 'a')), true, &at), 0);
  ASSERT_EQ(fs_->write(f, 0, as_bytes(std::string(1000, 'b')), true, &at), 0);
  EXPECT_EQ(at, 9000u);
  ASSERT_TRUE(fs_->sync().is_ok());
  ASSERT_EQ(fs_->fallocate(f, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 100, 8000), 0);
  ASSERT_EQ(fs_->fallocate(f, FALLOC_FL_ZERO_RANGE, 9500, 1000), 0);
  std::string expect = std::string(100, 'a') + std::string(8000, '\0') + std::string(900, 'a') +
                       std::string(500, 'b') + std::string(1000, '\0');
  EXPECT_EQ(read_all(f), expect);
  ASSERT_EQ(fs_->fallocate(f, 0, 0, 20000), 0);
  LiveAttr a;
  ASSERT_EQ(fs_->getattr(f, &a), 0);
  EXPECT_EQ(a.inode.size, 20000u);
  EXPECT_EQ(fs_->fallocate(f, 0x40 /* FALLOC_FL_INSERT_RANGE */, 0, 4096), EOPNOTSUPP);
  ASSERT_TRUE(fs_->sync().is_ok());
  reopen_all();
  EXPECT_EQ(read_all(f).substr(0, expect.size()), expect);
}

TEST_F(LiveFsTest, NamespaceErrorsAreThePosixOnes) {
  const uint64_t d = make_dir(kRootIno, "d");
  const uint64_t f = make_file(kRootIno, "f");
  LiveAttr a;
  EXPECT_EQ(fs_->mknod(kRootIno, "f", S_IFREG | 0644, 0, kRoot, &a), EEXIST);
  EXPECT_EQ(fs_->mkdir(f, "x", 0755, kRoot, &a), ENOTDIR);
  EXPECT_EQ(fs_->lookup(kRootIno, "missing", &a), ENOENT);
  EXPECT_EQ(fs_->mkdir(kRootIno, std::string(256, 'n'), 0755, kRoot, &a), ENAMETOOLONG);
  EXPECT_EQ(fs_->mkdir(kRootIno, ".lares", 0755, kRoot, &a), EEXIST);
  make_file(d, "inside");
  EXPECT_EQ(fs_->rmdir(kRootIno, "d"), ENOTEMPTY);
  EXPECT_EQ(fs_->rmdir(kRootIno, "f"), ENOTDIR);
  EXPECT_EQ(fs_->unlink(kRootIno, "d"), EISDIR);
  EXPECT_EQ(fs_->link(d, kRootIno, "dlink", &a), EPERM);
  Bytes v;
  EXPECT_EQ(fs_->getxattr(f, "user.none", &v), ENODATA);
  EXPECT_EQ(fs_->setxattr(f, "user.x", text("1"), XATTR_REPLACE), ENODATA);
  EXPECT_EQ(fs_->setxattr(f, "user.x", text("1"), XATTR_CREATE), 0);
  EXPECT_EQ(fs_->setxattr(f, "user.x", text("2"), XATTR_CREATE), EEXIST);
  EXPECT_EQ(fs_->setxattr(f, "user.big", Bytes(65537, 1), 0), E2BIG);
  EXPECT_EQ(fs_->removexattr(f, "user.none"), ENODATA);
  Bytes out;
  EXPECT_EQ(fs_->read(d, 0, 10, &out), EISDIR);
}

TEST_F(LiveFsTest, RenameFollowsPosix) {
  const uint64_t a = make_dir(kRootIno, "a");
  const uint64_t b = make_dir(a, "b");
  const uint64_t f = make_file(kRootIno, "f");
  const uint64_t g = make_file(kRootIno, "g");
  write_at(f, 0, "F");
  write_at(g, 0, "G");
  EXPECT_EQ(fs_->rename(kRootIno, "a", b, "a2", 0), EINVAL);  // into its own subtree
  EXPECT_EQ(fs_->rename(kRootIno, "f", kRootIno, "g", RENAME_NOREPLACE), EEXIST);
  ASSERT_EQ(fs_->rename(kRootIno, "f", kRootIno, "g", RENAME_EXCHANGE), 0);
  EXPECT_EQ(read_all(ino_of(kRootIno, "g")), "F");
  EXPECT_EQ(read_all(ino_of(kRootIno, "f")), "G");
  ASSERT_EQ(fs_->rename(kRootIno, "f", kRootIno, "g", 0), 0);  // over an existing file
  EXPECT_EQ(read_all(ino_of(kRootIno, "g")), "G");
  EXPECT_EQ(ino_of(kRootIno, "f"), 0u);
  EXPECT_EQ(fs_->rename(kRootIno, "g", kRootIno, "a", 0), EISDIR);
  EXPECT_EQ(fs_->rename(kRootIno, "a", kRootIno, "g", 0), ENOTDIR);
  make_dir(kRootIno, "empty");
  ASSERT_EQ(fs_->rename(a, "b", kRootIno, "empty", 0), 0);  // a folder over an empty one
  EXPECT_EQ(ino_of(kRootIno, "empty"), b);
  LiveAttr attr;
  ASSERT_EQ(fs_->getattr(a, &attr), 0);
  EXPECT_EQ(attr.inode.nlink, 2u);
  ASSERT_EQ(fs_->getattr(kRootIno, &attr), 0);
  EXPECT_EQ(attr.inode.nlink, 4u);  // ., a, empty (b replaced it)
  make_file(a, "x");
  EXPECT_EQ(fs_->rename(kRootIno, "empty", kRootIno, "a", 0), ENOTEMPTY);
  ASSERT_EQ(fs_->lookup(b, "..", &attr), 0);
  EXPECT_EQ(attr.ino, kRootIno);
  ASSERT_TRUE(fs_->sync().is_ok());
  reopen_all();
  EXPECT_EQ(names(kRootIno), (std::vector<std::string>{"a", "empty", "g"}));
}

TEST_F(LiveFsTest, HardLinksShareDataAndCountLinks) {
  const uint64_t f = make_file(kRootIno, "one");
  write_at(f, 0, "shared");
  LiveAttr a;
  ASSERT_EQ(fs_->link(f, kRootIno, "two", &a), 0);
  EXPECT_EQ(a.inode.nlink, 2u);
  write_at(ino_of(kRootIno, "two"), 0, "SH");
  EXPECT_EQ(read_all(f), "SHared");
  ASSERT_EQ(fs_->unlink(kRootIno, "one"), 0);
  ASSERT_EQ(fs_->getattr(f, &a), 0);
  EXPECT_EQ(a.inode.nlink, 1u);
  EXPECT_EQ(read_all(ino_of(kRootIno, "two")), "SHared");
}

TEST_F(LiveFsTest, AnUnlinkedOpenFileLivesUntilReleasedAndForgotten) {
  const uint64_t f = make_file(kRootIno, "tmp");  // one lookup reference
  write_at(f, 0, "still here");
  ASSERT_EQ(fs_->open(f, O_RDWR), 0);
  ASSERT_EQ(fs_->unlink(kRootIno, "tmp"), 0);
  EXPECT_EQ(read_all(f), "still here");
  write_at(f, 0, "STILL");
  EXPECT_EQ(read_all(f), "STILL here");
  LiveStatfs before;
  ASSERT_EQ(fs_->statfs(&before), 0);
  fs_->release(f);
  fs_->forget(f, 1);
  LiveAttr a;
  EXPECT_EQ(fs_->getattr(f, &a), ENOENT);
  LiveStatfs after;
  ASSERT_EQ(fs_->statfs(&after), 0);
  EXPECT_EQ(after.files + 1, before.files);
}

TEST_F(LiveFsTest, OrphansLeftByACrashAreFreedAtTheNextOpen) {
  const uint64_t f = make_file(kRootIno, "tmp");
  write_at(f, 0, std::string(20000, 'o'));
  ASSERT_EQ(fs_->open(f, O_RDWR), 0);
  ASSERT_EQ(fs_->unlink(kRootIno, "tmp"), 0);
  ASSERT_TRUE(fs_->sync().is_ok());  // committed while still open: an orphan
  reopen_all();
  LiveAttr a;
  EXPECT_EQ(fs_->getattr(f, &a), ENOENT);
  EXPECT_EQ(fs_->head().inodes, 1u);  // the root folder only
  EXPECT_EQ(fs_->head().logical_bytes, 0u);
}

TEST_F(LiveFsTest, AnOldRootStillReadsAsItWas) {
  const uint64_t f = make_file(kRootIno, "f");
  write_at(f, 0, "version one");
  ASSERT_TRUE(fs_->sync().is_ok());
  DatasetHead then = fs_->head();
  write_at(f, 0, "VERSION TWO");
  make_file(kRootIno, "new");
  ASSERT_TRUE(fs_->sync().is_ok());
  LiveOptions ro;
  ro.read_only = true;
  auto old = LiveFs::open(*repo_, *datasets_, then, ro);
  ASSERT_TRUE(old.is_ok()) << old.status().to_string();
  Bytes out;
  ASSERT_EQ((*old)->read(f, 0, 100, &out), 0);
  EXPECT_EQ(as_chars(out), "version one");
  LiveAttr a;
  EXPECT_EQ((*old)->lookup(kRootIno, "new", &a), ENOENT);
  EXPECT_EQ((*old)->write(f, 0, as_bytes("x"), false, nullptr), EROFS);
  EXPECT_EQ((*old)->mkdir(kRootIno, "x", 0755, kRoot, &a), EROFS);
  EXPECT_EQ(read_all(f), "VERSION TWO");
}

TEST_F(LiveFsTest, WritersAreThrottledNotFailedAndEverythingLands) {
  LiveOptions options;
  options.dirty_sync_bytes = 64 << 10;
  options.dirty_max_bytes = 256 << 10;
  options.txg_interval_ms = 50;
  open_fs(options);
  const uint64_t f = make_file(kRootIno, "big");
  std::string expect;
  std::mt19937_64 rng(7);
  for (int i = 0; i < 256; ++i) {  // 4 MiB through a 256 KiB dirty limit
    std::string chunk(16 << 10, '\0');
    for (auto& c : chunk) c = static_cast<char>(rng());
    write_at(f, expect.size(), chunk);
    expect += chunk;
  }
  EXPECT_EQ(read_all(f), expect);
  reopen_all();
  EXPECT_EQ(read_all(f), expect);
}

TEST_F(LiveFsTest, QuotaGivesEdquot) {
  fs_.reset();
  auto head = datasets_->load("live");
  ASSERT_TRUE(head.is_ok());
  head->quota_bytes = 64 << 10;
  ASSERT_TRUE(datasets_->save(*head).is_ok());
  open_fs();
  const uint64_t f = make_file(kRootIno, "f");
  uint64_t at = 0;
  EXPECT_EQ(fs_->write(f, 0, as_bytes(std::string(32 << 10, 'q')), false, &at), 0);
  EXPECT_EQ(fs_->write(f, 32 << 10, as_bytes(std::string(64 << 10, 'q')), false, &at), EDQUOT);
  LiveStatfs s;
  ASSERT_EQ(fs_->statfs(&s), 0);
  EXPECT_EQ(s.total_bytes, uint64_t{64} << 10);
}

TEST_F(LiveFsTest, FullStoreGivesEnospc) {
  LiveOptions options;
  options.space = [] { return SpaceInfo{uint64_t{1} << 30, uint64_t{70} << 20}; };
  open_fs(options);
  const uint64_t f = make_file(kRootIno, "f");
  uint64_t at = 0;
  EXPECT_EQ(fs_->write(f, 0, as_bytes(std::string(1 << 20, 's')), false, &at), 0);
  EXPECT_EQ(fs_->write(f, 1 << 20, as_bytes(std::string(8 << 20, 's')), false, &at), ENOSPC);
  LiveStatfs s;
  ASSERT_EQ(fs_->statfs(&s), 0);
  EXPECT_LT(s.free_bytes, uint64_t{70} << 20);
}

TEST_F(LiveFsTest, GcKeepsWhatTheDatasetHoldsAndFreesWhatItDropped) {
  const uint64_t f = make_file(kRootIno, "f");
  write_at(f, 0, std::string(64 << 10, 'k'));
  const uint64_t g = make_file(kRootIno, "g");
  std::string random_bytes(64 << 10, '\0');
  std::mt19937_64 rng(3);
  for (auto& c : random_bytes) c = static_cast<char>(rng());
  write_at(g, 0, random_bytes);
  ASSERT_TRUE(fs_->sync().is_ok());
  ASSERT_EQ(fs_->unlink(kRootIno, "g"), 0);
  fs_->forget(g, 1);
  ASSERT_TRUE(fs_->sync().is_ok());
  fs_.reset();
  auto report = collect_garbage(*repo_, GcOptions{});
  ASSERT_TRUE(report.is_ok()) << report.status().to_string();
  EXPECT_GT(report->bytes_freed, uint64_t{60} << 10);  // g's random records went
  reopen_all();
  EXPECT_EQ(read_all(f), std::string(64 << 10, 'k'));
}

// A child process writes, syncs, writes more and dies without a word: the
// synced state comes back whole, and nothing half-written shows.
TEST_F(LiveFsTest, AKilledWriterLosesOnlyWhatWasNotSynced) {
  fs_.reset();
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    open_fs();
    const uint64_t f = make_file(kRootIno, "kept");
    write_at(f, 0, "synced data");
    if (!fs_->sync().is_ok()) ::_exit(3);
    write_at(f, 0, "LOST");
    make_file(kRootIno, "lost");
    ::_exit(0);  // no destructors: nothing more is written
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  reopen_all();
  EXPECT_EQ(read_all(ino_of(kRootIno, "kept")), "synced data");
  EXPECT_EQ(ino_of(kRootIno, "lost"), 0u);
}

// The same random operations on LiveFs and on a model (path -> bytes);
// synced and reopened now and then; the two must always agree.
TEST_F(LiveFsTest, RandomOperationsMatchAModel) {
  for (uint64_t seed : {1, 2, 3}) {
    std::mt19937_64 rng(seed);
    std::map<std::string, std::string> model;  // name -> content (files in root)
    auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };
    const std::vector<std::string> pool = {"a", "b", "c", "d", "e"};
    for (int op = 0; op < 3000; ++op) {
      const std::string name = "s" + std::to_string(seed) + pool[pick(pool.size())];
      const uint64_t ino = ino_of(kRootIno, name);
      const bool exists = model.count(name) != 0;
      ASSERT_EQ(ino != 0, exists) << name << " at op " << op;
      switch (pick(8)) {
        case 0:
          if (!exists) {
            make_file(kRootIno, name);
            model[name];
          }
          break;
        case 1:
        case 2: {
          if (!exists) break;
          const uint64_t offset = pick(3) == 0 ? model[name].size() : pick(20000);
          std::string data(pick(9000) + 1, static_cast<char>('a' + pick(26)));
          write_at(ino, offset, data);
          std::string& m = model[name];
          if (m.size() < offset + data.size()) m.resize(offset + data.size(), '\0');
          m.replace(offset, data.size(), data);
          break;
        }
        case 3: {
          if (!exists) break;
          SetAttr t;
          t.set_size = true;
          t.size = pick(15000);
          ASSERT_EQ(fs_->setattr(ino, t, nullptr), 0);
          model[name].resize(t.size, '\0');
          break;
        }
        case 4: {
          if (!exists) break;
          const uint64_t off = pick(15000), len = pick(9000) + 1;
          ASSERT_EQ(fs_->fallocate(ino, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, len), 0);
          std::string& m = model[name];
          for (uint64_t i = off; i < off + len && i < m.size(); ++i) m[i] = '\0';
          break;
        }
        case 5:
          if (exists && pick(3) == 0) {
            ASSERT_EQ(fs_->unlink(kRootIno, name), 0);
            fs_->forget(ino, 1000000);
            model.erase(name);
          }
          break;
        case 6: {
          const std::string to = "s" + std::to_string(seed) + pool[pick(pool.size())];
          if (!exists) break;
          ASSERT_EQ(fs_->rename(kRootIno, name, kRootIno, to, 0), 0);
          std::string moved = model[name];
          model.erase(name);
          model[to] = moved;
          break;
        }
        case 7:
          if (pick(20) == 0) {
            ASSERT_TRUE(fs_->sync().is_ok());
            if (pick(2) == 0) reopen_all();
          }
          break;
      }
    }
    for (const auto& [name, content] : model) {
      ASSERT_EQ(read_all(ino_of(kRootIno, name)), content) << name << " seed " << seed;
    }
    reopen_all();
    for (const auto& [name, content] : model) {
      ASSERT_EQ(read_all(ino_of(kRootIno, name)), content) << name << " seed " << seed;
    }
  }
}

}  // namespace
}  // namespace lares
