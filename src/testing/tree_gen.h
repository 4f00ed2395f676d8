// Generated folder trees for backup tests and benchmarks, and a comparison
// of two trees that checks content and every attribute backup keeps.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "util/status.h"

namespace lares::testing {

struct TreeSpec {
  uint64_t seed = 1;
  int dirs = 6;               // folders, nested up to three deep
  int small_files = 40;       // text-like, compressible, 0..16 KiB
  int random_files = 6;       // incompressible, 64 KiB..1 MiB
  int large_files = 1;        // incompressible, large_file_bytes each
  uint64_t large_file_bytes = 6 << 20;
  bool specials = true;       // symlinks, hard links, fifo, sparse file, empty dir,
                              // xattrs (when the filesystem allows), odd modes
};

// Writes the tree into `root` (created if needed). Returns the bytes of file
// content written.
Result<uint64_t> generate_tree(const std::string& root, const TreeSpec& spec);

// Changes about `percent` of the regular files under root: appends to some,
// rewrites a block in the middle of others, deletes a few and adds new ones.
Status mutate_tree(const std::string& root, uint64_t seed, int percent);

struct CompareOptions {
  bool owners = true;   // uid/gid
  bool atime = false;   // reading during backup may move atime where noatime fails
  bool dir_mtime = true;
};

// Every difference between two trees, one line each ("" paths are the roots):
// entries only on one side, type, content, size, mode, owner, mtime (ns),
// symlink target, xattrs, hard-link structure, sparse holes (a hole on one
// side must be a hole on the other). Empty when identical.
std::vector<std::string> compare_trees(const std::string& a, const std::string& b,
                                       const CompareOptions& options = {});

}  // namespace lares::testing
