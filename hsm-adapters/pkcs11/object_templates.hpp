// Attribute templates for every object the adapter creates (PKCS#11 v2.40 §4), in one place so
// a reviewer can check the security attributes of each kind side by side, plus attribute
// reading helpers.
//
// Objects and their security attributes (T = true, F = false, - = not set):
//
//   object                       TOKEN PRIVATE SENSITIVE EXTRACTABLE capabilities
//   kms-lmk (AES-256)              T     T        T          F       WRAP, UNWRAP only
//   kms-lmk-mac, kms-audit         T     T        T          F       SIGN, VERIFY (HMAC) only
//   temporary working key          F     T        T          T       SIGN (AES, for the CMAC
//     (generate / import)                                            KCV) or ENCRYPT (DES3, for
//                                                                    the ECB KCV); destroyed
//                                                                    as soon as it is wrapped
//   unwrapped key for use          F     T        T          F       from the usage mask
//   unwrapped key, host fallback   F     T        F          T       none; read and destroyed
//                                                                    at once (DES3-RETAIL,
//                                                                    TR-31, RSA-OAEP export)
//   unwrapped key for export       F     T        T          T       none; one C_WrapKey under
//                                                                    a trusted KEK, destroyed
//   key imported under a KEK       F     T        T          T       as the temporary working
//                                                                    key; destroyed when wrapped
//   RSA key for OAEP import        F     T        T          F       DECRYPT (CKM_RSA_X_509)
//                                                                    only; destroyed after use
//   static SCP03 key for the KDF   F     T        T          F       SIGN (CKM_AES_CMAC) only;
//                                                                    cached (ObjectRole::GpKdf)
//   static SCP03 DEK               F     T        T          F       WRAP, ENCRYPT only; cached
//                                                                    (ObjectRole::GpDek)
//   key for PUT KEY (SCP03)        F     T        T          T       ENCRYPT only (KCV); one
//                                                                    C_WrapKey under the DEK,
//                                                                    destroyed at once
//   key diversified from a KMC     F     T        T          T       as the temporary working
//     into a key block                                               key; destroyed when wrapped
//   KMC-diversified static key     F     T        T          F       DERIVE only; destroyed
//                                                                    after the session keys
//   SCP02 session key (derived)    F     T        F          T       none; generic secret,
//                                                                    read and destroyed at once
//   public key for verify          F     F        -          -       VERIFY
//
// Templates keep pointers to the caller's bytes (key ids, values, curve parameters): those must
// outlive the PKCS#11 call the template is passed to.
//
// Thread safety: a Template is a plain value; the read helpers use the session they are given.
#pragma once

#include <deque>
#include <optional>
#include <string_view>
#include <vector>

#include "domain/algorithm.hpp"
#include "domain/bytes.hpp"
#include "domain/secure_bytes.hpp"
#include "pkcs11/cryptoki.hpp"

namespace kms::hsm {

/// A growing CK_ATTRIBUTE array. Booleans and CK_ULONGs are stored inside (stable addresses);
/// byte strings are referenced, not copied.
class Template {
  public:
    Template() { m_attrs.reserve(20); }
    Template& flag(CK_ATTRIBUTE_TYPE type, bool value);
    Template& ulong(CK_ATTRIBUTE_TYPE type, CK_ULONG value);
    Template& bytes(CK_ATTRIBUTE_TYPE type, ByteView value);
    Template& text(CK_ATTRIBUTE_TYPE type, std::string_view value);
    CK_ATTRIBUTE* data() noexcept { return m_attrs.data(); }
    CK_ULONG size() const noexcept { return static_cast<CK_ULONG>(m_attrs.size()); }

