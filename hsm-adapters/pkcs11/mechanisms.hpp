// Mechanism discovery (PKCS#11 v2.40 §5.5 C_GetMechanismList / C_GetMechanismInfo) and the
// CKM_* name table used by HsmInfo::mechanisms and error messages.
//
// Thread safety: a MechanismSet is immutable after discover(); concurrent reads are safe.
#pragma once

#include <string>
#include <vector>

#include "pkcs11/cryptoki.hpp"
#include "ports/hsm.hpp"

namespace kms::hsm {

class Module;

/// "CKM_AES_CMAC" for a mechanism in the table; "CKM_VENDOR_DEFINED+0x..." for vendor
/// mechanisms; "CKM_0x0000ABCD" for anything else.
std::string ckm_name(CK_MECHANISM_TYPE mechanism);

/// The mechanisms a token offers, with their flags (CKF_SIGN, CKF_WRAP, ...) and key sizes.
class MechanismSet {
  public:
    MechanismSet() = default;

    /// Reads the list of @p slot. Throws kms::Error (CkRv) when the module refuses.
    static MechanismSet discover(const Module& module, CK_SLOT_ID slot);

    /// Whether @p mechanism is offered; with @p flags, whether all those CKF_* flags are set.
    bool has(CK_MECHANISM_TYPE mechanism, CK_FLAGS flags = 0) const noexcept;
    /// The info of @p mechanism, or nullptr.
    const CK_MECHANISM_INFO* find(CK_MECHANISM_TYPE mechanism) const noexcept;
    /// Names of every offered mechanism, sorted by mechanism number.
    std::vector<std::string> names() const;
    /// Every offered mechanism with its key sizes and flags, in the order of names().
    std::vector<core::HsmMechanism> details() const;
    std::size_t size() const noexcept { return m_entries.size(); }

  private:
    struct Entry {
        CK_MECHANISM_TYPE type;
        CK_MECHANISM_INFO info;
    };
    std::vector<Entry> m_entries;  // sorted by type
};

}  // namespace kms::hsm
