// Denial records and the rate limit of anonymous ones (see denial_audit.hpp).
#include "api/denial_audit.hpp"

namespace kms::api {

std::string request_id_of(std::string_view header) {
    if (header.empty() || header.size() > 64) return {};
    for (const char c : header) {
        const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                        (c >= '0' && c <= '9') || c == '.' || c == '_' || c == ':' || c == '-';
        if (!ok) return {};
    }
    return std::string(header);
}

std::string printable(std::string_view text, std::size_t max) {
    std::string out(text.substr(0, max));
    for (auto& c : out) {
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u > 0x7E) c = '?';
    }
    return out;
}

std::string denial_detail(const DenialFacts& f) {
    std::string d = printable(f.error, 32) + ": " + printable(f.message, 384) + " | " +
                    printable(f.method, 16) + " " + printable(f.path, 128) + " -> " +
                    std::to_string(f.status);
    if (!f.request_id.empty()) d += " request=" + printable(f.request_id, 64);
    if (!f.source.empty()) d += " from=" + printable(f.source, 64);
    return d;
}

AnonymousDenialLimiter::AnonymousDenialLimiter(std::size_t per_window, std::int64_t window_ms,
                                               std::size_t max_sources)
    : m_per_window(per_window),
      m_window_ms(window_ms > 0 ? window_ms : 1),
      m_max_sources(max_sources > 0 ? max_sources : 1) {}

void AnonymousDenialLimiter::sweep(std::int64_t now_ms, Decision& d) {
    for (auto it = m_windows.begin(); it != m_windows.end();) {
        if (now_ms - it->second.start_ms < m_window_ms) {
            ++it;
            continue;
        }
        if (it->second.suppressed > 0) d.summaries.emplace_back(it->first, it->second.suppressed);
        it = m_windows.erase(it);
    }
    m_last_sweep_ms = now_ms;
}

AnonymousDenialLimiter::Decision AnonymousDenialLimiter::admit(const std::string& source,
                                                               std::int64_t now_ms) {
    std::lock_guard lock(m_mutex);
    Decision d;
    if (m_per_window == 0) return d;
    if (now_ms - m_last_sweep_ms >= 1000) sweep(now_ms, d);
    std::string key = source;
    auto it = m_windows.find(key);
    if (it == m_windows.end() && m_windows.size() >= m_max_sources) {
        sweep(now_ms, d);
        if (m_windows.size() >= m_max_sources) {
            key = "*";
            it = m_windows.find(key);
        }
    }
    if (it == m_windows.end()) {
        it = m_windows.emplace(key, Window{now_ms, 0, 0}).first;
    } else if (now_ms - it->second.start_ms >= m_window_ms) {
        if (it->second.suppressed > 0) d.summaries.emplace_back(key, it->second.suppressed);
        it->second = Window{now_ms, 0, 0};
    }
    Window& w = it->second;
    ++w.count;
    if (w.count == m_per_window + 1) {
        d.limit_reached = true;
    } else if (w.count > m_per_window + 1) {
        d.record = false;
        ++w.suppressed;
        ++m_suppressed_total;
    }
    return d;
}

std::uint64_t AnonymousDenialLimiter::suppressed_total() const {
    std::lock_guard lock(m_mutex);
    return m_suppressed_total;
}

}  // namespace kms::api
