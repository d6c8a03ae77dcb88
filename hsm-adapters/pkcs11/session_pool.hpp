// The session pool: N read/write sessions opened at start and kept open for the pool's life,
// plus one "anchor" session that holds the login and destroys cached objects. A thread borrows
// a session for one operation (RAII Lease) and returns it; sessions are never opened or closed
// under load, because SoftHSM2 races when they are (softhsm/SoftHSMv2#688, #464).
//
// Login: once, on the anchor session (PKCS#11 v2.40 §5.6: the login state belongs to the
// application and token, not the session, so every pool session is logged in with it).
// CKR_USER_ALREADY_LOGGED_IN is accepted: another user of the token in this process logged in.
// Note that the module then does not check the PIN. No explicit C_Logout: closing the
// application's last session on the token logs out (§5.6), and an explicit C_Logout would also
// log out that other user.
//
// Reconnection: when an operation sees a CK_RV for which ckr_means_session_lost() is true
// (session handle invalid, device removed, token not present, user not logged in), the caller
// returns its lease and calls recover(generation of that lease). recover() waits until no lease
// is out, closes what is left, finds the token by label again (its slot may have changed), opens
// the anchor and N sessions, logs in and increments the generation. Everything created in an
// older generation (cached session objects, handles of the master keys) is void: KeyCache drops
// entries of older generations without C_DestroyObject. If the token cannot be reached the pool
// is "down": borrow() retries the reconnection at most every 200 ms and otherwise throws
// HsmUnavailable at once.
//
// Thread safety: every member may be called from any thread. A Lease belongs to the borrowing
// thread until it is destroyed. recover() must not be called while the calling thread holds a
// Lease (it waits for all leases to come back).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "domain/secure_bytes.hpp"
#include "pkcs11/cryptoki.hpp"
#include "pkcs11/session.hpp"

namespace kms::hsm {

class Module;

class SessionPool {
  public:
    /// Finds the token labelled @p token_label, opens the anchor and @p size sessions (1..64)
    /// and logs in as CKU_USER with @p pin (kept in locked memory for re-login after a
    /// reconnection). Throws kms::Error: NotFound when no token has the label, InvalidArgument
    /// for a bad size, the CK_RV error of C_OpenSession or C_Login (e.g. CKR_PIN_INCORRECT; the
    /// message names the token, never the PIN).
    SessionPool(std::shared_ptr<Module> module, std::string token_label, SecretString pin,
                std::size_t size);
    /// Closes every session. Cached session objects die with their sessions.
    ~SessionPool();
    SessionPool(const SessionPool&) = delete;
    SessionPool& operator=(const SessionPool&) = delete;

    /// One borrowed session. Move-only; returns the session to the pool when destroyed.
    class Lease {
      public:
        Lease() = default;
        ~Lease() { reset(); }
        Lease(Lease&& other) noexcept
            : m_pool(other.m_pool), m_handle(other.m_handle), m_generation(other.m_generation) {
            other.m_pool = nullptr;
        }
        Lease& operator=(Lease&& other) noexcept;
        Lease(const Lease&) = delete;
        Lease& operator=(const Lease&) = delete;

        CK_SESSION_HANDLE handle() const noexcept { return m_handle; }
        /// The pool generation the session belongs to (see recover()).
        std::uint64_t generation() const noexcept { return m_generation; }
        /// Returns the session now.
        void reset() noexcept;

      private:
        friend class SessionPool;
        Lease(SessionPool* pool, CK_SESSION_HANDLE h, std::uint64_t g) noexcept
            : m_pool(pool), m_handle(h), m_generation(g) {}
        SessionPool* m_pool = nullptr;
        CK_SESSION_HANDLE m_handle = CK_INVALID_HANDLE;
        std::uint64_t m_generation = 0;
    };

    /// Waits for a free session; waiting threads are served first come, first served.
    /// Throws HsmUnavailable when the pool is down and reconnecting failed (or was tried less
    /// than 200 ms ago).
    Lease borrow();
    /// As borrow(), but gives up after @p limit: std::nullopt when no session came free in
    /// time (the waiter leaves the queue; no session is lost). Throws as borrow().
    std::optional<Lease> try_borrow_for(std::chrono::milliseconds limit);

    /// Reopens the sessions unless that already happened after @p seen_generation. The caller
    /// must hold no Lease. Throws kms::Error (HsmUnavailable, or the CK_RV of the failed call)
    /// when the token cannot be reached; the pool is then down.
    void recover(std::uint64_t seen_generation);