  private:
    std::vector<CK_ATTRIBUTE> m_attrs;
    std::deque<CK_ULONG> m_ulongs;
};

/// PKCS#11 key type and generation mechanism of a kms algorithm.
struct KeyKind {
    CK_KEY_TYPE key_type;
    CK_MECHANISM_TYPE generate;  ///< CKM_AES_KEY_GEN, CKM_DES2_KEY_GEN, ..., CKM_EC_KEY_PAIR_GEN
};
KeyKind key_kind(core::Algorithm algorithm);

/// DER of the named-curve OID for CKA_EC_PARAMS (P-256: 1.2.840.10045.3.1.7,
/// P-384: 1.3.132.0.34); empty for non-EC algorithms.
ByteView ec_params_der(core::Algorithm algorithm);

/// The three master objects, created as token objects on first start.
Template lmk_template(std::string_view label, ByteView id);
Template master_hmac_template(std::string_view label, ByteView id);

/// A temporary secret key (session object) for generate() (value empty: C_GenerateKey) or
/// import (C_CreateObject with CKA_VALUE = value). @p wrap_with_trusted: the profile's
/// lmk_trusted (PKCS#11 v2.40 §4.10: the key may then be wrapped only by a trusted key).
Template temp_secret_template(core::Algorithm algorithm, bool wrap_with_trusted,
                              const SecureBytes* value);

/// The C_UnwrapKey template of a secret key imported under a KEK (AES-KW/KWP): like
/// temp_secret_template without CKA_VALUE / CKA_VALUE_LEN (the unwrap sets them); destroyed as
/// soon as its KCV is computed and it is wrapped under the LMK.
Template temp_unwrap_template(core::Algorithm algorithm, bool wrap_with_trusted);

/// Temporary key pair templates for C_GenerateKeyPair (EC: CKA_EC_PARAMS; RSA: modulus bits
/// and public exponent 65537).
Template temp_public_template(core::Algorithm algorithm);
Template temp_private_template(core::Algorithm algorithm, bool wrap_with_trusted);

/// What an unwrapped object is for.
enum class UnwrapPurpose {
    Use,             ///< sensitive, non-extractable, capabilities from the usage mask
    HostClearValue,  ///< non-sensitive, extractable, no capabilities: read CKA_VALUE, destroy
    Export,          ///< sensitive, extractable, no capabilities: one C_WrapKey under a KEK, destroy
    RsaRawDecrypt,   ///< sensitive, non-extractable, DECRYPT only (CKM_RSA_X_509), destroy
    GpKdf,           ///< sensitive, non-extractable, SIGN only: a static SCP03 key (usage derive)
                     ///< computing the SP 800-108 KDF with CKM_AES_CMAC (gp_derivation.cpp)
    GpDek,           ///< sensitive, non-extractable, WRAP + ENCRYPT only: a card's static SCP03
                     ///< DEK (usage wrap) for PUT KEY and STORE DATA encryption (gp_keys.cpp)
    GpPutKey,        ///< sensitive, extractable, ENCRYPT only (the GP KCV): one C_WrapKey under
                     ///< a card's DEK for PUT KEY, destroyed at once (gp_keys.cpp)
};

/// The C_UnwrapKey template of a working key: session object, CKA_ID = key id bytes,
/// CKA_LABEL = key id. For Use, the capability flags follow @p usage:
///   secret keys:  mac -> SIGN+VERIFY, verify -> VERIFY, encrypt -> ENCRYPT, decrypt -> DECRYPT,
///                 wrap -> WRAP, unwrap -> UNWRAP, derive -> DERIVE;
///   private keys: sign -> SIGN, decrypt -> DECRYPT, unwrap -> UNWRAP, derive -> DERIVE.
Template unwrap_template(core::Algorithm algorithm, core::UsageMask usage, std::string_view key_id,
                         UnwrapPurpose purpose);

/// A public key session object for verify (EC: params + DER point; RSA: modulus + exponent).
Template public_key_template(core::Algorithm algorithm, ByteView ec_point_or_modulus,
                             ByteView public_exponent, std::string_view key_id);

// ---- attribute reading ---------------------------------------------------------------------

/// The bytes of one attribute (two-call convention, PKCS#11 v2.40 §5.7 C_GetAttributeValue).
/// Throws kms::Error (CkRv), e.g. CKR_ATTRIBUTE_SENSITIVE.
Bytes read_attribute(const CK_FUNCTION_LIST& fn, CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object,
                     CK_ATTRIBUTE_TYPE type);
/// Like read_attribute, but nullopt when the attribute is sensitive, unknown or absent.
std::optional<Bytes> try_read_attribute(const CK_FUNCTION_LIST& fn, CK_SESSION_HANDLE session,
                                        CK_OBJECT_HANDLE object, CK_ATTRIBUTE_TYPE type);
/// CKA_VALUE of a non-sensitive secret key straight into locked, wiped memory.
SecureBytes read_secret_value(const CK_FUNCTION_LIST& fn, CK_SESSION_HANDLE session,
                              CK_OBJECT_HANDLE object);
/// A CK_BBOOL / CK_ULONG attribute.
bool read_flag(const CK_FUNCTION_LIST& fn, CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object,
               CK_ATTRIBUTE_TYPE type);
CK_ULONG read_ulong(const CK_FUNCTION_LIST& fn, CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object,
                    CK_ATTRIBUTE_TYPE type);

}  // namespace kms::hsm
