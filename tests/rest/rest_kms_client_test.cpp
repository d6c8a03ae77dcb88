// The TSM services' KMS client (tsm-services/plugin-api/kms_client) against a real kmsd: a
// plugin with its own client certificate from the KMS CA (mTLS, no token) runs pySim's
// published SCP03 session (tests/vectors/gp_scp03.txt, SCP03_Test_AES128_33, R-MAC and R-ENC)
// through the typed calls and gets the published bytes; kmsd's refusals arrive as KmsError
// with kmsd's status and code; MACs under a ceremony key equal OpenSSL's CMAC; concurrent
// callers share a few pooled connections; PUT KEY of a one-key set is built by kmsd and the
// card's answer verified through gp_put_key / gp_put_key_verify.
#include <atomic>
#include <filesystem>
#include <thread>

#include "ceremony_fixture.hpp"
#include "plugin-api/kms_client.hpp"
#include "plugin_support.hpp"

namespace kms::test {
namespace {

using tsm::GpOpenRequest;
using tsm::KmsClient;
using tsm::KmsClientOptions;
using tsm::KmsError;

std::vector<std::string> hex_of(const std::vector<Bytes>& v) {
    std::vector<std::string> out;
    for (const Bytes& b : v) out.push_back(to_hex(b));
    return out;
}

/// The status and code of the KmsError @p fn throws ({-1, ""} when it throws none).
template <class Fn>
std::pair<int, std::string> refusal(Fn&& fn) {
    try {
        fn();
    } catch (const KmsError& e) {
        return {e.status(), e.code()};
    }
    return {-1, ""};
}

class KmsClientTest : public CeremonyRest {
  public:
    static void SetUpTestSuite() {
        CeremonyRest::SetUpTestSuite();
        char tmpl[] = "/tmp/kms-client-XXXXXX";
        if (::mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp");
        s_dir = tmpl;
        HttpsClient admin("127.0.0.1", s_kmsd->port(), s_kmsd->ca_file());
        s_plugin = create_plugin_identity(
            [&](const std::string& path, const std::string& body) {
                return admin.post(path, body, s_admin);
            },
            "tsm-client", s_dir);
        auto pol = admin.request("PUT", "/v1/principals/tsm-client/policy",
                                 R"({"keys":["gp/*","tsm/*"],"operations":["gp","mac"]})", s_admin);
        if (pol.status != 200) throw std::runtime_error("policy: " + pol.body);
    }
    static void TearDownTestSuite() {
        std::error_code ec;
        std::filesystem::remove_all(s_dir, ec);
        CeremonyRest::TearDownTestSuite();
    }

  protected:
    KmsClientOptions plugin_options() const {
        KmsClientOptions o;
        o.url = s_kmsd->url();
        o.ca_file = s_kmsd->ca_file();
        o.cert_file = s_plugin.cert_file;
        o.key_file = s_plugin.key_file;
        return o;
    }
    /// pySim's SCP03_Test_AES128_33 static keys, loaded once by ceremony.
    GpOpenRequest pysim_request() {
        static std::string enc, mac, dek;
        if (enc.empty()) {
            enc = ceremony_key("gp/client/enc", "AES-128", R"(["derive"])",
                               from_hex("000102030405060708090A0B0C0D0E0F"));
            mac = ceremony_key("gp/client/mac", "AES-128", R"(["derive"])",
                               from_hex("101112131415161718191A1B1C1D1E1F"));
            dek = ceremony_key("gp/client/dek", "AES-128", R"(["derive","wrap"])",
                               from_hex("202122232425262728292A2B2C2D2E2F"));
        }
        GpOpenRequest r;
        r.protocol = "SCP03";
        r.i = 0x70;
        r.enc = enc;
        r.mac = mac;
        r.dek = dek;
        r.key_version = 0x30;
        r.host_challenge = from_hex("FDF38259A1E0DE44");
        r.aid = from_hex("A0000005591010FFFFFFFF8900000100");
        return r;
    }

    static std::string s_dir;
    static Plugin s_plugin;
};

std::string KmsClientTest::s_dir;
Plugin KmsClientTest::s_plugin;

const char* const kIuResponse =
    "000000000000000000003003703B1ACA81E821F219081CDC01C26B372D0000039000";

TEST_F(KmsClientTest, APluginRunsThePublishedScp03SessionOverMutualTls) {
    KmsClient kms(plugin_options());
    const auto opened = kms.gp_open(pysim_request());
    EXPECT_EQ(to_hex(opened.initialize_update), "8050300008FDF38259A1E0DE4400");
    EXPECT_EQ(to_hex(kms.gp_authenticate(opened.session, from_hex(kIuResponse), 0x33)),
              "84823300108C36F96BCC00724A4E13AD591D7DA3F0");
    EXPECT_EQ(
        hex_of(kms.gp_wrap(opened.session, {from_hex("80E2910006BF3E035C015A00")})),
        std::vector<std::string>{"84E2910018267A85DFE4A98FCA6FB0527E0DFECCE4914E40401433C87F00"});
    EXPECT_EQ(hex_of(kms.gp_unwrap(
                  opened.session,
                  {from_hex("F3BA2B1013AA6224F5E1C138D71805C569E5439B47576260B75FC021B25097CB2E"
                            "68F8A0144975B99000")})),
              std::vector<std::string>{"BF3E125A10898821199000000000000000000000059000"});
    EXPECT_EQ(
        hex_of(kms.gp_wrap(opened.session, {from_hex("80F22002"), from_hex("80CA006600"),
                                            from_hex("80F220020A4F0212345C054F9F70C5"),
                                            from_hex("80F28002024F0000")})),
        (std::vector<std::string>{"84F2200208AC6A59024BED84CC", "84CA006608409912AD8FB7AED000",
                                  "84F22002185F3DAFC3AC14C381536A488BF44E06D056DF9D74DBD21E5A",
                                  "84F280021865165105BE3373347D0424D4400AF2AC393F569EC779389E00"}));
    kms.gp_close(opened.session);
    EXPECT_EQ(refusal([&] { kms.gp_close(opened.session); }),
              (std::pair<int, std::string>{404, "not_found"}));
    EXPECT_EQ(kms.connections_opened(), 1u) << "one keep-alive connection served every call";
}

TEST_F(KmsClientTest, PutKeyOfAOneKeySetIsBuiltByKmsdAndTheCardsAnswerVerified) {
    // The published SCP03 session, its DEK trusted with usage wrap (PUT KEY needs it), at
    // level 01 (C-MAC only) so the key field stays readable here.
    const Bytes dek_value = from_hex("202122232425262728292A2B2C2D2E2F");
    GpOpenRequest g = pysim_request();
    g.dek = ceremony_key("gp/client-pk/dek", "AES-128", R"(["derive","wrap"])", dek_value,
                         R"(,"trusted":true)");
    // The new key: a known value, exportable, so the command can be checked on the host.
    const Bytes key = from_hex("404142434445464748494A4B4C4D4E4F");
    const std::string key_id =
        ceremony_key("gp/client-pk/credit", "AES-128", R"(["mac"])", key, R"(,"exportable":true)");
    ASSERT_FALSE(g.dek.empty() || key_id.empty());
    KmsClient kms(plugin_options());
    const auto opened = kms.gp_open(g);
    EXPECT_EQ(refusal([&] { kms.gp_put_key(opened.session, {key_id}, 0x70); }),
              (std::pair<int, std::string>{409, "wrong_state"}))
        << "nothing is built before the card is authenticated";
    kms.gp_authenticate(opened.session, from_hex(kIuResponse), 0x01);

    // GPCS 2.2.1 §11.8: a new key set (P1 00) of one key (P2 01, b8 clear), version 70:
    // 88 11 10 AES-CBC(DEK, ICV 0, key) 03 KCV, the C-MAC, Le 00.
    const auto put = kms.gp_put_key(opened.session, {key_id}, 0x70);
    const std::string kcv = to_hex(crypto::kcv_aes_gp(key));
    const std::string field =
        "881110" + to_hex(crypto::aes_cbc_encrypt(dek_value, Bytes(16, 0), key)) + "03" + kcv;
    const std::string apdu = to_hex(put.apdu);
    EXPECT_EQ(apdu.substr(0, 10), "84D8000120");  // Lc = 1 + 23 + 8
    EXPECT_EQ(apdu.substr(10, 2 + field.size()), "70" + field);
    EXPECT_EQ(apdu.size(), 2u * (5 + 0x20 + 1));
    EXPECT_EQ(put.key_version, 0x70);
    EXPECT_EQ(hex_of(put.kcvs), std::vector<std::string>{kcv});

    // The card's answer (after unwrap): version 70 and the key's KCV.
    const auto ok = kms.gp_put_key_verify(opened.session, from_hex("70" + kcv + "9000"));
    EXPECT_EQ(ok.key_version, 0x70);
    EXPECT_EQ(hex_of(ok.kcvs), std::vector<std::string>{kcv});
    EXPECT_EQ(
        refusal([&] { kms.gp_put_key_verify(opened.session, from_hex("70" + kcv + "9000")); }),
        (std::pair<int, std::string>{409, "wrong_state"}))
        << "the expectation is consumed";

    // A card holding another key, a card refusing, and bad requests.
    kms.gp_put_key(opened.session, {key_id}, 0x71, 0x70, 0x02);
    EXPECT_EQ(refusal([&] { kms.gp_put_key_verify(opened.session, from_hex("710000009000")); }),
              (std::pair<int, std::string>{400, "verification_failed"}));
    kms.gp_put_key(opened.session, {key_id}, 0x71);
    EXPECT_EQ(refusal([&] { kms.gp_put_key_verify(opened.session, from_hex("6A80")); }),
              (std::pair<int, std::string>{400, "invalid_argument"}));
    EXPECT_EQ(refusal([&] {
                  kms.gp_put_key(opened.session, {key_id, key_id, key_id, key_id}, 0x71);
              }),
              (std::pair<int, std::string>{400, "invalid_argument"}))
        << "at most 3 keys";
    EXPECT_EQ(refusal([&] { kms.gp_put_key(opened.session, {key_id}, 0x80); }),
              (std::pair<int, std::string>{400, "invalid_argument"}))
        << "key versions are 1..127";
    EXPECT_EQ(refusal([&] { kms.gp_put_key(opened.session, {g.enc}, 0x71); }).first, 403)
        << "a key not exportable never leaves";
    EXPECT_EQ(refusal([&] { kms.gp_put_key(opened.session, {"../keys"}, 0x71); }).second,
              "invalid_argument");
    kms.gp_close(opened.session);
}

TEST_F(KmsClientTest, KmsdsRefusalsArriveWithTheirStatusAndCode) {
    KmsClient kms(plugin_options());
    const auto opened = kms.gp_open(pysim_request());
    Bytes wrong = from_hex(kIuResponse);
    wrong[25] ^= 0x01;  // inside the card cryptogram
    EXPECT_EQ(refusal([&] { kms.gp_authenticate(opened.session, wrong, 0x33); }),
              (std::pair<int, std::string>{400, "verification_failed"}));
    // A key outside the plugin's policy (created by the administrator under another name).
    const std::string other = str(create_key("other/mac", "AES-128", R"(["mac"])"), "id");
    EXPECT_EQ(refusal([&] { kms.mac(other, "AES-CMAC", from_hex("00112233")); }).first, 403);
    EXPECT_EQ(refusal([&] { kms.gp_wrap("s-" + std::string(32, '0'), {from_hex("80CA006600")}); }),
              (std::pair<int, std::string>{404, "not_found"}));
    // Ids go into URL paths: anything but an id is refused before a byte is sent.
    EXPECT_EQ(refusal([&] { kms.gp_close("../keys"); }).second, "invalid_argument");
}

TEST_F(KmsClientTest, MacsEqualOpenSslsAndConcurrentCallersShareAFewConnections) {
    const Bytes k = from_hex("2B7E151628AED2A6ABF7158809CF4F3C");  // RFC 4493's key
    const std::string id = ceremony_key("tsm/client/mac", "AES-128", R"(["mac"])", k);
    KmsClient kms(plugin_options());
    const auto m = kms.mac(id, "AES-CMAC", from_hex("6BC1BEE22E409F96E93D7E117393172A"));
    EXPECT_EQ(to_hex(m.mac), "070A16B46B4D4144F79BDD9DD04A287C");  // RFC 4493 example 2
    EXPECT_EQ(m.version, 1);

    constexpr int kThreads = 8, kCalls = 40;
    std::atomic<int> good{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
        threads.emplace_back([&, t] {
            for (int n = 0; n < kCalls; ++n) {
                Bytes data{static_cast<std::uint8_t>(t), static_cast<std::uint8_t>(n)};
                if (kms.mac(id, "AES-CMAC", data).mac == crypto::aes_cmac(k, data)) ++good;
            }
        });
    for (auto& t : threads) t.join();
    EXPECT_EQ(good.load(), kThreads * kCalls);
    EXPECT_LE(kms.connections_opened(), static_cast<std::size_t>(kThreads) + 1);
}

TEST_F(KmsClientTest, PooledConnectionsSurviveARestartOfKmsd) {
    const Bytes k = from_hex("2B7E151628AED2A6ABF7158809CF4F3C");
    const std::string id = ceremony_key("tsm/client/restart", "AES-128", R"(["mac"])", k);
    KmsClient kms(plugin_options());
    const Bytes data = from_hex("6BC1BEE22E409F96E93D7E117393172A");
    ASSERT_EQ(kms.mac(id, "AES-CMAC", data).mac, crypto::aes_cmac(k, data));
    ASSERT_EQ(s_kmsd->stop(), 0);  // closes the pooled connection
    s_kmsd->start();
    EXPECT_EQ(kms.mac(id, "AES-CMAC", data).mac, crypto::aes_cmac(k, data));
    EXPECT_EQ(kms.connections_opened(), 1u) << "the same connection object, reconnected";
}

TEST_F(KmsClientTest, BadSettingsAndAnUnreachableKmsdAreClearErrors) {
    KmsClientOptions o = plugin_options();
    o.url = "http://127.0.0.1:1";
    EXPECT_EQ(refusal([&] { KmsClient c(o); }).second, "setup");
    o = plugin_options();
    o.bearer_token = "kms_x";
    EXPECT_EQ(refusal([&] { KmsClient c(o); }).second, "setup") << "certificate and token";
    o = plugin_options();
    o.cert_file = s_dir + "/missing.crt";
    EXPECT_EQ(refusal([&] { KmsClient c(o); }).second, "setup");
    o = plugin_options();
    o.url = "https://127.0.0.1:1";  // nothing listens there
    KmsClient unreachable(o);
    EXPECT_EQ(refusal([&] { unreachable.gp_close("s-00"); }),
              (std::pair<int, std::string>{0, "unreachable"}));
}

}  // namespace
}  // namespace kms::test
