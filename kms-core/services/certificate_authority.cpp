// The internal CA (see certificate_authority.hpp).
#include "services/certificate_authority.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>

#include "crypto/host_crypto.hpp"
#include "crypto/x509.hpp"
#include "domain/error.hpp"

namespace kms::core {

namespace {

constexpr std::string_view kRootCert = "ca/root/cert";
constexpr std::string_view kRootBlock = "ca/root/block";
constexpr std::string_view kRootSpki = "ca/root/spki";
constexpr std::string_view kRootKeyId = "kms-ca-root";
constexpr std::string_view kIssuingCert = "ca/issuing/cert";
constexpr std::string_view kIssuingBlock = "ca/issuing/block";
constexpr std::string_view kIssuingSpki = "ca/issuing/spki";
constexpr std::string_view kIssuingKeyId = "kms-ca-issuing";
constexpr std::string_view kCrlDer = "ca/crl/der";
constexpr std::string_view kCrlNumber = "ca/crl/number";

constexpr std::uint8_t kRecordFormat = 1;
constexpr std::int64_t kDay = 86400;
constexpr std::int64_t kCrlLifetime = 7 * kDay;
constexpr std::int64_t kCrlRenewBefore = 1 * kDay;
constexpr std::int64_t kBackdate = 60;  // notBefore a minute early: relying parties' clock skew

UsageMask ca_usage() {
    return UsageMask().add(Usage::Sign).add(Usage::Verify);
}

struct CaMaterial {
    Bytes block;
    Bytes spki;
    Bytes cert;
};

std::optional<CaMaterial> load_ca(MetadataStore& store, std::string_view block,
                                  std::string_view spki, std::string_view cert) {
    auto b = store.get_setting(block);
    auto s = store.get_setting(spki);
    auto c = store.get_setting(cert);
    if (!b || !s || !c) return std::nullopt;
    return CaMaterial{std::move(*b), std::move(*s), std::move(*c)};
}

CaMaterial require_root(MetadataStore& store) {
    auto root = load_ca(store, kRootBlock, kRootSpki, kRootCert);
    if (!root) throw Error(ErrorCode::WrongState, "the root CA is not set up");
    return std::move(*root);
}

CaMaterial require_issuing(MetadataStore& store) {
    auto issuing = load_ca(store, kIssuingBlock, kIssuingSpki, kIssuingCert);
    if (!issuing) throw Error(ErrorCode::WrongState, "the issuing CA is not set up");
    return std::move(*issuing);
}

crypto::TbsSigner signer_for(Hsm& hsm, std::string_view key_id, const CaMaterial& ca) {
    return [&hsm, key_id, &ca](ByteView tbs) {
        const KeyRef ref{key_id, 1, Algorithm::EcP256, ca_usage(), ca.block, ca.spki};
        return hsm.sign(ref, SignAlgorithm::EcdsaSha256, tbs);
    };
}

std::string upper_hex(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return out;
}

/// Uppercase serial without leading zero octets, or nullopt when @p serial is not 1..40 hex.
std::optional<std::string> normalize_serial(std::string_view serial) {
    if (serial.empty() || serial.size() > 40 ||
        serial.find_first_not_of("0123456789abcdefABCDEF") != std::string_view::npos)
        return std::nullopt;
    std::string s = upper_hex(serial);
    if (s.size() % 2 != 0) s.insert(s.begin(), '0');
    while (s.size() > 2 && s.starts_with("00")) s.erase(0, 2);
    return s;
}

crypto::CrlReason crl_reason(RevocationReason r) {
    switch (r) {
        case RevocationReason::Unspecified:
            return crypto::CrlReason::Unspecified;
        case RevocationReason::KeyCompromise:
            return crypto::CrlReason::KeyCompromise;
        case RevocationReason::CaCompromise:
            return crypto::CrlReason::CaCompromise;
        case RevocationReason::AffiliationChanged:
            return crypto::CrlReason::AffiliationChanged;
        case RevocationReason::Superseded:
            return crypto::CrlReason::Superseded;
        case RevocationReason::CessationOfOperation:
            return crypto::CrlReason::CessationOfOperation;
        case RevocationReason::PrivilegeWithdrawn:
            return crypto::CrlReason::PrivilegeWithdrawn;
    }
    return crypto::CrlReason::Unspecified;
}

bool host_label_ok(std::string_view l) {
    if (l.empty() || l.size() > 63 || l.front() == '-' || l.back() == '-') return false;
    return std::all_of(l.begin(), l.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-';
    });
}

bool is_dns_name(std::string_view name) {
    if (name.empty() || name.size() > 253) return false;
    if (name.starts_with("*.")) name.remove_prefix(2);
    while (true) {
        const auto dot = name.find('.');
        if (!host_label_ok(name.substr(0, dot))) return false;
        if (dot == std::string_view::npos) return true;
        name.remove_prefix(dot + 1);
    }
}

bool is_ip_address(const std::string& text) {
    unsigned char buf[16];
    return inet_pton(AF_INET, text.c_str(), buf) == 1 ||
           inet_pton(AF_INET6, text.c_str(), buf) == 1;
}

int max_validity_days(CertProfile p) {
    switch (p) {
        case CertProfile::Server:
            return 397;  // CA/Browser Forum Baseline Requirements §6.3.2
        case CertProfile::Client:
            return 825;
        case CertProfile::SecureElement:
            return 7305;  // 20 years
    }
    return 1;
}

std::string record_detail(const CertificateRecord& r) {
    std::string d =
        "profile=" + std::string(cert_profile_name(r.profile)) + " subject=" + r.subject;
    if (!r.principal.empty()) d += " principal=" + r.principal;
    return d;
}

Bytes issue_issuing_certificate(Hsm& hsm, const CaMaterial& root, ByteView issuing_spki,
                                std::int64_t now_s) {
    const crypto::CertificateInfo root_info = crypto::certificate_info(root.cert);
    crypto::CertificateProfile p;
    p.common_name = "KMS Appliance Issuing CA";
    p.not_before_s = now_s - 300;
    p.not_after_s = std::min<std::int64_t>(now_s + 10LL * 365 * kDay, root_info.not_after_s);
    p.is_ca = true;
    p.path_len = 0;
    const Bytes der =
        crypto::issue_certificate(p, issuing_spki, root.cert, signer_for(hsm, kRootKeyId, root));
    if (!crypto::verify_certificate_signature(der, root.spki))
        throw Error(ErrorCode::Integrity,
                    "the HSM's signature on the issuing CA certificate does not verify");
    return der;
}

}  // namespace

