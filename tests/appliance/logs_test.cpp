// kmsd's JSON logs (suite "appliance"): a real kmsd with --log-format json --access-log goes
// through first start, principal creation, a two-custodian key ceremony, a key export and its
// import; then every line it wrote must be one JSON object with time, level and msg, every
// request must have one access line with its request id (the client's X-Request-Id, or the one
// kmsd made and echoed), and no PIN, bearer token, key component or clear key value may appear
// anywhere in its output. About 2 s.
#include <Poco/JSON/Parser.h>
#include <gtest/gtest.h>

#include <regex>
#include <sstream>

#include "crypto/host_crypto.hpp"
#include "domain/bytes.hpp"
#include "kmsd_process.hpp"
#include "observe/log.hpp"

namespace kms::test {
namespace {

using Poco::JSON::Object;

Bytes xor_of(const Bytes& a, const Bytes& b) {
    Bytes out(a.size());
    for (std::size_t i = 0; i < a.size(); ++i) out[i] = a[i] ^ b[i];
    return out;
}

std::string lower(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

/// Every output line as a JSON object (fails the test on a line that is not one).
std::vector<Object::Ptr> json_lines(const std::string& output) {
    std::vector<Object::Ptr> out;
    std::istringstream in(output);
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty()) continue;
        try {
            Poco::JSON::Parser parser;
            out.push_back(parser.parse(line).extract<Object::Ptr>());
        } catch (const std::exception& e) {
            ADD_FAILURE() << "not a JSON object: " << line;
        }
    }
    return out;
}

class Logs : public ::testing::Test {
  protected:
    Logs() : m_kmsd({"--log-format", "json", "--access-log"}), m_admin(m_kmsd.admin_token()) {}

    HttpResponse post(const std::string& path, const std::string& body, const std::string& token,
                      const std::string& request_id = "") {
        HttpsClient c("127.0.0.1", m_kmsd.port(), m_kmsd.ca_file());
        std::vector<std::pair<std::string, std::string>> headers;
        if (!request_id.empty()) headers.emplace_back("X-Request-Id", request_id);
        return c.request("POST", path, body, token, headers);
    }
    std::string principal(const std::string& name, const std::string& role) {
        auto r = post("/v1/principals", R"({"name":")" + name + R"(","roles":[")" + role + R"("]})",
                      m_admin);
        EXPECT_EQ(r.status, 201) << r.body;
        return r.json()->getValue<std::string>("token");
    }
    /// A two-custodian ceremony of K = c1 xor c2 (AES, CMAC KCVs); returns the key id.
    std::string ceremony(const std::string& name, const std::string& algorithm,
                         const std::string& usage, const Bytes& c1, const Bytes& c2,
                         const std::string& flags) {
        auto r = post("/v1/ceremonies",
                      R"({"name":")" + name + R"(","algorithm":")" + algorithm + R"(","usage":)" +
                          usage + R"(,"components":2)" + flags + "}",
                      m_officer);
        EXPECT_EQ(r.status, 201) << r.body;
        const std::string id = r.json()->getValue<std::string>("id");
        std::string key_id;
        const std::pair<const Bytes*, const std::string*> parts[] = {{&c1, &m_alice},
                                                                     {&c2, &m_bob}};
        for (const auto& [c, who] : parts) {
            auto a = post("/v1/ceremonies/" + id + "/components",
                          R"({"component":")" + to_hex(*c) + R"(","kcv":")" +
                              to_hex(crypto::kcv_aes_cmac(*c)) + "\"}",
                          *who);
            EXPECT_EQ(a.status, 200) << a.body;
            if (a.status == 200 && a.json()->has("key"))
                key_id = a.json()->getObject("key")->getValue<std::string>("id");
        }
        return key_id;
    }

    KmsdProcess m_kmsd;
    std::string m_admin, m_alice, m_bob, m_officer;
};

