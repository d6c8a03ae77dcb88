// Unit tests of kmsctl's argument handling without a server: parsing, validation, the REST call
// each command maps to, connection settings, and exit codes of failures caught locally.
#include "cli/args.hpp"

#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "cli/config.hpp"
#include "cli/exit_codes.hpp"
#include "cli/requests.hpp"
#include "cli/runner.hpp"
#include "cli/validate.hpp"

namespace kms::cli {
namespace {

namespace fs = std::filesystem;

Invocation parse(std::vector<std::string> args) {
    return parse_arguments(args);
}

Poco::JSON::Object::Ptr body_of(const ApiCall& call) {
    EXPECT_TRUE(call.body.has_value());
    Poco::JSON::Parser parser;
    return parser.parse(call.body.value_or("{}")).extract<Poco::JSON::Object::Ptr>();
}

/// The exit code and the text of a UsageError thrown by @p f.
template <class F>
std::string usage_error(F&& f) {
    try {
        f();
    } catch (const UsageError& e) {
        return e.what();
    }
    ADD_FAILURE() << "no UsageError";
    return {};
}

EnvLookup env_of(std::map<std::string, std::string> vars) {
    return [vars](const std::string& name) -> std::optional<std::string> {
        auto it = vars.find(name);
        if (it == vars.end()) return std::nullopt;
        return it->second;
    };
}

// --- parsing ---------------------------------------------------------------------------------

TEST(KmsctlArgs, ParsesCommandPositionalAndOptions) {
    auto inv = parse({"key", "create", "pay", "--algorithm", "AES-256", "--usage=mac,verify",
                      "--usage", "encrypt", "--pre-active"});
    ASSERT_NE(inv.command, nullptr);
    EXPECT_EQ(inv.command->id, CommandId::KeyCreate);
    EXPECT_EQ(inv.positional, "pay");
    EXPECT_EQ(inv.value("algorithm"), "AES-256");
    EXPECT_EQ(inv.values("usage"), (std::vector<std::string>{"mac,verify", "encrypt"}));
    EXPECT_TRUE(inv.has("pre-active"));
    EXPECT_FALSE(inv.has("exportable"));
    EXPECT_FALSE(inv.help);
}

TEST(KmsctlArgs, GlobalOptionsGoAnywhere) {
    auto inv = parse({"--url", "https://h:1", "key", "--json", "show", "k1", "--timeout=5",
                      "--token-file", "/t"});
    EXPECT_EQ(inv.command->id, CommandId::KeyShow);
    EXPECT_EQ(inv.global.url, "https://h:1");
    EXPECT_TRUE(inv.global.json);
    EXPECT_EQ(inv.global.timeout_seconds, 5);
    EXPECT_EQ(inv.global.token_file, "/t");
    EXPECT_EQ(inv.positional, "k1");
}

TEST(KmsctlArgs, DoubleDashAllowsArgumentsStartingWithDash) {
    auto inv = parse({"key", "show", "--", "-odd-id"});
    EXPECT_EQ(inv.positional, "-odd-id");
    EXPECT_NE(usage_error([] {
                  parse({"key", "show", "-odd-id"});
              }).find("'--'"),
              std::string::npos);
}

TEST(KmsctlArgs, HelpNeedsNoRequiredParts) {
    EXPECT_TRUE(parse({"--help"}).help);
    EXPECT_NE(parse({"--help"}).help_text().find("Exit codes"), std::string::npos);
    auto group = parse({"key", "--help"});
    EXPECT_TRUE(group.help);
    EXPECT_NE(group.help_text().find("key destroy ID"), std::string::npos);
    auto cmd = parse({"key", "create", "-h"});
    EXPECT_EQ(cmd.command->id, CommandId::KeyCreate);
    EXPECT_NE(cmd.help_text().find("--algorithm ALG"), std::string::npos);
    auto word = parse({"help", "mac-verify"});
    EXPECT_TRUE(word.help);
    EXPECT_NE(word.help_text().find("exit 7"), std::string::npos);
}

TEST(KmsctlArgs, RejectsBadCommandLines) {
    EXPECT_NE(usage_error([] { parse({}); }).find("no command"), std::string::npos);
    EXPECT_NE(usage_error([] { parse({"frob"}); }).find("unknown command 'frob'"),
              std::string::npos);
    EXPECT_NE(usage_error([] { parse({"key"}); }).find("needs a subcommand"), std::string::npos);
    EXPECT_NE(usage_error([] { parse({"key", "show"}); }).find("missing ID"), std::string::npos);
    EXPECT_NE(usage_error([] {
                  parse({"key", "show", "a", "b"});
              }).find("extra argument"),
              std::string::npos);
    EXPECT_NE(usage_error([] {
                  parse({"whoami", "x"});
              }).find("takes no argument"),
              std::string::npos);
    EXPECT_NE(usage_error([] {
                  parse({"key", "create", "n", "--usage", "mac"});
              }).find("missing --algorithm"),
              std::string::npos);
    EXPECT_NE(usage_error([] {
                  parse({"key", "show", "k", "--frob"});
              }).find("unknown option"),
              std::string::npos);
    EXPECT_NE(usage_error([] {
                  parse({"key", "show", "k", "--all"});
              }).find("unknown option"),
              std::string::npos);
    EXPECT_NE(usage_error([] {
                  parse({"mac", "k", "--algorithm", "AES-CMAC", "--data"});
              }).find("needs a value"),
              std::string::npos);
    EXPECT_NE(usage_error([] {
                  parse({"key", "list", "--all=yes"});
              }).find("takes no value"),
              std::string::npos);
    EXPECT_NE(usage_error([] {
                  parse({"key", "show", "k", "--url", "a", "--url", "b"});
              }).find("given twice"),
              std::string::npos);
    EXPECT_NE(usage_error([] {
                  parse({"--timeout", "0", "health"});
              }).find("--timeout"),
              std::string::npos);
    EXPECT_NE(usage_error([] {
                  parse({"--timeout", "5s", "health"});
              }).find("--timeout"),
              std::string::npos);
}

// --- validation ------------------------------------------------------------------------------

TEST(KmsctlValidate, Hex) {
    EXPECT_EQ(require_hex("--data", "00ffAb"), "00FFAB");
    EXPECT_EQ(require_hex("--data", ""), "");
    EXPECT_NE(usage_error([] { require_hex("--data", "0g"); }).find("'g' at position 2"),
              std::string::npos);
    EXPECT_NE(usage_error([] { require_hex("--data", "abc"); }).find("even number"),
              std::string::npos);
    EXPECT_NE(usage_error([] { require_hex("--iv", "00 11"); }).find("--iv"), std::string::npos);
}

TEST(KmsctlValidate, NumbersChoicesTimes) {
    EXPECT_EQ(require_int("N", "4096", 1, 4096), 4096);
    for (const char* bad : {"0", "4097", "-1", "+1", "1.5", "", " 1", "99999999999999999999"})
        EXPECT_THROW(require_int("N", bad, 1, 4096), UsageError) << bad;
    EXPECT_EQ(require_choice("--algorithm", "aes-cmac", mac_algorithm_names()), "AES-CMAC");
    EXPECT_EQ(require_choice("--state", "deactivated", key_state_names()), "Deactivated");
    EXPECT_NE(usage_error([] {
                  require_choice("--role", "root", role_names());
              }).find("expected one of admin, key-officer"),
              std::string::npos);
    for (const char* ok : {"2026-11-26T07:30:00Z", "2026-11-26T07:30:00.123Z",
                           "2024-02-29T23:59:60+05:30", "2026-01-01t00:00:00-00:00"})
        EXPECT_NO_THROW(require_rfc3339("--compromise-date", ok)) << ok;
    for (const char* bad : {"2026-11-26", "2026-11-26 07:30:00Z", "2026-13-01T00:00:00Z",
                            "2025-02-29T00:00:00Z", "2026-11-26T24:00:00Z", "2026-11-26T07:30:00",
                            "2026-11-26T07:30:00.Z", "2026-11-26T07:30:00+0530"})
        EXPECT_THROW(require_rfc3339("--compromise-date", bad), UsageError) << bad;
    // Normalized to the UTC "Z" form kmsd reads, fraction cut to milliseconds.
    EXPECT_EQ(require_rfc3339("t", "2026-11-26T07:30:00.123456Z"), "2026-11-26T07:30:00.123Z");
    EXPECT_EQ(require_rfc3339("t", "2026-11-26T01:30:00+05:30"), "2026-11-25T20:00:00Z");
    EXPECT_EQ(require_rfc3339("t", "2026-12-31T23:00:00-01:00"), "2027-01-01T00:00:00Z");
    EXPECT_EQ(split_commas("a,,b,"), (std::vector<std::string>{"a", "b"}));
}

// --- command -> REST call --------------------------------------------------------------------

TEST(KmsctlRequests, KeyCreate) {
    auto call = build_call(parse({"key", "create", "pay", "--algorithm", "aes-256", "--usage",
                                  "mac,Verify", "--usage", "mac", "--exportable"}));
    EXPECT_EQ(call.method, "POST");
    EXPECT_EQ(call.target, "/v1/keys");
    EXPECT_TRUE(call.needs_auth);
    auto body = body_of(call);
    EXPECT_EQ(body->getValue<std::string>("name"), "pay");
    EXPECT_EQ(body->getValue<std::string>("algorithm"), "AES-256");
    auto usage = body->getArray("usage");
    ASSERT_EQ(usage->size(), 2u);
    EXPECT_EQ(usage->getElement<std::string>(0), "mac");
    EXPECT_EQ(usage->getElement<std::string>(1), "verify");
    EXPECT_TRUE(body->getValue<bool>("activate"));
    EXPECT_TRUE(body->getValue<bool>("exportable"));
    EXPECT_FALSE(body_of(build_call(parse({"key", "create", "p", "--algorithm", "EC-P256",
                                           "--usage", "sign", "--pre-active"})))
                     ->getValue<bool>("activate"));
    EXPECT_THROW(
        build_call(parse({"key", "create", "p", "--algorithm", "AES-512", "--usage", "mac"})),
        UsageError);
    EXPECT_THROW(
        build_call(parse({"key", "create", "p", "--algorithm", "AES-128", "--usage", "mac,fly"})),
        UsageError);
}

TEST(KmsctlRequests, KeyListQueryAndCursor) {
    auto inv = parse({"key", "list", "--name-prefix", "pay ments/x", "--state", "active",
                      "--algorithm", "aes-128", "--limit", "5", "--after", "k-1"});
    EXPECT_EQ(build_call(inv).target,
              "/v1/keys?namePrefix=pay%20ments%2Fx&state=Active&algorithm=AES-128&limit=5&"
              "after=k-1");
    EXPECT_NE(build_call(inv, std::string("k-9")).target.find("after=k-9"), std::string::npos);
    EXPECT_EQ(build_call(parse({"key", "list"})).target, "/v1/keys");
    EXPECT_THROW(build_call(parse({"key", "list", "--limit", "1001"})), UsageError);
    EXPECT_THROW(build_call(parse({"key", "list", "--state", "Alive"})), UsageError);
    EXPECT_EQ(build_call(parse({"key", "list", "--usage", "mac"})).target, "/v1/keys?usage=mac");
    EXPECT_THROW(build_call(parse({"key", "list", "--usage", "fly"})), UsageError);
    EXPECT_EQ(build_call(parse({"audit", "list", "--from", "7", "--limit", "10"})).target,
              "/v1/audit?from=7&limit=10");
    EXPECT_EQ(build_call(parse({"audit", "list", "--from", "7"}), std::string("20")).target,
              "/v1/audit?from=20");
}

TEST(KmsctlRequests, KeyIdIsPercentEncoded) {
    EXPECT_EQ(build_call(parse({"key", "show", "a/b?c"})).target, "/v1/keys/a%2Fb%3Fc");
    EXPECT_EQ(build_call(parse({"mac-verify", "k", "--algorithm", "AES-CMAC", "--data", "00",
                                "--mac", "ab"}))
                  .target,
              "/v1/keys/k/mac/verify");
}

TEST(KmsctlRequests, LifecycleCalls) {
    auto deact = build_call(parse({"key", "deactivate", "k", "--reason", "rotated out"}));
    EXPECT_EQ(deact.target, "/v1/keys/k/deactivate");
    EXPECT_EQ(body_of(deact)->getValue<std::string>("reason"), "rotated out");
    EXPECT_EQ(build_call(parse({"key", "suspend", "k"})).body, "{}");
    auto destroy = build_call(parse({"key", "destroy", "k", "--yes"}));
    EXPECT_EQ(destroy.method, "DELETE");
    EXPECT_FALSE(destroy.body.has_value());
    EXPECT_EQ(body_of(build_call(parse({"key", "destroy", "k", "--reason", "r"})))
                  ->getValue<std::string>("reason"),
              "r");
    auto revoke = body_of(
        build_call(parse({"key", "revoke", "k", "--reason", "KEYCOMPROMISE", "--compromise-date",
                          "2026-11-26T07:30:00Z", "--message", "stolen"})));
    EXPECT_EQ(revoke->getValue<std::string>("reason"), "keyCompromise");
    EXPECT_EQ(revoke->getValue<std::string>("compromiseDate"), "2026-11-26T07:30:00Z");
    EXPECT_THROW(build_call(parse({"key", "revoke", "k", "--reason", "lost"})), UsageError);
    EXPECT_THROW(build_call(parse({"key", "revoke", "k", "--reason", "superseded",
                                   "--compromise-date", "yesterday"})),
                 UsageError);
    auto rotate = build_call(parse({"key", "rotate", "k"}));
    EXPECT_EQ(rotate.method, "POST");
    EXPECT_EQ(rotate.target, "/v1/keys/k/rotate");
    EXPECT_FALSE(rotate.body.has_value());
}

TEST(KmsctlRequests, CryptoBodiesAndChecks) {
    auto enc =
        body_of(build_call(parse({"encrypt", "k", "--algorithm", "aes-gcm", "--plaintext", "abcd",
                                  "--iv", "000102030405060708090a0b", "--aad", "ff"})));
    EXPECT_EQ(enc->getValue<std::string>("algorithm"), "AES-GCM");
    EXPECT_EQ(enc->getValue<std::string>("plaintext"), "ABCD");
    EXPECT_EQ(enc->getValue<std::string>("iv"), "000102030405060708090A0B");
    EXPECT_THROW(build_call(parse({"encrypt", "k", "--algorithm", "AES-GCM", "--plaintext", "00",
                                   "--iv", "00112233445566778899AABBCCDDEEFF"})),
                 UsageError);  // 16-byte IV for GCM
    EXPECT_THROW(build_call(parse({"encrypt", "k", "--algorithm", "AES-CBC-PAD", "--plaintext",
                                   "00", "--aad", "00"})),
                 UsageError);
    EXPECT_THROW(
        build_call(parse({"encrypt", "k", "--algorithm", "DES3-CBC", "--plaintext", "0011"})),
        UsageError);  // no padding: whole 8-byte blocks only
    EXPECT_NO_THROW(build_call(
        parse({"encrypt", "k", "--algorithm", "DES3-CBC", "--plaintext", "0011223344556677"})));
    auto dec = body_of(build_call(parse({"decrypt", "k", "--algorithm", "AES-CBC-PAD",
                                         "--ciphertext", "00112233445566778899aabbccddeeff", "--iv",
                                         "00112233445566778899aabbccddeeff", "--version", "2"})));
    EXPECT_EQ(dec->getValue<int>("version"), 2);
    auto verify = body_of(build_call(parse(
        {"verify", "k", "--algorithm", "ecdsa-sha256", "--data", "00", "--signature", "0a0b"})));
    EXPECT_EQ(verify->getValue<std::string>("signature"), "0A0B");
    EXPECT_FALSE(verify->has("version"));
    EXPECT_THROW(build_call(parse({"mac", "k", "--algorithm", "CBC-MAC", "--data", "00"})),
                 UsageError);
    EXPECT_THROW(build_call(parse({"mac-verify", "k", "--algorithm", "AES-CMAC", "--data", "00",
                                   "--mac", "xyz1"})),
                 UsageError);
    EXPECT_THROW(build_call(parse({"sign", "k", "--algorithm", "ECDSA-SHA256", "--data",
                                   std::string(2 * 1024 * 1024 + 2, 'a')})),
                 UsageError);  // over kmsd's 1 MiB body limit
    EXPECT_EQ(body_of(build_call(parse({"random", "32"})))->getValue<int>("length"), 32);
    EXPECT_THROW(build_call(parse({"random", "0"})), UsageError);
}

TEST(KmsctlRequests, PrincipalsAndUnauthenticatedCalls) {
    auto p = body_of(build_call(parse({"principal", "create", "alice", "--role", "Key-Officer",
                                       "--role", "auditor,key-officer"})));
    EXPECT_EQ(p->getValue<std::string>("name"), "alice");
    EXPECT_EQ(p->getArray("roles")->size(), 2u);
    EXPECT_THROW(build_call(parse({"principal", "create", "Alice", "--role", "admin"})),
                 UsageError);
    EXPECT_FALSE(build_call(parse({"health"})).needs_auth);
    EXPECT_EQ(build_call(parse({"health"})).target, "/healthz");
    EXPECT_FALSE(build_call(parse({"openapi"})).needs_auth);
    EXPECT_TRUE(build_call(parse({"hsm", "info"})).needs_auth);
}

// --- connection settings ---------------------------------------------------------------------

class KmsctlConfig : public ::testing::Test {
  protected:
    void SetUp() override {
        m_dir =
            fs::temp_directory_path() /
            ("kmsctl-args-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
             "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(m_dir);
        fs::create_directories(m_dir / "tls");
        write("kmsd.url", "https://127.0.0.1:8443\n");
        write("tls/ca.pem", "pem");
        write("admin.token", "secret-admin-token\n");
    }
    void TearDown() override { fs::remove_all(m_dir); }
    void write(const std::string& name, const std::string& text) {
        std::ofstream(m_dir / name) << text;
    }
    std::string dir() const { return m_dir.string(); }

    fs::path m_dir;
};

TEST_F(KmsctlConfig, DataDirGivesUrlCaAndToken) {
    GlobalOptions g;
    g.data_dir = dir();
    auto cfg = resolve_connection(g, true, env_of({}));
    EXPECT_EQ(cfg.host, "127.0.0.1");
    EXPECT_EQ(cfg.port, 8443);
    EXPECT_EQ(cfg.ca_file, dir() + "/tls/ca.pem");
    EXPECT_EQ(cfg.token, "secret-admin-token");
    EXPECT_EQ(cfg.timeout_seconds, kDefaultTimeoutSeconds);
    // The same from KMS_DATA_DIR.
    auto from_env = resolve_connection(GlobalOptions{}, true, env_of({{"KMS_DATA_DIR", dir()}}));
    EXPECT_EQ(from_env.token, "secret-admin-token");
}

TEST_F(KmsctlConfig, PrecedenceOptionThenDataDirThenEnvironment) {
    write("other.token", "other-token");
    GlobalOptions g;
    g.data_dir = dir();
    g.url = "https://localhost:9443/base/";
    auto env = env_of({{"KMS_URL", "https://10.0.0.1:1"}, {"KMS_TOKEN", "env-token"}});
    auto cfg = resolve_connection(g, true, env);
    EXPECT_EQ(cfg.host, "localhost");
    EXPECT_EQ(cfg.base_path, "/base");
    EXPECT_EQ(cfg.token, "secret-admin-token");  // --data-dir beats KMS_TOKEN
    g.token_file = dir() + "/other.token";
    EXPECT_EQ(resolve_connection(g, true, env).token, "other-token");
    GlobalOptions plain;
    plain.url = "https://h:1";
    EXPECT_EQ(resolve_connection(plain, true, env).token, "env-token");
    EXPECT_EQ(resolve_connection(GlobalOptions{}, true, env).host, "10.0.0.1");
}

TEST_F(KmsctlConfig, Rejections) {
    GlobalOptions g;
    EXPECT_NE(usage_error([&] { resolve_connection(g, false, env_of({})); }).find("no server URL"),
              std::string::npos);
    g.url = "http://127.0.0.1:1";
    EXPECT_NE(usage_error([&] { resolve_connection(g, false, env_of({})); }).find("HTTPS only"),
              std::string::npos);
    g.url = "https://127.0.0.1:1";
    EXPECT_NO_THROW(resolve_connection(g, false, env_of({})));  // health needs no token
    EXPECT_NE(usage_error([&] { resolve_connection(g, true, env_of({})); }).find("no credentials"),
              std::string::npos);
    g.token = "has space";
    const std::string msg = usage_error([&] { resolve_connection(g, true, env_of({})); });
    EXPECT_NE(msg.find("spaces"), std::string::npos);
    EXPECT_EQ(msg.find("has space"), std::string::npos);  // the token is never echoed
    g.token_file = "/nonexistent";
    EXPECT_NE(usage_error([&] { resolve_connection(g, true, env_of({})); }).find("not both"),
              std::string::npos);
    GlobalOptions missing_ca;
    missing_ca.url = "https://127.0.0.1:1";
    missing_ca.ca_file = dir() + "/none.pem";
    EXPECT_THROW(resolve_connection(missing_ca, false, env_of({})), UsageError);
}

TEST_F(KmsctlConfig, DataDirWithoutUrlMeansKmsdNotListening) {
    fs::remove(m_dir / "kmsd.url");
    GlobalOptions g;
    g.data_dir = dir();
    try {
        resolve_connection(g, true, env_of({}));
        FAIL() << "no error";
    } catch (const CliError& e) {
        EXPECT_EQ(e.code(), ExitCode::ConnectFailed);
    }
    g.data_dir = dir() + "/absent";
    EXPECT_THROW(resolve_connection(g, true, env_of({})), UsageError);
}

// --- whole runs that fail before the network -------------------------------------------------

struct RunResult {
    int code;
    std::string out, err;
};

RunResult run_args(std::vector<std::string> args, bool tty = false) {
    std::istringstream in("yes\n");
    std::ostringstream out, err;
    Console console{in, out, err, tty};
    const int code = run_command_line(args, env_of({}), console);
    return {code, out.str(), err.str()};
}

TEST(KmsctlRun, ExitCodesOfLocalFailures) {
    auto help = run_args({"--help"});
    EXPECT_EQ(help.code, 0);
    EXPECT_NE(help.out.find("7  a verification answered negative"), std::string::npos);
    // Port 1 on loopback is closed: a usage error exits 1 because nothing is sent at all.
    const std::string url = "--url=https://127.0.0.1:1";
    auto bad_hex =
        run_args({url, "--token=t", "mac", "k", "--algorithm", "AES-CMAC", "--data", "zz"});
    EXPECT_EQ(bad_hex.code, 1);
    EXPECT_EQ(bad_hex.err.rfind("kmsctl: --data: not hex", 0), 0u) << bad_hex.err;
    auto no_tty = run_args({url, "--token=t", "key", "destroy", "k"});
    EXPECT_EQ(no_tty.code, 1);
    EXPECT_NE(no_tty.err.find("not a terminal"), std::string::npos);
    auto unreachable = run_args({url, "--token=SeCrEt-ToKeN", "whoami"});
    EXPECT_EQ(unreachable.code, 6);
    EXPECT_NE(unreachable.err.find("cannot connect"), std::string::npos);
    EXPECT_EQ(unreachable.err.find("SeCrEt"), std::string::npos);
    EXPECT_EQ(run_args({"key", "frob"}).code, 1);
}

TEST(KmsctlRun, StatusToExitCode) {
    EXPECT_EQ(exit_code_for_status(400), ExitCode::Rejected);
    EXPECT_EQ(exit_code_for_status(409), ExitCode::Rejected);
    EXPECT_EQ(exit_code_for_status(413), ExitCode::Rejected);
    EXPECT_EQ(exit_code_for_status(401), ExitCode::AuthFailed);
    EXPECT_EQ(exit_code_for_status(403), ExitCode::AuthFailed);
    EXPECT_EQ(exit_code_for_status(404), ExitCode::NotFound);
    EXPECT_EQ(exit_code_for_status(500), ExitCode::ServerError);
    EXPECT_EQ(exit_code_for_status(503), ExitCode::ServerError);
}

}  // namespace
}  // namespace kms::cli
