// Session pool: fixed sessions, one login, reconnection by generation (see session_pool.hpp).
#include "pkcs11/session_pool.hpp"

#include "domain/error.hpp"
#include "pkcs11/errors.hpp"
#include "pkcs11/module.hpp"

namespace kms::hsm {

namespace {
constexpr std::size_t kMaxSessions = 64;
// While the token is unreachable, one reconnection attempt per interval (the others answer
// HsmUnavailable at once). It bounds the time from the end of a fault to the first success:
// with 1 s the fault tests measured 960-1050 ms (tests/reliability/faults); with 200 ms a
// recovery takes at most 200 ms plus one reconnection, and a dead token costs 5 cheap attempts
// (C_GetSlotList, C_GetTokenInfo) a second.
constexpr auto kReconnectInterval = std::chrono::milliseconds(200);
constexpr auto kHandOffAfter = std::chrono::milliseconds(2);  // see SessionPool::Waiter
// probe() gives up waiting for a session after this long: a module that holds every session
// (hung calls) is reported unhealthy instead of keeping /healthz's last answer forever.
constexpr auto kProbeWait = std::chrono::milliseconds(1500);
}  // namespace

SessionPool::SessionPool(std::shared_ptr<Module> module, std::string token_label, SecretString pin,
                         std::size_t size)
    : m_module(std::move(module)),
      m_label(std::move(token_label)),
      m_pin(std::move(pin)),
      m_size(size) {
    if (m_size == 0 || m_size > kMaxSessions)
        throw Error(ErrorCode::InvalidArgument,
                    "HSM session pool size must be 1.." + std::to_string(kMaxSessions));
    std::lock_guard lock(m_mutex);
    std::lock_guard anchor(m_anchor_mutex);
    const auto slot = m_module->find_token(m_label);
    if (!slot)
        throw Error(ErrorCode::NotFound,
                    "no initialised token labelled '" + m_label + "' in " + m_module->path());
    m_slot = *slot;
    open_all_locked();
}

SessionPool::~SessionPool() {
    std::lock_guard lock(m_mutex);
    std::lock_guard anchor(m_anchor_mutex);
    m_destroying = false;
    close_all_locked();
}

const CK_FUNCTION_LIST& SessionPool::fn() const noexcept {
    return m_module->fn();
}

CK_SLOT_ID SessionPool::slot() const {
    std::lock_guard lock(m_mutex);
    return m_slot;
}

std::size_t SessionPool::in_use() const {
    std::lock_guard lock(m_mutex);
    return m_in_use;
}

SessionPool::Stats SessionPool::stats() const {
    std::lock_guard lock(m_mutex);
    return Stats{m_size, m_in_use, m_waits, m_timeouts};
}

bool SessionPool::logged_in_by_us() const {
    std::lock_guard lock(m_mutex);
    return m_logged_in_by_us;
}

void SessionPool::open_all_locked() {
    const auto& fn = m_module->fn();
    Session anchor = Session::open(*m_module, m_slot);
    // PKCS#11 v2.40 §5.6 C_Login. The PIN goes straight from locked memory to the module.
    const auto pin = m_pin.reveal();
    const CK_RV rv = fn.C_Login(anchor.handle(), CKU_USER,
                                reinterpret_cast<CK_UTF8CHAR*>(const_cast<char*>(pin.data())),
                                static_cast<CK_ULONG>(pin.size()));
    if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) {
        Error e = ck_error(rv, "C_Login", "token '" + m_label + "'");
        if (rv != CKR_PIN_INCORRECT && rv != CKR_PIN_LOCKED) throw e;
        // PKCS#11 v2.40 §3.2 CK_TOKEN_INFO flags: a module that counts wrong PINs says so
        // (SoftHSM2 does not count them). Repeating a wrong PIN would lock the token.
        CK_TOKEN_INFO info{};
        std::string lockout;
        if (fn.C_GetTokenInfo(m_slot, &info) == CKR_OK) {
            if ((info.flags & CKF_USER_PIN_LOCKED) != 0)
                lockout =
                    "; the token reports the user PIN LOCKED (CKF_USER_PIN_LOCKED): only "
                    "the security officer can unlock it";
            else if ((info.flags & CKF_USER_PIN_FINAL_TRY) != 0)
                lockout =
                    "; the token reports one try left before it locks the user PIN "
                    "(CKF_USER_PIN_FINAL_TRY): fix the PIN before the next start";
            else if ((info.flags & CKF_USER_PIN_COUNT_LOW) != 0)
                lockout =
                    "; the token counts wrong PINs and locks after too many "
                    "(CKF_USER_PIN_COUNT_LOW): fix the PIN before the next start";
        }
        throw Error(e.code(), std::string(e.what()) + lockout, e.native_kind(), e.native_code());
    }
    std::vector<Session> sessions;
    sessions.reserve(m_size);
    for (std::size_t i = 0; i < m_size; ++i) sessions.push_back(Session::open(*m_module, m_slot));

