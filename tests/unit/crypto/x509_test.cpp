// Tests of kms-core/crypto/x509.hpp: certificates assembled with an external signer (a host EC
// key standing in for the HSM), checked with OpenSSL's own verifier, chain building, host and
// IP checks, and every extension RFC 5280 asks for.
#include "crypto/x509.hpp"

#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <ctime>
#include <memory>

#include "crypto/host_crypto.hpp"
#include "domain/error.hpp"
#include "vector_file.hpp"
#include "x509_test_support.hpp"

namespace kms::crypto {
namespace {

using test::error_code_of;
using x509_support::Free;
using x509_support::PkeyPtr;
using x509_support::public_key;
using x509_support::sign_raw_ecdsa_sha256;
using x509_support::StoreCtxPtr;
using x509_support::StorePtr;
using x509_support::X509Ptr;

X509Ptr parse(const Bytes& der) {
    const unsigned char* p = der.data();
    X509Ptr x(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
    EXPECT_TRUE(x) << "certificate does not parse";
    EXPECT_EQ(p, der.data() + der.size()) << "trailing bytes";
    return x;
}

/// A CA key held on the host for the test, signing as the HSM would: ECDSA over SHA-256 of the
/// TBS, returned raw r || s.
struct HostSigner {
    HostKey key = generate_host_ec_p256_key();
    PkeyPtr private_key = [this] {
        const std::string& pem = key.private_key_pem;
        std::unique_ptr<BIO, Free<BIO, BIO_free_all>> bio(
            BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
        return PkeyPtr(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
    }();
    int calls = 0;

    TbsSigner signer() {
        return [this](ByteView tbs) {
            ++calls;
            return sign_raw_ecdsa_sha256(private_key.get(), tbs);
        };
    }
};

std::string name_entry(X509_NAME* name, int nid) {
    char buf[256] = {0};
    const int n = X509_NAME_get_text_by_NID(name, nid, buf, sizeof buf);
    return n < 0 ? std::string() : std::string(buf, static_cast<std::size_t>(n));
}

bool extension_critical(X509* x, int nid) {
    const int idx = X509_get_ext_by_NID(x, nid, -1);
    EXPECT_GE(idx, 0) << OBJ_nid2sn(nid) << " missing";
    return idx >= 0 && X509_EXTENSION_get_critical(X509_get_ext(x, idx)) == 1;
}

std::int64_t asn1_time_to_unix(const ASN1_TIME* t) {
    struct tm tm {};
    EXPECT_EQ(ASN1_TIME_to_tm(t, &tm), 1);
    return static_cast<std::int64_t>(timegm(&tm));
}

/// X509_verify_cert with only @p ca trusted; returns the X509_V_* result.
int verify_chain(X509* leaf, X509* ca, int purpose, const char* host, const char* ip) {
    StorePtr store(X509_STORE_new());
    EXPECT_EQ(X509_STORE_add_cert(store.get(), ca), 1);
    StoreCtxPtr ctx(X509_STORE_CTX_new());
    EXPECT_EQ(X509_STORE_CTX_init(ctx.get(), store.get(), leaf, nullptr), 1);
    EXPECT_EQ(X509_STORE_CTX_set_purpose(ctx.get(), purpose), 1);
    X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
    if (host != nullptr) {
        EXPECT_EQ(X509_VERIFY_PARAM_set1_host(param, host, 0), 1);
    }
    if (ip != nullptr) {
        EXPECT_EQ(X509_VERIFY_PARAM_set1_ip_asc(param, ip), 1);
    }
    X509_verify_cert(ctx.get());
    return X509_STORE_CTX_get_error(ctx.get());
}

class X509Test : public ::testing::Test {
  protected:
    void SetUp() override {
        now = static_cast<std::int64_t>(std::time(nullptr));
        ca_profile.common_name = "KMS Test Root CA";
        ca_profile.not_before_s = now - 60;
        ca_profile.not_after_s = now + 86400;
        ca_profile.is_ca = true;
        ca_profile.path_len = 0;
        ca_der = issue_certificate(ca_profile, ca.key.spki_der, {}, ca.signer());
        server_profile.common_name = "kmsd";
        server_profile.not_before_s = now - 60;
        server_profile.not_after_s = now + 3600;
        server_profile.server_auth = true;
        server_profile.dns_names = {"localhost"};
        server_profile.ip_addresses = {"127.0.0.1"};
    }

    std::int64_t now = 0;
    HostSigner ca;
    CertificateProfile ca_profile;
    CertificateProfile server_profile;
    Bytes ca_der;
};

TEST_F(X509Test, SelfSignedCaHasRfc5280Fields) {
    X509Ptr x = parse(ca_der);
    ASSERT_TRUE(x);
    PkeyPtr ca_pub = public_key(ca.key.spki_der);
    EXPECT_EQ(X509_verify(x.get(), ca_pub.get()), 1);
    EXPECT_TRUE(verify_certificate_signature(ca_der, ca.key.spki_der));
    EXPECT_EQ(X509_get_version(x.get()), X509_VERSION_3);
    EXPECT_EQ(X509_get_signature_nid(x.get()), NID_ecdsa_with_SHA256);
    // RFC 5758 §3.2: ecdsa-with-SHA256 with the parameters absent, in the TBS too.
    const X509_ALGOR* tbs_alg = X509_get0_tbs_sigalg(x.get());
    const ASN1_OBJECT* oid = nullptr;
    int param_type = 0;
    X509_ALGOR_get0(&oid, &param_type, nullptr, tbs_alg);
    EXPECT_EQ(OBJ_obj2nid(oid), NID_ecdsa_with_SHA256);
    EXPECT_EQ(param_type, V_ASN1_UNDEF);

    // Serial: positive, exactly 16 octets.
    const ASN1_INTEGER* serial = X509_get0_serialNumber(x.get());
    EXPECT_EQ(ASN1_STRING_type(serial), V_ASN1_INTEGER);  // V_ASN1_NEG_INTEGER when negative
    EXPECT_EQ(ASN1_STRING_length(serial), 16);

    EXPECT_EQ(name_entry(X509_get_subject_name(x.get()), NID_commonName), "KMS Test Root CA");
    EXPECT_EQ(name_entry(X509_get_subject_name(x.get()), NID_organizationName), "KMS Appliance");
    EXPECT_EQ(X509_NAME_cmp(X509_get_subject_name(x.get()), X509_get_issuer_name(x.get())), 0);
    EXPECT_EQ(asn1_time_to_unix(X509_get0_notBefore(x.get())), ca_profile.not_before_s);
    EXPECT_EQ(asn1_time_to_unix(X509_get0_notAfter(x.get())), ca_profile.not_after_s);

    EXPECT_NE(X509_get_extension_flags(x.get()) & EXFLAG_CA, 0u);
    EXPECT_EQ(X509_get_pathlen(x.get()), 0);
    EXPECT_TRUE(extension_critical(x.get(), NID_basic_constraints));
    EXPECT_EQ(X509_get_key_usage(x.get()), static_cast<uint32_t>(KU_KEY_CERT_SIGN | KU_CRL_SIGN));
    EXPECT_TRUE(extension_critical(x.get(), NID_key_usage));
    EXPECT_LT(X509_get_ext_by_NID(x.get(), NID_ext_key_usage, -1), 0);
    EXPECT_LT(X509_get_ext_by_NID(x.get(), NID_subject_alt_name, -1), 0);

    const ASN1_OCTET_STRING* ski = X509_get0_subject_key_id(x.get());
    const ASN1_OCTET_STRING* aki = X509_get0_authority_key_id(x.get());
    ASSERT_NE(ski, nullptr);
    ASSERT_NE(aki, nullptr);
    EXPECT_EQ(ASN1_STRING_length(ski), 20);  // SHA-1, RFC 5280 §4.2.1.2 method 1
    EXPECT_EQ(ASN1_OCTET_STRING_cmp(ski, aki), 0);
    EXPECT_EQ(ca.calls, 1);
    // OpenSSL itself accepts it as a self-signed trust anchor.
    EXPECT_EQ(verify_chain(x.get(), x.get(), X509_PURPOSE_ANY, nullptr, nullptr), X509_V_OK);
}

TEST_F(X509Test, ServerCertificateChainsToCaWithHostAndIpChecks) {
    const HostKey server_key = generate_host_ec_p256_key();
    const Bytes der = issue_certificate(server_profile, server_key.spki_der, ca_der, ca.signer());
    X509Ptr leaf = parse(der);
    X509Ptr root = parse(ca_der);
    ASSERT_TRUE(leaf && root);
    PkeyPtr ca_pub = public_key(ca.key.spki_der);
    EXPECT_EQ(X509_verify(leaf.get(), ca_pub.get()), 1);
    EXPECT_EQ(verify_chain(leaf.get(), root.get(), X509_PURPOSE_SSL_SERVER, "localhost", nullptr),
              X509_V_OK);
    EXPECT_EQ(verify_chain(leaf.get(), root.get(), X509_PURPOSE_SSL_SERVER, nullptr, "127.0.0.1"),
              X509_V_OK);
    EXPECT_EQ(verify_chain(leaf.get(), root.get(), X509_PURPOSE_SSL_SERVER, "kms.example", nullptr),
              X509_V_ERR_HOSTNAME_MISMATCH);
    EXPECT_EQ(verify_chain(leaf.get(), root.get(), X509_PURPOSE_SSL_SERVER, nullptr, "127.0.0.2"),
              X509_V_ERR_IP_ADDRESS_MISMATCH);
    // Server-only EKU: not usable as a TLS client certificate.
    EXPECT_EQ(verify_chain(leaf.get(), root.get(), X509_PURPOSE_SSL_CLIENT, nullptr, nullptr),
              X509_V_ERR_INVALID_PURPOSE);

    EXPECT_EQ(X509_check_issued(root.get(), leaf.get()), X509_V_OK);
    EXPECT_EQ(ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(leaf.get()),
                                    X509_get0_subject_key_id(root.get())),
              0);
    EXPECT_EQ(X509_get_extension_flags(leaf.get()) & EXFLAG_CA, 0u);
    EXPECT_TRUE(extension_critical(leaf.get(), NID_basic_constraints));
    EXPECT_EQ(X509_get_key_usage(leaf.get()),
              static_cast<uint32_t>(KU_DIGITAL_SIGNATURE | KU_KEY_AGREEMENT));
    EXPECT_EQ(X509_get_extended_key_usage(leaf.get()), static_cast<uint32_t>(XKU_SSL_SERVER));
    EXPECT_FALSE(extension_critical(leaf.get(), NID_subject_alt_name));
    EXPECT_EQ(name_entry(X509_get_issuer_name(leaf.get()), NID_commonName), "KMS Test Root CA");
    EXPECT_EQ(certificate_spki(der), server_key.spki_der);
    EXPECT_NE(
        ASN1_INTEGER_cmp(X509_get0_serialNumber(leaf.get()), X509_get0_serialNumber(root.get())),
        0);
}

TEST_F(X509Test, ClientCertificateForMutualTls) {
    CertificateProfile client;
    client.common_name = "plugin:se-tsm";
    client.organization = "";
    client.not_before_s = now - 60;
    client.not_after_s = now + 3600;
    client.client_auth = true;
    const HostKey client_key = generate_host_ec_p256_key();
    const Bytes der = issue_certificate(client, client_key.spki_der, ca_der, ca.signer());
    X509Ptr leaf = parse(der);
    X509Ptr root = parse(ca_der);
    ASSERT_TRUE(leaf && root);
    EXPECT_EQ(verify_chain(leaf.get(), root.get(), X509_PURPOSE_SSL_CLIENT, nullptr, nullptr),
              X509_V_OK);
    EXPECT_EQ(X509_get_extended_key_usage(leaf.get()), static_cast<uint32_t>(XKU_SSL_CLIENT));
    EXPECT_EQ(name_entry(X509_get_subject_name(leaf.get()), NID_organizationName), "");
    EXPECT_LT(X509_get_ext_by_NID(leaf.get(), NID_subject_alt_name, -1), 0);
}

TEST_F(X509Test, GarbageSignatureYieldsCertificateThatFailsVerification) {
    const HostKey server_key = generate_host_ec_p256_key();
    const TbsSigner garbage = [](ByteView) { return random_bytes(64); };
    const Bytes der = issue_certificate(server_profile, server_key.spki_der, ca_der, garbage);
    X509Ptr leaf = parse(der);
    X509Ptr root = parse(ca_der);
    ASSERT_TRUE(leaf && root);
    PkeyPtr ca_pub = public_key(ca.key.spki_der);
    EXPECT_NE(X509_verify(leaf.get(), ca_pub.get()), 1);
    EXPECT_FALSE(verify_certificate_signature(der, ca.key.spki_der));
    EXPECT_EQ(verify_chain(leaf.get(), root.get(), X509_PURPOSE_SSL_SERVER, nullptr, nullptr),
              X509_V_ERR_CERT_SIGNATURE_FAILURE);
}

TEST_F(X509Test, SignatureOverAnotherTbsFailsVerification) {
    // The signer signs something else (e.g. a stale TBS): structurally fine, cryptographically not.
    HostSigner& signer = ca;
    const TbsSigner wrong = [&signer](ByteView tbs) {
        Bytes other(tbs.begin(), tbs.end());
        other.back() ^= 0x01;
        return signer.signer()(other);
    };
    const HostKey server_key = generate_host_ec_p256_key();
    const Bytes der = issue_certificate(server_profile, server_key.spki_der, ca_der, wrong);
    EXPECT_FALSE(verify_certificate_signature(der, ca.key.spki_der));
}

TEST_F(X509Test, SignerErrorsPropagateAndBadSignatureLengthsAreRejected) {
    const HostKey key = generate_host_ec_p256_key();
    const TbsSigner throws = [](ByteView) -> Bytes {
        throw Error(ErrorCode::HsmUnavailable, "hsm down");
    };
    EXPECT_EQ(
        error_code_of([&] { issue_certificate(server_profile, key.spki_der, ca_der, throws); }),
        ErrorCode::HsmUnavailable);
    for (std::size_t n : {0u, 63u, 65u, 96u}) {
        const TbsSigner bad = [n](ByteView) { return Bytes(n, 0x01); };
        EXPECT_EQ(
            error_code_of([&] { issue_certificate(server_profile, key.spki_der, ca_der, bad); }),
            ErrorCode::InvalidArgument)
            << n;
    }
}

TEST_F(X509Test, RejectsInvalidProfiles) {
    const HostKey key = generate_host_ec_p256_key();
    const auto issue = [&](CertificateProfile p) {
        return error_code_of([&] { issue_certificate(p, key.spki_der, ca_der, ca.signer()); });
    };
    CertificateProfile p = server_profile;
    p.common_name = "";
    EXPECT_EQ(issue(p), ErrorCode::InvalidArgument);
    p = server_profile;
    p.common_name = std::string(65, 'a');
    EXPECT_EQ(issue(p), ErrorCode::InvalidArgument);
    p = server_profile;
    p.not_after_s = p.not_before_s;
    EXPECT_EQ(issue(p), ErrorCode::InvalidArgument);
    p = server_profile;
    p.path_len = 1;  // only a CA may have one
    EXPECT_EQ(issue(p), ErrorCode::InvalidArgument);
    for (const char* dns : {"", "a,DNS:evil.example", "-x.example", "a..b", "exa mple", "*"}) {
        p = server_profile;
        p.dns_names = {dns};
        EXPECT_EQ(issue(p), ErrorCode::InvalidArgument) << dns;
    }
    for (const char* ip : {"300.1.1.1", "localhost", "1.2.3", ""}) {
        p = server_profile;
        p.ip_addresses = {ip};
        EXPECT_EQ(issue(p), ErrorCode::InvalidArgument) << ip;
    }
    EXPECT_EQ(error_code_of([&] {
                  issue_certificate(server_profile, from_hex("3000"), ca_der, ca.signer());
              }),
              ErrorCode::InvalidArgument);
    EXPECT_EQ(error_code_of([&] {
                  issue_certificate(server_profile, key.spki_der, from_hex("3000"), ca.signer());
              }),
              ErrorCode::InvalidArgument);
    EXPECT_EQ(error_code_of(
                  [&] { issue_certificate(server_profile, key.spki_der, ca_der, TbsSigner{}); }),
              ErrorCode::InvalidArgument);
}

TEST_F(X509Test, AcceptsWildcardAndIpv6Names) {
    CertificateProfile p = server_profile;
    p.dns_names = {"*.kms.example", "kms-1.example"};
    p.ip_addresses = {"::1", "10.0.0.1"};
    const HostKey key = generate_host_ec_p256_key();
    const Bytes der = issue_certificate(p, key.spki_der, ca_der, ca.signer());
    X509Ptr leaf = parse(der);
    ASSERT_TRUE(leaf);
    EXPECT_EQ(X509_check_host(leaf.get(), "a.kms.example", 0, 0, nullptr), 1);
    EXPECT_EQ(X509_check_ip_asc(leaf.get(), "::1", 0), 1);
    EXPECT_EQ(X509_check_ip_asc(leaf.get(), "10.0.0.1", 0), 1);
}

TEST_F(X509Test, LeafCannotIssueAndIssuerMustBeP256) {
    const HostKey key = generate_host_ec_p256_key();
    const Bytes leaf = issue_certificate(server_profile, key.spki_der, ca_der, ca.signer());
    EXPECT_EQ(
        error_code_of([&] { issue_certificate(server_profile, key.spki_der, leaf, ca.signer()); }),
        ErrorCode::InvalidArgument);
    // A self-signed certificate whose own key is RSA cannot be signed with ECDSA P-256.
    EVP_PKEY* rsa = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(2048));
    ASSERT_NE(rsa, nullptr);
    PkeyPtr rsa_key(rsa);
    unsigned char* der = nullptr;
    const int len = i2d_PUBKEY(rsa_key.get(), &der);
    const Bytes rsa_spki(der, der + len);
    OPENSSL_free(der);
    EXPECT_EQ(error_code_of([&] { issue_certificate(ca_profile, rsa_spki, {}, ca.signer()); }),
              ErrorCode::Unsupported);
    // But an RSA subject key under the EC CA is fine, with keyEncipherment for TLS.
    const Bytes rsa_leaf = issue_certificate(server_profile, rsa_spki, ca_der, ca.signer());
    X509Ptr x = parse(rsa_leaf);
    ASSERT_TRUE(x);
    EXPECT_EQ(X509_get_key_usage(x.get()),
              static_cast<uint32_t>(KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT));
}

TEST(Pem, RoundTripAndOpenSslCompatibility) {
    const Bytes der = from_hex("3003020105");
    const std::string pem = der_to_pem(der, "TEST DATA");
    EXPECT_EQ(pem, "-----BEGIN TEST DATA-----\nMAMCAQU=\n-----END TEST DATA-----\n");
    EXPECT_EQ(pem_to_der("explanatory text\n" + pem), der);
    // 64-character lines for longer input (RFC 7468 §2).
    const Bytes long_der(100, 0xAB);
    const std::string long_pem = der_to_pem(long_der);
    std::size_t line_start = long_pem.find('\n') + 1;
    EXPECT_EQ(long_pem.find('\n', line_start) - line_start, 64u);
    EXPECT_EQ(pem_to_der(long_pem), long_der);
}

TEST(Pem, CertificatePemReadsWithOpenSsl) {
    HostSigner ca;
    CertificateProfile p;
    p.common_name = "pem test";
    p.not_before_s = 0;
    p.not_after_s = 4102444800;  // 2100-01-01: GeneralizedTime (RFC 5280 §4.1.2.5)
    p.is_ca = true;
    const Bytes der = issue_certificate(p, ca.key.spki_der, {}, ca.signer());
    const std::string pem = der_to_pem(der);
    std::unique_ptr<BIO, Free<BIO, BIO_free_all>> bio(
        BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    X509Ptr x(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    ASSERT_TRUE(x);
    EXPECT_EQ(ASN1_STRING_type(X509_get0_notAfter(x.get())), V_ASN1_GENERALIZEDTIME);
    EXPECT_EQ(ASN1_STRING_type(X509_get0_notBefore(x.get())), V_ASN1_UTCTIME);
    EXPECT_EQ(X509_get_pathlen(x.get()), -1);
}

TEST(Pem, RejectsMalformedInput) {
    EXPECT_EQ(error_code_of([] { pem_to_der("no pem here"); }), ErrorCode::InvalidArgument);
    EXPECT_EQ(error_code_of([] { pem_to_der("-----BEGIN X-----\n!!!!\n-----END X-----\n"); }),
              ErrorCode::InvalidArgument);
    EXPECT_EQ(error_code_of([] { pem_to_der("-----BEGIN X-----\nMAMCAQU=\n-----END Y-----\n"); }),
              ErrorCode::InvalidArgument);
    EXPECT_EQ(error_code_of([] { der_to_pem(from_hex("00"), "bad-label"); }),
              ErrorCode::InvalidArgument);
    EXPECT_EQ(error_code_of([] { der_to_pem(from_hex("00"), ""); }), ErrorCode::InvalidArgument);
}

TEST(HostKeyTest, GeneratesPkcs8PemAndMatchingSpki) {
    const HostKey k = generate_host_ec_p256_key();
    const std::string& pem = k.private_key_pem;
    EXPECT_EQ(pem.rfind("-----BEGIN PRIVATE KEY-----\n", 0), 0u);
    EXPECT_EQ(spki_algorithm(k.spki_der), core::Algorithm::EcP256);
    std::unique_ptr<BIO, Free<BIO, BIO_free_all>> bio(
        BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    PkeyPtr priv(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
    ASSERT_TRUE(priv);
    unsigned char* der = nullptr;
    const int len = i2d_PUBKEY(priv.get(), &der);
    ASSERT_GT(len, 0);
    EXPECT_EQ(Bytes(der, der + len), k.spki_der);
    OPENSSL_free(der);
    EXPECT_NE(generate_host_ec_p256_key().spki_der, k.spki_der);
}

TEST(HostKeyTest, AssignmentsReplaceTheKey) {
    const HostKey a = generate_host_ec_p256_key();
    HostKey b = generate_host_ec_p256_key();
    b = a;
    EXPECT_EQ(b.private_key_pem, a.private_key_pem);
    EXPECT_EQ(b.spki_der, a.spki_der);
    HostKey c = generate_host_ec_p256_key();
    c = std::move(b);
    EXPECT_EQ(c.private_key_pem, a.private_key_pem);
    EXPECT_EQ(c.spki_der, a.spki_der);
}

}  // namespace
}  // namespace kms::crypto
