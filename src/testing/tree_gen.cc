#include "testing/tree_gen.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <set>

#include "util/bytes.h"
#include "util/file.h"
#include "util/random.h"

namespace lares::testing {
namespace {

Status write_all(const std::string& path, ByteView data) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Status::from_errno(errno, "create " + path);
  UniqueFd guard(fd);
  return pwrite_all(fd, data, 0, path);
}

Bytes random_bytes(SeededRandom& rng, size_t size) {
  Bytes out(size);
  for (size_t i = 0; i < size; i += 8) {
    uint64_t v = rng.next();
    std::memcpy(out.data() + i, &v, std::min<size_t>(8, size - i));
  }
  return out;
}

Bytes text_bytes(SeededRandom& rng, size_t size) {
  static const char* kWords[] = {"lares ", "photo ", "backup ", "family ", "the ", "of ",
                                 "document ", "invoice ", "2026 ", "\n", "pool ", "data "};
  Bytes out;
  out.reserve(size);
  while (out.size() < size) {
    const char* w = kWords[rng.next() % (sizeof kWords / sizeof *kWords)];
    out.insert(out.end(), w, w + std::strlen(w));
  }
  out.resize(size);
  return out;
}

// Sets times to something backup must keep exactly (odd nanoseconds).
void set_times(const std::string& path, SeededRandom& rng, bool symlink = false) {
  timespec ts[2];
  ts[0].tv_sec = 1600000000 + static_cast<time_t>(rng.next() % 100000000);
  ts[0].tv_nsec = static_cast<long>(rng.next() % 1000000000);
  ts[1].tv_sec = 1500000000 + static_cast<time_t>(rng.next() % 100000000);
  ts[1].tv_nsec = static_cast<long>(rng.next() % 1000000000);
  (void)::utimensat(AT_FDCWD, path.c_str(), ts, symlink ? AT_SYMLINK_NOFOLLOW : 0);
}

void collect(const std::string& root, const std::string& rel, std::vector<std::string>* out) {
  auto names = list_dir(rel.empty() ? root : root + "/" + rel);
  if (!names.is_ok()) return;
  std::sort(names->begin(), names->end());
  for (const auto& n : *names) {
    std::string r = rel.empty() ? n : rel + "/" + n;
    out->push_back(r);
    struct stat st{};
    if (::lstat((root + "/" + r).c_str(), &st) == 0 && S_ISDIR(st.st_mode)) collect(root, r, out);
  }
}

std::map<std::string, std::string> xattrs_of(const std::string& path) {
  std::map<std::string, std::string> out;
  char names[65536];
  ssize_t n = ::llistxattr(path.c_str(), names, sizeof names);
  for (ssize_t i = 0; i < n;) {
    std::string name(names + i);
    i += static_cast<ssize_t>(name.size()) + 1;
    char value[65536];
    ssize_t v = ::lgetxattr(path.c_str(), name.c_str(), value, sizeof value);
    if (v >= 0) out[name] = std::string(value, static_cast<size_t>(v));
  }
  return out;
}

}  // namespace

