// Live snapshot diff (fs/live_diff.h) over versions made with LiveFs: each
// kind of change on its own, then 1,000 snapshots of a randomly changing tree
// checked against a model, both the diff of each consecutive pair and what a
// read-only LiveFs shows of each snapshot.
#include "fs/live_diff.h"

#include <sys/stat.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "codec/keyed_hash.h"
#include "fs/btree.h"
#include "fs/dataset.h"
#include "fs/live_fs.h"
#include "testing/repo_fixture.h"
#include "util/random.h"

namespace lares {
namespace {

using testing::FolderRepoTest;

constexpr Caller kRoot{0, 0};
constexpr int64_t kSecondNs = 1'000'000'000;

// Randomized tests replay from their seed: LARES_TEST_SEED=<n> overrides it.
uint64_t test_seed() {
  const char* env = std::getenv("LARES_TEST_SEED");
  return env != nullptr ? std::strtoull(env, nullptr, 10) : 0x5eed0004;
}

// Diff entries as "<change> <path>" lines, the way `lares snapshot diff`
// prints them.
using Lines = std::vector<std::string>;

class TreeChanger;

class LiveDiffTest : public FolderRepoTest {
 protected:
  friend class TreeChanger;  // drives the helpers below

  void SetUp() override {
    FolderRepoTest::SetUp();
    datasets_ = std::make_unique<DatasetStore>(*repo_);
    DatasetHead head;
    head.name = "live";
    head.recordsize = 4096;  // small records: many of them in small files
    ASSERT_TRUE(datasets_->create(head).is_ok());
    LiveOptions options;
    options.txg_interval_ms = 600'000;  // syncs only when asked
    options.clock_ns = [this] { return now_ns_.load(); };
    auto loaded = datasets_->load("live");
    ASSERT_TRUE(loaded.is_ok()) << loaded.status().to_string();
    auto fs = LiveFs::open(*repo_, *datasets_, *loaded, options);
    ASSERT_TRUE(fs.is_ok()) << fs.status().to_string();
    fs_ = std::move(*fs);
  }

  // Commits and returns the head (its root is the version).
  DatasetHead commit() {
    Status st = fs_->sync();
    EXPECT_TRUE(st.is_ok()) << st.to_string();
    return fs_->head();
  }
  ChunkId snapshot() { return *commit().root; }
  // Later changes get later times.
  void tick() { now_ns_ += kSecondNs; }

  Lines diff(const ChunkId& a, const ChunkId& b) {
    auto entries = diff_live_trees(*repo_, a, b);
    EXPECT_TRUE(entries.is_ok()) << entries.status().to_string();
    Lines out;
    if (!entries.is_ok()) return out;
    for (const DiffEntry& e : *entries) out.push_back(std::string(1, e.change) + " " + e.path);
    return out;
  }

  // The inode made, with the kernel's reference dropped at once (so an
  // unlinked file is freed, not kept as an orphan).
  uint64_t keep(int error, const LiveAttr& attr, const std::string& what) {
    EXPECT_EQ(error, 0) << what;
    if (error != 0) return 0;
    fs_->forget(attr.ino, 1);
    return attr.ino;
  }
  uint64_t make_file(uint64_t dir, const std::string& name, std::string_view content = {}) {
    LiveAttr a;
    const uint64_t ino = keep(fs_->mknod(dir, name, S_IFREG | 0644, 0, kRoot, &a), a, name);
    if (!content.empty()) write_at(ino, 0, content);
    return ino;
  }
  uint64_t make_dir(uint64_t dir, const std::string& name) {
    LiveAttr a;
    return keep(fs_->mkdir(dir, name, 0755, kRoot, &a), a, name);
  }
  uint64_t make_symlink(uint64_t dir, const std::string& name, const std::string& target) {
    LiveAttr a;
    return keep(fs_->symlink(dir, name, target, kRoot, &a), a, name);
  }
  void make_link(uint64_t ino, uint64_t dir, const std::string& name) {
    LiveAttr a;
    keep(fs_->link(ino, dir, name, &a), a, name);
  }
  void write_at(uint64_t ino, uint64_t offset, std::string_view data) {
    uint64_t at = 0;
    ASSERT_EQ(fs_->write(ino, offset, as_bytes(data), false, &at), 0);
  }
  void set_attr(uint64_t ino, const SetAttr& changes) {
    ASSERT_EQ(fs_->setattr(ino, changes, nullptr), 0);
  }
  void chmod(uint64_t ino, uint32_t mode) {
    SetAttr c;
    c.set_mode = true;
    c.mode = mode;
    set_attr(ino, c);
  }
  void truncate(uint64_t ino, uint64_t size) {
    SetAttr c;
    c.set_size = true;
    c.size = size;
    set_attr(ino, c);
  }

