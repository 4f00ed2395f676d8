// Copy-on-write B+tree (fs/btree.h, the source of truth for the node format;
// docs/FORMAT.md summarises it):
//
//   u8 version = 1 | u8 level | u count
//   leaf:     count x (str key | str value)
//   interior: count x (str key | id child)
//
// The encoding is canonical (minimal varints, keys strictly ascending, no
// trailing bytes): decode followed by encode gives back the same bytes, so an
// unchanged node keeps its id in every version.
//
// Invariants of the tree in memory. What storage holds is checked against them
// as each node is loaded, so a damaged tree gives an error, never keys out of
// order or out of place (that the bytes are the ones stored under the id is
// for the NodeStore to check: the repository verifies its keyed hash).
//  - A child's level is its parent's level - 1, and every node but the root
//    holds at least one entry.
//  - Separators are exact: a child slot's key is the smallest key of the
//    child's subtree (the format's rule). Whatever moves the smallest key of a
//    node (an insert before it, erasing it, a merge or borrow) rewrites the
//    separators above it in the same operation. A loaded child whose first key
//    differs from its separator is corruption, and so is one holding a key at
//    or past the next separator (or past its parent's own bound).
//  - A dirty node's parent is dirty (the parent's slot id is stale until the
//    child is stored), so a clean node heads a wholly stored subtree.
//  - Node::size_bytes() is the exact encoded size, kept entry by entry: splits
//    and merges are decided without encoding anything.
//
// Shape: a node is split once its encoding passes max_node_bytes, in two at the
// byte midpoint, or, when the entry just added is its last one, by moving only
// that entry out (ascending inserts then fill nodes instead of leaving them
// half empty). Interior nodes split only into pieces of >= 2 children, so the
// tree fans out whatever the key sizes. After an erase, a node under a quarter
// of max_node_bytes merges with a neighbour when both fit one node, else
// borrows from it. Rebalancing never reads storage: an erase first loads the
// neighbours it may need, so erase() changes nothing when it fails (and
// erase_range() stops between leaves). A put never rebalances (the small node
// a split leaves fills up from later inserts), so nodes under a quarter are
// legal, and the next erase beneath one mends it.
#include "fs/btree.h"

#include <algorithm>
#include <array>
#include <iterator>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "codec/varint.h"

namespace lares {
namespace {

constexpr uint8_t kMaxLevel = 32;
// The fewest bytes an entry can be parsed from, to bound counts by the bytes
// that remain before anything is reserved.
constexpr size_t kMinLeafEntryBytes = 3;                    // key length, key byte, value length
constexpr size_t kMinChildEntryBytes = 2 + ChunkId::kSize;  // key length, key byte, id
static_assert(ChunkId::kSize == 32, "ids are 32 raw bytes in the format");

size_t varint_bytes(uint64_t value) {
  size_t bytes = 1;
  for (; value >= 0x80; value >>= 7) ++bytes;
  return bytes;
}
size_t str_bytes(size_t length) { return varint_bytes(length) + length; }
size_t leaf_entry_bytes(size_t key_length, size_t value_length) {
  return str_bytes(key_length) + str_bytes(value_length);
}
size_t child_entry_bytes(size_t key_length) { return str_bytes(key_length) + ChunkId::kSize; }
// The encoded size of a node: version, level, count, entries.
size_t node_bytes(size_t count, size_t entry_bytes) {
  return 2 + varint_bytes(count) + entry_bytes;
}

// ---- Encoder, shared by encode_btree_node and BTree::commit.

// Writes one node blob and checks every rule on the way: a blob that broke
// one would be refused by every later decode, losing the keys beneath it.
class NodeWriter {
 public:
  NodeWriter(uint8_t level, size_t count, size_t size_hint) : level_(level), count_(count) {
    LARES_CHECK(level <= kMaxLevel);
    LARES_CHECK(level == 0 || count > 0);
    out_.reserve(size_hint);
    w_.u8(kBTreeNodeVersion);
    w_.u8(level);
    w_.u(count);
  }
  void leaf(std::string_view key, std::string_view value) {
    LARES_CHECK(level_ == 0);
    LARES_CHECK(value.size() <= kMaxValueLength);
    add_key(key);
    w_.str(value);
  }
  void child(std::string_view key, const ChunkId& id) {
    LARES_CHECK(level_ > 0);
    add_key(key);
    w_.raw(id.bytes);
  }
  Bytes finish() && {
    LARES_CHECK(written_ == count_);
    return std::move(out_);
  }

 private:
  // `key` must stay valid until the next key is added (it is the caller's).
  void add_key(std::string_view key) {
    LARES_CHECK(written_ < count_);
    LARES_CHECK(!key.empty() && key.size() <= kMaxKeyLength);
    LARES_CHECK(written_ == 0 || previous_ < key);
    w_.str(key);
    previous_ = key;
    ++written_;
  }

