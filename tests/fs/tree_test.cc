#include "fs/tree.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

#include "util/file.h"

namespace lares {
namespace {

ChunkId id_of(uint8_t seed) {
  ChunkId id;
  for (size_t i = 0; i < ChunkId::kSize; ++i) id.bytes[i] = static_cast<uint8_t>(seed + i);
  return id;
}

Bytes bytes_of(std::initializer_list<uint8_t> list) { return Bytes(list.begin(), list.end()); }

Node base_node(std::string name, NodeType type) {
  Node n;
  n.name = std::move(name);
  n.type = type;
  n.mode = 0644;
  n.uid = 1000;
  n.gid = 100;
  n.user = "alice";
  n.group = "users";
  n.mtime_ns = 1'700'000'000'123'456'789;
  n.atime_ns = 1'700'000'001'000'000'001;
  n.ctime_ns = 1'700'000'002'999'999'999;
  n.inode = 12345;
  n.device = 0x801;
  n.nlink = 1;
  return n;
}

Node file_node(std::string name, std::vector<Extent> extents) {
  Node n = base_node(std::move(name), NodeType::kFile);
  for (const Extent& e : extents) n.size += e.length;
  n.extents = std::move(extents);
  return n;
}

// One node of every type, holes and binary xattrs included.
Tree every_type_tree() {
  Tree tree;
  Node file = file_node("a.txt", {{id_of(1), 4096}, {std::nullopt, 1 << 20}, {id_of(2), 17}});
  file.xattrs = {{"user.bin", bytes_of({0x00, 0xff, 0x00, 0x7f})}, {"user.empty", {}}};
  tree.nodes.push_back(file);
  Node block = base_node("blk", NodeType::kBlockDev);
  block.rdev = (8 << 8) | 1;
  tree.nodes.push_back(block);
  Node chr = base_node("chr", NodeType::kCharDev);
  chr.rdev = (1 << 8) | 3;
  tree.nodes.push_back(chr);
  Node dir = base_node("dir", NodeType::kDir);
  dir.mode = 01777;
  dir.subtree = id_of(0xa0);
  dir.nlink = 3;
  tree.nodes.push_back(dir);
  tree.nodes.push_back(file_node("empty", {}));
  tree.nodes.push_back(base_node("fifo", NodeType::kFifo));
  Node link = base_node("link", NodeType::kSymlink);
  link.symlink_target = "../a.txt";
  link.size = link.symlink_target.size();
  tree.nodes.push_back(link);
  tree.nodes.push_back(base_node("sock", NodeType::kSocket));
  Node setid = file_node("suid", {{id_of(3), 1}});
  setid.mode = 06755;
  setid.user.clear();
  setid.group.clear();
  tree.nodes.push_back(setid);
  return tree;
}

void expect_round_trip(const Tree& tree) {
  ASSERT_TRUE(validate_tree(tree).is_ok()) << validate_tree(tree).to_string();
  Bytes bytes = encode_tree(tree);
  auto decoded = decode_tree(bytes);
  ASSERT_TRUE(decoded.is_ok()) << decoded.status().to_string();
  EXPECT_EQ(*decoded, tree);
  EXPECT_EQ(encode_tree(*decoded), bytes) << "the encoding must be canonical";
}

void expect_code(const Status& status, Code code, const std::string& reason) {
  EXPECT_EQ(status.code(), code) << status.to_string();
  EXPECT_NE(status.message().find(reason), std::string::npos)
      << "expected \"" << reason << "\" in: " << status.to_string();
}

// ---- An encoder for the tests, independent of the one under test and
// willing to write what the rules forbid, so each decoder check can be hit.

void put_u(Bytes& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<uint8_t>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<uint8_t>(v));
}
void put_s(Bytes& out, int64_t v) {
  put_u(out, v < 0 ? ~(static_cast<uint64_t>(v) << 1) : static_cast<uint64_t>(v) << 1);
}
void put_str(Bytes& out, std::string_view s) {
  put_u(out, s.size());
  out.insert(out.end(), s.begin(), s.end());
}

// `mode` as a full u64, so values over 32 bits can be written.
Bytes raw_entry(const Node& n, uint64_t mode) {
  Bytes out;
  put_str(out, n.name);
  out.push_back(static_cast<uint8_t>(n.type));
  put_u(out, mode);
  put_u(out, n.uid);
  put_u(out, n.gid);
  put_str(out, n.user);
  put_str(out, n.group);
  put_s(out, n.mtime_ns);
  put_s(out, n.atime_ns);
  put_s(out, n.ctime_ns);
  put_u(out, n.inode);
  put_u(out, n.device);
  put_u(out, n.nlink);
  put_u(out, n.size);
  if (n.type == NodeType::kFile) {
    put_u(out, n.extents.size());
    for (const Extent& e : n.extents) {
      out.push_back(e.id.has_value() ? 0 : 1);
      if (e.id.has_value()) out.insert(out.end(), e.id->bytes.begin(), e.id->bytes.end());
      put_u(out, e.length);
    }
  } else if (n.type == NodeType::kDir) {
    out.insert(out.end(), n.subtree.bytes.begin(), n.subtree.bytes.end());
  } else if (n.type == NodeType::kSymlink) {
    put_str(out, n.symlink_target);
  } else if (n.type == NodeType::kCharDev || n.type == NodeType::kBlockDev) {
    put_u(out, n.rdev);
  }
  put_u(out, n.xattrs.size());
  for (const Xattr& x : n.xattrs) {
    put_str(out, x.name);
    put_str(out, as_chars(x.value));
  }
  return out;
}
Bytes raw_entry(const Node& n) { return raw_entry(n, n.mode); }

Bytes raw_tree(const std::vector<Bytes>& entries) {
  Bytes out = {kTreeVersion};
  put_u(out, entries.size());
  for (const Bytes& e : entries) out.insert(out.end(), e.begin(), e.end());
  return out;
}

Bytes raw_tree_of(const std::vector<Node>& nodes) {
  std::vector<Bytes> entries;
  for (const Node& n : nodes) entries.push_back(raw_entry(n));
  return raw_tree(entries);
}

void expect_corrupt(const Bytes& bytes, const std::string& reason) {
  expect_code(decode_tree(bytes).status(), Code::kCorruption, reason);
}

// A node that breaks one rule must be rejected by both validate_tree (in
// memory) and decode_tree (as bytes), each with its own code.
void expect_rejected(const Node& node, const std::string& reason) {
  Tree tree;
  tree.nodes.push_back(base_node("0", NodeType::kFifo));
  tree.nodes.push_back(node);
  expect_code(validate_tree(tree), Code::kInvalidArgument, reason);
  expect_corrupt(raw_tree_of(tree.nodes), reason);
}

TEST(TreeTest, RoundTripsEveryNodeType) { expect_round_trip(every_type_tree()); }

TEST(TreeTest, RoundTripsAnEmptyTree) {
  expect_round_trip(Tree{});
  EXPECT_EQ(encode_tree(Tree{}), bytes_of({1, 0}));
}

TEST(TreeTest, RoundTripsExtremeValues) {
  Tree tree;
  Node a = file_node("a", {{std::nullopt, std::numeric_limits<uint64_t>::max() - kMaxChunkLength},
                           {id_of(9), kMaxChunkLength}});
  EXPECT_EQ(a.size, std::numeric_limits<uint64_t>::max());
  a.mode = 07777;
  a.uid = std::numeric_limits<uint32_t>::max();
  a.gid = std::numeric_limits<uint32_t>::max();
  a.mtime_ns = std::numeric_limits<int64_t>::min();
  a.atime_ns = std::numeric_limits<int64_t>::max();
  a.ctime_ns = -1;
  a.inode = a.device = a.nlink = std::numeric_limits<uint64_t>::max();
  a.user = std::string(255, 'u');
  a.group = std::string(255, 'g');
  a.name = std::string(255, 'a');
  a.xattrs = {{std::string(255, 'x'), Bytes(kMaxXattrValueLength, 0xee)}};
  tree.nodes.push_back(a);
  Node b = base_node("b", NodeType::kSymlink);
  b.symlink_target = std::string(kMaxSymlinkLength, 'l');
  b.mode = 0;
  b.mtime_ns = b.atime_ns = b.ctime_ns = 0;
  b.user.clear();
  tree.nodes.push_back(b);
  Node c = base_node("c", NodeType::kCharDev);
  c.rdev = std::numeric_limits<uint64_t>::max();
  tree.nodes.push_back(c);
  Node high = base_node("\xc3\xa9t\xc3\xa9", NodeType::kSocket);  // "été": sorts after ASCII
  high.xattrs = {{"a", {}}, {"b\xff", bytes_of({0})}, {"security.selinux", bytes_of({1, 2})}};
  tree.nodes.push_back(high);
  expect_round_trip(tree);
}

// Entries of 16 bytes, the smallest valid ones: the count bound must not
// reject them.
TEST(TreeTest, RoundTripsTheSmallestEntries) {
  Tree tree;
  for (char c = 'a'; c <= 'z'; ++c) {
    Node n;
    n.name = std::string(1, c);
    n.type = NodeType::kFifo;
    n.nlink = 1;
    tree.nodes.push_back(n);
  }
  expect_round_trip(tree);
  EXPECT_EQ(encode_tree(tree).size(), 2 + 26 * 16u);
  Node empty_xattrs = tree.nodes.back();
  empty_xattrs.name = "zz";
  empty_xattrs.xattrs = {{"a", {}}, {"b", {}}};
  tree.nodes.push_back(empty_xattrs);
  expect_round_trip(tree);
}

// The bytes of a one-entry tree written out by hand: pins the varints, the
// zigzag encoding and the field order independently of the encoder.
TEST(TreeTest, FieldsLieWhereTheFormatSays) {
  Node fifo;
  fifo.name = "p";
  fifo.type = NodeType::kFifo;
  fifo.mode = 0644;
  fifo.uid = 1000;
  fifo.gid = 100;
  fifo.user = "al";
  fifo.group = "users";
  fifo.mtime_ns = -1;
  fifo.atime_ns = 1;
  fifo.ctime_ns = 300;
  fifo.inode = 5;
  fifo.device = 0x10;
  fifo.nlink = 1;
  fifo.xattrs = {{"user.a", bytes_of({0x00, 0xff})}};
  // clang-format off
  const Bytes expected = bytes_of({
      0x01,                                      // version
      0x01,                                      // entry count
      0x01, 'p',                                 // name
      0x04,                                      // type: fifo
      0xa4, 0x03,                                // mode 0644 = 420
      0xe8, 0x07,                                // uid 1000
      0x64,                                      // gid 100
      0x02, 'a', 'l',                            // user
      0x05, 'u', 's', 'e', 'r', 's',             // group
      0x01,                                      // mtime -1, zigzag 1
      0x02,                                      // atime 1, zigzag 2
      0xd8, 0x04,                                // ctime 300, zigzag 600
      0x05, 0x10, 0x01,                          // inode, device, nlink
      0x00,                                      // size
      0x01,                                      // xattr count
      0x06, 'u', 's', 'e', 'r', '.', 'a',        // xattr name
      0x02, 0x00, 0xff,                          // xattr value
  });
  // clang-format on
  Tree tree;
  tree.nodes.push_back(fifo);
  EXPECT_EQ(encode_tree(tree), expected);
  auto decoded = decode_tree(expected);
  ASSERT_TRUE(decoded.is_ok()) << decoded.status().to_string();
  EXPECT_EQ(*decoded, tree);
}

TEST(TreeTest, TypeSpecificFieldsFollowTheSize) {
  Node dir = base_node("d", NodeType::kDir);
  dir.subtree = id_of(0x40);
  Tree tree;
  tree.nodes.push_back(dir);
  Bytes bytes = encode_tree(tree);
  // The 32 id bytes sit just before the final xattr count (0).
  ASSERT_GE(bytes.size(), 33u);
  EXPECT_EQ(bytes.back(), 0);
  EXPECT_TRUE(std::equal(dir.subtree.bytes.begin(), dir.subtree.bytes.end(), bytes.end() - 33));

  Node file = file_node("f", {{id_of(7), 300}, {std::nullopt, 5}});
  tree.nodes = {file};
  bytes = encode_tree(tree);
  // ..., size 305 (0xb1 0x02), 2 extents, data (0, id, 300 = 0xac 0x02), hole (1, 5), 0 xattrs.
  Bytes tail = {0xb1, 0x02, 0x02, 0x00};
  tail.insert(tail.end(), file.extents[0].id->bytes.begin(), file.extents[0].id->bytes.end());
  for (uint8_t b : bytes_of({0xac, 0x02, 0x01, 0x05, 0x00})) tail.push_back(b);
  ASSERT_GE(bytes.size(), tail.size());
  EXPECT_TRUE(std::equal(tail.begin(), tail.end(), bytes.end() - static_cast<long>(tail.size())));
}

TEST(TreeTest, RoundTripsALargeTreeQuickly) {
  Tree tree;
  constexpr size_t kEntries = 100'000;
  tree.nodes.reserve(kEntries);
  for (size_t i = 0; i < kEntries; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "file-%08zu.dat", i);
    Node n = file_node(name, {{id_of(static_cast<uint8_t>(i)), 1 + i}, {std::nullopt, 4096}});
    n.inode = i;
    if (i % 10 == 0) n.xattrs = {{"user.tag", bytes_of({static_cast<uint8_t>(i), 0})}};
    tree.nodes.push_back(std::move(n));
  }
  auto start = std::chrono::steady_clock::now();
  Bytes bytes = encode_tree(tree);
  auto encoded = std::chrono::steady_clock::now();
  auto decoded = decode_tree(bytes);
  auto done = std::chrono::steady_clock::now();
  ASSERT_TRUE(decoded.is_ok()) << decoded.status().to_string();
  EXPECT_EQ(decoded->nodes.size(), kEntries);
  EXPECT_EQ(*decoded, tree);
  using ms = std::chrono::duration<double, std::milli>;
  std::printf("100k entries, %zu bytes: encode %.1f ms, decode %.1f ms\n", bytes.size(),
              ms(encoded - start).count(), ms(done - encoded).count());
}

