// lares_chunker_bench: content-defined chunking throughput on one core.
//
// Every byte that is backed up passes through the chunker, so its rate caps
// ingest. Input: 256 MiB of random data (SplitMix64), made once. The rate
// column bytes_per_second_SI is in decimal units of CPU time ("5.3G/s" is
// 5300 MB/s); Google Benchmark's own bytes_per_second column is binary
// ("G" = GiB). Beside ours, in the same run,
// crc32c (ISA-L) over the same bytes: the cheapest pass the write path makes
// anyway, as a yardstick for this machine at this moment. Nothing here
// judges the figures.
//
//   lares_chunker_bench [--benchmark_repetitions=5 ...]
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "chunks/chunker.h"
#include "codec/crc32c.h"
#include "util/random.h"

namespace lares {
namespace {

constexpr size_t kInputBytes = 256 * 1024 * 1024;
constexpr uint64_t kDataSeed = 0xc4c4c4c4;

const Bytes& input() {
  static const Bytes data = [] {
    SeededRandom random(kDataSeed);
    Bytes out(kInputBytes);
    for (size_t i = 0; i < out.size(); i += 8) {
      const uint64_t word = random.next();
      std::memcpy(out.data() + i, &word, std::min<size_t>(8, out.size() - i));
    }
    return out;
  }();
  return data;
}

void set_rates(benchmark::State& state, size_t chunk_count) {
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kInputBytes));
  state.counters["bytes_per_second_SI"] = benchmark::Counter(
      static_cast<double>(kInputBytes), benchmark::Counter::kIsIterationInvariantRate,
      benchmark::Counter::kIs1000);
  state.counters["chunks"] = static_cast<double>(chunk_count);
  state.counters["mean_chunk_bytes"] =
      static_cast<double>(kInputBytes) / static_cast<double>(std::max<size_t>(1, chunk_count));
}

// The whole input in one call, default sizes (256 KiB / 1 MiB / 4 MiB).
void BM_ChunkerCutPoints(benchmark::State& state) {
  const Bytes& data = input();
  size_t chunk_count = 0;
  for (auto _ : state) {
    std::vector<size_t> cuts = cut_points(data);
    chunk_count = cuts.size();
    benchmark::DoNotOptimize(cuts.data());
  }
  set_rates(state, chunk_count);
}
BENCHMARK(BM_ChunkerCutPoints)->Unit(benchmark::kMillisecond);

// Streaming, fed in buffers of state.range(0) KiB, as a file is read.
void BM_ChunkerFeed(benchmark::State& state) {
  const Bytes& data = input();
  const size_t feed_bytes = static_cast<size_t>(state.range(0)) * 1024;
  auto chunker = Chunker::create({});
  if (!chunker.is_ok()) {
    state.SkipWithError(chunker.status().to_string().c_str());
    return;
  }
  std::vector<ChunkExtent> chunks;
  for (auto _ : state) {
    chunks.clear();
    for (size_t offset = 0; offset < data.size(); offset += feed_bytes) {
      chunker->feed(ByteView(data).subspan(offset, std::min(feed_bytes, data.size() - offset)),
                    &chunks);
    }
    chunker->finish(&chunks);
    benchmark::DoNotOptimize(chunks.data());
  }
  set_rates(state, chunks.size());
}
BENCHMARK(BM_ChunkerFeed)->Arg(64)->Arg(1024)->Unit(benchmark::kMillisecond);

// Small chunks (2 KiB / 8 KiB / 64 KiB): more cuts, less skipping.
void BM_ChunkerCutPointsSmall(benchmark::State& state) {
  const Bytes& data = input();
  const ChunkerParams params = {
      .size_bytes_min = 2 * 1024, .size_bytes_avg = 8 * 1024, .size_bytes_max = 64 * 1024};
  size_t chunk_count = 0;
  for (auto _ : state) {
    std::vector<size_t> cuts = cut_points(data, params);
    chunk_count = cuts.size();
    benchmark::DoNotOptimize(cuts.data());
  }
  set_rates(state, chunk_count);
}
BENCHMARK(BM_ChunkerCutPointsSmall)->Unit(benchmark::kMillisecond);

// Yardstick: crc32c over the same bytes.
void BM_Crc32c(benchmark::State& state) {
  const Bytes& data = input();
  for (auto _ : state) benchmark::DoNotOptimize(crc32c(data));
  set_rates(state, 0);
  state.counters.erase("chunks");
  state.counters.erase("mean_chunk_bytes");
}
BENCHMARK(BM_Crc32c)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace lares

BENCHMARK_MAIN();
