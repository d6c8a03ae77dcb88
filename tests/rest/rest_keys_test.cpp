// REST: key lifecycle and operations against a real kmsd over TLS (suite "rest").
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <thread>

#include "rest_fixture.hpp"

namespace kms::test {
namespace {

using Poco::JSON::Object;

TEST_F(Rest, HealthzNeedsNoTokenAndReportsParts) {
    auto r = http().get("/healthz");
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(str(r.json(), "status"), "ok");
    EXPECT_EQ(str(r.json(), "hsm"), "ok");
    EXPECT_EQ(str(r.json(), "store"), "ok");
}

TEST_F(Rest, OpenApiDocumentIsServed) {
    auto r = http().get("/v1/openapi.json");
    ASSERT_EQ(r.status, 200);
    auto doc = r.json();
    EXPECT_EQ(doc->getValue<std::string>("openapi").substr(0, 2), "3.");
    EXPECT_TRUE(doc->getObject("paths")->has("/v1/keys/{id}/mac"));
}

TEST_F(Rest, WhoamiShowsTheFirstAdministrator) {
    auto r = get("/v1/whoami");
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(str(r.json(), "name"), "admin");
    EXPECT_EQ(r.json()->getArray("roles")->getElement<std::string>(0), "admin");
}

TEST_F(Rest, CreateAesKeyAnswersTheContractShape) {
    auto k = create_key("rest-aes-shape", "AES-256", "[\"mac\",\"encrypt\",\"decrypt\"]");
    EXPECT_EQ(str(k, "name"), "rest-aes-shape");
    EXPECT_EQ(str(k, "algorithm"), "AES-256");
    EXPECT_EQ(str(k, "state"), "Active");
    EXPECT_EQ(k->getValue<int>("version"), 1);
    EXPECT_EQ(str(k, "id").substr(0, 2), "k-");
    EXPECT_EQ(str(k, "kcv").size(), 6u);
    auto again = get("/v1/keys/" + str(k, "id"));
    ASSERT_EQ(again.status, 200);
    EXPECT_EQ(str(again.json(), "kcv"), str(k, "kcv"));
}

TEST_F(Rest, AesKcvIsTheCmacOfAZeroBlock) {
    // API-CONTRACT: AES KCV = first 3 bytes of CMAC(K, 0^16). Check it through the key itself.
    auto k = create_key("rest-aes-kcv", "AES-128", "[\"mac\"]");
    auto m = post("/v1/keys/" + str(k, "id") + "/mac",
                  R"({"algorithm":"AES-CMAC","data":"00000000000000000000000000000000"})");
    ASSERT_EQ(m.status, 200) << m.body;
    EXPECT_EQ(lower(str(m.json(), "mac").substr(0, 6)), lower(str(k, "kcv")));
    EXPECT_EQ(str(m.json(), "mac").size(), 32u);
}

TEST_F(Rest, Des3KcvIsTheEncryptionOfAZeroBlock) {
    auto k = create_key("rest-des3-kcv", "DES3-2K", "[\"encrypt\",\"decrypt\",\"mac\"]");
    auto e =
        post("/v1/keys/" + str(k, "id") + "/encrypt",
             R"({"algorithm":"DES3-CBC","plaintext":"0000000000000000","iv":"0000000000000000"})");
    ASSERT_EQ(e.status, 200) << e.body;
    EXPECT_EQ(lower(str(e.json(), "ciphertext").substr(0, 6)), lower(str(k, "kcv")));
}

TEST_F(Rest, RetailMacVerifiesAndRejectsAChangedMac) {
    auto k = create_key("rest-retail", "DES3-2K", "[\"mac\",\"verify\"]");
    const std::string id = str(k, "id");
    auto m = post("/v1/keys/" + id + "/mac",
                  R"({"algorithm":"DES3-RETAIL","data":"0102030405060708090A"})");
    ASSERT_EQ(m.status, 200) << m.body;
    const std::string mac = str(m.json(), "mac");
    EXPECT_EQ(mac.size(), 16u);
    auto ok =
        post("/v1/keys/" + id + "/mac/verify",
             R"({"algorithm":"DES3-RETAIL","data":"0102030405060708090A","mac":")" + mac + "\"}");
    ASSERT_EQ(ok.status, 200) << ok.body;
    EXPECT_TRUE(ok.json()->getValue<bool>("valid"));
    // A 4-byte truncated MAC verifies too; a changed one does not.
    auto trunc = post("/v1/keys/" + id + "/mac/verify",
                      R"({"algorithm":"DES3-RETAIL","data":"0102030405060708090A","mac":")" +
                          mac.substr(0, 8) + "\"}");
    EXPECT_TRUE(trunc.json()->getValue<bool>("valid"));
    std::string bad = mac;
    bad[0] = bad[0] == '0' ? '1' : '0';
    auto no =
        post("/v1/keys/" + id + "/mac/verify",
             R"({"algorithm":"DES3-RETAIL","data":"0102030405060708090A","mac":")" + bad + "\"}");
    ASSERT_EQ(no.status, 200);
    EXPECT_FALSE(no.json()->getValue<bool>("valid"));
}

