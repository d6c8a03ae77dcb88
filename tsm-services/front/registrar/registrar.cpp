// The registrar's workers and their HTTPS calls to the fronts (see registrar.hpp).
#include "registrar.hpp"

#include <chrono>
#include <stdexcept>

#include "client/https_connection.hpp"
#include "plugin-api/tsm_plugin.h"
#include "registrar_schedule.hpp"

namespace kms::tsm::registrar {

namespace {

using Clock = std::chrono::steady_clock;

std::string codes_of(const RegistrarSettings& s) {
    std::string out;
    for (const RegistrarAction& a : s.actions) out += (out.empty() ? "" : ", ") + a.action_code;
    return out;
}

}  // namespace

struct Registrar::Front {
    Front(const std::string& url, const client::HttpsEndpoint& endpoint, int ttl_seconds)
        : url(url),
          connection(endpoint, 64 * 1024),
          backoff(Backoff::kFirstRetryMs, max_retry_ms(ttl_seconds)) {
        status.url = url;
    }
    const std::string url;
    client::HttpsConnection connection;  ///< its worker only
    Backoff backoff;                     ///< its worker only
    FrontStatus status;                  ///< under m_mutex
    std::thread worker;                  ///< started last, joined by stop()
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
    // Only once every connection is set up: a throw above leaves no thread behind.
    for (const auto& f : m_fronts) {
        Front* front = f.get();
        try {
            front->worker = std::thread([this, front] { run(*front); });
        } catch (...) {
            stop();  // joins the workers already started
            throw;
        }
    }
}

Registrar::~Registrar() {
    stop();
}

void Registrar::stop() noexcept {
    std::lock_guard serial(m_stop_mutex);
    {
        std::lock_guard lock(m_mutex);
        m_stop = true;
    }
    m_cv.notify_all();
    for (const auto& f : m_fronts)
        if (f->worker.joinable()) f->worker.join();
}

std::vector<Registrar::FrontStatus> Registrar::status() const {
    std::lock_guard lock(m_mutex);
    std::vector<FrontStatus> out;
    for (const auto& f : m_fronts) out.push_back(f->status);
    return out;
}

void Registrar::log(int level, const std::string& message) noexcept {
    try {
        std::lock_guard lock(m_log_mutex);
        m_log(level, "registrar: " + message);
    } catch (...) {
        // A log line is not worth a worker: drop it.
    }
}

void Registrar::register_at(Front& f) {
    client::HttpCall call;
    call.method = "POST";
    call.target = "/registrations";
    call.body = m_body;
    call.user_agent = "tsm-registrar/0.1";
    std::string error;
    int level = TSM_LOG_WARNING;
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
            if (!was)
                log(TSM_LOG_INFO,
                    m_settings.self + " registered at " + f.url + " for " + codes_of(m_settings) +
                        " (ttl " + std::to_string(m_settings.ttl_seconds) + " s, renewed every " +
                        std::to_string(renewal_interval_ms(m_settings.ttl_seconds)) + " ms)");
            return;
        }
        // 4xx: the front refuses this instance or its body (403 forbidden: our CN is not in its
        // registrars); it will not change by itself, hence ERROR, but it is retried anyway.
        if (a.status >= 400 && a.status < 500) level = TSM_LOG_ERROR;
        error = "answered " + std::to_string(a.status) + " " + a.body.substr(0, 300);
    } catch (const std::exception& e) {
        error = e.what();
    }
    bool changed = false;
    {
        std::lock_guard lock(m_mutex);
        changed = f.status.registered || f.status.last_error != error;
        f.status.registered = false;
        f.status.failures = f.backoff.failures() + 1;
        f.status.last_error = error;
    }
    if (changed)
        log(level, "cannot register " + m_settings.self + " at " + f.url + ": " + error +
                       " (attempt " + std::to_string(f.backoff.failures() + 1) +
                       "; retrying with backoff up to " +
                       std::to_string(max_retry_ms(m_settings.ttl_seconds)) + " ms)");
    throw std::runtime_error(error);  // run() backs off
}

void Registrar::deregister_at(Front& f) noexcept {
    {
        std::lock_guard lock(m_mutex);
        if (!f.status.registered) return;  // unreachable or refusing: do not wait on it
    }
    const std::string expiry =
        "; it expires in at most " + std::to_string(m_settings.ttl_seconds) + " s";
    try {
        client::HttpCall call;
        call.method = "DELETE";
        call.target = deregistration_target(m_settings.self);
        call.user_agent = "tsm-registrar/0.1";
        const client::HttpAnswer a = f.connection.send(call);
        // 404 not_registered: the front forgot us already (a restart, an expiry).
        if (a.status == 204 || a.status == 404)
            log(TSM_LOG_INFO, m_settings.self + " deregistered at " + f.url);
        else
            log(TSM_LOG_WARNING, "deregistration of " + m_settings.self + " at " + f.url +
                                     " answered " + std::to_string(a.status) + " " +
                                     a.body.substr(0, 200) + expiry);
    } catch (const std::exception& e) {
        log(TSM_LOG_WARNING,
            "cannot deregister " + m_settings.self + " at " + f.url + ": " + e.what() + expiry);
    } catch (...) {
    }
    std::lock_guard lock(m_mutex);
    f.status.registered = false;
}

void Registrar::run(Front& f) noexcept {
    while (true) {
        {
            std::lock_guard lock(m_mutex);
            if (m_stop) break;
        }
        std::int64_t wait_ms = 0;
        try {
            register_at(f);
            wait_ms = renewal_interval_ms(m_settings.ttl_seconds);
        } catch (...) {
            wait_ms = f.backoff.next();
        }
        std::unique_lock lock(m_mutex);
        if (m_cv.wait_for(lock, std::chrono::milliseconds(wait_ms), [&] { return m_stop; })) break;
    }
    deregister_at(f);
}

}  // namespace kms::tsm::registrar
