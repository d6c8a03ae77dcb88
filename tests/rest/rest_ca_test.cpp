// REST: the internal CA against a real kmsd (suite "rest"). CSRs are made here with OpenSSL
// (EC P-256, RSA-2048); every issued certificate is checked with the openssl binary
// (`openssl verify -CAfile root -untrusted issuing`), revocation with `-crl_check` and the CRL
// served by kmsd, and the CRL's signature with the issuing CA's public key.
#include <Poco/JSON/Array.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "plugin_support.hpp"
#include "rest_fixture.hpp"

namespace kms::test {
namespace {

namespace fs = std::filesystem;

PkeyPtr new_key(bool rsa) {
    EVP_PKEY* k = rsa ? EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(2048))
                      : EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
    if (k == nullptr) throw std::runtime_error("keygen failed");
    return PkeyPtr(k, &EVP_PKEY_free);
}

struct Cmd {
    int code = -1;
    std::string output;
};

/// Runs @p cmd through the shell with stderr folded into stdout.
Cmd run(const std::string& cmd) {
    Cmd r;
    FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
    if (p == nullptr) return r;
    char buf[4096];
    std::size_t n = 0;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
    const int status = ::pclose(p);
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return r;
}

std::string read_text(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

void write_text(const std::string& path, const std::string& text) {
    std::ofstream(path) << text;
}

/// The PEM blocks of @p pem, in order.
std::vector<std::string> pem_blocks(const std::string& pem) {
    std::vector<std::string> out;
    std::size_t pos = 0;
    while (true) {
        const auto begin = pem.find("-----BEGIN ", pos);
        if (begin == std::string::npos) break;
        const auto end_marker = pem.find("-----END ", begin);
        const auto end = pem.find('\n', pem.find("-----", end_marker + 9));
        out.push_back(pem.substr(begin, end + 1 - begin));
        pos = end + 1;
    }
    return out;
}

std::unique_ptr<X509, decltype(&X509_free)> parse_pem_cert(const std::string& pem) {
    BIO* b = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    X509* x = PEM_read_bio_X509(b, nullptr, nullptr, nullptr);
    BIO_free(b);
    return {x, &X509_free};
}

std::string subject_cn(X509* x, bool issuer = false) {
    char buf[256] = {0};
    X509_NAME_get_text_by_NID(issuer ? X509_get_issuer_name(x) : X509_get_subject_name(x),
                              NID_commonName, buf, sizeof buf);
    return buf;
}

long crl_number(const std::string& der) {
    const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
    X509_CRL* crl = d2i_X509_CRL(nullptr, &p, static_cast<long>(der.size()));
    if (crl == nullptr) return -1;
    ASN1_INTEGER* n =
        static_cast<ASN1_INTEGER*>(X509_CRL_get_ext_d2i(crl, NID_crl_number, nullptr, nullptr));
    const long v = n ? ASN1_INTEGER_get(n) : -1;
    ASN1_INTEGER_free(n);
    X509_CRL_free(crl);
    return v;
}

class RestCa : public Rest {
  protected:
    void SetUp() override {
        Rest::SetUp();
        char tmpl[] = "/tmp/kms-rest-ca-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        dir = tmpl;
        auto chain = http().get("/v1/ca/chain");  // no token: public
        ASSERT_EQ(chain.status, 200) << chain.body;
        const auto blocks = pem_blocks(chain.body);
        ASSERT_EQ(blocks.size(), 2u);
        issuing_pem = blocks[0];
        root_pem = blocks[1];
        write_text(file("root.pem"), root_pem);
        write_text(file("issuing.pem"), issuing_pem);
    }
    void TearDown() override { fs::remove_all(dir); }

    std::string file(const std::string& name) const { return dir + "/" + name; }

    HttpResponse issue(const std::string& csr, const std::string& profile,
                       const std::string& extra = "", const std::string& token = s_admin) {
        return post("/v1/ca/certificates",
                    "{\"csr\":" + json_string(csr) + ",\"profile\":\"" + profile + "\"" + extra + "}",
                    token);
    }

    /// Issues and asserts 201; returns the reply.
    Poco::JSON::Object::Ptr issue_ok(const std::string& csr, const std::string& profile,
                                     const std::string& extra = "") {
        auto r = issue(csr, profile, extra);
        EXPECT_EQ(r.status, 201) << r.body;
        return r.status == 201 ? r.json() : Poco::JSON::Object::Ptr(new Poco::JSON::Object);
    }

    Cmd openssl_verify(const std::string& cert_pem, const std::string& options = "") {
        const std::string path = file("cert-" + std::to_string(++m_files) + ".pem");
        write_text(path, cert_pem);
        return run("openssl verify " + options + " -CAfile " + file("root.pem") + " -untrusted " +
                   file("issuing.pem") + " " + path);
    }

    std::string dir;
    std::string root_pem;
    std::string issuing_pem;
    int m_files = 0;
};

TEST_F(RestCa, ChainIsIssuingThenTheRootThatClientsTrust) {
    EXPECT_EQ(root_pem, read_text(s_kmsd->ca_file()));
    auto issuing = parse_pem_cert(issuing_pem);
    auto root = parse_pem_cert(root_pem);
    ASSERT_TRUE(issuing && root);
    EXPECT_EQ(subject_cn(issuing.get()), "KMS Appliance Issuing CA");
    EXPECT_EQ(subject_cn(issuing.get(), true), subject_cn(root.get()));
    EXPECT_EQ(X509_get_pathlen(issuing.get()), 0);
    EXPECT_EQ(X509_check_ca(issuing.get()), 1);
    // The issuing CA itself chains to the root.
    Cmd v = run("openssl verify -CAfile " + file("root.pem") + " " + file("issuing.pem"));
    EXPECT_EQ(v.code, 0) << v.output;
}

TEST_F(RestCa, EveryProfileIsIssuedAndOpenSslAcceptsTheChain) {
    struct Case {
        const char* profile;
        bool rsa;
        const char* cn;
        const char* san;
        const char* purpose;
    };
    const Case cases[] = {
        {"server", false, "pay.bank.example", "DNS:pay.bank.example,IP:10.1.2.3", "sslserver"},
        {"server", true, "hsm-gw.bank.example", "", "sslserver"},
        {"client", false, "teller-app", "", "sslclient"},
        {"client", true, "batch-job", "", "sslclient"},
        {"secure-element", false, "se-0001", "", nullptr},
        {"secure-element", true, "se-0002", "", nullptr},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(std::string(c.profile) + (c.rsa ? " RSA" : " EC"));
        PkeyPtr key = new_key(c.rsa);
        auto o = issue_ok(make_csr(key.get(), c.cn, c.san), c.profile);
        ASSERT_TRUE(o->has("certificate"));
        EXPECT_EQ(str(o, "profile"), c.profile);
        EXPECT_EQ(str(o, "subject"), c.cn);
        EXPECT_EQ(str(o, "status"), "valid");
        EXPECT_EQ(str(o, "chain"), issuing_pem + root_pem);
        EXPECT_FALSE(o->has("principal"));
        const std::string serial = str(o, "serial");
        EXPECT_EQ(serial.find_first_not_of("0123456789ABCDEF"), std::string::npos) << serial;

        Cmd v = openssl_verify(str(o, "certificate"),
                               c.purpose ? std::string("-purpose ") + c.purpose : "");
        EXPECT_EQ(v.code, 0) << v.output;
        EXPECT_NE(v.output.find(": OK"), std::string::npos) << v.output;

        auto x = parse_pem_cert(str(o, "certificate"));
        ASSERT_TRUE(x);
        EXPECT_EQ(subject_cn(x.get(), true), "KMS Appliance Issuing CA");
        const std::uint32_t ku = X509_get_key_usage(x.get());
        if (std::string(c.profile) == "secure-element") {
            EXPECT_EQ(ku, static_cast<std::uint32_t>(KU_DIGITAL_SIGNATURE | KU_KEY_AGREEMENT));
            EXPECT_LT(X509_get_ext_by_NID(x.get(), NID_ext_key_usage, -1), 0);
            // No EKU at all (RFC 5280 §4.2.1.12: absent means unrestricted; the key usage
            // bits are what limits a secure element's key).
            EXPECT_EQ(X509_get_extension_flags(x.get()) & EXFLAG_XKUSAGE, 0u);
        }
        if (std::string(c.profile) == "server") {
            // SANs from the CSR, or the CN when the CSR has none.
            if (*c.san != '\0') {
                EXPECT_EQ(X509_check_host(x.get(), "pay.bank.example", 0, 0, nullptr), 1);
                EXPECT_EQ(X509_check_ip_asc(x.get(), "10.1.2.3", 0), 1);
            } else {
                EXPECT_EQ(X509_check_host(x.get(), c.cn, 0, 0, nullptr), 1);
            }
            Cmd client = openssl_verify(str(o, "certificate"), "-purpose sslclient");
            EXPECT_NE(client.code, 0) << client.output;
        }
        // Default validity: the profile's maximum.
        const long days = std::string(c.profile) == "server"   ? 397
                          : std::string(c.profile) == "client" ? 825
                                                               : 7305;
        int pday = 0, psec = 0;
        ASSERT_EQ(
            ASN1_TIME_diff(&pday, &psec, X509_get0_notBefore(x.get()), X509_get0_notAfter(x.get())),
            1);
        EXPECT_NEAR(pday * 86400.0 + psec, days * 86400.0 + 60, 5.0);

        auto got = get("/v1/ca/certificates/" + serial);
        ASSERT_EQ(got.status, 200) << got.body;
        EXPECT_EQ(str(got.json(), "certificate"), str(o, "certificate"));
        EXPECT_EQ(str(got.json(), "issuedBy"), "admin");
        // Lower-case serials find the same record.
        auto lower_case = get("/v1/ca/certificates/" + lower(serial));
        EXPECT_EQ(lower_case.status, 200) << lower_case.body;
    }
}

TEST_F(RestCa, KmsdTlsCertificateChainsToTheRootThroughTheIssuingCa) {
    const auto blocks = pem_blocks(read_text(s_kmsd->data_dir() + "/tls/server.pem"));
    ASSERT_EQ(blocks.size(), 2u);
    EXPECT_EQ(blocks[1], issuing_pem);
    Cmd v = openssl_verify(blocks[0], "-purpose sslserver");
    EXPECT_EQ(v.code, 0) << v.output;
    // Not issued by the root directly.
    write_text(file("leaf.pem"), blocks[0]);
    Cmd direct = run("openssl verify -CAfile " + file("root.pem") + " " + file("leaf.pem"));
    EXPECT_NE(direct.code, 0) << direct.output;
    // The server's client-CA file holds root + issuing.
    EXPECT_EQ(read_text(s_kmsd->data_dir() + "/tls/client-ca.pem"), root_pem + issuing_pem);
    // Recorded in the Certificates table.
    auto leaf = parse_pem_cert(blocks[0]);
    BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(leaf.get()), nullptr);
    char* hex = BN_bn2hex(bn);
    const std::string serial = hex;
    OPENSSL_free(hex);
    BN_free(bn);
    auto rec = get("/v1/ca/certificates/" + serial);
    ASSERT_EQ(rec.status, 200) << rec.body;
    EXPECT_EQ(str(rec.json(), "issuedBy"), "kmsd");
    EXPECT_EQ(str(rec.json(), "profile"), "server");
    EXPECT_EQ(str(rec.json(), "subject"), "kmsd");
}

TEST_F(RestCa, RevokedCertificateIsInTheCrlAndOpenSslRejectsIt) {
    PkeyPtr k1 = new_key(false);
    PkeyPtr k2 = new_key(true);
    auto revoked = issue_ok(make_csr(k1.get(), "lost-laptop"), "client");
    auto kept = issue_ok(make_csr(k2.get(), "kept-client"), "client");
    const std::string serial = str(revoked, "serial");

    auto before = http().get("/v1/ca/crl");
    ASSERT_EQ(before.status, 200);
    const long number_before = crl_number(before.body);
    EXPECT_GT(number_before, 0);

    auto r = post("/v1/ca/certificates/" + serial + "/revoke", R"({"reason":"keyCompromise"})");
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(str(r.json(), "status"), "revoked");
    EXPECT_EQ(str(r.json(), "reason"), "keyCompromise");
    EXPECT_EQ(str(r.json(), "revokedBy"), "admin");
    EXPECT_TRUE(r.json()->has("revokedAt"));
    auto again = post("/v1/ca/certificates/" + serial + "/revoke", R"({"reason":"superseded"})");
    EXPECT_EQ(again.status, 409) << again.body;

    // DER without a token.
    auto der = http().get("/v1/ca/crl");
    ASSERT_EQ(der.status, 200) << der.body;
    EXPECT_EQ(der.content_type, "application/pkix-crl");
    EXPECT_GT(crl_number(der.body), number_before);
    auto pem = http().get("/v1/ca/crl?format=pem");
    ASSERT_EQ(pem.status, 200);
    EXPECT_EQ(pem.body.rfind("-----BEGIN X509 CRL-----", 0), 0u) << pem.body;
    write_text(file("crl.pem"), pem.body);
    {
        std::ofstream out(file("crl.der"), std::ios::binary);
        out << der.body;
    }

    // The CRL's signature verifies with the issuing CA's key, and not with the root's.
    Cmd crl_ok = run("openssl crl -in " + file("crl.der") + " -inform DER -noout -CAfile " +
                     file("issuing.pem"));
    EXPECT_EQ(crl_ok.code, 0) << crl_ok.output;
    EXPECT_NE(crl_ok.output.find("verify OK"), std::string::npos) << crl_ok.output;
    Cmd crl_text = run("openssl crl -in " + file("crl.pem") + " -noout -text");
    EXPECT_NE(crl_text.output.find("Key Compromise"), std::string::npos) << crl_text.output;
    EXPECT_NE(crl_text.output.find(serial), std::string::npos) << crl_text.output;
    {
        auto issuing = parse_pem_cert(issuing_pem);
        auto root = parse_pem_cert(root_pem);
        const unsigned char* p = reinterpret_cast<const unsigned char*>(der.body.data());
        X509_CRL* crl = d2i_X509_CRL(nullptr, &p, static_cast<long>(der.body.size()));
        ASSERT_NE(crl, nullptr);
        EXPECT_EQ(X509_CRL_verify(crl, X509_get0_pubkey(issuing.get())), 1);
        EXPECT_NE(X509_CRL_verify(crl, X509_get0_pubkey(root.get())), 1);
        X509_CRL_free(crl);
    }

    Cmd bad = openssl_verify(str(revoked, "certificate"), "-crl_check -CRLfile " + file("crl.pem"));
    EXPECT_NE(bad.code, 0) << bad.output;
    EXPECT_NE(bad.output.find("revoked"), std::string::npos) << bad.output;
    Cmd good = openssl_verify(str(kept, "certificate"), "-crl_check -CRLfile " + file("crl.pem"));
    EXPECT_EQ(good.code, 0) << good.output;

    auto listed = get("/v1/ca/certificates?status=revoked");
    ASSERT_EQ(listed.status, 200) << listed.body;
    EXPECT_NE(listed.body.find(serial), std::string::npos);
    EXPECT_EQ(listed.body.find(str(kept, "serial")), std::string::npos);
    EXPECT_EQ(listed.body.find("BEGIN CERTIFICATE"), std::string::npos);  // no PEM in lists
}

TEST_F(RestCa, BadRequestsAreRefusedWith4xx) {
    PkeyPtr key = new_key(false);
    const std::string csr = make_csr(key.get(), "bad-input");

    // A CSR whose signature does not verify: change one base64 character near the end of the
    // body (inside the signature).
    std::string broken = csr;
    const auto end = broken.find("-----END");
    std::size_t at = end - 6;
    while (broken[at] == '\n' || broken[at] == '=') --at;
    broken[at] = broken[at] == 'A' ? 'B' : 'A';
    auto sig = issue(broken, "client");
    EXPECT_EQ(sig.status, 400) << sig.body;
    EXPECT_NE(sig.body.find("csr"), std::string::npos) << sig.body;

    auto profile = issue(csr, "code-signing");
    EXPECT_EQ(profile.status, 400) << profile.body;
    EXPECT_NE(profile.body.find("profile"), std::string::npos);

    auto pem = issue("not a PEM", "client");
    EXPECT_EQ(pem.status, 400) << pem.body;
    EXPECT_NE(pem.body.find("csr"), std::string::npos);
    auto cert_as_csr = issue(issuing_pem, "client");
    EXPECT_EQ(cert_as_csr.status, 400) << cert_as_csr.body;

    EXPECT_EQ(issue(csr, "server", ",\"validityDays\":398").status, 400);
    EXPECT_EQ(issue(csr, "client", ",\"validityDays\":0").status, 400);
    EXPECT_EQ(issue(csr, "server", ",\"principal\":\"admin\"").status, 400);
    // Server profile: a CN that is no host name and no SANs.
    PkeyPtr k2 = new_key(false);
    EXPECT_EQ(issue(make_csr(k2.get(), "not a host"), "server").status, 400);
    EXPECT_EQ(issue(csr, "client", ",\"extra\":1").status, 400);
    // Principal binding: the CN must be the principal's name, and the principal must exist.
    EXPECT_EQ(issue(csr, "client", ",\"principal\":\"admin\"").status, 400);
    EXPECT_EQ(issue(make_csr(key.get(), "no-such-principal"), "client",
                    ",\"principal\":\"no-such-principal\"")
                  .status,
              400);

    EXPECT_EQ(get("/v1/ca/certificates/ABCDEF0123").status, 404);
    EXPECT_EQ(get("/v1/ca/certificates/not-hex").status, 404);
    EXPECT_EQ(post("/v1/ca/certificates/ABCDEF0123/revoke", R"({"reason":"keyCompromise"})").status,
              404);
    auto issued = issue_ok(csr, "client");
    EXPECT_EQ(
        post("/v1/ca/certificates/" + str(issued, "serial") + "/revoke", R"({"reason":"lost"})")
            .status,
        400);
    EXPECT_EQ(get("/v1/ca/certificates?status=bogus").status, 400);
    EXPECT_EQ(get("/v1/ca/certificates?expiringWithinDays=x").status, 400);
    EXPECT_EQ(http().get("/v1/ca/crl?format=txt").status, 400);
    // Without a token: issuing and listing are refused.
    EXPECT_EQ(http().get("/v1/ca/certificates").status, 401);
    EXPECT_EQ(issue(csr, "client", "", "").status, 401);
}

TEST_F(RestCa, RolesAndPrincipalBindingAndExpiringSoon) {
    const std::string auditor = create_principal("ca-auditor", R"(["auditor"])");
    const std::string officer = create_principal("ca-officer", R"(["key-officer"])");
    create_principal("ca-plugin", R"(["plugin"])");
    PkeyPtr key = new_key(false);
    const std::string plugin_csr = make_csr(key.get(), "ca-plugin");
    EXPECT_EQ(issue(plugin_csr, "client", "", auditor).status, 403);
    auto bound =
        issue(plugin_csr, "client", ",\"principal\":\"ca-plugin\",\"validityDays\":10", officer);
    ASSERT_EQ(bound.status, 201) << bound.body;
    EXPECT_EQ(str(bound.json(), "principal"), "ca-plugin");
    const std::string serial = str(bound.json(), "serial");
    Cmd v = openssl_verify(str(bound.json(), "certificate"), "-purpose sslclient");
    EXPECT_EQ(v.code, 0) << v.output;

    auto by_principal = get("/v1/ca/certificates?principal=ca-plugin", auditor);
    ASSERT_EQ(by_principal.status, 200) << by_principal.body;
    auto arr = by_principal.json()->getArray("certificates");
    ASSERT_EQ(arr->size(), 1u);
    EXPECT_EQ(arr->getObject(0)->getValue<std::string>("serial"), serial);

    auto soon = get("/v1/ca/certificates?expiringWithinDays=30", auditor);
    ASSERT_EQ(soon.status, 200);
    EXPECT_NE(soon.body.find(serial), std::string::npos);
    auto not_yet = get("/v1/ca/certificates?expiringWithinDays=5");
    ASSERT_EQ(not_yet.status, 200);
    EXPECT_EQ(not_yet.body.find(serial), std::string::npos);
    auto valid = get("/v1/ca/certificates?status=valid&principal=ca-plugin");
    EXPECT_NE(valid.body.find(serial), std::string::npos);

    EXPECT_EQ(post("/v1/ca/certificates/" + serial + "/revoke",
                   R"({"reason":"privilegeWithdrawn"})", auditor)
                  .status,
              403);
    EXPECT_EQ(post("/v1/ca/certificates/" + serial + "/revoke",
                   R"({"reason":"privilegeWithdrawn"})", officer)
                  .status,
              200);
    // Audited: issuance and revocation name the serial.
    auto audit = get("/v1/audit?limit=1000");
    if (audit.status == 200) {
        EXPECT_NE(audit.body.find("ca.certificate-issue"), std::string::npos);
        EXPECT_NE(audit.body.find("ca.certificate-revoke"), std::string::npos);
    }
}

// Runs last (it restarts kmsd): a TLS certificate from another CA, e.g. one the root issued
// before the issuing CA existed, is replaced by one from the issuing CA at the next start.
TEST_F(RestCa, ZzTlsCertificateFromAnotherCaIsReplacedAtStart) {
    const std::string tls = s_kmsd->data_dir() + "/tls/";
    ASSERT_EQ(s_kmsd->stop(), 0);
    Cmd made = run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout " +
                   tls + "server.key -out " + tls +
                   "server.pem -subj /CN=kmsd -days 30 -addext subjectAltName=IP:127.0.0.1");
    ASSERT_EQ(made.code, 0) << made.output;
    const std::string foreign = read_text(tls + "server.pem");
    s_kmsd->start();
    const auto blocks = pem_blocks(read_text(tls + "server.pem"));
    ASSERT_EQ(blocks.size(), 2u);
    EXPECT_NE(blocks[0], foreign);
    Cmd v = openssl_verify(blocks[0], "-purpose sslserver");
    EXPECT_EQ(v.code, 0) << v.output;
    // The issuing CA was kept (same chain), and kmsd answers over TLS with the new certificate.
    HttpsClient fresh("127.0.0.1", s_kmsd->port(), s_kmsd->ca_file());
    EXPECT_EQ(fresh.get("/healthz").status, 200);
    auto chain = fresh.get("/v1/ca/chain");
    EXPECT_EQ(chain.body, issuing_pem + root_pem);
}

}  // namespace
}  // namespace kms::test
