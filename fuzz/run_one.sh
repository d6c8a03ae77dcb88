#!/bin/bash
# Runs one libFuzzer target: replays its seed corpus, then fuzzes for FUZZ_SECONDS (default 10;
# 0 = replay only). The seed corpus is read-only: new inputs go to a temporary folder that is
# removed on exit. Crash, leak, timeout and OOM reproducers go to ARTIFACT_DIR/<target>-*.
# Exit status: libFuzzer's (0 when nothing was found). Used by meson test --suite fuzz and run.sh.
#
#   run_one.sh TARGET_EXE SEED_CORPUS_DIR DICT_FILE ARTIFACT_DIR [extra libFuzzer flags...]
set -euo pipefail
exe=$1 seeds=$2 dict=$3 artifacts=$4
shift 4
seconds=${FUZZ_SECONDS:-10}
name=$(basename "$exe")

work=$(mktemp -d "${TMPDIR:-/tmp}/fuzz-$name.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$artifacts"

# -error_exitcode / -timeout_exitcode: libFuzzer's 77 is meson's "skipped".
flags=(-artifact_prefix="$artifacts/$name-" -error_exitcode=1 -timeout_exitcode=1 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
       -max_len=8192)
[[ -f $dict ]] && flags+=(-dict="$dict")
if ((seconds == 0)); then
    flags+=(-runs=0)
else
    flags+=(-max_total_time="$seconds")
fi

# UB aborts (the build uses -fno-sanitize-recover); print where.
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
# New inputs go to $work (the first folder); the seeds are only read.
rc=0
"$exe" "${flags[@]}" "$@" "$work" "$seeds" || rc=$?
exit "$rc"
