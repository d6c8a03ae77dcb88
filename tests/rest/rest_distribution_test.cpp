// REST: key ceremonies, trusted keys, export and import against a real kmsd and SoftHSM2
// (suite "rest"). Components are made here from known keys, so the test can prove what the HSM
// assembled: a MAC with the ceremony's key equals the MAC computed on the host with K, and a
// key exported under a ceremony-made KEK unwraps on the host to K.
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "crypto/host_crypto.hpp"
#include "crypto/key_wrap.hpp"
#include "crypto/tr31.hpp"
#include "ceremony_fixture.hpp"  // xor_of
#include "rest_fixture.hpp"

namespace kms::test {
namespace {

using Poco::JSON::Object;

class Distribution : public Rest {
  protected:
    static void SetUpTestSuite() {
        Rest::SetUpTestSuite();
        s_alice = create_principal("alice", "[\"custodian\"]");
        s_bob = create_principal("bob", "[\"custodian\"]");
        s_carol = create_principal("carol", "[\"custodian\"]");
        s_officer = create_principal("officer", "[\"key-officer\"]");
    }

    /// POST /v1/ceremonies as the key officer; returns the ceremony id (asserts 201).
    std::string ceremony(const std::string& name, const std::string& algorithm,
                         const std::string& usage, int components, const std::string& extra = "") {
        auto r = post("/v1/ceremonies",
                      "{\"name\":\"" + name + "\",\"algorithm\":\"" + algorithm + "\",\"usage\":" +
                          usage + ",\"components\":" + std::to_string(components) + extra + "}",
                      s_officer);
        EXPECT_EQ(r.status, 201) << r.body;
        if (r.status != 201) return "";
        auto o = r.json();
        EXPECT_EQ(str(o, "state"), "open");
        EXPECT_EQ(o->getValue<int>("received"), 0);
        EXPECT_EQ(o->getArray("custodians")->size(), 0u);
        EXPECT_EQ(o->getValue<int>("components"), components);
        return str(o, "id");
    }
    HttpResponse component(const std::string& id, const Bytes& value, const Bytes& kcv,
                           const std::string& token) {
        return post("/v1/ceremonies/" + id + "/components",
                    "{\"component\":\"" + to_hex(value) + "\",\"kcv\":\"" + to_hex(kcv) + "\"}",
                    token);
    }
    /// A whole ceremony of @p parts (AES: CMAC KCVs; DES3: E(K,0) KCVs); returns the key.
    Object::Ptr assemble(const std::string& name, const std::string& algorithm,
                         const std::string& usage, const std::vector<Bytes>& parts,
                         const std::string& extra = "") {
        const bool des = algorithm.rfind("DES3", 0) == 0;
        const std::string id =
            ceremony(name, algorithm, usage, static_cast<int>(parts.size()), extra);
        const std::string* who[] = {&s_alice, &s_bob, &s_carol};
        Object::Ptr key;
        for (std::size_t i = 0; i < parts.size(); ++i) {
            const Bytes kcv = des ? crypto::kcv_des3(parts[i]) : crypto::kcv_aes_cmac(parts[i]);
            auto r = component(id, parts[i], kcv, *who[i]);
            EXPECT_EQ(r.status, 200) << r.body;
            EXPECT_EQ(r.json()->getValue<int>("received"), static_cast<int>(i + 1));
            if (i + 1 == parts.size())
                key = r.json()->getObject("key");
            else
                EXPECT_FALSE(r.json()->has("key"));
        }
        return key;
    }
    std::string error_code(const HttpResponse& r) { return str(r.json(), "error"); }

