// SPKI encodings, ECDSA signature conversions and host-side verification (see public_key.hpp).
#include "public_key.hpp"

#include <openssl/core_names.h>
#include <openssl/obj_mac.h>
#include <openssl/objects.h>
#include <openssl/rsa.h>

#include "ossl.hpp"

namespace kms::crypto {

using namespace detail;

namespace {

/// Builds an EVP_PKEY holding only a public key from OSSL_PARAMs (EVP_PKEY_fromdata).
PkeyPtr public_key_from_params(const char* type, OSSL_PARAM_BLD* bld, const char* what) {
    ParamPtr params(OSSL_PARAM_BLD_to_param(bld));
    if (!params) openssl_fail("OSSL_PARAM_BLD_to_param");
    PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
    if (!ctx) openssl_fail("EVP_PKEY_CTX_new_from_name");
    if (EVP_PKEY_fromdata_init(ctx.get()) != 1) openssl_fail("EVP_PKEY_fromdata_init");
    EVP_PKEY* raw = nullptr;
    if (EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1)
        invalid(std::string(what) + ": the key components are not valid");
    PkeyPtr key(raw);
    // SP 800-56A Rev. 3 §5.6.2.3.3 (EC: point on the curve, not infinity) and SP 800-89 §5.3.3
    // (RSA: n odd, e odd and in range): a published or received public key is checked before use.
    PkeyCtxPtr check(EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
    if (!check) openssl_fail("EVP_PKEY_CTX_new_from_pkey");
    if (EVP_PKEY_public_check(check.get()) != 1)
        invalid(std::string(what) + ": public key validation failed");
    return key;
}

BnPtr to_bignum(ByteView big_endian) {
    BnPtr bn(BN_bin2bn(big_endian.data(), static_cast<int>(big_endian.size()), nullptr));
    if (!bn) openssl_fail("BN_bin2bn");
    return bn;
}

int curve_nid(const EVP_PKEY* key) {
    char name[64] = {0};
    std::size_t len = 0;
    if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, name, sizeof name, &len) !=
        1) {
        ERR_clear_error();
        return NID_undef;
    }
    int nid = OBJ_sn2nid(name);
    if (nid == NID_undef) nid = EC_curve_nist2nid(name);
    return nid;
}

}  // namespace

Bytes ec_public_key_spki(core::Algorithm curve, ByteView uncompressed_point) {
    const char* group = nullptr;
    std::size_t field = 0;
    switch (curve) {
        case core::Algorithm::EcP256:
            group = "P-256";
            field = 32;
            break;
        case core::Algorithm::EcP384:
            group = "P-384";
            field = 48;
            break;
        default:
            invalid("EC public key: not an EC algorithm");
    }
    // SEC 1 v2 §2.3.3: the uncompressed form is 0x04 followed by X and Y, each of field size.
    if (uncompressed_point.size() != 1 + 2 * field || uncompressed_point[0] != 0x04)
        invalid("EC public key: expected an uncompressed point 04 || X || Y");
    ParamBldPtr bld(OSSL_PARAM_BLD_new());
    if (!bld) openssl_fail("OSSL_PARAM_BLD_new");
    if (OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, group, 0) != 1 ||
        OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY,
                                         uncompressed_point.data(), uncompressed_point.size()) != 1)
        openssl_fail("OSSL_PARAM_BLD_push");
    PkeyPtr key = public_key_from_params("EC", bld.get(), "EC public key");
    return encode_der<const EVP_PKEY, i2d_PUBKEY>(key.get(), "i2d_PUBKEY");
}

Bytes rsa_public_key_spki(ByteView modulus, ByteView public_exponent) {
    if (modulus.empty() || public_exponent.empty())
        invalid("RSA public key: modulus and exponent are required");
    BnPtr n = to_bignum(modulus);
    BnPtr e = to_bignum(public_exponent);
    if (BN_is_zero(n.get()) || BN_is_zero(e.get()) || !BN_is_odd(e.get()))
        invalid("RSA public key: modulus must be non-zero and the exponent odd");
    ParamBldPtr bld(OSSL_PARAM_BLD_new());
    if (!bld) openssl_fail("OSSL_PARAM_BLD_new");
    if (OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, n.get()) != 1 ||
        OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, e.get()) != 1)
        openssl_fail("OSSL_PARAM_BLD_push_BN");
    PkeyPtr key = public_key_from_params("RSA", bld.get(), "RSA public key");
    return encode_der<const EVP_PKEY, i2d_PUBKEY>(key.get(), "i2d_PUBKEY");
}

