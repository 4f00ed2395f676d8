// Writes the seed corpora of the fuzz targets and the checked-in format
// samples that tests decode.
//
//   make_seeds <source dir>
//
// writes <source dir>/fuzz/corpus/{label,shard_header}/*.bin (overwritten:
// they are regenerated whenever a seed is added) and
// <source dir>/tests/data/{label,shard_header}_v1.bin only when they are
// absent: a sample is the frozen record of what old pools hold, so it is
// never rewritten; a new format version adds a new sample beside it.
//
// Seeds are small valid inputs plus near-valid ones, each one defect away
// from valid, with the checksum recomputed where that lets the defect reach
// the check behind it. Everything is deterministic: rerunning gives the same
// bytes.
#include <cstdio>
#include <string>
#include <vector>

#include "fuzz/seal.h"
#include "fuzz/seeds.h"
#include "pool/label.h"
#include "pool/shard_header.h"
#include "util/file.h"

namespace lares::fuzz {

namespace {

PoolLabel sample_label() {
  PoolLabel label;
  label.pool_id = "3f2a9c1e5b7d4a608e1f2c3b4d5e6f70";
  label.pool_name = "tank";
  label.device_id = "a1b2c3d4e5f60718";
  label.generation = 7;
  label.redundancy = 2;
  label.max_data_shards = 8;
  label.block_size = 64 * 1024;
  label.created_unix = 1700000000;
  label.members = {
      {"a1b2c3d4e5f60718", "/srv/disk0", MemberState::kActive, ""},
      {"0badc0ffee123456", "/srv/disk1", MemberState::kRemoving, ""},
      {"99aabbccddeeff00", "/srv/disk2", MemberState::kReplacing, "1122334455667788"},
  };
  return label;
}

PoolLabel one_member_label() {
  PoolLabel label = sample_label();
  label.redundancy = 1;
  label.members.resize(1);
  return label;
}

// A label envelope around an arbitrary body, with a correct checksum.
Bytes label_with_body(const std::string& body, uint32_t version = PoolLabel::kFormatVersion) {
  Bytes out;
  ByteWriter w(&out);
  w.raw(as_bytes("LARESLBL"));
  w.u32(version);
  w.u32(static_cast<uint32_t>(body.size()));
  w.u32(0);
  w.raw(as_bytes(body));
  seal_label(out);
  return out;
}

std::string body_of(const Bytes& label) {
  return std::string(as_chars(ByteView(label).subspan(kLabelEnvelopeBytes)));
}

std::vector<std::pair<std::string, Bytes>> label_seeds() {
  const Bytes valid = encode_label(sample_label());
  std::vector<std::pair<std::string, Bytes>> seeds = {
      {"valid_sample", valid},
      {"valid_one_member", encode_label(one_member_label())},
  };
  Bytes b = valid;
  b[0] = 'X';
  seeds.emplace_back("bad_magic", b);
  seeds.emplace_back("version_2", label_with_body(body_of(valid), 2));
  b = valid;
  b[kLabelCrcOffset] ^= 0x01;
  seeds.emplace_back("bad_crc", b);
  seeds.emplace_back("truncated_body", Bytes(valid.begin(), valid.begin() + 40));
  seeds.emplace_back("truncated_envelope", Bytes(valid.begin(), valid.begin() + 12));
  b = valid;
  b.push_back('\n');
  seal_label(b);
  seeds.emplace_back("length_mismatch", b);
  seeds.emplace_back("body_array", label_with_body("[]"));
  seeds.emplace_back("body_not_json", label_with_body("{\"pool_id\":"));
  PoolLabel out_of_range = sample_label();
  out_of_range.redundancy = 4;
  seeds.emplace_back("redundancy_4", encode_label(out_of_range));
  PoolLabel duplicate = sample_label();
  duplicate.members.push_back(duplicate.members[0]);
  seeds.emplace_back("duplicate_member", encode_label(duplicate));
  PoolLabel stranger = sample_label();
  stranger.device_id = "ffffffffffffffff";
  seeds.emplace_back("device_not_member", encode_label(stranger));
  std::string body = body_of(valid);
  body.replace(body.find("\"active\""), 8, "\"asleep\"");
  seeds.emplace_back("unknown_state", label_with_body(body));
  body = body_of(valid);
  body.replace(body.find("\"generation\":7"), 14, "\"generation\":\"7\"");
  seeds.emplace_back("generation_string", label_with_body(body));
  return seeds;
}

ShardHeader sample_shard_header() {
  ShardHeader h;
  for (uint8_t i = 0; i < 16; ++i) h.pool_id.push_back(i);
  h.put_id = 0x0123456789abcdefULL;
  h.replaces_put_id = 0x1111;
  h.object_size = 10000;
  h.k = 2;
  h.r = 1;
  h.shard_size = 8192;  // ceil(10000 / 2) = 5000, rounded up to a multiple of 4096
  h.block_size = 4096;
  h.shard_index = 2;
  h.name = "photos/2024/beach.jpg";
  h.devices = {0xd0, 0xd1, 0xd2};
  for (uint32_t i = 0; i < 6; ++i) h.checksums.push_back(0xa0000000u + i);  // 3 shards x 2 blocks
  return h;
}

ShardHeader empty_object_header() {
  ShardHeader h = sample_shard_header();
  h.object_size = 0;
  h.shard_size = 0;
  h.shard_index = 0;
  h.replaces_put_id = 0;
  h.checksums.clear();
  return h;
}

ShardHeader mirror_header() {
  ShardHeader h = sample_shard_header();
  h.k = 1;
  h.r = 2;
  h.object_size = 5000;
  h.shard_size = 8192;
  h.shard_index = 1;
  return h;  // 3 shards x 2 blocks, as the sample
}

// A checksum table of 4 + 2 shards x 200 blocks: the header spans two 4 KiB pages.
ShardHeader two_page_header() {
  ShardHeader h = sample_shard_header();
  h.k = 4;
  h.r = 2;
  h.shard_size = 200 * 4096;
  h.object_size = 4 * h.shard_size - 3;
  h.shard_index = 5;
  h.devices.clear();  // encoded as unknown
  h.checksums.assign(6 * 200, 0);
  for (size_t i = 0; i < h.checksums.size(); ++i)
    h.checksums[i] = static_cast<uint32_t>(i * 2654435761u);
  return h;
}

std::vector<std::pair<std::string, Bytes>> shard_header_seeds() {
  const Bytes valid = encode_shard_header(sample_shard_header());
  std::vector<std::pair<std::string, Bytes>> seeds = {
      {"valid_k2_r1", valid},
      {"valid_empty_object", encode_shard_header(empty_object_header())},
      {"valid_mirror_k1_r2", encode_shard_header(mirror_header())},
      {"valid_two_pages", encode_shard_header(two_page_header())},
  };
  auto patched = [&](const char* name, size_t offset, uint64_t value, size_t width) {
    Bytes b = valid;
    write_le(b, offset, value, width);
    seal_shard_header(b);
    seeds.emplace_back(name, std::move(b));
  };
  Bytes b = valid;
  b[7] = 'X';
  seeds.emplace_back("bad_magic", b);
  patched("version_2", kShardVersionOffset, 2, 2);
  patched("header_size_unaligned", kShardHeaderSizeOffset, 4100, 4);
  patched("header_size_8192", kShardHeaderSizeOffset, 8192, 4);
  patched("k_zero", kShardDataCountOffset, 0, 1);
  patched("shard_index_past_end", kShardIndexOffset, 3, 1);
  patched("reserved_set", kShardReservedOffset, 1, 1);
  patched("block_size_3_pages", kShardBlockSizeOffset, 3 * 4096, 4);
  patched("object_too_big", kShardObjectSizeOffset, 2 * 8192 + 1, 8);
  patched("name_length_zero", kShardNameLengthOffset, 0, 2);
  patched("shard_size_huge", kShardSizeOffset, uint64_t{1} << 41, 8);
  b = valid;
  b[kShardFixedBytes] ^= 0x20;  // a flipped bit in the name, checksum left stale
  seeds.emplace_back("bad_crc", b);
  seeds.emplace_back("truncated", Bytes(valid.begin(), valid.begin() + 4000));
  seeds.emplace_back("peek_only", Bytes(valid.begin(), valid.begin() + 16));
  return seeds;
}

bool write(const std::string& path, const Bytes& bytes) {
  Status st = write_file_atomic(path, bytes, Sync::kNo);
  if (!st.is_ok()) {
    std::fprintf(stderr, "make_seeds: %s\n", st.to_string().c_str());
    return false;
  }
  std::printf("wrote %s (%zu bytes)\n", path.c_str(), bytes.size());
  return true;
}

bool write_corpus(const std::string& dir, const std::vector<std::pair<std::string, Bytes>>& seeds) {
  if (Status st = make_dirs(dir); !st.is_ok()) {
    std::fprintf(stderr, "make_seeds: %s\n", st.to_string().c_str());
    return false;
  }
  for (const auto& [name, bytes] : seeds) {
    if (!write(join_path(dir, name + ".bin"), bytes)) return false;
  }
  return true;
}

bool write_sample_once(const std::string& path, const Bytes& bytes) {
  if (path_exists(path)) {
    std::printf("kept %s (samples are never rewritten)\n", path.c_str());
    return true;
  }
  return write(path, bytes);
}

}  // namespace
}  // namespace lares::fuzz