    static std::string s_alice, s_bob, s_carol, s_officer;
    // A 128-bit key K (RFC 4493 §4) split as C1 xor C2.
    const Bytes m_k = from_hex("2B7E151628AED2A6ABF7158809CF4F3C");
    const Bytes m_c1 = from_hex("0F1E2D3C4B5A69788796A5B4C3D2E1F0");
    const Bytes m_c2 = xor_of(m_k, m_c1);
};
std::string Distribution::s_alice, Distribution::s_bob, Distribution::s_carol,
    Distribution::s_officer;

// ---- ceremonies ----

TEST_F(Distribution, TwoCustodiansAssembleKAndItsMacIsTheHostMac) {
    const auto key = assemble("cer-aes", "AES-128", "[\"mac\"]", {m_c1, m_c2},
                              ",\"kcv\":\"" + to_hex(crypto::kcv_aes_cmac(m_k)) + "\"");
    ASSERT_TRUE(key);
    EXPECT_EQ(str(key, "name"), "cer-aes");
    EXPECT_EQ(str(key, "state"), "Active");
    EXPECT_EQ(str(key, "createdBy"), "officer");
    EXPECT_EQ(str(key, "kcv"), to_hex(crypto::kcv_aes_cmac(m_k)));
    const std::string data = "6BC1BEE22E409F96E93D7E117393172A";
    auto m = post("/v1/keys/" + str(key, "id") + "/mac",
                  "{\"algorithm\":\"AES-CMAC\",\"data\":\"" + data + "\"}");
    ASSERT_EQ(m.status, 200) << m.body;
    EXPECT_EQ(lower(str(m.json(), "mac")), lower(to_hex(crypto::aes_cmac(m_k, from_hex(data)))));
    // RFC 4493 §4 example 2, so the host side is checked too.
    EXPECT_EQ(lower(str(m.json(), "mac")), "070a16b46b4d4144f79bdd9dd04a287c");
}

TEST_F(Distribution, ThreeCustodiansAssembleADes3KeyAndTheCeremonyShowsNoComponent) {
    const Bytes c1 = from_hex("0123456789ABCDEFFEDCBA9876543210");
    const Bytes c2 = from_hex("1111111111111111222222222222222F");
    const Bytes c3 = from_hex("4040404040404040A1A1A1A1A1A1A1A1");
    const Bytes k = xor_of(xor_of(c1, c2), c3);
    const std::string id = ceremony("cer-des3", "DES3-2K", "[\"mac\"]", 3);
    ASSERT_EQ(component(id, c1, crypto::kcv_des3(c1), s_alice).status, 200);
    auto mid = get("/v1/ceremonies/" + id, s_bob);
    ASSERT_EQ(mid.status, 200) << mid.body;
    EXPECT_EQ(mid.json()->getValue<int>("received"), 1);
    EXPECT_EQ(mid.json()->getArray("custodians")->getElement<std::string>(0), "alice");
    EXPECT_EQ(lower(mid.body).find(lower(to_hex(c1))), std::string::npos);
    ASSERT_EQ(component(id, c2, crypto::kcv_des3(c2), s_bob).status, 200);
    auto last = component(id, c3, crypto::kcv_des3(c3), s_carol);
    ASSERT_EQ(last.status, 200) << last.body;
    auto key = last.json()->getObject("key");
    EXPECT_EQ(last.json()->getValue<int>("received"), 3);
    EXPECT_EQ(str(key, "kcv"), to_hex(crypto::kcv_des3(k)));
    const std::string data = "0102030405060708090A";
    auto m = post("/v1/keys/" + str(key, "id") + "/mac",
                  "{\"algorithm\":\"DES3-RETAIL\",\"data\":\"" + data + "\"}");
    ASSERT_EQ(m.status, 200) << m.body;
    EXPECT_EQ(str(m.json(), "mac"), to_hex(crypto::retail_mac(k, from_hex(data))));

    auto done = get("/v1/ceremonies/" + id);
    ASSERT_EQ(done.status, 200);
    EXPECT_EQ(str(done.json(), "state"), "completed");
    EXPECT_EQ(str(done.json(), "keyId"), str(key, "id"));
    EXPECT_EQ(done.json()->getArray("custodians")->size(), 3u);
    for (const auto& c : {c1, c2, c3, k})
        EXPECT_EQ(lower(done.body).find(lower(to_hex(c))), std::string::npos);
    auto list = get("/v1/ceremonies", s_alice);
    ASSERT_EQ(list.status, 200);
    EXPECT_NE(list.body.find(id), std::string::npos);
    // The audit log names custodians and the key, never a component.
    auto audit = get("/v1/audit?limit=1000");
    ASSERT_EQ(audit.status, 200);
    EXPECT_NE(audit.body.find("custodian=carol"), std::string::npos);
    EXPECT_NE(audit.body.find("ceremony.complete"), std::string::npos);
    for (const auto& c : {c1, c2, c3, k})
        EXPECT_EQ(lower(audit.body).find(lower(to_hex(c))), std::string::npos);
}

TEST_F(Distribution, EveryComponentErrorIsA4xxAndKeepsNothing) {
    const std::string id = ceremony("cer-errors", "AES-128", "[\"mac\"]", 2);
    const Bytes kcv1 = crypto::kcv_aes_cmac(m_c1);
    auto r = component(id, m_c1, kcv1, s_officer);
    EXPECT_EQ(r.status, 403) << "only custodians enter components: " << r.body;
    r = component(id, Bytes(m_c1.begin(), m_c1.begin() + 15), kcv1, s_alice);
    EXPECT_EQ(r.status, 400) << r.body;
    EXPECT_EQ(error_code(r), "invalid_argument");
    EXPECT_NE(str(r.json(), "message").find("component"), std::string::npos);
    r = component(id, m_c1, Bytes{0xAA, 0xBB, 0xCC}, s_alice);
    EXPECT_EQ(r.status, 400) << r.body;
    EXPECT_EQ(error_code(r), "verification_failed");
    EXPECT_EQ(get("/v1/ceremonies/" + id).json()->getValue<int>("received"), 0);
    ASSERT_EQ(component(id, m_c1, kcv1, s_alice).status, 200);
    r = component(id, m_c2, crypto::kcv_aes_cmac(m_c2), s_alice);
    EXPECT_EQ(r.status, 409) << "the same custodian twice: " << r.body;
    EXPECT_EQ(get("/v1/ceremonies/" + id).json()->getValue<int>("received"), 1);
    r = post("/v1/ceremonies/" + id + "/components", R"({"component":"zz","kcv":"000000"})", s_bob);
    EXPECT_EQ(r.status, 400);
    EXPECT_EQ(http().request("DELETE", "/v1/ceremonies/" + id, "", s_alice).status, 403);
    auto c = http().request("DELETE", "/v1/ceremonies/" + id, "", s_officer);
    ASSERT_EQ(c.status, 200) << c.body;
    EXPECT_EQ(str(c.json(), "state"), "cancelled");
    r = component(id, m_c2, crypto::kcv_aes_cmac(m_c2), s_bob);
    EXPECT_EQ(r.status, 409) << "a cancelled ceremony takes no components: " << r.body;
    EXPECT_EQ(get("/v1/ceremonies/c-00000000000000000000000000000000").status, 404);
    auto keys = get("/v1/keys?namePrefix=cer-errors");
    ASSERT_EQ(keys.status, 200);
    EXPECT_EQ(keys.json()->getArray("keys")->size(), 0u);
}

TEST_F(Distribution, AWrongAssembledKcvFailsTheCeremonyAndStoresNoKey) {
    const std::string id =
        ceremony("cer-wrong-kcv", "AES-128", "[\"mac\"]", 2, R"(,"kcv":"123456")");
    ASSERT_EQ(component(id, m_c1, crypto::kcv_aes_cmac(m_c1), s_alice).status, 200);
    auto r = component(id, m_c2, crypto::kcv_aes_cmac(m_c2), s_bob);
    EXPECT_EQ(r.status, 400) << r.body;
    EXPECT_EQ(error_code(r), "verification_failed");
    EXPECT_EQ(str(get("/v1/ceremonies/" + id).json(), "state"), "failed");
    auto keys = get("/v1/keys?namePrefix=cer-wrong-kcv");
    ASSERT_EQ(keys.status, 200);
    EXPECT_EQ(keys.json()->getArray("keys")->size(), 0u);
}

TEST_F(Distribution, ARestartInterruptsACeremonyWithComponents) {
    const std::string id = ceremony("cer-restart", "AES-128", "[\"mac\"]", 2);
    const std::string untouched = ceremony("cer-untouched", "AES-128", "[\"mac\"]", 2);
    ASSERT_EQ(component(id, m_c1, crypto::kcv_aes_cmac(m_c1), s_alice).status, 200);
    m_client.reset();
    ASSERT_EQ(s_kmsd->stop(), 0);
    s_kmsd->start();
    m_client = std::make_unique<HttpsClient>("127.0.0.1", s_kmsd->port(), s_kmsd->ca_file());
    auto g = get("/v1/ceremonies/" + id);
    ASSERT_EQ(g.status, 200) << g.body;
    EXPECT_EQ(str(g.json(), "state"), "interrupted");
    EXPECT_EQ(g.json()->getValue<int>("received"), 1);
    EXPECT_EQ(str(get("/v1/ceremonies/" + untouched).json(), "state"), "open")
        << "a ceremony without components lost nothing";
    auto r = component(id, m_c2, crypto::kcv_aes_cmac(m_c2), s_bob);
    EXPECT_EQ(r.status, 409) << r.body;
    EXPECT_NE(str(r.json(), "message").find("interrupted"), std::string::npos);
    auto c = http().request("DELETE", "/v1/ceremonies/" + id, "", s_officer);
    ASSERT_EQ(c.status, 200) << c.body;
    EXPECT_EQ(str(c.json(), "state"), "cancelled");
    EXPECT_EQ(get("/v1/keys?namePrefix=cer-restart").json()->getArray("keys")->size(), 0u);
}

TEST_F(Distribution, CeremonyCreationChecksItsInput) {
    auto bad = [&](const std::string& body, int status = 400) {
        auto r = post("/v1/ceremonies", body, s_officer);
        EXPECT_EQ(r.status, status) << body << " -> " << r.body;
    };
    bad(R"({"name":"c1","algorithm":"HMAC-SHA256","usage":["mac"],"components":2})");
    bad(R"({"name":"c1","algorithm":"AES-128","usage":["mac"],"components":4})");
    bad(R"({"name":"c1","algorithm":"AES-128","usage":["mac"],"components":2,"expiresInSeconds":59})");
    bad(R"({"name":"c1","algorithm":"AES-128","usage":["mac"],"components":2,"kcv":"0102"})");
    bad(R"({"name":"c1","algorithm":"AES-128","usage":["mac"],"components":2,"trusted":true})");
    bad(R"({"name":"c1","algorithm":"AES-128","usage":["mac"],"components":2,"extra":1})");
    auto r = post("/v1/ceremonies",
                  R"({"name":"c1","algorithm":"AES-128","usage":["mac"],"components":2})", s_alice);
    EXPECT_EQ(r.status, 403);
    // The shortest expiry is accepted; its 410 is covered by the service test with a clock.
    r = post(
        "/v1/ceremonies",
        R"({"name":"c-min","algorithm":"AES-128","usage":["mac"],"components":2,"expiresInSeconds":60})",
        s_officer);
    ASSERT_EQ(r.status, 201) << r.body;
    EXPECT_EQ(str(r.json(), "id").size(), 34u);
    EXPECT_EQ(str(r.json(), "expiresAt").size(), 24u);
}

// ---- trusted keys ----

TEST_F(Distribution, TrustedKeysAreKeksOnly) {
    auto r = post("/v1/keys",
                  R"({"name":"t-mac","algorithm":"AES-256","usage":["mac"],"trusted":true})");
    EXPECT_EQ(r.status, 400) << r.body;
    EXPECT_NE(str(r.json(), "message").find("trusted"), std::string::npos);
    auto k = create_key("t-kek", "AES-256", "[\"wrap\",\"unwrap\"]", ",\"trusted\":true");
    EXPECT_TRUE(k->getValue<bool>("trusted"));
    EXPECT_FALSE(k->getValue<bool>("exportable"));
    auto plain = create_key("t-plain", "AES-256", "[\"mac\"]");
    EXPECT_FALSE(plain->getValue<bool>("trusted"));
    EXPECT_TRUE(get("/v1/keys/" + str(k, "id")).json()->getValue<bool>("trusted"));
}

TEST_F(Distribution, ImportRouteIsNotTakenForAKeyId) {
    auto r = post("/v1/keys/import", R"({"algorithm":"AES-128"})");
    EXPECT_EQ(r.status, 400) << r.body;
    EXPECT_NE(str(r.json(), "message").find("name"), std::string::npos) << r.body;
    r = post(
        "/v1/keys/import",
        R"({"name":"imp-x","algorithm":"AES-128","usage":["mac"],"format":"TR-31","kek":"k-0","keyBlock":"X0016"})");
    EXPECT_EQ(r.status, 400) << "a malformed TR-31 header is a 400 before the HSM: " << r.body;
}

// ---- export and import (the HSM adapter's distribution methods) ----

class Exports : public Distribution {
  protected:
    static void SetUpTestSuite() { Distribution::SetUpTestSuite(); }
    void SetUp() override {
        Distribution::SetUp();
        if (s_kek.empty()) {
            // A trusted KEK made by ceremony, so the test knows its value.
            auto kek = assemble("x-kek", "AES-256", "[\"wrap\",\"unwrap\"]",
                                {m_kek1, xor_of(m_kek, m_kek1)}, ",\"trusted\":true");
            ASSERT_TRUE(kek);
            ASSERT_TRUE(kek->getValue<bool>("trusted"));
            s_kek = str(kek, "id");
            auto data =
                assemble("x-data", "AES-128", "[\"mac\"]", {m_c1, m_c2}, ",\"exportable\":true");
            ASSERT_TRUE(data);
            s_data = str(data, "id");
        }
    }
    HttpResponse export_key(const std::string& id, const std::string& body,
                            const std::string& token = s_admin) {
        return post("/v1/keys/" + id + "/export", body, token);
    }

