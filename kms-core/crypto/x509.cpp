// X.509 assembly with an external (HSM) signer, host TLS keys and PEM (see x509.hpp).
#include "x509.hpp"

#include <arpa/inet.h>
#include <openssl/objects.h>
#include <openssl/pem.h>

#include <array>
#include <climits>
#include <cstring>
#include <ctime>

#include "domain/secure_bytes.hpp"
#include "host_crypto.hpp"
#include "ossl.hpp"

namespace kms::crypto {

using namespace detail;

namespace {

constexpr std::size_t kMaxNameBytes = 64;           // RFC 5280 ub-common-name, ub-organization-name
constexpr std::int64_t kLatestTime = 253402300799;  // 9999-12-31T23:59:59Z, RFC 5280 §4.1.2.5
constexpr std::size_t kP256RawSignature = 64;       // r || s, 32 bytes each

// AlgorithmIdentifier ecdsa-with-SHA256: SEQUENCE { OID 1.2.840.10045.4.3.2 } with the
// parameters field absent, as RFC 5758 §3.2 requires.
constexpr std::array<std::uint8_t, 12> kEcdsaWithSha256 = {0x30, 0x0A, 0x06, 0x08, 0x2A, 0x86,
                                                           0x48, 0xCE, 0x3D, 0x04, 0x03, 0x02};

bool valid_host_label(std::string_view label) {
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-')
        return false;
    for (char c : label) {
        const bool ok =
            (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
        if (!ok) return false;
    }
    return true;
}

/// RFC 1123 §2.1 host names, with RFC 6125 §6.4.3's single leading wildcard label allowed.
bool valid_dns_name(std::string_view name) {
    if (name.empty() || name.size() > 253) return false;
    if (name.starts_with("*.")) name.remove_prefix(2);
    while (true) {
        const auto dot = name.find('.');
        if (!valid_host_label(name.substr(0, dot))) return false;
        if (dot == std::string_view::npos) return true;
        name.remove_prefix(dot + 1);
    }
}

void check_profile(const CertificateProfile& p) {
    if (p.common_name.empty() || p.common_name.size() > kMaxNameBytes)
        invalid("certificate: common name must be 1..64 bytes");
    if (p.organization.size() > kMaxNameBytes)
        invalid("certificate: organization must be at most 64 bytes");
    if (p.not_before_s < 0 || p.not_after_s > kLatestTime || p.not_after_s <= p.not_before_s)
        invalid("certificate: validity must satisfy 0 <= notBefore < notAfter <= 9999-12-31");
    if (p.path_len < -1 || (!p.is_ca && p.path_len != -1))
        invalid("certificate: path_len is -1 (absent) or, for a CA, >= 0");
    for (const auto& dns : p.dns_names)
        if (!valid_dns_name(dns)) invalid("certificate: not a DNS host name: " + dns);
}

X509Ptr parse_certificate(ByteView der) {
    const unsigned char* p = der.data();
    X509Ptr x(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
    if (!x || p != der.data() + der.size()) {
        ERR_clear_error();
        return nullptr;
    }
    return x;
}

void set_name(X509* x, const CertificateProfile& p) {
    X509NamePtr name(X509_NAME_new());
    if (!name) openssl_fail("X509_NAME_new");
    const auto add = [&](int nid, const std::string& value) {
        if (X509_NAME_add_entry_by_NID(name.get(), nid, MBSTRING_UTF8,
                                       reinterpret_cast<const unsigned char*>(value.data()),
                                       static_cast<int>(value.size()), -1, 0) != 1)
            invalid("certificate: name attribute is not valid UTF-8");
    };
    if (!p.organization.empty()) add(NID_organizationName, p.organization);
    add(NID_commonName, p.common_name);
    if (X509_set_subject_name(x, name.get()) != 1) openssl_fail("X509_set_subject_name");
}

void set_serial(X509* x) {
    // RFC 5280 §4.1.2.2: a positive INTEGER of at most 20 octets, unique per CA. 126 random
    // bits; bit 7 of the first byte cleared (positive) and bit 6 set (no leading zero octet).
    Bytes serial = random_bytes(16);
    serial[0] = static_cast<std::uint8_t>((serial[0] & 0x7F) | 0x40);
    BnPtr bn(BN_bin2bn(serial.data(), static_cast<int>(serial.size()), nullptr));
    if (!bn) openssl_fail("BN_bin2bn");
    Asn1IntegerPtr integer(BN_to_ASN1_INTEGER(bn.get(), nullptr));
    if (!integer) openssl_fail("BN_to_ASN1_INTEGER");
    if (X509_set_serialNumber(x, integer.get()) != 1) openssl_fail("X509_set_serialNumber");
}

void set_validity(X509* x, const CertificateProfile& p) {
    if (ASN1_TIME_set(X509_getm_notBefore(x), static_cast<time_t>(p.not_before_s)) == nullptr ||
        ASN1_TIME_set(X509_getm_notAfter(x), static_cast<time_t>(p.not_after_s)) == nullptr)
        openssl_fail("ASN1_TIME_set");
}

/// SHA-1 of the subjectPublicKey BIT STRING contents: RFC 5280 §4.2.1.2 method (1).
Asn1OctetStringPtr key_identifier(const X509* cert) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (X509_pubkey_digest(cert, EVP_sha1(), md, &len) != 1) openssl_fail("X509_pubkey_digest");
    Asn1OctetStringPtr id(ASN1_OCTET_STRING_new());
    if (!id || ASN1_OCTET_STRING_set(id.get(), md, static_cast<int>(len)) != 1)
        openssl_fail("ASN1_OCTET_STRING_set");
    return id;
}

void add_i2d_ext(X509* x, int nid, void* value, bool critical, const char* what) {
    if (X509_add1_ext_i2d(x, nid, value, critical ? 1 : 0, X509V3_ADD_DEFAULT) != 1)
        openssl_fail(what);
}

void add_conf_ext(X509* x, int nid, const std::string& value) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, nullptr, x, nullptr, nullptr, 0);
    X509ExtPtr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
    if (!ext) openssl_fail("X509V3_EXT_conf_nid");
    if (X509_add_ext(x, ext.get(), -1) != 1) openssl_fail("X509_add_ext");
}

void add_key_identifiers(X509* x, const X509* issuer) {
    Asn1OctetStringPtr ski = key_identifier(x);
    add_i2d_ext(x, NID_subject_key_identifier, ski.get(), false, "subjectKeyIdentifier");
    // §4.2.1.1: the AKI keyIdentifier is the issuer's SKI. Use the issuer certificate's own
    // extension when it has one, so chains built by other tools still link.
    Asn1OctetStringPtr issuer_id;
    if (issuer == nullptr) {
        issuer_id.reset(ASN1_OCTET_STRING_dup(ski.get()));
    } else if (const ASN1_OCTET_STRING* existing =
                   X509_get0_subject_key_id(const_cast<X509*>(issuer))) {
        issuer_id.reset(ASN1_OCTET_STRING_dup(existing));
    } else {
        issuer_id = key_identifier(issuer);
    }
    if (!issuer_id) openssl_fail("ASN1_OCTET_STRING_dup");
    std::unique_ptr<AUTHORITY_KEYID, Deleter<AUTHORITY_KEYID, AUTHORITY_KEYID_free>> akid(
        AUTHORITY_KEYID_new());
    if (!akid) openssl_fail("AUTHORITY_KEYID_new");
    akid->keyid = issuer_id.release();
    add_i2d_ext(x, NID_authority_key_identifier, akid.get(), false, "authorityKeyIdentifier");
}

void add_constraints(X509* x, const CertificateProfile& p, bool subject_is_ec) {
    // §4.2.1.9: basicConstraints MUST be critical in CA certificates; we mark it critical in
    // leaves too (allowed) so no relying party can mistake a leaf for a CA.
    std::string bc = p.is_ca ? "critical,CA:TRUE" : "critical,CA:FALSE";
    if (p.is_ca && p.path_len >= 0) bc += ",pathlen:" + std::to_string(p.path_len);
    add_conf_ext(x, NID_basic_constraints, bc);
    // §4.2.1.3: keyUsage SHOULD be critical.
    std::string ku;
    if (p.is_ca)
        ku = "critical,keyCertSign,cRLSign";
    else if (p.leaf_key_usage == CertificateProfile::LeafKeyUsage::SignAndKeyAgreement)
        ku = "critical,digitalSignature,keyAgreement";
    else if (p.leaf_key_usage == CertificateProfile::LeafKeyUsage::SignOnly)
        ku = "critical,digitalSignature";
    else
        ku = subject_is_ec ? "critical,digitalSignature,keyAgreement"
                           : "critical,digitalSignature,keyEncipherment";
    add_conf_ext(x, NID_key_usage, ku);
    if (p.server_auth || p.client_auth) {
        std::string eku;
        if (p.server_auth) eku = "serverAuth";
        if (p.client_auth) eku += eku.empty() ? "clientAuth" : ",clientAuth";
        add_conf_ext(x, NID_ext_key_usage, eku);
    }
}

void add_subject_alt_names(X509* x, const CertificateProfile& p) {
    if (p.dns_names.empty() && p.ip_addresses.empty()) return;
    // Built from GENERAL_NAME objects rather than a "DNS:..,IP:.." config string, so a name can
    // never smuggle in another entry through a comma.
    GeneralNamesPtr names(sk_GENERAL_NAME_new_null());
    if (!names) openssl_fail("sk_GENERAL_NAME_new_null");
    const auto push = [&](int type, ASN1_STRING* value) {
        GeneralNamePtr gn(GENERAL_NAME_new());
        if (!gn) {
            ASN1_STRING_free(value);
            openssl_fail("GENERAL_NAME_new");
        }
        GENERAL_NAME_set0_value(gn.get(), type, value);
        if (sk_GENERAL_NAME_push(names.get(), gn.get()) <= 0) openssl_fail("sk_GENERAL_NAME_push");
        gn.release();
    };
    for (const auto& dns : p.dns_names) {
        Asn1Ia5StringPtr s(ASN1_IA5STRING_new());
        if (!s || ASN1_STRING_set(s.get(), dns.data(), static_cast<int>(dns.size())) != 1)
            openssl_fail("ASN1_STRING_set");
        push(GEN_DNS, s.release());
    }
    for (const auto& ip : p.ip_addresses) {
        // RFC 5280 §4.2.1.6: four octets for IPv4, sixteen for IPv6, network byte order.
        ASN1_OCTET_STRING* octets = a2i_IPADDRESS(ip.c_str());
        if (octets == nullptr) invalid("certificate: not an IP address: " + ip);
        push(GEN_IPADD, octets);
    }
    add_i2d_ext(x, NID_subject_alt_name, names.get(), false, "subjectAltName");
}

void set_signature_algorithm(X509* x) {
    // OpenSSL 3.0 offers only const getters for both AlgorithmIdentifiers (openssl#5916); the
    // objects belong to x and are writable, so set them in place.
    X509_ALGOR* tbs_alg = const_cast<X509_ALGOR*>(X509_get0_tbs_sigalg(x));
    const ASN1_BIT_STRING* sig = nullptr;
    const X509_ALGOR* outer = nullptr;
    X509_get0_signature(&sig, &outer, x);
    for (X509_ALGOR* alg : {tbs_alg, const_cast<X509_ALGOR*>(outer)})
        if (X509_ALGOR_set0(alg, OBJ_nid2obj(NID_ecdsa_with_SHA256), V_ASN1_UNDEF, nullptr) != 1)
            openssl_fail("X509_ALGOR_set0");
}

void put_der_length(Bytes& out, std::size_t n) {
    if (n < 0x80) {
        out.push_back(static_cast<std::uint8_t>(n));
        return;
    }
    std::uint8_t tmp[sizeof(std::size_t)];
    std::size_t count = 0;
    for (std::size_t v = n; v != 0; v >>= 8) tmp[count++] = static_cast<std::uint8_t>(v & 0xFF);
    out.push_back(static_cast<std::uint8_t>(0x80 | count));
    while (count != 0) out.push_back(tmp[--count]);
}

/// RFC 5280 §4.1: Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm,
/// signatureValue BIT STRING }. The BIT STRING holds the DER ECDSA-Sig-Value with 0 unused bits.
Bytes assemble_certificate(ByteView tbs, ByteView signature_der) {
    Bytes bit_string;
    bit_string.push_back(0x03);
    put_der_length(bit_string, signature_der.size() + 1);
    bit_string.push_back(0x00);
    bit_string.insert(bit_string.end(), signature_der.begin(), signature_der.end());

    Bytes out;
    out.push_back(0x30);
    put_der_length(out, tbs.size() + kEcdsaWithSha256.size() + bit_string.size());
    out.insert(out.end(), tbs.begin(), tbs.end());
    out.insert(out.end(), kEcdsaWithSha256.begin(), kEcdsaWithSha256.end());
    out.insert(out.end(), bit_string.begin(), bit_string.end());
    return out;
}

bool acceptable_rsa(const EVP_PKEY* key) {
    if (EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA) return false;
    const int bits = EVP_PKEY_get_bits(key);
    return bits >= 2048 && bits <= 8192;
}

}  // namespace

