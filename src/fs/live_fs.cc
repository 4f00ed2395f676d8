#include "fs/live_fs.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <cstdio>
#include <ctime>
#include <list>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <thread>
#include <unordered_map>

#include "codec/varint.h"
#include "fs/btree.h"
#include "fs/live_items.h"
#include "util/thread_pool.h"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

namespace lares {

using namespace live_items;  // NOLINT: the item codec is this file's vocabulary

namespace {

constexpr uint8_t kInodeVersion = 1;
constexpr uint32_t kMaxLinks = 65000;
constexpr size_t kMaxNameBytes = 255;
constexpr size_t kMaxSymlinkBytes = 4095;
constexpr size_t kMaxXattrNameBytes = 255;
constexpr size_t kMaxXattrValueBytes = 65536;
constexpr uint64_t kMaxFileSize = uint64_t{1} << 50;  // 1 PiB
// Free space a write leaves untouched, so a commit can still write its nodes
// and the dataset head when the pool is nearly full.
constexpr uint64_t kSpaceReserve = uint64_t{64} << 20;
constexpr auto kSpaceRefresh = std::chrono::seconds(2);
constexpr const char* kReservedRootName = ".lares";
constexpr size_t kAheadQueueMax = 64;         // blobs waiting to be read ahead
constexpr int kAheadThreads = 2;
constexpr size_t kReadersTracked = 4096;      // files whose last read end is kept

int64_t realtime_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

uint32_t file_type(uint32_t mode) { return mode & S_IFMT; }
bool is_dir(const LiveInode& i) { return file_type(i.mode) == S_IFDIR; }
bool is_reg(const LiveInode& i) { return file_type(i.mode) == S_IFREG; }

int check_name(std::string_view name) {
  if (name.empty() || name == "." || name == "..") return EINVAL;
  if (name.size() > kMaxNameBytes) return ENAMETOOLONG;
  if (name.find('/') != std::string_view::npos || name.find('\0') != std::string_view::npos) {
    return EINVAL;
  }
  return 0;
}

bool all_zero(ByteView data) {
  // Word-wise scan: the common case (real data) stops at the first word.
  size_t i = 0;
  for (; i + 8 <= data.size(); i += 8) {
    uint64_t word;
    std::memcpy(&word, data.data() + i, 8);
    if (word != 0) return false;
  }
  for (; i < data.size(); ++i) {
    if (data[i] != 0) return false;
  }
  return true;
}

// Decoded blobs kept for reads, least recently used dropped first.
class RecordCache {
 public:
  explicit RecordCache(uint64_t budget) : budget_(budget) {}
  std::shared_ptr<const Bytes> get(const ChunkId& id) {
    std::lock_guard lock(mu_);
    auto it = map_.find(id);
    if (it == map_.end()) return nullptr;
    lru_.splice(lru_.begin(), lru_, it->second);
    return it->second->second;
  }
  void put(const ChunkId& id, std::shared_ptr<const Bytes> data) {
    std::lock_guard lock(mu_);
    if (data->size() > budget_ || map_.count(id) != 0) return;
    lru_.emplace_front(id, data);
    map_[id] = lru_.begin();
    bytes_ += data->size();
    while (bytes_ > budget_) {
      bytes_ -= lru_.back().second->size();
      map_.erase(lru_.back().first);
      lru_.pop_back();
    }
  }

 private:
  using Entry = std::pair<ChunkId, std::shared_ptr<const Bytes>>;
  std::mutex mu_;
  uint64_t budget_;
  uint64_t bytes_ = 0;                                                         // GUARDED_BY(mu_)
  std::list<Entry> lru_;                                                       // GUARDED_BY(mu_)
  std::unordered_map<ChunkId, std::list<Entry>::iterator, ChunkIdHash> map_;  // GUARDED_BY(mu_)
};

}  // namespace

// ---- inode records ---------------------------------------------------------------

Bytes encode_live_inode(const LiveInode& i) {
  Bytes out;
  out.reserve(64 + i.symlink_target.size());
  VarWriter w(&out);
  w.u8(kInodeVersion);
  w.u(i.mode);
  w.u(i.uid);
  w.u(i.gid);
  w.u(i.nlink);
  w.u(i.size);
  w.u(i.rdev);
  w.s(i.atime_ns);
  w.s(i.mtime_ns);
  w.s(i.ctime_ns);
  w.s(i.btime_ns);
  w.u(i.generation);
  w.u(i.parent);
  w.u(i.allocated);
  w.str(i.symlink_target);
  return out;
}

Result<LiveInode> decode_live_inode(ByteView bytes) {
  VarReader r(bytes);
  LiveInode i;
  uint8_t version = 0;
  RETURN_IF_ERROR(r.u8(&version, "inode version"));
  if (version != kInodeVersion) return Status::corruption("unknown inode record version");
  RETURN_IF_ERROR(r.u32(&i.mode, "inode mode"));
  RETURN_IF_ERROR(r.u32(&i.uid, "inode uid"));
  RETURN_IF_ERROR(r.u32(&i.gid, "inode gid"));
  RETURN_IF_ERROR(r.u32(&i.nlink, "inode nlink"));
  RETURN_IF_ERROR(r.u(&i.size, "inode size"));
  RETURN_IF_ERROR(r.u(&i.rdev, "inode rdev"));
  RETURN_IF_ERROR(r.s(&i.atime_ns, "inode atime"));
  RETURN_IF_ERROR(r.s(&i.mtime_ns, "inode mtime"));
  RETURN_IF_ERROR(r.s(&i.ctime_ns, "inode ctime"));
  RETURN_IF_ERROR(r.s(&i.btime_ns, "inode btime"));
  RETURN_IF_ERROR(r.u(&i.generation, "inode generation"));
  RETURN_IF_ERROR(r.u(&i.parent, "inode parent"));
  RETURN_IF_ERROR(r.u(&i.allocated, "inode allocated bytes"));
  RETURN_IF_ERROR(r.str(&i.symlink_target, "symlink target"));
  if (r.remaining() != 0) return Status::corruption("inode record: trailing bytes");
  const uint32_t type = file_type(i.mode);
  if ((i.mode & ~(S_IFMT | 07777)) != 0 ||
      (type != S_IFREG && type != S_IFDIR && type != S_IFLNK && type != S_IFIFO &&
       type != S_IFSOCK && type != S_IFCHR && type != S_IFBLK)) {
    return Status::corruption("inode record: bad mode");
  }
  if ((type == S_IFLNK) != !i.symlink_target.empty() ||
      i.symlink_target.size() > kMaxSymlinkBytes || i.size > kMaxFileSize ||
      i.parent >= kMaxIno) {
    return Status::corruption("inode record: inconsistent fields");
  }
  return i;
}

Status check_live_item(ByteView key, ByteView value) {
  if (key.size() < 9) return Status::corruption("item key shorter than 9 bytes");
  const uint64_t ino = read_be64(key);
  const uint8_t kind = key[8];
  const ByteView rest = key.subspan(9);
  auto check_name_bytes = [&](const char* what) -> Status {
    if (check_name(as_chars(rest)) != 0) return Status::corruption(std::string("bad ") + what);
    return Status::ok();
  };
  switch (kind) {
    case kInode:
      if (!rest.empty() || ino == 0 || ino >= kMaxIno) return Status::corruption("bad inode key");
      return decode_live_inode(value).status();
    case kDirent:
      RETURN_IF_ERROR(check_name_bytes("entry name"));
      return decode_dirent(value).status();
    case kXattr:
      if (rest.empty() || rest.size() > kMaxXattrNameBytes) return Status::corruption("bad xattr name");
      if (value.size() > kMaxXattrValueBytes) return Status::corruption("xattr value too long");
      return Status::ok();
    case kExtent:
      return parse_extent_item(key, value).status();
    case kOrphan:
      if (ino != 0 || rest.size() != 8 || !value.empty()) return Status::corruption("bad orphan item");
      return Status::ok();
    default:
      return Status::corruption("unknown item kind " + std::to_string(kind));
  }
}

// ---- reachability -------------------------------------------------------------------

Status mark_live_tree(Repository& repo, const ChunkId& root,
                      std::unordered_set<ChunkId, ChunkIdHash>* live) {
  auto missing = [](const char* what, const ChunkId& id) {
    return Status::failed_precondition(std::string(what) + " " + id.hex() +
                                       " is not in the index; run 'lares repo check' (and "
                                       "'lares repo repair --rebuild-index')");
  };
  std::vector<ChunkId> stack{root};
  while (!stack.empty()) {
    const ChunkId id = stack.back();
    stack.pop_back();
    if (!live->insert(id).second) continue;  // walked already (a shared subtree)
    if (!repo.find_blob(id)) return missing("tree node", id);
    ASSIGN_OR_RETURN(Bytes bytes, repo.load_blob(id, BlobType::kNode));
    ASSIGN_OR_RETURN(BTreeNodeImage node, decode_btree_node(bytes));
    for (const auto& child : node.children) stack.push_back(child.second);
    for (const auto& [key, value] : node.leaf) {
      if (key.size() != 17 || key[8] != kExtent) continue;
      ASSIGN_OR_RETURN(ExtentItem e, parse_extent_item(key, value));
      if (live->insert(e.value.id).second && !repo.find_blob(e.value.id)) {
        return missing("data chunk", e.value.id);
      }
    }
  }
  return Status::ok();
}

// ---- the engine ------------------------------------------------------------------

struct LiveFs::Impl : NodeStore {
  struct Refs {
    uint64_t lookups = 0;
    uint64_t opens = 0;
  };
  struct PendingBlob {
    BlobType type = BlobType::kData;
    std::shared_ptr<const Bytes> data;
  };
  // A piece of a read: zeros, bytes already copied, or part of a blob.
  struct ReadPiece {
    uint64_t at = 0;  // offset in the output
    uint64_t length = 0;
    bool blob = false;
    ChunkId id;
    uint64_t skip = 0;
    std::shared_ptr<const Bytes> pending;  // the blob's bytes when not yet durable
  };

