#include "codec/compression.h"

#include <gtest/gtest.h>
#include <zstd.h>

#include <string>
#include <thread>
#include <vector>

#include "testing/pool_fixture.h"
#include "util/random.h"

namespace lares {
namespace {

Bytes random_bytes(uint64_t seed, size_t size) {
  SeededRandom random(seed);
  Bytes out(size);
  for (auto& b : out) b = static_cast<uint8_t>(random.next());
  return out;
}

Bytes text_bytes(size_t size) {
  const std::string line = "Lares keeps every file as chunks in a repository on an object store.\n";
  Bytes out;
  while (out.size() < size) out.insert(out.end(), line.begin(), line.end());
  out.resize(size);
  return out;
}

TEST(CompressionTest, RoundTripsAtManySizesAndLevels) {
  const std::vector<size_t> sizes = {0, 1, 2, 100, 4095, 4096, 65536, 131071, 131072, 1 << 20};
  for (int level : {-5, 1, kDefaultCompressionLevel, 19}) {
    for (size_t size : sizes) {
      for (const Bytes& data :
           {text_bytes(size), random_bytes(size, size), testing::test_bytes(size, size)}) {
        Bytes frame = compress(data, level);
        auto back = decompress(frame, data.size());
        ASSERT_TRUE(back.is_ok()) << "level " << level << " size " << size << ": "
                                  << back.status().to_string();
        ASSERT_TRUE(*back == data) << "level " << level << " size " << size;
      }
    }
  }
}

TEST(CompressionTest, FrameRecordsItsSizeAndNoChecksum) {
  Bytes data = text_bytes(10000);
  Bytes frame = compress(data, kDefaultCompressionLevel);
  EXPECT_EQ(ZSTD_getFrameContentSize(frame.data(), frame.size()), data.size());
  // Frame header descriptor (RFC 8878 3.1.1.1.1), bit 2: content checksum.
  EXPECT_EQ(frame[4] & 0x04, 0) << "no checksum: the AEAD tag above verifies";
  EXPECT_LT(frame.size(), data.size() / 10);
}

TEST(CompressionTest, LevelBounds) {
  EXPECT_TRUE(is_valid_compression_level(1));
  EXPECT_TRUE(is_valid_compression_level(0));  // zstd's default
  EXPECT_TRUE(is_valid_compression_level(ZSTD_maxCLevel()));
  EXPECT_TRUE(is_valid_compression_level(ZSTD_minCLevel()));
  EXPECT_FALSE(is_valid_compression_level(ZSTD_maxCLevel() + 1));
  EXPECT_FALSE(is_valid_compression_level(ZSTD_minCLevel() - 1));
}

TEST(CompressionTest, MaybeCompressCompressesText) {
  for (size_t size : {size_t{1000}, size_t{200000}, size_t{4} << 20}) {
    Bytes data = text_bytes(size);
    CompressedBlob blob = maybe_compress(data, kDefaultCompressionLevel);
    EXPECT_EQ(blob.compression, Compression::kZstd) << size;
    EXPECT_FALSE(blob.skipped_by_probe);
    auto back = decompress(blob.bytes, data.size());
    ASSERT_TRUE(back.is_ok());
    EXPECT_TRUE(*back == data);
  }
}

TEST(CompressionTest, RandomDataIsStoredAsIsAndTheProbeSkipsIt) {
  Bytes data = random_bytes(7, 1 << 20);
  CompressedBlob blob = maybe_compress(data, kDefaultCompressionLevel);
  EXPECT_EQ(blob.compression, Compression::kNone);
  EXPECT_TRUE(blob.skipped_by_probe);
  EXPECT_TRUE(blob.bytes == data);
}

TEST(CompressionTest, SmallIncompressibleInputSkipsWithoutProbe) {
  Bytes data = random_bytes(8, 100000);  // under the probe threshold
  CompressedBlob blob = maybe_compress(data, kDefaultCompressionLevel);
  EXPECT_EQ(blob.compression, Compression::kNone);
  EXPECT_FALSE(blob.skipped_by_probe);
  EXPECT_TRUE(blob.bytes == data);
}

TEST(CompressionTest, AlreadyCompressedDataIsNotCompressedTwice) {
  // What a photo, a video or a .zst file looks like to the probe.
  Bytes once = compress(testing::test_bytes(1, 8 << 20), 19);
  ASSERT_GT(once.size(), size_t{256} << 10);
  CompressedBlob blob = maybe_compress(once, kDefaultCompressionLevel);
  EXPECT_EQ(blob.compression, Compression::kNone);
  EXPECT_TRUE(blob.skipped_by_probe);
  EXPECT_TRUE(blob.bytes == once);
}

TEST(CompressionTest, CompressibleHeaderDoesNotFoolTheProbe) {
  // A media file: a compressible header (metadata) and an incompressible bulk.
  Bytes data = text_bytes(64 << 10);
  Bytes bulk = random_bytes(9, 4 << 20);
  data.insert(data.end(), bulk.begin(), bulk.end());
  CompressedBlob blob = maybe_compress(data, kDefaultCompressionLevel);
  EXPECT_EQ(blob.compression, Compression::kNone);
  EXPECT_TRUE(blob.skipped_by_probe);
}

TEST(CompressionTest, CompressibleDataAtTheEndIsStillFound) {
  // Incompressible start, long compressible tail: a probe of only the start
  // would miss it; samples spread over the input do not.
  Bytes data = random_bytes(10, 256 << 10);
  Bytes tail = text_bytes(3 << 20);
  data.insert(data.end(), tail.begin(), tail.end());
  CompressedBlob blob = maybe_compress(data, kDefaultCompressionLevel);
  EXPECT_EQ(blob.compression, Compression::kZstd);
  EXPECT_LT(blob.bytes.size(), data.size() / 4);
}

TEST(CompressionTest, GainBelowThreePercentIsNotKept) {
  // 98% random, 2% zeros: zstd saves about 2%, under the 3% bar.
  Bytes data = random_bytes(11, 98000);
  data.insert(data.end(), 2000, 0);
  CompressedBlob blob = maybe_compress(data, kDefaultCompressionLevel);
  EXPECT_EQ(blob.compression, Compression::kNone);
  EXPECT_TRUE(blob.bytes == data);
  // 90% random, 10% zeros: saves about 10%, kept.
  Bytes better = random_bytes(12, 90000);
  better.insert(better.end(), 10000, 0);
  CompressedBlob kept = maybe_compress(better, kDefaultCompressionLevel);
  EXPECT_EQ(kept.compression, Compression::kZstd);
  auto back = decompress(kept.bytes, better.size());
  ASSERT_TRUE(back.is_ok());
  EXPECT_TRUE(*back == better);
}

TEST(CompressionTest, EmptyInputIsStoredAsIs) {
  CompressedBlob blob = maybe_compress(ByteView(), kDefaultCompressionLevel);
  EXPECT_EQ(blob.compression, Compression::kNone);
  EXPECT_TRUE(blob.bytes.empty());
}

TEST(CompressionTest, WrongExpectedSizeIsCorruption) {
  Bytes data = text_bytes(5000);
  Bytes frame = compress(data, 3);
  for (size_t expected : {size_t{0}, size_t{4999}, size_t{5001}, size_t{1} << 20}) {
    auto back = decompress(frame, expected);
    ASSERT_FALSE(back.is_ok()) << expected;
    EXPECT_EQ(back.status().code(), Code::kCorruption) << back.status().to_string();
  }
}

// A frame that does not record its size (streamed) is still held to the
// expected size: decompression stops at the buffer's end.
TEST(CompressionTest, FrameWithoutDeclaredSizeIsHeldToExpectedSize) {
  Bytes data = text_bytes(100000);
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  ASSERT_EQ(ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 0), 0u);
  Bytes frame(ZSTD_compressBound(data.size()));
  ZSTD_outBuffer out{frame.data(), frame.size(), 0};
  ZSTD_inBuffer in{data.data(), data.size(), 0};
  ASSERT_EQ(ZSTD_compressStream2(cctx, &out, &in, ZSTD_e_end), 0u);
  ZSTD_freeCCtx(cctx);
  frame.resize(out.pos);
  ASSERT_EQ(ZSTD_getFrameContentSize(frame.data(), frame.size()), ZSTD_CONTENTSIZE_UNKNOWN);