Bytes rsa_pkcs1_to_spki(ByteView pkcs1_der) {
    const unsigned char* p = pkcs1_der.data();
    EVP_PKEY* raw = d2i_PublicKey(EVP_PKEY_RSA, nullptr, &p, static_cast<long>(pkcs1_der.size()));
    if (raw == nullptr) invalid("PKCS#1 RSAPublicKey: does not parse");
    PkeyPtr key(raw);
    if (p != pkcs1_der.data() + pkcs1_der.size())
        invalid("PKCS#1 RSAPublicKey: trailing bytes after the key");
    PkeyCtxPtr check(EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
    if (!check) openssl_fail("EVP_PKEY_CTX_new_from_pkey");
    if (EVP_PKEY_public_check(check.get()) != 1)
        invalid("PKCS#1 RSAPublicKey: public key validation failed");
    const int n = i2d_PUBKEY(key.get(), nullptr);
    if (n <= 0) openssl_fail("i2d_PUBKEY");
    Bytes out(static_cast<std::size_t>(n));
    unsigned char* w = out.data();
    if (i2d_PUBKEY(key.get(), &w) != n) openssl_fail("i2d_PUBKEY");
    return out;
}

std::pair<Bytes, Bytes> rsa_public_components(ByteView spki_der) {
    const unsigned char* p = spki_der.data();
    PkeyPtr key(d2i_PUBKEY(nullptr, &p, static_cast<long>(spki_der.size())));
    if (!key || EVP_PKEY_get_base_id(key.get()) != EVP_PKEY_RSA)
        invalid("SubjectPublicKeyInfo: not an RSA public key");
    auto component = [&](const char* name) {
        BIGNUM* raw = nullptr;
        if (EVP_PKEY_get_bn_param(key.get(), name, &raw) != 1)
            openssl_fail("EVP_PKEY_get_bn_param");
        BnPtr bn(raw);
        Bytes out(static_cast<std::size_t>(BN_num_bytes(bn.get())));
        BN_bn2bin(bn.get(), out.data());
        return out;
    };
    return {component(OSSL_PKEY_PARAM_RSA_N), component(OSSL_PKEY_PARAM_RSA_E)};
}

Bytes ec_public_point(ByteView spki_der) {
    const unsigned char* p = spki_der.data();
    PkeyPtr key(d2i_PUBKEY(nullptr, &p, static_cast<long>(spki_der.size())));
    if (!key || EVP_PKEY_get_base_id(key.get()) != EVP_PKEY_EC)
        invalid("SubjectPublicKeyInfo: not an EC public key");
    // Uncompressed form, whatever form the SPKI held (RFC 5480 §2.2 allows both).
    if (EVP_PKEY_set_utf8_string_param(key.get(), OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
                                       "uncompressed") != 1)
        openssl_fail("EVP_PKEY_set_utf8_string_param");
    std::size_t len = 0;
    if (EVP_PKEY_get_octet_string_param(key.get(), OSSL_PKEY_PARAM_PUB_KEY, nullptr, 0, &len) != 1)
        openssl_fail("EVP_PKEY_get_octet_string_param");
    Bytes out(len);
    if (EVP_PKEY_get_octet_string_param(key.get(), OSSL_PKEY_PARAM_PUB_KEY, out.data(), out.size(),
                                        &len) != 1)
        openssl_fail("EVP_PKEY_get_octet_string_param");
    out.resize(len);
    return out;
}

Bytes rsa_spki_to_pkcs1(ByteView spki_der) {
    const unsigned char* p = spki_der.data();
    PkeyPtr key(d2i_PUBKEY(nullptr, &p, static_cast<long>(spki_der.size())));
    if (!key || EVP_PKEY_get_base_id(key.get()) != EVP_PKEY_RSA)
        invalid("SubjectPublicKeyInfo: not an RSA public key");
    const int n = i2d_PublicKey(key.get(), nullptr);
    if (n <= 0) openssl_fail("i2d_PublicKey");
    Bytes out(static_cast<std::size_t>(n));
    unsigned char* w = out.data();
    if (i2d_PublicKey(key.get(), &w) != n) openssl_fail("i2d_PublicKey");
    return out;
}

std::optional<core::Algorithm> spki_algorithm(ByteView spki_der) {
    PkeyPtr key = parse_spki(spki_der);
    if (!key) return std::nullopt;
    if (EVP_PKEY_is_a(key.get(), "EC")) {
        switch (curve_nid(key.get())) {
            case NID_X9_62_prime256v1:
                return core::Algorithm::EcP256;
            case NID_secp384r1:
                return core::Algorithm::EcP384;
            default:
                return std::nullopt;
        }
    }
    if (EVP_PKEY_is_a(key.get(), "RSA")) {
        switch (EVP_PKEY_get_bits(key.get())) {
            case 2048:
                return core::Algorithm::Rsa2048;
            case 3072:
                return core::Algorithm::Rsa3072;
            default:
                return std::nullopt;
        }
    }
    return std::nullopt;
}

Bytes ecdsa_raw_to_der(ByteView raw_rs) {
    // 132 = 2 x 66, the P-521 field size: the largest raw ECDSA signature PKCS#11 returns.
    if (raw_rs.empty() || raw_rs.size() % 2 != 0 || raw_rs.size() > 132)
        invalid("ECDSA signature: raw r || s must have an even length of 2..132 bytes");
    const std::size_t half = raw_rs.size() / 2;
    BnPtr r = to_bignum(raw_rs.first(half));
    BnPtr s = to_bignum(raw_rs.subspan(half));
    EcdsaSigPtr sig(ECDSA_SIG_new());
    if (!sig) openssl_fail("ECDSA_SIG_new");
    if (ECDSA_SIG_set0(sig.get(), r.get(), s.get()) != 1) openssl_fail("ECDSA_SIG_set0");
    r.release();  // owned by sig now
    s.release();
    return encode_der<const ECDSA_SIG, i2d_ECDSA_SIG>(sig.get(), "i2d_ECDSA_SIG");
}

Bytes ecdsa_der_to_raw(ByteView der, std::size_t field_bytes) {
    if (field_bytes == 0 || field_bytes > 66) invalid("ECDSA signature: bad field size");
    const unsigned char* p = der.data();
    EcdsaSigPtr sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size())));
    if (!sig || p != der.data() + der.size()) invalid("ECDSA signature: not a DER ECDSA-Sig-Value");
    const BIGNUM* r = nullptr;
    const BIGNUM* s = nullptr;
    ECDSA_SIG_get0(sig.get(), &r, &s);
    if (BN_is_negative(r) || BN_is_negative(s)) invalid("ECDSA signature: negative integer");
    Bytes out(2 * field_bytes);
    const int n = static_cast<int>(field_bytes);
    if (BN_bn2binpad(r, out.data(), n) != n || BN_bn2binpad(s, out.data() + field_bytes, n) != n)
        invalid("ECDSA signature: integer longer than the field size");
    return out;
}