TEST_F(Rest, GcmRoundTripWithAadAndTamperDetection) {
    auto k = create_key("rest-gcm", "AES-256", "[\"encrypt\",\"decrypt\"]");
    const std::string id = str(k, "id");
    auto e = post("/v1/keys/" + id + "/encrypt",
                  R"({"algorithm":"AES-GCM","plaintext":"48656C6C6F","aad":"A1A2"})");
    ASSERT_EQ(e.status, 200) << e.body;
    const std::string ct = str(e.json(), "ciphertext"), iv = str(e.json(), "iv");
    EXPECT_EQ(iv.size(), 24u);
    EXPECT_EQ(ct.size(), (5u + 16u) * 2);
    auto d = post("/v1/keys/" + id + "/decrypt", R"({"algorithm":"AES-GCM","ciphertext":")" + ct +
                                                     R"(","iv":")" + iv + R"(","aad":"A1A2"})");
    ASSERT_EQ(d.status, 200) << d.body;
    EXPECT_EQ(lower(str(d.json(), "plaintext")), "48656c6c6f");
    auto bad = post("/v1/keys/" + id + "/decrypt", R"({"algorithm":"AES-GCM","ciphertext":")" + ct +
                                                       R"(","iv":")" + iv + R"(","aad":"A1A3"})");
    EXPECT_EQ(bad.status, 400) << bad.body;
    EXPECT_EQ(str(bad.json(), "error"), "verification_failed");
}

TEST_F(Rest, CbcPadRoundTrip) {
    auto k = create_key("rest-cbc", "AES-128", "[\"encrypt\",\"decrypt\"]");
    const std::string id = str(k, "id");
    auto e = post("/v1/keys/" + id + "/encrypt",
                  R"({"algorithm":"AES-CBC-PAD","plaintext":"0011223344"})");
    ASSERT_EQ(e.status, 200) << e.body;
    EXPECT_EQ(str(e.json(), "ciphertext").size(), 32u);
    auto d = post("/v1/keys/" + id + "/decrypt", R"({"algorithm":"AES-CBC-PAD","ciphertext":")" +
                                                     str(e.json(), "ciphertext") + R"(","iv":")" +
                                                     str(e.json(), "iv") + "\"}");
    ASSERT_EQ(d.status, 200) << d.body;
    EXPECT_EQ(lower(str(d.json(), "plaintext")), "0011223344");
}

TEST_F(Rest, HmacKeyMacs) {
    auto k = create_key("rest-hmac", "HMAC-SHA256", "[\"mac\"]");
    EXPECT_TRUE(k->isNull("kcv"));
    auto m =
        post("/v1/keys/" + str(k, "id") + "/mac", R"({"algorithm":"HMAC-SHA256","data":"00"})");
    ASSERT_EQ(m.status, 200) << m.body;
    EXPECT_EQ(str(m.json(), "mac").size(), 64u);
}

