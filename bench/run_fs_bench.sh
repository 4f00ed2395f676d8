#!/usr/bin/env bash
# A live dataset through its FUSE mount beside the raw disk and btrfs raid1 (issue 4), in one run
# on one disk.
#
#   sudo bench/run_fs_bench.sh
#   sudo BENCH_MIB=1024 BENCH_SECONDS=10 bench/run_fs_bench.sh   # about 10 min on 2 cores
#
# Environment (all optional):
#   BENCH_DIR               work folder; its filesystem is the disk under test (default
#                           <repo>/var/bench)
#   BENCH_MIB               size of the sequential file, MiB (default 2048)
#   BENCH_RAND_MIB          size of the file the random jobs work in, MiB (default 1024)
#   BENCH_SECONDS           length of each random job, seconds (default 20)
#   BENCH_FILES             files of the small-file workload (default 100000)
#   BENCH_REPS              repetitions; every figure is the median (default 3)
#   BENCH_LARES_DEVICES     device folders of the Lares pool (default 6)
#   BENCH_LARES_REDUNDANCY  devices the pool may lose (default 2: 6 devices make 4+2)
#   BENCH_PERF              1: afterwards, one more Lares sequential write and read under
#                           `perf record -a`, and where the time went in perf-fs-STAMP.txt
#                           (default 0)
#
# Three targets, all on the disk that holds BENCH_DIR:
#   raw    a folder on that disk's filesystem (ext4 here);
#   btrfs  btrfs raid1 (-d raid1 -m raid1) on two loop devices (direct I/O) over sparse files;
#   lares  a Lares pool on BENCH_LARES_DEVICES device folders with two live datasets: `seq`
#          (recordsize 1M) for the sequential jobs, `main` (the default 128K) for the random and
#          small-file jobs, both without automatic snapshots (an hourly snapshot would land in
#          some job, and keep what gc should free). A pool has one writer, so one dataset is
#          mounted at a time, and only during Lares's own jobs. `lares repo gc` after each
#          repetition (untimed) frees what it overwrote and deleted.
# The jobs, each on all three targets before the next job starts (the order of the targets
# rotates with the repetition, so drift on a shared machine hits all three alike). Every job
# starts cold: sync, drop caches, and for Lares a fresh mount (so neither the kernel nor the
# mount process holds any of the data). All I/O is buffered, the path applications take (a Lares
# mount accepts O_DIRECT, but FUSE then passes every request through uncached):
#   seq_write    fio, a new file of BENCH_MIB in 1 MiB blocks of incompressible data, new every
#                run (see FIO_WRITE_DATA), end_fsync=1: durable when the job ends, and fio's
#                time includes that fsync. MB/s.
#   seq_read     fio, that file read back in 1 MiB blocks. MB/s.
#   rand_read    fio, 4 KiB random reads for BENCH_SECONDS, psync, 2 jobs, in a BENCH_RAND_MIB
#                file written once before the first repetition. IOPS. (The page cache fills
#                during the job; the fraction of the file cached at its end is reported.)
#   rand_write   the same with random writes and end_fsync=1 (the fsync is in fio's time). IOPS.
#   small_create, small_stat, small_read, small_delete: lares_smallfiles (bench/smallfiles.cc),
#                BENCH_FILES files of 4 KiB in 100 folders, one phase per job (so every phase
#                starts cold); create and delete end with syncfs and fsync of their folder, which
#                their time includes. Files per second.
# Context, raw only: fio direct (libaio, iodepth 16) write and read of a BENCH_MIB file; the
# direct write does not fsync. During each Lares job the CPU time of the mount process is read
# from /proc before and after: cores busy = CPU seconds / wall seconds.
#
# Prints a Markdown report: medians, Lares against raw and btrfs (ratio of medians, and the
# median of per-repetition ratios), the targets of issue 4. It never asserts a figure; it fails
# on a tool error (lares_smallfiles fails on a file read back wrong). Everything it creates under
# BENCH_DIR/fs-scratch (mounts, loop devices, files) is removed on exit, failure included; the
# report, samples, raw JSON and the Lares mount log stay in BENCH_DIR (fs-*-STAMP.*).
set -euo pipefail
shopt -s inherit_errexit

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly REPO
# shellcheck source=bench/lib.sh
source "$REPO/bench/lib.sh"
BENCH_DIR="$(realpath -m "${BENCH_DIR:-$REPO/var/bench}")"
readonly BENCH_DIR
readonly BENCH_MIB="${BENCH_MIB:-2048}"
readonly BENCH_RAND_MIB="${BENCH_RAND_MIB:-1024}"
readonly BENCH_SECONDS="${BENCH_SECONDS:-20}"
readonly BENCH_FILES="${BENCH_FILES:-100000}"
readonly BENCH_REPS="${BENCH_REPS:-3}"
readonly BENCH_LARES_DEVICES="${BENCH_LARES_DEVICES:-6}"
readonly BENCH_LARES_REDUNDANCY="${BENCH_LARES_REDUNDANCY:-2}"
readonly BENCH_PERF="${BENCH_PERF:-0}"
readonly BUILD_DIR="$REPO/build-bench"
readonly LARES="$BUILD_DIR/src/lares"
readonly SMALLFILES="$BUILD_DIR/bench/lares_smallfiles"
readonly SCRATCH="$BENCH_DIR/fs-scratch"
readonly LARES_MNT="$SCRATCH/lares/mnt"
readonly BTRFS_MNT="$SCRATCH/btrfs/mnt"
readonly POOL="fsbench"
STAMP="$(date +%Y%m%d-%H%M%S)"
readonly STAMP
readonly RESULTS="$BENCH_DIR/fs-results-$STAMP.tsv"  # "<figure> <value>" per sample
readonly RAW_LOG="$BENCH_DIR/fs-raw-$STAMP.jsonl"    # a JSON line per job
readonly RECORD_HINT="; see $RAW_LOG"
readonly REPORT="$BENCH_DIR/fs-report-$STAMP.md"
readonly TARGETS=(raw btrfs lares)
readonly JOBS=(seq_write seq_read rand_read rand_write
  small_create small_stat small_read small_delete)

