#!/usr/bin/env bash
# Installs the Debian 12 packages this project needs, only those that are missing.
# Sourced by run.sh and test.sh; run as root (or with sudo available).
set -euo pipefail

KMS_PACKAGES=(g++ pkg-config python3 meson ninja-build
  libssl-dev liblmdb-dev libpoco-dev libp11-kit-dev libgtest-dev libgmock-dev
  softhsm2 libsofthsm2 opensc lmdb-utils curl ca-certificates openssl xxd
  libpcsclite-dev pcscd vsmartcard-vpcd
  systemd dpkg-dev strace  # the appliance suite: systemd-analyze, dpkg-shlibdeps, strace
  libbenchmark-dev wrk     # benchmarks/ (Google Benchmark micro-benchmarks, wrk)
  clang-14 libclang-rt-14-dev  # fuzz/ (libFuzzer, ASan, UBSan runtimes)
  python3-pykmip)              # the kmip suite: PyKMIP's client against kmsd (tests/kmip)

kms_install_deps() {
  local missing=()
  for p in "${KMS_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
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
