// The exposition format helpers (see exposition.hpp).
#include "observe/exposition.hpp"

#include <cstdio>

namespace kms::observe {

const std::vector<double>& request_latency_bounds() {
    // A MAC is well under 1 ms, an RSA-4096 generation seconds.
    static const std::vector<double> bounds = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                               0.25,  0.5,    1,     2.5,  5,     10};
    return bounds;
}

std::string format_number(double v) {
    char buf[40];
    std::snprintf(buf, sizeof buf, "%.9g", v);
    return buf;
}

void append_family(std::string& out, std::string_view name, std::string_view type,
                   std::string_view help) {
    out += "# HELP ";
    out += name;
    out += ' ';
    out += help;
    out += "\n# TYPE ";
    out += name;
    out += ' ';
    out += type;
    out += '\n';
}

void append_histogram(std::string& out, std::string_view name, const std::string& labels,
                      const Histogram& h) {
    const auto s = h.snapshot();
    const std::string sep = labels.empty() ? "" : ",";
    for (std::size_t i = 0; i <= h.bounds().size(); ++i) {
        const std::string le = i < h.bounds().size() ? format_number(h.bounds()[i]) : "+Inf";
        out += std::string(name) + "_bucket{" + labels + sep + "le=\"" + le + "\"} " +
               std::to_string(s.cumulative[i]) + "\n";
    }
    const std::string braces = labels.empty() ? "" : "{" + labels + "}";
    out += std::string(name) + "_sum" + braces + " " + format_number(s.sum_s) + "\n";
    out += std::string(name) + "_count" + braces + " " + std::to_string(s.count) + "\n";
}

std::string escape_label_value(std::string_view v) {
    std::string out;
    out.reserve(v.size());
    for (const char c : v) {
        if (c == '\\')
            out += "\\\\";
        else if (c == '"')
            out += "\\\"";
        else if (c == '\n')
            out += "\\n";
        else
            out += c;
    }
    return out;
}

Histogram::Histogram(std::vector<double> bounds_s)
    : m_bounds_s(std::move(bounds_s)),
      m_buckets(std::make_unique<std::atomic<std::uint64_t>[]>(m_bounds_s.size() + 1)) {
    for (double b : m_bounds_s) m_bounds_ns.push_back(static_cast<std::int64_t>(b * 1e9));
}

void Histogram::observe(std::chrono::nanoseconds d) noexcept {
    const std::int64_t ns = d.count() < 0 ? 0 : d.count();
    std::size_t i = 0;
    while (i < m_bounds_ns.size() && ns > m_bounds_ns[i]) ++i;  // le: upper bound inclusive
    m_buckets[i].fetch_add(1, std::memory_order_relaxed);
    m_sum_ns.fetch_add(static_cast<std::uint64_t>(ns), std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const {
    Snapshot s;
    std::uint64_t total = 0;
    for (std::size_t i = 0; i <= m_bounds_s.size(); ++i) {
        total += m_buckets[i].load(std::memory_order_relaxed);
        s.cumulative.push_back(total);
    }
    s.count = total;
    s.sum_s = static_cast<double>(m_sum_ns.load(std::memory_order_relaxed)) / 1e9;
    return s;
}

}  // namespace kms::observe
