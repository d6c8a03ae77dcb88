// Tests of the internal CA's parts of kms-core/crypto/x509.hpp: PKCS#10 requests made with
// OpenSSL (good and bad self-signatures), certificate details, the secure-element leaf profile,
// and CRLs assembled with an external signer (a host key standing in for the HSM), checked with
// d2i_X509_CRL, X509_CRL_verify and OpenSSL's chain verifier with CRL checking.
#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <ctime>
#include <memory>

#include "crypto/host_crypto.hpp"
#include "crypto/x509.hpp"
#include "domain/error.hpp"
#include "vector_file.hpp"
#include "x509_test_support.hpp"

namespace kms::crypto {
namespace {

using test::error_code_of;
using x509_support::CrlPtr;
using x509_support::PkeyPtr;
using x509_support::public_key;
using x509_support::ReqPtr;
using x509_support::sign_raw_ecdsa_sha256;
using x509_support::StoreCtxPtr;
using x509_support::StorePtr;
using x509_support::X509Ptr;

Bytes spki_of(EVP_PKEY* key) {
    const int len = i2d_PUBKEY(key, nullptr);
    Bytes out(static_cast<std::size_t>(len));
    unsigned char* p = out.data();
    i2d_PUBKEY(key, &p);
    return out;
}

X509Ptr parse(const Bytes& der) {
    const unsigned char* p = der.data();
    return X509Ptr(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
}

CrlPtr parse_crl(const Bytes& der) {
    const unsigned char* p = der.data();
    CrlPtr crl(d2i_X509_CRL(nullptr, &p, static_cast<long>(der.size())));
    EXPECT_EQ(p, der.data() + der.size()) << "trailing bytes";
    return crl;
}

/// An EC P-256 key on the host signing as the HSM does: ECDSA over SHA-256(TBS), raw r || s.
struct HostSigner {
    PkeyPtr key{EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256")};
    Bytes spki = spki_of(key.get());

    TbsSigner signer() {
        return [this](ByteView tbs) { return sign_raw_ecdsa_sha256(key.get(), tbs); };
    }
};

/// A PKCS#10 request made by OpenSSL the way `openssl req -new` does.
Bytes make_csr(EVP_PKEY* key, const char* cn, const char* san = nullptr) {
    ReqPtr req(X509_REQ_new());
    EXPECT_EQ(X509_REQ_set_version(req.get(), X509_REQ_VERSION_1), 1);
    X509_NAME* name = X509_REQ_get_subject_name(req.get());
    if (cn != nullptr) {
        // V_ASN1_UTF8STRING rather than MBSTRING_UTF8: no length table, so an over-long CN can
        // be made for the negative test.
        EXPECT_EQ(X509_NAME_add_entry_by_txt(name, "CN", V_ASN1_UTF8STRING,
                                             reinterpret_cast<const unsigned char*>(cn), -1, -1, 0),
                  1);
    }
    EXPECT_EQ(X509_REQ_set_pubkey(req.get(), key), 1);
    if (san != nullptr) {
        STACK_OF(X509_EXTENSION)* exts = sk_X509_EXTENSION_new_null();
        X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, nullptr, NID_subject_alt_name, san);
        EXPECT_NE(ext, nullptr);
        sk_X509_EXTENSION_push(exts, ext);
        EXPECT_EQ(X509_REQ_add_extensions(req.get(), exts), 1);
        sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    }
    EXPECT_GT(X509_REQ_sign(req.get(), key, EVP_sha256()), 0);
    const int len = i2d_X509_REQ(req.get(), nullptr);
    Bytes out(static_cast<std::size_t>(len));
    unsigned char* p = out.data();
    i2d_X509_REQ(req.get(), &p);
    return out;
}

/// X509_verify_cert of @p leaf against the root @p root, optionally with @p crl checked.
int verify_chain(X509* leaf, X509* root, X509_CRL* crl) {
    StorePtr store(X509_STORE_new());
    EXPECT_EQ(X509_STORE_add_cert(store.get(), root), 1);
    if (crl != nullptr) {
        EXPECT_EQ(X509_STORE_add_crl(store.get(), crl), 1);
        X509_STORE_set_flags(store.get(), X509_V_FLAG_CRL_CHECK);
    }
    StoreCtxPtr ctx(X509_STORE_CTX_new());
    EXPECT_EQ(X509_STORE_CTX_init(ctx.get(), store.get(), leaf, nullptr), 1);
    X509_verify_cert(ctx.get());
    return X509_STORE_CTX_get_error(ctx.get());
}

TEST(CertificateRequest, EcRequestWithSansParsesAndVerifies) {
    PkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
    const Bytes csr = make_csr(key.get(), "pay.bank.example",
                               "DNS:pay.bank.example,DNS:*.api.bank.example,IP:10.0.0.7,IP:::1");
    const CertificateRequest r = parse_certificate_request(csr);
    EXPECT_EQ(r.common_name, "pay.bank.example");
    EXPECT_EQ(r.dns_names, (std::vector<std::string>{"pay.bank.example", "*.api.bank.example"}));
    EXPECT_EQ(r.ip_addresses, (std::vector<std::string>{"10.0.0.7", "::1"}));
    EXPECT_EQ(r.spki_der, spki_of(key.get()));
}

TEST(CertificateRequest, RsaRequestWithoutSans) {
    PkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(2048)));
    const CertificateRequest r = parse_certificate_request(make_csr(key.get(), "plugin-a"));
    EXPECT_EQ(r.common_name, "plugin-a");
    EXPECT_TRUE(r.dns_names.empty());
    EXPECT_TRUE(r.ip_addresses.empty());
    EXPECT_EQ(r.spki_der, spki_of(key.get()));
}

TEST(CertificateRequest, BadSelfSignatureIsRejected) {
    PkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
    Bytes csr = make_csr(key.get(), "plugin-a");
    ASSERT_NO_THROW(parse_certificate_request(csr));
    // The signature BIT STRING ends the DER: change its last byte (part of s).
    Bytes bad = csr;
    bad.back() ^= 0x01;
    EXPECT_EQ(error_code_of([&] { parse_certificate_request(bad); }),
              ErrorCode::VerificationFailed);

    // A request whose subject was changed after signing: the signature no longer covers it.
    Bytes edited = csr;
    const std::string cn = "plugin-a";
    auto at = std::search(edited.begin(), edited.end(), cn.begin(), cn.end());
    ASSERT_NE(at, edited.end());
    *at = 'q';
    EXPECT_EQ(error_code_of([&] { parse_certificate_request(edited); }),
              ErrorCode::VerificationFailed);
}

TEST(CertificateRequest, MalformedRequestsAreRejected) {
    PkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
    EXPECT_EQ(error_code_of([&] {
                  parse_certificate_request(Bytes{0x30, 0x03, 0x02, 0x01, 0x00});
              }),
              ErrorCode::InvalidArgument);
    EXPECT_EQ(error_code_of([&] { parse_certificate_request(Bytes{}); }),
              ErrorCode::InvalidArgument);
    Bytes trailing = make_csr(key.get(), "x");
    trailing.push_back(0);
    EXPECT_EQ(error_code_of([&] { parse_certificate_request(trailing); }),
              ErrorCode::InvalidArgument);
    // No CN, a CN over 64 bytes, an email SAN.
    EXPECT_EQ(error_code_of([&] { parse_certificate_request(make_csr(key.get(), nullptr)); }),
              ErrorCode::InvalidArgument);
    const std::string long_cn(65, 'a');
    EXPECT_EQ(
        error_code_of([&] { parse_certificate_request(make_csr(key.get(), long_cn.c_str())); }),
        ErrorCode::InvalidArgument);
    EXPECT_EQ(error_code_of([&] {
                  parse_certificate_request(make_csr(key.get(), "a", "email:a@bank.example"));
              }),
              ErrorCode::InvalidArgument);
    // A certificate is not a request.
    HostSigner ca;
    CertificateProfile p;
    p.common_name = "CA";
    p.not_before_s = 0;
    p.not_after_s = 100;
    p.is_ca = true;
    const Bytes cert = issue_certificate(p, ca.spki, {}, ca.signer());
    EXPECT_EQ(error_code_of([&] { parse_certificate_request(cert); }), ErrorCode::InvalidArgument);
}

class CaTest : public ::testing::Test {
  protected:
    void SetUp() override {
        now = static_cast<std::int64_t>(std::time(nullptr));
        CertificateProfile p;
        p.common_name = "KMS Test Issuing CA";
        p.not_before_s = now - 60;
        p.not_after_s = now + 86400;
        p.is_ca = true;
        p.path_len = 0;
        ca_der = issue_certificate(p, ca.spki, {}, ca.signer());
    }

