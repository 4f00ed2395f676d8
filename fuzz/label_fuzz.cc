// Fuzzes decode_label (pool/label.h), the parser of <device>/lares-label.
//
// Each input is decoded twice: as given, and with the envelope's crc32c
// recomputed over the body, so that mutations of the JSON body reach the body
// checks instead of all stopping at the checksum. Whatever decodes must come
// back unchanged through the encoder: decode(encode(label)) == label.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "fuzz/seal.h"
#include "pool/label.h"

namespace {

void check_round_trip(lares::ByteView input) {
  auto label = lares::decode_label(input);
  if (!label.is_ok()) return;
  lares::Bytes encoded = lares::encode_label(*label);
  auto again = lares::decode_label(encoded);
  if (!again.is_ok()) {
    std::fprintf(stderr, "label round trip: re-encoded label fails to decode: %s\n",
                 again.status().to_string().c_str());
    std::abort();
  }
  if (!(*again == *label)) {
    std::fprintf(stderr, "label round trip: decode(encode(label)) != label\n");
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  lares::ByteView input(data, size);
  check_round_trip(input);
  lares::Bytes sealed(input.begin(), input.end());
  if (lares::fuzz::seal_label(sealed)) check_round_trip(sealed);
  return 0;
}
