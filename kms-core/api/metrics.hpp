// kmsd's metrics and GET /metrics in the Prometheus text exposition format 0.0.4
// (https://prometheus.io/docs/instrumenting/exposition_formats/, "Text-based format").
//
// What is measured where:
//   requests      ApiServer records one sample per request: route template (never the raw
//                 path, so key ids do not multiply the series), method, status, latency.
//   HSM calls     the daemon's decorator of the Hsm port (daemon/observed_hsm.hpp) records the
//                 latency of every port operation and, for a failure, the PKCS#11 function and
//                 CKR name the adapter's kms::Error carries (hsm-adapters/pkcs11/errors.hpp).
//   the rest      read at scrape time through MetricsSources callbacks that kmsd wires: session
//                 pool use, keys by state and algorithm (the daemon caches the census, it does
//                 not scan the store per scrape), the audit chain length.
//
// Cost on the request path: one relaxed atomic increment per counter and per histogram bucket,
// no lock and no allocation (the series are fixed arrays sized from the route table at start).
// Only the HSM error series take a mutex, and only for a failed call. Histograms are read
// bucket by bucket while requests go on, so a scrape may see a sample in `_count` and not yet
// in `_sum`; buckets, `+Inf` and `_count` are always consistent with each other (count is
// computed from the buckets).
//
// Who may read /metrics: admin, auditor and monitor (a role that may read only /metrics; the
// server refuses it every other authenticated route).
//
// Thread safety: every member may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "observe/exposition.hpp"

namespace kms::api {

class Router;
struct ApiServices;

/// Session pool figures (SessionPool).
struct PoolStats {
    std::uint64_t size = 0;
    std::uint64_t in_use = 0;
    std::uint64_t waits = 0;     ///< borrows that found no free session and queued
    std::uint64_t timeouts = 0;  ///< waits that ran out (the request got a 503)
};

/// Keys of one lifecycle state and algorithm.
struct KeyCount {
    std::string state;
    std::string algorithm;
    std::uint64_t count = 0;
};

/// Read at scrape time; each may be empty (the family is then left out). Must not throw
/// (a throwing callback's family is left out of that scrape).
struct MetricsSources {
    std::function<PoolStats()> pool;
    std::function<std::vector<KeyCount>()> keys;
    std::function<std::uint64_t()> audit_length;
};

/// The Hsm port operations the decorator measures, by index (names are label values).
enum class HsmOp : std::uint8_t {
    Generate,
    ImportSecret,
    WrapKey,
    UnwrapKey,
    WrapKeyRsaOaep,
    UnwrapKeyRsaOaep,
    ExportTr31,
    ImportTr31,
    DeriveGpSessionKeys,
    GpScp03CardChallenge,
    GpEncryptKey,
    GpEncryptData,
    GpDiversifyKey,
    Mac,
    Encrypt,
    Decrypt,
    Sign,
    Verify,
    Random,
    AuditSeal,
    Info,
    RevealSecret,
    Count_
};
std::string_view hsm_op_name(HsmOp op);

class Metrics {
  public:
    /// @p version: the build's version for kms_build_info. Requests are counted once
    /// bind_routes() has run.
    Metrics(std::string version, MetricsSources sources);
    Metrics(const Metrics&) = delete;
    Metrics& operator=(const Metrics&) = delete;

    /// Sizes the request series from @p router's routes. Call once, after every route is added
    /// and before the server starts (it is not synchronized with record_request()); HSM calls
    /// may be recorded before (the first start uses the HSM before the routes exist).
    void bind_routes(const Router& router);

    /// Index of the pseudo-route of requests that matched no route.
    std::size_t unmatched_route() const noexcept { return m_routes.size() - 1; }
    /// Records one request. @p route: Router::index_of() of the matched route, or
    /// unmatched_route(). @p status: 100..599 (others are counted as 599).
    void record_request(std::size_t route, int status, std::chrono::nanoseconds latency) noexcept;
    /// The route template of @p route ("/v1/keys/{id}", or "unmatched").
    const std::string& route_template(std::size_t route) const { return m_routes[route].path; }

    /// One HSM port call; @p function and @p ckr are empty for a success or a failure that has
    /// no CK_RV (no free session, a check before the module). Errors also count
    /// kms_hsm_errors_total{operation,function,ckr}.
    void record_hsm_call(HsmOp op, std::chrono::nanoseconds latency, bool ok,
                         std::string_view function = {}, std::string_view ckr = {});

    /// The whole exposition text (every family with HELP and TYPE lines).
    std::string render() const;

  private:
    struct RouteSeries {
        std::string method;
        std::string path;
        std::unique_ptr<std::atomic<std::uint64_t>[]> by_status;  ///< index status - 100
        std::unique_ptr<observe::Histogram> latency;
    };

    static RouteSeries route_series(std::string method, std::string path);

    std::vector<RouteSeries> m_routes;  ///< the router's order, then "unmatched"
    std::vector<std::unique_ptr<observe::Histogram>> m_hsm_latency;  ///< by HsmOp
    mutable std::mutex m_errors_mutex;
    std::map<std::tuple<HsmOp, std::string, std::string>, std::uint64_t> m_hsm_errors;
    std::string m_version;
    double m_start_time_s;
    MetricsSources m_sources;
};

/// Adds GET /metrics (admin, auditor, monitor). The handler reads services.metrics at request
/// time (404 while it is null), so kmsd can build Metrics from the finished route table and
/// set it afterwards, before the server starts.
void add_metrics_route(Router& router, ApiServices& services);

}  // namespace kms::api
