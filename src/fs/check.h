// `lares repo check`: is every snapshot complete and intact?
//
// Without read_data: every index segment opens, every pack the index names
// exists, every tree of every snapshot is read and authenticated, and every
// chunk a file refers to is in the index. With read_data also: every pack is
// read whole, its id checked against its contents, and every blob in it
// opened and checked against its id. Each problem names the files and
// snapshots it affects, so the owner knows what is at risk.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "chunks/repository.h"

namespace lares {

struct CheckReport {
  uint64_t snapshots = 0, trees = 0, files = 0, packs = 0, packs_read = 0, bytes_read = 0;
  // One line each: "<what is wrong>: <file or folder> in <dataset>@<snapshot>".
  std::vector<std::string> problems;
};

struct CheckOptions {
  bool read_data = false;
  // With read_data: the share of packs read, chosen at random (0 < x <= 1;
  // at least one pack). `lares verify --sample` checks part of an off-site
  // copy each time, so that over a few runs all of it has been read.
  double read_data_fraction = 1.0;
  uint64_t sample_seed = 0;  // 0: a fresh random sample
  // Called after each pack read (read_data), with packs done and total.
  std::function<void(uint64_t done_bytes, uint64_t packs_done)> progress;
};

Result<CheckReport> check_repository(Repository& repo, const CheckOptions& options);

}  // namespace lares