Bytes issue_certificate(const CertificateProfile& profile, ByteView subject_spki,
                        ByteView issuer_cert_der, const TbsSigner& sign_tbs) {
    check_profile(profile);
    if (!sign_tbs) invalid("certificate: no signer");
    PkeyPtr subject_key = parse_spki(subject_spki);
    if (!subject_key) invalid("certificate: the subject public key does not parse");
    const auto subject_alg = spki_algorithm(subject_spki);
    const bool subject_is_ec = subject_alg && (*subject_alg == core::Algorithm::EcP256 ||
                                               *subject_alg == core::Algorithm::EcP384);
    if (!subject_is_ec && !acceptable_rsa(subject_key.get()))
        throw Error(ErrorCode::Unsupported,
                    "certificate: subject key must be EC P-256/P-384 or RSA of 2048 to 8192 bits");

    X509Ptr issuer;
    Bytes issuer_spki;
    if (issuer_cert_der.empty()) {
        issuer_spki.assign(subject_spki.begin(), subject_spki.end());
    } else {
        issuer = parse_certificate(issuer_cert_der);
        if (!issuer) invalid("certificate: the issuer certificate does not parse");
        // RFC 5280 §4.2.1.9 / §6.1.4 (k): only a CA certificate may issue. X509_check_ca returns
        // 1 for basicConstraints cA = TRUE; its other non-zero answers (v1 self-signed,
        // keyCertSign without basicConstraints, Netscape cert type) are legacy and refused.
        if (X509_check_ca(issuer.get()) != 1) {
            ERR_clear_error();
            invalid("certificate: the issuer certificate is not a CA");
        }
        issuer_spki = certificate_spki(issuer_cert_der);
    }
    if (spki_algorithm(issuer_spki) != core::Algorithm::EcP256)
        throw Error(ErrorCode::Unsupported, "certificate: the issuer key must be EC P-256");

    X509Ptr x(X509_new());
    if (!x) openssl_fail("X509_new");
    if (X509_set_version(x.get(), X509_VERSION_3) != 1) openssl_fail("X509_set_version");
    set_serial(x.get());
    set_name(x.get(), profile);
    const X509_NAME* issuer_name =
        issuer ? X509_get_subject_name(issuer.get()) : X509_get_subject_name(x.get());
    if (X509_set_issuer_name(x.get(), issuer_name) != 1) openssl_fail("X509_set_issuer_name");
    set_validity(x.get(), profile);
    if (X509_set_pubkey(x.get(), subject_key.get()) != 1) openssl_fail("X509_set_pubkey");
    add_key_identifiers(x.get(), issuer.get());
    add_constraints(x.get(), profile, subject_is_ec);
    add_subject_alt_names(x.get(), profile);
    set_signature_algorithm(x.get());

    // i2d_re_X509_tbs discards any cached encoding, so the TBS reflects every field set above.
    const Bytes tbs = encode_der<X509, i2d_re_X509_tbs>(x.get(), "i2d_re_X509_tbs");
    const Bytes raw = sign_tbs(tbs);
    if (raw.size() != kP256RawSignature)
        invalid("certificate: the signer returned " + std::to_string(raw.size()) +
                " bytes, expected a 64-byte raw P-256 r || s");
    const Bytes der = assemble_certificate(tbs, ecdsa_raw_to_der(raw));
    if (!parse_certificate(der))
        throw Error(ErrorCode::Internal, "certificate: the assembled DER does not parse");
    return der;
}