    /// C_DestroyObject of a session object created in generation @p generation, on the anchor
    /// session. Skipped when the generation is over (the object died with its session) or after
    /// stop_destroying(). Never throws.
    void destroy_object(CK_OBJECT_HANDLE object, std::uint64_t generation) noexcept;
    /// From now on destroy_object() does nothing (shutdown: closing the sessions destroys all).
    void stop_destroying() noexcept;

    /// C_GetSessionInfo on a pooled session: true when it works and the user is logged in.
    /// Tries one reconnection when the session is gone. False when no session comes free
    /// within 1.5 s (every session held by calls the module does not answer). Never throws.
    bool probe() noexcept;

    const Module& module() const noexcept { return *m_module; }
    const CK_FUNCTION_LIST& fn() const noexcept;
    CK_SLOT_ID slot() const;
    std::uint64_t generation() const noexcept { return m_generation.load(); }
    std::size_t size() const noexcept { return m_size; }
    std::size_t in_use() const;
    /// Figures for monitoring (kmsd's /metrics): sessions lent now, and since the pool was
    /// made, borrows that had to wait and waits that ran out (try_borrow_for() gave up).
    struct Stats {
        std::size_t size = 0;
        std::size_t in_use = 0;
        std::uint64_t waits = 0;
        std::uint64_t timeouts = 0;
    };
    Stats stats() const;
    /// Whether our C_Login succeeded (false: the user was already logged in).
    bool logged_in_by_us() const;

  private:
    /// A thread waiting for a session, queued in arrival order.
    ///
    /// Fairness, bounded: a returned session normally goes back to the free list and the
    /// first waiter is woken to compete for it, so a thread that gives a session back and asks
    /// again at once keeps running on a warm CPU (throughput). Once the first waiter has
    /// waited longer than kHandOffAfter, returned sessions are handed to waiters directly, in
    /// order. Without the bound, one thread generating keys in a loop kept a one-session pool
    /// from 8 MAC threads (measured: 4 MAC/s, 5 s worst wait); strict hand-off always halves
    /// MAC throughput with 8 threads on SoftHSM2 (convoying).
    struct Waiter {
        enum class State { Waiting, Served, Retry } state = State::Waiting;
        CK_SESSION_HANDLE handle = CK_INVALID_HANDLE;
        std::uint64_t generation = 0;
        std::chrono::steady_clock::time_point since;
        std::condition_variable cv;
    };

    /// borrow() and try_borrow_for(): nullopt only when @p deadline passed while waiting.
    std::optional<Lease> borrow_until(
        std::optional<std::chrono::steady_clock::time_point> deadline);
    void give_back(CK_SESSION_HANDLE handle, std::uint64_t generation) noexcept;
    /// Gives @p handle to the first waiter, or back to the free list. m_mutex held.
    void hand_out_locked(CK_SESSION_HANDLE handle) noexcept;
    void open_all_locked();  // m_mutex and m_anchor_mutex held
    void close_all_locked() noexcept;
    void reconnect_locked(std::unique_lock<std::mutex>& lock);

    std::shared_ptr<Module> m_module;
    const std::string m_label;
    const SecretString m_pin;
    const std::size_t m_size;

    mutable std::mutex m_mutex;           // everything below up to m_anchor_mutex
    std::condition_variable m_idle;       // m_in_use reached 0 (a reconnection waits for it)
    std::condition_variable m_recovered;  // a reconnection ended
    std::vector<Session> m_sessions;
    std::vector<CK_SESSION_HANDLE> m_free;
    std::deque<Waiter*> m_waiters;  // FIFO
    std::size_t m_in_use = 0;
    std::uint64_t m_waits = 0;     // borrows that queued (under m_mutex, which they hold anyway)
    std::uint64_t m_timeouts = 0;  // queued borrows whose deadline passed
    bool m_recovering = false;
    bool m_down = false;
    bool m_logged_in_by_us = false;
    CK_SLOT_ID m_slot = 0;
    std::chrono::steady_clock::time_point m_last_attempt{};

    std::mutex m_anchor_mutex;  // the anchor session; taken after m_mutex, never before
    Session m_anchor;
    bool m_destroying = true;
    std::atomic<std::uint64_t> m_generation{1};
};

}  // namespace kms::hsm
