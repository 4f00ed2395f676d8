// Tree blob, version 1 (the layout is at the top of fs/tree.h, the source of
// truth; docs/FORMAT.md summarises it):
//
//   u8 version | u count | count x entry
//   entry: str name | u8 type | u mode | u uid | u gid | str user | str group
//          | s mtime_ns | s atime_ns | s ctime_ns | u inode | u device | u nlink
//          | u size | type-specific | u xattr count | xattrs (str name, str value)
//
// The encoding is canonical: every value has exactly one encoding (varints
// are minimal, entries and xattrs sorted and unique, no trailing bytes), so
// decode followed by encode gives back the same bytes, and equal directories
// get equal blob ids. The decoder parses the bytes into a Node (rejecting
// what it cannot even represent: bad varints, a mode, uid or gid over 32
// bits, an unknown type or extent kind, counts that cannot fit) and then
// applies the same rule checks as validate_tree, so the two cannot disagree.
#include "fs/tree.h"

#include "codec/varint.h"

#include <algorithm>
#include <charconv>
#include <limits>
#include <string_view>

namespace lares {
namespace {

constexpr size_t kMaxUserNameLength = 255;
// The fewest bytes each repeated item can be parsed from, to bound counts by
// the bytes that remain before anything is reserved: every varint and length
// takes at least one byte.
// Entry: name length, type, mode, uid, gid, user, group, 3 times, inode,
// device, nlink, size, xattr count; a fifo or socket has nothing more.
constexpr size_t kMinEntryBytes = 15;
constexpr size_t kMinExtentBytes = 2;  // kind, length (a hole)
constexpr size_t kMinXattrBytes = 2;   // name length, value length

static_assert(ChunkId::kSize == 32, "ids are 32 raw bytes in the format");

constexpr uint8_t kExtentData = 0;
constexpr uint8_t kExtentHole = 1;

bool valid_type(NodeType type) { return type >= NodeType::kFile && type <= NodeType::kSocket; }
bool is_device(NodeType type) { return type == NodeType::kCharDev || type == NodeType::kBlockDev; }

// A name for an error message: a damaged blob can hold any bytes, of any length.
std::string printable(std::string_view name) {
  constexpr size_t kShownBytes = 64;
  std::string out;
  for (char c : name.substr(0, kShownBytes)) {
    out += (c >= 0x20 && c < 0x7f) ? c : '?';
  }
  if (name.size() > kShownBytes) out += "...";
  return out;
}

std::string octal(uint32_t value) {
  char digits[16];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, value, 8);
  LARES_CHECK(ec == std::errc());
  return std::string(digits, end);
}

// ---- Rules shared by validate_tree and decode_tree. Each returns an empty
// string when the value is fine, else what is wrong with it.

std::string check_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxNameLength) {
    return "name length " + std::to_string(name.size()) + " is outside 1..255";
  }
  if (name == "." || name == "..") return "name \"" + std::string(name) + "\" is not allowed";
  if (name.find('/') != std::string_view::npos) return "name contains '/'";
  if (name.find('\0') != std::string_view::npos) return "name contains NUL";
  return {};
}

std::string check_extents(const Node& node) {
  uint64_t total = 0;
  for (size_t i = 0; i < node.extents.size(); ++i) {
    const Extent& e = node.extents[i];
    if (e.length == 0) return "extent " + std::to_string(i) + " has length 0";
    if (e.id.has_value() && e.length > kMaxChunkLength) {
      return "extent " + std::to_string(i) + " is longer than the largest chunk (1 GiB)";
    }
    if (total > std::numeric_limits<uint64_t>::max() - e.length) {
      return "extent lengths overflow 64 bits";
    }
    total += e.length;
  }
  if (total != node.size) {
    return "size " + std::to_string(node.size) + " is not the sum of the extent lengths (" +
           std::to_string(total) + ")";
  }
  return {};
}

std::string check_xattrs(const std::vector<Xattr>& xattrs) {
  for (size_t i = 0; i < xattrs.size(); ++i) {
    const Xattr& x = xattrs[i];
    auto where = [i] { return "xattr " + std::to_string(i); };
    if (x.name.empty() || x.name.size() > kMaxNameLength) {
      return where() + ": name length " + std::to_string(x.name.size()) + " is outside 1..255";
    }
    if (x.name.find('\0') != std::string::npos) return where() + ": name contains NUL";
    if (x.value.size() > kMaxXattrValueLength) return where() + ": value is over 65536 bytes";
    if (i > 0 && !(xattrs[i - 1].name < x.name)) {
      return where() + " \"" + printable(x.name) + "\": out of order or a duplicate";
    }
  }
  return {};
}

