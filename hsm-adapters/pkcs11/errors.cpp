// The CK_RV table: name and portable error code of every PKCS#11 v2.40 §5.1 return value.
#include "pkcs11/errors.hpp"

#include <cstdio>

namespace kms::hsm {

namespace {

struct RvEntry {
    CK_RV rv;
    std::string_view name;
    ErrorCode code;
};

using EC = ErrorCode;

// PKCS#11 v2.40 §5.1 (and v3.0 §5.1 for the last rows), in numeric order.
constexpr RvEntry kRvTable[] = {
    {CKR_OK, "CKR_OK", EC::HsmError},
    {CKR_CANCEL, "CKR_CANCEL", EC::HsmError},
    {CKR_HOST_MEMORY, "CKR_HOST_MEMORY", EC::HsmError},
    {CKR_SLOT_ID_INVALID, "CKR_SLOT_ID_INVALID", EC::HsmUnavailable},
    {CKR_GENERAL_ERROR, "CKR_GENERAL_ERROR", EC::HsmError},
    {CKR_FUNCTION_FAILED, "CKR_FUNCTION_FAILED", EC::HsmError},
    {CKR_ARGUMENTS_BAD, "CKR_ARGUMENTS_BAD", EC::InvalidArgument},
    {CKR_NO_EVENT, "CKR_NO_EVENT", EC::HsmError},
    {CKR_NEED_TO_CREATE_THREADS, "CKR_NEED_TO_CREATE_THREADS", EC::HsmError},
    {CKR_CANT_LOCK, "CKR_CANT_LOCK", EC::HsmError},
    {CKR_ATTRIBUTE_READ_ONLY, "CKR_ATTRIBUTE_READ_ONLY", EC::HsmError},
    {CKR_ATTRIBUTE_SENSITIVE, "CKR_ATTRIBUTE_SENSITIVE", EC::HsmError},
    {CKR_ATTRIBUTE_TYPE_INVALID, "CKR_ATTRIBUTE_TYPE_INVALID", EC::HsmError},
    {CKR_ATTRIBUTE_VALUE_INVALID, "CKR_ATTRIBUTE_VALUE_INVALID", EC::HsmError},
    {CKR_ACTION_PROHIBITED, "CKR_ACTION_PROHIBITED", EC::HsmError},
    {CKR_DATA_INVALID, "CKR_DATA_INVALID", EC::InvalidArgument},
    {CKR_DATA_LEN_RANGE, "CKR_DATA_LEN_RANGE", EC::InvalidArgument},
    {CKR_AEAD_DECRYPT_FAILED, "CKR_AEAD_DECRYPT_FAILED", EC::VerificationFailed},
    {CKR_DEVICE_ERROR, "CKR_DEVICE_ERROR", EC::HsmUnavailable},
    {CKR_DEVICE_MEMORY, "CKR_DEVICE_MEMORY", EC::HsmUnavailable},
    {CKR_DEVICE_REMOVED, "CKR_DEVICE_REMOVED", EC::HsmUnavailable},
    {CKR_ENCRYPTED_DATA_INVALID, "CKR_ENCRYPTED_DATA_INVALID", EC::VerificationFailed},
    {CKR_ENCRYPTED_DATA_LEN_RANGE, "CKR_ENCRYPTED_DATA_LEN_RANGE", EC::InvalidArgument},
    {CKR_FUNCTION_CANCELED, "CKR_FUNCTION_CANCELED", EC::HsmError},
    {CKR_FUNCTION_NOT_PARALLEL, "CKR_FUNCTION_NOT_PARALLEL", EC::HsmError},
    {CKR_FUNCTION_NOT_SUPPORTED, "CKR_FUNCTION_NOT_SUPPORTED", EC::Unsupported},
    {CKR_KEY_HANDLE_INVALID, "CKR_KEY_HANDLE_INVALID", EC::HsmError},
    {CKR_KEY_SIZE_RANGE, "CKR_KEY_SIZE_RANGE", EC::InvalidArgument},
    {CKR_KEY_TYPE_INCONSISTENT, "CKR_KEY_TYPE_INCONSISTENT", EC::HsmError},
    {CKR_KEY_NOT_NEEDED, "CKR_KEY_NOT_NEEDED", EC::HsmError},
    {CKR_KEY_CHANGED, "CKR_KEY_CHANGED", EC::HsmError},
    {CKR_KEY_NEEDED, "CKR_KEY_NEEDED", EC::HsmError},
    {CKR_KEY_INDIGESTIBLE, "CKR_KEY_INDIGESTIBLE", EC::HsmError},
    {CKR_KEY_FUNCTION_NOT_PERMITTED, "CKR_KEY_FUNCTION_NOT_PERMITTED", EC::UsageNotPermitted},
    {CKR_KEY_NOT_WRAPPABLE, "CKR_KEY_NOT_WRAPPABLE", EC::HsmError},
    {CKR_KEY_UNEXTRACTABLE, "CKR_KEY_UNEXTRACTABLE", EC::HsmError},
    {CKR_MECHANISM_INVALID, "CKR_MECHANISM_INVALID", EC::Unsupported},
    {CKR_MECHANISM_PARAM_INVALID, "CKR_MECHANISM_PARAM_INVALID", EC::InvalidArgument},
    {CKR_OBJECT_HANDLE_INVALID, "CKR_OBJECT_HANDLE_INVALID", EC::HsmError},
    {CKR_OPERATION_ACTIVE, "CKR_OPERATION_ACTIVE", EC::HsmError},
    {CKR_OPERATION_NOT_INITIALIZED, "CKR_OPERATION_NOT_INITIALIZED", EC::HsmError},
    {CKR_PIN_INCORRECT, "CKR_PIN_INCORRECT", EC::HsmError},
    {CKR_PIN_INVALID, "CKR_PIN_INVALID", EC::HsmError},
    {CKR_PIN_LEN_RANGE, "CKR_PIN_LEN_RANGE", EC::HsmError},
    {CKR_PIN_EXPIRED, "CKR_PIN_EXPIRED", EC::HsmError},
    {CKR_PIN_LOCKED, "CKR_PIN_LOCKED", EC::HsmError},
    {CKR_SESSION_CLOSED, "CKR_SESSION_CLOSED", EC::HsmUnavailable},
    {CKR_SESSION_COUNT, "CKR_SESSION_COUNT", EC::HsmUnavailable},
    {CKR_SESSION_HANDLE_INVALID, "CKR_SESSION_HANDLE_INVALID", EC::HsmUnavailable},
    {CKR_SESSION_PARALLEL_NOT_SUPPORTED, "CKR_SESSION_PARALLEL_NOT_SUPPORTED", EC::HsmError},
    {CKR_SESSION_READ_ONLY, "CKR_SESSION_READ_ONLY", EC::HsmError},
    {CKR_SESSION_EXISTS, "CKR_SESSION_EXISTS", EC::HsmError},
    {CKR_SESSION_READ_ONLY_EXISTS, "CKR_SESSION_READ_ONLY_EXISTS", EC::HsmError},
    {CKR_SESSION_READ_WRITE_SO_EXISTS, "CKR_SESSION_READ_WRITE_SO_EXISTS", EC::HsmError},
    {CKR_SIGNATURE_INVALID, "CKR_SIGNATURE_INVALID", EC::VerificationFailed},
    {CKR_SIGNATURE_LEN_RANGE, "CKR_SIGNATURE_LEN_RANGE", EC::InvalidArgument},
    {CKR_TEMPLATE_INCOMPLETE, "CKR_TEMPLATE_INCOMPLETE", EC::HsmError},
    {CKR_TEMPLATE_INCONSISTENT, "CKR_TEMPLATE_INCONSISTENT", EC::HsmError},
    {CKR_TOKEN_NOT_PRESENT, "CKR_TOKEN_NOT_PRESENT", EC::HsmUnavailable},
    {CKR_TOKEN_NOT_RECOGNIZED, "CKR_TOKEN_NOT_RECOGNIZED", EC::HsmUnavailable},
    {CKR_TOKEN_WRITE_PROTECTED, "CKR_TOKEN_WRITE_PROTECTED", EC::HsmError},
    {CKR_UNWRAPPING_KEY_HANDLE_INVALID, "CKR_UNWRAPPING_KEY_HANDLE_INVALID", EC::HsmError},
    {CKR_UNWRAPPING_KEY_SIZE_RANGE, "CKR_UNWRAPPING_KEY_SIZE_RANGE", EC::HsmError},
    {CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT, "CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT", EC::HsmError},
    {CKR_USER_ALREADY_LOGGED_IN, "CKR_USER_ALREADY_LOGGED_IN", EC::HsmError},
    {CKR_USER_NOT_LOGGED_IN, "CKR_USER_NOT_LOGGED_IN", EC::HsmUnavailable},
    {CKR_USER_PIN_NOT_INITIALIZED, "CKR_USER_PIN_NOT_INITIALIZED", EC::HsmError},
    {CKR_USER_TYPE_INVALID, "CKR_USER_TYPE_INVALID", EC::HsmError},
    {CKR_USER_ANOTHER_ALREADY_LOGGED_IN, "CKR_USER_ANOTHER_ALREADY_LOGGED_IN", EC::HsmError},
    {CKR_USER_TOO_MANY_TYPES, "CKR_USER_TOO_MANY_TYPES", EC::HsmError},
    {CKR_WRAPPED_KEY_INVALID, "CKR_WRAPPED_KEY_INVALID", EC::HsmError},
    {CKR_WRAPPED_KEY_LEN_RANGE, "CKR_WRAPPED_KEY_LEN_RANGE", EC::HsmError},
    {CKR_WRAPPING_KEY_HANDLE_INVALID, "CKR_WRAPPING_KEY_HANDLE_INVALID", EC::HsmError},
    {CKR_WRAPPING_KEY_SIZE_RANGE, "CKR_WRAPPING_KEY_SIZE_RANGE", EC::HsmError},
    {CKR_WRAPPING_KEY_TYPE_INCONSISTENT, "CKR_WRAPPING_KEY_TYPE_INCONSISTENT", EC::HsmError},
    {CKR_RANDOM_SEED_NOT_SUPPORTED, "CKR_RANDOM_SEED_NOT_SUPPORTED", EC::HsmError},
    {CKR_RANDOM_NO_RNG, "CKR_RANDOM_NO_RNG", EC::Unsupported},
    {CKR_DOMAIN_PARAMS_INVALID, "CKR_DOMAIN_PARAMS_INVALID", EC::HsmError},
    {CKR_CURVE_NOT_SUPPORTED, "CKR_CURVE_NOT_SUPPORTED", EC::Unsupported},
    {CKR_BUFFER_TOO_SMALL, "CKR_BUFFER_TOO_SMALL", EC::HsmError},
    {CKR_SAVED_STATE_INVALID, "CKR_SAVED_STATE_INVALID", EC::HsmError},
    {CKR_INFORMATION_SENSITIVE, "CKR_INFORMATION_SENSITIVE", EC::HsmError},
    {CKR_STATE_UNSAVEABLE, "CKR_STATE_UNSAVEABLE", EC::HsmError},
    {CKR_CRYPTOKI_NOT_INITIALIZED, "CKR_CRYPTOKI_NOT_INITIALIZED", EC::HsmUnavailable},
    {CKR_CRYPTOKI_ALREADY_INITIALIZED, "CKR_CRYPTOKI_ALREADY_INITIALIZED", EC::HsmError},
    {CKR_MUTEX_BAD, "CKR_MUTEX_BAD", EC::HsmError},
    {CKR_MUTEX_NOT_LOCKED, "CKR_MUTEX_NOT_LOCKED", EC::HsmError},
    {CKR_NEW_PIN_MODE, "CKR_NEW_PIN_MODE", EC::HsmError},
    {CKR_NEXT_OTP, "CKR_NEXT_OTP", EC::HsmError},
    {CKR_EXCEEDED_MAX_ITERATIONS, "CKR_EXCEEDED_MAX_ITERATIONS", EC::HsmError},
    {CKR_FIPS_SELF_TEST_FAILED, "CKR_FIPS_SELF_TEST_FAILED", EC::HsmUnavailable},
    {CKR_LIBRARY_LOAD_FAILED, "CKR_LIBRARY_LOAD_FAILED", EC::HsmUnavailable},
    {CKR_PIN_TOO_WEAK, "CKR_PIN_TOO_WEAK", EC::HsmError},
    {CKR_PUBLIC_KEY_INVALID, "CKR_PUBLIC_KEY_INVALID", EC::InvalidArgument},
    {CKR_FUNCTION_REJECTED, "CKR_FUNCTION_REJECTED", EC::HsmError},
    {CKR_TOKEN_RESOURCE_EXCEEDED, "CKR_TOKEN_RESOURCE_EXCEEDED", EC::HsmUnavailable},
    {CKR_OPERATION_CANCEL_FAILED, "CKR_OPERATION_CANCEL_FAILED", EC::HsmError},
};

const RvEntry* find_rv(CK_RV rv) noexcept {
    for (const auto& e : kRvTable)
        if (e.rv == rv) return &e;
    return nullptr;
}

std::string hex_rv(CK_RV rv) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "0x%08lX", static_cast<unsigned long>(rv));
    return buf;
}

}  // namespace

