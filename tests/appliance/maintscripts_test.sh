#!/usr/bin/env bash
# appliance-maintscripts: kms-appliance's postinst, prerm and postrm run for real as root, in a
# private mount namespace where /etc, /var/lib and /run are overlays (the host is untouched):
# the user kms (system, no shell, home /var/lib/kms), /etc/kms 0750 root:kms, /var/lib/kms 0700
# kms:kms, idempotent on a second configure; without systemd (a chroot, an image build) not one
# systemctl call; with systemd only daemon-reload and is-active, never enable, start or restart;
# kmsd starts there as kms without privileges (as the unit runs it); prerm remove stops the units;
# postrm purge removes the enablement links and keeps the data.
#
#   maintscripts_test.sh DEBIAN_DIR KMSD      (appliance-image/debian, the built kmsd)
# Exit 77 (skipped) when not root or when the kernel refuses the namespace or overlayfs.
set -euo pipefail
DEB=$(cd "$1" && pwd)
KMSD=$(realpath "$2")
if [ "$(id -u)" -ne 0 ]; then echo "SKIP: needs root (adduser, mounts)"; exit 77; fi
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
if ! unshare --mount --fork true 2>/dev/null; then
  echo "SKIP: no mount namespace here (unshare --mount)"; exit 77
fi
cp "$DEB"/kms-appliance.* "$TMP/"

