// CertificateAuthority: the internal CA (DESIGN §6, issue 3 "Internal CA").
//
// Hierarchy: root "kms-ca-root" (self-signed, settings ca/root/{block,spki,cert}) -> issuing CA
// "kms-ca-issuing" (EC P-256, pathLen 0, settings ca/issuing/{block,spki,cert}) -> leaves
// (server, client, secure-element, and kmsd's own TLS certificate). Both CA keys are key blocks
// under the master key; every signature is made by Hsm::sign; OpenSSL only assembles.
//
// Records: core::Table::Certificates, key = serial in uppercase hex, value = encode_certificate
// (format byte first). Every issuance and revocation is audited in the same store write.
// The CRL (DER) is cached in settings "ca/crl/der" with its number in "ca/crl/number"; it is
// re-issued on every revocation and when its nextUpdate is less than one day away.
//
// Roles: issue, revoke need admin or key-officer; reads also allow auditor. find(), crl_der()
// and chain_pem() take no caller (mTLS authentication, unauthenticated CRL/chain endpoints).
// Errors: kms::Error (InvalidArgument for bad CSR/profile/validity, Forbidden, NotFound,
// Conflict (revoking twice), Hsm*, StoreError).
// Thread safety: every method may be called from any thread.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "services/context.hpp"
#include "services/key_lifecycle.hpp"  // RevocationReason, revocation_reason_name

namespace kms::core {

enum class CertProfile : std::uint8_t {
    Server = 1,         ///< serverAuth, SANs from the CSR, at most 397 days
    Client = 2,         ///< clientAuth, at most 825 days; may be bound to a principal
    SecureElement = 3,  ///< digitalSignature + keyAgreement, no EKU, at most 20 years
};
std::string_view cert_profile_name(CertProfile p);  ///< "server", "client", "secure-element"
std::optional<CertProfile> parse_cert_profile(std::string_view name);

enum class CertificateStatus : std::uint8_t { Valid = 1, Revoked = 2 };
/// "valid", "revoked", or "expired" (a valid certificate past notAfter at @p now_s).
std::string_view certificate_status_name(CertificateStatus s, std::int64_t not_after_s,
                                         std::int64_t now_s);

struct CertificateRecord {
    std::string serial;  ///< uppercase hex, as in the table key
    CertProfile profile = CertProfile::Client;
    std::string subject;    ///< subject CN
    std::string principal;  ///< bound principal (client profile); empty = none
    std::int64_t not_before_s = 0;
    std::int64_t not_after_s = 0;
    CertificateStatus status = CertificateStatus::Valid;
    std::int64_t issued_ms = 0;
    std::string issued_by;        ///< principal name, or "kmsd" for its own TLS certificate
    std::int64_t revoked_ms = 0;  ///< revoked only
    RevocationReason reason = RevocationReason::Unspecified;  ///< revoked only
    std::string revoked_by;                                   ///< revoked only
    Bytes der;                                                ///< the certificate
};

Bytes encode_certificate(const CertificateRecord& r);
CertificateRecord decode_certificate(ByteView value);  ///< throws Integrity on a bad record

struct IssueRequest {
    std::string csr_pem;
    CertProfile profile = CertProfile::Client;
    std::optional<int> validity_days;  ///< default: the profile's maximum (server 397, ...)
    std::string principal;             ///< client profile only; empty = none
};

struct IssuedCertificate {
    CertificateRecord record;
    std::string pem;        ///< the certificate
    std::string chain_pem;  ///< issuing CA + root
};

struct CertificateFilter {
    std::optional<std::string> status;        ///< "valid" | "revoked" | "expired"
    std::optional<int> expiring_within_days;  ///< valid and notAfter <= now + N days
    std::string principal;                    ///< empty = any
};

class CertificateAuthority {
  public:
    explicit CertificateAuthority(ServiceContext& ctx) : m_ctx(ctx) {}

    /// Creates the issuing CA (key + certificate signed by the root) when missing; idempotent.
    /// The root must exist (daemon/bootstrap.cpp ensure_tls makes it).
    void ensure_issuing_ca();

    /// Issues a certificate from a PKCS#10 CSR (admin or key-officer). With `principal` set
    /// (client profile only) the principal must exist and the CSR's CN must equal its name.
    IssuedCertificate issue(const Principal& caller, const IssueRequest& request);
    /// The principals path (POST /v1/principals with "csr"): client profile, CN must equal
    /// @p principal_name, bound to it. Caller: admin or key-officer. The principal need not be
    /// stored yet (it may be created in the same request).
    IssuedCertificate issue_for_principal(const Principal& caller,
                                          const std::string& principal_name,
                                          std::string_view csr_pem);

    /// The record of @p serial_hex (any case), or nullopt. No role check (mTLS path).
    std::optional<CertificateRecord> find(std::string_view serial_hex);
    /// Same with a role check (admin, key-officer, auditor); NotFound when unknown.
    CertificateRecord get(const Principal& caller, std::string_view serial_hex);
    std::vector<CertificateRecord> list(const Principal& caller, const CertificateFilter& filter);
    /// Marks @p serial_hex revoked and issues a new CRL at once. Conflict when already revoked.
    CertificateRecord revoke(const Principal& caller, std::string_view serial_hex,
                             RevocationReason reason);

    /// The current CRL (DER), re-issued when missing or its nextUpdate is within one day.
    Bytes crl_der();
    /// PEM of the issuing CA certificate followed by the root's.
    std::string chain_pem();

  private:
    IssuedCertificate issue_impl(const Principal& caller, const IssueRequest& request,
                                 bool check_principal_exists);
    Bytes issue_crl(bool force);
    ServiceContext& m_ctx;
    std::mutex m_crl_mutex;
};

// ---- used by daemon/bootstrap.cpp before the services exist (store, HSM and clock only) ----

/// See CertificateAuthority::ensure_issuing_ca. Returns the issuing CA certificate (DER).
Bytes ensure_issuing_ca(MetadataStore& store, Hsm& hsm, const Clock& clock);
/// Signs a TBS with the issuing CA's key (raw r || s), for kmsd's own TLS certificate.
Bytes sign_with_issuing_ca(MetadataStore& store, Hsm& hsm, ByteView tbs);
/// Records a certificate kmsd issued for itself (profile server, issued_by "kmsd"), audited.
void record_own_certificate(MetadataStore& store, const Clock& clock, ByteView cert_der);

}  // namespace kms::core
