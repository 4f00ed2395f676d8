// Packs and index segments (layout and rules: chunks/pack.h, docs/FORMAT.md).
//
// Pack file, version 1:
//   header  "LARSPACK" | le32 version = 1 | le32 reserved = 0
//   blobs   sealed blobs, back to back, in entry order
//   trailer seal(meta keys, entry table, ad = "LRSPACK1" || repo id)
//   footer  le64 trailer length | "LARSPEND"
//
// Entry table: u8 version = 1 | le32 count | count entries of 56 bytes:
//   id (32) | type (1) | compression (1) | reserved (2) | le32 sealed length |
//   le32 raw length | le64 offset | le32 stored length
//
// Index segment plaintext: u8 version = 1 | le32 pack count |
//   pack count times: pack id (32) | entry table
//
// Every decoder here reads untrusted bytes: it checks a count against the
// bytes that remain before it reserves anything, and returns kCorruption (or
// kFailedPrecondition for an unknown pack version) instead of asserting.
#include "chunks/pack.h"

#include <algorithm>
#include <limits>
#include <string_view>

namespace lares {
namespace {

constexpr std::string_view kPackMagic = "LARSPACK";
constexpr std::string_view kPackEndMagic = "LARSPEND";
constexpr std::string_view kBlobAdTag = "LRSBLOB1";
constexpr std::string_view kTrailerAdTag = "LRSPACK1";
constexpr std::string_view kIndexAdTag = "LRSINDX1";
constexpr uint8_t kEntryTableVersion = 1;
constexpr uint8_t kIndexSegmentVersion = 1;
// u8 version + le32 count, before the entries of a table.
constexpr size_t kEntryTableHeaderSize = 5;
// u8 version + le32 pack count, before the packs of an index segment.
constexpr size_t kIndexSegmentHeaderSize = 5;
// The least an index segment's pack takes: its id and an empty entry table.
constexpr size_t kIndexPackMinSize = ChunkId::kSize + kEntryTableHeaderSize;

static_assert(ChunkId::kSize + 1 + 1 + 2 + 4 + 4 + 8 + 4 == kPackEntrySize,
              "a pack entry is 56 bytes on disk");
static_assert(kPackMagic.size() + 4 + 4 == kPackHeaderSize, "the pack header is 16 bytes");
static_assert(8 + kPackEndMagic.size() == kPackFooterSize, "the pack footer is 16 bytes");

// The largest sealed trailer or index segment a reader accepts.
constexpr uint64_t kMaxSealedTableBytes = kMaxEntryTableBytes + kSealOverhead;

Bytes tagged_ad(std::string_view tag, const RepoId& repo) {
  Bytes ad(tag.begin(), tag.end());
  ad.insert(ad.end(), repo.begin(), repo.end());
  return ad;
}

std::string entry_context(size_t index) { return "pack entry " + std::to_string(index); }

// The rules one entry must meet on its own (those not about its raw bytes).
Status check_entry_fields(const PackEntry& e, size_t index) {
  if (e.type != BlobType::kData && e.type != BlobType::kTree && e.type != BlobType::kNode) {
    return Status::corruption(entry_context(index) + ": unknown blob type " +
                              std::to_string(static_cast<int>(e.type)));
  }
  if (e.compression != Compression::kNone && e.compression != Compression::kZstd) {
    return Status::corruption(entry_context(index) + ": unknown compression " +
                              std::to_string(static_cast<int>(e.compression)));
  }
  if (e.sealed_length < kSealOverhead) {
    return Status::corruption(
        entry_context(index) + ": sealed length " + std::to_string(e.sealed_length) +
        " is shorter than the seal overhead (" + std::to_string(kSealOverhead) + ")");
  }
  if (e.raw_length > kMaxDecompressedBytes) {
    return Status::corruption(entry_context(index) + ": raw length " +
                              std::to_string(e.raw_length) + " exceeds the limit of " +
                              std::to_string(kMaxDecompressedBytes));
  }
  const uint64_t stored_length = e.sealed_length - kSealOverhead;
  if (e.compression == Compression::kNone && e.raw_length != stored_length) {
    return Status::corruption(entry_context(index) + ": uncompressed blob has raw length " +
                              std::to_string(e.raw_length) + " but stored length " +
                              std::to_string(stored_length));
  }
  return Status::ok();
}

// Order and bounds of a whole table: sorted by offset, no overlap, every blob
// after the pack header and (when blob_area_end != 0) before blob_area_end.
Status check_entry_layout(const std::vector<PackEntry>& entries, uint64_t blob_area_end) {
  uint64_t previous_end = kPackHeaderSize;
  for (size_t i = 0; i < entries.size(); ++i) {
    const PackEntry& e = entries[i];
    if (e.offset > std::numeric_limits<uint64_t>::max() - e.sealed_length ||
        e.offset < kPackHeaderSize ||
        (blob_area_end != 0 && e.offset + e.sealed_length > blob_area_end)) {
      return Status::corruption(
          entry_context(i) + ": blob at offset " + std::to_string(e.offset) + " (" +
          std::to_string(e.sealed_length) + " bytes) lies outside the blob area [" +
          std::to_string(kPackHeaderSize) + ", " +
          (blob_area_end != 0 ? std::to_string(blob_area_end) : std::string("end")) + ")");
    }
    if (i > 0 && e.offset < entries[i - 1].offset) {
      return Status::corruption(entry_context(i) + ": entries are not sorted by offset");
    }
    if (e.offset < previous_end) {
      return Status::corruption(entry_context(i) + ": blob at offset " + std::to_string(e.offset) +
                                " overlaps the blob before it");
    }
    previous_end = e.offset + e.sealed_length;
  }
  return Status::ok();
}

void write_entry_table(ByteWriter& w, const std::vector<PackEntry>& entries) {
  LARES_CHECK(entries.size() <= std::numeric_limits<uint32_t>::max());
  for (size_t i = 0; i < entries.size(); ++i)
    LARES_CHECK(check_entry_fields(entries[i], i).is_ok());
  LARES_CHECK(check_entry_layout(entries, 0).is_ok());
  w.u8(kEntryTableVersion);
  w.u32(static_cast<uint32_t>(entries.size()));
  for (const PackEntry& e : entries) {
    const size_t start = w.size();
    w.raw(e.id.bytes);
    w.u8(static_cast<uint8_t>(e.type));
    w.u8(static_cast<uint8_t>(e.compression));
    w.u16(0);
    w.u32(e.sealed_length);
    w.u32(e.raw_length);
    w.u64(e.offset);
    w.u32(static_cast<uint32_t>(e.sealed_length - kSealOverhead));
    LARES_DCHECK(w.size() - start == kPackEntrySize);
  }
}

// Reads one 56-byte entry. REQUIRES: r holds at least kPackEntrySize bytes.
Result<PackEntry> read_entry(ByteReader& r, size_t index) {
  PackEntry e;
  ByteView id = r.raw(ChunkId::kSize);
  std::copy(id.begin(), id.end(), e.id.bytes.begin());
  e.type = static_cast<BlobType>(r.u8());
  e.compression = static_cast<Compression>(r.u8());
  const uint16_t reserved = r.u16();
  e.sealed_length = r.u32();
  e.raw_length = r.u32();
  e.offset = r.u64();
  const uint32_t stored_length = r.u32();
  LARES_DCHECK(!r.failed());
  if (reserved != 0) {
    return Status::corruption(entry_context(index) + ": reserved bytes are not zero");
  }
  RETURN_IF_ERROR(check_entry_fields(e, index));
  if (stored_length != e.sealed_length - kSealOverhead) {
    return Status::corruption(entry_context(index) + ": stored length " +
                              std::to_string(stored_length) + " does not match sealed length " +
                              std::to_string(e.sealed_length));
  }
  return e;
}

// Reads an entry table from r, which may hold more after it (index segments).
Result<std::vector<PackEntry>> read_entry_table(ByteReader& r, uint64_t blob_area_end) {
  const uint8_t version = r.u8();
  const uint32_t count = r.u32();
  if (r.failed()) return Status::corruption("pack entry table is truncated");
  if (version != kEntryTableVersion) {
    return Status::corruption("pack entry table version " + std::to_string(version) +
                              " is not supported");
  }
  // Checked before reserving: count comes from the input.
  const uint64_t entries_size = uint64_t{count} * kPackEntrySize;
  if (entries_size > r.remaining()) {
    return Status::corruption("pack entry table: entry count " + std::to_string(count) + " needs " +
                              std::to_string(entries_size) + " bytes, " +
                              std::to_string(r.remaining()) + " remain");
  }
  std::vector<PackEntry> entries;
  entries.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    ASSIGN_OR_RETURN(PackEntry e, read_entry(r, i));
    entries.push_back(e);
  }
  RETURN_IF_ERROR(check_entry_layout(entries, blob_area_end));
  return entries;
}

Status check_table_size(size_t size_bytes, std::string_view what) {
  if (size_bytes > kMaxEntryTableBytes) {
    return Status::corruption(std::string(what) + " of " + std::to_string(size_bytes) +
                              " bytes exceeds the limit of " + std::to_string(kMaxEntryTableBytes));
  }
  return Status::ok();
}

Bytes empty_pack() {
  Bytes out;
  ByteWriter w(&out);
  w.raw(as_bytes(kPackMagic));
  w.u32(kPackVersion);
  w.u32(0);
  return out;
}

// Invariant of a pack: its blobs fill [kPackHeaderSize, trailer_offset) back
// to back, in entry order, as PackBuilder writes them.
Status check_blobs_fill_area(const std::vector<PackEntry>& entries, uint64_t trailer_offset) {
  uint64_t expected = kPackHeaderSize;
  for (size_t i = 0; i < entries.size(); ++i) {
    if (entries[i].offset != expected) {
      return Status::corruption(entry_context(i) + ": blob at offset " +
                                std::to_string(entries[i].offset) + ", expected " +
                                std::to_string(expected) + " (blobs lie back to back)");
    }
    expected += entries[i].sealed_length;
  }
  if (expected != trailer_offset) {
    return Status::corruption("pack blobs end at " + std::to_string(expected) +
                              " but the trailer starts at " + std::to_string(trailer_offset));
  }
  return Status::ok();
}

}  // namespace