    m_logged_in_by_us = rv == CKR_OK;
    m_anchor = std::move(anchor);
    m_sessions = std::move(sessions);
    m_free.clear();
    for (const auto& s : m_sessions) m_free.push_back(s.handle());
}

void SessionPool::close_all_locked() noexcept {
    m_free.clear();
    m_sessions.clear();  // C_CloseSession each
    m_anchor.close();    // last: with it the login ends, unless another user keeps a session
}

void SessionPool::reconnect_locked(std::unique_lock<std::mutex>& lock) {
    m_recovering = true;
    m_idle.wait(lock, [this] { return m_in_use == 0; });
    m_last_attempt = std::chrono::steady_clock::now();
    const auto finish = [this](bool ok) {
        m_recovering = false;
        m_down = !ok;
        if (ok) {
            // Hand the new sessions to the threads that queued meanwhile, in order.
            while (!m_waiters.empty() && !m_free.empty()) {
                const auto h = m_free.back();
                m_free.pop_back();
                hand_out_locked(h);
            }
        } else {
            // Nothing to hand out: let every waiter look at the state again.
            for (Waiter* w : m_waiters) {
                w->state = Waiter::State::Retry;
                w->cv.notify_one();
            }
            m_waiters.clear();
        }
        m_recovered.notify_all();
    };
    try {
        std::lock_guard anchor(m_anchor_mutex);
        ++m_generation;  // first: objects of the old generation are never destroyed by handle
        close_all_locked();
        const auto slot = m_module->find_token(m_label);
        if (!slot)
            throw Error(ErrorCode::HsmUnavailable,
                        "token '" + m_label + "' is not present in " + m_module->path());
        m_slot = *slot;
        open_all_locked();
    } catch (...) {
        finish(false);
        throw;
    }
    finish(true);
}

SessionPool::Lease SessionPool::borrow() {
    return *borrow_until(std::nullopt);
}

std::optional<SessionPool::Lease> SessionPool::try_borrow_for(std::chrono::milliseconds limit) {
    return borrow_until(std::chrono::steady_clock::now() + limit);
}

std::optional<SessionPool::Lease> SessionPool::borrow_until(
    std::optional<std::chrono::steady_clock::time_point> deadline) {
    std::unique_lock lock(m_mutex);
    for (;;) {
        if (m_down && !m_recovering) {
            if (std::chrono::steady_clock::now() - m_last_attempt < kReconnectInterval)
                throw Error(ErrorCode::HsmUnavailable,
                            "HSM token '" + m_label + "' is unavailable; reconnecting");
            reconnect_locked(lock);
            continue;
        }
        // Fast path: a free session, and no waiter that has waited too long.
        if (!m_recovering && !m_free.empty() &&
            (m_waiters.empty() ||
             std::chrono::steady_clock::now() - m_waiters.front()->since < kHandOffAfter)) {
            const auto h = m_free.back();
            m_free.pop_back();
            ++m_in_use;
            return Lease(this, h, m_generation.load());
        }
        Waiter me;
        me.since = std::chrono::steady_clock::now();
        m_waiters.push_back(&me);
        ++m_waits;
        const auto ready = [this, &me] {
            return me.state != Waiter::State::Waiting ||
                   (!m_recovering && !m_free.empty() && m_waiters.front() == &me);
        };
        if (!deadline) {
            me.cv.wait(lock, ready);
        } else if (!me.cv.wait_until(lock, *deadline, ready)) {
            // Still Waiting, so still queued (only a hand-out or a failed reconnection takes a
            // waiter off the queue, and both make ready() true): leave the queue, and pass a
            // free session on to the next waiter if we were first.
            std::erase(m_waiters, &me);
            ++m_timeouts;
            if (!m_recovering && !m_free.empty() && !m_waiters.empty())
                m_waiters.front()->cv.notify_one();
            return std::nullopt;
        }
        if (me.state == Waiter::State::Served) return Lease(this, me.handle, me.generation);
        if (me.state == Waiter::State::Waiting) {  // first in line and a session is free
            m_waiters.pop_front();
            const auto h = m_free.back();
            m_free.pop_back();
            ++m_in_use;
            if (!m_free.empty() && !m_waiters.empty()) m_waiters.front()->cv.notify_one();
            return Lease(this, h, m_generation.load());
        }
        // Retry: a reconnection failed while we waited; look at the state again.
    }
}