// ---- names and the record codec ----

std::string_view cert_profile_name(CertProfile p) {
    switch (p) {
        case CertProfile::Server:
            return "server";
        case CertProfile::Client:
            return "client";
        case CertProfile::SecureElement:
            return "secure-element";
    }
    return "client";
}

std::optional<CertProfile> parse_cert_profile(std::string_view name) {
    for (CertProfile p : {CertProfile::Server, CertProfile::Client, CertProfile::SecureElement})
        if (cert_profile_name(p) == name) return p;
    return std::nullopt;
}

std::string_view certificate_status_name(CertificateStatus s, std::int64_t not_after_s,
                                         std::int64_t now_s) {
    if (s == CertificateStatus::Revoked) return "revoked";
    return not_after_s < now_s ? "expired" : "valid";
}

Bytes encode_certificate(const CertificateRecord& r) {
    Bytes out;
    put_u8(out, kRecordFormat);
    put_lv(out, r.serial);
    put_u8(out, static_cast<std::uint8_t>(r.profile));
    put_lv(out, r.subject);
    put_lv(out, r.principal);
    put_u64(out, static_cast<std::uint64_t>(r.not_before_s));
    put_u64(out, static_cast<std::uint64_t>(r.not_after_s));
    put_u8(out, static_cast<std::uint8_t>(r.status));
    put_u64(out, static_cast<std::uint64_t>(r.issued_ms));
    put_lv(out, r.issued_by);
    put_u64(out, static_cast<std::uint64_t>(r.revoked_ms));
    put_u8(out, static_cast<std::uint8_t>(r.reason));
    put_lv(out, r.revoked_by);
    put_lv(out, r.der);
    return out;
}

