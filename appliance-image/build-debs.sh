#!/usr/bin/env bash
# Builds the Debian packages of the appliance from a meson build directory, without network,
# fakeroot or debhelper: meson install --destdir per install tag, then dpkg-deb --root-owner-group.
#
#   appliance-image/build-debs.sh BUILD_DIR OUT_DIR
#
# OUT_DIR receives kms-appliance_VERSION_ARCH.deb (kmsd, kmsctl, tsmd, the TSM plugins and their
# scripts, the systemd units, the man pages, /etc/kms/kmsd.env) and kms-tools_VERSION_ARCH.deb (wallet,
# virtual-se). The build may use any prefix: what meson installs under it lands under /usr.
# Depends: dpkg-shlibdeps over every ELF file, plus what is loaded with dlopen (libsofthsm2).
# KMS_DEB_REVISION (default 1) is the Debian revision. See appliance-image/README.md.
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 BUILD_DIR OUT_DIR" >&2
  exit 64
fi
HERE=$(cd "$(dirname "$0")" && pwd)
BUILD=$(cd "$1" && pwd)
mkdir -p "$2"
OUT=$(cd "$2" && pwd)
for tool in meson dpkg-deb dpkg-shlibdeps python3; do
  command -v "$tool" >/dev/null || { echo "$0: $tool is missing (apt install meson dpkg-dev python3)" >&2; exit 69; }
done