  uint8_t level_;
  size_t count_;
  size_t written_ = 0;
  std::string_view previous_;
  Bytes out_;
  VarWriter w_{&out_};
};

// ---- Decoder.

// A length-prefixed string of at most `max_length` bytes, as a view into the
// input.
Status read_str(VarReader& r, size_t max_length, std::string_view* v, const char* what) {
  uint64_t length = 0;
  RETURN_IF_ERROR(r.u(&length, what));
  if (length > max_length) {
    return Status::corruption(std::string(what) + " length " + std::to_string(length) +
                              " is over " + std::to_string(max_length));
  }
  ByteView bytes;
  RETURN_IF_ERROR(r.raw(static_cast<size_t>(length), &bytes, what));
  *v = as_chars(bytes);
  return Status::ok();
}

Status entry_error(size_t index, const Status& st) {
  return st.with_context("btree node entry " + std::to_string(index));
}

// Parses a node blob into `sink` (begin(level, count), then leaf(key, value)
// or child(key, id) per entry), applying every rule of the format. The views
// passed to the sink point into `bytes`.
template <typename Sink>
Status parse_node(ByteView bytes, Sink& sink) {
  if (bytes.empty()) return Status::corruption("btree node is empty");
  if (bytes[0] != kBTreeNodeVersion) {
    return Status::failed_precondition("btree node version " + std::to_string(bytes[0]) +
                                       " is not supported (this lares reads version 1)");
  }
  VarReader r(bytes.subspan(1));
  uint8_t level = 0;
  if (Status st = r.u8(&level, "level"); !st.is_ok()) return st.with_context("btree node");
  if (level > kMaxLevel) {
    return Status::corruption("btree node level " + std::to_string(level) + " is over 32");
  }
  size_t count = 0;
  const size_t min_entry_bytes = level == 0 ? kMinLeafEntryBytes : kMinChildEntryBytes;
  if (Status st = r.count(&count, min_entry_bytes, "entry count"); !st.is_ok()) {
    return st.with_context("btree node");
  }
  if (level > 0 && count == 0) {
    return Status::corruption("btree node: interior node (level " + std::to_string(level) +
                              ") has no entries");
  }
  sink.begin(level, count);
  std::string_view previous;
  for (size_t i = 0; i < count; ++i) {
    std::string_view key;
    RETURN_IF_ERROR(entry_error(i, read_str(r, kMaxKeyLength, &key, "key")));
    if (key.empty()) return entry_error(i, Status::corruption("key is empty"));
    if (i > 0 && !(previous < key)) {
      return entry_error(i, Status::corruption("key is not after the previous one (keys must be "
                                               "strictly ascending)"));
    }
    previous = key;
    if (level == 0) {
      std::string_view value;
      RETURN_IF_ERROR(entry_error(i, read_str(r, kMaxValueLength, &value, "value")));
      sink.leaf(key, value);
    } else {
      ChunkId id;
      RETURN_IF_ERROR(entry_error(i, r.id(&id, "child id")));
      sink.child(key, id);
    }
  }
  if (r.remaining() != 0) {
    return Status::corruption("btree node: " + std::to_string(r.remaining()) +
                              " trailing bytes after the last entry");
  }
  return Status::ok();
}

struct ImageSink {
  BTreeNodeImage* image;
  void begin(uint8_t level, size_t count) {
    image->level = level;
    if (level == 0) {
      image->leaf.reserve(count);
    } else {
      image->children.reserve(count);
    }
  }
  static Bytes copy(std::string_view s) {
    const ByteView b = as_bytes(s);
    return Bytes(b.begin(), b.end());
  }
  void leaf(std::string_view key, std::string_view value) {
    image->leaf.emplace_back(copy(key), copy(value));
  }
  void child(std::string_view key, const ChunkId& id) {
    image->children.emplace_back(copy(key), id);
  }
};

// ---- Loading, shared by BTree and diff_btrees.

// Reads the node stored under `id` and parses it into `sink`. Errors name the
// node.
template <typename Sink>
Status load_and_parse(NodeStore& store, const ChunkId& id, Sink& sink) {
  const std::string context = "btree node " + id.hex();
  Result<Bytes> bytes = store.load_node(id);
  if (!bytes.is_ok()) return bytes.status().with_context(context);
  if (Status st = parse_node(*bytes, sink); !st.is_ok()) return st.with_context(context);
  return Status::ok();
}

// Where a node was found: child slot `index` of a parent of `parent_level`,
// whose separator is `separator` and whose keys are below `bound` (nullopt:
// no bound, the last slot all the way up).
struct ChildSlot {
  const ChunkId& id;
  size_t index = 0;
  uint8_t parent_level = 0;
  std::string_view separator;
  std::optional<std::string_view> bound;
};

// The rules a loaded child must meet in its slot (see the invariants at the
// top): its level is its parent's - 1, it is not empty, its first key is the
// separator and its last key is below the bound. kCorruption naming the node
// and the rule, or ok. `first_key` and `last_key` are ignored when count is 0.
Status check_child(const ChildSlot& slot, uint8_t level, size_t count, std::string_view first_key,
                   std::string_view last_key) {
  std::string problem;
  if (level + 1 != slot.parent_level) {
    problem = "level " + std::to_string(level) + " under a node of level " +
              std::to_string(slot.parent_level);
  } else if (count == 0) {
    problem = "no entries";
  } else if (first_key != slot.separator) {
    problem = "first key differs from its separator in the parent";
  } else if (slot.bound.has_value() && !(last_key < *slot.bound)) {
    problem = "holds keys past its parent's range";
  }
  if (problem.empty()) return Status::ok();
  return Status::corruption("btree node " + slot.id.hex() + " (child " +
                            std::to_string(slot.index) + "): " + problem);
}

// What the nodes held in memory add up to (BTreeStats); the nodes keep it up
// to date themselves as they change, are created and are destroyed.
struct NodeTally {
  uint64_t nodes = 0;
  uint64_t dirty = 0;
  uint64_t bytes = 0;
};

enum class Dirty { kNo, kYes };

// What happened to the leaf at the end of a path (BTree::Impl::fix_up).
enum class LeafChange {
  kAppended,  // an entry added as the leaf's last: a split moves only it out
  kInserted,  // an entry added elsewhere, or a value replaced
  kErased,    // entries erased: nodes under a quarter are rebalanced
};

}  // namespace

Bytes encode_btree_node(const BTreeNodeImage& node) {
  LARES_CHECK(node.level == 0 ? node.children.empty() : node.leaf.empty());
  size_t entry_bytes = 0;
  for (const auto& [key, value] : node.leaf)
    entry_bytes += leaf_entry_bytes(key.size(), value.size());
  for (const auto& [key, id] : node.children) entry_bytes += child_entry_bytes(key.size());
  const size_t count = node.level == 0 ? node.leaf.size() : node.children.size();
  const size_t size = node_bytes(count, entry_bytes);
  NodeWriter w(node.level, count, size);
  for (const auto& [key, value] : node.leaf) w.leaf(as_chars(key), as_chars(value));
  for (const auto& [key, id] : node.children) w.child(as_chars(key), id);
  Bytes out = std::move(w).finish();
  LARES_DCHECK(out.size() == size);
  return out;
}

Result<BTreeNodeImage> decode_btree_node(ByteView bytes) {
  BTreeNodeImage image;
  ImageSink sink{&image};
  RETURN_IF_ERROR(parse_node(bytes, sink));
  return image;
}

// ---- The tree in memory.

struct BTree::Node {
  struct Entry {
    std::string key;
    std::string value;
  };
  struct Child {
    std::string key;             // the smallest key of the child's subtree
    ChunkId id;                  // where the child is stored; stale while it is dirty
    std::unique_ptr<Node> node;  // null until loaded (the id is then valid)
  };