  std::atomic<int64_t> now_ns_{1'700'000'000 * kSecondNs};
  std::unique_ptr<DatasetStore> datasets_;
  std::unique_ptr<LiveFs> fs_;
};

// ---- Each kind of change.

TEST_F(LiveDiffTest, NothingChangedIsAnEmptyDiff) {
  make_file(kRootIno, "f", "data");
  const ChunkId a = snapshot();
  tick();
  const ChunkId b = snapshot();
  EXPECT_EQ(a, b);
  EXPECT_EQ(diff(a, b), Lines{});
  // Reading changes nothing that is compared (atime is not).
  SetAttr touch;
  touch.set_atime = true;
  touch.atime_ns = 12345;
  set_attr(kRootIno, touch);
  const ChunkId c = snapshot();
  EXPECT_NE(a, c);
  EXPECT_EQ(diff(a, c), Lines{});
}

TEST_F(LiveDiffTest, AddedAndRemovedEverywhereInTheTree) {
  const ChunkId empty = snapshot();
  tick();
  const uint64_t docs = make_dir(kRootIno, "docs");
  make_file(docs, "a.txt", "hello");
  const uint64_t deep = make_dir(make_dir(docs, "sub"), "deeper");
  make_file(deep, "b.txt");
  make_symlink(kRootIno, "link", "docs/a.txt");
  LiveAttr fifo;
  keep(fs_->mknod(deep, "pipe", S_IFIFO | 0600, 0, kRoot, &fifo), fifo, "pipe");
  const ChunkId full = snapshot();
  const Lines added = {"m /",  // the root folder's mtime
                       "+ /docs",
                       "+ /docs/a.txt",
                       "+ /docs/sub",
                       "+ /docs/sub/deeper",
                       "+ /docs/sub/deeper/b.txt",
                       "+ /docs/sub/deeper/pipe",
                       "+ /link"};
  EXPECT_EQ(diff(empty, full), added);
  Lines removed;
  for (const std::string& line : added)
    removed.push_back(line[0] == '+' ? "-" + line.substr(1) : line);
  EXPECT_EQ(diff(full, empty), removed);
}

TEST_F(LiveDiffTest, ContentChangesAreBigMMetadataChangesSmallM) {
  const uint64_t dir = make_dir(kRootIno, "d");
  const uint64_t f = make_file(dir, "f", "version one");
  const uint64_t g = make_file(dir, "g", "stays");
  const ChunkId a = snapshot();

  tick();
  write_at(f, 0, "VERSION");
  const ChunkId written = snapshot();
  EXPECT_EQ(diff(a, written), Lines{"M /d/f"}) << "the folder's mtime does not change";

  tick();
  truncate(g, 2);
  const ChunkId truncated = snapshot();
  EXPECT_EQ(diff(written, truncated), Lines{"M /d/g"});

  tick();
  chmod(f, 0600);
  SetAttr owner;
  owner.set_uid = true;
  owner.uid = 1000;
  set_attr(g, owner);
  const ChunkId owned = snapshot();
  EXPECT_EQ(diff(truncated, owned), (Lines{"m /d/f", "m /d/g"}));

  tick();
  SetAttr times;
  times.set_mtime = true;
  times.mtime_ns = 42;
  set_attr(f, times);
  ASSERT_EQ(fs_->setxattr(dir, "user.colour", as_bytes("blue"), 0), 0);
  const ChunkId touched = snapshot();
  EXPECT_EQ(diff(owned, touched), (Lines{"m /d", "m /d/f"}));

  tick();
  ASSERT_EQ(fs_->setxattr(g, "user.tag", as_bytes("x"), 0), 0);
  ASSERT_EQ(fs_->removexattr(dir, "user.colour"), 0);
  const ChunkId xattrs = snapshot();
  EXPECT_EQ(diff(touched, xattrs), (Lines{"m /d", "m /d/g"}));
  // Content and metadata at once: content wins.
  tick();
  write_at(g, 10, "more");
  chmod(g, 0600);
  EXPECT_EQ(diff(xattrs, snapshot()), Lines{"M /d/g"});
}

TEST_F(LiveDiffTest, RenamedFilesAreOneLine) {
  const uint64_t a_dir = make_dir(kRootIno, "a");
  const uint64_t b_dir = make_dir(kRootIno, "b");
  const uint64_t f = make_file(a_dir, "f", "content");
  make_file(a_dir, "victim", "overwritten");
  const ChunkId v1 = snapshot();

  tick();
  ASSERT_EQ(fs_->rename(a_dir, "f", a_dir, "g", 0), 0);
  const ChunkId v2 = snapshot();
  EXPECT_EQ(diff(v1, v2), (Lines{"m /a", "R /a/f -> /a/g"}));
  EXPECT_EQ(diff(v2, v1), (Lines{"m /a", "R /a/g -> /a/f"}));

  tick();
  ASSERT_EQ(fs_->rename(a_dir, "g", b_dir, "h", 0), 0);
  write_at(f, 0, "CONTENT");  // and changed: reported at its new name
  const ChunkId v3 = snapshot();
  EXPECT_EQ(diff(v2, v3), (Lines{"m /a", "R /a/g -> /b/h", "m /b", "M /b/h"}));

  tick();
  ASSERT_EQ(fs_->rename(b_dir, "h", a_dir, "victim", 0), 0);  // replaces another file
  const ChunkId v4 = snapshot();
  EXPECT_EQ(diff(v3, v4), (Lines{"m /a", "- /a/victim", "m /b", "R /b/h -> /a/victim"}));
}

TEST_F(LiveDiffTest, ARenamedFolderIsOneLineNotItsWholeSubtree) {
  const uint64_t a_dir = make_dir(kRootIno, "a");
  const uint64_t b_dir = make_dir(kRootIno, "b");
  const uint64_t d = make_dir(a_dir, "d");
  make_file(d, "x", "x");
  const uint64_t sub = make_dir(d, "sub");
  const uint64_t y = make_file(sub, "y", "y");
  make_symlink(sub, "z", "../x");
  const ChunkId v1 = snapshot();

  tick();
  ASSERT_EQ(fs_->rename(a_dir, "d", b_dir, "e", 0), 0);
  const ChunkId v2 = snapshot();
  EXPECT_EQ(diff(v1, v2), (Lines{"m /a", "R /a/d -> /b/e", "m /b"}));

  // Paths beneath resolve through the new name in B, the old one in A.
  tick();
  write_at(y, 0, "Y");
  const ChunkId v3 = snapshot();
  EXPECT_EQ(diff(v2, v3), Lines{"M /b/e/sub/y"});
  EXPECT_EQ(diff(v1, v3), (Lines{"m /a", "R /a/d -> /b/e", "m /b", "M /b/e/sub/y"}));

  tick();
  ASSERT_EQ(fs_->unlink(sub, "y"), 0);
  ASSERT_EQ(fs_->rename(b_dir, "e", kRootIno, "top", 0), 0);
  const ChunkId v4 = snapshot();
  EXPECT_EQ(diff(v3, v4), (Lines{"m /", "m /b", "R /b/e -> /top", "- /b/e/sub/y", "m /top/sub"}));
  EXPECT_EQ(diff(v4, v3), (Lines{"m /", "m /b", "m /b/e/sub", "+ /b/e/sub/y", "R /top -> /b/e"}));
}

TEST_F(LiveDiffTest, HardLinksAreReportedAtEveryName) {
  const uint64_t a_dir = make_dir(kRootIno, "a");
  const uint64_t b_dir = make_dir(kRootIno, "b");
  const uint64_t f = make_file(a_dir, "f", "shared");
  const ChunkId v1 = snapshot();

  tick();
  make_link(f, b_dir, "link");
  const ChunkId v2 = snapshot();
  EXPECT_EQ(diff(v1, v2), (Lines{"m /b", "+ /b/link"})) << "the first name is unchanged";

  tick();
  write_at(f, 0, "SHARED");
  const ChunkId v3 = snapshot();
  EXPECT_EQ(diff(v2, v3), (Lines{"M /a/f", "M /b/link"}));

  // The first name goes: the file's `parent` still names folder a, where it
  // no longer is, so its other name is found by scanning every entry.
  tick();
  ASSERT_EQ(fs_->unlink(a_dir, "f"), 0);
  write_at(f, 0, "s");
  const ChunkId v4 = snapshot();
  EXPECT_EQ(diff(v3, v4), (Lines{"m /a", "- /a/f", "M /b/link"}));
  tick();
  chmod(f, 0600);
  const ChunkId v5 = snapshot();
  EXPECT_EQ(diff(v4, v5), Lines{"m /b/link"});

  // Two more names at once, one of them in the same folder.
  tick();
  make_link(f, b_dir, "second");
  make_link(f, kRootIno, "third");
  ASSERT_EQ(fs_->rename(b_dir, "link", a_dir, "back", 0), 0);
  write_at(f, 0, "S");
  const ChunkId v6 = snapshot();
  EXPECT_EQ(diff(v5, v6),
            (Lines{"m /", "m /a", "+ /a/back", "m /b", "- /b/link", "+ /b/second", "+ /third"}));
}

TEST_F(LiveDiffTest, ATypeChangeIsOneLine) {
  const uint64_t dir = make_dir(kRootIno, "d");
  make_file(dir, "x", "a file");
  const uint64_t y = make_dir(dir, "y");
  make_file(y, "inside", "i");
  make_file(dir, "same", "a file");
  const ChunkId v1 = snapshot();

  tick();
  ASSERT_EQ(fs_->unlink(dir, "x"), 0);
  make_dir(dir, "x");
  ASSERT_EQ(fs_->unlink(y, "inside"), 0);
  ASSERT_EQ(fs_->rmdir(dir, "y"), 0);
  make_symlink(dir, "y", "x");
  // Replaced by another file of the same type: the old one went, a new one came.
  ASSERT_EQ(fs_->unlink(dir, "same"), 0);
  make_file(dir, "same", "another file");
  const ChunkId v2 = snapshot();
  EXPECT_EQ(diff(v1, v2),
            (Lines{"m /d", "+ /d/same", "- /d/same", "T /d/x", "T /d/y", "- /d/y/inside"}));
}

// ---- What a diff reads.

// The repository's nodes, counted.
class CountingNodes : public NodeStore {
 public:
  explicit CountingNodes(Repository& repo) : repo_(repo) {}
  Result<Bytes> load_node(const ChunkId& id) override {
    ++loads;
    return repo_.load_blob(id, BlobType::kNode);
  }
  Result<ChunkId> store_node(Bytes) override { return Status::failed_precondition("read-only"); }
  uint64_t loads = 0;

