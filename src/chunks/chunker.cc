#include "chunks/chunker.h"

#include <algorithm>
#include <array>
#include <bit>
#include <string>

#include "util/check.h"

namespace lares {
namespace {

// SplitMix64, step for step as SeededRandom::next() in util/random.h, but
// constexpr so the table is built by the compiler. A test checks the two agree.
constexpr std::array<uint64_t, 256> make_gear_table(uint64_t seed) {
  std::array<uint64_t, 256> table{};
  uint64_t state = seed;
  for (uint64_t& entry : table) {
    uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    entry = z ^ (z >> 31);
  }
  return table;
}

constexpr std::array<uint64_t, 256> kGearTable = make_gear_table(kGearSeed);
// Format guard: the first entry, as pinned in tests/chunks/chunker_test.cc.
static_assert(kGearTable[0] == 0xcb28b467d28c0ed3ULL, "the gear table is part of the format");

// `one_bits` contiguous one-bits ending at bit 62 (see the header).
constexpr uint64_t cut_mask(int one_bits) {
  return ((uint64_t{1} << one_bits) - 1) << (63 - one_bits);
}
static_assert(cut_mask(22) == 0x7ffffe0000000000ULL);

// Rolls the gear hash over p[0, count) and stops after the first byte whose
// hash has no bit of `mask` set. Returns the bytes rolled; the match, if any,
// is the last of them, and then (*hash & mask) == 0 on return.
// This loop sees every byte backed up past the first min of each chunk (about
// 3/4 of them): keep it tight. It is bound by the hash's one-cycle chain.
inline size_t roll_to_cut(const uint8_t* p, size_t count, uint64_t mask, uint64_t* hash) {
  uint64_t h = *hash;
  size_t i = 0;
  while (i < count) {
    h = (h << 1) + kGearTable[p[i]];
    ++i;
    if ((h & mask) == 0) break;
  }
  *hash = h;
  return i;
}

}  // namespace

std::span<const uint64_t, 256> gear_table() { return kGearTable; }

Status ChunkerParams::validate() const {
  auto bad = [&](const std::string& why) {
    return Status::invalid_argument("chunker sizes min " + std::to_string(size_bytes_min) +
                                    " avg " + std::to_string(size_bytes_avg) + " max " +
                                    std::to_string(size_bytes_max) + ": " + why);
  };
  if (!std::has_single_bit(size_bytes_avg)) return bad("avg must be a power of two");
  if (size_bytes_avg < kSizeBytesAvgFloor) {
    return bad("avg must be at least " + std::to_string(kSizeBytesAvgFloor));
  }
  if (size_bytes_min < kSizeBytesMinFloor) {
    return bad("min must be at least " + std::to_string(kSizeBytesMinFloor));
  }
  if (size_bytes_min > size_bytes_avg) return bad("min must not exceed avg");
  if (size_bytes_avg > size_bytes_max) return bad("avg must not exceed max");
  if (size_bytes_max > kSizeBytesCeiling) {
    return bad("max must not exceed " + std::to_string(kSizeBytesCeiling));
  }
  return Status::ok();
}

Result<Chunker> Chunker::create(const ChunkerParams& params) {
  RETURN_IF_ERROR(params.validate());
  return Chunker(params);
}

Chunker::Chunker(const ChunkerParams& params) : params_(params) {
  LARES_CHECK(params.validate().is_ok());
  const int avg_bits = std::countr_zero(params.size_bytes_avg);
  mask_small_ = cut_mask(avg_bits + 2);
  mask_large_ = cut_mask(avg_bits - 2);
  normal_bytes_ =
      std::max(params.size_bytes_min, params.size_bytes_avg - params.size_bytes_min / 2);
  LARES_CHECK(normal_bytes_ <= params.size_bytes_max);
}

size_t Chunker::scan(ByteView data, bool* cut) {
  const uint64_t min = params_.size_bytes_min;
  const uint64_t max = params_.size_bytes_max;
  const uint8_t* p = data.data();
  size_t used = 0;
  *cut = false;
  // Cut-point skipping: the first `min` bytes of a chunk are not hashed.
  if (chunk_bytes_ < min) {
    const size_t skip = static_cast<size_t>(std::min<uint64_t>(min - chunk_bytes_, data.size()));
    chunk_bytes_ += skip;
    used += skip;
  }
  // Each phase rolls up to its end (normal_bytes_, then max) or the data's end.
  const struct {
    uint64_t end_bytes;
    uint64_t mask;
  } phases[] = {{normal_bytes_, mask_small_}, {max, mask_large_}};
  for (const auto& phase : phases) {
    if (chunk_bytes_ < min || chunk_bytes_ >= phase.end_bytes) continue;
    const size_t count =
        static_cast<size_t>(std::min<uint64_t>(phase.end_bytes - chunk_bytes_, data.size() - used));
    if (count == 0) break;
    const size_t rolled = roll_to_cut(p + used, count, phase.mask, &hash_);
    chunk_bytes_ += rolled;
    used += rolled;
    if ((hash_ & phase.mask) == 0) {
      *cut = true;
      return used;
    }
  }
  LARES_DCHECK(chunk_bytes_ <= max);
  *cut = chunk_bytes_ == max;
  return used;
}

void Chunker::feed(ByteView data, std::vector<ChunkExtent>* out) {
  // Each pass consumes at least one byte and either ends the open chunk or
  // uses up `data`; every chunk but the first takes at least min bytes of
  // it, so there are at most data.size() / min + 2 passes.
  while (!data.empty()) {
    bool cut = false;
    const size_t used = scan(data, &cut);
    LARES_DCHECK(used > 0);
    data = data.subspan(used);
    if (!cut) {
      LARES_DCHECK(data.empty());
      break;
    }
    // Invariant: a content cut lies past min; every cut is at most max.
    LARES_DCHECK(chunk_bytes_ > params_.size_bytes_min || chunk_bytes_ == params_.size_bytes_max);
    LARES_DCHECK(chunk_bytes_ <= params_.size_bytes_max);
    out->push_back({chunk_offset_, chunk_bytes_});
    chunk_offset_ += chunk_bytes_;
    chunk_bytes_ = 0;
    hash_ = 0;
  }
}

void Chunker::finish(std::vector<ChunkExtent>* out) {
  if (chunk_bytes_ > 0) out->push_back({chunk_offset_, chunk_bytes_});
  chunk_offset_ = 0;
  chunk_bytes_ = 0;
  hash_ = 0;
}

std::vector<size_t> cut_points(ByteView whole, const ChunkerParams& params) {
  Result<Chunker> chunker = Chunker::create(params);
  LARES_CHECK(chunker.is_ok());
  std::vector<ChunkExtent> chunks;
  chunker->feed(whole, &chunks);
  chunker->finish(&chunks);
  std::vector<size_t> ends;
  ends.reserve(chunks.size());
  for (const ChunkExtent& chunk : chunks) {
    ends.push_back(static_cast<size_t>(chunk.offset + chunk.size_bytes));
  }
  LARES_CHECK(ends.empty() ? whole.empty() : ends.back() == whole.size());
  return ends;
}

}  // namespace lares
