// The fault-injection seam of the pool: every shard read and write asks it
// first. Production pools have none; tests plug in src/testing's
// implementation to make a device fail I/O without root-defeating chmod.
#pragma once

#include <string>

#include "util/status.h"

namespace lares {

class DeviceFaults {
 public:
  virtual ~DeviceFaults() = default;
  // An error makes the operation fail as if the device had returned it.
  virtual Status before_read(const std::string& device_id, const std::string& path) = 0;
  virtual Status before_write(const std::string& device_id, const std::string& path) = 0;
};

}  // namespace lares
