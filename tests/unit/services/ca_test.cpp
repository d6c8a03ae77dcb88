// The internal CA service against a real LMDB store, a clock the test moves (CRL renewal) and
// an HSM stand-in that signs with EC P-256 host keys (the "block" is the key's PEM), so every
// certificate and CRL it produces really verifies. The rest suite covers the same flows
// through a real kmsd and SoftHSM2 with the openssl binary.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cctype>
#include <utility>

#include "crypto/host_crypto.hpp"
#include "crypto/public_key.hpp"
#include "crypto/x509.hpp"
#include "domain/error.hpp"
#include "service_fixture.hpp"
#include "services/certificate_authority.hpp"

namespace kms::core {
namespace {

using namespace test_support;

/// generate(): an EC P-256 host key whose "block" is its PKCS#8 PEM; sign(): ECDSA-SHA256 with
/// the key in the block, raw r || s like the PKCS#11 adapter.
class HostKeyHsm final : public FakeHsm {
  public:
    GeneratedKey generate(const KeySpec& s) override {
        ++generated;
        last_spec = s;
        crypto::HostKey k = crypto::generate_host_ec_p256_key();
        return GeneratedKey{
            Bytes(k.private_key_pem.begin(), k.private_key_pem.end()), {}, k.spki_der};
    }
    Bytes sign(const KeyRef& key, SignAlgorithm alg, ByteView message) override {
        ++signatures;
        signed_by.emplace_back(key.key_id);
        EXPECT_EQ(alg, SignAlgorithm::EcdsaSha256);
        BIO* bio = BIO_new_mem_buf(key.block.data(), static_cast<int>(key.block.size()));
        EVP_PKEY* pkey = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
        BIO_free(bio);
        EXPECT_NE(pkey, nullptr);
        EVP_MD_CTX* ctx = EVP_MD_CTX_new();
        EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, pkey);
        size_t len = 0;
        EVP_DigestSign(ctx, nullptr, &len, message.data(), message.size());
        Bytes der(len);
        EVP_DigestSign(ctx, der.data(), &len, message.data(), message.size());
        der.resize(len);
        EVP_MD_CTX_free(ctx);
        EVP_PKEY_free(pkey);
        return crypto::ecdsa_der_to_raw(der, 32);
    }

