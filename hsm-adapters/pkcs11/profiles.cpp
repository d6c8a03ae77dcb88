// The vendor capability table. Add a vendor by adding a row; cite the evidence next to it.
#include "pkcs11/profiles.hpp"

#include "domain/error.hpp"
#include "pkcs11/mechanisms.hpp"
#include "pkcs11/module.hpp"

namespace kms::hsm {

namespace {

const std::vector<VendorProfile> kProfiles = {
    {
        .name = "softhsm2",
        // SoftHSM 2.6.1 C_GetInfo: manufacturerID "SoftHSM", libraryDescription
        // "Implementation of PKCS11".
        .manufacturer = "SoftHSM",
        .description = "Implementation of PKCS11",
        // SoftHSM2 alone is fastest with one thread (issue measurement: 128k CMAC/s with 1
        // thread, 79k/s with 2), but inside kmsd on 2 cores the cost that dominates is a request
        // thread blocking for a pooled session: every wait is a futex sleep and wake, a context
        // switch per MAC. Measured with wrk (docs/benchmarks.md): 2 sessions gave MAC/healthz
        // 0.30-0.41, 32 sessions 0.59-0.65. SoftHSM2's own critical sections are short, and only
        // as many threads as cores run at once, so its internal contention costs less than the
        // pool's. 32 covers typical concurrency; override with Pkcs11Config::sessions (<= 64).
        .default_sessions = 32,
        // SoftHSM2 implements RFC 5649 under 0x210A, CKM_AES_KEY_WRAP_PAD, the number v3.x
        // gives to PKCS#7 padding + RFC 3394; v3.x names RFC 5649 CKM_AES_KEY_WRAP_KWP (0x210B),
        // which SoftHSM2 does not list (softhsm/SoftHSMv2#726). Pinned so a key block stays
        // RFC 5649 whatever a later SoftHSM2 adds.
        .key_wrap_mechanism = CKM_AES_KEY_WRAP_PAD,
        // 2.6.1 offers CKM_DES3_CMAC but nothing for ISO/IEC 9797-1 algorithm 3.
        .retail_mac_mechanism = 0,
        .retail_mac_host_fallback = true,
        // 2.6.1 lists CKM_ECDSA only; decided from the mechanism list so a later SoftHSM with
        // CKM_ECDSA_SHA256 hashes in the module.
        .ecdsa_hashing = EcdsaHashing::Auto,
        // SoftHSM2 has no TR-31 / X9.143 mechanism (no vendor key block mechanisms at all).
        .tr31_host_fallback = true,
        // SoftHSMv2 src/lib/SoftHSM.cpp (AsymEncryptInit / AsymDecryptInit, CKM_RSA_PKCS_OAEP):
        // "hashAlg must be CKM_SHA_1", "mgf must be CKG_MGF1_SHA1", else CKR_ARGUMENTS_BAD.
        .rsa_oaep_sha256_in_module = false,
        // Only the SO may set CKA_TRUSTED = true (C_CreateObject as user: CKR_ATTRIBUTE_READ_ONLY)
        // and an SO session cannot create private objects, so the LMK cannot be trusted here.
        .lmk_trusted = false,
        // SoftHSM 2.6.1 C_Decrypt answers CKR_GENERAL_ERROR for a wrong GCM tag and for bad
        // CBC padding (checked in tests/hsm).
        .decrypt_failure_rvs = {CKR_GENERAL_ERROR, 0},
        .notes = "SoftHSM2 2.6: software token, file object store; token objects are slow to "
                 "create (~170/s), so working keys live in key blocks",
    },
    {
        .name = "generic",
        .manufacturer = "",
        .description = "",
        .default_sessions = 4,
        .key_wrap_mechanism = 0,
        .retail_mac_mechanism = 0,
        .retail_mac_host_fallback = true,
        .ecdsa_hashing = EcdsaHashing::Auto,
        .tr31_host_fallback = true,
        .rsa_oaep_sha256_in_module = false,
        .lmk_trusted = false,
        .decrypt_failure_rvs = {0, 0},
        .notes = "any PKCS#11 v2.40 module; only standard mechanisms are used",
    },
};

bool starts_with(std::string_view text, std::string_view prefix) {
    return text.substr(0, prefix.size()) == prefix;
}

}  // namespace

const std::vector<VendorProfile>& vendor_profiles() {
    return kProfiles;
}

const VendorProfile& select_profile(std::string_view requested, const CK_INFO& info) {
    if (requested == "auto") {
        const std::string manufacturer = trim_padded(info.manufacturerID);
        const std::string description = trim_padded(info.libraryDescription);
        for (const auto& p : kProfiles) {
            if (p.manufacturer.empty()) continue;
            if (starts_with(manufacturer, p.manufacturer) &&
                starts_with(description, p.description))
                return p;
        }
        return kProfiles.back();
    }
    std::string known;
    for (const auto& p : kProfiles) {
        if (p.name == requested) return p;
        known += known.empty() ? "" : ", ";
        known += p.name;
    }
    throw Error(ErrorCode::InvalidArgument, "unknown HSM profile '" + std::string(requested) +
                                                "' (known: auto, " + known + ")");
}

Capabilities resolve(const VendorProfile& profile, const MechanismSet& mechanisms) {
    struct Required {
        CK_MECHANISM_TYPE mechanism;
        CK_FLAGS flags;
    };
    CK_MECHANISM_TYPE wrap = profile.key_wrap_mechanism;
    if (wrap == 0)
        wrap = mechanisms.has(CKM_AES_KEY_WRAP_KWP, CKF_WRAP | CKF_UNWRAP) ? CKM_AES_KEY_WRAP_KWP
                                                                           : CKM_AES_KEY_WRAP_PAD;
    // DESIGN §4: the LMK, the two HMAC master keys and every key block depend on these.
    for (const Required r :
         {Required{CKM_AES_KEY_GEN, CKF_GENERATE}, Required{wrap, CKF_WRAP | CKF_UNWRAP},
          Required{CKM_GENERIC_SECRET_KEY_GEN, CKF_GENERATE},
          Required{CKM_SHA256_HMAC, CKF_SIGN | CKF_VERIFY}}) {
        if (!mechanisms.has(r.mechanism, r.flags))
            throw Error(ErrorCode::Unsupported, "the token lacks " + ckm_name(r.mechanism) +
                                                    ", which the key storage model requires");
    }

    Capabilities caps;
    caps.key_wrap_mechanism = wrap;
    caps.lmk_trusted = profile.lmk_trusted;
    caps.decrypt_failure_rvs = profile.decrypt_failure_rvs;

    if (profile.retail_mac_mechanism != 0 &&
        mechanisms.has(profile.retail_mac_mechanism, CKF_SIGN)) {
        caps.retail_mac_mechanism = profile.retail_mac_mechanism;
    } else if (profile.retail_mac_host_fallback) {
        caps.retail_mac_on_host = true;
        caps.host_fallbacks.emplace_back(
            "DES3-RETAIL: module lacks ISO/IEC 9797-1 MAC algorithm 3; the key block is "
            "unwrapped into a short-lived non-sensitive object, its value read into locked "
            "memory, the object destroyed, the MAC computed on the host and the value wiped");
    }

    if (profile.tr31_host_fallback) {
        caps.tr31_on_host = true;
        caps.host_fallbacks.emplace_back(
            "TR-31: module has no ANSI X9.143 key block mechanism; the KBPK and the key are "
            "unwrapped into short-lived non-sensitive objects, read into locked memory, the "
            "objects destroyed, the key block built or opened on the host and the values wiped");
    }
    if (!profile.rsa_oaep_sha256_in_module && mechanisms.has(CKM_RSA_X_509, CKF_DECRYPT)) {
        caps.rsa_oaep_sha256_on_host = true;
        caps.host_fallbacks.emplace_back(
            "RSA-OAEP-SHA256: module's CKM_RSA_PKCS_OAEP takes SHA-1 only; export: the key value "
            "is read into locked memory from a short-lived non-sensitive object and encrypted on "
            "the host to the recipient's sealed public key; import: raw RSA (CKM_RSA_X_509) in "
            "the module, EME-OAEP decoding on the host in locked memory, the key created in the "
            "module at once and the value wiped");
    }

    const bool module_256 = mechanisms.has(CKM_ECDSA_SHA256, CKF_SIGN | CKF_VERIFY);
    const bool module_384 = mechanisms.has(CKM_ECDSA_SHA384, CKF_SIGN | CKF_VERIFY);
    switch (profile.ecdsa_hashing) {
        case EcdsaHashing::Auto:
            caps.ecdsa_sha256_in_module = module_256;
            caps.ecdsa_sha384_in_module = module_384;
            break;
        case EcdsaHashing::Module:
            caps.ecdsa_sha256_in_module = caps.ecdsa_sha384_in_module = true;
            break;
        case EcdsaHashing::Host:
            break;
    }
    if (!caps.ecdsa_sha256_in_module || !caps.ecdsa_sha384_in_module) {
        caps.host_fallbacks.emplace_back(
            std::string("ECDSA: message hashed on the host (") +
            (caps.ecdsa_sha256_in_module ? "" : "SHA-256") +
            (!caps.ecdsa_sha256_in_module && !caps.ecdsa_sha384_in_module ? ", " : "") +
            (caps.ecdsa_sha384_in_module ? "" : "SHA-384") +
            "), the digest signed in the module with CKM_ECDSA; no key material leaves the HSM");
    }
    // GlobalPlatform secure channels (gp_derivation.cpp). CKM_SP800_108_COUNTER_KDF is PKCS#11
    // v3.0 (0x3AC); SoftHSM2 2.6.1 does not have it, and the adapter does not use it yet.
    constexpr CK_MECHANISM_TYPE kSp800108CounterKdf = 0x3ACUL;
    caps.host_fallbacks.emplace_back(
        std::string("GlobalPlatform session keys: derived in the HSM (KMC diversification with "
                    "CKM_DES3_ECB_ENCRYPT_DATA into sensitive session objects; SCP02 with "
                    "CKM_DES3_CBC_ENCRYPT_DATA; SCP03 SP 800-108 KDF with CKM_AES_CMAC by the "
                    "static key objects, ") +
        (mechanisms.has(kSp800108CounterKdf, CKF_DERIVE)
             ? "CKM_SP800_108_COUNTER_KDF not used yet"
             : "the module lacks CKM_SP800_108_COUNTER_KDF") +
        "); the session keys are held by kmsd in locked memory and wiped when the session "
        "ends. SCP02 PUT KEY and STORE DATA encryption use that session DEK on the host (the "
        "key to deliver is read into locked memory from a short-lived non-sensitive object); "
        "SCP03 PUT KEY wraps in the module with CKM_AES_CBC under the static DEK");
    return caps;
}

}  // namespace kms::hsm
