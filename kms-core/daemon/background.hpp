// kmsd's background work: the health checker that /healthz reads, and the use-counter flush.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace kms::daemon {

/// Runs @p tick every @p period_ms on its own thread until stop() (or destruction); stop()
/// runs one final tick when @p final_tick is set.
class PeriodicTask {
  public:
    PeriodicTask(int period_ms, std::function<void()> tick, bool final_tick = false);
    ~PeriodicTask();
    PeriodicTask(const PeriodicTask&) = delete;
    PeriodicTask& operator=(const PeriodicTask&) = delete;
    void stop();

  private:
    int m_period_ms;
    std::function<void()> m_tick;
    bool m_final_tick;
    std::mutex m_mutex;
    std::condition_variable m_cv;
    bool m_stopping = false;
    std::thread m_thread;
};

}  // namespace kms::daemon