// Verifies a signature returned by kmsd with OpenSSL and the public key kmsd published.
bool openssl_verify(const std::string& pem, const std::string& md, bool pss, bool ecdsa_raw,
                    const std::vector<unsigned char>& msg, std::vector<unsigned char> sig) {
    BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    EVP_PKEY* pkey = PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    if (pkey == nullptr) return false;
    if (ecdsa_raw) {  // r||s -> DER
        const std::size_t half = sig.size() / 2;
        ECDSA_SIG* s = ECDSA_SIG_new();
        ECDSA_SIG_set0(s, BN_bin2bn(sig.data(), static_cast<int>(half), nullptr),
                       BN_bin2bn(sig.data() + half, static_cast<int>(half), nullptr));
        unsigned char* der = nullptr;
        const int len = i2d_ECDSA_SIG(s, &der);
        sig.assign(der, der + len);
        OPENSSL_free(der);
        ECDSA_SIG_free(s);
    }
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX* pctx = nullptr;
    bool ok =
        EVP_DigestVerifyInit(ctx, &pctx, EVP_get_digestbyname(md.c_str()), nullptr, pkey) == 1;
    if (ok && pss) {
        EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING);
        EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 32);
    }
    ok = ok && EVP_DigestVerify(ctx, sig.data(), sig.size(), msg.data(), msg.size()) == 1;
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(pkey);
    return ok;
}

std::vector<unsigned char> unhex(const std::string& h) {
    std::vector<unsigned char> out;
    for (std::size_t i = 0; i + 1 < h.size(); i += 2)
        out.push_back(static_cast<unsigned char>(std::stoi(h.substr(i, 2), nullptr, 16)));
    return out;
}

void sign_and_check(Rest& t, HttpsClient& c, const std::string& token, const std::string& name,
                    const std::string& alg, const std::string& sigalg, const std::string& md,
                    bool pss, bool ecdsa) {
    auto r = c.post(
        "/v1/keys",
        "{\"name\":\"" + name + "\",\"algorithm\":\"" + alg + "\",\"usage\":[\"sign\",\"verify\"]}",
        token);
    ASSERT_EQ(r.status, 201) << r.body;
    auto k = r.json();
    const std::string id = k->getValue<std::string>("id");
    const std::string pem = k->getValue<std::string>("publicKey");
    ASSERT_NE(pem.find("BEGIN PUBLIC KEY"), std::string::npos);
    auto s = c.post("/v1/keys/" + id + "/sign",
                    R"({"algorithm":")" + sigalg + R"(","data":"616263"})", token);
    ASSERT_EQ(s.status, 200) << s.body;
    const std::string sig = s.json()->getValue<std::string>("signature");
    EXPECT_TRUE(openssl_verify(pem, md, pss, ecdsa, {'a', 'b', 'c'}, unhex(sig)))
        << alg << " " << sigalg;
    auto v = c.post(
        "/v1/keys/" + id + "/verify",
        R"({"algorithm":")" + sigalg + R"(","data":"616263","signature":")" + sig + "\"}", token);
    ASSERT_EQ(v.status, 200) << v.body;
    EXPECT_TRUE(v.json()->getValue<bool>("valid"));
    auto v2 = c.post(
        "/v1/keys/" + id + "/verify",
        R"({"algorithm":")" + sigalg + R"(","data":"616264","signature":")" + sig + "\"}", token);
    ASSERT_EQ(v2.status, 200) << v2.body;
    EXPECT_FALSE(v2.json()->getValue<bool>("valid"));
    (void)t;
}

