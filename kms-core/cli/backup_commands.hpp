// kmsctl's signed-backup commands (command_specs_backup.cpp): `backup create` downloads the
// archive kmsd makes (POST /v1/backups) and writes it atomically; `backup verify` and
// `restore` check an archive offline with OpenSSL (no PKCS#11, no network) and restore it into
// a fresh data directory. Archive layout: crypto/backup_archive.hpp.
#pragma once

#include <Poco/JSON/Object.h>

#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "config.hpp"
#include "crypto/backup_archive.hpp"
#include "runner.hpp"

namespace kms::cli {

/// Largest archive kmsctl reads or accepts: kmsd streams at most 1 GiB of files, plus the
/// manifest and headers.
inline constexpr std::size_t kMaxBackupArchive = (std::size_t{1} << 30) + (std::size_t{16} << 20);

/// backup create, backup verify, restore.
bool is_backup_command(CommandId id);

/// Prints @p obj as one line of JSON (--json output).
void print_json_line(std::ostream& out, const Poco::JSON::Object& obj);

/// Runs one of them and returns the exit code; throws CliError like the other commands (the
/// runner prints it). Exit codes: 0 done; 1 usage (missing --ca, --out exists, --data-dir not
/// empty, no --pin-file, unreadable files); 7 the archive does not verify; 2 to 6 from the
/// server (backup create).
int run_backup_command(const Invocation& inv, const EnvLookup& env, Console& console);

/// An archive whose signature, chain and files all checked out.
struct VerifiedBackup {
    std::vector<crypto::ArchiveEntry> entries;  ///< every entry, as read
    Poco::JSON::Object::Ptr manifest;
    std::string manifest_sha256;  ///< lowercase hex
    std::string hsm_kind;         ///< "softhsm2-embedded" or "pkcs11-vendor"
    std::string created_at;
    std::string signer;  ///< the signer certificate's subject, one line
    std::size_t files = 0;
    std::size_t keys = 0;

    /// The entry at @p path, or nullptr.
    const crypto::ArchiveEntry* find(std::string_view path) const;
};

/// Checks @p archive (named @p name in messages) against the root CA certificate(s) in the PEM
/// file @p ca_file (backup_verify.cpp):
///  - it parses as ustar and holds manifest.json, manifest.sig, signer.pem, issuing-ca.pem;
///  - signer -> issuing CA -> a root of @p ca_file verifies (X509_verify_cert) at the
///    manifest's createdAt, and the signer is not a CA and has keyUsage digitalSignature only;
///  - manifest.sig is a valid ECDSA/SHA-256 signature of manifest.json by the signer;
///  - format "kms-backup", formatVersion 1;
///  - each listed file is present with its size and SHA-256, and no unlisted file is there.
/// Throws CliError(VerifyNegative) saying what failed, UsageError when @p ca_file cannot be
/// read or holds no certificate.
VerifiedBackup verify_backup(std::string_view archive, const std::string& name,
                             const std::string& ca_file);

/// `restore` (backup_restore.cpp); see command_specs_backup.cpp for the contract.
int run_restore(const Invocation& inv, const std::string& ca_file, Console& console);

}  // namespace kms::cli
