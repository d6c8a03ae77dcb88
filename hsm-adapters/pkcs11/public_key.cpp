// SPKI <-> PKCS#11 public key attributes with OpenSSL 3 (EVP_PKEY_fromdata / i2d_PUBKEY).
#include "pkcs11/public_key.hpp"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>

#include <memory>
#include <string>

#include "domain/error.hpp"

namespace kms::hsm {

using core::Algorithm;

namespace {

struct Free {
    void operator()(EVP_PKEY* p) const noexcept { EVP_PKEY_free(p); }
    void operator()(EVP_PKEY_CTX* p) const noexcept { EVP_PKEY_CTX_free(p); }
    void operator()(OSSL_PARAM_BLD* p) const noexcept { OSSL_PARAM_BLD_free(p); }
    void operator()(OSSL_PARAM* p) const noexcept { OSSL_PARAM_free(p); }
    void operator()(BIGNUM* p) const noexcept { BN_free(p); }
};
template <class T>
using Owned = std::unique_ptr<T, Free>;

[[noreturn]] void fail(ErrorCode code, const std::string& what) {
    const unsigned long err = ERR_get_error();
    ERR_clear_error();
    throw Error(code, what, NativeKind::OpenSsl, err);
}

const char* group_name(Algorithm a) {
    if (a == Algorithm::EcP256) return "prime256v1";
    if (a == Algorithm::EcP384) return "secp384r1";
    return nullptr;
}

std::size_t point_size(Algorithm a) {
    return a == Algorithm::EcP256 ? 65 : 97;
}

Bytes to_spki(Owned<OSSL_PARAM_BLD> bld, const char* type) {
    Owned<OSSL_PARAM> params(OSSL_PARAM_BLD_to_param(bld.get()));
    Owned<EVP_PKEY_CTX> ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
    if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) <= 0)
        fail(ErrorCode::Internal, "OpenSSL: cannot prepare a public key");
    EVP_PKEY* raw = nullptr;
    if (EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) <= 0)
        fail(ErrorCode::HsmError, "the HSM returned a public key OpenSSL does not accept");
    Owned<EVP_PKEY> key(raw);
    const int len = i2d_PUBKEY(key.get(), nullptr);
    if (len <= 0) fail(ErrorCode::Internal, "OpenSSL: cannot encode a SubjectPublicKeyInfo");
    Bytes out(static_cast<std::size_t>(len));
    unsigned char* p = out.data();
    i2d_PUBKEY(key.get(), &p);
    return out;
}

Bytes bn_bytes(const EVP_PKEY* key, const char* name) {
    BIGNUM* raw = nullptr;
    if (EVP_PKEY_get_bn_param(key, name, &raw) <= 0)
        fail(ErrorCode::Integrity, "public key: missing RSA parameter");
    Owned<BIGNUM> bn(raw);
    Bytes out(static_cast<std::size_t>(BN_num_bytes(bn.get())));
    BN_bn2bin(bn.get(), out.data());
    return out;
}

}  // namespace

ByteView ec_point_octets(ByteView ec_point, std::size_t size) {
    // CKA_EC_POINT: "DER-encoding of ANSI X9.62 ECPoint value Q", an OCTET STRING (PKCS#11
    // curr. v2.40, EC public key objects; v3.1 §6.3.3).
    // Both sizes stay under 128 bytes, so the DER length is one byte.
    if (ec_point.size() == size + 2 && ec_point[0] == 0x04 && ec_point[1] == size &&
        ec_point[2] == 0x04)
        return ec_point.subspan(2);
    if (ec_point.size() == size && ec_point[0] == 0x04) return ec_point;  // raw, non-conforming
    throw Error(ErrorCode::HsmError, "CKA_EC_POINT is not an uncompressed point of the curve");
}

