// X.509 v3 certificate assembly for the internal CA (DESIGN §6). OpenSSL 3 builds the
// to-be-signed structure; the signature comes from a callback that asks the HSM, so the CA's
// private key never leaves it. Also the host TLS key of kmsd and PEM/DER conversions.
//
// Why hand-assembled: OpenSSL 3.0 has no setter for an X509's signature value
// (openssl/openssl#5916), so X509_sign cannot be used with a key it cannot see. We encode the
// TBSCertificate with i2d_re_X509_tbs, have the HSM sign it, and write the outer
// Certificate SEQUENCE ourselves (RFC 5280 §4.1), then parse it back to be sure it is well-formed.
//
// Thread safety: every function is reentrant; the TbsSigner is called once, on the caller's
// thread, and may throw (the exception propagates unchanged).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "domain/bytes.hpp"
#include "public_key.hpp"  // ecdsa_raw_to_der / ecdsa_der_to_raw live there

namespace kms::crypto {

/// Signs the DER TBSCertificate: returns a raw ECDSA P-256 signature r || s (64 bytes) over
/// SHA-256(@p tbs_der), i.e. exactly what Hsm::sign(key, SignAlgorithm::EcdsaSha256, tbs_der)
/// returns. The signer hashes; it is given the whole TBS, not a digest.
using TbsSigner = std::function<Bytes(ByteView tbs_der)>;

/// What to put in a certificate. Times are Unix seconds (UTC); RFC 5280 §4.1.2.5 encodings
/// (UTCTime through 2049, GeneralizedTime after) are chosen automatically.
struct CertificateProfile {
    std::string common_name;  ///< subject CN; 1..64 UTF-8 bytes (RFC 5280 ub-common-name)
    std::string organization =
        "KMS Appliance";                 ///< subject O; empty = no O attribute; at most 64 bytes
    std::int64_t not_before_s = 0;       ///< notBefore
    std::int64_t not_after_s = 0;        ///< notAfter; must be after not_before_s
    bool is_ca = false;                  ///< basicConstraints cA
    int path_len = -1;                   ///< CA only: pathLenConstraint, -1 = absent
    bool server_auth = false;            ///< extendedKeyUsage id-kp-serverAuth
    bool client_auth = false;            ///< extendedKeyUsage id-kp-clientAuth
    std::vector<std::string> dns_names;  ///< subjectAltName dNSName ("host.example", "*.example")
    std::vector<std::string> ip_addresses;  ///< subjectAltName iPAddress ("127.0.0.1", "::1")
    /// Leaf keyUsage. Tls: digitalSignature plus keyAgreement (EC) or keyEncipherment (RSA),
    /// for TLS servers and clients. SignAndKeyAgreement: digitalSignature | keyAgreement
    /// whatever the key type (secure elements: ECDSA and ECDH/ECKA, no EKU). SignOnly:
    /// digitalSignature alone (kmsd's backup signer). Ignored for a CA.
    enum class LeafKeyUsage : std::uint8_t { Tls, SignAndKeyAgreement, SignOnly };
    LeafKeyUsage leaf_key_usage = LeafKeyUsage::Tls;
};

/// Issues an X.509 v3 certificate for @p subject_spki (DER SubjectPublicKeyInfo: EC P-256,
/// P-384, RSA-2048 or RSA-3072) signed by the issuer through @p sign_tbs.
///
/// @p issuer_cert_der  DER certificate of the issuing CA; empty = self-signed: the issuer name
///                     is the subject name and @p subject_spki must be the signer's own key.
///                     It must have basicConstraints cA = TRUE, and its key (the CA key)
///                     must be EC P-256.
/// Contents (RFC 5280 §4.1, §4.2):
///  - version 3; serial: 16 random bytes from OpenSSL's DRBG with the top bit cleared and the
///    next set, so it is positive and always encodes in exactly 16 octets (§4.1.2.2);
///  - subject O (when set) and CN; issuer = the issuer certificate's subject;
///  - signature ecdsa-with-SHA256 (RFC 5758 §3.2: OID 1.2.840.10045.4.3.2, parameters absent)
///    in both the TBS and the outer Certificate;
///  - subjectKeyIdentifier (SHA-1 of the subjectPublicKey, §4.2.1.2 method 1) and
///    authorityKeyIdentifier keyIdentifier = the issuer's SKI (self-signed: its own);
///  - basicConstraints, critical: cA and pathLenConstraint per the profile;
///  - keyUsage, critical: CA: keyCertSign | cRLSign; leaf: digitalSignature, plus keyAgreement
///    for an EC subject key or keyEncipherment for an RSA one (TLS key exchange), or as
///    CertificateProfile::leaf_key_usage says;
///  - extendedKeyUsage (not critical) with serverAuth / clientAuth when asked, else absent;
///  - subjectAltName (not critical) when any DNS name or IP address is given.
/// The certificate is returned as built, without checking the signature the signer produced:
/// callers that need that guarantee call verify_certificate_signature() afterwards (a CA
/// should, so a faulty HSM answer never reaches a relying party).
///
/// Throws kms::Error:
///  - InvalidArgument: empty or over-long CN/O, not_after_s <= not_before_s, path_len set on a
///    leaf or below -1, a DNS name that is not a host name (letters, digits, '-', '.', an
///    optional leading "*."), an IP address that does not parse, an SPKI or issuer certificate
///    that does not parse, an issuer certificate that is not a CA, a signer result that is not
///    64 bytes (raw P-256 r || s);
///  - Unsupported: the issuer key is not EC P-256, or the subject key is not EC P-256/P-384 or
///    RSA of 2048 to 8192 bits;
///  - Internal: OpenSSL failed, or the assembled DER did not parse back;
///  - whatever @p sign_tbs throws.
Bytes issue_certificate(const CertificateProfile& profile, ByteView subject_spki,
                        ByteView issuer_cert_der, const TbsSigner& sign_tbs);

/// Whether @p cert_der's signature verifies under the public key in @p issuer_spki (DER).
/// Checks the signature only (no validity period, no chain). False when the certificate does
/// not parse or the signature is wrong; throws InvalidArgument when the SPKI does not parse.
bool verify_certificate_signature(ByteView cert_der, ByteView issuer_spki);

/// The DER SubjectPublicKeyInfo of a certificate. Throws InvalidArgument when it does not parse.
Bytes certificate_spki(ByteView cert_der);

/// What the CA records about a certificate it issued (issue_certificate's serial and dates).
struct CertificateInfo {
    std::string serial_hex;   ///< uppercase hex of the serial's magnitude, no leading "00"
    std::string common_name;  ///< subject CN (UTF-8); empty when there is none
    std::int64_t not_before_s = 0;
    std::int64_t not_after_s = 0;
};
/// Throws InvalidArgument when @p cert_der does not parse.
CertificateInfo certificate_info(ByteView cert_der);

// ---- PKCS#10 certification requests (RFC 2986) ----

/// A CSR whose self-signature verified.
struct CertificateRequest {
    std::string common_name;                ///< subject CN (UTF-8), 1..64 bytes
    std::vector<std::string> dns_names;     ///< requested subjectAltName dNSName entries
    std::vector<std::string> ip_addresses;  ///< requested iPAddress entries, as text
    Bytes spki_der;                         ///< the subject public key (DER SPKI)
};

/// Parses a DER PKCS#10 CertificationRequest and verifies its self-signature with the public
/// key it carries (X509_REQ_verify: proof of possession, RFC 2986 §3).
/// Throws kms::Error:
///  - InvalidArgument: not a CSR (or trailing bytes), version other than v1 (0), no or several
///    subject CNs, a CN over 64 bytes or not valid UTF-8, a subjectAltName that does not parse
///    or holds a name other than dNSName / iPAddress, a public key that does not parse;
///  - VerificationFailed: the self-signature does not verify.
CertificateRequest parse_certificate_request(ByteView csr_der);

// ---- CRLs (RFC 5280 §5) ----

/// RFC 5280 §5.3.1 CRLReason values.
enum class CrlReason : std::uint8_t {
    Unspecified = 0,
    KeyCompromise = 1,
    CaCompromise = 2,
    AffiliationChanged = 3,
    Superseded = 4,
    CessationOfOperation = 5,
    CertificateHold = 6,
    RemoveFromCrl = 8,
    PrivilegeWithdrawn = 9,
    AaCompromise = 10,
};

struct RevokedCertificate {
    std::string serial_hex;  ///< hex of the serial (either case), 1..40 digits
    std::int64_t revoked_s = 0;
    CrlReason reason = CrlReason::Unspecified;  ///< Unspecified: no reasonCode (§5.3.1 SHOULD)
};

struct CrlContents {
    std::int64_t this_update_s = 0;
    std::int64_t next_update_s = 0;  ///< must be after this_update_s
    std::uint64_t crl_number = 0;    ///< cRLNumber (§5.2.3), monotonically increasing
    std::vector<RevokedCertificate> revoked;
};

/// Issues a v2 CRL (RFC 5280 §5.1) signed by the CA of @p issuer_cert_der through @p sign_tbs
/// (raw P-256 r || s, as for issue_certificate). Contents: issuer = the CA's subject,
/// thisUpdate/nextUpdate, revoked entries sorted by serial with a reasonCode extension (not
/// for unspecified), cRLNumber and authorityKeyIdentifier (= the CA's SKI) extensions,
/// signature ecdsa-with-SHA256. The TBSCertList is built by OpenSSL and encoded with
/// i2d_re_X509_CRL_tbs; the outer CertificateList is assembled here (no signature setter in
/// OpenSSL 3.0) and parsed back with d2i_X509_CRL.
/// Throws InvalidArgument (bad times or serial, issuer not a CA, signer result not 64 bytes),
/// Unsupported (issuer key not EC P-256), Internal (OpenSSL), or what @p sign_tbs throws.
Bytes issue_crl(const CrlContents& contents, ByteView issuer_cert_der, const TbsSigner& sign_tbs);

/// The nextUpdate of a CRL (Unix seconds). Throws InvalidArgument when it does not parse or has
/// no nextUpdate.
std::int64_t crl_next_update(ByteView crl_der);

/// Whether the CRL's signature verifies under @p issuer_spki (X509_CRL_verify). False when the
/// CRL does not parse; throws InvalidArgument when the SPKI does not parse.
bool verify_crl_signature(ByteView crl_der, ByteView issuer_spki);

/// A key pair made on the host, for kmsd's own TLS server key only (DESIGN §10: TLS keys may
/// live in a file of mode 0600; CA and working keys live in the HSM). The destructor wipes the
/// PEM; copies are wiped when they are destroyed too, so keep the value in a HostKey rather
/// than copying the string out.
struct HostKey {
    std::string private_key_pem;  ///< unencrypted PKCS#8 PEM ("BEGIN PRIVATE KEY")
    Bytes spki_der;               ///< DER SubjectPublicKeyInfo of the public half

    HostKey() = default;
    HostKey(const HostKey&) = default;
    HostKey(HostKey&&) noexcept = default;
    /// Both assignments wipe the PEM being replaced before taking the new one.
    HostKey& operator=(const HostKey& other);
    HostKey& operator=(HostKey&& other) noexcept;
    ~HostKey();
};

/// Generates an EC P-256 key pair with OpenSSL's DRBG. The PEM is produced in OpenSSL's secure
/// memory BIO (cleared on free). Throws Internal when OpenSSL fails.
HostKey generate_host_ec_p256_key();

/// PEM (RFC 7468 §2: "-----BEGIN <label>-----", base64 in 64-character lines, "-----END
/// <label>-----", each line ending in '\n') of @p der. @p label must be non-empty uppercase
/// letters, digits and spaces; throws InvalidArgument otherwise.
std::string der_to_pem(ByteView der, std::string_view label = "CERTIFICATE");

/// The DER bytes of the first PEM block in @p pem, whatever its label. Text before the block is
/// ignored (RFC 7468 §2 explanatory text). Throws InvalidArgument when there is no well-formed
/// block.
Bytes pem_to_der(std::string_view pem);

}  // namespace kms::crypto