CertificateRecord decode_certificate(ByteView value) {
    ByteReader in(value);
    if (in.u8() != kRecordFormat)
        throw Error(ErrorCode::Integrity, "certificate record: unknown format");
    CertificateRecord r;
    r.serial = in.lv_string();
    const auto profile = in.u8();
    if (profile < 1 || profile > 3)
        throw Error(ErrorCode::Integrity, "certificate record: bad profile");
    r.profile = static_cast<CertProfile>(profile);
    r.subject = in.lv_string();
    r.principal = in.lv_string();
    r.not_before_s = static_cast<std::int64_t>(in.u64());
    r.not_after_s = static_cast<std::int64_t>(in.u64());
    const auto status = in.u8();
    if (status != 1 && status != 2)
        throw Error(ErrorCode::Integrity, "certificate record: bad status");
    r.status = static_cast<CertificateStatus>(status);
    r.issued_ms = static_cast<std::int64_t>(in.u64());
    r.issued_by = in.lv_string();
    r.revoked_ms = static_cast<std::int64_t>(in.u64());
    const auto reason = in.u8();
    if (reason < 1 || reason > 7)
        throw Error(ErrorCode::Integrity, "certificate record: bad reason");
    r.reason = static_cast<RevocationReason>(reason);
    r.revoked_by = in.lv_string();
    r.der = in.lv_bytes();
    if (!in.at_end()) throw Error(ErrorCode::Integrity, "certificate record: trailing bytes");
    return r;
}

// ---- bootstrap helpers ----

Bytes ensure_issuing_ca(MetadataStore& store, Hsm& hsm, const Clock& clock) {
    const CaMaterial root = require_root(store);
    const std::int64_t now_s = clock.now_ms() / 1000;
    auto block = store.get_setting(kIssuingBlock);
    auto spki = store.get_setting(kIssuingSpki);
    if (!block || !spki) {
        const GeneratedKey g = hsm.generate(
            KeySpec{std::string(kIssuingKeyId), 1, Algorithm::EcP256, ca_usage(), false});
        store.write([&](WriteTxn& t) {
            t.put_setting(kIssuingBlock, g.block);
            t.put_setting(kIssuingSpki, g.public_key);
            t.delete_setting(kIssuingCert);
            t.delete_setting(kCrlDer);
            t.append_audit(AuditEvent{"kmsd", "ca.key-create", std::string(kIssuingKeyId),
                                      AuditOutcome::Success,
                                      "EC-P256 issuing CA key generated in the HSM"});
        });
        block = g.block;
        spki = g.public_key;
    }
    auto cert = store.get_setting(kIssuingCert);
    // Re-issued when missing, when the root's key changed (the old one no longer verifies),
    // or within 30 days of its end.
    const bool reissue = !cert || !crypto::verify_certificate_signature(*cert, root.spki) ||
                         crypto::certificate_spki(*cert) != *spki ||
                         crypto::certificate_info(*cert).not_after_s < now_s + 30 * kDay;
    if (!reissue) return *cert;
    const Bytes der = issue_issuing_certificate(hsm, root, *spki, now_s);
    store.write([&](WriteTxn& t) {
        t.put_setting(kIssuingCert, der);
        t.delete_setting(kCrlDer);  // a CRL of the old certificate no longer chains
        t.append_audit(AuditEvent{"kmsd", "ca.certificate", std::string(kIssuingKeyId),
                                  AuditOutcome::Success,
                                  "issuing CA certificate issued by the root, serial " +
                                      crypto::certificate_info(der).serial_hex});
    });
    return der;
}

Bytes sign_with_issuing_ca(MetadataStore& store, Hsm& hsm, ByteView tbs) {
    const CaMaterial issuing = require_issuing(store);
    return signer_for(hsm, kIssuingKeyId, issuing)(tbs);
}

void record_own_certificate(MetadataStore& store, const Clock& clock, ByteView cert_der) {
    const crypto::CertificateInfo info = crypto::certificate_info(cert_der);
    CertificateRecord r;
    r.serial = info.serial_hex;
    r.profile = CertProfile::Server;
    r.subject = info.common_name;
    r.not_before_s = info.not_before_s;
    r.not_after_s = info.not_after_s;
    r.issued_ms = clock.now_ms();
    r.issued_by = "kmsd";
    r.der.assign(cert_der.begin(), cert_der.end());
    store.write([&](WriteTxn& t) {
        t.put(Table::Certificates, r.serial, encode_certificate(r));
        t.append_audit(AuditEvent{"kmsd", "ca.certificate-issue", r.serial, AuditOutcome::Success,
                                  record_detail(r) + " (kmsd TLS)"});
    });
}

