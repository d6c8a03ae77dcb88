#!/usr/bin/env bash
# Installs the Debian 12 packages this project needs, only those that are missing.
# Sourced by run.sh and test.sh; run as root (or with sudo available).
set -euo pipefail

KMS_PACKAGES=(g++ pkg-config python3 meson ninja-build
  libssl-dev liblmdb-dev libpoco-dev libp11-kit-dev libgtest-dev libgmock-dev
  softhsm2 libsofthsm2 opensc lmdb-utils curl ca-certificates openssl xxd
  libpcsclite-dev pcscd vsmartcard-vpcd
  systemd dpkg-dev strace groff-base  # the appliance suite: systemd-analyze, dpkg-shlibdeps, strace, groff (man pages)
  mmdebstrap               # appliance-image/build-image.sh and the image suite
  xz-utils                 # appliance-upgrade: its fixture is a .tar.xz
  dosfstools mtools fdisk  # build-image.sh --bootable's disk image (appliance-image-disk)
  libbenchmark-dev wrk     # benchmarks/ (Google Benchmark micro-benchmarks, wrk)
  clang-14 libclang-rt-14-dev  # fuzz/ (libFuzzer, ASan, UBSan runtimes)
  python3-pykmip               # the kmip suite: PyKMIP's client against kmsd (tests/kmip)
  libpqxx-dev postgresql-15    # kmsd's PostgreSQL store (kms-core/store/pg) and its tests (a real server)
  nodejs chromium chromium-driver)  # the console suite (tests/console): headless Chromium

kms_install_deps() {
  local missing=()
  for p in "${KMS_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  # npm: a package of its own in Debian 12, bundled in NodeSource's nodejs (which conflicts
  # with Debian's npm), so only asked for when no npm command exists.
  command -v npm >/dev/null || missing+=(npm)
  if [ ${#missing[@]} -eq 0 ]; then return 0; fi
  echo "Installing: ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

kms_build() {
  if [ ! -f build/build.ninja ]; then meson setup build --buildtype=debugoptimized >/dev/null; fi
  ninja -C build -j "${KMS_JOBS:-$(nproc)}"
}

# The console suite's test tooling (console/package-lock.json: playwright-core, the driver only):
# `npm ci` when node_modules does not hold the locked version. Never downloads a browser; the
# suite uses the Debian chromium package.
kms_console_tools() {
  local want have
  want=$(node -p 'require("./console/package-lock.json").packages["node_modules/playwright-core"].version')
  have=$(node -p 'try { require("./console/node_modules/playwright-core/package.json").version } catch { "" }')
  [ "$want" = "$have" ] && return 0
  (cd console && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
}