  Impl(Repository& r, DatasetStore& d, const LiveOptions& o)
      : repo(r), datasets(d), opt(o), cache(o.record_cache_bytes), workers(2) {}
  ~Impl() override { stop_ahead(); }  // also when start() failed

  Repository& repo;
  DatasetStore& datasets;
  LiveOptions opt;
  RecordCache cache;
  ThreadPool workers;

  // Everything below mu: the tree, the working head, references and dirty
  // records. Held for metadata operations and for the locked phase of a sync.
  mutable std::mutex mu;
  std::unique_ptr<BTree> tree;
  DatasetHead head_;       // working copy (next_ino, counts); root/txg as last committed
  DatasetHead committed_;  // as last written to the store
  bool head_dirty = false;
  std::unordered_map<uint64_t, Refs> refs;
  std::map<uint64_t, std::map<uint64_t, std::shared_ptr<Bytes>>> dirty;  // ino -> record -> data
  uint64_t dirty_bytes = 0;
  std::condition_variable room_cv;  // writers waiting for dirty data to drain
  std::vector<ChunkId> unsynced;    // blobs of in-memory commits not yet durable
  SpaceInfo space_cached;
  std::chrono::steady_clock::time_point space_at{};

  std::mutex pending_mu;
  std::unordered_map<ChunkId, PendingBlob, ChunkIdHash> pending;  // GUARDED_BY(pending_mu)

  // Repository::flush must not overlap add_blob or load_blob.
  std::shared_mutex repo_mu;

  // Read-ahead: the blobs after a sequential reader's position are loaded
  // into the cache by a background thread while the reader copies the
  // current ones (decryption and pool reads overlap the FUSE round trips).
  std::unordered_map<uint64_t, uint64_t> last_read_end;  // GUARDED_BY(mu)
  std::mutex ahead_mu;
  std::condition_variable ahead_cv;
  std::deque<ChunkId> ahead_queue;  // GUARDED_BY(ahead_mu)
  bool ahead_stop = false;          // GUARDED_BY(ahead_mu)
  std::vector<std::thread> ahead_threads;  // one per core here: loading is CPU-bound

  std::mutex sync_mu;  // one sync at a time
  std::mutex wake_mu;
  std::condition_variable wake_cv;
  bool stopping = false;        // GUARDED_BY(wake_mu)
  bool sync_requested = false;  // GUARDED_BY(wake_mu)
  std::thread sync_thread;

  // ---- NodeStore ----
  Result<Bytes> load_node(const ChunkId& id) override {
    {
      std::lock_guard lock(pending_mu);
      auto it = pending.find(id);
      if (it != pending.end()) return Bytes(it->second.data->begin(), it->second.data->end());
    }
    std::shared_lock lock(repo_mu);
    return repo.load_blob(id, BlobType::kNode);
  }
  Result<ChunkId> store_node(Bytes encoded) override {
    const ChunkId id = repo.blob_id(encoded);
    add_pending(id, BlobType::kNode, std::make_shared<const Bytes>(std::move(encoded)));
    return id;
  }
  // REQUIRES: mu held (unsynced is guarded by it).
  void add_pending(const ChunkId& id, BlobType type, std::shared_ptr<const Bytes> data) {
    {
      std::lock_guard lock(pending_mu);
      pending[id] = PendingBlob{type, std::move(data)};
    }
    unsynced.push_back(id);
  }

  int64_t now() const { return opt.clock_ns ? opt.clock_ns() : realtime_ns(); }
  uint32_t recordsize() const { return head_.recordsize; }

  int fail(const Status& st) const {
    if (opt.on_error) {
      opt.on_error(st);
    } else {
      std::fprintf(stderr, "lares: dataset %s: %s\n", head_.name.c_str(), st.to_string().c_str());
    }
    return EIO;
  }

  // ---- items (REQUIRES: mu) ----
  Result<std::optional<LiveInode>> get_inode(uint64_t ino) {
    if (ino == 0 || ino >= kMaxIno) return std::optional<LiveInode>();
    ASSIGN_OR_RETURN(std::optional<Bytes> value, tree->get(inode_key(ino)));
    if (!value) return std::optional<LiveInode>();
    auto inode = decode_live_inode(*value);
    if (!inode.is_ok()) return inode.status().with_context("inode " + std::to_string(ino));
    return std::optional<LiveInode>(std::move(*inode));
  }
  Status put_inode(uint64_t ino, const LiveInode& inode) {
    return tree->put(inode_key(ino), encode_live_inode(inode));
  }
  Result<std::optional<Dirent>> get_dirent(uint64_t dir, std::string_view name) {
    ASSIGN_OR_RETURN(std::optional<Bytes> value, tree->get(named_key(dir, kDirent, name)));
    if (!value) return std::optional<Dirent>();
    auto d = decode_dirent(*value);
    if (!d.is_ok()) return d.status().with_context("directory " + std::to_string(dir));
    return std::optional<Dirent>(*d);
  }
  Result<bool> dir_empty(uint64_t dir) {
    ASSIGN_OR_RETURN(auto first, tree->lower_bound(item_prefix(dir, kDirent),
                                                   item_prefix(dir, kDirent + 1)));
    return !first.has_value();
  }

  // Loads an inode: 0, ENOENT, or EIO (logged) when it cannot be read.
  int load_inode(uint64_t ino, LiveInode* out) {
    auto found = get_inode(ino);
    if (!found.is_ok()) return fail(found.status());
    if (!found->has_value()) return ENOENT;
    *out = std::move(**found);
    return 0;
  }

  // Loads a directory inode for a change inside it: 0, or the errno.
  int load_dir(uint64_t dir, LiveInode* out) {
    auto inode = get_inode(dir);
    if (!inode.is_ok()) return fail(inode.status());
    if (!inode->has_value()) return ENOENT;
    if (!is_dir(**inode)) return ENOTDIR;
    if ((*inode)->nlink == 0) return ENOENT;  // removed while someone held it
    *out = std::move(**inode);
    return 0;
  }

  void touch_dir(LiveInode& dir) {
    dir.mtime_ns = dir.ctime_ns = now();
  }

  int fill_attr(uint64_t ino, const LiveInode& inode, LiveAttr* out) {
    if (out == nullptr) return 0;
    out->ino = ino;
    out->inode = inode;
    uint64_t bytes = 0;
    if (is_reg(inode)) {
      bytes = inode.allocated;
      auto d = dirty.find(ino);
      if (d != dirty.end()) {
        for (const auto& [rec, buf] : d->second) bytes += buf->size();
      }
      bytes = std::min(bytes, inode.size + recordsize());
    } else if (is_dir(inode) || file_type(inode.mode) == S_IFLNK) {
      bytes = 4096;
    }
    out->blocks = (bytes + 511) / 512;
    return 0;
  }

  // A new inode of `mode` in `parent` (not yet linked anywhere).
  int new_inode(const LiveInode& parent, uint32_t mode, const Caller& caller, uint64_t* ino,
                LiveInode* out) {
    if (head_.next_ino >= kMaxIno) return ENOSPC;
    *ino = head_.next_ino++;
    head_dirty = true;
    LiveInode i;
    i.mode = mode;
    i.uid = caller.uid;
    i.gid = caller.gid;
    if ((parent.mode & S_ISGID) != 0) {  // BSD group semantics in set-group-ID folders
      i.gid = parent.gid;
      if (file_type(mode) == S_IFDIR) i.mode |= S_ISGID;
    }
    i.nlink = 1;
    i.atime_ns = i.mtime_ns = i.ctime_ns = i.btime_ns = now();
    i.generation = head_.txg + 1;
    *out = std::move(i);
    ++head_.inodes;
    return 0;
  }

