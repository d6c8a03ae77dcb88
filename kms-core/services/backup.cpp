// The signed online backup (see backup.hpp).
#include "services/backup.hpp"

#include <ctime>

#include "crypto/host_crypto.hpp"
#include "crypto/public_key.hpp"
#include "crypto/x509.hpp"
#include "domain/error.hpp"
#include "observe/log.hpp"
#include "services/certificate_authority.hpp"

namespace kms::core {

namespace {

constexpr std::string_view kSignerKeyId = "kms-backup-signer";
constexpr std::string_view kSignerBlock = "backup/signer/block";
constexpr std::string_view kSignerSpki = "backup/signer/spki";
constexpr std::string_view kSignerCert = "backup/signer/cert";
constexpr std::string_view kIssuingCert = "ca/issuing/cert";
constexpr std::int64_t kDay = 86400;
constexpr int kSignerDays = 730;
constexpr std::size_t kMaxArchive = std::size_t{1} << 30;  // 1 GiB: kmsd holds it in memory

UsageMask signer_usage() {
    return UsageMask().add(Usage::Sign).add(Usage::Verify);
}

/// JSON string literal (RFC 8259 §7) of @p text; control characters as \u00XX.
std::string json_string(std::string_view text) {
    std::string out = "\"";
    for (char c : text) {
        const auto u = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (u < 0x20) {
            static const char* const kHex = "0123456789abcdef";
            out += "\\u00";
            out += kHex[u >> 4];
            out += kHex[u & 15];
        } else {
            out += c;
        }
    }
    return out + "\"";
}

void check_label(std::string_view label) {
    if (label.size() > 128)
        throw Error(ErrorCode::InvalidArgument, "label: at most 128 characters");
    for (char c : label)
        if (c < 0x20 || c > 0x7E)
            throw Error(ErrorCode::InvalidArgument,
                        "label: only printable ASCII characters (0x20 to 0x7E)");
}

/// Refuses what must never be in a backup, whatever the snapshot source returned.
void check_not_secret(const crypto::ArchiveEntry& f) {
    const std::string& p = f.path;
    const auto base = p.substr(p.rfind('/') == std::string::npos ? 0 : p.rfind('/') + 1);
    if (base == "hsm.pin" || base == "hsm-so.pin" || base == "admin.token" ||
        base == "server.key" || base.ends_with(".key") || base.ends_with(".pin"))
        throw Error(ErrorCode::Internal, "backup: refusing to archive the secret file " + p);
}

std::string key_entry(const KeyRecord& k) {
    std::string o = "{\"id\":" + json_string(k.id) + ",\"name\":" + json_string(k.name) +
                    ",\"algorithm\":" + json_string(info(k.algorithm).name) +
                    ",\"state\":" + json_string(key_state_name(k.state));
    if (k.versions.empty()) return o + ",\"version\":0,\"kcv\":null,\"publicKeySha256\":null}";
    const KeyVersion& v = k.current();
    o += ",\"version\":" + std::to_string(v.number);
    o += ",\"kcv\":" + (v.kcv.empty() ? std::string("null") : json_string(to_hex(v.kcv)));
    o += ",\"publicKeySha256\":" + (v.public_key.empty()
                                        ? std::string("null")
                                        : json_string(to_hex(crypto::sha256(v.public_key))));
    return o + "}";
}

}  // namespace

Bytes BackupService::ensure_signer() {
    std::lock_guard lock(m_signer);
    MetadataStore& store = m_ctx.store;
    const Bytes issuing = ensure_issuing_ca(store, m_ctx.hsm, m_ctx.clock);
    const Bytes issuing_spki = crypto::certificate_spki(issuing);
    auto block = store.get_setting(kSignerBlock);
    auto spki = store.get_setting(kSignerSpki);
    if (!block || !spki) {
        const GeneratedKey g = m_ctx.hsm.generate(
            KeySpec{std::string(kSignerKeyId), 1, Algorithm::EcP256, signer_usage(), false});
        store.write([&](WriteTxn& t) {
            t.put_setting(kSignerBlock, g.block);
            t.put_setting(kSignerSpki, g.public_key);
            t.delete_setting(kSignerCert);
            t.append_audit(AuditEvent{"kmsd", "backup.signer-create", std::string(kSignerKeyId),
                                      AuditOutcome::Success,
                                      "EC-P256 backup signing key generated in the HSM"});
        });
        block = g.block;
        spki = g.public_key;
    }
    const std::int64_t now_s = m_ctx.clock.now_ms() / 1000;
    auto cert = store.get_setting(kSignerCert);
    if (cert && crypto::verify_certificate_signature(*cert, issuing_spki) &&
        crypto::certificate_spki(*cert) == *spki &&
        crypto::certificate_info(*cert).not_after_s >= now_s + 30 * kDay)
        return *cert;

    crypto::CertificateProfile p;
    p.common_name = "KMS Backup Signer";
    p.not_before_s = now_s - 60;
    p.not_after_s = std::min<std::int64_t>(now_s + kSignerDays * kDay,
                                           crypto::certificate_info(issuing).not_after_s);
    p.leaf_key_usage = crypto::CertificateProfile::LeafKeyUsage::SignOnly;
    const Bytes der = crypto::issue_certificate(p, *spki, issuing, [&](ByteView tbs) {
        return sign_with_issuing_ca(store, m_ctx.hsm, tbs);
    });
    if (!crypto::verify_certificate_signature(der, issuing_spki))
        throw Error(ErrorCode::Integrity,
                    "the HSM's signature on the backup signer certificate does not verify");
    store.write([&](WriteTxn& t) {
        t.put_setting(kSignerCert, der);
        t.append_audit(AuditEvent{"kmsd", "backup.signer-certificate", std::string(kSignerKeyId),
                                  AuditOutcome::Success,
                                  "backup signer certificate issued by the issuing CA, serial " +
                                      crypto::certificate_info(der).serial_hex});
    });
    return der;
}

BackupResult BackupService::create(const Principal& caller, std::string_view label) {
    require_role(caller, {Role::Admin}, "making a backup");
    check_label(label);
    std::unique_lock running(m_running, std::try_to_lock);
    if (!running.owns_lock())
        throw Error(ErrorCode::Conflict, "another backup is running; try again when it is done");

    const Bytes signer_cert = ensure_signer();
    const auto issuing = m_ctx.store.get_setting(kIssuingCert);
    if (!issuing) throw Error(ErrorCode::WrongState, "the issuing CA is not set up");
    const auto block = m_ctx.store.get_setting(kSignerBlock);
    const auto spki = m_ctx.store.get_setting(kSignerSpki);
    if (!block || !spki) throw Error(ErrorCode::WrongState, "the backup signer is not set up");

    BackupSnapshot snap = m_sources.snapshot();
    std::size_t total = 0;
    for (const auto& f : snap.files) {
        check_not_secret(f);
        total += f.data.size();
    }
    if (total > kMaxArchive)
        throw Error(ErrorCode::Unsupported,
                    "the backup would be " + std::to_string(total) +
                        " bytes; kmsd streams at most 1 GiB (copy the store with mdb_copy)");

    const std::int64_t now_ms = m_ctx.clock.now_ms();
    std::string m = "{\n \"format\": " + json_string(crypto::kBackupFormat) +
                    ",\n \"formatVersion\": " + std::to_string(crypto::kBackupFormatVersion) +
                    ",\n \"kmsdVersion\": " + json_string(m_sources.kmsd_version) +
                    ",\n \"storeSchemaVersion\": " + std::to_string(snap.store_schema) +
                    ",\n \"createdAt\": " + json_string(observe::rfc3339_ms(now_ms)) +
                    ",\n \"createdBy\": " + json_string(caller.name) +
                    ",\n \"label\": " + json_string(label) +
                    ",\n \"hsm\": {\"kind\": " + json_string(m_sources.hsm_kind) +
                    ", \"tokenLabel\": " + json_string(m_sources.token_label) + "},\n \"files\": [";
    for (std::size_t i = 0; i < snap.files.size(); ++i) {
        const auto& f = snap.files[i];
        m += std::string(i ? "," : "") + "\n  {\"path\": " + json_string(f.path) +
             ", \"size\": " + std::to_string(f.data.size()) +
             ", \"sha256\": " + json_string(crypto::sha256_hex(f.data)) + "}";
    }
    m += "\n ],\n \"keys\": [";
    for (std::size_t i = 0; i < snap.keys.size(); ++i)
        m += std::string(i ? "," : "") + "\n  " + key_entry(snap.keys[i]);
    m += "\n ]\n}\n";

    // Signed in the HSM (raw r || s), checked on the host, stored as DER so that
    // `openssl dgst -sha256 -verify` reads it too.
    const KeyRef ref{kSignerKeyId, 1, Algorithm::EcP256, signer_usage(), *block, *spki};
    const Bytes raw = m_ctx.hsm.sign(ref, SignAlgorithm::EcdsaSha256, as_view(m));
    if (!crypto::verify_signature(*spki, SignAlgorithm::EcdsaSha256, as_view(m), raw))
        throw Error(ErrorCode::Integrity, "the HSM's signature on the manifest does not verify");
    const Bytes sig = crypto::ecdsa_raw_to_der(raw);

    std::vector<crypto::ArchiveEntry> entries;
    entries.push_back({std::string(crypto::kBackupManifest), m, 0644});
    entries.push_back(
        {std::string(crypto::kBackupSignature), std::string(sig.begin(), sig.end()), 0644});
    entries.push_back(
        {std::string(crypto::kBackupSignerCert), crypto::der_to_pem(signer_cert), 0644});
    entries.push_back(
        {std::string(crypto::kBackupIssuingCert), crypto::der_to_pem(*issuing), 0644});
    for (auto& f : snap.files) entries.push_back(std::move(f));

    BackupResult r;
    r.manifest_sha256 = crypto::sha256_hex(m);
    r.keys = snap.keys.size();
    r.files = entries.size() - 4;
    r.archive = crypto::write_tar(entries, now_ms / 1000);
    std::string detail = "size=" + std::to_string(r.archive.size()) +
                         " manifest-sha256=" + r.manifest_sha256 +
                         " keys=" + std::to_string(r.keys) + " files=" + std::to_string(r.files);
    if (!label.empty()) detail += " label=" + std::string(label);
    m_ctx.store.write([&](WriteTxn& t) {
        t.append_audit(
            AuditEvent{caller.name, "backup.create", "-", AuditOutcome::Success, detail});
    });
    return r;
}

}  // namespace kms::core
