#!/usr/bin/env bash
# Runs the benchmarks of docs/benchmarks.md on this machine and prints a table:
#  - wrk (2 threads, 32 connections, HTTPS keep-alive, 127.0.0.1) against /healthz and against
#    AES-CMAC of 16 bytes, in one run, and their ratio (goal: MAC >= 0.6 x healthz);
#  - durable key creation through kmsd vs SoftHSM2 token-object creation (goal: >= 20x);
#  - raw SoftHSM2 AES-CMAC with 1 and 2 threads (the HSM ceiling);
#  - kmsd's RSS at idle and after the load;
#  - GlobalPlatform (benchmarks/gp.sh): SCP03 session open (create + authenticate) per second
#    (goal >= 5,000) at 32 and 128 connections, also with a close per session, and wrapping a
#    10-APDU script per call
#    (goal >= 20,000 APDUs/s), next to the raw SoftHSM2 CMAC rate of the same run;
#  - the Google Benchmark micro-benchmarks (benchmarks/micro, when libbenchmark-dev was found
#    at meson setup): crypto steps, JSON, LMDB store, audit chain, the PKCS#11 adapter, each
#    with its cost in raw SoftHSM2 CMACs and in /healthz requests of this run
#    (benchmarks/micro_table.py), and the adapter's AES-CMAC against raw C_Sign.
# Usage: benchmarks/run.sh [seconds per wrk run, default 15]. Needs a built tree (./test.sh or
# ninja -C build) and wrk (apt-get install wrk). Starts its own kmsd on a free port and stops it.
# BENCH_ONLY=gp runs only the GlobalPlatform phases and the raw SoftHSM2 baseline;
# BENCH_ONLY=micro only /healthz, the raw SoftHSM2 baseline and the micro-benchmarks.
# MICRO_MIN_TIME: seconds per micro-benchmark repetition (default 0.5); MICRO_REPETITIONS (3):
# the table shows the median of the repetitions.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-15}"
command -v wrk >/dev/null || { echo "benchmarks: wrk is not installed (apt-get install wrk)" >&2; exit 1; }
build="${KMS_BUILD:-build}"
ninja -C "$build" -j "${KMS_JOBS:-$(nproc)}" >/dev/null
tmp=$(mktemp -d /tmp/kms-bench-XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
url="https://127.0.0.1:$port"
"$build"/kms-core/daemon/kmsd --data-dir "$tmp/data" --listen "127.0.0.1:$port" ${KMSD_ARGS:-} >"$tmp/kmsd.log" 2>&1 &
pid=$!
cleanup() { kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
for _ in $(seq 1 600); do grep -q listening "$tmp/kmsd.log" && break; sleep 0.1; done
grep -q listening "$tmp/kmsd.log" || { cat "$tmp/kmsd.log"; exit 1; }
sleep 1
rss_idle=$(awk '/VmRSS/{print $2}' "/proc/$pid/status")
token=$(cat "$tmp/data/admin.token")
curl_k() { curl -sS --cacert "$tmp/data/tls/ca.pem" -H "Authorization: Bearer $token" "$@"; }
key=$(curl_k -d '{"name":"bench-mac","algorithm":"AES-128","usage":["mac"]}' "$url/v1/keys" |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')

rps() { awk '/Requests\/sec/{print $2}' "$1"; }
p99() { awk '/ 99%/{print $2}' "$1"; }
errors() { awk '/Non-2xx|Socket errors/{print}' "$1" | tr '\n' ' '; }

only="${BENCH_ONLY:-}"
if [ "$only" != gp ]; then
wrk -t2 -c32 -d"${secs}s" --latency "$url/healthz" >"$tmp/healthz.txt"
fi
if [ -z "$only" ]; then
KMS_TOKEN="$token" KMS_KEY="$key" wrk -t2 -c32 -d"${secs}s" --latency -s benchmarks/wrk/mac.lua "$url" >"$tmp/mac.txt"
KMS_TOKEN="$token" wrk -t2 -c32 -d"${secs}s" --latency -s benchmarks/wrk/create_key.lua "$url" >"$tmp/create.txt"
fi
rss_after=$(awk '/VmRSS/{print $2}' "/proc/$pid/status")
[ "$only" = micro ] || benchmarks/gp.sh "$url" "$tmp/data/tls/ca.pem" "$token" "$secs" "$tmp"
rss_gp=$(awk '/VmRSS/{print $2}' "/proc/$pid/status")
keys_total=$(curl_k "$url/v1/audit/verify" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["valid"], d["records"])')

"$build"/benchmarks/p11_baseline /usr/lib/softhsm/libsofthsm2.so "$tmp/p11" "$(( secs < 10 ? secs : 10 ))" >"$tmp/p11.txt"
tok=$(awk '/token_objects/{print $2}' "$tmp/p11.txt")
c1=$(awk '/1thread/{print $2}' "$tmp/p11.txt")
c2=$(awk '/2threads/{print $2}' "$tmp/p11.txt")
ht=$(awk '/hmac32_token_object/{print $2}' "$tmp/p11.txt")
hs=$(awk '/hmac32_session_object/{print $2}' "$tmp/p11.txt")

micro="$build/benchmarks/micro/micro_bench"
micro_rows() {
  if [ ! -x "$micro" ]; then
    echo "(micro-benchmarks not built: apt-get install libbenchmark-dev, then meson setup --reconfigure $build)"
    return
  fi
  "$micro" --benchmark_format=json --benchmark_min_time="${MICRO_MIN_TIME:-0.5}" \
    --benchmark_repetitions="${MICRO_REPETITIONS:-3}" --benchmark_report_aggregates_only=true \
    >"$tmp/micro.json" 2>"$tmp/micro.err" || { cat "$tmp/micro.err" >&2; echo "warning: micro_bench failed"; }
  python3 benchmarks/micro_table.py "$tmp/micro.json" "${1:--}" "$c1" "$c2" || true
}
if [ "$only" = micro ]; then
  h=$(rps "$tmp/healthz.txt")
  echo
  echo "| measure | value |"
  echo "|---|---|"
  echo "| /healthz, wrk -t2 -c32, req/s | $h (p99 $(p99 "$tmp/healthz.txt")) |"
  echo "| raw SoftHSM2 CMAC 16 B (p11_baseline), 1 / 2 threads, ops/s | $c1 / $c2 |"
  echo
  micro_rows "$h"
  [ -z "${BENCH_KEEP:-}" ] || cp "$tmp"/*.txt "$tmp"/micro.json "$BENCH_KEEP"/
  e=$(errors "$tmp/healthz.txt"); [ -z "$e" ] || echo "warning: healthz: $e"
  exit 0
fi

val() { awk -v k="$2" '$1 == k {print $2}' "$1"; }
wc_=$(val "$tmp/gp_wrap.txt" gp_wrap_calls_per_s); wa=$(val "$tmp/gp_wrap.txt" gp_apdus_per_s)
go=$(val "$tmp/gp_open.txt" gp_sessions_per_s); gc=$(val "$tmp/gp_open_close.txt" gp_sessions_per_s)
g128=$(val "$tmp/gp_open_c128.txt" gp_sessions_per_s)
gp_rows() {
echo "| GP wrap, 10-APDU script per call, calls/s (p99) | $wc_ ($(p99 "$tmp/gp_wrap.txt")) |"
echo "| **GP wrap, APDUs/s (goal >= 20,000)** | **$wa** |"
echo "| **SCP03 session open (create + authenticate), sessions/s (goal >= 5,000)** | **$go** (p99 per request $(p99 "$tmp/gp_open.txt")) |"
echo "| SCP03 session open, wrk -c128, sessions/s | $g128 (p99 per request $(p99 "$tmp/gp_open_c128.txt")) |"
echo "| SCP03 session open + close (3 calls), sessions/s | $gc (p99 per request $(p99 "$tmp/gp_open_close.txt")) |"
echo "| GP open runs (c32, c128, close): created / authenticated / closed / non-2xx | $(for f in gp_open gp_open_c128 gp_open_close; do echo -n "$(val "$tmp/$f.txt" gp_created)/$(val "$tmp/$f.txt" gp_opened)/$(val "$tmp/$f.txt" gp_closed)/$(val "$tmp/$f.txt" gp_failed); "; done) |"
echo "| kmsd RSS before / after the GP phases, MiB | $(( rss_after / 1024 )) / $(( rss_gp / 1024 )) |"
echo "| raw SoftHSM2 HMAC-SHA256 32 B (audit seal), token / session object, 1 thread, ops/s | $ht / $hs |"
}
if [ "$only" = gp ]; then
  echo
  echo "| measure | value |"
  echo "|---|---|"
  gp_rows
  echo "| raw SoftHSM2 CMAC 16 B, 1 thread, ops/s | $c1 |"
  echo "| raw SoftHSM2 CMAC 16 B, 2 threads, ops/s | $c2 |"
  echo "| audit chain after the run (valid, records) | $keys_total |"
  for f in gp_wrap gp_open gp_open_c128 gp_open_close; do e=$(errors "$tmp/$f.txt"); [ -z "$e" ] || echo "warning: $f: $e"; done
  [ -z "${BENCH_KEEP:-}" ] || cp "$tmp"/*.txt "$BENCH_KEEP"/
  exit 0
fi
h=$(rps "$tmp/healthz.txt"); m=$(rps "$tmp/mac.txt"); k=$(rps "$tmp/create.txt")
echo
echo "| measure | value |"
echo "|---|---|"
echo "| /healthz, wrk -t2 -c32, req/s | $h (p99 $(p99 "$tmp/healthz.txt")) |"
echo "| AES-CMAC 16 B, wrk -t2 -c32, req/s | $m (p99 $(p99 "$tmp/mac.txt")) |"
echo "| ratio MAC / healthz (goal >= 0.6) | $(python3 -c "print(round($m/$h, 2))") |"
echo "| key creation (AES-128, durable), keys/s | $k (p99 $(p99 "$tmp/create.txt")) |"
echo "| SoftHSM2 token-object creation, objects/s | $tok |"
echo "| ratio key creation / token objects (goal >= 20) | $(python3 -c "print(round($k/$tok, 1))") |"
echo "| raw SoftHSM2 CMAC 16 B, 1 thread, ops/s | $c1 |"
echo "| raw SoftHSM2 CMAC 16 B, 2 threads, ops/s | $c2 |"
echo "| kmsd RSS idle / after load, MiB | $(( rss_idle / 1024 )) / $(( rss_after / 1024 )) |"
gp_rows
echo "| audit chain after the run (valid, records) | $keys_total |"
echo
micro_rows "$h"
[ -z "${BENCH_KEEP:-}" ] || cp "$tmp"/*.txt "$BENCH_KEEP"/
for f in healthz mac create gp_wrap gp_open gp_open_c128 gp_open_close; do e=$(errors "$tmp/$f.txt"); [ -z "$e" ] || echo "warning: $f: $e"; done