  // Links a new inode into `dir` and replies with its attributes.
  int finish_create(uint64_t dir, LiveInode& dir_inode, std::string_view name, uint64_t ino,
                    LiveInode& inode, LiveAttr* out) {
    if (inode.parent == 0) inode.parent = dir;  // a new inode (a link keeps its first parent)
    Status st = tree->put(named_key(dir, kDirent, name),
                          encode_dirent(Dirent{ino, file_type(inode.mode)}));
    if (st.is_ok()) st = put_inode(ino, inode);
    if (is_dir(inode)) ++dir_inode.nlink;
    touch_dir(dir_inode);
    if (st.is_ok()) st = put_inode(dir, dir_inode);
    if (!st.is_ok()) return fail(st);
    ++refs[ino].lookups;
    return fill_attr(ino, inode, out);
  }

  // Common checks for making `name` in `dir`.
  int prepare_create(uint64_t dir, std::string_view name, LiveInode* dir_inode) {
    if (opt.read_only) return EROFS;
    if (int e = check_name(name); e != 0) return e;
    if (int e = load_dir(dir, dir_inode); e != 0) return e;
    if (dir == kRootIno && name == kReservedRootName) return EEXIST;
    auto existing = get_dirent(dir, name);
    if (!existing.is_ok()) return fail(existing.status());
    if (existing->has_value()) return EEXIST;
    return 0;
  }

  // Frees an inode with no links, references or opens left: its items, its
  // dirty records, its orphan mark.
  Status maybe_free(uint64_t ino) {
    auto r = refs.find(ino);
    if (r != refs.end() && (r->second.lookups > 0 || r->second.opens > 0)) return Status::ok();
    ASSIGN_OR_RETURN(std::optional<LiveInode> inode, get_inode(ino));
    if (!inode || inode->nlink > 0) {
      if (r != refs.end()) refs.erase(r);
      return Status::ok();
    }
    RETURN_IF_ERROR(drop_extents(ino, 0, UINT64_MAX).status());
    drop_dirty(ino, 0);
    RETURN_IF_ERROR(tree->erase_range(item_prefix(ino, 0), item_prefix(ino + 1, 0)).status());
    RETURN_IF_ERROR(tree->erase(orphan_key(ino)).status());
    if (head_.inodes > 0) --head_.inodes;
    head_dirty = true;
    if (r != refs.end()) refs.erase(r);
    return Status::ok();
  }

  // One link of `ino` went away.
  Status drop_link(uint64_t ino, LiveInode& inode) {
    if (is_dir(inode)) {
      inode.nlink = 0;
    } else if (inode.nlink > 0) {
      --inode.nlink;
    }
    inode.ctime_ns = now();
    RETURN_IF_ERROR(put_inode(ino, inode));
    if (inode.nlink > 0) return Status::ok();
    RETURN_IF_ERROR(tree->put(orphan_key(ino), {}));
    return maybe_free(ino);
  }

  // ---- file data (REQUIRES: mu) ----

  // Removes the extents' bytes in [a, b), keeping the pieces outside it.
  // Returns how many bytes of extents went (for the inode's `allocated`).
  Result<uint64_t> drop_extents(uint64_t ino, uint64_t a, uint64_t b) {
    const Bytes end = item_prefix(ino, kExtent + 1);
    uint64_t pos = a;
    uint64_t dropped = 0;
    while (pos < b) {
      ASSIGN_OR_RETURN(auto found, tree->lower_bound(extent_key(ino, pos + 1), end));
      if (!found) break;
      ASSIGN_OR_RETURN(ExtentItem e, parse_extent_item(found->first, found->second));
      if (e.start >= b) break;
      RETURN_IF_ERROR(tree->erase(found->first).status());
      dropped += e.value.length;
      if (e.start < a) {
        ExtentValue head_piece{e.value.id, e.value.skip, a - e.start};
        RETURN_IF_ERROR(tree->put(extent_key(ino, a), encode_extent(head_piece)));
        dropped -= head_piece.length;
      }
      if (e.end > b) {
        ExtentValue tail{e.value.id, e.value.skip + (b - e.start), e.end - b};
        RETURN_IF_ERROR(tree->put(extent_key(ino, e.end), encode_extent(tail)));
        dropped -= tail.length;
        break;
      }
      pos = e.end;
    }
    head_.logical_bytes -= std::min(head_.logical_bytes, dropped);
    head_dirty = true;
    return dropped;
  }

  // Drops dirty records from record index `first` on.
  void drop_dirty(uint64_t ino, uint64_t first) {
    auto it = dirty.find(ino);
    if (it == dirty.end()) return;
    auto& records = it->second;
    for (auto r = records.lower_bound(first); r != records.end();) {
      dirty_bytes -= std::min<uint64_t>(dirty_bytes, r->second->size());
      r = records.erase(r);
    }
    if (records.empty()) dirty.erase(it);
    room_cv.notify_all();
  }

  // Plans a read of [offset, offset + length) of the committed extents
  // (ignoring dirty records) into pieces starting at output offset `at`.
  Status plan_extents(uint64_t ino, uint64_t offset, uint64_t length, uint64_t at,
                      std::vector<ReadPiece>* pieces) {
    const Bytes end_key = item_prefix(ino, kExtent + 1);
    uint64_t pos = offset;
    const uint64_t end = offset + length;
    while (pos < end) {
      ASSIGN_OR_RETURN(auto found, tree->lower_bound(extent_key(ino, pos + 1), end_key));
      if (!found) break;  // the rest is a hole
      ASSIGN_OR_RETURN(ExtentItem item, parse_extent_item(found->first, found->second));
      const ExtentValue& e = item.value;
      const uint64_t e_start = item.start, e_end = item.end;
      if (e_start >= end) break;
      if (e_start > pos) pos = e_start;  // a hole before it reads as zeros
      ReadPiece p;
      p.at = at + (pos - offset);
      p.length = std::min(e_end, end) - pos;
      p.blob = true;
      p.id = e.id;
      p.skip = e.skip + (pos - e_start);
      pieces->push_back(std::move(p));
      pos = std::min(e_end, end);
    }
    return Status::ok();
  }

  // Attaches the bytes of blobs not yet durable to their pieces.
  void attach_pending(std::vector<ReadPiece>& pieces) {
    std::lock_guard lock(pending_mu);
    for (ReadPiece& p : pieces) {
      if (!p.blob) continue;
      auto it = pending.find(p.id);
      if (it != pending.end()) p.pending = it->second.data;
    }
  }

  // Loads a data blob, through the cache.
  Result<std::shared_ptr<const Bytes>> load_data(const ChunkId& id) {
    if (auto hit = cache.get(id)) return hit;
    Result<Bytes> data = [&] {
      std::shared_lock lock(repo_mu);
      return repo.load_blob(id, BlobType::kData);
    }();
    if (!data.is_ok()) return data.status();
    auto shared = std::make_shared<const Bytes>(std::move(*data));
    cache.put(id, shared);
    return shared;
  }

  // Copies the blob pieces into `out` (zeros are already there).
  Status fill_pieces(const std::vector<ReadPiece>& pieces, uint8_t* out) {
    for (const ReadPiece& p : pieces) {
      if (!p.blob) continue;
      std::shared_ptr<const Bytes> data = p.pending;
      if (!data) {
        ASSIGN_OR_RETURN(data, load_data(p.id));
      }
      if (p.skip > data->size() || p.length > data->size() - p.skip) {
        return Status::corruption("extent points past the end of blob " + p.id.hex());
      }
      std::memcpy(out + p.at, data->data() + p.skip, static_cast<size_t>(p.length));
    }
    return Status::ok();
  }

