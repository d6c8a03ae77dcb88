// BackupService: the online, signed backup of kmsd (issue 7 "Backup and restore";
// docs/operations.md "Backup"). One use case: build the archive of backup_archive.hpp from a
// consistent snapshot while kmsd keeps serving, sign its manifest in the HSM, audit it.
//
// What goes in: the snapshot kmsd's composition root takes (daemon/backup_snapshot.cpp): the
// LMDB store as a compacted hot copy made in one read transaction (writers continue), the
// embedded SoftHSM2 token directory (its objects are encrypted under the token's PINs by
// SoftHSM2; for a vendor HSM nothing of the HSM: the master key stays there and the store
// holds the key blocks), tls/ca.pem and tls/client-ca.pem. Never in it: the PIN files,
// admin.token, tls/server.key or any clear key; the snapshot source does not read them and
// create() refuses a file of those names (defence in depth).
//
// The signer: an EC P-256 key block "kms-backup-signer" generated in the HSM on first use
// (settings backup/signer/{block,spki,cert}), with a certificate from the KMS issuing CA
// (keyUsage digitalSignature only, 2 years; re-issued when missing, within 30 days of its end,
// or when the issuing CA changed). Never the TLS key or a CA key.
//
// Roles: create() needs admin. Errors: kms::Error: Forbidden, Conflict (another backup is
// running), InvalidArgument (a bad label), Hsm*, StoreError, Integrity (the HSM's signature
// does not verify), and what the snapshot source throws.
// Thread safety: any thread; one backup at a time (a second concurrent create() gets Conflict).
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "crypto/backup_archive.hpp"
#include "services/context.hpp"

namespace kms::core {

/// What the composition root hands over for one backup.
struct BackupSnapshot {
    std::uint32_t store_schema = 0;  ///< schema_version of the copied store
    /// Every key of the copied store (destroyed tombstones included), ascending by id: the
    /// manifest lists exactly what the copy holds.
    std::vector<KeyRecord> keys;
    /// The files: "store/data.mdb", "tokens/..." (embedded token only), "tls/ca.pem",
    /// "tls/client-ca.pem".
    std::vector<crypto::ArchiveEntry> files;
};

/// Where the snapshot comes from and how to describe this kmsd in the manifest.
struct BackupSources {
    /// Takes the snapshot (runs while kmsd serves). Must not return secret files.
    std::function<BackupSnapshot()> snapshot;
    /// "softhsm2-embedded" or "pkcs11-vendor".
    std::string hsm_kind;
    std::string token_label;
    std::string kmsd_version;
};

/// The result of one backup.
struct BackupResult {
    std::string archive;          ///< the ustar bytes
    std::string manifest_sha256;  ///< lowercase hex SHA-256 of manifest.json
    std::size_t keys = 0;         ///< keys listed in the manifest
    std::size_t files = 0;        ///< files listed in the manifest
};

class BackupService {
  public:
    BackupService(ServiceContext& ctx, BackupSources sources)
        : m_ctx(ctx), m_sources(std::move(sources)) {}

    /// Makes a backup (admin only). @p label: optional free text (0..128 printable ASCII
    /// characters), stored in the manifest and the audit record. Appends one audit record
    /// "backup.create" (actor, archive size, manifest SHA-256, keys, files) once the archive is
    /// complete; a failure is not audited here (the REST layer audits refusals).
    BackupResult create(const Principal& caller, std::string_view label);

    /// The signer's certificate (DER), creating the key and certificate when missing. Exposed
    /// for tests and for create().
    Bytes ensure_signer();

  private:
    ServiceContext& m_ctx;
    BackupSources m_sources;
    std::mutex m_running;  ///< held for the length of one create()
    std::mutex m_signer;   ///< serializes ensure_signer()
};

}  // namespace kms::core
