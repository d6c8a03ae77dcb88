// cli suite, issue 3: the real kmsctl against a real kmsd over TLS on 127.0.0.1 for key
// ceremonies (three principals made with `principal create --token-out`), export and import
// under a trusted KEK, dual control (202, a second admin's approval, execute), plugin policies
// and the internal CA (a CSR made by the openssl binary; openssl verify checks what kmsd
// issued, and the CRL after a revocation). Each test suite below starts its own kmsd, so the
// quorums set by one never gate another's requests.
#include <openssl/evp.h>
#include <openssl/params.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "cli_fixture.hpp"

namespace kms::test {
namespace {

namespace fs = std::filesystem;

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void write_file(const std::string& path, const std::string& text) {
    std::ofstream(path, std::ios::binary) << text;
}

std::string trim(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
    return s;
}

std::vector<unsigned char> from_hex(const std::string& hex) {
    std::vector<unsigned char> out;
    for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
        out.push_back(static_cast<unsigned char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
    return out;
}

std::string to_hex(const unsigned char* p, std::size_t n) {
    static const char* digits = "0123456789ABCDEF";
    std::string out;
    for (std::size_t i = 0; i < n; ++i) {
        out += digits[p[i] >> 4];
        out += digits[p[i] & 0x0F];
    }
    return out;
}

/// The AES key check value kmsd uses: the first 3 bytes of CMAC(K, 16 zero bytes), computed
/// here with OpenSSL independently of kmsd.
std::string aes_kcv(const std::string& key_hex) {
    const auto key = from_hex(key_hex);
    const char* cipher = key.size() == 16   ? "AES-128-CBC"
                         : key.size() == 24 ? "AES-192-CBC"
                                            : "AES-256-CBC";
    EVP_MAC* mac = EVP_MAC_fetch(nullptr, "CMAC", nullptr);
    EVP_MAC_CTX* ctx = EVP_MAC_CTX_new(mac);
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("cipher", const_cast<char*>(cipher), 0),
                           OSSL_PARAM_construct_end()};
    unsigned char zero[16] = {0}, out[16] = {0};
    std::size_t len = 0;
    const bool ok = EVP_MAC_init(ctx, key.data(), key.size(), params) == 1 &&
                    EVP_MAC_update(ctx, zero, sizeof zero) == 1 &&
                    EVP_MAC_final(ctx, out, &len, sizeof out) == 1;
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
    EXPECT_TRUE(ok);
    return to_hex(out, 3);
}

std::string xor_hex(const std::string& a, const std::string& b) {
    const auto x = from_hex(a), y = from_hex(b);
    std::vector<unsigned char> out(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) out[i] = x[i] ^ y[i];
    return to_hex(out.data(), out.size());
}

/// Runs a shell command (the openssl binary), returning its exit status; output goes to
/// @p log.
int shell(const std::string& command, const std::string& log) {
    const int rc = std::system((command + " >" + log + " 2>&1").c_str());
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

class CliIssue3 : public Cli {
  protected:
    /// A scratch directory for this test inside kmsd's temporary root (removed with it).
    static std::string scratch() {
        const std::string dir = s_kmsd->data_dir() + "/../cli-" + unique("t");
        fs::create_directories(dir);
        return fs::canonical(dir).string();
    }
    /// Creates a principal with `kmsctl principal create --token-out` and returns its token.
    static std::string make_principal(const std::string& name, const std::string& role) {
        const std::string file = scratch() + "/" + name + ".token";
        const auto r = ctl({"principal", "create", name, "--role", role, "--token-out", file});
        EXPECT_EQ(r.code, 0) << r.err;
        EXPECT_EQ(r.out.find(trim(read_file(file))), std::string::npos);  // never printed
        return trim(read_file(file));
    }
    static KmsctlResult ctl_json_as(const std::string& token, std::vector<std::string> args) {
        args.insert(args.begin(), "--json");
        return ctl_as(token, args);
    }
};

// ---- key ceremony ---------------------------------------------------------------------------

class CliCeremony : public CliIssue3 {};

TEST_F(CliCeremony, TwoCustodiansAssembleAKeyWithTheExpectedKcv) {
    const std::string officer = make_principal("ko-ceremony", "key-officer");
    const std::string cust1 = make_principal("cust1", "custodian");
    const std::string cust2 = make_principal("cust2", "custodian");
    const std::string c1 = "00112233445566778899AABBCCDDEEFF";
    const std::string c2 = "0F1E2D3C4B5A69788796A5B4C3D2E1F0";
    const std::string expected = aes_kcv(xor_hex(c1, c2));

    auto refused = ctl_as(cust1, {"ceremony", "create", "zmk", "--algorithm", "AES-128", "--usage",
                                  "wrap,unwrap", "--components", "2"});
    EXPECT_EQ(refused.code, 3) << refused.err;  // a custodian does not open ceremonies

    auto created =
        ctl_json_as(officer, {"ceremony", "create", "zmk-1", "--algorithm", "AES-128", "--usage",
                              "wrap,unwrap", "--components", "2", "--kcv", expected, "--trusted"});
    ASSERT_EQ(created.code, 0) << created.err;
    const std::string id = created.json()->getValue<std::string>("id");
    EXPECT_EQ(created.json()->getValue<std::string>("state"), "open");
    EXPECT_EQ(created.json()->getValue<int>("received"), 0);

    const std::string dir = scratch();
    write_file(dir + "/c1.hex", c1 + "\n");
    auto first = ctl_as(cust1, {"ceremony", "component", id, "--component-file", dir + "/c1.hex",
                                "--kcv", aes_kcv(c1)});
    ASSERT_EQ(first.code, 0) << first.err;
    EXPECT_EQ(label(first.out, "Received"), "1");
    EXPECT_EQ((first.out + first.err).find(c1), std::string::npos);  // never echoed
    EXPECT_EQ(read_file(dir + "/c1.hex"), c1 + "\n");  // the custodian's file is left alone

    auto twice =
        ctl_as(cust1, {"ceremony", "component", id, "--component", c2, "--kcv", aes_kcv(c2)});
    EXPECT_EQ(twice.code, 2) << twice.err;  // 409: one component per custodian
    EXPECT_NE(twice.err.find("HTTP 409"), std::string::npos) << twice.err;
    auto wrong_kcv =
        ctl_as(cust2, {"ceremony", "component", id, "--component", c2, "--kcv", "000000"});
    EXPECT_EQ(wrong_kcv.code, 2) << wrong_kcv.err;
    EXPECT_NE(wrong_kcv.err.find("verification_failed"), std::string::npos) << wrong_kcv.err;
    EXPECT_EQ(wrong_kcv.err.find(c2), std::string::npos);

    auto show_open = ctl_as(officer, {"ceremony", "show", id});
    ASSERT_EQ(show_open.code, 0) << show_open.err;
    EXPECT_EQ(label(show_open.out, "State"), "open");
    EXPECT_EQ(label(show_open.out, "Components"), "1 of 2 received");
    EXPECT_EQ(label(show_open.out, "Custodians"), "cust1");

    auto last =
        ctl_json_as(cust2, {"ceremony", "component", id, "--component", c2, "--kcv", aes_kcv(c2)});
    ASSERT_EQ(last.code, 0) << last.err;
    const auto key = last.json()->getObject("key");
    ASSERT_TRUE(key);
    EXPECT_EQ(key->getValue<std::string>("kcv"), expected);
    EXPECT_EQ(key->getValue<std::string>("state"), "Active");
    EXPECT_TRUE(key->getValue<bool>("trusted"));

    auto done = ctl({"ceremony", "show", id});
    ASSERT_EQ(done.code, 0) << done.err;
    EXPECT_EQ(label(done.out, "State"), "completed");
    EXPECT_EQ(label(done.out, "Key ID"), key->getValue<std::string>("id"));
    auto key_show = ctl({"key", "show", key->getValue<std::string>("id")});
    EXPECT_EQ(label(key_show.out, "KCV"), expected);
    EXPECT_EQ(label(key_show.out, "Trusted"), "yes");

    // A second ceremony, cancelled: listed with its state, and closed to components.
    auto other =
        ctl_json_as(officer, {"ceremony", "create", "zmk-2", "--algorithm", "AES-256", "--usage",
                              "encrypt", "--components", "3", "--expires-in", "600"});
    ASSERT_EQ(other.code, 0) << other.err;
    const std::string other_id = other.json()->getValue<std::string>("id");
    auto cancelled = ctl_as(officer, {"ceremony", "cancel", other_id});
    ASSERT_EQ(cancelled.code, 0) << cancelled.err;
    EXPECT_EQ(label(cancelled.out, "State"), "cancelled");
    auto late = ctl_as(cust1, {"ceremony", "component", other_id, "--component",
                               std::string(64, 'A'), "--kcv", aes_kcv(std::string(64, 'A'))});
    EXPECT_EQ(late.code, 2) << late.err;  // 409: not open
    auto listed = ctl({"ceremony", "list"});
    ASSERT_EQ(listed.code, 0) << listed.err;
    EXPECT_NE(listed.out.find(id), std::string::npos);
    EXPECT_NE(listed.out.find(other_id), std::string::npos);
    EXPECT_NE(listed.out.find("cancelled"), std::string::npos);
    EXPECT_EQ(ctl({"ceremony", "show", "c-00000000000000000000000000000000"}).code, 4);
}

// ---- export and import ----------------------------------------------------------------------

class CliExport : public CliIssue3 {};

TEST_F(CliExport, AesKwpExportUnderATrustedKekImportsBackWithTheSameKcv) {
    const std::string kek = create_key(unique("kek"), "AES-256", "wrap,unwrap", {"--trusted"});
    const std::string plain_kek = create_key(unique("plain-kek"), "AES-256", "wrap,unwrap");
    const std::string key =
        create_key(unique("payload"), "AES-128", "encrypt,decrypt", {"--exportable"});
    const std::string sealed = create_key(unique("sealed"), "AES-128", "encrypt,decrypt");
    EXPECT_EQ(label(ctl({"key", "show", kek}).out, "Trusted"), "yes");

    auto exported = ctl({"--json", "key", "export", key, "--format", "AES-KWP", "--kek", kek});
    ASSERT_EQ(exported.code, 0) << exported.err;
    const auto e = exported.json();
    const std::string wrapped = e->getValue<std::string>("wrapped");
    const std::string kcv = e->getValue<std::string>("kcv");
    EXPECT_EQ(wrapped.size(), 2u * 24);  // RFC 5649: 16-byte key + 8 bytes
    EXPECT_EQ(e->getValue<std::string>("format"), "AES-KWP");

    const std::string dir = scratch();
    auto to_file = ctl(
        {"key", "export", key, "--format", "AES-KWP", "--kek", kek, "--out", dir + "/wrapped.hex"});
    ASSERT_EQ(to_file.code, 0) << to_file.err;
    EXPECT_EQ(label(to_file.out, "Wrapped"), "written to " + dir + "/wrapped.hex");
    EXPECT_EQ(label(to_file.out, "KCV"), kcv);
    EXPECT_EQ(trim(read_file(dir + "/wrapped.hex")).size(), wrapped.size());
    struct stat st {};
    ASSERT_EQ(::stat((dir + "/wrapped.hex").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);

    auto imported = ctl({"--json", "key", "import", unique("copy"), "--algorithm", "AES-128",
                         "--usage", "encrypt,decrypt", "--format", "AES-KWP", "--kek", kek,
                         "--wrapped", wrapped, "--kcv", kcv});
    ASSERT_EQ(imported.code, 0) << imported.err;
    EXPECT_EQ(imported.json()->getValue<std::string>("kcv"), kcv);
    const std::string copy = imported.json()->getValue<std::string>("id");
    EXPECT_NE(copy, key);

    // The copy decrypts what the original encrypted: the same key.
    auto enc =
        ctl({"--json", "encrypt", key, "--algorithm", "AES-CBC-PAD", "--plaintext", "00112233"});
    ASSERT_EQ(enc.code, 0) << enc.err;
    auto dec = ctl({"decrypt", copy, "--algorithm", "AES-CBC-PAD", "--ciphertext",
                    enc.json()->getValue<std::string>("ciphertext"), "--iv",
                    enc.json()->getValue<std::string>("iv")});
    ASSERT_EQ(dec.code, 0) << dec.err;
    EXPECT_EQ(label(dec.out, "Plaintext"), "00112233");

    // Refusals by kmsd: a KCV that does not match, a key that is not exportable, a KEK that
    // is not trusted.
    auto bad_kcv =
        ctl({"key", "import", unique("copy2"), "--algorithm", "AES-128", "--usage", "encrypt",
             "--format", "AES-KWP", "--kek", kek, "--wrapped", wrapped, "--kcv", tamper(kcv)});
    EXPECT_EQ(bad_kcv.code, 2) << bad_kcv.err;
    EXPECT_NE(bad_kcv.err.find("verification_failed"), std::string::npos) << bad_kcv.err;
    auto not_exportable = ctl({"key", "export", sealed, "--format", "AES-KWP", "--kek", kek});
    EXPECT_NE(not_exportable.code, 0);
    EXPECT_NE(not_exportable.err.find("export"), std::string::npos) << not_exportable.err;
    auto untrusted = ctl({"key", "export", key, "--format", "AES-KWP", "--kek", plain_kek, "--out",
                          dir + "/never.hex"});
    EXPECT_NE(untrusted.code, 0);
    EXPECT_NE(untrusted.err.find("trusted"), std::string::npos) << untrusted.err;
    EXPECT_FALSE(fs::exists(dir + "/never.hex"));  // made before the request, removed again

    // Locally refused, nothing sent: a KCV of the wrong length.
    EXPECT_EQ(ctl({"key", "import", "x", "--algorithm", "AES-128", "--usage", "encrypt", "--format",
                   "AES-KWP", "--kek", kek, "--wrapped", wrapped, "--kcv", "00"})
                  .code,
              1);
}

TEST_F(CliExport, Tr31KeyBlockRoundTrip) {
    const std::string kek = create_key(unique("kek"), "AES-256", "wrap,unwrap", {"--trusted"});
    const std::string key =
        create_key(unique("payload"), "AES-128", "encrypt,decrypt", {"--exportable"});
    const std::string dir = scratch();
    auto exported = ctl({"key", "export", key, "--format", "TR-31", "--kek", kek, "--tr31-version",
                         "D", "--out", dir + "/block.txt"});
    ASSERT_EQ(exported.code, 0) << exported.err;
    const std::string block = trim(read_file(dir + "/block.txt"));
    ASSERT_FALSE(block.empty());
    EXPECT_EQ(block[0], 'D');
    EXPECT_EQ(std::stoul(block.substr(1, 4)), block.size());
    const std::string kcv = label(exported.out, "KCV");

    auto imported = ctl({"--json", "key", "import", unique("copy"), "--algorithm", "AES-128",
                         "--usage", "encrypt,decrypt", "--format", "TR-31", "--kek", kek,
                         "--key-block-file", dir + "/block.txt", "--kcv", kcv});
    ASSERT_EQ(imported.code, 0) << imported.err;
    EXPECT_EQ(imported.json()->getValue<std::string>("kcv"), kcv);
}

// ---- dual control ---------------------------------------------------------------------------

class CliDualControl : public CliIssue3 {};

TEST_F(CliDualControl, ExportWaitsForASecondAdminThenTheRequesterExecutes) {
    const std::string admin2 = make_principal("admin2", "admin");
    const std::string kek = create_key(unique("kek"), "AES-256", "wrap,unwrap", {"--trusted"});
    const std::string key = create_key(unique("k"), "AES-128", "encrypt", {"--exportable"});

    auto quorum = ctl({"quorum", "set", "key.export", "--approvals", "1", "--approver-role",
                       "admin", "--ttl", "3600"});
    ASSERT_EQ(quorum.code, 0) << quorum.err;
    EXPECT_EQ(label(quorum.out, "Operation"), "key.export");
    EXPECT_EQ(label(quorum.out, "Eligible"), "2");
    EXPECT_NE(ctl({"quorum", "list"}).out.find("key.export"), std::string::npos);

    const std::string dir = scratch();
    auto pending = ctl(
        {"key", "export", key, "--format", "AES-KW", "--kek", kek, "--out", dir + "/wrapped.hex"});
    ASSERT_EQ(pending.code, 9) << pending.out << pending.err;  // 202: waits for approval
    EXPECT_NE(pending.out.find("pending approval (HTTP 202)"), std::string::npos) << pending.out;
    const std::string id = label(pending.out, "Approval");
    ASSERT_EQ(id.rfind("a-", 0), 0u) << pending.out;
    EXPECT_EQ(label(pending.out, "State"), "pending");
    EXPECT_FALSE(fs::exists(dir + "/wrapped.hex"));  // nothing written yet
    EXPECT_NE(pending.err.find("approval execute " + id), std::string::npos) << pending.err;

    auto own_vote = ctl({"approval", "approve", id});
    EXPECT_EQ(own_vote.code, 3) << own_vote.err;  // the requester does not approve
    auto early = ctl({"approval", "execute", id});
    EXPECT_EQ(early.code, 2) << early.err;  // 409: not approved yet

    auto listed = ctl_as(admin2, {"approval", "list", "--state", "pending"});
    ASSERT_EQ(listed.code, 0) << listed.err;
    EXPECT_NE(listed.out.find(id), std::string::npos) << listed.out;
    auto approved = ctl_as(admin2, {"approval", "approve", id, "--comment", "checked"});
    ASSERT_EQ(approved.code, 0) << approved.err;
    EXPECT_EQ(label(approved.out, "State"), "approved");
    EXPECT_NE(approved.out.find("checked"), std::string::npos) << approved.out;

    auto executed = ctl({"approval", "execute", id, "--out", dir + "/wrapped.hex"});
    ASSERT_EQ(executed.code, 0) << executed.err;
    EXPECT_EQ(label(executed.out, "Wrapped"), "written to " + dir + "/wrapped.hex");
    EXPECT_EQ(trim(read_file(dir + "/wrapped.hex")).size(), 2u * 24);  // AES-KW of 16 bytes
    auto again = ctl({"approval", "execute", id});
    EXPECT_EQ(again.code, 2) << again.err;  // executed once only
    EXPECT_EQ(label(ctl({"approval", "show", id}).out, "State"), "executed");

    // A rejection ends a request.
    auto second = ctl({"--json", "key", "export", key, "--format", "AES-KW", "--kek", kek});
    ASSERT_EQ(second.code, 9) << second.err;
    const std::string second_id = second.json()->getValue<std::string>("id");
    auto rejected = ctl_as(admin2, {"approval", "reject", second_id, "--comment", "no"});
    ASSERT_EQ(rejected.code, 0) << rejected.err;
    EXPECT_EQ(label(rejected.out, "State"), "rejected");
    EXPECT_EQ(ctl({"approval", "execute", second_id}).code, 2);

    // Removing the quorum is itself decided under it.
    auto removal = ctl({"--json", "quorum", "delete", "key.export"});
    ASSERT_EQ(removal.code, 9) << removal.err;
    const std::string removal_id = removal.json()->getValue<std::string>("id");
    ASSERT_EQ(ctl_as(admin2, {"approval", "approve", removal_id}).code, 0);
    auto removed = ctl({"approval", "execute", removal_id});
    ASSERT_EQ(removed.code, 0) << removed.err;
    auto direct = ctl({"--json", "key", "export", key, "--format", "AES-KW", "--kek", kek});
    EXPECT_EQ(direct.code, 0) << direct.err;  // no quorum any more: runs at once
}

TEST_F(CliDualControl, PrincipalCreationExecutedWithTokenOut) {
    const std::string admin2 = make_principal("admin2b", "admin");
    ASSERT_EQ(ctl({"quorum", "set", "principal.create", "--approvals", "1"}).code, 0);
    const std::string dir = scratch();
    const std::string token_file = dir + "/late.token";
    auto pending = ctl(
        {"--json", "principal", "create", "late", "--role", "auditor", "--token-out", token_file});
    ASSERT_EQ(pending.code, 9) << pending.err;
    EXPECT_FALSE(fs::exists(token_file));
    const std::string id = pending.json()->getValue<std::string>("id");
    ASSERT_EQ(ctl_as(admin2, {"approval", "approve", id}).code, 0);
    auto executed = ctl({"approval", "execute", id, "--token-out", token_file});
    ASSERT_EQ(executed.code, 0) << executed.err;
    EXPECT_EQ(label(executed.out, "Token"), "written to " + token_file);
    EXPECT_EQ(label(executed.out, "Name"), "late");
    auto who = ctl_as(trim(read_file(token_file)), {"whoami"});
    ASSERT_EQ(who.code, 0) << who.err;
    EXPECT_EQ(label(who.out, "Name"), "late");
}

// ---- expiry: exit 8 ---------------------------------------------------------------------------

class CliExpiry : public CliIssue3 {};

// Waits out the shortest lifetimes kmsd allows (60 s) once, for a ceremony and an approval.
TEST_F(CliExpiry, ExpiredCeremonyAndApprovalExit8) {
    const std::string admin2 = make_principal("admin2c", "admin");
    const std::string cust = make_principal("cust-late", "custodian");
    auto ceremony = ctl({"--json", "ceremony", "create", "short", "--algorithm", "AES-128",
                         "--usage", "encrypt", "--components", "2", "--expires-in", "60"});
    ASSERT_EQ(ceremony.code, 0) << ceremony.err;
    const std::string ceremony_id = ceremony.json()->getValue<std::string>("id");
    ASSERT_EQ(ctl({"quorum", "set", "ceremony.create", "--approvals", "1", "--ttl", "60"}).code, 0);
    auto pending = ctl({"--json", "ceremony", "create", "gated", "--algorithm", "AES-128",
                        "--usage", "encrypt", "--components", "2"});
    ASSERT_EQ(pending.code, 9) << pending.err;
    const std::string approval_id = pending.json()->getValue<std::string>("id");

    std::this_thread::sleep_for(std::chrono::seconds(62));

    const std::string c = std::string(32, '1');
    auto late =
        ctl_as(cust, {"ceremony", "component", ceremony_id, "--component", c, "--kcv", aes_kcv(c)});
    EXPECT_EQ(late.code, 8) << late.err;
    EXPECT_NE(late.err.find("HTTP 410"), std::string::npos) << late.err;
    EXPECT_EQ(label(ctl({"ceremony", "show", ceremony_id}).out, "State"), "expired");
    auto vote = ctl_as(admin2, {"approval", "approve", approval_id});
    EXPECT_EQ(vote.code, 8) << vote.err;
    EXPECT_EQ(label(ctl({"approval", "show", approval_id}).out, "State"), "expired");
}

// ---- plugin policies ------------------------------------------------------------------------

class CliPolicy : public CliIssue3 {};

TEST_F(CliPolicy, SetAndShow) {
    make_principal("plug1", "plugin");
    const std::string key = create_key(unique("mac"), "AES-128", "mac");
    auto none = ctl({"policy", "show", "plug1"});
    ASSERT_EQ(none.code, 0) << none.err;
    EXPECT_NE(label(none.out, "Defined").find("no"), std::string::npos) << none.out;
    auto set =
        ctl({"policy", "set", "plug1", "--keys", key + ",tsm-*", "--operation", "mac,mac-verify"});
    ASSERT_EQ(set.code, 0) << set.err;
    EXPECT_EQ(label(set.out, "Keys"), key + ", tsm-*");
    EXPECT_EQ(label(set.out, "Operations"), "mac, mac-verify");
    EXPECT_EQ(label(ctl({"policy", "show", "plug1"}).out, "Operations"), "mac, mac-verify");
}

// ---- internal CA ----------------------------------------------------------------------------

class CliCa : public CliIssue3 {};

TEST_F(CliCa, IssueListRevokeAndCrl) {
    const std::string dir = scratch();
    ASSERT_EQ(shell("openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout " +
                        dir + "/svc.key -out " + dir + "/svc.csr -subj /CN=svc1",
                    dir + "/req.log"),
              0)
        << read_file(dir + "/req.log");

    auto issued = ctl({"ca", "issue", "--csr-file", dir + "/svc.csr", "--profile", "client",
                       "--validity-days", "30", "--out", dir + "/svc.pem", "--chain-out",
                       dir + "/chain.pem"});
    ASSERT_EQ(issued.code, 0) << issued.err;
    const std::string serial = label(issued.out, "Serial");
    ASSERT_FALSE(serial.empty()) << issued.out;
    EXPECT_EQ(label(issued.out, "Certificate"), "written to " + dir + "/svc.pem");
    EXPECT_NE(read_file(dir + "/svc.pem").find("BEGIN CERTIFICATE"), std::string::npos);
    const std::string root = s_kmsd->ca_file();
    const std::string verify =
        "openssl verify -CAfile " + root + " -untrusted " + dir + "/chain.pem ";
    const std::string leaf = dir + "/svc.pem";
    EXPECT_EQ(shell(verify + leaf, dir + "/verify.log"), 0) << read_file(dir + "/verify.log");

    auto listed = ctl({"ca", "list", "--status", "valid"});
    ASSERT_EQ(listed.code, 0) << listed.err;
    EXPECT_NE(listed.out.find(serial), std::string::npos) << listed.out;
    auto shown = ctl({"ca", "show", serial});
    ASSERT_EQ(shown.code, 0) << shown.err;
    EXPECT_NE(label(shown.out, "Subject").find("svc1"), std::string::npos) << shown.out;
    EXPECT_NE(shown.out.find("BEGIN CERTIFICATE"), std::string::npos);

    auto revoked = ctl({"ca", "revoke", serial, "--reason", "keyCompromise"});
    ASSERT_EQ(revoked.code, 0) << revoked.err;
    EXPECT_EQ(label(revoked.out, "Status"), "revoked");
    EXPECT_EQ(label(revoked.out, "Reason"), "keyCompromise");
    EXPECT_NE(ctl({"ca", "list", "--status", "revoked"}).out.find(serial), std::string::npos);
    EXPECT_EQ(ctl({"ca", "revoke", serial, "--reason", "superseded"}).code, 2);  // 409

    // The CRL needs no token: fetched with none configured at all.
    const std::vector<std::pair<std::string, std::string>> anonymous = {
        {"KMS_URL", s_kmsd->url()}, {"KMS_CA", s_kmsd->ca_file()}};
    auto der = run_kmsctl({"ca", "crl", "--out", dir + "/crl.der"}, anonymous);
    ASSERT_EQ(der.code, 0) << der.err;
    EXPECT_EQ(static_cast<unsigned char>(read_file(dir + "/crl.der")[0]), 0x30);  // DER SEQUENCE
    EXPECT_EQ(run_kmsctl({"ca", "crl"}, anonymous).code, 1);  // DER is not printed
    auto pem = run_kmsctl({"ca", "crl", "--pem"}, anonymous);
    ASSERT_EQ(pem.code, 0) << pem.err;
    EXPECT_NE(pem.out.find("BEGIN X509 CRL"), std::string::npos);
    write_file(dir + "/crl.pem", pem.out);
    EXPECT_NE(shell(verify + "-crl_check -CRLfile " + dir + "/crl.pem " + leaf, dir + "/crl.log"),
              0)
        << "the revoked certificate still verifies";
    EXPECT_NE(read_file(dir + "/crl.log").find("revoked"), std::string::npos)
        << read_file(dir + "/crl.log");

    auto chain = run_kmsctl({"ca", "chain"}, anonymous);
    ASSERT_EQ(chain.code, 0) << chain.err;
    std::size_t certs = 0;
    for (auto p = chain.out.find("BEGIN CERTIFICATE"); p != std::string::npos;
         p = chain.out.find("BEGIN CERTIFICATE", p + 1))
        ++certs;
    EXPECT_EQ(certs, 2u);  // issuing CA, root
}

TEST_F(CliCa, PrincipalWithAClientCertificateAuthenticatesOverMtls) {
    const std::string dir = scratch();
    ASSERT_EQ(shell("openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout " +
                        dir + "/tsm.key -out " + dir + "/tsm.csr -subj /CN=tsm-mtls",
                    dir + "/req.log"),
              0)
        << read_file(dir + "/req.log");
    auto created =
        ctl({"principal", "create", "tsm-mtls", "--role", "plugin", "--csr-file", dir + "/tsm.csr",
             "--cert-out", dir + "/tsm.pem", "--token-out", dir + "/tsm.token"});
    ASSERT_EQ(created.code, 0) << created.err;
    EXPECT_EQ(label(created.out, "Certificate"), "written to " + dir + "/tsm.pem");
    EXPECT_FALSE(label(created.out, "Certificate serial").empty()) << created.out;

    // No token at all: the client certificate is the credential.
    auto who = run_kmsctl({"whoami"}, {{"KMS_URL", s_kmsd->url()},
                                       {"KMS_CA", s_kmsd->ca_file()},
                                       {"KMS_CERT", dir + "/tsm.pem"},
                                       {"KMS_KEY", dir + "/tsm.key"}});
    ASSERT_EQ(who.code, 0) << who.err;
    EXPECT_EQ(label(who.out, "Name"), "tsm-mtls");

    // Its CN must be the principal's name.
    auto mismatch = ctl(
        {"principal", "create", "other-name", "--role", "plugin", "--csr-file", dir + "/tsm.csr"});
    EXPECT_EQ(mismatch.code, 2) << mismatch.err;
    EXPECT_NE(mismatch.err.find("csr"), std::string::npos) << mismatch.err;
}

}  // namespace
}  // namespace kms::test
