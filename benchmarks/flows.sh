#!/usr/bin/env bash
# Top-up flows per second end to end (wallet -> front -> sp-tsm -> kmsd -> virtual SE) and their
# latency, on this machine: starts the demo (demo.sh) in a temporary folder on free ports, then
# runs benchmarks/flow_bench with two sp-tsm instances behind the front, stops one, and runs it
# again with one. Prints one line per phase.
# Usage: benchmarks/flows.sh [seconds per phase, default 15] [threads, default 8]. Needs a
# built tree (ninja -C build).
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-15}"
threads="${2:-8}"
build="${KMS_BUILD:-build}"
ninja -C "$build" >/dev/null
tmp=$(mktemp -d /tmp/kms-flows-XXXXXX)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
export DEMO_DIR="$tmp/demo" DEMO_NO_BUILD=1 DEMO_BUILD_DIR="$PWD/$build"
export DEMO_KMS_PORT=$(free_port) DEMO_FRONT_PORT=$(free_port) DEMO_SP1_PORT=$(free_port)
export DEMO_SP2_PORT=$(free_port) DEMO_CARD_PORT=$(free_port)
cleanup() { ./demo.sh stop >/dev/null 2>&1 || true; rm -rf "$tmp"; }
trap cleanup EXIT
./demo.sh --background >"$tmp/demo.log" 2>&1 || { cat "$tmp/demo.log"; exit 1; }
pki=$DEMO_DIR/pki
bench() {  # bench PHASE SEID-PREFIX
  echo -n "$1: "
  "$build/benchmarks/flow_bench" --front "https://127.0.0.1:$DEMO_FRONT_PORT/front" \
    --se "https://127.0.0.1:$DEMO_FRONT_PORT/se" --ca "$pki/ca.pem" \
    --wallet-cert "$pki/wallet-alice.crt" --wallet-key "$pki/wallet-alice.key" \
    --se-cert "$pki/se-tsm.crt" --se-key "$pki/se-tsm.key" --isd-key "$(cut -d' ' -f1 "$DEMO_DIR/keys")" \
    --threads "$threads" --seconds "$secs" --seid-prefix "$2"
}
echo "top-up flows, $threads phones, ${secs}s per phase ($(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ))"
bench "two sp-tsm instances" B2
sp2=$(awk '$2 == "tsmd-sp2" {print $1}' "$DEMO_DIR/pids")
kill -TERM "$sp2"
sleep 2  # the front's health check (500 ms) marks it down
bench "one sp-tsm instance " B1