bool verify_certificate_signature(ByteView cert_der, ByteView issuer_spki) {
    PkeyPtr key = parse_spki(issuer_spki);
    if (!key) invalid("certificate: the issuer public key does not parse");
    X509Ptr x = parse_certificate(cert_der);
    if (!x) return false;
    const int rc = X509_verify(x.get(), key.get());
    ERR_clear_error();
    return rc == 1;
}

Bytes certificate_spki(ByteView cert_der) {
    X509Ptr x = parse_certificate(cert_der);
    if (!x) invalid("certificate: does not parse");
    const EVP_PKEY* key = X509_get0_pubkey(x.get());
    if (key == nullptr) invalid("certificate: public key not usable");
    return encode_der<const EVP_PKEY, i2d_PUBKEY>(key, "i2d_PUBKEY");
}

HostKey::~HostKey() {
    secure_wipe(private_key_pem.data(), private_key_pem.size());
}

HostKey& HostKey::operator=(const HostKey& other) {
    if (this != &other) {
        secure_wipe(private_key_pem.data(), private_key_pem.size());
        private_key_pem = other.private_key_pem;
        spki_der = other.spki_der;
    }
    return *this;
}

HostKey& HostKey::operator=(HostKey&& other) noexcept {
    if (this != &other) {
        secure_wipe(private_key_pem.data(), private_key_pem.size());
        private_key_pem = std::move(other.private_key_pem);
        spki_der = std::move(other.spki_der);
    }
    return *this;
}

