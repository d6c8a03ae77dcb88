#!/usr/bin/env bash
# The TSM demo: kmsd, three tsmd processes (the front with se-tsm, and two sp-tsm instances that
# register themselves at the front) and a virtual SE, all on 127.0.0.1 over TLS, set up as a bank
# would (keys by ceremony and in the HSM, plugin principals with client certificates from the KMS
# CA and their own policies).
# Then the wallet runs flows A (top-up) and B (loss report) against the front.
#
#   ./demo.sh                 install what is missing, build, start; Ctrl-C stops everything
#   ./demo.sh --background    the same, but return once everything runs; ./demo.sh stop
#   ./demo.sh stop            stop a background demo
#
# Environment: DEMO_DIR (default ./demo-data; wiped at each start: the demo is disposable),
# DEMO_NO_BUILD=1 (use the existing build), DEMO_BUILD_DIR (default ./build), and the ports
# DEMO_KMS_PORT (8443), DEMO_FRONT_PORT (9443: the front and se-tsm), DEMO_SP1_PORT (9445),
# DEMO_SP2_PORT (9446), DEMO_CARD_PORT (35990; not 35963, the port vsmartcard-vpcd listens on).
set -euo pipefail
cd "$(dirname "$0")"
root=$PWD
demo=${DEMO_DIR:-$root/demo-data}
mkdir -p "$(dirname "$demo")"
demo=$(cd "$(dirname "$demo")" && pwd)/$(basename "$demo")
build=${DEMO_BUILD_DIR:-$root/build}

stop_demo() {
  [ -f "$demo/pids" ] || return 0
  local pid group pids
  # The sp-tsm instances first, so that they deregister at the front while it still answers;
  # then the rest in reverse start order (clients of a service before it). Each group is given
  # 5 s to stop, then killed.
  for group in '$2 ~ /^tsmd-sp/' '$2 !~ /^tsmd-sp/'; do
    pids=$(tac "$demo/pids" | awk "$group {print \$1}")
    for pid in $pids; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in $pids; do
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null || true
    done
  done
  rm -f "$demo/pids"
}

case "${1:-}" in
  stop) stop_demo; echo "demo stopped"; exit 0 ;;
  --background|"") ;;
  *) echo "usage: ./demo.sh [--background|stop]" >&2; exit 64 ;;
esac
background=false
[ "${1:-}" = --background ] && background=true

if [ -f "$demo/pids" ]; then
  while read -r pid name; do
    if kill -0 "$pid" 2>/dev/null; then
      echo "demo: $name (pid $pid) of a previous demo is still running: ./demo.sh stop" >&2
      exit 1
    fi
  done <"$demo/pids"
fi

if [ "${DEMO_NO_BUILD:-}" != 1 ]; then
  source scripts/deps.sh
  kms_install_deps
  kms_build
fi

kms_port=${DEMO_KMS_PORT:-8443}
front_port=${DEMO_FRONT_PORT:-9443}
sp1_port=${DEMO_SP1_PORT:-9445}
sp2_port=${DEMO_SP2_PORT:-9446}
card_port=${DEMO_CARD_PORT:-35990}

kmsd=$build/kms-core/daemon/kmsd
tsmd=$build/tsm-services/host/tsmd
vse=$build/tsm-services/virtual-se/virtual-se
wallet=$build/tsm-services/wallet/wallet
for bin in "$kmsd" "$tsmd" "$vse" "$wallet" "$build/kms-core/cli/kmsctl"; do
  [ -x "$bin" ] || { echo "demo: $bin is not built (run without DEMO_NO_BUILD)" >&2; exit 1; }
done

rm -rf "$demo"
mkdir -p "$demo/pki" "$demo/logs"
chmod 700 "$demo"
exec 3>>"$demo/logs/setup.log"
log() { echo "demo: $*"; echo "demo: $*" >&3; }

