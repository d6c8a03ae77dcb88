// Unit tests of kmsctl's issue-3 commands without a server: the REST call each maps to
// (method, target, body), the local refusals (exit 1, nothing sent), the help texts, and the
// exit codes of 410 and 202.
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "cli/args.hpp"
#include "cli/exit_codes.hpp"
#include "cli/local_files.hpp"
#include "cli/requests.hpp"
#include "cli/runner.hpp"

namespace kms::cli {
namespace {

namespace fs = std::filesystem;

Invocation parse(std::vector<std::string> args) {
    return parse_arguments(args);
}

ApiCall call_of(std::vector<std::string> args) {
    return build_call(parse(std::move(args)));
}

Poco::JSON::Object::Ptr body_of(const ApiCall& call) {
    EXPECT_TRUE(call.body.has_value());
    Poco::JSON::Parser parser;
    return parser.parse(call.body.value_or("{}")).extract<Poco::JSON::Object::Ptr>();
}

/// The message of the UsageError build_call throws for @p args ("" and a failure if none).
std::string refusal(std::vector<std::string> args) {
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

using Args = std::vector<std::string>;

/// A scratch directory with files for the file options.
class KmsctlIssue3 : public ::testing::Test {
  protected:
    void SetUp() override {
        m_dir = fs::temp_directory_path() /
                ("kmsctl-issue3-" + std::to_string(::getpid()) + "-" +
                 ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(m_dir);
        fs::create_directories(m_dir);
    }
    void TearDown() override { fs::remove_all(m_dir); }
    std::string write(const std::string& name, const std::string& text) {
        std::ofstream(m_dir / name) << text;
        return (m_dir / name).string();
    }
    std::string path(const std::string& name) const { return (m_dir / name).string(); }

    fs::path m_dir;
};

const std::string kCsr =
    "-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n";
const std::string kComponent32 = std::string(64, 'a');  // 32 bytes of hex

// --- key create --trusted, principal create --csr-file ----------------------------------------

TEST_F(KmsctlIssue3, KeyCreateTrusted) {
    auto body = body_of(call_of(
        {"key", "create", "kek", "--algorithm", "AES-256", "--usage", "wrap,unwrap", "--trusted"}));
    EXPECT_TRUE(body->getValue<bool>("trusted"));
    // Not sent at all without --trusted (a kmsd without the field keeps working).
    EXPECT_FALSE(
        body_of(call_of({"key", "create", "k", "--algorithm", "AES-256", "--usage", "mac"}))
            ->has("trusted"));
    EXPECT_REFUSED((Args{"key", "create", "kek", "--algorithm", "AES-256", "--usage",
                         "wrap,encrypt", "--trusted"}),
                   "--trusted: a trusted key wraps or unwraps keys only; usage encrypt");
}

TEST_F(KmsctlIssue3, PrincipalCreateWithCsr) {
    const auto csr = write("alice.csr", kCsr);
    auto call = call_of({"principal", "create", "alice", "--role", "plugin", "--csr-file", csr,
                         "--cert-out", path("alice.pem")});
    EXPECT_EQ(call.target, "/v1/principals");
    EXPECT_EQ(body_of(call)->getValue<std::string>("csr"), kCsr);
    EXPECT_REFUSED(
        (Args{"principal", "create", "alice", "--role", "plugin", "--cert-out", path("x.pem")}),
        "--cert-out: give --csr-file too");
    EXPECT_REFUSED((Args{"principal", "create", "alice", "--role", "plugin", "--csr-file",
                         path("missing.csr")}),
                   "--csr-file: cannot read");
    const auto not_csr = write("cert.pem", "-----BEGIN CERTIFICATE-----\n");
    EXPECT_REFUSED(
        (Args{"principal", "create", "alice", "--role", "plugin", "--csr-file", not_csr}),
        "no PEM certificate request");
}

TEST_F(KmsctlIssue3, PrincipalCreateWithKeyOut) {
    // kmsctl makes the key and the CSR (CN = the name); the key stays with the call, unsent.
    auto call = call_of({"principal", "create", "array-1", "--role", "key-officer", "--key-out",
                         path("array-1.key"), "--cert-out", path("array-1.pem")});
    const std::string csr = body_of(call)->getValue<std::string>("csr");
    EXPECT_NE(csr.find("-----BEGIN CERTIFICATE REQUEST-----"), std::string::npos);
    ASSERT_TRUE(call.local_key_pem.has_value());
    EXPECT_NE(call.local_key_pem->find("-----BEGIN PRIVATE KEY-----"), std::string::npos);
    EXPECT_EQ(call.body->find("PRIVATE KEY"), std::string::npos);
    // A second call makes another key.
    auto again = call_of({"principal", "create", "array-1", "--role", "key-officer", "--key-out",
                          path("b.key"), "--cert-out", path("b.pem")});
    EXPECT_NE(*again.local_key_pem, *call.local_key_pem);
    EXPECT_REFUSED((Args{"principal", "create", "array-1", "--role", "key-officer", "--key-out",
                         path("k.key")}),
                   "--key-out: give --cert-out too");
    const auto csr_file = write("alice.csr", kCsr);
    EXPECT_REFUSED((Args{"principal", "create", "alice", "--role", "plugin", "--key-out",
                         path("k.key"), "--csr-file", csr_file, "--cert-out", path("c.pem")}),
                   "--key-out: kmsctl makes the key and its CSR; drop --csr-file");
}

// --- policies --------------------------------------------------------------------------------

TEST_F(KmsctlIssue3, Policies) {
    auto call = call_of({"policy", "set", "tsm1", "--keys", "k-1,tsm-*", "--keys", "k-1",
                         "--operation", "MAC,mac-verify", "--operation", "gp"});
    EXPECT_EQ(call.method, "PUT");
    EXPECT_EQ(call.target, "/v1/principals/tsm1/policy");
    auto body = body_of(call);
    ASSERT_EQ(body->getArray("keys")->size(), 2u);
    EXPECT_EQ(body->getArray("keys")->getElement<std::string>(1), "tsm-*");
    ASSERT_EQ(body->getArray("operations")->size(), 3u);
    EXPECT_EQ(body->getArray("operations")->getElement<std::string>(0), "mac");
    EXPECT_REFUSED((Args{"policy", "set", "tsm1", "--keys", "k-1", "--operation", "wrap"}),
                   "--operation: unknown value 'wrap'");
    EXPECT_REFUSED((Args{"policy", "set", "TSM", "--keys", "k-1", "--operation", "mac"}),
                   "NAME 'TSM'");
    EXPECT_REFUSED((Args{"policy", "set", "tsm1", "--keys", ",", "--operation", "mac"}),
                   "--keys: give at least one");
    auto show = call_of({"policy", "show", "tsm1"});
    EXPECT_EQ(show.method, "GET");
    EXPECT_EQ(show.target, "/v1/principals/tsm1/policy");
}

TEST_F(KmsctlIssue3, NoCommandOptionShadowsAGlobalOption) {
    // The parser takes a global option first: a command option of the same name (e.g. --key,
    // the mTLS key file) could never be given.
    for (const auto& c : all_commands())
        for (const auto& o : c.options)
            EXPECT_EQ(find_global_option(o.name), nullptr)
                << c.words << " --" << o.name << " is also a global option";
}

// --- export and import -----------------------------------------------------------------------

TEST_F(KmsctlIssue3, KeyExport) {
    auto call = call_of({"key", "export", "k-1", "--format", "aes-kwp", "--kek", "k-kek"});
    EXPECT_EQ(call.method, "POST");
    EXPECT_EQ(call.target, "/v1/keys/k-1/export");
    auto body = body_of(call);
    EXPECT_EQ(body->getValue<std::string>("format"), "AES-KWP");
    EXPECT_EQ(body->getValue<std::string>("kek"), "k-kek");
    EXPECT_FALSE(body->has("tr31"));

    auto tr31 = body_of(call_of({"key", "export", "k-1", "--format", "TR-31", "--kek", "k-kek",
                                 "--tr31-version", "b", "--tr31-exportability", "e"}))
                    ->getObject("tr31");
    EXPECT_EQ(tr31->getValue<std::string>("version"), "B");
    EXPECT_EQ(tr31->getValue<std::string>("exportability"), "E");

    EXPECT_REFUSED(
        (Args{"key", "export", "k-1", "--format", "AES-KW", "--kek", "k", "--tr31-version", "D"}),
        "--tr31-version: only with --format TR-31");
    EXPECT_REFUSED(
        (Args{"key", "export", "k-1", "--format", "TR-31", "--kek", "k", "--tr31-version", "C"}),
        "--tr31-version: unknown value 'C'");
    EXPECT_REFUSED((Args{"key", "export", "k-1", "--format", "TR-31", "--kek", "k",
                         "--tr31-exportability", "X"}),
                   "--tr31-exportability");
    EXPECT_REFUSED((Args{"key", "export", "k-1", "--format", "PKCS8", "--kek", "k"}),
                   "--format: unknown value 'PKCS8'");
    EXPECT_REFUSED((Args{"key", "export", "k-1", "--format", "AES-KW", "--kek", "a b"}), "--kek");
    EXPECT_THROW(parse({"key", "export", "k-1", "--format", "AES-KW"}), UsageError);  // no --kek
}

TEST_F(KmsctlIssue3, KeyImportWrapped) {
    const std::string wrapped40(80, 'b');  // AES-KWP of a 32-byte key: 40 bytes
    auto call = call_of({"key", "import", "copy", "--algorithm", "AES-256", "--usage", "mac",
                         "--format", "AES-KWP", "--kek", "k-kek", "--wrapped", wrapped40, "--kcv",
                         "abcdef", "--exportable", "--pre-active"});
    EXPECT_EQ(call.target, "/v1/keys/import");
    auto body = body_of(call);
    EXPECT_EQ(body->getValue<std::string>("name"), "copy");
    EXPECT_EQ(body->getValue<std::string>("format"), "AES-KWP");
    EXPECT_EQ(body->getValue<std::string>("kek"), "k-kek");
    EXPECT_EQ(body->getValue<std::string>("wrapped"), std::string(80, 'B'));
    EXPECT_EQ(body->getValue<std::string>("kcv"), "ABCDEF");
    EXPECT_TRUE(body->getValue<bool>("exportable"));
    EXPECT_FALSE(body->getValue<bool>("activate"));
    EXPECT_FALSE(body->has("trusted"));

    const Args base = {"key", "import", "c", "--algorithm", "AES-256", "--usage", "mac"};
    auto with = [&](Args extra) {
        Args a = base;
        a.insert(a.end(), extra.begin(), extra.end());
        return a;
    };
    EXPECT_REFUSED(with({"--format", "AES-KW", "--wrapped", std::string(48, 'a')}), "needs --kek");
    EXPECT_REFUSED(with({"--format", "AES-KW", "--kek", "k"}), "--format AES-KW needs --wrapped");
    EXPECT_REFUSED(with({"--format", "AES-KW", "--kek", "k", "--wrapped", std::string(44, 'a')}),
                   "multiple of 8 bytes");  // 22 bytes
    EXPECT_REFUSED(with({"--format", "AES-KW", "--kek", "k", "--wrapped", std::string(32, 'a')}),
                   "at least 24");  // 16 bytes: no room for the integrity block
    EXPECT_REFUSED(with({"--format", "AES-KWP", "--kek", "k", "--wrapped", "zz"}), "not hex");
    EXPECT_REFUSED(
        with({"--format", "RSA-OAEP-SHA256", "--kek", "k", "--wrapped", std::string(64, 'a')}),
        "256 or 384 bytes");
    EXPECT_REFUSED(with({"--format", "AES-KW", "--kek", "k", "--key-block", "D0016"}),
                   "--key-block: --format AES-KW takes --wrapped");
    EXPECT_REFUSED(with({"--format", "AES-KW", "--kek", "k", "--wrapped", std::string(48, 'a'),
                         "--key-block", "x"}),
                   "give the material once");
    EXPECT_REFUSED(with({"--format", "AES-KW", "--kek", "k", "--wrapped", std::string(48, 'a'),
                         "--kcv", "abcd"}),
                   "a KCV is 3 bytes");
    EXPECT_REFUSED(
        with({"--format", "AES-KW", "--kek", "k", "--wrapped", std::string(48, 'a'), "--trusted"}),
        "--trusted: a trusted key wraps or unwraps keys only");
    EXPECT_REFUSED((Args{"key", "import", "c", "--algorithm", "EC-P256", "--usage", "sign",
                         "--format", "AES-KW", "--kek", "k", "--wrapped", std::string(48, 'a')}),
                   "only symmetric keys");
    EXPECT_REFUSED(with({"--format", "DER", "--kek", "k"}), "--format: unknown value 'DER'");
}

TEST_F(KmsctlIssue3, KeyImportTr31) {
    // A block whose length field (0072) matches its 72 characters.
    const std::string block = "D0072D0AB00E0000" + std::string(56, '0');
    ASSERT_EQ(block.size(), 72u);
    auto inline_body = body_of(
        call_of({"key", "import", "t", "--algorithm", "AES-128", "--usage", "encrypt,decrypt",
                 "--format", "tr-31", "--kek", "k", "--key-block", block}));
    EXPECT_EQ(inline_body->getValue<std::string>("keyBlock"), block);
    EXPECT_FALSE(inline_body->has("wrapped"));
    const auto file = write("block.txt", block + "\n");
    EXPECT_EQ(body_of(call_of({"key", "import", "t", "--algorithm", "AES-128", "--usage", "encrypt",
                               "--format", "TR-31", "--kek", "k", "--key-block-file", file}))
                  ->getValue<std::string>("keyBlock"),
              block);  // the trailing newline is dropped

    const Args base = {"key",     "import",   "t",     "--algorithm", "AES-128", "--usage",
                       "encrypt", "--format", "TR-31", "--kek",       "k"};
    auto with = [&](Args extra) {
        Args a = base;
        a.insert(a.end(), extra.begin(), extra.end());
        return a;
    };
    EXPECT_REFUSED(with({"--key-block", "D0073" + block.substr(5)}), "length field says '0073'");
    EXPECT_REFUSED(with({"--key-block", "A" + block.substr(1)}), "version 'A' is not supported");
    EXPECT_REFUSED(with({"--key-block", "D0010"}), "at least 16 characters");
    EXPECT_REFUSED(with({"--wrapped", "00"}), "takes --key-block or --key-block-file");
    EXPECT_REFUSED(with({"--key-block-file", path("none.txt")}), "--key-block-file: cannot read");
}

TEST_F(KmsctlIssue3, KeyImportSpki) {
    const auto pem =
        write("pub.pem", "-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n");
    auto body = body_of(call_of({"key", "import", "partner", "--algorithm", "RSA-2048", "--usage",
                                 "wrap", "--format", "spki", "--public-key-file", pem}));
    EXPECT_EQ(body->getValue<std::string>("format"), "SPKI");
    EXPECT_NE(body->getValue<std::string>("publicKey").find("BEGIN PUBLIC KEY"), std::string::npos);
    EXPECT_FALSE(body->has("kek"));

    EXPECT_REFUSED((Args{"key", "import", "p", "--algorithm", "RSA-2048", "--usage", "wrap",
                         "--format", "SPKI", "--public-key-file", pem, "--kek", "k"}),
                   "--kek: SPKI imports a public key");
    EXPECT_REFUSED((Args{"key", "import", "p", "--algorithm", "AES-128", "--usage", "wrap",
                         "--format", "SPKI", "--public-key-file", pem}),
                   "EC or RSA public key");
    EXPECT_REFUSED((Args{"key", "import", "p", "--algorithm", "EC-P256", "--usage", "sign",
                         "--format", "SPKI", "--public-key-file", pem}),
                   "may only verify and/or wrap, not sign");
    EXPECT_REFUSED((Args{"key", "import", "p", "--algorithm", "EC-P256", "--usage", "verify",
                         "--format", "SPKI", "--wrapped", "00"}),
                   "takes --public-key-file");
    const auto not_pem = write("x.pem", "hello");
    EXPECT_REFUSED((Args{"key", "import", "p", "--algorithm", "EC-P256", "--usage", "verify",
                         "--format", "SPKI", "--public-key-file", not_pem}),
                   "no PEM public key");
}

// --- ceremonies ------------------------------------------------------------------------------

TEST_F(KmsctlIssue3, CeremonyCreate) {
    auto call =
        call_of({"ceremony", "create", "zmk", "--algorithm", "des3-2k", "--usage", "wrap,unwrap",
                 "--components", "3", "--kcv", "0a0b0c", "--trusted", "--expires-in", "600"});
    EXPECT_EQ(call.method, "POST");
    EXPECT_EQ(call.target, "/v1/ceremonies");
    auto body = body_of(call);
    EXPECT_EQ(body->getValue<std::string>("name"), "zmk");
    EXPECT_EQ(body->getValue<std::string>("algorithm"), "DES3-2K");
    EXPECT_EQ(body->getValue<int>("components"), 3);
    EXPECT_EQ(body->getValue<std::string>("kcv"), "0A0B0C");
    EXPECT_TRUE(body->getValue<bool>("trusted"));
    EXPECT_FALSE(body->has("exportable"));
    EXPECT_EQ(body->getValue<int>("expiresInSeconds"), 600);

    const Args base = {"ceremony", "create", "c", "--usage", "mac"};
    auto with = [&](Args extra) {
        Args a = base;
        a.insert(a.end(), extra.begin(), extra.end());
        return a;
    };
    EXPECT_REFUSED(with({"--algorithm", "AES-128", "--components", "4"}),
                   "--components: expected a whole number from 2 to 3");
    EXPECT_REFUSED(with({"--algorithm", "AES-128", "--components", "1"}), "from 2 to 3");
    EXPECT_REFUSED(with({"--algorithm", "HMAC-SHA256", "--components", "2"}),
                   "--algorithm: unknown value 'HMAC-SHA256'");
    EXPECT_REFUSED(with({"--algorithm", "RSA-2048", "--components", "2"}), "--algorithm");
    EXPECT_REFUSED(with({"--algorithm", "AES-128", "--components", "2", "--kcv", "0a0b0c0d"}),
                   "a KCV is 3 bytes");
    EXPECT_REFUSED(with({"--algorithm", "AES-128", "--components", "2", "--expires-in", "59"}),
                   "--expires-in: expected a whole number from 60 to 86400");
    EXPECT_REFUSED(with({"--algorithm", "AES-128", "--components", "2", "--trusted"}), "--trusted");
}

TEST_F(KmsctlIssue3, CeremonyComponentFromOptionAndFile) {
    auto call =
        call_of({"ceremony", "component", "c-01", "--component", kComponent32, "--kcv", "123abc"});
    EXPECT_EQ(call.method, "POST");
    EXPECT_EQ(call.target, "/v1/ceremonies/c-01/components");
    EXPECT_TRUE(call.secret_body);
    auto body = body_of(call);
    EXPECT_EQ(body->getValue<std::string>("component"), std::string(64, 'A'));
    EXPECT_EQ(body->getValue<std::string>("kcv"), "123ABC");

    for (std::size_t bytes : {16u, 24u, 32u}) {
        const auto file =
            write("c" + std::to_string(bytes), "  " + std::string(2 * bytes, '7') + "\r\n");
        auto from_file = body_of(call_of(
            {"ceremony", "component", "c-01", "--component-file", file, "--kcv", "000000"}));
        EXPECT_EQ(from_file->getValue<std::string>("component"), std::string(2 * bytes, '7'));
    }
}

TEST_F(KmsctlIssue3, CeremonyComponentRefusalsNeverEchoTheSecret) {
    const std::string secret = "0123456789abcdef0123456789abcde";  // 31 digits
    for (const Args& args :
         {Args{"ceremony", "component", "c", "--component", secret, "--kcv", "000000"},
          Args{"ceremony", "component", "c", "--component", secret + "x", "--kcv", "000000"},
          Args{"ceremony", "component", "c", "--component", std::string(40, 'a'), "--kcv",
               "000000"}}) {
        const std::string msg = refusal(args);
        EXPECT_NE(msg.find("--component"), std::string::npos) << msg;
        EXPECT_EQ(msg.find("0123456789"), std::string::npos) << msg;
        EXPECT_EQ(msg.find("aaaaaaaa"), std::string::npos) << msg;
    }
    EXPECT_REFUSED((Args{"ceremony", "component", "c", "--component", std::string(40, 'a'), "--kcv",
                         "000000"}),
                   "expected 16, 24, 32 bytes");
    EXPECT_REFUSED(
        (Args{"ceremony", "component", "c", "--component", secret + "x", "--kcv", "000000"}),
        "not hex at position 32");
    const auto file = write("bad", std::string(30, 'f') + "ZZ\n");
    const std::string msg =
        refusal({"ceremony", "component", "c", "--component-file", file, "--kcv", "000000"});
    EXPECT_NE(msg.find("--component-file: not hex at position 31"), std::string::npos) << msg;
    EXPECT_EQ(msg.find("ffff"), std::string::npos) << msg;

    EXPECT_REFUSED((Args{"ceremony", "component", "c", "--component", kComponent32,
                         "--component-file", file, "--kcv", "000000"}),
                   "give the component once");
    EXPECT_REFUSED((Args{"ceremony", "component", "c", "--kcv", "000000"}),
                   "--component-file FILE");
    EXPECT_REFUSED((Args{"ceremony", "component", "c", "--component", kComponent32, "--kcv", "00"}),
                   "a KCV is 3 bytes");
    EXPECT_REFUSED(
        (Args{"ceremony", "component", "c", "--component-file", path("none"), "--kcv", "000000"}),
        "--component-file: cannot read");
    EXPECT_THROW(parse({"ceremony", "component", "c", "--component", kComponent32}),
                 UsageError);  // --kcv is required
}

TEST_F(KmsctlIssue3, CeremonyShowListCancel) {
    EXPECT_EQ(call_of({"ceremony", "show", "c-1"}).target, "/v1/ceremonies/c-1");
    EXPECT_EQ(call_of({"ceremony", "list"}).target, "/v1/ceremonies");
    auto cancel = call_of({"ceremony", "cancel", "c-1"});
    EXPECT_EQ(cancel.method, "DELETE");
    EXPECT_EQ(cancel.target, "/v1/ceremonies/c-1");
    EXPECT_FALSE(cancel.body.has_value());
    EXPECT_REFUSED((Args{"ceremony", "show", "c 1"}), "ID 'c 1'");
}

// --- dual control ----------------------------------------------------------------------------

TEST_F(KmsctlIssue3, Quorums) {
    auto call = call_of({"quorum", "set", "key.export", "--approvals", "2", "--approver-role",
                         "admin,KEY-OFFICER", "--ttl", "3600"});
    EXPECT_EQ(call.method, "PUT");
    EXPECT_EQ(call.target, "/v1/quorums/key.export");
    auto body = body_of(call);
    EXPECT_EQ(body->getValue<int>("approvals"), 2);
    ASSERT_EQ(body->getArray("approverRoles")->size(), 2u);
    EXPECT_EQ(body->getArray("approverRoles")->getElement<std::string>(1), "key-officer");
    EXPECT_EQ(body->getValue<int>("ttlSeconds"), 3600);
    auto minimal = body_of(call_of({"quorum", "set", "principal.create", "--approvals", "1"}));
    EXPECT_FALSE(minimal->has("approverRoles"));  // kmsd's default: admin and key-officer
    EXPECT_FALSE(minimal->has("ttlSeconds"));

    EXPECT_REFUSED((Args{"quorum", "set", "key.export", "--approvals", "10"}), "from 1 to 9");
    EXPECT_REFUSED((Args{"quorum", "set", "key.export", "--approvals", "0"}), "from 1 to 9");
    EXPECT_REFUSED((Args{"quorum", "set", "key.create", "--approvals", "1"}),
                   "OP: unknown value 'key.create'");
    EXPECT_REFUSED(
        (Args{"quorum", "set", "key.export", "--approvals", "1", "--approver-role", "root"}),
        "--approver-role: unknown value 'root'");
    EXPECT_REFUSED((Args{"quorum", "set", "key.export", "--approvals", "1", "--ttl", "59"}),
                   "from 60 to 604800");
    EXPECT_EQ(call_of({"quorum", "list"}).target, "/v1/quorums");
    auto del = call_of({"quorum", "delete", "KEY.DESTROY"});
    EXPECT_EQ(del.method, "DELETE");
    EXPECT_EQ(del.target, "/v1/quorums/key.destroy");
}

TEST_F(KmsctlIssue3, Approvals) {
    EXPECT_EQ(call_of({"approval", "list"}).target, "/v1/approvals");
    EXPECT_EQ(call_of({"approval", "list", "--state", "Pending"}).target,
              "/v1/approvals?state=pending");
    EXPECT_REFUSED((Args{"approval", "list", "--state", "waiting"}), "--state: unknown value");
    EXPECT_EQ(call_of({"approval", "show", "a-1"}).target, "/v1/approvals/a-1");

    auto approve = call_of({"approval", "approve", "a-1", "--comment", "checked with Bob"});
    EXPECT_EQ(approve.method, "POST");
    EXPECT_EQ(approve.target, "/v1/approvals/a-1/approve");
    EXPECT_EQ(body_of(approve)->getValue<std::string>("comment"), "checked with Bob");
    auto reject = call_of({"approval", "reject", "a-1"});
    EXPECT_EQ(reject.target, "/v1/approvals/a-1/reject");
    EXPECT_EQ(reject.body, "{}");
    EXPECT_REFUSED((Args{"approval", "approve", "a-1", "--comment", std::string(1025, 'x')}),
                   "--comment: at most 1024");

    auto execute = call_of({"approval", "execute", "a-1", "--token-out", path("t")});
    EXPECT_EQ(execute.method, "POST");
    EXPECT_EQ(execute.target, "/v1/approvals/a-1/execute");
    EXPECT_FALSE(execute.body.has_value());
    EXPECT_REFUSED(
        (Args{"approval", "execute", "a-1", "--token-out", path("t"), "--out", path("t")}),
        "two different files");
}

// --- internal CA -----------------------------------------------------------------------------

TEST_F(KmsctlIssue3, CaIssue) {
    const auto csr = write("req.pem", kCsr);
    auto call =
        call_of({"ca", "issue", "--csr-file", csr, "--profile", "Client", "--validity-days", "825",
                 "--principal", "tsm1", "--out", path("c.pem"), "--chain-out", path("chain.pem")});
    EXPECT_EQ(call.method, "POST");
    EXPECT_EQ(call.target, "/v1/ca/certificates");
    auto body = body_of(call);
    EXPECT_EQ(body->getValue<std::string>("csr"), kCsr);
    EXPECT_EQ(body->getValue<std::string>("profile"), "client");
    EXPECT_EQ(body->getValue<int>("validityDays"), 825);
    EXPECT_EQ(body->getValue<std::string>("principal"), "tsm1");
    EXPECT_EQ(body_of(call_of({"ca", "issue", "--csr-file", csr, "--profile", "secure-element",
                               "--validity-days", "7305"}))
                  ->getValue<int>("validityDays"),
              7305);

    EXPECT_REFUSED(
        (Args{"ca", "issue", "--csr-file", csr, "--profile", "server", "--validity-days", "398"}),
        "--validity-days (server): expected a whole number from 1 to 397");
    EXPECT_REFUSED(
        (Args{"ca", "issue", "--csr-file", csr, "--profile", "client", "--validity-days", "826"}),
        "from 1 to 825");
    EXPECT_REFUSED(
        (Args{"ca", "issue", "--csr-file", csr, "--profile", "server", "--principal", "tsm1"}),
        "--principal: only a client certificate");
    EXPECT_REFUSED((Args{"ca", "issue", "--csr-file", csr, "--profile", "root"}),
                   "--profile: unknown value 'root'");
    EXPECT_REFUSED((Args{"ca", "issue", "--csr-file", path("none"), "--profile", "client"}),
                   "--csr-file: cannot read");
    EXPECT_REFUSED((Args{"ca", "issue", "--csr-file", csr, "--profile", "client", "--out",
                         path("x"), "--chain-out", path("x")}),
                   "two different files");
}

TEST_F(KmsctlIssue3, CaListShowRevokeCrlChain) {
    EXPECT_EQ(call_of({"ca", "list"}).target, "/v1/ca/certificates");
    EXPECT_EQ(call_of({"ca", "list", "--status", "Revoked", "--expiring-within-days", "30",
                       "--principal", "tsm1"})
                  .target,
              "/v1/ca/certificates?status=revoked&expiringWithinDays=30&principal=tsm1");
    EXPECT_REFUSED((Args{"ca", "list", "--status", "bad"}), "--status: unknown value");
    EXPECT_REFUSED((Args{"ca", "list", "--expiring-within-days", "-1"}), "expiring-within-days");

    EXPECT_EQ(call_of({"ca", "show", "0a1b"}).target, "/v1/ca/certificates/0A1B");
    EXPECT_REFUSED((Args{"ca", "show", "xyz"}), "SERIAL: not hex");
    EXPECT_REFUSED((Args{"ca", "show", std::string(42, '1')}), "1 to 20 bytes");

    auto revoke = call_of({"ca", "revoke", "0A1B", "--reason", "keycompromise"});
    EXPECT_EQ(revoke.target, "/v1/ca/certificates/0A1B/revoke");
    EXPECT_EQ(body_of(revoke)->getValue<std::string>("reason"), "keyCompromise");
    EXPECT_REFUSED((Args{"ca", "revoke", "0A1B", "--reason", "lost"}), "--reason: unknown value");

    auto pem = call_of({"ca", "crl", "--pem"});
    EXPECT_EQ(pem.target, "/v1/ca/crl?format=pem");
    EXPECT_FALSE(pem.needs_auth);
    EXPECT_TRUE(pem.raw_answer);
    auto der = call_of({"ca", "crl", "--out", path("crl.der")});
    EXPECT_EQ(der.target, "/v1/ca/crl");
    EXPECT_TRUE(der.raw_answer);
    EXPECT_REFUSED((Args{"ca", "crl"}), "binary DER; give --out FILE, or --pem");

    auto chain = call_of({"ca", "chain"});
    EXPECT_EQ(chain.target, "/v1/ca/chain");
    EXPECT_FALSE(chain.needs_auth);
    EXPECT_TRUE(chain.raw_answer);
}

// --- help, exit codes, local runs ------------------------------------------------------------

TEST_F(KmsctlIssue3, HelpTexts) {
    const std::string main = parse({"--help"}).help_text();
    for (const char* cmd :
         {"ceremony component ID", "key export ID", "key import NAME", "quorum set OP",
          "approval execute ID", "ca issue", "ca crl", "policy set NAME"})
        EXPECT_NE(main.find(cmd), std::string::npos) << cmd;
    EXPECT_NE(main.find("8  expired (HTTP 410)"), std::string::npos);
    EXPECT_NE(main.find("9  accepted, pending approval (HTTP 202)"), std::string::npos);
    EXPECT_NE(parse({"ca", "issue", "--help"}).help_text().find("--chain-out FILE"),
              std::string::npos);
    EXPECT_NE(parse({"key", "export", "--help"}).help_text().find("exits 9"), std::string::npos);
    EXPECT_NE(parse({"ceremony", "component", "-h"}).help_text().find("without echo"),
              std::string::npos);
    EXPECT_NE(parse({"ceremony", "--help"}).help_text().find("ceremony cancel ID"),
              std::string::npos);
}

TEST_F(KmsctlIssue3, ExitCodesOfExpiryAndPending) {
    EXPECT_EQ(exit_code_for_status(410), ExitCode::Expired);
    EXPECT_EQ(to_int(ExitCode::Expired), 8);
    EXPECT_EQ(to_int(ExitCode::PendingApproval), 9);
    EXPECT_EQ(exit_code_for_status(409), ExitCode::Rejected);
}

struct RunResult {
    int code;
    std::string out, err;
};

RunResult run_args(const std::vector<std::string>& args, bool tty, const std::string& input) {
    std::istringstream in(input);
    std::ostringstream out, err;
    Console console{in, out, err, tty};
    const int code = run_command_line(
        args, [](const std::string&) -> std::optional<std::string> { return std::nullopt; },
        console);
    return {code, out.str(), err.str()};
}

TEST_F(KmsctlIssue3, ComponentPromptWithoutEcho) {
    const std::string url = "--url=https://127.0.0.1:1";  // closed: the run stops at connect
    // Not a terminal and no component option: refused before anything is read or sent.
    auto no_tty = run_args({url, "--token=t", "ceremony", "component", "c-1", "--kcv", "000000"},
                           false, kComponent32 + "\n");
    EXPECT_EQ(no_tty.code, 1);
    EXPECT_NE(no_tty.err.find("stdin is not a terminal"), std::string::npos) << no_tty.err;

    // On a "terminal" the component is asked for, never shown, then validated and sent.
    auto asked = run_args({url, "--token=t", "ceremony", "component", "c-1", "--kcv", "000000"},
                          true, kComponent32 + "\n");
    EXPECT_EQ(asked.code, 6) << asked.err;  // it got as far as connecting
    EXPECT_NE(asked.err.find("Component for ceremony c-1 (hex, not shown)"), std::string::npos);
    EXPECT_EQ(asked.err.find(kComponent32), std::string::npos);
    EXPECT_EQ(asked.out.find(kComponent32), std::string::npos);

    auto short_input = run_args(
        {url, "--token=t", "ceremony", "component", "c-1", "--kcv", "000000"}, true, "abcd\n");
    EXPECT_EQ(short_input.code, 1);
    EXPECT_NE(short_input.err.find("expected 16, 24, 32 bytes"), std::string::npos);
    EXPECT_EQ(short_input.err.find("abcd"), std::string::npos);

    // A bad --kcv is reported before the prompt.
    auto bad_kcv = run_args({url, "--token=t", "ceremony", "component", "c-1", "--kcv", "0"}, true,
                            kComponent32 + "\n");
    EXPECT_EQ(bad_kcv.code, 1);
    EXPECT_EQ(bad_kcv.err.find("Component for"), std::string::npos);
}

TEST_F(KmsctlIssue3, OutputFilesAreCreatedFirstAndRemovedWhenNothingCame) {
    const std::string url = "--url=https://127.0.0.1:1";
    const auto existing = write("exists.pem", "old");
    auto refused = run_args({url, "--token=t", "key", "export", "k-1", "--format", "AES-KW",
                             "--kek", "k-2", "--out", existing},
                            false, "");
    EXPECT_EQ(refused.code, 1);
    EXPECT_NE(refused.err.find("--out: cannot create"), std::string::npos) << refused.err;
    std::ifstream kept(existing);
    std::string text((std::istreambuf_iterator<char>(kept)), std::istreambuf_iterator<char>());
    EXPECT_EQ(text, "old");  // never overwritten

    // Unreachable server: the file made before the request is removed again.
    auto unreachable = run_args({url, "--token=t", "key", "export", "k-1", "--format", "AES-KW",
                                 "--kek", "k-2", "--out", path("new.txt")},
                                false, "");
    EXPECT_EQ(unreachable.code, 6);
    EXPECT_FALSE(fs::exists(path("new.txt")));
}

TEST_F(KmsctlIssue3, OutputFileWriteAndRemove) {
    {
        OutputFile f("out", path("a"));
        EXPECT_TRUE(fs::exists(path("a")));
    }
    EXPECT_FALSE(fs::exists(path("a")));  // not written: removed
    {
        OutputFile f("out", path("b"));
        f.write("data\n", "lost");
    }
    ASSERT_TRUE(fs::exists(path("b")));
    EXPECT_EQ(fs::status(path("b")).permissions() & fs::perms::all,
              fs::perms::owner_read | fs::perms::owner_write);
    EXPECT_THROW(OutputFile("out", path("b")), UsageError);
    std::string s = "secret";
    wipe(s);
    EXPECT_TRUE(s.empty());
}

}  // namespace
}  // namespace kms::cli
