// Fuzzes the parser of $LARES_HOME/lares.toml's [targets] table
// (parse_targets): any input is an error or a list of targets, never a
// crash, and every target it returns obeys validate_target.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

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
  return 0;
}
