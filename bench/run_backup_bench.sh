#!/usr/bin/env bash
# The backup repository beside restic and borgbackup (issue 3), in one run on one disk.
#
#   sudo bench/run_backup_bench.sh
#   sudo BENCH_MIB=300 bench/run_backup_bench.sh      # a quick run
#
# Environment (all optional):
#   BENCH_DIR     work folder; its filesystem is the disk under test
#                 (default <repo>/var/bench-backup)
#   BENCH_MIB     size of the generated data set, MiB (default 3072)
#   BENCH_REPS    repetitions; every figure is the median (default 1)
#   BENCH_SEED    seed of the data set and of its change (default 1)
#   BENCH_CHANGE  percent of files changed before the incremental backup (default 2)
#   BENCH_PERF    1: afterwards, one more Lares first backup into a new repository under
#                 `perf record` (DWARF call graphs), and where its time went in the report
#                 (default 0)
#
# What runs, BENCH_REPS times: lares_make_dataset writes the data set (bench/make_dataset.cc:
# ~20 % small text files, ~50 % photo-like incompressible files, ~30 % a few large partly
# compressible files); `cp -a` copies it to the same disk (the physical reference); restic,
# borg and lares each create an encrypted repository in BENCH_DIR and, step by step, all three
# before the next step (the order rotates with the repetition, so drift on a shared machine
# hits every tool alike):
#   initial      back up the tree;
#   unchanged    (Lares only) back up the unchanged tree again: issue 3 wants < 1 MB new and
#                < 10 % of the first backup's time;
#   incremental  lares_make_dataset --mutate changes BENCH_CHANGE % of the files, back up again;
#   restore      restore the newest snapshot into an empty folder; `diff -r` against the tree
#                must find nothing, or the run fails;
#   check        verify the repository, data included (restic check --read-data,
#                borg check --verify-data, lares repo check --read-data).
# Every step starts with the page cache dropped, so every tool reads from the disk. Wall time
# is the command plus the `sync` after it (data on disk, whether or not the tool fsyncs), peak
# RSS is GNU time's %M, CPU s its user + system. MB/s = bytes of the tree (as it is at that
# step) / wall / 10^6, for every step, so the figures of one step compare directly. Each tool
# runs with its defaults (compression: restic auto = zstd, borg lz4, lares zstd skipping
# incompressible chunks; encryption: restic AES-256-CTR + Poly1305, borg repokey-blake2, lares
# always on). A last timed `lares snapshot list` shows what every lares command pays first
# (the Argon2id unlock).
#
# Prints a Markdown report: medians, each tool's throughput against restic's and borg's (their
# time / its time, so 2.00× means twice as fast), the targets of issue 3. It never asserts a
# figure; it fails on a tool error and on a restore that differs from the tree. Everything it
# creates under BENCH_DIR/scratch is removed on exit, failure included; the report, samples
# and each command's output stay in BENCH_DIR.
set -euo pipefail
shopt -s inherit_errexit

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly REPO
# shellcheck source=bench/lib.sh
source "$REPO/bench/lib.sh"
BENCH_DIR="$(realpath -m "${BENCH_DIR:-$REPO/var/bench-backup}")"
readonly BENCH_DIR
readonly BENCH_MIB="${BENCH_MIB:-3072}"
readonly BENCH_REPS="${BENCH_REPS:-1}"
readonly BENCH_SEED="${BENCH_SEED:-1}"
readonly BENCH_CHANGE="${BENCH_CHANGE:-2}"
readonly BENCH_PERF="${BENCH_PERF:-0}"
readonly BUILD_DIR="$REPO/build-bench"
readonly LARES="$BUILD_DIR/src/lares"
readonly MAKE_DATASET="$BUILD_DIR/bench/lares_make_dataset"
readonly SCRATCH="$BENCH_DIR/scratch"
readonly TREE="$SCRATCH/tree"
readonly PASSPHRASE_FILE="$SCRATCH/passphrase"
STAMP="$(date +%Y%m%d-%H%M%S)"
readonly STAMP
readonly RESULTS="$BENCH_DIR/results-$STAMP.tsv"  # "<figure> <value>" per sample
readonly LOG_DIR="$BENCH_DIR/logs-$STAMP"         # each command's output
readonly REPORT="$BENCH_DIR/report-$STAMP.md"
readonly TOOLS=(restic borg lares)
readonly STEPS=(initial incremental restore check)

