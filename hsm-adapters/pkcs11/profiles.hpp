// Vendor capability profiles: what the adapter must know about a PKCS#11 module beyond its
// mechanism list, as DATA (one row per vendor in profiles.cpp), never as forked code paths.
// A profile is chosen by name, or with "auto" from the module's CK_INFO (manufacturer and
// library description); a module no row matches gets "generic".
//
// Decisions that the discovered mechanism list can make are made from it (resolve()): for
// example ECDSA hashing happens in the module exactly when it offers CKM_ECDSA_SHA256/384. The
// profile only says what the list cannot: how many sessions to keep, which vendor mechanism
// computes a retail MAC, whether a host fallback is acceptable, how the module reports a failed
// GCM tag, whether the LMK is a trusted key.
//
// Thread safety: the table is immutable; every function may be called from any thread.
#pragma once

#include <array>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "pkcs11/cryptoki.hpp"

namespace kms::hsm {

class MechanismSet;

enum class EcdsaHashing {
    Auto,    ///< in the module when it offers CKM_ECDSA_SHA256/384, else on the host
    Module,  ///< always CKM_ECDSA_SHA256/384 (Unsupported when missing)
    Host,    ///< always host SHA-256/384 + CKM_ECDSA (e.g. a module whose hashing is slow)
};

/// One vendor row. See profiles.cpp for the rows and the evidence behind each value.
struct VendorProfile {
    std::string_view name;          ///< "softhsm2", "generic"
    std::string_view manufacturer;  ///< CK_INFO.manufacturerID prefix for "auto"; "" = never auto
    std::string_view description;   ///< CK_INFO.libraryDescription prefix; "" = any
    /// Sessions opened at start when Pkcs11Config::sessions is 0.
    std::size_t default_sessions;
    /// The mechanism number under which this module implements RFC 5649 (AES key wrap with
    /// padding), the wrapping of every key block. 0 = decide from the mechanism list:
    /// CKM_AES_KEY_WRAP_KWP (v3.x) when offered, else CKM_AES_KEY_WRAP_PAD.
    CK_MECHANISM_TYPE key_wrap_mechanism;
    /// A vendor mechanism computing ISO/IEC 9797-1 MAC algorithm 3 with a DES2/DES3 key over
    /// data the adapter has already padded (method 2), with no parameter, returning 8 bytes.
    /// 0 when the module has none.
    CK_MECHANISM_TYPE retail_mac_mechanism;
    /// When there is no native retail MAC: may kmsd compute it on the host from a clear value
    /// unwrapped for the purpose (locked memory, wiped at once)? false = Unsupported.
    bool retail_mac_host_fallback;
    EcdsaHashing ecdsa_hashing;
    /// Key distribution (DESIGN §5) where the module has no mechanism for it: may kmsd build
    /// and open TR-31 key blocks on the host (KBPK and key read into locked memory from
    /// short-lived non-sensitive objects, wiped at once)? false = TR-31 is Unsupported.
    bool tr31_host_fallback;
    /// Whether the module's CKM_RSA_PKCS_OAEP accepts hashAlg CKM_SHA256 / CKG_MGF1_SHA256.
    /// false: RSA-OAEP-SHA256 export encrypts on the host (key value in locked memory) and
    /// import runs raw RSA (CKM_RSA_X_509) in the module and the OAEP decoding on the host.
    bool rsa_oaep_sha256_in_module;
    /// Whether the deployment marks the LMK CKA_TRUSTED (an SO ceremony) so working keys can
    /// carry CKA_WRAP_WITH_TRUSTED. See pkcs11_hsm.hpp, "Key storage".
    bool lmk_trusted;
    /// C_Decrypt return values, besides CKR_ENCRYPTED_DATA_INVALID and CKR_AEAD_DECRYPT_FAILED,
    /// by which this module reports a GCM tag or CBC padding that does not verify (0 = unused).
    std::array<CK_RV, 2> decrypt_failure_rvs;
    std::string_view notes;
};

/// Every row, "generic" last.
const std::vector<VendorProfile>& vendor_profiles();

/// @p requested is "auto" or a row name. "auto" picks the first row whose manufacturer (and
/// description, when set) prefixes the module's CK_INFO fields, else "generic".
/// Throws kms::Error(InvalidArgument) naming the known profiles when @p requested is unknown.
const VendorProfile& select_profile(std::string_view requested, const CK_INFO& info);

/// The profile applied to the discovered mechanisms: what the adapter will actually do.
struct Capabilities {
    CK_MECHANISM_TYPE key_wrap_mechanism = 0;    ///< RFC 5649 wrap/unwrap of key blocks
    CK_MECHANISM_TYPE retail_mac_mechanism = 0;  ///< non-zero: native retail MAC
    bool retail_mac_on_host = false;             ///< host fallback in use
    bool ecdsa_sha256_in_module = false;         ///< else host SHA-256 + CKM_ECDSA
    bool ecdsa_sha384_in_module = false;
    bool lmk_trusted = false;
    std::array<CK_RV, 2> decrypt_failure_rvs{};
    bool tr31_on_host = false;                   ///< TR-31 export/import on the host
    bool rsa_oaep_sha256_on_host = false;        ///< RSA-OAEP-SHA256 via the host (see profile)
    /// Human-readable list for HsmInfo::host_fallbacks, with the reason.
    std::vector<std::string> host_fallbacks;
};

/// Applies @p profile to @p mechanisms. Throws kms::Error(Unsupported) naming the missing
/// mechanism when the token lacks one the key storage model cannot do without:
/// CKM_AES_KEY_GEN, the RFC 5649 key wrap mechanism (wrap and unwrap),
/// CKM_GENERIC_SECRET_KEY_GEN, CKM_SHA256_HMAC (sign and verify).
Capabilities resolve(const VendorProfile& profile, const MechanismSet& mechanisms);

}  // namespace kms::hsm