    Bytes leaf(const Bytes& spki, CertificateProfile::LeafKeyUsage ku, bool client = true) {
        CertificateProfile p;
        p.common_name = "leaf";
        p.organization = "";
        p.not_before_s = now - 60;
        p.not_after_s = now + 3600;
        p.client_auth = client;
        p.leaf_key_usage = ku;
        return issue_certificate(p, spki, ca_der, ca.signer());
    }

    std::int64_t now = 0;
    HostSigner ca;
    Bytes ca_der;
};

TEST_F(CaTest, SecureElementProfileHasSignAndKeyAgreementAndNoEku) {
    PkeyPtr rsa(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(2048)));
    PkeyPtr ec(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384"));
    for (EVP_PKEY* key : {rsa.get(), ec.get()}) {
        const Bytes der =
            leaf(spki_of(key), CertificateProfile::LeafKeyUsage::SignAndKeyAgreement, false);
        X509Ptr x = parse(der);
        ASSERT_TRUE(x);
        EXPECT_EQ(X509_get_key_usage(x.get()),
                  static_cast<uint32_t>(KU_DIGITAL_SIGNATURE | KU_KEY_AGREEMENT));
        EXPECT_LT(X509_get_ext_by_NID(x.get(), NID_ext_key_usage, -1), 0);
    }
    // The TLS default for RSA stays keyEncipherment.
    X509Ptr tls = parse(leaf(spki_of(rsa.get()), CertificateProfile::LeafKeyUsage::Tls));
    EXPECT_EQ(X509_get_key_usage(tls.get()),
              static_cast<uint32_t>(KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT));
}

TEST_F(CaTest, Rsa4096SubjectIsAcceptedAndRsa1024Refused) {
    PkeyPtr big(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(4096)));
    EXPECT_TRUE(parse(leaf(spki_of(big.get()), CertificateProfile::LeafKeyUsage::Tls)));
    PkeyPtr small(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(1024)));
    EXPECT_EQ(
        error_code_of([&] { leaf(spki_of(small.get()), CertificateProfile::LeafKeyUsage::Tls); }),
        ErrorCode::Unsupported);
}