TEST(TreeTest, SortTreeOrdersNodesAndXattrsBytewise) {
  Tree tree;
  Node z = base_node("z", NodeType::kFifo);
  z.xattrs = {{"user.b", {}}, {"user.a", {}}, {"security.x", {}}};
  tree.nodes = {z, base_node("\xc3\xa9", NodeType::kFifo), base_node("B", NodeType::kFifo),
                base_node("a", NodeType::kFifo), base_node("a.b", NodeType::kFifo)};
  EXPECT_EQ(validate_tree(tree).code(), Code::kInvalidArgument);
  sort_tree(tree);
  std::vector<std::string> names;
  for (const Node& n : tree.nodes) names.push_back(n.name);
  EXPECT_EQ(names, (std::vector<std::string>{"B", "a", "a.b", "z", "\xc3\xa9"}));
  ASSERT_EQ(tree.nodes[3].xattrs.size(), 3u);
  EXPECT_EQ(tree.nodes[3].xattrs[0].name, "security.x");
  EXPECT_EQ(tree.nodes[3].xattrs[2].name, "user.b");
  expect_round_trip(tree);
}

TEST(TreeTest, RejectsUnsortedAndDuplicateNames) {
  Tree tree;
  tree.nodes = {base_node("b", NodeType::kFifo), base_node("a", NodeType::kFifo)};
  expect_code(validate_tree(tree), Code::kInvalidArgument, "out of order");
  expect_corrupt(raw_tree_of(tree.nodes), "out of order");
  tree.nodes = {base_node("a", NodeType::kFifo), base_node("a", NodeType::kSocket)};
  expect_code(validate_tree(tree), Code::kInvalidArgument, "duplicate");
  expect_corrupt(raw_tree_of(tree.nodes), "duplicate");
}