    static std::string s_kek, s_data;
    const Bytes m_kek =
        from_hex("000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F");
    const Bytes m_kek1 =
        from_hex("A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A55A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A");
};
std::string Exports::s_kek, Exports::s_data;

TEST_F(Exports, AesKwpExportUnwrapsToKOnTheHostAndImportsWithTheSameKcv) {
    auto r = export_key(s_data, R"({"format":"AES-KWP","kek":")" + s_kek + "\"}");
    ASSERT_EQ(r.status, 200) << r.body;
    auto o = r.json();
    EXPECT_EQ(str(o, "keyId"), s_data);
    EXPECT_EQ(str(o, "format"), "AES-KWP");
    EXPECT_EQ(str(o, "kek"), s_kek);
    EXPECT_EQ(str(o, "kcv"), to_hex(crypto::kcv_aes_cmac(m_k)));
    const Bytes wrapped = from_hex(str(o, "wrapped"));
    const SecureBytes clear = crypto::aes_key_unwrap(m_kek, wrapped, true);
    EXPECT_EQ(Bytes(clear.view().begin(), clear.view().end()), m_k);

    auto imp = post(
        "/v1/keys/import",
        R"({"name":"x-data-copy","algorithm":"AES-128","usage":["mac"],"format":"AES-KWP","kek":")" +
            s_kek + R"(","wrapped":")" + str(o, "wrapped") + R"(","kcv":")" +
            to_hex(crypto::kcv_aes_cmac(m_k)) + "\"}");
    ASSERT_EQ(imp.status, 201) << imp.body;
    EXPECT_EQ(str(imp.json(), "kcv"), to_hex(crypto::kcv_aes_cmac(m_k)));
    EXPECT_NE(str(imp.json(), "id"), s_data);
    EXPECT_FALSE(imp.json()->getValue<bool>("exportable"));
    // A wrong expected KCV stores nothing.
    imp = post(
        "/v1/keys/import",
        R"({"name":"x-data-bad","algorithm":"AES-128","usage":["mac"],"format":"AES-KWP","kek":")" +
            s_kek + R"(","wrapped":")" + str(o, "wrapped") + R"(","kcv":"000000"})");
    EXPECT_EQ(imp.status, 400) << imp.body;
    EXPECT_EQ(get("/v1/keys?namePrefix=x-data-bad").json()->getArray("keys")->size(), 0u);
}

