#!/usr/bin/env bash
# GlobalPlatform phases of benchmarks/run.sh (issue 4, "Performance"), against a running kmsd:
#  1. set-up (gp_setup.py): the pySim SCP03 AES-128 static keys by key ceremony (two custodians,
#     components XOR, CMAC KCVs), a plugin principal with policy gp on gp/*, and GP_WRAP_SESSIONS
#     (default 64) authenticated sessions at level 03, after one session checked against
#     pySim's published APDUs at level 33;
#  2. wrap: wrk -t2 -c32 posting a 10-APDU script per call round-robin over those sessions
#     (wrk/gp_wrap.lua); APDUs/s = calls/s x 10;
#  3. open: wrk -t2 -c32, then -c128, chaining create -> authenticate (wrk/gp_open.lua);
#     sessions/s = authenticate 200s per second. Sessions stay open (they live 300 s, at most
#     100000 live), so these runs last at most 8 s each;
#  4. open + close: -c32 again, with DELETE after each authenticate (GP_CLOSE=1).
# Usage: benchmarks/gp.sh URL CA_FILE ADMIN_TOKEN SECONDS OUT_DIR. Writes OUT_DIR/gp_*.txt (wrk
# output followed by the scripts' counters).
set -euo pipefail
cd "$(dirname "$0")/.."
url="$1"; ca="$2"; admin="$3"; secs="$4"; out="$5"
eval "$(python3 benchmarks/gp_setup.py "$url" "$ca" "$admin" "${GP_WRAP_SESSIONS:-64}")"
export GP_TOKEN GP_ENC GP_MAC GP_DEK GP_SESSIONS GP_WRK_THREADS=2
wrk -t2 -c32 -d"${secs}s" --latency -s benchmarks/wrk/gp_wrap.lua "$url" >"$out/gp_wrap.txt"
# Open runs leave their sessions live (300 s, at most 100,000): two of at most 8 s each stay
# below the limit at the rates measured here.
open_secs=$(( secs < 8 ? secs : 8 ))
GP_CLOSE=0 wrk -t2 -c32 -d"${open_secs}s" --latency -s benchmarks/wrk/gp_open.lua "$url" >"$out/gp_open.txt"
GP_CLOSE=0 wrk -t2 -c128 -d"${open_secs}s" --latency -s benchmarks/wrk/gp_open.lua "$url" >"$out/gp_open_c128.txt"
GP_CLOSE=1 wrk -t2 -c32 -d"${secs}s" --latency -s benchmarks/wrk/gp_open.lua "$url" >"$out/gp_open_close.txt"
