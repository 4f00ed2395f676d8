// A few large aligned buffers kept for reuse, so a stream of puts does not
// map, fault in and unmap tens of MiB of fresh memory every time.
#pragma once

#include <mutex>
#include <vector>

#include "util/aligned_buffer.h"

namespace lares {

class BufferCache {
 public:
  static constexpr size_t kKeptMax = 4;

  // A buffer of exactly `size` bytes (contents undefined).
  AlignedBuffer take(size_t size);
  // Hands a buffer back for reuse; the cache keeps at most kKeptMax.
  void give(AlignedBuffer buffer);

 private:
  std::mutex mu_;
  std::vector<AlignedBuffer> kept_;  // GUARDED_BY(mu_)
};

}  // namespace lares
