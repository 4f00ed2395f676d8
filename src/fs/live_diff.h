// What changed between two versions of a live dataset (fs/live_fs.h), path
// by path: `lares snapshot diff` of live snapshots. The entries are those of
// backup snapshot diffs (fs/gc.h, DiffEntry), plus 'R' for a rename.
//
// How (each version is a root id of the dataset's B+tree):
//
// 1. Items. diff_btrees (fs/btree.h) reports the items that differ, reading
//    only the nodes the two versions do not share. They are grouped by inode
//    number: its record on each side, whether its xattrs or extents changed,
//    and the directory entries naming it in A only ("gone") or in B only
//    ("came").
//
// 2. Changes, inode by inode. An inode in A only is '-' at each name it had
//    there, one in B only '+' at each name it has. One in both (the same
//    number and generation):
//      - exactly one name gone and one come: 'R' "old -> new"; otherwise '-'
//        at each name gone and '+' at each name come (hard links made or
//        removed);
//      - then 'M' when its content changed (a regular file's extents or
//        size), else 'm' when its metadata did (mode, owner, mtime, btime,
//        rdev, symlink target, xattrs), at each of its names in B except the
//        ones reported '+'. A folder whose entries changed has a new mtime,
//        so it is 'm' (as in backup diffs; the root folder is "/").
//    ctime, atime and nlink are not compared: ctime and nlink change with
//    every link, unlink and rename, each reported on its own line, and atime
//    with every read.
//    Only the inodes with changed items are looked at, so the files under a
//    renamed folder are not reported: only the folder's 'R' is.
//
// 3. A '-' and a '+' at one path whose types differ become one 'T'. (Of one
//    type, both stay: another file now has that name.) Sorted by path (an
//    'R' by its "old -> new").
//
// Paths are "/"-separated from the dataset's root, each resolved in its own
// version ('-' and the left side of 'R' in A; the rest in B; so a file
// removed from a folder renamed in the same interval shows its old path).
// What step 1 did not report changed is the same in both versions and is
// read once, from B:
//  - a name gone or come is known from step 1: (folder, name);
//  - a folder's path: its record's `parent`, and its name, from step 1 when
//    its entry changed, else from one scan of the parent folder's entries
//    (kept, so every folder is scanned at most once per version); up to the
//    root;
//  - the names of a file changed in place ('M'/'m'): the names come, plus a
//    scan of the folder its record's `parent` names (LiveFs keeps there the
//    folder of the file's first link, following renames). When that finds
//    fewer names than the file's nlink (hard links in other folders, or a
//    first link since removed), every directory entry of B is scanned, once
//    for all such files.
//
// Cost: the item diff, O(changed leaves x height) node loads; plus one scan
// of each folder on the way from a changed inode to the root (a folder whose
// entries changed once per version, any other once); plus, only for files
// changed in place whose names are not all in their `parent` folder as
// above, one scan of B's whole tree. Memory: the changed items and the
// folders scanned.
//
// Errors: kCorruption for items that break the layout or contradict each
// other (an entry naming no inode, a folder missing from its parent, a
// parent chain that loops, fewer entries than a file's nlink);
// kFailedPrecondition for an item kind this version does not know; errors
// of the NodeStore as they are.
#pragma once

#include <vector>

#include "chunks/repository.h"
#include "codec/keyed_hash.h"
#include "fs/btree.h"
#include "fs/gc.h"
#include "util/status.h"

namespace lares {

// REQUIRES: `a` and `b` are roots of one live dataset (inode numbers are
// compared across them). Nodes are read through `store` only.
Result<std::vector<DiffEntry>> diff_live_trees(NodeStore& store, const ChunkId& a,
                                               const ChunkId& b);

// The same, reading the nodes from the repository (blobs of type kNode).
Result<std::vector<DiffEntry>> diff_live_trees(Repository& repo, const ChunkId& a,
                                               const ChunkId& b);

}  // namespace lares
