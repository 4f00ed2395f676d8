// Fuzzes the parsers of packs and index segments (chunks/pack.h): each input
// is tried as an entry table (with no blob area end, the end its own entries
// reach, and fixed ends), an index segment plaintext, a pack header, a pack
// footer, and a whole pack sealed with the sample keys of fuzz/seeds_pack.cc
// (so the valid_pack seeds get past the trailer's AEAD tag). An input that
// decodes as an entry table is also sealed as the trailer of a pack built
// around it, so tables the fuzzer invents reach open_pack_trailer's checks.
//
// Whatever decodes must encode back to exactly the input (every field is
// fixed-width and every rule strict, so the encoding is canonical), and decode
// again to the same value; rejections must be kCorruption (kFailedPrecondition
// for an unknown pack version only).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "chunks/pack.h"
#include "codec/aead.h"

namespace {

using lares::Bytes;
using lares::ByteView;
using lares::Code;
using lares::PackEntry;

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "pack_fuzz: %s\n", what);
  std::abort();
}

void expect_corruption(const lares::Status& status, const char* what) {
  if (status.code() != Code::kCorruption) {
    std::fprintf(stderr, "pack_fuzz: %s: expected kCorruption, got %s\n", what,
                 status.to_string().c_str());
    std::abort();
  }
}

// The sample keys of fuzz/seeds_pack.cc: bytes first, first + 1, ...
lares::Key32 sample_key(uint8_t first) {
  lares::Key32 key;
  for (size_t i = 0; i < lares::Key32::kSize; ++i) key.data()[i] = static_cast<uint8_t>(first + i);
  return key;
}

const lares::AeadKeys& meta_keys() {
  static const lares::AeadKeys keys{sample_key(0x00), sample_key(0x20)};
  return keys;
}

lares::RepoId repo_id() {
  lares::RepoId id;
  for (size_t i = 0; i < id.size(); ++i) id[i] = static_cast<uint8_t>(0xa0 + i);
  return id;
}

bool same_bytes(const Bytes& a, ByteView b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin());
}

// Where the last blob of a table ends (kPackHeaderSize for none).
uint64_t blobs_end(const std::vector<PackEntry>& entries) {
  uint64_t end = lares::kPackHeaderSize;
  for (const PackEntry& e : entries) end = std::max(end, e.offset + e.sealed_length);
  return end;
}

bool fills_area_back_to_back(const std::vector<PackEntry>& entries) {
  uint64_t expected = lares::kPackHeaderSize;
  for (const PackEntry& e : entries) {
    if (e.offset != expected) return false;
    expected += e.sealed_length;
  }
  return true;
}

// A pack of `area_size` blob bytes whose trailer is `table`, sealed.
Bytes pack_around(ByteView table, uint64_t area_size) {
  Bytes trailer_ad = {'L', 'R', 'S', 'P', 'A', 'C', 'K', '1'};
  const lares::RepoId repo = repo_id();
  trailer_ad.insert(trailer_ad.end(), repo.begin(), repo.end());
  const Bytes trailer = lares::seal(meta_keys(), table, trailer_ad);
  Bytes pack = {'L', 'A', 'R', 'S', 'P', 'A', 'C', 'K', 1, 0, 0, 0, 0, 0, 0, 0};
  pack.resize(lares::kPackHeaderSize + area_size, 0);
  pack.insert(pack.end(), trailer.begin(), trailer.end());
  lares::ByteWriter w(&pack);
  w.u64(trailer.size());
  w.raw(lares::as_bytes("LARSPEND"));
  return pack;
}

