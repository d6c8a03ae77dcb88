// The front instance's configuration: the `config` object of its entry in tsmd's configuration
// file, read and checked once in create(). Every refusal names the field (tsmd then exits 78).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "routing.hpp"

namespace kms::tsm::front {

/// Upstream TLS: the CA the instances' server certificates must chain to, and the front's own
/// client certificate and key (mTLS towards instances that ask for one).
struct UpstreamTls {
    std::optional<std::string> ca;  ///< nullopt: the system's trusted CAs
    std::optional<std::string> certificate;
    std::optional<std::string> key;
    int timeout_seconds = 30;  ///< "timeoutSeconds": connect, send and answer, per request
    /// "poolSize": idle connections kept per instance. A request finding none opens one (a TLS
    /// handshake), and one finding the pool full closes its connection after use, so this
    /// should cover the concurrent requests to one instance.
    int pool_size = 32;
    /// "forwardClient": name the wallet (its client certificate's CN) to the instances in
    /// X-TSM-Client (plugin-api/forwarded_client.hpp). Needs `certificate`: an instance's tsmd
    /// believes the header only from the client certificates in its tls.trustedProxies.
    bool forward_client = false;
};

struct HealthCheckConfig {
    int interval_ms = 1000;  ///< between two rounds of checks
    int timeout_ms = 1000;   ///< per check (rounded up to whole seconds by the HTTPS client)
    int failures = 2;        ///< consecutive failed checks that make an instance unhealthy
};

struct RateLimitConfig {
    double requests_per_second = 0;
    double burst = 0;
};

struct FrontConfig {
    std::map<std::string, StaticRoute> routes;
    UpstreamTls upstream_tls;
    HealthCheckConfig health;
    std::optional<RateLimitConfig> rate_limit;  ///< nullopt: no limit
    std::size_t max_body_bytes = 65536;
    std::optional<std::vector<std::string>> registrars;  ///< nullopt: anyone may register
    std::int64_t operation_ttl_seconds = 3600;
};

/// Parses and checks @p json. Throws std::invalid_argument with a message naming the field
/// ("routes.transit.topup.path must start with '/'") for anything missing, of the wrong type, out
/// of range, or unknown (a misspelt field is refused rather than silently ignored).
FrontConfig parse_front_config(const std::string& json);

/// Checks that @p url is "https://HOST[:PORT][/PATH]" (no query, no trailing '/'); throws
/// std::invalid_argument naming @p field otherwise.
void check_instance_url(const std::string& url, const std::string& field);

}  // namespace kms::tsm::front
