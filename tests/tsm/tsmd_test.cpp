// tsmd, the plugin host, as a process on 127.0.0.1 over TLS, with the echo test plugin
// (echo_plugin.cpp, built only against plugin-api/tsm_plugin.h) loaded as two instances:
// routing by instance, each instance's own configuration and store namespace, the store
// surviving a restart, answers the host must supply (none, two), size limits, and start-up
// refusals (missing library, create() refusing, a newer ABI, bad configuration).
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

#include "kmsd_process.hpp"

namespace kms::test {
namespace {

std::string env(const char* name) {
    const char* v = std::getenv(name);
    if (v == nullptr || *v == '\0') throw std::runtime_error(std::string(name) + " is not set");
    return v;
}

void write(const std::string& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out) throw std::runtime_error("cannot write " + path);
}

/// A self-signed P-256 certificate for 127.0.0.1 (CN and IP SAN) and localhost; writes
/// DIR/tsmd.crt and DIR/tsmd.key.
void make_server_certificate(const std::string& dir) {
    EVP_PKEY* k = EVP_EC_gen("P-256");
    X509* x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_NAME* n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8,
                               reinterpret_cast<const unsigned char*>("127.0.0.1"), -1, -1, 0);
    X509_set_issuer_name(x, n);
    X509_set_pubkey(x, k);
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, x, x, nullptr, nullptr, 0);
    for (auto [nid, value] : {std::pair{NID_subject_alt_name, "IP:127.0.0.1,DNS:localhost"},
                              std::pair{NID_basic_constraints, "critical,CA:TRUE"}}) {
        X509_EXTENSION* e = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
        X509_add_ext(x, e, -1);
        X509_EXTENSION_free(e);
    }
    X509_sign(x, k, EVP_sha256());
    FILE* f = std::fopen((dir + "/tsmd.crt").c_str(), "w");
    PEM_write_X509(f, x);
    std::fclose(f);
    f = std::fopen((dir + "/tsmd.key").c_str(), "w");
    PEM_write_PrivateKey(f, k, nullptr, nullptr, 0, nullptr, nullptr);
    std::fclose(f);
    X509_free(x);
    EVP_PKEY_free(k);
}

