// When a service instance's registrar talks to a front: the renewal period derived from the
// registration's time to live, and the backoff while a front does not take the registration.
// Pure C++ (no clock, no I/O): the Registrar (registrar.hpp) feeds it, the unit tests check it.
#pragma once

#include <cstdint>

namespace kms::tsm::registrar {

/// Milliseconds between two renewals of a registration of @p ttl_seconds (>= 1): a third of the
/// time to live, so that two renewals in a row may be lost (a front restarting, a slow network)
/// before the front drops the instance. Never less than 100 ms.
std::int64_t renewal_interval_ms(int ttl_seconds);

/// Longest wait between two attempts at a front that does not take the registration: the
/// renewal interval, so that a front coming up (or forgetting the instance after a restart)
/// has it back within one renewal period, but at most 30 s and at least kFirstRetryMs.
std::int64_t max_retry_ms(int ttl_seconds);

/// Exponential backoff: first_ms, then twice the previous wait, capped at max_ms; reset() after
/// a success starts again from first_ms. No jitter (see docs/front.md, "Not done"). Not
/// thread-safe; the Registrar keeps one per front.
class Backoff {
  public:
    static constexpr std::int64_t kFirstRetryMs = 200;

    /// @p first_ms >= 1; @p max_ms >= first_ms (raised to first_ms when lower).
    Backoff(std::int64_t first_ms, std::int64_t max_ms);

    /// The wait before the next attempt after one more failure; counts the failure.
    std::int64_t next();
    /// A success: the next failure waits first_ms again.
    void reset() noexcept;
    /// Consecutive failures counted since the last reset().
    int failures() const noexcept { return m_failures; }

  private:
    std::int64_t m_first, m_max;
    int m_failures = 0;
};

}  // namespace kms::tsm::registrar
