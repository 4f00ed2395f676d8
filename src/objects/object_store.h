// ObjectStore: the storage interface every layer above writes to.
//
// Named objects of bytes. A put is atomic: after a crash the object is either
// wholly the old value (or absent) or wholly the new one; once put() returns
// OK the object is durable. A backend that keeps checksums (the pool) never
// hands back bytes that failed them; one that does not (a plain directory)
// relies on the layer above, whose AEAD tags and content ids check every
// byte. Names are non-empty, at most 1024 bytes of printable ASCII, made of
// '/'-separated parts that are neither empty, "." nor contain ".."; they do
// not end in ".tmp" (reserved for backends' in-flight files).
//
// Thread safety: implementations are safe for concurrent calls.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "util/bytes.h"
#include "util/status.h"

namespace lares {

class ObjectStore {
 public:
  virtual ~ObjectStore() = default;

  virtual Status put(const std::string& name, ByteView data) = 0;
  // Reads [offset, offset + length) of the object, clipped at its end.
  virtual Result<Bytes> get(const std::string& name, uint64_t offset, uint64_t length) = 0;
  Result<Bytes> get(const std::string& name) { return get(name, 0, UINT64_MAX); }
  virtual Result<uint64_t> size(const std::string& name) = 0;
  // Names starting with `prefix`, sorted.
  virtual Result<std::vector<std::string>> list(const std::string& prefix) = 0;
  // Removing an absent object is kNotFound.
  virtual Status remove(const std::string& name) = 0;
  // When the object was last written (Unix seconds), for stores where that
  // matters (cold storage tiers bill a minimum storage duration).
  // kFailedPrecondition where the store does not know.
  virtual Result<int64_t> modified_unix(const std::string& name) {
    return Status::failed_precondition("this store does not record when " + name +
                                       " was written");
  }
};

// Checks the naming rule above; kInvalidArgument with a reason otherwise.
Status validate_object_name(const std::string& name);

}  // namespace lares
