#include "pool/scrub.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <ctime>
#include <mutex>
#include <thread>

#include "util/file.h"
#include "util/json_file.h"
#include "util/progress.h"

namespace lares {
namespace {

constexpr char kCursorFile[] = "scrub-state.json";
constexpr size_t kObjectsInFlight = 4;

void merge(ScrubReport& into, const ScrubReport& part) {
  into.bytes_scanned += part.bytes_scanned;
  into.objects_scanned += part.objects_scanned;
  into.errors_found += part.errors_found;
  into.repaired += part.repaired;
  into.unrecoverable += part.unrecoverable;
  into.unrecoverable_objects.insert(into.unrecoverable_objects.end(),
                                    part.unrecoverable_objects.begin(),
                                    part.unrecoverable_objects.end());
}

}  // namespace

std::string encode_scrub_cursor(const ScrubCursor& c) {
  nlohmann::json j = {{"format", ScrubCursor::kFormatVersion},
                      {"pool_id", c.pool_id},
                      {"last_hash", c.last_hash},
                      {"finished", c.finished},
                      {"started_unix", c.started_unix},
                      {"updated_unix", c.updated_unix},
                      {"bytes_scanned", c.totals.bytes_scanned},
                      {"objects_scanned", c.totals.objects_scanned},
                      {"errors_found", c.totals.errors_found},
                      {"repaired", c.totals.repaired},
                      {"unrecoverable", c.totals.unrecoverable}};
  return j.dump(2) + "\n";
}

Result<ScrubCursor> decode_scrub_cursor(std::string_view text) {
  ASSIGN_OR_RETURN(nlohmann::json j, parse_json(text, "scrub state"));
  ScrubCursor c;
  const std::string what = "scrub state";
  int format = 0;
  RETURN_IF_ERROR(json_field(j, "format", what, &format));
  if (format != ScrubCursor::kFormatVersion) return Status::corruption("scrub state: unknown format");
  RETURN_IF_ERROR(json_field(j, "pool_id", what, &c.pool_id));
  RETURN_IF_ERROR(json_field(j, "last_hash", what, &c.last_hash));
  RETURN_IF_ERROR(json_field(j, "finished", what, &c.finished));
  RETURN_IF_ERROR(json_field(j, "started_unix", what, &c.started_unix));
  RETURN_IF_ERROR(json_field(j, "updated_unix", what, &c.updated_unix));
  RETURN_IF_ERROR(json_field(j, "bytes_scanned", what, &c.totals.bytes_scanned));
  RETURN_IF_ERROR(json_field(j, "objects_scanned", what, &c.totals.objects_scanned));
  RETURN_IF_ERROR(json_field(j, "errors_found", what, &c.totals.errors_found));
  RETURN_IF_ERROR(json_field(j, "repaired", what, &c.totals.repaired));
  RETURN_IF_ERROR(json_field(j, "unrecoverable", what, &c.totals.unrecoverable));
  if (c.last_hash.size() > 32) return Status::corruption("scrub state: bad cursor");
  return c;
}

void Pool::scrub_object(const std::string& hash, ScrubReport* report) {
  std::shared_lock lock(config_mu_);
  auto loc = locate(hash, /*use_cache=*/false);
  if (!loc.is_ok()) {
    if (loc.status().code() == Code::kNotFound) return;  // removed meanwhile
    ++report->objects_scanned;
    ++report->errors_found;
    ++report->unrecoverable;
    report->unrecoverable_objects.push_back(hash + " (" + loc.status().message() + ")");
    return;
  }
  ++report->objects_scanned;
  auto stripe = read_shards(hash, *loc, /*verify_parity=*/true, report);
  if (!stripe.is_ok()) {
    ++report->unrecoverable;
    report->unrecoverable_objects.push_back(loc->header.name + " (" + stripe.status().message() +
                                            ")");
    return;
  }
  buffers_.give(std::move(stripe->buffer));
  // Files of superseded versions and duplicates are garbage once the current one is whole.
  for (int d : loc->stale) {
    if (::unlink(devices_[d]->shard_path(hash).c_str()) == 0) {
      (void)fsync_dir(devices_[d]->shard_dir(hash));
    }
  }
  forget_cached(hash);
}

Result<ScrubReport> Pool::scrub(const ScrubOptions& options) {
  if (options_.mode != OpenMode::kReadWrite) {
    return Status::failed_precondition("scrub needs the pool open for writing (it repairs)");
  }
  ScrubCursor cursor;
  uint64_t total_bytes = 0;
  {
    std::shared_lock lock(config_mu_);
    for (const auto& dev : devices_) {
      if (!dev->online()) continue;
      total_bytes += dev->used_bytes();
      auto text = read_file(join_path(dev->path(), kCursorFile));
      if (!text.is_ok()) continue;
      auto saved = decode_scrub_cursor(as_chars(*text));
      if (saved.is_ok() && saved->pool_id == label_.pool_id &&
          saved->updated_unix >= cursor.updated_unix) {
        cursor = *saved;
      }
    }
  }
  ScrubReport report;
  if (options.restart || cursor.finished || cursor.pool_id.empty()) {
    cursor = ScrubCursor();
    cursor.pool_id = id();
    cursor.started_unix = static_cast<int64_t>(std::time(nullptr));
  } else {
    report = cursor.totals;
    report.resumed = true;
  }
  auto save = [&](bool finished) {
    cursor.finished = finished;
    cursor.updated_unix = static_cast<int64_t>(std::time(nullptr));
    cursor.totals = report;
    std::shared_lock lock(config_mu_);
    for (const auto& dev : devices_) {
      if (dev->online()) {
        (void)write_file_atomic(join_path(dev->path(), kCursorFile),
                                as_bytes(encode_scrub_cursor(cursor)));
      }
    }
  };
  // Everything after the cursor, in hash order.
  std::vector<std::string> todo;
  RETURN_IF_ERROR(for_each_hash([&](int, const std::string& hash) {
    if (cursor.last_hash.empty() || hash > cursor.last_hash) todo.push_back(hash);
    return Status::ok();
  }));
  const auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  // A sliding window: several objects in flight so the disks always have
  // reads queued while parity is recomputed. Results are folded into the
  // report (and the cursor moved) strictly in hash order, so what is saved
  // always describes a prefix that is wholly done.
  const bool throttled = options.max_bytes_per_second > 0;
  const size_t worker_count = throttled ? 1 : kObjectsInFlight;
  std::vector<ScrubReport> partial(todo.size());
  std::vector<char> done(todo.size(), 0);
  std::mutex mu;
  std::condition_variable changed;
  std::atomic<size_t> next{0};
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> run_bytes{0};
  auto worker = [&] {
    for (;;) {
      // Throttle: start nothing new while ahead of the allowed rate.
      while (throttled && !stop &&
             static_cast<double>(run_bytes.load()) /
                     static_cast<double>(options.max_bytes_per_second) >
                 elapsed()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      const size_t i = next.fetch_add(1);
      if (stop || i >= todo.size()) return;
      scrub_object(todo[i], &partial[i]);
      run_bytes += partial[i].bytes_scanned;
      std::lock_guard lock(mu);
      done[i] = 1;
      changed.notify_one();
    }
  };
  std::vector<std::thread> workers;
  for (size_t w = 0; w < worker_count; ++w) workers.emplace_back(worker);
  Progress progress("scrub " + name(), total_bytes,
                    options.quiet ? Progress::Mode::kQuiet : Progress::Mode::kAuto);
  const uint64_t bytes_at_start = report.bytes_scanned;
  size_t prefix = 0;
  auto fold_prefix = [&] {  // REQUIRES: mu held
    while (prefix < todo.size() && done[prefix]) {
      merge(report, partial[prefix]);
      cursor.last_hash = todo[prefix];
      ++prefix;
    }
  };
  auto last_save = start;
  while (prefix < todo.size() && !stop) {
    {
      std::unique_lock lock(mu);
      changed.wait_for(lock, std::chrono::milliseconds(100));
      fold_prefix();
    }
    progress.update(report.bytes_scanned - bytes_at_start, report.objects_scanned);
    if (options.keep_going && !options.keep_going(report.objects_scanned)) stop = true;
    if (std::chrono::steady_clock::now() - last_save > std::chrono::seconds(2)) {
      save(false);
      last_save = std::chrono::steady_clock::now();
    }
  }
  stop = true;
  for (auto& w : workers) w.join();
  {
    std::lock_guard lock(mu);
    fold_prefix();  // every object a worker took is done now
  }
  progress.finish();
  report.finished = prefix == todo.size();
  report.seconds = elapsed();
  save(report.finished);
  if (report.finished) (void)flush_counters();
  return report;
}

}  // namespace lares
