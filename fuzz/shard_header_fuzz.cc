// Fuzzes decode_shard_header and peek_header_size (pool/shard_header.h), the
// parsers of the header at the start of every shard file.
//
// Each input is decoded twice: as given, and with the header's trailing
// crc32c recomputed where the input's own fields place it, so that mutations
// reach the range and table checks instead of all stopping at the checksum.
// Whatever decodes must come back unchanged through the encoder.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "fuzz/seal.h"
#include "pool/shard_header.h"

namespace {

bool same_fields(const lares::ShardHeader& a, const lares::ShardHeader& b) {
  return a.pool_id == b.pool_id && a.put_id == b.put_id && a.replaces_put_id == b.replaces_put_id &&
         a.object_size == b.object_size && a.shard_size == b.shard_size &&
         a.block_size == b.block_size && a.k == b.k && a.r == b.r &&
         a.shard_index == b.shard_index && a.name == b.name && a.checksums == b.checksums;
}

void check_round_trip(lares::ByteView input) {
  auto peeked = lares::peek_header_size(input);
  auto header = lares::decode_shard_header(input);
  if (!header.is_ok()) return;
  if (!peeked.is_ok() || *peeked != header->header_size()) {
    std::fprintf(stderr, "shard header: peek_header_size disagrees with the decoded header\n");
    std::abort();
  }
  lares::Bytes encoded = lares::encode_shard_header(*header);
  if (encoded.size() != header->header_size()) {
    std::fprintf(stderr, "shard header: encoded %zu bytes, header_size() says %u\n", encoded.size(),
                 header->header_size());
    std::abort();
  }
  auto again = lares::decode_shard_header(encoded);
  if (!again.is_ok()) {
    std::fprintf(stderr, "shard header round trip: re-encoded header fails to decode: %s\n",
                 again.status().to_string().c_str());
    std::abort();
  }
  if (!same_fields(*again, *header) || !again->same_version(*header)) {
    std::fprintf(stderr, "shard header round trip: decode(encode(header)) != header\n");
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  lares::ByteView input(data, size);
  check_round_trip(input);
  lares::Bytes sealed(input.begin(), input.end());
  if (lares::fuzz::seal_shard_header(sealed)) check_round_trip(sealed);
  return 0;
}