    int signatures = 0;
    KeySpec last_spec;
    std::vector<std::string> signed_by;
};

std::string csr_pem(const std::string& cn, const std::string& san = "") {
    EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
    X509_REQ* req = X509_REQ_new();
    X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(req), "CN", MBSTRING_UTF8,
                               reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
    X509_REQ_set_pubkey(req, key);
    if (!san.empty()) {
        STACK_OF(X509_EXTENSION)* exts = sk_X509_EXTENSION_new_null();
        sk_X509_EXTENSION_push(
            exts, X509V3_EXT_conf_nid(nullptr, nullptr, NID_subject_alt_name, san.c_str()));
        X509_REQ_add_extensions(req, exts);
        sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    }
    X509_REQ_sign(req, key, EVP_sha256());
    BIO* b = BIO_new(BIO_s_mem());
    PEM_write_bio_X509_REQ(b, req);
    char* data = nullptr;
    const long n = BIO_get_mem_data(b, &data);
    std::string out(data, static_cast<std::size_t>(n));
    BIO_free(b);
    X509_REQ_free(req);
    EVP_PKEY_free(key);
    return out;
}

struct CrlView {
    long number = -1;
    std::vector<std::string> serials;
};

CrlView read_crl(const Bytes& der) {
    CrlView v;
    const unsigned char* p = der.data();
    X509_CRL* crl = d2i_X509_CRL(nullptr, &p, static_cast<long>(der.size()));
    if (crl == nullptr) return v;
    auto* n =
        static_cast<ASN1_INTEGER*>(X509_CRL_get_ext_d2i(crl, NID_crl_number, nullptr, nullptr));
    v.number = n ? ASN1_INTEGER_get(n) : -1;
    ASN1_INTEGER_free(n);
    STACK_OF(X509_REVOKED)* revoked = X509_CRL_get_REVOKED(crl);
    for (int i = 0; revoked && i < sk_X509_REVOKED_num(revoked); ++i) {
        BIGNUM* bn = ASN1_INTEGER_to_BN(
            X509_REVOKED_get0_serialNumber(sk_X509_REVOKED_value(revoked, i)), nullptr);
        char* hex = BN_bn2hex(bn);
        v.serials.emplace_back(hex);
        OPENSSL_free(hex);
        BN_free(bn);
    }
    X509_CRL_free(crl);
    return v;
}

class CaService : public ServiceFixture<HostKeyHsm> {
  protected:
    CaService() : ServiceFixture("ca") {}
    void SetUp() override {
        ServiceFixture::SetUp();
        m_ca = std::make_unique<CertificateAuthority>(*m_ctx);
        make_root();
    }
    void TearDown() override {
        m_ca.reset();
        ServiceFixture::TearDown();
    }
    /// The root as daemon/bootstrap.cpp makes it: settings ca/root/{block,spki,cert}.
    void make_root() {
        const GeneratedKey g = m_hsm.generate(
            KeySpec{"kms-ca-root", 1, Algorithm::EcP256, UsageMask().add(Usage::Sign), false});
        crypto::CertificateProfile p;
        p.common_name = "Test Root CA";
        p.not_before_s = now_s() - 300;
        p.not_after_s = now_s() + 20LL * 365 * 86400;
        p.is_ca = true;
        p.path_len = 1;
        const KeyRef ref{"kms-ca-root", 1, Algorithm::EcP256, UsageMask(), g.block, g.public_key};
        root_cert = crypto::issue_certificate(p, g.public_key, {}, [&](ByteView tbs) {
            return m_hsm.sign(ref, SignAlgorithm::EcdsaSha256, tbs);
        });
        root_spki = g.public_key;
        m_store->write([&](WriteTxn& t) {
            t.put_setting("ca/root/block", g.block);
            t.put_setting("ca/root/spki", g.public_key);
            t.put_setting("ca/root/cert", root_cert);
        });
    }
    std::int64_t now_s() const { return m_clock.now / 1000; }
    std::string audit_text() {
        std::string all;
        for (const auto& r : m_store->read_audit(1, 1000))
            all += r.event.actor + " " + r.event.action + " " + r.event.target + " " +
                   r.event.detail + "\n";
        return all;
    }
    IssuedCertificate issue(const std::string& cn, CertProfile profile,
                            const std::string& principal = "",
                            std::optional<int> days = std::nullopt) {
        IssueRequest r;
        r.csr_pem = csr_pem(cn, profile == CertProfile::Server ? "DNS:" + cn : "");
        r.profile = profile;
        r.principal = principal;
        r.validity_days = days;
        return m_ca->issue(m_officer, r);
    }