 private:
  Repository& repo_;
};

// Every node of the tree under `root`, and its height.
std::pair<uint64_t, uint32_t> tree_size(Repository& repo, const ChunkId& root) {
  uint64_t nodes = 0;
  uint32_t height = 0;
  std::vector<ChunkId> stack{root};
  while (!stack.empty()) {
    auto bytes = repo.load_blob(stack.back(), BlobType::kNode);
    stack.pop_back();
    EXPECT_TRUE(bytes.is_ok());
    if (!bytes.is_ok()) break;
    auto node = decode_btree_node(*bytes);
    EXPECT_TRUE(node.is_ok());
    if (!node.is_ok()) break;
    ++nodes;
    height = std::max<uint32_t>(height, node->level + 1u);
    for (const auto& child : node->children) stack.push_back(child.second);
  }
  return {nodes, height};
}

// A few changes in a big tree: the diff reads the nodes that changed and the
// folders on the way to the root, not the tree.
TEST_F(LiveDiffTest, AFewChangesInABigTreeReadLittleOfIt) {
  std::vector<uint64_t> folders;
  uint64_t some_file = 0, other_file = 0;
  for (int d = 0; d < 200; ++d) {
    folders.push_back(make_dir(kRootIno, "folder" + std::to_string(d)));
    for (int f = 0; f < 150; ++f) {
      const uint64_t ino = make_file(folders.back(), "file" + std::to_string(f), "x");
      if (d == 20 && f == 70) some_file = ino;
      if (d == 41 && f == 3) other_file = ino;
    }
  }
  const ChunkId a = snapshot();
  const auto [nodes, height] = tree_size(*repo_, a);
  ASSERT_GE(nodes, 100u) << "a tree of a few leaves proves nothing";

  tick();
  write_at(some_file, 0, "y");
  chmod(other_file, 0600);
  ASSERT_EQ(fs_->rename(folders[5], "file9", folders[5], "renamed", 0), 0);
  const ChunkId b = snapshot();
  CountingNodes store(*repo_);
  auto entries = diff_live_trees(store, a, b);
  ASSERT_TRUE(entries.is_ok()) << entries.status().to_string();
  Lines lines;
  for (const DiffEntry& e : *entries) lines.push_back(std::string(1, e.change) + " " + e.path);
  EXPECT_EQ(lines, (Lines{"M /folder20/file70", "m /folder41/file3", "m /folder5",
                          "R /folder5/file9 -> /folder5/renamed"}));
  // Per change: its path in both versions, its folder's entries and the
  // root folder's (a leaf or two each), and the path to them.
  EXPECT_LE(store.loads, 3 * (2 * height + 4)) << nodes << " nodes, height " << height;
  EXPECT_LT(store.loads, nodes / 8) << nodes << " nodes";
}

// ---- Items that contradict each other: errors, never made-up paths.

class MemoryNodes : public NodeStore {
 public:
  Result<Bytes> load_node(const ChunkId& id) override {
    auto it = nodes_.find(id);
    if (it == nodes_.end()) return Status::not_found("no node " + id.hex());
    return it->second;
  }
  Result<ChunkId> store_node(Bytes encoded) override {
    const ChunkId id = keyed_hash(Key32{}, encoded);
    nodes_[id] = std::move(encoded);
    return id;
  }

