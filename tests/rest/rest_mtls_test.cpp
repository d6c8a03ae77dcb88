// Plugins over mutual TLS against a real kmsd: a principal created with a CSR gets a client
// certificate from the KMS CA; presented without a bearer token it is that principal; its
// policy decides which keys and operations it may use (403 otherwise, audited); a revoked
// certificate is refused (401); a certificate from a foreign CA does not get through the TLS
// handshake. Expiry is OpenSSL's chain check plus principal_for_certificate (authn_test.cpp):
// this CA cannot be asked for an already expired certificate.
#include <Poco/Exception.h>
#include <Poco/JSON/Array.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <filesystem>
#include <fstream>

#include "plugin_support.hpp"
#include "rest_fixture.hpp"

namespace kms::test {
namespace {

using X509Ptr = std::unique_ptr<X509, decltype(&X509_free)>;

std::string cert_pem(X509* x) {
    BIO* b = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(b, x);
    return bio_text(b);
}

/// A certificate for @p subject_key named @p cn, signed by @p issuer_key (self-signed when
/// @p issuer is null), valid from now + @p from_s for @p days.
X509Ptr make_cert(EVP_PKEY* subject_key, const std::string& cn, EVP_PKEY* issuer_key, X509* issuer,
                  bool ca, long from_s = -60, long days = 30) {
    X509Ptr x(X509_new(), &X509_free);
    X509_set_version(x.get(), 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x.get()), ca ? 1 : 2);
    X509_gmtime_adj(X509_getm_notBefore(x.get()), from_s);
    X509_gmtime_adj(X509_getm_notAfter(x.get()), from_s + days * 86400L);
    X509_NAME* n = name_cn(cn);
    X509_set_subject_name(x.get(), n);
    X509_set_issuer_name(x.get(), issuer ? X509_get_subject_name(issuer) : n);
    X509_NAME_free(n);
    X509_set_pubkey(x.get(), subject_key);
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer ? issuer : x.get(), x.get(), nullptr, nullptr, 0);
    auto add = [&](int nid, const char* value) {
        X509_EXTENSION* e = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
        X509_add_ext(x.get(), e, -1);
        X509_EXTENSION_free(e);
    };
    add(NID_basic_constraints, ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
    add(NID_key_usage, ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature");
    if (!ca) add(NID_ext_key_usage, "clientAuth");
    if (X509_sign(x.get(), issuer_key, EVP_sha256()) <= 0) throw std::runtime_error("X509_sign");
    return x;
}

class Mtls : public Rest {
  protected:
    void SetUp() override {
        Rest::SetUp();
        char tmpl[] = "/tmp/kms-mtls-XXXXXX";
        if (::mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp");
        m_dir = tmpl;
    }
    void TearDown() override {
        std::error_code ec;
        std::filesystem::remove_all(m_dir, ec);
    }

    /// Creates plugin @p name with a CSR (a fresh P-256 key) and writes its key and
    /// certificate + chain under m_dir.
    Plugin create_plugin(const std::string& name) {
        return create_plugin_identity(
            [&](const std::string& path, const std::string& body) { return post(path, body); },
            name, m_dir);
    }
    std::unique_ptr<HttpsClient> mtls(const Plugin& p) {
        return std::make_unique<HttpsClient>("127.0.0.1", s_kmsd->port(), s_kmsd->ca_file(),
                                             p.cert_file, p.key_file);
    }
    static std::string mac_body() { return R"({"algorithm":"AES-CMAC","data":"00112233"})"; }
    /// Audit records (newest last) as admin.
    Poco::JSON::Array::Ptr audit_records() {
        Poco::JSON::Array::Ptr all = new Poco::JSON::Array();
        std::string from = "1";
        for (int guard = 0; guard < 100; ++guard) {
            auto r = get("/v1/audit?limit=1000&from=" + from);
            EXPECT_EQ(r.status, 200) << r.body;
            auto o = r.json();
            auto recs = o->getArray("records");
            for (std::size_t i = 0; i < recs->size(); ++i) all->add(recs->get(i));
            if (o->get("next").isEmpty()) break;
            from = o->get("next").toString();
        }
        return all;
    }

    std::string m_dir;
};

TEST_F(Mtls, PluginsUseTheirCertificateWithinTheirPolicy) {
    const std::string key_a = str(create_key("tsm/a/mac", "AES-128", R"(["mac","encrypt"])"), "id");
    const std::string key_b = str(create_key("tsm/b/mac", "AES-128", R"(["mac"])"), "id");
    const Plugin a = create_plugin("tsm-a");
    const Plugin b = create_plugin("tsm-b");
    EXPECT_NE(a.serial, b.serial);

    // The certificate is on record, bound to the principal.
    auto rec = get("/v1/ca/certificates/" + a.serial);
    ASSERT_EQ(rec.status, 200) << rec.body;
    EXPECT_EQ(str(rec.json(), "principal"), "tsm-a");
    EXPECT_EQ(str(rec.json(), "profile"), "client");

    auto client_a = mtls(a);
    auto client_b = mtls(b);
    // Over mTLS with no bearer token the caller is the bound principal.
    auto who = client_a->get("/v1/whoami");
    ASSERT_EQ(who.status, 200) << who.body;
    EXPECT_EQ(str(who.json(), "name"), "tsm-a");

    // No policy yet: nothing.
    auto denied = client_a->post("/v1/keys/" + key_a + "/mac", mac_body());
    EXPECT_EQ(denied.status, 403) << denied.body;
    auto none = get("/v1/principals/tsm-a/policy");
    ASSERT_EQ(none.status, 200) << none.body;
    EXPECT_FALSE(none.json()->getValue<bool>("defined"));

    auto put_a = http().request("PUT", "/v1/principals/tsm-a/policy",
                                R"({"keys":["tsm/a/*"],"operations":["mac"]})", s_admin);
    ASSERT_EQ(put_a.status, 200) << put_a.body;
    auto put_b =
        http().request("PUT", "/v1/principals/tsm-b/policy",
                       R"({"keys":["tsm/b/*"],"operations":["mac","random","read"]})", s_admin);
    ASSERT_EQ(put_b.status, 200) << put_b.body;
    auto shown = get("/v1/principals/tsm-a/policy");
    ASSERT_EQ(shown.status, 200) << shown.body;
    EXPECT_TRUE(shown.json()->getValue<bool>("defined"));
    EXPECT_EQ(shown.json()->getArray("keys")->getElement<std::string>(0), "tsm/a/*");
    EXPECT_EQ(shown.json()->getArray("operations")->getElement<std::string>(0), "mac");
    EXPECT_EQ(str(shown.json(), "updatedBy"), "admin");
    // A plugin may read its own policy, not another's.
    EXPECT_EQ(client_a->get("/v1/principals/tsm-a/policy").status, 200);
    EXPECT_EQ(client_a->get("/v1/principals/tsm-b/policy").status, 403);

    // Its own key and operation: 200. Another plugin's key: 403 naming plugin, op and key.
    auto ok = client_a->post("/v1/keys/" + key_a + "/mac", mac_body());
    ASSERT_EQ(ok.status, 200) << ok.body;
    auto other = client_a->post("/v1/keys/" + key_b + "/mac", mac_body());
    ASSERT_EQ(other.status, 403) << other.body;
    EXPECT_EQ(str(other.json(), "error"), "forbidden");
    EXPECT_NE(str(other.json(), "message")
                  .find("plugin 'tsm-a' may not mac with key " + key_b + " (tsm/b/mac)"),
              std::string::npos)
        << other.body;
    // An operation the policy does not name, on its own key (the key has the usage).
    auto enc =
        client_a->post("/v1/keys/" + key_a + "/encrypt",
                       R"({"algorithm":"AES-CBC","plaintext":"00112233445566778899aabbccddeeff"})");
    EXPECT_EQ(enc.status, 403) << enc.body;
    EXPECT_EQ(client_a->post("/v1/random", R"({"length":8})").status, 403);
    EXPECT_EQ(client_a->get("/v1/keys/" + key_a).status, 403);  // no "read"
    // The bearer token of the same plugin is held to the same policy.
    EXPECT_EQ(post("/v1/keys/" + key_b + "/mac", mac_body(), a.token).status, 403);
    EXPECT_EQ(post("/v1/keys/" + key_a + "/mac", mac_body(), a.token).status, 200);

    // tsm-b: its key, random and reads; listing shows only its keys.
    EXPECT_EQ(client_b->post("/v1/keys/" + key_b + "/mac", mac_body()).status, 200);
    EXPECT_EQ(client_b->post("/v1/keys/" + key_a + "/mac", mac_body()).status, 403);
    EXPECT_EQ(client_b->post("/v1/random", R"({"length":8})").status, 200);
    EXPECT_EQ(client_b->get("/v1/keys/" + key_b).status, 200);
    EXPECT_EQ(client_b->get("/v1/keys/" + key_a).status, 403);
    auto listed = client_b->get("/v1/keys");
    ASSERT_EQ(listed.status, 200) << listed.body;
    auto keys = listed.json()->getArray("keys");
    ASSERT_EQ(keys->size(), 1u) << listed.body;
    EXPECT_EQ(keys->getObject(0)->getValue<std::string>("id"), key_b);

    // Officers are not restricted by policies.
    EXPECT_EQ(post("/v1/keys/" + key_b + "/mac", mac_body()).status, 200);

    // The denial is in the audit log, with the plugin as actor.
    auto records = audit_records();
    bool denial = false, policy_set = false;
    for (std::size_t i = 0; i < records->size(); ++i) {
        auto r = records->getObject(static_cast<unsigned>(i));
        const auto actor = r->getValue<std::string>("actor");
        const auto action = r->getValue<std::string>("action");
        if (actor == "tsm-a" && action == "key.mac" &&
            r->getValue<std::string>("outcome") != "success" &&
            r->getValue<std::string>("target") == key_b &&
            r->getValue<std::string>("detail").find("may not mac") != std::string::npos)
            denial = true;
        if (actor == "admin" && action == "policy.set" &&
            r->getValue<std::string>("target") == "tsm-a")
            policy_set = true;
    }
    EXPECT_TRUE(denial) << "no audited denial of tsm-a's MAC with " << key_b;
    EXPECT_TRUE(policy_set);

    // Revoking the certificate ends its use at the next request, on the same connection too.
    auto rev = post("/v1/ca/certificates/" + a.serial + "/revoke", R"({"reason":"keyCompromise"})");
    ASSERT_EQ(rev.status, 200) << rev.body;
    auto after = client_a->post("/v1/keys/" + key_a + "/mac", mac_body());
    EXPECT_EQ(after.status, 401) << after.body;
    EXPECT_NE(after.body.find("client certificate revoked"), std::string::npos) << after.body;
    EXPECT_EQ(mtls(a)->get("/v1/whoami").status, 401);
    // The other plugin is unaffected.
    EXPECT_EQ(client_b->post("/v1/keys/" + key_b + "/mac", mac_body()).status, 200);
    bool revoked_audited = false;
    records = audit_records();
    for (std::size_t i = 0; i < records->size(); ++i) {
        auto r = records->getObject(static_cast<unsigned>(i));
        if (r->getValue<std::string>("outcome") != "success" &&
            r->getValue<std::string>("detail").find("client certificate revoked") !=
                std::string::npos)
            revoked_audited = true;
    }
    EXPECT_TRUE(revoked_audited);
}

TEST_F(Mtls, PolicyRequestsAreValidated) {
    create_principal("officer-p", R"(["key-officer"])");
    const std::string plugin_token = create_principal("tsm-v", R"(["plugin"])");
    auto put = [&](const std::string& who, const std::string& body,
                   const std::string& token = s_admin) {
        return http().request("PUT", "/v1/principals/" + who + "/policy", body, token);
    };
    EXPECT_EQ(put("tsm-v", R"({"keys":["*"],"operations":["mac"]})").status, 200);
    auto not_plugin = put("officer-p", R"({"keys":["*"],"operations":["mac"]})");
    EXPECT_EQ(not_plugin.status, 400) << not_plugin.body;
    EXPECT_EQ(put("nobody", R"({"keys":["*"],"operations":["mac"]})").status, 404);
    auto bad_op = put("tsm-v", R"({"keys":["*"],"operations":["wrap"]})");
    EXPECT_EQ(bad_op.status, 400);
    EXPECT_NE(bad_op.body.find("operations"), std::string::npos) << bad_op.body;
    EXPECT_EQ(put("tsm-v", R"({"keys":[""],"operations":["mac"]})").status, 400);
    EXPECT_EQ(put("tsm-v", R"({"keys":["*"]})").status, 400);
    EXPECT_EQ(put("tsm-v", R"({"keys":["*"],"operations":["mac"],"x":1})").status, 400);
    // A long glob is kept whole (not cut at 64 characters).
    const std::string long_glob = "tsm/" + std::string(100, 'x') + "/*";
    auto long_put = put("tsm-v", "{\"keys\":[\"" + long_glob + "\"],\"operations\":[\"mac\"]}");
    ASSERT_EQ(long_put.status, 200) << long_put.body;
    EXPECT_EQ(long_put.json()->getArray("keys")->getElement<std::string>(0), long_glob);
    // Only an admin sets policies; the plugin itself cannot widen its own.
    EXPECT_EQ(put("tsm-v", R"({"keys":["*"],"operations":["mac"]})", plugin_token).status, 403);
}

TEST_F(Mtls, CsrMustNameThePrincipal) {
    PkeyPtr k = new_p256_key();
    auto wrong_cn = post("/v1/principals", R"({"name":"tsm-c","roles":["plugin"],"csr":)" +
                                               json_string(make_csr(k.get(), "tsm-x")) + "}");
    EXPECT_EQ(wrong_cn.status, 400) << wrong_cn.body;
    EXPECT_NE(wrong_cn.body.find("csr"), std::string::npos) << wrong_cn.body;
    auto garbage = post(
        "/v1/principals",
        R"({"name":"tsm-c","roles":["plugin"],"csr":"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"})");
    EXPECT_EQ(garbage.status, 400) << garbage.body;
    // Neither left a principal behind: the name is still free.
    EXPECT_EQ(post("/v1/principals", R"({"name":"tsm-c","roles":["plugin"]})").status, 201);
}

TEST_F(Mtls, WithoutTokenOrCertificateIs401) {
    auto r = http().get("/v1/whoami");
    EXPECT_EQ(r.status, 401);
    EXPECT_NE(r.body.find("client certificate"), std::string::npos) << r.body;
}

TEST_F(Mtls, AForeignCaDoesNotGetThroughTheHandshake) {
    // A CA of our own making issues a client certificate with a plugin's name: kmsd's TLS
    // layer must refuse it (it does not chain to the KMS CA), whatever the name says.
    create_principal("tsm-f", R"(["plugin"])");
    PkeyPtr ca_key = new_p256_key();
    X509Ptr ca = make_cert(ca_key.get(), "Foreign CA", ca_key.get(), nullptr, true);
    PkeyPtr leaf_key = new_p256_key();
    X509Ptr leaf = make_cert(leaf_key.get(), "tsm-f", ca_key.get(), ca.get(), false);
    Plugin f;
    f.cert_file = m_dir + "/foreign.crt";
    f.key_file = m_dir + "/foreign.key";
    write_file(f.cert_file, cert_pem(leaf.get()) + cert_pem(ca.get()));
    write_file(f.key_file, key_pem(leaf_key.get()));
    auto client = mtls(f);  // loads the key and certificate: must not throw
    bool refused = false;
    try {
        auto r = client->get("/v1/whoami");
        ADD_FAILURE() << "a foreign client certificate got an answer: " << r.status << " "
                      << r.body;
    } catch (const Poco::Exception&) {
        refused = true;
    } catch (const std::exception&) {
        refused = true;
    }
    EXPECT_TRUE(refused);
    // An expired certificate from that CA is refused just the same (and kmsd keeps serving).
    X509Ptr old =
        make_cert(leaf_key.get(), "tsm-f", ca_key.get(), ca.get(), false, -40L * 86400, 10);
    write_file(f.cert_file, cert_pem(old.get()) + cert_pem(ca.get()));
    auto expired_client = mtls(f);
    EXPECT_ANY_THROW(expired_client->get("/v1/whoami"));
    EXPECT_EQ(get("/v1/whoami").status, 200);
}

}  // namespace
}  // namespace kms::test