TEST_F(Exports, AesKwExportIsRfc3394) {
    auto r = export_key(s_data, R"({"format":"AES-KW","kek":")" + s_kek + "\"}");
    ASSERT_EQ(r.status, 200) << r.body;
    const Bytes wrapped = from_hex(str(r.json(), "wrapped"));
    EXPECT_EQ(wrapped, crypto::aes_key_wrap(m_kek, m_k, false)) << "RFC 3394 is deterministic";
}

TEST_F(Exports, RefusalsNameTheReason) {
    auto closed = create_key("x-closed", "AES-128", "[\"mac\"]");
    auto r = export_key(str(closed, "id"), R"({"format":"AES-KWP","kek":")" + s_kek + "\"}");
    EXPECT_EQ(r.status, 403) << r.body;
    EXPECT_NE(str(r.json(), "message").find("not exportable"), std::string::npos);
    auto untrusted = create_key("x-untrusted", "AES-256", "[\"wrap\",\"unwrap\"]");
    r = export_key(s_data, R"({"format":"AES-KWP","kek":")" + str(untrusted, "id") + "\"}");
    EXPECT_EQ(r.status, 403) << r.body;
    EXPECT_NE(str(r.json(), "message").find("trusted"), std::string::npos);
    r = export_key(s_data, R"({"format":"TR-31","kek":")" + s_kek + R"(","tr31":{"version":"B"}})");
    EXPECT_EQ(r.status, 400) << "TR-31 B needs a DES3 KEK: " << r.body;
    r = export_key(s_data, R"({"format":"AES-KWP","kek":")" + s_kek + "\"}", s_alice);
    EXPECT_EQ(r.status, 403);
    r = export_key(s_data, R"({"format":"PKCS8","kek":")" + s_kek + "\"}");
    EXPECT_EQ(r.status, 400);
}