    std::unique_ptr<CertificateAuthority> m_ca;
    Bytes root_cert;
    Bytes root_spki;
    Principal m_officer = person("olivia", Role::KeyOfficer);
    Principal m_auditor = person("audrey", Role::Auditor);
};

TEST_F(CaService, IssuingCaIsCreatedOnceSignedByTheRootAndAudited) {
    EXPECT_EQ(code_of([&] { issue("x", CertProfile::Client); }), ErrorCode::WrongState);
    m_ca->ensure_issuing_ca();
    const auto cert = m_store->get_setting("ca/issuing/cert");
    ASSERT_TRUE(cert);
    EXPECT_TRUE(crypto::verify_certificate_signature(*cert, root_spki));
    EXPECT_EQ(m_hsm.last_spec.key_id, "kms-ca-issuing");
    EXPECT_EQ(m_hsm.last_spec.algorithm, Algorithm::EcP256);
    EXPECT_TRUE(m_hsm.last_spec.usage.has(Usage::Sign));
    EXPECT_TRUE(m_hsm.last_spec.usage.has(Usage::Verify));
    const int generated = m_hsm.generated;
    m_ca->ensure_issuing_ca();
    EXPECT_EQ(m_hsm.generated, generated);  // idempotent
    EXPECT_EQ(*m_store->get_setting("ca/issuing/cert"), *cert);
    const std::string audit = audit_text();
    EXPECT_NE(audit.find("ca.key-create kms-ca-issuing"), std::string::npos) << audit;
    EXPECT_NE(audit.find("ca.certificate kms-ca-issuing"), std::string::npos) << audit;
    EXPECT_EQ(m_ca->chain_pem(), crypto::der_to_pem(*cert) + crypto::der_to_pem(root_cert));
}

TEST_F(CaService, IssuedCertificatesAreRecordedFoundAndSignedByTheIssuingCa) {
    m_ca->ensure_issuing_ca();
    const Bytes issuing_spki = crypto::certificate_spki(*m_store->get_setting("ca/issuing/cert"));
    m_hsm.signed_by.clear();
    const IssuedCertificate c = issue("pay.bank.example", CertProfile::Server);
    EXPECT_EQ(m_hsm.signed_by, std::vector<std::string>{"kms-ca-issuing"});
    EXPECT_TRUE(crypto::verify_certificate_signature(c.record.der, issuing_spki));
    EXPECT_EQ(c.pem, crypto::der_to_pem(c.record.der));
    EXPECT_EQ(c.chain_pem, m_ca->chain_pem());
    EXPECT_EQ(c.record.subject, "pay.bank.example");
    EXPECT_EQ(c.record.issued_by, "olivia");
    EXPECT_EQ(c.record.not_after_s - c.record.not_before_s, 397LL * 86400 + 60);

    auto found = m_ca->find(c.record.serial);
    ASSERT_TRUE(found);
    EXPECT_EQ(found->der, c.record.der);
    EXPECT_EQ(found->status, CertificateStatus::Valid);
    std::string lower = c.record.serial;
    for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    EXPECT_TRUE(m_ca->find(lower));
    EXPECT_TRUE(m_ca->find("00" + c.record.serial));
    EXPECT_FALSE(m_ca->find("zz"));
    EXPECT_FALSE(m_ca->find("0102"));
    EXPECT_EQ(m_ca->get(m_auditor, c.record.serial).serial, c.record.serial);
    EXPECT_EQ(code_of([&] { m_ca->get(m_auditor, "0102"); }), ErrorCode::NotFound);

    // The record codec round-trips and refuses damage.
    const Bytes encoded = encode_certificate(c.record);
    const CertificateRecord back = decode_certificate(encoded);
    EXPECT_EQ(encode_certificate(back), encoded);
    Bytes bad = encoded;
    bad[0] = 9;
    EXPECT_EQ(code_of([&] { decode_certificate(bad); }), ErrorCode::Integrity);
    EXPECT_EQ(code_of([&] { decode_certificate(Bytes(encoded.begin(), encoded.end() - 1)); }),
              ErrorCode::Integrity);

    const std::string audit = audit_text();
    EXPECT_NE(audit.find("olivia ca.certificate-issue " + c.record.serial +
                         " profile=server subject=pay.bank.example"),
              std::string::npos)
        << audit;
}

TEST_F(CaService, RolesProfilesAndPrincipalBinding) {
    m_ca->ensure_issuing_ca();
    IssueRequest r;
    r.csr_pem = csr_pem("teller");
    r.profile = CertProfile::Client;
    EXPECT_EQ(code_of([&] { m_ca->issue(m_auditor, r); }), ErrorCode::Forbidden);
    r.validity_days = 826;
    EXPECT_EQ(code_of([&] { m_ca->issue(m_officer, r); }), ErrorCode::InvalidArgument);
    r.validity_days = 825;
    EXPECT_NO_THROW(m_ca->issue(m_officer, r));
    r.principal = "teller";  // not a stored principal
    EXPECT_EQ(code_of([&] { m_ca->issue(m_officer, r); }), ErrorCode::InvalidArgument);
    r.profile = CertProfile::Server;
    EXPECT_EQ(code_of([&] { m_ca->issue(m_officer, r); }), ErrorCode::InvalidArgument);

    // The principals path: no stored principal needed, CN must match.
    const IssuedCertificate bound = m_ca->issue_for_principal(m_officer, "teller", r.csr_pem);
    EXPECT_EQ(bound.record.principal, "teller");
    EXPECT_EQ(bound.record.profile, CertProfile::Client);
    EXPECT_EQ(m_ca->find(bound.record.serial)->principal, "teller");
    EXPECT_EQ(code_of([&] { m_ca->issue_for_principal(m_officer, "other", r.csr_pem); }),
              ErrorCode::InvalidArgument);
    EXPECT_EQ(code_of([&] { m_ca->issue_for_principal(m_auditor, "teller", r.csr_pem); }),
              ErrorCode::Forbidden);

    // A CSR with a broken signature.
    std::string broken = csr_pem("teller");
    const auto end = broken.find("-----END");
    std::size_t at = end - 6;
    while (broken[at] == '\n' || broken[at] == '=') --at;
    broken[at] = broken[at] == 'A' ? 'B' : 'A';
    EXPECT_EQ(code_of([&] { m_ca->issue_for_principal(m_officer, "teller", broken); }),
              ErrorCode::VerificationFailed);
    EXPECT_EQ(code_of([&] { m_ca->issue_for_principal(m_officer, "teller", "garbage"); }),
              ErrorCode::InvalidArgument);
}

TEST_F(CaService, ListFiltersByStatusExpiryAndPrincipal) {
    m_ca->ensure_issuing_ca();
    const auto soon = issue("soon", CertProfile::Client, "", 10);
    const auto later = issue("later", CertProfile::SecureElement, "", 1000);
    const auto bound = m_ca->issue_for_principal(m_officer, "plug", csr_pem("plug"));
    m_ca->revoke(m_officer, later.record.serial, RevocationReason::Superseded);

    auto serials = [](const std::vector<CertificateRecord>& v) {
        std::vector<std::string> out;
        for (const auto& r : v) out.push_back(r.serial);
        return out;
    };
    EXPECT_EQ(m_ca->list(m_auditor, {}).size(), 3u);
    CertificateFilter f;
    f.expiring_within_days = 30;
    EXPECT_EQ(serials(m_ca->list(m_auditor, f)), std::vector<std::string>{soon.record.serial});
    f = {};
    f.status = "revoked";
    EXPECT_EQ(serials(m_ca->list(m_auditor, f)), std::vector<std::string>{later.record.serial});
    f = {};
    f.principal = "plug";
    EXPECT_EQ(serials(m_ca->list(m_auditor, f)), std::vector<std::string>{bound.record.serial});
    f = {};
    f.status = "expired";
    EXPECT_TRUE(m_ca->list(m_auditor, f).empty());
    m_clock.now += 11LL * 86400 * 1000;  // "soon" has expired
    EXPECT_EQ(serials(m_ca->list(m_auditor, f)), std::vector<std::string>{soon.record.serial});
    f.status = "bogus";
    EXPECT_EQ(code_of([&] { m_ca->list(m_auditor, f); }), ErrorCode::InvalidArgument);
    EXPECT_EQ(code_of([&] { m_ca->list(person("p", Role::Plugin), {}); }), ErrorCode::Forbidden);
}

TEST_F(CaService, RevocationIssuesANewCrlAndTheCrlIsRenewedBeforeNextUpdate) {
    m_ca->ensure_issuing_ca();
    const Bytes issuing_spki = crypto::certificate_spki(*m_store->get_setting("ca/issuing/cert"));
    const auto a = issue("a", CertProfile::Client);
    const auto b = issue("b", CertProfile::Client);

    const Bytes first = m_ca->crl_der();
    EXPECT_TRUE(crypto::verify_crl_signature(first, issuing_spki));
    EXPECT_EQ(read_crl(first).number, 1);
    EXPECT_TRUE(read_crl(first).serials.empty());
    EXPECT_EQ(m_ca->crl_der(), first);  // cached

    const CertificateRecord r =
        m_ca->revoke(m_officer, a.record.serial, RevocationReason::KeyCompromise);
    EXPECT_EQ(r.status, CertificateStatus::Revoked);
    EXPECT_EQ(r.revoked_by, "olivia");
    EXPECT_EQ(r.reason, RevocationReason::KeyCompromise);
    EXPECT_EQ(m_ca->find(a.record.serial)->status, CertificateStatus::Revoked);
    EXPECT_EQ(
        code_of([&] { m_ca->revoke(m_officer, a.record.serial, RevocationReason::Superseded); }),
        ErrorCode::Conflict);
    EXPECT_EQ(
        code_of([&] { m_ca->revoke(m_auditor, b.record.serial, RevocationReason::Superseded); }),
        ErrorCode::Forbidden);
    EXPECT_EQ(code_of([&] { m_ca->revoke(m_officer, "0102", RevocationReason::Superseded); }),
              ErrorCode::NotFound);

    const Bytes second = m_ca->crl_der();
    EXPECT_NE(second, first);
    EXPECT_TRUE(crypto::verify_crl_signature(second, issuing_spki));
    EXPECT_EQ(read_crl(second).number, 2);
    EXPECT_EQ(read_crl(second).serials, std::vector<std::string>{a.record.serial});
    EXPECT_NE(audit_text().find("olivia ca.certificate-revoke " + a.record.serial),
              std::string::npos);

    // Five days on, the CRL (nextUpdate + 7 days) is still served; past six days it is renewed.
    m_clock.now += 5LL * 86400 * 1000;
    EXPECT_EQ(m_ca->crl_der(), second);
    m_clock.now += 1LL * 86400 * 1000 + 1000;
    const Bytes third = m_ca->crl_der();
    EXPECT_EQ(read_crl(third).number, 3);
    EXPECT_EQ(read_crl(third).serials, std::vector<std::string>{a.record.serial});
    EXPECT_EQ(crypto::crl_next_update(third), now_s() + 7 * 86400);
}

TEST_F(CaService, KmsdsOwnCertificateIsRecorded) {
    const Bytes issuing = ensure_issuing_ca(*m_store, m_hsm, m_clock);
    crypto::HostKey key = crypto::generate_host_ec_p256_key();
    crypto::CertificateProfile p;
    p.common_name = "kmsd";
    p.not_before_s = now_s();
    p.not_after_s = now_s() + 3600;
    p.server_auth = true;
    p.ip_addresses = {"127.0.0.1"};
    const Bytes leaf = crypto::issue_certificate(p, key.spki_der, issuing, [&](ByteView tbs) {
        return sign_with_issuing_ca(*m_store, m_hsm, tbs);
    });
    EXPECT_TRUE(crypto::verify_certificate_signature(leaf, crypto::certificate_spki(issuing)));
    record_own_certificate(*m_store, m_clock, leaf);
    auto rec = m_ca->find(crypto::certificate_info(leaf).serial_hex);
    ASSERT_TRUE(rec);
    EXPECT_EQ(rec->issued_by, "kmsd");
    EXPECT_EQ(rec->subject, "kmsd");
    EXPECT_EQ(rec->profile, CertProfile::Server);
}

/// The store as a second kmsd node sees it (the same data), with one interleaving: right after
/// the first read of the CRL number outside a write, @p hook runs, as if another node issued a
/// CRL just then. Everything else goes straight to the real store.
class InterleavingStore final : public MetadataStore {
  public:
    explicit InterleavingStore(MetadataStore& inner) : m_inner(inner) {}
    std::function<void()> hook;

