#!/usr/bin/env bash
# Makes a bootable raw disk image (UEFI, GPT) from a root file system built by
# appliance-image/build-image.sh --bootable, without a loop device or a mount: each partition
# is made as a file (mkfs.vfat + mtools for the EFI system partition, mke2fs -d for the root)
# and copied into the image at its offset.
#
#   make-disk.sh ROOT IMAGE
#
# Layout (UEFI 2.10 §5.3 GPT; the Discoverable Partitions Specification's type GUIDs):
#   1  EFI system partition, FAT32, 256 MiB: systemd-boot as EFI/BOOT/BOOTX64.EFI (the removable
#      media path, UEFI 2.10 §3.5.1.1: no NVRAM entry needed), loader/entries/kms.conf, the
#      kernel and the initrd of ROOT/boot
#   2  root, ext4 labelled kms-root (ROOT/etc/fstab mounts LABEL=kms-root), sized to the tree
#      plus 50% and 512 MiB, with ROOT's owners and modes
# Identifiers (disk and partition GUIDs, file-system serials, ext4 hash seed and dates) derive
# from SOURCE_DATE_EPOCH, so the same tree gives the same image.
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 ROOT IMAGE" >&2; exit 64; }
ROOT=$1 IMAGE=$2
SDE=${SOURCE_DATE_EPOCH:?SOURCE_DATE_EPOCH must be set}
kernel=$(find "$ROOT/boot" -maxdepth 1 -name 'vmlinuz-*' | sort -V | tail -n 1)
[ -n "$kernel" ] || { echo "$0: no kernel in $ROOT/boot (build with --bootable)" >&2; exit 66; }
initrd=$ROOT/boot/initrd.img-${kernel##*/vmlinuz-}
[ -f "$initrd" ] || { echo "$0: no initrd $initrd" >&2; exit 66; }
efi=$ROOT/usr/lib/systemd/boot/efi/systemd-bootx64.efi
[ -f "$efi" ] || { echo "$0: no $efi (package systemd-boot-efi)" >&2; exit 66; }

# A UUID derived from SOURCE_DATE_EPOCH and a name (version-4 shaped, reproducible).
uuid() {
  printf '%s' "kms-image-$SDE-$1" | sha256sum |
    sed -E 's/^(.{8})(.{4}).(.{3}).(.{3})(.{12}).*/\1-\2-4\3-8\4-\5/'
}

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
MiB=$((1024 * 1024))
esp_mib=256
root_mib=$(( $(du -sm "$ROOT" | cut -f1) * 3 / 2 + 512 ))

# The EFI system partition. --invariant fixes the times mkfs.vfat writes (it ignores
# SOURCE_DATE_EPOCH); -i after it sets the serial (mtools honours SOURCE_DATE_EPOCH itself).
truncate -s $((esp_mib * MiB)) "$WORK/esp"
mkfs.vfat -F 32 -n KMS-ESP --invariant -i "$(printf %08x $((SDE & 0xffffffff)))" "$WORK/esp" >/dev/null
cat > "$WORK/loader.conf" <<EOF
default kms.conf
timeout 3
EOF
cat > "$WORK/kms.conf" <<EOF
title   KMS appliance
linux   /vmlinuz
initrd  /initrd.img
options root=LABEL=kms-root ro console=tty0 console=ttyS0,115200
EOF
export MTOOLS_SKIP_CHECK=1 SOURCE_DATE_EPOCH=$SDE
mmd -i "$WORK/esp" ::/EFI ::/EFI/BOOT ::/loader ::/loader/entries
mcopy -i "$WORK/esp" "$efi" ::/EFI/BOOT/BOOTX64.EFI
mcopy -i "$WORK/esp" "$WORK/loader.conf" ::/loader/loader.conf
mcopy -i "$WORK/esp" "$WORK/kms.conf" ::/loader/entries/kms.conf
mcopy -i "$WORK/esp" "$kernel" ::/vmlinuz
mcopy -i "$WORK/esp" "$initrd" ::/initrd.img

# The root file system, populated from the tree (owners, modes, links, device nodes kept).
E2FSPROGS_FAKE_TIME=$SDE mke2fs -q -t ext4 -L kms-root -U "$(uuid root-fs)" \
  -E "hash_seed=$(uuid root-hash),root_owner=0:0" -d "$ROOT" "$WORK/root" "${root_mib}M" >/dev/null
# mke2fs -d copies each inode's atime, ctime and mtime from the tree, to the second. Reading the
# tree (mke2fs does, and so does a check of it) moves atimes, and ctimes say when the tree was
# made: set both to SOURCE_DATE_EPOCH and clamp later mtimes to it (debugfs set_inode_field,
# which rewrites the inode's checksum), so the same tree gives the same bytes.
times=$WORK/times.debugfs
: > "$times"
while IFS= read -r -d '' p; do
  p=${p#.}
  case $p in *'"'*|*$'\n'*) echo "make-disk: cannot name '$p' to debugfs" >&2; exit 1 ;; esac
  printf 'sif "%s" atime @%s\nsif "%s" ctime @%s\n' "${p:-/}" "$SDE" "${p:-/}" "$SDE" >> "$times"
done < <(cd "$ROOT" && find . -print0)
while IFS= read -r -d '' p; do
  p=${p#.}
  printf 'sif "%s" mtime @%s\n' "${p:-/}" "$SDE" >> "$times"
done < <(cd "$ROOT" && find . -newermt "@$SDE" -print0)
debugfs -w -f "$times" "$WORK/root" >/dev/null 2>"$WORK/debugfs.err" ||
  { cat "$WORK/debugfs.err" >&2; exit 1; }
if grep -v '^debugfs ' "$WORK/debugfs.err" | grep -q .; then cat "$WORK/debugfs.err" >&2; exit 1; fi

# The disk: 1 MiB for the GPT, the two partitions, 1 MiB for the backup GPT.
rm -f "$IMAGE"
truncate -s $(((1 + esp_mib + root_mib + 1) * MiB)) "$IMAGE"
sfdisk --quiet "$IMAGE" <<EOF
label: gpt
label-id: $(uuid disk)
start=2048, size=$((esp_mib * 2048)), type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, uuid=$(uuid esp), name=esp
start=$(((1 + esp_mib) * 2048)), size=$((root_mib * 2048)), type=4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709, uuid=$(uuid root), name=kms-root
EOF
dd if="$WORK/esp" of="$IMAGE" bs=1M seek=1 conv=notrunc,sparse status=none
dd if="$WORK/root" of="$IMAGE" bs=1M seek=$((1 + esp_mib)) conv=notrunc,sparse status=none