  Node(NodeTally& tally, uint8_t level, Dirty dirty)
      : tally_(tally), level_(level), dirty_(dirty == Dirty::kYes) {
    size_bytes_ = node_bytes(0, 0);
    ++tally_.nodes;
    tally_.bytes += size_bytes_;
    if (dirty_) ++tally_.dirty;
  }
  ~Node() {
    --tally_.nodes;
    tally_.bytes -= size_bytes_;
    if (dirty_) --tally_.dirty;
  }
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  uint8_t level() const { return level_; }
  bool is_leaf() const { return level_ == 0; }
  bool dirty() const { return dirty_; }
  size_t count() const { return is_leaf() ? entries_.size() : children_.size(); }
  // The exact encoded size.
  size_t size_bytes() const { return size_bytes_; }
  size_t entry_bytes() const { return entry_bytes_; }

  const Entry& entry(size_t i) const { return entries_[i]; }
  Child& child(size_t i) { return children_[i]; }
  const Child& child(size_t i) const { return children_[i]; }
  std::string_view key_at(size_t i) const {
    return is_leaf() ? std::string_view(entries_[i].key) : std::string_view(children_[i].key);
  }
  // REQUIRES: count() > 0.
  std::string_view first_key() const { return key_at(0); }
  std::string_view last_key() const { return key_at(count() - 1); }
  size_t entry_bytes_at(size_t i) const {
    return is_leaf() ? leaf_entry_bytes(entries_[i].key.size(), entries_[i].value.size())
                     : child_entry_bytes(children_[i].key.size());
  }

  // Leaf: the first entry with a key >= `key` (count() if none).
  size_t lower_bound(std::string_view key) const {
    LARES_DCHECK(is_leaf());
    auto it = std::lower_bound(entries_.begin(), entries_.end(), key,
                               [](const Entry& e, std::string_view k) { return e.key < k; });
    return static_cast<size_t>(it - entries_.begin());
  }
  // Interior: the child whose key range holds `key` (the last one whose
  // separator is <= key), or 0 when `key` is before every separator.
  size_t child_index(std::string_view key) const {
    auto it = std::upper_bound(children_.begin(), children_.end(), key,
                               [](std::string_view k, const Child& c) { return k < c.key; });
    return it == children_.begin() ? 0 : static_cast<size_t>(it - children_.begin()) - 1;
  }

  void mark_dirty() {
    if (!dirty_) ++tally_.dirty;
    dirty_ = true;
  }
  void mark_clean() {
    if (dirty_) --tally_.dirty;
    dirty_ = false;
  }
  void reserve(size_t count) {
    if (is_leaf()) {
      entries_.reserve(count);
    } else {
      children_.reserve(count);
    }
  }
  // Leaf. The caller keeps keys in order.
  void insert_entry(size_t i, std::string_view key, std::string_view value) {
    entries_.insert(entries_.begin() + i, Entry{std::string(key), std::string(value)});
    entry_bytes_ += leaf_entry_bytes(key.size(), value.size());
    update_size();
  }
  void set_value(size_t i, std::string_view value) {
    std::string& old = entries_[i].value;
    entry_bytes_ = entry_bytes_ - str_bytes(old.size()) + str_bytes(value.size());
    old.assign(value);
    update_size();
  }
  void erase_entries(size_t begin, size_t end) {
    for (size_t i = begin; i < end; ++i) entry_bytes_ -= entry_bytes_at(i);
    entries_.erase(entries_.begin() + begin, entries_.begin() + end);
    update_size();
  }
  // Interior. The caller keeps keys in order.
  void insert_child(size_t i, std::string_view key, const ChunkId& id, std::unique_ptr<Node> node) {
    children_.insert(children_.begin() + i, Child{std::string(key), id, std::move(node)});
    entry_bytes_ += child_entry_bytes(key.size());
    update_size();
  }
  void erase_child(size_t i) {
    entry_bytes_ -= entry_bytes_at(i);
    children_.erase(children_.begin() + i);
    update_size();
  }
  void set_child_key(size_t i, std::string_view key) {
    std::string& old = children_[i].key;
    entry_bytes_ = entry_bytes_ - str_bytes(old.size()) + str_bytes(key.size());
    old.assign(key);
    update_size();
  }
  // Moves entries [begin, end) to `dst` (of the same level) before its entry `at`.
  void move_entries(size_t begin, size_t end, Node& dst, size_t at) {
    LARES_DCHECK(dst.level_ == level_ && begin <= end && end <= count() && at <= dst.count());
    size_t moved_bytes = 0;
    for (size_t i = begin; i < end; ++i) moved_bytes += entry_bytes_at(i);
    if (is_leaf()) {
      move_range(entries_, begin, end, dst.entries_, at);
    } else {
      move_range(children_, begin, end, dst.children_, at);
    }
    entry_bytes_ -= moved_bytes;
    dst.entry_bytes_ += moved_bytes;
    update_size();
    dst.update_size();
  }

 private:
  template <typename T>
  static void move_range(std::vector<T>& from, size_t begin, size_t end, std::vector<T>& to,
                         size_t at) {
    to.insert(to.begin() + at, std::make_move_iterator(from.begin() + begin),
              std::make_move_iterator(from.begin() + end));
    from.erase(from.begin() + begin, from.begin() + end);
  }
  void update_size() {
    const size_t size = node_bytes(count(), entry_bytes_);
    tally_.bytes = tally_.bytes - size_bytes_ + size;
    size_bytes_ = size;
  }

