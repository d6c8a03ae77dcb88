// The one table from error code to HTTP status.
#pragma once

#include "domain/error.hpp"

namespace kms::api {

int http_status(ErrorCode code) noexcept;
/// Whether a refusal with this code is a denial that goes into the audit log (every 4xx).
inline bool is_client_error(ErrorCode code) noexcept {
    return http_status(code) < 500;
}

}  // namespace kms::api
