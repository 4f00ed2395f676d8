// Packs and index segments: how the repository stores its blobs.
//
// A blob is one chunk of file data or one tree node, compressed (or not) and
// sealed (codec/aead.h). Blobs are gathered into packs of a few MiB so the
// store holds thousands of objects, not millions. Every pack ends with a sealed
// table of its blobs (the trailer), so the repository index can always be
// rebuilt from the packs alone.
//
// Pack file, version 1 (little-endian):
//
//   offset   size  field
//   0        8     magic "LARSPACK"
//   8        4     version = 1
//   12       4     reserved, zero
//   16       ...   the sealed blobs, back to back, in entry order
//   T        n     the trailer: seal(meta keys, encode_pack_entries(entries),
//                  ad = "LRSPACK1" || repo id (16))
//   T+n      8     n, le64
//   T+n+8    8     magic "LARSPEND"
//
// A pack's object name is packs/<hh>/<id hex>, where the id is the keyed hash
// (chunk-id key) of "LRSPKID1" || its entry table (below): it names exactly
// which blobs the pack holds and where, and costs no pass over the data. The
// bytes themselves are verified blob by blob (each blob's AEAD tag binds its
// id), which is what `repo check --read-data` does.
//
// Entry table (the trailer's plaintext, and each pack's part of an index
// segment), version 1:
//
//   u8   version = 1
//   le32 count
//   count times (56 bytes each):
//     32  blob id
//     1   blob type (BlobType)
//     1   compression (codec/compression.h)
//     2   reserved, zero
//     le32 sealed length (what is stored: >= kSealOverhead)
//     le32 raw length (the blob's bytes once opened and decompressed)
//     le64 offset of the sealed blob in the pack (>= kPackHeaderSize)
//     le32 stored length (the payload once opened, before decompression;
//          = sealed length - kSealOverhead; stored for a cheap consistency check)
//
// Entries are sorted by offset, do not overlap, and lie inside the blob area.
//
// Each sealed blob binds its identity as associated data, so a blob moved,
// swapped or relabelled fails to open:
//   ad = "LRSBLOB1" || repo id (16) || blob id (32) || type (1) ||
//        compression (1) || le32 raw length
//
// Index segment, version 1: object index/<hex of keyed hash of plaintext>,
// holding seal(meta keys, plaintext, ad = "LRSINDX1" || repo id), where
//   plaintext = u8 version = 1 || le32 pack count ||
//               pack count times: pack id (32) || entry table (as above)
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "codec/aead.h"
#include "codec/compression.h"
#include "codec/key.h"
#include "codec/keyed_hash.h"
#include "util/bytes.h"
#include "util/status.h"

namespace lares {

inline constexpr size_t kRepoIdSize = 16;
using RepoId = std::array<uint8_t, kRepoIdSize>;

// Part of the format: never renumber.
enum class BlobType : uint8_t { kData = 1, kTree = 2, kNode = 3 };  // kNode: live dataset tree node

inline constexpr size_t kPackHeaderSize = 16;
inline constexpr size_t kPackFooterSize = 16;
inline constexpr uint32_t kPackVersion = 1;
inline constexpr size_t kPackEntrySize = 56;
// A trailer or index segment larger than this is refused before allocating.
inline constexpr uint64_t kMaxEntryTableBytes = uint64_t{64} << 20;

struct PackEntry {
  ChunkId id;
  BlobType type = BlobType::kData;
  Compression compression = Compression::kNone;
  uint32_t sealed_length = 0;
  uint32_t raw_length = 0;
  uint64_t offset = 0;

