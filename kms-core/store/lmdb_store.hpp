// The LMDB adapter of the MetadataStore port (DESIGN §9): kmsd's own environment with named
// databases for keys, principals, the hash-chained audit log and settings; durable group
// commits from one writer thread; snapshot reads from any thread.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "ports/clock.hpp"
#include "ports/metadata_store.hpp"
#include "store/group_commit.hpp"

namespace kms::store {

struct LmdbOptions {
    /// The environment's directory. Created with mode 0700 (parents with default mode) when
    /// missing; the data and lock files inside are created with mode 0600.
    std::string path;
    /// The memory map size, i.e. the most the store can ever hold (the data file is sparse).
    /// Writes fail with Error(StoreError, "... MDB_MAP_FULL ...") beyond it.
    std::size_t map_size = std::size_t{8} << 30;
    /// Most read transactions live at once (mdb_env_set_maxreaders); one per read call in
    /// flight, so at least the size of the thread pool that reads. Beyond it, reads throw
    /// Error(StoreError) with MDB_READERS_FULL.
    unsigned max_readers = 256;
    /// Most write() calls folded into one commit.
    std::size_t max_batch = 256;
};

/// Thread safety: every public method may be called from any thread, concurrently, except
/// that the destructor must not race with other calls, and write()/add_use_counters() must
/// not be called from inside a write callback (Error(Internal)).
/// Lifetime: one LmdbStore per directory per process (a second open of the same directory
/// throws Error(StoreError)); do not use it in a child after fork() (lmdb.h "Caveats").
class LmdbStore final : public core::MetadataStore {
  public:
    /// Opens (creating when missing) the store in @p options.path, checks its schema
    /// (schema.hpp: a new store gets current_schema(); a newer schema throws Error(StoreError,
    /// "store schema N is newer than this kmsd (M)"); an older one is migrated) and the
    /// audit head, and starts the writer thread.
    /// @param sealer computes an audit record's seal from its hash. Called on the writer
    ///        thread once per commit batch that appended records, for the last of them (the
    ///        head): by the hash chain that seal covers every record of the batch. Must not
    ///        be empty; what it throws fails every write() of the batch (fail closed).
    /// @param clock  supplies audit record times; must outlive the store.
    /// Throws Error(InvalidArgument) for bad options or an empty sealer, Error(StoreError)
    /// when LMDB or the file system fails, Error(Integrity) for a corrupt store.
    LmdbStore(LmdbOptions options, core::AuditSealer sealer, const core::Clock& clock);
    /// The constructor, on the heap.
    static std::unique_ptr<LmdbStore> open(LmdbOptions options, core::AuditSealer sealer,
                                           const core::Clock& clock);
    /// Lets every queued write() finish, stops the writer thread, closes the environment.
    ~LmdbStore() override;
    LmdbStore(const LmdbStore&) = delete;
    LmdbStore& operator=(const LmdbStore&) = delete;

    // ---- reads: each opens one read-only transaction (a consistent snapshot) and ends it.
    // Errors: Error(StoreError) when LMDB fails, Error(Integrity) for an undecodable record.

    std::optional<core::KeyRecord> find_key(std::string_view id) override;
    /// The id of the live (not destroyed) key that owns @p name.
    std::optional<std::string> find_key_id_by_name(std::string_view name) override;
    /// Keys with id > @p after_id that match @p filter, ascending by id, at most @p limit
    /// (1..1000, else Error(InvalidArgument)). next_after is the last id returned when the
    /// page is full and a further key (matching or not) exists in the range scanned; empty
    /// otherwise, so it may once lead to an empty last page.
    /// Cost: without name_prefix, a walk of the keys table from @p after_id that decodes
    /// each record until the page fills (a filter that matches little walks far). With
    /// name_prefix, matching keys come from the name index, which holds live keys only:
    /// every id under the prefix is collected and sorted (O(m log m) for m names under the
    /// prefix, per page), then each is loaded. So a name_prefix matches destroyed keys
    /// (which released their names) only when filter.state is itself a destroyed state; then
    /// the keys table is walked and the prefix tested on each record's name.
    core::KeyPage list_keys(const core::KeyFilter& filter, std::string_view after_id,
                            std::size_t limit) override;
    std::optional<core::Principal> find_principal(std::string_view name) override;
    /// The principal whose token_hash equals @p token_hash; nullopt for an empty hash.
    std::optional<core::Principal> find_principal_by_token_hash(ByteView token_hash) override;
    /// Every principal, ascending by name.
    std::vector<core::Principal> list_principals() override;
    /// Records with seq >= @p from_seq, ascending, at most @p limit (0 gives none).
    std::vector<core::AuditRecord> read_audit(std::uint64_t from_seq, std::size_t limit) override;
    /// {0, 32 zero bytes} while the log is empty.
    core::AuditHead audit_head() override;
    /// Includes the reserved entries: "schema_version" (ASCII decimal) and
    /// "store/audit_head" (record_codec.hpp), which write callbacks cannot change.
    std::optional<Bytes> get_setting(std::string_view name) override;
    std::vector<std::pair<std::string, Bytes>> list_settings(std::string_view prefix) override;
    std::optional<Bytes> get(core::Table table, std::string_view key) override;
    std::vector<std::pair<std::string, Bytes>> scan(core::Table table, std::string_view after,
                                                    std::size_t limit) override;
    /// Records in the keys table, destroyed tombstones included (mdb_stat, O(1)).
    std::size_t key_count() override;

