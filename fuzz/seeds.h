// Seed writers for the repository-format fuzz targets, one file each
// (fuzz/seeds_<target>.cc), called by make_seeds. Each returns the seeds of
// its corpus as (file name, bytes) pairs; make_seeds writes them to
// fuzz/corpus/<target>/.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "util/bytes.h"

namespace lares::fuzz {

using Seeds = std::vector<std::pair<std::string, Bytes>>;

Seeds pack_seeds();      // fuzz/seeds_pack.cc     -> fuzz/corpus/pack/
Seeds key_file_seeds();  // fuzz/seeds_key_file.cc -> fuzz/corpus/key_file/
Seeds tree_seeds();      // fuzz/seeds_tree.cc     -> fuzz/corpus/tree/
Seeds btree_node_seeds();  // fuzz/seeds_btree.cc      -> fuzz/corpus/btree_node/
Seeds live_items_seeds();  // fuzz/seeds_live_items.cc -> fuzz/corpus/live_items/

// The frozen format samples written once to tests/data/ (see make_seeds.cc).
Bytes tree_sample_v1();           // tests/data/tree_v1.bin
Bytes btree_node_sample_v1();     // tests/data/btree_node_v1.bin
Bytes pack_sample_v1();           // tests/data/pack_v1.bin
Bytes index_segment_sample_v1();  // tests/data/index_segment_v1.bin (plaintext)

}  // namespace lares::fuzz
