// Counters, histograms and the /metrics exposition text (see metrics.hpp).
#include "api/metrics.hpp"

#include <cstdio>

#include "api/api.hpp"
#include "domain/error.hpp"

namespace kms::api {

namespace {

using observe::append_family;
using observe::append_histogram;
using observe::escape_label_value;
using observe::format_number;

constexpr int kMinStatus = 100;
constexpr int kStatusSlots = 500;  // 100..599

/// HSM call latency: from 50 µs (a cached MAC on SoftHSM2) to 10 s.
const std::vector<double> kHsmBounds = {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                                        0.005,   0.01,   0.025,   0.05,   0.1,   0.25,
                                        0.5,     1,      2.5,     10};

std::string join_path(const std::vector<std::string>& segments) {
    std::string p;
    for (const auto& s : segments) p += "/" + s;
    return p.empty() ? "/" : p;
}

}  // namespace

std::string_view hsm_op_name(HsmOp op) {
    static constexpr std::string_view kNames[] = {"generate",
                                                  "import_secret",
                                                  "wrap_key",
                                                  "unwrap_key",
                                                  "wrap_key_rsa_oaep",
                                                  "unwrap_key_rsa_oaep",
                                                  "export_tr31",
                                                  "import_tr31",
                                                  "derive_gp_session_keys",
                                                  "gp_scp03_card_challenge",
                                                  "gp_encrypt_key",
                                                  "gp_encrypt_data",
                                                  "gp_diversify_key",
                                                  "mac",
                                                  "encrypt",
                                                  "decrypt",
                                                  "sign",
                                                  "verify",
                                                  "random",
                                                  "audit_seal",
                                                  "info",
                                                  "reveal_secret"};
    static_assert(std::size(kNames) == static_cast<std::size_t>(HsmOp::Count_));
    return kNames[static_cast<std::size_t>(op)];
}

Metrics::Metrics(std::string version, MetricsSources sources)
    : m_version(std::move(version)),
      m_start_time_s(static_cast<double>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                             std::chrono::system_clock::now().time_since_epoch())
                                             .count()) /
                     1000.0),
      m_sources(std::move(sources)) {
    m_routes.push_back(route_series("-", "unmatched"));
    for (std::size_t i = 0; i < static_cast<std::size_t>(HsmOp::Count_); ++i)
        m_hsm_latency.push_back(std::make_unique<observe::Histogram>(kHsmBounds));
}

Metrics::RouteSeries Metrics::route_series(std::string method, std::string path) {
    RouteSeries s;
    s.method = std::move(method);
    s.path = std::move(path);
    s.by_status = std::make_unique<std::atomic<std::uint64_t>[]>(kStatusSlots);
    s.latency = std::make_unique<observe::Histogram>(observe::request_latency_bounds());
    return s;
}

void Metrics::bind_routes(const Router& router) {
    std::vector<RouteSeries> routes;
    for (const auto& r : router.routes())
        routes.push_back(route_series(r.method, join_path(r.segments)));
    routes.push_back(route_series("-", "unmatched"));
    m_routes = std::move(routes);
}

void Metrics::record_request(std::size_t route, int status,
                             std::chrono::nanoseconds latency) noexcept {
    if (route >= m_routes.size()) route = unmatched_route();
    if (status < kMinStatus || status >= kMinStatus + kStatusSlots) status = 599;
    auto& s = m_routes[route];
    s.by_status[status - kMinStatus].fetch_add(1, std::memory_order_relaxed);
    s.latency->observe(latency);
}

void Metrics::record_hsm_call(HsmOp op, std::chrono::nanoseconds latency, bool ok,
                              std::string_view function, std::string_view ckr) {
    const auto i = static_cast<std::size_t>(op);
    if (i >= m_hsm_latency.size()) return;
    m_hsm_latency[i]->observe(latency);
    if (ok) return;
    std::lock_guard lock(m_errors_mutex);
    ++m_hsm_errors[{op, std::string(function), std::string(ckr)}];
}