# Runs inside the namespace. A fake systemctl first in PATH records its arguments.
cat > "$TMP/inner.sh" <<'INNER'
set -euo pipefail
T=$1
fail() { echo "FAIL: $*"; exit 1; }
mount --make-rprivate /
for d in etc var/lib run; do
  n=${d//\//_}; mkdir -p "$T/$n-up" "$T/$n-work"
  mount -t overlay overlay -o "lowerdir=/$d,upperdir=$T/$n-up,workdir=$T/$n-work" "/$d" ||
    { echo "SKIP: overlayfs refused on /$d"; exit 77; }
done
mkdir -p "$T/bin"
printf '#!/bin/sh\necho "$*" >> %s/systemctl.log\n[ "$1" = is-active ] && exit 0\nexit 0\n' "$T" > "$T/bin/systemctl"
chmod +x "$T/bin/systemctl"
export PATH="$T/bin:$PATH"
# As dpkg runs them (deb-systemd-helper refuses to work otherwise).
export DPKG_MAINTSCRIPT_PACKAGE=kms-appliance DPKG_MAINTSCRIPT_ARCH=$(dpkg --print-architecture)
rm -rf /run/systemd/system /var/lib/kms
getent passwd kms >/dev/null && fail "a user kms exists before the test"
mkdir -p /etc/kms/tsmd   # what dpkg unpacks (0750 root:root)
chmod 0750 /etc/kms /etc/kms/tsmd

# 1. First configure, no systemd.
sh "$T/kms-appliance.postinst" configure
IFS=: read -r _ _ uid _ _ home shell < <(getent passwd kms) || fail "no user kms"
[ "$home" = /var/lib/kms ] || fail "home $home"
[ "$shell" = /usr/sbin/nologin ] || fail "shell $shell"
[ "$uid" -lt 1000 ] || fail "uid $uid is not a system uid"
getent group kms >/dev/null || fail "no group kms"
[ "$(stat -c '%a %U:%G' /etc/kms)" = "750 root:kms" ] || fail "/etc/kms: $(stat -c '%a %U:%G' /etc/kms)"
[ "$(stat -c '%a %U:%G' /etc/kms/tsmd)" = "750 root:kms" ] || fail "/etc/kms/tsmd"
[ "$(stat -c '%a %U:%G' /var/lib/kms)" = "700 kms:kms" ] || fail "/var/lib/kms: $(stat -c '%a %U:%G' /var/lib/kms)"
[ ! -e "$T/systemctl.log" ] || fail "systemctl called without systemd: $(cat "$T/systemctl.log")"
echo "ok: first configure without systemd: user, directories, no systemctl call"

# 1b. kmsd's first start as the unit runs it: user kms, no new privileges, no capabilities,
# UMask=0077, LimitCORE=0, the data directory under /var/lib/kms.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# LimitMEMLOCK=64M as in the unit, or this machine's hard limit if lower (a container may not
# raise it): the locked arena must fit (VmLck checked below).
memlock=$((64 * 1024 * 1024))
hard=$(ulimit -Hl)
if [ "$hard" != unlimited ] && [ $((hard * 1024)) -lt $memlock ]; then memlock=$((hard * 1024)); fi
(umask 0077; exec prlimit --core=0 --memlock=$memlock setpriv --reuid=kms --regid=kms --init-groups --no-new-privs \
   --bounding-set=-all "$KMSD" --data-dir /var/lib/kms/kmsd --listen "127.0.0.1:$port") \
   > "$T/kmsd.log" 2>&1 &
kmsd_pid=$!
# A failing check below must not leave kmsd running.
trap 'kill -TERM $kmsd_pid 2>/dev/null || true' EXIT
for _ in $(seq 1 300); do
  grep -q listening "$T/kmsd.log" && break
  kill -0 $kmsd_pid 2>/dev/null || fail "kmsd as kms did not start: $(cat "$T/kmsd.log")"
  sleep 0.2
done
grep -q listening "$T/kmsd.log" || fail "kmsd as kms: no listening line: $(cat "$T/kmsd.log")"
locked_kb=$(awk '/^VmLck:/ {print $2}' /proc/$kmsd_pid/status)
# The first start fills at least two size classes (192 kB here); one 64 KiB chunk alone means
# the limit stopped the rest.
[ "${locked_kb:-0}" -ge 128 ] || fail "kmsd as kms locked ${locked_kb:-0} kB (SecureBytes' arena is not locked)"
kill -TERM $kmsd_pid
wait $kmsd_pid || fail "kmsd as kms: exit $? after SIGTERM: $(cat "$T/kmsd.log")"
[ "$(stat -c '%a %U:%G' /var/lib/kms/kmsd)" = "700 kms:kms" ] || fail "/var/lib/kms/kmsd: $(stat -c '%a %U:%G' /var/lib/kms/kmsd)"
for f in hsm.pin admin.token tls/server.key; do
  [ "$(stat -c '%a %U' "/var/lib/kms/kmsd/$f")" = "600 kms" ] || fail "$f: $(stat -c '%a %U' "/var/lib/kms/kmsd/$f")"
done
[ -z "$(find /var/lib/kms -not -user kms)" ] || fail "files not owned by kms: $(find /var/lib/kms -not -user kms)"
echo "ok: kmsd first start as kms (no privileges, umask 0077, ${locked_kb} kB locked, limit $((memlock / 1024)) kB) in /var/lib/kms/kmsd, stopped by SIGTERM"

# 2. Upgrade with systemd running: the same state, the data directory mode restored.
chmod 0755 /var/lib/kms
mkdir -p /run/systemd/system
sh "$T/kms-appliance.postinst" configure 1.0 2>"$T/stderr"
[ "$(getent passwd kms | cut -d: -f3)" = "$uid" ] || fail "uid changed on a second configure"
[ "$(stat -c '%a %U:%G' /var/lib/kms)" = "700 kms:kms" ] || fail "/var/lib/kms mode not restored"
calls=$(sort -u "$T/systemctl.log" | tr '\n' ';')
[ "$calls" = "daemon-reload;is-active --quiet kmsd.service;" ] || fail "systemctl calls: $calls"
grep -q "restart it when no key ceremony is open" "$T/stderr" || fail "no restart advice"
echo "ok: upgrade with systemd: idempotent, only daemon-reload and is-active"

# 3. Remove and purge: units stopped, enablement links gone, data and user kept.
rm -f "$T/systemctl.log"
sh "$T/kms-appliance.prerm" remove
grep -qx "stop tsmd@\*.service kmsd.service" "$T/systemctl.log" || fail "prerm: $(cat "$T/systemctl.log")"
touch /var/lib/kms/keep
mkdir -p /etc/systemd/system/multi-user.target.wants
ln -sf /lib/systemd/system/kmsd.service /etc/systemd/system/multi-user.target.wants/kmsd.service
ln -sf /lib/systemd/system/tsmd@.service /etc/systemd/system/multi-user.target.wants/tsmd@a.service
sh "$T/kms-appliance.postrm" remove
sh "$T/kms-appliance.postrm" purge
[ ! -e /etc/systemd/system/multi-user.target.wants/kmsd.service ] || fail "kmsd link left"
[ ! -L /etc/systemd/system/multi-user.target.wants/tsmd@a.service ] || fail "tsmd@a link left"
[ -e /var/lib/kms/keep ] || fail "purge removed the data"
getent passwd kms >/dev/null || fail "purge removed the user"
echo "ok: prerm stops the units; purge removes the links, keeps /var/lib/kms and the user"
INNER
set +e
KMSD="$KMSD" unshare --mount --fork bash "$TMP/inner.sh" "$TMP"
rc=$?
set -e
[ $rc -eq 0 ] && echo PASS
exit $rc
