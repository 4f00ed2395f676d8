// PrefixStore: a view of another ObjectStore under a name prefix, so several
// users of one store keep apart (the pool's repository lives under "repo/",
// beside the raw objects of `lares object`).
#pragma once

#include <string>

#include "objects/object_store.h"

namespace lares {

class PrefixStore final : public ObjectStore {
 public:
  // `prefix` ends in '/'. The inner store must outlive this one.
  PrefixStore(ObjectStore& inner, std::string prefix)
      : inner_(inner), prefix_(std::move(prefix)) {}

  Status put(const std::string& name, ByteView data) override {
    return inner_.put(prefix_ + name, data);
  }
  Result<Bytes> get(const std::string& name, uint64_t offset, uint64_t length) override {
    return inner_.get(prefix_ + name, offset, length);
  }
  using ObjectStore::get;
  Result<uint64_t> size(const std::string& name) override { return inner_.size(prefix_ + name); }
  Result<std::vector<std::string>> list(const std::string& prefix) override {
    ASSIGN_OR_RETURN(std::vector<std::string> names, inner_.list(prefix_ + prefix));
    for (auto& n : names) n.erase(0, prefix_.size());
    return names;
  }
  Status remove(const std::string& name) override { return inner_.remove(prefix_ + name); }
  Result<int64_t> modified_unix(const std::string& name) override {
    return inner_.modified_unix(prefix_ + name);
  }

 private:
  ObjectStore& inner_;
  std::string prefix_;
};

}  // namespace lares
