// Fuzzes decode_tree (fs/tree.h), the parser of every directory blob of a
// snapshot.
//
// The encoding is canonical, so whatever decodes must be valid and must
// encode back to exactly the input bytes: a decoder that accepted two
// encodings of one tree would give one directory two ids.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "fs/tree.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const lares::ByteView input(data, size);
  auto tree = lares::decode_tree(input);
  if (!tree.is_ok()) {
    const lares::Code code = tree.status().code();
    if (code != lares::Code::kCorruption && code != lares::Code::kFailedPrecondition) {
      std::fprintf(stderr, "tree: decode failed with an unexpected kind: %s\n",
                   tree.status().to_string().c_str());
      std::abort();
    }
    return 0;
  }
  if (lares::Status valid = lares::validate_tree(*tree); !valid.is_ok()) {
    std::fprintf(stderr, "tree: decoded a tree that does not validate: %s\n",
                 valid.to_string().c_str());
    std::abort();
  }
  const lares::Bytes encoded = lares::encode_tree(*tree);
  if (encoded.size() != size || !std::equal(encoded.begin(), encoded.end(), data)) {
    std::fprintf(stderr, "tree: encode(decode(input)) differs from the input (%zu vs %zu bytes)\n",
                 encoded.size(), size);
    std::abort();
  }
  return 0;
}
