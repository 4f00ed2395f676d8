#include "testing/faulty_devices.h"

namespace lares::testing {

void FaultyDevices::fail_reads(const std::string& device_id, bool on) {
  std::lock_guard lock(mu_);
  if (on) {
    read_failures_.insert(device_id);
  } else {
    read_failures_.erase(device_id);
  }
}

void FaultyDevices::fail_writes(const std::string& device_id, bool on) {
  std::lock_guard lock(mu_);
  if (on) {
    write_failures_.insert(device_id);
  } else {
    write_failures_.erase(device_id);
  }
}

Status FaultyDevices::before_read(const std::string& device_id, const std::string& path) {
  std::lock_guard lock(mu_);
  if (read_failures_.count(device_id) != 0) {
    return Status::io_error("read " + path + ": Input/output error (injected)");
  }
  return Status::ok();
}

Status FaultyDevices::before_write(const std::string& device_id, const std::string& path) {
  std::lock_guard lock(mu_);
  if (write_failures_.count(device_id) != 0) {
    return Status::io_error("write " + path + ": Input/output error (injected)");
  }
  return Status::ok();
}

}  // namespace lares::testing
