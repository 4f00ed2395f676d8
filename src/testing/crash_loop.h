// A kill -9 crash loop against any ObjectStore.
//
// Each round forks a writer that opens the store and puts, overwrites and
// removes objects at random, logging "B <op> <name> <seed>" before each
// operation and "E" after it returns OK; the parent SIGKILLs it at a random
// moment and replays the log into a model of what was committed. verify()
// then checks the reopened store: every committed object identical, the
// operation in flight all-or-nothing, nothing extra listed.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "objects/object_store.h"
#include "util/random.h"

namespace lares::testing {

struct CrashEvent {
  char op = 'P';  // 'P' put, 'R' remove
  std::string name;
  uint64_t data_seed = 0;
};

class CrashLoopModel {
 public:
  using OpenStore = std::function<Result<std::unique_ptr<ObjectStore>>()>;
  // A fresh object name for operation j of a round seeded with `seed`.
  using NewName = std::function<std::string(SeededRandom&, uint64_t seed, int j)>;

  // Objects hold up to `max_object_bytes` of test_bytes(data seed).
  explicit CrashLoopModel(size_t max_object_bytes) : max_object_bytes_(max_object_bytes) {}

  Bytes contents(uint64_t data_seed) const;
  const std::map<std::string, uint64_t>& committed() const { return committed_; }

  // One round: fork, write until killed after `kill_after_us`, replay the
  // log. Returns the operation the kill interrupted, if any.
  Result<std::optional<CrashEvent>> run_round(const OpenStore& open, const NewName& new_name,
                                              uint64_t seed, uint32_t kill_after_us);
  // Checks the reopened store against the model and settles the operation
  // in flight to whichever side of it the store shows.
  Status verify(ObjectStore& store, const std::optional<CrashEvent>& in_flight);

 private:
  [[noreturn]] void run_writer(const OpenStore& open, const NewName& new_name, uint64_t seed,
                               int fd) const;
  size_t max_object_bytes_;
  std::map<std::string, uint64_t> committed_;  // name -> data seed
};

}  // namespace lares::testing
