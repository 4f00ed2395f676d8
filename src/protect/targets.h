// Replication targets: where copies of the data go, named in
// $LARES_HOME/lares.toml (docs/FORMAT.md, "lares.toml"):
//
//   [targets.usb]                 # a folder: a second disk, a NAS mount
//   type = "local"
//   path = "/mnt/usb/lares"
//   offsite = false               # optional; a folder is on site unless said
//
//   [targets.storagebox]          # an SFTP server
//   type = "sftp"
//   host = "u123.your-storagebox.de"
//   port = 23                     # optional, 22
//   user = "u123"
//   path = "lares"                # folder on the server
//   identity_file = "/root/.ssh/id_ed25519"
//   known_hosts = "/root/.ssh/known_hosts"
//
//   [targets.cold]                # an S3-compatible bucket
//   type = "s3"
//   endpoint = "https://s3.eu-central-1.amazonaws.com"
//   region = "eu-central-1"
//   bucket = "family-backup"
//   prefix = "lares"              # optional key prefix
//   storage_class = "DEEP_ARCHIVE"  # optional
//   path_style = false            # optional, true
//   keep_daily = 7                # optional, any type: the target's own
//   keep_monthly = 24             #   retention (keep_last, keep_hourly, ...)
//   min_storage_days = 180        # optional: packs stay at least this long
//
// S3 credentials come from the usual AWS environment variables
// (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), never from
// this file; an SFTP login uses a key file, not a password kept here.
//
// A top-level `format = 1` names the version of the file (written by
// save_targets; a file written by hand may leave it out). The parser is
// strict: an unknown type or key, a missing required key or a value of the
// wrong type is kCorruption naming the file, the target and the key. Tables
// other than [targets] are kept as they are when targets are saved; comments
// are not.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "fs/gc.h"
#include "objects/object_store.h"
#include "util/status.h"

namespace lares {

// The file's `format` key (optional in a file written by hand; written by
// save_targets). Another value is kFailedPrecondition: never guessed at.
inline constexpr int64_t kConfigFormat = 1;

enum class TargetKind { kLocal, kSftp, kS3 };
std::string_view target_kind_name(TargetKind kind);

struct TargetConfig {
  std::string name;
  TargetKind kind = TargetKind::kLocal;
  bool offsite = false;  // sftp and s3: always true
  // local: an absolute folder; sftp: the folder on the server.
  std::string path;
  // sftp
  std::string host;
  uint16_t port = 22;
  std::string user, identity_file, known_hosts;
  // s3
  std::string endpoint, region, bucket, prefix, storage_class;
  bool path_style = true;
  // Any type: the target's own retention (`lares target prune`; all 0: keep
  // everything), and how long a pack must stay before it may be deleted (a
  // cold tier's minimum storage duration; 0: no minimum).
  int keep_last = 0, keep_hourly = 0, keep_daily = 0, keep_weekly = 0, keep_monthly = 0,
      keep_yearly = 0;
  int min_storage_days = 0;

  bool operator==(const TargetConfig&) const = default;
  // keep_* as a retention policy (fs/gc.h).
  RetentionPolicy retention() const {
    return RetentionPolicy{keep_last, keep_hourly, keep_daily, keep_weekly, keep_monthly,
                           keep_yearly};
  }
  // "/mnt/usb/lares", "sftp://u123@host:23/lares", "s3://bucket/prefix".
  std::string url() const;
};

// Target names: 1..64 of [A-Za-z0-9_.-], not starting with '-' or '.'.
Status validate_target_name(std::string_view name);
// Every rule of the format above for one target (kInvalidArgument).
Status validate_target(const TargetConfig& target);

// $LARES_HOME/lares.toml.
std::string config_path();
// The targets of the config file at `path`; none when it does not exist.
Result<std::vector<TargetConfig>> load_targets(const std::string& path);
// The targets of config text (`path` names it in errors), sorted by name.
Result<std::vector<TargetConfig>> parse_targets(std::string_view text, const std::string& path);
// Writes `targets` as the [targets] table of the file at `path` (made 0600,
// replaced atomically), keeping its other tables.
Status save_targets(const std::string& path, const std::vector<TargetConfig>& targets);

// Opens the store a target names (kUnavailable when it cannot be reached,
// kFailedPrecondition when this build lacks the backend).
Result<std::unique_ptr<ObjectStore>> open_target_store(const TargetConfig& target);

}  // namespace lares
