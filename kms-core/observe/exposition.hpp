// Building blocks of the Prometheus text exposition format 0.0.4
// (https://prometheus.io/docs/instrumenting/exposition_formats/, "Text-based format"), shared
// by kmsd's /metrics (api/metrics.hpp) and tsmd's: a lock-free histogram, label value
// escaping, and the HELP/TYPE and histogram lines.
//
// Thread safety: Histogram::observe() and snapshot() may be called from any thread at once
// (relaxed atomics; see snapshot() for what a reader may see). The free functions are pure.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace kms::observe {

/// A histogram with fixed upper bounds (seconds). observe() is lock-free: one relaxed atomic
/// increment of the bucket and one of the sum.
class Histogram {
  public:
    /// @p bounds_s: increasing upper bounds in seconds, without +Inf.
    explicit Histogram(std::vector<double> bounds_s);

    void observe(std::chrono::nanoseconds d) noexcept;

    struct Snapshot {
        std::vector<std::uint64_t> cumulative;  ///< per bound, then +Inf (== count)
        std::uint64_t count = 0;
        double sum_s = 0;
    };
    /// Buckets are read one by one while observe() goes on: count is computed from them, so
    /// buckets, +Inf and count always agree; the sum may already hold a sample the buckets do
    /// not (or the reverse).
    Snapshot snapshot() const;
    const std::vector<double>& bounds() const noexcept { return m_bounds_s; }

  private:
    std::vector<double> m_bounds_s;
    std::vector<std::int64_t> m_bounds_ns;
    std::unique_ptr<std::atomic<std::uint64_t>[]> m_buckets;  ///< bounds + 1, not cumulative
    std::atomic<std::uint64_t> m_sum_ns{0};
};

/// Request latency buckets: 1 ms to 10 s.
const std::vector<double>& request_latency_bounds();

/// Escapes a label value as the format asks: backslash, double quote and line feed become \\,
/// \" and \n.
std::string escape_label_value(std::string_view v);

/// A sample value: integers as integers, others with up to 9 significant digits ("%.9g").
std::string format_number(double v);

/// Appends "# HELP name help\n# TYPE name type\n".
void append_family(std::string& out, std::string_view name, std::string_view type,
                   std::string_view help);

/// Appends the `name_bucket{labels,le="..."}` lines (cumulative, ending in +Inf), then `_sum` and
/// `_count`. @p labels: already escaped `a="x",b="y"`, or empty.
void append_histogram(std::string& out, std::string_view name, const std::string& labels,
                      const Histogram& h);

}  // namespace kms::observe