  NodeTally& tally_;
  uint8_t level_;
  bool dirty_;
  size_t entry_bytes_ = 0;       // the sum of entry_bytes_at(i)
  size_t size_bytes_ = 0;        // node_bytes(count(), entry_bytes_)
  std::vector<Entry> entries_;   // leaf, ascending keys
  std::vector<Child> children_;  // interior, ascending keys
};

struct BTree::Impl {
  Impl(NodeStore& node_store, BTreeOptions tree_options)
      : store(node_store), options(tree_options) {}

  // The nodes from the root down to a leaf: steps[j].index is the slot of
  // steps[j + 1] in steps[j], and every key under steps[j] is below
  // *steps[j].upper (null: no bound), which is what a node loaded beneath it
  // is checked against.
  struct Step {
    Node* node = nullptr;
    size_t index = 0;
    const std::string* upper = nullptr;
  };
  struct Path {
    std::array<Step, kMaxLevel + 1> steps;  // a child's level is its parent's - 1
    size_t length = 0;
    Node& leaf() const { return *steps[length - 1].node; }
  };

  // Builds a clean node from a blob being parsed.
  struct NodeSink {
    Impl* impl;
    std::unique_ptr<Node> node;
    void begin(uint8_t level, size_t count) {
      node = impl->make_node(level, Dirty::kNo);
      node->reserve(count);
    }
    void leaf(std::string_view key, std::string_view value) {
      node->insert_entry(node->count(), key, value);
    }
    void child(std::string_view key, const ChunkId& id) {
      node->insert_child(node->count(), key, id, nullptr);
    }
  };

  std::unique_ptr<Node> make_node(uint8_t level, Dirty dirty) {
    return std::make_unique<Node>(tally, level, dirty);
  }
  size_t quarter_bytes() const { return options.max_node_bytes / 4; }
  // Interior pieces keep >= 2 children so splitting always fans out.
  static size_t min_piece_entries(const Node& node) { return node.is_leaf() ? 1 : 2; }
  bool needs_split(const Node& node) const {
    return node.size_bytes() > options.max_node_bytes &&
           node.count() >= 2 * min_piece_entries(node);
  }
  // The bound of the keys under child `i` of `node`, whose own bound is `upper`.
  static const std::string* child_upper(const Node& node, size_t i, const std::string* upper) {
    return i + 1 < node.count() ? &node.child(i + 1).key : upper;
  }

  Result<std::unique_ptr<Node>> load_node(const ChunkId& id) {
    NodeSink sink{this, nullptr};
    RETURN_IF_ERROR(load_and_parse(store, id, sink));
    return std::move(sink.node);
  }

  Result<Node*> load_root() {
    if (root == nullptr) {
      LARES_CHECK(committed.has_value());  // an unloaded root is a stored one
      ASSIGN_OR_RETURN(root, load_node(*committed));
      height = root->level() + 1u;
    }
    return root.get();
  }

  // Child `i` of `parent` (whose keys are below `upper`), loaded if needed.
  Result<Node*> load_child(Node& parent, size_t i, const std::string* upper) {
    Node::Child& slot = parent.child(i);
    if (slot.node != nullptr) return slot.node.get();
    ASSIGN_OR_RETURN(std::unique_ptr<Node> node, load_node(slot.id));
    const std::string* bound = child_upper(parent, i, upper);
    const bool empty = node->count() == 0;
    RETURN_IF_ERROR(check_child(
        ChildSlot{slot.id, i, parent.level(), slot.key,
                  bound != nullptr ? std::optional<std::string_view>(*bound) : std::nullopt},
        node->level(), node->count(), empty ? std::string_view() : node->first_key(),
        empty ? std::string_view() : node->last_key()));
    slot.node = std::move(node);
    return slot.node.get();
  }

  // Loads the nodes from the root to the leaf whose range holds `key`.
  Status descend(std::string_view key, Path* path) {
    ASSIGN_OR_RETURN(Node * node, load_root());
    const std::string* upper = nullptr;
    path->length = 0;
    while (true) {
      LARES_CHECK(path->length < path->steps.size());  // levels descend by one from <= 32
      Step& step = path->steps[path->length++];
      step.node = node;
      step.upper = upper;
      if (node->is_leaf()) return Status::ok();
      step.index = node->child_index(key);
      upper = child_upper(*node, step.index, step.upper);
      ASSIGN_OR_RETURN(node, load_child(*node, step.index, step.upper));
    }
  }

  // Before an erase of `leaf_shrink_bytes` from the leaf of `path`: loads
  // each neighbour that fix_up may merge with or borrow from, so fix_up needs
  // no I/O. A node may shrink by the erased bytes (leaf), or by the slots of
  // its child and that child's neighbours (merge, new separator) and a byte
  // of count; a node that might then fall under a quarter gets its neighbour.
  Status load_neighbours(const Path& path, size_t leaf_shrink_bytes) {
    for (size_t j = path.length - 1; j > 0; --j) {
      const Node& node = *path.steps[j].node;
      size_t shrink_bytes = leaf_shrink_bytes;
      if (!node.is_leaf()) {
        const size_t i = path.steps[j].index;
        shrink_bytes = 1 + node.entry_bytes_at(i);
        if (i > 0) shrink_bytes += node.entry_bytes_at(i - 1);
        if (i + 1 < node.count()) shrink_bytes += node.entry_bytes_at(i + 1);
      }
      if (node.size_bytes() >= quarter_bytes() + shrink_bytes) continue;
      const Step& parent = path.steps[j - 1];
      if (parent.node->count() < 2) continue;
      const size_t neighbour = parent.index > 0 ? parent.index - 1 : parent.index + 1;
      RETURN_IF_ERROR(load_child(*parent.node, neighbour, parent.upper).status());
    }
    return Status::ok();
  }

