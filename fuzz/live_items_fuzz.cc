// Fuzzes the parsers of a live dataset's tree items (fs/live_fs.h): the
// input is a key length byte, the key, then the value. check_live_item must
// return OK or kCorruption, never crash; an inode record that decodes must
// encode back to exactly its bytes (the encoding is canonical).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "fs/live_fs.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t key_length = std::min<size_t>(data[0], size - 1);
  const lares::ByteView key(data + 1, key_length);
  const lares::ByteView value(data + 1 + key_length, size - 1 - key_length);
  lares::Status st = lares::check_live_item(key, value);
  if (!st.is_ok() && st.code() != lares::Code::kCorruption) {
    std::fprintf(stderr, "live item: unexpected error kind: %s\n", st.to_string().c_str());
    std::abort();
  }
  auto inode = lares::decode_live_inode(value);
  if (inode.is_ok()) {
    const lares::Bytes again = lares::encode_live_inode(*inode);
    if (again.size() != value.size() || !std::equal(again.begin(), again.end(), value.begin())) {
      std::fprintf(stderr, "live item: inode record does not round-trip\n");
      std::abort();
    }
  }
  return 0;
}
