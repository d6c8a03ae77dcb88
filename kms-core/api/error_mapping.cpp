// ErrorCode -> HTTP status (API-CONTRACT.md: anything the caller got wrong is a 4xx).
#include "api/error_mapping.hpp"

namespace kms::api {

int http_status(ErrorCode code) noexcept {
    switch (code) {
        case ErrorCode::InvalidArgument:
        case ErrorCode::MalformedRequest:
        case ErrorCode::VerificationFailed:
        case ErrorCode::Unsupported:
            return 400;
        case ErrorCode::Unauthenticated:
            return 401;
        case ErrorCode::Forbidden:
        case ErrorCode::UsageNotPermitted:
            return 403;
        case ErrorCode::NotFound:
            return 404;
        case ErrorCode::Conflict:
        case ErrorCode::WrongState:
            return 409;
        case ErrorCode::Expired:
            return 410;
        case ErrorCode::PayloadTooLarge:
            return 413;
        case ErrorCode::HsmUnavailable:
        // The store failed or cannot be reached now (a PostgreSQL restart, a lost connection:
        // the next call reconnects); nothing of the request was written. Retry later.
        case ErrorCode::StoreError:
            return 503;
        case ErrorCode::HsmError:
        case ErrorCode::Integrity:
        case ErrorCode::Internal:
            return 500;
    }
    return 500;
}

}  // namespace kms::api
