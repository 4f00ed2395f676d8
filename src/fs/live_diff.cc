// Live snapshot diff (fs/live_diff.h has the rules, the path resolution and
// the cost).
#include "fs/live_diff.h"

#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "fs/live_fs.h"
#include "fs/live_items.h"

namespace lares {
namespace {

// As LiveFs's own walk up a folder's parents (rename): deeper is a loop.
constexpr int kMaxDepth = 100000;

enum Side : size_t { kA = 0, kB = 1 };

uint32_t file_type(const LiveInode& inode) { return inode.mode & S_IFMT; }
bool is_dir(const LiveInode& inode) { return file_type(inode) == S_IFDIR; }

// A directory entry's child inode.
Result<uint64_t> entry_ino(ByteView value) {
  ASSIGN_OR_RETURN(live_items::Dirent d, live_items::decode_dirent(value));
  return d.ino;
}

// One name of an inode: an entry `name` in folder `dir`.
struct Link {
  uint64_t dir = 0;
  std::string name;
  auto operator<=>(const Link&) const = default;
};

// The changed items of one inode (step 1).
struct InodeChange {
  std::array<std::optional<LiveInode>, 2> record;  // per side (step 1, else fill_records)
  bool xattrs_changed = false;
  bool extents_changed = false;
  std::vector<Link> gone;  // entries naming it in A only
  std::vector<Link> came;  // entries naming it in B only
};

// A path-level change before the last step; `type` (S_IFMT bits) pairs a
// '-' and a '+' into a 'T'.
struct PathChange {
  std::string path;
  char change = 0;
  uint32_t type = 0;
};

bool metadata_differs(const LiveInode& a, const LiveInode& b, bool xattrs_changed) {
  return xattrs_changed || a.mode != b.mode || a.uid != b.uid || a.gid != b.gid ||
         a.mtime_ns != b.mtime_ns || a.btime_ns != b.btime_ns || a.rdev != b.rdev ||
         a.symlink_target != b.symlink_target;
}

// A folder's entries, by the inode each names: ino -> name.
using FolderEntries = std::unordered_multimap<uint64_t, std::string>;

// One version's tree and what has been read of it.
class Version {
 public:
  Version(NodeStore& store, const ChunkId& root) : tree_(store, root) {}

  BTree& tree() { return tree_; }

  // The record of `ino` (nullopt: none in this version), read once.
  Result<const std::optional<LiveInode>*> record(uint64_t ino) {
    auto it = records_.find(ino);
    if (it != records_.end()) return &it->second;
    Bytes key;
    append_be64(key, ino);
    key.push_back(live_items::kInode);
    ASSIGN_OR_RETURN(std::optional<Bytes> value, tree_.get(key));
    std::optional<LiveInode> inode;
    if (value.has_value()) {
      auto decoded = decode_live_inode(*value);
      if (!decoded.is_ok()) return decoded.status().with_context("inode " + std::to_string(ino));
      inode = std::move(*decoded);
    }
    return &records_.emplace(ino, std::move(inode)).first->second;
  }
  // A record already known (from the item diff).
  void remember(uint64_t ino, const std::optional<LiveInode>& inode) {
    records_.emplace(ino, inode);
  }

  // The entries of folder `dir`, scanned once.
  Result<const FolderEntries*> folder(uint64_t dir) {
    auto it = folders_.find(dir);
    if (it != folders_.end()) return &it->second;
    FolderEntries entries;
    Bytes from, to;
    append_be64(from, dir);
    to = from;
    from.push_back(live_items::kDirent);
    to.push_back(live_items::kDirent + 1);
    Status bad;
    RETURN_IF_ERROR(tree_.scan(from, to, [&](ByteView key, ByteView value) {
      auto ino = entry_ino(value);
      if (!ino.is_ok()) {
        bad = ino.status().with_context("folder " + std::to_string(dir));
        return false;
      }
      entries.emplace(*ino, as_chars(key.subspan(live_items::kPrefixBytes)));
      return true;
    }));
    RETURN_IF_ERROR(bad);
    return &folders_.emplace(dir, std::move(entries)).first->second;
  }

  // Folder paths resolved so far ("" for the root).
  std::unordered_map<uint64_t, std::string>& folder_paths() { return folder_paths_; }

 private:
  BTree tree_;
  std::unordered_map<uint64_t, std::optional<LiveInode>> records_;
  std::unordered_map<uint64_t, FolderEntries> folders_;
  std::unordered_map<uint64_t, std::string> folder_paths_{{kRootIno, ""}};
};

class LiveDiff {
 public:
  LiveDiff(NodeStore& store, const ChunkId& a, const ChunkId& b)
      : store_(store), a_(a), b_(b), versions_{Version(store, a), Version(store, b)} {}