// Every rule of the format that concerns one node alone.
std::string check_node(const Node& node) {
  if (std::string problem = check_name(node.name); !problem.empty()) return problem;
  if (!valid_type(node.type)) {
    return "unknown type " + std::to_string(static_cast<unsigned>(node.type));
  }
  if (node.mode > 07777) return "mode 0" + octal(node.mode) + " has bits over 07777";
  if (node.user.size() > kMaxUserNameLength || node.group.size() > kMaxUserNameLength) {
    return "user or group name is over 255 bytes";
  }
  if (node.nlink == 0) return "nlink is 0";
  if (node.type == NodeType::kFile) {
    if (std::string problem = check_extents(node); !problem.empty()) return problem;
  }
  if (node.type == NodeType::kSymlink) {
    const std::string& target = node.symlink_target;
    if (target.empty() || target.size() > kMaxSymlinkLength) {
      return "symlink target length " + std::to_string(target.size()) + " is outside 1..4095";
    }
    if (target.find('\0') != std::string::npos) return "symlink target contains NUL";
  }
  return check_xattrs(node.xattrs);
}

// A field that the node's type does not store would be lost by encode_tree;
// only trees built in memory can have one.
std::string check_unstored_fields(const Node& node) {
  if (node.type != NodeType::kFile && !node.extents.empty()) return "extents on a non-file";
  if (node.type != NodeType::kDir && node.subtree != ChunkId{}) return "subtree on a non-directory";
  if (node.type != NodeType::kSymlink && !node.symlink_target.empty()) {
    return "symlink target on a non-symlink";
  }
  if (!is_device(node.type) && node.rdev != 0) return "rdev on a non-device";
  return {};
}

std::string entry_label(size_t index, const std::string& name) {
  return "tree entry " + std::to_string(index) + " \"" + printable(name) + "\"";
}

// ---- Encoder.


void encode_node(const Node& node, VarWriter& w) {
  w.str(node.name);
  w.u8(static_cast<uint8_t>(node.type));
  w.u(node.mode);
  w.u(node.uid);
  w.u(node.gid);
  w.str(node.user);
  w.str(node.group);
  w.s(node.mtime_ns);
  w.s(node.atime_ns);
  w.s(node.ctime_ns);
  w.u(node.inode);
  w.u(node.device);
  w.u(node.nlink);
  w.u(node.size);
  switch (node.type) {
    case NodeType::kFile:
      w.u(node.extents.size());
      for (const Extent& e : node.extents) {
        w.u8(e.id.has_value() ? kExtentData : kExtentHole);
        if (e.id.has_value()) w.raw(e.id->bytes);
        w.u(e.length);
      }
      break;
    case NodeType::kDir: w.raw(node.subtree.bytes); break;
    case NodeType::kSymlink: w.str(node.symlink_target); break;
    case NodeType::kCharDev:
    case NodeType::kBlockDev: w.u(node.rdev); break;
    case NodeType::kFifo:
    case NodeType::kSocket: break;
  }
  w.u(node.xattrs.size());
  for (const Xattr& x : node.xattrs) {
    w.str(x.name);
    w.u(x.value.size());
    w.raw(x.value);
  }
}

// An upper bound on a node's encoded size, so the output is allocated once.
size_t encoded_size_bound(const Node& node) {
  // The type byte and at most 15 varints: 13 common fields (name, user and
  // group lengths included), one type-specific, the xattr count.
  size_t bytes = 1 + 15 * kMaxVarintBytes + node.name.size() + node.user.size() +
                 node.group.size() + ChunkId::kSize + node.symlink_target.size() +
                 node.extents.size() * (1 + ChunkId::kSize + kMaxVarintBytes);
  for (const Xattr& x : node.xattrs) bytes += 2 * kMaxVarintBytes + x.name.size() + x.value.size();
  return bytes;
}


Status decode_extents(VarReader& r, std::vector<Extent>* extents) {
  size_t count = 0;
  RETURN_IF_ERROR(r.count(&count, kMinExtentBytes, "extent count"));
  extents->resize(count);
  for (Extent& e : *extents) {
    uint8_t kind = 0;
    RETURN_IF_ERROR(r.u8(&kind, "extent kind"));
    if (kind == kExtentData) {
      ChunkId id;
      RETURN_IF_ERROR(r.id(&id, "extent chunk id"));
      e.id = id;
    } else if (kind != kExtentHole) {
      return Status::corruption("unknown extent kind " + std::to_string(kind));
    }
    RETURN_IF_ERROR(r.u(&e.length, "extent length"));
  }
  return Status::ok();
}

Status decode_type_specific(VarReader& r, Node* node) {
  switch (node->type) {
    case NodeType::kFile: return decode_extents(r, &node->extents);
    case NodeType::kDir: return r.id(&node->subtree, "subtree id");
    case NodeType::kSymlink: return r.str(&node->symlink_target, "symlink target");
    case NodeType::kCharDev:
    case NodeType::kBlockDev: return r.u(&node->rdev, "rdev");
    case NodeType::kFifo:
    case NodeType::kSocket: return Status::ok();
  }
  return Status::corruption("unknown type");  // unreachable: the type was checked
}