TEST_F(Rest, EcdsaP256SignaturesVerifyWithOpenSsl) {
    sign_and_check(*this, http(), s_admin, "rest-ec256", "EC-P256", "ECDSA-SHA256", "SHA256", false,
                   true);
}
TEST_F(Rest, EcdsaP384SignaturesVerifyWithOpenSsl) {
    sign_and_check(*this, http(), s_admin, "rest-ec384", "EC-P384", "ECDSA-SHA384", "SHA384", false,
                   true);
}
TEST_F(Rest, RsaPssSignaturesVerifyWithOpenSsl) {
    sign_and_check(*this, http(), s_admin, "rest-rsa-pss", "RSA-2048", "RSA-PSS-SHA256", "SHA256",
                   true, false);
}
TEST_F(Rest, RsaPkcs1SignaturesVerifyWithOpenSsl) {
    sign_and_check(*this, http(), s_admin, "rest-rsa-v15", "RSA-2048", "RSA-PKCS1-SHA256", "SHA256",
                   false, false);
}

TEST_F(Rest, RotateDeactivateDestroy) {
    auto k = create_key("rest-lifecycle", "AES-128", "[\"mac\",\"verify\"]");
    const std::string id = str(k, "id");
    const std::string data =
        R"({"algorithm":"AES-CMAC","data":"6BC1BEE22E409F96E93D7E117393172A"})";
    auto m1 = post("/v1/keys/" + id + "/mac", data);
    ASSERT_EQ(m1.status, 200);
    EXPECT_EQ(m1.json()->getValue<int>("version"), 1);

    auto rot = post("/v1/keys/" + id + "/rotate", "");
    ASSERT_EQ(rot.status, 200) << rot.body;
    EXPECT_EQ(rot.json()->getValue<int>("version"), 2);
    EXPECT_EQ(rot.json()->getArray("versions")->size(), 2u);
    auto m2 = post("/v1/keys/" + id + "/mac", data);
    ASSERT_EQ(m2.status, 200);
    EXPECT_EQ(m2.json()->getValue<int>("version"), 2);
    EXPECT_NE(str(m1.json(), "mac"), str(m2.json(), "mac"));

    auto deact = post("/v1/keys/" + id + "/deactivate", R"({"reason":"end of life"})");
    ASSERT_EQ(deact.status, 200) << deact.body;
    EXPECT_EQ(str(deact.json(), "state"), "Deactivated");
    // Deactivated: no new MACs, but old MACs of either version still verify.
    auto refused = post("/v1/keys/" + id + "/mac", data);
    EXPECT_EQ(refused.status, 409);
    EXPECT_EQ(str(refused.json(), "error"), "wrong_state");
    auto v1 = post(
        "/v1/keys/" + id + "/mac/verify",
        R"({"algorithm":"AES-CMAC","data":"6BC1BEE22E409F96E93D7E117393172A","version":1,"mac":")" +
            str(m1.json(), "mac") + "\"}");
    ASSERT_EQ(v1.status, 200) << v1.body;
    EXPECT_TRUE(v1.json()->getValue<bool>("valid"));
    EXPECT_EQ(v1.json()->getValue<int>("version"), 1);

    auto act = post("/v1/keys/" + id + "/activate", "");
    EXPECT_EQ(act.status, 409) << "forward-only: a deactivated key never becomes active again";

    auto del = http().request("DELETE", "/v1/keys/" + id, "", s_admin);
    ASSERT_EQ(del.status, 200) << del.body;
    EXPECT_EQ(str(del.json(), "state"), "Destroyed");
    EXPECT_FALSE(del.json()->isNull("destroyDate"));
    auto after =
        post("/v1/keys/" + id + "/mac/verify",
             R"({"algorithm":"AES-CMAC","data":"00","mac":")" + str(m1.json(), "mac") + "\"}");
    EXPECT_EQ(after.status, 409);
    // The tombstone stays readable, and the name is free again.
    auto tomb = get("/v1/keys/" + id);
    ASSERT_EQ(tomb.status, 200);
    EXPECT_GE(tomb.json()->getArray("history")->size(), 3u);
    create_key("rest-lifecycle", "AES-128", "[\"mac\"]");
}