 private:
  std::map<ChunkId, Bytes> nodes_;
};

Bytes item_key(uint64_t ino, uint8_t kind, std::string_view rest = {}) {
  Bytes key;
  append_be64(key, ino);
  key.push_back(kind);
  key.insert(key.end(), rest.begin(), rest.end());
  return key;
}
void put_record(BTree& tree, uint64_t ino, uint32_t mode, uint64_t parent, uint32_t nlink = 1) {
  LiveInode inode;
  inode.mode = mode;
  inode.nlink = nlink;
  inode.parent = parent;
  ASSERT_TRUE(tree.put(item_key(ino, 0x01), encode_live_inode(inode)).is_ok());
}
void put_entry(BTree& tree, uint64_t dir, std::string_view name, uint64_t ino, uint32_t type) {
  // u ino (one byte below 128), u8 type >> 12
  const Bytes value = {static_cast<uint8_t>(ino), static_cast<uint8_t>(type >> 12)};
  ASSERT_TRUE(tree.put(item_key(dir, 0x02, name), value).is_ok());
}

TEST(LiveDiffCorruptionTest, ContradictoryItemsAreErrors) {
  MemoryNodes store;
  BTree base(store);
  put_record(base, kRootIno, S_IFDIR | 0755, kRootIno, 3);
  put_record(base, 2, S_IFREG | 0644, kRootIno);
  put_entry(base, kRootIno, "file", 2, S_IFREG);
  const ChunkId a = *base.commit();
  struct Case {
    const char* name;
    std::function<void(BTree&)> change;
    Code code;
    const char* reason;
    bool both_ways = true;  // also an error when diffing from the damaged version
  };
  const std::vector<Case> cases = {
      {"an entry naming no inode", [](BTree& t) { put_entry(t, kRootIno, "x", 5, S_IFREG); },
       Code::kCorruption, "without an inode record"},
      {"a malformed entry",
       [](BTree& t) {
         ASSERT_TRUE(t.put(item_key(kRootIno, 0x02, "y"), Bytes{0, 0}).is_ok());
       },
       Code::kCorruption, "malformed directory entry"},
      {"a folder missing from its parent",
       [](BTree& t) {
         put_record(t, 5, S_IFDIR | 0755, kRootIno, 2);
         put_record(t, 6, S_IFREG | 0644, 5);
         put_entry(t, 5, "f", 6, S_IFREG);
       },
       Code::kCorruption, "is not in its parent folder"},
      {"folders that are each other's parent",
       [](BTree& t) {
         put_record(t, 5, S_IFDIR | 0755, 6, 2);
         put_record(t, 6, S_IFDIR | 0755, 5, 2);
         put_entry(t, 6, "a", 5, S_IFDIR);
         put_entry(t, 5, "b", 6, S_IFDIR);
         put_record(t, 7, S_IFREG | 0644, 5);
         put_entry(t, 5, "f", 7, S_IFREG);
       },
       Code::kCorruption, "loop"},
      {"fewer entries than links", [](BTree& t) { put_record(t, 2, S_IFREG | 0600, kRootIno, 2); },
       Code::kCorruption, "2 links but 1 directory entries", false},
      {"an unknown item kind",
       [](BTree& t) { ASSERT_TRUE(t.put(item_key(2, 0x09), Bytes{}).is_ok()); },
       Code::kFailedPrecondition, "not known"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    BTree tree(store, a);
    c.change(tree);
    const ChunkId b = *tree.commit();
    for (const auto& [from, to] : {std::pair(a, b), std::pair(b, a)}) {
      auto entries = diff_live_trees(store, from, to);
      ASSERT_FALSE(entries.is_ok());
      EXPECT_EQ(entries.status().code(), c.code) << entries.status().to_string();
      EXPECT_NE(entries.status().message().find(c.reason), std::string::npos)
          << entries.status().to_string();
      if (!c.both_ways) break;
    }
  }
  // Without a defect the same store diffs fine.
  BTree tree(store, a);
  put_record(tree, 2, S_IFREG | 0600, kRootIno);
  auto entries = diff_live_trees(store, a, *tree.commit());
  ASSERT_TRUE(entries.is_ok()) << entries.status().to_string();
  ASSERT_EQ(entries->size(), 1u);
  EXPECT_EQ(entries->at(0).change, 'm');
  EXPECT_EQ(entries->at(0).path, "/file");
}

// ---- 1,000 snapshots of a changing tree, against a model.

// The model of a dataset: inodes by the number LiveFs gave them.
struct ModelInode {
  uint32_t type = 0;    // S_IFREG, S_IFDIR, S_IFLNK
  uint32_t mode = 0;    // permission bits
  std::string content;  // a file's bytes, a symlink's target
  std::map<std::string, std::string> xattrs;
  int64_t mtime_ns = 0;
  std::map<std::string, uint64_t> entries;  // a folder's
  uint64_t parent = 0;                      // a folder's
};
using ModelFs = std::map<uint64_t, ModelInode>;

struct ModelLink {
  uint64_t dir = 0;
  std::string name;
  auto operator<=>(const ModelLink&) const = default;
};

// Every name of every inode, and every name's path, from a walk of the model.
struct ModelPaths {
  std::map<uint64_t, std::set<ModelLink>> links;
  std::map<ModelLink, std::string> path;
  std::map<uint64_t, std::string> folder;  // "/" for the root

  explicit ModelPaths(const ModelFs& fs) { walk(fs, kRootIno, ""); }
  void walk(const ModelFs& fs, uint64_t dir, const std::string& at) {
    folder[dir] = at.empty() ? "/" : at;
    for (const auto& [name, ino] : fs.at(dir).entries) {
      const ModelLink link{dir, name};
      links[ino].insert(link);
      path[link] = at + "/" + name;
      if (fs.at(ino).type == S_IFDIR) walk(fs, ino, at + "/" + name);
    }
  }
};

// The oracle: the rules of fs/live_diff.h applied to two whole model states.
Lines model_diff(const ModelFs& a, const ModelFs& b) {
  const ModelPaths pa(a), pb(b);
  std::vector<std::tuple<std::string, char, uint32_t>> out;  // path, change, type
  std::set<uint64_t> inodes;
  for (const auto& [ino, node] : a) inodes.insert(ino);
  for (const auto& [ino, node] : b) inodes.insert(ino);
  for (uint64_t ino : inodes) {
    const auto x = a.find(ino), y = b.find(ino);
    const std::set<ModelLink> none;
    const auto& la = pa.links.count(ino) ? pa.links.at(ino) : none;
    const auto& lb = pb.links.count(ino) ? pb.links.at(ino) : none;
    if (y == b.end()) {
      for (const auto& l : la) out.emplace_back(pa.path.at(l), '-', x->second.type);
      continue;
    }
    if (x == a.end()) {
      for (const auto& l : lb) out.emplace_back(pb.path.at(l), '+', y->second.type);
      continue;
    }
    std::vector<ModelLink> gone, came;
    std::set_difference(la.begin(), la.end(), lb.begin(), lb.end(), std::back_inserter(gone));
    std::set_difference(lb.begin(), lb.end(), la.begin(), la.end(), std::back_inserter(came));
    const uint32_t type = y->second.type;
    const bool renamed = gone.size() == 1 && came.size() == 1;
    if (renamed) {
      out.emplace_back(pa.path.at(gone[0]) + " -> " + pb.path.at(came[0]), 'R', type);
    } else {
      for (const auto& l : gone) out.emplace_back(pa.path.at(l), '-', type);
      for (const auto& l : came) out.emplace_back(pb.path.at(l), '+', type);
    }
    const ModelInode& p = x->second;
    const ModelInode& q = y->second;
    char change = 0;
    if (type == S_IFREG && p.content != q.content) {
      change = 'M';
    } else if (p.mode != q.mode || p.mtime_ns != q.mtime_ns || p.xattrs != q.xattrs ||
               p.content != q.content) {
      change = 'm';
    }
    if (change == 0) continue;
    if (type == S_IFDIR) {
      out.emplace_back(pb.folder.at(ino), change, type);
      continue;
    }
    for (const auto& l : lb) {
      if (renamed || std::find(came.begin(), came.end(), l) == came.end()) {
        out.emplace_back(pb.path.at(l), change, type);
      }
    }
  }
  std::sort(out.begin(), out.end());
  Lines lines;
  for (size_t i = 0; i < out.size(); ++i) {
    const auto& [path, change, type] = out[i];
    if (change == '+' && i + 1 < out.size() && std::get<0>(out[i + 1]) == path &&
        std::get<1>(out[i + 1]) == '-' && std::get<2>(out[i + 1]) != type) {
      lines.push_back("T " + path);
      ++i;
    } else {
      lines.push_back(std::string(1, change) + " " + path);
    }
  }
  return lines;
}

// What a LiveFs shows, path by path: inode, type, mode, mtime, content or
// target, xattrs. The same from the model must match.
using Listing = std::map<std::string, std::string>;

std::string describe(uint64_t ino, uint32_t type, uint32_t mode, int64_t mtime_ns,
                     const std::string& content, const std::map<std::string, std::string>& xattrs) {
  std::string out = "ino " + std::to_string(ino) + " type " + std::to_string(type >> 12) +
                    " mode " + std::to_string(mode) + " mtime " + std::to_string(mtime_ns) + " [" +
                    content + "]";
  for (const auto& [name, value] : xattrs) out += " " + name + "=" + value;
  return out;
}

void list_model(const ModelFs& fs, uint64_t dir, const std::string& at, Listing* out) {
  for (const auto& [name, ino] : fs.at(dir).entries) {
    const ModelInode& n = fs.at(ino);
    const std::string path = at + "/" + name;
    (*out)[path] = describe(ino, n.type, n.mode, n.mtime_ns, n.content, n.xattrs);
    if (n.type == S_IFDIR) list_model(fs, ino, path, out);
  }
}

// Walks a LiveFs from `dir`; fails the test on an error.
void list_live(LiveFs& fs, uint64_t dir, const std::string& at, Listing* out) {
  std::vector<LiveDirEntry> entries;
  ASSERT_EQ(fs.list_dir(dir, &entries), 0) << at;
  for (const LiveDirEntry& e : entries) {
    const std::string path = at + "/" + e.name;
    LiveAttr attr;
    ASSERT_EQ(fs.getattr(e.ino, &attr), 0) << path;
    const uint32_t type = attr.inode.mode & S_IFMT;
    ASSERT_EQ(type, e.type) << path;
    std::string content;
    if (type == S_IFREG) {
      Bytes data;
      ASSERT_EQ(fs.read(e.ino, 0, attr.inode.size + 1, &data), 0) << path;
      content.assign(as_chars(data));
    } else if (type == S_IFLNK) {
      ASSERT_EQ(fs.readlink(e.ino, &content), 0) << path;
    }
    std::vector<std::string> names;
    ASSERT_EQ(fs.listxattr(e.ino, &names), 0) << path;
    std::map<std::string, std::string> xattrs;
    for (const std::string& name : names) {
      Bytes value;
      ASSERT_EQ(fs.getxattr(e.ino, name, &value), 0) << path;
      xattrs[name] = std::string(as_chars(value));
    }
    (*out)[path] =
        describe(e.ino, type, attr.inode.mode & 07777, attr.inode.mtime_ns, content, xattrs);
    if (type == S_IFDIR) list_live(fs, e.ino, path, out);
  }
}

// Random small changes to a LiveFs and to the model alike. Each file's
// content changes at most once per step (a write always changes it: it holds
// a stamp never written before; a truncate always changes the size), so
// "content differs" (the model) and "extents or size differ" (the diff) are
// one thing.
class TreeChanger {
 public:
  TreeChanger(LiveDiffTest& test, LiveFs& fs, SeededRandom& random, ModelFs& model)
      : test_(test), fs_(fs), random_(random), model_(model) {}

  // One step: a few changes at time `now_ns`.
  void step(int64_t now_ns, uint64_t step) {
    now_ns_ = now_ns;
    step_ = step;
    content_changed_.clear();
    const uint64_t changes = 1 + random_.uniform(4);
    for (uint64_t i = 0; i < changes && !::testing::Test::HasFatalFailure(); ++i) change(i);
  }

 private:
  static constexpr size_t kMaxInodes = 60;
  static constexpr int kMaxDepth = 4;

  void change(uint64_t index) {
    const bool crowded = model_.size() > kMaxInodes;
    const uint64_t kind = random_.uniform(crowded ? 6 : 12);
    switch (kind) {
      case 0: return remove_some();
      case 1: return rename_some();
      case 2: return write_some(index);
      case 3: return chmod_some();
      case 4: return xattr_some(index);
      case 5: return truncate_some();
      case 6: return retype_some(index);
      case 7: return link_some();
      case 8: return create(S_IFDIR, index);
      case 9: return create(S_IFLNK, index);
      default: return create(S_IFREG, index);
    }
  }

  std::string stamp(uint64_t index) {
    return "#" + std::to_string(step_) + "." + std::to_string(index) + "#";
  }
  std::string name() {
    static const char* const kNames[] = {"a", "b", "c", "d", "e"};
    return kNames[random_.uniform(5)];
  }
  std::vector<uint64_t> inodes_of(uint32_t type) const {
    std::vector<uint64_t> out;
    for (const auto& [ino, node] : model_) {
      if (node.type == type) out.push_back(ino);
    }
    return out;
  }
  std::optional<uint64_t> pick(const std::vector<uint64_t>& from) {
    if (from.empty()) return std::nullopt;
    return from[random_.uniform(from.size())];
  }
  int depth(uint64_t dir) const {
    int d = 0;
    for (uint64_t at = dir; at != kRootIno; at = model_.at(at).parent) ++d;
    return d;
  }
  // Every (folder, name) of a non-folder, or of a folder when `folders`.
  std::vector<ModelLink> names(bool folders) const {
    std::vector<ModelLink> out;
    for (const auto& [dir, node] : model_) {
      for (const auto& [n, ino] : node.entries) {
        if ((model_.at(ino).type == S_IFDIR) == folders) out.push_back(ModelLink{dir, n});
      }
    }
    return out;
  }
  void touch(uint64_t dir) { model_.at(dir).mtime_ns = now_ns_; }
  size_t link_count(uint64_t ino) const {
    size_t count = 0;
    for (const auto& [dir, node] : model_) {
      for (const auto& [n, child] : node.entries) count += child == ino ? 1 : 0;
    }
    return count;
  }

  void create(uint32_t type, uint64_t index) {
    std::vector<uint64_t> dirs;
    for (uint64_t dir : inodes_of(S_IFDIR)) {
      if (depth(dir) < kMaxDepth) dirs.push_back(dir);
    }
    const uint64_t dir = *pick(dirs);
    const std::string n = name();
    if (model_.at(dir).entries.count(n) != 0) return;
    ModelInode node;
    node.type = type;
    node.mtime_ns = now_ns_;
    uint64_t ino = 0;
    if (type == S_IFDIR) {
      ino = test_.make_dir(dir, n);
      node.mode = 0755;
      node.parent = dir;
    } else if (type == S_IFLNK) {
      node.content = "target" + stamp(index);
      ino = test_.make_symlink(dir, n, node.content);
      node.mode = 0777;
    } else {
      node.content = stamp(index) + std::string(random_.uniform(300), 'c');
      ino = test_.make_file(dir, n, node.content);
      node.mode = 0644;
      content_changed_.insert(ino);
    }
    ASSERT_NE(ino, 0u);
    model_[ino] = std::move(node);
    model_.at(dir).entries[n] = ino;
    touch(dir);
  }

  void write_some(uint64_t index) {
    const auto ino = pick(inodes_of(S_IFREG));
    if (!ino || content_changed_.count(*ino) != 0) return;
    std::string& content = model_.at(*ino).content;
    const uint64_t offset = random_.uniform(8) == 0 ? content.size() + random_.uniform(9000)
                                                    : random_.uniform(content.size() + 1);
    const std::string data = stamp(index) + std::string(random_.uniform(100), 'w');
    test_.write_at(*ino, offset, data);
    if (content.size() < offset + data.size()) content.resize(offset + data.size(), '\0');
    content.replace(offset, data.size(), data);
    model_.at(*ino).mtime_ns = now_ns_;
    content_changed_.insert(*ino);
  }

  void truncate_some() {
    const auto ino = pick(inodes_of(S_IFREG));
    if (!ino || content_changed_.count(*ino) != 0) return;
    std::string& content = model_.at(*ino).content;
    const uint64_t size = random_.uniform(content.size() + 200);
    if (size == content.size()) return;
    test_.truncate(*ino, size);
    content.resize(size, '\0');
    model_.at(*ino).mtime_ns = now_ns_;
    content_changed_.insert(*ino);
  }

  void chmod_some() {
    std::vector<uint64_t> targets = inodes_of(S_IFREG);
    for (uint64_t dir : inodes_of(S_IFDIR)) targets.push_back(dir);
    const uint64_t ino = *pick(targets);  // the root folder is always there
    static const uint32_t kModes[] = {0600, 0644, 0700, 0755};
    const uint32_t mode = kModes[random_.uniform(4)];
    test_.chmod(ino, mode);
    model_.at(ino).mode = mode;
  }

  void xattr_some(uint64_t index) {
    std::vector<uint64_t> targets = inodes_of(S_IFREG);
    for (uint64_t dir : inodes_of(S_IFDIR)) targets.push_back(dir);
    const uint64_t ino = *pick(targets);
    const std::string key = random_.uniform(2) == 0 ? "user.a" : "user.b";
    auto& xattrs = model_.at(ino).xattrs;
    if (xattrs.count(key) != 0 && random_.uniform(2) == 0) {
      ASSERT_EQ(fs_.removexattr(ino, key), 0);
      xattrs.erase(key);
      return;
    }
    const std::string value = random_.uniform(3) == 0 ? "same" : stamp(index);
    ASSERT_EQ(fs_.setxattr(ino, key, as_bytes(value), 0), 0);
    xattrs[key] = value;
  }

  void link_some() {
    const auto ino = pick(inodes_of(S_IFREG));
    if (!ino) return;
    const uint64_t dir = *pick(inodes_of(S_IFDIR));
    const std::string n = name();
    if (model_.at(dir).entries.count(n) != 0) return;
    test_.make_link(*ino, dir, n);
    model_.at(dir).entries[n] = *ino;
    touch(dir);
  }

  // A file, symlink or empty folder unlinked; now and then a whole folder,
  // deepest first.
  void remove_some() {
    const bool folder = random_.uniform(3) == 0;
    const std::vector<ModelLink> candidates = names(folder);
    if (candidates.empty()) return;
    remove(candidates[random_.uniform(candidates.size())]);
  }
  void remove(const ModelLink& link) {
    const uint64_t ino = model_.at(link.dir).entries.at(link.name);
    if (model_.at(ino).type == S_IFDIR) {
      const auto entries = model_.at(ino).entries;  // copied: remove() changes it
      for (const auto& [n, child] : entries) remove(ModelLink{ino, n});
      ASSERT_EQ(fs_.rmdir(link.dir, link.name), 0) << link.name;
    } else {
      ASSERT_EQ(fs_.unlink(link.dir, link.name), 0) << link.name;
    }
    model_.at(link.dir).entries.erase(link.name);
    touch(link.dir);
    if (link_count(ino) == 0) model_.erase(ino);
  }

  void rename_some() {
    const bool folder = random_.uniform(3) == 0;
    const std::vector<ModelLink> candidates = names(folder);
    if (candidates.empty()) return;
    const ModelLink from = candidates[random_.uniform(candidates.size())];
    const uint64_t ino = model_.at(from.dir).entries.at(from.name);
    const uint64_t to_dir = *pick(inodes_of(S_IFDIR));
    const std::string to_name = name();
    if (folder) {  // not into itself or below, nor deeper than the limit
      for (uint64_t at = to_dir;; at = model_.at(at).parent) {
        if (at == ino) return;
        if (at == kRootIno) break;
      }
      if (depth(to_dir) >= kMaxDepth) return;
    }
    auto& to_entries = model_.at(to_dir).entries;
    const auto existing = to_entries.find(to_name);
    if (existing != to_entries.end()) {
      // Only a file over another file (not one of its own names).
      if (folder || model_.at(existing->second).type == S_IFDIR || existing->second == ino) return;
    }
    ASSERT_EQ(fs_.rename(from.dir, from.name, to_dir, to_name, 0), 0);
    std::optional<uint64_t> replaced;
    if (existing != to_entries.end()) replaced = existing->second;
    model_.at(from.dir).entries.erase(from.name);
    model_.at(to_dir).entries[to_name] = ino;
    if (folder) model_.at(ino).parent = to_dir;
    touch(from.dir);
    touch(to_dir);
    if (replaced && link_count(*replaced) == 0) model_.erase(*replaced);
  }

  // A file becomes a folder of the same name, or an empty folder a file.
  void retype_some(uint64_t index) {
    const bool folder = random_.uniform(2) == 0;
    const std::vector<ModelLink> candidates = names(folder);
    if (candidates.empty()) return;
    const ModelLink at = candidates[random_.uniform(candidates.size())];
    const uint64_t ino = model_.at(at.dir).entries.at(at.name);
    if (folder && !model_.at(ino).entries.empty()) return;
    remove(at);
    if (::testing::Test::HasFatalFailure()) return;
    ModelInode node;
    node.type = folder ? S_IFREG : S_IFDIR;
    node.mode = folder ? 0644 : 0755;
    node.mtime_ns = now_ns_;
    uint64_t made = 0;
    if (folder) {
      node.content = stamp(index);
      made = test_.make_file(at.dir, at.name, node.content);
      content_changed_.insert(made);
    } else {
      made = test_.make_dir(at.dir, at.name);
      node.parent = at.dir;
    }
    ASSERT_NE(made, 0u);
    model_[made] = std::move(node);
    model_.at(at.dir).entries[at.name] = made;
  }

  LiveDiffTest& test_;
  LiveFs& fs_;
  SeededRandom& random_;
  ModelFs& model_;
  int64_t now_ns_ = 0;
  uint64_t step_ = 0;
  std::set<uint64_t> content_changed_;  // files whose content changed this step
};

TEST_F(LiveDiffTest, AThousandSnapshotsOfAChangingTreeEachBrowseAndDiffCorrectly) {
  const uint64_t seed = test_seed();
  SCOPED_TRACE("seed " + std::to_string(seed) +
               " (replay: LARES_TEST_SEED=" + std::to_string(seed) + ")");
  constexpr uint64_t kSnapshots = 1000;
  SeededRandom random(seed);
  ModelFs model;
  ModelInode root;
  root.type = S_IFDIR;
  root.mode = 0755;
  LiveAttr root_attr;
  ASSERT_EQ(fs_->getattr(kRootIno, &root_attr), 0);
  root.mtime_ns = root_attr.inode.mtime_ns;
  model[kRootIno] = root;

  std::vector<DatasetHead> heads{commit()};
  std::vector<ModelFs> models{model};
  TreeChanger changer(*this, *fs_, random, model);
  for (uint64_t step = 1; step < kSnapshots; ++step) {
    tick();
    changer.step(now_ns_.load(), step);
    ASSERT_FALSE(HasFatalFailure()) << "at step " << step;
    heads.push_back(commit());
    models.push_back(model);
  }
  fs_.reset();  // everything below reads what was committed, and only that

  size_t changes = 0, renames = 0, type_changes = 0;
  for (uint64_t i = 0; i < kSnapshots; ++i) {
    SCOPED_TRACE("snapshot " + std::to_string(i));
    LiveOptions read_only;
    read_only.read_only = true;
    auto fs = LiveFs::open(*repo_, *datasets_, heads[i], read_only);
    ASSERT_TRUE(fs.is_ok()) << fs.status().to_string();
    Listing live, expected;
    list_live(**fs, kRootIno, "", &live);
    ASSERT_FALSE(HasFatalFailure());
    list_model(models[i], kRootIno, "", &expected);
    ASSERT_EQ(live, expected);
    if (i == 0) continue;
    const Lines forward = diff(*heads[i - 1].root, *heads[i].root);
    ASSERT_EQ(forward, model_diff(models[i - 1], models[i]));
    ASSERT_EQ(diff(*heads[i].root, *heads[i - 1].root), model_diff(models[i], models[i - 1]));
    changes += forward.size();
    for (const std::string& line : forward) {
      renames += line[0] == 'R' ? 1 : 0;
      type_changes += line[0] == 'T' ? 1 : 0;
    }
  }
  // The run covered what it is meant to.
  EXPECT_GT(changes, kSnapshots);
  EXPECT_GT(renames, 20u);
  EXPECT_GT(type_changes, 5u);
}

}  // namespace
}  // namespace lares
