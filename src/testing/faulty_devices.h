// A DeviceFaults for tests: makes chosen devices fail reads or writes with
// EIO, the way a dying disk does (root ignores chmod, so tests cannot rely
// on permissions to make a folder unreadable).
#pragma once

#include <mutex>
#include <set>
#include <string>

#include "pool/device_faults.h"

namespace lares::testing {

class FaultyDevices final : public DeviceFaults {
 public:
  void fail_reads(const std::string& device_id, bool on);
  void fail_writes(const std::string& device_id, bool on);
  Status before_read(const std::string& device_id, const std::string& path) override;
  Status before_write(const std::string& device_id, const std::string& path) override;

 private:
  std::mutex mu_;
  std::set<std::string> read_failures_;   // GUARDED_BY(mu_)
  std::set<std::string> write_failures_;  // GUARDED_BY(mu_)
};

}  // namespace lares::testing