std::string ckr_name(CK_RV rv) {
    if (const auto* e = find_rv(rv)) return std::string(e->name);
    if (rv >= CKR_VENDOR_DEFINED) {
        char buf[48];
        std::snprintf(buf, sizeof buf, "CKR_VENDOR_DEFINED+0x%lX",
                      static_cast<unsigned long>(rv - CKR_VENDOR_DEFINED));
        return buf;
    }
    return "CKR_" + hex_rv(rv);
}

ErrorCode ckr_error_code(CK_RV rv) {
    if (const auto* e = find_rv(rv)) return e->code;
    return ErrorCode::HsmError;
}

Error ck_error(CK_RV rv, std::string_view function, std::string_view context) {
    std::string msg(function);
    if (!context.empty()) {
        msg += " (";
        msg += context;
        msg += ')';
    }
    msg += ": ";
    msg += ckr_name(rv);
    msg += " (";
    msg += hex_rv(rv);
    msg += ')';
    return Error(ckr_error_code(rv), msg, NativeKind::CkRv, rv);
}

bool ckr_means_session_lost(CK_RV rv) noexcept {
    switch (rv) {
        case CKR_SESSION_HANDLE_INVALID:
        case CKR_SESSION_CLOSED:
        case CKR_DEVICE_REMOVED:
        case CKR_TOKEN_NOT_PRESENT:
        case CKR_USER_NOT_LOGGED_IN:
            return true;
        default:
            return false;
    }
}

bool session_lost(const Error& e) noexcept {
    return e.native_kind() == NativeKind::CkRv &&
           ckr_means_session_lost(static_cast<CK_RV>(e.native_code()));
}

}  // namespace kms::hsm
