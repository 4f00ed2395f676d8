#include "cli/output.h"

#include <algorithm>
#include <cstdio>

#include "util/bytes.h"

namespace lares::cli {
namespace {

// The next step for an error kind, or "" when the message says it all.
// Not kCorruption: it covers both damaged pool data and a damaged pools.json,
// whose message already says what to repair.
const char* next_step(Code code) {
  switch (code) {
    case Code::kBusy:
      // The message names the holder; say what still works meanwhile.
      return "a pool has one writer at a time; reading commands (pool status, pool list, "
             "object get) still work";
    case Code::kUnavailable:
      return "too many devices are missing or faulted; run 'lares pool status <pool>' to see which";
    default: return "";
  }
}

std::string count(uint64_t value) { return std::to_string(value); }

}  // namespace

ExitCode report_failure(const Status& status) {
  std::fprintf(stderr, "lares: %s\n", status.message().c_str());
  const char* hint = next_step(status.code());
  if (*hint != '\0') std::fprintf(stderr, "lares: %s\n", hint);
  return ExitCode::kFailure;
}

void print_json(const nlohmann::json& value) {
  std::string text = value.dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
  std::fprintf(stdout, "%s\n", text.c_str());
}

void Table::print(std::FILE* out) const {
  std::vector<size_t> widths;
  for (const auto& row : rows_) {
    if (widths.size() < row.size()) widths.resize(row.size(), 0);
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  for (const auto& row : rows_) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      // No trailing blanks after the last column.
      if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 2, ' ');
    }
    std::fprintf(out, "%s\n", line.c_str());
  }
}

nlohmann::json pool_status_json(const PoolStatus& status) {
  nlohmann::json devices = nlohmann::json::array();
  for (const auto& device : status.devices) {
    devices.push_back({{"path", device.path},
                       {"state", device.state},
                       {"size_bytes", device.size_bytes},
                       {"used_bytes", device.used_bytes},
                       {"read_errors", device.read_errors},
                       {"checksum_errors", device.checksum_errors},
                       {"repaired", device.repaired}});
  }
  return {{"name", status.name},
          {"state", status.state},
          {"redundancy", status.redundancy},
          {"devices", std::move(devices)}};
}

void print_pool_status(const PoolStatus& status) {
  std::printf("pool:       %s\n", status.name.c_str());
  std::printf("id:         %s\n", status.id.c_str());
  std::printf("state:      %s\n", status.state.c_str());
  std::printf("redundancy: %d (any %d devices may fail without data loss)\n\n", status.redundancy,
              status.redundancy);
  Table table({"DEVICE", "STATE", "SIZE", "USED", "READ", "CKSUM", "REPAIRED"});
  bool any_faulted = false;
  for (const auto& device : status.devices) {
    table.add_row({device.path, device.state, format_size(device.size_bytes),
                   format_size(device.used_bytes), count(device.read_errors),
                   count(device.checksum_errors), count(device.repaired)});
    any_faulted = any_faulted || device.state == "FAULTED";
  }
  table.print(stdout);
  if (any_faulted) {
    std::printf("\nA FAULTED device can be replaced: lares pool replace %s <old> <new-dir>\n",
                status.name.c_str());
  }
}

nlohmann::json scrub_report_json(const ScrubReport& report) {
  return {{"bytes_scanned", report.bytes_scanned}, {"objects_scanned", report.objects_scanned},
          {"errors_found", report.errors_found},   {"repaired", report.repaired},
          {"unrecoverable", report.unrecoverable}, {"seconds", report.seconds}};
}

void print_scrub_report(const std::string& pool_name, const ScrubReport& report) {
  std::printf("scrub of pool '%s' %s%s: %s objects, %s in %.1f s\n", pool_name.c_str(),
              report.finished ? "finished" : "stopped", report.resumed ? " (resumed)" : "",
              count(report.objects_scanned).c_str(), format_size(report.bytes_scanned).c_str(),
              report.seconds);
  std::printf("errors found: %s, repaired: %s, unrecoverable: %s\n",
              count(report.errors_found).c_str(), count(report.repaired).c_str(),
              count(report.unrecoverable).c_str());
  if (!report.unrecoverable_objects.empty()) {
    std::printf("\nunrecoverable objects (restore them from a backup):\n");
    for (const auto& name : report.unrecoverable_objects) std::printf("  %s\n", name.c_str());
  }
  if (!report.finished) {
    std::printf("\nthe scrub stopped early; run 'lares pool scrub %s' to resume it\n",
                pool_name.c_str());
  }
}

}  // namespace lares::cli