TEST_F(Logs, EveryLineIsJsonWithRequestIdsAndNoSecretEverAppears) {
    m_alice = principal("alice", "custodian");
    m_bob = principal("bob", "custodian");
    m_officer = principal("officer", "key-officer");

    // A trusted KEK and an exportable data key, both from components the test knows.
    const Bytes kek = from_hex("000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F");
    const Bytes kek1 = from_hex("A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A55A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A");
    const Bytes k = from_hex("2B7E151628AED2A6ABF7158809CF4F3C");
    const Bytes c1 = from_hex("0F1E2D3C4B5A69788796A5B4C3D2E1F0");
    const std::string kek_id = ceremony("l-kek", "AES-256", R"(["wrap","unwrap"])", kek1,
                                        xor_of(kek, kek1), R"(,"trusted":true)");
    const std::string data_id =
        ceremony("l-data", "AES-128", R"(["mac"])", c1, xor_of(k, c1), R"(,"exportable":true)");
    ASSERT_FALSE(kek_id.empty());
    ASSERT_FALSE(data_id.empty());

    auto exported = post("/v1/keys/" + data_id + "/export",
                         R"({"format":"AES-KWP","kek":")" + kek_id + "\"}", m_admin, "export-7");
    ASSERT_EQ(exported.status, 200) << exported.body;
    EXPECT_EQ(exported.request_id, "export-7");
    const std::string wrapped = exported.json()->getValue<std::string>("wrapped");
    auto imported = post("/v1/keys/import",
                         R"({"name":"l-copy","algorithm":"AES-128","usage":["mac"],)"
                         R"("format":"AES-KWP","kek":")" +
                             kek_id + R"(","wrapped":")" + wrapped + "\"}",
                         m_admin);
    ASSERT_EQ(imported.status, 201) << imported.body;
    // Without a valid X-Request-Id kmsd makes one and echoes it.
    ASSERT_TRUE(std::regex_match(imported.request_id, std::regex("kmsd-[0-9a-f]{8}-[0-9a-f]+")))
        << imported.request_id;
    auto invalid = post("/v1/random", R"({"length":4})", m_admin, "has space");
    EXPECT_EQ(invalid.status, 200);
    EXPECT_NE(invalid.request_id, "has space");
    EXPECT_EQ(invalid.request_id.rfind("kmsd-", 0), 0u) << invalid.request_id;
    auto refused = post("/v1/random", R"({"length":4})", "wrong-token", "refused-1");
    EXPECT_EQ(refused.status, 401);

    const std::string pin = slurp(m_kmsd.data_dir() + "/hsm.pin");
    const std::string so_pin = slurp(m_kmsd.data_dir() + "/hsm-so.pin");
    ASSERT_GE(pin.size(), 4u);
    ASSERT_GE(so_pin.size(), 4u);
    ASSERT_EQ(m_kmsd.stop(), 0);
    const std::string output = m_kmsd.output();

    // No secret, in any case and in any line.
    const std::string low = lower(output);
    const std::vector<std::pair<std::string, std::string>> secrets = {
        {"user PIN", pin.substr(0, pin.find('\n'))},
        {"SO PIN", so_pin.substr(0, so_pin.find('\n'))},
        {"admin token", m_admin},
        {"custodian token", m_alice},
        {"custodian token", m_bob},
        {"officer token", m_officer},
        {"component", to_hex(c1)},
        {"component", to_hex(xor_of(k, c1))},
        {"component", to_hex(kek1)},
        {"component", to_hex(xor_of(kek, kek1))},
        {"key value", to_hex(k)},
        {"key value", to_hex(kek)},
        {"wrapped key", wrapped},
    };
    for (const auto& [what, secret] : secrets) {
        ASSERT_FALSE(secret.empty()) << what;
        EXPECT_EQ(low.find(lower(secret)), std::string::npos) << what << " in the log";
    }

    // Every line a JSON object with the three common keys.
    const std::regex time_re(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)");
    const auto lines = json_lines(output);
    ASSERT_GE(lines.size(), 10u) << output;
    std::map<std::string, Object::Ptr> access_by_id;
    std::size_t access_lines = 0;
    bool listening = false;
    for (const auto& o : lines) {
        ASSERT_TRUE(o->has("time") && o->has("level") && o->has("msg")) << output;
        EXPECT_TRUE(std::regex_match(o->getValue<std::string>("time"), time_re));
        const std::string level = o->getValue<std::string>("level");
        EXPECT_TRUE(level == "info" || level == "warning" || level == "error") << level;
        const std::string msg = o->getValue<std::string>("msg");
        if (msg.rfind("listening on https://127.0.0.1:", 0) == 0) listening = true;
        if (msg != "access") continue;
        ++access_lines;
        for (const char* f : {"request_id", "principal", "method", "route", "path"})
            EXPECT_TRUE(o->has(f)) << f;
        EXPECT_TRUE(o->has("status") && o->get("status").isInteger());
        EXPECT_TRUE(o->has("duration_ms") && o->get("duration_ms").isNumeric());
        access_by_id[o->getValue<std::string>("request_id")] = o;
    }
    EXPECT_TRUE(listening) << output;
    // 3 principals + 2 ceremonies (1 + 2 components each) + export + import + 2 randoms.
    EXPECT_EQ(access_lines, 13u) << output;
    EXPECT_EQ(access_by_id.size(), access_lines) << "request ids are unique";

    ASSERT_TRUE(access_by_id.count("export-7")) << output;
    const auto& e = access_by_id["export-7"];
    EXPECT_EQ(e->getValue<std::string>("route"), "/v1/keys/{id}/export");
    EXPECT_EQ(e->getValue<std::string>("path"), "/v1/keys/" + data_id + "/export");
    EXPECT_EQ(e->getValue<std::string>("principal"), "admin");
    EXPECT_EQ(e->getValue<std::string>("method"), "POST");
    EXPECT_EQ(e->getValue<int>("status"), 200);
    ASSERT_TRUE(access_by_id.count(imported.request_id));
    EXPECT_EQ(access_by_id[imported.request_id]->getValue<int>("status"), 201);
    ASSERT_TRUE(access_by_id.count(invalid.request_id));
    ASSERT_TRUE(access_by_id.count("refused-1"));
    EXPECT_EQ(access_by_id["refused-1"]->getValue<int>("status"), 401);
    EXPECT_EQ(access_by_id["refused-1"]->getValue<std::string>("principal"), "-");
}

