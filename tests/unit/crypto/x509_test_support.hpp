// Helpers shared by x509_test.cpp and ca_x509_test.cpp: RAII owners for the OpenSSL objects the
// tests make, SPKI parsing, and an ECDSA P-256 signature made on the host the way the HSM makes
// it (SHA-256 of the TBS, raw r || s).
#pragma once

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <memory>

#include "crypto/public_key.hpp"
#include "domain/bytes.hpp"

namespace kms::crypto::x509_support {

template <typename T, void (*F)(T*)>
struct Free {
    void operator()(T* p) const { F(p); }
};
using X509Ptr = std::unique_ptr<X509, Free<X509, X509_free>>;
using CrlPtr = std::unique_ptr<X509_CRL, Free<X509_CRL, X509_CRL_free>>;
using ReqPtr = std::unique_ptr<X509_REQ, Free<X509_REQ, X509_REQ_free>>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, Free<EVP_PKEY, EVP_PKEY_free>>;
using StorePtr = std::unique_ptr<X509_STORE, Free<X509_STORE, X509_STORE_free>>;
using StoreCtxPtr = std::unique_ptr<X509_STORE_CTX, Free<X509_STORE_CTX, X509_STORE_CTX_free>>;
using ExtPtr = std::unique_ptr<X509_EXTENSION, Free<X509_EXTENSION, X509_EXTENSION_free>>;

/// The public key of a DER SubjectPublicKeyInfo (null when it does not parse).
inline PkeyPtr public_key(const Bytes& spki) {
    const unsigned char* p = spki.data();
    return PkeyPtr(d2i_PUBKEY(nullptr, &p, static_cast<long>(spki.size())));
}

/// ECDSA with @p key over SHA-256 of @p tbs, returned raw r || s as the HSM returns it.
inline Bytes sign_raw_ecdsa_sha256(EVP_PKEY* key, ByteView tbs) {
    std::unique_ptr<EVP_MD_CTX, Free<EVP_MD_CTX, EVP_MD_CTX_free>> ctx(EVP_MD_CTX_new());
    EXPECT_EQ(EVP_DigestSignInit_ex(ctx.get(), nullptr, "SHA256", nullptr, nullptr, key, nullptr),
              1);
    size_t len = 0;
    EXPECT_EQ(EVP_DigestSign(ctx.get(), nullptr, &len, tbs.data(), tbs.size()), 1);
    Bytes der(len);
    EXPECT_EQ(EVP_DigestSign(ctx.get(), der.data(), &len, tbs.data(), tbs.size()), 1);
    der.resize(len);
    return ecdsa_der_to_raw(der, 32);
}

}  // namespace kms::crypto::x509_support
