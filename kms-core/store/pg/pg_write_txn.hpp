// The WriteTxn that PgStore hands to a write() callback: statements in one PostgreSQL
// transaction (READ COMMITTED), with row locks where a read decides a write, the name and
// token indexes kept by unique indexes, and audit records buffered until finish(), which
// appends them under the audit head's row lock. Internal to kms-core/store/pg.
#pragma once

#include <cstdint>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "domain/error.hpp"
#include "ports/clock.hpp"
#include "ports/metadata_store.hpp"

namespace kms::store::pg {

/// pqxx::binarystring of @p v (a bytea parameter, sent in binary).
pqxx::binarystring bin(ByteView v);
/// The bytes of a bytea field.
Bytes to_bytes(const pqxx::field& f);
// Names are checked by store/store_rules.hpp, the rules the LMDB backend applies too.

/// Lives for one attempt of one write() callback on the calling thread. Not thread-safe.
class PgWriteTxn final : public core::WriteTxn {
  public:
    /// @p work and @p clock must outlive this object.
    PgWriteTxn(pqxx::work& work, const core::Clock& clock) : m_w(work), m_clock(clock) {}

    /// SELECT ... FOR UPDATE: the row stays locked until the transaction ends, so a service
    /// that reads a key, checks its state and writes it back (KeyLifecycle) cannot interleave
    /// with the same read-modify-write on another node: the second waits, then reads the
    /// first one's result and judges the transition from there. States only move forward.
    std::optional<core::KeyRecord> find_key(std::string_view id) override;
    std::optional<std::string> find_key_id_by_name(std::string_view name) override;
    /// Upsert by id. Error(InvalidArgument) for an empty or over-long id (or name of a live
    /// key); Error(Conflict, "name already in use") when another live key owns the name,
    /// found by a read before any write, or by the unique index when a concurrent transaction
    /// took the name first (then retry_wanted() is true: the retry finds the owner).
    void put_key(const core::KeyRecord& key) override;
    std::optional<core::Principal> find_principal(std::string_view name) override;
    /// Upsert by name; Error(Conflict, "token already in use") as put_key() for names.
    void put_principal(const core::Principal& p) override;
    /// The first call locks the audit head row (SELECT ... FOR UPDATE) and reads it; every
    /// call then chains a record after the last (seq, time from the clock, prev_hash, hash)
    /// in memory. finish() writes them. Writers on other nodes that append wait for the lock.
    void append_audit(const core::AuditEvent& event) override;
    /// Locks the setting's row (FOR UPDATE) as find_key() does. "store/audit_head" reads the
    /// head row (encode_audit_head()), as the LMDB store's reserved entry does.
    std::optional<Bytes> get_setting(std::string_view name) override;
    /// Error(InvalidArgument) for a reserved name or one that is not 1..255 printable ASCII.
    void put_setting(std::string_view name, ByteView value) override;
    void delete_setting(std::string_view name) override;
    std::optional<Bytes> get(core::Table table, std::string_view key) override;
    void put(core::Table table, std::string_view key, ByteView value) override;
    void erase(core::Table table, std::string_view key) override;

    /// After the callback returned: inserts the buffered audit records, the last one carrying
    /// the batch seal (audit_batch_seal over the first record's seq and the last one's hash,
    /// the MAC from @p sealer), and advances the head row. Error(Integrity) when a record
    /// already exists at a seq beyond the head (never overwritten); what @p sealer throws
    /// passes through (fail closed: the caller rolls back).
    void finish(const core::AuditSealer& sealer);

    /// True once a statement has failed: PostgreSQL then refuses every further statement of
    /// the transaction, so the store rolls it back even if the callback swallowed the error.
    bool failed() const noexcept { return m_failed; }
    /// True when the failure was a serialization failure, a deadlock or a unique index hit
    /// by a concurrent transaction: the whole callback may succeed when run again.
    bool retry_wanted() const noexcept { return m_retry; }

  private:
    template <class Body>
    decltype(auto) guarded(const char* conflict_message, Body&& body);

    pqxx::work& m_w;
    const core::Clock& m_clock;
    std::optional<core::AuditHead> m_head;  ///< set (and locked) by the first append
    std::uint64_t m_first_seq = 0;
    std::vector<core::AuditRecord> m_records;
    bool m_failed = false;
    bool m_retry = false;
};

}  // namespace kms::store::pg