# The passphrase of all three repositories; this is a benchmark, not a secret.
export RESTIC_PASSWORD="lares-bench" BORG_PASSPHRASE="lares-bench"
export BORG_BASE_DIR="$SCRATCH/borg-home"  # borg's chunk and files caches, security dir

# Packages: Lares's own build dependencies, then the peers and tools this script runs.
install_dependencies() {
  [[ $EUID -eq 0 ]] || die "needs root (drop_caches, apt-get): run it with sudo"
  "$REPO/scripts/install-deps.sh" >/dev/null
  install_packages restic borgbackup time jq diffutils
}

check_environment() {
  [[ $BENCH_MIB =~ ^[0-9]+$ && $BENCH_REPS =~ ^[0-9]+$ && $BENCH_SEED =~ ^[0-9]+$ &&
    $BENCH_CHANGE =~ ^[0-9]+$ ]] ||
    die "BENCH_MIB, BENCH_REPS, BENCH_SEED and BENCH_CHANGE must be whole numbers"
  ((BENCH_MIB >= 16)) || die "BENCH_MIB must be at least 16"
  ((BENCH_REPS >= 1)) || die "BENCH_REPS must be at least 1"
  ((BENCH_CHANGE >= 1 && BENCH_CHANGE <= 100)) || die "BENCH_CHANGE must be 1..100"
  if [[ $BENCH_PERF == 1 ]]; then
    command -v perf >/dev/null || die "BENCH_PERF=1 needs perf (Debian: linux-perf)"
  fi
}

# Peak use: the tree, three repositories (a little under the tree each: only text compresses)
# and one restore, with room to spare.
check_space() {
  local need_kib=$((BENCH_MIB * 1024 * 5))
  local free_kib
  free_kib="$(df --output=avail -k "$BENCH_DIR" | tail -n 1 | tr -d ' ')"
  ((free_kib >= need_kib)) ||
    die "$BENCH_DIR: $((free_kib / 1024)) MiB free, BENCH_MIB=$BENCH_MIB needs $((need_kib / 1024))"
}

cleanup() {
  local status=$?
  rm -rf "$SCRATCH"
  exit "$status"
}

# The commit the binaries are built from, read at build time (the checkout may move on during
# a long run).
BUILT_FROM="unknown"

build() {
  BUILT_FROM="$(built_from "$REPO")"
  log "building lares and lares_make_dataset (RelWithDebInfo) in $BUILD_DIR from $BUILT_FROM"
  cmake -S "$REPO" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLARES_BENCH=ON \
    -DLARES_TESTS=OFF >"$LOG_DIR/cmake.log" 2>&1 || die "cmake failed; see $LOG_DIR/cmake.log"
  nice ninja -C "$BUILD_DIR" -j2 lares lares_make_dataset >"$LOG_DIR/ninja.log" 2>&1 ||
    die "build failed; see $LOG_DIR/ninja.log"
}

# tree_bytes: bytes of file content in the tree now.
tree_bytes() { find "$TREE" -type f -printf '%s\n' | awk '{s += $1} END {printf "%.0f", s}'; }

# ---- running a step ------------------------------------------------------------------