  // The dirty record `rec` of `ino`, made from the committed bytes if need be,
  // holding at least its first `need_bytes` bytes. A dirty record's buffer is
  // only as long as what was written or loaded (a 4 KiB file costs 4 KiB, not
  // a whole record); the bytes of the record past the buffer read as zeros.
  // REQUIRES: mu; `size` is the file's size.
  Result<std::shared_ptr<Bytes>> dirty_record(uint64_t ino, uint64_t rec, uint64_t size,
                                              bool whole_overwrite, uint64_t need_bytes) {
    const uint64_t rs = recordsize();
    LARES_DCHECK(need_bytes <= rs);
    auto& records = dirty[ino];
    auto it = records.find(rec);
    if (it != records.end()) {
      Bytes& buf = *it->second;
      if (buf.size() < need_bytes) {
        dirty_bytes += need_bytes - buf.size();
        buf.resize(static_cast<size_t>(need_bytes), 0);
      }
      return it->second;
    }
    const uint64_t start = rec * rs;
    const uint64_t old_bytes = !whole_overwrite && start < size ? std::min(rs, size - start) : 0;
    auto buf = std::make_shared<Bytes>();
    buf->assign(static_cast<size_t>(std::max(need_bytes, old_bytes)), 0);
    if (old_bytes != 0) {
      std::vector<ReadPiece> pieces;
      RETURN_IF_ERROR(plan_extents(ino, start, old_bytes, 0, &pieces));
      attach_pending(pieces);
      RETURN_IF_ERROR(fill_pieces(pieces, buf->data()));
    }
    records.emplace(rec, buf);
    dirty_bytes += buf->size();
    return buf;
  }

  // Moves the file's end from inode.size to new_size (data past it is gone).
  Status resize(uint64_t ino, LiveInode& inode, uint64_t new_size) {
    const uint64_t rs = recordsize();
    if (new_size < inode.size) {
      ASSIGN_OR_RETURN(uint64_t dropped, drop_extents(ino, new_size, UINT64_MAX));
      inode.allocated -= std::min(inode.allocated, dropped);
      drop_dirty(ino, (new_size + rs - 1) / rs);
      // The bytes of a dirty record past the new end read as zeros if the
      // file grows again: the buffer ends at the new end.
      auto d = dirty.find(ino);
      if (d != dirty.end() && new_size % rs != 0) {
        auto r = d->second.find(new_size / rs);
        if (r != d->second.end() && r->second->size() > new_size % rs) {
          dirty_bytes -= std::min<uint64_t>(dirty_bytes, r->second->size() - new_size % rs);
          r->second->resize(static_cast<size_t>(new_size % rs));
        }
      }
    }
    inode.size = new_size;
    return Status::ok();
  }

  // Zeros [a, b) of a file (punch hole / zero range), inside its size.
  Status zero_range(uint64_t ino, LiveInode& inode, uint64_t a, uint64_t b) {
    if (a >= b) return Status::ok();
    ASSIGN_OR_RETURN(uint64_t dropped, drop_extents(ino, a, b));
    inode.allocated -= std::min(inode.allocated, dropped);
    auto d = dirty.find(ino);
    if (d == dirty.end()) return Status::ok();
    const uint64_t rs = recordsize();
    for (auto& [rec, buf] : d->second) {
      const uint64_t start = rec * rs;
      const uint64_t from = std::max(a, start);
      const uint64_t to = std::min(b, start + buf->size());
      if (from < to) {
        std::fill(buf->begin() + static_cast<ptrdiff_t>(from - start),
                  buf->begin() + static_cast<ptrdiff_t>(to - start), 0);
      }
    }
    return Status::ok();
  }

  // ---- read-ahead ----
  void ahead_loop() {
    std::unique_lock lock(ahead_mu);
    for (;;) {
      ahead_cv.wait(lock, [&] { return ahead_stop || !ahead_queue.empty(); });
      if (ahead_stop) return;
      const ChunkId id = ahead_queue.front();
      ahead_queue.pop_front();
      lock.unlock();
      (void)load_data(id);  // into the cache; a failure shows when it is read
      lock.lock();
    }
  }
  void stop_ahead() {
    {
      std::lock_guard lock(ahead_mu);
      ahead_stop = true;
    }
    ahead_cv.notify_all();
    for (auto& t : ahead_threads) t.join();
    ahead_threads.clear();
  }
  // Queues the blobs of the committed extents in [from, from + window) of
  // `ino` that are neither cached nor in flight. REQUIRES: mu.
  void read_ahead(uint64_t ino, uint64_t from, uint64_t size) {
    const uint64_t window = std::max<uint64_t>(uint64_t{4} << 20, 4 * uint64_t{recordsize()});
    if (from >= size) return;
    std::vector<ReadPiece> pieces;
    if (!plan_extents(ino, from, std::min(window, size - from), 0, &pieces).is_ok()) return;
    attach_pending(pieces);
    std::lock_guard lock(ahead_mu);
    for (const ReadPiece& p : pieces) {
      if (!p.blob || p.pending || ahead_queue.size() >= kAheadQueueMax) continue;
      if (std::find(ahead_queue.begin(), ahead_queue.end(), p.id) != ahead_queue.end()) continue;
      if (cache.get(p.id)) continue;
      ahead_queue.push_back(p.id);
    }
    ahead_cv.notify_one();
  }

  // ---- space ----
  SpaceInfo space() {
    if (!opt.space) return SpaceInfo{uint64_t{1} << 50, uint64_t{1} << 50};
    const auto t = std::chrono::steady_clock::now();
    if (space_at == std::chrono::steady_clock::time_point{} || t - space_at > kSpaceRefresh) {
      space_cached = opt.space();
      space_at = t;
    }
    return space_cached;
  }
  // ENOSPC / EDQUOT for `more` bytes of new dirty data, else 0.
  int check_space(uint64_t more) {
    const SpaceInfo s = space();
    if (s.available_bytes < dirty_bytes + more + kSpaceReserve) return ENOSPC;
    if (head_.quota_bytes != 0 && head_.logical_bytes + dirty_bytes + more > head_.quota_bytes) {
      return EDQUOT;
    }
    return 0;
  }

  void request_sync() {
    std::lock_guard lock(wake_mu);
    sync_requested = true;
    wake_cv.notify_all();
  }

  // ---- sync ----

  // The locked phase: records become extents, nodes are encoded.
  Status commit_locked(DatasetHead* next, std::vector<ChunkId>* batch) {
    struct Job {
      uint64_t ino, start, length;
      std::shared_ptr<Bytes> data;
      ChunkId id;
      bool zero = false;
    };
    std::vector<Job> jobs;
    const uint64_t rs = recordsize();
    for (auto& [ino, records] : dirty) {
      ASSIGN_OR_RETURN(std::optional<LiveInode> inode, get_inode(ino));
      if (!inode) continue;
      for (auto& [rec, data] : records) {
        const uint64_t start = rec * rs;
        if (start >= inode->size) continue;
        const uint64_t length = std::min(rs, inode->size - start);
        if (data->size() < length) data->resize(static_cast<size_t>(length), 0);  // zeros past it
        jobs.push_back(Job{ino, start, length, data, {}, false});
      }
    }
    workers.parallel_for(jobs.size(), [&](size_t n) {
      Job& j = jobs[n];
      ByteView bytes(j.data->data(), static_cast<size_t>(j.length));
      j.zero = all_zero(bytes);
      if (!j.zero) j.id = repo.blob_id(bytes);
    });
    // Jobs are grouped by inode (the dirty map is ordered by inode).
    for (size_t n = 0; n < jobs.size();) {
      const uint64_t ino = jobs[n].ino;
      ASSIGN_OR_RETURN(std::optional<LiveInode> inode, get_inode(ino));
      for (; n < jobs.size() && jobs[n].ino == ino; ++n) {
        Job& j = jobs[n];
        ASSIGN_OR_RETURN(uint64_t dropped, drop_extents(j.ino, j.start, j.start + j.length));
        inode->allocated -= std::min(inode->allocated, dropped);
        if (j.zero) continue;  // all zeros: stored as a hole
        RETURN_IF_ERROR(tree->put(extent_key(j.ino, j.start + j.length),
                                  encode_extent(ExtentValue{j.id, 0, j.length})));
        head_.logical_bytes += j.length;
        inode->allocated += j.length;
        j.data->resize(static_cast<size_t>(j.length));
        add_pending(j.id, BlobType::kData, std::move(j.data));
      }
      RETURN_IF_ERROR(put_inode(ino, *inode));
    }
    dirty.clear();
    dirty_bytes = 0;
    room_cv.notify_all();
    if (tree->dirty() || head_dirty || !unsynced.empty() || !head_.root) {
      ASSIGN_OR_RETURN(ChunkId root, tree->commit());
      if (!head_.root || *head_.root != root || head_dirty) {
        head_.root = root;
        ++head_.txg;
      }
      head_dirty = false;
    }
    *next = head_;
    *batch = unsynced;
    return Status::ok();
  }

