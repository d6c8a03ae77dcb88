// The MetadataStore port: keys, principals, the audit chain and small settings, with atomic
// writes. Implemented by kms-core/store (LMDB); PostgreSQL later behind the same port.
//
// Durability: write() returns only after its changes are durably committed (fsync), together
// with the audit records appended in the same call: a change and its audit record commit or
// fail together (fail closed). Concurrent write() calls may be grouped into one commit by the
// implementation; each call stays atomic on its own (one call failing does not affect others).
// Thread safety: every method may be called from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "domain/audit.hpp"
#include "domain/bytes.hpp"
#include "domain/key.hpp"
#include "domain/principal.hpp"

namespace kms::core {

/// Filters of GET /v1/keys. Empty/nullopt fields match everything.
struct KeyFilter {
    std::string name_prefix;
    std::optional<KeyState> state;
    std::optional<Algorithm> algorithm;
    std::optional<Usage> usage;  ///< keys whose usage includes this one
};

struct KeyPage {
    std::vector<KeyRecord> keys;  ///< ascending by id
    std::string next_after;       ///< pass as `after_id` to get the next page; empty at the end
};

/// Record tables of the services beyond keys and principals. Keys are printable ASCII
/// (1..255 bytes); values are each service's own encoding (domain record codecs).
enum class Table : std::uint8_t {
    Ceremonies = 0,    ///< ceremony id -> ceremony record (never a component)
    Approvals = 1,     ///< approval id -> dual-control request and its votes
    Quorums = 2,       ///< operation name -> quorum rule
    Certificates = 3,  ///< serial (hex) -> issued certificate record
    Policies = 4,      ///< principal name -> plugin policy
    /// KMIP Secret Data and Certificates (services/managed_objects.hpp): object id -> record,
    /// "n:" + name -> object id (the name index).
    ManagedObjects = 5,
};
inline constexpr std::size_t kTableCount = 6;
/// "ceremonies", "approvals", "quorums", "certificates", "policies", "managed_objects": the LMDB
/// database names.
inline std::string_view table_name(Table t) {
    constexpr std::string_view names[kTableCount] = {
        "ceremonies", "approvals", "quorums", "certificates", "policies", "managed_objects"};
    return names[static_cast<std::size_t>(t)];
}

/// Computes the seal of an audit record's hash (the HSM's audit key in production).
using AuditSealer = std::function<Bytes(ByteView record_hash)>;

/// Reads and writes inside one write transaction. Reads see this transaction's own writes.
/// Only valid inside the callback given to MetadataStore::write(); never keep a reference.
class WriteTxn {
  public:
    virtual ~WriteTxn() = default;
    virtual std::optional<KeyRecord> find_key(std::string_view id) = 0;
    virtual std::optional<std::string> find_key_id_by_name(std::string_view name) = 0;
    /// Inserts or replaces the record, keeping the name index in step: a live key owns its
    /// name; a destroyed key (is_destroyed(state)) releases it. Throws Conflict when the name
    /// belongs to another live key.
    virtual void put_key(const KeyRecord& key) = 0;
    virtual std::optional<Principal> find_principal(std::string_view name) = 0;
    /// Inserts or replaces; keeps the token-hash index in step.
    virtual void put_principal(const Principal& p) = 0;
    /// Appends to the audit chain (seq, time, prev_hash, hash and seal are filled in here).
    virtual void append_audit(const AuditEvent& event) = 0;
    /// Small settings (schema version, CA material, init markers). Keys are ASCII names.
    virtual std::optional<Bytes> get_setting(std::string_view name) = 0;
    virtual void put_setting(std::string_view name, ByteView value) = 0;
    virtual void delete_setting(std::string_view name) = 0;
    /// Record tables (Table). put() inserts or replaces; erase() of an absent key is no error.
    virtual std::optional<Bytes> get(Table table, std::string_view key) = 0;
    virtual void put(Table table, std::string_view key, ByteView value) = 0;
    virtual void erase(Table table, std::string_view key) = 0;
};

/// A write queued by MetadataStore::write_queued(). Owned jointly by the caller and the store:
/// dropping it does not cancel the write.
class QueuedWrite {
  public:
    virtual ~QueuedWrite() = default;
    /// Blocks until the write's outcome is known: returns once it is durably committed,
    /// rethrows what write() would have thrown otherwise. May be called more than once.
    virtual void wait() = 0;
};

class MetadataStore {
  public:
    virtual ~MetadataStore() = default;

    // ---- reads (a consistent snapshot per call) ----
    virtual std::optional<KeyRecord> find_key(std::string_view id) = 0;
    virtual std::optional<std::string> find_key_id_by_name(std::string_view name) = 0;
    /// Keys with id > @p after_id matching @p filter, at most @p limit (1..1000).
    virtual KeyPage list_keys(const KeyFilter& filter, std::string_view after_id,
                              std::size_t limit) = 0;
    virtual std::optional<Principal> find_principal(std::string_view name) = 0;
    virtual std::optional<Principal> find_principal_by_token_hash(ByteView token_hash) = 0;
    virtual std::vector<Principal> list_principals() = 0;
    /// Records with seq >= @p from_seq, ascending, at most @p limit.
    virtual std::vector<AuditRecord> read_audit(std::uint64_t from_seq, std::size_t limit) = 0;
    virtual AuditHead audit_head() = 0;
    virtual std::optional<Bytes> get_setting(std::string_view name) = 0;
    /// Settings whose name starts with @p prefix, ascending by name (e.g. "intent/" records of
    /// intent-act-commit sequences that the reconciler looks at after a crash).
    virtual std::vector<std::pair<std::string, Bytes>> list_settings(std::string_view prefix) = 0;
    virtual std::size_t key_count() = 0;
    virtual std::optional<Bytes> get(Table table, std::string_view key) = 0;
    /// Entries of @p table with key > @p after (all when empty), ascending, at most @p limit.
    virtual std::vector<std::pair<std::string, Bytes>> scan(Table table, std::string_view after,
                                                            std::size_t limit) = 0;

    // ---- writes ----
    /// Runs @p fn inside a write transaction and commits durably. If @p fn throws, nothing of
    /// it is written and the exception reaches the caller. If the commit fails, throws
    /// kms::Error(StoreError) and nothing is written. @p fn may run on another thread; the
    /// caller blocks until the outcome is known.
    virtual void write(const std::function<void(WriteTxn&)>& fn) = 0;

    /// Queues @p fn as write() does but returns without waiting for the commit. Writes commit
    /// in queue order: a write() or write_queued() called after this one returned commits in
    /// the same transaction or a later one, so once such a later write() has returned,
    /// wait() on this one returns at once. For records that must be durable before a later
    /// step is acknowledged, not before this call returns (gp.session.open before the
    /// session's first cryptogram). Throws Error(StoreError) when the store is closing.
    virtual std::shared_ptr<QueuedWrite> write_queued(std::function<void(WriteTxn&)> fn) = 0;

    /// Adds @p delta to the stored counters of each key (usage flush); unknown ids are ignored.
    /// Appends one "key.use" audit record per key in the same transaction.
    virtual void add_use_counters(
        const std::vector<std::pair<std::string, UseCounters>>& deltas) = 0;

    /// A cheap liveness probe (a read transaction). False instead of throwing.
    virtual bool probe() noexcept = 0;
};

}  // namespace kms::core