TEST_F(Exports, Tr31VersionDRoundTrip) {
    auto r = export_key(s_data, R"({"format":"TR-31","kek":")" + s_kek +
                                    R"(","tr31":{"version":"D","exportability":"E"}})");
    ASSERT_EQ(r.status, 200) << r.body;
    ASSERT_TRUE(r.json()->has("keyBlock"));
    EXPECT_FALSE(r.json()->has("wrapped"));
    const std::string block = str(r.json(), "keyBlock");
    EXPECT_EQ(block.substr(0, 1), "D");
    const auto opened = crypto::tr31_unwrap(m_kek, block);
    EXPECT_EQ(Bytes(opened.key.view().begin(), opened.key.view().end()), m_k);
    EXPECT_EQ(opened.header.usage, "M6");
    EXPECT_EQ(opened.header.algorithm, 'A');
    EXPECT_EQ(opened.header.exportability, 'E');

    auto imp = post(
        "/v1/keys/import",
        R"({"name":"x-tr31-copy","algorithm":"AES-128","usage":["mac"],"format":"TR-31","kek":")" +
            s_kek + R"(","keyBlock":")" + block + R"(","exportable":true})");
    ASSERT_EQ(imp.status, 201) << imp.body;
    EXPECT_EQ(str(imp.json(), "kcv"), to_hex(crypto::kcv_aes_cmac(m_k)));
    // The header says a MAC key: importing it as a data encryption key is refused (400).
    imp = post(
        "/v1/keys/import",
        R"({"name":"x-tr31-enc","algorithm":"AES-128","usage":["encrypt"],"format":"TR-31","kek":")" +
            s_kek + R"(","keyBlock":")" + block + "\"}");
    EXPECT_EQ(imp.status, 400) << imp.body;
    // A changed MAC is refused by the HSM side (400 verification_failed).
    std::string tampered = block;
    tampered.back() = tampered.back() == '0' ? '1' : '0';
    imp = post(
        "/v1/keys/import",
        R"({"name":"x-tr31-bad","algorithm":"AES-128","usage":["mac"],"format":"TR-31","kek":")" +
            s_kek + R"(","keyBlock":")" + tampered + "\"}");
    EXPECT_EQ(imp.status, 400) << imp.body;
}

