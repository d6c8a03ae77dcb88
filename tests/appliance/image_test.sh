#!/usr/bin/env bash
# appliance-image (meson suite "image", not in CI: it downloads Debian packages and takes about
# a minute): builds the packages from this meson build, then the appliance's root file system
# with appliance-image/build-image.sh (the non-bootable variant) into a temporary folder, and
# checks it the way a newcomer would use it:
#   - kms-appliance installed, the user kms, /var/lib/kms 0700 kms:kms and empty (no token,
#     PIN or key in an image), /etc/kms 0750 root:kms;
#   - /etc/nftables.conf parses (nft -c), its policy is drop and it opens exactly the ports of
#     the shipped configuration (kmsd.service's listen port, tsmd-example.json's), and a
#     broken copy is rejected (so the parse check can fail);
#   - no SSH server, root locked, no other account with a password, host name, /etc/issue;
#   - kmsd, nftables and systemd-networkd enabled, tsmd@ not (systemctl --root);
#   - inside the chroot (private mount and PID namespaces, /proc and /dev mounted there, so
#     nothing survives the test): kmsd's first start as kms without privileges on 127.0.0.1
#     and a free port against its SoftHSM2 token, GET /healthz over TLS with the ca.pem it
#     wrote, a key created with the admin token through the chroot's kmsctl, kmsd stopped by
#     its PID with SIGTERM and a clean exit, its data owned by kms with private modes.
#
#   image_test.sh BUILD_IMAGE_SH BUILD_DEBS_SH MESON_BUILD_DIR
#
# Exit 77 (skipped) without root, without namespaces or without a reachable Debian mirror.
# KMS_IMAGE_APT_CACHE=DIR reuses downloaded packages between runs (appliance-image/README.md).
set -euo pipefail
BUILD_IMAGE=$(realpath "$1")
BUILD_DEBS=$(realpath "$2")
BUILD=$(realpath "$3")
t_start=$SECONDS
fail() { echo "FAIL: $*"; exit 1; }
if [ "$(id -u)" -ne 0 ]; then echo "SKIP: needs root (mmdebstrap --mode=root, chroot, mounts)"; exit 77; fi
if ! unshare --mount --pid --fork true 2>/dev/null; then
  echo "SKIP: no mount or PID namespace here (unshare --mount --pid)"; exit 77
fi
command -v mmdebstrap >/dev/null || fail "mmdebstrap is missing (scripts/deps.sh installs it)"
read -r mirror security < <("$BUILD_IMAGE" --print-mirrors)
for m in "$mirror/dists/bookworm/InRelease" "$security/dists/bookworm-security/InRelease"; do
  if ! curl -fsS --max-time 20 -o /dev/null "$m" 2>/dev/null; then
    echo "SKIP: no network: cannot fetch $m (set KMS_IMAGE_MIRROR to a reachable mirror)"; exit 77
  fi
done

