// The HTTP status a TSM plugin answers for a kms::Error, one table for every plugin (se-tsm,
// sp-tsm). It follows kmsd's (kms-core/api/error_mapping.cpp, API-CONTRACT.md: what the caller
// got wrong is a 4xx) with one difference: StoreError is 503, not 500, because for a plugin the
// TSM store is a dependency whose failure is transient (the request can be sent again), as
// HsmUnavailable is for kmsd.
#pragma once

#include "domain/error.hpp"

namespace kms::tsm {

inline int plugin_http_status(ErrorCode code) noexcept {
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
        case ErrorCode::StoreError:
            return 503;
        case ErrorCode::HsmError:
        case ErrorCode::Integrity:
        case ErrorCode::Internal:
            return 500;
    }
    return 500;
}

}  // namespace kms::tsm
