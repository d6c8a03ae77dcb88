// Plugin identities for the rest tests: a principal with role plugin created from a CSR (a
// fresh P-256 key), its KMS-issued client certificate and key written to files for mTLS.
#pragma once

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>

#include "kmsd_process.hpp"

namespace kms::test {

using PkeyPtr = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;

inline PkeyPtr new_p256_key() {
    PkeyPtr k(EVP_EC_gen("P-256"), &EVP_PKEY_free);
    if (!k) throw std::runtime_error("EVP_EC_gen failed");
    return k;
}

inline std::string bio_text(BIO* bio) {
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio, &data);
    std::string out(data, static_cast<std::size_t>(n));
    BIO_free(bio);
    return out;
}

inline std::string key_pem(EVP_PKEY* k) {
    BIO* b = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(b, k, nullptr, nullptr, 0, nullptr, nullptr);
    return bio_text(b);
}

inline X509_NAME* name_cn(const std::string& cn) {
    X509_NAME* n = X509_NAME_new();
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8,
                               reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
    return n;
}

/// A PEM CSR for @p key with subject CN @p cn and, optionally, a subjectAltName (config text,
/// e.g. "DNS:a.example,IP:10.0.0.1").
inline std::string make_csr(EVP_PKEY* key, const std::string& cn, const std::string& san = "") {
    X509_REQ* req = X509_REQ_new();
    X509_REQ_set_version(req, X509_REQ_VERSION_1);
    X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(req), "CN", MBSTRING_UTF8,
                               reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
    X509_REQ_set_pubkey(req, key);
    if (!san.empty()) {
        STACK_OF(X509_EXTENSION)* exts = sk_X509_EXTENSION_new_null();
        sk_X509_EXTENSION_push(
            exts, X509V3_EXT_conf_nid(nullptr, nullptr, NID_subject_alt_name, san.c_str()));
        X509_REQ_add_extensions(req, exts);
        sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    }
    X509_REQ_sign(req, key, EVP_sha256());
    BIO* b = BIO_new(BIO_s_mem());
    PEM_write_bio_X509_REQ(b, req);
    X509_REQ_free(req);
    return bio_text(b);
}

inline void write_file(const std::string& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out) throw std::runtime_error("cannot write " + path);
}

inline std::string json_string(const std::string& s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '\n')
            out += "\\n";
        else if (c == '"' || c == '\\')
            out += std::string("\\") + c;
        else
            out += c;
    }
    return out + "\"";
}

/// A plugin principal and the files its client presents.
struct Plugin {
    std::string name, token, serial, cert_file, key_file;
};

/// Creates plugin @p name through @p post (path, body → HttpResponse, as the administrator) with
/// a CSR; writes DIR/NAME.crt (certificate + chain) and DIR/NAME.key. Throws when kmsd refuses.
template <class Post>
Plugin create_plugin_identity(Post&& post, const std::string& name, const std::string& dir) {
    PkeyPtr k = new_p256_key();
    auto r = post("/v1/principals", "{\"name\":\"" + name + "\",\"roles\":[\"plugin\"],\"csr\":" +
                                        json_string(make_csr(k.get(), name)) + "}");
    if (r.status != 201) throw std::runtime_error("principal not created: " + r.body);
    auto o = r.json();
    Plugin p;
    p.name = name;
    p.token = o->template getValue<std::string>("token");
    p.serial = o->template getValue<std::string>("serial");
    const std::string cert = o->template getValue<std::string>("certificate");
    if (cert.find("BEGIN CERTIFICATE") == std::string::npos)
        throw std::runtime_error("no certificate for " + name);
    p.cert_file = dir + "/" + name + ".crt";
    p.key_file = dir + "/" + name + ".key";
    write_file(p.cert_file, cert + o->template getValue<std::string>("chain"));
    write_file(p.key_file, key_pem(k.get()));
    return p;
}

}  // namespace kms::test