  // Restores the invariants bottom-up after the leaf of `path` changed:
  // marks the path dirty, drops emptied nodes, rewrites separators, splits
  // what grew too big and, after an erase, rebalances what fell under a
  // quarter (with loaded neighbours only: see load_neighbours).
  void fix_up(const Path& path, LeafChange change) {
    // Whether the newest entry of the node at hand is its last one.
    bool appended = change == LeafChange::kAppended;
    for (size_t j = path.length - 1; j > 0; --j) {
      Node& node = *path.steps[j].node;
      Node& parent = *path.steps[j - 1].node;
      const size_t index = path.steps[j - 1].index;
      node.mark_dirty();
      if (node.count() == 0) {
        parent.erase_child(index);
        appended = false;
        continue;
      }
      if (parent.child(index).key != node.first_key()) {
        parent.set_child_key(index, node.first_key());
      }
      const bool was_last = index + 1 == parent.count();
      if (needs_split(node)) {
        split_child(parent, index, appended);
        appended = was_last;  // the new slots are the parent's last
        continue;
      }
      // Only after an erase: a node that has just grown (a leaf a split left
      // one entry in, then appended to) would otherwise be evened out with
      // its neighbour at every step, leaving both half empty.
      if (change == LeafChange::kErased && node.size_bytes() < quarter_bytes()) {
        rebalance_child(parent, index);
      }
      appended = false;
    }
    path.steps[0].node->mark_dirty();
    fix_root(appended);
  }

  void fix_root(bool appended) {
    if (!root->is_leaf() && root->count() == 0) {
      root = make_node(0, Dirty::kYes);  // everything was erased
    } else if (needs_split(*root) && root->level() < kMaxLevel) {
      std::unique_ptr<Node> new_root =
          make_node(static_cast<uint8_t>(root->level() + 1), Dirty::kYes);
      const std::string first_key(root->first_key());
      new_root->insert_child(0, first_key, ChunkId{}, std::move(root));
      split_child(*new_root, 0, appended);
      root = std::move(new_root);
    }
    while (!root->is_leaf() && root->count() == 1 && root->child(0).node != nullptr) {
      std::unique_ptr<Node> only_child = std::move(root->child(0).node);
      root = std::move(only_child);
      root->mark_dirty();  // it is the new root: the committed root id is stale
    }
    height = root->level() + 1u;
  }

  // Where to split `node`: the newest entry alone when it is the last one and
  // the rest fits, else at the byte midpoint.
  size_t split_index(const Node& node, bool appended) const {
    const size_t count = node.count();
    const size_t min_entries = min_piece_entries(node);
    if (appended && node_bytes(count - 1, node.entry_bytes() - node.entry_bytes_at(count - 1)) <=
                        options.max_node_bytes) {
      return count - 1;
    }
    const size_t half_bytes = node.entry_bytes() / 2;
    size_t at = 0;
    size_t left_bytes = 0;
    while (at < count && left_bytes + node.entry_bytes_at(at) <= half_bytes) {
      left_bytes += node.entry_bytes_at(at++);
    }
    // Entry `at` straddles the midpoint: it goes left when that is closer.
    if (at < count && left_bytes + node.entry_bytes_at(at) - half_bytes < half_bytes - left_bytes) {
      ++at;
    }
    return std::clamp(at, min_entries, count - min_entries);
  }

  // Splits `node` into pieces that fit (or cannot be split further),
  // appending the pieces after it to `out` in key order.
  void split_into(Node& node, bool appended, std::vector<std::unique_ptr<Node>>& out) {
    if (!needs_split(node)) return;
    const size_t at = split_index(node, appended);
    std::unique_ptr<Node> right = make_node(node.level(), Dirty::kYes);
    node.move_entries(at, node.count(), *right, 0);
    split_into(node, false, out);
    out.push_back(std::move(right));
    split_into(*out.back(), appended, out);
  }

  void split_child(Node& parent, size_t index, bool appended) {
    std::vector<std::unique_ptr<Node>> pieces;
    split_into(*parent.child(index).node, appended, pieces);
    for (size_t k = 0; k < pieces.size(); ++k) {
      const std::string first_key(pieces[k]->first_key());
      parent.insert_child(index + 1 + k, first_key, ChunkId{}, std::move(pieces[k]));
    }
  }

  // Child `index` of `parent` is under a quarter: merges it with a loaded
  // neighbour when both fit one node, else moves entries over from it.
  void rebalance_child(Node& parent, size_t index) {
    if (parent.count() < 2) return;
    auto loaded = [&](size_t i) { return parent.child(i).node != nullptr; };
    size_t left = index > 0 ? index - 1 : index;  // the pair (left, left + 1)
    if (!loaded(left) || !loaded(left + 1)) {
      if (index == 0 || index + 1 >= parent.count() || !loaded(index + 1)) return;
      left = index;
    }
    Node& l = *parent.child(left).node;
    Node& r = *parent.child(left + 1).node;
    if (node_bytes(l.count() + r.count(), l.entry_bytes() + r.entry_bytes()) <=
        options.max_node_bytes) {
      l.mark_dirty();
      r.move_entries(0, r.count(), l, l.count());
      parent.erase_child(left + 1);  // r is gone; l keeps its first key
      return;
    }
    // Both together are over max_node_bytes, so the bigger one has plenty:
    // move whole entries until the two are as even as they can get.
    const bool from_left = l.entry_bytes() > r.entry_bytes();
    Node& donor = from_left ? l : r;
    const size_t receiver_bytes = from_left ? r.entry_bytes() : l.entry_bytes();
    const size_t budget_bytes = (donor.entry_bytes() - receiver_bytes) / 2;
    size_t moved = 0;
    size_t moved_bytes = 0;
    while (moved + 1 < donor.count()) {
      const size_t next = from_left ? donor.count() - 1 - moved : moved;
      if (moved_bytes + donor.entry_bytes_at(next) > budget_bytes) break;
      moved_bytes += donor.entry_bytes_at(next);
      ++moved;
    }
    if (moved == 0) return;  // one entry makes up the donor: it stays as it is (legal)
    l.mark_dirty();
    r.mark_dirty();
    if (from_left) {
      l.move_entries(l.count() - moved, l.count(), r, 0);
    } else {
      r.move_entries(0, moved, l, l.count());
    }
    parent.set_child_key(left + 1, r.first_key());
  }

