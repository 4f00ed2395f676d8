// What the CLI prints: exit codes, error lines, JSON documents and tables.
//
// stdout carries results only (a table, a JSON document, object bytes), so
// scripts can pipe it; errors and hints go to stderr as "lares: <message>".
// The JSON field names here are an interface: tools script against them, so
// renaming one is a breaking change.
#pragma once

#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "pool/pool.h"
#include "util/status.h"

namespace lares::cli {

// The process exit status; see DESIGN.md "Conventions".
enum class ExitCode : int {
  kOk = 0,
  kFailure = 1,
  kUsage = 2,        // unknown command or bad arguments
  kDataProblem = 3,  // scrub found damage it could not repair
};

// Prints "lares: <message>" to stderr, plus what to do next for the codes
// that have an obvious next step (e.g. kBusy: another writer holds the pool).
ExitCode report_failure(const Status& status);

// Prints `value` to stdout as indented JSON and a newline. Invalid UTF-8 (a
// device path can hold any bytes) is replaced, never thrown.
void print_json(const nlohmann::json& value);

// Columns padded to their widest cell, for human output.
class Table {
 public:
  explicit Table(std::vector<std::string> header) { rows_.push_back(std::move(header)); }
  void add_row(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  void print(std::FILE* out) const;

 private:
  std::vector<std::vector<std::string>> rows_;
};

// {"name","state","redundancy","devices":[{"path","state","size_bytes",
//  "used_bytes","read_errors","checksum_errors","repaired"}]}
nlohmann::json pool_status_json(const PoolStatus& status);
void print_pool_status(const PoolStatus& status);

// {"bytes_scanned","objects_scanned","errors_found","repaired",
//  "unrecoverable","seconds"}
nlohmann::json scrub_report_json(const ScrubReport& report);
void print_scrub_report(const std::string& pool_name, const ScrubReport& report);

}  // namespace lares::cli