    std::optional<Bytes> get_setting(std::string_view name) override {
        auto value = m_inner.get_setting(name);
        if (name == "ca/crl/number" && hook) std::exchange(hook, nullptr)();
        return value;
    }
    std::optional<KeyRecord> find_key(std::string_view id) override { return m_inner.find_key(id); }
    std::optional<std::string> find_key_id_by_name(std::string_view n) override {
        return m_inner.find_key_id_by_name(n);
    }
    KeyPage list_keys(const KeyFilter& f, std::string_view a, std::size_t l) override {
        return m_inner.list_keys(f, a, l);
    }
    std::optional<Principal> find_principal(std::string_view n) override {
        return m_inner.find_principal(n);
    }
    std::optional<Principal> find_principal_by_token_hash(ByteView h) override {
        return m_inner.find_principal_by_token_hash(h);
    }
    std::vector<Principal> list_principals() override { return m_inner.list_principals(); }
    std::vector<AuditRecord> read_audit(std::uint64_t f, std::size_t l) override {
        return m_inner.read_audit(f, l);
    }
    AuditHead audit_head() override { return m_inner.audit_head(); }
    std::vector<std::pair<std::string, Bytes>> list_settings(std::string_view p) override {
        return m_inner.list_settings(p);
    }
    std::size_t key_count() override { return m_inner.key_count(); }
    std::optional<Bytes> get(Table t, std::string_view k) override { return m_inner.get(t, k); }
    std::vector<std::pair<std::string, Bytes>> scan(Table t, std::string_view a,
                                                    std::size_t l) override {
        return m_inner.scan(t, a, l);
    }
    void write(const std::function<void(WriteTxn&)>& fn) override { m_inner.write(fn); }
    std::shared_ptr<QueuedWrite> write_queued(std::function<void(WriteTxn&)> fn) override {
        return m_inner.write_queued(std::move(fn));
    }
    void add_use_counters(const std::vector<std::pair<std::string, UseCounters>>& d) override {
        m_inner.add_use_counters(d);
    }
    bool probe() noexcept override { return m_inner.probe(); }