# Every process we start is recorded (pid name) so that `stop` and Ctrl-C find it.
start_bg() {
  local name=$1; shift
  "$@" >"$demo/logs/$name.log" 2>&1 &
  echo "$! $name" >>"$demo/pids"
}
wait_for_line() {  # name pattern: wait until the process's log has the line
  local name=$1 pattern=$2
  for _ in $(seq 300); do
    grep -q "$pattern" "$demo/logs/$name.log" 2>/dev/null && return 0
    local pid
    pid=$(awk -v n="$name" '$2 == n {print $1}' "$demo/pids")
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "demo: $name stopped at start; its log:" >&2; cat "$demo/logs/$name.log" >&2; return 1
    fi
    sleep 0.1
  done
  echo "demo: $name did not start in 30 s; its log:" >&2; cat "$demo/logs/$name.log" >&2
  return 1
}
trap 'echo "demo: setup failed (logs in $demo/logs)" >&2; stop_demo' ERR

# ---- kmsd, its first start: token, master keys, CA, admin token
log "starting kmsd on 127.0.0.1:$kms_port"
start_bg kmsd "$kmsd" --data-dir "$demo/kms" --listen "127.0.0.1:$kms_port"
wait_for_line kmsd listening
kmsctl() { "$build/kms-core/cli/kmsctl" --data-dir "$demo/kms" "$@"; }
json() { python3 -c 'import json,sys; d=json.load(sys.stdin)
for k in sys.argv[1].split("."): d=d[k]
print(d)' "$1"; }
ca=$demo/kms/tls/ca.pem
cp "$ca" "$demo/pki/ca.pem"

# ---- officers: two custodians for the ceremonies
for c in custodian-1 custodian-2; do
  kmsctl principal create "$c" --role custodian --token-out "$demo/pki/$c.token" >&3
done

# Loads a key of known value (the card's ISD keys, as the card maker hands them over) by a
# two-custodian ceremony: each custodian enters one random component, and only their XOR is
# the key. ceremony_key NAME VALUE_HEX USAGE [--trusted|--exportable]
des3_kcv() {  # the KCV of a two-key TDEA key: E(K1K2K1, 0^8), first 3 bytes
  printf '\0\0\0\0\0\0\0\0' | openssl enc -des-ede3 -K "$1${1:0:16}" -nopad | xxd -p | cut -c1-6
}
ceremony_key() {
  local name=$1 value=$2 usage=$3; shift 3
  local c1 c2 id
  c1=$(openssl rand -hex 16)
  c2=$(python3 -c 'import sys; print("%032x" % (int(sys.argv[1],16) ^ int(sys.argv[2],16)))' \
        "$value" "$c1")
  id=$(kmsctl --json ceremony create "$name" --algorithm DES3-2K --usage "$usage" \
        --components 2 --kcv "$(des3_kcv "$value")" "$@" | json id)
  echo "$c1" >"$demo/pki/c1.hex"; echo "$c2" >"$demo/pki/c2.hex"
  kmsctl --token-file "$demo/pki/custodian-1.token" ceremony component "$id" \
    --component-file "$demo/pki/c1.hex" --kcv "$(des3_kcv "$c1")" >&3
  kmsctl --json --token-file "$demo/pki/custodian-2.token" ceremony component "$id" \
    --component-file "$demo/pki/c2.hex" --kcv "$(des3_kcv "$c2")" | json key.id
  rm -f "$demo/pki/c1.hex" "$demo/pki/c2.hex"
}

# ---- keys: the card's ISD key set (the GlobalPlatform test keys 40..4F of a development card)
# and the SP's credit key, generated in the HSM: it reaches the purse only by PUT KEY.
gp_test_key=404142434445464748494A4B4C4D4E4F
log "loading the card's ISD keys by two-custodian ceremonies"
isd_enc=$(ceremony_key sp/isd-enc $gp_test_key derive)
isd_mac=$(ceremony_key sp/isd-mac $gp_test_key derive)
isd_dek=$(ceremony_key sp/isd-dek $gp_test_key derive,wrap --trusted)
credit=$(kmsctl --json key create sp/transit-credit --algorithm DES3-2K --usage mac \
          --exportable | json id)

# ---- PKI: every tsmd and plugin gets a key pair and a certificate from the KMS CA
csr() {  # csr NAME [SAN]: an EC P-256 key and a CSR with CN=NAME
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$1" \
    ${2:+-addext "subjectAltName=$2"} -keyout "$demo/pki/$1.key" -out "$demo/pki/$1.csr" \
    2>/dev/null
  chmod 600 "$demo/pki/$1.key"
}
csr tsmd "IP:127.0.0.1,DNS:localhost"
kmsctl ca issue --csr-file "$demo/pki/tsmd.csr" --profile server --out "$demo/pki/tsmd.crt" \
  --chain-out "$demo/pki/chain.pem" >&3
cat "$demo/pki/chain.pem" >>"$demo/pki/tsmd.crt"
# Plugin principals: kmsd knows them by their client certificate; their policies say which keys
# and operations each may use.
for p in sp-tsm se-tsm front; do
  csr "$p"
  kmsctl principal create "$p" --role plugin --csr-file "$demo/pki/$p.csr" \
    --cert-out "$demo/pki/$p.crt" --token-out "$demo/pki/$p.token" >&3
done
kmsctl policy set sp-tsm --keys 'sp/*' --operation gp,mac >&3
# se-tsm's card operations: the card's ISD key, and the key sets a rotate-keys makes (se/*).
kmsctl policy set se-tsm --keys 'sp/isd-*,se/*' --operation gp >&3
# The wallet: a phone's client certificate (the demo's tsmd processes all ask for one).
csr wallet-alice
kmsctl ca issue --csr-file "$demo/pki/wallet-alice.csr" --profile client \
  --out "$demo/pki/wallet-alice.crt" >&3
cp "$demo/kms/tls/client-ca.pem" "$demo/pki/client-ca.pem"

echo "$isd_enc $isd_mac $isd_dek $credit" >"$demo/keys"
log "kmsd ready: ISD keys $isd_enc $isd_mac $isd_dek, credit key $credit"

# ---- the virtual SE: a development card with the GP test keys, SCP02 i=55, key version 20
seid=A1B2C3D4E5F60001
cat >"$demo/card.json" <<JSON
{"isdAid": "A000000151000000", "scp": "02", "i": "55", "keyVersion": "20",
 "enc": "$gp_test_key", "mac": "$gp_test_key", "dek": "$gp_test_key",
 "kdd": "0001020304A1B2C3D4E5", "cplc": "$(printf 'A1B2C3D4E5F60001%.0s' 1 2 3 4 5)0000",
 "lifeCycle": "0F"}
JSON
log "starting the virtual SE on 127.0.0.1:$card_port"
start_bg virtual-se "$vse" --listen "127.0.0.1:$card_port" --card "$demo/card.json" \
  --state "$demo/card-state.json"
wait_for_line virtual-se listening

# ---- tsmd: the two sp-tsm instances share one TSM store (any of them continues an operation
# or takes the loss-report sync); the front and se-tsm run in a third process.
scripts=$root/tsm-services/sp-tsm/scripts
purse_file=$root/tests/tsm/data/transit-purse.bin
purse_sha=$(sha256sum "$purse_file" | cut -d' ' -f1)
kms_url=https://127.0.0.1:$kms_port
tls="\"tls\": {\"certificate\": \"$demo/pki/tsmd.crt\", \"key\": \"$demo/pki/tsmd.key\",
        \"clientCa\": \"$demo/pki/client-ca.pem\"}"
for n in 1 2; do
  port_var=sp${n}_port
  cat >"$demo/tsmd-sp$n.json" <<JSON
{"listen": "127.0.0.1:${!port_var}", $tls,
 "store": "$demo/tsm-sp-store",
 "plugins": [{"instance": "sp", "library": "$build/tsm-services/sp-tsm/plugin/libsp_tsm.so",
   "config": {
     "kms": {"url": "$kms_url", "ca": "$ca", "certificate": "$demo/pki/sp-tsm.crt",
             "key": "$demo/pki/sp-tsm.key"},
     "scripts": {"top-up": "$scripts/transit-top-up.json", "install": "$scripts/transit-install.json",
                 "delete": "$scripts/transit-delete.json", "balance": "$scripts/transit-balance.json",
                 "lock": "$scripts/transit-lock.json", "unlock": "$scripts/transit-unlock.json"},
     "instanceEffects": {"install": "PERSONALIZED", "lock": "LOCKED", "unlock": "PERSONALIZED",
                         "delete": "DELETED"},
     "kmsKeys": {"sp-transit-credit-mac": "$credit",
                 "sp-transit-scp": {"enc": "$isd_enc", "mac": "$isd_mac", "dek": "$isd_dek",
                                    "i": 85, "keyVersion": 32, "aid": "A000000151000000"}},
     "catalogue": {"transit-purse": {"loadFileAid": "A00000055910", "file": "$purse_file",
                   "sha256": "$purse_sha", "modules": ["A0000005591010"],
                   "instanceAid": "A0000005591010FFFF", "version": "1.0"}},
     "checkAttributes": true, "syncClients": ["se-tsm"],
     "front": {"urls": ["https://127.0.0.1:$front_port/front"],
               "self": "https://127.0.0.1:${!port_var}/sp", "ca": "$ca",
               "certificate": "$demo/pki/sp-tsm.crt", "key": "$demo/pki/sp-tsm.key",
               "ttlSeconds": 15,
               "actions": [{"actionCode": "transit.topup", "path": "/operations", "operation": true},
                           {"actionCode": "transit.install", "path": "/operations", "operation": true},
                           {"actionCode": "transit.balance", "path": "/operations", "operation": true},
                           {"actionCode": "transit.lock", "path": "/operations", "operation": true},
                           {"actionCode": "transit.unlock", "path": "/operations", "operation": true},
                           {"actionCode": "transit.delete", "path": "/operations", "operation": true}]}}}]}
JSON
done
cat >"$demo/tsmd-front.json" <<JSON
{"listen": "127.0.0.1:$front_port", $tls,
 "store": "$demo/tsm-front-store",
 "plugins": [
  {"instance": "se", "library": "$build/tsm-services/se-tsm/libse_tsm.so",
   "config": {"sync": {"targets": ["https://127.0.0.1:$sp1_port/sp", "https://127.0.0.1:$sp2_port/sp"],
                       "ca": "$ca", "certificate": "$demo/pki/se-tsm.crt",
                       "key": "$demo/pki/se-tsm.key"},
              "kms": {"url": "$kms_url", "ca": "$ca", "certificate": "$demo/pki/se-tsm.crt",
                      "key": "$demo/pki/se-tsm.key"}}},
  {"instance": "front", "library": "$build/tsm-services/front/libtsm_front.so",
   "config": {
     "routes": {
       "se.loss-report": {"path": "/loss-reports", "instances": ["https://127.0.0.1:$front_port/se"]},
       "se.card-op": {"path": "/operations", "operation": true,
                      "instances": ["https://127.0.0.1:$front_port/se"]}},
     "registrars": ["sp-tsm", "se-tsm"],
     "upstreamTls": {"ca": "$ca", "certificate": "$demo/pki/front.crt", "key": "$demo/pki/front.key"},
     "healthCheck": {"intervalMs": 500}}}]}
JSON
# The front first: the sp-tsm instances register their transit.* actionCodes there themselves
# (their "front" configuration; docs/front.md), and stop_demo stops them before it, so that
# they deregister. se-tsm's loss-report route, in the front's own process, stays static.
for p in front sp1 sp2; do
  log "starting tsmd-$p"
  start_bg "tsmd-$p" "$tsmd" --config "$demo/tsmd-$p.json"
  wait_for_line "tsmd-$p" listening
done
for p in sp1 sp2; do wait_for_line "tsmd-$p" "registered at https://127.0.0.1:$front_port/front"; done

# ---- se-tsm: the SE product, the card, its owner, and the transit product's attribute (valid),
# which se-tsm then syncs to sp-tsm
se() {  # se METHOD PATH [BODY]: an admin call to se-tsm with se-tsm's own certificate
  curl -sS --fail-with-body --cacert "$ca" --cert "$demo/pki/se-tsm.crt" \
    --key "$demo/pki/se-tsm.key" -X "$1" "https://127.0.0.1:$front_port/se$2" \
    ${3:+-H 'Content-Type: application/json' --data "$3"} >&3
  echo >&3
}
se POST /products '{"id": "dev-card", "vendor": "Demo", "chipModel": "virtual-se", "gpVersion": "2.2",
  "scp02": ["55"], "scp03": [], "isdAid": "A000000151000000", "diversification": "none",
  "defaultKeyVersion": 32}'