  Result<std::vector<DiffEntry>> run() {
    RETURN_IF_ERROR(collect_items());
    RETURN_IF_ERROR(fill_records());
    RETURN_IF_ERROR(find_names_in_b());
    for (auto& [ino, change] : changes_) RETURN_IF_ERROR(report(ino, change));
    return finish();
  }

 private:
  // Step 1: the changed items, by inode.
  Status collect_items() {
    Status bad;
    RETURN_IF_ERROR(diff_btrees(store_, a_, b_, [&](ByteView key, const Bytes* a, const Bytes* b) {
      bad = add_item(key, a, b);
      return bad.is_ok();
    }));
    return bad;
  }

  Status add_item(ByteView key, const Bytes* a, const Bytes* b) {
    if (key.size() < live_items::kPrefixBytes) {
      return Status::corruption("item key of " + std::to_string(key.size()) + " bytes");
    }
    const uint64_t ino = read_be64(key);
    const uint8_t kind = key[8];
    const ByteView rest = key.subspan(live_items::kPrefixBytes);
    if (ino == 0) {  // orphans: files unlinked while open, not part of the namespace
      if (kind == live_items::kOrphan) return Status::ok();
      return Status::corruption("item of kind " + std::to_string(kind) + " for inode 0");
    }
    const std::string where = "inode " + std::to_string(ino);
    switch (kind) {
      case live_items::kInode:
        if (!rest.empty()) return Status::corruption("inode item key too long (" + where + ")");
        return add_record(ino, a, b);
      case live_items::kDirent:
        if (rest.empty()) return Status::corruption("empty entry name in folder " + where);
        return add_entry(ino, std::string(as_chars(rest)), a, b);
      case live_items::kXattr: changes_[ino].xattrs_changed = true; return Status::ok();
      case live_items::kExtent:
        if (key.size() != live_items::kExtentKeyBytes) return Status::corruption("malformed extent key");
        changes_[ino].extents_changed = true;
        return Status::ok();
      case live_items::kOrphan:
        return Status::corruption("orphan item under " + where + " (they are under inode 0)");
      default:
        return Status::failed_precondition("item kind " + std::to_string(kind) + " of " + where +
                                           " is not known to this lares");
    }
  }

  Status add_record(uint64_t ino, const Bytes* a, const Bytes* b) {
    const std::array<const Bytes*, 2> values = {a, b};
    InodeChange& change = changes_[ino];
    for (size_t side : {kA, kB}) {
      if (values[side] == nullptr) continue;
      auto inode = decode_live_inode(*values[side]);
      if (!inode.is_ok()) return inode.status().with_context("inode " + std::to_string(ino));
      change.record[side] = std::move(*inode);
    }
    for (size_t side : {kA, kB}) versions_[side].remember(ino, change.record[side]);
    records_changed_.insert(ino);
    return Status::ok();
  }

  Status add_entry(uint64_t dir, std::string name, const Bytes* a, const Bytes* b) {
    std::optional<uint64_t> in_a, in_b;
    if (a != nullptr) {
      ASSIGN_OR_RETURN(in_a, entry_ino(*a));
    }
    if (b != nullptr) {
      ASSIGN_OR_RETURN(in_b, entry_ino(*b));
    }
    folders_changed_.insert(dir);
    if (in_a == in_b) return Status::ok();  // one inode, same name: the type byte cannot differ
    if (in_a) changes_[*in_a].gone.push_back(Link{dir, name});
    if (in_b) changes_[*in_b].came.push_back(Link{dir, std::move(name)});
    return Status::ok();
  }

  // What is unchanged is the same in both versions, so it is read once, from
  // B; what changed is read from the version asked for (a changed record is
  // known from step 1).
  Result<const std::optional<LiveInode>*> record(Side side, uint64_t ino) {
    return versions_[records_changed_.count(ino) != 0 ? side : kB].record(ino);
  }
  Result<const FolderEntries*> folder(Side side, uint64_t dir) {
    return versions_[folders_changed_.count(dir) != 0 ? side : kB].folder(dir);
  }

  // The records of the inodes whose record did not change.
  Status fill_records() {
    for (auto& [ino, change] : changes_) {
      if (records_changed_.count(ino) == 0) {
        ASSIGN_OR_RETURN(const std::optional<LiveInode>* inode, record(kB, ino));
        change.record = {*inode, *inode};
      }
      if (!change.record[kA] && !change.record[kB]) {
        return Status::corruption("items of inode " + std::to_string(ino) +
                                  " without an inode record");
      }
    }
    return Status::ok();
  }