TEST(TreeTest, RejectsBadNames) {
  expect_rejected(base_node("", NodeType::kFifo), "name length 0");
  expect_rejected(base_node(std::string(256, 'n'), NodeType::kFifo), "name length 256");
  expect_rejected(base_node("a/b", NodeType::kFifo), "'/'");
  expect_rejected(base_node("/", NodeType::kFifo), "'/'");
  expect_rejected(base_node(std::string("a\0b", 3), NodeType::kFifo), "NUL");
  expect_rejected(base_node(".", NodeType::kFifo), "not allowed");
  expect_rejected(base_node("..", NodeType::kFifo), "not allowed");
  // Names that merely look like those are fine.
  Tree tree;
  tree.nodes = {base_node("...", NodeType::kFifo), base_node(".a", NodeType::kFifo),
                base_node("\\", NodeType::kFifo)};
  sort_tree(tree);
  expect_round_trip(tree);
}

TEST(TreeTest, RejectsModesOver07777) {
  Node n = base_node("m", NodeType::kFifo);
  n.mode = 010000;
  expect_rejected(n, "over 07777");
  n.mode = 0100644;  // a file-type bit
  expect_rejected(n, "over 07777");
  n.mode = 0644;
  expect_corrupt(raw_tree({raw_entry(n, uint64_t{1} << 32)}), "mode does not fit 32 bits");
}

