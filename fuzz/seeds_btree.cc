// Seeds for btree_node_fuzz (fs/btree.h): valid node blobs (a leaf, interior
// nodes, the empty root, the extremes) and near-valid blobs that each break
// one rule.
//
// sample_leaf() is also the pinned sample tests/data/btree_node_v1.bin (the
// corpus file valid_sample_leaf.bin, copied once): changing it changes neither
// that file nor what tests/fs/btree_test.cc expects of it.
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

#include "fs/btree.h"
#include "fuzz/seeds.h"

namespace lares::fuzz {
namespace {

ChunkId filled_id(uint8_t value) {
  ChunkId id;
  id.bytes.fill(value);
  return id;
}

Bytes bytes_of(std::string_view s) { return Bytes(s.begin(), s.end()); }

// An item key as a live dataset builds them: a big-endian inode number, then
// a kind byte and a name.
Bytes item_key(uint64_t inode, std::string_view rest) {
  Bytes key;
  append_be64(key, inode);
  key.insert(key.end(), rest.begin(), rest.end());
  return key;
}

// What tests/fs/btree_test.cc (DecodesTheCheckedInVersion1Sample) checks.
BTreeNodeImage sample_leaf() {
  BTreeNodeImage node;
  Bytes inode_2;
  append_be64(inode_2, 2);
  node.leaf = {
      {item_key(1, ""), Bytes{}},
      {item_key(1, "dphotos"), inode_2},
      {item_key(2, std::string_view("x\0\xff", 3)), Bytes{0x00, 0x01, 0xfe, 0xff}},
      {bytes_of("\xffzz"), Bytes(200, 0xab)},  // a value length of two varint bytes
  };
  return node;
}

BTreeNodeImage sample_interior() {
  BTreeNodeImage node;
  node.level = 1;
  node.children = {{bytes_of("a"), filled_id(0x11)}, {bytes_of("m"), filled_id(0x22)}};
  return node;
}

// The largest key, a level-32 root over one child.
BTreeNodeImage extreme_interior() {
  BTreeNodeImage node;
  node.level = 32;
  node.children = {{Bytes(kMaxKeyLength, 0xff), filled_id(0xff)}};
  return node;
}

// ---- A writer that also writes what the rules forbid (encode_btree_node
// requires a valid node), for the one-defect seeds.

void put_u(Bytes& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<uint8_t>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<uint8_t>(v));
}

void put_str(Bytes& out, std::string_view s) {
  put_u(out, s.size());
  out.insert(out.end(), s.begin(), s.end());
}

// A leaf of (key, value) entries written as given.
Bytes raw_leaf(std::initializer_list<std::pair<std::string_view, std::string_view>> entries) {
  Bytes out = {kBTreeNodeVersion, 0};
  put_u(out, entries.size());
  for (const auto& [key, value] : entries) {
    put_str(out, key);
    put_str(out, value);
  }
  return out;
}

void add_entry_defects(Seeds& seeds) {
  seeds.emplace_back("keys_unsorted", raw_leaf({{"b", "1"}, {"a", "2"}}));
  seeds.emplace_back("keys_duplicate", raw_leaf({{"a", "1"}, {"a", "2"}}));
  seeds.emplace_back("key_empty", raw_leaf({{"", "1"}}));
  const std::string long_key(kMaxKeyLength + 1, 'k');
  seeds.emplace_back("key_1025", raw_leaf({{long_key, "1"}}));
  // A value length one over the limit, with no value bytes behind it: the
  // length is refused before the bytes are looked for.
  Bytes b = {kBTreeNodeVersion, 0, 1};
  put_str(b, "k");
  put_u(b, kMaxValueLength + 1);
  seeds.emplace_back("value_over_max", b);
  // Interior entries: a child id cut short, and keys out of order.
  Bytes interior = encode_btree_node(sample_interior());
  seeds.emplace_back("child_id_truncated", Bytes(interior.begin(), interior.end() - 1));
  std::swap(interior[4], interior[4 + 2 + ChunkId::kSize]);  // "a" <-> "m"
  seeds.emplace_back("children_unsorted", interior);
}

void add_blob_defects(Seeds& seeds, const Bytes& valid) {
  Bytes b = valid;
  b[0] = 0;
  seeds.emplace_back("version_0", b);
  b[0] = 2;
  seeds.emplace_back("version_2", b);
  b = valid;
  b.push_back(0);
  seeds.emplace_back("trailing_byte", b);
  seeds.emplace_back("truncated", Bytes(valid.begin(), valid.begin() + valid.size() / 2));
  seeds.emplace_back("empty", Bytes{});
  seeds.emplace_back("version_only", Bytes{kBTreeNodeVersion});
  seeds.emplace_back("level_33", Bytes{kBTreeNodeVersion, 33, 0});
  seeds.emplace_back("interior_no_entries", Bytes{kBTreeNodeVersion, 1, 0});
  seeds.emplace_back("leaf_count_too_large", Bytes{kBTreeNodeVersion, 0, 100, 1, 'a', 0});
  b = {kBTreeNodeVersion, 1, 2};  // two children, the bytes of one
  put_str(b, "a");
  b.insert(b.end(), ChunkId::kSize, 0x11);
  seeds.emplace_back("interior_count_too_large", b);
  seeds.emplace_back("overlong_count", Bytes{kBTreeNodeVersion, 0, 0x80, 0x00});
  b = {kBTreeNodeVersion, 0};
  for (int i = 0; i < 9; ++i) b.push_back(0xff);
  b.push_back(0x02);
  seeds.emplace_back("varint_over_64_bits", b);
}

}  // namespace

Bytes btree_node_sample_v1() { return encode_btree_node(sample_leaf()); }

Seeds btree_node_seeds() {
  const Bytes valid = encode_btree_node(sample_leaf());
  Seeds seeds = {
      {"valid_sample_leaf", valid},
      {"valid_interior", encode_btree_node(sample_interior())},
      {"valid_empty_root", encode_btree_node(BTreeNodeImage{})},
      {"valid_extreme_interior", encode_btree_node(extreme_interior())},
      {"valid_raw_leaf", raw_leaf({{"a", ""}, {"ab", "v"}, {"b", "value"}})},
  };
  add_entry_defects(seeds);
  add_blob_defects(seeds, valid);
  return seeds;
}

}  // namespace lares::fuzz