# timed TOOL STEP DIR COMMAND...: with caches dropped, runs COMMAND in DIR under GNU time, then
# sync; records TOOL_STEP_wall (seconds, the command and the sync), TOOL_STEP_cpu (user + system
# seconds) and TOOL_STEP_rss (MiB).
# The command's output goes to LOG_DIR; a failure stops the run and shows its end.
timed() {
  local tool="$1" step="$2" dir="$3"
  shift 3
  local output="$LOG_DIR/$tool-$step-rep$REP.log" time_file="$SCRATCH/time.out"
  drop_caches
  local start end
  start="$(now)"
  if ! (cd "$dir" && /usr/bin/time -f '%e %M %U %S' -o "$time_file" "$@") >"$output" 2>&1; then
    tail -n 20 "$output" >&2
    die "$tool $step failed (rep $REP): $*; output in $output"
  fi
  sync
  end="$(now)"
  record "${tool}_${step}_wall" "$(awk -v s="$start" -v e="$end" 'BEGIN {printf "%.3f", e - s}')"
  record "${tool}_${step}_rss" "$(tail -n 1 "$time_file" | awk '{printf "%.1f", $2 / 1024}')"
  record "${tool}_${step}_cpu" "$(tail -n 1 "$time_file" | awk '{printf "%.2f", $3 + $4}')"
}

repo_of() { echo "$SCRATCH/repo-$1"; }

init_repo() {
  local repo
  repo="$(repo_of "$1")"
  case "$1" in
    restic) restic init --repo "$repo" --cache-dir "$SCRATCH/restic-cache" ;;
    borg) borg init --encryption repokey-blake2 "$repo" ;;
    lares) "$LARES" repo init "$repo" --passphrase-file "$PASSPHRASE_FILE" ;;
  esac >>"$LOG_DIR/init-rep$REP.log" 2>&1 || die "$1: creating $repo failed; see $LOG_DIR"
}

# backup TOOL STEP: backs the tree up (restic and borg from inside it, so their snapshots hold
# relative paths and restore into the target itself).
backup() {
  local tool="$1" step="$2" repo
  repo="$(repo_of "$tool")"
  case "$tool" in
    restic) timed restic "$step" "$TREE" restic backup --repo "$repo" \
      --cache-dir "$SCRATCH/restic-cache" . ;;
    borg) timed borg "$step" "$TREE" borg create "$repo::$step" . ;;
    lares) timed lares "$step" "$SCRATCH" "$LARES" backup "$TREE" "$repo/bench" \
      --passphrase-file "$PASSPHRASE_FILE" --json ;;
  esac
  record "${tool}_${step}_repo_bytes" "$(du -sb "$repo" | cut -f 1)"
}

# restore TOOL: the newest snapshot into a new folder, which must equal the tree.
restore() {
  local tool="$1" repo target="$SCRATCH/restore-$1"
  repo="$(repo_of "$tool")"
  rm -rf "$target"
  case "$tool" in
    restic) timed restic restore "$SCRATCH" restic restore latest --repo "$repo" \
      --cache-dir "$SCRATCH/restic-cache" --target "$target" ;;
    borg)
      mkdir "$target"
      timed borg restore "$target" borg extract "$repo::incremental"
      ;;
    lares) timed lares restore "$SCRATCH" "$LARES" restore "$repo/bench" "$target" \
      --passphrase-file "$PASSPHRASE_FILE" --json ;;
  esac
  local differences="$LOG_DIR/$tool-restore-rep$REP.diff"
  if ! diff -r --no-dereference "$TREE" "$target" >"$differences" 2>&1; then
    head -n 20 "$differences" >&2
    die "$tool restored something other than what it backed up (rep $REP); see $differences"
  fi
  rm -f "$differences"
  rm -rf "$target"
}

check() {
  local tool="$1" repo
  repo="$(repo_of "$tool")"
  case "$tool" in
    restic) timed restic check "$SCRATCH" restic check --read-data --repo "$repo" \
      --cache-dir "$SCRATCH/restic-cache" ;;
    borg) timed borg check "$SCRATCH" borg check --verify-data "$repo" ;;
    lares) timed lares check "$SCRATCH" "$LARES" repo check "$repo" --read-data \
      --passphrase-file "$PASSPHRASE_FILE" --json ;;
  esac
}

