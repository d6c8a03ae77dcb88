// The WriteTxn the store hands to a write() callback: reads and writes through one nested
// LMDB write transaction, keeping the name and token indexes and the audit chain in step.
// Internal to kms-core/store.
#pragma once

#include <lmdb.h>

#include "domain/error.hpp"
#include "ports/clock.hpp"
#include "ports/metadata_store.hpp"
#include "store/tables.hpp"

namespace kms::store {

/// Lives for one callback on the writer thread; every call goes through @p txn, so reads see
/// this callback's own earlier writes and nothing survives an abort of @p txn.
class LmdbWriteTxn final : public core::WriteTxn {
  public:
    /// @p txn: the caller's nested write transaction; @p clock is used by append_audit().
    /// All must outlive this object.
    LmdbWriteTxn(MDB_txn* txn, const Dbis& dbis, const core::Clock& clock)
        : m_txn(txn), m_dbis(dbis), m_clock(clock) {}

    std::optional<core::KeyRecord> find_key(std::string_view id) override;
    std::optional<std::string> find_key_id_by_name(std::string_view name) override;
    /// Throws Error(InvalidArgument) for an empty or over-long id (or name of a live key),
    /// Error(Conflict, "name already in use") when another live key owns the name.
    void put_key(const core::KeyRecord& key) override;
    std::optional<core::Principal> find_principal(std::string_view name) override;
    /// Throws Error(InvalidArgument) for an empty or over-long name, Error(Conflict) when
    /// another principal already has the same token hash.
    void put_principal(const core::Principal& p) override;
    /// seq = head.seq + 1, time_ms from the clock, prev_hash = head.hash, hash =
    /// SHA-256(canonical_audit_bytes); stores it and advances the head, all through this
    /// transaction. The seal is left empty: the store seals the head record once per commit
    /// batch (LmdbStore::seal_audit_head), which covers the records before it by the chain.
    void append_audit(const core::AuditEvent& event) override;
    std::optional<Bytes> get_setting(std::string_view name) override;
    /// Throws Error(InvalidArgument) for a reserved name ("schema_version", "store/...") or a
    /// name that is not 1..255 printable ASCII characters.
    void put_setting(std::string_view name, ByteView value) override;
    /// Same name rules as put_setting(); deleting an absent name is not an error.
    void delete_setting(std::string_view name) override;
    /// Keys must be 1..255 printable ASCII bytes (InvalidArgument otherwise).
    std::optional<Bytes> get(core::Table table, std::string_view key) override;
    void put(core::Table table, std::string_view key, ByteView value) override;
    void erase(core::Table table, std::string_view key) override;

    /// True once an LMDB call through this transaction has thrown. LMDB may then have marked
    /// the transaction failed, and committing it would poison the parent (and so the whole
    /// group commit): the store aborts it instead, even if the callback swallowed the error.
    bool failed() const noexcept { return m_failed; }

  private:
    void put_key_unguarded(const core::KeyRecord& key);
    void put_principal_unguarded(const core::Principal& p);
    void append_audit_unguarded(const core::AuditEvent& event);

    /// Runs @p body, noting an LMDB failure (NativeKind::Lmdb) before letting it propagate.
    template <class Body>
    decltype(auto) guarded(Body&& body) {
        try {
            return body();
        } catch (const Error& e) {
            if (e.native_kind() == NativeKind::Lmdb) m_failed = true;
            throw;
        }
    }

    MDB_txn* m_txn;
    const Dbis& m_dbis;
    const core::Clock& m_clock;
    bool m_failed = false;
};

}  // namespace kms::store