TEST_F(Rest, ActiveKeyMustBeDeactivatedBeforeDestroy) {
    auto k = create_key("rest-no-destroy-active", "AES-128", "[\"mac\"]");
    auto del = http().request("DELETE", "/v1/keys/" + str(k, "id"), "", s_admin);
    EXPECT_EQ(del.status, 409);
    EXPECT_EQ(str(del.json(), "error"), "wrong_state");
}

TEST_F(Rest, RevokeWithCompromiseAndSuspendResume) {
    auto k = create_key("rest-revoke", "AES-128", "[\"mac\"]");
    const std::string id = str(k, "id");
    EXPECT_EQ(str(post("/v1/keys/" + id + "/suspend", "").json(), "state"), "Suspended");
    EXPECT_EQ(str(post("/v1/keys/" + id + "/resume", "").json(), "state"), "Active");
    auto rv = post(
        "/v1/keys/" + id + "/revoke",
        R"({"reason":"keyCompromise","compromiseDate":"2026-11-01T00:00:00Z","message":"HSM card lost"})");
    ASSERT_EQ(rv.status, 200) << rv.body;
    EXPECT_EQ(str(rv.json(), "state"), "Compromised");
    EXPECT_EQ(str(rv.json(), "compromiseDate"), "2026-11-01T00:00:00.000Z");
    auto del = http().request("DELETE", "/v1/keys/" + id, "", s_admin);
    EXPECT_EQ(str(del.json(), "state"), "DestroyedCompromised");
}

TEST_F(Rest, PreActiveKeyCannotBeUsedUntilActivated) {
    auto k = create_key("rest-preactive", "AES-128", "[\"mac\"]", ",\"activate\":false");
    const std::string id = str(k, "id");
    EXPECT_EQ(str(k, "state"), "PreActive");
    EXPECT_EQ(post("/v1/keys/" + id + "/mac", R"({"algorithm":"AES-CMAC","data":"00"})").status,
              409);
    EXPECT_EQ(str(post("/v1/keys/" + id + "/activate", "").json(), "state"), "Active");
    EXPECT_EQ(post("/v1/keys/" + id + "/mac", R"({"algorithm":"AES-CMAC","data":"00"})").status,
              200);
}

TEST_F(Rest, ListFiltersAndPages) {
    for (int i = 0; i < 5; ++i) create_key("page-" + std::to_string(i), "AES-192", "[\"encrypt\"]");
    auto r = get("/v1/keys?namePrefix=page-&limit=2");
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.json()->getArray("keys")->size(), 2u);
    std::size_t total = 2;
    std::string next = r.json()->getValue<std::string>("next");
    while (!next.empty()) {
        auto p = get("/v1/keys?namePrefix=page-&limit=2&after=" + next);
        ASSERT_EQ(p.status, 200) << p.body;
        total += p.json()->getArray("keys")->size();
        next = p.json()->isNull("next") ? "" : p.json()->getValue<std::string>("next");
    }
    EXPECT_EQ(total, 5u);
    auto by_alg = get("/v1/keys?algorithm=AES-192&limit=1000");
    EXPECT_EQ(by_alg.json()->getArray("keys")->size(), 5u);
    auto destroyed = get("/v1/keys?state=Destroyed&namePrefix=page-");
    EXPECT_EQ(destroyed.json()->getArray("keys")->size(), 0u);
    // usage: keys whose usage includes it (the console's usage filter).
    create_key("page-mac", "AES-192", "[\"mac\",\"encrypt\"]");
    auto by_usage = get("/v1/keys?namePrefix=page-&usage=mac");
    ASSERT_EQ(by_usage.status, 200) << by_usage.body;
    ASSERT_EQ(by_usage.json()->getArray("keys")->size(), 1u);
    EXPECT_EQ(str(by_usage.json()->getArray("keys")->getObject(0), "name"), "page-mac");
    EXPECT_EQ(get("/v1/keys?namePrefix=page-&usage=encrypt").json()->getArray("keys")->size(), 6u);
}