TMP=$(mktemp -d)
R=$TMP/root
# Every mount of the test lives in a namespace that ends with it; refuse to delete a tree that
# still has a mount point below it rather than delete through it.
cleanup() {
  if grep -qF " $TMP/" /proc/self/mountinfo; then
    echo "cleanup: mounts left under $TMP, not deleting it:" >&2
    grep -F " $TMP/" /proc/self/mountinfo >&2
    return
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 143' TERM INT   # a timeout or Ctrl-C still runs the clean-up

"$BUILD_DEBS" "$BUILD" "$TMP/debs" >/dev/null
t_debs=$SECONDS
"$BUILD_IMAGE" "$R" --debs "$TMP/debs" > "$TMP/build-image.log" 2>&1 ||
  fail "build-image.sh failed: $(tail -n 30 "$TMP/build-image.log")"
[ "$(tail -n 1 "$TMP/build-image.log")" = "$R" ] || fail "build-image.sh did not print what it made"
t_image=$SECONDS
echo "ok: packages in $((t_debs - t_start)) s, root file system in $((t_image - t_debs)) s ($(du -sh "$R" | cut -f1))"

# In the chroot, names resolve against the image's own passwd and group.
in_root() { chroot "$R" "$@"; }
mode() { in_root stat -c '%a %U:%G' "$1"; }

# 1. The package, the user, the directories.
version=$(dpkg-deb --field "$TMP"/debs/kms-appliance_*.deb Version)
[ "$(in_root dpkg-query -W -f '${Status} ${Version}' kms-appliance)" = "install ok installed $version" ] ||
  fail "kms-appliance $version is not installed: $(in_root dpkg-query -W kms-appliance 2>&1)"
IFS=: read -r _ _ uid _ _ home shell < <(in_root getent passwd kms) || fail "no user kms"
[ "$uid" -lt 1000 ] && [ "$home" = /var/lib/kms ] && [ "$shell" = /usr/sbin/nologin ] ||
  fail "user kms: uid $uid home $home shell $shell"
[ "$(mode /var/lib/kms)" = "700 kms:kms" ] || fail "/var/lib/kms: $(mode /var/lib/kms)"
[ "$(mode /etc/kms)" = "750 root:kms" ] || fail "/etc/kms: $(mode /etc/kms)"
[ "$(mode /etc/kms/tsmd)" = "750 root:kms" ] || fail "/etc/kms/tsmd: $(mode /etc/kms/tsmd)"
[ "$(mode /etc/kms/kmsd.env)" = "644 root:root" ] || fail "/etc/kms/kmsd.env: $(mode /etc/kms/kmsd.env)"
for p in systemd-sysv softhsm2 libsofthsm2 nftables curl; do
  in_root dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || fail "$p not installed"
done
[ -z "$(ls "$R"/var/cache/apt/archives/*.deb 2>/dev/null)" ] || fail "downloaded packages left in the image"
# The image holds no token, PIN or key: every appliance makes its own at its first boot.
[ -z "$(ls -A "$R/var/lib/kms")" ] || fail "/var/lib/kms is not empty in the image: $(ls -A "$R/var/lib/kms")"
echo "ok: kms-appliance $version installed; kms, /var/lib/kms 700 kms:kms and empty, /etc/kms 750 root:kms"

# 2. The firewall: parses, drops by default, opens exactly the shipped configuration's ports.
in_root nft -c -f /etc/nftables.conf || fail "nft -c -f /etc/nftables.conf"
sed 's/policy drop;/policy dropp;/' "$R/etc/nftables.conf" > "$R/tmp/broken.nft"
if in_root nft -c -f /tmp/broken.nft 2>/dev/null; then fail "nft -c accepts a broken ruleset: the check checks nothing"; fi
rm -f "$R/tmp/broken.nft"
grep -q 'chain input {' "$R/etc/nftables.conf" && grep -q 'type filter hook input priority filter; policy drop;' "$R/etc/nftables.conf" ||
  fail "input chain without policy drop"
kmsd_port=$(sed -n 's/.*KMSD_LISTEN=[^ ]*:\([0-9]*\).*/\1/p' "$R/lib/systemd/system/kmsd.service")
tsmd_port=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["listen"].rsplit(":", 1)[1])' \
  "$R/usr/share/doc/kms-appliance/tsmd-example.json")
kmip_port=$(sed -n 's/.*--kmip-listen [^ ]*:\([0-9]*\).*/\1/p' "$R/lib/systemd/system/kmsd.service")
[ -n "$kmip_port" ] || fail "kmsd.service does not start KMIP (--kmip-listen)"
ports=$(sed -n 's/^define api_ports = { \(.*\) }$/\1/p' "$R/etc/nftables.conf")
[ "$ports" = "$kmsd_port, $kmip_port, $tsmd_port" ] ||
  fail "api_ports '$ports', the shipped ports are $kmsd_port, $kmip_port (KMIP) and $tsmd_port"
[ "$(grep -c 'dport' "$R/etc/nftables.conf")" = 1 ] || fail "a port opened beyond api_ports"
echo "ok: nftables.conf parses (a broken copy does not), input policy drop, ports $ports only"

# 3. No SSH, no password, the console.
in_root dpkg-query -W -f '${Status}' openssh-server 2>/dev/null | grep -q "install ok installed" &&
  fail "openssh-server is installed"
for f in /usr/sbin/sshd /lib/systemd/system/ssh.service /lib/systemd/system/sshd.service; do
  [ ! -e "$R$f" ] || fail "$f exists"
done
root_hash=$(awk -F: '$1 == "root" {print $2}' "$R/etc/shadow")
[ "$root_hash" = "*" ] || [ "${root_hash#!}" != "$root_hash" ] || fail "root has a password"
with_password=$(awk -F: '$2 != "*" && $2 !~ /^!/ {print $1}' "$R/etc/shadow")
[ -z "$with_password" ] || fail "accounts with a password: $with_password"
[ "$(cat "$R/etc/hostname")" = kms-appliance ] || fail "hostname $(cat "$R/etc/hostname")"
grep -q 'SYSTEMD_SULOGIN_FORCE=1' "$R/etc/issue" && grep -q 'No SSH' "$R/etc/issue" ||
  fail "/etc/issue does not say how to reach the console"
[ ! -s "$R/etc/machine-id" ] || fail "/etc/machine-id is set: every appliance would share it"
echo "ok: no SSH server, root locked, no password anywhere, hostname, /etc/issue, empty machine-id"

