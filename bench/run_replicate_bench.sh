#!/usr/bin/env bash
# Replication beside `restic copy` (issue 5), in one run on one disk.
#
#   sudo bench/run_replicate_bench.sh
#   sudo BENCH_MIB=300 BENCH_REPS=1 bench/run_replicate_bench.sh    # a quick run
#
# Environment (all optional):
#   BENCH_DIR     work folder; its filesystem is the disk under test
#                 (default <repo>/var/bench-replicate)
#   BENCH_MIB     size of the generated data set, MiB (default 1024)
#   BENCH_REPS    repetitions; every figure is the median (default 3)
#   BENCH_SEED    seed of the data set and of its change (default 1)
#   BENCH_CHANGE  percent of files changed before the incremental step (default 1)
#   BENCH_TARGETS which targets: "local", "sftp" or "local sftp" (default "local sftp")
#
# What runs. lares_make_dataset writes the data set once (bench/make_dataset.cc); Lares and
# restic each back it up into a source repository of their own in BENCH_DIR (untimed). Then,
# BENCH_REPS times, for each target kind, both tools in turn (the order rotates with the
# repetition):
#   initial      copy every snapshot to an empty target: `lares replicate <src>/bench <target>`
#                against `restic copy --from-repo <src>` into a repository made with
#                `restic init --copy-chunker-params` (so restic's copy deduplicates too);
#   incremental  after lares_make_dataset --mutate changed BENCH_CHANGE % of the files and both
#                tools backed the tree up again (untimed), copy the new snapshot.
# Targets: local = a folder on the same disk; sftp = OpenSSH's sshd on 127.0.0.1 (a throw-away
# host key, key login as the current user), the same folder reached through it (restic's own
# sftp backend, Lares's SFTP target).
# Every timed step starts with the page cache dropped and includes a `sync` after the command.
# Figures: wall seconds, MB/s of the tree's bytes (initial) or of the bytes each tool's source
# repository grew by in the incremental backup (incremental), and the bytes the target grew by.
# Each tool uses its defaults (restic 0.14: AES-256-CTR + Poly1305, zstd "auto"; Lares:
# XChaCha20-Poly1305, zstd). Restic's copy decrypts and re-encrypts every blob (the target has
# its own keys); Lares's replica shares the source's keys, so it authenticates each blob and
# sends it sealed.
#
# Prints a Markdown report (medians, Lares's speed against restic's: their time / Lares's time)
# and keeps it in BENCH_DIR with every sample. It never asserts a figure; it fails on a tool
# error or when a restore from a target differs from the tree. Scratch data and the sshd are
# removed on exit, failure included.
set -euo pipefail
shopt -s inherit_errexit

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly REPO
# shellcheck source=bench/lib.sh
source "$REPO/bench/lib.sh"
BENCH_DIR="$(realpath -m "${BENCH_DIR:-$REPO/var/bench-replicate}")"
readonly BENCH_DIR
readonly BENCH_MIB="${BENCH_MIB:-1024}"
readonly BENCH_REPS="${BENCH_REPS:-3}"
readonly BENCH_SEED="${BENCH_SEED:-1}"
readonly BENCH_CHANGE="${BENCH_CHANGE:-1}"
readonly BENCH_TARGETS="${BENCH_TARGETS:-local sftp}"
readonly BUILD_DIR="$REPO/build-bench"
readonly LARES="$BUILD_DIR/src/lares"
readonly MAKE_DATASET="$BUILD_DIR/bench/lares_make_dataset"
readonly SCRATCH="$BENCH_DIR/scratch"
readonly TREE="$SCRATCH/tree"
readonly PASSPHRASE_FILE="$SCRATCH/passphrase"
STAMP="$(date +%Y%m%d-%H%M%S)"
readonly STAMP
readonly RESULTS="$BENCH_DIR/replicate-results-$STAMP.tsv"
readonly LOG_DIR="$BENCH_DIR/replicate-logs-$STAMP"
readonly REPORT="$BENCH_DIR/replicate-report-$STAMP.md"
readonly TOOLS=(restic lares)

export RESTIC_PASSWORD="lares-bench" RESTIC_FROM_PASSWORD="lares-bench"
export LARES_HOME="$SCRATCH/lares-home"
SSHD_PID=""
SSH_PORT=""

install_dependencies() {
  [[ $EUID -eq 0 ]] || die "needs root (drop_caches, sshd, apt-get): run it with sudo"
  "$REPO/scripts/install-deps.sh" >/dev/null
  install_packages restic openssh-server openssh-client time jq diffutils
}