TEST_F(Rest, UseCountersAreCountedPerKey) {
    auto k = create_key("rest-counters", "AES-128", "[\"mac\"]");
    const std::string id = str(k, "id");
    for (int i = 0; i < 3; ++i)
        ASSERT_EQ(post("/v1/keys/" + id + "/mac", R"({"algorithm":"AES-CMAC","data":"00"})").status,
                  200);
    auto r = get("/v1/keys/" + id);
    EXPECT_EQ(r.json()->getObject("counters")->getValue<int>("mac"), 3);
}

TEST_F(Rest, ConcurrentMacsFromManyConnections) {
    auto k = create_key("rest-concurrent", "AES-256", "[\"mac\"]");
    const std::string id = str(k, "id");
    auto expected = post("/v1/keys/" + id + "/mac", R"({"algorithm":"AES-CMAC","data":"AA"})");
    const std::string mac = str(expected.json(), "mac");
    std::atomic<int> good{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t)
        threads.emplace_back([&] {
            HttpsClient c("127.0.0.1", s_kmsd->port(), s_kmsd->ca_file());
            for (int i = 0; i < 40; ++i) {
                auto r = c.post("/v1/keys/" + id + "/mac",
                                R"({"algorithm":"AES-CMAC","data":"AA"})", s_admin);
                if (r.status == 200 && r.json()->getValue<std::string>("mac") == mac) ++good;
            }
        });
    for (auto& t : threads) t.join();
    EXPECT_EQ(good.load(), 320);
}

TEST_F(Rest, RandomComesFromTheHsm) {
    auto r = post("/v1/random", R"({"length":32})");
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(str(r.json(), "random").size(), 64u);
    EXPECT_NE(str(r.json(), "random"),
              str(post("/v1/random", R"({"length":32})").json(), "random"));
}

TEST_F(Rest, PrincipalsAndRoles) {
    const std::string officer = create_principal("officer-1", R"(["key-officer"])");
    const std::string auditor = create_principal("auditor-1", R"(["auditor"])");
    const std::string plugin = create_principal("plugin-1", R"(["plugin"])");
    EXPECT_EQ(officer.substr(0, 4), "kms_");
    auto k = post("/v1/keys", R"({"name":"officer-key","algorithm":"AES-128","usage":["mac"]})",
                  officer);
    ASSERT_EQ(k.status, 201) << k.body;
    const std::string id = str(k.json(), "id");
    // An auditor reads but neither creates nor uses keys; a plugin uses but does not create.
    EXPECT_EQ(
        post("/v1/keys", R"({"name":"x","algorithm":"AES-128","usage":["mac"]})", auditor).status,
        403);
    EXPECT_EQ(get("/v1/keys/" + id, auditor).status, 200);
    EXPECT_EQ(
        post("/v1/keys/" + id + "/mac", R"({"algorithm":"AES-CMAC","data":"00"})", auditor).status,
        403);
    // A plugin without a policy may do nothing with keys; its policy opens them (rest_mtls_test).
    EXPECT_EQ(
        post("/v1/keys/" + id + "/mac", R"({"algorithm":"AES-CMAC","data":"00"})", plugin).status,
        403);
    ASSERT_EQ(http()
                  .request("PUT", "/v1/principals/plugin-1/policy",
                           R"({"keys":["officer-key"],"operations":["mac"]})", s_admin)
                  .status,
              200);
    EXPECT_EQ(
        post("/v1/keys/" + id + "/mac", R"({"algorithm":"AES-CMAC","data":"00"})", plugin).status,
        200);
    EXPECT_EQ(
        post("/v1/keys", R"({"name":"y","algorithm":"AES-128","usage":["mac"]})", plugin).status,
        403);
    EXPECT_EQ(post("/v1/principals", R"({"name":"z","roles":["admin"]})", officer).status, 403);
    EXPECT_EQ(get("/v1/audit/verify", auditor).status, 200);
    EXPECT_EQ(get("/v1/audit", plugin).status, 403);
    auto dup = post("/v1/principals", R"({"name":"officer-1","roles":["auditor"]})");
    EXPECT_EQ(dup.status, 409);
    auto list = get("/v1/principals");
    EXPECT_GE(list.json()->getArray("principals")->size(), 4u);
}