std::string Metrics::render() const {
    std::string out;
    out.reserve(64 * 1024);

    append_family(out, "kms_http_requests_total", "counter",
                  "HTTP requests by route template, method and status code.");
    for (const auto& r : m_routes)
        for (int i = 0; i < kStatusSlots; ++i) {
            const auto n = r.by_status[i].load(std::memory_order_relaxed);
            if (n == 0) continue;
            out += "kms_http_requests_total{route=\"" + escape_label_value(r.path) +
                   "\",method=\"" + escape_label_value(r.method) + "\",code=\"" +
                   std::to_string(i + kMinStatus) + "\"} " + std::to_string(n) + "\n";
        }

    append_family(
        out, "kms_http_request_duration_seconds", "histogram",
        "HTTP request latency by route template and method, from the request line read to "
        "the response sent.");
    for (const auto& r : m_routes) {
        if (r.latency->snapshot().count == 0) continue;  // idle routes: no series
        append_histogram(out, "kms_http_request_duration_seconds",
                         "route=\"" + escape_label_value(r.path) + "\",method=\"" +
                             escape_label_value(r.method) + "\"",
                         *r.latency);
    }

    append_family(out, "kms_hsm_call_duration_seconds", "histogram",
                  "Latency of HSM port operations (each one or more PKCS#11 calls), by operation.");
    for (std::size_t i = 0; i < m_hsm_latency.size(); ++i) {
        if (m_hsm_latency[i]->snapshot().count == 0) continue;
        append_histogram(out, "kms_hsm_call_duration_seconds",
                         "operation=\"" + std::string(hsm_op_name(static_cast<HsmOp>(i))) + "\"",
                         *m_hsm_latency[i]);
    }

    append_family(
        out, "kms_hsm_errors_total", "counter",
        "Failed HSM operations by operation, PKCS#11 function and CKR name (empty when the "
        "failure had no CK_RV, e.g. no free session).");
    {
        std::lock_guard lock(m_errors_mutex);
        for (const auto& [k, n] : m_hsm_errors)
            out += "kms_hsm_errors_total{operation=\"" + std::string(hsm_op_name(std::get<0>(k))) +
                   "\",function=\"" + escape_label_value(std::get<1>(k)) + "\",ckr=\"" +
                   escape_label_value(std::get<2>(k)) + "\"} " + std::to_string(n) + "\n";
    }

    if (m_sources.pool) {
        try {
            const PoolStats p = m_sources.pool();
            append_family(out, "kms_hsm_sessions", "gauge", "PKCS#11 sessions in the pool.");
            out += "kms_hsm_sessions " + std::to_string(p.size) + "\n";
            append_family(out, "kms_hsm_sessions_in_use", "gauge", "Pooled sessions lent out now.");
            out += "kms_hsm_sessions_in_use " + std::to_string(p.in_use) + "\n";
            append_family(out, "kms_hsm_session_waits_total", "counter",
                          "Borrows that found no free session and waited.");
            out += "kms_hsm_session_waits_total " + std::to_string(p.waits) + "\n";
            append_family(
                out, "kms_hsm_session_wait_timeouts_total", "counter",
                "Waits for a session that ran out (--hsm-wait-ms; the request got a 503).");
            out += "kms_hsm_session_wait_timeouts_total " + std::to_string(p.timeouts) + "\n";
        } catch (const std::exception&) {
        }
    }
    if (m_sources.keys) {
        try {
            const auto keys = m_sources.keys();
            append_family(out, "kms_keys", "gauge",
                          "Keys by lifecycle state and algorithm (a census at most 15 s old).");
            for (const auto& k : keys)
                out += "kms_keys{state=\"" + escape_label_value(k.state) + "\",algorithm=\"" +
                       escape_label_value(k.algorithm) + "\"} " + std::to_string(k.count) + "\n";
        } catch (const std::exception&) {
        }
    }
    if (m_sources.audit_length) {
        try {
            const auto n = m_sources.audit_length();
            append_family(out, "kms_audit_chain_length", "gauge",
                          "Records in the audit chain (the sequence number of its head).");
            out += "kms_audit_chain_length " + std::to_string(n) + "\n";
        } catch (const std::exception&) {
        }
    }
    append_family(out, "process_start_time_seconds", "gauge",
                  "Start time of the process since the Unix epoch in seconds.");
    char start[40];  // %g would round seconds since 1970 to 1.79e+09
    std::snprintf(start, sizeof start, "%.3f", m_start_time_s);
    out += "process_start_time_seconds " + std::string(start) + "\n";
    append_family(out, "kms_build_info", "gauge", "Always 1; the labels name the build.");
    out += "kms_build_info{program=\"kmsd\",version=\"" + escape_label_value(m_version) + "\"} 1\n";
    return out;
}

void add_metrics_route(Router& router, ApiServices& s) {
    router.add("GET", "/metrics", "metrics", BodyPolicy::None, [&s](Request& r) {
        core::require_role(*r.caller, {core::Role::Admin, core::Role::Auditor, core::Role::Monitor},
                           "reading metrics");
        if (s.metrics == nullptr) throw Error(ErrorCode::NotFound, "metrics are not enabled");
        return Reply{200, s.metrics->render(), "text/plain; version=0.0.4; charset=utf-8"};
    });
}

}  // namespace kms::api