  Status sync() {
    if (opt.read_only) return Status::ok();
    if (opt.ephemeral) {
      std::lock_guard lock(mu);
      DatasetHead next;
      std::vector<ChunkId> batch;
      return commit_locked(&next, &batch);  // in memory only: blobs stay pending
    }
    std::lock_guard sync_lock(sync_mu);
    DatasetHead next;
    std::vector<ChunkId> batch;
    {
      std::lock_guard lock(mu);
      RETURN_IF_ERROR(commit_locked(&next, &batch));
      if (batch.empty() && next == committed_) return Status::ok();
    }
    // Compress, encrypt and pack outside the lock, both cores at once.
    std::vector<Status> results(batch.size());
    workers.parallel_for(batch.size(), [&](size_t n) {
      PendingBlob blob;
      {
        std::lock_guard lock(pending_mu);
        auto it = pending.find(batch[n]);
        if (it == pending.end()) return;  // already durable (an earlier sync)
        blob = it->second;
      }
      std::shared_lock lock(repo_mu);
      auto added = repo.add_blob(blob.type, batch[n], *blob.data);
      if (!added.is_ok()) results[n] = added.status();
    });
    for (const Status& st : results) RETURN_IF_ERROR(st);
    {
      std::unique_lock lock(repo_mu);
      RETURN_IF_ERROR(repo.flush());
    }
    RETURN_IF_ERROR(datasets.save(next));
    {
      std::lock_guard lock(mu);
      committed_ = next;
      unsynced.erase(unsynced.begin(),
                     unsynced.begin() + static_cast<ptrdiff_t>(std::min(batch.size(), unsynced.size())));
      tree->evict_clean(opt.node_cache_bytes);
    }
    {
      std::lock_guard lock(pending_mu);
      for (const ChunkId& id : batch) pending.erase(id);
    }
    return Status::ok();
  }

  void sync_loop() {
    std::unique_lock lock(wake_mu);
    while (!stopping) {
      wake_cv.wait_for(lock, std::chrono::milliseconds(opt.txg_interval_ms),
                       [&] { return stopping || sync_requested; });
      if (stopping) break;
      sync_requested = false;
      lock.unlock();
      Status st = sync();
      if (!st.is_ok()) fail(st.with_context("sync"));
      lock.lock();
    }
  }

