#!/usr/bin/env bash
# Builds the KMS appliance's root file system with mmdebstrap: Debian 12 (bookworm) from the
# Debian mirror plus the project's packages (kms-appliance), systemd as init, nftables allowing
# only the API ports, no SSH server, kmsd enabled (its first start initializes the token).
#
#   appliance-image/build-image.sh OUT [--debs DIR] [--bootable]
#   appliance-image/build-image.sh --print-mirrors     (the two mirror URLs it would use)
#
# OUT        a directory (must not exist, or be empty), or a tarball when it ends in .tar,
#            .tar.gz, .tar.xz or .tar.zst; with --bootable, a raw disk image when it ends in .img
# --debs DIR the folder holding kms-appliance_*.deb (appliance-image/build-debs.sh BUILD DIR);
#            without it the packages are built from the meson build $KMS_BUILD_DIR (default
#            build/ at the top of the repository) into a temporary folder
# --bootable adds linux-image-amd64, initramfs-tools and systemd-boot's EFI binary; with an
#            .img OUT also the disk image (GPT: an EFI system partition with systemd-boot, the
#            kernel and the initrd; an ext4 root), made without a loop device or a mount
#
# Environment:
#   KMS_IMAGE_MIRROR           the Debian mirror (default: the one this machine's apt uses for
#                              bookworm, else http://deb.debian.org/debian)
#   KMS_IMAGE_SECURITY_MIRROR  the security mirror (default: the host's, else deb.debian.org)
#   KMS_IMAGE_APT_CACHE=DIR    keep downloaded .deb files in DIR between runs (reruns fetch
#                              only the indexes and what changed)
#   SOURCE_DATE_EPOCH          file dates and generated ids for a reproducible result (default:
#                              the date of the repository's last commit); the same options and
#                              the same mirror content (a snapshot.debian.org mirror) give the
#                              same tree
#
# Needs root (mmdebstrap's root mode, run in a private mount namespace so that no mount of the
# build can outlive it), mmdebstrap, and for a disk image also mtools, dosfstools and fdisk.
# Prints what it made on the last line; a failed build leaves nothing at OUT. See
# appliance-image/README.md and docs/operations.md ("The appliance image").
set -euo pipefail

usage() { echo "usage: $0 OUT [--debs DIR] [--bootable]" >&2; exit 64; }
HERE=$(cd "$(dirname "$0")" && pwd)
OUT="" DEBS="" BOOTABLE=0 PRINT_MIRRORS=0
while [ $# -gt 0 ]; do
  case $1 in
    --debs) [ $# -ge 2 ] || usage; DEBS=$2; shift 2 ;;
    --bootable) BOOTABLE=1; shift ;;
    --print-mirrors) PRINT_MIRRORS=1; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "$0: unknown option $1" >&2; usage ;;
    *) [ -z "$OUT" ] || usage; OUT=$1; shift ;;
  esac
done
# The mirrors this machine's apt uses for bookworm (deb822 .sources or one-line sources.list).
host_mirror() {
  python3 - "$1" <<'PY'
import glob, re, sys
want = sys.argv[1]  # "bookworm" or "bookworm-security"
files = sorted(glob.glob("/etc/apt/sources.list.d/*.sources"))
for f in files:
    for stanza in re.split(r"\n\s*\n", open(f).read()):
        fields = dict(re.findall(r"^([A-Za-z-]+):\s*(.*)$", stanza, re.M))
        if want in fields.get("Suites", "").split() and "deb" in fields.get("Types", "").split():
            print(fields["URIs"].split()[0]); sys.exit()
for f in ["/etc/apt/sources.list"] + sorted(glob.glob("/etc/apt/sources.list.d/*.list")):
    try:
        lines = open(f).read().splitlines()
    except OSError:
        continue
    for line in lines:
        w = re.sub(r"\[[^]]*\]", "", line.split("#")[0]).split()
        if len(w) >= 3 and w[0] == "deb" and w[2] == want:
            print(w[1]); sys.exit()
PY
}
MIRROR=${KMS_IMAGE_MIRROR:-$(host_mirror bookworm)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
SECURITY=${KMS_IMAGE_SECURITY_MIRROR:-$(host_mirror bookworm-security)}
SECURITY=${SECURITY:-http://deb.debian.org/debian-security}
if [ $PRINT_MIRRORS -eq 1 ]; then echo "$MIRROR $SECURITY"; exit 0; fi
[ -n "$OUT" ] || usage
die() { echo "$0: $1" >&2; exit "${2:-1}"; }

[ "$(id -u)" -eq 0 ] || die "needs root (mmdebstrap --mode=root, chroot)" 77
for tool in mmdebstrap unshare python3; do
  command -v "$tool" >/dev/null || die "$tool is missing (apt install mmdebstrap util-linux python3)" 69
done

# A tarball or a disk image is made in WORK and moved to OUT at the end (an existing file is
# replaced only then); a directory must be new or empty.
case $OUT in
  *.tar|*.tar.gz|*.tar.xz|*.tar.zst) FORMAT=tar ;;
  *.img) [ $BOOTABLE -eq 1 ] || die "an .img output needs --bootable" 64; FORMAT=img ;;
  *) FORMAT=directory
     if [ -e "$OUT" ] && { [ ! -d "$OUT" ] || [ -n "$(ls -A "$OUT")" ]; }; then
       die "$OUT exists and is not an empty directory" 73
     fi ;;