# Lares's state folder (pool registry, mount pid files and log) and passphrase: the benchmark's
# own, so nothing of the caller's registry is touched.
export LARES_HOME="$SCRATCH/lares/home"
export LARES_PASSPHRASE="lares-bench"

LOOP_DEVICES=()
MOUNT_PID=""  # the Lares mount process while a dataset is mounted
REP=0

check_environment() {
  [[ $EUID -eq 0 ]] ||
    die "needs root (drop_caches, losetup, mount, mkfs.btrfs, FUSE): run it with sudo"
  local tool
  for tool in fio jq mkfs.btrfs btrfs losetup mountpoint findmnt fincore fusermount3 cmake \
    ninja; do
    command -v "$tool" >/dev/null ||
      die "missing '$tool' (scripts/install-deps.sh installs it: fio jq btrfs-progs fuse3 ...)"
  done
  [[ -c /dev/fuse ]] || die "no /dev/fuse (load the fuse module: modprobe fuse)"
  local name
  for name in BENCH_MIB BENCH_RAND_MIB BENCH_SECONDS BENCH_FILES BENCH_REPS \
    BENCH_LARES_DEVICES BENCH_LARES_REDUNDANCY; do
    [[ ${!name} =~ ^[0-9]+$ ]] || die "$name must be a whole number (got '${!name}')"
  done
  ((BENCH_MIB >= 1 && BENCH_RAND_MIB >= 1 && BENCH_SECONDS >= 1 && BENCH_FILES >= 1)) ||
    die "BENCH_MIB, BENCH_RAND_MIB, BENCH_SECONDS and BENCH_FILES must be at least 1"
  ((BENCH_REPS >= 1)) || die "BENCH_REPS must be at least 1"
  ((BENCH_LARES_REDUNDANCY >= 1 && BENCH_LARES_REDUNDANCY <= 3 &&
    BENCH_LARES_DEVICES > BENCH_LARES_REDUNDANCY)) ||
    die "BENCH_LARES_REDUNDANCY must be 1..3 and below BENCH_LARES_DEVICES"
  if [[ $BENCH_PERF == 1 ]]; then
    command -v perf >/dev/null || die "BENCH_PERF=1 needs perf (Debian: linux-perf)"
  fi
}