  // Finds the first key in [from, to) (to empty: no bound).
  Result<std::optional<std::string>> first_key_in(std::string_view from, std::string_view to) {
    std::optional<std::string> found;
    RETURN_IF_ERROR(scan(from, to, [&](ByteView key, ByteView) {
      found.emplace(as_chars(key));
      return false;
    }));
    return found;
  }

  using ScanFn = std::function<bool(ByteView key, ByteView value)>;

  Status scan(std::string_view from, std::string_view to, const ScanFn& fn) {
    if (!to.empty() && to <= from) return Status::ok();
    ASSIGN_OR_RETURN(Node * node, load_root());
    bool stop = false;
    return scan_node(*node, nullptr, from, to, fn, &stop);
  }

  // Calls fn for the entries under `node` (whose keys are below `upper`) with
  // from <= key < to; sets *stop when fn declines or the range has ended.
  Status scan_node(Node& node, const std::string* upper, std::string_view from, std::string_view to,
                   const ScanFn& fn, bool* stop) {
    if (node.is_leaf()) {
      for (size_t i = node.lower_bound(from); i < node.count(); ++i) {
        const Node::Entry& e = node.entry(i);
        if ((!to.empty() && !(std::string_view(e.key) < to)) ||
            !fn(as_bytes(e.key), as_bytes(e.value))) {
          *stop = true;
          break;
        }
      }
      return Status::ok();
    }
    for (size_t i = node.child_index(from); i < node.count() && !*stop; ++i) {
      if (!to.empty() && !(node.key_at(i) < to)) {
        *stop = true;
        break;
      }
      ASSIGN_OR_RETURN(Node * child, load_child(node, i, upper));
      RETURN_IF_ERROR(scan_node(*child, child_upper(node, i, upper), from, to, fn, stop));
    }
    return Status::ok();
  }

  // Stores `node` after every dirty node beneath it, then marks it clean and
  // sets *id. A failure leaves what is not yet stored dirty.
  Status store_subtree(Node& node, ChunkId* id) {
    if (!node.is_leaf()) {
      for (size_t i = 0; i < node.count(); ++i) {
        Node::Child& slot = node.child(i);
        if (slot.node != nullptr && slot.node->dirty()) {
          RETURN_IF_ERROR(store_subtree(*slot.node, &slot.id));
        }
      }
    }
    ASSIGN_OR_RETURN(*id, store.store_node(encode(node)));
    node.mark_clean();
    return Status::ok();
  }

  // REQUIRES: no child of `node` is dirty (their ids are current).
  static Bytes encode(const Node& node) {
    NodeWriter w(node.level(), node.count(), node.size_bytes());
    for (size_t i = 0; i < node.count(); ++i) {
      if (node.is_leaf()) {
        w.leaf(node.entry(i).key, node.entry(i).value);
      } else {
        const Node::Child& slot = node.child(i);
        LARES_DCHECK(slot.node == nullptr || !slot.node->dirty());
        w.child(slot.key, slot.id);
      }
    }
    Bytes out = std::move(w).finish();
    // Invariant: the size kept entry by entry is the encoded size.
    LARES_CHECK(out.size() == node.size_bytes());
    return out;
  }

  // Drops the clean loaded nodes of `level` beneath `node` (with their
  // subtrees, clean too) until at most `keep_bytes` are held.
  void evict_level(Node& node, uint8_t level, uint64_t keep_bytes) {
    for (size_t i = 0; i < node.count() && tally.bytes > keep_bytes; ++i) {
      std::unique_ptr<Node>& child = node.child(i).node;
      if (child == nullptr) continue;
      if (child->level() > level) {
        evict_level(*child, level, keep_bytes);
      } else if (!child->dirty()) {
        child.reset();
      }
    }
  }

