// Fuzzes decode_btree_node (fs/btree.h), the parser of every node of a live
// dataset's tree.
//
// The encoding is canonical, so whatever decodes must encode back to exactly
// the input bytes (encode_btree_node also aborts on a node that breaks a rule,
// so a decoder that let one through is caught there), and that encoding must
// decode to the same node again.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "fs/btree.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const lares::ByteView input(data, size);
  auto node = lares::decode_btree_node(input);
  if (!node.is_ok()) {
    const lares::Code code = node.status().code();
    if (code != lares::Code::kCorruption && code != lares::Code::kFailedPrecondition) {
      std::fprintf(stderr, "btree node: decode failed with an unexpected kind: %s\n",
                   node.status().to_string().c_str());
      std::abort();
    }
    return 0;
  }
  const lares::Bytes encoded = lares::encode_btree_node(*node);
  if (encoded.size() != size || !std::equal(encoded.begin(), encoded.end(), data)) {
    std::fprintf(stderr,
                 "btree node: encode(decode(input)) differs from the input (%zu vs %zu bytes)\n",
                 encoded.size(), size);
    std::abort();
  }
  auto again = lares::decode_btree_node(encoded);
  if (!again.is_ok() || again->level != node->level || again->leaf != node->leaf ||
      again->children != node->children) {
    std::fprintf(stderr, "btree node: decode(encode(node)) differs from the node\n");
    std::abort();
  }
  return 0;
}
