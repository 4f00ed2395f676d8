// Fuzzes the parsers of the small JSON state files: pools.json
// (Registry::parse), scrub-state.json (decode_scrub_cursor) and
// counters.json (decode_counters), and the repository's plaintext JSON:
// its config (decode_repo_config) and snapshot records once opened
// (decode_snapshot_record), live dataset heads (decode_dataset_head), and
// $LARES_HOME/protect-state.json (parse_protect_state). Each must return an error or a value,
// never crash, and what decodes must survive a round trip.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "chunks/repository.h"
#include "fs/dataset.h"
#include "pool/device.h"
#include "pool/registry.h"
#include "pool/scrub.h"
#include "protect/protection.h"

namespace {

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "state file round trip failed: %s\n", what);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)lares::Registry::parse(text, "/fuzz/pools.json");
  (void)lares::parse_protect_state(text, "/fuzz/protect-state.json");
  auto cursor = lares::decode_scrub_cursor(text);
  if (cursor.is_ok()) {
    auto again = lares::decode_scrub_cursor(lares::encode_scrub_cursor(*cursor));
    if (!again.is_ok() || again->last_hash != cursor->last_hash ||
        again->totals.bytes_scanned != cursor->totals.bytes_scanned) {
      fail("scrub cursor");
    }
  }
  auto counters = lares::decode_counters(text);
  if (counters.is_ok()) {
    auto again = lares::decode_counters(lares::encode_counters(*counters));
    if (!again.is_ok() || again->repaired != counters->repaired ||
        again->read_errors != counters->read_errors) {
      fail("counters");
    }
  }
  auto config = lares::decode_repo_config(text);
  if (config.is_ok()) {
    auto again = lares::decode_repo_config(lares::encode_repo_config(*config));
    if (!again.is_ok() || again->id != config->id || again->chunker != config->chunker ||
        again->pack_size_bytes != config->pack_size_bytes) {
      fail("repository config");
    }
  }
  auto snapshot = lares::decode_snapshot_record(text);
  if (snapshot.is_ok()) {
    auto again = lares::decode_snapshot_record(lares::encode_snapshot_record(*snapshot));
    if (!again.is_ok() || again->name != snapshot->name || again->tree != snapshot->tree ||
        again->excludes != snapshot->excludes || again->time_ns != snapshot->time_ns ||
        again->layout != snapshot->layout || again->next_ino != snapshot->next_ino) {
      fail("snapshot record");
    }
  }
  auto head = lares::decode_dataset_head(text);
  if (head.is_ok()) {
    auto again = lares::decode_dataset_head(lares::encode_dataset_head(*head));
    if (!again.is_ok() || !(*again == *head)) fail("dataset head");
  }
  return 0;
}
