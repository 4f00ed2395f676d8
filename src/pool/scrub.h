// The scrub cursor, kept on every online device as scrub-state.json so a
// restarted scrub resumes where it stopped (docs/FORMAT.md, "Scrub state").
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "pool/pool.h"

namespace lares {

struct ScrubCursor {
  static constexpr int kFormatVersion = 1;
  std::string pool_id;
  std::string last_hash;  // the last object hash fully scrubbed ("" = none yet)
  bool finished = false;
  int64_t started_unix = 0;
  int64_t updated_unix = 0;
  ScrubReport totals;  // figures so far, carried across restarts
};

// The text of scrub-state.json, and back. A cursor that fails any check is
// kCorruption; the scrub then starts over rather than trusting it.
std::string encode_scrub_cursor(const ScrubCursor& cursor);
Result<ScrubCursor> decode_scrub_cursor(std::string_view text);

}  // namespace lares
