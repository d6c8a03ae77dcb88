// The PostgreSQL adapter of the MetadataStore port (DESIGN §9, docs/operations.md
// "PostgreSQL store"): the same records as the LMDB store (record_codec.hpp: a key record is
// the same bytes in both), in tables of one database that several kmsd nodes may share.
// Each write() is one transaction that commits its changes and its audit records together or
// not at all; the audit head is a row locked by every writer, so all nodes extend one chain.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "ports/clock.hpp"
#include "ports/metadata_store.hpp"

namespace kms::store::pg {

class Pool;

struct PgOptions {
    /// A libpq connection string ("host=/run/postgresql dbname=kms user=kmsd", or a
    /// postgresql:// URI). Never logged or put in an error: it may hold a password, although
    /// the documented set-ups use a passfile (PGPASSFILE) or peer/trust auth on a socket.
    std::string conninfo;
    /// Most idle connections kept open (one per concurrent caller is opened on demand).
    std::size_t max_idle_connections = 16;
    /// Attempts of one write() before a serialization failure, deadlock or concurrent
    /// unique-index hit reaches the caller (as Error(StoreError), or Error(Conflict)).
    unsigned max_write_attempts = 5;
};

/// Thread safety: every method may be called from any thread, concurrently; each call leases
/// its own connection (pg_pool.hpp). The destructor must not race with other calls.
/// Several PgStore objects (in one process or on several machines) may share one database.
/// Failures: a lost connection, a stopped server or any SQL error throws Error(StoreError)
/// (kmsd answers 503) and the connection is dropped; the next call connects afresh, so the
/// store recovers by itself when the server is back. A failed write leaves nothing behind.
class PgStore final : public core::MetadataStore {
  public:
    /// Connects, creates missing tables and checks the schema (pg_schema.hpp): a newer
    /// schema throws Error(StoreError, "store schema N is newer than this kmsd (M)").
    /// @param sealer computes the seal of the last audit record of each write() that appends
    ///        records (over the first record's seq and the last one's hash). Called inside
    ///        the transaction, after the callback, while the audit head row is locked; what
    ///        it throws fails the write (fail closed). Must not be empty.
    /// @param clock supplies audit record times; must outlive the store.
    /// Throws Error(InvalidArgument) for empty conninfo or sealer or zero sizes,
    /// Error(StoreError) when PostgreSQL cannot be reached or refuses the schema.
    PgStore(PgOptions options, core::AuditSealer sealer, const core::Clock& clock);
    static std::unique_ptr<PgStore> open(PgOptions options, core::AuditSealer sealer,
                                         const core::Clock& clock);
    ~PgStore() override;
    PgStore(const PgStore&) = delete;
    PgStore& operator=(const PgStore&) = delete;

    // ---- reads: one statement in autocommit, or one REPEATABLE READ READ ONLY transaction
    // (list_keys), so each call sees one snapshot. Same results as LmdbStore's, except:
    // list_keys() filters in SQL and sets next_after only when a further matching key exists
    // (never an empty last page); key_count() is SELECT count(*) (O(n), not O(1)).
    std::optional<core::KeyRecord> find_key(std::string_view id) override;
    std::optional<std::string> find_key_id_by_name(std::string_view name) override;
    core::KeyPage list_keys(const core::KeyFilter& filter, std::string_view after_id,
                            std::size_t limit) override;
    std::optional<core::Principal> find_principal(std::string_view name) override;
    std::optional<core::Principal> find_principal_by_token_hash(ByteView token_hash) override;
    std::vector<core::Principal> list_principals() override;
    std::vector<core::AuditRecord> read_audit(std::uint64_t from_seq, std::size_t limit) override;
    core::AuditHead audit_head() override;
    /// "store/audit_head" is answered from the head row (LmdbStore keeps it as a setting);
    /// list_settings() does not list it.
    std::optional<Bytes> get_setting(std::string_view name) override;
    std::vector<std::pair<std::string, Bytes>> list_settings(std::string_view prefix) override;
    std::size_t key_count() override;
    std::optional<Bytes> get(core::Table table, std::string_view key) override;
    std::vector<std::pair<std::string, Bytes>> scan(core::Table table, std::string_view after,
                                                    std::size_t limit) override;

    // ---- writes

    /// Runs @p fn with a PgWriteTxn (pg_write_txn.hpp) in one READ COMMITTED transaction on
    /// the calling thread, appends its audit records (sealed) and commits (synchronous commit
    /// as the server is configured: durable by default). If @p fn throws, the transaction is
    /// rolled back and the exception reaches the caller unchanged. On a serialization
    /// failure, a deadlock or a unique-index hit by a concurrent transaction, the whole
    /// attempt is rolled back and @p fn runs again, at most max_write_attempts times:
    /// @p fn must therefore only read and write through the WriteTxn and set what it
    /// captures, never act outside it (as every service callback does today).
    /// A lost connection during COMMIT throws Error(StoreError, "... outcome is unknown").
    void write(const std::function<void(core::WriteTxn&)>& fn) override;
    /// Runs write() at once and returns a handle whose wait() rethrows its outcome: ordering
    /// then holds trivially, at the price of the caller waiting for the commit.
    std::shared_ptr<core::QueuedWrite> write_queued(
        std::function<void(core::WriteTxn&)> fn) override;
    /// As LmdbStore::add_use_counters(): one write() that locks and updates each key and
    /// appends one "key.use" record per key.
    void add_use_counters(
        const std::vector<std::pair<std::string, core::UseCounters>>& deltas) override;
    /// SELECT 1 on a pooled connection; false instead of throwing.
    bool probe() noexcept override;

    /// 0 for a database this open initialized, else the schema found (== current_schema()).
    std::uint32_t opened_schema() const { return m_opened_schema; }
    static std::uint32_t current_schema();

  private:
    core::KeyPage list_keys_page(const core::KeyFilter& filter, std::string_view after_id,
                                 std::size_t limit);

    const PgOptions m_options;
    const core::AuditSealer m_sealer;
    const core::Clock& m_clock;
    std::unique_ptr<Pool> m_pool;
    std::uint32_t m_opened_schema = 0;
};

}  // namespace kms::store::pg