  // ---- open ----
  Status start(DatasetHead head) {
    for (int i = 0; i < kAheadThreads; ++i) ahead_threads.emplace_back([this] { ahead_loop(); });
    head_ = head;
    committed_ = head;
    if (head.root) {
      tree = std::make_unique<BTree>(*this, *head.root);
      ASSIGN_OR_RETURN(std::optional<LiveInode> root, get_inode(kRootIno));
      if (!root || !is_dir(*root)) {
        return Status::corruption("dataset '" + head.name + "' has no root folder");
      }
    } else {
      if (opt.read_only) return Status::failed_precondition("dataset has never been written");
      tree = std::make_unique<BTree>(*this);
      LiveInode root;
      root.mode = S_IFDIR | 0755;
      root.nlink = 2;
      root.parent = kRootIno;
      root.atime_ns = root.mtime_ns = root.ctime_ns = root.btime_ns = now();
      root.generation = 1;
      RETURN_IF_ERROR(put_inode(kRootIno, root));
      head_.inodes = 1;
      head_.next_ino = std::max<uint64_t>(head_.next_ino, 2);
      head_dirty = true;
    }
    if (!opt.read_only) {
      // Files unlinked while open when the last session ended.
      std::vector<uint64_t> orphans;
      RETURN_IF_ERROR(tree->scan(item_prefix(0, kOrphan), item_prefix(0, kOrphan + 1),
                                 [&](ByteView key, ByteView) {
                                   if (key.size() == 17) orphans.push_back(read_be64(key.subspan(9)));
                                   return true;
                                 }));
      {
        std::lock_guard lock(mu);
        for (uint64_t ino : orphans) RETURN_IF_ERROR(maybe_free(ino));
      }
      RETURN_IF_ERROR(sync());
      if (!opt.ephemeral) sync_thread = std::thread([this] { sync_loop(); });
    }
    return Status::ok();
  }
};

// ---- public surface ------------------------------------------------------------------

LiveFs::LiveFs(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Result<std::unique_ptr<LiveFs>> LiveFs::open(Repository& repo, DatasetStore& datasets,
                                             DatasetHead head, const LiveOptions& options) {
  auto impl = std::make_unique<Impl>(repo, datasets, options);
  RETURN_IF_ERROR(impl->start(std::move(head)));
  return std::unique_ptr<LiveFs>(new LiveFs(std::move(impl)));
}

LiveFs::~LiveFs() {
  if (!impl_) return;
  impl_->stop_ahead();
  if (impl_->sync_thread.joinable()) {
    {
      std::lock_guard lock(impl_->wake_mu);
      impl_->stopping = true;
      impl_->wake_cv.notify_all();
    }
    impl_->sync_thread.join();
  }
  Status st = impl_->sync();
  if (!st.is_ok()) impl_->fail(st.with_context("final sync"));
}

Status LiveFs::sync() { return impl_->sync(); }

DatasetHead LiveFs::head() const {
  std::lock_guard lock(impl_->mu);
  return impl_->committed_;
}

int LiveFs::lookup(uint64_t parent, std::string_view name, LiveAttr* out) {
  auto& m = *impl_;
  std::lock_guard lock(m.mu);
  if (name.size() > kMaxNameBytes) return ENAMETOOLONG;
  LiveInode dir;
  if (int e = m.load_dir(parent, &dir); e != 0) return e;
  uint64_t ino = 0;
  if (name == ".") {
    ino = parent;
  } else if (name == "..") {
    ino = dir.parent;
  } else {
    auto d = m.get_dirent(parent, name);
    if (!d.is_ok()) return m.fail(d.status());
    if (!d->has_value()) return ENOENT;
    ino = (*d)->ino;
  }
  auto inode = m.get_inode(ino);
  if (!inode.is_ok()) return m.fail(inode.status());
  if (!inode->has_value()) {
    return m.fail(Status::corruption("entry '" + std::string(name) + "' names missing inode " +
                                     std::to_string(ino)));
  }
  ++m.refs[ino].lookups;
  return m.fill_attr(ino, **inode, out);
}

void LiveFs::forget(uint64_t ino, uint64_t count) {
  auto& m = *impl_;
  std::lock_guard lock(m.mu);
  auto it = m.refs.find(ino);
  if (it == m.refs.end()) return;
  it->second.lookups -= std::min(it->second.lookups, count);
  if (m.opt.read_only) return;
  Status st = m.maybe_free(ino);
  if (!st.is_ok()) m.fail(st);
}

int LiveFs::getattr(uint64_t ino, LiveAttr* out) {
  auto& m = *impl_;
  std::lock_guard lock(m.mu);
  auto inode = m.get_inode(ino);
  if (!inode.is_ok()) return m.fail(inode.status());
  if (!inode->has_value()) return ENOENT;
  return m.fill_attr(ino, **inode, out);
}

int LiveFs::setattr(uint64_t ino, const SetAttr& c, LiveAttr* out) {
  auto& m = *impl_;
  std::lock_guard lock(m.mu);
  if (m.opt.read_only) return EROFS;
  LiveInode inode;
  if (int e = m.load_inode(ino, &inode); e != 0) return e;
  const int64_t t = m.now();
  if (c.set_size) {
    if (is_dir(inode)) return EISDIR;
    if (!is_reg(inode)) return EINVAL;
    if (c.size > kMaxFileSize) return EFBIG;
    if (c.size != inode.size || !(c.set_mtime || c.mtime_now)) {
      inode.mtime_ns = t;
    }
    Status st = m.resize(ino, inode, c.size);
    if (!st.is_ok()) return m.fail(st);
  }
  if (c.set_mode) inode.mode = file_type(inode.mode) | (c.mode & 07777);
  if (c.set_uid) inode.uid = c.uid;
  if (c.set_gid) inode.gid = c.gid;
  if (c.atime_now) {
    inode.atime_ns = t;
  } else if (c.set_atime) {
    inode.atime_ns = c.atime_ns;
  }
  if (c.mtime_now) {
    inode.mtime_ns = t;
  } else if (c.set_mtime) {
    inode.mtime_ns = c.mtime_ns;
  }
  inode.ctime_ns = c.set_ctime ? c.ctime_ns : t;
  Status st = m.put_inode(ino, inode);
  if (!st.is_ok()) return m.fail(st);
  return m.fill_attr(ino, inode, out);
}

int LiveFs::mknod(uint64_t parent, std::string_view name, uint32_t mode, uint64_t rdev,
                  const Caller& caller, LiveAttr* out) {
  auto& m = *impl_;
  std::lock_guard lock(m.mu);
  const uint32_t type = file_type(mode);
  if (type != S_IFREG && type != S_IFIFO && type != S_IFSOCK && type != S_IFCHR &&
      type != S_IFBLK) {
    return type == S_IFDIR ? EPERM : EINVAL;
  }
  LiveInode dir;
  if (int e = m.prepare_create(parent, name, &dir); e != 0) return e;
  uint64_t ino = 0;
  LiveInode inode;
  if (int e = m.new_inode(dir, type | (mode & 07777), caller, &ino, &inode); e != 0) return e;
  if (type == S_IFCHR || type == S_IFBLK) inode.rdev = rdev;
  return m.finish_create(parent, dir, name, ino, inode, out);
}

int LiveFs::mkdir(uint64_t parent, std::string_view name, uint32_t mode, const Caller& caller,
                  LiveAttr* out) {
  auto& m = *impl_;
  std::lock_guard lock(m.mu);
  LiveInode dir;
  if (int e = m.prepare_create(parent, name, &dir); e != 0) return e;
  if (dir.nlink >= kMaxLinks) return EMLINK;
  uint64_t ino = 0;
  LiveInode inode;
  if (int e = m.new_inode(dir, S_IFDIR | (mode & 07777), caller, &ino, &inode); e != 0) return e;
  inode.nlink = 2;
  inode.parent = parent;
  return m.finish_create(parent, dir, name, ino, inode, out);
}

int LiveFs::symlink(uint64_t parent, std::string_view name, std::string_view target,
                    const Caller& caller, LiveAttr* out) {
  auto& m = *impl_;
  std::lock_guard lock(m.mu);
  if (target.empty()) return ENOENT;
  if (target.size() > kMaxSymlinkBytes) return ENAMETOOLONG;
  LiveInode dir;
  if (int e = m.prepare_create(parent, name, &dir); e != 0) return e;
  uint64_t ino = 0;
  LiveInode inode;
  if (int e = m.new_inode(dir, S_IFLNK | 0777, caller, &ino, &inode); e != 0) return e;
  inode.symlink_target.assign(target);
  inode.size = target.size();
  return m.finish_create(parent, dir, name, ino, inode, out);
}

int LiveFs::readlink(uint64_t ino, std::string* out) {
  auto& m = *impl_;
  std::lock_guard lock(m.mu);
  auto inode = m.get_inode(ino);
  if (!inode.is_ok()) return m.fail(inode.status());
  if (!inode->has_value()) return ENOENT;
  if (file_type((*inode)->mode) != S_IFLNK) return EINVAL;
  *out = (*inode)->symlink_target;
  return 0;
}

int LiveFs::link(uint64_t ino, uint64_t new_parent, std::string_view new_name, LiveAttr* out) {
  auto& m = *impl_;
  std::lock_guard lock(m.mu);
  LiveInode dir;
  if (int e = m.prepare_create(new_parent, new_name, &dir); e != 0) return e;
  LiveInode inode;
  if (int e = m.load_inode(ino, &inode); e != 0) return e;
  if (is_dir(inode)) return EPERM;
  if (inode.nlink == 0) return ENOENT;
  if (inode.nlink >= kMaxLinks) return EMLINK;
  ++inode.nlink;
  inode.ctime_ns = m.now();
  return m.finish_create(new_parent, dir, new_name, ino, inode, out);
}

int LiveFs::unlink(uint64_t parent, std::string_view name) {
  auto& m = *impl_;
  std::lock_guard lock(m.mu);
  if (m.opt.read_only) return EROFS;
  if (int e = check_name(name); e != 0) return e;
  LiveInode dir;
  if (int e = m.load_dir(parent, &dir); e != 0) return e;
  auto d = m.get_dirent(parent, name);
  if (!d.is_ok()) return m.fail(d.status());
  if (!d->has_value()) return ENOENT;
  if ((*d)->type == S_IFDIR) return EISDIR;
  auto found = m.get_inode((*d)->ino);
  if (!found.is_ok()) return m.fail(found.status());
  if (!found->has_value()) return m.fail(Status::corruption("entry names a missing inode"));
  LiveInode inode = std::move(**found);
  Status st = m.tree->erase(named_key(parent, kDirent, name)).status();
  m.touch_dir(dir);
  if (st.is_ok()) st = m.put_inode(parent, dir);
  if (st.is_ok()) st = m.drop_link((*d)->ino, inode);
  return st.is_ok() ? 0 : m.fail(st);
}

int LiveFs::rmdir(uint64_t parent, std::string_view name) {
  auto& m = *impl_;
  std::lock_guard lock(m.mu);
  if (m.opt.read_only) return EROFS;
  if (name == ".") return EINVAL;
  if (name == "..") return ENOTEMPTY;
  if (int e = check_name(name); e != 0) return e;
  LiveInode dir;
  if (int e = m.load_dir(parent, &dir); e != 0) return e;
  auto d = m.get_dirent(parent, name);
  if (!d.is_ok()) return m.fail(d.status());
  if (!d->has_value()) return ENOENT;
  if ((*d)->type != S_IFDIR) return ENOTDIR;
  const uint64_t ino = (*d)->ino;
  auto empty = m.dir_empty(ino);
  if (!empty.is_ok()) return m.fail(empty.status());
  if (!*empty) return ENOTEMPTY;
  auto found = m.get_inode(ino);
  if (!found.is_ok()) return m.fail(found.status());
  if (!found->has_value()) return m.fail(Status::corruption("entry names a missing inode"));
  LiveInode inode = std::move(**found);
  Status st = m.tree->erase(named_key(parent, kDirent, name)).status();
  if (dir.nlink > 2) --dir.nlink;
  m.touch_dir(dir);
  if (st.is_ok()) st = m.put_inode(parent, dir);
  if (st.is_ok()) st = m.drop_link(ino, inode);
  return st.is_ok() ? 0 : m.fail(st);
}

int LiveFs::rename(uint64_t parent, std::string_view name, uint64_t new_parent,
                   std::string_view new_name, unsigned flags) {
  auto& m = *impl_;
  std::lock_guard lock(m.mu);
  if (m.opt.read_only) return EROFS;
  if ((flags & ~unsigned{RENAME_NOREPLACE | RENAME_EXCHANGE}) != 0 ||
      ((flags & RENAME_NOREPLACE) != 0 && (flags & RENAME_EXCHANGE) != 0)) {
    return EINVAL;
  }
  if (int e = check_name(name); e != 0) return e;
  if (int e = check_name(new_name); e != 0) return e;
  if (new_parent == kRootIno && new_name == kReservedRootName) return EEXIST;
  LiveInode src_dir, dst_dir;
  if (int e = m.load_dir(parent, &src_dir); e != 0) return e;
  if (int e = m.load_dir(new_parent, &dst_dir); e != 0) return e;
  auto src = m.get_dirent(parent, name);
  if (!src.is_ok()) return m.fail(src.status());
  if (!src->has_value()) return ENOENT;
  auto dst = m.get_dirent(new_parent, new_name);
  if (!dst.is_ok()) return m.fail(dst.status());
  const Dirent s = **src;
  const std::optional<Dirent> d = *dst;
  if ((flags & RENAME_EXCHANGE) && !d) return ENOENT;
  if ((flags & RENAME_NOREPLACE) && d) return EEXIST;

  // A folder may not move into itself or below itself.
  auto inside = [&](uint64_t dir, uint64_t ancestor) -> Result<bool> {
    uint64_t at = dir;
    for (int depth = 0; depth < 100000; ++depth) {
      if (at == ancestor) return true;
      if (at == kRootIno) return false;
      ASSIGN_OR_RETURN(std::optional<LiveInode> i, m.get_inode(at));
      if (!i) return Status::corruption("a folder's parent chain is broken");
      at = i->parent;
    }
    return Status::corruption("a folder's parent chain loops");
  };
  if (s.type == S_IFDIR && parent != new_parent) {
    auto in = inside(new_parent, s.ino);
    if (!in.is_ok()) return m.fail(in.status());
    if (*in) return EINVAL;
  }
  if (d && d->type == S_IFDIR && (flags & RENAME_EXCHANGE) && parent != new_parent) {
    auto in = inside(parent, d->ino);
    if (!in.is_ok()) return m.fail(in.status());
    if (*in) return EINVAL;
  }
  if (d && d->ino == s.ino) return 0;  // two names of one file: nothing to do
  const int64_t t = m.now();
  Status st;
  // Moves a folder `ino` from `from` to `to` (parent field, link counts).
  auto reparent = [&](uint64_t ino, LiveInode& from, LiveInode& to, uint64_t to_ino) -> Status {
    ASSIGN_OR_RETURN(std::optional<LiveInode> i, m.get_inode(ino));
    if (!i) return Status::corruption("entry names a missing inode");
    i->parent = to_ino;
    i->ctime_ns = t;
    if (&from != &to) {
      if (from.nlink > 2) --from.nlink;
      ++to.nlink;
    }
    return m.put_inode(ino, *i);
  };
  // A non-folder's ctime changes, and its parent follows when it was there.
  auto moved = [&](uint64_t ino, uint64_t from, uint64_t to) -> Status {
    ASSIGN_OR_RETURN(std::optional<LiveInode> i, m.get_inode(ino));
    if (!i) return Status::corruption("entry names a missing inode");
    i->ctime_ns = t;
    if (i->parent == from) i->parent = to;
    return m.put_inode(ino, *i);
  };
  // When both names are in one folder, src_dir and dst_dir are one inode.
  LiveInode& to_dir = parent == new_parent ? src_dir : dst_dir;
  if (flags & RENAME_EXCHANGE) {
    st = m.tree->put(named_key(parent, kDirent, name), encode_dirent(*d));
    if (st.is_ok()) st = m.tree->put(named_key(new_parent, kDirent, new_name), encode_dirent(s));
    if (st.is_ok() && s.type == S_IFDIR) st = reparent(s.ino, src_dir, to_dir, new_parent);
    if (st.is_ok() && d->type == S_IFDIR) st = reparent(d->ino, to_dir, src_dir, parent);
    if (st.is_ok() && s.type != S_IFDIR) st = moved(s.ino, parent, new_parent);
    if (st.is_ok() && d->type != S_IFDIR) st = moved(d->ino, new_parent, parent);
  } else {
    std::optional<LiveInode> victim;
    if (d) {
      if (s.type == S_IFDIR && d->type != S_IFDIR) return ENOTDIR;
      if (s.type != S_IFDIR && d->type == S_IFDIR) return EISDIR;
      if (d->type == S_IFDIR) {
        auto empty = m.dir_empty(d->ino);
        if (!empty.is_ok()) return m.fail(empty.status());
        if (!*empty) return ENOTEMPTY;
      }
      auto v = m.get_inode(d->ino);
      if (!v.is_ok()) return m.fail(v.status());
      if (!v->has_value()) return m.fail(Status::corruption("entry names a missing inode"));
      victim = std::move(**v);
    } else if (s.type == S_IFDIR && parent != new_parent && dst_dir.nlink >= kMaxLinks) {
      return EMLINK;
    }
    st = m.tree->erase(named_key(parent, kDirent, name)).status();
    if (st.is_ok()) st = m.tree->put(named_key(new_parent, kDirent, new_name), encode_dirent(s));
    if (st.is_ok() && victim && d->type == S_IFDIR && to_dir.nlink > 2) --to_dir.nlink;
    if (st.is_ok() && s.type == S_IFDIR) {
      st = reparent(s.ino, src_dir, to_dir, new_parent);
    } else if (st.is_ok()) {
      st = moved(s.ino, parent, new_parent);
    }
    if (st.is_ok() && victim) st = m.drop_link(d->ino, *victim);
  }
  src_dir.mtime_ns = src_dir.ctime_ns = t;
  to_dir.mtime_ns = to_dir.ctime_ns = t;
  if (st.is_ok()) st = m.put_inode(parent, src_dir);
  if (st.is_ok() && parent != new_parent) st = m.put_inode(new_parent, dst_dir);
  return st.is_ok() ? 0 : m.fail(st);
}

int LiveFs::list_dir(uint64_t ino, std::vector<LiveDirEntry>* out) {
  auto& m = *impl_;
  std::lock_guard lock(m.mu);
  LiveInode dir;
  if (int e = m.load_dir(ino, &dir); e != 0) return e;
  out->clear();
  Status bad;
  Status st = m.tree->scan(item_prefix(ino, kDirent), item_prefix(ino, kDirent + 1),
                           [&](ByteView key, ByteView value) {
                             auto d = decode_dirent(value);
                             if (!d.is_ok()) {
                               bad = d.status();
                               return false;
                             }
                             LiveDirEntry e;
                             e.name.assign(as_chars(key.subspan(9)));
                             e.ino = d->ino;
                             e.type = d->type;
                             out->push_back(std::move(e));
                             return true;
                           });
  if (st.is_ok()) st = bad;
  return st.is_ok() ? 0 : m.fail(st.with_context("directory " + std::to_string(ino)));
}

int LiveFs::open(uint64_t ino, int flags) {
  auto& m = *impl_;
  std::lock_guard lock(m.mu);
  auto inode = m.get_inode(ino);
  if (!inode.is_ok()) return m.fail(inode.status());
  if (!inode->has_value()) return ENOENT;
  if (m.opt.read_only && (flags & O_ACCMODE) != O_RDONLY) return EROFS;
  ++m.refs[ino].opens;
  return 0;
}

void LiveFs::release(uint64_t ino) {
  auto& m = *impl_;
  std::lock_guard lock(m.mu);
  auto it = m.refs.find(ino);
  if (it == m.refs.end()) return;
  if (it->second.opens > 0) --it->second.opens;
  if (m.opt.read_only) return;
  Status st = m.maybe_free(ino);
  if (!st.is_ok()) m.fail(st);
}

int LiveFs::read(uint64_t ino, uint64_t offset, uint64_t size, Bytes* out) {
  auto& m = *impl_;
  std::vector<Impl::ReadPiece> pieces;
  {
    std::lock_guard lock(m.mu);
    LiveInode inode;
    if (int e = m.load_inode(ino, &inode); e != 0) return e;
    if (is_dir(inode)) return EISDIR;
    if (!is_reg(inode)) return EINVAL;
    if (offset >= inode.size) {
      out->clear();
      return 0;
    }
    const uint64_t length = std::min(size, inode.size - offset);
    out->assign(static_cast<size_t>(length), 0);
    const uint64_t rs = m.recordsize();
    auto d = m.dirty.find(ino);
    uint64_t pos = offset;
    const uint64_t end = offset + length;
    while (pos < end) {
      const uint64_t rec = pos / rs;
      const uint64_t rec_end = std::min(end, (rec + 1) * rs);
      if (d != m.dirty.end()) {
        auto r = d->second.find(rec);
        if (r != d->second.end()) {
          // Past the buffer's end the record reads as zeros (already in *out).
          const uint64_t in_rec = pos - rec * rs;
          const uint64_t have = r->second->size() > in_rec ? r->second->size() - in_rec : 0;
          std::memcpy(out->data() + (pos - offset), r->second->data() + in_rec,
                      static_cast<size_t>(std::min(have, rec_end - pos)));
          pos = rec_end;
          continue;
        }
      }
      // Up to the next dirty record (or the end) from the committed extents.
      uint64_t stop = end;
      if (d != m.dirty.end()) {
        auto next = d->second.upper_bound(rec);
        if (next != d->second.end()) stop = std::min(stop, next->first * rs);
      }
      Status st = m.plan_extents(ino, pos, stop - pos, pos - offset, &pieces);
      if (!st.is_ok()) return m.fail(st);
      pos = stop;
    }
    m.attach_pending(pieces);
    // A read that starts where the last one ended is sequential: read ahead.
    if (m.last_read_end.size() >= kReadersTracked) m.last_read_end.clear();
    auto [last, fresh] = m.last_read_end.try_emplace(ino, end);
    if (!fresh) {
      if (last->second == offset) m.read_ahead(ino, end, inode.size);
      last->second = end;
    }
  }
  Status st = m.fill_pieces(pieces, out->data());
  return st.is_ok() ? 0 : m.fail(st.with_context("inode " + std::to_string(ino)));
}

int LiveFs::write(uint64_t ino, uint64_t offset, ByteView data, bool append,
                  uint64_t* written_at) {
  auto& m = *impl_;
  std::unique_lock lock(m.mu);
  if (m.opt.read_only) return EROFS;
  // Throttle: wait (do not fail) while too much is dirty.
  while (m.dirty_bytes > m.opt.dirty_max_bytes) {
    lock.unlock();
    m.request_sync();
    lock.lock();
    m.room_cv.wait_for(lock, std::chrono::milliseconds(100),
                       [&] { return m.dirty_bytes <= m.opt.dirty_max_bytes; });
  }
  LiveInode inode;
  if (int e = m.load_inode(ino, &inode); e != 0) return e;
  if (is_dir(inode)) return EISDIR;
  if (!is_reg(inode)) return EINVAL;
  if (append) offset = inode.size;
  if (written_at != nullptr) *written_at = offset;
  if (data.empty()) return 0;
  if (offset > kMaxFileSize || data.size() > kMaxFileSize - offset) return EFBIG;
  if (int e = m.check_space(data.size()); e != 0) return e;
  const uint64_t rs = m.recordsize();
  const uint64_t end = offset + data.size();
  uint64_t pos = offset;
  while (pos < end) {
    const uint64_t rec = pos / rs;
    const uint64_t rec_start = rec * rs;
    const uint64_t rec_end = std::min(end, rec_start + rs);
    // A record written whole, or lying wholly past the end of the file,
    // needs none of its old bytes.
    const bool whole = (pos == rec_start && rec_end == rec_start + rs) || rec_start >= inode.size;
    auto buf = m.dirty_record(ino, rec, inode.size, whole, rec_end - rec_start);
    if (!buf.is_ok()) return m.fail(buf.status());
    std::memcpy((*buf)->data() + (pos - rec_start), data.data() + (pos - offset),
                static_cast<size_t>(rec_end - pos));
    pos = rec_end;
  }
  inode.size = std::max(inode.size, end);
  inode.mtime_ns = inode.ctime_ns = m.now();
  Status st = m.put_inode(ino, inode);
  if (!st.is_ok()) return m.fail(st);
  const bool want_sync = m.dirty_bytes > m.opt.dirty_sync_bytes;
  lock.unlock();
  if (want_sync) m.request_sync();
  return 0;
}

int LiveFs::fallocate(uint64_t ino, int mode, uint64_t offset, uint64_t length) {
  auto& m = *impl_;
  std::lock_guard lock(m.mu);
  if (m.opt.read_only) return EROFS;
  if (length == 0) return EINVAL;
  if (offset > kMaxFileSize || length > kMaxFileSize - offset) return EFBIG;
  LiveInode inode;
  if (int e = m.load_inode(ino, &inode); e != 0) return e;
  if (is_dir(inode)) return EISDIR;
  if (!is_reg(inode)) return ENODEV;
  const uint64_t end = offset + length;
  Status st;
  if (mode == 0 || mode == FALLOC_FL_KEEP_SIZE) {
    // Copy-on-write cannot reserve blocks ahead; like ZFS, allocation only
    // checks that the space is there now and grows the size.
    if (end > inode.size && m.space().available_bytes < end - inode.size + kSpaceReserve) return ENOSPC;
    if (mode == 0 && end > inode.size) {
      inode.size = end;
      inode.ctime_ns = m.now();
    } else {
      return 0;
    }
  } else if (mode == (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE)) {
    st = m.zero_range(ino, inode, offset, std::min(end, inode.size));
    inode.mtime_ns = inode.ctime_ns = m.now();
  } else if (mode == FALLOC_FL_ZERO_RANGE || mode == (FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE)) {
    st = m.zero_range(ino, inode, offset, std::min(end, inode.size));
    if (!(mode & FALLOC_FL_KEEP_SIZE) && end > inode.size) inode.size = end;
    inode.mtime_ns = inode.ctime_ns = m.now();
  } else {
    return EOPNOTSUPP;
  }
  if (st.is_ok()) st = m.put_inode(ino, inode);
  return st.is_ok() ? 0 : m.fail(st);
}

int LiveFs::fsync(uint64_t /*ino*/, bool /*datasync*/) {
  Status st = impl_->sync();
  return st.is_ok() ? 0 : impl_->fail(st.with_context("fsync"));
}

int LiveFs::setxattr(uint64_t ino, std::string_view name, ByteView value, int flags) {
  auto& m = *impl_;
  std::lock_guard lock(m.mu);
  if (m.opt.read_only) return EROFS;
  if (name.empty() || name.size() > kMaxXattrNameBytes) return ERANGE;
  if (value.size() > kMaxXattrValueBytes) return E2BIG;
  // user., trusted. and security. are stored; system. (ACLs: the mount's
  // default_permissions rules instead) and unknown namespaces are not.
  if (!name.starts_with("user.") && !name.starts_with("trusted.") &&
      !name.starts_with("security.")) {
    return EOPNOTSUPP;
  }
  LiveInode inode;
  if (int e = m.load_inode(ino, &inode); e != 0) return e;
  const Bytes key = named_key(ino, kXattr, name);
  auto existing = m.tree->get(key);
  if (!existing.is_ok()) return m.fail(existing.status());
  if ((flags & XATTR_CREATE) && existing->has_value()) return EEXIST;
  if ((flags & XATTR_REPLACE) && !existing->has_value()) return ENODATA;
  inode.ctime_ns = m.now();
  Status st = m.tree->put(key, value);
  if (st.is_ok()) st = m.put_inode(ino, inode);
  return st.is_ok() ? 0 : m.fail(st);
}

int LiveFs::getxattr(uint64_t ino, std::string_view name, Bytes* out) {
  auto& m = *impl_;
  std::lock_guard lock(m.mu);
  if (name.empty() || name.size() > kMaxXattrNameBytes) return ERANGE;
  LiveInode inode;
  if (int e = m.load_inode(ino, &inode); e != 0) return e;
  auto value = m.tree->get(named_key(ino, kXattr, name));
  if (!value.is_ok()) return m.fail(value.status());
  if (!value->has_value()) return ENODATA;
  *out = std::move(**value);
  return 0;
}

int LiveFs::listxattr(uint64_t ino, std::vector<std::string>* out) {
  auto& m = *impl_;
  std::lock_guard lock(m.mu);
  LiveInode inode;
  if (int e = m.load_inode(ino, &inode); e != 0) return e;
  out->clear();
  Status st = m.tree->scan(item_prefix(ino, kXattr), item_prefix(ino, kXattr + 1),
                           [&](ByteView key, ByteView) {
                             out->emplace_back(as_chars(key.subspan(9)));
                             return true;
                           });
  return st.is_ok() ? 0 : m.fail(st);
}

int LiveFs::removexattr(uint64_t ino, std::string_view name) {
  auto& m = *impl_;
  std::lock_guard lock(m.mu);
  if (m.opt.read_only) return EROFS;
  if (name.empty() || name.size() > kMaxXattrNameBytes) return ERANGE;
  LiveInode inode;
  if (int e = m.load_inode(ino, &inode); e != 0) return e;
  auto erased = m.tree->erase(named_key(ino, kXattr, name));
  if (!erased.is_ok()) return m.fail(erased.status());
  if (!*erased) return ENODATA;
  inode.ctime_ns = m.now();
  Status st = m.put_inode(ino, inode);
  return st.is_ok() ? 0 : m.fail(st);
}

int LiveFs::import_extent(uint64_t ino, uint64_t offset, const ChunkId& id, uint64_t length) {
  auto& m = *impl_;
  std::lock_guard lock(m.mu);
  if (m.opt.read_only) return EROFS;
  if (length == 0) return EINVAL;
  if (offset > kMaxFileSize || length > kMaxFileSize - offset) return EFBIG;
  LiveInode inode;
  if (int e = m.load_inode(ino, &inode); e != 0) return e;
  if (!is_reg(inode)) return EINVAL;
  m.drop_dirty(ino, offset / m.recordsize());  // imports come before any write
  auto dropped = m.drop_extents(ino, offset, offset + length);
  if (!dropped.is_ok()) return m.fail(dropped.status());
  inode.allocated -= std::min(inode.allocated, *dropped);
  Status st = m.tree->put(extent_key(ino, offset + length), encode_extent(ExtentValue{id, 0, length}));
  m.head_.logical_bytes += length;
  inode.allocated += length;
  inode.size = std::max(inode.size, offset + length);
  if (st.is_ok()) st = m.put_inode(ino, inode);
  return st.is_ok() ? 0 : m.fail(st);
}

void LiveFs::set_read_only() {
  std::lock_guard lock(impl_->mu);
  impl_->opt.read_only = true;
}

int LiveFs::statfs(LiveStatfs* out) {
  auto& m = *impl_;
  std::lock_guard lock(m.mu);
  const SpaceInfo s = m.space();
  *out = LiveStatfs{};
  out->block_size = m.recordsize();
  out->total_bytes = s.total_bytes;
  const uint64_t reserved = m.dirty_bytes + kSpaceReserve;
  out->free_bytes = s.available_bytes > reserved ? s.available_bytes - reserved : 0;
  if (m.head_.quota_bytes != 0) {
    out->total_bytes = std::min(out->total_bytes, m.head_.quota_bytes);
    const uint64_t used = m.head_.logical_bytes + m.dirty_bytes;
    out->free_bytes =
        std::min(out->free_bytes, m.head_.quota_bytes > used ? m.head_.quota_bytes - used : 0);
  }
  out->files = m.head_.inodes;
  out->files_free = kMaxIno - m.head_.next_ino;
  out->name_max = static_cast<uint32_t>(kMaxNameBytes);
  return 0;
}

}  // namespace lares
