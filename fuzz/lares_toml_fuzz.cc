// Fuzzes the parsers of $LARES_HOME/lares.toml: its [targets] table
// (parse_targets) and its [protect] policies (parse_policies). Any input is
// an error or a list, never a crash; every target returned obeys
// validate_target and every policy names only targets the file defines.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "protect/protection.h"
#include "protect/targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto targets = lares::parse_targets(text, "/fuzz/lares.toml");
  if (targets.is_ok()) {
    for (const auto& t : *targets) {
      if (!lares::validate_target(t).is_ok()) {
        std::fprintf(stderr, "parse_targets returned an invalid target %s\n", t.name.c_str());
        std::abort();
      }
    }
  }
  auto policies = lares::parse_policies(text, "/fuzz/lares.toml");
  if (policies.is_ok()) {
    if (!targets.is_ok()) {
      std::fprintf(stderr, "policies parsed where targets did not\n");
      std::abort();
    }
    for (const auto& p : *policies) {
      if (p.targets.empty() || p.interval_hours < 1) {
        std::fprintf(stderr, "parse_policies returned an invalid policy %s\n", p.dataset.c_str());
        std::abort();
      }
    }
  }
  return 0;
}
