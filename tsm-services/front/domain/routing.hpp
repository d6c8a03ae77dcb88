// The front's routing logic, pure C++ (no Poco, no I/O, no clock of its own: every call that
// depends on time takes `now` in milliseconds): which upstream instances serve an actionCode
// (static rules and dynamic registrations with a time to live), their health, and the round robin
// over the healthy ones. The plugin (front/plugin) owns one RoutingTable and one HealthTracker
// behind its own mutex; none of these classes locks.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace kms::tsm::front {

/// Milliseconds on a monotonic clock (the plugin passes steady_clock time).
using Millis = std::int64_t;

/// True when @p code is 1..64 characters of [A-Za-z0-9._-], the only actionCodes the front
/// routes (they appear in logs and in GET /routes, so no other character is let in).
bool valid_action_code(const std::string& code);

/// A static rule of the instance configuration: "routes": {"<actionCode>": {"path",
/// "operation", "instances"}}.
struct StaticRoute {
    std::string path;                    ///< upstream path under each instance, starts with '/'
    bool operation = false;              ///< the answer may start an operation (affinity)
    std::vector<std::string> instances;  ///< instance base URLs, e.g. "https://127.0.0.1:9444/sp"
};

/// Where a candidate instance came from.
enum class Source { Static, Registered };

/// One instance able to serve one actionCode.
struct Candidate {
    std::string instance;  ///< base URL
    std::string path;      ///< upstream path for this actionCode on this instance
    bool operation = false;
    Source source = Source::Static;
    std::optional<Millis> expires_at;  ///< registrations only
};

/// The routing table: static rules plus registrations.
///
/// A registration names an instance, the actionCodes it serves and a time to live; it replaces
/// that instance's earlier registration (a heartbeat renews it) and stops counting once `now`
/// reaches its expiry. For an actionCode with a static rule a registered instance uses the
/// rule's path and operation flag; otherwise the registration's own for that code (`routes`),
/// or its common ones (default "/actions", not an operation). Not thread-safe.
class RoutingTable {
  public:
    /// @p routes: actionCode -> rule; the caller has validated the codes and paths.
    explicit RoutingTable(std::map<std::string, StaticRoute> routes);

    /// A registered instance's own path and flag for one actionCode.
    struct CodeRoute {
        std::string path;
        bool operation = false;
    };
    /// What a registration asks for (validated by the caller: codes valid, ttl > 0, every key
    /// of `routes` in `action_codes`).
    struct Registration {
        std::string instance;
        std::vector<std::string> action_codes;
        Millis ttl_ms = 0;
        std::optional<std::string> path;  ///< for actionCodes without a static rule
        std::optional<bool> operation;
        /// Per-code path and flag, for an instance serving codes at different paths; a code
        /// listed here uses them instead of `path` and `operation` (a static rule still wins).
        std::map<std::string, CodeRoute> routes = {};
    };
    /// Registers or renews @p r at @p now; returns its expiry.
    Millis register_instance(const Registration& r, Millis now);
    /// Removes @p instance's registration; false when it had none (static rules stay).
    bool unregister(const std::string& instance);
    /// Drops registrations expired at @p now; returns the instances dropped.
    std::vector<std::string> expire(Millis now);

    /// The instances serving @p action_code at @p now, static ones first in configuration
    /// order, then registered ones by URL; empty when the code is unknown (or only expired
    /// registrations served it).
    std::vector<Candidate> candidates(const std::string& action_code, Millis now) const;
    /// Every actionCode served at @p now (static or registered), sorted.
    std::vector<std::string> action_codes(Millis now) const;
    /// Every instance named by a rule or a live registration: what the health checks probe.
    std::set<std::string> instances(Millis now) const;

  private:
    struct Registered {
        std::vector<std::string> action_codes;
        Millis expires_at = 0;
        std::string path;
        bool operation = false;
        std::map<std::string, CodeRoute> routes;  ///< per-code overrides of path and operation
    };
    std::map<std::string, StaticRoute> m_static;
    std::map<std::string, Registered> m_registered;  ///< by instance URL
};

/// Health of upstream instances, fed by the active checks and by forwards.
///
/// An instance never seen is healthy. `failures` consecutive failed checks make it unhealthy; a
/// failed forward (suspect()) makes it unhealthy at once; one success makes it healthy again.
/// Not thread-safe.
class HealthTracker {
  public:
    /// @p failures_to_unhealthy: >= 1.
    explicit HealthTracker(int failures_to_unhealthy);

    void success(const std::string& instance);
    void failure(const std::string& instance);
    void suspect(const std::string& instance);
    bool healthy(const std::string& instance) const;
    /// Consecutive failures counted so far (0 when healthy or never seen).
    int failures(const std::string& instance) const;

  private:
    struct State {
        int failures = 0;
        bool healthy = true;
    };
    int m_threshold;
    std::map<std::string, State> m_state;
};

/// Round robin per actionCode. Not thread-safe.
class RoundRobin {
  public:
    /// The healthy candidates of @p all (healthy per @p health) in the order to try them: the
    /// first is the next in turn for @p action_code, the rest follow in circular order (the
    /// instances to fall back on when a request certainly did not reach the first). Advances the
    /// turn by one. Empty when none is healthy.
    std::vector<Candidate> order(const std::string& action_code, const std::vector<Candidate>& all,
                                 const HealthTracker& health);

  private:
    std::map<std::string, std::uint64_t> m_next;
};

}  // namespace kms::tsm::front
