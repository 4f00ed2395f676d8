#include "util/progress.h"

#include <unistd.h>

#include <cstdio>

#include "util/bytes.h"

namespace lares {

Progress::Progress(std::string label, uint64_t total_bytes, Mode mode)
    : label_(std::move(label)),
      total_bytes_(total_bytes),
      enabled_(mode == Mode::kAuto && ::isatty(STDERR_FILENO) == 1),
      start_(Clock::now()),
      last_draw_(start_) {}

Progress::~Progress() { finish(); }

std::string Progress::describe(uint64_t done_bytes, uint64_t total_bytes, double seconds) {
  double rate = seconds > 0 ? static_cast<double>(done_bytes) / seconds : 0;
  std::string out = format_size(static_cast<uint64_t>(rate)) + "/s";
  if (total_bytes > 0 && rate > 0 && done_bytes <= total_bytes) {
    auto eta = static_cast<uint64_t>(static_cast<double>(total_bytes - done_bytes) / rate);
    char buf[48];
    std::snprintf(buf, sizeof buf, ", ETA %llum%02llus", static_cast<unsigned long long>(eta / 60),
                  static_cast<unsigned long long>(eta % 60));
    out += buf;
  }
  return out;
}

void Progress::update(uint64_t done_bytes, uint64_t done_items) {
  if (!enabled_) return;
  auto now = Clock::now();
  if (drawn_ && now - last_draw_ < std::chrono::milliseconds(250)) return;
  last_draw_ = now;
  drawn_ = true;
  double seconds = std::chrono::duration<double>(now - start_).count();
  std::string pct;
  if (total_bytes_ > 0) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%5.1f%% ",
                  100.0 * static_cast<double>(done_bytes) / static_cast<double>(total_bytes_));
    pct = buf;
  }
  std::fprintf(stderr, "\r\033[K%s: %s%s, %llu %s, %s", label_.c_str(), pct.c_str(),
               format_size(done_bytes).c_str(), static_cast<unsigned long long>(done_items),
               items_noun_.c_str(),
               describe(done_bytes, total_bytes_, seconds).c_str());
  std::fflush(stderr);
}

void Progress::finish() {
  if (enabled_ && drawn_) {
    std::fprintf(stderr, "\r\033[K");
    std::fflush(stderr);
  }
  drawn_ = false;
  enabled_ = false;
}

}  // namespace lares