TEST_F(CaTest, CertificateInfoReportsSerialNameAndDates) {
    PkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
    const Bytes der = leaf(spki_of(key.get()), CertificateProfile::LeafKeyUsage::Tls);
    const CertificateInfo info = certificate_info(der);
    X509Ptr x = parse(der);
    BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x.get()), nullptr);
    char* hex = BN_bn2hex(bn);
    EXPECT_EQ(info.serial_hex, hex);  // BN_bn2hex is uppercase
    EXPECT_EQ(info.serial_hex.size(), 32u);
    OPENSSL_free(hex);
    BN_free(bn);
    EXPECT_EQ(info.common_name, "leaf");
    EXPECT_EQ(info.not_before_s, now - 60);
    EXPECT_EQ(info.not_after_s, now + 3600);
    EXPECT_EQ(error_code_of([] {
                  certificate_info(Bytes{0x30, 0x00});
              }),
              ErrorCode::InvalidArgument);
}

TEST_F(CaTest, CrlParsesVerifiesAndListsRevokedSerialsWithReasons) {
    PkeyPtr k1(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
    PkeyPtr k2(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
    PkeyPtr k3(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
    const Bytes revoked1 = leaf(spki_of(k1.get()), CertificateProfile::LeafKeyUsage::Tls);
    const Bytes revoked2 = leaf(spki_of(k2.get()), CertificateProfile::LeafKeyUsage::Tls);
    const Bytes good = leaf(spki_of(k3.get()), CertificateProfile::LeafKeyUsage::Tls);
    const std::string s1 = certificate_info(revoked1).serial_hex;
    const std::string s2 = certificate_info(revoked2).serial_hex;

    CrlContents c;
    c.this_update_s = now - 10;
    c.next_update_s = now + 7 * 86400;
    c.crl_number = 42;
    c.revoked = {{s1, now - 5, CrlReason::KeyCompromise}, {s2, now - 4, CrlReason::Unspecified}};
    const Bytes der = issue_crl(c, ca_der, ca.signer());

    CrlPtr crl = parse_crl(der);
    ASSERT_TRUE(crl);
    EXPECT_EQ(X509_CRL_get_version(crl.get()), X509_CRL_VERSION_2);
    EXPECT_EQ(X509_CRL_get_signature_nid(crl.get()), NID_ecdsa_with_SHA256);
    PkeyPtr ca_pub = public_key(ca.spki);
    EXPECT_EQ(X509_CRL_verify(crl.get(), ca_pub.get()), 1);
    EXPECT_TRUE(verify_crl_signature(der, ca.spki));
    HostSigner other;
    EXPECT_FALSE(verify_crl_signature(der, other.spki));

    X509Ptr issuer = parse(ca_der);
    EXPECT_EQ(X509_NAME_cmp(X509_CRL_get_issuer(crl.get()), X509_get_subject_name(issuer.get())),
              0);
    struct tm tm {};
    ASSERT_EQ(ASN1_TIME_to_tm(X509_CRL_get0_nextUpdate(crl.get()), &tm), 1);
    EXPECT_EQ(timegm(&tm), c.next_update_s);
    ASSERT_EQ(ASN1_TIME_to_tm(X509_CRL_get0_lastUpdate(crl.get()), &tm), 1);
    EXPECT_EQ(timegm(&tm), c.this_update_s);

    // cRLNumber and the AKI (= the issuer's SKI).
    int crit = 0;
    ASN1_INTEGER* number =
        static_cast<ASN1_INTEGER*>(X509_CRL_get_ext_d2i(crl.get(), NID_crl_number, &crit, nullptr));
    ASSERT_NE(number, nullptr);
    EXPECT_EQ(ASN1_INTEGER_get(number), 42);
    EXPECT_EQ(crit, 0);
    ASN1_INTEGER_free(number);
    AUTHORITY_KEYID* akid = static_cast<AUTHORITY_KEYID*>(
        X509_CRL_get_ext_d2i(crl.get(), NID_authority_key_identifier, &crit, nullptr));
    ASSERT_NE(akid, nullptr);
    EXPECT_EQ(ASN1_OCTET_STRING_cmp(akid->keyid, X509_get0_subject_key_id(issuer.get())), 0);
    AUTHORITY_KEYID_free(akid);

    // The entries: both serials, the reason only where it is not unspecified.
    STACK_OF(X509_REVOKED)* entries = X509_CRL_get_REVOKED(crl.get());
    ASSERT_EQ(sk_X509_REVOKED_num(entries), 2);
    int seen = 0;
    for (int i = 0; i < 2; ++i) {
        X509_REVOKED* r = sk_X509_REVOKED_value(entries, i);
        BIGNUM* bn = ASN1_INTEGER_to_BN(X509_REVOKED_get0_serialNumber(r), nullptr);
        char* hex = BN_bn2hex(bn);
        const std::string serial = hex;
        OPENSSL_free(hex);
        BN_free(bn);
        ASN1_ENUMERATED* reason = static_cast<ASN1_ENUMERATED*>(
            X509_REVOKED_get_ext_d2i(r, NID_crl_reason, &crit, nullptr));
        if (serial == s1) {
            ASSERT_NE(reason, nullptr);
            EXPECT_EQ(ASN1_ENUMERATED_get(reason), 1);  // keyCompromise
            ASSERT_EQ(ASN1_TIME_to_tm(X509_REVOKED_get0_revocationDate(r), &tm), 1);
            EXPECT_EQ(timegm(&tm), now - 5);
            seen |= 1;
        } else if (serial == s2) {
            EXPECT_EQ(reason, nullptr);
            seen |= 2;
        }
        ASN1_ENUMERATED_free(reason);
    }
    EXPECT_EQ(seen, 3);

    // OpenSSL's verifier with CRL checking: the revoked leaves fail, the other passes.
    X509Ptr r1 = parse(revoked1);
    X509Ptr g = parse(good);
    EXPECT_EQ(verify_chain(g.get(), issuer.get(), nullptr), X509_V_OK);
    EXPECT_EQ(verify_chain(r1.get(), issuer.get(), nullptr), X509_V_OK);
    EXPECT_EQ(verify_chain(r1.get(), issuer.get(), crl.get()), X509_V_ERR_CERT_REVOKED);
    EXPECT_EQ(verify_chain(g.get(), issuer.get(), crl.get()), X509_V_OK);
}

TEST_F(CaTest, EmptyCrlAndBadSignatures) {
    CrlContents c;
    c.this_update_s = now;
    c.next_update_s = now + 86400;
    c.crl_number = 1;
    const Bytes der = issue_crl(c, ca_der, ca.signer());
    CrlPtr crl = parse_crl(der);
    ASSERT_TRUE(crl);
    EXPECT_EQ(X509_CRL_get_REVOKED(crl.get()), nullptr);  // revokedCertificates absent (§5.1.2.6)
    EXPECT_TRUE(verify_crl_signature(der, ca.spki));

    // A signer answering garbage: well-formed CRL, signature does not verify.
    const Bytes garbage = issue_crl(c, ca_der, [](ByteView) { return random_bytes(64); });
    EXPECT_FALSE(verify_crl_signature(garbage, ca.spki));
    EXPECT_EQ(error_code_of([&] { issue_crl(c, ca_der, [](ByteView) { return Bytes(63); }); }),
              ErrorCode::InvalidArgument);
    EXPECT_FALSE(verify_crl_signature(Bytes{0x30, 0x00}, ca.spki));

    // Bad inputs.
    CrlContents bad = c;
    bad.next_update_s = bad.this_update_s;
    EXPECT_EQ(error_code_of([&] { issue_crl(bad, ca_der, ca.signer()); }),
              ErrorCode::InvalidArgument);
    bad = c;
    bad.revoked = {{"XYZ", now, CrlReason::Superseded}};
    EXPECT_EQ(error_code_of([&] { issue_crl(bad, ca_der, ca.signer()); }),
              ErrorCode::InvalidArgument);
    PkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
    const Bytes not_ca = leaf(spki_of(key.get()), CertificateProfile::LeafKeyUsage::Tls);
    EXPECT_EQ(error_code_of([&] { issue_crl(c, not_ca, ca.signer()); }),
              ErrorCode::InvalidArgument);
}

}  // namespace
}  // namespace kms::crypto
