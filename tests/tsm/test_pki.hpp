// Test support for the tsm suite: a throwaway CA in a folder, and client certificates from it
// (P-256, CN as given, clientAuth), for tsmd's mTLS (tls.clientCa) and plugins that look at the
// caller's CN (sp-tsm's syncClients).
#pragma once

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <stdexcept>
#include <string>

namespace kms::test {

class TestPki {
  public:
    /// Makes DIR/ca.crt (and keeps its key in memory) in the existing folder @p dir.
    explicit TestPki(std::string dir) : m_dir(std::move(dir)) {
        m_key = EVP_EC_gen("P-256");
        m_ca = make(m_key, "tsm test CA", nullptr, true);
        save_cert(m_ca, ca_file());
    }
    ~TestPki() {
        X509_free(m_ca);
        EVP_PKEY_free(m_key);
    }
    TestPki(const TestPki&) = delete;
    TestPki& operator=(const TestPki&) = delete;

    std::string ca_file() const { return m_dir + "/ca.crt"; }
    /// Issues DIR/CN.crt and DIR/CN.key for the client @p cn.
    void issue(const std::string& cn) const {
        EVP_PKEY* k = EVP_EC_gen("P-256");
        X509* x = make(k, cn, m_ca, false);
        save_cert(x, cert(cn));
        FILE* f = std::fopen(key(cn).c_str(), "w");
        if (f == nullptr) throw std::runtime_error("cannot write " + key(cn));
        PEM_write_PrivateKey(f, k, nullptr, nullptr, 0, nullptr, nullptr);
        std::fclose(f);
        X509_free(x);
        EVP_PKEY_free(k);
    }
    std::string cert(const std::string& cn) const { return m_dir + "/" + cn + ".crt"; }
    std::string key(const std::string& cn) const { return m_dir + "/" + cn + ".key"; }

  private:
    X509* make(EVP_PKEY* subject_key, const std::string& cn, X509* issuer, bool ca) const {
        static long serial = 100;
        X509* x = X509_new();
        X509_set_version(x, 2);
        ASN1_INTEGER_set(X509_get_serialNumber(x), ++serial);
        X509_gmtime_adj(X509_getm_notBefore(x), -60);
        X509_gmtime_adj(X509_getm_notAfter(x), 86400);
        X509_NAME* n = X509_get_subject_name(x);
        X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8,
                                   reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
        X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : n);
        X509_set_pubkey(x, subject_key);
        X509V3_CTX ctx;
        X509V3_set_ctx_nodb(&ctx);
        X509V3_set_ctx(&ctx, issuer ? issuer : x, x, nullptr, nullptr, 0);
        const std::pair<int, const char*> exts[] = {
            {NID_basic_constraints, ca ? "critical,CA:TRUE" : "critical,CA:FALSE"},
            {NID_key_usage, ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature"},
            {NID_ext_key_usage, ca ? nullptr : "clientAuth"}};
        for (auto [nid, value] : exts) {
            if (value == nullptr) continue;
            X509_EXTENSION* e = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
            X509_add_ext(x, e, -1);
            X509_EXTENSION_free(e);
        }
        X509_sign(x, m_key, EVP_sha256());
        return x;
    }
    static void save_cert(X509* x, const std::string& path) {
        FILE* f = std::fopen(path.c_str(), "w");
        if (f == nullptr) throw std::runtime_error("cannot write " + path);
        PEM_write_X509(f, x);
        std::fclose(f);
    }

    std::string m_dir;
    EVP_PKEY* m_key = nullptr;
    X509* m_ca = nullptr;
};

}  // namespace kms::test
