#!/bin/bash
# Runs every libFuzzer target of fuzz/ for SECONDS each (default 60) on a temporary copy of its
# seed corpus and prints a table: target, executions, execs/s, coverage (libFuzzer's cov and ft),
# corpus size at the end, crashes (crash, leak, timeout and OOM reproducers written).
#
#   fuzz/run.sh [SECONDS] [--merge] [--build DIR] [--only TARGET]
#
#   --merge      afterwards, merge what each run found into fuzz/corpus/<target> (libFuzzer
#                -merge=1 keeps only inputs that add coverage); without it the repo's corpus is
#                never changed
#   --build DIR  the clang build (default build-fuzz; set up with -Dfuzzing=true if missing)
#   --only T     one target
#
# Logs and reproducers: DIR/fuzz-run/<target>.log and DIR/fuzz-run/artifacts/. Exit status 1
# when any target found something. Uses the machine's ccache; needs clang-14.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=60 merge=0 build=build-fuzz only=""
while (($#)); do
    case $1 in
        --merge) merge=1 ;;
        --build) build=$2; shift ;;
        --only) only=$2; shift ;;
        -h|--help) sed -n 2,16p "$0"; exit 0 ;;
        *) seconds=$1 ;;
    esac
    shift
done

if [[ ! -f $build/build.ninja ]]; then
    CC=clang-14 CXX=clang++-14 meson setup "$build" --buildtype=debugoptimized \
        -Dfuzzing=true -Dtests=false >/dev/null
fi
ninja -C "$build" -j2 fuzz-targets >/dev/null

out=$build/fuzz-run
rm -rf "$out"
mkdir -p "$out/artifacts"
targets=$(cd fuzz/corpus && ls -d fuzz_* | sort)
[[ -n $only ]] && targets=$only

rows=() found=0
for t in $targets; do
    corpus=$(mktemp -d "${TMPDIR:-/tmp}/fuzz-corpus-$t.XXXXXX")
    cp fuzz/corpus/"$t"/* "$corpus"/
    rc=0
    # The copy is the first (written) folder: it grows, the repo's does not.
    "$build/fuzz/$t" -max_total_time="$seconds" -error_exitcode=1 -timeout_exitcode=1 -timeout=10 -rss_limit_mb=2048 -max_len=8192 \
        -print_final_stats=1 -artifact_prefix="$out/artifacts/$t-" \
        $([[ -f fuzz/dict/$t.dict ]] && echo "-dict=fuzz/dict/$t.dict") \
        "$corpus" >"$out/$t.log" 2>&1 || rc=$?
    last=$(grep -E '^#[0-9]+.*(DONE|pulse|NEW|REDUCE|INITED)' "$out/$t.log" | tail -1 || true)
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/$t.log")
    eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$out/$t.log")
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
    files=$(find "$corpus" -type f | wc -l)
    bytes=$(du -sk "$corpus" | cut -f1)
    crashes=$(find "$out/artifacts" -name "$t-*" | wc -l)
    ((crashes > 0 || rc != 0)) && found=1
    rows+=("$(printf '%-18s %10s %8s %6s %6s %7s %8s %7s' "$t" "${execs:-?}" "${eps:-?}" \
        "${cov:-?}" "${ft:-?}" "$files" "${bytes}K" "$crashes")")
    if ((merge)); then
        "$build/fuzz/$t" -merge=1 fuzz/corpus/"$t" "$corpus" >>"$out/$t.log" 2>&1 || true
    fi
    rm -rf "$corpus"
done

echo "fuzz run: $(date -u +%Y-%m-%dT%H:%MZ), $seconds s per target, $(nproc) cores, $build"
printf '%-18s %10s %8s %6s %6s %7s %8s %7s\n' target execs execs/s cov ft corpus size crashes
printf '%s\n' "${rows[@]}"
((found)) && echo "reproducers: $out/artifacts (logs: $out/<target>.log)"
exit "$found"
