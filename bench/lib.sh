# Helpers shared by the bench/run_*.sh scripts; sourced, not run.
#
# The sourcing script sets RESULTS (the samples file) before calling record,
# and may set RECORD_HINT (e.g. "; see $RAW_LOG") to end record's error.

# die MESSAGE: prints "<script>: MESSAGE" and exits 1.
die() {
  echo "$(basename "$0"): $*" >&2
  exit 1
}

log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

# Empties the page cache, so the next step reads from the disk.
drop_caches() {
  sync
  echo 3 >/proc/sys/vm/drop_caches
}

now() { date +%s.%N; }

# record FIGURE VALUE: one sample of a figure (a number, or the run stops).
record() {
  [[ $2 =~ ^[0-9.e+-]+$ ]] || die "no figure for $1 (got '$2')${RECORD_HINT:-}"
  echo "$1 $2" >>"$RESULTS"
}

# built_from REPO: the commit the binaries are built from, and whether src/ has changes.
built_from() {
  local commit
  commit="$(git -C "$1" rev-parse --short HEAD 2>/dev/null || echo unknown)"
  [[ -z "$(git -C "$1" status --porcelain -- src 2>/dev/null)" ]] ||
    commit+=", with uncommitted changes in src/"
  echo "$commit"
}

# install_packages PACKAGE...: apt-get installs those not installed yet (root only).
install_packages() {
  local missing=() package
  for package in "$@"; do
    [[ "$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)" == \
      "install ok installed" ]] || missing+=("$package")
  done
  if ((${#missing[@]} > 0)); then
    log "installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null ||
      die "apt-get install ${missing[*]} failed (try 'apt-get update' first)"
  fi
}
