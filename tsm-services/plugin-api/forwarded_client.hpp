// The wallet's identity behind the front. The front authenticates a wallet by its client
// certificate and forwards the request to an instance with the front's own certificate; it
// names the wallet in the header kForwardedClientHeader. tsmd believes that header only from
// the client certificates its configuration lists in tls.trustedProxies (docs/tsmd.md) and then
// hands the wallet's name to the plugin as tsm_request.client; from anyone else the header is
// refused (403), so a wallet cannot claim another wallet's name by calling an instance itself.
// Header-only: the front plugin and tsmd both include it.
#pragma once

#include <string_view>

namespace kms::tsm {

inline constexpr const char* kForwardedClientHeader = "X-TSM-Client";

/// True when @p name can travel in kForwardedClientHeader unchanged: 1 to 64 characters of
/// printable ASCII (0x21 to 0x7E, and spaces inside), no leading or trailing space (an HTTP
/// header value's surrounding whitespace is not part of it, RFC 9110 §5.5). A certificate CN
/// outside this set is not forwarded (the front refuses the request).
inline bool forwardable_client_name(std::string_view name) noexcept {
    if (name.empty() || name.size() > 64 || name.front() == ' ' || name.back() == ' ') return false;
    for (const char c : name)
        if (c < 0x20 || c > 0x7E) return false;
    return true;
}

}  // namespace kms::tsm
