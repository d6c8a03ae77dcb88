// Test support for the tsm suite: tsmd as a process on 127.0.0.1 over TLS, with its own
// temporary folder (configuration, self-signed server certificate, TSM store, log), started and
// stopped by PID, optionally requiring client certificates (mTLS). Used by the tsm suite's tests.
#pragma once

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>

#include "kmsd_process.hpp"

namespace kms::test {

inline std::string env(const char* name) {
    const char* v = std::getenv(name);
    if (v == nullptr || *v == '\0') throw std::runtime_error(std::string(name) + " is not set");
    return v;
}

inline void write(const std::string& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out) throw std::runtime_error("cannot write " + path);
}

/// A self-signed P-256 certificate for 127.0.0.1 (CN and IP SAN) and localhost; writes
/// DIR/tsmd.crt and DIR/tsmd.key.
inline void make_server_certificate(const std::string& dir) {
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
    /// @p store: the TSM store's folder, relative to this tsmd's folder or absolute (two tsmd
    /// processes may share one). @p client_ca: a CA file; when given, tsmd requires client
    /// certificates from it (mTLS) and hands their CN to the plugins.
    explicit TsmdProcess(const std::string& plugins_json, const std::string& store = "store",
                         const std::string& client_ca = "") {
        char tmpl[] = "/tmp/tsmd-test-XXXXXX";
        if (::mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp");
        m_dir = tmpl;
        make_server_certificate(m_dir);
        m_port = free_port();
        write(config(), "{\"listen\":\"127.0.0.1:" + std::to_string(m_port) +
                            "\",\"tls\":{\"certificate\":\"tsmd.crt\",\"key\":\"tsmd.key\"" +
                            (client_ca.empty() ? "" : ",\"clientCa\":\"" + client_ca + "\"") +
                            "},"
                            "\"store\":\"" +
                            store + "\",\"maxBodyBytes\":4096,\"plugins\":" + plugins_json + "}");
    }
    TsmdProcess(const TsmdProcess&) = delete;
    TsmdProcess& operator=(const TsmdProcess&) = delete;
    ~TsmdProcess() {
        stop();
        std::error_code ec;
        std::filesystem::remove_all(m_dir, ec);
    }
    std::string config() const { return m_dir + "/tsmd.json"; }
    /// This tsmd's folder (its server certificate is dir()/tsmd.crt) and port.
    const std::string& dir() const { return m_dir; }
    int port() const { return m_port; }
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
    /// SIGTERM; tsmd's exit code, or -1000 when it did not exit within 10 s (it is then killed
    /// with SIGKILL, so that no test leaves a process behind).
    int stop() {
        if (m_pid <= 0) return -1;
        ::kill(m_pid, SIGTERM);
        const int rc = wait_exit(m_pid, 10000);
        if (rc == -1000) {
            ::kill(m_pid, SIGKILL);
            wait_exit(m_pid, 10000);
        }
        m_pid = -1;
        return rc;
    }
    /// Kills tsmd with SIGKILL (no clean stop: plugins' destroy() does not run); its exit code.
    int kill_hard() {
        if (m_pid <= 0) return -1;
        ::kill(m_pid, SIGKILL);
        const int rc = wait_exit(m_pid, 10000);
        m_pid = -1;
        return rc;
    }
    int exit_code() const { return m_exit; }
    HttpsClient client() const { return HttpsClient("127.0.0.1", m_port, m_dir + "/tsmd.crt"); }
    /// A client presenting @p cert_file / @p key_file (mTLS).
    HttpsClient client(const std::string& cert_file, const std::string& key_file) const {
        return HttpsClient("127.0.0.1", m_port, m_dir + "/tsmd.crt", cert_file, key_file);
    }
    /// tsmd's self-signed server certificate: the CA file for its clients.
    std::string certificate() const { return m_dir + "/tsmd.crt"; }

  private:
    std::string m_dir;
    int m_port = 0;
    pid_t m_pid = -1;
    int m_exit = 0;
};

inline std::string instance(const std::string& name, const std::string& library,
                            const std::string& config) {
    return "{\"instance\":\"" + name + "\",\"library\":\"" + library + "\",\"config\":" + config +
           "}";
}

}  // namespace kms::test
