#include "util/thread_pool.h"

#include <atomic>

namespace lares {

ThreadPool::ThreadPool(size_t thread_count) {
  for (size_t i = 0; i < thread_count; ++i) threads_.emplace_back([this] { worker_loop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void ThreadPool::worker_loop() {
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;
      task = std::move(queue_.front());
      queue_.pop_front();
    }
    task();
  }
}

void ThreadPool::parallel_for(size_t count, const std::function<void(size_t)>& fn) {
  if (count == 0) return;
  if (count == 1 || threads_.empty()) {
    for (size_t i = 0; i < count; ++i) fn(i);
    return;
  }
  std::mutex done_mu;
  std::condition_variable done_cv;
  size_t remaining = count - 1;
  {
    std::lock_guard lock(mu_);
    for (size_t i = 1; i < count; ++i) {
      queue_.emplace_back([&, i] {
        fn(i);
        std::lock_guard done_lock(done_mu);
        if (--remaining == 0) done_cv.notify_one();
      });
    }
  }
  cv_.notify_all();
  fn(0);  // the caller works too instead of idling
  std::unique_lock done_lock(done_mu);
  done_cv.wait(done_lock, [&] { return remaining == 0; });
}

}  // namespace lares
