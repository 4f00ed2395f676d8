#!/usr/bin/env bash
# Pool throughput and scrub rate beside their peers, in one run on one disk.
#
#   sudo bench/run_pool_bench.sh
#
# Environment (all optional):
#   BENCH_DIR         work folder; its filesystem is the disk under test (default <repo>/var/bench)
#   BENCH_MIB         logical data per measurement, MiB (default 2048)
#   BENCH_REPS        repetitions; every figure is the median (default 3)
#   BENCH_OBJECT_MIB  object size, MiB; >= 4 so k is not cut by the small-object rule (default 16)
#   BENCH_JOBS        concurrent writers, and readers, in the pool tests (default 2)
#
# What runs, BENCH_REPS times, interleaved so drift on a shared machine hits every figure alike:
#   fio sequential write of BENCH_MIB in 1 MiB blocks: direct (libaio, iodepth 16) and buffered
#     (end_fsync); "raw write" is the faster. Sequential read likewise, caches dropped first.
#   lares_pool_bench write, then read with caches dropped, for 4+2 (6 device folders, r=2) and
#     8+2 (10 device folders, r=2). Write counts physical bytes (shard files: data, parity,
#     headers); a healthy read reads only the k data shards, so its bytes are the logical ones.
# Then a btrfs raid1 (-d raid1 -m raid1) on two loop devices (direct I/O, files in BENCH_DIR)
# gets the same objects as files, and BENCH_REPS times: drop caches, `btrfs scrub start -B -R`;
# drop caches, scrub of the 4+2 pool. Both are compared in physical bytes per second (btrfs
# counts both raid1 copies in data_bytes_scrubbed; the pool counts all k+r shards) and in
# logical bytes per second.
#
# Prints a Markdown report: medians, our figure beside the peer's, the ratio of medians, the
# median of per-repetition ratios, the target. It never asserts a figure. Everything it creates
# under BENCH_DIR/scratch is removed on exit, failure included; the report, samples and raw JSON
# stay in BENCH_DIR.
set -euo pipefail
shopt -s inherit_errexit

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly REPO
# shellcheck source=bench/lib.sh
source "$REPO/bench/lib.sh"
readonly BENCH_DIR="${BENCH_DIR:-$REPO/var/bench}"
readonly BENCH_MIB="${BENCH_MIB:-2048}"
readonly BENCH_REPS="${BENCH_REPS:-3}"
readonly BENCH_OBJECT_MIB="${BENCH_OBJECT_MIB:-16}"
# Writers (and readers) working at once: the repository layer seals and
# fetches packs in parallel, so 2 (one per core here) is how the pool is used.
readonly BENCH_JOBS="${BENCH_JOBS:-2}"
readonly BUILD_DIR="$REPO/build-bench"
readonly BENCH_BIN="$BUILD_DIR/bench/lares_pool_bench"
readonly SCRATCH="$BENCH_DIR/scratch"
STAMP="$(date +%Y%m%d-%H%M%S)"
readonly STAMP
readonly RESULTS="$BENCH_DIR/results-$STAMP.tsv"  # "<figure> <value>" per sample
readonly RAW_LOG="$BENCH_DIR/raw-$STAMP.jsonl"    # every JSON line the tools printed
readonly RECORD_HINT="; see $RAW_LOG"
readonly REPORT="$BENCH_DIR/report-$STAMP.md"

LOOP_DEVICES=()

check_environment() {
  [[ $EUID -eq 0 ]] || die "needs root (drop_caches, losetup, mount, mkfs.btrfs): run it with sudo"
  local tool
  for tool in fio jq mkfs.btrfs btrfs losetup mountpoint cmake ninja; do
    command -v "$tool" >/dev/null ||
      die "missing '$tool' (Debian packages: fio jq btrfs-progs mount cmake ninja-build)"
  done
  [[ $BENCH_MIB =~ ^[0-9]+$ && $BENCH_REPS =~ ^[0-9]+$ && $BENCH_OBJECT_MIB =~ ^[0-9]+$ ]] ||
    die "BENCH_MIB, BENCH_REPS and BENCH_OBJECT_MIB must be whole numbers"
  ((BENCH_REPS >= 1)) || die "BENCH_REPS must be at least 1"
  ((BENCH_OBJECT_MIB >= 4)) ||
    die "BENCH_OBJECT_MIB must be at least 4 (smaller objects get fewer data shards)"
  ((BENCH_MIB >= BENCH_OBJECT_MIB && BENCH_MIB % BENCH_OBJECT_MIB == 0)) ||
    die "BENCH_MIB must be a multiple of BENCH_OBJECT_MIB"
}

