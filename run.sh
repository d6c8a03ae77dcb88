#!/usr/bin/env bash
# Installs what is missing, builds, and runs kmsd on 127.0.0.1 with an embedded SoftHSM2 token
# and the LMDB store under ./data (override: KMS_DATA_DIR, KMS_LISTEN). Stop it with Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/deps.sh
kms_install_deps
kms_build
data="${KMS_DATA_DIR:-$PWD/data}"
listen="${KMS_LISTEN:-127.0.0.1:8443}"
echo "Starting kmsd: data in $data, HTTPS on $listen"
echo "Then, in another terminal:  build/kms-core/cli/kmsctl --data-dir $data whoami"
exec build/kms-core/daemon/kmsd --data-dir "$data" --listen "$listen"