TEST(TreeTest, RejectsIdsOver32Bits) {
  Node n = base_node("m", NodeType::kFifo);
  Bytes entry = raw_entry(n);
  // uid 1000 is at offset 2 (name) + 1 (type) + 2 (mode 0644): replace it with 2^32.
  ASSERT_EQ(entry[5], 0xe8);
  Bytes big;
  put_u(big, uint64_t{1} << 32);
  entry.erase(entry.begin() + 5, entry.begin() + 7);
  entry.insert(entry.begin() + 5, big.begin(), big.end());
  expect_corrupt(raw_tree({entry}), "uid does not fit 32 bits");
}

TEST(TreeTest, RejectsUnknownTypes) {
  for (int type : {0, 8, 255}) {
    Node n = base_node("t", static_cast<NodeType>(type));
    expect_rejected(n, "unknown type " + std::to_string(type));
  }
}

TEST(TreeTest, RejectsBadExtents) {
  expect_rejected(file_node("f", {{id_of(1), 0}}), "extent 0 has length 0");
  expect_rejected(file_node("f", {{id_of(1), 10}, {std::nullopt, 0}}), "extent 1 has length 0");
  expect_rejected(file_node("f", {{id_of(1), kMaxChunkLength + 1}}), "largest chunk");
  Node mismatch = file_node("f", {{id_of(1), 10}});
  mismatch.size = 11;
  expect_rejected(mismatch, "not the sum");
  const uint64_t half = uint64_t{1} << 63;
  Node overflow = file_node("f", {{std::nullopt, half}, {std::nullopt, half}});
  overflow.size = 0;
  expect_rejected(overflow, "overflow");

  // An extent kind other than 0 (data) or 1 (hole).
  Bytes entry = raw_entry(file_node("f", {{std::nullopt, 7}}));
  // The tail is: extent count 1, kind 1, length 7, xattr count 0.
  ASSERT_EQ(entry[entry.size() - 3], 1);
  entry[entry.size() - 3] = 2;
  expect_corrupt(raw_tree({entry}), "unknown extent kind 2");
}

