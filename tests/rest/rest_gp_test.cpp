// REST: GlobalPlatform secure channel sessions against a real kmsd and SoftHSM2 (suite "rest").
// The published static keys reach kmsd through key ceremonies (two custodians, C1 = K xor C2),
// then published sessions run through /v1/gp/scp/sessions and every APDU is compared with the
// published value:
//   SCP03: osmocom/pysim tests/unittests/test_globalplatform.py SCP03_Test_AES128_33
//          (tests/vectors/gp_scp03.txt), R-MAC and R-ENC included;
//   SCP02: pySim SCP02_Auth_Test / SCP02_Test.test_mac_command, i = 15, level 01
//          (tests/vectors/gp_scp02.txt).
// Then PUT KEY (cryptograms and KCVs recomputed on the host from the ceremony values), its
// verification, STORE DATA encryption under the DEK, and a KMC diversified into a card key set
// (GlobalPlatformPro's KCVs, tests/vectors/gp_diversify.txt).
#include "ceremony_fixture.hpp"
#include "crypto/gp_put_key.hpp"
#include "crypto/host_crypto.hpp"

namespace kms::test {
namespace {

using Poco::JSON::Object;

std::string hex_array(const std::vector<std::string>& v) {
    std::string s = "[";
    for (std::size_t i = 0; i < v.size(); ++i) s += (i ? ",\"" : "\"") + v[i] + "\"";
    return s + "]";
}

class Gp : public CeremonyRest {
  protected:
    static void SetUpTestSuite() {
        CeremonyRest::SetUpTestSuite();
        s_tsm = create_principal("tsm-a", "[\"plugin\"]");
        s_other = create_principal("tsm-b", "[\"plugin\"]");
    }

    HttpResponse del(const std::string& path, const std::string& token) {
        return http().request("DELETE", path, "", token);
    }
    std::vector<std::string> strings_of(const HttpResponse& r, const std::string& field) {
        std::vector<std::string> out;
        auto a = r.json()->getArray(field);
        for (std::size_t i = 0; i < a->size(); ++i)
            out.push_back(a->getElement<std::string>(static_cast<unsigned>(i)));
        return out;
    }