Bytes blob_associated_data(const RepoId& repo, const PackEntry& entry) {
  Bytes ad = tagged_ad(kBlobAdTag, repo);
  ByteWriter w(&ad);
  w.raw(entry.id.bytes);
  w.u8(static_cast<uint8_t>(entry.type));
  w.u8(static_cast<uint8_t>(entry.compression));
  w.u32(entry.raw_length);
  LARES_DCHECK(ad.size() == kBlobAdTag.size() + kRepoIdSize + ChunkId::kSize + 1 + 1 + 4);
  return ad;
}

Bytes encode_pack_entries(const std::vector<PackEntry>& entries) {
  Bytes out;
  out.reserve(kEntryTableHeaderSize + entries.size() * kPackEntrySize);
  ByteWriter w(&out);
  write_entry_table(w, entries);
  // Invariant: nothing is written that a reader would refuse for its size.
  LARES_CHECK(out.size() <= kMaxEntryTableBytes);
  return out;
}

Result<std::vector<PackEntry>> decode_pack_entries(ByteView plaintext, uint64_t blob_area_end) {
  RETURN_IF_ERROR(check_table_size(plaintext.size(), "pack entry table"));
  ByteReader r(plaintext);
  ASSIGN_OR_RETURN(std::vector<PackEntry> entries, read_entry_table(r, blob_area_end));
  if (r.remaining() != 0) {
    return Status::corruption("pack entry table: entry count " + std::to_string(entries.size()) +
                              " leaves " + std::to_string(r.remaining()) + " bytes unread");
  }
  return entries;
}