HostKey generate_host_ec_p256_key() {
    PkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
    if (!key) openssl_fail("EVP_PKEY_Q_keygen");
    // A secure-memory BIO: its buffer is cleared when freed, so no copy of the private key is
    // left in the heap (OpenSSL's BIO_s_secmem).
    BioPtr bio(BIO_new(BIO_s_secmem()));
    if (!bio) openssl_fail("BIO_new");
    if (PEM_write_bio_PrivateKey(bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1)
        openssl_fail("PEM_write_bio_PrivateKey");
    char* data = nullptr;
    const long len = BIO_get_mem_data(bio.get(), &data);
    if (len <= 0 || data == nullptr) openssl_fail("BIO_get_mem_data");
    HostKey out;
    out.private_key_pem.assign(data, static_cast<std::size_t>(len));
    out.spki_der = encode_der<const EVP_PKEY, i2d_PUBKEY>(key.get(), "i2d_PUBKEY");
    return out;
}

std::string der_to_pem(ByteView der, std::string_view label) {
    if (label.empty() || label.size() > 64) invalid("PEM: label must be 1..64 characters");
    for (char c : label)
        if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == ' '))
            invalid("PEM: label must be uppercase letters, digits and spaces");
    std::string out = "-----BEGIN " + std::string(label) + "-----\n";
    // RFC 7468 §2: base64 lines of exactly 64 characters except the last; 48 bytes -> 64 chars.
    unsigned char line[65];
    for (std::size_t off = 0; off < der.size(); off += 48) {
        const std::size_t n = std::min<std::size_t>(48, der.size() - off);
        const int len = EVP_EncodeBlock(line, der.data() + off, static_cast<int>(n));
        out.append(reinterpret_cast<const char*>(line), static_cast<std::size_t>(len));
        out.push_back('\n');
    }
    out += "-----END " + std::string(label) + "-----\n";
    return out;
}