  static bool same_inode(const InodeChange& c) {
    return c.record[kA] && c.record[kB] && c.record[kA]->generation == c.record[kB]->generation &&
           file_type(*c.record[kA]) == file_type(*c.record[kB]);
  }
  // What a file or folder in both versions shows at its names: 'M', 'm' or 0.
  static char change_in_place(const InodeChange& c) {
    const LiveInode& a = *c.record[kA];
    const LiveInode& b = *c.record[kB];
    if (file_type(b) == S_IFREG && (c.extents_changed || a.size != b.size)) return 'M';
    return metadata_differs(a, b, c.xattrs_changed) ? 'm' : 0;
  }

  // The names in B of every file changed in place (see the header): the
  // names come, its `parent` folder, then one scan of all entries for those
  // still short of their nlink.
  Status find_names_in_b() {
    std::unordered_set<uint64_t> short_of_links;
    for (auto& [ino, change] : changes_) {
      if (!same_inode(change) || is_dir(*change.record[kB]) || change_in_place(change) == 0) {
        continue;
      }
      const LiveInode& inode = *change.record[kB];
      std::set<Link>& names = names_in_b_[ino];
      names.insert(change.came.begin(), change.came.end());
      if (names.size() < inode.nlink && inode.parent != 0) {
        ASSIGN_OR_RETURN(const std::optional<LiveInode>* parent, record(kB, inode.parent));
        if (*parent && is_dir(**parent)) {
          ASSIGN_OR_RETURN(const FolderEntries* entries, folder(kB, inode.parent));
          const auto [begin, end] = entries->equal_range(ino);
          for (auto it = begin; it != end; ++it) names.insert(Link{inode.parent, it->second});
        }
      }
      if (names.size() < inode.nlink) short_of_links.insert(ino);
    }
    if (short_of_links.empty()) return Status::ok();
    RETURN_IF_ERROR(scan_all_entries(short_of_links));
    for (uint64_t ino : short_of_links) {
      const uint32_t nlink = changes_[ino].record[kB]->nlink;
      if (names_in_b_[ino].size() < nlink) {
        return Status::corruption("inode " + std::to_string(ino) + " has " + std::to_string(nlink) +
                                  " links but " + std::to_string(names_in_b_[ino].size()) +
                                  " directory entries name it");
      }
    }
    return Status::ok();
  }

  // Adds to names_in_b_ every entry of B naming one of `inos`.
  Status scan_all_entries(const std::unordered_set<uint64_t>& inos) {
    Status bad;
    RETURN_IF_ERROR(versions_[kB].tree().scan({}, {}, [&](ByteView key, ByteView value) {
      if (key.size() <= live_items::kPrefixBytes || key[8] != live_items::kDirent) return true;
      auto ino = entry_ino(value);
      if (!ino.is_ok()) {
        bad = ino.status();
        return false;
      }
      if (inos.count(*ino) != 0) {
        names_in_b_[*ino].insert(
            Link{read_be64(key), std::string(as_chars(key.subspan(live_items::kPrefixBytes)))});
      }
      return true;
    }));
    return bad;
  }

  // Step 2 for one inode.
  Status report(uint64_t ino, const InodeChange& c) {
    const bool same = same_inode(c);
    if (!same) {  // removed, added, or (never from LiveFs) a number reused
      if (c.record[kA]) RETURN_IF_ERROR(report_names(kA, c.gone, '-', file_type(*c.record[kA])));
      if (c.record[kB]) RETURN_IF_ERROR(report_names(kB, c.came, '+', file_type(*c.record[kB])));
      return Status::ok();
    }
    const uint32_t type = file_type(*c.record[kB]);
    const bool renamed = c.gone.size() == 1 && c.came.size() == 1;
    if (renamed) {
      ASSIGN_OR_RETURN(std::string from, link_path(kA, c.gone[0]));
      ASSIGN_OR_RETURN(std::string to, link_path(kB, c.came[0]));
      add(from + " -> " + to, 'R', type);
    } else {
      RETURN_IF_ERROR(report_names(kA, c.gone, '-', type));
      RETURN_IF_ERROR(report_names(kB, c.came, '+', type));
    }
    const char change = change_in_place(c);
    if (change == 0) return Status::ok();
    if (is_dir(*c.record[kB])) {
      ASSIGN_OR_RETURN(std::string path, folder_path(kB, ino));
      add(path.empty() ? "/" : path, change, type);
      return Status::ok();
    }
    for (const Link& name : names_in_b_[ino]) {
      const bool reported_added =
          !renamed && std::find(c.came.begin(), c.came.end(), name) != c.came.end();
      if (reported_added) continue;
      ASSIGN_OR_RETURN(std::string path, link_path(kB, name));
      add(std::move(path), change, type);
    }
    return Status::ok();
  }