# isdKey: the dev card's three static ISD keys as loaded by the ceremonies above, for se-tsm's
# card operations (docs/se-tsm.md, "Card operations").
se POST /ses "{\"seid\": \"$seid\", \"cplc\": \"$(printf 'A1B2C3D4E5F60001%.0s' 1 2 3 4 5)0000\",
  \"productId\": \"dev-card\", \"isdKey\": {\"enc\": \"$isd_enc\", \"mac\": \"$isd_mac\", \"dek\": \"$isd_dek\"},
  \"owner\": \"alice\"}"
# The dev card leaves the factory SECURED (lifeCycle 0F): the record follows it.
se POST "/ses/$seid/lifecycle" '{"state": "INITIALIZED"}'
se POST "/ses/$seid/lifecycle" '{"state": "SECURED"}'
se PUT "/ses/$seid/attributes/transit" '{"valid": true}'

cat >"$demo/env.sh" <<ENV
# Source me: the wallet and its settings for this demo.
export PATH="$build/tsm-services/wallet:\$PATH"
export WALLET_FRONT=https://127.0.0.1:$front_port/front
export WALLET_CA=$ca
export WALLET_CERT=$demo/pki/wallet-alice.crt
export WALLET_KEY=$demo/pki/wallet-alice.key
export WALLET_CARD=127.0.0.1:$card_port
export WALLET_SEID=$seid
export WALLET_PRODUCT=transit
ENV
trap - ERR