TEST_F(Exports, Tr31VersionBUnderADes3KekRoundTrip) {
    const Bytes kbpk = from_hex("89E88CF7931444F334BD7547FC3F380C");
    const Bytes kbpk1 = from_hex("0123456789ABCDEF0123456789ABCDEF");
    auto kek = assemble("x-kek-des3", "DES3-2K", "[\"wrap\",\"unwrap\"]",
                        {kbpk1, xor_of(kbpk, kbpk1)}, ",\"trusted\":true");
    ASSERT_TRUE(kek);
    const Bytes k = from_hex("F039121BEC83D26B169BDCD5B22AAF8F");
    const Bytes k1 = from_hex("1111111111111111FFFFFFFFFFFFFFFF");
    auto key = assemble("x-des3-data", "DES3-2K", "[\"encrypt\",\"decrypt\"]", {k1, xor_of(k, k1)},
                        ",\"exportable\":true");
    ASSERT_TRUE(key);
    auto r = export_key(str(key, "id"), R"({"format":"TR-31","kek":")" + str(kek, "id") +
                                            R"(","tr31":{"version":"B"}})");
    ASSERT_EQ(r.status, 200) << r.body;
    const std::string block = str(r.json(), "keyBlock");
    EXPECT_EQ(block.substr(0, 1), "B");
    const auto opened = crypto::tr31_unwrap(kbpk, block);
    EXPECT_EQ(opened.header.usage, "D0");
    EXPECT_EQ(opened.header.algorithm, 'T');
    EXPECT_EQ(opened.header.exportability, 'N');
    ASSERT_EQ(opened.key.size(), 16u);
    for (std::size_t i = 0; i < 16; ++i)  // the ceremony set odd parity; compare without it
        EXPECT_EQ(opened.key[i] & 0xFE, k[i] & 0xFE);
    auto imp = post(
        "/v1/keys/import",
        R"({"name":"x-des3-copy","algorithm":"DES3-2K","usage":["encrypt","decrypt"],"format":"TR-31","kek":")" +
            str(kek, "id") + R"(","keyBlock":")" + block + R"(","kcv":")" +
            to_hex(crypto::kcv_des3(k)) + "\"}");
    ASSERT_EQ(imp.status, 201) << imp.body;
    // Exportable is refused for a block whose header says N.
    imp = post(
        "/v1/keys/import",
        R"({"name":"x-des3-copy2","algorithm":"DES3-2K","usage":["encrypt","decrypt"],"format":"TR-31","kek":")" +
            str(kek, "id") + R"(","keyBlock":")" + block + R"(","exportable":true})");
    EXPECT_EQ(imp.status, 400) << imp.body;
}