// ---- the service ----

void CertificateAuthority::ensure_issuing_ca() {
    core::ensure_issuing_ca(m_ctx.store, m_ctx.hsm, m_ctx.clock);
}

IssuedCertificate CertificateAuthority::issue(const Principal& caller,
                                              const IssueRequest& request) {
    return issue_impl(caller, request, true);
}

IssuedCertificate CertificateAuthority::issue_for_principal(const Principal& caller,
                                                            const std::string& principal_name,
                                                            std::string_view csr_pem) {
    validate_principal_name(principal_name);
    IssueRequest request;
    request.csr_pem = std::string(csr_pem);
    request.profile = CertProfile::Client;
    request.principal = principal_name;
    return issue_impl(caller, request, false);
}

IssuedCertificate CertificateAuthority::issue_impl(const Principal& caller,
                                                   const IssueRequest& request,
                                                   bool check_principal_exists) {
    require_role(caller, {Role::Admin, Role::KeyOfficer}, "issuing a certificate");
    crypto::CertificateRequest csr;
    try {
        csr = crypto::parse_certificate_request(crypto::pem_to_der(request.csr_pem));
    } catch (const Error& e) {
        if (e.code() != ErrorCode::InvalidArgument && e.code() != ErrorCode::VerificationFailed)
            throw;
        throw Error(e.code(), "csr: " + std::string(e.what()));
    }
    const int max_days = max_validity_days(request.profile);
    const int days = request.validity_days.value_or(max_days);
    if (days < 1 || days > max_days)
        throw Error(ErrorCode::InvalidArgument,
                    "validityDays: must be 1.." + std::to_string(max_days) + " for the " +
                        std::string(cert_profile_name(request.profile)) + " profile");
    if (!request.principal.empty()) {
        if (request.profile != CertProfile::Client)
            throw Error(ErrorCode::InvalidArgument,
                        "principal: only a client certificate can be bound to a principal");
        validate_principal_name(request.principal);
        if (csr.common_name != request.principal)
            throw Error(ErrorCode::InvalidArgument, "csr: the subject CN '" + csr.common_name +
                                                        "' must equal the principal name '" +
                                                        request.principal + "'");
        if (check_principal_exists && !m_ctx.store.find_principal(request.principal))
            throw Error(ErrorCode::InvalidArgument,
                        "principal: no principal named '" + request.principal + "'");
    }

    const std::int64_t now_s = m_ctx.clock.now_ms() / 1000;
    crypto::CertificateProfile p;
    p.common_name = csr.common_name;
    p.organization.clear();
    p.not_before_s = now_s - kBackdate;
    p.not_after_s = now_s + static_cast<std::int64_t>(days) * kDay;
    switch (request.profile) {
        case CertProfile::Server:
            p.server_auth = true;
            p.dns_names = csr.dns_names;
            p.ip_addresses = csr.ip_addresses;
            if (p.dns_names.empty() && p.ip_addresses.empty()) {
                // No SANs requested: the CN names the server (TLS clients match SANs only).
                if (is_ip_address(csr.common_name))
                    p.ip_addresses.push_back(csr.common_name);
                else if (is_dns_name(csr.common_name))
                    p.dns_names.push_back(csr.common_name);
                else
                    throw Error(ErrorCode::InvalidArgument,
                                "csr: a server certificate needs subjectAltName entries or a "
                                "subject CN that is a host name or IP address");
            }
            break;
        case CertProfile::Client:
            p.client_auth = true;
            break;
        case CertProfile::SecureElement:
            p.leaf_key_usage = crypto::CertificateProfile::LeafKeyUsage::SignAndKeyAgreement;
            break;
    }

    const CaMaterial issuing = require_issuing(m_ctx.store);
    const CaMaterial root = require_root(m_ctx.store);
    const Bytes der = crypto::issue_certificate(p, csr.spki_der, issuing.cert,
                                                signer_for(m_ctx.hsm, kIssuingKeyId, issuing));
    if (!crypto::verify_certificate_signature(der, issuing.spki))
        throw Error(ErrorCode::Integrity, "the HSM's signature on the certificate does not verify");

    const crypto::CertificateInfo info = crypto::certificate_info(der);
    CertificateRecord r;
    r.serial = info.serial_hex;
    r.profile = request.profile;
    r.subject = info.common_name;
    r.principal = request.principal;
    r.not_before_s = info.not_before_s;
    r.not_after_s = info.not_after_s;
    r.issued_ms = m_ctx.clock.now_ms();
    r.issued_by = caller.name;
    r.der = der;
    m_ctx.store.write([&](WriteTxn& t) {
        if (t.get(Table::Certificates, r.serial))
            throw Error(ErrorCode::Conflict, "serial " + r.serial + " exists already");
        t.put(Table::Certificates, r.serial, encode_certificate(r));
        t.append_audit(AuditEvent{caller.name, "ca.certificate-issue", r.serial,
                                  AuditOutcome::Success, record_detail(r)});
    });
    IssuedCertificate out;
    out.pem = crypto::der_to_pem(der);
    out.chain_pem = crypto::der_to_pem(issuing.cert) + crypto::der_to_pem(root.cert);
    out.record = std::move(r);
    return out;
}