# ---- one repetition ------------------------------------------------------------------

make_tree() {
  log "rep $REP/$BENCH_REPS: generating $BENCH_MIB MiB in $TREE"
  rm -rf "$SCRATCH"
  mkdir -p "$SCRATCH"
  echo "$RESTIC_PASSWORD" >"$PASSPHRASE_FILE"
  "$MAKE_DATASET" "$TREE" "$BENCH_MIB" "$BENCH_SEED" >>"$LOG_DIR/dataset.jsonl" ||
    die "lares_make_dataset failed"
  sync
  record tree_files "$(find "$TREE" -type f | wc -l)"
  record tree_initial_bytes "$(tree_bytes)"
}

measure_copy() {
  log "rep $REP/$BENCH_REPS: cp -a"
  timed cp initial "$SCRATCH" cp -a "$TREE" "$SCRATCH/copy"
  rm -rf "$SCRATCH/copy"
}

# The tools in this repetition's order: rotated by one each time.
tools_in_order() {
  local i
  for ((i = 0; i < ${#TOOLS[@]}; ++i)); do
    echo "${TOOLS[(i + REP - 1) % ${#TOOLS[@]}]}"
  done
}

run_repetition() {
  make_tree
  measure_copy
  local order tool
  mapfile -t order < <(tools_in_order)
  for tool in "${order[@]}"; do init_repo "$tool"; done
  for tool in "${order[@]}"; do
    log "rep $REP/$BENCH_REPS: $tool initial backup"
    backup "$tool" initial
  done
  # Issue 3's dedup point: Lares again over the unchanged tree (new bytes and time).
  log "rep $REP/$BENCH_REPS: lares backup of the unchanged tree"
  backup lares unchanged
  record lares_unchanged_new_bytes "$(grep -o '"new_bytes_stored": *[0-9]*' \
    "$LOG_DIR/lares-unchanged-rep$REP.log" | grep -o '[0-9]*$')"
  "$MAKE_DATASET" --mutate "$TREE" "$BENCH_CHANGE" "$BENCH_SEED" >>"$LOG_DIR/dataset.jsonl" ||
    die "lares_make_dataset --mutate failed"
  sync
  record tree_final_bytes "$(tree_bytes)"
  for tool in "${order[@]}"; do
    log "rep $REP/$BENCH_REPS: $tool incremental backup"
    backup "$tool" incremental
  done
  for tool in "${order[@]}"; do
    log "rep $REP/$BENCH_REPS: $tool restore and diff"
    restore "$tool"
  done
  for tool in "${order[@]}"; do
    log "rep $REP/$BENCH_REPS: $tool check with data"
    check "$tool"
  done
  # What every Lares command pays before it starts: reading the key file and Argon2id.
  timed lares unlock "$SCRATCH" "$LARES" snapshot list "$(repo_of lares)/bench" \
    --passphrase-file "$PASSPHRASE_FILE" --json
  for tool in "${order[@]}"; do rm -rf "$(repo_of "$tool")"; done
  rm -rf "$SCRATCH/restic-cache" "$BORG_BASE_DIR"
}

# One more first backup of the (changed) tree into a new Lares repository, under perf with
# DWARF call graphs (so time inside libsodium, zstd and the kernel is charged to the Lares
# function that called it). perf-STAMP.txt gets self time by library and by function, then
# inclusive time of the Lares, zstd and libsodium functions.
profile_lares() {
  local repo="$SCRATCH/repo-lares-perf" data="$SCRATCH/perf.data"
  "$LARES" repo init "$repo" --passphrase-file "$PASSPHRASE_FILE" >/dev/null
  log "perf record of a lares first backup"
  drop_caches
  perf record -F 149 --call-graph dwarf,8192 -o "$data" -- "$LARES" backup "$TREE" \
    "$repo/bench" --passphrase-file "$PASSPHRASE_FILE" --json >"$LOG_DIR/lares-perf.log" 2>&1 ||
    die "lares backup under perf failed; see $LOG_DIR/lares-perf.log"
  local report=(perf report -i "$data" -g none --stdio)
  {
    echo "self time by library (>= 1 %):"
    "${report[@]}" --no-children --sort dso --percent-limit 1 | grep '%' | grep -v '^#'
    echo "self time by function (>= 0.7 %):"
    "${report[@]}" --no-children --sort dso,symbol --percent-limit 0.7 | grep '%' | grep -v '^#'
    echo "inclusive time (children, self):"
    "${report[@]}" --children --sort symbol --percent-limit 2 | grep '%' | grep -v '^#' |
      grep -E 'lares::|ZSTD_|crypto_' | grep -v '(inlined)'
  } 2>/dev/null | sed -E 's/[[:space:]-]+$//' | cut -c 1-160 >"$BENCH_DIR/perf-$STAMP.txt" || true
}

# ---- report ------------------------------------------------------------------------

median_of_input() {
  sort -g | awk '{v[NR] = $1}
    END {
      if (NR == 0) exit 1
      print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
    }'
}

values() { awk -v f="$1" '$1 == f {print $2}' "$RESULTS"; }

median() { values "$1" | median_of_input; }

samples() { awk -v f="$1" '$1 == f {printf "%s%.2f", sep, $2; sep = ", "}' "$RESULTS"; }

# ratio TOOL PEER STEP: PEER's wall time over TOOL's (TOOL's throughput in units of PEER's).
ratio() {
  awk -v o="$(median "${1}_${3}_wall")" -v p="$(median "${2}_${3}_wall")" \
    'BEGIN {printf "%.2f", p / o}'
}

# row TOOL STEP BYTES_FIGURE: one line of the main table.
row() {
  local tool="$1" step="$2" vs_restic="—" vs_borg="—"
  [[ $tool == restic || $tool == cp ]] || vs_restic="$(ratio "$tool" restic "$step")×"
  [[ $tool == borg || $tool == cp ]] || vs_borg="$(ratio "$tool" borg "$step")×"
  awk -v t="$tool" -v s="$step" -v w="$(median "${tool}_${step}_wall")" \
    -v m="$(median "${tool}_${step}_rss")" -v b="$(median "$3")" \
    -v c="$(median "${tool}_${step}_cpu")" -v r="$vs_restic" -v g="$vs_borg" \
    'BEGIN {printf "| %s | %s | %.1f | %.0f | %.0f | %s | %s | %.1f |\n", t, s, w, b / w / 1e6, m,
            r, g, c}'
}

# target LABEL VALUE GOAL [le]: a line of the targets table; met when VALUE >= GOAL (<= with le).
target() {
  awk -v l="$1" -v v="$2" -v g="$3" -v le="${4:-}" 'BEGIN {
    met = le == "" ? v >= g : v <= g
    printf "| %s | %s %.2f | %.2f | %s |\n", l, le == "" ? "≥" : "≤", g, v, met ? "met" : "missed"
  }'
}

report_targets() {
  local step peer
  echo "| target (Lares) | goal | measured | verdict |"
  echo "|---|---:|---:|---|"
  target "initial backup, × restic throughput" "$(ratio lares restic initial)" 3
  target "initial backup, × borg throughput" "$(ratio lares borg initial)" 2
  for step in incremental restore check; do
    for peer in restic borg; do
      target "$step, × $peer throughput" "$(ratio lares "$peer" "$step")" 2
    done
  done
  target "unchanged re-backup time / initial" \
    "$(awk -v u="$(median lares_unchanged_wall)" -v i="$(median lares_initial_wall)" \
      'BEGIN {print u / i}')" 0.1 le
  target "unchanged re-backup, new MB stored" \
    "$(median lares_unchanged_new_bytes | awk '{print $1 / 1e6}')" 1 le
  for step in initial restore; do
    target "$step time / cp -a time" \
      "$(awk -v o="$(median "lares_${step}_wall")" -v c="$(median cp_initial_wall)" \
        'BEGIN {print o / c}')" 1.5 le
  done
  for step in "${STEPS[@]}"; do
    target "$step peak RSS / restic's" \
      "$(awk -v o="$(median "lares_${step}_rss")" -v r="$(median "restic_${step}_rss")" \
        'BEGIN {print o / r}')" 1 le
  done
}

report() {
  local step tool disk
  echo "## Results ($STAMP)"
  echo
  disk="$(df -T "$BENCH_DIR" | awk 'NR == 2 {print $1 " (" $2 ")"}')"
  echo "BENCH_MIB=$BENCH_MIB BENCH_REPS=$BENCH_REPS BENCH_SEED=$BENCH_SEED" \
    "BENCH_CHANGE=$BENCH_CHANGE; medians of $BENCH_REPS; MB/s = 10^6 bytes/s of the tree."
  echo "Tree: $(median tree_files | awk '{printf "%d", $1}') files," \
    "$(median tree_initial_bytes | awk '{printf "%.0f", $1 / 1048576}') MiB" \
    "($(median tree_final_bytes | awk '{printf "%.0f", $1 / 1048576}') MiB after the change)."
  echo "Disk: $disk, $(nproc) cores, kernel $(uname -r). Built from: $BUILT_FROM."
  echo "Peers: $(restic version | cut -d ' ' -f 1-2), $(borg --version)."
  echo
  echo "| tool | step | wall s | MB/s | peak RSS MiB | × restic | × borg | CPU s |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|"
  row cp initial tree_initial_bytes
  for step in "${STEPS[@]}"; do
    for tool in "${TOOLS[@]}"; do
      row "$tool" "$step" "$([[ $step == initial ]] && echo tree_initial_bytes ||
        echo tree_final_bytes)"
    done
  done
  echo
  echo "CPU s = user + system. Lares unlock alone (\`lares snapshot list\`: key file and" \
    "Argon2id, which every lares command pays first): $(median lares_unlock_wall) s wall," \
    "$(median lares_unlock_rss | awk '{printf "%.0f", $1}') MiB peak RSS."
  echo
  echo "Repository size, MiB (after the first backup / after the second):" \
    "$(for tool in "${TOOLS[@]}"; do
      printf '%s %.0f / %.0f\n' "$tool" "$(median "${tool}_initial_repo_bytes" |
        awk '{print $1 / 1048576}')" "$(median "${tool}_incremental_repo_bytes" |
          awk '{print $1 / 1048576}')"
    done | paste -s -d ';' | sed 's/;/; /g')."
  echo
  report_targets
  echo
  echo "Samples (wall s, in run order):"
  echo
  for step in "${STEPS[@]}"; do
    for tool in "${TOOLS[@]}"; do echo "- $tool $step: $(samples "${tool}_${step}_wall")"; done
  done
  echo "- cp -a: $(samples cp_initial_wall)"
  if [[ -s "$BENCH_DIR/perf-$STAMP.txt" ]]; then
    echo
    echo "Lares first backup under perf (\`perf record -F 149 --call-graph dwarf\`):"
    echo
    echo '```'
    cat "$BENCH_DIR/perf-$STAMP.txt"
    echo '```'
  fi
}

main() {
  install_dependencies
  check_environment
  mkdir -p "$BENCH_DIR" "$LOG_DIR"
  check_space
  trap cleanup EXIT
  trap 'exit 130' INT TERM
  : >"$RESULTS"
  build
  local started
  started="$(now)"
  for ((REP = 1; REP <= BENCH_REPS; ++REP)); do run_repetition; done
  [[ $BENCH_PERF != 1 ]] || profile_lares
  log "measured in $(awk -v s="$started" -v e="$(now)" 'BEGIN {printf "%.0f", e - s}') s"
  report | tee "$REPORT"
  log "report: $REPORT; samples: $RESULTS; command output: $LOG_DIR"
}

main "$@"