PackBuilder::PackBuilder() : data_(empty_pack()) {}

void PackBuilder::reuse(Bytes buffer) {
  LARES_CHECK(entries_.empty());
  const Bytes header = empty_pack();
  buffer.assign(header.begin(), header.end());
  data_ = std::move(buffer);
}

void PackBuilder::add(PackEntry entry, ByteView sealed) {
  LARES_CHECK(sealed.size() >= kSealOverhead &&
              sealed.size() <= std::numeric_limits<uint32_t>::max());
  entry.offset = data_.size();
  entry.sealed_length = static_cast<uint32_t>(sealed.size());
  // Fail here, beside the caller's mistake, rather than in finish().
  LARES_CHECK(check_entry_fields(entry, entries_.size()).is_ok());
  data_.insert(data_.end(), sealed.begin(), sealed.end());
  entries_.push_back(entry);
}

Bytes PackBuilder::finish(const AeadKeys& meta_keys, const RepoId& repo) {
  const Bytes trailer =
      seal(meta_keys, encode_pack_entries(entries_), tagged_ad(kTrailerAdTag, repo));
  Bytes pack = std::move(data_);
  ByteWriter w(&pack);
  w.raw(trailer);
  w.u64(trailer.size());
  w.raw(as_bytes(kPackEndMagic));
  // Postcondition: the footer leads a reader back to this trailer.
  LARES_DCHECK(parse_pack_footer(ByteView(pack).last(kPackFooterSize), pack.size()).value() ==
               trailer.size());
  data_ = empty_pack();
  entries_.clear();
  return pack;
}