Bytes pem_to_der(std::string_view pem) {
    if (pem.size() > static_cast<std::size_t>(INT_MAX)) invalid("PEM: too large");
    BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    if (!bio) openssl_fail("BIO_new_mem_buf");
    char* name = nullptr;
    char* header = nullptr;
    unsigned char* data = nullptr;
    long len = 0;
    const int ok = PEM_read_bio(bio.get(), &name, &header, &data, &len);
    const bool has_header = header != nullptr && header[0] != '\0';
    Bytes out;
    if (ok == 1 && data != nullptr && len > 0) out.assign(data, data + len);
    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_clear_free(data, ok == 1 && len > 0 ? static_cast<std::size_t>(len) : 0);
    if (ok != 1 || out.empty()) invalid("PEM: no well-formed PEM block");
    if (has_header) invalid("PEM: encapsulated headers (encrypted PEM) are not supported");
    return out;
}

// ---- certificate details, PKCS#10 and CRLs ----

namespace {

using X509ReqPtr = std::unique_ptr<X509_REQ, Deleter<X509_REQ, X509_REQ_free>>;
using X509CrlPtr = std::unique_ptr<X509_CRL, Deleter<X509_CRL, X509_CRL_free>>;
using X509RevokedPtr = std::unique_ptr<X509_REVOKED, Deleter<X509_REVOKED, X509_REVOKED_free>>;
using Asn1TimePtr = std::unique_ptr<ASN1_TIME, Deleter<ASN1_TIME, ASN1_TIME_free>>;
using Asn1EnumeratedPtr =
    std::unique_ptr<ASN1_ENUMERATED, Deleter<ASN1_ENUMERATED, ASN1_ENUMERATED_free>>;
using AkidPtr = std::unique_ptr<AUTHORITY_KEYID, Deleter<AUTHORITY_KEYID, AUTHORITY_KEYID_free>>;

void free_extensions(STACK_OF(X509_EXTENSION) * exts) {
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
}
using ExtensionsPtr =
    std::unique_ptr<STACK_OF(X509_EXTENSION), Deleter<STACK_OF(X509_EXTENSION), free_extensions>>;

std::string integer_hex(const ASN1_INTEGER* serial) {
    BnPtr bn(ASN1_INTEGER_to_BN(serial, nullptr));
    if (!bn) openssl_fail("ASN1_INTEGER_to_BN");
    Bytes raw(static_cast<std::size_t>(BN_num_bytes(bn.get())));
    if (!raw.empty()) BN_bn2bin(bn.get(), raw.data());
    if (raw.empty()) return "00";
    std::string hex = to_hex(raw);
    for (char& c : hex)
        if (c >= 'a' && c <= 'f') c = static_cast<char>(c - 'a' + 'A');
    return hex;
}

std::int64_t time_seconds(const ASN1_TIME* t) {
    struct tm tm {};
    if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) invalid("certificate: bad time");
    return static_cast<std::int64_t>(timegm(&tm));
}

