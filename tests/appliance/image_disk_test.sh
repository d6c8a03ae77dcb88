#!/usr/bin/env bash
# appliance-image-disk (suite appliance, about 3 s, no network): appliance-image/image/make-disk.sh,
# the last step of build-image.sh --bootable, on a small root tree whose kernel, initrd and
# systemd-boot binary are placeholder files (the disk layout does not depend on their content;
# the real ones come from Debian in the image suite). Checks the GPT (two partitions, the ESP
# and x86-64 root type GUIDs, names), the ESP (systemd-boot on the removable-media path, the
# loader entry booting root=LABEL=kms-root, kernel and initrd byte for byte), the root file
# system (e2fsck clean, label kms-root, owners and modes kept: /var/lib/kms 0700 uid 101), that
# two runs with the same SOURCE_DATE_EPOCH give the same bytes and another one different ids,
# and that a tree without a kernel is refused and leaves no image.
#
#   image_disk_test.sh MAKE_DISK_SH
#
# Exit 77 (skipped) when dosfstools, mtools, fdisk or e2fsprogs are missing (scripts/deps.sh).
set -euo pipefail
MAKE_DISK=$(realpath "$1")
fail() { echo "FAIL: $*"; exit 1; }
for tool in mkfs.vfat mcopy mtype sfdisk mke2fs e2fsck debugfs; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool is missing (scripts/deps.sh installs it)"; exit 77; }
done
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
trap 'exit 143' TERM INT
R=$TMP/root
mkdir -p "$R/boot" "$R/usr/lib/systemd/boot/efi" "$R/var/lib/kms/kmsd" "$R/etc"
head -c 300000 /dev/urandom > "$R/boot/vmlinuz-6.1.0-99-amd64"
head -c 200000 /dev/urandom > "$R/boot/initrd.img-6.1.0-99-amd64"
head -c 100000 /dev/urandom > "$R/usr/lib/systemd/boot/efi/systemd-bootx64.efi"
echo secret > "$R/var/lib/kms/kmsd/hsm.pin"
chown -R 101:106 "$R/var/lib/kms"
chmod 0700 "$R/var/lib/kms" "$R/var/lib/kms/kmsd"
chmod 0600 "$R/var/lib/kms/kmsd/hsm.pin"
export MTOOLS_SKIP_CHECK=1

SOURCE_DATE_EPOCH=1700000000 "$MAKE_DISK" "$R" "$TMP/a.img"
img=$TMP/a.img

# The partition table.
python3 - "$img" <<'PY' || fail "partition table"
import json, subprocess, sys
t = json.loads(subprocess.run(["sfdisk", "-J", sys.argv[1]], check=True, capture_output=True,
                              text=True).stdout)["partitiontable"]
assert t["label"] == "gpt", t
p = t["partitions"]
assert len(p) == 2, p
assert p[0]["type"] == "C12A7328-F81F-11D2-BA4B-00A0C93EC93B" and p[0]["name"] == "esp", p[0]
assert p[0]["start"] == 2048 and p[0]["size"] == 256 * 2048, p[0]
assert p[1]["type"] == "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709" and p[1]["name"] == "kms-root", p[1]
assert p[1]["start"] == p[0]["start"] + p[0]["size"], p[1]
PY
echo "ok: GPT with an EFI system partition (256 MiB at 1 MiB) and an x86-64 root partition"

# The EFI system partition (at 1 MiB).
esp="$img@@1M"
mcopy -i "$esp" ::/EFI/BOOT/BOOTX64.EFI "$TMP/boot.efi"
cmp -s "$TMP/boot.efi" "$R/usr/lib/systemd/boot/efi/systemd-bootx64.efi" || fail "EFI/BOOT/BOOTX64.EFI is not systemd-boot"
mcopy -i "$esp" ::/vmlinuz "$TMP/vmlinuz" && cmp -s "$TMP/vmlinuz" "$R/boot/vmlinuz-6.1.0-99-amd64" || fail "kernel"
mcopy -i "$esp" ::/initrd.img "$TMP/initrd" && cmp -s "$TMP/initrd" "$R/boot/initrd.img-6.1.0-99-amd64" || fail "initrd"
entry=$(mtype -i "$esp" ::/loader/entries/kms.conf)
grep -qx 'linux   /vmlinuz' <<<"$entry" && grep -qx 'initrd  /initrd.img' <<<"$entry" &&
  grep -q '^options root=LABEL=kms-root ro' <<<"$entry" || fail "loader entry: $entry"
mtype -i "$esp" ::/loader/loader.conf | grep -qx 'default kms.conf' || fail "loader.conf"
echo "ok: ESP: systemd-boot as EFI/BOOT/BOOTX64.EFI, the loader entry, kernel and initrd"

# The root file system (at 257 MiB).
dd if="$img" of="$TMP/root.ext4" bs=1M skip=257 conv=sparse status=none
e2fsck -fn "$TMP/root.ext4" >/dev/null 2>&1 || fail "e2fsck: $(e2fsck -fn "$TMP/root.ext4" 2>&1 | tail -5)"
[ "$(e2label "$TMP/root.ext4")" = kms-root ] || fail "label $(e2label "$TMP/root.ext4")"
st=$(debugfs -R 'stat /var/lib/kms' "$TMP/root.ext4" 2>/dev/null)
grep -q 'Mode:  0700' <<<"$st" && grep -q 'User:   101   Group:   106' <<<"$st" || fail "/var/lib/kms: $st"
st=$(debugfs -R 'stat /var/lib/kms/kmsd/hsm.pin' "$TMP/root.ext4" 2>/dev/null)
grep -q 'Mode:  0600' <<<"$st" || fail "hsm.pin: $st"
[ "$(debugfs -R 'cat /var/lib/kms/kmsd/hsm.pin' "$TMP/root.ext4" 2>/dev/null)" = secret ] || fail "hsm.pin content"
echo "ok: root ext4 labelled kms-root, e2fsck clean, owners and modes kept"

# Reproducible: the same SOURCE_DATE_EPOCH gives the same bytes; another one other ids.
sleep 1.1   # a time-dependent field would now differ
# Reading the tree moves atimes (mke2fs -d copies them): a later build must not see it.
touch -a "$R/var/lib/kms/kmsd/hsm.pin" "$R/boot/vmlinuz-6.1.0-99-amd64"
SOURCE_DATE_EPOCH=1700000000 "$MAKE_DISK" "$R" "$TMP/b.img"
cmp -s "$img" "$TMP/b.img" || fail "two runs with the same SOURCE_DATE_EPOCH differ"
SOURCE_DATE_EPOCH=1700000001 "$MAKE_DISK" "$R" "$TMP/c.img"
[ "$(sfdisk --disk-id "$img")" != "$(sfdisk --disk-id "$TMP/c.img")" ] || fail "the disk id ignores SOURCE_DATE_EPOCH"
echo "ok: same SOURCE_DATE_EPOCH, same bytes; another, another disk id"

# A tree without a kernel is refused, and no image is left.
rm "$R/boot/vmlinuz-6.1.0-99-amd64"
if SOURCE_DATE_EPOCH=1700000000 "$MAKE_DISK" "$R" "$TMP/d.img" 2>"$TMP/err"; then fail "no kernel accepted"; fi
grep -q 'no kernel' "$TMP/err" || fail "message: $(cat "$TMP/err")"
[ ! -e "$TMP/d.img" ] || fail "an image was left behind"
echo "ok: a tree without a kernel is refused: $(cat "$TMP/err")"
echo PASS
