// The fault shim's control language: the parsed content of the control file, and the names of
// PKCS#11 functions, return values and mechanisms it accepts. Pure parsing, no I/O, so the shim
// (faultshim.cpp) and a reader of this header agree on what a line means.
//
// The language, one directive per line, '#' starts a comment, blank lines are ignored:
//
//   target <path>                       the real module (read once, at C_GetFunctionList)
//   fail <C_Function|*> <CKR> [count=N] [after=N]
//                                       answer <CKR> instead of calling the real module; the
//                                       first `after` matching calls pass (default 0), then
//                                       `count` calls fail (default: every call until the rule
//                                       goes away)
//   delay <C_Function|*> <ms>           sleep <ms> milliseconds (0..60000) before the call
//   remove                              the token is out of its slot (see faultshim.cpp)
//   reset                               the device lost every session, once per load
//   clear                               forget every directive above this line
//   hide <CKM>                          vendor quirk: the module does not offer <CKM>
//   unsupported <C_Function>            vendor quirk: = fail <C_Function>
//                                       CKR_FUNCTION_NOT_SUPPORTED
//   login-already-logged-in             vendor quirk: a successful C_Login answers
//                                       CKR_USER_ALREADY_LOGGED_IN (the login is shared with
//                                       another application)
//   manufacturer <text>                 vendor quirk: C_GetInfo reports this manufacturerID
//
// <CKR> and <CKM> are names from PKCS#11 v2.40 §5.1 / §2 ("CKR_DEVICE_ERROR", "CKM_RSA_X_509")
// for the values in the tables of control.cpp, or numbers ("0x30", "48"). <C_Function> is a
// member name of CK_FUNCTION_LIST (v2.40 §5.x); "*" matches every function except C_Initialize,
// C_Finalize and C_GetFunctionList.
//
// Thread safety: all functions are pure; a Control is a value with no internal locking.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pkcs11/cryptoki.hpp"

namespace kms::hsm::faultshim {

// clang-format off
/// Every function of CK_FUNCTION_LIST (PKCS#11 v2.40 §5) but C_GetFunctionList, in list order.
#define KMS_FAULTSHIM_FUNCTIONS(X)                                                               \
    X(C_Initialize) X(C_Finalize) X(C_GetInfo) X(C_GetSlotList) X(C_GetSlotInfo)                 \
    X(C_GetTokenInfo) X(C_GetMechanismList) X(C_GetMechanismInfo) X(C_InitToken) X(C_InitPIN)    \
    X(C_SetPIN) X(C_OpenSession) X(C_CloseSession) X(C_CloseAllSessions) X(C_GetSessionInfo)     \
    X(C_GetOperationState) X(C_SetOperationState) X(C_Login) X(C_Logout) X(C_CreateObject)       \
    X(C_CopyObject) X(C_DestroyObject) X(C_GetObjectSize) X(C_GetAttributeValue)                 \
    X(C_SetAttributeValue) X(C_FindObjectsInit) X(C_FindObjects) X(C_FindObjectsFinal)           \
    X(C_EncryptInit) X(C_Encrypt) X(C_EncryptUpdate) X(C_EncryptFinal) X(C_DecryptInit)          \
    X(C_Decrypt) X(C_DecryptUpdate) X(C_DecryptFinal) X(C_DigestInit) X(C_Digest)                \
    X(C_DigestUpdate) X(C_DigestKey) X(C_DigestFinal) X(C_SignInit) X(C_Sign) X(C_SignUpdate)    \
    X(C_SignFinal) X(C_SignRecoverInit) X(C_SignRecover) X(C_VerifyInit) X(C_Verify)             \
    X(C_VerifyUpdate) X(C_VerifyFinal) X(C_VerifyRecoverInit) X(C_VerifyRecover)                 \
    X(C_DigestEncryptUpdate) X(C_DecryptDigestUpdate) X(C_SignEncryptUpdate)                     \
    X(C_DecryptVerifyUpdate) X(C_GenerateKey) X(C_GenerateKeyPair) X(C_WrapKey) X(C_UnwrapKey)   \
    X(C_DeriveKey) X(C_SeedRandom) X(C_GenerateRandom) X(C_GetFunctionStatus)                    \
    X(C_CancelFunction) X(C_WaitForSlotEvent)
// clang-format on

/// Index of a function in KMS_FAULTSHIM_FUNCTIONS.
enum class Fn : std::uint8_t {
#define KMS_FAULTSHIM_ENUM(f) f,
    KMS_FAULTSHIM_FUNCTIONS(KMS_FAULTSHIM_ENUM)
#undef KMS_FAULTSHIM_ENUM
        Count
};
constexpr std::size_t kFunctionCount = static_cast<std::size_t>(Fn::Count);

/// "C_Sign" for Fn::C_Sign.
std::string_view function_name(Fn f) noexcept;
/// The function named @p name, if any.
std::optional<Fn> function_by_name(std::string_view name) noexcept;

/// "CKR_DEVICE_ERROR" for a value in the table, else "0x..." (hex).
std::string ckr_label(CK_RV rv);
/// A CKR_* name from the table or a number (decimal or 0x hex).
std::optional<CK_RV> parse_ckr(std::string_view text) noexcept;
/// A CKM_* name from the table or a number (decimal or 0x hex).
std::optional<CK_MECHANISM_TYPE> parse_ckm(std::string_view text) noexcept;

/// `fail` (and `unsupported`). @p function empty = "*".
struct FailRule {
    std::optional<Fn> function;  ///< nullopt: every function but the three never faulted
    CK_RV rv = CKR_OK;
    std::uint64_t after = 0;  ///< matching calls let through first
    std::uint64_t count = 0;  ///< calls failed after those; 0 = unlimited
    bool quirk = false;       ///< written as `unsupported` (counted as a quirk)
    // Progress, kept by the shim while the rule is loaded:
    std::uint64_t seen = 0;
    std::uint64_t fired = 0;
};

/// `delay`.
struct DelayRule {
    std::optional<Fn> function;  ///< nullopt: every function but the three never faulted
    unsigned milliseconds = 0;
};

/// Everything one load of the control file asks for.
struct Control {
    std::string target;  ///< `target`, "" when absent
    std::vector<FailRule> fails;
    std::vector<DelayRule> delays;
    bool removed = false;
    bool reset = false;
    std::vector<CK_MECHANISM_TYPE> hidden;
    bool login_already_logged_in = false;
    std::optional<std::string> manufacturer;
};

/// Parses the whole control file @p text. A line that cannot be parsed is skipped and described
/// in @p errors ("line 3: unknown CKR 'CKR_NOPE'"); the other lines still apply.
Control parse_control(std::string_view text, std::vector<std::string>& errors);

/// True for the functions a fault rule never touches: C_Initialize, C_Finalize (the shim's and
/// the caller's life cycle) — and C_GetFunctionList, which is not in Fn at all.
constexpr bool never_faulted(Fn f) noexcept {
    return f == Fn::C_Initialize || f == Fn::C_Finalize;
}

}  // namespace kms::hsm::faultshim