Result<uint64_t> parse_pack_footer(ByteView footer, uint64_t pack_size) {
  if (footer.size() != kPackFooterSize) {
    return Status::corruption("pack footer is " + std::to_string(footer.size()) + " bytes, not " +
                              std::to_string(kPackFooterSize));
  }
  if (pack_size < kPackHeaderSize + kPackFooterSize) {
    return Status::corruption("pack of " + std::to_string(pack_size) +
                              " bytes is shorter than its header and footer");
  }
  ByteReader r(footer);
  const uint64_t trailer_size = r.u64();
  if (as_chars(r.raw(kPackEndMagic.size())) != kPackEndMagic) {
    return Status::corruption("not a Lares pack (bad footer magic)");
  }
  if (trailer_size < kSealOverhead || trailer_size > kMaxSealedTableBytes) {
    return Status::corruption("pack footer: trailer length " + std::to_string(trailer_size) +
                              " is out of range");
  }
  if (trailer_size > pack_size - kPackHeaderSize - kPackFooterSize) {
    return Status::corruption("pack footer: trailer length " + std::to_string(trailer_size) +
                              " does not fit in a pack of " + std::to_string(pack_size) + " bytes");
  }
  return trailer_size;
}

Status check_pack_header(ByteView header) {
  if (header.size() < kPackHeaderSize) {
    return Status::corruption("pack header is truncated (" + std::to_string(header.size()) +
                              " bytes)");
  }
  ByteReader r(header.first(kPackHeaderSize));
  if (as_chars(r.raw(kPackMagic.size())) != kPackMagic) {
    return Status::corruption("not a Lares pack (bad magic)");
  }
  const uint32_t version = r.u32();
  const uint32_t reserved = r.u32();
  // The version first: a later version may give the reserved bytes a meaning.
  if (version != kPackVersion) {
    return Status::failed_precondition("pack version " + std::to_string(version) +
                                       " is not supported by this version of Lares");
  }
  if (reserved != 0) return Status::corruption("pack header: reserved bytes are not zero");
  return Status::ok();
}

Result<std::vector<PackEntry>> open_pack_trailer(const AeadKeys& meta_keys, const RepoId& repo,
                                                 ByteView sealed_trailer, uint64_t trailer_offset) {
  if (sealed_trailer.size() > kMaxSealedTableBytes) {
    return Status::corruption("pack trailer of " + std::to_string(sealed_trailer.size()) +
                              " bytes exceeds the limit");
  }
  if (trailer_offset < kPackHeaderSize) {
    return Status::corruption("pack trailer at offset " + std::to_string(trailer_offset) +
                              " overlaps the pack header");
  }
  auto plaintext = open(meta_keys, sealed_trailer, tagged_ad(kTrailerAdTag, repo));
  if (!plaintext.is_ok()) {
    return Status::corruption(
        "pack trailer fails authentication (damaged, or not of this repository): " +
        plaintext.status().message());
  }
  ASSIGN_OR_RETURN(std::vector<PackEntry> entries, decode_pack_entries(*plaintext, trailer_offset));
  RETURN_IF_ERROR(check_blobs_fill_area(entries, trailer_offset));
  return entries;
}

Result<std::vector<PackEntry>> parse_pack(const AeadKeys& meta_keys, const RepoId& repo,
                                          ByteView pack) {
  if (pack.size() < kPackHeaderSize + kPackFooterSize) {
    return Status::corruption("pack of " + std::to_string(pack.size()) +
                              " bytes is shorter than its header and footer");
  }
  RETURN_IF_ERROR(check_pack_header(pack.first(kPackHeaderSize)));
  ASSIGN_OR_RETURN(const uint64_t trailer_size,
                   parse_pack_footer(pack.last(kPackFooterSize), pack.size()));
  const uint64_t trailer_offset = pack.size() - kPackFooterSize - trailer_size;
  return open_pack_trailer(meta_keys, repo, pack.subspan(trailer_offset, trailer_size),
                           trailer_offset);
}

Bytes encode_index_segment(const std::vector<IndexPack>& packs) {
  LARES_CHECK(packs.size() <= std::numeric_limits<uint32_t>::max());
  std::vector<ChunkId> ids;
  ids.reserve(packs.size());
  size_t entry_count = 0;
  for (const IndexPack& p : packs) {
    ids.push_back(p.pack_id);
    entry_count += p.entries.size();
  }
  std::sort(ids.begin(), ids.end());
  LARES_CHECK(std::adjacent_find(ids.begin(), ids.end()) == ids.end());  // each pack once
  Bytes out;
  out.reserve(kIndexSegmentHeaderSize + packs.size() * kIndexPackMinSize +
              entry_count * kPackEntrySize);
  ByteWriter w(&out);
  w.u8(kIndexSegmentVersion);
  w.u32(static_cast<uint32_t>(packs.size()));
  for (const IndexPack& p : packs) {
    w.raw(p.pack_id.bytes);
    write_entry_table(w, p.entries);
  }
  // Invariant: nothing is written that a reader would refuse for its size.
  LARES_CHECK(out.size() <= kMaxEntryTableBytes);
  return out;
}

