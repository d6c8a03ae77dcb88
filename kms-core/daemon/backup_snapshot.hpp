// The I/O half of kmsd's online backup: takes the snapshot that core::BackupService signs and
// archives (services/backup.hpp). Lives in the composition root because it alone knows the
// data directory's layout and the concrete LMDB store.
#pragma once

#include "daemon/config.hpp"
#include "services/backup.hpp"
#include "store/lmdb_store.hpp"

namespace kms::daemon {

/// Takes one snapshot, while kmsd serves:
///  1. LmdbStore::hot_backup into DIR/backup-tmp.XXXXXX/store (a compacted copy made in one
///     read transaction; writers continue), then opens that copy as a store of its own to read
///     its schema version and every key (so the manifest lists exactly what the copy holds);
///  2. for the embedded HSM, every regular file under DIR/tokens (as "tokens/..."; SoftHSM2
///     keeps the objects encrypted under the token's PINs); for a vendor HSM nothing;
///  3. DIR/tls/ca.pem and DIR/tls/client-ca.pem.
/// Never reads the PIN files, admin.token or tls/server.key. The temporary folder is removed
/// on every way out; a stale one from an earlier crash is removed first (core::BackupService
/// runs one backup at a time, so no other is in use).
/// Throws kms::Error(StoreError) when the copy fails, Error(Internal) when a file cannot be
/// read, and what LmdbStore throws.
core::BackupSnapshot take_backup_snapshot(const DaemonConfig& cfg, store::LmdbStore& store);

}  // namespace kms::daemon
