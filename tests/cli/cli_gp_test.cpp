// cli suite, issue 4: GlobalPlatform secure channels through the real kmsctl against a real kmsd
// over TLS on 127.0.0.1. The published static keys reach kmsd through key ceremonies run with
// kmsctl (two custodians, C1 = K xor C2), then a published SCP03 session runs through
// `kmsctl gp ...` and every APDU is compared with the published value, byte for byte:
//   osmocom/pysim tests/unittests/test_globalplatform.py SCP03_Test_AES128_33
//   (tests/vectors/gp_scp03.txt, read at run time), R-MAC and R-ENC included.
// Also: a plugin without a policy (exit 3), another principal's session (exit 4), a wrong card
// cryptogram and a wrong R-MAC (exit 2), a closed session (exit 4), and APDU scripts from a file
// and from stdin. One kmsd for the whole suite.
#include <openssl/evp.h>
#include <openssl/params.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "cli_fixture.hpp"

namespace kms::test {
namespace {

namespace fs = std::filesystem;

using Fields = std::map<std::string, std::string>;

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void write_file(const std::string& path, const std::string& text) {
    std::ofstream(path, std::ios::binary) << text;
}

std::string trim(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
    std::size_t start = 0;
    while (start < s.size() && (s[start] == ' ' || s[start] == '\t')) ++start;
    return s.substr(start);
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

std::string xor_hex(const std::string& a, const std::string& b) {
    const auto x = from_hex(a), y = from_hex(b);
    std::vector<unsigned char> out(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) out[i] = x[i] ^ y[i];
    return to_hex(out.data(), out.size());
}

/// The AES key check value kmsd's ceremonies use: the first 3 bytes of CMAC(K, 16 zero
/// bytes), computed with OpenSSL independently of kmsd.
std::string aes_cmac_kcv(const std::string& key_hex) {
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

/// ECB or CBC (zero IV) encryption without padding with OpenSSL: @p cipher "AES-128-CBC",
/// "DES-EDE3-ECB", ...
std::string encrypt_hex(const char* cipher_name, const std::string& key_hex,
                        const std::string& data_hex) {
    const auto key = from_hex(key_hex), data = from_hex(data_hex);
    EVP_CIPHER* cipher = EVP_CIPHER_fetch(nullptr, cipher_name, nullptr);
    EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
    unsigned char iv[16] = {0};
    std::vector<unsigned char> out(data.size() + 32);
    int n = 0, m = 0;
    const bool ok =
        cipher != nullptr && EVP_EncryptInit_ex(ctx, cipher, nullptr, key.data(), iv) == 1 &&
        EVP_CIPHER_CTX_set_padding(ctx, 0) == 1 &&
        EVP_EncryptUpdate(ctx, out.data(), &n, data.data(), static_cast<int>(data.size())) == 1 &&
        EVP_EncryptFinal_ex(ctx, out.data() + n, &m) == 1;
    EVP_CIPHER_CTX_free(ctx);
    EVP_CIPHER_free(cipher);
    EXPECT_TRUE(ok) << cipher_name;
    return to_hex(out.data(), static_cast<std::size_t>(n + m));
}

/// The DES3 key check value: the first 3 bytes of TDEA-ECB(K, 8 zero bytes); a two-key K is
/// used as K1 K2 K1.
std::string des3_kcv(const std::string& key_hex) {
    const std::string k3 = key_hex.size() == 32 ? key_hex + key_hex.substr(0, 16) : key_hex;
    return encrypt_hex("DES-EDE3-ECB", k3, std::string(16, '0')).substr(0, 6);
}


/// The cases of a vector file in $KMS_TEST_VECTORS: "key = value" lines, a blank line between
/// cases, '#' comments (the format of tests/vectors, README there).
std::vector<Fields> read_vectors(const std::string& name) {
    const char* dir = std::getenv("KMS_TEST_VECTORS");
    EXPECT_NE(dir, nullptr) << "KMS_TEST_VECTORS is not set";
    std::vector<Fields> cases;
    if (dir == nullptr) return cases;
    std::istringstream in(read_file(std::string(dir) + "/" + name));
    Fields current;
    for (std::string line; std::getline(in, line);) {
        line = trim(line);
        if (line.empty()) {
            if (!current.empty()) cases.push_back(std::move(current));
            current.clear();
            continue;
        }
        if (line[0] == '#') continue;
        const auto eq = line.find('=');
        if (eq == std::string::npos) continue;
        current[trim(line.substr(0, eq))] = trim(line.substr(eq + 1));
    }
    if (!current.empty()) cases.push_back(std::move(current));
    EXPECT_FALSE(cases.empty()) << name;
    return cases;
}

/// pySim SCP03_Test_AES128_33: the AES-128 session at security level 33.
Fields pysim_aes128_level33() {
    for (auto& c : read_vectors("gp_scp03.txt"))
        if (c["kind"] == "session" && c["security_level"] == "33" &&
            c["enc"] == "000102030405060708090A0B0C0D0E0F")
            return c;
    ADD_FAILURE() << "no SCP03 AES-128 level 33 session in gp_scp03.txt";
    return {};
}

/// The static DEK of the session (not part of pySim's vector, which needs none for wrapping).
const std::string kDek = "202122232425262728292A2B2C2D2E2F";
/// The AID of the security domain in pySim's test (ISD-R), as in tests/rest/rest_gp_test.cpp.
const std::string kAid = "A0000005591010FFFFFFFF8900000100";

class CliGp : public Cli {
  public:
    static void SetUpTestSuite() {
        Cli::SetUpTestSuite();
        s_officer = make_principal("gp-officer", "key-officer");
        s_cust1 = make_principal("gp-cust1", "custodian");
        s_cust2 = make_principal("gp-cust2", "custodian");
        s_tsm = make_principal("gp-tsm", "plugin");
        s_enc = ceremony_key("gp-cli-enc", "AES-128", "derive", "000102030405060708090A0B0C0D0E0F");
        s_mac = ceremony_key("gp-cli-mac", "AES-128", "derive", "101112131415161718191A1B1C1D1E1F");
        s_dek = ceremony_key("gp-cli-dek", "AES-128", "derive,wrap", kDek);
    }

  protected:
    static std::string scratch() {
        const std::string dir = s_kmsd->data_dir() + "/../cli-gp";
        fs::create_directories(dir);
        return fs::canonical(dir).string();
    }
    static std::string make_principal(const std::string& name, const std::string& role) {
        const std::string file = scratch() + "/" + name + ".token";
        const auto r = ctl({"principal", "create", name, "--role", role, "--token-out", file});
        EXPECT_EQ(r.code, 0) << r.err;
        return trim(read_file(file));
    }
    /// Loads @p key_hex into kmsd by a key ceremony of two custodians, all through kmsctl;
    /// returns the new key's id.
    static std::string ceremony_key(const std::string& name, const std::string& algorithm,
                                    const std::string& usage, const std::string& key_hex,
                                    const std::vector<std::string>& extra = {}) {
        const bool des = algorithm.rfind("DES3", 0) == 0;
        const std::string c2 = des ? "1F2E3D4C5B6A79880123456789ABCDEF"
                                   : std::string("0F1E2D3C4B5A69788796A5B4C3D2E1F0")
                                         .append("0F1E2D3C4B5A69788796A5B4C3D2E1F0")
                                         .substr(0, key_hex.size());
        const std::string c1 = xor_hex(key_hex, c2);
        auto kcv = [&](const std::string& k) { return des ? des3_kcv(k) : aes_cmac_kcv(k); };
        std::vector<std::string> args = {"--json",       "ceremony", "create",  name,
                                         "--algorithm",  algorithm,  "--usage", usage,
                                         "--components", "2",        "--kcv",   kcv(key_hex)};
        args.insert(args.end(), extra.begin(), extra.end());
        const auto created = ctl_as(s_officer, args);
        EXPECT_EQ(created.code, 0) << created.err;
        if (created.code != 0) return "none";
        const std::string id = created.json()->getValue<std::string>("id");
        const std::string f1 = scratch() + "/" + name + ".c1", f2 = scratch() + "/" + name + ".c2";
        write_file(f1, c1 + "\n");
        write_file(f2, c2 + "\n");
        const auto first = ctl_as(
            s_cust1, {"ceremony", "component", id, "--component-file", f1, "--kcv", kcv(c1)});
        EXPECT_EQ(first.code, 0) << first.err;
        const auto last = ctl_as(s_cust2, {"--json", "ceremony", "component", id,
                                           "--component-file", f2, "--kcv", kcv(c2)});
        EXPECT_EQ(last.code, 0) << last.err;
        if (last.code != 0) return "none";
        const auto key = last.json()->getObject("key");
        EXPECT_TRUE(key);
        return key ? key->getValue<std::string>("id") : "none";
    }
    /// kmsctl as @p token with stdin from the file @p input.
    static KmsctlResult ctl_stdin(const std::string& token, const std::vector<std::string>& args,
                                  const std::string& input) {
        return run_kmsctl(
            args, {{"KMS_URL", s_kmsd->url()}, {"KMS_CA", s_kmsd->ca_file()}, {"KMS_TOKEN", token}},
            120, input);
    }
    static std::vector<std::string> lines(const std::string& text) {
        std::vector<std::string> out;
        std::istringstream in(text);
        for (std::string l; std::getline(in, l);) out.push_back(l);
        return out;
    }
    static std::vector<std::string> strings(const Poco::JSON::Object::Ptr& o,
                                            const std::string& key) {
        std::vector<std::string> out;
        auto a = o->getArray(key);
        for (std::size_t i = 0; a && i < a->size(); ++i)
            out.push_back(a->getElement<std::string>(static_cast<unsigned>(i)));
        return out;
    }
    /// `gp session open` for the published SCP03 session as @p token; returns the session id.
    static KmsctlResult open_scp03(const std::string& token, const Fields& v) {
        return ctl_as(token, {"gp", "session", "open", "--protocol", "SCP03", "--i", "70", "--enc",
                              s_enc, "--mac", s_mac, "--dek", s_dek, "--key-version",
                              std::to_string(std::stoi(v.at("key_version"), nullptr, 16)),
                              "--host-challenge", v.at("host_challenge"), "--aid", kAid});
    }

    static inline std::string s_officer, s_cust1, s_cust2, s_tsm;
    static inline std::string s_enc, s_mac, s_dek;
};

TEST_F(CliGp, PublishedScp03Aes128Level33SessionThroughKmsctl) {
    const Fields v = pysim_aes128_level33();
    ASSERT_FALSE(v.empty());
    ASSERT_NE(s_enc, "none");
    ASSERT_NE(s_dek, "none");

    // A plugin needs "gp" on every key in its policy.
    auto denied = open_scp03(s_tsm, v);
    EXPECT_EQ(denied.code, 3) << denied.err;
    auto policy = ctl({"policy", "set", "gp-tsm", "--keys", "gp-cli-*", "--operation", "gp"});
    ASSERT_EQ(policy.code, 0) << policy.err;

    auto open = open_scp03(s_tsm, v);
    ASSERT_EQ(open.code, 0) << open.err;
    const std::string session = label(open.out, "Session");
    EXPECT_EQ(session.size(), 34u) << open.out;
    EXPECT_EQ(label(open.out, "INITIALIZE UPDATE"), v.at("initialize_update"));
    EXPECT_NE(open.err.find("kmsctl gp session authenticate " + session), std::string::npos);

    auto auth = ctl_as(
        s_tsm, {"gp", "session", "authenticate", session, "--response",
                v.at("initialize_update_response") + "9000", "--level", v.at("security_level")});
    ASSERT_EQ(auth.code, 0) << auth.err;
    EXPECT_EQ(label(auth.out, "EXTERNAL AUTHENTICATE"), v.at("external_authenticate"));

    // Only the opener sees the session.
    auto other = ctl({"gp", "wrap", session, v.at("plain_1")});
    EXPECT_EQ(other.code, 4) << other.err;

    // One APDU as an argument; the output is the wrapped APDU alone, ready for the card.
    auto w1 = ctl_as(s_tsm, {"gp", "wrap", session, v.at("plain_1")});
    ASSERT_EQ(w1.code, 0) << w1.err;
    EXPECT_EQ(w1.out, v.at("wrapped_1") + "\n");
    auto u1 = ctl_as(s_tsm, {"gp", "unwrap", session, v.at("response_1")});
    ASSERT_EQ(u1.code, 0) << u1.err;
    EXPECT_EQ(u1.out, v.at("unwrapped_1") + "\n");

    // Two as arguments in lower case, with --json.
    auto w23 =
        ctl_as(s_tsm, {"--json", "gp", "wrap", session, v.at("plain_2"), [&] {
                           std::string s = v.at("plain_3");
                           for (auto& c : s)
                               c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
                           return s;
                       }()});
    ASSERT_EQ(w23.code, 0) << w23.err;
    EXPECT_EQ(strings(w23.json(), "apdus"),
              (std::vector<std::string>{v.at("wrapped_2"), v.at("wrapped_3")}));

    // The rest as a script on stdin (comments, blank lines, spaces between bytes).
    std::string spaced;
    for (std::size_t i = 0; i < v.at("plain_4").size(); i += 2)
        spaced += v.at("plain_4").substr(i, 2) + " ";
    const std::string script = scratch() + "/level33.apdu";
    write_file(script, "# STORE DATA-like commands of pySim's test_06\n" + spaced + "\n\n" +
                           v.at("plain_5") + "\n");
    auto w45 = ctl_stdin(s_tsm, {"gp", "wrap", session, "--file", "-"}, script);
    ASSERT_EQ(w45.code, 0) << w45.err;
    EXPECT_EQ(lines(w45.out), (std::vector<std::string>{v.at("wrapped_4"), v.at("wrapped_5")}));

    // A response whose R-MAC does not verify.
    auto bad = ctl_as(s_tsm, {"gp", "unwrap", session, "00112233445566779000"});
    EXPECT_EQ(bad.code, 2) << bad.err;
    EXPECT_NE(bad.err.find("verification_failed, HTTP 400"), std::string::npos) << bad.err;

    EXPECT_EQ(ctl({"gp", "session", "close", session}).code, 4);  // not the admin's
    auto closed = ctl_as(s_tsm, {"gp", "session", "close", session});
    ASSERT_EQ(closed.code, 0) << closed.err;
    EXPECT_NE(closed.out.find("Closed: session " + session), std::string::npos) << closed.out;
    auto gone = ctl_as(s_tsm, {"gp", "wrap", session, v.at("plain_2")});
    EXPECT_EQ(gone.code, 4) << gone.err;
}

TEST_F(CliGp, WrongCardCryptogramExits2) {
    const Fields v = pysim_aes128_level33();
    ASSERT_FALSE(v.empty());
    auto open = open_scp03(s_officer, v);
    ASSERT_EQ(open.code, 0) << open.err;
    const std::string session = label(open.out, "Session");
    // The card cryptogram is bytes 21..28 of the response: change one of its bits.
    std::string response = v.at("initialize_update_response");
    response[42] = response[42] == '0' ? '1' : '0';
    auto wrong = ctl_as(s_officer, {"gp", "session", "authenticate", session, "--response",
                                    response, "--level", "33"});
    EXPECT_EQ(wrong.code, 2) << wrong.err;
    EXPECT_NE(wrong.err.find("verification_failed, HTTP 400"), std::string::npos) << wrong.err;
    EXPECT_TRUE(wrong.out.empty()) << wrong.out;

    // Refused locally (exit 1) before anything is sent: bad hex, a level of two bytes.
    auto local = ctl_as(s_officer, {"gp", "session", "authenticate", session, "--response",
                                    response, "--level", "0303"});
    EXPECT_EQ(local.code, 1) << local.err;
    EXPECT_NE(local.err.find("--level: expected 1 byte"), std::string::npos) << local.err;
    auto unknown = ctl({"gp", "session", "authenticate", "s-00000000000000000000000000000000",
                        "--response", v.at("initialize_update_response"), "--level", "33"});
    EXPECT_EQ(unknown.code, 4) << unknown.err;
    EXPECT_EQ(ctl_as(s_officer, {"gp", "session", "close", session}).code, 0);
}

TEST_F(CliGp, ApduScriptFromAFileAndItsErrors) {
    const Fields v = pysim_aes128_level33();
    ASSERT_FALSE(v.empty());
    auto open = open_scp03(s_officer, v);
    ASSERT_EQ(open.code, 0) << open.err;
    const std::string session = label(open.out, "Session");
    // Wrapping before EXTERNAL AUTHENTICATE is refused by kmsd (409: exit 2).
    auto early = ctl_as(s_officer, {"gp", "wrap", session, v.at("plain_1")});
    EXPECT_EQ(early.code, 2) << early.err;
    ASSERT_EQ(ctl_as(s_officer, {"gp", "session", "authenticate", session, "--response",
                                 v.at("initialize_update_response"), "--level", "33"})
                  .code,
              0);
    const std::string bad_script = scratch() + "/bad.apdu";
    write_file(bad_script, v.at("plain_1") + "\n80CA00\n");
    auto bad = ctl_as(s_officer, {"gp", "wrap", session, "--file", bad_script});
    EXPECT_EQ(bad.code, 1) << bad.err;
    EXPECT_NE(bad.err.find(bad_script + " line 2: expected 4 to 65544 bytes"), std::string::npos)
        << bad.err;

    // Nothing was sent, so the session still wraps the published first command first.
    const std::string script = scratch() + "/good.apdu";
    write_file(script, v.at("plain_1") + "\n" + v.at("plain_2") + "\n");
    auto good = ctl_as(s_officer, {"gp", "wrap", session, "--file", script});
    ASSERT_EQ(good.code, 0) << good.err;
    EXPECT_EQ(lines(good.out), (std::vector<std::string>{v.at("wrapped_1"), v.at("wrapped_2")}));
    EXPECT_EQ(ctl_as(s_officer, {"gp", "session", "close", session}).code, 0);
}

}  // namespace
}  // namespace kms::test
