// Stable names of the error codes, as they appear in JSON error bodies.
#include "error.hpp"

namespace kms {

std::string_view error_code_name(ErrorCode code) noexcept {
    switch (code) {
        case ErrorCode::InvalidArgument:
            return "invalid_argument";
        case ErrorCode::MalformedRequest:
            return "malformed_request";
        case ErrorCode::PayloadTooLarge:
            return "payload_too_large";
        case ErrorCode::Unauthenticated:
            return "unauthenticated";
        case ErrorCode::Forbidden:
            return "forbidden";
        case ErrorCode::UsageNotPermitted:
            return "usage_not_permitted";
        case ErrorCode::NotFound:
            return "not_found";
        case ErrorCode::Conflict:
            return "conflict";
        case ErrorCode::WrongState:
            return "wrong_state";
        case ErrorCode::Expired:
            return "expired";
        case ErrorCode::VerificationFailed:
            return "verification_failed";
        case ErrorCode::Unsupported:
            return "unsupported";
        case ErrorCode::HsmUnavailable:
            return "hsm_unavailable";
        case ErrorCode::HsmError:
            return "hsm_error";
        case ErrorCode::StoreError:
            return "store_error";
        case ErrorCode::Integrity:
            return "integrity_error";
        case ErrorCode::Internal:
            return "internal";
    }
    return "internal";
}

}  // namespace kms