    // ---- writes: see GroupCommitter::submit() for batching and the exact failure rules.

    /// Runs @p fn with an LmdbWriteTxn (write_txn.hpp) in its own nested transaction on the
    /// writer thread and returns once it is durably committed. If @p fn throws, nothing of
    /// it is written (its audit records included) and the exception reaches the caller
    /// unchanged. If @p fn swallows an LMDB failure and returns, its changes are discarded
    /// and the caller gets Error(StoreError). A failed commit throws Error(StoreError).
    /// Inside @p fn, read through the WriteTxn: this store's own read methods see only what
    /// is already committed. Keep @p fn short: the batch behind it waits.
    /// Error(InvalidArgument) for an empty fn.
    void write(const std::function<void(core::WriteTxn&)>& fn) override;
    /// write() without waiting: GroupCommitter::enqueue().
    std::shared_ptr<core::QueuedWrite> write_queued(
        std::function<void(core::WriteTxn&)> fn) override;
    /// One write(): for each (id, delta) with a non-zero delta and a stored key, adds delta
    /// to the key's counters and appends {actor "kmsd", action "key.use", target id, outcome
    /// Success, detail "encrypt=3 mac=12"} (non-zero counters only, in the order encrypt
    /// decrypt mac mac_verify sign verify). Unknown ids and zero deltas are skipped; an id
    /// listed twice is counted twice. No write at all when @p deltas is empty.
    void add_use_counters(
        const std::vector<std::pair<std::string, core::UseCounters>>& deltas) override;

    /// Begins and aborts a read transaction; false if that fails.
    bool probe() noexcept override;

    // ---- maintenance

    /// Writes a compacted copy of the live store (mdb_env_copyfd2 with MDB_CP_COMPACT, in a
    /// read transaction: writers keep going) to @p dest_dir/data.mdb, mode 0600, fsynced.
    /// @p dest_dir is created (0700) when missing and must otherwise be an empty directory
    /// (Error(InvalidArgument) if not). The copy opens as a store of its own. A failed copy
    /// leaves no data.mdb behind and throws Error(StoreError).
    void hot_backup(const std::string& dest_dir);
    /// The directory given in LmdbOptions::path.
    std::string path() const { return m_options.path; }
    /// Group commit counters since open, and the current queue depth.
    GroupCommitStats commit_stats() const { return m_writer->stats(); }
    /// The schema_version the store had when this object opened it: 0 for a store this open
    /// created, less than current_schema() for a store it migrated (kmsd logs that).
    std::uint32_t opened_schema() const { return m_opened_schema; }
    /// The schema this build reads and writes (schema.hpp).
    static std::uint32_t current_schema();

  private:
    template <class Fn>
    auto read(Fn&& fn);
    /// Batch end on the writer thread: seals the head audit record when it has no seal yet.
    void seal_audit_head(MDB_txn* parent);
    core::KeyPage list_keys_by_id(const core::KeyFilter& filter, std::string_view after_id,
                                  std::size_t limit);
    core::KeyPage list_keys_by_name(const core::KeyFilter& filter, std::string_view after_id,
                                    std::size_t limit);

    struct Lmdb;  ///< the environment and its database handles (lmdb.h stays out of here)

    const LmdbOptions m_options;
    const core::AuditSealer m_sealer;
    const core::Clock& m_clock;
    std::unique_ptr<Lmdb> m_lmdb;
    std::uint32_t m_opened_schema = 0;   ///< set once by the constructor (opened_schema())
    std::uint64_t m_batch_start_seq = 0;  ///< writer thread only: audit head before the batch
    std::unique_ptr<GroupCommitter> m_writer;  ///< after m_lmdb: stopped before the env closes
};

}  // namespace kms::store