TEST_F(Rest, HsmInformationNamesTheTokenAndMechanisms) {
    auto r = get("/v1/hsm");
    ASSERT_EQ(r.status, 200) << r.body;
    auto j = r.json();
    EXPECT_EQ(j->getObject("token")->getValue<std::string>("label"), "kms");
    EXPECT_GT(j->getArray("mechanisms")->size(), 10u);
    EXPECT_EQ(j->getValue<std::string>("profile"), "softhsm2");
    // CK_TOKEN_INFO and C_GetMechanismInfo (the console's HSM page).
    auto tok = j->getObject("token");
    bool initialized = false;
    for (const auto& f : *tok->getArray("flags"))
        initialized = initialized || f.extract<std::string>() == "CKF_TOKEN_INITIALIZED";
    EXPECT_TRUE(initialized) << r.body.substr(0, 400);
    EXPECT_FALSE(tok->getValue<std::string>("firmwareVersion").empty());
    EXPECT_TRUE(tok->getObject("sessions")->has("open"));
    EXPECT_TRUE(tok->getObject("memory")->has("privateFree"));
    // Every slot of the module: SoftHSM2 offers kmsd's token and one uninitialised token more.
    auto slots = j->getArray("slots");
    ASSERT_EQ(slots->size(), 2u) << r.body.substr(0, 600);
    int in_use = 0, uninitialised = 0;
    for (std::size_t n = 0; n < slots->size(); ++n) {
        auto s = slots->getObject(static_cast<unsigned>(n));
        ASSERT_FALSE(s->isNull("token"));
        auto t = s->getObject("token");
        if (s->getValue<bool>("inUse")) {
            ++in_use;
            EXPECT_EQ(s->getValue<std::uint64_t>("slot"), tok->getValue<std::uint64_t>("slot"));
            EXPECT_EQ(t->getValue<std::string>("serial"), tok->getValue<std::string>("serial"));
        }
        bool initialized_token = false;
        for (const auto& f : *t->getArray("flags"))
            initialized_token =
                initialized_token || f.extract<std::string>() == "CKF_TOKEN_INITIALIZED";
        if (!initialized_token) ++uninitialised;
        EXPECT_TRUE(t->getObject("sessions")->has("open"));
    }
    EXPECT_EQ(in_use, 1);
    EXPECT_EQ(uninitialised, 1);
    auto mi = j->getArray("mechanismInfo");
    ASSERT_EQ(mi->size(), j->getArray("mechanisms")->size());
    bool aes_keygen = false;
    for (std::size_t n = 0; n < mi->size(); ++n) {
        auto m = mi->getObject(static_cast<unsigned>(n));
        if (m->getValue<std::string>("name") != "CKM_AES_KEY_GEN") continue;
        aes_keygen = true;
        // SoftHSM2 gives AES key sizes in bytes: 16 to 32.
        EXPECT_EQ(m->getValue<int>("minKeySize"), 16);
        EXPECT_EQ(m->getValue<int>("maxKeySize"), 32);
        bool generate = false;
        for (const auto& f : *m->getArray("flags"))
            generate = generate || f.extract<std::string>() == "generate";
        EXPECT_TRUE(generate);
    }
    EXPECT_TRUE(aes_keygen);
    // The start-up self-tests: all passed (kmsd would not serve otherwise), each named.
    auto st = j->getObject("selfTests");
    EXPECT_GT(st->getValue<int>("passed"), 20);
    EXPECT_EQ(st->getValue<int>("failed"), 0);
    EXPECT_FALSE(st->isNull("ranAt"));
    auto results = st->getArray("results");
    ASSERT_EQ(results->size(), static_cast<std::size_t>(st->getValue<int>("passed")));
    EXPECT_FALSE(results->getObject(0)->getValue<std::string>("name").empty());
}

}  // namespace
}  // namespace kms::test