/// The single CN of @p name as UTF-8; empty when absent. InvalidArgument when there are several
/// or it does not convert.
std::string common_name_of(const X509_NAME* name, const char* what) {
    const int i = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
    if (i < 0) return {};
    if (X509_NAME_get_index_by_NID(name, NID_commonName, i) >= 0)
        invalid(std::string(what) + ": more than one subject CN");
    const ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
    unsigned char* utf8 = nullptr;
    const int len = ASN1_STRING_to_UTF8(&utf8, data);
    if (len < 0) invalid(std::string(what) + ": subject CN is not a valid string");
    std::string out(reinterpret_cast<const char*>(utf8), static_cast<std::size_t>(len));
    OPENSSL_free(utf8);
    if (out.find('\0') != std::string::npos) invalid(std::string(what) + ": NUL in subject CN");
    return out;
}

std::string ip_text(const ASN1_OCTET_STRING* ip) {
    char buf[INET6_ADDRSTRLEN] = {};
    const int len = ASN1_STRING_length(ip);
    const unsigned char* data = ASN1_STRING_get0_data(ip);
    if (len == 4 && inet_ntop(AF_INET, data, buf, sizeof buf) != nullptr) return buf;
    if (len == 16 && inet_ntop(AF_INET6, data, buf, sizeof buf) != nullptr) return buf;
    invalid("certificate request: iPAddress must be 4 or 16 octets");
}

Asn1IntegerPtr integer_from_hex(std::string_view hex) {
    if (hex.empty() || hex.size() > 40 ||
        hex.find_first_not_of("0123456789abcdefABCDEF") != std::string_view::npos)
        invalid("CRL: serial must be 1..40 hex digits");
    BIGNUM* raw = nullptr;
    const std::string text(hex);
    if (BN_hex2bn(&raw, text.c_str()) == 0) openssl_fail("BN_hex2bn");
    BnPtr bn(raw);
    Asn1IntegerPtr out(BN_to_ASN1_INTEGER(bn.get(), nullptr));
    if (!out) openssl_fail("BN_to_ASN1_INTEGER");
    return out;
}

/// An empty v2 CertificateList whose two AlgorithmIdentifiers already read ecdsa-with-SHA256:
/// OpenSSL 3.0 has no setter for a CRL's TBS signature algorithm (it is only written by
/// X509_CRL_sign with a key it holds), so the CRL object starts from this parsed template and
/// every other field is then set through the public API. Layout (RFC 5280 §5.1):
///   SEQUENCE { SEQUENCE { INTEGER 1, AlgId, Name (empty), UTCTime 700101000000Z }, AlgId,
///              BIT STRING (empty) }
X509CrlPtr crl_template() {
    Bytes der = {0x30, 0x31, 0x30, 0x20, 0x02, 0x01, 0x01};
    der.insert(der.end(), kEcdsaWithSha256.begin(), kEcdsaWithSha256.end());
    const char* utc = "700101000000Z";
    der.insert(der.end(), {0x30, 0x00, 0x17, 0x0D});
    der.insert(der.end(), utc, utc + 13);
    der.insert(der.end(), kEcdsaWithSha256.begin(), kEcdsaWithSha256.end());
    der.insert(der.end(), {0x03, 0x01, 0x00});
    const unsigned char* p = der.data();
    X509CrlPtr crl(d2i_X509_CRL(nullptr, &p, static_cast<long>(der.size())));
    if (!crl || p != der.data() + der.size()) openssl_fail("d2i_X509_CRL (template)");
    return crl;
}

X509CrlPtr parse_crl(ByteView der) {
    const unsigned char* p = der.data();
    X509CrlPtr crl(d2i_X509_CRL(nullptr, &p, static_cast<long>(der.size())));
    if (!crl || p != der.data() + der.size()) {
        ERR_clear_error();
        return nullptr;
    }
    return crl;
}

}  // namespace

CertificateInfo certificate_info(ByteView cert_der) {
    X509Ptr x = parse_certificate(cert_der);
    if (!x) invalid("certificate: does not parse");
    CertificateInfo info;
    info.serial_hex = integer_hex(X509_get0_serialNumber(x.get()));
    info.common_name = common_name_of(X509_get_subject_name(x.get()), "certificate");
    info.not_before_s = time_seconds(X509_get0_notBefore(x.get()));
    info.not_after_s = time_seconds(X509_get0_notAfter(x.get()));
    return info;
}

