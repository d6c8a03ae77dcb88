// Turns a parsed kmsctl command into the REST call it stands for (method, target, JSON body),
// validating every argument on the way. Pure: no network, so it is unit tested.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "args.hpp"

namespace kms::cli {

/// kmsd's request body limit (API: 1 MiB); a larger body is refused locally with exit 1.
inline constexpr std::size_t kMaxRequestBody = 1024 * 1024;

/// One REST call.
struct ApiCall {
    std::string method;               ///< "GET", "POST", "PUT" or "DELETE"
    std::string target;               ///< percent-encoded path plus query, e.g. "/v1/keys?limit=5"
    std::optional<std::string> body;  ///< JSON text, when the call has a body
    bool needs_auth = true;           ///< whether the Authorization header is sent
    /// The answer is not JSON (a DER or PEM CRL, a PEM chain): the runner prints it or writes
    /// it to --out as received. Errors are still kmsd's JSON error shape.
    bool raw_answer = false;
    std::string accept = "application/json";  ///< the Accept header
    /// The body carries a secret (a ceremony component): the runner wipes it after sending.
    bool secret_body = false;
    /// A private key kmsctl made for this call (principal create --key-out; cli/client_key.hpp):
    /// never sent; the runner writes it to --key-out once kmsd has answered, and wipes it.
    std::optional<std::string> local_key_pem = std::nullopt;
};

/// Builds the call for @p inv (whose command must be set). For key list and audit list,
/// @p cursor, when given, replaces --after (keys) or --from (audit) to fetch the next page.
/// Throws UsageError (exit 1) for any invalid argument: bad hex, an IV of the wrong length for
/// the mode, AAD outside AES-GCM, an unknown algorithm, usage, role, state or reason, a number
/// out of range, a body over kMaxRequestBody; for the issue-3 commands also component and KCV
/// lengths, format names and the material each format takes, TR-31 options outside TR-31,
/// certificate profiles and validity limits, unreadable input files (--csr-file,
/// --component-file, --key-block-file, --public-key-file: read here, no network). A ceremony
/// component is never echoed in a message.
ApiCall build_call(const Invocation& inv, const std::optional<std::string>& cursor = std::nullopt);

/// Percent-encodes one path segment or query value (RFC 3986 §2.3: only unreserved characters
/// stay as they are).
std::string percent_encode(std::string_view text);

}  // namespace kms::cli
