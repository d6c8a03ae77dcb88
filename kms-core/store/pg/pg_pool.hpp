// A small pool of libpq connections (libpqxx 6.4) for PgStore, and the one place where
// libpqxx exceptions become kms::Error. Internal to kms-core/store/pg.
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "domain/error.hpp"

namespace kms::store::pg {

/// Connections are opened on demand, one per concurrent caller, and kept idle for reuse up to
/// a bound. A connection that failed (lost, terminated by the server, or in an unknown state)
/// is dropped instead of returned, so the next caller opens a fresh one: that is how the store
/// comes back after a PostgreSQL restart without any background task.
/// Thread safety: acquire() may be called from any thread; a Lease belongs to one thread.
class Pool {
  public:
    /// @p conninfo: a libpq connection string (never logged: it may hold a password, although
    /// the documented set-up uses a passfile or peer/trust authentication). @p max_idle: most
    /// connections kept open while unused (>= 1).
    Pool(std::string conninfo, std::size_t max_idle);
    Pool(const Pool&) = delete;
    Pool& operator=(const Pool&) = delete;

    /// One connection for the lifetime of the lease; returned to the pool by the destructor
    /// unless discard() was called or the connection is no longer open.
    class Lease {
      public:
        Lease(Pool& pool, std::unique_ptr<pqxx::connection> conn, bool reused)
            : m_pool(&pool), m_conn(std::move(conn)), m_reused(reused) {}
        Lease(Lease&& other) noexcept = default;
        Lease& operator=(Lease&&) = delete;
        ~Lease();
        pqxx::connection& conn() { return *m_conn; }
        Pool& pool() { return *m_pool; }
        /// True when the connection came from the idle list: the server may have dropped it
        /// since (a restart, pg_terminate_backend) without our knowing.
        bool reused() const noexcept { return m_reused; }
        /// Close the connection instead of reusing it.
        void discard() noexcept { m_discard = true; }

      private:
        Pool* m_pool;
        std::unique_ptr<pqxx::connection> m_conn;
        bool m_reused;
        bool m_discard = false;
    };

    /// An idle connection (unless @p fresh), or a new one. Throws Error(StoreError, "cannot
    /// connect to PostgreSQL: ...") when the server cannot be reached (libpq's message, which
    /// never repeats a password).
    Lease acquire(bool fresh = false);
    /// Closes every idle connection: called when one turns out dead, since the others most
    /// likely died with it (a server restart or failover).
    void drop_idle() noexcept;

  private:
    void give_back(std::unique_ptr<pqxx::connection> conn) noexcept;

    const std::string m_conninfo;
    const std::size_t m_max_idle;
    std::mutex m_mutex;
    std::vector<std::unique_ptr<pqxx::connection>> m_idle;
};

/// SQLSTATE classes a write() retries (PostgreSQL 15 manual, Appendix A): 40001
/// serialization_failure, 40P01 deadlock_detected.
bool is_retryable(const pqxx::sql_error& e);

/// True when the exception being handled means the connection is gone: broken_connection,
/// SQLSTATE class 08 (connection exception) or 57 (operator intervention: admin shutdown,
/// pg_terminate_backend), or a connection no longer open. Call only inside a catch block.
bool connection_lost(pqxx::connection& conn) noexcept;

/// Translates what libpqxx threw while @p lease was in use into kms::Error and throws it:
/// StoreError for every failure of the connection or the server (the lease is discarded when
/// the connection is gone or its state is unknown), naming @p what and the SQLSTATE.
[[noreturn]] void rethrow_as_store_error(const std::string& what, Pool::Lease& lease);

/// Runs @p fn(conn) on a leased connection, translating libpqxx exceptions with
/// rethrow_as_store_error(); kms::Error passes unchanged. @p fn must be a read (idempotent):
/// when an idle connection turns out dead, it runs once more on a new connection, so a
/// server that came back since is used at once.
template <class Fn>
auto with_connection(Pool& pool, const std::string& what, Fn&& fn) {
    for (bool first = true;; first = false) {
        Pool::Lease lease = pool.acquire(!first);
        try {
            return fn(lease.conn());
        } catch (const Error&) {
            throw;
        } catch (const std::exception&) {
            if (first && lease.reused() && connection_lost(lease.conn())) {
                lease.discard();
                pool.drop_idle();
                continue;
            }
            rethrow_as_store_error(what, lease);
        }
    }
}

}  // namespace kms::store::pg
