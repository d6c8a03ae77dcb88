#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test suite (unit, hsm, rest). The last line
# counts the test cases of all suites: "tests: N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")"
source scripts/deps.sh
kms_install_deps || exit 1
kms_build || exit 1
meson test -C build --print-errorlogs --num-processes 2 "$@"
rc=$?
python3 scripts/count_tests.py build/meson-logs/testlog.json
exit $rc
