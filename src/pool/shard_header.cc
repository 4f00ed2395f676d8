#include "pool/shard_header.h"

#include <cstring>

#include "codec/crc32c.h"

namespace lares {
namespace {

constexpr char kMagic[8] = {'L', 'A', 'R', 'S', 'H', 'A', 'R', 'D'};
constexpr uint64_t kMaxShardBytes = 1ull << 40;

uint64_t unpadded_size(const ShardHeader& h) {
  return ShardHeader::kFixedBytes + h.name.size() + 8ull * static_cast<uint64_t>(h.k + h.r) +
         4ull * static_cast<uint64_t>(h.k + h.r) * h.block_count() + 4;
}

uint32_t round_up(uint64_t n) {
  uint64_t a = ShardHeader::kAlignment;
  return static_cast<uint32_t>((n + a - 1) / a * a);
}

}  // namespace

uint64_t shard_size_for(uint64_t object_size, int k) {
  const uint64_t per_shard =
      (object_size + static_cast<uint64_t>(k) - 1) / static_cast<uint64_t>(k);
  return (per_shard + ShardHeader::kAlignment - 1) / ShardHeader::kAlignment *
         ShardHeader::kAlignment;
}

uint32_t ShardHeader::header_size() const { return round_up(unpadded_size(*this)); }

bool ShardHeader::same_version(const ShardHeader& o) const {
  return pool_id == o.pool_id && put_id == o.put_id && object_size == o.object_size &&
         shard_size == o.shard_size && block_size == o.block_size && k == o.k && r == o.r &&
         name == o.name && checksums == o.checksums;  // placement is a hint: not compared
}

Bytes encode_shard_header(const ShardHeader& h) {
  LARES_CHECK(h.pool_id.size() == 16 && h.k >= 1 && h.r >= 0 && h.k + h.r <= 255);
  LARES_CHECK(h.checksums.size() == static_cast<size_t>(h.k + h.r) * h.block_count());
  LARES_CHECK(!h.name.empty() && h.name.size() <= 1024);
  const uint32_t header_size = h.header_size();
  LARES_CHECK(header_size <= ShardHeader::kMaxHeaderBytes);
  Bytes out;
  out.reserve(header_size);
  ByteWriter w(&out);
  w.raw({reinterpret_cast<const uint8_t*>(kMagic), sizeof kMagic});
  w.u16(ShardHeader::kFormatVersion);
  w.u16(0);
  w.u32(header_size);
  w.raw(h.pool_id);
  w.u64(h.put_id);
  w.u64(h.replaces_put_id);
  w.u64(h.object_size);
  w.u64(h.shard_size);
  w.u32(h.block_size);
  w.u8(static_cast<uint8_t>(h.k));
  w.u8(static_cast<uint8_t>(h.r));
  w.u8(static_cast<uint8_t>(h.shard_index));
  w.u8(0);
  w.u16(static_cast<uint16_t>(h.name.size()));
  LARES_DCHECK(w.size() == ShardHeader::kFixedBytes);
  w.raw(as_bytes(h.name));
  LARES_CHECK(h.devices.empty() || h.devices.size() == static_cast<size_t>(h.k + h.r));
  for (int i = 0; i < h.k + h.r; ++i)
    w.u64(h.devices.empty() ? 0 : h.devices[static_cast<size_t>(i)]);
  for (uint32_t c : h.checksums) w.u32(c);
  w.u32(crc32c(out));
  // Invariant: the encoder and header_size() agree on the unpadded length.
  LARES_CHECK(out.size() == unpadded_size(h));
  w.zeros(header_size - out.size());
  return out;
}

Result<uint32_t> peek_header_size(ByteView first) {
  if (first.size() < 16) return Status::corruption("shard file is shorter than its header");
  if (std::memcmp(first.data(), kMagic, sizeof kMagic) != 0) {
    return Status::corruption("not a Lares shard (bad magic)");
  }
  ByteReader r(first.subspan(8));
  uint16_t version = r.u16();
  r.u16();
  uint32_t size = r.u32();
  if (version != ShardHeader::kFormatVersion) {
    return Status::corruption("shard format version " + std::to_string(version) +
                              " is not supported");
  }
  if (size < ShardHeader::kAlignment || size > ShardHeader::kMaxHeaderBytes ||
      size % ShardHeader::kAlignment != 0) {
    return Status::corruption("shard header size out of range");
  }
  return size;
}

Result<ShardHeader> decode_shard_header(ByteView bytes) {
  ASSIGN_OR_RETURN(uint32_t header_size, peek_header_size(bytes));
  if (bytes.size() < header_size) return Status::corruption("shard header is truncated");
  ByteReader r(bytes.subspan(16, header_size - 16));
  ShardHeader h;
  ByteView pool_id = r.raw(16);
  h.pool_id.assign(pool_id.begin(), pool_id.end());
  h.put_id = r.u64();
  h.replaces_put_id = r.u64();
  h.object_size = r.u64();
  h.shard_size = r.u64();
  h.block_size = r.u32();
  h.k = r.u8();
  h.r = r.u8();
  h.shard_index = r.u8();
  uint8_t reserved = r.u8();
  uint16_t name_length = r.u16();
  if (r.failed() || reserved != 0) return Status::corruption("shard header is malformed");
  if (h.k < 1 || h.k > 32 || h.r > 4 || h.shard_index >= h.k + h.r) {
    return Status::corruption("shard header: shard layout out of range");
  }
  if (h.block_size < 4096 || h.block_size > (1u << 20) || (h.block_size & (h.block_size - 1))) {
    return Status::corruption("shard header: block size out of range");
  }
  if (h.shard_size > kMaxShardBytes || h.object_size > kMaxShardBytes * 32 ||
      h.shard_size != shard_size_for(h.object_size, h.k)) {
    return Status::corruption("shard header: sizes are inconsistent");
  }
  if (name_length == 0 || name_length > 1024) {
    return Status::corruption("shard header: bad name length");
  }
  ByteView name = r.raw(name_length);
  h.name.assign(as_chars(name));
  h.devices.resize(static_cast<size_t>(h.k + h.r));
  for (auto& d : h.devices) d = r.u64();
  uint64_t table_entries = static_cast<uint64_t>(h.k + h.r) * h.block_count();
  if (r.failed() || table_entries * 4 + 4 > r.remaining()) {
    return Status::corruption("shard header: checksum table does not fit");
  }
  h.checksums.resize(table_entries);
  for (auto& c : h.checksums) c = r.u32();
  size_t crc_offset = 16 + r.position();
  uint32_t stored_crc = r.u32();
  if (r.failed() || crc32c(bytes.subspan(0, crc_offset)) != stored_crc) {
    return Status::corruption("shard header checksum mismatch");
  }
  if (h.header_size() != header_size) {
    return Status::corruption("shard header size does not match its contents");
  }
  // The padding is covered too: every byte of a shard file is checked.
  for (size_t i = crc_offset + 4; i < header_size; ++i) {
    if (bytes[i] != 0) return Status::corruption("shard header padding is not zero");
  }
  return h;
}

}  // namespace lares
