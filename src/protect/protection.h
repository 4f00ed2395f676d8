// The 3-2-1 report: for each dataset, which copies exist, on which media,
// which are off site, how fresh and how recently verified, and whether the
// rule holds — three copies, on two kinds of media, one of them off site —
// with the reason and the next step when it does not.
//
// Inputs, all local (the report never contacts a target, so it is instant
// and works offline):
//   - protection policies, `[protect."<pool>/<dataset>"]` tables of lares.toml
//     (docs/FORMAT.md): the targets a dataset must reach and how often;
//   - the protection state, $LARES_HOME/protect-state.json (docs/FORMAT.md):
//     what `lares replicate` and `lares verify` last did, written by them;
//   - the newest snapshot of the dataset in its own repository.
//
// A copy on a target counts when its last replication succeeded within
// twice the policy's interval (at least 48 hours), and its last
// verification, if any, found nothing wrong. The dataset's own pool is
// always one copy ("internal disks", on site).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "protect/targets.h"
#include "util/status.h"

namespace lares {

struct ProtectPolicy {
  std::string dataset;               // "<pool>/<dataset>"
  std::vector<std::string> targets;  // names in [targets]
  int interval_hours = 24;           // how often a replication should land
  // What its targets keep of it (`lares target prune`); empty: each target's
  // own retention.
  RetentionPolicy retention;
  bool operator==(const ProtectPolicy& o) const {
    return dataset == o.dataset && targets == o.targets && interval_hours == o.interval_hours &&
           retention.last == o.retention.last && retention.hourly == o.retention.hourly &&
           retention.daily == o.retention.daily && retention.weekly == o.retention.weekly &&
           retention.monthly == o.retention.monthly && retention.yearly == o.retention.yearly;
  }
};

// The policies of config text (`path` names it in errors), sorted by
// dataset. Strict like parse_targets; a policy naming a target that is not
// defined is kCorruption.
Result<std::vector<ProtectPolicy>> parse_policies(std::string_view text, const std::string& path);
Result<std::vector<ProtectPolicy>> load_policies(const std::string& path);
// Writes `policies` as the [protect] table of the file at `path`, keeping its
// other tables (as save_targets does).
Status save_policies(const std::string& path, const std::vector<ProtectPolicy>& policies);

// ---- state ----

struct ReplicationRecord {
  std::string dataset, target;
  int64_t time_unix = 0;          // when the last run ended
  bool ok = false;
  std::string error;              // when not ok
  int64_t last_success_unix = 0;  // 0: never
  int64_t newest_snapshot_ns = 0; // newest snapshot on the target after the last success
  uint64_t snapshots = 0;         // of the dataset, on the target after the last success
};

struct VerificationRecord {
  std::string target;
  int64_t time_unix = 0;
  bool ok = false;
  double sample_percent = 100;
  uint64_t problems = 0;
  int64_t last_success_unix = 0;
};

struct ProtectState {
  static constexpr int kFormat = 1;
  std::vector<ReplicationRecord> replications;
  std::vector<VerificationRecord> verifications;
  // Replaces the record of the same dataset and target (or target).
  void record(const ReplicationRecord& r);
  void record(const VerificationRecord& v);
  const ReplicationRecord* replication(const std::string& dataset, const std::string& target) const;
  const VerificationRecord* verification(const std::string& target) const;
};

std::string protect_state_path();  // $LARES_HOME/protect-state.json
// A missing file is an empty state; a damaged one is kCorruption naming it.
Result<ProtectState> load_protect_state(const std::string& path);
Result<ProtectState> parse_protect_state(std::string_view text, const std::string& path);
Status save_protect_state(const std::string& path, const ProtectState& state);

// ---- the report ----

struct CopyStatus {
  std::string where;   // "pool tank", or the target's name
  std::string media;   // "internal disks", "external disk", "SFTP server", "object storage"
  bool offsite = false;
  bool counts = false;                   // toward 3-2-1
  std::string problem;                   // why it does not count
  int64_t last_replication_unix = 0;     // targets: last success, 0 never
  int64_t last_verification_unix = 0;    // targets: last verification, 0 never
  bool verification_ok = true;
  int64_t newest_snapshot_ns = 0;        // newest restorable snapshot on this copy
};

struct DatasetProtection {
  std::string dataset;
  std::vector<CopyStatus> copies;
  bool holds_321 = false;
  std::vector<std::string> reasons;  // each failing rule, with the next step
};

// `targets` are all defined targets (a policy may name them); `policy` may
// be null (then only targets the state shows a replication to are copies).
DatasetProtection evaluate_protection(const std::string& dataset, int64_t local_newest_ns,
                                      const ProtectPolicy* policy,
                                      const std::vector<TargetConfig>& targets,
                                      const ProtectState& state, int64_t now_unix);

std::string_view media_of(TargetKind kind);

}  // namespace lares