CertificateRequest parse_certificate_request(ByteView csr_der) {
    const unsigned char* p = csr_der.data();
    X509ReqPtr req(d2i_X509_REQ(nullptr, &p, static_cast<long>(csr_der.size())));
    if (!req || p != csr_der.data() + csr_der.size())
        invalid("certificate request: not a DER PKCS#10 CertificationRequest");
    if (X509_REQ_get_version(req.get()) != X509_REQ_VERSION_1)
        invalid("certificate request: version must be v1 (0)");
    CertificateRequest out;
    // The public key and its exact SPKI encoding.
    X509_PUBKEY* pub = X509_REQ_get_X509_PUBKEY(req.get());
    if (pub == nullptr) invalid("certificate request: no public key");
    out.spki_der = encode_der<const X509_PUBKEY, i2d_X509_PUBKEY>(pub, "i2d_X509_PUBKEY");
    PkeyPtr key = parse_spki(out.spki_der);
    if (!key) invalid("certificate request: the public key does not parse");
    // RFC 2986 §3: the signature proves possession of the private key.
    const int rc = X509_REQ_verify(req.get(), key.get());
    ERR_clear_error();
    if (rc != 1)
        throw Error(ErrorCode::VerificationFailed,
                    "certificate request: the self-signature does not verify");

    out.common_name = common_name_of(X509_REQ_get_subject_name(req.get()), "certificate request");
    if (out.common_name.empty() || out.common_name.size() > kMaxNameBytes)
        invalid("certificate request: subject CN must be present and 1..64 bytes");

    ExtensionsPtr exts(X509_REQ_get_extensions(req.get()));
    ERR_clear_error();
    if (exts) {
        int crit = 0;
        GeneralNamesPtr names(static_cast<GENERAL_NAMES*>(
            X509V3_get_d2i(exts.get(), NID_subject_alt_name, &crit, nullptr)));
        if (!names && crit != -1)
            invalid("certificate request: subjectAltName does not parse or appears twice");
        for (int i = 0; names && i < sk_GENERAL_NAME_num(names.get()); ++i) {
            const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names.get(), i);
            int type = 0;
            const void* value = GENERAL_NAME_get0_value(gn, &type);
            if (type == GEN_DNS) {
                const auto* s = static_cast<const ASN1_IA5STRING*>(value);
                std::string dns(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                                static_cast<std::size_t>(ASN1_STRING_length(s)));
                if (!valid_dns_name(dns))
                    invalid("certificate request: subjectAltName is not a DNS host name: " + dns);
                out.dns_names.push_back(std::move(dns));
            } else if (type == GEN_IPADD) {
                out.ip_addresses.push_back(ip_text(static_cast<const ASN1_OCTET_STRING*>(value)));
            } else {
                invalid("certificate request: subjectAltName may hold dNSName and iPAddress only");
            }
        }
    }
    return out;
}