TEST(LogLine, IsOneJsonObjectWhateverTheTextHolds) {
    using observe::Logger;
    using observe::LogLevel;
    // 2026-11-26T20:01:43.007Z
    const std::int64_t t = 1795723303007;
    EXPECT_EQ(observe::rfc3339_ms(t), "2026-11-26T20:01:43.007Z");
    const std::string line =
        Logger::json_line(t, LogLevel::Warning, std::string("a \"q\" \\ \n\t\x01 \xC3\xA9 end"),
                          {{"request_id", std::string("r-1")}, {"status", std::int64_t{503}}});
    EXPECT_EQ(
        line,
        R"({"time":"2026-11-26T20:01:43.007Z","level":"warning","msg":"a \"q\" \\ \n\t\u0001 ?? end","request_id":"r-1","status":503})");
    Poco::JSON::Parser parser;
    auto o = parser.parse(line).extract<Object::Ptr>();
    EXPECT_EQ(o->getValue<std::string>("msg"), "a \"q\" \\ \n\t\x01 ?? end");
    EXPECT_EQ(o->getValue<int>("status"), 503);
}

TEST(LogsConfig, AnUnknownLogFormatIsAUsageError) {
    std::string output;
    const int rc =
        run_kmsd({"--data-dir", "/nonexistent/kms-logs-test", "--log-format", "xml"}, output, 30);
    EXPECT_EQ(rc, 64) << output;
    EXPECT_NE(output.find("--log-format: expected text or json, got 'xml'"), std::string::npos)
        << output;
}

}  // namespace
}  // namespace kms::test