# Peak use: the 4+2 pool (1.5x) and the btrfs raid1 (2x, plus metadata) at once.
check_space() {
  local need_kib=$((BENCH_MIB * 1024 * 9 / 2))
  local free_kib
  free_kib="$(df --output=avail -k "$BENCH_DIR" | tail -n 1 | tr -d ' ')"
  ((free_kib >= need_kib)) ||
    die "$BENCH_DIR: $((free_kib / 1024)) MiB free, BENCH_MIB=$BENCH_MIB needs $((need_kib / 1024))"
}

cleanup() {
  local status=$?
  if mountpoint -q "$SCRATCH/btrfs/mnt" 2>/dev/null; then
    umount "$SCRATCH/btrfs/mnt" || log "could not unmount $SCRATCH/btrfs/mnt; remove it by hand"
  fi
  local loop
  for loop in "${LOOP_DEVICES[@]}"; do
    losetup -d "$loop" 2>/dev/null || log "could not detach $loop"
  done
  if mountpoint -q "$SCRATCH/btrfs/mnt" 2>/dev/null; then
    log "leaving $SCRATCH in place: still mounted"
  else
    rm -rf "$SCRATCH"
  fi
  exit "$status"
}

# quotient A B: A / B, where both may be awk expressions.
quotient() { awk "BEGIN {print ($1) / ($2)}"; }

# json_field JSON FILTER: a number from one JSON document.
json_field() { jq -r "$2" <<<"$1"; }

build() {
  log "building lares_pool_bench (Release) in $BUILD_DIR"
  cmake -S "$REPO" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DLARES_TESTS=OFF >/dev/null
  ninja -C "$BUILD_DIR" -j1 lares_pool_bench >/dev/null
}

# ---- peers: fio on the raw filesystem ------------------------------------------

# fio_run FIGURE RW ARGS...: one sequential fio job over BENCH_MIB in 1 MiB blocks, recorded
# in MB/s (fio's runtime includes the end_fsync of a buffered write).
fio_run() {
  local figure="$1" rw="$2"
  shift 2
  local out
  out="$(fio --name="$figure" --filename="$SCRATCH/fio/raw.dat" --rw="$rw" --bs=1M \
    --size="${BENCH_MIB}M" --output-format=json "$@")"
  jq -c "{fio: \"$figure\", bw_bytes: .jobs[0].$rw.bw_bytes, io_bytes: .jobs[0].$rw.io_bytes,
          runtime_ms: .jobs[0].$rw.runtime}" <<<"$out" >>"$RAW_LOG"
  record "$figure" "$(json_field "$out" ".jobs[0].$rw.bw_bytes / 1e6")"
}

measure_raw() {
  mkdir -p "$SCRATCH/fio"
  rm -f "$SCRATCH/fio/raw.dat"
  drop_caches
  fio_run raw_write_direct write --direct=1 --ioengine=libaio --iodepth=16
  rm -f "$SCRATCH/fio/raw.dat"
  drop_caches
  fio_run raw_write_buffered write --direct=0 --end_fsync=1
  drop_caches
  fio_run raw_read_direct read --direct=1 --ioengine=libaio --iodepth=16
  drop_caches
  fio_run raw_read_buffered read --direct=0
  rm -f "$SCRATCH/fio/raw.dat"
}

# ---- ours: pool write and read ------------------------------------------------

# measure_pool LAYOUT DEVICES: a fresh pool, written then read back.
measure_pool() {
  local layout="$1" devices="$2"
  local dir="$SCRATCH/pool-$layout" out
  rm -rf "$dir"
  drop_caches
  out="$("$BENCH_BIN" write --pool-dir "$dir" --devices "$devices" --redundancy 2 \
    --object-mib "$BENCH_OBJECT_MIB" --total-mib "$BENCH_MIB" --jobs "$BENCH_JOBS")"
  echo "$out" >>"$RAW_LOG"
  record "pool_${layout}_write_physical" "$(json_field "$out" .physical_mb_s)"
  record "pool_${layout}_write_logical" "$(json_field "$out" .logical_mb_s)"
  out="$("$BENCH_BIN" read --pool-dir "$dir" --drop-caches --jobs "$BENCH_JOBS")"
  echo "$out" >>"$RAW_LOG"
  record "pool_${layout}_read" "$(json_field "$out" .logical_mb_s)"
  record "pool_${layout}_read_physical_bytes_per_logical" \
    "$(json_field "$out" '.physical_read_bytes / .logical_bytes')"
}

# ---- scrub: btrfs raid1 on loop devices against the 4+2 pool ---------------------

