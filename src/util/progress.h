// Progress lines with rate and ETA for long operations (scrub, rebuild).
// Draws on stderr only when it is a terminal; silent otherwise, so scripts
// and --json output stay clean.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace lares {

class Progress {
 public:
  enum class Mode { kAuto, kQuiet };
  // `total_bytes` may be 0 when unknown (then no ETA is shown).
  Progress(std::string label, uint64_t total_bytes, Mode mode = Mode::kAuto);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  // Reports absolute progress; redraws at most a few times a second.
  void update(uint64_t done_bytes, uint64_t done_items);
  // For totals still being counted (a backup's folder scan).
  void set_total(uint64_t total_bytes) { total_bytes_ = total_bytes; }
  bool enabled() const { return enabled_; }
  // What done_items counts ("objects" unless set).
  void set_items_noun(std::string noun) { items_noun_ = std::move(noun); }
  void finish();

  // "12.3 MiB/s, ETA 1m05s" for the given figures; exposed for tests.
  static std::string describe(uint64_t done_bytes, uint64_t total_bytes, double seconds);

 private:
  using Clock = std::chrono::steady_clock;
  std::string label_;
  uint64_t total_bytes_;
  bool enabled_;
  bool drawn_ = false;
  std::string items_noun_ = "objects";
  Clock::time_point start_;
  Clock::time_point last_draw_;
};

}  // namespace lares
