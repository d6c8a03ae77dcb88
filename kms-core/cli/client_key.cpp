// kmsctl's client key and CSR (OpenSSL 3 EVP and X509_REQ).
#include "client_key.hpp"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <memory>

#include "exit_codes.hpp"

namespace kms::cli {

namespace {

[[noreturn]] void fail(const char* step) {
    throw CliError(ExitCode::Usage, std::string("--key-out: cannot make the key (") + step + ")");
}

std::string bio_text(BIO* b) {
    char* data = nullptr;
    const long n = BIO_get_mem_data(b, &data);
    return std::string(data, static_cast<std::size_t>(n));
}

}  // namespace

ClientKey make_client_key(const std::string& common_name) {
    std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_EC_gen("P-256"), &EVP_PKEY_free);
    if (!key) fail("EC P-256 key generation");
    std::unique_ptr<X509_REQ, decltype(&X509_REQ_free)> req(X509_REQ_new(), &X509_REQ_free);
    if (!req || X509_REQ_set_version(req.get(), X509_REQ_VERSION_1) != 1 ||
        X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(req.get()), "CN", MBSTRING_UTF8,
                                   reinterpret_cast<const unsigned char*>(common_name.c_str()), -1,
                                   -1, 0) != 1 ||
        X509_REQ_set_pubkey(req.get(), key.get()) != 1 ||
        X509_REQ_sign(req.get(), key.get(), EVP_sha256()) <= 0)
        fail("certificate request");
    ClientKey out;
    {
        std::unique_ptr<BIO, decltype(&BIO_free)> b(BIO_new(BIO_s_mem()), &BIO_free);
        if (!b || PEM_write_bio_X509_REQ(b.get(), req.get()) != 1) fail("CSR encoding");
        out.csr_pem = bio_text(b.get());
    }
    {
        // BIO_s_secmem: OpenSSL's secure heap when configured, wiped on free either way.
        std::unique_ptr<BIO, decltype(&BIO_free)> b(BIO_new(BIO_s_secmem()), &BIO_free);
        if (!b || PEM_write_bio_PrivateKey(b.get(), key.get(), nullptr, nullptr, 0, nullptr,
                                           nullptr) != 1)
            fail("key encoding");
        out.key_pem = bio_text(b.get());
    }
    return out;
}

}  // namespace kms::cli
