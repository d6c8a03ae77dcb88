// tsmd's GET /metrics (Prometheus text exposition format 0.0.4, via kms-core/observe) and its
// access lines: requests by plugin instance and status, latency by instance, the process start
// time and build. tsmd has no principals, so the scrape is authorized by one bearer token read
// at start from the file named in the configuration ("metrics": {"tokenFile": ...}); without
// that entry tsmd serves no /metrics.
//
// The instance label takes the configured instance names plus "healthz", "metrics" (tsmd's own
// routes) and "unmatched" (a path no instance serves), so a client cannot grow the label set.
//
// Thread safety: record() and render() may be called from any thread at once; record() takes
// no lock (relaxed atomics). authorized() is const and thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "observe/exposition.hpp"

namespace kms::tsm {

class TsmdMetrics {
  public:
    /// @p instances: the configured instance names. @p token_file: the scrape token's file
    /// ("" = no /metrics); it must hold one non-empty line and not be readable by others.
    /// Throws std::runtime_error naming the file otherwise.
    TsmdMetrics(const std::vector<std::string>& instances, const std::string& token_file,
                std::string version);

    bool enabled() const noexcept { return !m_token_digest.empty(); }
    /// True when @p authorization is "Bearer <the token>" (compared as SHA-256 digests in
    /// constant time, so neither the token nor its length leaks through timing).
    bool authorized(const std::string& authorization) const;

    /// The series index of @p instance: its position, or healthz()/metrics()/unmatched().
    std::size_t index_of(const std::string& instance) const noexcept;
    std::size_t healthz() const noexcept { return m_series.size() - 3; }
    std::size_t metrics() const noexcept { return m_series.size() - 2; }
    std::size_t unmatched() const noexcept { return m_series.size() - 1; }
    const std::string& label(std::size_t series) const { return m_series[series].instance; }

    void record(std::size_t series, int status, std::chrono::nanoseconds latency) noexcept;
    std::string render() const;

  private:
    struct Series {
        std::string instance;
        std::unique_ptr<std::atomic<std::uint64_t>[]> by_status;  ///< index status - 100
        std::unique_ptr<observe::Histogram> latency;
    };
    std::vector<Series> m_series;
    std::string m_token_digest;  ///< SHA-256 of the token; empty when /metrics is off
    std::string m_version;
    double m_start_time_s;
};

}  // namespace kms::tsm
