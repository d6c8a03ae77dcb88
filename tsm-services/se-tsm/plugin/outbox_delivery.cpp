// se-tsm's delivery worker (see outbox_delivery.hpp).
#include "outbox_delivery.hpp"

#include <stdexcept>

#include "outbox_sync.hpp"
#include "plugin-api/tsm_plugin.h"

namespace kms::tsm::se {

OutboxDelivery::OutboxDelivery(SeTsmService& service, SyncSettings settings, Log log)
    : m_service(service), m_settings(std::move(settings)), m_log(std::move(log)) {
    if (m_settings.targets.empty()) throw std::invalid_argument("sync.targets: none given");
    for (const std::string& target : m_settings.targets) {
        client::HttpsEndpoint e;
        try {
            client::parse_https_url(target, e);
        } catch (const std::invalid_argument& err) {
            throw client::TransportError(client::TransportError::Kind::Setup,
                                         "sync.targets: " + std::string(err.what()), false);
        }
        e.ca_file = m_settings.ca_file;
        e.cert_file = m_settings.cert_file;
        e.key_file = m_settings.key_file;
        e.timeout_seconds = m_settings.timeout_seconds;
        m_connections.emplace_back(e, 64 * 1024);
    }
    m_thread = std::thread([this] { run(); });
}

OutboxDelivery::~OutboxDelivery() {
    {
        std::lock_guard lock(m_mutex);
        m_stop = true;
    }
    m_cv.notify_all();
    if (m_thread.joinable()) m_thread.join();
}

void OutboxDelivery::wake() noexcept {
    {
        std::lock_guard lock(m_mutex);
        m_woken = true;
    }
    m_cv.notify_all();
}

bool OutboxDelivery::wait(std::uint64_t ms, bool wakeable) {
    std::unique_lock lock(m_mutex);
    m_cv.wait_for(lock, std::chrono::milliseconds(ms),
                  [&] { return m_stop || (wakeable && m_woken); });
    if (wakeable) m_woken = false;
    return !m_stop;
}

std::pair<DeliveryResult, std::string> OutboxDelivery::attempt(const OutboxEntry& entry) {
    client::HttpCall call;
    call.method = "POST";
    call.target = "/attributes";
    call.body = sync_message_json(entry, m_settings.source);
    call.user_agent = "se-tsm-sync/0.1";
    std::string errors;
    for (std::size_t i = 0; i < m_connections.size(); ++i) {
        const std::string& target = m_settings.targets[i];
        try {
            const client::HttpAnswer a = m_connections[i].send(call);
            const DeliveryResult r = classify_sync_status(a.status);
            if (r != DeliveryResult::Failed)
                return {r, r == DeliveryResult::Delivered
                               ? ""
                               : target + ": " + std::to_string(a.status) + " " +
                                     a.body.substr(0, 200)};
            errors += (errors.empty() ? "" : "; ") + target + ": " + std::to_string(a.status);
        } catch (const std::exception& e) {
            errors += (errors.empty() ? "" : "; ") + target + ": " + e.what();
        }
    }
    return {DeliveryResult::Failed, errors};
}

void OutboxDelivery::run() noexcept {
    std::uint32_t failures = 0;  // consecutive failed attempts
    while (true) {
        try {
            const std::optional<OutboxEntry> entry = m_service.next_pending();
            if (!entry) {
                if (!wait(m_settings.poll_ms, true)) return;
                continue;
            }
            const auto [result, error] = attempt(*entry);
            const OutboxEntry after = m_service.record_attempt(entry->seq, result, error);
            const std::string what = "se-tsm sync: outbox " + std::to_string(entry->seq) + " (" +
                                     entry->seid + "/" + entry->product + " " + entry->event +
                                     ", attempt " + std::to_string(after.attempts) + ")";
            if (result == DeliveryResult::Delivered) {
                failures = 0;
                m_log(TSM_LOG_INFO, what + " delivered");
                continue;
            }
            if (result == DeliveryResult::Rejected) {
                failures = 0;
                m_log(TSM_LOG_ERROR, what + " rejected by sp-tsm, not retried: " + error);
                continue;
            }
            ++failures;
            const std::uint64_t ms =
                backoff_ms(m_settings.retry_ms, m_settings.max_backoff_ms, failures);
            m_log(TSM_LOG_WARNING,
                  what + " failed, next try in " + std::to_string(ms) + " ms: " + error);
            if (!wait(ms, false)) return;
        } catch (const std::exception& e) {
            // The store failed (or a record is corrupt): log, back off, keep the thread alive.
            ++failures;
            m_log(TSM_LOG_ERROR, std::string("se-tsm sync: ") + e.what());
            if (!wait(backoff_ms(m_settings.retry_ms, m_settings.max_backoff_ms, failures), false))
                return;
        }
    }
}

}  // namespace kms::tsm::se