esac
if [ $FORMAT != directory ] && [ -d "$OUT" ]; then die "$OUT is a directory" 73; fi
if [ $FORMAT = img ]; then
  for tool in mkfs.vfat mcopy mmd sfdisk mke2fs; do
    command -v "$tool" >/dev/null || die "$tool is missing (apt install dosfstools mtools fdisk e2fsprogs)" 69
  done
fi

WORK=$(mktemp -d)
# On failure (or SIGTERM, Ctrl-C) nothing half-made stays: WORK goes, and so does a directory
# OUT this run filled (one that existed, empty, is emptied again rather than removed).
OUT_EXISTED=0
[ ! -d "$OUT" ] || OUT_EXISTED=1
DONE=0
on_exit() {
  rm -rf "$WORK"
  if [ $DONE -eq 0 ] && [ $FORMAT = directory ] && [ "${STARTED:-0}" -eq 1 ]; then
    if [ $OUT_EXISTED -eq 1 ]; then find "$OUT" -mindepth 1 -delete; else rm -rf "$OUT"; fi
  fi
}
trap on_exit EXIT
trap 'exit 143' TERM INT
chmod 0755 "$WORK"   # the packages are read by dpkg inside the chroot

# The project's packages.
if [ -z "$DEBS" ]; then
  build=${KMS_BUILD_DIR:-$HERE/../build}
  [ -f "$build/build.ninja" ] || die "no --debs and no meson build in $build (set KMS_BUILD_DIR)" 66
  "$HERE/build-debs.sh" "$build" "$WORK/debs" >/dev/null
  DEBS=$WORK/debs
fi
shopt -s nullglob
app=("$DEBS"/kms-appliance_*.deb)
shopt -u nullglob
[ ${#app[@]} -eq 1 ] || die "expected one kms-appliance_*.deb in $DEBS, found ${#app[@]}" 66
cp "${app[0]}" "$WORK/"
APP_DEB=$WORK/$(basename "${app[0]}")
chmod 0644 "$APP_DEB"

if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
  SOURCE_DATE_EPOCH=$(git -C "$HERE" log -1 --format=%ct 2>/dev/null || date +%s)
fi
export SOURCE_DATE_EPOCH

# Debian packages beyond the apt variant (essential + apt). Recommends are off: each package
# is named. kms-appliance's own Recommends (softhsm2, opensc, lmdb-utils, curl) are listed.
packages=systemd,systemd-sysv,dbus,udev,kmod,iproute2,netbase,nftables,ca-certificates,
packages+=softhsm2,libsofthsm2,opensc,lmdb-utils,curl,less,procps
if [ $BOOTABLE -eq 1 ]; then packages+=,linux-image-amd64,initramfs-tools,systemd-boot-efi; fi

args=(--mode=root --variant=apt --format="$([ $FORMAT = img ] && echo directory || echo $FORMAT)"
  --aptopt='APT::Install-Recommends "false"'
  # Minimal locale: C.UTF-8 only, no translations.
  --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/locale/locale.alias'
  --include="$packages" --include="$APP_DEB"
  # Makes the --include'd .deb visible inside the chroot, and removes it afterwards.
  --hook-dir=/usr/share/mmdebstrap/hooks/file-mirror-automount)
if [ -n "${KMS_IMAGE_APT_CACHE:-}" ]; then
  mkdir -p "$KMS_IMAGE_APT_CACHE"
  CACHE=$(cd "$KMS_IMAGE_APT_CACHE" && pwd)
  # mmdebstrap's documented pattern (man mmdebstrap, EXAMPLES): keep the essential packages'
  # .deb files, copy the cache in before the download and out before the final clean-up.
  args+=(--skip=essential/unlink
    --setup-hook="mkdir -p \"\$1\"/var/cache/apt/archives/"
    --setup-hook="sync-in $CACHE /var/cache/apt/archives/"
    --customize-hook='rm -f "$1"/var/cache/apt/archives/kms-*.deb'
    --customize-hook="sync-out /var/cache/apt/archives $CACHE")
fi
# The appliance's own files and settings, applied after every package is installed.
args+=(--customize-hook="$HERE/image/customize.sh \"\$1\" $BOOTABLE")

case $FORMAT in
  directory) target=$OUT ;;
  tar) target=$WORK/$(basename "$OUT") ;;
  img) target=$WORK/root ;;
esac
STARTED=1
if [ $FORMAT = directory ]; then mkdir -p "$OUT"; fi
echo "build-image: mmdebstrap bookworm from $MIRROR (security $SECURITY), SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH${KMS_IMAGE_APT_CACHE:+, apt cache $KMS_IMAGE_APT_CACHE}" >&2
# A private mount namespace: the build's /proc, /sys and /dev mounts disappear with it, even
# when mmdebstrap is killed.
unshare --mount --propagation private --fork \
  mmdebstrap "${args[@]}" bookworm "$target" \
  "deb $MIRROR bookworm main" "deb $MIRROR bookworm-updates main" \
  "deb $SECURITY bookworm-security main"

case $FORMAT in
  tar) mv -f "$target" "$OUT" ;;
  img) "$HERE/image/make-disk.sh" "$WORK/root" "$WORK/disk.img"
       mv -f "$WORK/disk.img" "$OUT" ;;
esac
DONE=1
echo "build-image: made $FORMAT $OUT" >&2
echo "$OUT"