TEST(TreeTest, RejectsBadSymlinksAndOtherFields) {
  Node link = base_node("l", NodeType::kSymlink);
  expect_rejected(link, "symlink target length 0");
  link.symlink_target = std::string(kMaxSymlinkLength + 1, 't');
  expect_rejected(link, "symlink target length 4096");
  link.symlink_target = std::string("a\0b", 3);
  expect_rejected(link, "symlink target contains NUL");

  Node n = base_node("n", NodeType::kFifo);
  n.nlink = 0;
  expect_rejected(n, "nlink is 0");
  n = base_node("n", NodeType::kFifo);
  n.user = std::string(256, 'u');
  expect_rejected(n, "user or group name");
  n = base_node("n", NodeType::kFifo);
  n.group = std::string(256, 'g');
  expect_rejected(n, "user or group name");
}

TEST(TreeTest, RejectsBadXattrs) {
  Node n = base_node("x", NodeType::kFifo);
  n.xattrs = {{"", {}}};
  expect_rejected(n, "name length 0");
  n.xattrs = {{std::string(256, 'x'), {}}};
  expect_rejected(n, "name length 256");
  n.xattrs = {{std::string("user.\0", 6), {}}};
  expect_rejected(n, "name contains NUL");
  n.xattrs = {{"user.a", Bytes(kMaxXattrValueLength + 1, 0)}};
  expect_rejected(n, "over 65536 bytes");
  n.xattrs = {{"user.b", {}}, {"user.a", {}}};
  expect_rejected(n, "out of order");
  n.xattrs = {{"user.a", {}}, {"user.a", bytes_of({1})}};
  expect_rejected(n, "duplicate");
}