Bytes ec_spki(Algorithm algorithm, ByteView ec_point) {
    const char* group = group_name(algorithm);
    if (group == nullptr) throw Error(ErrorCode::Internal, "ec_spki: not an EC algorithm");
    const ByteView point = ec_point_octets(ec_point, point_size(algorithm));
    Owned<OSSL_PARAM_BLD> bld(OSSL_PARAM_BLD_new());
    if (!bld || !OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, group, 0) ||
        !OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                          point.size()))
        fail(ErrorCode::Internal, "OpenSSL: cannot build EC parameters");
    return to_spki(std::move(bld), "EC");
}

Bytes rsa_spki(ByteView modulus, ByteView exponent) {
    Owned<BIGNUM> n(BN_bin2bn(modulus.data(), static_cast<int>(modulus.size()), nullptr));
    Owned<BIGNUM> e(BN_bin2bn(exponent.data(), static_cast<int>(exponent.size()), nullptr));
    Owned<OSSL_PARAM_BLD> bld(OSSL_PARAM_BLD_new());
    if (!n || !e || !bld || !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, n.get()) ||
        !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, e.get()))
        fail(ErrorCode::Internal, "OpenSSL: cannot build RSA parameters");
    return to_spki(std::move(bld), "RSA");
}

PublicKeyParts parse_spki(Algorithm algorithm, ByteView spki) {
    const unsigned char* p = spki.data();
    Owned<EVP_PKEY> key(d2i_PUBKEY(nullptr, &p, static_cast<long>(spki.size())));
    if (!key || p != spki.data() + spki.size())
        fail(ErrorCode::Integrity, "public key: not a DER SubjectPublicKeyInfo");
    PublicKeyParts parts;
    const auto family = core::info(algorithm).family;
    if (family == core::KeyFamily::Ec) {
        char group[64] = {};
        std::size_t glen = 0;
        if (!EVP_PKEY_is_a(key.get(), "EC") ||
            EVP_PKEY_get_utf8_string_param(key.get(), OSSL_PKEY_PARAM_GROUP_NAME, group,
                                           sizeof group, &glen) <= 0)
            fail(ErrorCode::Integrity, "public key: not an EC key on a named curve");
        int nid = OBJ_txt2nid(group);
        if (nid == NID_undef) nid = EC_curve_nist2nid(group);
        const int want = algorithm == Algorithm::EcP256 ? NID_X9_62_prime256v1 : NID_secp384r1;
        if (nid != want)
            throw Error(ErrorCode::Integrity,
                        "public key: curve does not match the key's algorithm");
        unsigned char point[133];
        std::size_t plen = 0;
        EVP_PKEY_set_utf8_string_param(key.get(), OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
                                       "uncompressed");
        if (EVP_PKEY_get_octet_string_param(key.get(), OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, point,
                                            sizeof point, &plen) <= 0 ||
            plen != point_size(algorithm))
            fail(ErrorCode::Integrity, "public key: unreadable EC point");
        // CKA_EC_POINT is the DER OCTET STRING around the point (see ec_point_octets).
        parts.ec_point.reserve(plen + 2);
        parts.ec_point.push_back(0x04);
        parts.ec_point.push_back(static_cast<std::uint8_t>(plen));
        parts.ec_point.insert(parts.ec_point.end(), point, point + plen);
    } else if (family == core::KeyFamily::Rsa) {
        if (!EVP_PKEY_is_a(key.get(), "RSA"))
            throw Error(ErrorCode::Integrity, "public key: not an RSA key");
        if (static_cast<std::size_t>(EVP_PKEY_get_bits(key.get())) != core::info(algorithm).bits)
            throw Error(ErrorCode::Integrity,
                        "public key: RSA modulus length does not match the key's algorithm");
        parts.modulus = bn_bytes(key.get(), OSSL_PKEY_PARAM_RSA_N);
        parts.exponent = bn_bytes(key.get(), OSSL_PKEY_PARAM_RSA_E);
    } else {
        throw Error(ErrorCode::InvalidArgument, "public key: the algorithm is symmetric");
    }
    return parts;
}

}  // namespace kms::hsm
