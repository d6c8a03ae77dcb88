// Internal to kms-core/crypto: RAII owners for the OpenSSL 3 objects the .cpp files use, and
// the one place OpenSSL errors become kms::Error. Not installed, not for other layers.
#pragma once

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <string>

#include "domain/bytes.hpp"
#include "domain/error.hpp"

namespace kms::crypto::detail {

/// Throws kms::Error(Internal) naming @p what, with the first queued OpenSSL error code kept as
/// the native code; clears the rest of the thread's error queue so it does not leak into the
/// next call.
[[noreturn]] inline void openssl_fail(const char* what) {
    const unsigned long e = ERR_get_error();
    ERR_clear_error();
    throw Error(ErrorCode::Internal, std::string("openssl: ") + what, NativeKind::OpenSsl, e);
}

/// Throws kms::Error(InvalidArgument); the OpenSSL error queue (a parse failure, usually) is
/// cleared because the caller's input, not OpenSSL, is at fault.
[[noreturn]] inline void invalid(const std::string& what) {
    ERR_clear_error();
    throw Error(ErrorCode::InvalidArgument, what);
}

template <typename T, void (*Free)(T*)>
struct Deleter {
    void operator()(T* p) const noexcept { Free(p); }
};

using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, Deleter<EVP_PKEY_CTX, EVP_PKEY_CTX_free>>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, Deleter<EVP_MD_CTX, EVP_MD_CTX_free>>;
using BnPtr = std::unique_ptr<BIGNUM, Deleter<BIGNUM, BN_free>>;
using ParamBldPtr = std::unique_ptr<OSSL_PARAM_BLD, Deleter<OSSL_PARAM_BLD, OSSL_PARAM_BLD_free>>;
using ParamPtr = std::unique_ptr<OSSL_PARAM, Deleter<OSSL_PARAM, OSSL_PARAM_free>>;
using EcdsaSigPtr = std::unique_ptr<ECDSA_SIG, Deleter<ECDSA_SIG, ECDSA_SIG_free>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using X509NamePtr = std::unique_ptr<X509_NAME, Deleter<X509_NAME, X509_NAME_free>>;
using X509ExtPtr = std::unique_ptr<X509_EXTENSION, Deleter<X509_EXTENSION, X509_EXTENSION_free>>;
using GeneralNamesPtr = std::unique_ptr<GENERAL_NAMES, Deleter<GENERAL_NAMES, GENERAL_NAMES_free>>;
using GeneralNamePtr = std::unique_ptr<GENERAL_NAME, Deleter<GENERAL_NAME, GENERAL_NAME_free>>;
using Asn1IntegerPtr = std::unique_ptr<ASN1_INTEGER, Deleter<ASN1_INTEGER, ASN1_INTEGER_free>>;
using Asn1OctetStringPtr =
    std::unique_ptr<ASN1_OCTET_STRING, Deleter<ASN1_OCTET_STRING, ASN1_OCTET_STRING_free>>;
using Asn1Ia5StringPtr =
    std::unique_ptr<ASN1_IA5STRING, Deleter<ASN1_IA5STRING, ASN1_IA5STRING_free>>;

inline void bio_free(BIO* b) {
    BIO_free_all(b);
}
using BioPtr = std::unique_ptr<BIO, Deleter<BIO, bio_free>>;

/// Parses a DER SubjectPublicKeyInfo; nullptr (error queue cleared) when it does not parse or
/// has trailing bytes.
inline PkeyPtr parse_spki(ByteView der) {
    const unsigned char* p = der.data();
    PkeyPtr key(d2i_PUBKEY(nullptr, &p, static_cast<long>(der.size())));
    if (!key || p != der.data() + der.size()) {
        ERR_clear_error();
        return nullptr;
    }
    return key;
}

/// i2d_* into a Bytes; throws Internal when the encoder fails.
template <typename T, int (*I2d)(T*, unsigned char**)>
Bytes encode_der(T* object, const char* what) {
    const int len = I2d(object, nullptr);
    if (len <= 0) openssl_fail(what);
    Bytes out(static_cast<std::size_t>(len));
    unsigned char* p = out.data();
    if (I2d(object, &p) != len) openssl_fail(what);
    return out;
}

}  // namespace kms::crypto::detail
