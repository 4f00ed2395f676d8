// Content-defined chunking: sizes, streaming, locality of edits, and the
// pinned gear table and cut points that make chunk boundaries a stable format.
#include "chunks/chunker.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cstdio>
#include <cstring>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "codec/crc32c.h"
#include "testing/pool_fixture.h"
#include "util/random.h"

namespace lares {
namespace {

constexpr size_t kKiB = 1024;
constexpr size_t kMiB = 1024 * 1024;

// Small chunks, so a few MiB of input make thousands of them.
const ChunkerParams kSmallParams = {
    .size_bytes_min = 2 * kKiB, .size_bytes_avg = 8 * kKiB, .size_bytes_max = 64 * kKiB};

Bytes random_bytes(size_t count, uint64_t seed) {
  SeededRandom random(seed);
  Bytes out(count);
  for (size_t i = 0; i < count; i += 8) {
    const uint64_t word = random.next();
    std::memcpy(out.data() + i, &word, std::min<size_t>(8, count - i));
  }
  return out;
}

// The rule exactly as the header states it, one byte at a time, sharing
// nothing with the implementation but the gear table.
std::vector<size_t> spec_cut_points(ByteView data, const ChunkerParams& params) {
  const uint64_t min = params.size_bytes_min;
  const uint64_t max = params.size_bytes_max;
  const uint64_t normal = std::max(min, params.size_bytes_avg - min / 2);
  const int avg_bits = std::countr_zero(params.size_bytes_avg);
  auto mask = [](int one_bits) { return ((uint64_t{1} << one_bits) - 1) << (63 - one_bits); };
  std::vector<size_t> ends;
  size_t start = 0;
  while (start < data.size()) {
    size_t length = std::min<size_t>(max, data.size() - start);
    uint64_t hash = 0;
    for (size_t i = min; i < max && start + i < data.size(); ++i) {
      hash = (hash << 1) + gear_table()[data[start + i]];
      if ((hash & mask(i < normal ? avg_bits + 2 : avg_bits - 2)) == 0) {
        length = i + 1;
        break;
      }
    }
    start += length;
    ends.push_back(start);
  }
  return ends;
}

std::vector<ChunkExtent> chunk_all(ByteView data, const ChunkerParams& params) {
  auto chunker = Chunker::create(params);
  EXPECT_TRUE(chunker.is_ok()) << chunker.status().to_string();
  std::vector<ChunkExtent> chunks;
  chunker->feed(data, &chunks);
  chunker->finish(&chunks);
  return chunks;
}

// Chunks cover the data in order, without gaps; every chunk but the last is
// a content cut past min or a cut at max; the last is 1..max bytes.
void expect_valid_chunks(const std::vector<ChunkExtent>& chunks, size_t data_size,
                         const ChunkerParams& params) {
  uint64_t offset = 0;
  for (size_t i = 0; i < chunks.size(); ++i) {
    SCOPED_TRACE("chunk " + std::to_string(i));
    EXPECT_EQ(chunks[i].offset, offset);
    EXPECT_LE(chunks[i].size_bytes, params.size_bytes_max);
    if (i + 1 < chunks.size()) {
      EXPECT_GT(chunks[i].size_bytes, params.size_bytes_min);
    } else {
      EXPECT_GE(chunks[i].size_bytes, 1u);
    }
    offset += chunks[i].size_bytes;
  }
  EXPECT_EQ(offset, data_size);
}

TEST(ChunkerTest, GearTableIsSplitMix64FromTheDocumentedSeed) {
  // Pinned: chunk boundaries in every repository depend on these values.
  EXPECT_EQ(kGearSeed, 0x4c41524553434443ULL);
  EXPECT_EQ(gear_table()[0], 0xcb28b467d28c0ed3ULL);
  EXPECT_EQ(gear_table()[1], 0x1568918bcc125de7ULL);
  EXPECT_EQ(gear_table()[2], 0x2a0a200891612629ULL);
  EXPECT_EQ(gear_table()[3], 0x989284665d6ca133ULL);
  EXPECT_EQ(gear_table()[255], 0x558618fd066c0ccdULL);
  SeededRandom random(kGearSeed);
  for (size_t i = 0; i < 256; ++i) EXPECT_EQ(gear_table()[i], random.next()) << "entry " << i;
}

TEST(ChunkerTest, CutPointsArePinned) {
  // A format test: if this fails, every stored file would re-chunk. Do not
  // update these numbers unless the repository format version changes too.
  const Bytes data = random_bytes(24 * kMiB, 0x5eed0001);
  const std::vector<size_t> pinned = {1048048,  2472759,  3643709,  3970096,  5092958,  6017728,
                                      6636969,  7758512,  9001154,  10185066, 11116484, 12667132,
                                      13749639, 15071549, 16003026, 17279138, 18269361, 19415951,
                                      19709452, 21232086, 22457092, 23792069, 24921730, 25165824};
  EXPECT_EQ(cut_points(data), pinned);

  const Bytes small = random_bytes(256 * kKiB, 0x5eed0002);
  const std::vector<size_t> small_cuts = cut_points(small, kSmallParams);
  ASSERT_EQ(small_cuts.size(), 30u);
  EXPECT_EQ(std::vector<size_t>(small_cuts.begin(), small_cuts.begin() + 8),
            (std::vector<size_t>{2471, 7003, 15774, 23178, 31730, 39925, 50439, 61044}));
}

TEST(ChunkerTest, ValidatesParams) {
  EXPECT_TRUE(ChunkerParams{}.validate().is_ok());
  EXPECT_TRUE(kSmallParams.validate().is_ok());
  const ChunkerParams fixed_size = {
      .size_bytes_min = 4096, .size_bytes_avg = 4096, .size_bytes_max = 4096};
  EXPECT_TRUE(fixed_size.validate().is_ok());
  const std::vector<ChunkerParams> bad = {
      {.size_bytes_min = 256 * kKiB, .size_bytes_avg = 1000 * kKiB, .size_bytes_max = 4 * kMiB},
      {.size_bytes_min = 0, .size_bytes_avg = 1 * kMiB, .size_bytes_max = 4 * kMiB},
      {.size_bytes_min = 32, .size_bytes_avg = 1 * kMiB, .size_bytes_max = 4 * kMiB},
      {.size_bytes_min = 64, .size_bytes_avg = 128, .size_bytes_max = 4 * kMiB},
      {.size_bytes_min = 2 * kMiB, .size_bytes_avg = 1 * kMiB, .size_bytes_max = 4 * kMiB},
      {.size_bytes_min = 256 * kKiB, .size_bytes_avg = 1 * kMiB, .size_bytes_max = 512 * kKiB},
      {.size_bytes_min = 256 * kKiB, .size_bytes_avg = 1 * kMiB, .size_bytes_max = 2048 * kMiB},
      {.size_bytes_min = 256 * kKiB, .size_bytes_avg = 0, .size_bytes_max = 4 * kMiB},
  };
  for (const ChunkerParams& params : bad) {
    const Status status = params.validate();
    EXPECT_EQ(status.code(), Code::kInvalidArgument) << status.to_string();
    EXPECT_EQ(Chunker::create(params).status().code(), Code::kInvalidArgument);
  }
}

TEST(ChunkerTest, EmptyInputHasNoChunks) {
  EXPECT_TRUE(cut_points({}).empty());
  auto chunker = Chunker::create({});
  ASSERT_TRUE(chunker.is_ok());
  std::vector<ChunkExtent> chunks;
  chunker->feed({}, &chunks);
  chunker->finish(&chunks);
  EXPECT_TRUE(chunks.empty());
  EXPECT_EQ(chunker->stream_bytes(), 0u);
  EXPECT_EQ(cut_points(as_bytes("x")), std::vector<size_t>{1});
}

TEST(ChunkerTest, MatchesTheRuleAsSpecified) {
  const uint64_t seed = testing::test_seed(101);
  SCOPED_TRACE("seed " + std::to_string(seed));
  const Bytes data = random_bytes(8 * kMiB + 12345, seed);
  EXPECT_EQ(cut_points(data, kSmallParams), spec_cut_points(data, kSmallParams));
  EXPECT_EQ(cut_points(data), spec_cut_points(data, {}));
  const ChunkerParams min_at_avg = {
      .size_bytes_min = 8 * kKiB, .size_bytes_avg = 8 * kKiB, .size_bytes_max = 16 * kKiB};
  EXPECT_EQ(cut_points(data, min_at_avg), spec_cut_points(data, min_at_avg));
  const ChunkerParams fixed_size = {
      .size_bytes_min = 4096, .size_bytes_avg = 4096, .size_bytes_max = 4096};
  const std::vector<size_t> fixed = cut_points(data, fixed_size);
  EXPECT_EQ(fixed, spec_cut_points(data, fixed_size));
  EXPECT_EQ(fixed.size(), (data.size() + 4095) / 4096);
}

TEST(ChunkerTest, SizesStayWithinMinAndMax) {
  const uint64_t seed = testing::test_seed(202);
  SCOPED_TRACE("seed " + std::to_string(seed));
  const Bytes data = random_bytes(32 * kMiB + 777, seed);
  for (const ChunkerParams& params : {ChunkerParams{}, kSmallParams}) {
    SCOPED_TRACE("avg " + std::to_string(params.size_bytes_avg));
    expect_valid_chunks(chunk_all(data, params), data.size(), params);
  }
}

TEST(ChunkerTest, AverageIsNearTheTargetOnRandomData) {
  const uint64_t seed = testing::test_seed(303);
  SCOPED_TRACE("seed " + std::to_string(seed));
  const Bytes data = random_bytes(256 * kMiB, seed);
  for (const ChunkerParams& params : {ChunkerParams{}, kSmallParams}) {
    const std::vector<ChunkExtent> chunks = chunk_all(data, params);
    // The last chunk is cut by the end of the data, not by content.
    const double mean =
        static_cast<double>(chunks.back().offset) / static_cast<double>(chunks.size() - 1);
    const double target = static_cast<double>(params.size_bytes_avg);
    std::printf("avg %llu: %zu chunks, mean %.0f bytes (%.3fx)\n",
                static_cast<unsigned long long>(params.size_bytes_avg), chunks.size(), mean,
                mean / target);
    EXPECT_NEAR(mean, target, 0.2 * target) << "avg " << params.size_bytes_avg;
  }
}

TEST(ChunkerTest, StreamingWithAnyFeedSizesGivesTheSameChunks) {
  const uint64_t seed = testing::test_seed(404);
  SCOPED_TRACE("seed " + std::to_string(seed));
  SeededRandom random(seed);
  const Bytes data = random_bytes(16 * kMiB + 4321, seed + 1);
  for (const ChunkerParams& params : {ChunkerParams{}, kSmallParams}) {
    SCOPED_TRACE("avg " + std::to_string(params.size_bytes_avg));
    const std::vector<ChunkExtent> whole = chunk_all(data, params);
    // Feed sizes from 0 bytes to twice max, mostly small, so chunks span many feeds.
    for (int round = 0; round < 4; ++round) {
      auto chunker = Chunker::create(params);
      ASSERT_TRUE(chunker.is_ok());
      std::vector<ChunkExtent> streamed;
      size_t offset = 0;
      while (offset < data.size()) {
        const uint64_t limit = random.uniform(4) == 0 ? 2 * params.size_bytes_max : 4096;
        const size_t size = std::min<size_t>(random.uniform(limit + 1), data.size() - offset);
        chunker->feed(ByteView(data).subspan(offset, size), &streamed);
        offset += size;
        ASSERT_EQ(chunker->stream_bytes(), offset);
        ASSERT_LT(chunker->pending_bytes(), params.size_bytes_max);
        ASSERT_EQ(streamed.empty() ? 0 : streamed.back().offset + streamed.back().size_bytes,
                  offset - chunker->pending_bytes());
      }
      chunker->finish(&streamed);
      ASSERT_EQ(streamed, whole) << "round " << round;
      // finish() starts a new stream at offset 0.
      EXPECT_EQ(chunker->stream_bytes(), 0u);
      std::vector<ChunkExtent> again;
      chunker->feed(data, &again);
      chunker->finish(&again);
      EXPECT_EQ(again, whole);
    }
  }
}

TEST(ChunkerTest, StreamingOneByteAtATimeGivesTheSameChunks) {
  // Every feed boundary falls at every chunk length once: min, normal, max - 1.
  const uint64_t seed = testing::test_seed(405);
  SCOPED_TRACE("seed " + std::to_string(seed));
  Bytes data = random_bytes(kMiB, seed);
  data.resize(data.size() + 3 * kSmallParams.size_bytes_max + 5, 0);  // then cuts at max
  const std::vector<ChunkExtent> whole = chunk_all(data, kSmallParams);
  auto chunker = Chunker::create(kSmallParams);
  ASSERT_TRUE(chunker.is_ok());
  std::vector<ChunkExtent> streamed;
  for (size_t i = 0; i < data.size(); ++i) chunker->feed(ByteView(data).subspan(i, 1), &streamed);
  chunker->finish(&streamed);
  EXPECT_EQ(streamed, whole);
}

struct Chunked {
  std::vector<ChunkExtent> extents;
  std::multiset<std::pair<uint64_t, uint32_t>> contents;  // (size, crc32c) of each chunk
};

Chunked chunk_with_hashes(ByteView data) {
  Chunked out;
  out.extents = chunk_all(data, {});
  for (const ChunkExtent& chunk : out.extents) {
    out.contents.insert({chunk.size_bytes, crc32c(data.subspan(chunk.offset, chunk.size_bytes))});
  }
  return out;
}

// Chunks of `edited` whose content is not a chunk of `original`.
size_t new_chunk_count(const Chunked& original, const Chunked& edited) {
  size_t count = 0;
  for (const auto& content : edited.contents) count += original.contents.count(content) == 0;
  return count;
}

// Chunks that keep their boundaries: the same before the edit, shifted by
// `shift` bytes after it.
size_t kept_boundary_count(const Chunked& original, const Chunked& edited, int64_t shift) {
  const auto& a = original.extents;
  const auto& b = edited.extents;
  size_t prefix = 0;
  while (prefix < a.size() && prefix < b.size() && a[prefix] == b[prefix]) ++prefix;
  size_t suffix = 0;
  while (suffix < a.size() - prefix && suffix < b.size() - prefix) {
    const ChunkExtent& x = a[a.size() - 1 - suffix];
    const ChunkExtent& y = b[b.size() - 1 - suffix];
    if (static_cast<int64_t>(x.offset) + shift != static_cast<int64_t>(y.offset) ||
        x.size_bytes != y.size_bytes) {
      break;
    }
    ++suffix;
  }
  return prefix + suffix;
}

TEST(ChunkerTest, SmallEditsChangeOnlyNearbyChunks) {
  const uint64_t seed = testing::test_seed(505);
  SCOPED_TRACE("seed " + std::to_string(seed));
  SeededRandom random(seed);
  const Bytes data = random_bytes(64 * kMiB, seed);
  const Chunked original = chunk_with_hashes(data);
  for (int round = 0; round < 6; ++round) {
    const size_t at = 32 * kMiB + random.uniform(kMiB);
    const size_t count = 1 + random.uniform(16);
    // Even rounds insert `count` random bytes at `at`, odd rounds delete them.
    const bool insert = round % 2 == 0;
    const int64_t shift = insert ? static_cast<int64_t>(count) : -static_cast<int64_t>(count);
    Bytes edited(static_cast<size_t>(static_cast<int64_t>(data.size()) + shift));
    std::memcpy(edited.data(), data.data(), at);
    if (insert) {
      const Bytes inserted = random_bytes(count, random.next());
      std::memcpy(edited.data() + at, inserted.data(), count);
      std::memcpy(edited.data() + at + count, data.data() + at, data.size() - at);
    } else {
      std::memcpy(edited.data() + at, data.data() + at + count, data.size() - at - count);
    }
    SCOPED_TRACE("round " + std::to_string(round) + ": " + (insert ? "insert " : "delete ") +
                 std::to_string(count) + " bytes at " + std::to_string(at));
    const Chunked after = chunk_with_hashes(edited);
    const size_t kept = kept_boundary_count(original, after, shift);
    EXPECT_GE(kept + 3, after.extents.size()) << "chunks whose boundaries moved";
    const size_t fresh = new_chunk_count(original, after);
    EXPECT_GE(fresh, 1u);
    EXPECT_LE(fresh, 3u) << "of " << after.extents.size() << " chunks";
  }
}

TEST(ChunkerTest, ZeroAndRepetitiveInputIsCutAtMax) {
  const ChunkerParams params;
  const size_t size = 3 * params.size_bytes_max + 12345;
  std::vector<std::pair<std::string, Bytes>> inputs;
  inputs.emplace_back("zeros", Bytes(size, 0));
  inputs.emplace_back("0xff", Bytes(size, 0xff));
  const std::string text = "The quick brown fox jumps over the lazy dog. ";
  const Bytes block = random_bytes(4096, 0x5eed0003);
  Bytes abc(size), prose(size), blocks(size);
  for (size_t i = 0; i < size; ++i) {
    abc[i] = static_cast<uint8_t>('a' + i % 3);
    prose[i] = static_cast<uint8_t>(text[i % text.size()]);
    blocks[i] = block[i % block.size()];
  }
  inputs.emplace_back("abc repeated", std::move(abc));
  inputs.emplace_back("a sentence repeated", std::move(prose));
  inputs.emplace_back("a random 4 KiB block repeated", std::move(blocks));
  for (const auto& [name, data] : inputs) {
    const std::vector<size_t> max_cuts = {params.size_bytes_max, 2 * params.size_bytes_max,
                                          3 * params.size_bytes_max, size};
    EXPECT_EQ(cut_points(data, params), max_cuts) << name;
  }
}

}  // namespace
}  // namespace lares
