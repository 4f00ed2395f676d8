#!/usr/bin/env bash
# README command 2: installs the dependencies, then builds and runs the whole
# test suite four ways, stopping at the first failure (non-zero exit):
#   1. release (RelWithDebInfo, warnings are errors)  build/ci-release: ctest
#   2. Debug with AddressSanitizer + UBSan            build/ci-asan: ctest
#   3. ThreadSanitizer, the multi-threaded tests      build/ci-tsan: ctest -R
#   4. libFuzzer targets built with clang             build/ci-fuzz: every
#      fuzz/corpus/<name>/ seed through <name>_fuzz, then a short fuzzing run
# .ci/run calls this with no arguments. To run only some of the steps, name
# them: scripts/test.sh [release] [asan] [tsan] [fuzz]. Settings (environment):
#   LARES_JOBS          build jobs (default: every core)
#   LARES_TEST_JOBS     tests run at once by ctest (default 2)
#   LARES_FUZZ_SECONDS  fuzzing time per target (default 20)
#   LARES_BUILD_ROOT    where the build folders go (default build)
set -euo pipefail
cd "$(dirname "$0")/.."

root=${LARES_BUILD_ROOT:-build}
release=$root/ci-release
asan=$root/ci-asan
tsan=$root/ci-tsan
fuzz=$root/ci-fuzz
test_jobs=${LARES_TEST_JOBS:-2}
fuzz_seconds=${LARES_FUZZ_SECONDS:-20}

step() { printf '\n==== %s ====\n' "$*"; }

run_ctest() {
  ctest --test-dir "$1" --output-on-failure --no-tests=error -j "$test_jobs"
}

release_step() {
  step "release build, warnings are errors"
  scripts/build.sh release "$release"
  step "release tests"
  run_ctest "$release"
}

asan_step() {
  step "AddressSanitizer + UBSan build"
  scripts/build.sh debug-asan "$asan"
  step "AddressSanitizer + UBSan tests"
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:check_initialization_order=1:strict_init_order=1}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
  run_ctest "$asan"
}

# ThreadSanitizer over the tests that run the pool and stores from several
# threads (scrub windows, replace while writing, concurrent puts). The fork-
# based crash loops are left to the other builds: TSan does not follow fork.
tsan_step() {
  step "ThreadSanitizer build"
  scripts/build.sh tsan "$tsan"
  step "ThreadSanitizer tests"
  TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1} \
    ctest --test-dir "$tsan" --output-on-failure --no-tests=error -j "$test_jobs" \
    -R 'PoolTest|LifecycleTest|DirStore|ErasureCode|RepositoryTest|BackupTest|BackupOnPoolTest|GcTest|LiveFsTest|BTree|SftpStore|Replicate' -E 'Crash'
}

fuzz_step() {
  step "fuzz targets (clang, libFuzzer)"
  CC=clang CXX=clang++ scripts/build.sh fuzz "$fuzz"

  # Every corpus needs its target and every target its corpus.
  for target in "$fuzz"/fuzz/*_fuzz; do
    name=$(basename "$target" _fuzz)
    if [[ ! -d fuzz/corpus/$name ]]; then
      echo "test.sh: fuzz target $target has no seed corpus fuzz/corpus/$name/" >&2
      exit 1
    fi
  done
  for corpus in fuzz/corpus/*/; do
    name=$(basename "$corpus")
    target=$fuzz/fuzz/${name}_fuzz
    if [[ ! -x $target ]]; then
      echo "test.sh: corpus $corpus has no fuzz target ${name}_fuzz" >&2
      exit 1
    fi
    step "fuzz $name: every seed"
    "$target" "$corpus"*
    step "fuzz $name: ${fuzz_seconds} s"
    work=$fuzz/corpus/$name          # new inputs go here, never into the repo
    artifacts=$fuzz/artifacts/$name  # a crashing input lands here
    rm -rf "$work"
    mkdir -p "$work" "$artifacts"
    if ! "$target" -max_total_time="$fuzz_seconds" -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 -artifact_prefix="$artifacts/" "$work" "$corpus"; then
      echo "test.sh: ${name}_fuzz failed; the input is in $artifacts/;" \
        "replay it with: $target $artifacts/<file>" >&2
      exit 1
    fi
  done
}

steps=("$@")
[[ ${#steps[@]} -gt 0 ]] || steps=(release asan tsan fuzz)
for step_name in "${steps[@]}"; do
  case "$step_name" in
    release | asan | tsan | fuzz) ;;
    *) echo "test.sh: unknown step '$step_name' (release, asan, tsan, fuzz)" >&2; exit 2 ;;
  esac
done

step "dependencies"
scripts/install-deps.sh
for step_name in "${steps[@]}"; do
  "${step_name}_step"
done

step "passed: ${steps[*]}"