# The project's version and the build's prefix, from meson itself.
read -r VERSION PREFIX < <(meson introspect "$BUILD" --projectinfo --buildoptions 2>/dev/null |
  python3 -c '
import json, sys
d = json.load(sys.stdin)
prefix = next(o["value"] for o in d["buildoptions"] if o["name"] == "prefix")
print(d["projectinfo"]["version"], prefix)' 2>/dev/null) || true
if [ -z "${VERSION:-}" ] || [ -z "${PREFIX:-}" ]; then
  echo "$0: $BUILD is not a configured meson build directory" >&2
  exit 66
fi
DEB_VERSION="$VERSION-${KMS_DEB_REVISION:-1}"
ARCH=$(dpkg --print-architecture)

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# Installs the files of meson install tag $1 under $2/usr. Binaries are stripped: the build's
# debug information is large and names the build machine's paths.
stage() {
  local tag=$1 root=$2
  meson install -C "$BUILD" --no-rebuild --quiet --strip --tags "$tag" --destdir "$WORK/raw-$tag" >/dev/null
  mkdir -p "$root/usr"
  # Relocation from another prefix is safe only while no installed file names the prefix.
  if [ "$PREFIX" != /usr ] && grep -rlF -- "$PREFIX/" "$WORK/raw-$tag$PREFIX" >/dev/null; then
    echo "$0: an installed file names the prefix $PREFIX; set up the build with --prefix=/usr" >&2
    exit 70
  fi
  cp -a "$WORK/raw-$tag$PREFIX/." "$root/usr/"
}

# Every file meson installs must be in one of the packages: an untagged install() would
# otherwise be dropped silently.
meson install -C "$BUILD" --no-rebuild --quiet --destdir "$WORK/raw-all" >/dev/null
mkdir -p "$WORK/debian"
# dpkg-shlibdeps reads debian/control (for the packages' names) from the folder it runs in.
printf 'Source: kms-appliance\n\nPackage: kms-appliance\nArchitecture: any\n\nPackage: kms-tools\nArchitecture: any\n' \
  > "$WORK/debian/control"
APP="$WORK/debian/kms-appliance"
TOOLS="$WORK/debian/kms-tools"
stage runtime "$APP"
stage man "$APP"  # meson's own tag for install_man: kmsd.8, tsmd.8, kmsctl.1
stage tools "$TOOLS"
all=$(cd "$WORK/raw-all" && find . -type f | wc -l)
tagged=$(cd "$WORK" && find raw-runtime raw-man raw-tools -type f | wc -l)
if [ "$all" -ne "$tagged" ]; then
  echo "$0: meson installs $all files, the runtime, man and tools tags only $tagged (give each install an install_tag)" >&2
  exit 70
fi

# kms-appliance: units, default configuration, documentation.
install -d -m 0755 "$APP/lib/systemd/system"
install -m 0644 "$HERE/systemd/kmsd.service" "$HERE/systemd/kmsd-init.service" \
  "$HERE/systemd/tsmd@.service" "$APP/lib/systemd/system/"
# The man pages meson installed (kmsd.8, tsmd.8, kmsctl.1), compressed as Debian policy 12.1
# asks (gzip -9n: no name or time stamp, so the package is reproducible).
find "$APP/usr/share/man" -type f -name '*.[0-9]' -exec gzip -9n {} +
# /etc/kms is 0750 root:kms once postinst has given it its group (dpkg-deb makes it root:root).
install -d -m 0750 "$APP/etc/kms" "$APP/etc/kms/tsmd"
install -m 0644 "$HERE/config/kmsd.env" "$APP/etc/kms/kmsd.env"
install -d -m 0755 "$APP/usr/share/doc/kms-appliance"
install -m 0644 "$HERE/README.md" "$APP/usr/share/doc/kms-appliance/README.md"
install -m 0644 "$HERE/config/tsmd-example.json" "$APP/usr/share/doc/kms-appliance/tsmd-example.json"
# Drop-ins for PINs from encrypted systemd credentials (docs/operations.md "PINs").
install -m 0644 "$HERE/config/credentials.conf" "$HERE/config/credentials-init.conf" \
  "$APP/usr/share/doc/kms-appliance/"

# The ELF files under $1, one per line.
elf_files() {
  find "$1" -type f -not -path '*/DEBIAN/*' | while read -r f; do
    [ "$(head -c4 "$f" | od -An -c | tr -d ' ')" = '177ELF' ] && echo "$f"
  done
}

# Writes $1/DEBIAN/control for package $2: $3 the summary, $4 Depends beyond the shared
# libraries (what is loaded with dlopen, what the maintainer scripts call), $5 the description.
control() {
  local root=$1 name=$2 summary=$3 extra=$4 long=$5 shlibs size
  local -a args=()
  mkdir -p "$root/DEBIAN"  # dpkg-shlibdeps finds the package's root by its DEBIAN folder
  # Paths relative to $WORK (debian/PACKAGE/...), as dpkg-shlibdeps expects them.
  while read -r f; do args+=("-e$f"); done < <(cd "$WORK" && elf_files "debian/$name")
  [ ${#args[@]} -gt 0 ] || { echo "$0: no ELF file in $name" >&2; exit 70; }
  shlibs=$(cd "$WORK" && dpkg-shlibdeps -O -x"$name" "${args[@]}" | sed -n 's/^shlibs:Depends=//p')
  size=$(du -sk "$root" | cut -f1)
  {
    echo "Package: $name"
    echo "Version: $DEB_VERSION"
    echo "Architecture: $ARCH"
    echo "Maintainer: KMS appliance maintainers <kms@localhost>"
    echo "Installed-Size: $size"
    echo "Depends: ${extra:+$extra, }$shlibs"
    if [ "$name" = kms-appliance ]; then echo "Recommends: softhsm2, opensc, lmdb-utils, curl"; fi
    echo "Section: admin"
    echo "Priority: optional"
    echo "Description: $summary"
    echo "$long" | fold -s -w 76 | sed 's/ *$//; s/^/ /'
  } > "$root/DEBIAN/control"
}

control "$APP" kms-appliance "key management appliance: kmsd, kmsctl, tsmd and plugins" \
  "adduser, libsofthsm2" \
  "kmsd (keys in a PKCS#11 HSM, the embedded SoftHSM2 token by default, metadata in LMDB, REST over HTTPS), kmsctl, the TSM plugin host tsmd with the front, SE TSM and SP TSM plugins and their scripts, and hardened systemd units (kmsd.service, tsmd@.service). Runs as the system user kms; configuration in /etc/kms, data in /var/lib/kms."
control "$TOOLS" kms-tools "KMS appliance test tools: wallet and virtual secure element" "" \
  "wallet (the command-line phone app of the TSM flows; a card over PC/SC or the virtual SE's TCP transport) and virtual-se (a GlobalPlatform card as a process, a test peer)."

echo /etc/kms/kmsd.env > "$APP/DEBIAN/conffiles"
for s in postinst prerm postrm; do
  install -m 0755 "$HERE/debian/kms-appliance.$s" "$APP/DEBIAN/$s"
done

for root in "$APP" "$TOOLS"; do
  name=$(basename "$root")
  dpkg-deb --root-owner-group -Zxz --build "$root" "$OUT/${name}_${DEB_VERSION}_${ARCH}.deb" >/dev/null
  echo "$OUT/${name}_${DEB_VERSION}_${ARCH}.deb"
done
