// The backup archive of kmsd (docs/operations.md "Backup"): a POSIX ustar file that `tar tvf`
// lists, holding a signed JSON manifest and the files it names. Written by kmsd
// (services/backup.cpp), read and checked offline by kmsctl (cli/backup_*.cpp). Pure byte
// handling plus SHA-256; no file or network I/O, no PKCS#11.
//
// Layout (in this order):
//   manifest.json   the manifest (format "kms-backup", formatVersion 1), UTF-8 JSON
//   manifest.sig    DER ECDSA-Sig-Value (RFC 3279 §2.2.3) over SHA-256(manifest.json), made in
//                   the HSM by the key block "kms-backup-signer"
//   signer.pem      the signer's certificate (keyUsage digitalSignature only), issued by ...
//   issuing-ca.pem  ... the KMS issuing CA, itself signed by the root the verifier brings
//   then every file the manifest lists ("files": path, size, sha256), e.g. store/data.mdb,
//   tokens/..., tls/ca.pem, tls/client-ca.pem
//
// Thread safety: every function is reentrant.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace kms::crypto {

inline constexpr std::string_view kBackupManifest = "manifest.json";
inline constexpr std::string_view kBackupSignature = "manifest.sig";
inline constexpr std::string_view kBackupSignerCert = "signer.pem";
inline constexpr std::string_view kBackupIssuingCert = "issuing-ca.pem";
inline constexpr std::string_view kBackupFormat = "kms-backup";
inline constexpr int kBackupFormatVersion = 1;

/// One regular file in an archive.
struct ArchiveEntry {
    std::string path;           ///< relative, '/'-separated, no "." or ".." component
    std::string data;           ///< the content
    std::uint32_t mode = 0600;  ///< permission bits recorded in the header
};

/// Whether @p path is a safe relative archive path: 1..255 bytes of printable ASCII without
/// '\\', not starting with '/', no empty, "." or ".." component. Restoring never leaves the
/// target folder through such a path.
bool is_safe_archive_path(std::string_view path);

/// Serializes @p entries as a POSIX.1-2008 ustar archive ("pax" §ustar Interchange Format):
/// one 512-byte header per file (name split over the prefix and name fields when longer than
/// 100 bytes, owner 0/0 "root", typeflag '0', @p mtime_s), the data padded to 512 bytes, then
/// two zero blocks. Throws kms::Error(InvalidArgument) for an unsafe path (see
/// is_safe_archive_path), a path that cannot be split into ustar's fields, a duplicate path,
/// or a file of 8 GiB or more (octal size field).
std::string write_tar(const std::vector<ArchiveEntry>& entries, std::int64_t mtime_s);

/// Parses a ustar archive made by write_tar (or any tar of regular files in ustar or GNU
/// format). Throws kms::Error(InvalidArgument) with a message for a person:
///  "truncated archive: ..." when a header or data runs past the end or the end-of-archive
///  blocks are missing; "bad header checksum at offset N" for a damaged header; "unsupported
///  entry type 'X' for PATH" for anything but regular files (directories are skipped); unsafe
///  or duplicate paths; more than @p max_entries entries.
std::vector<ArchiveEntry> read_tar(std::string_view archive, std::size_t max_entries = 100000);

/// Lowercase hex SHA-256 of @p data.
std::string sha256_hex(std::string_view data);

}  // namespace kms::crypto