/// tsmd with a configuration in its own temporary folder.
class TsmdProcess {
  public:
    explicit TsmdProcess(const std::string& plugins_json) {
        char tmpl[] = "/tmp/tsmd-test-XXXXXX";
        if (::mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp");
        m_dir = tmpl;
        make_server_certificate(m_dir);
        m_port = free_port();
        write(config(), "{\"listen\":\"127.0.0.1:" + std::to_string(m_port) +
                            "\",\"tls\":{\"certificate\":\"tsmd.crt\",\"key\":\"tsmd.key\"},"
                            "\"store\":\"store\",\"maxBodyBytes\":4096,\"plugins\":" +
                            plugins_json + "}");
    }
    ~TsmdProcess() {
        stop();
        std::error_code ec;
        std::filesystem::remove_all(m_dir, ec);
    }
    std::string config() const { return m_dir + "/tsmd.json"; }
    std::string log() const { return slurp(m_dir + "/tsmd.log"); }

    /// Starts tsmd; true once it printed "listening", false when it exited (exit_code()).
    bool start() {
        const std::size_t before = log().size();
        m_pid = spawn({env("TSMD"), "--config", config()}, m_dir + "/tsmd.log");
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
        while (std::chrono::steady_clock::now() < deadline) {
            if (log().find("listening", before) != std::string::npos) return true;
            const int rc = wait_exit(m_pid, 0);
            if (rc != -1000) {
                m_pid = -1;
                m_exit = rc;
                return false;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        throw std::runtime_error("tsmd did not start: " + log());
    }
    int stop() {
        if (m_pid <= 0) return -1;
        ::kill(m_pid, SIGTERM);
        const int rc = wait_exit(m_pid, 10000);
        m_pid = -1;
        return rc;
    }
    int exit_code() const { return m_exit; }
    HttpsClient client() const {
        return HttpsClient("127.0.0.1", m_port, m_dir + "/tsmd.crt");
    }

  private:
    std::string m_dir;
    int m_port = 0;
    pid_t m_pid = -1;
    int m_exit = 0;
};

std::string instance(const std::string& name, const std::string& library,
                     const std::string& config) {
    return "{\"instance\":\"" + name + "\",\"library\":\"" + library + "\",\"config\":" + config +
           "}";
}

TEST(Tsmd, RoutesEachInstanceWithItsOwnConfigurationAndStore) {
    const std::string echo = env("TSM_ECHO_PLUGIN");
    TsmdProcess t("[" + instance("alpha", echo, R"({"colour":"red"})") + "," +
                  instance("beta", echo, R"({"colour":"blue"})") + "]");
    ASSERT_TRUE(t.start()) << t.log();
    HttpsClient c = t.client();
    auto h = c.get("/healthz", "");
    EXPECT_EQ(h.status, 200);
    EXPECT_EQ(h.body, R"({"status":"ok","instances":["alpha","beta"]})");

    auto e = c.post("/alpha/echo", R"({"hello":"card"})", "");
    EXPECT_EQ(e.status, 200);
    EXPECT_EQ(e.body, R"({"hello":"card"})");
    EXPECT_EQ(c.get("/alpha/whoami?x=1", "").body,
              R"({"config":{"colour":"red"},"client":"","query":"x=1"})");
    EXPECT_EQ(c.get("/beta/whoami", "").body,
              R"({"config":{"colour":"blue"},"client":"","query":""})");

    // Each instance has its own store namespace; values longer than the plugin's first buffer
    // come back whole.
    const std::string value(100, 'v');
    EXPECT_EQ(c.request("PUT", "/alpha/kv/cards/se-1", value, "").status, 204);
    EXPECT_EQ(c.get("/alpha/kv/cards/se-1", "").body, value);
    EXPECT_EQ(c.get("/beta/kv/cards/se-1", "").status, 404);
    EXPECT_EQ(c.request("PUT", "/beta/kv/cards/se-1", "b", "").status, 204);
    EXPECT_EQ(c.get("/alpha/kv/cards/se-1", "").body, value);

    // Durable: a restarted tsmd still has both.
    ASSERT_EQ(t.stop(), 0) << t.log();
    EXPECT_NE(t.log().find("stopped"), std::string::npos);
    ASSERT_TRUE(t.start()) << t.log();
    HttpsClient c2 = t.client();
    EXPECT_EQ(c2.get("/alpha/kv/cards/se-1", "").body, value);
    EXPECT_EQ(c2.get("/beta/kv/cards/se-1", "").body, "b");
    EXPECT_EQ(c2.request("DELETE", "/alpha/kv/cards/se-1", "", "").status, 204);
    EXPECT_EQ(c2.get("/alpha/kv/cards/se-1", "").status, 404);
    EXPECT_EQ(c2.request("DELETE", "/alpha/kv/cards/se-1", "", "").status, 404);
    EXPECT_EQ(c2.get("/beta/kv/cards/se-1", "").body, "b");
}

TEST(Tsmd, TheHostAnswersForPluginsThatDoNotAndRefusesWhatIsTooLarge) {
    TsmdProcess t("[" + instance("alpha", env("TSM_ECHO_PLUGIN"), "{}") + "]");
    ASSERT_TRUE(t.start()) << t.log();
    HttpsClient c = t.client();
    auto silent = c.get("/alpha/silent", "");
    EXPECT_EQ(silent.status, 500);
    EXPECT_EQ(silent.json()->getValue<std::string>("error"), "plugin_error");
    auto twice = c.get("/alpha/twice", "");
    EXPECT_EQ(twice.status, 200);
    EXPECT_EQ(twice.body, R"({"first":true})");
    EXPECT_NE(t.log().find("answered a request twice"), std::string::npos) << t.log();
    auto none = c.get("/gamma/echo", "");
    EXPECT_EQ(none.status, 404);
    EXPECT_EQ(none.json()->getValue<std::string>("error"), "not_found");
    // A store key the store refuses (more than 200 characters) is the plugin's 400.
    EXPECT_EQ(c.request("PUT", "/alpha/kv/t/" + std::string(201, 'k'), "x", "").status, 400);
    HttpsClient big = t.client();
    auto too_large = big.post("/alpha/echo", std::string(5000, 'x'), "");
    EXPECT_EQ(too_large.status, 413);
    // The host still serves after all of that.
    EXPECT_EQ(t.client().post("/alpha/echo", "{}", "").status, 200);
}

TEST(Tsmd, StartUpRefusalsNameTheInstanceAndTheReason) {
    const std::string echo = env("TSM_ECHO_PLUGIN");
    struct Case {
        std::string plugins, expected;
    } cases[] = {
        {"[" + instance("alpha", "/nonexistent/libnothing.so", "{}") + "]", "cannot load"},
        {"[" + instance("alpha", echo, R"({"mode":"refuse"})") + "]",
         "create() refused: echo: refused by configuration"},
        {"[" + instance("alpha", env("TSM_ECHO_PLUGIN_V2"), "{}") + "]",
         "built for plugin ABI version 2, this tsmd has 1"},
        {"[" + instance("a/b", echo, "{}") + "]", "plugin instance name 'a/b'"},
        {"[" + instance("alpha", echo, "{}") + "," + instance("alpha", echo, "{}") + "]",
         "instance 'alpha' appears twice"},
        {"[]", "plugins (a list of at least one instance) is required"},
    };
    for (const Case& k : cases) {
        TsmdProcess t(k.plugins);
        EXPECT_FALSE(t.start()) << k.plugins;
        EXPECT_EQ(t.exit_code(), 78) << k.plugins << "\n" << t.log();
        EXPECT_NE(t.log().find(k.expected), std::string::npos) << t.log();
    }
    const pid_t pid = spawn({env("TSMD"), "--bogus"}, "/dev/null");
    EXPECT_EQ(wait_exit(pid, 10000), 64);
}

}  // namespace
}  // namespace kms::test