void SessionPool::recover(std::uint64_t seen_generation) {
    std::unique_lock lock(m_mutex);
    m_recovered.wait(lock, [this] { return !m_recovering; });
    if (!m_down && m_generation.load() != seen_generation) return;  // someone else did it
    if (m_down && std::chrono::steady_clock::now() - m_last_attempt < kReconnectInterval)
        throw Error(ErrorCode::HsmUnavailable,
                    "HSM token '" + m_label + "' is unavailable; reconnecting");
    reconnect_locked(lock);
}

void SessionPool::hand_out_locked(CK_SESSION_HANDLE handle) noexcept {
    if (m_waiters.empty()) {
        m_free.push_back(handle);
        return;
    }
    Waiter* w = m_waiters.front();
    if (std::chrono::steady_clock::now() - w->since < kHandOffAfter) {
        m_free.push_back(handle);  // the first waiter competes for it (see Waiter)
        w->cv.notify_one();
        return;
    }
    m_waiters.pop_front();
    w->handle = handle;
    w->generation = m_generation.load();
    w->state = Waiter::State::Served;
    ++m_in_use;
    w->cv.notify_one();  // under the lock: the waiter's stack frame outlives this call
}

void SessionPool::give_back(CK_SESSION_HANDLE handle, std::uint64_t generation) noexcept {
    std::lock_guard lock(m_mutex);
    --m_in_use;
    if (m_recovering) {
        // The reconnection closes every session; it waits for the last one to come back.
        if (m_in_use == 0) m_idle.notify_all();
        return;
    }
    // A session of an older generation was closed by the reconnection: drop it.
    if (generation == m_generation.load() && !m_down) hand_out_locked(handle);
}

SessionPool::Lease& SessionPool::Lease::operator=(Lease&& other) noexcept {
    if (this != &other) {
        reset();
        m_pool = other.m_pool;
        m_handle = other.m_handle;
        m_generation = other.m_generation;
        other.m_pool = nullptr;
    }
    return *this;
}

void SessionPool::Lease::reset() noexcept {
    if (m_pool == nullptr) return;
    m_pool->give_back(m_handle, m_generation);
    m_pool = nullptr;
}

void SessionPool::destroy_object(CK_OBJECT_HANDLE object, std::uint64_t generation) noexcept {
    std::lock_guard anchor(m_anchor_mutex);
    if (!m_destroying || generation != m_generation.load() || !m_anchor) return;
    m_module->fn().C_DestroyObject(m_anchor.handle(), object);
}

void SessionPool::stop_destroying() noexcept {
    std::lock_guard anchor(m_anchor_mutex);
    m_destroying = false;
}

bool SessionPool::probe() noexcept {
    try {
        const auto check = [this](const Lease& lease, CK_RV& rv) {
            CK_SESSION_INFO info{};
            rv = fn().C_GetSessionInfo(lease.handle(), &info);
            return rv == CKR_OK &&
                   (info.state == CKS_RW_USER_FUNCTIONS || info.state == CKS_RO_USER_FUNCTIONS);
        };
        std::uint64_t generation = 0;
        CK_RV rv = CKR_OK;
        {
            auto lease = try_borrow_for(kProbeWait);
            if (!lease) return false;  // every session stuck in the module: not healthy
            generation = lease->generation();
            if (check(*lease, rv)) return true;
            // Logged out without an error code: the token was reset underneath us.
            if (rv == CKR_OK) rv = CKR_USER_NOT_LOGGED_IN;
        }
        if (!ckr_means_session_lost(rv)) return false;
        recover(generation);
        auto lease = try_borrow_for(kProbeWait);
        return lease && check(*lease, rv);
    } catch (...) {
        return false;
    }
}

}  // namespace kms::hsm
