#!/bin/sh
# mmdebstrap customize hook of appliance-image/build-image.sh: the appliance's own settings in
# the finished root file system ROOT, after every package is installed. Runs on the host as
# root; each setting is a file written here or an offline "systemctl enable" in the chroot.
#
#   customize.sh ROOT BOOTABLE(0|1)
set -eu
ROOT=$1
BOOTABLE=$2
HERE=$(cd "$(dirname "$0")" && pwd)

# Host name, and no host-specific files copied from the build machine (reproducibility:
# mmdebstrap copies the host's resolv.conf and hostname).
echo kms-appliance > "$ROOT/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tkms-appliance\n::1\tlocalhost ip6-localhost ip6-loopback\n' \
  > "$ROOT/etc/hosts"
printf '# The appliance needs no name resolution; add "nameserver ADDRESS" lines if a plugin does.\n' \
  > "$ROOT/etc/resolv.conf"
# Minimal locale: C.UTF-8 is built into glibc; no locales package.
echo LANG=C.UTF-8 > "$ROOT/etc/default/locale"
# /etc/machine-id: mmdebstrap leaves it empty (its reproducible clean-up); systemd makes the
# machine's id at its first boot, so two appliances from one image differ.

# No root password: the account is locked ("*"), there is no other login account, and no
# SSH server is installed (only the console: /etc/issue says how to reach it).
chroot "$ROOT" usermod --password '*' root
install -m 0644 "$HERE/issue" "$ROOT/etc/issue"

# Firewall: only the API ports (nftables.conf), loaded at boot.
install -m 0755 "$HERE/nftables.conf" "$ROOT/etc/nftables.conf"
# Network: DHCP on wired interfaces with systemd-networkd.
install -m 0644 "$HERE/kms-dhcp.network" "$ROOT/etc/systemd/network/80-kms-dhcp.network"
chroot "$ROOT" systemctl enable --quiet nftables.service systemd-networkd.service

# First boot: kmsd's first start initializes the SoftHSM2 token, the PINs (hsm.pin 0600 in
# /var/lib/kms/kmsd), the CA and the admin token, so enabling kmsd is the first-boot step.
# The one line to change when a dedicated first-boot command exists (e.g. a oneshot
# kms-first-boot.service before kmsd.service).
chroot "$ROOT" systemctl enable --quiet kmsd.service

if [ "$BOOTABLE" = 1 ]; then
  # The root file system is found by its label (make-disk.sh labels it kms-root).
  printf 'LABEL=kms-root\t/\text4\terrors=remount-ro\t0\t1\n' > "$ROOT/etc/fstab"
  chroot "$ROOT" systemctl enable --quiet getty@tty1.service serial-getty@ttyS0.service
fi