check_environment() {
  [[ $BENCH_MIB =~ ^[0-9]+$ && $BENCH_REPS =~ ^[0-9]+$ && $BENCH_SEED =~ ^[0-9]+$ &&
    $BENCH_CHANGE =~ ^[0-9]+$ ]] ||
    die "BENCH_MIB, BENCH_REPS, BENCH_SEED and BENCH_CHANGE must be whole numbers"
  ((BENCH_MIB >= 16)) || die "BENCH_MIB must be at least 16"
  ((BENCH_REPS >= 1)) || die "BENCH_REPS must be at least 1"
  local kind
  for kind in $BENCH_TARGETS; do
    [[ $kind == local || $kind == sftp ]] || die "BENCH_TARGETS holds '$kind' (local, sftp)"
  done
  local need_kib=$((BENCH_MIB * 1024 * 6)) free_kib
  free_kib="$(df --output=avail -k "$BENCH_DIR" | tail -n 1 | tr -d ' ')"
  ((free_kib >= need_kib)) ||
    die "$BENCH_DIR: $((free_kib / 1024)) MiB free, BENCH_MIB=$BENCH_MIB needs $((need_kib / 1024))"
}

cleanup() {
  local status=$?
  [[ -n $SSHD_PID ]] && kill "$SSHD_PID" 2>/dev/null || true
  rm -rf "$SCRATCH"
  exit "$status"
}

BUILT_FROM="unknown"

build() {
  BUILT_FROM="$(built_from "$REPO")"
  log "building lares and lares_make_dataset (Release) in $BUILD_DIR from $BUILT_FROM"
  cmake -S "$REPO" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DLARES_BENCH=ON \
    -DLARES_TESTS=OFF >"$LOG_DIR/cmake.log" 2>&1 || die "cmake failed; see $LOG_DIR/cmake.log"
  nice ninja -C "$BUILD_DIR" -j2 lares lares_make_dataset >"$LOG_DIR/ninja.log" 2>&1 ||
    die "build failed; see $LOG_DIR/ninja.log"
}

bytes_of() { du -sb "$1" | cut -f 1; }

# timed NAME COMMAND...: caches dropped, COMMAND run, then sync; records NAME_wall.
timed() {
  local name="$1"
  shift
  local output="$LOG_DIR/$name-rep$REP.log" start end
  drop_caches
  start="$(now)"
  if ! "$@" >"$output" 2>&1; then
    tail -n 20 "$output" >&2
    die "$name failed (rep $REP): $*; output in $output"
  fi
  sync
  end="$(now)"
  record "${name}_wall" "$(awk -v s="$start" -v e="$end" 'BEGIN {printf "%.3f", e - s}')"
}

# ---- sshd on loopback ----------------------------------------------------------------

start_sshd() {
  local dir="$SCRATCH/sshd"
  mkdir -p "$dir" /run/sshd
  ssh-keygen -q -t ed25519 -N '' -f "$dir/host_key"
  ssh-keygen -q -t ed25519 -N '' -f "$dir/client_key"
  cp "$dir/client_key.pub" "$dir/authorized_keys"
  SSH_PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
  cat >"$dir/sshd_config" <<EOF
ListenAddress 127.0.0.1
Port $SSH_PORT
HostKey $dir/host_key
AuthorizedKeysFile $dir/authorized_keys
PasswordAuthentication no
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
PidFile $dir/sshd.pid
Subsystem sftp internal-sftp
EOF
  /usr/sbin/sshd -D -e -f "$dir/sshd_config" 2>"$LOG_DIR/sshd.log" &
  SSHD_PID=$!
  local i
  for ((i = 0; i < 50; ++i)); do
    ssh-keyscan -p "$SSH_PORT" -t ed25519 127.0.0.1 >"$dir/known_hosts" 2>/dev/null && break
    sleep 0.1
  done
  [[ -s $dir/known_hosts ]] || die "sshd did not start; see $LOG_DIR/sshd.log"
  "$LARES" target add bench-sftp "sftp://$(id -un)@127.0.0.1:$SSH_PORT/$SCRATCH/target-lares" \
    --identity-file "$dir/client_key" --known-hosts "$dir/known_hosts" >/dev/null
}

# restic's options for a target kind, one per line (the sftp command for sftp).
restic_options() {
  [[ $1 == sftp ]] || return 0
  local dir="$SCRATCH/sshd"
  echo "-o"
  echo "sftp.command=ssh -p $SSH_PORT -i $dir/client_key -o UserKnownHostsFile=$dir/known_hosts -o StrictHostKeyChecking=yes $(id -un)@127.0.0.1 -s sftp"
}

# ---- the steps -----------------------------------------------------------------------