void check_entry_table(ByteView input) {
  auto entries = lares::decode_pack_entries(input, 0);
  // An end only adds a rule: any end that every blob fits in changes nothing.
  auto unbounded = lares::decode_pack_entries(input, UINT64_MAX);
  if (entries.is_ok() != unbounded.is_ok()) fail("a blob area end of 2^64-1 changed the verdict");
  if (!entries.is_ok()) {
    expect_corruption(entries.status(), "decode_pack_entries");
    expect_corruption(lares::decode_pack_entries(input, 4096).status(), "decode_pack_entries");
    return;
  }
  const Bytes encoded = lares::encode_pack_entries(*entries);
  if (!same_bytes(encoded, input)) fail("encode_pack_entries(decode(x)) != x");
  auto again = lares::decode_pack_entries(encoded, 0);
  if (!again.is_ok() || *again != *entries) fail("entry table round trip differs");

  const uint64_t end = blobs_end(*entries);
  auto at_end = lares::decode_pack_entries(input, end);
  if (!at_end.is_ok() || *at_end != *entries) fail("entries refused at their own end");
  if (!entries->empty() && lares::decode_pack_entries(input, end - 1).is_ok()) {
    fail("entries accepted one byte short of their end");
  }
  if (lares::decode_pack_entries(input, 4096).is_ok() != (end <= 4096)) {
    fail("blob area end 4096 judged wrongly");
  }

  // Sealed as a trailer: parse_pack accepts it exactly when the blobs fill
  // the blob area back to back.
  if (end - lares::kPackHeaderSize > (1u << 20)) return;  // keep the pack small
  const Bytes pack = pack_around(input, end - lares::kPackHeaderSize);
  auto parsed = lares::parse_pack(meta_keys(), repo_id(), pack);
  if (parsed.is_ok() != fills_area_back_to_back(*entries)) {
    fail("parse_pack disagrees with the back-to-back rule");
  }
  if (parsed.is_ok() && *parsed != *entries) fail("parse_pack returned other entries");
  if (!parsed.is_ok()) expect_corruption(parsed.status(), "parse_pack of a sealed table");
}

void check_index_segment(ByteView input) {
  auto packs = lares::decode_index_segment(input);
  if (!packs.is_ok()) {
    expect_corruption(packs.status(), "decode_index_segment");
    return;
  }
  const Bytes encoded = lares::encode_index_segment(*packs);
  if (!same_bytes(encoded, input)) fail("encode_index_segment(decode(x)) != x");
  auto again = lares::decode_index_segment(encoded);
  if (!again.is_ok() || *again != *packs) fail("index segment round trip differs");
  auto opened = lares::open_index_segment(
      meta_keys(), repo_id(), lares::seal_index_segment(meta_keys(), repo_id(), *packs));
  if (!opened.is_ok() || *opened != *packs) fail("sealed index segment round trip differs");
}

void check_header(ByteView input) {
  lares::Status st = lares::check_pack_header(input);
  if (st.code() == Code::kFailedPrecondition) return;
  if (!st.is_ok()) {
    expect_corruption(st, "check_pack_header");
    return;
  }
  const Bytes canonical = {'L', 'A', 'R', 'S', 'P', 'A', 'C', 'K', 1, 0, 0, 0, 0, 0, 0, 0};
  if (!same_bytes(canonical, input.first(lares::kPackHeaderSize))) {
    fail("check_pack_header accepted a header other than the one header of version 1");
  }
}

void check_footer(ByteView footer, uint64_t pack_size) {
  auto trailer_size = lares::parse_pack_footer(footer, pack_size);
  if (!trailer_size.is_ok()) {
    expect_corruption(trailer_size.status(), "parse_pack_footer");
    return;
  }
  Bytes encoded;
  lares::ByteWriter w(&encoded);
  w.u64(*trailer_size);
  w.raw(lares::as_bytes("LARSPEND"));
  if (!same_bytes(encoded, footer)) fail("footer round trip differs");
  if (*trailer_size < lares::kSealOverhead ||
      *trailer_size > lares::kMaxEntryTableBytes + lares::kSealOverhead ||
      *trailer_size > pack_size - lares::kPackHeaderSize - lares::kPackFooterSize) {
    fail("parse_pack_footer accepted a trailer length out of range");
  }
}

// The pack rebuilt from its own blobs must be the input, byte for byte.
void check_pack(ByteView input) {
  auto entries = lares::parse_pack(meta_keys(), repo_id(), input);
  if (!entries.is_ok()) {
    if (entries.status().code() != Code::kFailedPrecondition) {
      expect_corruption(entries.status(), "parse_pack");
    }
    return;
  }
  lares::PackBuilder builder;
  for (const PackEntry& e : *entries) builder.add(e, input.subspan(e.offset, e.sealed_length));
  if (builder.entries() != *entries) fail("PackBuilder placed the blobs elsewhere");
  if (!same_bytes(builder.finish(meta_keys(), repo_id()), input)) {
    fail("a parsed pack rebuilt by PackBuilder differs");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ByteView input(data, size);
  check_entry_table(input);
  check_index_segment(input);
  check_header(input);
  check_footer(input, size);
  if (size >= lares::kPackFooterSize) {
    ByteView last = input.last(lares::kPackFooterSize);
    check_footer(last, size);
    check_footer(last, uint64_t{1} << 30);
  }
  check_pack(input);
  return 0;
}