TEST(TreeTest, ValidateRejectsFieldsTheTypeDoesNotStore) {
  Tree tree;
  Node n = base_node("n", NodeType::kFifo);
  n.rdev = 5;
  tree.nodes = {n};
  expect_code(validate_tree(tree), Code::kInvalidArgument, "rdev on a non-device");
  n = base_node("n", NodeType::kSocket);
  n.extents = {{std::nullopt, 1}};
  tree.nodes = {n};
  expect_code(validate_tree(tree), Code::kInvalidArgument, "extents on a non-file");
  n = base_node("n", NodeType::kFile);
  n.subtree = id_of(1);
  tree.nodes = {n};
  expect_code(validate_tree(tree), Code::kInvalidArgument, "subtree on a non-directory");
  n = base_node("n", NodeType::kDir);
  n.symlink_target = "x";
  tree.nodes = {n};
  expect_code(validate_tree(tree), Code::kInvalidArgument, "symlink target on a non-symlink");
}

TEST(TreeTest, RejectsEveryTruncation) {
  const Bytes bytes = encode_tree(every_type_tree());
  for (size_t length = 0; length < bytes.size(); ++length) {
    auto decoded = decode_tree(ByteView(bytes).subspan(0, length));
    EXPECT_EQ(decoded.status().code(), Code::kCorruption) << "length " << length;
  }
}

TEST(TreeTest, RejectsTrailingBytes) {
  Bytes bytes = encode_tree(every_type_tree());
  bytes.push_back(0);
  expect_corrupt(bytes, "1 trailing bytes");
  expect_corrupt(bytes_of({1, 0, 0}), "trailing");
}

TEST(TreeTest, RejectsOverlongAndOversizedVarints) {
  expect_corrupt(bytes_of({1, 0x80, 0x00}), "overlong varint");  // 0 in two bytes
  // A mode of 0644 written in three bytes instead of two.
  Node n = base_node("n", NodeType::kFifo);
  Bytes entry = raw_entry(n);
  ASSERT_EQ(entry[3], 0xa4);
  ASSERT_EQ(entry[4], 0x03);
  entry[4] = 0x83;
  entry.insert(entry.begin() + 5, 0x00);
  expect_corrupt(raw_tree({entry}), "mode: overlong varint");
  // Ten bytes that reach bit 64, and eleven bytes.
  Bytes over = {1};
  for (int i = 0; i < 9; ++i) over.push_back(0xff);
  over.push_back(0x02);
  expect_corrupt(over, "over 64 bits");
  over.back() = 0x81;
  over.push_back(0x00);
  expect_corrupt(over, "over 64 bits");
  // The largest value, 2^64 - 1, is fine where any value is allowed (a time).
  Node t = base_node("t", NodeType::kFifo);
  t.mtime_ns = std::numeric_limits<int64_t>::min();  // zigzag: 2^64 - 1
  Tree tree;
  tree.nodes = {t};
  expect_round_trip(tree);
}

TEST(TreeTest, RejectsCountsTheBytesCannotHold) {
  expect_corrupt(bytes_of({1, 0x01}), "entry count 1 is more than");
  Bytes huge = {1};
  put_u(huge, std::numeric_limits<uint64_t>::max());
  expect_corrupt(huge, "entry count");
  // An extent count and an xattr count far beyond the bytes left.
  Node f = file_node("f", {});
  Bytes entry = raw_entry(f);
  ASSERT_EQ(entry[entry.size() - 2], 0);  // extent count, xattr count
  entry.pop_back();
  entry.pop_back();
  put_u(entry, uint64_t{1} << 40);
  expect_corrupt(raw_tree({entry}), "extent count");
  entry = raw_entry(base_node("s", NodeType::kSocket));
  entry.pop_back();
  put_u(entry, 1'000'000);
  entry.push_back(0);
  expect_corrupt(raw_tree({entry}), "xattr count");
}

TEST(TreeTest, UnknownVersionsAreAFailedPrecondition) {
  Bytes bytes = encode_tree(every_type_tree());
  for (uint8_t version : bytes_of({0, 2, 255})) {
    bytes[0] = version;
    expect_code(decode_tree(bytes).status(), Code::kFailedPrecondition, "version");
  }
  expect_code(decode_tree({}).status(), Code::kCorruption, "empty");
}