# MiB one target holds at most: the sequential and random files, and the small files with
# room for their metadata (16 KiB each, generously).
data_mib() { echo $((BENCH_MIB + BENCH_RAND_MIB + BENCH_FILES * 16 / 1024)); }

# Peak use: raw (1x), btrfs (sparse images, both raid1 copies: 2x), and the Lares pool: (k+r)/k
# of what one repetition writes (gc runs after each), the random writes counted as four
# rewrites of the whole random file (each 4 KiB write rewrites a 128 KiB record).
check_space() {
  local lares_mib=$((($(data_mib) + 4 * BENCH_RAND_MIB) * BENCH_LARES_DEVICES /
    (BENCH_LARES_DEVICES - BENCH_LARES_REDUNDANCY)))
  local need_kib=$((($(data_mib) * 3 + lares_mib) * 1024))
  local free_kib
  free_kib="$(df --output=avail -k "$BENCH_DIR" | tail -n 1 | tr -d ' ')"
  ((free_kib >= need_kib)) ||
    die "$BENCH_DIR: $((free_kib / 1024)) MiB free, these settings need $((need_kib / 1024))"
}

# Unmounts what is mounted under SCRATCH (Lares first, through `lares umount`, which commits),
# detaches the loop devices, and removes SCRATCH unless something is still mounted there.
cleanup() {
  local status=$?
  if mountpoint -q "$LARES_MNT" 2>/dev/null; then
    timeout 300 "$LARES" umount "$LARES_MNT" >/dev/null ||
      log "'lares umount $LARES_MNT' failed; see $LARES_HOME/mount.log"
  fi
  if [[ -n $MOUNT_PID ]] && mountpoint -q "$LARES_MNT" 2>/dev/null; then
    kill -TERM "$MOUNT_PID" 2>/dev/null || true  # the mount process commits and unmounts
    sleep 5
  fi
  if mountpoint -q "$BTRFS_MNT" 2>/dev/null; then
    umount "$BTRFS_MNT" || log "could not unmount $BTRFS_MNT"
  fi
  local loop
  for loop in "${LOOP_DEVICES[@]}"; do
    losetup -d "$loop" 2>/dev/null || log "could not detach $loop"
  done
  if findmnt -rn -o TARGET | grep -qF "$SCRATCH/"; then
    log "leaving $SCRATCH in place: something is still mounted there (findmnt)"
  else
    [[ ! -f $LARES_HOME/mount.log ]] || cp "$LARES_HOME/mount.log" "$BENCH_DIR/fs-mount-$STAMP.log"
    rm -rf "$SCRATCH"
  fi
  exit "$status"
}

# The commit the binaries are built from, read at build time.
BUILT_FROM="unknown"

build() {
  BUILT_FROM="$(built_from "$REPO")"
  log "building lares and lares_smallfiles (Release) in $BUILD_DIR from $BUILT_FROM"
  local build_log="$SCRATCH/build.log"
  cmake -S "$REPO" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DLARES_BENCH=ON \
    -DLARES_TESTS=OFF >"$build_log" 2>&1 || die "cmake failed: $(tail -n 20 "$build_log")"
  nice ninja -C "$BUILD_DIR" -j1 lares lares_smallfiles >>"$build_log" 2>&1 ||
    die "build failed: $(tail -n 20 "$build_log")"
}

# ---- targets ---------------------------------------------------------------------

setup_raw() { mkdir -p "$SCRATCH/raw"; }

setup_btrfs() {
  local dir="$SCRATCH/btrfs" image loop
  mkdir -p "$BTRFS_MNT"
  for image in a b; do
    truncate -s "$(($(data_mib) + 1024))M" "$dir/$image.img"
    loop="$(losetup --find --show --direct-io=on "$dir/$image.img")"
    LOOP_DEVICES+=("$loop")
  done
  mkfs.btrfs -q -f -d raid1 -m raid1 "${LOOP_DEVICES[@]}" >/dev/null
  mount "${LOOP_DEVICES[0]}" "$BTRFS_MNT"
}

