// CKM_* names of the common mechanisms and the discovery of a token's mechanism list.
#include "pkcs11/mechanisms.hpp"

#include <algorithm>
#include <cstdio>

#include "pkcs11/errors.hpp"
#include "pkcs11/module.hpp"

namespace kms::hsm {

namespace {

struct MechName {
    CK_MECHANISM_TYPE type;
    const char* name;
};

#define KMS_CKM(x) \
    { x, #x }
// PKCS#11 v2.40 current mechanisms §2 (the ones a payment or card-management HSM offers).
constexpr MechName kMechNames[] = {
    KMS_CKM(CKM_RSA_PKCS_KEY_PAIR_GEN),
    KMS_CKM(CKM_RSA_PKCS),
    KMS_CKM(CKM_RSA_9796),
    KMS_CKM(CKM_RSA_X_509),
    KMS_CKM(CKM_MD5_RSA_PKCS),
    KMS_CKM(CKM_SHA1_RSA_PKCS),
    KMS_CKM(CKM_RSA_PKCS_OAEP),
    KMS_CKM(CKM_RSA_X9_31_KEY_PAIR_GEN),
    KMS_CKM(CKM_RSA_X9_31),
    KMS_CKM(CKM_SHA1_RSA_X9_31),
    KMS_CKM(CKM_RSA_PKCS_PSS),
    KMS_CKM(CKM_SHA1_RSA_PKCS_PSS),
    KMS_CKM(CKM_DSA_KEY_PAIR_GEN),
    KMS_CKM(CKM_DSA),
    KMS_CKM(CKM_DSA_SHA1),
    KMS_CKM(CKM_DSA_SHA224),
    KMS_CKM(CKM_DSA_SHA256),
    KMS_CKM(CKM_DSA_SHA384),
    KMS_CKM(CKM_DSA_SHA512),
    KMS_CKM(CKM_DH_PKCS_KEY_PAIR_GEN),
    KMS_CKM(CKM_DH_PKCS_DERIVE),
    KMS_CKM(CKM_SHA256_RSA_PKCS),
    KMS_CKM(CKM_SHA384_RSA_PKCS),
    KMS_CKM(CKM_SHA512_RSA_PKCS),
    KMS_CKM(CKM_SHA256_RSA_PKCS_PSS),
    KMS_CKM(CKM_SHA384_RSA_PKCS_PSS),
    KMS_CKM(CKM_SHA512_RSA_PKCS_PSS),
    KMS_CKM(CKM_SHA224_RSA_PKCS),
    KMS_CKM(CKM_SHA224_RSA_PKCS_PSS),
    KMS_CKM(CKM_SHA512_224),
    KMS_CKM(CKM_SHA512_256),
    KMS_CKM(CKM_DES_KEY_GEN),
    KMS_CKM(CKM_DES_ECB),
    KMS_CKM(CKM_DES_CBC),
    KMS_CKM(CKM_DES_MAC),
    KMS_CKM(CKM_DES_MAC_GENERAL),
    KMS_CKM(CKM_DES_CBC_PAD),
    KMS_CKM(CKM_DES2_KEY_GEN),
    KMS_CKM(CKM_DES3_KEY_GEN),
    KMS_CKM(CKM_DES3_ECB),
    KMS_CKM(CKM_DES3_CBC),
    KMS_CKM(CKM_DES3_MAC),
    KMS_CKM(CKM_DES3_MAC_GENERAL),
    KMS_CKM(CKM_DES3_CBC_PAD),
    KMS_CKM(CKM_DES3_CMAC_GENERAL),
    KMS_CKM(CKM_DES3_CMAC),
    KMS_CKM(CKM_MD5),
    KMS_CKM(CKM_MD5_HMAC),
    KMS_CKM(CKM_SHA_1),
    KMS_CKM(CKM_SHA_1_HMAC),
    KMS_CKM(CKM_SHA256),
    KMS_CKM(CKM_SHA256_HMAC),
    KMS_CKM(CKM_SHA256_HMAC_GENERAL),
    KMS_CKM(CKM_SHA224),
    KMS_CKM(CKM_SHA224_HMAC),
    KMS_CKM(CKM_SHA384),
    KMS_CKM(CKM_SHA384_HMAC),
    KMS_CKM(CKM_SHA512),
    KMS_CKM(CKM_SHA512_HMAC),
    KMS_CKM(CKM_GENERIC_SECRET_KEY_GEN),
    KMS_CKM(CKM_CONCATENATE_BASE_AND_KEY),
    KMS_CKM(CKM_CONCATENATE_BASE_AND_DATA),
    KMS_CKM(CKM_CONCATENATE_DATA_AND_BASE),
    KMS_CKM(CKM_XOR_BASE_AND_DATA),
    KMS_CKM(CKM_EXTRACT_KEY_FROM_KEY),
    KMS_CKM(CKM_EC_KEY_PAIR_GEN),
    KMS_CKM(CKM_ECDSA),
    KMS_CKM(CKM_ECDSA_SHA1),
    KMS_CKM(CKM_ECDSA_SHA224),
    KMS_CKM(CKM_ECDSA_SHA256),
    KMS_CKM(CKM_ECDSA_SHA384),
    KMS_CKM(CKM_ECDSA_SHA512),
    KMS_CKM(CKM_ECDH1_DERIVE),
    KMS_CKM(CKM_ECDH1_COFACTOR_DERIVE),
    KMS_CKM(CKM_EC_EDWARDS_KEY_PAIR_GEN),
    KMS_CKM(CKM_EDDSA),
    KMS_CKM(CKM_AES_KEY_GEN),
    KMS_CKM(CKM_AES_ECB),
    KMS_CKM(CKM_AES_CBC),
    KMS_CKM(CKM_AES_MAC),
    KMS_CKM(CKM_AES_MAC_GENERAL),
    KMS_CKM(CKM_AES_CBC_PAD),
    KMS_CKM(CKM_AES_CTR),
    KMS_CKM(CKM_AES_GCM),
    KMS_CKM(CKM_AES_CCM),
    KMS_CKM(CKM_AES_CTS),
    KMS_CKM(CKM_AES_CMAC),
    KMS_CKM(CKM_AES_CMAC_GENERAL),
    KMS_CKM(CKM_AES_GMAC),
    KMS_CKM(CKM_DES_ECB_ENCRYPT_DATA),
    KMS_CKM(CKM_DES_CBC_ENCRYPT_DATA),
    KMS_CKM(CKM_DES3_ECB_ENCRYPT_DATA),
    KMS_CKM(CKM_DES3_CBC_ENCRYPT_DATA),
    KMS_CKM(CKM_AES_ECB_ENCRYPT_DATA),
    KMS_CKM(CKM_AES_CBC_ENCRYPT_DATA),
    KMS_CKM(CKM_DSA_PARAMETER_GEN),
    KMS_CKM(CKM_DH_PKCS_PARAMETER_GEN),
    KMS_CKM(CKM_AES_KEY_WRAP),
    KMS_CKM(CKM_AES_KEY_WRAP_PAD),
    KMS_CKM(CKM_AES_KEY_WRAP_KWP),
};
#undef KMS_CKM

}  // namespace

std::string ckm_name(CK_MECHANISM_TYPE mechanism) {
    for (const auto& m : kMechNames)
        if (m.type == mechanism) return m.name;
    char buf[48];
    if (mechanism >= CKM_VENDOR_DEFINED)
        std::snprintf(buf, sizeof buf, "CKM_VENDOR_DEFINED+0x%lX",
                      static_cast<unsigned long>(mechanism - CKM_VENDOR_DEFINED));
    else
        std::snprintf(buf, sizeof buf, "CKM_0x%08lX", static_cast<unsigned long>(mechanism));
    return buf;
}

MechanismSet MechanismSet::discover(const Module& module, CK_SLOT_ID slot) {
    const auto& fn = module.fn();
    // PKCS#11 v2.40 §5.5: C_GetMechanismList uses the usual two-call convention; the list
    // cannot change while the token is present, but retry once if it grew in between.
    std::vector<CK_MECHANISM_TYPE> types;
    for (int attempt = 0;; ++attempt) {
        CK_ULONG n = 0;
        check_rv(fn.C_GetMechanismList(slot, nullptr, &n), "C_GetMechanismList");
        types.resize(n);
        const CK_RV rv = fn.C_GetMechanismList(slot, types.data(), &n);
        if (rv == CKR_BUFFER_TOO_SMALL && attempt == 0) continue;
        check_rv(rv, "C_GetMechanismList");
        types.resize(n);
        break;
    }
    MechanismSet set;
    set.m_entries.reserve(types.size());
    for (const auto t : types) {
        Entry e{t, {}};
        check_rv(fn.C_GetMechanismInfo(slot, t, &e.info), "C_GetMechanismInfo", ckm_name(t));
        set.m_entries.push_back(e);
    }
    std::sort(set.m_entries.begin(), set.m_entries.end(),
              [](const Entry& a, const Entry& b) { return a.type < b.type; });
    return set;
}

const CK_MECHANISM_INFO* MechanismSet::find(CK_MECHANISM_TYPE mechanism) const noexcept {
    const auto it =
        std::lower_bound(m_entries.begin(), m_entries.end(), mechanism,
                         [](const Entry& e, CK_MECHANISM_TYPE t) { return e.type < t; });
    if (it == m_entries.end() || it->type != mechanism) return nullptr;
    return &it->info;
}

bool MechanismSet::has(CK_MECHANISM_TYPE mechanism, CK_FLAGS flags) const noexcept {
    const auto* info = find(mechanism);
    return info != nullptr && (info->flags & flags) == flags;
}

std::vector<core::HsmMechanism> MechanismSet::details() const {
    // CK_MECHANISM_INFO.flags, PKCS#11 v2.40 §3.6 table 34.
    static constexpr std::pair<CK_FLAGS, const char*> kFlags[] = {
        {CKF_HW, "hw"},
        {CKF_ENCRYPT, "encrypt"},
        {CKF_DECRYPT, "decrypt"},
        {CKF_DIGEST, "digest"},
        {CKF_SIGN, "sign"},
        {CKF_SIGN_RECOVER, "sign-recover"},
        {CKF_VERIFY, "verify"},
        {CKF_VERIFY_RECOVER, "verify-recover"},
        {CKF_GENERATE, "generate"},
        {CKF_GENERATE_KEY_PAIR, "generate-key-pair"},
        {CKF_WRAP, "wrap"},
        {CKF_UNWRAP, "unwrap"},
        {CKF_DERIVE, "derive"},
    };
    std::vector<core::HsmMechanism> out;
    out.reserve(m_entries.size());
    for (const auto& e : m_entries) {
        core::HsmMechanism m;
        m.name = ckm_name(e.type);
        m.min_key_size = e.info.ulMinKeySize;
        m.max_key_size = e.info.ulMaxKeySize;
        for (const auto& [flag, name] : kFlags)
            if ((e.info.flags & flag) != 0) m.flags.emplace_back(name);
        out.push_back(std::move(m));
    }
    return out;
}

std::vector<std::string> MechanismSet::names() const {
    std::vector<std::string> out;
    out.reserve(m_entries.size());
    for (const auto& e : m_entries) out.push_back(ckm_name(e.type));
    return out;
}

}  // namespace kms::hsm