int main(int argc, char** argv) {
  using namespace lares;
  using namespace lares::fuzz;
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_seeds <source dir>\n");
    return 2;
  }
  const std::string root = argv[1];
  bool ok = write_corpus(root + "/fuzz/corpus/label", label_seeds()) &&
            write_corpus(root + "/fuzz/corpus/shard_header", shard_header_seeds()) &&
            (pack_seeds().empty() || write_corpus(root + "/fuzz/corpus/pack", pack_seeds())) &&
            (key_file_seeds().empty() ||
             write_corpus(root + "/fuzz/corpus/key_file", key_file_seeds())) &&
            (tree_seeds().empty() || write_corpus(root + "/fuzz/corpus/tree", tree_seeds())) &&
            write_corpus(root + "/fuzz/corpus/btree_node", btree_node_seeds()) &&
            write_corpus(root + "/fuzz/corpus/live_items", live_items_seeds()) &&
            make_dirs(root + "/tests/data").is_ok() &&
            write_sample_once(root + "/tests/data/label_v1.bin", encode_label(sample_label())) &&
            write_sample_once(root + "/tests/data/shard_header_v1.bin",
                              encode_shard_header(sample_shard_header())) &&
            write_sample_once(root + "/tests/data/tree_v1.bin", tree_sample_v1()) &&
            write_sample_once(root + "/tests/data/btree_node_v1.bin", btree_node_sample_v1()) &&
            write_sample_once(root + "/tests/data/pack_v1.bin", pack_sample_v1()) &&
            write_sample_once(root + "/tests/data/index_segment_v1.bin",
                              index_segment_sample_v1());
  return ok ? 0 : 1;
}