setup_lares() {
  local devices=() i
  for ((i = 0; i < BENCH_LARES_DEVICES; ++i)); do
    devices+=("$SCRATCH/lares/dev$i")
    mkdir -p "${devices[i]}"
  done
  mkdir -p "$LARES_MNT" "$LARES_HOME"
  local out="$SCRATCH/lares/setup.log"
  {
    "$LARES" pool create "$POOL" --redundancy "$BENCH_LARES_REDUNDANCY" "${devices[@]}" \
      --kdf-memory 8M --kdf-ops 1 &&
      "$LARES" dataset create "$POOL/seq" --recordsize 1M --auto-snapshots off &&
      "$LARES" dataset create "$POOL/main" --auto-snapshots off
  } >"$out" 2>&1 || die "creating the Lares pool and datasets failed: $(tail -n 5 "$out")"
}

lares_mount() {
  "$LARES" mount "$POOL/$1" "$LARES_MNT" >/dev/null ||
    die "lares mount $POOL/$1 failed; see $LARES_HOME/mount.log"
  local pid_files=("$LARES_HOME"/run/mount-*.pid)
  MOUNT_PID="$(head -n 1 "${pid_files[0]}")"  # the pid, then the fsname
  [[ $MOUNT_PID =~ ^[0-9]+$ && -d /proc/$MOUNT_PID ]] || die "no Lares mount process after mount"
}

lares_unmount() {
  if mountpoint -q "$LARES_MNT"; then
    "$LARES" umount "$LARES_MNT" >/dev/null ||
      die "lares umount failed; see $LARES_HOME/mount.log"
  fi
  MOUNT_PID=""
}

target_dir() {
  case "$1" in
    raw) echo "$SCRATCH/raw" ;;
    btrfs) echo "$BTRFS_MNT" ;;
    lares) echo "$LARES_MNT" ;;
  esac
}

# cold_start TARGET JOB: nothing of the target's data cached, in the kernel or (Lares) in the
# mount process, which is started afresh on the dataset the job uses.
cold_start() {
  drop_caches
  if [[ $1 == lares ]]; then
    if [[ $2 == seq_* ]]; then lares_mount seq; else lares_mount main; fi
  fi
}

# CPU time of the Lares mount process so far, in clock ticks (user + system).
mount_cpu_ticks() { awk '{print $14 + $15}' "/proc/$MOUNT_PID/stat"; }

# ---- jobs ------------------------------------------------------------------------

# What fio writes: fresh random bytes for every I/O (fio's default, one random buffer
# "scrambled" with offsets and times, compresses by about 4 % with zstd, unlike the media most
# big files on a home server hold, and enough to make Lares compress every record), from a new
# seed every run (with the default fixed seed a repetition writes what the one before wrote,
# which Lares would deduplicate).
readonly FIO_WRITE_DATA=(--refill_buffers --randrepeat=0)

# fio_job FIGURE FILE RW ARGS...: one fio job; records MB/s (sequential) or IOPS (random), and
# keeps its main figures and CPU share in the raw log. fio's time includes an end_fsync.
fio_job() {
  local figure="$1" file="$2" rw="$3"
  shift 3
  local direction="read" data=() out
  if [[ $rw == *write ]]; then
    direction="write"
    data=("${FIO_WRITE_DATA[@]}")
  fi
  out="$(fio --name="$figure" --filename="$file" --rw="$rw" "${data[@]}" --output-format=json \
    "$@")" ||
    die "fio $figure failed"
  jq -c --arg figure "$figure" --argjson rep "$REP" ".jobs[0] | {fio: \$figure, rep: \$rep,
      bw_bytes: .$direction.bw_bytes, iops: .$direction.iops, io_bytes: .$direction.io_bytes,
      runtime_ms: .$direction.runtime, usr_cpu, sys_cpu}" <<<"$out" >>"$RAW_LOG"
  local value
  if [[ $rw == rand* ]]; then
    value="$(jq -r ".jobs[0].$direction.iops" <<<"$out")"
  else
    value="$(jq -r ".jobs[0].$direction.bw_bytes / 1e6" <<<"$out")"
  fi
  record "$figure" "$value"
}

seq_args() { echo --bs=1M --size="${BENCH_MIB}M" --ioengine=psync; }

rand_args() {
  echo --bs=4k --size="${BENCH_RAND_MIB}M" --ioengine=psync --numjobs=2 --group_reporting \
    --time_based --runtime="$BENCH_SECONDS"
}