Bytes issue_crl(const CrlContents& c, ByteView issuer_cert_der, const TbsSigner& sign_tbs) {
    if (!sign_tbs) invalid("CRL: no signer");
    if (c.this_update_s < 0 || c.next_update_s > kLatestTime || c.next_update_s <= c.this_update_s)
        invalid("CRL: validity must satisfy 0 <= thisUpdate < nextUpdate <= 9999-12-31");
    X509Ptr issuer = parse_certificate(issuer_cert_der);
    if (!issuer) invalid("CRL: the issuer certificate does not parse");
    if (X509_check_ca(issuer.get()) != 1) {
        ERR_clear_error();
        invalid("CRL: the issuer certificate is not a CA");
    }
    if (spki_algorithm(certificate_spki(issuer_cert_der)) != core::Algorithm::EcP256)
        throw Error(ErrorCode::Unsupported, "CRL: the issuer key must be EC P-256");

    X509CrlPtr crl = crl_template();
    if (X509_CRL_set_version(crl.get(), X509_CRL_VERSION_2) != 1)
        openssl_fail("X509_CRL_set_version");
    if (X509_CRL_set_issuer_name(crl.get(), X509_get_subject_name(issuer.get())) != 1)
        openssl_fail("X509_CRL_set_issuer_name");
    Asn1TimePtr this_update(ASN1_TIME_set(nullptr, static_cast<time_t>(c.this_update_s)));
    Asn1TimePtr next_update(ASN1_TIME_set(nullptr, static_cast<time_t>(c.next_update_s)));
    if (!this_update || !next_update) openssl_fail("ASN1_TIME_set");
    if (X509_CRL_set1_lastUpdate(crl.get(), this_update.get()) != 1 ||
        X509_CRL_set1_nextUpdate(crl.get(), next_update.get()) != 1)
        openssl_fail("X509_CRL_set1_lastUpdate");

    for (const auto& r : c.revoked) {
        if (r.revoked_s < 0 || r.revoked_s > kLatestTime) invalid("CRL: bad revocation time");
        X509RevokedPtr rev(X509_REVOKED_new());
        if (!rev) openssl_fail("X509_REVOKED_new");
        Asn1IntegerPtr serial = integer_from_hex(r.serial_hex);
        Asn1TimePtr when(ASN1_TIME_set(nullptr, static_cast<time_t>(r.revoked_s)));
        if (!when) openssl_fail("ASN1_TIME_set");
        if (X509_REVOKED_set_serialNumber(rev.get(), serial.get()) != 1 ||
            X509_REVOKED_set_revocationDate(rev.get(), when.get()) != 1)
            openssl_fail("X509_REVOKED_set");
        // §5.3.1: the reasonCode unspecified SHOULD be absent rather than present.
        if (r.reason != CrlReason::Unspecified) {
            Asn1EnumeratedPtr code(ASN1_ENUMERATED_new());
            if (!code || ASN1_ENUMERATED_set(code.get(), static_cast<long>(r.reason)) != 1)
                openssl_fail("ASN1_ENUMERATED_set");
            if (X509_REVOKED_add1_ext_i2d(rev.get(), NID_crl_reason, code.get(), 0,
                                          X509V3_ADD_DEFAULT) != 1)
                openssl_fail("X509_REVOKED_add1_ext_i2d");
        }
        if (X509_CRL_add0_revoked(crl.get(), rev.get()) != 1) openssl_fail("X509_CRL_add0_revoked");
        rev.release();
    }
    if (X509_CRL_sort(crl.get()) != 1) openssl_fail("X509_CRL_sort");

    // §5.2.1: authorityKeyIdentifier = the issuer's SKI; §5.2.3: cRLNumber (both not critical).
    Asn1OctetStringPtr issuer_id;
    if (const ASN1_OCTET_STRING* ski = X509_get0_subject_key_id(issuer.get()))
        issuer_id.reset(ASN1_OCTET_STRING_dup(ski));
    else
        issuer_id = key_identifier(issuer.get());
    if (!issuer_id) openssl_fail("ASN1_OCTET_STRING_dup");
    AkidPtr akid(AUTHORITY_KEYID_new());
    if (!akid) openssl_fail("AUTHORITY_KEYID_new");
    akid->keyid = issuer_id.release();
    if (X509_CRL_add1_ext_i2d(crl.get(), NID_authority_key_identifier, akid.get(), 0,
                              X509V3_ADD_DEFAULT) != 1)
        openssl_fail("X509_CRL_add1_ext_i2d (AKI)");
    Asn1IntegerPtr number(ASN1_INTEGER_new());
    if (!number || ASN1_INTEGER_set_uint64(number.get(), c.crl_number) != 1)
        openssl_fail("ASN1_INTEGER_set_uint64");
    if (X509_CRL_add1_ext_i2d(crl.get(), NID_crl_number, number.get(), 0, X509V3_ADD_DEFAULT) != 1)
        openssl_fail("X509_CRL_add1_ext_i2d (cRLNumber)");

    // i2d_re_X509_CRL_tbs re-encodes (the template's cached encoding is discarded).
    const Bytes tbs = encode_der<X509_CRL, i2d_re_X509_CRL_tbs>(crl.get(), "i2d_re_X509_CRL_tbs");
    const Bytes raw = sign_tbs(tbs);
    if (raw.size() != kP256RawSignature)
        invalid("CRL: the signer returned " + std::to_string(raw.size()) +
                " bytes, expected a 64-byte raw P-256 r || s");
    // CertificateList has the same outer shape as Certificate (RFC 5280 §5.1 / §4.1).
    const Bytes der = assemble_certificate(tbs, ecdsa_raw_to_der(raw));
    if (!parse_crl(der)) throw Error(ErrorCode::Internal, "CRL: the assembled DER does not parse");
    return der;
}

std::int64_t crl_next_update(ByteView crl_der) {
    X509CrlPtr crl = parse_crl(crl_der);
    if (!crl) invalid("CRL: does not parse");
    const ASN1_TIME* next = X509_CRL_get0_nextUpdate(crl.get());
    if (next == nullptr) invalid("CRL: no nextUpdate");
    return time_seconds(next);
}

bool verify_crl_signature(ByteView crl_der, ByteView issuer_spki) {
    PkeyPtr key = parse_spki(issuer_spki);
    if (!key) invalid("CRL: the issuer public key does not parse");
    X509CrlPtr crl = parse_crl(crl_der);
    if (!crl) return false;
    const int rc = X509_CRL_verify(crl.get(), key.get());
    ERR_clear_error();
    return rc == 1;
}

}  // namespace kms::crypto
