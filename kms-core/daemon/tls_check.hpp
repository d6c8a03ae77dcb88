// Whether kmsd's existing TLS certificate can stay in service.
#pragma once

#include <cstdint>
#include <string>

#include "domain/bytes.hpp"

namespace kms::daemon {

/// True when @p cert_der is signed by @p ca_der, names @p host (IP or DNS), and is still valid
/// at @p valid_at_s (Unix seconds). False on any parse error.
bool certificate_valid_for(ByteView cert_der, ByteView ca_der, const std::string& host,
                           std::int64_t valid_at_s);

}  // namespace kms::daemon