# The file of the random jobs, written once per target (untimed).
lay_out_random_file() {
  local target="$1" dir
  dir="$(target_dir "$target")"
  cold_start "$target" rand_layout
  fio --name=layout --filename="$dir/rand.dat" --rw=write --bs=1M --size="${BENCH_RAND_MIB}M" \
    "${FIO_WRITE_DATA[@]}" --end_fsync=1 --output-format=json >/dev/null ||
    die "fio layout on $target failed"
  [[ $target != lares ]] || lares_unmount
}

# smallfiles_job TARGET PHASE: one phase of the small-file workload; records files/s.
smallfiles_job() {
  local target="$1" phase="$2" dir out
  dir="$(target_dir "$target")/small"
  [[ $phase != create ]] || mkdir "$dir"
  out="$("$SMALLFILES" "$dir" --files "$BENCH_FILES" --phases "$phase")" ||
    die "lares_smallfiles $phase on $target failed (rep $REP)"
  [[ $phase != delete ]] || rmdir "$dir"
  jq -c --arg target "$target" --argjson rep "$REP" '{smallfiles: $target, rep: $rep} + .' \
    <<<"$out" >>"$RAW_LOG"
  record "${target}_small_$phase" "$(jq -r ".${phase}_ops_per_s" <<<"$out")"
}

# The raw disk's own figures beside the buffered ones: direct I/O, no page cache.
raw_direct_context() {
  local file="$SCRATCH/raw/direct.dat"
  drop_caches
  # shellcheck disable=SC2046  # word splitting of seq_args is meant
  fio_job raw_seq_write_direct "$file" write $(seq_args) --direct=1 --ioengine=libaio \
    --iodepth=16
  drop_caches
  # shellcheck disable=SC2046
  fio_job raw_seq_read_direct "$file" read $(seq_args) --direct=1 --ioengine=libaio --iodepth=16
  rm -f "$file"
}

# run_job TARGET JOB: JOB on TARGET, started cold.
run_job() {
  local target="$1" job="$2" dir
  dir="$(target_dir "$target")"
  cold_start "$target" "$job"
  local ticks_before=0 start
  [[ $target != lares ]] || ticks_before="$(mount_cpu_ticks)"
  start="$(now)"
  # shellcheck disable=SC2046  # word splitting of seq_args and rand_args is meant
  case "$job" in
    seq_write) fio_job "${target}_$job" "$dir/seq.dat" write $(seq_args) --end_fsync=1 ;;
    seq_read) fio_job "${target}_$job" "$dir/seq.dat" read $(seq_args) ;;
    rand_read) fio_job "${target}_$job" "$dir/rand.dat" randread $(rand_args) ;;
    rand_write) fio_job "${target}_$job" "$dir/rand.dat" randwrite $(rand_args) --end_fsync=1 ;;
    small_*) smallfiles_job "$target" "${job#small_}" ;;
  esac
  local end
  end="$(now)"
  if [[ $target == lares ]]; then
    record "lares_${job}_cpu_cores" "$(awk -v t="$(($(mount_cpu_ticks) - ticks_before))" \
      -v hz="$(getconf CLK_TCK)" -v s="$start" -v e="$end" 'BEGIN {print t / hz / (e - s)}')"
  fi
  if [[ $job == rand_read ]]; then
    record "${target}_rand_read_cached" "$(fincore -b -n -o RES "$dir/rand.dat" |
      awk -v size="$((BENCH_RAND_MIB * 1048576))" '{print $1 / size}')"
  fi
  [[ $job != seq_read ]] || rm -f "$dir/seq.dat"
  [[ $target != lares ]] || lares_unmount  # commits; untimed (the job ended durable)
}