Status decode_xattrs(VarReader& r, std::vector<Xattr>* xattrs) {
  size_t count = 0;
  RETURN_IF_ERROR(r.count(&count, kMinXattrBytes, "xattr count"));
  xattrs->resize(count);
  for (Xattr& x : *xattrs) {
    RETURN_IF_ERROR(r.str(&x.name, "xattr name"));
    size_t length = 0;
    RETURN_IF_ERROR(r.count(&length, 1, "xattr value length"));
    ByteView value;
    RETURN_IF_ERROR(r.raw(length, &value, "xattr value"));
    x.value.assign(value.begin(), value.end());
  }
  return Status::ok();
}

// Parses one entry; the rule checks are the caller's (check_node).
Status decode_node(VarReader& r, Node* node) {
  RETURN_IF_ERROR(r.str(&node->name, "name"));
  uint8_t type = 0;
  RETURN_IF_ERROR(r.u8(&type, "type"));
  node->type = static_cast<NodeType>(type);
  if (!valid_type(node->type)) return Status::corruption("unknown type " + std::to_string(type));
  RETURN_IF_ERROR(r.u32(&node->mode, "mode"));
  RETURN_IF_ERROR(r.u32(&node->uid, "uid"));
  RETURN_IF_ERROR(r.u32(&node->gid, "gid"));
  RETURN_IF_ERROR(r.str(&node->user, "user"));
  RETURN_IF_ERROR(r.str(&node->group, "group"));
  RETURN_IF_ERROR(r.s(&node->mtime_ns, "mtime"));
  RETURN_IF_ERROR(r.s(&node->atime_ns, "atime"));
  RETURN_IF_ERROR(r.s(&node->ctime_ns, "ctime"));
  RETURN_IF_ERROR(r.u(&node->inode, "inode"));
  RETURN_IF_ERROR(r.u(&node->device, "device"));
  RETURN_IF_ERROR(r.u(&node->nlink, "nlink"));
  RETURN_IF_ERROR(r.u(&node->size, "size"));
  RETURN_IF_ERROR(decode_type_specific(r, node));
  return decode_xattrs(r, &node->xattrs);
}

}  // namespace

Bytes encode_tree(const Tree& tree) {
  // Always checked (about a tenth of the encoding time): a blob that breaks a
  // rule would be refused by every later decode, losing the directory.
  LARES_CHECK(validate_tree(tree).is_ok());
  size_t bound = 1 + kMaxVarintBytes;
  for (const Node& node : tree.nodes) bound += encoded_size_bound(node);
  Bytes out;
  out.reserve(bound);
  VarWriter w(&out);
  w.u8(kTreeVersion);
  w.u(tree.nodes.size());
  for (const Node& node : tree.nodes) encode_node(node, w);
  // Invariant: the bound held, so the buffer was never reallocated.
  LARES_DCHECK(out.size() <= bound);
  return out;
}

Result<Tree> decode_tree(ByteView bytes) {
  if (bytes.empty()) return Status::corruption("tree blob is empty");
  if (bytes[0] != kTreeVersion) {
    return Status::failed_precondition("tree blob version " + std::to_string(bytes[0]) +
                                       " is not supported (this lares reads version 1)");
  }
  VarReader r(bytes.subspan(1));
  size_t count = 0;
  if (Status st = r.count(&count, kMinEntryBytes, "entry count"); !st.is_ok()) {
    return Status::corruption("tree blob: " + st.message());
  }
  Tree tree;
  tree.nodes.resize(count);
  for (size_t i = 0; i < count; ++i) {
    Node& node = tree.nodes[i];
    if (Status st = decode_node(r, &node); !st.is_ok()) {
      return Status::corruption(entry_label(i, node.name) + ": " + st.message());
    }
    if (std::string problem = check_node(node); !problem.empty()) {
      return Status::corruption(entry_label(i, node.name) + ": " + problem);
    }
    if (i > 0 && !(tree.nodes[i - 1].name < node.name)) {
      return Status::corruption(entry_label(i, node.name) + ": out of order or a duplicate");
    }
  }
  if (r.remaining() != 0) {
    return Status::corruption("tree blob: " + std::to_string(r.remaining()) +
                              " trailing bytes after the last entry");
  }
  return tree;
}

Status validate_tree(const Tree& tree) {
  for (size_t i = 0; i < tree.nodes.size(); ++i) {
    const Node& node = tree.nodes[i];
    std::string problem = check_node(node);
    if (problem.empty()) problem = check_unstored_fields(node);
    if (problem.empty() && i > 0 && !(tree.nodes[i - 1].name < node.name)) {
      problem = "out of order or a duplicate (call sort_tree)";
    }
    if (!problem.empty())
      return Status::invalid_argument(entry_label(i, node.name) + ": " + problem);
  }
  return Status::ok();
}

void sort_tree(Tree& tree) {
  auto by_name = [](const auto& a, const auto& b) { return a.name < b.name; };
  std::sort(tree.nodes.begin(), tree.nodes.end(), by_name);
  for (Node& node : tree.nodes) std::sort(node.xattrs.begin(), node.xattrs.end(), by_name);
}

}  // namespace lares
