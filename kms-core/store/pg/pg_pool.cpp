// Pool: on-demand connections, drop-on-failure, libpqxx exception translation.
#include "store/pg/pg_pool.hpp"

#include <exception>

namespace kms::store::pg {

Pool::Pool(std::string conninfo, std::size_t max_idle)
    : m_conninfo(std::move(conninfo)), m_max_idle(max_idle) {
    if (m_max_idle == 0) throw Error(ErrorCode::InvalidArgument, "pool size must be positive");
}

Pool::Lease::~Lease() {
    if (!m_conn) return;                          // moved from
    if (m_discard || !m_conn->is_open()) return;  // closed by the unique_ptr
    m_pool->give_back(std::move(m_conn));
}

Pool::Lease Pool::acquire(bool fresh) {
    if (!fresh) {
        std::lock_guard lock(m_mutex);
        if (!m_idle.empty()) {
            auto conn = std::move(m_idle.back());
            m_idle.pop_back();
            return Lease(*this, std::move(conn), true);
        }
    }
    try {
        return Lease(*this, std::make_unique<pqxx::connection>(m_conninfo), false);
    } catch (const std::exception& e) {
        // libpq's message names host, port and the server's answer, never the password.
        throw Error(ErrorCode::StoreError,
                    std::string("cannot connect to PostgreSQL: ") + e.what());
    }
}

void Pool::give_back(std::unique_ptr<pqxx::connection> conn) noexcept {
    try {
        std::lock_guard lock(m_mutex);
        if (m_idle.size() < m_max_idle) m_idle.push_back(std::move(conn));
    } catch (...) {
        // push_back could not grow the vector: the connection is closed instead.
    }
}

void Pool::drop_idle() noexcept {
    std::vector<std::unique_ptr<pqxx::connection>> dropped;
    {
        std::lock_guard lock(m_mutex);
        dropped.swap(m_idle);
    }
    // Closed here, outside the lock, by the unique_ptrs.
}

bool connection_lost(pqxx::connection& conn) noexcept {
    try {
        throw;
    } catch (const pqxx::broken_connection&) {
        return true;
    } catch (const pqxx::sql_error& e) {
        const std::string& state = e.sqlstate();
        return state.starts_with("08") || state.starts_with("57") || !conn.is_open();
    } catch (...) {
        return !conn.is_open();
    }
}

bool is_retryable(const pqxx::sql_error& e) {
    return e.sqlstate() == "40001" || e.sqlstate() == "40P01";
}

void rethrow_as_store_error(const std::string& what, Pool::Lease& lease) {
    try {
        throw;
    } catch (const pqxx::in_doubt_error& e) {
        lease.discard();
        throw Error(ErrorCode::StoreError,
                    what + ": the connection was lost during COMMIT; the outcome is unknown");
    } catch (const pqxx::broken_connection& e) {
        lease.discard();
        lease.pool().drop_idle();
        throw Error(ErrorCode::StoreError, what + ": PostgreSQL connection lost");
    } catch (const pqxx::sql_error& e) {
        // Class 08 (connection exception) and 57 (operator intervention: admin shutdown,
        // pg_terminate_backend) leave the connection unusable.
        const std::string& state = e.sqlstate();
        if (state.starts_with("08") || state.starts_with("57") || !lease.conn().is_open()) {
            lease.discard();
            lease.pool().drop_idle();
        }
        // e.what() holds the server's message and the query text, which carries no values:
        // every value is a bound parameter. Only the first line is kept.
        std::string message = e.what();
        if (const auto nl = message.find('\n'); nl != std::string::npos) message.resize(nl);
        throw Error(ErrorCode::StoreError,
                    what + ": PostgreSQL error " + (state.empty() ? "?" : state) + ": " + message);
    } catch (const std::exception& e) {
        lease.discard();
        throw Error(ErrorCode::StoreError, what + ": " + e.what());
    }
}

}  // namespace kms::store::pg