# The targets in this repetition's order: rotated by one each time.
targets_in_order() {
  local i
  for ((i = 0; i < ${#TARGETS[@]}; ++i)); do
    echo "${TARGETS[(i + REP - 1) % ${#TARGETS[@]}]}"
  done
}

run_repetition() {
  local order job target
  mapfile -t order < <(targets_in_order)
  log "rep $REP/$BENCH_REPS: raw direct I/O (context)"
  raw_direct_context
  for job in "${JOBS[@]}"; do
    log "rep $REP/$BENCH_REPS: $job on ${order[*]}"
    for target in "${order[@]}"; do run_job "$target" "$job"; done
  done
  log "rep $REP/$BENCH_REPS: lares repo gc (untimed: frees what the repetition overwrote)"
  "$LARES" repo gc "$POOL" >>"$SCRATCH/lares/gc.log" 2>&1 ||
    die "lares repo gc failed: $(tail -n 5 "$SCRATCH/lares/gc.log")"
}

# One more Lares sequential write and read, each under `perf record -a` (no call graphs: the
# Release build has no frame pointers), and self time of the mount process and fio (whose
# system time is the kernel's side of FUSE) by library and by function, as a share of theirs.
profile_lares() {
  local job data out="$BENCH_DIR/perf-fs-$STAMP.txt"
  : >"$out"
  for job in seq_write seq_read; do
    cold_start lares "$job"
    data="$SCRATCH/perf-$job.data"
    log "perf record -a of a Lares $job"
    # shellcheck disable=SC2046
    perf record -a -F 499 -o "$data" -- fio --name="profile_$job" \
      --filename="$LARES_MNT/seq.dat" --rw="${job#seq_}" $(seq_args) "${FIO_WRITE_DATA[@]}" \
      --end_fsync=1 --output-format=json >/dev/null 2>"$SCRATCH/perf.log" ||
      die "perf record of $job failed"
    [[ $job != seq_read ]] || rm -f "$LARES_MNT/seq.dat"
    lares_unmount
    local report=(perf report -i "$data" --stdio --no-children --comms "lares,fio"
      --percentage relative)
    {
      echo "== $job: self time of lares and fio by process and library (>= 1 %)"
      "${report[@]}" --sort comm,dso --percent-limit 1
      echo "== $job: by process, library and function (>= 1 %)"
      "${report[@]}" --sort comm,dso,symbol --percent-limit 1
    } 2>/dev/null | grep -E '%|==' | grep -v '^#' | sed -E 's/[[:space:]-]+$//' |
      cut -c 1-140 >>"$out" || true
  done
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

# paired_ratio OURS PEER: the median over repetitions of OURS[i] / PEER[i] (pairs measured
# within a minute or two, so drift on a shared machine cancels better than in medians).
paired_ratio() {
  paste -d ' ' <(values "$1") <(values "$2") | awk '{print $1 / $2}' | median_of_input
}

samples() { awk -v f="$1" '$1 == f {printf "%s%.0f", sep, $2; sep = ", "}' "$RESULTS"; }

# ratio_cell OURS PEER: "ratio of medians (median of per-repetition ratios)".
ratio_cell() {
  awk -v o="$(median "$1")" -v p="$(median "$2")" -v r="$(paired_ratio "$1" "$2")" \
    'BEGIN {printf "%.2f× (%.2f×)", o / p, r}'
}

# verdict OURS PEER GOAL: "≥ GOAL× PEER met" or "... missed", on the ratio of medians.
verdict() {
  awk -v o="$(median "$1")" -v p="$(median "$2")" -v g="$3" -v n="${2%%_*}" \
    'BEGIN {printf "≥ %s× %s %s", g, n, (o / p >= g) ? "met" : "missed"}'
}

# row LABEL JOB TARGET_TEXT: one table line for JOB's figures on the three targets.
row() {
  local label="$1" job="$2" target="$3"
  echo "| $label | $(median "lares_$job" | awk '{printf "%.0f", $1}') |" \
    "$(median "raw_$job" | awk '{printf "%.0f", $1}') |" \
    "$(median "btrfs_$job" | awk '{printf "%.0f", $1}') |" \
    "$(ratio_cell "lares_$job" "raw_$job") | $(ratio_cell "lares_$job" "btrfs_$job") | $target |"
}

# median_2 FIGURE: the median with two decimals.
median_2() { median "$1" | awk '{printf "%.2f", $1}'; }

report() {
  local raw_fs disk k job target
  raw_fs="$(df --output=fstype "$BENCH_DIR" | tail -n 1)"
  disk="$(df --output=source "$BENCH_DIR" | tail -n 1)"
  k=$((BENCH_LARES_DEVICES - BENCH_LARES_REDUNDANCY))
  echo "## Results ($STAMP)"
  echo
  echo "BENCH_MIB=$BENCH_MIB BENCH_RAND_MIB=$BENCH_RAND_MIB BENCH_SECONDS=$BENCH_SECONDS" \
    "BENCH_FILES=$BENCH_FILES BENCH_REPS=$BENCH_REPS; Lares pool $k+$BENCH_LARES_REDUNDANCY" \
    "on $BENCH_LARES_DEVICES device folders; medians of $BENCH_REPS; MB/s = 10^6 bytes/s."
  echo "Disk: $disk ($raw_fs), $(nproc) cores, kernel $(uname -r). Built from: $BUILT_FROM."
  echo "raw = a folder on that $raw_fs; btrfs = raid1 on two loop devices over files on it."
  echo
  echo "| figure | Lares | raw ($raw_fs) | btrfs raid1 | Lares / raw | Lares / btrfs | target |"
  echo "|---|---:|---:|---:|---:|---:|---|"
  row "sequential write 1 MiB, MB/s" seq_write \
    "$(verdict lares_seq_write raw_seq_write 0.6), $(verdict lares_seq_write btrfs_seq_write 1)"
  row "sequential read 1 MiB, MB/s" seq_read \
    "$(verdict lares_seq_read raw_seq_read 0.6), $(verdict lares_seq_read btrfs_seq_read 1)"
  row "random read 4 KiB, IOPS" rand_read "(context)"
  row "random write 4 KiB, IOPS" rand_write "(context)"
  for job in create stat read delete; do
    row "small files: $job, files/s" "small_$job" \
      "$(verdict "lares_small_$job" "raw_small_$job" 0.3)"
  done
  echo
  echo "Ratios: the ratio of medians, in brackets the median of per-repetition ratios."
  echo "Context: raw direct I/O (fio, libaio, iodepth 16; the write does not fsync):" \
    "write $(median raw_seq_write_direct | awk '{printf "%.0f", $1}') MB/s," \
    "read $(median raw_seq_read_direct | awk '{printf "%.0f", $1}') MB/s."
  echo -n "Lares mount process, cores busy (median):"
  local sep=" "
  for job in "${JOBS[@]}"; do
    echo -n "$sep$job $(median_2 "lares_${job}_cpu_cores")"
    sep=", "
  done
  echo "."
  echo "Fraction of the random file in the page cache when the random read ended:" \
    "raw $(median_2 raw_rand_read_cached), btrfs $(median_2 btrfs_rand_read_cached)," \
    "Lares $(median_2 lares_rand_read_cached)."
  echo
  echo "Samples (in run order):"
  echo
  for job in "${JOBS[@]}"; do
    for target in "${TARGETS[@]}"; do
      echo "- ${target}_$job: $(samples "${target}_$job")" \
        "(median $(median "${target}_$job" | awk '{printf "%.0f", $1}'))"
    done
  done
  if [[ -s $BENCH_DIR/perf-fs-$STAMP.txt ]]; then
    echo
    echo "Profile (perf record -a, one more Lares sequential write and read):"
    echo
    echo '```'
    cat "$BENCH_DIR/perf-fs-$STAMP.txt"
    echo '```'
  fi
}

main() {
  check_environment
  mkdir -p "$BENCH_DIR"
  check_space
  trap cleanup EXIT
  trap 'exit 130' INT TERM
  findmnt -rn -o TARGET | grep -qF "$SCRATCH/" &&
    die "something is mounted under $SCRATCH (an earlier run?); unmount it first"
  rm -rf "$SCRATCH"
  mkdir -p "$SCRATCH"
  : >"$RESULTS"
  build
  log "setting up: raw folder, btrfs raid1 on loop devices, Lares pool and datasets"
  setup_raw
  setup_btrfs
  setup_lares
  local target started
  for target in "${TARGETS[@]}"; do
    log "writing the ${BENCH_RAND_MIB} MiB file of the random jobs on $target"
    lay_out_random_file "$target"
  done
  started="$(now)"
  for ((REP = 1; REP <= BENCH_REPS; ++REP)); do run_repetition; done
  log "measured in $(awk -v s="$started" -v e="$(now)" 'BEGIN {printf "%.0f", e - s}') s"
  [[ $BENCH_PERF != 1 ]] || profile_lares
  report | tee "$REPORT"
  log "report: $REPORT; samples: $RESULTS; raw JSON: $RAW_LOG"
}

main "$@"