  bool operator==(const PackEntry&) const = default;
};

// The associated data a blob is sealed with (see above).
Bytes blob_associated_data(const RepoId& repo, const PackEntry& entry);

// The entry table encoding. decode_pack_entries is strict: kCorruption for a
// bad version, a count that disagrees with the length, unknown type or
// compression bytes, non-zero reserved bytes, sealed length < kSealOverhead,
// stored length != sealed length - kSealOverhead, raw_length >
// kMaxDecompressedBytes, entries not sorted by offset, overlapping, or (when
// blob_area_end != 0) not inside [kPackHeaderSize, blob_area_end).
// Entries with kNone compression must have raw length == stored length.
Bytes encode_pack_entries(const std::vector<PackEntry>& entries);
Result<std::vector<PackEntry>> decode_pack_entries(ByteView plaintext, uint64_t blob_area_end);

// Builds one pack in memory. Not thread-safe.
class PackBuilder {
 public:
  PackBuilder();
  // Sets aside room for a pack of about `bytes`, so appending never moves it.
  void reserve(uint64_t bytes) { data_.reserve(bytes); }
  // Builds in `buffer` (a finished pack's, with its memory already mapped)
  // instead. REQUIRES: nothing added yet.
  void reuse(Bytes buffer);
  // Appends an already sealed blob. `entry.offset` and `entry.sealed_length`
  // are filled in here.
  // REQUIRES: sealed.size() >= kSealOverhead and fits a uint32.
  void add(PackEntry entry, ByteView sealed);
  size_t blob_count() const { return entries_.size(); }
  // Bytes so far (header and blobs, without the trailer).
  uint64_t size_bytes() const { return data_.size(); }
  const std::vector<PackEntry>& entries() const { return entries_; }
  // Appends the trailer and footer and returns the whole pack file; the
  // builder is empty afterwards, ready for the next pack.
  Bytes finish(const AeadKeys& meta_keys, const RepoId& repo);

 private:
  Bytes data_;
  std::vector<PackEntry> entries_;
};

// Reads the footer (the last kPackFooterSize bytes of a pack) and returns the
// trailer's sealed length n. kCorruption for a bad magic, or when n is below
// kSealOverhead, above kMaxEntryTableBytes + kSealOverhead, or larger than
// pack_size - kPackHeaderSize - kPackFooterSize.
Result<uint64_t> parse_pack_footer(ByteView footer, uint64_t pack_size);

// Checks the header (first kPackHeaderSize bytes): kCorruption for a bad
// magic or reserved bytes, kFailedPrecondition for an unknown version.
Status check_pack_header(ByteView header);

// Opens a sealed trailer and decodes its entries (checked against the blob
// area, which ends where the trailer starts).
Result<std::vector<PackEntry>> open_pack_trailer(const AeadKeys& meta_keys, const RepoId& repo,
                                                 ByteView sealed_trailer,
                                                 uint64_t trailer_offset);

// Parses a whole pack held in memory: header, footer, trailer, and every blob's
// bounds. Blobs are not opened.
Result<std::vector<PackEntry>> parse_pack(const AeadKeys& meta_keys, const RepoId& repo,
                                          ByteView pack);

struct IndexPack {
  ChunkId pack_id;
  std::vector<PackEntry> entries;
  bool operator==(const IndexPack&) const = default;
};

// The plaintext of an index segment, and back (strict, as decode_pack_entries
// with blob_area_end = 0; a pack id may appear once only).
Bytes encode_index_segment(const std::vector<IndexPack>& packs);
Result<std::vector<IndexPack>> decode_index_segment(ByteView plaintext);

// Sealed forms, as stored.
Bytes seal_index_segment(const AeadKeys& meta_keys, const RepoId& repo,
                         const std::vector<IndexPack>& packs);
Result<std::vector<IndexPack>> open_index_segment(const AeadKeys& meta_keys, const RepoId& repo,
                                                  ByteView sealed);

// The id of a pack holding `entries` (see above).
ChunkId pack_id_of(const Key32& id_key, const std::vector<PackEntry>& entries);

// packs/<hh>/<hex> and index/<hex>.
std::string pack_object_name(const ChunkId& pack_id);
std::string index_object_name(const ChunkId& segment_id);
// The id in a pack object name, or kInvalidArgument.
Result<ChunkId> pack_id_from_name(const std::string& name);

}  // namespace lares