std::optional<CertificateRecord> CertificateAuthority::find(std::string_view serial_hex) {
    const auto serial = normalize_serial(serial_hex);
    if (!serial) return std::nullopt;
    auto value = m_ctx.store.get(Table::Certificates, *serial);
    if (!value) return std::nullopt;
    return decode_certificate(*value);
}

CertificateRecord CertificateAuthority::get(const Principal& caller, std::string_view serial_hex) {
    require_role(caller, {Role::Admin, Role::KeyOfficer, Role::Auditor}, "reading certificates");
    auto r = find(serial_hex);
    if (!r)
        throw Error(ErrorCode::NotFound,
                    "no certificate with serial '" + std::string(serial_hex) + "'");
    return std::move(*r);
}

std::vector<CertificateRecord> CertificateAuthority::list(const Principal& caller,
                                                          const CertificateFilter& filter) {
    require_role(caller, {Role::Admin, Role::KeyOfficer, Role::Auditor}, "listing certificates");
    if (filter.status && *filter.status != "valid" && *filter.status != "revoked" &&
        *filter.status != "expired")
        throw Error(ErrorCode::InvalidArgument, "status: must be valid, revoked or expired");
    if (filter.expiring_within_days &&
        (*filter.expiring_within_days < 0 || *filter.expiring_within_days > 36500))
        throw Error(ErrorCode::InvalidArgument, "expiringWithinDays: must be 0..36500");
    const std::int64_t now_s = m_ctx.clock.now_ms() / 1000;
    std::vector<CertificateRecord> out;
    std::string after;
    while (true) {
        auto page = m_ctx.store.scan(Table::Certificates, after, 1000);
        for (auto& [key, value] : page) {
            CertificateRecord r = decode_certificate(value);
            const std::string_view status = certificate_status_name(r.status, r.not_after_s, now_s);
            if (filter.status && status != *filter.status) continue;
            if (!filter.principal.empty() && r.principal != filter.principal) continue;
            if (filter.expiring_within_days &&
                (status != "valid" ||
                 r.not_after_s >
                     now_s + static_cast<std::int64_t>(*filter.expiring_within_days) * kDay))
                continue;
            out.push_back(std::move(r));
        }
        if (page.size() < 1000) break;
        after = page.back().first;
    }
    if (filter.expiring_within_days)
        std::sort(out.begin(), out.end(),
                  [](const auto& a, const auto& b) { return a.not_after_s < b.not_after_s; });
    else
        std::sort(out.begin(), out.end(),
                  [](const auto& a, const auto& b) { return a.issued_ms > b.issued_ms; });
    return out;
}

