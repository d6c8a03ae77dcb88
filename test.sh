#!/usr/bin/env bash
# Installs what is missing, builds, and runs the tests in parts:
#   main  every meson suite of the normal build (build/) but "image" (minutes and network:
#         tests/appliance/image_test.sh), with the arguments given to test.sh;
#   asan  the unit, rest and kmip suites under ASan + UBSan (build-asan/, -Dsanitize=true,
#         docs/sanitizers.md), building only the targets those suites need;
#   fuzz  the libFuzzer targets (build-fuzz/, clang 14, -Dfuzzing=true, docs/fuzzing.md): a
#         replay of each seed corpus and a short fuzz run.
# Each part prints its build and test time. The last line counts the test cases of all parts:
# "tests: N passed, N failed[, N skipped] (main M, asan A, fuzz F)"; the exit status is non-zero when any
# part failed (a build, a test, a sanitizer report). KMS_TEST_PARTS="main" runs only the parts
# named (default: all); KMS_JOBS sets ninja's parallelism (default: the number of cores).
# Adding a part is one run_part line at the end, e.g. for a clang build with its own suite:
#   CC=clang-14 CXX=clang++-14 run_part fuzz build-fuzz "-Dfuzzing=true -Dtests=false" fuzz
set -uo pipefail
cd "$(dirname "$0")"
source scripts/deps.sh
kms_install_deps || exit 1
kms_console_tools || exit 1
wanted() { [[ -z ${KMS_TEST_PARTS:-} || " $KMS_TEST_PARTS " == *" $1 "* ]]; }
logs=()   # NAME=TESTLOG for scripts/count_tests.py
rc=0

# run_part NAME BUILD_DIR "MESON_SETUP_OPTIONS" SUITE... : sets up BUILD_DIR once, builds the
# targets of the suites (scripts/suite_targets.py), runs them and records the test log. An old
# test log and old sanitizer reports are removed first, so a failed build cannot pass for the
# results of an earlier run.
run_part() {
  local name=$1 dir=$2 opts=$3 t0=$SECONDS t1
  shift 3
  wanted "$name" || return 0
  echo "=== part $name: $dir, suites $*"
  rm -f "$dir"/meson-logs/testlog.json "$dir"/meson-logs/sanitizer.*
  logs+=("$name=$dir/meson-logs/testlog.json")
  if [ ! -f "$dir/build.ninja" ]; then
    # shellcheck disable=SC2086  # opts holds several options
    meson setup "$dir" --buildtype=debugoptimized $opts >/dev/null || { rc=1; return; }
  fi
  local targets
  targets=$(scripts/suite_targets.py "$dir" "$@") || { rc=1; return; }
  # shellcheck disable=SC2086  # one target per word
  ninja -C "$dir" -j "${KMS_JOBS:-$(nproc)}" $targets || { rc=1; return; }
  t1=$SECONDS
  local suites=()
  for s in "$@"; do suites+=(--suite "$s"); done
  meson test -C "$dir" --no-rebuild --print-errorlogs --num-processes 2 "${suites[@]}" || rc=1
  # Sanitizer reports go to files (a child process's would be lost otherwise): show them.
  for f in "$dir"/meson-logs/sanitizer.*; do
    [ -e "$f" ] && { echo "=== sanitizer report $f"; cat "$f"; rc=1; }
  done
  echo "=== part $name: build $((t1 - t0)) s, tests $((SECONDS - t1)) s"
}

if wanted main; then
  t0=$SECONDS
  rm -f build/meson-logs/testlog.json
  logs+=("main=build/meson-logs/testlog.json")
  if kms_build; then
    t1=$SECONDS
    meson test -C build --print-errorlogs --num-processes 2 --no-suite image "$@" || rc=1
    echo "=== part main: build $((t1 - t0)) s, tests $((SECONDS - t1)) s"
  else
    rc=1
  fi
fi
# -O1 -g1: half the compile time of -O2 -g (measured, docs/sanitizers.md); line tables are enough
# for the reports' stack traces.
# kmip: the KMIP listener and TTLV decoder parse network input; its suite adds ~10 s here.
run_part asan build-asan "-Dsanitize=true -Doptimization=1 -Dcpp_args=-g1" unit rest kmip
# The libFuzzer targets (docs/fuzzing.md) with clang 14: each replays its seed corpus, then
# fuzzes for FUZZ_SECONDS: 5 here (CI's 30 minutes; fuzz/run.sh is the long run by hand).
FUZZ_SECONDS=${FUZZ_SECONDS:-5} CC=clang-14 CXX=clang++-14 \
  run_part fuzz build-fuzz "-Dfuzzing=true -Dtests=false" fuzz

echo "=== total $SECONDS s"
python3 scripts/count_tests.py "${logs[@]}" || rc=1
exit $rc