setup_btrfs() {
  local dir="$SCRATCH/btrfs" image loop
  mkdir -p "$dir/mnt"
  for image in a b; do
    truncate -s "$((BENCH_MIB * 5 / 2))M" "$dir/$image.img"
    loop="$(losetup --find --show --direct-io=on "$dir/$image.img")"
    LOOP_DEVICES+=("$loop")
  done
  mkfs.btrfs -q -f -d raid1 -m raid1 "${LOOP_DEVICES[@]}" >/dev/null
  mount "${LOOP_DEVICES[0]}" "$dir/mnt"
  local out
  out="$("$BENCH_BIN" files --dir "$dir/mnt/data" --object-mib "$BENCH_OBJECT_MIB" \
    --total-mib "$BENCH_MIB")"
  echo "$out" >>"$RAW_LOG"
  record btrfs_files_write_logical "$(json_field "$out" .logical_mb_s)"
  sync
}

# btrfs reports its duration in whole seconds, so the time is taken around the command.
measure_btrfs_scrub() {
  drop_caches
  local start end out
  start="$(now)"
  out="$(btrfs scrub start -B -R "$SCRATCH/btrfs/mnt")"
  end="$(now)"
  local data tree errors reported
  data="$(awk '/data_bytes_scrubbed:/ {print $2}' <<<"$out")"
  tree="$(awk '/tree_bytes_scrubbed:/ {print $2}' <<<"$out")"
  errors="$(awk '/uncorrectable_errors:|csum_errors:|read_errors:/ {s += $2}
                 END {print s + 0}' <<<"$out")"
  reported="$(awk '/Duration:/ {split($2, t, ":"); print t[1] * 3600 + t[2] * 60 + t[3]}' \
    <<<"$out")"
  [[ -n $data && -n $tree ]] || die "could not parse 'btrfs scrub start -B -R' output: $out"
  ((errors == 0)) || log "btrfs scrub reported $errors errors"
  local seconds
  seconds="$(awk -v s="$start" -v e="$end" 'BEGIN {printf "%.6f", e - s}')"
  jq -nc --argjson data "$data" --argjson tree "$tree" --argjson seconds "$seconds" \
    --argjson reported "$reported" --argjson errors "$errors" \
    '{btrfs_scrub: true, data_bytes_scrubbed: $data, tree_bytes_scrubbed: $tree,
      wall_seconds: $seconds, reported_duration_s: $reported, errors: $errors}' >>"$RAW_LOG"
  record btrfs_scrub_physical "$(quotient "$((data + tree))" "$seconds * 1e6")"
  record btrfs_scrub_logical "$(quotient "$data" "2 * $seconds * 1e6")"
  record btrfs_scrub_data_bytes_per_logical "$(quotient "$data" "$BENCH_MIB * 1048576")"
}

measure_pool_scrub() {
  local out
  out="$("$BENCH_BIN" scrub --pool-dir "$SCRATCH/pool-4+2" --drop-caches)"
  echo "$out" >>"$RAW_LOG"
  [[ "$(json_field "$out" .errors_found)" == 0 ]] || log "pool scrub found errors: $out"
  record pool_4+2_scrub_physical "$(json_field "$out" .physical_mb_s)"
  record pool_4+2_scrub_logical "$(json_field "$out" .logical_mb_s)"
}

# ---- report ------------------------------------------------------------------------

# The median of the numbers on stdin (mean of the middle two for an even count).
median_of_input() {
  sort -g | awk '{v[NR] = $1}
    END {
      if (NR == 0) exit 1
      print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
    }'
}

values() { awk -v f="$1" '$1 == f {print $2}' "$RESULTS"; }

median() { values "$1" | median_of_input; }

median_3() { median "$1" | awk '{printf "%.3f", $1}'; }

# paired_ratio OURS PEER: the median over repetitions of OURS[i] / PEER[i]. Each pair was
# measured minutes apart, so drift on a shared machine cancels better than in a ratio of medians.
paired_ratio() {
  paste -d ' ' <(values "$1") <(values "$2") | awk '{print $1 / $2}' | median_of_input
}

samples() { awk -v f="$1" '$1 == f {printf "%s%.0f", sep, $2; sep = ", "}' "$RESULTS"; }

# faster A B: whichever of the two figures has the higher median.
faster() {
  awk -v a="$(median "$1")" -v b="$(median "$2")" -v na="$1" -v nb="$2" \
    'BEGIN {print (a >= b) ? na : nb}'
}

# row LABEL OURS PEER PEER_LABEL TARGET: one table line (figures by name); TARGET "" for
# context rows. The verdict is on the ratio of medians.
row() {
  awk -v l="$1" -v o="$(median "$2")" -v p="$(median "$3")" -v pr="$(paired_ratio "$2" "$3")" \
    -v pl="$4" -v t="$5" 'BEGIN {
    ratio = o / p
    verdict = t == "" ? "(context)" : (ratio >= t ? "≥ " t "× met" : "≥ " t "× missed")
    printf "| %s | %.0f | %.0f (%s) | %.2f× | %.2f× | %s |\n", l, o, p, pl, ratio, pr, verdict
  }'
}

