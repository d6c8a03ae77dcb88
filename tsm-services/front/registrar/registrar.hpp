// A service instance's registrar: keeps the instance registered at one or more fronts
// (docs/front.md, "Registration from the service side"). It registers at start, renews every
// ttl/3 from a background thread per front, retries with backoff while a front is down or
// refuses, and deregisters on a clean stop, so that the fronts route the instance's actionCodes
// to it only while it runs. Used by the sp-tsm and se-tsm plugins (their "front" configuration).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "registrar_config.hpp"

namespace kms::tsm::registrar {

/// Keeps one instance registered at every front of its settings.
///
/// Lifetime: the constructor loads the TLS material and starts one worker thread per front
/// (so that a front that hangs never delays the renewals at the others), which sends the first
/// registration at once (the instance's tsmd may not listen yet: a front that tries it in that
/// moment marks it unhealthy until its next health check). stop(), called by the destructor,
/// tells every worker to end; each one deregisters (DELETE) at its front if its last call
/// succeeded there, and stop() joins them. Fronts that were unreachable are skipped, so that
/// stopping does not wait on them.
///
/// Time bounds: every HTTPS call is bounded by settings.timeout_seconds for the TCP connect and
/// for each read; a front that accepts the connection but never completes the TLS handshake
/// holds a call for about three times that (Poco retries the handshake; measured in the tsm
/// suite). stop() therefore returns at once when the fronts answer or refuse connections, and
/// within about 6 x timeout_seconds at worst (the call in flight, then the DELETE), the fronts
/// being handled in parallel.
///
/// Per front, independently: a 200 answer counts as registered and the next renewal is due
/// renewal_interval_ms(ttl) later; anything else (no connection, a timeout, a 4xx such as 403
/// `forbidden` when this instance's certificate CN is not in the front's `registrars`, a 5xx)
/// is a failure, retried after Backoff(Backoff::kFirstRetryMs, max_retry_ms(ttl)). A 4xx is
/// retried too: the front's configuration may be fixed without restarting this instance.
///
/// Logging goes through the callback only (never stdout): INFO when a front takes the
/// registration after not having it, WARNING (transport, 5xx) or ERROR (4xx) when a front stops
/// taking it or the reason changes, not at every retry; INFO or WARNING for deregistration.
///
/// Thread safety: stop() and status() may be called from any thread, concurrently. The
/// callback is called from the workers, one call at a time (the Registrar serializes them),
/// and must not call back into this object.
class Registrar {
  public:
    /// One log line: level (plugin-api/tsm_plugin.h's tsm_log_level: TSM_LOG_INFO, _WARNING or
    /// _ERROR), message.
    using Log = std::function<void(int level, const std::string& message)>;

    /// Sets up one HTTPS connection per front (no network traffic yet) and starts the workers.
    /// Throws std::invalid_argument naming the field ("front.ca, front.certificate or
    /// front.key: ...", "front.urls[1]: ...") when the CA, certificate or key cannot be loaded
    /// or a URL is bad; nothing is started then. @p settings as returned by
    /// parse_front_registration().
    Registrar(RegistrarSettings settings, Log log);
    /// stop(); noexcept.
    ~Registrar();
    Registrar(const Registrar&) = delete;
    Registrar& operator=(const Registrar&) = delete;

    /// Ends the workers, each deregistering at its front when that front has the registration,
    /// and joins them (see the time bounds above). Idempotent; later calls return at once.
    void stop() noexcept;

    /// What the registrar knows of one front (for logs and tests).
    struct FrontStatus {
        std::string url;
        bool registered = false;  ///< the last call to this front succeeded
        int failures = 0;         ///< consecutive failed calls
        std::string last_error;   ///< why the last failed call failed ("" when none)
    };
    /// A snapshot, in the order of settings.front_urls.
    std::vector<FrontStatus> status() const;

  private:
    struct Front;
    /// One front's worker: register, renew, retry; deregister when stopped.
    void run(Front& f) noexcept;
    /// Sends the registration to @p f and updates its state (its worker only).
    void register_at(Front& f);
    /// Sends the DELETE to @p f if it has the registration (its worker, when stopping).
    void deregister_at(Front& f) noexcept;
    void log(int level, const std::string& message) noexcept;

    RegistrarSettings m_settings;
    Log m_log;
    std::mutex m_log_mutex;  ///< one callback call at a time
    std::string m_body;      ///< the registration body, the same at every call
    std::vector<std::unique_ptr<Front>> m_fronts;
    mutable std::mutex m_mutex;  ///< guards m_stop and every Front's status
    std::condition_variable m_cv;
    bool m_stop = false;
    std::mutex m_stop_mutex;  ///< serializes stop() callers
};

}  // namespace kms::tsm::registrar
