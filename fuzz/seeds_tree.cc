// Seeds for tree_fuzz (fs/tree.h): valid tree blobs covering every node type,
// holes and binary xattrs, and near-valid blobs that each break one rule.
//
// sample_tree() is also the pinned sample tests/data/tree_v1.bin (the corpus
// file valid_sample.bin, copied once): changing it changes neither that file
// nor what tests/fs/tree_test.cc expects of it.
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fs/tree.h"
#include "fuzz/seeds.h"

namespace lares::fuzz {
namespace {

ChunkId filled_id(uint8_t value) {
  ChunkId id;
  id.bytes.fill(value);
  return id;
}

Bytes bytes_of(std::string_view s) { return Bytes(s.begin(), s.end()); }

Node sample_node(std::string name, NodeType type, uint32_t mode) {
  Node n;
  n.name = std::move(name);
  n.type = type;
  n.mode = mode;
  n.uid = 1000;
  n.gid = 1000;
  n.user = "alice";
  n.group = "alice";
  n.mtime_ns = 1'700'000'000'123'456'789;
  n.atime_ns = 1'700'000'100'000'000'000;
  n.ctime_ns = 1'700'000'000'987'654'321;
  n.inode = 131073;
  n.device = 0x803;
  n.nlink = 1;
  return n;
}

// What tests/fs/tree_test.cc (DecodesTheCheckedInVersion1Sample) checks.
Tree sample_tree() {
  Tree tree;
  Node readme = sample_node("README.md", NodeType::kFile, 0644);
  ChunkId first;
  for (uint8_t i = 0; i < 32; ++i) first.bytes[i] = i;
  readme.extents = {{first, 65536}, {std::nullopt, 2 * 65536}, {filled_id(0xee), 1000}};
  readme.size = 3 * 65536 + 1000;
  readme.nlink = 2;
  readme.xattrs = {{"user.checksum", Bytes{0x00, 0x01, 0xfe, 0xff}},
                   {"user.mime_type", bytes_of("text/markdown")}};
  tree.nodes.push_back(readme);
  Node null = sample_node("dev-null", NodeType::kCharDev, 0666);
  null.uid = null.gid = 0;
  null.user = null.group = "root";
  null.rdev = (1 << 8) | 3;
  tree.nodes.push_back(null);
  Node latest = sample_node("latest", NodeType::kSymlink, 0777);
  latest.symlink_target = "photos/2024";
  latest.size = latest.symlink_target.size();
  tree.nodes.push_back(latest);
  Node old = sample_node("old", NodeType::kFile, 0400);
  old.mtime_ns = -1'500'000'000;
  tree.nodes.push_back(old);
  Node photos = sample_node("photos", NodeType::kDir, 02775);
  photos.subtree = filled_id(0xd1);
  photos.nlink = 3;
  tree.nodes.push_back(photos);
  tree.nodes.push_back(sample_node("pipe", NodeType::kFifo, 0600));
  tree.nodes.push_back(sample_node("sock", NodeType::kSocket, 0755));
  return tree;
}

// Extremes: the largest lengths, ids and counts-per-field the rules allow.
Tree extreme_tree() {
  Tree tree;
  Node big = sample_node(std::string(kMaxNameLength, 'f'), NodeType::kFile, 07777);
  big.extents = {{std::nullopt, std::numeric_limits<uint64_t>::max() - kMaxChunkLength},
                 {filled_id(0xff), kMaxChunkLength}};
  big.size = std::numeric_limits<uint64_t>::max();
  big.uid = big.gid = std::numeric_limits<uint32_t>::max();
  big.mtime_ns = std::numeric_limits<int64_t>::min();
  big.atime_ns = std::numeric_limits<int64_t>::max();
  big.inode = big.device = big.nlink = std::numeric_limits<uint64_t>::max();
  big.xattrs = {{std::string(kMaxNameLength, 'x'), Bytes(300, 0xab)}};
  tree.nodes.push_back(big);
  Node link = sample_node("l", NodeType::kSymlink, 0);
  link.symlink_target = std::string(kMaxSymlinkLength, 's');
  link.user.clear();
  link.group.clear();
  tree.nodes.push_back(link);
  Node block = sample_node("z", NodeType::kBlockDev, 0660);
  block.rdev = std::numeric_limits<uint64_t>::max();
  tree.nodes.push_back(block);
  return tree;
}

// ---- A writer that also writes what the rules forbid (encode_tree requires
// a valid tree), for the one-defect seeds.

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

// A one-entry tree holding a fifo (which has no type-specific fields) built
// field by field; `patch` may change any field's bytes.
struct RawFifo {
  std::string name = "fifo";
  uint8_t type = static_cast<uint8_t>(NodeType::kFifo);
  uint64_t mode = 0644;
  uint64_t nlink = 1;
  std::vector<std::pair<std::string, std::string>> xattrs;