Result<uint64_t> generate_tree(const std::string& root, const TreeSpec& spec) {
  SeededRandom rng(spec.seed);
  RETURN_IF_ERROR(make_dirs(root));
  std::vector<std::string> dirs{root};
  for (int i = 0; i < spec.dirs; ++i) {
    const std::string& parent = dirs[rng.next() % std::min<size_t>(dirs.size(), 4)];
    std::string d = parent + "/dir" + std::to_string(i);
    if (::mkdir(d.c_str(), 0755) != 0) return Status::from_errno(errno, "mkdir " + d);
    dirs.push_back(d);
  }
  uint64_t bytes = 0;
  auto pick_dir = [&] { return dirs[rng.next() % dirs.size()]; };
  std::vector<std::string> files;
  for (int i = 0; i < spec.small_files; ++i) {
    std::string f = pick_dir() + "/note" + std::to_string(i) + ".txt";
    Bytes data = text_bytes(rng, rng.next() % (16 << 10));
    RETURN_IF_ERROR(write_all(f, data));
    bytes += data.size();
    files.push_back(f);
  }
  for (int i = 0; i < spec.random_files; ++i) {
    std::string f = pick_dir() + "/photo" + std::to_string(i) + ".jpg";
    Bytes data = random_bytes(rng, (64 << 10) + rng.next() % (960 << 10));
    RETURN_IF_ERROR(write_all(f, data));
    bytes += data.size();
    files.push_back(f);
  }
  for (int i = 0; i < spec.large_files; ++i) {
    std::string f = pick_dir() + "/video" + std::to_string(i) + ".mkv";
    Bytes data = random_bytes(rng, spec.large_file_bytes);
    RETURN_IF_ERROR(write_all(f, data));
    bytes += data.size();
    files.push_back(f);
  }
  if (spec.specials) {
    // Empty file, empty folder, unicode and space in names.
    RETURN_IF_ERROR(write_all(root + "/empty", {}));
    if (::mkdir((root + "/empty dir é").c_str(), 0700) != 0) {
      return Status::from_errno(errno, "mkdir");
    }
    // Symlinks: relative, absolute, dangling.
    (void)::symlink("note0.txt", (root + "/link-relative").c_str());
    (void)::symlink("/nonexistent/target", (root + "/link-dangling").c_str());
    (void)::symlink("dir0", (root + "/link-to-dir").c_str());
    // Hard links: two extra names for one file, one in another folder.
    if (!files.empty()) {
      (void)::link(files[0].c_str(), (root + "/hardlink-a").c_str());
      (void)::link(files[0].c_str(), (dirs.back() + "/hardlink-b").c_str());
    }
    // A fifo.
    (void)::mkfifo((root + "/fifo").c_str(), 0640);
    // A sparse file: data, a 32 MiB hole, data, and a trailing hole.
    {
      std::string f = root + "/sparse.img";
      int fd = ::open(f.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
      if (fd < 0) return Status::from_errno(errno, "create sparse");
      UniqueFd guard(fd);
      Bytes head = random_bytes(rng, 100000);
      RETURN_IF_ERROR(pwrite_all(fd, head, 0, f));
      RETURN_IF_ERROR(pwrite_all(fd, head, 32 << 20, f));
      if (::ftruncate(fd, (48 << 20) + 123) != 0) return Status::from_errno(errno, "truncate");
      bytes += 2 * head.size();
    }
    // Odd modes: setgid folder, private file, executable, sticky folder.
    (void)::chmod((root + "/empty dir é").c_str(), 02750);
    if (files.size() > 2) {
      (void)::chmod(files[1].c_str(), 0600);
      (void)::chmod(files[2].c_str(), 0755);
    }
    (void)::chmod(dirs.back().c_str(), 01777);
    // Xattrs, binary values included (skipped where the filesystem refuses).
    if (!files.empty()) {
      const char binary[] = {'\0', '\x01', '\xff', 'x'};
      (void)::lsetxattr(files[0].c_str(), "user.lares.test", "hello", 5, 0);
      (void)::lsetxattr(files.back().c_str(), "user.binary", binary, sizeof binary, 0);
      (void)::lsetxattr(dirs.back().c_str(), "user.dir", "d", 1, 0);
    }
    // Another owner, when root.
    if (::geteuid() == 0 && files.size() > 3) {
      (void)::lchown(files[3].c_str(), 1234, 5678);
      (void)::lchown((root + "/link-relative").c_str(), 4321, 8765);
    }
    // Times last: everything above moved them.
    std::vector<std::string> all;
    collect(root, "", &all);
    for (const auto& r : all) {
      struct stat st{};
      std::string p = root + "/" + r;
      if (::lstat(p.c_str(), &st) == 0 && !S_ISDIR(st.st_mode)) {
        set_times(p, rng, S_ISLNK(st.st_mode));
      }
    }
    std::reverse(all.begin(), all.end());  // children before parents
    for (const auto& r : all) {
      struct stat st{};
      std::string p = root + "/" + r;
      if (::lstat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) set_times(p, rng);
    }
  }
  return bytes;
}

Status mutate_tree(const std::string& root, uint64_t seed, int percent) {
  SeededRandom rng(seed);
  std::vector<std::string> all;
  collect(root, "", &all);
  std::vector<std::string> files;
  for (const auto& r : all) {
    struct stat st{};
    if (::lstat((root + "/" + r).c_str(), &st) == 0 && S_ISREG(st.st_mode) && st.st_nlink == 1) {
      files.push_back(r);
    }
  }
  size_t count = std::max<size_t>(1, files.size() * static_cast<size_t>(percent) / 100);
  for (size_t i = 0; i < count && !files.empty(); ++i) {
    size_t pick = rng.next() % files.size();
    std::string p = root + "/" + files[pick];
    files.erase(files.begin() + static_cast<ptrdiff_t>(pick));
    switch (rng.next() % 4) {
      case 0: {  // append
        int fd = ::open(p.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
        if (fd < 0) return Status::from_errno(errno, "open " + p);
        UniqueFd guard(fd);
        Bytes more = text_bytes(rng, 1000);
        if (::write(fd, more.data(), more.size()) < 0) return Status::from_errno(errno, "write");
        break;
      }
      case 1: {  // overwrite a block in the middle
        struct stat st{};
        if (::stat(p.c_str(), &st) != 0) return Status::from_errno(errno, "stat " + p);
        int fd = ::open(p.c_str(), O_WRONLY | O_CLOEXEC);
        if (fd < 0) return Status::from_errno(errno, "open " + p);
        UniqueFd guard(fd);
        Bytes block = random_bytes(rng, 4096);
        uint64_t at = st.st_size > 8192 ? static_cast<uint64_t>(st.st_size) / 2 : 0;
        RETURN_IF_ERROR(pwrite_all(fd, block, at, p));
        break;
      }
      case 2:  // delete
        if (::unlink(p.c_str()) != 0) return Status::from_errno(errno, "unlink " + p);
        break;
      default: {  // a new file beside it
        RETURN_IF_ERROR(write_all(p + ".new" + std::to_string(i), text_bytes(rng, 5000)));
        break;
      }
    }
  }
  return Status::ok();
}

std::vector<std::string> compare_trees(const std::string& a, const std::string& b,
                                       const CompareOptions& options) {
  std::vector<std::string> diffs;
  std::vector<std::string> ea, eb;
  collect(a, "", &ea);
  collect(b, "", &eb);
  std::set<std::string> sa(ea.begin(), ea.end()), sb(eb.begin(), eb.end());
  for (const auto& r : ea) {
    if (sb.count(r) == 0) diffs.push_back(r + ": only in " + a);
  }
  for (const auto& r : eb) {
    if (sa.count(r) == 0) diffs.push_back(r + ": only in " + b);
  }
  std::map<ino_t, std::string> leader_a, leader_b;
  for (const auto& r : ea) {
    if (sb.count(r) == 0) continue;
    std::string pa = a + "/" + r, pb = b + "/" + r;
    struct stat x{}, y{};
    if (::lstat(pa.c_str(), &x) != 0 || ::lstat(pb.c_str(), &y) != 0) {
      diffs.push_back(r + ": lstat failed");
      continue;
    }
    if ((x.st_mode & S_IFMT) != (y.st_mode & S_IFMT)) {
      diffs.push_back(r + ": type differs");
      continue;
    }
    if ((x.st_mode & 07777) != (y.st_mode & 07777)) {
      diffs.push_back(r + ": mode " + std::to_string(x.st_mode & 07777) + " vs " +
                      std::to_string(y.st_mode & 07777));
    }
    if (options.owners && (x.st_uid != y.st_uid || x.st_gid != y.st_gid)) {
      diffs.push_back(r + ": owner differs");
    }
    bool check_mtime = !S_ISDIR(x.st_mode) || options.dir_mtime;
    if (check_mtime && (x.st_mtim.tv_sec != y.st_mtim.tv_sec ||
                        x.st_mtim.tv_nsec != y.st_mtim.tv_nsec)) {
      diffs.push_back(r + ": mtime differs");
    }
    if (options.atime && !S_ISLNK(x.st_mode) &&
        (x.st_atim.tv_sec != y.st_atim.tv_sec || x.st_atim.tv_nsec != y.st_atim.tv_nsec)) {
      diffs.push_back(r + ": atime differs");
    }
    if (xattrs_of(pa) != xattrs_of(pb)) diffs.push_back(r + ": xattrs differ");
    if (S_ISLNK(x.st_mode)) {
      char ta[4096], tb[4096];
      ssize_t na = ::readlink(pa.c_str(), ta, sizeof ta);
      ssize_t nb = ::readlink(pb.c_str(), tb, sizeof tb);
      if (na != nb || std::memcmp(ta, tb, static_cast<size_t>(std::max<ssize_t>(na, 0))) != 0) {
        diffs.push_back(r + ": symlink target differs");
      }
    }
    if (S_ISREG(x.st_mode)) {
      if (x.st_size != y.st_size) {
        diffs.push_back(r + ": size differs");
      } else {
        auto da = read_file(pa);
        auto db = read_file(pb);
        if (!da.is_ok() || !db.is_ok() || *da != *db) diffs.push_back(r + ": content differs");
      }
      bool sparse_a = static_cast<uint64_t>(x.st_blocks) * 512 + (1 << 20) <
                      static_cast<uint64_t>(x.st_size);
      bool sparse_b = static_cast<uint64_t>(y.st_blocks) * 512 + (1 << 20) <
                      static_cast<uint64_t>(y.st_size);
      if (sparse_a && !sparse_b) diffs.push_back(r + ": holes were filled in");
      if (x.st_nlink > 1 || y.st_nlink > 1) {
        auto [ia, new_a] = leader_a.emplace(x.st_ino, r);
        auto [ib, new_b] = leader_b.emplace(y.st_ino, r);
        if (ia->second != ib->second) diffs.push_back(r + ": hard links differ");
      }
    }
  }
  return diffs;
}

}  // namespace lares::testing
