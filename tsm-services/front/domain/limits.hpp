// Per-client rate limiting for the front: one token bucket per client (the mTLS client's CN, or
// "" for clients without a certificate). Pure C++; time is passed in, in milliseconds.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

#include "routing.hpp"

namespace kms::tsm::front {

/// A token bucket: holds at most `burst` tokens, refilled at `rate` tokens per second; each
/// request takes one. Not thread-safe.
class TokenBucket {
  public:
    /// @p rate > 0 tokens per second, @p burst >= 1; starts full at @p now.
    TokenBucket(double rate, double burst, Millis now);

    /// Takes one token when there is one: returns 0. Otherwise takes nothing and returns the
    /// milliseconds until one is there (>= 1).
    Millis take(Millis now);
    /// True when the bucket is full at @p now (it can be forgotten without changing anything).
    bool full(Millis now) const;

  private:
    void refill(Millis now);
    double m_rate, m_burst, m_tokens;
    Millis m_last;
};

/// One TokenBucket per client. Buckets that are full again are forgotten once more than
/// `max_clients` are held, so the map stays bounded under many distinct clients. Not thread-safe.
class RateLimiter {
  public:
    RateLimiter(double rate, double burst, std::size_t max_clients = 10000);

    /// 0 when @p client may make a request now (one token taken), else the milliseconds to wait.
    Millis take(const std::string& client, Millis now);
    std::size_t clients() const { return m_buckets.size(); }

  private:
    double m_rate, m_burst;
    std::size_t m_max;
    std::map<std::string, TokenBucket> m_buckets;
};

}  // namespace kms::tsm::front