  NodeStore& store;
  const BTreeOptions options;
  NodeTally tally;             // declared before root: outlives every node
  std::unique_ptr<Node> root;  // null while not loaded (committed is then its id)
  std::optional<ChunkId> committed;
  uint32_t height = 0;  // of the root last held; 0 before it is first loaded
};

BTree::BTree(NodeStore& store, BTreeOptions options)
    : impl_(std::make_unique<Impl>(store, options)) {
  impl_->root = impl_->make_node(0, Dirty::kYes);
  impl_->height = 1;
}

BTree::BTree(NodeStore& store, const ChunkId& root, BTreeOptions options)
    : impl_(std::make_unique<Impl>(store, options)) {
  impl_->committed = root;
}

BTree::~BTree() = default;

Result<std::optional<Bytes>> BTree::get(ByteView key) {
  if (key.empty() || key.size() > kMaxKeyLength) return std::optional<Bytes>();
  const std::string_view k = as_chars(key);
  Impl::Path path;
  RETURN_IF_ERROR(impl_->descend(k, &path));
  const Node& leaf = path.leaf();
  const size_t i = leaf.lower_bound(k);
  if (i == leaf.count() || leaf.key_at(i) != k) return std::optional<Bytes>();
  const ByteView value = as_bytes(leaf.entry(i).value);
  return std::optional<Bytes>(Bytes(value.begin(), value.end()));
}

Status BTree::put(ByteView key, ByteView value) {
  if (key.empty() || key.size() > kMaxKeyLength) {
    return Status::invalid_argument("btree key length " + std::to_string(key.size()) +
                                    " is outside 1..1024");
  }
  if (value.size() > kMaxValueLength) {
    return Status::invalid_argument("btree value length " + std::to_string(value.size()) +
                                    " is over 131072");
  }
  const std::string_view k = as_chars(key);
  const std::string_view v = as_chars(value);
  Impl::Path path;
  RETURN_IF_ERROR(impl_->descend(k, &path));
  Node& leaf = path.leaf();
  const size_t i = leaf.lower_bound(k);
  LeafChange change = LeafChange::kInserted;
  if (i < leaf.count() && leaf.key_at(i) == k) {
    if (leaf.entry(i).value == v) return Status::ok();  // unchanged: the nodes stay shared
    leaf.set_value(i, v);
  } else {
    leaf.insert_entry(i, k, v);
    if (i + 1 == leaf.count()) change = LeafChange::kAppended;
  }
  impl_->fix_up(path, change);
  return Status::ok();
}

Result<bool> BTree::erase(ByteView key) {
  if (key.empty() || key.size() > kMaxKeyLength) return false;
  const std::string_view k = as_chars(key);
  Impl::Path path;
  RETURN_IF_ERROR(impl_->descend(k, &path));
  Node& leaf = path.leaf();
  const size_t i = leaf.lower_bound(k);
  if (i == leaf.count() || leaf.key_at(i) != k) return false;
  RETURN_IF_ERROR(impl_->load_neighbours(path, leaf.entry_bytes_at(i)));
  leaf.erase_entries(i, i + 1);
  impl_->fix_up(path, LeafChange::kErased);
  return true;
}

Status BTree::scan(ByteView from, ByteView to,
                   const std::function<bool(ByteView key, ByteView value)>& fn) {
  return impl_->scan(as_chars(from), as_chars(to), fn);
}

Result<std::optional<std::pair<Bytes, Bytes>>> BTree::lower_bound(ByteView from, ByteView to) {
  std::optional<std::pair<Bytes, Bytes>> found;
  RETURN_IF_ERROR(impl_->scan(as_chars(from), as_chars(to), [&](ByteView key, ByteView value) {
    found.emplace(Bytes(key.begin(), key.end()), Bytes(value.begin(), value.end()));
    return false;
  }));
  return found;
}

// Leaf by leaf: find the first key left in the range, erase the run of range
// keys in its leaf, rebalance, repeat. Each round removes what its leaf holds
// of the range, so the cost is O(erased + leaves x height). A failure (a node
// that cannot be loaded) stops it with the leaves before it already erased.
Result<uint64_t> BTree::erase_range(ByteView from, ByteView to) {
  const std::string_view end_key = as_chars(to);
  uint64_t erased = 0;
  std::string cursor(as_chars(from));
  while (true) {
    ASSIGN_OR_RETURN(std::optional<std::string> first, impl_->first_key_in(cursor, end_key));
    if (!first.has_value()) return erased;
    cursor = std::move(*first);
    Impl::Path path;
    RETURN_IF_ERROR(impl_->descend(cursor, &path));
    Node& leaf = path.leaf();
    const size_t begin = leaf.lower_bound(cursor);
    const size_t end = end_key.empty() ? leaf.count() : leaf.lower_bound(end_key);
    // Invariant: separators are exact, so the key found is in this leaf (and
    // every round erases at least it, which bounds the loop by the tree size).
    LARES_CHECK(begin < end && leaf.key_at(begin) == cursor);
    size_t erased_bytes = 0;
    for (size_t i = begin; i < end; ++i) erased_bytes += leaf.entry_bytes_at(i);
    RETURN_IF_ERROR(impl_->load_neighbours(path, erased_bytes));
    leaf.erase_entries(begin, end);
    erased += end - begin;
    impl_->fix_up(path, LeafChange::kErased);
  }
}

bool BTree::dirty() const { return impl_->root != nullptr && impl_->root->dirty(); }

Result<ChunkId> BTree::commit() {
  if (!dirty()) {
    // Invariant: a clean (or unloaded) root is the stored one.
    LARES_CHECK(impl_->committed.has_value());
    return *impl_->committed;
  }
  ChunkId id;
  RETURN_IF_ERROR(impl_->store_subtree(*impl_->root, &id));
  impl_->committed = id;
  return id;
}

std::optional<ChunkId> BTree::committed_root() const { return impl_->committed; }

void BTree::evict_clean(uint64_t keep_bytes) {
  Impl& impl = *impl_;
  if (impl.root == nullptr) return;
  // Leaves first, then the levels above: the nodes nearest the root are the
  // ones every operation passes through.
  for (uint8_t level = 0; level < impl.root->level() && impl.tally.bytes > keep_bytes; ++level) {
    impl.evict_level(*impl.root, level, keep_bytes);
  }
  if (impl.tally.bytes > keep_bytes && !impl.root->dirty()) impl.root.reset();
}

BTreeStats BTree::stats() const {
  BTreeStats stats;
  stats.nodes_in_memory = impl_->tally.nodes;
  stats.dirty_nodes = impl_->tally.dirty;
  stats.bytes_in_memory = impl_->tally.bytes;
  stats.height = impl_->height;
  return stats;
}

// ---- Diff of two stored versions.
//
// Two cursors walk the trees in key order. A cursor's head is the next thing
// it has not compared: an entry of a leaf it holds, or a child slot (a whole
// subtree, not loaded; its key is the separator, the subtree's smallest key).
// Each round looks at the smallest head key:
//  - held by one side only: that side has a key the other lacks. A subtree
//    there is opened; an entry is reported as present on its side only.
//  - held by both, as subtrees with one id: the same keys and values on both
//    sides, so both skip it unread.
//  - held by both, otherwise: the taller subtree is opened (both when equally
//    tall), until the two heads are at one level and their ids can be
//    compared; two entries are compared by value.
//
// Why shared nodes are not read: a node N in both trees starts at one key k
// in both, and neither cursor passes k before the other reaches it. Until N
// is opened, each side's head at k is N or an unopened ancestor of N, so it
// is at least as tall as N; a side opens only the taller (or equally tall)
// head, so the heads come down to N on both sides, where it is skipped. The
// nodes read are therefore the roots and the nodes whose ids the two versions
// do not share (a root that the other version holds as a subtree is not read
// twice: see descend).

namespace {

class DiffCursor {
 public:
  explicit DiffCursor(NodeStore& store) : store_(store) { frames_.reserve(kMaxLevel + 1); }