  private:
    MetadataStore& m_inner;
};

TEST_F(CaService, TwoNodesRevokingAtOnceNeverIssueTwoCrlsWithOneNumber) {
    // Two kmsd nodes on one store (PostgreSQL, docs/operations.md): each CA orders its own
    // CRLs with its mutex, so node 1 can issue a CRL between node 2's read of the number and
    // node 2's write. RFC 5280 §5.2.3: CRL numbers increase monotonically.
    m_ca->ensure_issuing_ca();
    const auto a = issue("a", CertProfile::Client);
    const auto b = issue("b", CertProfile::Client);
    EXPECT_EQ(read_crl(m_ca->crl_der()).number, 1);

    InterleavingStore node2_store(*m_store);
    KeyCache node2_cache;
    UseCounterBook node2_counters;
    ServiceContext node2_ctx{node2_store, m_hsm, m_clock, node2_cache, node2_counters};
    CertificateAuthority node2(node2_ctx);
    node2_store.hook = [&] {
        m_ca->revoke(m_officer, a.record.serial, RevocationReason::KeyCompromise);
    };
    node2.revoke(m_officer, b.record.serial, RevocationReason::Superseded);
    EXPECT_FALSE(node2_store.hook) << "the interleaving did not happen";

    const CrlView last = read_crl(*m_store->get_setting("ca/crl/der"));
    EXPECT_EQ(last.number, 3) << "node 2 reissued CRL number 2";
    std::vector<std::string> both{a.record.serial, b.record.serial};
    std::vector<std::string> got = last.serials;
    std::sort(both.begin(), both.end());
    std::sort(got.begin(), got.end());
    EXPECT_EQ(got, both);
    const std::string audit = audit_text();
    EXPECT_NE(audit.find("ca.crl-issue 2"), std::string::npos) << audit;
    EXPECT_NE(audit.find("ca.crl-issue 3"), std::string::npos) << audit;
}

}  // namespace
}  // namespace kms::core