restic_target() {
  if [[ $1 == local ]]; then echo "$SCRATCH/target-restic"; else echo "sftp:$(id -un)@127.0.0.1:$SCRATCH/target-restic"; fi
}

lares_target() {
  if [[ $1 == local ]]; then echo "$SCRATCH/target-lares"; else echo "bench-sftp"; fi
}

replicate() {
  local tool="$1" kind="$2" step="$3" target_dir="$SCRATCH/target-$1" before options
  before="$( [[ -d $target_dir ]] && bytes_of "$target_dir" || echo 0)"
  case "$tool" in
    restic)
      mapfile -t options < <(restic_options "$kind")
      if [[ $step == initial ]]; then
        restic init --repo "$(restic_target "$kind")" "${options[@]}" \
          --from-repo "$SCRATCH/src-restic" --copy-chunker-params >>"$LOG_DIR/init.log" 2>&1 ||
          die "restic init of the target failed"
      fi
      timed "restic_${kind}_${step}" restic copy --repo "$(restic_target "$kind")" \
        "${options[@]}" --from-repo "$SCRATCH/src-restic" --no-cache
      ;;
    lares)
      timed "lares_${kind}_${step}" "$LARES" replicate "$SCRATCH/src-lares/bench" \
        "$(lares_target "$kind")" --passphrase-file "$PASSPHRASE_FILE" --json
      ;;
  esac
  record "${tool}_${kind}_${step}_target_bytes" "$(($(bytes_of "$target_dir") - before))"
}

# The target must restore the tree exactly.
check_restore() {
  local tool="$1" out="$SCRATCH/restore-$1"
  rm -rf "$out"
  case "$tool" in
    restic) restic restore latest --repo "$SCRATCH/target-restic" --target "$out" --no-cache \
      >>"$LOG_DIR/restore.log" 2>&1 ;;
    lares) "$LARES" restore --from "$SCRATCH/target-lares" bench "$out" \
      --passphrase-file "$PASSPHRASE_FILE" >>"$LOG_DIR/restore.log" 2>&1 ;;
  esac || die "$tool: restore from its target failed"
  diff -r --no-dereference "$TREE" "$out" >"$LOG_DIR/$tool-restore.diff" 2>&1 ||
    die "$tool: the target restores something other than the tree; see $LOG_DIR"
  rm -rf "$out"
}

prepare_sources() {
  rm -rf "$SCRATCH"
  mkdir -p "$SCRATCH" "$LARES_HOME"
  echo "$RESTIC_PASSWORD" >"$PASSPHRASE_FILE"
  log "generating $BENCH_MIB MiB in $TREE"
  "$MAKE_DATASET" "$TREE" "$BENCH_MIB" "$BENCH_SEED" >>"$LOG_DIR/dataset.jsonl" ||
    die "lares_make_dataset failed"
  record tree_bytes "$(find "$TREE" -type f -printf '%s\n' | awk '{s += $1} END {printf "%.0f", s}')"
  restic init --repo "$SCRATCH/src-restic" >>"$LOG_DIR/init.log" 2>&1 || die "restic init failed"
  "$LARES" repo init "$SCRATCH/src-lares" --passphrase-file "$PASSPHRASE_FILE" \
    >>"$LOG_DIR/init.log" 2>&1 || die "lares repo init failed"
  log "backing up with both tools (untimed)"
  (cd "$TREE" && restic backup --repo "$SCRATCH/src-restic" --no-cache . >>"$LOG_DIR/backup.log" 2>&1) ||
    die "restic backup failed"
  "$LARES" backup "$TREE" "$SCRATCH/src-lares/bench" --passphrase-file "$PASSPHRASE_FILE" \
    >>"$LOG_DIR/backup.log" 2>&1 || die "lares backup failed"
}

# The change, backed up by both (untimed), once; what each source grew by.
prepare_change() {
  local restic_before lares_before
  restic_before="$(bytes_of "$SCRATCH/src-restic")"
  lares_before="$(bytes_of "$SCRATCH/src-lares")"
  "$MAKE_DATASET" --mutate "$TREE" "$BENCH_CHANGE" "$BENCH_SEED" >>"$LOG_DIR/dataset.jsonl" ||
    die "lares_make_dataset --mutate failed"
  (cd "$TREE" && restic backup --repo "$SCRATCH/src-restic" --no-cache . >>"$LOG_DIR/backup.log" 2>&1) ||
    die "restic backup failed"
  "$LARES" backup "$TREE" "$SCRATCH/src-lares/bench" --passphrase-file "$PASSPHRASE_FILE" \
    >>"$LOG_DIR/backup.log" 2>&1 || die "lares backup failed"
  record restic_change_bytes "$(($(bytes_of "$SCRATCH/src-restic") - restic_before))"
  record lares_change_bytes "$(($(bytes_of "$SCRATCH/src-lares") - lares_before))"
}