  Bytes encode() const {
    Bytes out = {kTreeVersion, 1};
    put_str(out, name);
    out.push_back(type);
    put_u(out, mode);
    for (uint64_t v : {1000, 1000}) put_u(out, v);  // uid, gid
    put_str(out, "alice");
    put_str(out, "alice");
    for (uint64_t v : {2, 4, 6, 7, 8}) put_u(out, v);  // 3 times, inode, device
    put_u(out, nlink);
    put_u(out, 0);  // size
    put_u(out, xattrs.size());
    for (const auto& [x_name, x_value] : xattrs) {
      put_str(out, x_name);
      put_str(out, x_value);
    }
    return out;
  }
};

Bytes encode_one(const Node& node) {
  Tree tree;
  tree.nodes.push_back(node);
  return encode_tree(tree);
}

void add_entry_defects(Seeds& seeds) {
  auto fifo = [&](const char* name, auto change) {
    RawFifo raw;
    change(raw);
    seeds.emplace_back(name, raw.encode());
  };
  fifo("name_empty", [](RawFifo& r) { r.name = ""; });
  fifo("name_slash", [](RawFifo& r) { r.name = "a/b"; });
  fifo("name_dot", [](RawFifo& r) { r.name = "."; });
  fifo("name_dotdot", [](RawFifo& r) { r.name = ".."; });
  fifo("name_nul", [](RawFifo& r) { r.name = std::string("a\0b", 3); });
  fifo("name_256", [](RawFifo& r) { r.name = std::string(256, 'n'); });
  fifo("mode_010000", [](RawFifo& r) { r.mode = 010000; });
  fifo("mode_over_32_bits", [](RawFifo& r) { r.mode = uint64_t{1} << 32; });
  fifo("type_0", [](RawFifo& r) { r.type = 0; });
  fifo("type_8", [](RawFifo& r) { r.type = 8; });
  fifo("nlink_0", [](RawFifo& r) { r.nlink = 0; });
  fifo("xattrs_unsorted", [](RawFifo& r) { r.xattrs = {{"user.b", ""}, {"user.a", ""}}; });
  fifo("xattrs_duplicate", [](RawFifo& r) { r.xattrs = {{"user.a", "1"}, {"user.a", "2"}}; });
  fifo("xattr_name_empty", [](RawFifo& r) { r.xattrs = {{"", "v"}}; });
  fifo("xattr_value_65537", [](RawFifo& r) {
    r.xattrs = {{"user.big", std::string(kMaxXattrValueLength + 1, 'v')}};
  });
}

void add_extent_defects(Seeds& seeds) {
  // A file of one hole of 7 bytes: ... size 7, extent count 1, kind 1, length 7, xattr count 0.
  Node hole = sample_node("f", NodeType::kFile, 0644);
  hole.extents = {{std::nullopt, 7}};
  hole.size = 7;
  const Bytes valid = encode_one(hole);
  const size_t kind_at = valid.size() - 3;
  Bytes b = valid;
  b[kind_at] = 2;
  seeds.emplace_back("extent_kind_2", b);
  b = valid;
  b[kind_at + 1] = 0;
  seeds.emplace_back("extent_length_0", b);
  b = valid;
  b[kind_at + 1] = 8;
  seeds.emplace_back("size_not_extent_sum", b);
  b = valid;
  b[kind_at - 1] = 200;  // an extent count the bytes cannot hold
  seeds.emplace_back("extent_count_too_large", b);
  // A data extent one byte over the largest chunk.
  Node data = sample_node("f", NodeType::kFile, 0644);
  data.extents = {{filled_id(0x11), kMaxChunkLength}};
  data.size = kMaxChunkLength;
  b = encode_one(data);
  // The length 2^30 is the varint 80 80 80 80 04, before the xattr count.
  b[b.size() - 6] = 0x81;  // the size no longer matches either; the length check is first
  seeds.emplace_back("extent_over_max_chunk", b);
}

void add_blob_defects(Seeds& seeds, const Bytes& valid) {
  Bytes b = valid;
  b[0] = 2;
  seeds.emplace_back("version_2", b);
  b = valid;
  b.push_back(0);
  seeds.emplace_back("trailing_byte", b);
  seeds.emplace_back("truncated", Bytes(valid.begin(), valid.begin() + valid.size() / 2));
  seeds.emplace_back("empty", Bytes{});
  seeds.emplace_back("overlong_count", Bytes{kTreeVersion, 0x80, 0x00});
  b = {kTreeVersion};
  for (int i = 0; i < 9; ++i) b.push_back(0xff);
  b.push_back(0x02);
  seeds.emplace_back("varint_over_64_bits", b);
  seeds.emplace_back("entry_count_too_large", Bytes{kTreeVersion, 0xff, 0x01});
  // Two entries out of order, and a duplicate.
  Node a = sample_node("a", NodeType::kFifo, 0644);
  Node z = sample_node("z", NodeType::kSocket, 0644);
  Bytes ea = encode_one(a);
  Bytes ez = encode_one(z);
  b = {kTreeVersion, 2};
  b.insert(b.end(), ez.begin() + 2, ez.end());
  b.insert(b.end(), ea.begin() + 2, ea.end());
  seeds.emplace_back("entries_unsorted", b);
  b = {kTreeVersion, 2};
  b.insert(b.end(), ea.begin() + 2, ea.end());
  b.insert(b.end(), ea.begin() + 2, ea.end());
  seeds.emplace_back("entries_duplicate", b);
}

}  // namespace

Bytes tree_sample_v1() { return encode_tree(sample_tree()); }

Seeds tree_seeds() {
  const Bytes valid = encode_tree(sample_tree());
  Seeds seeds = {
      {"valid_sample", valid},
      {"valid_empty", encode_tree(Tree{})},
      {"valid_extremes", encode_tree(extreme_tree())},
  };
  Node symlink = sample_node("link", NodeType::kSymlink, 0777);
  symlink.symlink_target = "../target";
  const Bytes link = encode_one(symlink);
  seeds.emplace_back("valid_symlink", link);
  // The same with an empty target: ... str target (1 + 9 bytes), xattr count 0.
  Bytes empty_target(link.begin(), link.end() - 11);
  empty_target.push_back(0);
  empty_target.push_back(0);
  seeds.emplace_back("symlink_target_empty", empty_target);
  RawFifo fifo;  // a valid entry, written by the raw writer
  seeds.emplace_back("valid_raw_fifo", fifo.encode());
  add_entry_defects(seeds);
  add_extent_defects(seeds);
  add_blob_defects(seeds, valid);
  return seeds;
}

}  // namespace lares::fuzz
