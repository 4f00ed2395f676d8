#include "codec/compression.h"

#include <zstd.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>

#include "util/check.h"

namespace lares {
namespace {

// Policy constants (measured on JPEG, PNG, gzip, wheel, random, text and
// executables: media and archives compress to 95-100% at level 1, text and
// code to 15-40%).
//
// A payload is stored compressed only if it shrinks to less than 97% of its
// size: below that gain the CPU spent reading it back is not worth the space.
constexpr size_t kKeepPercent = 97;
// The probe compresses kProbeSamples slices of kProbeSampleBytes spread across
// the input (not its start: a photo or a video usually begins with a
// compressible header before the incompressible bulk). It costs 20-80 us per
// input and saves a full compression (about 0.5 ms per MiB) of media.
constexpr size_t kProbeSamples = 4;
constexpr size_t kProbeSampleBytes = 16 << 10;
constexpr size_t kProbeBytes = kProbeSamples * kProbeSampleBytes;
// Below this the probe would cost a sizeable part of compressing it all.
constexpr size_t kProbeMinInput = 2 * kProbeBytes;
constexpr int kProbeLevel = 1;

struct CCtxFree {
  void operator()(ZSTD_CCtx* cctx) const { ZSTD_freeCCtx(cctx); }
};
struct DCtxFree {
  void operator()(ZSTD_DCtx* dctx) const { ZSTD_freeDCtx(dctx); }
};

// Contexts are reused per thread: creating one costs more than compressing a
// small chunk.
ZSTD_CCtx* thread_cctx() {
  thread_local std::unique_ptr<ZSTD_CCtx, CCtxFree> cctx(ZSTD_createCCtx());
  LARES_CHECK(cctx != nullptr);
  return cctx.get();
}

ZSTD_DCtx* thread_dctx() {
  thread_local std::unique_ptr<ZSTD_DCtx, DCtxFree> dctx(ZSTD_createDCtx());
  LARES_CHECK(dctx != nullptr);
  return dctx.get();
}

bool worth_keeping(size_t input_size, size_t compressed_size) {
  return compressed_size * 100 < input_size * kKeepPercent;
}

// The probe's verdict: true when samples spread over `data` do not compress.
// Each sample is taken from the middle of its own equal share of the input, so
// the estimate weighs regions by their size, and a small compressible header
// (EXIF, a video's index) at offset 0 does not count for a quarter of it.
bool looks_incompressible(ByteView data) {
  LARES_DCHECK(data.size() >= kProbeMinInput);
  Bytes samples;
  samples.reserve(kProbeBytes);
  const size_t share = data.size() / kProbeSamples;
  for (size_t i = 0; i < kProbeSamples; ++i) {
    const size_t start = i * share + (share - kProbeSampleBytes) / 2;
    ByteView slice = data.subspan(start, kProbeSampleBytes);
    samples.insert(samples.end(), slice.begin(), slice.end());
  }
  return !worth_keeping(samples.size(), compress(samples, kProbeLevel).size());
}

Bytes copy_of(ByteView data) { return Bytes(data.begin(), data.end()); }

}  // namespace

bool is_valid_compression_level(int level) {
  return level >= ZSTD_minCLevel() && level <= ZSTD_maxCLevel();
}

Bytes compress(ByteView data, int level) {
  LARES_CHECK(is_valid_compression_level(level));
  Bytes out(ZSTD_compressBound(data.size()));
  const size_t size =
      ZSTD_compressCCtx(thread_cctx(), out.data(), out.size(), data.data(), data.size(), level);
  // With a ZSTD_compressBound() buffer zstd cannot fail on any input.
  LARES_CHECK(!ZSTD_isError(size));
  out.resize(size);
  return out;
}

CompressedBlob maybe_compress(ByteView data, int level) {
  LARES_CHECK(is_valid_compression_level(level));
  CompressedBlob blob;
  if (data.size() >= kProbeMinInput && looks_incompressible(data)) {
    blob.bytes = copy_of(data);
    blob.skipped_by_probe = true;
    return blob;
  }
  Bytes frame = compress(data, level);
  if (!worth_keeping(data.size(), frame.size())) {
    blob.bytes = copy_of(data);
    return blob;
  }
  blob.compression = Compression::kZstd;
  blob.bytes = std::move(frame);
  return blob;
}

Result<Bytes> decompress(ByteView frame, size_t expected_size) {
  if (expected_size > kMaxDecompressedBytes) {
    return Status::invalid_argument("decompress: expected size " + std::to_string(expected_size) +
                                    " is over the " + std::to_string(kMaxDecompressedBytes) +
                                    "-byte limit");
  }
  const unsigned long long declared = ZSTD_getFrameContentSize(frame.data(), frame.size());
  if (declared == ZSTD_CONTENTSIZE_ERROR) {
    return Status::corruption("decompress: not a zstd frame (" + std::to_string(frame.size()) +
                              " bytes)");
  }
  if (declared != ZSTD_CONTENTSIZE_UNKNOWN && declared != expected_size) {
    return Status::corruption("decompress: frame declares " + std::to_string(declared) +
                              " bytes, expected " + std::to_string(expected_size));
  }
  const size_t frame_size = ZSTD_findFrameCompressedSize(frame.data(), frame.size());
  if (ZSTD_isError(frame_size)) {
    return Status::corruption(std::string("decompress: damaged zstd frame: ") +
                              ZSTD_getErrorName(frame_size));
  }
  if (frame_size != frame.size()) {
    return Status::corruption("decompress: " + std::to_string(frame.size() - frame_size) +
                              " bytes after the zstd frame");
  }
  // One-shot decompression writes straight into `out` and never past its
  // end: a frame that would expand further fails with dstSize_tooSmall.
  Bytes out(expected_size);
  uint8_t empty_target = 0;  // zstd wants a real pointer even for 0 bytes
  uint8_t* target = out.empty() ? &empty_target : out.data();
  const size_t size =
      ZSTD_decompressDCtx(thread_dctx(), target, out.size(), frame.data(), frame.size());
  if (ZSTD_isError(size)) {
    return Status::corruption(std::string("decompress: damaged zstd frame: ") +
                              ZSTD_getErrorName(size));
  }
  if (size != expected_size) {
    return Status::corruption("decompress: frame expands to " + std::to_string(size) +
                              " bytes, expected " + std::to_string(expected_size));
  }
  return out;
}

}  // namespace lares
