// A copy-on-write B+tree of byte-string keys and values whose nodes are
// blobs of the repository: the metadata of a live dataset (fs/live_fs.h).
//
// Every version of a dataset is one root node id. A node is stored once and
// never changed; a commit writes new blobs for the nodes changed since the
// last commit (and their ancestors) and leaves every other node shared with
// earlier versions. A snapshot is therefore O(1) (keep the root id), and the
// nodes of an unchanged subtree have the same id in every version, which
// makes diffs and replication skip them.
//
// In memory the tree is mutable: nodes are loaded on first use, changed in
// place, and marked dirty; commit() encodes the dirty ones bottom-up, hands
// each to the NodeStore, and returns the new root id. Clean nodes may be
// dropped from memory (evict_clean) and are loaded again by id when needed.
//
// Node blob, version 1 (docs/FORMAT.md, "Live datasets"). u = LEB128 varint,
// str = u length || bytes, id = 32 raw bytes:
//
//   u8  version = 1
//   u8  level            0 for a leaf, the height above the leaves otherwise
//   u   entry count      (0 only for the empty tree's root leaf)
//   leaf entries, keys strictly ascending (bytewise):
//     str key (1..kMaxKeyLength)  str value (0..kMaxValueLength)
//   interior entries (count >= 1), keys strictly ascending:
//     str key  id child   (the child holds keys >= key and < the next
//                          entry's key; the first entry's key is the
//                          smallest key of its subtree)
//   (end: no trailing bytes)
//
// Thread safety: none. The owner (LiveFs) serialises every call.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>

#include "codec/keyed_hash.h"
#include "util/bytes.h"
#include "util/status.h"

namespace lares {

inline constexpr uint8_t kBTreeNodeVersion = 1;
inline constexpr size_t kMaxKeyLength = 1024;
inline constexpr size_t kMaxValueLength = size_t{128} << 10;

// Where nodes live. Production: the repository (blob type kNode) through
// LiveFs, which also keeps nodes of a commit in flight; tests: a map.
class NodeStore {
 public:
  virtual ~NodeStore() = default;
  // The encoded node stored under `id` (kNotFound, kCorruption, kIOError).
  virtual Result<Bytes> load_node(const ChunkId& id) = 0;
  // Stores an encoded node and returns its id (a keyed hash of the bytes).
  virtual Result<ChunkId> store_node(Bytes encoded) = 0;
};

// One node as stored, decoded. Exposed for the fuzz target, the format test
// and diff walks (fs/live_diff).
struct BTreeNodeImage {
  uint8_t level = 0;
  std::vector<std::pair<Bytes, Bytes>> leaf;      // level 0: key, value
  std::vector<std::pair<Bytes, ChunkId>> children;  // level > 0: key, child
};
// REQUIRES: the image satisfies the rules above.
Bytes encode_btree_node(const BTreeNodeImage& node);
// Strict: kCorruption naming the rule broken, kFailedPrecondition for an
// unknown version. Never allocates more than the input's size justifies.
Result<BTreeNodeImage> decode_btree_node(ByteView bytes);

struct BTreeOptions {
  // A node is split once its encoding would pass this size (a node holding a
  // single entry larger than this is allowed). Nodes below a quarter of it
  // are merged with or borrow from a neighbour.
  size_t max_node_bytes = size_t{32} << 10;
};

struct BTreeStats {
  uint64_t nodes_in_memory = 0;
  uint64_t dirty_nodes = 0;
  uint64_t bytes_in_memory = 0;  // encoded-size estimate of the nodes held
  uint32_t height = 0;           // 1 for a lone leaf
};

class BTree {
 public:
  // The empty tree (one empty leaf, dirty).
  BTree(NodeStore& store, BTreeOptions options = {});
  // The tree whose root node is stored under `root` (loaded on first use).
  BTree(NodeStore& store, const ChunkId& root, BTreeOptions options = {});
  ~BTree();
  BTree(const BTree&) = delete;
  BTree& operator=(const BTree&) = delete;

  // The value stored under `key`, or nullopt.
  Result<std::optional<Bytes>> get(ByteView key);
  // Inserts or replaces. kInvalidArgument for an empty or too long key or a
  // too long value.
  Status put(ByteView key, ByteView value);
  // Removes `key`; returns whether it was there.
  Result<bool> erase(ByteView key);
  // Calls fn(key, value) for every entry with from <= key < to (an empty `to`
  // means no upper bound), in key order, until fn returns false. The tree
  // must not be changed from inside fn.
  Status scan(ByteView from, ByteView to,
              const std::function<bool(ByteView key, ByteView value)>& fn);
  // The first entry with key >= from (and < to when `to` is not empty).
  Result<std::optional<std::pair<Bytes, Bytes>>> lower_bound(ByteView from, ByteView to = {});
  // Erases every entry with from <= key < to; returns how many.
  Result<uint64_t> erase_range(ByteView from, ByteView to);

  // True when something changed since the last commit (or construction).
  bool dirty() const;
  // Stores every dirty node, children before parents, and returns the root
  // id. Afterwards nothing is dirty. Nothing is changed when it fails
  // (nodes stay dirty and a later commit retries).
  Result<ChunkId> commit();
  // The root id of the last commit (or the one given to the constructor);
  // nullopt while nothing was ever committed.
  std::optional<ChunkId> committed_root() const;

  // Drops clean nodes from memory (dirty ones and their ancestors stay)
  // until what is held is at most `keep_bytes`.
  void evict_clean(uint64_t keep_bytes);
  BTreeStats stats() const;

 private:
  struct Node;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Calls fn(key, a_value_or_null, b_value_or_null) for every key whose value
// differs between the tree stored under root `a` and the one under `b`
// (present in one only, or with different values), in key order, until fn
// returns false. Subtrees whose node ids are equal on both sides are skipped
// without being read.
//
// Cost: the two roots (none when a == b) and the nodes whose ids the two
// versions do not share are loaded, each once; no shared subtree is read. So
// two versions a few keys apart cost O(changed leaves x height) loads,
// whatever splits and merges reshaped the nodes around the changes. Memory:
// one root-to-leaf path of decoded nodes per side.
//
// Strict like BTree: a node that breaks a rule of the format or of the tree
// (checked as BTree checks a node it loads) is kCorruption, and the diff
// stops there; NodeStore errors are passed on. fn sees only keys from nodes
// that passed those checks.
using BTreeDiffFn =
    std::function<bool(ByteView key, const Bytes* a_value, const Bytes* b_value)>;
Status diff_btrees(NodeStore& store, const ChunkId& a, const ChunkId& b, const BTreeDiffFn& fn);

// Order-preserving key building blocks (big-endian integers).
void append_be64(Bytes& out, uint64_t value);
uint64_t read_be64(ByteView in);  // REQUIRES: in.size() >= 8

}  // namespace lares