bool verify_signature(ByteView spki_der, core::SignAlgorithm alg, ByteView message,
                      ByteView signature) {
    PkeyPtr key = parse_spki(spki_der);
    if (!key) invalid("signature verification: the public key does not parse");
    const char* digest = "SHA256";
    bool ecdsa = false;
    bool pss = false;
    switch (alg) {
        case core::SignAlgorithm::EcdsaSha256:
            ecdsa = true;
            break;
        case core::SignAlgorithm::EcdsaSha384:
            ecdsa = true;
            digest = "SHA384";
            break;
        case core::SignAlgorithm::RsaPkcs1Sha256:
            break;
        case core::SignAlgorithm::RsaPssSha256:
            pss = true;
            break;
    }
    if (ecdsa ? !EVP_PKEY_is_a(key.get(), "EC") : !EVP_PKEY_is_a(key.get(), "RSA"))
        invalid("signature verification: the key type does not fit the algorithm");

    Bytes der;
    ByteView to_check = signature;
    if (ecdsa) {
        const std::size_t field = (static_cast<std::size_t>(EVP_PKEY_get_bits(key.get())) + 7) / 8;
        if (signature.size() != 2 * field) return false;
        der = ecdsa_raw_to_der(signature);
        to_check = der;
    }

    MdCtxPtr ctx(EVP_MD_CTX_new());
    if (!ctx) openssl_fail("EVP_MD_CTX_new");
    EVP_PKEY_CTX* pctx = nullptr;  // owned by ctx
    if (EVP_DigestVerifyInit_ex(ctx.get(), &pctx, digest, nullptr, nullptr, key.get(), nullptr) !=
        1)
        openssl_fail("EVP_DigestVerifyInit_ex");
    if (pss && (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
                EVP_PKEY_CTX_set_rsa_mgf1_md_name(pctx, "SHA256", nullptr) != 1 ||
                EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 32) != 1))
        openssl_fail("RSA-PSS parameters");
    static const unsigned char kEmpty[1] = {0};
    const int rc =
        EVP_DigestVerify(ctx.get(), to_check.empty() ? kEmpty : to_check.data(), to_check.size(),
                         message.empty() ? kEmpty : message.data(), message.size());
    ERR_clear_error();  // a wrong signature leaves errors queued; it is an answer, not a fault
    return rc == 1;
}

}  // namespace kms::crypto
