// Unit tests of kmsctl's GlobalPlatform commands (gp ...) without a server: the REST call each
// maps to (method, target, body), the local refusals (exit 1, nothing sent), several APDUs as
// arguments, from a file and from stdin, and the help texts.
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "cli/args.hpp"
#include "cli/exit_codes.hpp"
#include "cli/requests.hpp"
#include "cli/runner.hpp"

namespace kms::cli {
namespace {

namespace fs = std::filesystem;
using Args = std::vector<std::string>;

ApiCall call_of(Args args) {
    return build_call(parse_arguments(args));
}

Poco::JSON::Object::Ptr body_of(const ApiCall& call) {
    EXPECT_TRUE(call.body.has_value());
    Poco::JSON::Parser parser;
    return parser.parse(call.body.value_or("{}")).extract<Poco::JSON::Object::Ptr>();
}

std::vector<std::string> strings(const Poco::JSON::Object::Ptr& o, const std::string& key) {
    std::vector<std::string> out;
    auto a = o->getArray(key);
    for (std::size_t i = 0; a && i < a->size(); ++i)
        out.push_back(a->getElement<std::string>(static_cast<unsigned>(i)));
    return out;
}

/// The message of the UsageError that parsing or building @p args throws ("" and a failure if
/// none).
std::string refusal(Args args) {
    try {
        call_of(std::move(args));
    } catch (const UsageError& e) {
        return e.what();
    }
    ADD_FAILURE() << "no UsageError";
    return {};
}

#define EXPECT_REFUSED(args, text)                                            \
    do {                                                                      \
        const std::string msg_ = refusal(args);                               \
        EXPECT_NE(msg_.find(text), std::string::npos) << "message: " << msg_; \
    } while (0)

const std::string kS = "s-00112233445566778899AABBCCDDEEFF";
const Args kOpen = {"gp",  "session", "open",          "--protocol", "SCP03",
                    "--i", "70",      "--key-version", "48"};

Args with(Args a, const Args& more) {
    a.insert(a.end(), more.begin(), more.end());
    return a;
}

TEST(KmsctlGp, SessionOpenWithStaticKeys) {
    auto call =
        call_of(with(kOpen, {"--enc", "k-e", "--mac", "k-m", "--dek", "k-d", "--host-challenge",
                             "fdf38259a1e0de44", "--aid", "A0000005591010FFFFFFFF8900000100"}));
    EXPECT_EQ(call.method, "POST");
    EXPECT_EQ(call.target, "/v1/gp/scp/sessions");
    EXPECT_EQ(*call.body,
              "{\"protocol\":\"SCP03\",\"i\":\"70\",\"keys\":{\"enc\":\"k-e\",\"mac\":\"k-m\","
              "\"dek\":\"k-d\"},\"keyVersion\":48,\"hostChallenge\":\"FDF38259A1E0DE44\","
              "\"aid\":\"A0000005591010FFFFFFFF8900000100\"}");
}

TEST(KmsctlGp, SessionOpenWithKmc) {
    auto body =
        body_of(call_of({"gp", "session", "open", "--protocol", "scp02", "--i", "55", "--kmc",
                         "k-kmc", "--diversification", "emv-cps11", "--key-version", "0"}));
    EXPECT_EQ(body->getValue<std::string>("protocol"), "SCP02");
    auto keys = body->getObject("keys");
    EXPECT_EQ(keys->getValue<std::string>("kmc"), "k-kmc");
    EXPECT_EQ(keys->getValue<std::string>("diversification"), "EMV-CPS11");
    EXPECT_FALSE(keys->has("enc"));
    EXPECT_EQ(body->getValue<int>("keyVersion"), 0);
    EXPECT_FALSE(body->has("hostChallenge"));
    EXPECT_FALSE(body->has("aid"));
}

TEST(KmsctlGp, SessionOpenRefusals) {
    const Args keys = {"--enc", "k-e", "--mac", "k-m", "--dek", "k-d"};
    EXPECT_REFUSED((Args{"gp", "session", "open", "--i", "70", "--key-version", "1"}),
                   "missing --protocol P");
    EXPECT_REFUSED(
        with({"gp", "session", "open", "--protocol", "SCP01", "--i", "70", "--key-version", "1"},
             keys),
        "--protocol: unknown value 'SCP01'");
    EXPECT_REFUSED(
        with({"gp", "session", "open", "--protocol", "SCP03", "--i", "0170", "--key-version", "1"},
             keys),
        "--i: expected 1 byte (2 hex digits), got 2");
    EXPECT_REFUSED(
        with({"gp", "session", "open", "--protocol", "SCP03", "--i", "7G", "--key-version", "1"},
             keys),
        "--i");
    EXPECT_REFUSED(
        with({"gp", "session", "open", "--protocol", "SCP03", "--i", "70", "--key-version", "256"},
             keys),
        "--key-version");
    EXPECT_REFUSED(with(kOpen, {"--enc", "k-e", "--mac", "k-m"}), "missing --dek ID");
    EXPECT_REFUSED(kOpen, "name the card's keys");
    EXPECT_REFUSED(with(kOpen, {"--kmc", "k", "--enc", "k-e", "--diversification", "none"}),
                   "give either --enc, --mac and --dek, or --kmc");
    EXPECT_REFUSED(with(kOpen, {"--kmc", "k"}), "--kmc needs --diversification");
    EXPECT_REFUSED(with(kOpen, {"--kmc", "k", "--diversification", "VISA1"}),
                   "--diversification: unknown value 'VISA1'");
    EXPECT_REFUSED(with(kOpen, with(keys, {"--diversification", "none"})),
                   "--diversification: only with --kmc");
    EXPECT_REFUSED(with(kOpen, with(keys, {"--host-challenge", "00112233445566"})),
                   "--host-challenge: expected 8 bytes (16 hex digits), got 7");
    EXPECT_EQ(body_of(call_of(with(kOpen, with(keys, {"--aid", "a000000151"}))))
                  ->getValue<std::string>("aid"),
              "A000000151");  // 5 bytes: the shortest AID
    EXPECT_REFUSED(with(kOpen, with(keys, {"--aid", "A0000001"})),
                   "--aid: expected 5 to 16 bytes (hex), got 4");
}

TEST(KmsctlGp, AuthenticateAndClose) {
    const std::string response = "000000000000000000003003703B1ACA81E821F219081CDC01C26B372D000003";
    auto call = call_of(
        {"gp", "session", "authenticate", kS, "--response", response + "9000", "--level", "33"});
    EXPECT_EQ(call.target, "/v1/gp/scp/sessions/" + kS + "/authenticate");
    EXPECT_EQ(*call.body,
              "{\"initializeUpdateResponse\":\"" + response + "9000\",\"securityLevel\":\"33\"}");
    EXPECT_REFUSED(
        (Args{"gp", "session", "authenticate", kS, "--response", response, "--level", "3"}),
        "--level: hex must have an even number of digits");
    EXPECT_REFUSED(
        (Args{"gp", "session", "authenticate", kS, "--response", "9000", "--level", "03"}),
        "--response: expected 28 to 34 bytes");
    EXPECT_REFUSED((Args{"gp", "session", "authenticate", "--response", response, "--level", "03"}),
                   "missing SESSION");
    EXPECT_REFUSED(
        (Args{"gp", "session", "authenticate", "s 1", "--response", response, "--level", "03"}),
        "SESSION 's 1'");

    auto close = call_of({"gp", "session", "close", kS});
    EXPECT_EQ(close.method, "DELETE");
    EXPECT_EQ(close.target, "/v1/gp/scp/sessions/" + kS);
    EXPECT_FALSE(close.body.has_value());
    EXPECT_REFUSED((Args{"gp", "session", "close", kS, "extra"}), "unexpected extra argument");
}

class KmsctlGpFiles : public ::testing::Test {
  protected:
    void SetUp() override {
        m_dir = fs::temp_directory_path() /
                ("kmsctl-gp-" + std::to_string(::getpid()) + "-" +
                 ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(m_dir);
        fs::create_directories(m_dir);
    }
    void TearDown() override { fs::remove_all(m_dir); }
    std::string write(const std::string& name, const std::string& text) {
        std::ofstream(m_dir / name) << text;
        return (m_dir / name).string();
    }
    fs::path m_dir;
};

TEST_F(KmsctlGpFiles, WrapTakesApdusAsArgumentsOrFromAFile) {
    auto call = call_of({"gp", "wrap", kS, "80f22002", "80CA006600"});
    EXPECT_EQ(call.method, "POST");
    EXPECT_EQ(call.target, "/v1/gp/scp/sessions/" + kS + "/wrap");
    EXPECT_EQ(*call.body, "{\"apdus\":[\"80F22002\",\"80CA006600\"]}");

    const auto script = write("script.apdu",
                              "# a TSM script\n80 F2 20 02\n\n  80CA006600\r\n# done\n"
                              "80F28002024F0000");
    auto from_file = call_of({"gp", "wrap", kS, "--file", script});
    EXPECT_EQ(strings(body_of(from_file), "apdus"),
              (std::vector<std::string>{"80F22002", "80CA006600", "80F28002024F0000"}));

    EXPECT_REFUSED((Args{"gp", "wrap", kS}), "give at least one APDU");
    EXPECT_REFUSED((Args{"gp", "wrap", kS, "80F22002", "80CA00"}),
                   "APDU 2: expected 4 to 65544 bytes (hex), got 3");
    EXPECT_REFUSED((Args{"gp", "wrap", kS, "80F2200X"}), "APDU 1");
    EXPECT_REFUSED((Args{"gp", "wrap", kS, "80F22002", "--file", script}), "not both");
    const auto bad = write("bad.apdu", "80F22002\n\n80CA00660\n");
    EXPECT_REFUSED((Args{"gp", "wrap", kS, "--file", bad}), bad + " line 3");
    const auto empty = write("empty.apdu", "# nothing\n\n");
    EXPECT_REFUSED((Args{"gp", "wrap", kS, "--file", empty}), "--file: no APDU in");
    EXPECT_REFUSED((Args{"gp", "wrap", kS, "--file", (m_dir / "missing").string()}),
                   "--file: cannot read");

    Args many = {"gp", "wrap", kS};
    for (int n = 0; n < 257; ++n) many.push_back("80CA006600");
    EXPECT_REFUSED(many, "257 APDUs: kmsd takes at most 256 per call");
    many.pop_back();
    EXPECT_EQ(strings(body_of(call_of(many)), "apdus").size(), 256u);
}

TEST(KmsctlGp, Unwrap) {
    auto call =
        call_of({"gp", "unwrap", kS, "9000", "BF3E125A10898821199000000000000000000000059000"});
    EXPECT_EQ(call.target, "/v1/gp/scp/sessions/" + kS + "/unwrap");
    EXPECT_EQ(strings(body_of(call), "responses"),
              (std::vector<std::string>{"9000", "BF3E125A10898821199000000000000000000000059000"}));
    EXPECT_REFUSED((Args{"gp", "unwrap", kS, "90"}), "RESPONSE 1: expected 2 to 65538 bytes");
    EXPECT_REFUSED((Args{"gp", "unwrap", kS}), "give at least one RESPONSE");
}

TEST(KmsctlGp, PutKeyAndVerify) {
    auto call = call_of({"gp", "put-key", kS, "--keys", "k-enc,k-mac", "--keys", "k-dek",
                         "--new-version", "49", "--replace-version", "48", "--key-id", "1"});
    EXPECT_EQ(call.target, "/v1/gp/scp/sessions/" + kS + "/put-key");
    EXPECT_EQ(*call.body,
              "{\"keys\":[\"k-enc\",\"k-mac\",\"k-dek\"],\"newKeyVersion\":49,"
              "\"replaceKeyVersion\":48,\"keyId\":1}");
    auto minimal = body_of(call_of({"gp", "put-key", kS, "--keys", "k-1", "--new-version", "1"}));
    EXPECT_FALSE(minimal->has("replaceKeyVersion"));
    EXPECT_FALSE(minimal->has("keyId"));
    EXPECT_REFUSED((Args{"gp", "put-key", kS, "--keys", "a,b,c,d", "--new-version", "1"}),
                   "--keys: give 1 to 3 key ids");
    EXPECT_REFUSED((Args{"gp", "put-key", kS, "--keys", ",", "--new-version", "1"}),
                   "--keys: give 1 to 3 key ids");
    EXPECT_REFUSED((Args{"gp", "put-key", kS, "--keys", "a", "--new-version", "0"}),
                   "--new-version");
    EXPECT_REFUSED((Args{"gp", "put-key", kS, "--keys", "a", "--new-version", "128"}),
                   "--new-version");
    EXPECT_REFUSED(
        (Args{"gp", "put-key", kS, "--keys", "a", "--new-version", "2", "--replace-version", "-1"}),
        "--replace-version");
    EXPECT_REFUSED(
        (Args{"gp", "put-key", kS, "--keys", "a", "--new-version", "2", "--key-id", "0"}),
        "--key-id");
    EXPECT_REFUSED((Args{"gp", "put-key", kS, "--new-version", "2"}), "missing --keys");

    auto verify = call_of({"gp", "put-key-verify", kS, "--response", "31010203049000"});
    EXPECT_EQ(verify.target, "/v1/gp/scp/sessions/" + kS + "/put-key/verify");
    EXPECT_EQ(*verify.body, "{\"response\":\"31010203049000\"}");
    EXPECT_REFUSED((Args{"gp", "put-key-verify", kS, "--response", "31 0102"}), "--response");
}

TEST(KmsctlGp, EncryptAndDiversify) {
    auto call = call_of({"gp", "encrypt", kS, "--data", "0011223344556677", "--padding", "NONE"});
    EXPECT_EQ(call.target, "/v1/gp/scp/sessions/" + kS + "/encrypt");
    EXPECT_EQ(*call.body, "{\"data\":\"0011223344556677\",\"padding\":\"none\"}");
    EXPECT_EQ(*call_of({"gp", "encrypt", kS, "--data", "01"}).body, "{\"data\":\"01\"}");
    EXPECT_REFUSED((Args{"gp", "encrypt", kS, "--data", "001122", "--padding", "none"}),
                   "--padding none needs whole blocks");
    EXPECT_REFUSED((Args{"gp", "encrypt", kS, "--data", "00", "--padding", "pkcs7"}),
                   "--padding: unknown value 'pkcs7'");
    EXPECT_REFUSED((Args{"gp", "encrypt", kS, "--data", ""}), "--data: give at least one byte");

    auto div = call_of({"gp", "diversify", "--kmc", "k-kmc", "--diversification", "visa2", "--kdd",
                        "00010203040506070809", "--name", "card-1"});
    EXPECT_EQ(div.target, "/v1/gp/keys/diversify");
    EXPECT_EQ(*div.body,
              "{\"kmc\":\"k-kmc\",\"diversification\":\"VISA2\",\"kdd\":\"00010203040506070809\","
              "\"name\":\"card-1\"}");
    EXPECT_REFUSED((Args{"gp", "diversify", "--kmc", "k", "--diversification", "none", "--kdd",
                         "00010203040506070809", "--name", "c"}),
                   "--diversification: unknown value 'none'");
    EXPECT_REFUSED((Args{"gp", "diversify", "--kmc", "k", "--diversification", "VISA2", "--kdd",
                         "000102030405060708", "--name", "c"}),
                   "--kdd: expected 10 bytes (20 hex digits), got 9");
    EXPECT_REFUSED((Args{"gp", "diversify", "--kmc", "k", "--diversification", "VISA2", "--kdd",
                         "00010203040506070809", "--name", std::string(125, 'n')}),
                   "--name: 1 to 124 characters");
    EXPECT_REFUSED((Args{"gp", "diversify", "card", "--kmc", "k"}), "takes no argument");
}

TEST(KmsctlGp, HelpTexts) {
    const std::string main = parse_arguments({"--help"}).help_text();
    for (const char* cmd :
         {"gp session open", "gp session authenticate SESSION", "gp session close SESSION",
          "gp wrap SESSION [APDU...]", "gp unwrap SESSION [RESPONSE...]", "gp put-key SESSION",
          "gp put-key-verify SESSION", "gp encrypt SESSION", "gp diversify"})
        EXPECT_NE(main.find(cmd), std::string::npos) << cmd;
    EXPECT_NE(main.find("GP session ran out of time"), std::string::npos);
    const std::string wrap = parse_arguments({"gp", "wrap", "--help"}).help_text();
    EXPECT_NE(wrap.find("Usage: kmsctl gp wrap SESSION [APDU ...] [--file FILE]"),
              std::string::npos)
        << wrap;
    const std::string group = parse_arguments({"gp", "--help"}).help_text();
    EXPECT_NE(group.find("gp session open"), std::string::npos);
    EXPECT_NE(group.find("gp diversify"), std::string::npos);
    EXPECT_NE(parse_arguments({"gp", "session", "-h"}).help_text().find("gp session close"),
              std::string::npos);
    EXPECT_NE(parse_arguments({"gp", "session", "open", "--help"}).help_text().find("--kmc ID"),
              std::string::npos);
}

struct RunResult {
    int code;
    std::string out, err;
};

RunResult run_args(const Args& args, const std::string& input) {
    std::istringstream in(input);
    std::ostringstream out, err;
    Console console{in, out, err, false};
    const int code = run_command_line(
        args, [](const std::string&) -> std::optional<std::string> { return std::nullopt; },
        console);
    return {code, out.str(), err.str()};
}

TEST(KmsctlGp, ApdusFromStdin) {
    const std::string url = "--url=https://127.0.0.1:1";  // closed: the run stops at connect
    auto good =
        run_args({url, "--token=t", "gp", "wrap", kS, "--file", "-"}, "80F22002\n80CA006600\n");
    EXPECT_EQ(good.code, 6) << good.err;  // validated, then it got as far as connecting
    auto bad = run_args({url, "--token=t", "gp", "unwrap", kS, "--file", "-"}, "9000\n\nXX00\n");
    EXPECT_EQ(bad.code, 1);
    EXPECT_NE(bad.err.find("stdin line 3"), std::string::npos) << bad.err;
    auto none = run_args({url, "--token=t", "gp", "wrap", kS, "--file", "-"}, "");
    EXPECT_EQ(none.code, 1);
    EXPECT_NE(none.err.find("--file: no APDU in stdin"), std::string::npos) << none.err;
    // Without a server the parse errors still say where to look.
    auto missing = run_args({url, "--token=t", "gp", "wrap"}, "");
    EXPECT_EQ(missing.code, 1);
    EXPECT_NE(missing.err.find("missing SESSION for 'kmsctl gp wrap'"), std::string::npos)
        << missing.err;
}

}  // namespace
}  // namespace kms::cli
