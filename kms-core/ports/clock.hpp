// The Clock port: wall time for records, replaceable in tests.
#pragma once

#include <chrono>
#include <cstdint>

namespace kms::core {

class Clock {
  public:
    virtual ~Clock() = default;
    /// Unix epoch milliseconds, UTC.
    virtual std::int64_t now_ms() const = 0;
};

class SystemClock final : public Clock {
  public:
    std::int64_t now_ms() const override {
        return std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
            .count();
    }
};

}  // namespace kms::core