    static std::string s_tsm, s_other;
};
std::string Gp::s_tsm, Gp::s_other;

TEST_F(Gp, PublishedScp03Aes128Level33SessionThroughRest) {
    const std::string enc = ceremony_key("gp/aes128/enc", "AES-128", "[\"derive\"]",
                                         from_hex("000102030405060708090A0B0C0D0E0F"));
    const std::string mac = ceremony_key("gp/aes128/mac", "AES-128", "[\"derive\"]",
                                         from_hex("101112131415161718191A1B1C1D1E1F"));
    const std::string dek = ceremony_key("gp/aes128/dek", "AES-128", "[\"derive\",\"wrap\"]",
                                         from_hex("202122232425262728292A2B2C2D2E2F"));
    ASSERT_FALSE(enc.empty() || mac.empty() || dek.empty());
    // The plugin needs "gp" on every key.
    const std::string body = "{\"protocol\":\"SCP03\",\"i\":\"70\",\"keys\":{\"enc\":\"" + enc +
                             "\",\"mac\":\"" + mac + "\",\"dek\":\"" + dek +
                             "\"},\"keyVersion\":48,\"hostChallenge\":\"FDF38259A1E0DE44\"," +
                             "\"aid\":\"A0000005591010FFFFFFFF8900000100\"}";
    auto denied = post("/v1/gp/scp/sessions", body, s_tsm);
    EXPECT_EQ(denied.status, 403) << denied.body;
    auto pol = http().request("PUT", "/v1/principals/tsm-a/policy",
                              "{\"keys\":[\"gp/*\"],\"operations\":[\"gp\"]}", s_admin);
    ASSERT_EQ(pol.status, 200) << pol.body;

    auto open = post("/v1/gp/scp/sessions", body, s_tsm);
    ASSERT_EQ(open.status, 201) << open.body;
    const std::string session = str(open.json(), "session");
    EXPECT_EQ(session.size(), 34u);
    EXPECT_EQ(str(open.json(), "initializeUpdate"), "8050300008FDF38259A1E0DE4400");
    const std::string base = "/v1/gp/scp/sessions/" + session;

    auto auth = post(base + "/authenticate",
                     "{\"initializeUpdateResponse\":"
                     "\"000000000000000000003003703B1ACA81E821F219081CDC01C26B372D0000039000\","
                     "\"securityLevel\":\"33\"}",
                     s_tsm);
    ASSERT_EQ(auth.status, 200) << auth.body;
    EXPECT_EQ(str(auth.json(), "externalAuthenticate"),
              "84823300108C36F96BCC00724A4E13AD591D7DA3F0");
    // Only the opener sees the session.
    auto other = post(base + "/wrap", "{\"apdus\":[\"80CA006600\"]}", s_other);
    EXPECT_EQ(other.status, 404) << other.body;

    auto w1 = post(base + "/wrap", "{\"apdus\":[\"80E2910006BF3E035C015A00\"]}", s_tsm);
    ASSERT_EQ(w1.status, 200) << w1.body;
    EXPECT_EQ(strings_of(w1, "apdus"),
              std::vector<std::string>{"84E2910018267A85DFE4A98FCA6FB0527E0DFECCE4914E40401433C87F00"});
    auto u1 = post(base + "/unwrap",
                   "{\"responses\":[\"F3BA2B1013AA6224F5E1C138D71805C569E5439B47576260B75FC021B2"
                   "5097CB2E68F8A0144975B99000\"]}",
                   s_tsm);
    ASSERT_EQ(u1.status, 200) << u1.body;
    EXPECT_EQ(strings_of(u1, "responses"),
              std::vector<std::string>{"BF3E125A10898821199000000000000000000000059000"});
    auto w = post(base + "/wrap",
                  "{\"apdus\":" +
                      hex_array({"80F22002", "80CA006600", "80F220020A4F0212345C054F9F70C5",
                                 "80F28002024F0000"}) +
                      "}",
                  s_tsm);
    ASSERT_EQ(w.status, 200) << w.body;
    EXPECT_EQ(strings_of(w, "apdus"),
              (std::vector<std::string>{
                  "84F2200208AC6A59024BED84CC", "84CA006608409912AD8FB7AED000",
                  "84F22002185F3DAFC3AC14C381536A488BF44E06D056DF9D74DBD21E5A",
                  "84F280021865165105BE3373347D0424D4400AF2AC393F569EC779389E00"}));
    // A response whose R-MAC does not verify.
    auto bad = post(base + "/unwrap", "{\"responses\":[\"00112233445566779000\"]}", s_tsm);
    EXPECT_EQ(bad.status, 400) << bad.body;
    EXPECT_EQ(str(bad.json(), "error"), "verification_failed");

    EXPECT_EQ(del(base, s_other).status, 404);
    auto closed = del(base, s_tsm);
    EXPECT_EQ(closed.status, 200) << closed.body;
    EXPECT_EQ(post(base + "/wrap", "{\"apdus\":[\"80CA006600\"]}", s_tsm).status, 404);
}

TEST_F(Gp, PublishedScp02SessionThroughRest) {
    const std::string enc = ceremony_key("gp/scp02/enc", "DES3-2K", "[\"derive\"]",
                                         from_hex("100102030405060708090a0b0c0d0e0f"));
    const std::string mac = ceremony_key("gp/scp02/mac", "DES3-2K", "[\"derive\"]",
                                         from_hex("101102030405060708090a0b0c0d0e0f"));
    const std::string dek = ceremony_key("gp/scp02/dek", "DES3-2K", "[\"derive\",\"wrap\"]",
                                         from_hex("102102030405060708090a0b0c0d0e0f"));
    ASSERT_FALSE(enc.empty() || mac.empty() || dek.empty());
    auto open = post("/v1/gp/scp/sessions",
                     "{\"protocol\":\"SCP02\",\"i\":\"15\",\"keys\":{\"enc\":\"" + enc +
                         "\",\"mac\":\"" + mac + "\",\"dek\":\"" + dek +
                         "\"},\"keyVersion\":0,\"hostChallenge\":\"40A62C37FA6304F8\"}",
                     s_officer);
    ASSERT_EQ(open.status, 201) << open.body;
    EXPECT_EQ(str(open.json(), "initializeUpdate"), "805000000840A62C37FA6304F800");
    const std::string base = "/v1/gp/scp/sessions/" + str(open.json(), "session");
    auto auth = post(base + "/authenticate",
                     "{\"initializeUpdateResponse\":"
                     "\"00000000000000000000700200016B4524ABEE7CF32EA3838BC148F3\","
                     "\"securityLevel\":\"01\"}",
                     s_officer);
    ASSERT_EQ(auth.status, 200) << auth.body;
    EXPECT_EQ(str(auth.json(), "externalAuthenticate"),
              "8482010010BA6961667737C5BCEBECE14C7D6A4376");
    auto w = post(base + "/wrap",
                  "{\"apdus\":" +
                      hex_array({"80F22002", "80ca006600", "80F220020a4f0212345c054f9f70c5",
                                 "80f28002024f0000"}) +
                      "}",
                  s_officer);
    ASSERT_EQ(w.status, 200) << w.body;
    EXPECT_EQ(strings_of(w, "apdus"),
              (std::vector<std::string>{"84F220020814DB34FA4341DCA8", "84CA00660855ED7C5FF069512B00",
                                        "84F22002124F0212345C054F9F70C58FC1B380C4228AF8",
                                        "84F280020A4F003B95F09317DE6A4E00"}));
    EXPECT_EQ(del(base, s_officer).status, 200);
}

TEST_F(Gp, WrongCardCryptogramAndBadBodiesAre4xx) {
    const std::string k = ceremony_key("gp/bad/k", "AES-128", "[\"derive\",\"wrap\"]",
                                       from_hex("000102030405060708090A0B0C0D0E0F"));
    ASSERT_FALSE(k.empty());
    const std::string keys =
        "{\"enc\":\"" + k + "\",\"mac\":\"" + k + "\",\"dek\":\"" + k + "\"}";
    auto open = post("/v1/gp/scp/sessions",
                     "{\"protocol\":\"SCP03\",\"i\":\"70\",\"keys\":" + keys +
                         ",\"keyVersion\":48,\"hostChallenge\":\"FDF38259A1E0DE44\"}",
                     s_officer);
    ASSERT_EQ(open.status, 201) << open.body;
    const std::string base = "/v1/gp/scp/sessions/" + str(open.json(), "session");
    // The MAC key differs from the pySim one: the card cryptogram cannot verify.
    auto auth = post(base + "/authenticate",
                     "{\"initializeUpdateResponse\":"
                     "\"000000000000000000003003703B1ACA81E821F219081CDC01C26B372D000003\","
                     "\"securityLevel\":\"33\"}",
                     s_officer);
    EXPECT_EQ(auth.status, 400) << auth.body;
    EXPECT_EQ(str(auth.json(), "error"), "verification_failed");
    auto audit = get("/v1/audit?limit=1000");
    ASSERT_EQ(audit.status, 200);
    EXPECT_NE(audit.body.find("gp.authenticate"), std::string::npos);

    const std::pair<std::string, std::string> bad[] = {
        {"{\"protocol\":\"SCP04\",\"i\":\"70\",\"keys\":" + keys + ",\"keyVersion\":0}", "protocol"},
        {"{\"protocol\":\"SCP03\",\"i\":\"7\",\"keys\":" + keys + ",\"keyVersion\":0}", "i"},
        {"{\"protocol\":\"SCP03\",\"i\":\"70\",\"keys\":" + keys + ",\"keyVersion\":256}",
         "keyVersion"},
        {"{\"protocol\":\"SCP03\",\"i\":\"70\",\"keys\":" + keys +
             ",\"keyVersion\":0,\"hostChallenge\":\"0102\"}",
         "hostChallenge"},
        {"{\"protocol\":\"SCP03\",\"i\":\"70\",\"keys\":{\"enc\":\"" + k +
             "\"},\"keyVersion\":0}",
         "keys.mac"},
        {"{\"protocol\":\"SCP03\",\"i\":\"70\",\"keys\":" + keys + ",\"keyVersion\":0,\"x\":1}",
         "unknown field"},
    };
    for (const auto& [body, word] : bad) {
        auto r = post("/v1/gp/scp/sessions", body, s_officer);
        EXPECT_EQ(r.status, 400) << body << " -> " << r.body;
        EXPECT_NE(r.body.find(word), std::string::npos) << r.body;
    }
    auto w = post(base + "/wrap", "{\"apdus\":[\"80CA0\"]}", s_officer);
    EXPECT_EQ(w.status, 400) << w.body;
    EXPECT_EQ(post(base + "/wrap", "{\"apdus\":\"80CA006600\"}", s_officer).status, 400);
    EXPECT_EQ(post(base + "/wrap", "{\"apdus\":[\"80CA006600\"]}", s_officer).status, 409)
        << "not authenticated";
    EXPECT_EQ(post("/v1/gp/scp/sessions/s-00000000000000000000000000000000/wrap",
                   "{\"apdus\":[]}", s_officer)
                  .status,
              404);
}

TEST_F(Gp, PutKeyAndSensitiveDataUnderTheCardDek) {
    const Bytes dek_value = from_hex("202122232425262728292A2B2C2D2E2F");
    const std::string enc = ceremony_key("gp3/enc", "AES-128", "[\"derive\"]",
                                         from_hex("000102030405060708090A0B0C0D0E0F"));
    const std::string mac = ceremony_key("gp3/mac", "AES-128", "[\"derive\"]",
                                         from_hex("101112131415161718191A1B1C1D1E1F"));
    const std::string dek = ceremony_key("gp3/dek", "AES-128", "[\"derive\",\"wrap\"]",
                                         dek_value, ",\"trusted\":true");
    // The new ISD keys: known values, so the cryptograms can be checked on the host.
    const Bytes new_key = from_hex("404142434445464748494A4B4C4D4E4F");
    const std::string k1 = ceremony_key("gp3/new", "AES-128", "[\"derive\"]", new_key,
                                        ",\"exportable\":true");
    const std::string fixed = ceremony_key("gp3/fixed", "AES-128", "[\"derive\"]", new_key);
    ASSERT_FALSE(enc.empty() || mac.empty() || dek.empty() || k1.empty() || fixed.empty());
    auto open = post("/v1/gp/scp/sessions",
                     "{\"protocol\":\"SCP03\",\"i\":\"70\",\"keys\":{\"enc\":\"" + enc +
                         "\",\"mac\":\"" + mac + "\",\"dek\":\"" + dek +
                         "\"},\"keyVersion\":48,\"hostChallenge\":\"FDF38259A1E0DE44\","
                         "\"aid\":\"A0000005591010FFFFFFFF8900000100\"}",
                     s_officer);
    ASSERT_EQ(open.status, 201) << open.body;
    const std::string base = "/v1/gp/scp/sessions/" + str(open.json(), "session");
    // Before authentication nothing can be built.
    EXPECT_EQ(post(base + "/put-key", "{\"keys\":[\"" + k1 + "\"],\"newKeyVersion\":49}",
                   s_officer).status, 409);
    auto auth = post(base + "/authenticate",
                     "{\"initializeUpdateResponse\":"
                     "\"000000000000000000003003703B1ACA81E821F219081CDC01C26B372D0000039000\","
                     "\"securityLevel\":\"01\"}",
                     s_officer);
    ASSERT_EQ(auth.status, 200) << auth.body;

    // PUT KEY of three copies of the new key as key set 49 (C-MAC only: the data stays
    // readable). Each key: 88 11 10 AES-CBC(DEK, ICV 0, key) 03 AES(key, 01^16)[0..3].
    const std::string keys3 = "[\"" + k1 + "\",\"" + k1 + "\",\"" + k1 + "\"]";
    auto put = post(base + "/put-key", "{\"keys\":" + keys3 + ",\"newKeyVersion\":49}", s_officer);
    ASSERT_EQ(put.status, 200) << put.body;
    const std::string kcv = to_hex(crypto::kcv_aes_gp(new_key));
    const std::string field =
        "881110" + to_hex(crypto::aes_cbc_encrypt(dek_value, Bytes(16, 0), new_key)) + "03" + kcv;
    const std::string apdu = str(put.json(), "apdu");
    // 84 D8 00 81, Lc = 1 + 3 x 23 + 8 (C-MAC) = 4E, new version 31, the key fields, the C-MAC,
    // Le 00.
    EXPECT_EQ(apdu.substr(0, 10), "84D800814E");
    EXPECT_EQ(apdu.substr(10, 2 + 3 * field.size()), "31" + field + field + field);
    EXPECT_EQ(apdu.size(), 2u * (5 + 0x4E + 1));
    EXPECT_EQ(put.json()->getValue<int>("keyVersion"), 49);
    EXPECT_EQ(strings_of(put, "kcvs"), (std::vector<std::string>{kcv, kcv, kcv}));
    // The card's answer (after /unwrap): version 49 and the three KCVs.
    auto ok = post(base + "/put-key/verify",
                   "{\"response\":\"31" + kcv + kcv + kcv + "9000\"}", s_officer);
    ASSERT_EQ(ok.status, 200) << ok.body;
    EXPECT_TRUE(ok.json()->getValue<bool>("verified"));
    // Nothing waits any more.
    EXPECT_EQ(post(base + "/put-key/verify", "{\"response\":\"31" + kcv + kcv + kcv + "9000\"}",
                   s_officer).status, 409);
    // A card that took another key: 400, audited.
    put = post(base + "/put-key", "{\"keys\":[\"" + k1 + "\"],\"newKeyVersion\":50,"
                                  "\"replaceKeyVersion\":49,\"keyId\":2}", s_officer);
    ASSERT_EQ(put.status, 200) << put.body;
    EXPECT_EQ(str(put.json(), "apdu").substr(0, 8), "84D83102");
    auto bad = post(base + "/put-key/verify", "{\"response\":\"320000009000\"}", s_officer);
    EXPECT_EQ(bad.status, 400) << bad.body;
    EXPECT_NE(bad.body.find("KCV"), std::string::npos) << bad.body;
    // A key not created exportable never leaves: 403.
    EXPECT_EQ(post(base + "/put-key", "{\"keys\":[\"" + fixed + "\"],\"newKeyVersion\":50}",
                   s_officer).status, 403);
    // Bad bodies.
    for (const std::string& b : std::vector<std::string>{"{\"keys\":[],\"newKeyVersion\":50}",
                                "{\"keys\":[\"" + k1 + "\"],\"newKeyVersion\":0}",
                                "{\"keys\":[\"" + k1 + "\"],\"newKeyVersion\":50,\"keyId\":128}",
                                "{\"keys\":[\"" + k1 + "\"]}"})
        EXPECT_EQ(post(base + "/put-key", b, s_officer).status, 400) << b;

    // STORE DATA: sensitive data under the static DEK, AES-CBC with a zero ICV.
    const Bytes data = from_hex("0102030405060708090A0B0C0D0E0F10");
    auto e = post(base + "/encrypt", "{\"data\":\"" + to_hex(data) + "\"}", s_officer);
    ASSERT_EQ(e.status, 200) << e.body;
    EXPECT_EQ(str(e.json(), "data"), to_hex(crypto::aes_cbc_encrypt(dek_value, Bytes(16, 0), data)));
    e = post(base + "/encrypt", "{\"data\":\"0102030405\",\"padding\":\"ISO9797-M2\"}", s_officer);
    ASSERT_EQ(e.status, 200) << e.body;
    EXPECT_EQ(str(e.json(), "data"),
              to_hex(crypto::aes_cbc_encrypt(dek_value, Bytes(16, 0),
                                             crypto::pad_iso9797_m2(from_hex("0102030405"), 16))));
    EXPECT_EQ(post(base + "/encrypt", "{\"data\":\"0102030405\"}", s_officer).status, 400);
    EXPECT_EQ(post(base + "/encrypt", "{\"data\":\"00\",\"padding\":\"PKCS7\"}", s_officer).status,
              400);
    // Audit: the PUT KEY, its verification and the failed one.
    int put_keys = 0, verified = 0, failed = 0;
    for (std::string from = "1";;) {
        auto audit = get("/v1/audit?limit=1000&from=" + from, s_admin);
        ASSERT_EQ(audit.status, 200) << audit.body;
        auto records = audit.json()->getArray("records");
        for (std::size_t i = 0; i < records->size(); ++i) {
            auto rec = records->getObject(static_cast<unsigned>(i));
            const std::string action = str(rec, "action"), outcome = str(rec, "outcome");
            put_keys += action == "gp.put-key" && outcome == "success";
            verified += action == "gp.put-key.verify" && outcome == "success";
            failed += action == "gp.put-key.verify" && outcome == "failed";
        }
        if (audit.json()->isNull("next")) break;
        from = std::to_string(audit.json()->getValue<std::uint64_t>("next"));
    }
    EXPECT_EQ(put_keys, 2);
    EXPECT_EQ(verified, 1);
    EXPECT_EQ(failed, 1);
}

TEST_F(Gp, DiversifiedCardKeySetMatchesGlobalPlatformProKcvs) {
    const std::string kmc = ceremony_key("gp4/kmc", "DES3-2K", "[\"derive\"]",
                                         from_hex("404142434445464748494A4B4C4D4E4F"));
    ASSERT_FALSE(kmc.empty());
    const std::string body = "{\"kmc\":\"" + kmc +
                             "\",\"diversification\":\"VISA2\",\"kdd\":\"00010203040506070809\","
                             "\"name\":\"card-0001\"}";
    auto r = post("/v1/gp/keys/diversify", body, s_officer);
    ASSERT_EQ(r.status, 201) << r.body;
    // tests/vectors/gp_diversify.txt: GlobalPlatformPro TestPlaintextKeys, VISA2.
    EXPECT_EQ(str(r.json()->getObject("enc"), "kcv"), "2BE598");
    EXPECT_EQ(str(r.json()->getObject("mac"), "kcv"), "58DA38");
    EXPECT_EQ(str(r.json()->getObject("dek"), "kcv"), "3C328E");
    EXPECT_EQ(str(r.json()->getObject("dek"), "name"), "card-0001-dek");
    EXPECT_EQ(str(r.json()->getObject("enc"), "state"), "Active");
    // The same names again: 409; a bad KDD or method: 400; an unknown KMC: 404.
    EXPECT_EQ(post("/v1/gp/keys/diversify", body, s_officer).status, 409);
    EXPECT_EQ(post("/v1/gp/keys/diversify",
                   "{\"kmc\":\"" + kmc + "\",\"diversification\":\"VISA2\",\"kdd\":\"0001\","
                   "\"name\":\"card-0002\"}", s_officer).status, 400);
    EXPECT_EQ(post("/v1/gp/keys/diversify",
                   "{\"kmc\":\"" + kmc + "\",\"diversification\":\"none\",\"kdd\":"
                   "\"00010203040506070809\",\"name\":\"card-0002\"}", s_officer).status, 400);
    EXPECT_EQ(post("/v1/gp/keys/diversify",
                   "{\"kmc\":\"k-00000000000000000000000000000000\",\"diversification\":"
                   "\"VISA2\",\"kdd\":\"00010203040506070809\",\"name\":\"card-0002\"}",
                   s_officer).status, 404);
    // A plugin without "gp" on the KMC: 403.
    EXPECT_EQ(post("/v1/gp/keys/diversify", body, s_other).status, 403);
}

}  // namespace
}  // namespace kms::test