TEST_F(Exports, RsaOaepRoundTripThroughAnRsaKeyOfTheKms) {
    auto rsa = create_key("x-rsa-kek", "RSA-2048", "[\"wrap\",\"unwrap\"]", ",\"trusted\":true");
    ASSERT_TRUE(rsa->getValue<bool>("trusted"));
    auto r = export_key(s_data, R"({"format":"RSA-OAEP-SHA256","kek":")" + str(rsa, "id") + "\"}");
    ASSERT_EQ(r.status, 200) << r.body;
    auto imp = post(
        "/v1/keys/import",
        R"({"name":"x-oaep-copy","algorithm":"AES-128","usage":["mac"],"format":"RSA-OAEP-SHA256","kek":")" +
            str(rsa, "id") + R"(","wrapped":")" + str(r.json(), "wrapped") + "\"}");
    ASSERT_EQ(imp.status, 201) << imp.body;
    EXPECT_EQ(str(imp.json(), "kcv"), to_hex(crypto::kcv_aes_cmac(m_k)));
}

TEST_F(Exports, RsaOaepToAnImportedPublicKeyDecryptsToKOnTheHost) {
    EVP_PKEY* pkey = EVP_RSA_gen(2048);
    ASSERT_NE(pkey, nullptr);
    BIO* bio = BIO_new(BIO_s_mem());
    ASSERT_EQ(PEM_write_bio_PUBKEY(bio, pkey), 1);
    char* pem_data = nullptr;
    const long n = BIO_get_mem_data(bio, &pem_data);
    std::string pem(pem_data, static_cast<std::size_t>(n));
    BIO_free(bio);
    std::string escaped;
    for (char c : pem) escaped += c == '\n' ? std::string("\\n") : std::string(1, c);

    auto imp = post(
        "/v1/keys/import",
        R"({"name":"x-recipient","algorithm":"RSA-2048","usage":["wrap"],"format":"SPKI","trusted":true,"publicKey":")" +
            escaped + "\"}");
    ASSERT_EQ(imp.status, 201) << imp.body;
    const std::string recipient = str(imp.json(), "id");
    EXPECT_TRUE(imp.json()->has("publicKey"));
    EXPECT_TRUE(imp.json()->isNull("kcv"));
    auto r = export_key(s_data, R"({"format":"RSA-OAEP-SHA256","kek":")" + recipient + "\"}");
    ASSERT_EQ(r.status, 200) << r.body;
    const Bytes wrapped = from_hex(str(r.json(), "wrapped"));
    EXPECT_EQ(wrapped.size(), 256u);

    EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new(pkey, nullptr);
    ASSERT_EQ(EVP_PKEY_decrypt_init(ctx), 1);
    ASSERT_EQ(EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING), 1);
    ASSERT_EQ(EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_sha256()), 1);
    ASSERT_EQ(EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_sha256()), 1);
    Bytes out(256);
    std::size_t out_len = out.size();
    ASSERT_EQ(EVP_PKEY_decrypt(ctx, out.data(), &out_len, wrapped.data(), wrapped.size()), 1);
    out.resize(out_len);
    EXPECT_EQ(out, m_k);
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(pkey);

    // A public key only: reads, no rotation, destroy works.
    EXPECT_EQ(get("/v1/keys/" + recipient).status, 200);
    EXPECT_EQ(post("/v1/keys/" + recipient + "/rotate", "").status, 409);
    // Not trusted: refused.
    auto plain = post(
        "/v1/keys/import",
        R"({"name":"x-recipient2","algorithm":"RSA-2048","usage":["wrap"],"format":"SPKI","publicKey":")" +
            escaped + "\"}");
    ASSERT_EQ(plain.status, 201) << plain.body;
    r = export_key(s_data,
                   R"({"format":"RSA-OAEP-SHA256","kek":")" + str(plain.json(), "id") + "\"}");
    EXPECT_EQ(r.status, 403) << r.body;
}

}  // namespace
}  // namespace kms::test
