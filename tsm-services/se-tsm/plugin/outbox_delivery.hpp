// se-tsm's delivery worker: one background thread per se-tsm instance that sends the outbox's
// pending entries to sp-tsm (`POST <target>/attributes`, mTLS with se-tsm's own certificate),
// one at a time in sequence order, and records each attempt in the TSM store. The outbox is
// durable, so what is pending when tsmd stops, or while sp-tsm is down, is delivered later.
// The rules (message, status classes, backoff) are in domain/outbox_sync.hpp.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "client/https_connection.hpp"
#include "se_tsm_service.hpp"

namespace kms::tsm::se {

/// The instance configuration's "sync" object (docs/se-tsm.md, "Delivery to sp-tsm").
struct SyncSettings {
    /// sp-tsm instances sharing one TSM store, as "https://HOST:PORT/INSTANCE"; tried in order
    /// until one answers (2xx or 4xx).
    std::vector<std::string> targets;
    std::string ca_file;    ///< CA bundle that sp-tsm's tsmd server certificate chains to
    std::string cert_file;  ///< se-tsm's client certificate (its CN is in sp-tsm's syncClients)
    std::string key_file;   ///< its private key
    std::string source;     ///< this instance's name, sent as "source"
    std::uint64_t retry_ms = 200;          ///< first wait after a failed attempt
    std::uint64_t max_backoff_ms = 30000;  ///< longest wait between attempts
    std::uint64_t poll_ms = 1000;  ///< look for entries queued by other processes this often
    int timeout_seconds = 10;      ///< per HTTPS call
};

/// Owns the worker thread. Construction sets up one HTTPS connection per target (no network
/// traffic yet) and starts the thread, which begins with whatever is pending in the store;
/// destruction stops and joins it (waiting at most for the HTTPS call in flight, bounded by
/// timeout_seconds). Thread safety: wake() may be called from any thread; the service must be
/// thread-safe (SeTsmService is) and outlive this object.
class OutboxDelivery {
  public:
    /// One line for tsmd's log: level (tsm_log_level), message.
    using Log = std::function<void(int, const std::string&)>;

    /// Throws client::TransportError(Setup) when a target URL, the CA, the certificate or the
    /// key cannot be used, std::invalid_argument when there is no target.
    OutboxDelivery(SeTsmService& service, SyncSettings settings, Log log);
    ~OutboxDelivery();
    OutboxDelivery(const OutboxDelivery&) = delete;
    OutboxDelivery& operator=(const OutboxDelivery&) = delete;

    /// An entry was queued: look now rather than at the next poll. Does not shorten a backoff
    /// wait after a failure (sp-tsm being down is not helped by asking it more often).
    void wake() noexcept;

  private:
    void run() noexcept;
    /// One attempt on the targets in order; the result and, unless delivered, why.
    std::pair<DeliveryResult, std::string> attempt(const OutboxEntry& entry);
    /// Waits @p ms or until stopped (and, when @p wakeable, until woken). False when stopped.
    bool wait(std::uint64_t ms, bool wakeable);

    SeTsmService& m_service;
    SyncSettings m_settings;
    Log m_log;
    std::vector<client::HttpsConnection> m_connections;  ///< one per target, used by run() only
    std::mutex m_mutex;
    std::condition_variable m_cv;
    bool m_stop = false;
    bool m_woken = false;
    std::thread m_thread;  ///< last: started once everything above exists
};

}  // namespace kms::tsm::se
