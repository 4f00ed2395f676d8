// Reading a file's metadata into a tree Node, and putting it back on restore.
//
// Capture uses lstat (never follows symlinks), llistxattr/lgetxattr, readlink,
// and getpwuid_r/getgrgid_r for the owner names. Apply restores, in this order,
// what POSIX lets a process restore: owner (lchown; only when running as root,
// or when the ids already match, else skipped and reported), xattrs (lsetxattr;
// namespaces the process may not write, such as trusted.* for non-root, are
// skipped and reported), mode (chmod, after chown so suid/sgid survive; never
// on symlinks), then times (utimensat with AT_SYMLINK_NOFOLLOW, last, since
// every other change moves them). ctime and inode cannot be set and are not.
#pragma once

#include <string>
#include <vector>

#include "fs/tree.h"
#include "util/status.h"

namespace lares {

// Fills every Node field but name, extents, subtree and size for
// directories (size is left 0 for them), from the file at `path` (not
// followed if a symlink). kNotFound if it vanished; other errors from errno.
// Xattrs that vanish between list and get are left out. An xattr list or value
// over the tree limits is kInvalidArgument naming the path.
Status capture_metadata(const std::string& path, Node* node);

// What apply_metadata could not restore (not errors: the data is intact).
struct ApplyWarnings {
  std::vector<std::string> messages;  // "<path>: <what was skipped and why>"
};

// Restores owner, xattrs, mode and times of `node` onto `path`, which already
// exists with the right type and content. Errors other than the skips
// described above are returned (and stop the apply).
Status apply_metadata(const std::string& path, const Node& node, ApplyWarnings* warnings);

// Creates the special file for a kFifo, kCharDev, kBlockDev or kSocket node
// (mknod; devices only as root, else kPermissionDenied), or the symlink for a
// kSymlink node. The caller applies metadata afterwards.
Status create_special(const std::string& path, const Node& node);

}  // namespace lares