  Status report_names(Side side, const std::vector<Link>& names, char change, uint32_t type) {
    for (const Link& name : names) {
      ASSIGN_OR_RETURN(std::string path, link_path(side, name));
      add(std::move(path), change, type);
    }
    return Status::ok();
  }

  void add(std::string path, char change, uint32_t type) {
    out_.push_back(PathChange{std::move(path), change, type});
  }

  Result<std::string> link_path(Side side, const Link& link) {
    ASSIGN_OR_RETURN(std::string folder, folder_path(side, link.dir));
    return folder + "/" + link.name;
  }

  // The path of folder `dir` in one version ("" for the root): up its
  // parents to a folder already resolved, then down again.
  Result<std::string> folder_path(Side side, uint64_t dir) {
    Version& version = versions_[side];
    std::vector<std::pair<uint64_t, std::string>> chain;  // (folder, its name), upwards
    uint64_t at = dir;
    for (int depth = 0; version.folder_paths().count(at) == 0; ++depth) {
      if (depth == kMaxDepth) {
        return Status::corruption("the parents of folder " + std::to_string(dir) + " loop");
      }
      ASSIGN_OR_RETURN(Link link, folder_link(side, at));
      chain.emplace_back(at, std::move(link.name));
      at = link.dir;
    }
    std::string path = version.folder_paths()[at];
    for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
      path += "/" + it->second;
      version.folder_paths()[it->first] = path;
    }
    return path;
  }

  // Where folder `dir` is named in one version: its entry from step 1 when
  // that changed, else found in the folder its record names as parent.
  Result<Link> folder_link(Side side, uint64_t dir) {
    const std::string where = "folder " + std::to_string(dir);
    ASSIGN_OR_RETURN(const std::optional<LiveInode>* inode, record(side, dir));
    if (!*inode || !is_dir(**inode)) {
      return Status::corruption(where + " is named in a path but is not a folder");
    }
    const uint64_t parent = (*inode)->parent;
    auto change = changes_.find(dir);
    if (change != changes_.end()) {
      const std::vector<Link>& changed = side == kA ? change->second.gone : change->second.came;
      if (!changed.empty()) {
        if (changed.size() != 1 || changed[0].dir != parent) {
          return Status::corruption(where + " is named in a folder other than its parent");
        }
        return changed[0];
      }
    }
    ASSIGN_OR_RETURN(const FolderEntries* entries, folder(side, parent));
    auto entry = entries->find(dir);
    if (entry != entries->end()) return Link{parent, entry->second};
    return Status::corruption(where + " is not in its parent folder " + std::to_string(parent));
  }

  // Step 3: sorted by path, type changes paired.
  std::vector<DiffEntry> finish() {
    std::sort(out_.begin(), out_.end(), [](const PathChange& x, const PathChange& y) {
      return std::tie(x.path, x.change) < std::tie(y.path, y.change);
    });
    std::vector<DiffEntry> entries;
    entries.reserve(out_.size());
    for (size_t i = 0; i < out_.size(); ++i) {
      const PathChange& c = out_[i];
      // '+' sorts before '-'.
      if (c.change == '+' && i + 1 < out_.size() && out_[i + 1].path == c.path &&
          out_[i + 1].change == '-' && out_[i + 1].type != c.type) {
        entries.push_back(DiffEntry{'T', c.path});
        ++i;
        continue;
      }
      entries.push_back(DiffEntry{c.change, c.path});
    }
    return entries;
  }

  NodeStore& store_;
  const ChunkId a_, b_;
  std::array<Version, 2> versions_;
  std::map<uint64_t, InodeChange> changes_;       // by inode number: step 2 goes in key order
  std::unordered_set<uint64_t> records_changed_;  // inodes
  std::unordered_set<uint64_t> folders_changed_;  // folders with an entry changed
  std::unordered_map<uint64_t, std::set<Link>> names_in_b_;
  std::vector<PathChange> out_;
};

// The repository's nodes, read-only.
class RepositoryNodes final : public NodeStore {
 public:
  explicit RepositoryNodes(Repository& repo) : repo_(repo) {}
  Result<Bytes> load_node(const ChunkId& id) override {
    return repo_.load_blob(id, BlobType::kNode);
  }
  Result<ChunkId> store_node(Bytes) override {
    return Status::failed_precondition("a snapshot diff writes nothing");
  }

 private:
  Repository& repo_;
};

}  // namespace

Result<std::vector<DiffEntry>> diff_live_trees(NodeStore& store, const ChunkId& a,
                                               const ChunkId& b) {
  return LiveDiff(store, a, b).run();
}

Result<std::vector<DiffEntry>> diff_live_trees(Repository& repo, const ChunkId& a,
                                               const ChunkId& b) {
  RepositoryNodes store(repo);
  return diff_live_trees(store, a, b);
}

}  // namespace lares