cat <<TEXT

The demo runs (logs in $demo/logs). In another terminal:

  source $demo/env.sh
  wallet install --balance 1000      # LOAD + INSTALL the purse, PUT KEY its credit key, personalize
  wallet topup --amount 500          # flow A: balance 1000 -> 1500
  wallet balance                     # read it through the TSM's secure channel
  wallet card pay --amount 200       # a merchant debits the card directly
  wallet report-loss --owner alice   # flow B: se-tsm invalidates the card, sp-tsm learns it
  wallet topup --amount 500          # refused now: product_attribute_invalid (exit 2)
  wallet card-op list                # se-tsm: GET STATUS of the card's applications
  wallet card-op lock                # se-tsm: SET STATUS CARD_LOCKED (then card-op unlock)

Add --verbose to see every APDU.
TEXT
if $background; then
  echo "Stop it with: ./demo.sh stop"
  exit 0
fi
echo "Stop it with Ctrl-C."
# wait, not a foreground sleep: bash runs a trap only once the foreground command ends, and a
# SIGTERM or SIGINT sent to this script alone (not its process group) must stop the demo at once.
sleeper=""
trap '[ -z "$sleeper" ] || kill "$sleeper" 2>/dev/null; stop_demo; echo; echo "demo stopped"; exit 0' INT TERM
while :; do
  sleep 3600 &
  sleeper=$!
  wait "$sleeper" || true
done
