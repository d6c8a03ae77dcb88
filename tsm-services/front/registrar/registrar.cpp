// The registrar's worker and its HTTPS calls to the fronts (see registrar.hpp).
#include "registrar.hpp"

#include <algorithm>
#include <chrono>
#include <stdexcept>

#include "client/https_connection.hpp"
#include "plugin-api/tsm_plugin.h"
#include "registrar_schedule.hpp"

namespace kms::tsm::registrar {

namespace {

constexpr int kLogError = TSM_LOG_ERROR, kLogWarning = TSM_LOG_WARNING, kLogInfo = TSM_LOG_INFO;

using Clock = std::chrono::steady_clock;

std::string codes_of(const RegistrarSettings& s) {
    std::string out;
    for (const RegistrarAction& a : s.actions) out += (out.empty() ? "" : ", ") + a.action_code;
    return out;
}

}  // namespace

struct Registrar::Front {
    Front(const std::string& url, const client::HttpsEndpoint& endpoint, int ttl_seconds)
        : connection(endpoint, 64 * 1024),
          backoff(Backoff::kFirstRetryMs, max_retry_ms(ttl_seconds)) {
        status.url = url;
    }
    client::HttpsConnection connection;    ///< worker thread, then stop() after the join
    Backoff backoff;                       ///< worker thread only
    Clock::time_point due = Clock::now();  ///< worker thread only
    FrontStatus status;                    ///< under m_mutex
};

Registrar::Registrar(RegistrarSettings settings, Log log)
    : m_settings(std::move(settings)), m_log(std::move(log)) {
    if (m_settings.front_urls.empty()) throw std::invalid_argument("front.urls: none given");
    m_body = registration_body(m_settings);
    for (std::size_t i = 0; i < m_settings.front_urls.size(); ++i) {
        const std::string& url = m_settings.front_urls[i];
        client::HttpsEndpoint e;
        try {
            client::parse_https_url(url, e);
        } catch (const std::invalid_argument& err) {
            throw std::invalid_argument("front.urls[" + std::to_string(i) + "]: " + err.what());
        }
        e.ca_file = m_settings.ca_file;
        e.cert_file = m_settings.cert_file;
        e.key_file = m_settings.key_file;
        e.timeout_seconds = m_settings.timeout_seconds;
        try {
            m_fronts.push_back(std::make_unique<Front>(url, e, m_settings.ttl_seconds));
        } catch (const client::TransportError& err) {
            throw std::invalid_argument(std::string("front.ca, front.certificate or front.key: ") +
                                        err.what());
        }
    }
    m_thread = std::thread([this] { run(); });
}

Registrar::~Registrar() {
    stop();
}

void Registrar::stop() noexcept {
    std::lock_guard serial(m_stop_mutex);
    {
        std::lock_guard lock(m_mutex);
        if (m_stopped) return;
        m_stop = true;
    }
    m_cv.notify_all();
    if (m_thread.joinable()) m_thread.join();
    // The worker is gone: its connections are ours now.
    client::HttpCall call;
    call.method = "DELETE";
    call.target = deregistration_target(m_settings.self);
    call.user_agent = "tsm-registrar/0.1";
    for (const auto& f : m_fronts) {
        bool registered = false;
        {
            std::lock_guard lock(m_mutex);
            registered = f->status.registered;
        }
        if (!registered) continue;  // unreachable or refusing: do not wait on it
        try {
            const client::HttpAnswer a = f->connection.send(call);
            // 404 not_registered: the front forgot us already (a restart, an expiry).
            if (a.status == 204 || a.status == 404)
                m_log(kLogInfo,
                      "registrar: " + m_settings.self + " deregistered at " + f->status.url);
            else
                m_log(kLogWarning, "registrar: deregistration of " + m_settings.self + " at " +
                                       f->status.url + " answered " + std::to_string(a.status) +
                                       " " + a.body.substr(0, 200) + "; it expires in at most " +
                                       std::to_string(m_settings.ttl_seconds) + " s");
        } catch (const std::exception& e) {
            try {
                m_log(kLogWarning, "registrar: cannot deregister " + m_settings.self + " at " +
                                       f->status.url + ": " + e.what() +
                                       "; it expires in at most " +
                                       std::to_string(m_settings.ttl_seconds) + " s");
            } catch (...) {
            }
        } catch (...) {
        }
        std::lock_guard lock(m_mutex);
        f->status.registered = false;
    }
    std::lock_guard lock(m_mutex);
    m_stopped = true;
}

std::vector<Registrar::FrontStatus> Registrar::status() const {
    std::lock_guard lock(m_mutex);
    std::vector<FrontStatus> out;
    for (const auto& f : m_fronts) out.push_back(f->status);
    return out;
}

void Registrar::register_at(Front& f) {
    client::HttpCall call;
    call.method = "POST";
    call.target = "/registrations";
    call.body = m_body;
    call.user_agent = "tsm-registrar/0.1";
    std::string error;
    int level = kLogWarning;
    try {
        const client::HttpAnswer a = f.connection.send(call);
        if (a.status == 200) {
            bool was = false;
            {
                std::lock_guard lock(m_mutex);
                was = f.status.registered;
                f.status.registered = true;
                f.status.failures = 0;
                f.status.last_error.clear();
            }
            f.backoff.reset();
            f.due = Clock::now() +
                    std::chrono::milliseconds(renewal_interval_ms(m_settings.ttl_seconds));
            if (!was)
                m_log(kLogInfo, "registrar: " + m_settings.self + " registered at " + f.status.url +
                                    " for " + codes_of(m_settings) + " (ttl " +
                                    std::to_string(m_settings.ttl_seconds) + " s, renewed every " +
                                    std::to_string(renewal_interval_ms(m_settings.ttl_seconds)) +
                                    " ms)");
            return;
        }
        // 4xx: the front refuses this instance or its body (403 forbidden: our CN is not in its
        // registrars); it will not change by itself, hence ERROR, but it is retried anyway.
        if (a.status >= 400 && a.status < 500) level = kLogError;
        error = "answered " + std::to_string(a.status) + " " + a.body.substr(0, 300);
    } catch (const std::exception& e) {
        error = e.what();
    }
    const std::int64_t wait = f.backoff.next();
    f.due = Clock::now() + std::chrono::milliseconds(wait);
    bool changed = false;
    int failures = 0;
    {
        std::lock_guard lock(m_mutex);
        changed = f.status.registered || f.status.last_error != error;
        f.status.registered = false;
        f.status.failures = failures = f.backoff.failures();
        f.status.last_error = error;
    }
    if (changed)
        m_log(level, "registrar: cannot register " + m_settings.self + " at " + f.status.url +
                         ": " + error + " (attempt " + std::to_string(failures) +
                         "; retrying with backoff up to " +
                         std::to_string(max_retry_ms(m_settings.ttl_seconds)) + " ms)");
}

void Registrar::run() noexcept {
    while (true) {
        Clock::time_point next = Clock::time_point::max();
        for (const auto& f : m_fronts) {
            {
                std::lock_guard lock(m_mutex);
                if (m_stop) return;
            }
            if (f->due <= Clock::now()) {
                try {
                    register_at(*f);
                } catch (...) {
                    // Only the log callback or an allocation can throw here: try again later.
                    f->due = Clock::now() + std::chrono::milliseconds(f->backoff.next());
                }
            }
            next = std::min(next, f->due);
        }
        std::unique_lock lock(m_mutex);
        m_cv.wait_until(lock, next, [&] { return m_stop; });
        if (m_stop) return;
    }
}

}  // namespace kms::tsm::registrar
