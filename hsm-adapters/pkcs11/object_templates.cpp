// The attribute templates of every object kind (see the table in object_templates.hpp).
#include "pkcs11/object_templates.hpp"

#include "domain/error.hpp"
#include "pkcs11/errors.hpp"

namespace kms::hsm {

using core::Algorithm;
using core::KeyFamily;
using core::Usage;
using core::UsageMask;

namespace {
// CK_ATTRIBUTE::pValue is a non-const void*; modules only read template values.
constexpr CK_BBOOL kTrue = CK_TRUE;
constexpr CK_BBOOL kFalse = CK_FALSE;

void* mutable_ptr(const void* p) {
    return const_cast<void*>(p);
}

// SEC 1 / RFC 5480 §2.1.1.1 named curves, DER-encoded OBJECT IDENTIFIERs.
constexpr std::uint8_t kP256Oid[] = {0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07};
constexpr std::uint8_t kP384Oid[] = {0x06, 0x05, 0x2B, 0x81, 0x04, 0x00, 0x22};
// CKA_PUBLIC_EXPONENT is a big-endian integer (PKCS#11 curr., RSA public key objects): 65537.
constexpr std::uint8_t kF4[] = {0x01, 0x00, 0x01};
}  // namespace

Template& Template::flag(CK_ATTRIBUTE_TYPE type, bool value) {
    m_attrs.push_back({type, mutable_ptr(value ? &kTrue : &kFalse), sizeof(CK_BBOOL)});
    return *this;
}

Template& Template::ulong(CK_ATTRIBUTE_TYPE type, CK_ULONG value) {
    m_ulongs.push_back(value);
    m_attrs.push_back({type, &m_ulongs.back(), sizeof(CK_ULONG)});
    return *this;
}

Template& Template::bytes(CK_ATTRIBUTE_TYPE type, ByteView value) {
    m_attrs.push_back({type, mutable_ptr(value.data()), static_cast<CK_ULONG>(value.size())});
    return *this;
}

Template& Template::text(CK_ATTRIBUTE_TYPE type, std::string_view value) {
    return bytes(type, as_view(value));
}

KeyKind key_kind(Algorithm algorithm) {
    switch (algorithm) {
        case Algorithm::Aes128:
        case Algorithm::Aes192:
        case Algorithm::Aes256:
            return {CKK_AES, CKM_AES_KEY_GEN};
        case Algorithm::Des3_2k:
            return {CKK_DES2, CKM_DES2_KEY_GEN};
        case Algorithm::Des3_3k:
            return {CKK_DES3, CKM_DES3_KEY_GEN};
        case Algorithm::HmacSha256:
            return {CKK_GENERIC_SECRET, CKM_GENERIC_SECRET_KEY_GEN};
        case Algorithm::EcP256:
        case Algorithm::EcP384:
            return {CKK_EC, CKM_EC_KEY_PAIR_GEN};
        case Algorithm::Rsa2048:
        case Algorithm::Rsa3072:
            return {CKK_RSA, CKM_RSA_PKCS_KEY_PAIR_GEN};
    }
    throw Error(ErrorCode::Internal, "key_kind: unknown algorithm");
}

ByteView ec_params_der(Algorithm algorithm) {
    if (algorithm == Algorithm::EcP256) return kP256Oid;
    if (algorithm == Algorithm::EcP384) return kP384Oid;
    return {};
}

Template lmk_template(std::string_view label, ByteView id) {
    Template t;
    t.ulong(CKA_CLASS, CKO_SECRET_KEY)
        .ulong(CKA_KEY_TYPE, CKK_AES)
        .ulong(CKA_VALUE_LEN, 32)
        .flag(CKA_TOKEN, true)
        .flag(CKA_PRIVATE, true)
        .flag(CKA_SENSITIVE, true)
        .flag(CKA_EXTRACTABLE, false)
        .flag(CKA_MODIFIABLE, false)
        .flag(CKA_WRAP, true)
        .flag(CKA_UNWRAP, true)
        .flag(CKA_ENCRYPT, false)
        .flag(CKA_DECRYPT, false)
        .flag(CKA_SIGN, false)
        .flag(CKA_VERIFY, false)
        .flag(CKA_DERIVE, false)
        .text(CKA_LABEL, label)
        .bytes(CKA_ID, id);
    return t;
}

Template master_hmac_template(std::string_view label, ByteView id) {
    Template t;
    t.ulong(CKA_CLASS, CKO_SECRET_KEY)
        .ulong(CKA_KEY_TYPE, CKK_GENERIC_SECRET)
        .ulong(CKA_VALUE_LEN, 32)
        .flag(CKA_TOKEN, true)
        .flag(CKA_PRIVATE, true)
        .flag(CKA_SENSITIVE, true)
        .flag(CKA_EXTRACTABLE, false)
        .flag(CKA_MODIFIABLE, false)
        .flag(CKA_SIGN, true)
        .flag(CKA_VERIFY, true)
        .flag(CKA_WRAP, false)
        .flag(CKA_UNWRAP, false)
        .flag(CKA_ENCRYPT, false)
        .flag(CKA_DECRYPT, false)
        .flag(CKA_DERIVE, false)
        .text(CKA_LABEL, label)
        .bytes(CKA_ID, id);
    return t;
}

Template temp_unwrap_template(Algorithm algorithm, bool wrap_with_trusted) {
    const auto family = core::info(algorithm).family;
    Template t;
    t.ulong(CKA_CLASS, CKO_SECRET_KEY)
        .ulong(CKA_KEY_TYPE, key_kind(algorithm).key_type)
        .flag(CKA_TOKEN, false)
        .flag(CKA_PRIVATE, true)
        .flag(CKA_SENSITIVE, true)
        .flag(CKA_EXTRACTABLE, true)
        .flag(CKA_WRAP_WITH_TRUSTED, wrap_with_trusted)
        // Only what the in-HSM KCV needs: CMAC(K, 0^16) for AES, E(K, 0^8) for DES3.
        .flag(CKA_SIGN, family == KeyFamily::Aes)
        .flag(CKA_ENCRYPT, family == KeyFamily::Des3)
        .flag(CKA_DECRYPT, false)
        .flag(CKA_VERIFY, false)
        .flag(CKA_WRAP, false)
        .flag(CKA_UNWRAP, false)
        .flag(CKA_DERIVE, false);
    return t;
}

Template temp_secret_template(Algorithm algorithm, bool wrap_with_trusted,
                              const SecureBytes* value) {
    const auto family = core::info(algorithm).family;
    Template t = temp_unwrap_template(algorithm, wrap_with_trusted);
    if (value != nullptr) {
        t.bytes(CKA_VALUE, value->view());
    } else if (family == KeyFamily::Aes || family == KeyFamily::Hmac) {
        // DES2/DES3 key generation has a fixed length and rejects CKA_VALUE_LEN.
        t.ulong(CKA_VALUE_LEN, core::secret_length(algorithm));
    }
    return t;
}

Template temp_public_template(Algorithm algorithm) {
    Template t;
    t.flag(CKA_TOKEN, false).flag(CKA_PRIVATE, false).flag(CKA_VERIFY, true);
    if (core::info(algorithm).family == KeyFamily::Ec) {
        t.bytes(CKA_EC_PARAMS, ec_params_der(algorithm));
    } else {
        t.ulong(CKA_MODULUS_BITS, core::info(algorithm).bits).bytes(CKA_PUBLIC_EXPONENT, kF4);
    }
    return t;
}

Template temp_private_template(Algorithm, bool wrap_with_trusted) {
    Template t;
    t.flag(CKA_TOKEN, false)
        .flag(CKA_PRIVATE, true)
        .flag(CKA_SENSITIVE, true)
        .flag(CKA_EXTRACTABLE, true)
        .flag(CKA_WRAP_WITH_TRUSTED, wrap_with_trusted)
        .flag(CKA_SIGN, true)
        .flag(CKA_DECRYPT, false)
        .flag(CKA_UNWRAP, false)
        .flag(CKA_DERIVE, false);
    return t;
}

Template unwrap_template(Algorithm algorithm, UsageMask usage, std::string_view key_id,
                         UnwrapPurpose purpose) {
    const bool secret = core::is_symmetric(algorithm);
    const bool use = purpose == UnwrapPurpose::Use;
    const bool clear = purpose == UnwrapPurpose::HostClearValue;
    const bool raw_decrypt = purpose == UnwrapPurpose::RsaRawDecrypt;
    const bool gp_kdf = purpose == UnwrapPurpose::GpKdf;
    const bool gp_dek = purpose == UnwrapPurpose::GpDek;
    const bool gp_put_key = purpose == UnwrapPurpose::GpPutKey;
    Template t;
    t.ulong(CKA_CLASS, secret ? CKO_SECRET_KEY : CKO_PRIVATE_KEY)
        .ulong(CKA_KEY_TYPE, key_kind(algorithm).key_type)
        .flag(CKA_TOKEN, false)
        .flag(CKA_PRIVATE, true)
        .flag(CKA_SENSITIVE, !clear)
        .flag(CKA_EXTRACTABLE, clear || purpose == UnwrapPurpose::Export || gp_put_key)
        .flag(CKA_SIGN, (use && (secret ? usage.has(Usage::Mac) : usage.has(Usage::Sign))) ||
                            (gp_kdf && secret))
        .flag(CKA_DECRYPT, (use && usage.has(Usage::Decrypt)) || (raw_decrypt && !secret))
        .flag(CKA_UNWRAP, use && usage.has(Usage::Unwrap))
        .flag(CKA_DERIVE, use && usage.has(Usage::Derive))
        .text(CKA_ID, key_id)
        .text(CKA_LABEL, key_id);
    if (secret) {
        t.flag(CKA_VERIFY, use && (usage.has(Usage::Mac) || usage.has(Usage::Verify)))
            .flag(CKA_ENCRYPT, (use && usage.has(Usage::Encrypt)) || gp_dek || gp_put_key)
            .flag(CKA_WRAP, (use && usage.has(Usage::Wrap)) || gp_dek);
    }
    return t;
}

Template public_key_template(Algorithm algorithm, ByteView ec_point_or_modulus,
                             ByteView public_exponent, std::string_view key_id) {
    Template t;
    t.ulong(CKA_CLASS, CKO_PUBLIC_KEY)
        .ulong(CKA_KEY_TYPE, key_kind(algorithm).key_type)
        .flag(CKA_TOKEN, false)
        .flag(CKA_PRIVATE, false)
        .flag(CKA_VERIFY, true)
        .flag(CKA_ENCRYPT, false)
        .flag(CKA_WRAP, false)
        .flag(CKA_DERIVE, false)
        .text(CKA_ID, key_id)
        .text(CKA_LABEL, key_id);
    if (core::info(algorithm).family == KeyFamily::Ec) {
        t.bytes(CKA_EC_PARAMS, ec_params_der(algorithm)).bytes(CKA_EC_POINT, ec_point_or_modulus);
    } else {
        t.bytes(CKA_MODULUS, ec_point_or_modulus).bytes(CKA_PUBLIC_EXPONENT, public_exponent);
    }
    return t;
}

// ---- attribute reading ---------------------------------------------------------------------

namespace {
CK_RV attribute_size(const CK_FUNCTION_LIST& fn, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
                     CK_ATTRIBUTE_TYPE type, CK_ULONG& size) {
    CK_ATTRIBUTE a{type, nullptr, 0};
    const CK_RV rv = fn.C_GetAttributeValue(s, o, &a, 1);
    size = a.ulValueLen;
    // PKCS#11 v2.40 §5.7: an unavailable attribute reports CK_UNAVAILABLE_INFORMATION.
    if (rv == CKR_OK && size == CK_UNAVAILABLE_INFORMATION) return CKR_ATTRIBUTE_SENSITIVE;
    return rv;
}
}  // namespace

Bytes read_attribute(const CK_FUNCTION_LIST& fn, CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object,
                     CK_ATTRIBUTE_TYPE type) {
    CK_ULONG size = 0;
    check_rv(attribute_size(fn, session, object, type, size), "C_GetAttributeValue");
    Bytes out(size);
    CK_ATTRIBUTE a{type, out.data(), size};
    check_rv(fn.C_GetAttributeValue(session, object, &a, 1), "C_GetAttributeValue");
    out.resize(a.ulValueLen);
    return out;
}

std::optional<Bytes> try_read_attribute(const CK_FUNCTION_LIST& fn, CK_SESSION_HANDLE session,
                                        CK_OBJECT_HANDLE object, CK_ATTRIBUTE_TYPE type) {
    CK_ULONG size = 0;
    const CK_RV rv = attribute_size(fn, session, object, type, size);
    if (rv == CKR_ATTRIBUTE_SENSITIVE || rv == CKR_ATTRIBUTE_TYPE_INVALID) return std::nullopt;
    check_rv(rv, "C_GetAttributeValue");
    Bytes out(size);
    CK_ATTRIBUTE a{type, out.data(), size};
    check_rv(fn.C_GetAttributeValue(session, object, &a, 1), "C_GetAttributeValue");
    out.resize(a.ulValueLen);
    return out;
}

SecureBytes read_secret_value(const CK_FUNCTION_LIST& fn, CK_SESSION_HANDLE session,
                              CK_OBJECT_HANDLE object) {
    CK_ULONG size = 0;
    check_rv(attribute_size(fn, session, object, CKA_VALUE, size), "C_GetAttributeValue",
             "CKA_VALUE");
    SecureBytes out(size);
    CK_ATTRIBUTE a{CKA_VALUE, out.data(), size};
    check_rv(fn.C_GetAttributeValue(session, object, &a, 1), "C_GetAttributeValue", "CKA_VALUE");
    if (a.ulValueLen != size)
        throw Error(ErrorCode::HsmError, "C_GetAttributeValue: CKA_VALUE changed size");
    return out;
}

bool read_flag(const CK_FUNCTION_LIST& fn, CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object,
               CK_ATTRIBUTE_TYPE type) {
    CK_BBOOL v = CK_FALSE;
    CK_ATTRIBUTE a{type, &v, sizeof v};
    check_rv(fn.C_GetAttributeValue(session, object, &a, 1), "C_GetAttributeValue");
    return v == CK_TRUE;
}

CK_ULONG read_ulong(const CK_FUNCTION_LIST& fn, CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object,
                    CK_ATTRIBUTE_TYPE type) {
    CK_ULONG v = 0;
    CK_ATTRIBUTE a{type, &v, sizeof v};
    check_rv(fn.C_GetAttributeValue(session, object, &a, 1), "C_GetAttributeValue");
    return v;
}

}  // namespace kms::hsm
