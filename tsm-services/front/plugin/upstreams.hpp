// The front's HTTPS connections to its upstream instances (other tsmd processes): a small pool of
// keep-alive kms::client::HttpsConnection per instance, shared by the request threads, and the
// health probe (GET <origin>/healthz, which tsmd answers 200 itself).
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "client/https_connection.hpp"
#include "front_config.hpp"

namespace kms::tsm::front {

/// Thread-safe: send() is called concurrently from tsmd's request threads; probe() from the
/// health-check thread. Each connection is used by one thread at a time (taken from the pool for
/// the call, put back after a complete answer, dropped after a transport error).
class Upstreams {
  public:
    /// @p tls: CA, client certificate and timeouts for every instance. @p max_answer: the largest
    /// upstream answer read (larger ones fail with TransportError::Kind::TooLarge).
    Upstreams(UpstreamTls tls, std::size_t max_answer);
    Upstreams(const Upstreams&) = delete;
    Upstreams& operator=(const Upstreams&) = delete;

    /// Sends @p call to @p instance (a base URL checked by check_instance_url; call.target is
    /// taken under its path). Returns the answer whatever its status. Throws
    /// kms::client::TransportError as HttpsConnection::send does; request_sent() false means
    /// the instance certainly did not get the request (safe to send it elsewhere).
    kms::client::HttpAnswer send(const std::string& instance, const kms::client::HttpCall& call);

    /// GET https://HOST:PORT/healthz of @p instance, within @p timeout_ms (rounded up to whole
    /// seconds). True on a 200 answer; false on any other status or transport error, whose text
    /// goes to @p why. Only one thread (the health checker) may call it.
    bool probe(const std::string& instance, int timeout_ms, std::string& why);
    /// Closes the probe connections of instances not in @p instances (an expired registration);
    /// the health checker's thread only.
    void retain_probes(const std::set<std::string>& instances);

  private:
    struct Pool {
        kms::client::HttpsEndpoint endpoint;
        std::mutex mutex;
        std::vector<std::unique_ptr<kms::client::HttpsConnection>> idle;
    };
    Pool& pool(const std::string& instance);
    kms::client::HttpsEndpoint endpoint(const std::string& instance) const;

    UpstreamTls m_tls;
    std::size_t m_max_answer;
    std::mutex m_mutex;  ///< guards m_pools (the map, not the pools)
    std::map<std::string, std::unique_ptr<Pool>> m_pools;
    std::map<std::string, std::unique_ptr<kms::client::HttpsConnection>> m_probes;  ///< checker's
};

}  // namespace kms::tsm::front
