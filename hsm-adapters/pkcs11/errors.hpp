// CK_RV to kms::Error: one table gives every return value of PKCS#11 v2.40 §5.1 (plus the v3.0
// additions a newer module may send) its CKR_* name and the portable ErrorCode, and the thrown
// error keeps the numeric CK_RV (NativeKind::CkRv) for logs and support cases.
//
// Messages name the PKCS#11 function and the CKR name, optionally a non-secret context such as
// a key id. They never contain a PIN or key material: callers pass only function names and ids.
//
// Thread safety: all functions are pure and may be called from any thread.
#pragma once

#include <string>
#include <string_view>

#include "domain/error.hpp"
#include "pkcs11/cryptoki.hpp"

namespace kms::hsm {

/// "CKR_KEY_HANDLE_INVALID" for a known value; "CKR_VENDOR_DEFINED+0x..." or "CKR_0x..." else.
std::string ckr_name(CK_RV rv);

/// The portable code for @p rv:
///   device, session and token-gone errors (CKR_DEVICE_*, CKR_SESSION_CLOSED,
///   CKR_SESSION_HANDLE_INVALID, CKR_TOKEN_NOT_PRESENT, CKR_CRYPTOKI_NOT_INITIALIZED, ...)
///     -> HsmUnavailable (503: retry later, the adapter may reconnect);
///   CKR_MECHANISM_INVALID, CKR_FUNCTION_NOT_SUPPORTED -> Unsupported;
///   CKR_SIGNATURE_INVALID, CKR_ENCRYPTED_DATA_INVALID, CKR_AEAD_DECRYPT_FAILED
///     -> VerificationFailed;
///   bad lengths and arguments (CKR_DATA_LEN_RANGE, CKR_ENCRYPTED_DATA_LEN_RANGE,
///   CKR_SIGNATURE_LEN_RANGE, CKR_ARGUMENTS_BAD, CKR_MECHANISM_PARAM_INVALID, ...)
///     -> InvalidArgument;
///   CKR_KEY_FUNCTION_NOT_PERMITTED -> UsageNotPermitted (the object's capability flags, derived
///     from the key's usage mask, refused the operation);
///   everything else, including CKR_OK passed by mistake -> HsmError.
ErrorCode ckr_error_code(CK_RV rv);

/// The exception for a failed call: code from ckr_error_code(), native_kind CkRv, native_code
/// @p rv, message "<function>: <CKR name> (0x<hex>)" or "<function> (<context>): ...".
/// @p function is the PKCS#11 entry point ("C_SignInit"); @p context must not be secret.
Error ck_error(CK_RV rv, std::string_view function, std::string_view context = {});

/// Throws ck_error(rv, function, context) unless rv == CKR_OK.
inline void check_rv(CK_RV rv, std::string_view function, std::string_view context = {}) {
    if (rv != CKR_OK) throw ck_error(rv, function, context);
}

/// True for the return values after which the adapter's sessions are gone and must be reopened
/// (and the user logged in again): CKR_SESSION_HANDLE_INVALID, CKR_SESSION_CLOSED,
/// CKR_DEVICE_REMOVED, CKR_TOKEN_NOT_PRESENT, CKR_USER_NOT_LOGGED_IN.
bool ckr_means_session_lost(CK_RV rv) noexcept;

/// True when @p e came from one of the return values of ckr_means_session_lost().
bool session_lost(const Error& e) noexcept;

}  // namespace kms::hsm
