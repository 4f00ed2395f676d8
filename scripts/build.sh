#!/usr/bin/env bash
# Configures and builds Lares.
#
#   scripts/build.sh PRESET [DIR] [CMAKE_ARGS...]
#       PRESET is a configure preset of CMakePresets.json: release, debug-asan,
#       tsan or fuzz. Builds into DIR (default build/PRESET); extra -D options are
#       passed to CMake after the preset's.
#
# Builds with LARES_JOBS parallel jobs (default: every core). Installs
# nothing: scripts/install-deps.sh does that.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
  sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

[[ $# -ge 1 ]] || usage
preset=$1
shift
case "$preset" in
  release | debug-asan | tsan | fuzz) ;;
  *) echo "build.sh: unknown preset '$preset'" >&2; usage ;;
esac
dir=build/$preset
if [[ $# -ge 1 && "$1" != -* ]]; then
  dir=$1
  shift
fi
jobs=${LARES_JOBS:-$(nproc)}

echo "build.sh: preset $preset into $dir with $jobs jobs"
cmake --preset "$preset" -B "$dir" "$@"
cmake --build "$dir" -j "$jobs"
