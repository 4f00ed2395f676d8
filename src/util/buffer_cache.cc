#include "util/buffer_cache.h"

namespace lares {

AlignedBuffer BufferCache::take(size_t size) {
  {
    std::lock_guard lock(mu_);
    for (size_t i = 0; i < kept_.size(); ++i) {
      if (kept_[i].capacity() >= size) {
        AlignedBuffer out = std::move(kept_[i]);
        kept_.erase(kept_.begin() + static_cast<long>(i));
        out.resize(size);
        return out;
      }
    }
  }
  return AlignedBuffer(size);
}

void BufferCache::give(AlignedBuffer buffer) {
  std::lock_guard lock(mu_);
  if (kept_.size() < kKeptMax) {
    kept_.push_back(std::move(buffer));
    return;
  }
  // Keep the biggest ones: they serve every smaller request too.
  for (auto& k : kept_) {
    if (k.capacity() < buffer.capacity()) {
      std::swap(k, buffer);
      return;
    }
  }
}

}  // namespace lares
