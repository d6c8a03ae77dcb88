// tsmd's metrics and scrape authorization (see tsmd_metrics.hpp).
#include "tsmd_metrics.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <stdexcept>

namespace kms::tsm {

namespace {

constexpr int kMinStatus = 100;
constexpr int kStatusSlots = 500;

std::string sha256(const std::string& text) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (EVP_Digest(text.data(), text.size(), md, &len, EVP_sha256(), nullptr) != 1)
        throw std::runtime_error("SHA-256 failed");
    return std::string(reinterpret_cast<const char*>(md), len);
}

std::string read_token(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0)
        throw std::runtime_error("metrics.tokenFile: cannot read " + path);
    if ((st.st_mode & 0007) != 0)
        throw std::runtime_error("metrics.tokenFile: " + path +
                                 " is readable by others (chmod 0600 or 0640)");
    std::ifstream in(path);
    std::string token;
    std::getline(in, token);
    while (!token.empty() && (token.back() == '\r' || token.back() == ' ')) token.pop_back();
    if (!in && !in.eof()) throw std::runtime_error("metrics.tokenFile: cannot read " + path);
    if (token.size() < 16)
        throw std::runtime_error("metrics.tokenFile: " + path +
                                 " must hold a token of at least 16 characters");
    return token;
}

}  // namespace

TsmdMetrics::TsmdMetrics(const std::vector<std::string>& instances, const std::string& token_file,
                         std::string version)
    : m_version(std::move(version)),
      m_start_time_s(static_cast<double>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                             std::chrono::system_clock::now().time_since_epoch())
                                             .count()) /
                     1000.0) {
    std::vector<std::string> names = instances;
    for (const char* own : {"healthz", "metrics", "unmatched"}) names.emplace_back(own);
    for (auto& n : names) {
        Series s;
        s.instance = std::move(n);
        s.by_status = std::make_unique<std::atomic<std::uint64_t>[]>(kStatusSlots);
        s.latency = std::make_unique<observe::Histogram>(observe::request_latency_bounds());
        m_series.push_back(std::move(s));
    }
    if (!token_file.empty()) m_token_digest = sha256(read_token(token_file));
}

bool TsmdMetrics::authorized(const std::string& authorization) const {
    static const std::string kBearer = "Bearer ";
    if (!enabled() || authorization.compare(0, kBearer.size(), kBearer) != 0) return false;
    const std::string digest = sha256(authorization.substr(kBearer.size()));
    return CRYPTO_memcmp(digest.data(), m_token_digest.data(), digest.size()) == 0;
}

std::size_t TsmdMetrics::index_of(const std::string& instance) const noexcept {
    for (std::size_t i = 0; i + 3 < m_series.size(); ++i)
        if (m_series[i].instance == instance) return i;
    return unmatched();
}

void TsmdMetrics::record(std::size_t series, int status,
                         std::chrono::nanoseconds latency) noexcept {
    if (series >= m_series.size()) series = unmatched();
    if (status < kMinStatus || status >= kMinStatus + kStatusSlots) status = 599;
    m_series[series].by_status[status - kMinStatus].fetch_add(1, std::memory_order_relaxed);
    m_series[series].latency->observe(latency);
}

std::string TsmdMetrics::render() const {
    using observe::escape_label_value;
    std::string out;
    observe::append_family(out, "tsm_http_requests_total", "counter",
                           "HTTP requests by plugin instance (or healthz, metrics, unmatched) "
                           "and status code.");
    for (const auto& s : m_series)
        for (int i = 0; i < kStatusSlots; ++i) {
            const auto n = s.by_status[i].load(std::memory_order_relaxed);
            if (n != 0)
                out += "tsm_http_requests_total{instance=\"" + escape_label_value(s.instance) +
                       "\",code=\"" + std::to_string(i + kMinStatus) + "\"} " + std::to_string(n) +
                       "\n";
        }
    observe::append_family(out, "tsm_http_request_duration_seconds", "histogram",
                           "HTTP request latency by plugin instance, including the plugin's "
                           "calls to kmsd.");
    for (const auto& s : m_series)
        if (s.latency->snapshot().count != 0)
            observe::append_histogram(out, "tsm_http_request_duration_seconds",
                                      "instance=\"" + escape_label_value(s.instance) + "\"",
                                      *s.latency);
    observe::append_family(out, "process_start_time_seconds", "gauge",
                           "Start time of the process since the Unix epoch in seconds.");
    char start[40];
    std::snprintf(start, sizeof start, "%.3f", m_start_time_s);
    out += "process_start_time_seconds " + std::string(start) + "\n";
    observe::append_family(out, "kms_build_info", "gauge", "Always 1; the labels name the build.");
    out += "kms_build_info{program=\"tsmd\",version=\"" + escape_label_value(m_version) + "\"} 1\n";
    return out;
}

}  // namespace kms::tsm