CertificateRecord CertificateAuthority::revoke(const Principal& caller, std::string_view serial_hex,
                                               RevocationReason reason) {
    require_role(caller, {Role::Admin, Role::KeyOfficer}, "revoking a certificate");
    const auto serial = normalize_serial(serial_hex);
    if (!serial)
        throw Error(ErrorCode::NotFound,
                    "no certificate with serial '" + std::string(serial_hex) + "'");
    CertificateRecord r;
    m_ctx.store.write([&](WriteTxn& t) {
        auto value = t.get(Table::Certificates, *serial);
        if (!value)
            throw Error(ErrorCode::NotFound, "no certificate with serial '" + *serial + "'");
        r = decode_certificate(*value);
        if (r.status == CertificateStatus::Revoked)
            throw Error(ErrorCode::Conflict, "certificate " + r.serial + " is already revoked");
        r.status = CertificateStatus::Revoked;
        r.revoked_ms = m_ctx.clock.now_ms();
        r.reason = reason;
        r.revoked_by = caller.name;
        t.put(Table::Certificates, r.serial, encode_certificate(r));
        // The cached CRL no longer lists every revoked certificate: drop it in the same
        // transaction, so even if issuing the new one fails below, no stale CRL is served.
        t.delete_setting(kCrlDer);
        t.append_audit(AuditEvent{
            caller.name, "ca.certificate-revoke", r.serial, AuditOutcome::Success,
            record_detail(r) + " reason=" + std::string(revocation_reason_name(reason))});
    });
    issue_crl(true);
    return r;
}

Bytes CertificateAuthority::crl_der() {
    return issue_crl(false);
}

namespace {
/// The stored "ca/crl/number" (u64 big-endian); 0 before the first CRL.
std::uint64_t stored_crl_number(const std::optional<Bytes>& stored) {
    if (!stored) return 0;
    ByteReader in(*stored);
    return in.u64();
}
}  // namespace

Bytes CertificateAuthority::issue_crl(bool force) {
    std::lock_guard lock(m_crl_mutex);
    const CaMaterial issuing = require_issuing(m_ctx.store);
    const std::int64_t now_s = m_ctx.clock.now_ms() / 1000;
    if (!force) {
        if (auto cached = m_ctx.store.get_setting(kCrlDer)) {
            if (crypto::crl_next_update(*cached) - now_s > kCrlRenewBefore &&
                crypto::verify_crl_signature(*cached, issuing.spki))
                return *cached;
        }
    }
    // RFC 5280 §5.2.3: CRL numbers increase monotonically. m_crl_mutex orders the CRLs of
    // this kmsd; another node on a shared store may issue one between our read of the number
    // and our write, so the write checks the number again and, if it moved, we sign anew.
    for (int attempt = 1;; ++attempt) {
        crypto::CrlContents c;
        c.this_update_s = now_s;
        c.next_update_s = now_s + kCrlLifetime;
        const std::uint64_t number = stored_crl_number(m_ctx.store.get_setting(kCrlNumber));
        c.crl_number = number + 1;
        std::string after;
        while (true) {
            auto page = m_ctx.store.scan(Table::Certificates, after, 1000);
            for (auto& [key, value] : page) {
                const CertificateRecord r = decode_certificate(value);
                if (r.status != CertificateStatus::Revoked) continue;
                c.revoked.push_back({r.serial, r.revoked_ms / 1000, crl_reason(r.reason)});
            }
            if (page.size() < 1000) break;
            after = page.back().first;
        }
        const Bytes der =
            crypto::issue_crl(c, issuing.cert, signer_for(m_ctx.hsm, kIssuingKeyId, issuing));
        if (!crypto::verify_crl_signature(der, issuing.spki))
            throw Error(ErrorCode::Integrity, "the HSM's signature on the CRL does not verify");
        Bytes number_bytes;
        put_u64(number_bytes, c.crl_number);
        bool issued_elsewhere = false;
        m_ctx.store.write([&](WriteTxn& t) {
            issued_elsewhere = stored_crl_number(t.get_setting(kCrlNumber)) != number;
            if (issued_elsewhere) return;
            t.put_setting(kCrlDer, der);
            t.put_setting(kCrlNumber, number_bytes);
            t.append_audit(AuditEvent{"kmsd", "ca.crl-issue", std::to_string(c.crl_number),
                                      AuditOutcome::Success,
                                      "CRL " + std::to_string(c.crl_number) + " with " +
                                          std::to_string(c.revoked.size()) + " revoked"});
        });
        if (!issued_elsewhere) return der;
        if (attempt == 3)
            throw Error(ErrorCode::Conflict, "CRLs are being issued concurrently; try again");
    }
}

std::string CertificateAuthority::chain_pem() {
    const CaMaterial issuing = require_issuing(m_ctx.store);
    const CaMaterial root = require_root(m_ctx.store);
    return crypto::der_to_pem(issuing.cert) + crypto::der_to_pem(root.cert);
}

}  // namespace kms::core
