// cli suite, the failure paths: each class of failure ends kmsctl with its documented exit code
// and a one-line "kmsctl: ..." message on stderr, and usage errors never reach the server.
#include <filesystem>

#include "cli_fixture.hpp"

namespace kms::test {
namespace {

TEST_F(Cli, WrongTokenIsExit3) {
    auto r = ctl_as("not-a-valid-token-0000", {"key", "list"});
    EXPECT_EQ(r.code, 3) << r.err;
    EXPECT_EQ(r.err.rfind("kmsctl: ", 0), 0u) << r.err;
    EXPECT_NE(r.err.find("(unauthenticated, HTTP 401)"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("not-a-valid-token"), std::string::npos);  // never echoes the token
    EXPECT_TRUE(r.out.empty());
}

TEST_F(Cli, UnknownKeyIsExit4) {
    auto r = ctl({"key", "show", "no-such-key"});
    EXPECT_EQ(r.code, 4) << r.err;
    EXPECT_NE(r.err.find("(not_found, HTTP 404)"), std::string::npos) << r.err;
    EXPECT_EQ(ctl({"mac", "no-such-key", "--algorithm", "AES-CMAC", "--data", "00"}).code, 4);
}

TEST_F(Cli, ServerSideValidationIsExit2) {
    const std::string id = create_key(unique("cli-val"), "AES-128", "mac");
    // The key cannot sign: rejected by kmsd (4xx), not by kmsctl.
    auto r = ctl({"sign", id, "--algorithm", "ECDSA-SHA256", "--data", "00"});
    EXPECT_TRUE(r.code == 2 || r.code == 3) << r.code << " " << r.err;
    EXPECT_NE(r.err.find(", HTTP 4"), std::string::npos) << r.err;
}

TEST_F(Cli, BadArgumentsAreExit1WithoutContactingTheServer) {
    // Pointed at a port nothing listens on: contacting it would give exit 6, not 1.
    const std::vector<std::pair<std::string, std::string>> nowhere = {
        {"KMS_URL", "https://127.0.0.1:" + std::to_string(free_port())},
        {"KMS_CA", s_kmsd->ca_file()},
        {"KMS_TOKEN", "t0ken"}};
    struct Case {
        std::vector<std::string> args;
        std::string message;
    };
    const std::vector<Case> cases = {
        {{"mac", "k", "--algorithm", "AES-CMAC", "--data", "0G"}, "--data: not hex"},
        {{"mac", "k", "--algorithm", "AES-CMAC", "--data", "123"}, "even number"},
        {{"mac-verify", "k", "--algorithm", "AES-CMAC", "--data", "00", "--mac", "xx"}, "--mac"},
        {{"encrypt", "k", "--algorithm", "AES-GCM", "--plaintext", "00", "--iv", "0011"}, "--iv"},
        {{"random", "0"}, "from 1 to 4096"},
        {{"key", "list", "--limit", "5000"}, "--limit"},
        {{"key", "create", "n", "--algorithm", "AES-100", "--usage", "mac"}, "--algorithm"},
        {{"key", "revoke", "k", "--reason", "bored"}, "--reason"},
        {{"key", "show"}, "missing ID"},
        {{"frobnicate"}, "unknown command"},
    };
    for (const auto& c : cases) {
        auto r = run_kmsctl(c.args, nowhere);
        EXPECT_EQ(r.code, 1) << c.args[0] << ": " << r.err;
        EXPECT_NE(r.err.find(c.message), std::string::npos) << r.err;
        EXPECT_EQ(r.err.rfind("kmsctl: ", 0), 0u) << r.err;
    }
    // The same against the real server: still 1.
    auto real = ctl({"mac", "k", "--algorithm", "AES-CMAC", "--data", "ZZ"});
    EXPECT_EQ(real.code, 1) << real.err;
}

TEST_F(Cli, UnreachableOrUntrustedServerIsExit6) {
    auto closed =
        run_kmsctl({"health"}, {{"KMS_URL", "https://127.0.0.1:" + std::to_string(free_port())},
                                {"KMS_CA", s_kmsd->ca_file()}});
    EXPECT_EQ(closed.code, 6) << closed.err;
    EXPECT_NE(closed.err.find("cannot connect"), std::string::npos) << closed.err;

    // Without kmsd's CA the certificate is not trusted, and the token is never sent.
    auto untrusted = run_kmsctl({"whoami"}, {{"KMS_URL", s_kmsd->url()}, {"KMS_TOKEN", "x"}});
    EXPECT_EQ(untrusted.code, 6) << untrusted.err;
    EXPECT_NE(untrusted.err.find("certificate"), std::string::npos) << untrusted.err;

    // A CA file that is not kmsd's.
    auto wrong_ca = run_kmsctl(
        {"health"}, {{"KMS_URL", s_kmsd->url()}, {"KMS_CA", "/etc/ssl/certs/ca-certificates.crt"}});
    if (std::filesystem::exists("/etc/ssl/certs/ca-certificates.crt")) {
        EXPECT_EQ(wrong_ca.code, 6) << wrong_ca.err;
    }

    // By name: the certificate names localhost too, so the host check passes.
    auto by_name =
        run_kmsctl({"health"}, {{"KMS_URL", "https://localhost:" + std::to_string(s_kmsd->port())},
                                {"KMS_CA", s_kmsd->ca_file()}});
    EXPECT_EQ(by_name.code, 0) << by_name.err;
}

TEST_F(Cli, HelpAndJsonErrorsStayOnStderr) {
    auto help = run_kmsctl({"--help"});
    EXPECT_EQ(help.code, 0);
    EXPECT_NE(help.out.find("Exit codes:"), std::string::npos);
    auto sub = run_kmsctl({"key", "destroy", "--help"});
    EXPECT_EQ(sub.code, 0);
    EXPECT_NE(sub.out.find("--yes"), std::string::npos);

    auto r = ctl({"--json", "key", "show", "no-such-key"});
    EXPECT_EQ(r.code, 4);
    EXPECT_TRUE(r.out.empty()) << r.out;
    EXPECT_NE(r.err.find("HTTP 404"), std::string::npos);
}

}  // namespace
}  // namespace kms::test