report() {
  local raw_write raw_read figure
  raw_write="$(faster raw_write_direct raw_write_buffered)"
  raw_read="$(faster raw_read_direct raw_read_buffered)"
  local write_peer="fio ${raw_write#raw_write_}" read_peer="fio ${raw_read#raw_read_}"
  echo "## Results ($STAMP)"
  echo
  echo "BENCH_MIB=$BENCH_MIB BENCH_OBJECT_MIB=$BENCH_OBJECT_MIB BENCH_REPS=$BENCH_REPS;" \
    "medians of $BENCH_REPS; MB/s = 10^6 bytes/s."
  local disk commit
  disk="$(df -T "$BENCH_DIR" | awk 'NR == 2 {print $1 " (" $2 ")"}')"
  commit="$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)"
  [[ -z "$(git -C "$REPO" status --porcelain -- src 2>/dev/null)" ]] ||
    commit+=", with uncommitted changes in src/"
  echo "Disk: $disk, $(nproc) cores, kernel $(uname -r)."
  echo "Commit: $commit."
  echo
  echo "| figure (MB/s) | Lares | peer | ratio of medians | median of per-rep ratios | target |"
  echo "|---|---:|---:|---:|---:|---|"
  row "write 4+2, physical" pool_4+2_write_physical "$raw_write" "$write_peer" 0.7
  row "write 8+2, physical" pool_8+2_write_physical "$raw_write" "$write_peer" 0.7
  row "write 4+2, logical" pool_4+2_write_logical "$raw_write" "$write_peer" ""
  row "write 8+2, logical" pool_8+2_write_logical "$raw_write" "$write_peer" ""
  row "read 4+2" pool_4+2_read "$raw_read" "$read_peer" 0.8
  row "read 8+2" pool_8+2_read "$raw_read" "$read_peer" 0.8
  row "scrub 4+2, physical" pool_4+2_scrub_physical btrfs_scrub_physical "btrfs raid1" 1.0
  row "scrub 4+2, logical" pool_4+2_scrub_logical btrfs_scrub_logical "btrfs raid1" 1.0
  echo
  echo "Samples (MB/s, in run order):"
  echo
  for figure in raw_write_direct raw_write_buffered raw_read_direct raw_read_buffered \
    pool_4+2_write_physical pool_8+2_write_physical pool_4+2_read pool_8+2_read \
    btrfs_scrub_physical pool_4+2_scrub_physical btrfs_files_write_logical; do
    echo "- $figure: $(samples "$figure") (median $(median "$figure" | awk '{printf "%.0f", $1}'))"
  done
  echo
  echo "Checks: pool read bytes fetched from the disk / logical bytes:" \
    "$(median_3 pool_4+2_read_physical_bytes_per_logical) (4+2)," \
    "$(median_3 pool_8+2_read_physical_bytes_per_logical) (8+2);" \
    "btrfs data_bytes_scrubbed / logical bytes:" \
    "$(median_3 btrfs_scrub_data_bytes_per_logical) (2 = both raid1 copies)."
}

main() {
  check_environment
  mkdir -p "$BENCH_DIR"
  check_space
  trap cleanup EXIT
  trap 'exit 130' INT TERM
  rm -rf "$SCRATCH"
  mkdir -p "$SCRATCH"
  : >"$RESULTS"
  build
  local started rep
  started="$(now)"
  for ((rep = 1; rep <= BENCH_REPS; ++rep)); do
    log "rep $rep/$BENCH_REPS: fio raw write and read"
    measure_raw
    log "rep $rep/$BENCH_REPS: pool 4+2 write and read"
    measure_pool 4+2 6
    log "rep $rep/$BENCH_REPS: pool 8+2 write and read"
    measure_pool 8+2 10
  done
  rm -rf "$SCRATCH/pool-8+2"
  log "btrfs raid1 on loop devices: mkfs and copy of the same objects"
  setup_btrfs
  for ((rep = 1; rep <= BENCH_REPS; ++rep)); do
    log "rep $rep/$BENCH_REPS: btrfs scrub, then pool 4+2 scrub"
    measure_btrfs_scrub
    measure_pool_scrub
  done
  log "measured in $(awk -v s="$started" -v e="$(now)" 'BEGIN {printf "%.0f", e - s}') s"
  report | tee "$REPORT"
  log "report: $REPORT; samples: $RESULTS; raw JSON: $RAW_LOG"
}

main "$@"
