// RecordingStore: an ObjectStore wrapper for tests that records the names and
// bytes of the puts that go through it, and can be told to fail every put
// after the first N (a target that went away in the middle of a transfer).
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "objects/object_store.h"

namespace lares::testing {

class RecordingStore final : public ObjectStore {
 public:
  // The inner store must outlive this one.
  explicit RecordingStore(ObjectStore& inner) : inner_(inner) {}

  Status put(const std::string& name, ByteView data) override {
    {
      std::lock_guard lock(mu_);
      if (fail_after_puts_ >= 0 && puts_ >= static_cast<uint64_t>(fail_after_puts_)) {
        return Status::unavailable("connection lost (test)");
      }
    }
    Status st = inner_.put(name, data);
    if (st.is_ok()) {
      std::lock_guard lock(mu_);
      ++puts_;
      bytes_put_ += data.size();
      names_put_.push_back(name);
    }
    return st;
  }
  Result<Bytes> get(const std::string& name, uint64_t offset, uint64_t length) override {
    return inner_.get(name, offset, length);
  }
  using ObjectStore::get;
  Result<uint64_t> size(const std::string& name) override { return inner_.size(name); }
  Result<std::vector<std::string>> list(const std::string& prefix) override {
    return inner_.list(prefix);
  }
  Status remove(const std::string& name) override { return inner_.remove(name); }
  Result<int64_t> modified_unix(const std::string& name) override {
    return inner_.modified_unix(name);
  }

  // Puts after the first `count` successful ones fail with kUnavailable; -1: none.
  void fail_after_puts(int64_t count) {
    std::lock_guard lock(mu_);
    fail_after_puts_ = count;
  }
  void reset() {
    std::lock_guard lock(mu_);
    puts_ = bytes_put_ = 0;
    names_put_.clear();
  }
  uint64_t bytes_put() const {
    std::lock_guard lock(mu_);
    return bytes_put_;
  }
  // Names of the successful puts, in order.
  std::vector<std::string> names_put() const {
    std::lock_guard lock(mu_);
    return names_put_;
  }
  // Of those, the ones under `prefix`.
  std::vector<std::string> names_put(const std::string& prefix) const {
    std::vector<std::string> out;
    for (const auto& name : names_put()) {
      if (name.rfind(prefix, 0) == 0) out.push_back(name);
    }
    return out;
  }

 private:
  ObjectStore& inner_;
  mutable std::mutex mu_;
  int64_t fail_after_puts_ = -1;
  uint64_t puts_ = 0, bytes_put_ = 0;
  std::vector<std::string> names_put_;
};

}  // namespace lares::testing