Result<std::vector<IndexPack>> decode_index_segment(ByteView plaintext) {
  RETURN_IF_ERROR(check_table_size(plaintext.size(), "index segment"));
  ByteReader r(plaintext);
  const uint8_t version = r.u8();
  const uint32_t pack_count = r.u32();
  if (r.failed()) return Status::corruption("index segment is truncated");
  if (version != kIndexSegmentVersion) {
    return Status::corruption("index segment version " + std::to_string(version) +
                              " is not supported");
  }
  // Checked before reserving: pack_count comes from the input.
  if (uint64_t{pack_count} * kIndexPackMinSize > r.remaining()) {
    return Status::corruption("index segment: pack count " + std::to_string(pack_count) +
                              " does not fit in " + std::to_string(r.remaining()) + " bytes");
  }
  std::vector<IndexPack> packs;
  packs.reserve(pack_count);
  for (size_t i = 0; i < pack_count; ++i) {
    IndexPack p;
    ByteView id = r.raw(ChunkId::kSize);
    if (r.failed()) return Status::corruption("index segment is truncated");
    std::copy(id.begin(), id.end(), p.pack_id.bytes.begin());
    auto entries = read_entry_table(r, 0);
    if (!entries.is_ok()) {
      return entries.status().with_context("index segment, pack " + std::to_string(i) + " (" +
                                           p.pack_id.hex() + ")");
    }
    p.entries = std::move(*entries);
    packs.push_back(std::move(p));
  }
  if (r.remaining() != 0) {
    return Status::corruption("index segment: " + std::to_string(r.remaining()) +
                              " bytes after the last pack");
  }
  std::vector<ChunkId> ids;
  ids.reserve(packs.size());
  for (const IndexPack& p : packs) ids.push_back(p.pack_id);
  std::sort(ids.begin(), ids.end());
  auto twice = std::adjacent_find(ids.begin(), ids.end());
  if (twice != ids.end()) {
    return Status::corruption("index segment: pack " + twice->hex() + " appears twice");
  }
  return packs;
}

Bytes seal_index_segment(const AeadKeys& meta_keys, const RepoId& repo,
                         const std::vector<IndexPack>& packs) {
  return seal(meta_keys, encode_index_segment(packs), tagged_ad(kIndexAdTag, repo));
}

Result<std::vector<IndexPack>> open_index_segment(const AeadKeys& meta_keys, const RepoId& repo,
                                                  ByteView sealed) {
  if (sealed.size() > kMaxSealedTableBytes) {
    return Status::corruption("index segment of " + std::to_string(sealed.size()) +
                              " bytes exceeds the limit");
  }
  auto plaintext = open(meta_keys, sealed, tagged_ad(kIndexAdTag, repo));
  if (!plaintext.is_ok()) {
    return Status::corruption(
        "index segment fails authentication (damaged, or not of this repository): " +
        plaintext.status().message());
  }
  return decode_index_segment(*plaintext);
}

std::string pack_object_name(const ChunkId& pack_id) {
  const std::string hex = pack_id.hex();
  return "packs/" + hex.substr(0, 2) + "/" + hex;
}

std::string index_object_name(const ChunkId& segment_id) { return "index/" + segment_id.hex(); }

Result<ChunkId> pack_id_from_name(const std::string& name) {
  constexpr std::string_view kPrefix = "packs/";
  constexpr size_t kNameSize = kPrefix.size() + 2 + 1 + 2 * ChunkId::kSize;
  if (name.size() == kNameSize && name.starts_with(kPrefix)) {
    auto id = ChunkId::from_hex(std::string_view(name).substr(kNameSize - 2 * ChunkId::kSize));
    // Exactly what pack_object_name writes: lowercase, and <hh> from the id.
    if (id.is_ok() && pack_object_name(*id) == name) return *id;
  }
  return Status::invalid_argument("'" + name + "' is not a pack object name (packs/<hh>/<id>)");
}

ChunkId pack_id_of(const Key32& id_key, const std::vector<PackEntry>& entries) {
  KeyedHasher hasher(id_key);
  hasher.update(as_bytes("LRSPKID1"));
  hasher.update(encode_pack_entries(entries));
  return hasher.finish();
}

}  // namespace lares
