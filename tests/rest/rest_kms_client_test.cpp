// The TSM services' KMS client (tsm-services/plugin-api/kms_client) against a real kmsd: a
// plugin with its own client certificate from the KMS CA (mTLS, no token) runs pySim's
// published SCP03 session (tests/vectors/gp_scp03.txt, SCP03_Test_AES128_33, R-MAC and R-ENC)
// through the typed calls and gets the published bytes; kmsd's refusals arrive as KmsError
// with kmsd's status and code; MACs under a ceremony key equal OpenSSL's CMAC; concurrent
// callers share a few pooled connections.
#include "plugin-api/kms_client.hpp"

#include <atomic>
#include <filesystem>
#include <thread>

#include "ceremony_fixture.hpp"
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
                                 R"({"keys":["gp/*","tsm/*"],"operations":["gp","mac"]})",
                                 s_admin);
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
    EXPECT_EQ(hex_of(kms.gp_wrap(opened.session, {from_hex("80E2910006BF3E035C015A00")})),
              std::vector<std::string>{
                  "84E2910018267A85DFE4A98FCA6FB0527E0DFECCE4914E40401433C87F00"});
    EXPECT_EQ(hex_of(kms.gp_unwrap(
                  opened.session,
                  {from_hex("F3BA2B1013AA6224F5E1C138D71805C569E5439B47576260B75FC021B25097CB2E"
                            "68F8A0144975B99000")})),
              std::vector<std::string>{"BF3E125A10898821199000000000000000000000059000"});
    EXPECT_EQ(hex_of(kms.gp_wrap(opened.session,
                                 {from_hex("80F22002"), from_hex("80CA006600"),
                                  from_hex("80F220020A4F0212345C054F9F70C5"),
                                  from_hex("80F28002024F0000")})),
              (std::vector<std::string>{
                  "84F2200208AC6A59024BED84CC", "84CA006608409912AD8FB7AED000",
                  "84F22002185F3DAFC3AC14C381536A488BF44E06D056DF9D74DBD21E5A",
                  "84F280021865165105BE3373347D0424D4400AF2AC393F569EC779389E00"}));
    kms.gp_close(opened.session);
    EXPECT_EQ(refusal([&] { kms.gp_close(opened.session); }),
              (std::pair<int, std::string>{404, "not_found"}));
    EXPECT_EQ(kms.connections_opened(), 1u) << "one keep-alive connection served every call";
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