  auto exact = decompress(frame, data.size());
  ASSERT_TRUE(exact.is_ok()) << exact.status().to_string();
  EXPECT_TRUE(*exact == data);
  auto smaller = decompress(frame, 1000);  // the frame wants 100000: never written past 1000
  ASSERT_FALSE(smaller.is_ok());
  EXPECT_EQ(smaller.status().code(), Code::kCorruption);
  auto larger = decompress(frame, data.size() + 1);
  ASSERT_FALSE(larger.is_ok());
  EXPECT_EQ(larger.status().code(), Code::kCorruption);
}

TEST(CompressionTest, DeclaredSizeThatLiesIsCorruption) {
  Bytes data = text_bytes(1000);
  Bytes frame = compress(data, 3);
  // Frame header (RFC 8878 3.1.1.1): magic (4), descriptor (1), then for a
  // single-segment frame of 256..65791 bytes a 2-byte size field holding size - 256.
  const uint8_t descriptor = frame[4];
  ASSERT_EQ(descriptor >> 6, 1) << "2-byte content size field";
  ASSERT_TRUE(descriptor & 0x20) << "single segment";
  ASSERT_EQ(descriptor & 0x03, 0) << "no dictionary id";
  frame[5] = 0xff;
  frame[6] = 0xff;  // now claims 65791 bytes
  ASSERT_EQ(ZSTD_getFrameContentSize(frame.data(), frame.size()), 65791u);
  for (size_t expected : {size_t{1000}, size_t{65791}}) {
    auto back = decompress(frame, expected);
    ASSERT_FALSE(back.is_ok()) << expected;
    EXPECT_EQ(back.status().code(), Code::kCorruption) << back.status().to_string();
  }
}

TEST(CompressionTest, ExpectedSizeOverTheCapIsRefused) {
  Bytes frame = compress(text_bytes(10), 3);
  auto back = decompress(frame, kMaxDecompressedBytes + 1);
  ASSERT_FALSE(back.is_ok());
  EXPECT_EQ(back.status().code(), Code::kInvalidArgument);
}

TEST(CompressionTest, GarbageAndEmptyInputAreCorruption) {
  for (const Bytes& junk : {Bytes(), Bytes{0x28}, Bytes{0x28, 0xb5, 0x2f}, random_bytes(1, 64),
                            random_bytes(2, 100000)}) {
    auto back = decompress(junk, 100);
    ASSERT_FALSE(back.is_ok()) << junk.size();
    EXPECT_EQ(back.status().code(), Code::kCorruption) << back.status().to_string();
  }
}

TEST(CompressionTest, TrailingBytesAreCorruption) {
  Bytes data = text_bytes(1000);
  Bytes frame = compress(data, 3);
  Bytes two_frames = frame;
  two_frames.insert(two_frames.end(), frame.begin(), frame.end());
  for (const Bytes& longer : {two_frames, [&] {
                                Bytes b = frame;
                                b.push_back(0);
                                return b;
                              }()}) {
    auto back = decompress(longer, data.size());
    ASSERT_FALSE(back.is_ok());
    EXPECT_EQ(back.status().code(), Code::kCorruption) << back.status().to_string();
  }
}

TEST(CompressionTest, EveryTruncationIsCorruption) {
  Bytes data = testing::test_bytes(3, 20000);
  Bytes frame = compress(data, 3);
  for (size_t size = 0; size < frame.size(); ++size) {
    auto back = decompress(ByteView(frame).subspan(0, size), data.size());
    ASSERT_FALSE(back.is_ok()) << "truncated to " << size;
    EXPECT_EQ(back.status().code(), Code::kCorruption);
  }
}

// Damage that passes zstd's own checks can still yield wrong bytes (the frame
// has no checksum; the AEAD tag above catches that). What matters here: never
// a crash, never more than expected_size bytes, and an error or exactly
// expected_size bytes back.
TEST(CompressionTest, RandomDamageNeverCrashes) {
  const uint64_t seed = testing::test_seed(20260301);
  SCOPED_TRACE("LARES_TEST_SEED=" + std::to_string(seed));
  SeededRandom random(seed);
  Bytes data = testing::test_bytes(4, 50000);
  Bytes frame = compress(data, 3);
  int rejected = 0;
  for (int trial = 0; trial < 2000; ++trial) {
    Bytes damaged = frame;
    const uint64_t flips = 1 + random.uniform(4);
    for (uint64_t i = 0; i < flips; ++i) {
      damaged[random.uniform(damaged.size())] ^= static_cast<uint8_t>(1 + random.uniform(255));
    }
    auto back = decompress(damaged, data.size());
    if (back.is_ok()) {
      EXPECT_EQ(back->size(), data.size());
    } else {
      EXPECT_EQ(back.status().code(), Code::kCorruption) << back.status().to_string();
      ++rejected;
    }
  }
  EXPECT_GT(rejected, 0);
}

TEST(CompressionTest, ThreadsCompressAndDecompressConcurrently) {
  std::vector<std::thread> threads;
  std::vector<int> failures(4, 0);
  for (size_t t = 0; t < failures.size(); ++t) {
    threads.emplace_back([t, &failures] {
      for (int i = 0; i < 50; ++i) {
        Bytes data = testing::test_bytes(t * 1000 + static_cast<uint64_t>(i), 50000);
        CompressedBlob blob = maybe_compress(data, 3);
        if (blob.compression == Compression::kNone) {
          if (blob.bytes != data) ++failures[t];
          continue;
        }
        auto back = decompress(blob.bytes, data.size());
        if (!back.is_ok() || *back != data) ++failures[t];
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (int f : failures) EXPECT_EQ(f, 0);
}

}  // namespace
}  // namespace lares