# Both tools, in an order that alternates with the repetition.
tools_in_order() {
  if ((REP % 2 == 1)); then echo restic lares; else echo lares restic; fi
}

main() {
  install_dependencies
  mkdir -p "$BENCH_DIR" "$LOG_DIR"
  check_environment
  trap cleanup EXIT
  build
  prepare_sources
  [[ $BENCH_TARGETS == *sftp* ]] && start_sshd
  local kind tool REP
  for ((REP = 1; REP <= BENCH_REPS; ++REP)); do
    for kind in $BENCH_TARGETS; do
      rm -rf "$SCRATCH/target-restic" "$SCRATCH/target-lares"
      for tool in $(tools_in_order); do
        log "rep $REP/$BENCH_REPS: $tool initial replication to $kind"
        replicate "$tool" "$kind" initial
      done
    done
  done
  # The targets as the initial step left them (the first snapshot only) seed every
  # incremental step.
  rm -rf "$SCRATCH/seed-restic" "$SCRATCH/seed-lares"
  cp -a "$SCRATCH/target-restic" "$SCRATCH/seed-restic"
  cp -a "$SCRATCH/target-lares" "$SCRATCH/seed-lares"
  prepare_change
  for ((REP = 1; REP <= BENCH_REPS; ++REP)); do
    for kind in $BENCH_TARGETS; do
      rm -rf "$SCRATCH/target-restic" "$SCRATCH/target-lares"
      cp -a "$SCRATCH/seed-restic" "$SCRATCH/target-restic"
      cp -a "$SCRATCH/seed-lares" "$SCRATCH/target-lares"
      for tool in $(tools_in_order); do
        log "rep $REP/$BENCH_REPS: $tool incremental replication to $kind"
        replicate "$tool" "$kind" incremental
      done
      check_restore restic
      check_restore lares
    done
  done
  report
}

median() {
  grep "^$1 " "$RESULTS" | cut -d' ' -f2 | sort -g |
    awk '{v[NR] = $1} END {if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2}'
}

report() {
  local tree_bytes kind step
  tree_bytes="$(median tree_bytes)"
  {
    echo "Run of $(date -u +%Y-%m-%dT%H:%MZ), built from $BUILT_FROM; BENCH_MIB=$BENCH_MIB" \
      "BENCH_REPS=$BENCH_REPS BENCH_CHANGE=$BENCH_CHANGE; medians of $BENCH_REPS."
    echo
    echo "| target | step | Lares s | restic s | Lares MB/s | restic MB/s | Lares / restic speed | Lares bytes sent | restic bytes sent |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|---:|"
    for kind in $BENCH_TARGETS; do
      for step in initial incremental; do
        local lw rw lb rb basis_l basis_r
        lw="$(median "lares_${kind}_${step}_wall")"
        rw="$(median "restic_${kind}_${step}_wall")"
        lb="$(median "lares_${kind}_${step}_target_bytes")"
        rb="$(median "restic_${kind}_${step}_target_bytes")"
        if [[ $step == initial ]]; then
          basis_l="$tree_bytes" basis_r="$tree_bytes"
        else
          basis_l="$(median lares_change_bytes)" basis_r="$(median restic_change_bytes)"
        fi
        awk -v k="$kind" -v s="$step" -v lw="$lw" -v rw="$rw" -v lb="$lb" -v rb="$rb" \
          -v bl="$basis_l" -v br="$basis_r" 'BEGIN {
            printf "| %s | %s | %.2f | %.2f | %.1f | %.1f | %.2f× | %d | %d |\n",
              k, s, lw, rw, bl / lw / 1e6, br / rw / 1e6, rw / lw, lb, rb }'
      done
    done
    echo
    local first_kind="${BENCH_TARGETS%% *}"
    echo "Incremental: the change the backups stored — Lares $(median lares_change_bytes) bytes," \
      "restic $(median restic_change_bytes) bytes; what replication to $first_kind sent for it:" \
      "Lares $(awk -v a="$(median "lares_${first_kind}_incremental_target_bytes")" \
        -v b="$(median lares_change_bytes)" 'BEGIN {printf "%.2f×", a / b}')," \
      "restic $(awk -v a="$(median "restic_${first_kind}_incremental_target_bytes")" \
        -v b="$(median restic_change_bytes)" 'BEGIN {printf "%.2f×", a / b}')."
  } | tee "$REPORT"
  log "report: $REPORT; samples: $RESULTS"
}

main "$@"
