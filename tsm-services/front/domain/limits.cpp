// Token buckets per client (limits.hpp).
#include "limits.hpp"

#include <algorithm>
#include <cmath>

namespace kms::tsm::front {

TokenBucket::TokenBucket(double rate, double burst, Millis now)
    : m_rate(rate), m_burst(burst), m_tokens(burst), m_last(now) {}

void TokenBucket::refill(Millis now) {
    if (now <= m_last) return;  // a clock that did not move (or went back) adds nothing
    m_tokens = std::min(m_burst, m_tokens + static_cast<double>(now - m_last) * m_rate / 1000.0);
    m_last = now;
}

Millis TokenBucket::take(Millis now) {
    refill(now);
    if (m_tokens >= 1.0) {
        m_tokens -= 1.0;
        return 0;
    }
    const double wait = (1.0 - m_tokens) * 1000.0 / m_rate;
    return std::max<Millis>(1, static_cast<Millis>(std::ceil(wait)));
}

bool TokenBucket::full(Millis now) const {
    if (now <= m_last) return m_tokens >= m_burst;
    return m_tokens + static_cast<double>(now - m_last) * m_rate / 1000.0 >= m_burst;
}

RateLimiter::RateLimiter(double rate, double burst, std::size_t max_clients)
    : m_rate(rate), m_burst(burst), m_max(max_clients) {}

Millis RateLimiter::take(const std::string& client, Millis now) {
    auto it = m_buckets.find(client);
    if (it == m_buckets.end()) {
        if (m_buckets.size() >= m_max)
            for (auto b = m_buckets.begin(); b != m_buckets.end();)
                b = b->second.full(now) ? m_buckets.erase(b) : std::next(b);
        it = m_buckets.emplace(client, TokenBucket(m_rate, m_burst, now)).first;
    }
    return it->second.take(now);
}

}  // namespace kms::tsm::front
