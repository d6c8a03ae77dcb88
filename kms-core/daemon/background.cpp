// PeriodicTask (see background.hpp).
#include "daemon/background.hpp"

#include <chrono>

namespace kms::daemon {

PeriodicTask::PeriodicTask(int period_ms, std::function<void()> tick, bool final_tick)
    : m_period_ms(period_ms), m_tick(std::move(tick)), m_final_tick(final_tick) {
    m_thread = std::thread([this] {
        std::unique_lock lock(m_mutex);
        while (!m_stopping) {
            if (m_cv.wait_for(lock, std::chrono::milliseconds(m_period_ms),
                              [this] { return m_stopping; }))
                break;
            lock.unlock();
            m_tick();
            lock.lock();
        }
    });
}

void PeriodicTask::stop() {
    {
        std::lock_guard lock(m_mutex);
        if (m_stopping) return;
        m_stopping = true;
    }
    m_cv.notify_all();
    if (m_thread.joinable()) m_thread.join();
    if (m_final_tick) m_tick();
}

PeriodicTask::~PeriodicTask() {
    stop();
}

}  // namespace kms::daemon
