// Renewal period and backoff of the registrar (see registrar_schedule.hpp).
#include "registrar_schedule.hpp"

#include <algorithm>

namespace kms::tsm::registrar {

std::int64_t renewal_interval_ms(int ttl_seconds) {
    return std::max<std::int64_t>(100, std::int64_t{ttl_seconds} * 1000 / 3);
}

std::int64_t max_retry_ms(int ttl_seconds) {
    return std::clamp<std::int64_t>(renewal_interval_ms(ttl_seconds), Backoff::kFirstRetryMs,
                                    30000);
}

Backoff::Backoff(std::int64_t first_ms, std::int64_t max_ms)
    : m_first(std::max<std::int64_t>(1, first_ms)), m_max(std::max(m_first, max_ms)) {}

std::int64_t Backoff::next() {
    // first * 2^failures, computed without overflow: stop doubling once the cap is reached.
    std::int64_t wait = m_first;
    for (int i = 0; i < m_failures && wait < m_max; ++i) wait *= 2;
    if (m_failures < 1000000) ++m_failures;  // a count for logs; the wait is capped anyway
    return std::min(wait, m_max);
}

void Backoff::reset() noexcept {
    m_failures = 0;
}

}  // namespace kms::tsm::registrar
