#include "fs/live_import.h"

#include <sys/stat.h>
#include <sys/xattr.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <utility>

#include "fs/backup.h"
#include "fs/tree.h"

namespace lares {
namespace {

uint32_t mode_bits(NodeType type) {
  switch (type) {
    case NodeType::kFile: return S_IFREG;
    case NodeType::kDir: return S_IFDIR;
    case NodeType::kSymlink: return S_IFLNK;
    case NodeType::kFifo: return S_IFIFO;
    case NodeType::kCharDev: return S_IFCHR;
    case NodeType::kBlockDev: return S_IFBLK;
    case NodeType::kSocket: return S_IFSOCK;
  }
  return 0;
}

class Importer {
 public:
  Importer(Repository& repo, LiveFs& fs) : repo_(repo), fs_(fs) {}

  Status folder(const ChunkId& tree_id, uint64_t dir, const std::string& path) {
    ASSIGN_OR_RETURN(Tree tree, load_tree(repo_, tree_id));
    for (const Node& node : tree.nodes) {
      const std::string at = path + "/" + node.name;
      RETURN_IF_ERROR(entry(node, dir, at));
    }
    return Status::ok();
  }

  ImportStats stats;

 private:
  static Status failed(int err, const std::string& what, const std::string& path) {
    return Status::from_errno(err, what + " " + path);
  }

  Status entry(const Node& node, uint64_t dir, const std::string& path) {
    const Caller owner{node.uid, node.gid};
    LiveAttr attr;
    // A second name of a hard-linked file the backup saw.
    if (node.type != NodeType::kDir && node.nlink > 1) {
      auto seen = links_.find({node.device, node.inode});
      if (seen != links_.end()) {
        if (int e = fs_.link(seen->second, dir, node.name, &attr); e != 0) {
          return failed(e, "link", path);
        }
        fs_.forget(attr.ino, 1);
        return Status::ok();
      }
    }
    int e = 0;
    switch (node.type) {
      case NodeType::kDir:
        e = fs_.mkdir(dir, node.name, node.mode & 07777, owner, &attr);
        break;
      case NodeType::kSymlink:
        e = fs_.symlink(dir, node.name, node.symlink_target, owner, &attr);
        break;
      default:
        e = fs_.mknod(dir, node.name, mode_bits(node.type) | (node.mode & 07777), node.rdev, owner,
                      &attr);
    }
    if (e != 0) return failed(e, "create", path);
    const uint64_t ino = attr.ino;
    fs_.forget(ino, 1);  // the import holds no kernel references
    if (node.type != NodeType::kDir && node.nlink > 1) links_[{node.device, node.inode}] = ino;
    if (node.type == NodeType::kFile) {
      ++stats.files;
      uint64_t offset = 0;
      for (const Extent& extent : node.extents) {
        if (extent.id) {
          if (int err = fs_.import_extent(ino, offset, *extent.id, extent.length); err != 0) {
            return failed(err, "extent of", path);
          }
        }
        offset += extent.length;
      }
      stats.bytes += node.size;
    }
    for (const Xattr& x : node.xattrs) {
      const int err = fs_.setxattr(ino, x.name, x.value, 0);
      if (err != 0 && err != EOPNOTSUPP) return failed(err, "xattr " + x.name + " of", path);
    }
    if (node.type == NodeType::kDir) {
      ++stats.dirs;
      RETURN_IF_ERROR(folder(node.subtree, ino, path));
    }
    // Last, so creating the folder's entries does not move its times.
    SetAttr set;
    set.set_mode = node.type != NodeType::kSymlink;
    set.mode = node.mode & 07777;
    set.set_uid = set.set_gid = true;
    set.uid = node.uid;
    set.gid = node.gid;
    if (node.type == NodeType::kFile) {
      set.set_size = true;
      set.size = node.size;
    }
    set.set_atime = set.set_mtime = set.set_ctime = true;
    set.atime_ns = node.atime_ns;
    set.mtime_ns = node.mtime_ns;
    set.ctime_ns = node.ctime_ns;
    if (int err = fs_.setattr(ino, set, nullptr); err != 0) return failed(err, "attributes of", path);
    return Status::ok();
  }

  Repository& repo_;
  LiveFs& fs_;
  std::map<std::pair<uint64_t, uint64_t>, uint64_t> links_;  // (device, inode) -> ino
};

}  // namespace

Result<ImportStats> import_backup_snapshot(Repository& repo, const SnapshotRecord& snapshot,
                                           LiveFs& fs) {
  if (snapshot.layout != SnapshotLayout::kBackup) {
    return Status::invalid_argument(snapshot.dataset + "@" + snapshot.name +
                                    " is a live snapshot, not a backup");
  }
  std::vector<LiveDirEntry> existing;
  if (int e = fs.list_dir(kRootIno, &existing); e != 0) return Status::from_errno(e, "root folder");
  if (!existing.empty()) return Status::failed_precondition("import into a non-empty dataset");
  Importer importer(repo, fs);
  Status st = importer.folder(snapshot.tree, kRootIno, "");
  if (!st.is_ok()) return st.with_context(snapshot.dataset + "@" + snapshot.name);
  return importer.stats;
}

}  // namespace lares