  Status start(const ChunkId& root) {
    BTreeNodeImage node;
    ImageSink sink{&node};
    RETURN_IF_ERROR(load_and_parse(store_, root, sink));
    root_ = root;
    frames_.push_back(Frame{std::move(node), 0, std::nullopt});
    settle();  // the empty tree's root leaf: nothing to walk
    return Status::ok();
  }

  bool at_end() const { return frames_.empty(); }
  // REQUIRES (all below): !at_end().
  bool at_subtree() const { return top().node.level > 0; }
  std::string_view key() const {
    const Frame& f = top();
    return as_chars(f.node.level == 0 ? f.node.leaf[f.index].first
                                      : f.node.children[f.index].first);
  }
  // REQUIRES: !at_subtree().
  const Bytes& value() const { return top().node.leaf[top().index].second; }
  // REQUIRES: at_subtree().
  const ChunkId& subtree_id() const { return top().node.children[top().index].second; }
  int subtree_height() const { return top().node.level; }  // 1: a leaf

  // Loads the subtree at the head, checks it against its slot, and moves to
  // its first entry or slot. The root of `other` (the other side) is not read
  // again: a version's root can be a subtree of the next (a root split that
  // moved only new entries out). REQUIRES: at_subtree().
  Status descend(const DiffCursor& other) {
    const Frame& parent = top();
    const auto& [separator, id] = parent.node.children[parent.index];
    const std::optional<std::string_view> bound =
        parent.index + 1 < parent.node.children.size()
            ? std::optional(as_chars(parent.node.children[parent.index + 1].first))
            : parent.bound;
    BTreeNodeImage node;
    if (!other.frames_.empty() && id == other.root_) {
      node = other.frames_.front().node;  // frames_[0] is the root while there is one
    } else {
      ImageSink sink{&node};
      RETURN_IF_ERROR(load_and_parse(store_, id, sink));
    }
    const size_t count = entry_count(node);
    RETURN_IF_ERROR(
        check_child(ChildSlot{id, parent.index, parent.node.level, as_chars(separator), bound},
                    node.level, count, count == 0 ? std::string_view() : first_key(node),
                    count == 0 ? std::string_view() : last_key(node)));
    // Invariant: levels descend by one from <= kMaxLevel (checked above), so
    // the frames never outgrow what was reserved and `bound` stays valid.
    LARES_CHECK(frames_.size() < kMaxLevel + 1);
    frames_.push_back(Frame{std::move(node), 0, bound});
    return Status::ok();
  }

  // Moves past the head: an entry, or a whole subtree without loading it.
  void next() {
    ++frames_.back().index;
    settle();
  }

 private:
  struct Frame {
    BTreeNodeImage node;
    size_t index = 0;  // of the head (entry or child slot)
    // The node's keys are below it (a key in a parent frame; nullopt: none).
    std::optional<std::string_view> bound;
  };

  static size_t entry_count(const BTreeNodeImage& node) {
    return node.level == 0 ? node.leaf.size() : node.children.size();
  }
  static std::string_view first_key(const BTreeNodeImage& node) {
    return as_chars(node.level == 0 ? node.leaf.front().first : node.children.front().first);
  }
  static std::string_view last_key(const BTreeNodeImage& node) {
    return as_chars(node.level == 0 ? node.leaf.back().first : node.children.back().first);
  }
  const Frame& top() const { return frames_.back(); }

  // Pops the nodes walked to their end, moving each parent past the slot.
  void settle() {
    while (!frames_.empty() && frames_.back().index == entry_count(frames_.back().node)) {
      frames_.pop_back();
      if (!frames_.empty()) ++frames_.back().index;
    }
  }

  NodeStore& store_;
  ChunkId root_;
  std::vector<Frame> frames_;  // the root first
};

}  // namespace

Status diff_btrees(NodeStore& store, const ChunkId& a, const ChunkId& b, const BTreeDiffFn& fn) {
  if (a == b) return Status::ok();
  DiffCursor x(store);
  DiffCursor y(store);
  RETURN_IF_ERROR(x.start(a));
  RETURN_IF_ERROR(y.start(b));
  // Each round passes an entry or a subtree, or loads a node: bounded by the
  // two trees' sizes.
  while (!x.at_end() || !y.at_end()) {
    // <0: the smallest key not yet compared is x's alone; >0: y's; 0: both.
    const int order = x.at_end() ? 1 : y.at_end() ? -1 : x.key().compare(y.key());
    if (order == 0) {
      if (x.at_subtree() && y.at_subtree() && x.subtree_id() == y.subtree_id()) {
        x.next();  // shared: skipped unread
        y.next();
        continue;
      }
      if (x.at_subtree() || y.at_subtree()) {
        const int x_height = x.at_subtree() ? x.subtree_height() : 0;
        const int y_height = y.at_subtree() ? y.subtree_height() : 0;
        if (x_height >= y_height) RETURN_IF_ERROR(x.descend(y));
        if (y_height >= x_height) RETURN_IF_ERROR(y.descend(x));
        continue;
      }
      if (x.value() != y.value() && !fn(as_bytes(x.key()), &x.value(), &y.value())) break;
      x.next();
      y.next();
      continue;
    }
    DiffCursor& alone = order < 0 ? x : y;
    if (alone.at_subtree()) {
      RETURN_IF_ERROR(alone.descend(order < 0 ? y : x));
      continue;
    }
    const Bytes* value = &alone.value();
    if (!fn(as_bytes(alone.key()), order < 0 ? value : nullptr, order < 0 ? nullptr : value)) break;
    alone.next();
  }
  return Status::ok();
}

void append_be64(Bytes& out, uint64_t value) {
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(value >> shift));
}

uint64_t read_be64(ByteView in) {
  LARES_CHECK(in.size() >= 8);
  uint64_t value = 0;
  for (size_t i = 0; i < 8; ++i) value = (value << 8) | in[i];
  return value;
}

}  // namespace lares
