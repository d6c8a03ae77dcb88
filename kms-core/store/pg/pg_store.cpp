// PgStore: opening, snapshot reads, one transaction per write() with bounded retries.
#include "store/pg/pg_store.hpp"

#include <climits>
#include <exception>
#include <optional>

#include "domain/error.hpp"
#include "store/pg/pg_pool.hpp"
#include "store/pg/pg_schema.hpp"
#include "store/pg/pg_write_txn.hpp"
#include "store/record_codec.hpp"
#include "store/store_rules.hpp"

namespace kms::store::pg {

using core::KeyFilter;
using core::KeyPage;
using core::KeyRecord;

namespace {

constexpr std::size_t kMaxPage = 1000;

/// A write() whose outcome is known before write_queued() returns.
class DoneWrite final : public core::QueuedWrite {
  public:
    explicit DoneWrite(std::exception_ptr error) : m_error(std::move(error)) {}
    void wait() override {
        if (m_error) std::rethrow_exception(m_error);
    }

  private:
    std::exception_ptr m_error;
};

std::vector<std::pair<std::string, Bytes>> pairs(const pqxx::result& r) {
    std::vector<std::pair<std::string, Bytes>> out;
    out.reserve(r.size());
    for (const auto& row : r) out.emplace_back(row[0].as<std::string>(), to_bytes(row[1]));
    return out;
}

}  // namespace

PgStore::PgStore(PgOptions options, core::AuditSealer sealer, const core::Clock& clock)
    : m_options(std::move(options)), m_sealer(std::move(sealer)), m_clock(clock) {
    if (m_options.conninfo.empty())
        throw Error(ErrorCode::InvalidArgument, "PgOptions::conninfo is empty");
    if (m_options.max_idle_connections == 0 || m_options.max_write_attempts == 0)
        throw Error(ErrorCode::InvalidArgument,
                    "PgOptions: max_idle_connections and max_write_attempts must be positive");
    if (!m_sealer) throw Error(ErrorCode::InvalidArgument, "PgStore needs an audit sealer");
    m_pool = std::make_unique<Pool>(m_options.conninfo, m_options.max_idle_connections);
    m_opened_schema = with_connection(*m_pool, "open the store",
                                      [](pqxx::connection& c) { return open_schema(c); });
}

std::unique_ptr<PgStore> PgStore::open(PgOptions options, core::AuditSealer sealer,
                                       const core::Clock& clock) {
    return std::make_unique<PgStore>(std::move(options), std::move(sealer), clock);
}

PgStore::~PgStore() = default;

std::uint32_t PgStore::current_schema() {
    return kPgSchema;
}

std::optional<KeyRecord> PgStore::find_key(std::string_view id) {
    if (id.empty()) return std::nullopt;
    return with_connection(
        *m_pool, "find_key", [&](pqxx::connection& c) -> std::optional<KeyRecord> {
            pqxx::nontransaction n(c);
            const pqxx::result r =
                n.exec_params("SELECT record FROM kms_keys WHERE id = $1", std::string(id));
            if (r.empty()) return std::nullopt;
            return decode_key(to_bytes(r[0][0]));
        });
}

std::optional<std::string> PgStore::find_key_id_by_name(std::string_view name) {
    if (name.empty()) return std::nullopt;
    return with_connection(
        *m_pool, "find_key_id_by_name", [&](pqxx::connection& c) -> std::optional<std::string> {
            pqxx::nontransaction n(c);
            const pqxx::result r = n.exec_params("SELECT id FROM kms_keys WHERE live AND name = $1",
                                                 std::string(name));
            if (r.empty()) return std::nullopt;
            return r[0][0].as<std::string>();
        });
}

KeyPage PgStore::list_keys(const KeyFilter& filter, std::string_view after_id, std::size_t limit) {
    if (limit < 1 || limit > kMaxPage)
        throw Error(ErrorCode::InvalidArgument, "limit must be 1..1000");
    return list_keys_page(filter, after_id, limit);
}

KeyPage PgStore::list_keys_page(const KeyFilter& filter, std::string_view after_id,
                                std::size_t limit) {
    // As LmdbStore: a name prefix matches live keys by their name, unless the filter asks
    // for a destroyed state, which matches tombstones by their recorded name.
    const bool wants_destroyed = filter.state && core::is_destroyed(*filter.state);
    const bool live_only = !filter.name_prefix.empty() && !wants_destroyed;
    const int state = filter.state ? static_cast<int>(*filter.state) : -1;
    const int algorithm = filter.algorithm ? static_cast<int>(*filter.algorithm) : -1;
    const long long usage = filter.usage ? static_cast<long long>(*filter.usage) : 0;
    return with_connection(*m_pool, "list_keys", [&](pqxx::connection& c) {
        pqxx::nontransaction n(c);  // one statement: one snapshot
        // One row beyond the page tells whether a further matching key exists.
        const pqxx::result r = n.exec_params(
            "SELECT record FROM kms_keys WHERE id > $1 AND (NOT $2 OR live) "
            "AND starts_with(name, $3) AND ($4 < 0 OR state = $4) "
            "AND ($5 < 0 OR algorithm = $5) AND ($6 = 0 OR (usage & $6) <> 0) "
            "ORDER BY id LIMIT $7",
            std::string(after_id), live_only, filter.name_prefix, state, algorithm, usage,
            static_cast<long long>(limit + 1));
        KeyPage page;
        for (const auto& row : r) {
            if (page.keys.size() == limit) {
                page.next_after = page.keys.back().id;
                break;
            }
            page.keys.push_back(decode_key(to_bytes(row[0])));
        }
        return page;
    });
}

std::optional<core::Principal> PgStore::find_principal(std::string_view name) {
    if (name.empty()) return std::nullopt;
    return with_connection(
        *m_pool, "find_principal", [&](pqxx::connection& c) -> std::optional<core::Principal> {
            pqxx::nontransaction n(c);
            const pqxx::result r = n.exec_params(
                "SELECT record FROM kms_principals WHERE name = $1", std::string(name));
            if (r.empty()) return std::nullopt;
            return decode_principal(to_bytes(r[0][0]));
        });
}

std::optional<core::Principal> PgStore::find_principal_by_token_hash(ByteView token_hash) {
    if (token_hash.empty()) return std::nullopt;
    return with_connection(*m_pool, "find_principal_by_token_hash",
                           [&](pqxx::connection& c) -> std::optional<core::Principal> {
                               pqxx::nontransaction n(c);
                               const pqxx::result r = n.exec_params(
                                   "SELECT record FROM kms_principals WHERE token_hash = $1",
                                   bin(token_hash));
                               if (r.empty()) return std::nullopt;
                               return decode_principal(to_bytes(r[0][0]));
                           });
}

std::vector<core::Principal> PgStore::list_principals() {
    return with_connection(*m_pool, "list_principals", [&](pqxx::connection& c) {
        pqxx::nontransaction n(c);
        std::vector<core::Principal> out;
        for (const auto& row : n.exec("SELECT record FROM kms_principals ORDER BY name"))
            out.push_back(decode_principal(to_bytes(row[0])));
        return out;
    });
}

std::vector<core::AuditRecord> PgStore::read_audit(std::uint64_t from_seq, std::size_t limit) {
    if (limit == 0) return {};
    return with_connection(*m_pool, "read_audit", [&](pqxx::connection& c) {
        pqxx::nontransaction n(c);
        // seq is a bigint: a from_seq past its range matches nothing.
        if (from_seq > static_cast<std::uint64_t>(INT64_MAX))
            return std::vector<core::AuditRecord>{};
        const long long cap =
            limit > static_cast<std::size_t>(INT64_MAX) ? INT64_MAX : static_cast<long long>(limit);
        std::vector<core::AuditRecord> out;
        for (const auto& row :
             n.exec_params("SELECT record FROM kms_audit WHERE seq >= $1 ORDER BY seq LIMIT $2",
                           static_cast<long long>(from_seq), cap))
            out.push_back(decode_audit(to_bytes(row[0])));
        return out;
    });
}

core::AuditHead PgStore::audit_head() {
    return with_connection(*m_pool, "audit_head", [&](pqxx::connection& c) {
        pqxx::nontransaction n(c);
        const pqxx::row row = n.exec1("SELECT seq, hash FROM kms_audit_head WHERE id = 1");
        return core::AuditHead{row[0].as<std::uint64_t>(), to_bytes(row[1])};
    });
}

std::optional<Bytes> PgStore::get_setting(std::string_view name) {
    if (name.empty()) return std::nullopt;
    if (name == "store/audit_head") {
        const core::AuditHead head = audit_head();
        if (head.seq == 0) return std::nullopt;
        return encode_audit_head(head);
    }
    return with_connection(
        *m_pool, "get_setting", [&](pqxx::connection& c) -> std::optional<Bytes> {
            pqxx::nontransaction n(c);
            const pqxx::result r =
                n.exec_params("SELECT value FROM kms_meta WHERE name = $1", std::string(name));
            if (r.empty()) return std::nullopt;
            return to_bytes(r[0][0]);
        });
}

std::vector<std::pair<std::string, Bytes>> PgStore::list_settings(std::string_view prefix) {
    return with_connection(*m_pool, "list_settings", [&](pqxx::connection& c) {
        pqxx::nontransaction n(c);
        return pairs(n.exec_params(
            "SELECT name, value FROM kms_meta WHERE starts_with(name, $1) ORDER BY name",
            std::string(prefix)));
    });
}

std::size_t PgStore::key_count() {
    return with_connection(*m_pool, "key_count", [&](pqxx::connection& c) {
        pqxx::nontransaction n(c);
        return n.exec1("SELECT count(*) FROM kms_keys")[0].as<std::size_t>();
    });
}

std::optional<Bytes> PgStore::get(core::Table table, std::string_view key) {
    check_table_key(key);
    return with_connection(*m_pool, "get", [&](pqxx::connection& c) -> std::optional<Bytes> {
        pqxx::nontransaction n(c);
        const pqxx::result r = n.exec_params(
            "SELECT value FROM " + table_sql_name(table) + " WHERE key = $1", std::string(key));
        if (r.empty()) return std::nullopt;
        return to_bytes(r[0][0]);
    });
}

std::vector<std::pair<std::string, Bytes>> PgStore::scan(core::Table table, std::string_view after,
                                                         std::size_t limit) {
    if (limit == 0) return {};
    const long long cap =
        limit > static_cast<std::size_t>(INT64_MAX) ? INT64_MAX : static_cast<long long>(limit);
    return with_connection(*m_pool, "scan", [&](pqxx::connection& c) {
        pqxx::nontransaction n(c);
        return pairs(n.exec_params("SELECT key, value FROM " + table_sql_name(table) +
                                       " WHERE key > $1 ORDER BY key LIMIT $2",
                                   std::string(after), cap));
    });
}

void PgStore::write(const std::function<void(core::WriteTxn&)>& fn) {
    if (!fn) throw Error(ErrorCode::InvalidArgument, "write() needs a callback");
    for (unsigned attempt = 1;; ++attempt) {
        const bool last_attempt = attempt >= m_options.max_write_attempts;
        Pool::Lease lease = m_pool->acquire();
        std::optional<pqxx::work> work;
        try {
            work.emplace(lease.conn());  // sends BEGIN
        } catch (const std::exception&) {
            // An idle connection the server dropped since: nothing was sent that could have
            // taken effect, so start over on a new one.
            if (lease.reused() && connection_lost(lease.conn()) && !last_attempt) {
                lease.discard();
                m_pool->drop_idle();
                continue;
            }
            rethrow_as_store_error("write: BEGIN", lease);
        }
        PgWriteTxn txn(*work, m_clock);
        try {
            fn(txn);
            if (txn.failed())
                throw Error(ErrorCode::StoreError,
                            "a store operation failed inside the write callback; its changes "
                            "were discarded");
            txn.finish(m_sealer);
        } catch (...) {
            // What fn threw reaches the caller unchanged, after the rollback (the work's
            // destructor). A failed statement may leave the connection in an unknown state:
            // it is not reused.
            work.reset();
            if (txn.failed()) {
                lease.discard();
                if (!lease.conn().is_open()) m_pool->drop_idle();
            }
            if (txn.retry_wanted() && !last_attempt) continue;
            throw;
        }
        try {
            work->commit();
            return;
        } catch (const pqxx::sql_error& e) {
            if (is_retryable(e) && !last_attempt) continue;
            rethrow_as_store_error("write: COMMIT", lease);
        } catch (const std::exception&) {
            rethrow_as_store_error("write: COMMIT", lease);
        }
    }
}

std::shared_ptr<core::QueuedWrite> PgStore::write_queued(std::function<void(core::WriteTxn&)> fn) {
    if (!fn) throw Error(ErrorCode::InvalidArgument, "write_queued() needs a callback");
    try {
        write(fn);
        return std::make_shared<DoneWrite>(nullptr);
    } catch (...) {
        return std::make_shared<DoneWrite>(std::current_exception());
    }
}

void PgStore::add_use_counters(
    const std::vector<std::pair<std::string, core::UseCounters>>& deltas) {
    if (deltas.empty()) return;
    write([&](core::WriteTxn& txn) { apply_use_counters(txn, deltas); });
}

bool PgStore::probe() noexcept {
    try {
        return with_connection(*m_pool, "probe", [](pqxx::connection& c) {
            pqxx::nontransaction n(c);
            n.exec1("SELECT 1");
            return true;
        });
    } catch (...) {
        return false;
    }
}

}  // namespace kms::store::pg