# 4. Units (offline, as systemd would see them at boot).
for u in kmsd.service nftables.service systemd-networkd.service; do
  [ "$(systemctl --root="$R" is-enabled "$u" 2>&1)" = enabled ] || fail "$u: $(systemctl --root="$R" is-enabled "$u" 2>&1)"
done
state=$(systemctl --root="$R" is-enabled tsmd@example.service 2>&1 || true)
[ "$state" = disabled ] || fail "tsmd@example.service: $state (no tsmd instance is configured)"
echo "ok: kmsd, nftables, systemd-networkd enabled; tsmd@ not"

# 5. kmsd in the chroot. A private mount and PID namespace: when the test ends (or is killed:
# --kill-child), the namespace's init dies, the kernel kills kmsd, and the mounts vanish.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
memlock=$((64 * 1024 * 1024))   # LimitMEMLOCK=64M as in the unit, or the machine's lower hard limit
hard=$(ulimit -Hl)
if [ "$hard" != unlimited ] && [ $((hard * 1024)) -lt $memlock ]; then memlock=$((hard * 1024)); fi
cat > "$TMP/inner.sh" <<'INNER'
set -euo pipefail
R=$1 port=$2 memlock=$3
fail() { echo "FAIL: $*"; exit 1; }
mount --make-rprivate /
mount -t proc proc "$R/proc"
mount --rbind /dev "$R/dev"
log=$R/tmp/kmsd.log
# As kmsd.service runs it: user kms, no new privileges, no capabilities, umask 0077, no core.
(umask 0077; exec prlimit --core=0 --memlock="$memlock" chroot "$R" setpriv --reuid=kms --regid=kms \
   --init-groups --no-new-privs --bounding-set=-all /usr/bin/kmsd --data-dir /var/lib/kms/kmsd \
   --listen "127.0.0.1:$port") > "$log" 2>&1 &
pid=$!
trap 'kill -TERM $pid 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do
  grep -q listening "$log" && break
  kill -0 $pid 2>/dev/null || fail "kmsd did not start in the chroot: $(cat "$log")"
  sleep 0.1
done
grep -q listening "$log" || fail "kmsd: no listening line after 60 s: $(cat "$log")"
echo "ok: kmsd first start in the chroot as kms on 127.0.0.1:$port"
health=$(chroot "$R" curl -fsS --max-time 10 --cacert /var/lib/kms/kmsd/tls/ca.pem "https://127.0.0.1:$port/healthz") ||
  fail "GET /healthz over TLS with the written ca.pem"
printf '%s' "$health" | python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(d != {"status": "ok", "hsm": "ok", "store": "ok"})' ||
  fail "healthz: $health"
echo "ok: GET /healthz over TLS, verified with /var/lib/kms/kmsd/tls/ca.pem: $health"
out=$(chroot "$R" kmsctl --data-dir /var/lib/kms/kmsd --json key create image-test \
  --algorithm AES-256 --usage encrypt,decrypt) || fail "kmsctl key create: $out"
id=$(printf '%s' "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])') || fail "no key id in: $out"
list=$(chroot "$R" kmsctl --data-dir /var/lib/kms/kmsd --json key list) || fail "kmsctl key list: $list"
printf '%s' "$list" | grep -qF "\"$id\"" || fail "key $id not listed: $list"
echo "ok: kmsctl in the chroot created key $id with the admin token"
kill -TERM $pid
wait $pid || fail "kmsd exited with $? after SIGTERM: $(cat "$log")"
trap - EXIT
echo "ok: kmsd stopped by its PID ($pid in the test's PID namespace) with SIGTERM, exit 0"
INNER
set +e
unshare --mount --pid --fork --kill-child bash "$TMP/inner.sh" "$R" "$port" "$memlock"
rc=$?
set -e
[ $rc -eq 0 ] || exit $rc
for f in hsm.pin hsm-so.pin admin.token tls/server.key; do
  [ "$(mode "/var/lib/kms/kmsd/$f")" = "600 kms:kms" ] || fail "$f: $(mode "/var/lib/kms/kmsd/$f")"
done
[ "$(mode /var/lib/kms/kmsd/tokens)" = "700 kms:kms" ] || fail "tokens/: $(mode /var/lib/kms/kmsd/tokens)"
[ -z "$(in_root find /var/lib/kms -not -user kms)" ] || fail "files not owned by kms: $(in_root find /var/lib/kms -not -user kms)"
for f in hsm.pin hsm-so.pin admin.token; do
  secret=$(cat "$R/var/lib/kms/kmsd/$f")
  [ ${#secret} -ge 8 ] || fail "$f holds no secret"
  if grep -qF -- "$secret" "$R/tmp/kmsd.log"; then fail "kmsd's log shows the content of $f"; fi
done
echo "ok: the data directory is kms's (PINs, token, TLS key 0600; tokens/ 0700)"
echo "PASS in $((SECONDS - t_start)) s"