// tests/data/tree_v1.bin was written from fuzz/seeds_tree.cc (sample_tree)
// when version 1 was current and is never rewritten: every future lares must
// still read it.
TEST(TreeTest, DecodesTheCheckedInVersion1Sample) {
  auto bytes = read_file(std::string(LARES_SOURCE_DIR) + "/tests/data/tree_v1.bin");
  ASSERT_TRUE(bytes.is_ok()) << bytes.status().to_string();
  auto tree = decode_tree(*bytes);
  ASSERT_TRUE(tree.is_ok()) << tree.status().to_string();
  ASSERT_EQ(tree->nodes.size(), 7u);
  const std::vector<Node>& n = tree->nodes;

  EXPECT_EQ(n[0].name, "README.md");
  EXPECT_EQ(n[0].type, NodeType::kFile);
  EXPECT_EQ(n[0].mode, 0644u);
  EXPECT_EQ(n[0].uid, 1000u);
  EXPECT_EQ(n[0].gid, 1000u);
  EXPECT_EQ(n[0].user, "alice");
  EXPECT_EQ(n[0].group, "alice");
  EXPECT_EQ(n[0].mtime_ns, 1'700'000'000'123'456'789);
  EXPECT_EQ(n[0].atime_ns, 1'700'000'100'000'000'000);
  EXPECT_EQ(n[0].ctime_ns, 1'700'000'000'987'654'321);
  EXPECT_EQ(n[0].inode, 131073u);
  EXPECT_EQ(n[0].device, 0x803u);
  EXPECT_EQ(n[0].nlink, 2u);
  EXPECT_EQ(n[0].size, 3u * 65536 + 1000);
  ASSERT_EQ(n[0].extents.size(), 3u);
  ChunkId first;
  for (uint8_t i = 0; i < 32; ++i) first.bytes[i] = i;
  EXPECT_EQ(n[0].extents[0], (Extent{first, 65536}));
  EXPECT_EQ(n[0].extents[1], (Extent{std::nullopt, 2 * 65536}));
  ChunkId last;
  last.bytes.fill(0xee);
  EXPECT_EQ(n[0].extents[2], (Extent{last, 1000}));
  ASSERT_EQ(n[0].xattrs.size(), 2u);
  EXPECT_EQ(n[0].xattrs[0].name, "user.checksum");
  EXPECT_EQ(n[0].xattrs[0].value, bytes_of({0x00, 0x01, 0xfe, 0xff}));
  EXPECT_EQ(n[0].xattrs[1].name, "user.mime_type");
  EXPECT_EQ(as_chars(n[0].xattrs[1].value), "text/markdown");

  EXPECT_EQ(n[1].name, "dev-null");
  EXPECT_EQ(n[1].type, NodeType::kCharDev);
  EXPECT_EQ(n[1].rdev, (1u << 8) | 3u);
  EXPECT_EQ(n[1].mode, 0666u);
  EXPECT_EQ(n[1].uid, 0u);
  EXPECT_EQ(n[1].user, "root");
  EXPECT_EQ(n[1].group, "root");

  EXPECT_EQ(n[2].name, "latest");
  EXPECT_EQ(n[2].type, NodeType::kSymlink);
  EXPECT_EQ(n[2].symlink_target, "photos/2024");
  EXPECT_EQ(n[2].mode, 0777u);
  EXPECT_EQ(n[2].size, 11u);

  EXPECT_EQ(n[3].name, "old");
  EXPECT_EQ(n[3].type, NodeType::kFile);
  EXPECT_EQ(n[3].mode, 0400u);
  EXPECT_EQ(n[3].mtime_ns, -1'500'000'000);  // 1969-12-31T23:59:58.5Z
  EXPECT_EQ(n[3].size, 0u);
  EXPECT_TRUE(n[3].extents.empty());

  EXPECT_EQ(n[4].name, "photos");
  EXPECT_EQ(n[4].type, NodeType::kDir);
  EXPECT_EQ(n[4].mode, 02775u);
  EXPECT_EQ(n[4].nlink, 3u);
  ChunkId subtree;
  subtree.bytes.fill(0xd1);
  EXPECT_EQ(n[4].subtree, subtree);
  EXPECT_EQ(n[4].size, 0u);

  EXPECT_EQ(n[5].name, "pipe");
  EXPECT_EQ(n[5].type, NodeType::kFifo);
  EXPECT_EQ(n[5].mode, 0600u);

  EXPECT_EQ(n[6].name, "sock");
  EXPECT_EQ(n[6].type, NodeType::kSocket);
  EXPECT_EQ(n[6].mode, 0755u);
  for (const Node& node : n) EXPECT_TRUE(node.xattrs.empty() || node.name == "README.md");
  // The sample is canonical: it re-encodes to the same bytes.
  EXPECT_EQ(encode_tree(*tree), *bytes);
}

}  // namespace
}  // namespace lares
