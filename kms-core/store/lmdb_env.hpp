// Thin RAII over the LMDB C API (environment, transactions, cursors) and the one place that
// turns an LMDB return code into kms::Error. Internal to kms-core/store: nothing outside the
// store includes <lmdb.h> (DESIGN §3).
#pragma once

#include <lmdb.h>

#include <cstdint>
#include <optional>
#include <string>

#include "domain/bytes.hpp"

namespace kms::store::lmdb {

/// Throws kms::Error(StoreError, "<function>: <mdb_strerror(rc)>", NativeKind::Lmdb, rc).
/// MDB_MAP_FULL gets a message that says what to do (raise LmdbOptions::map_size);
/// MDB_CORRUPTED and MDB_PAGE_NOTFOUND map to ErrorCode::Integrity. @p rc must not be 0.
[[noreturn]] void throw_rc(const char* function, int rc);

/// Throws as throw_rc() unless @p rc is MDB_SUCCESS.
inline void check(const char* function, int rc) {
    if (rc != MDB_SUCCESS) throw_rc(function, rc);
}

/// An MDB_val over @p v. LMDB does not write through it (no MDB_RESERVE is used here).
inline MDB_val to_val(ByteView v) {
    return MDB_val{v.size(), const_cast<std::uint8_t*>(v.data())};
}
/// A view of @p v. Valid until the transaction ends or, in a write transaction, until the next
/// write: callers copy (decode) it at once.
inline ByteView from_val(const MDB_val& v) {
    return ByteView(static_cast<const std::uint8_t*>(v.mv_data), v.mv_size);
}

/// Owns an MDB_env: created in the constructor, closed (mdb_env_close) in the destructor.
/// Move-only. Also holds the process-wide claim on the store directory: LMDB must not be
/// opened twice in one process (lmdb.h "Caveats": closing one of two handles drops the
/// other's POSIX locks), so open() refuses a directory this process already has open.
/// Not copyable or movable: the store owns exactly one.
class Env {
  public:
    /// mdb_env_create(). Throws Error(StoreError) on failure.
    Env();
    ~Env();
    Env(const Env&) = delete;
    Env& operator=(const Env&) = delete;

    /// mdb_env_open() on the directory @p path (which must exist) with data files of mode
    /// 0600. Call the set_* functions of lmdb.h on get() before this. Throws
    /// Error(StoreError) when LMDB fails or when this process already has @p path open.
    void open(const std::string& path, unsigned flags);

    MDB_env* get() const noexcept { return m_env; }

  private:
    MDB_env* m_env = nullptr;
    std::optional<std::pair<std::uint64_t, std::uint64_t>> m_claim;  ///< (st_dev, st_ino)
};

/// Owns an MDB_txn until commit() or abort(); the destructor aborts. Move-only.
/// Thread rules are LMDB's: a write transaction (and any nested child) stays on the thread
/// that began it; with MDB_NOTLS a read-only transaction may move between threads if the
/// caller synchronizes. A parent must not be used while it has a live child.
class Txn {
  public:
    /// mdb_txn_begin(env, parent, flags). Throws Error(StoreError) on failure.
    static Txn begin(MDB_env* env, MDB_txn* parent, unsigned flags);

    Txn(Txn&& other) noexcept : m_txn(other.m_txn) { other.m_txn = nullptr; }
    Txn& operator=(Txn&&) = delete;
    Txn(const Txn&) = delete;
    Txn& operator=(const Txn&) = delete;
    ~Txn() { abort(); }

    MDB_txn* get() const noexcept { return m_txn; }
    /// mdb_txn_commit(). The handle is gone afterwards whether or not the commit succeeded
    /// (LMDB frees it on failure too), so this object never touches it again. Throws
    /// Error(StoreError) when the commit fails: nothing of the transaction was written.
    void commit();
    /// mdb_txn_abort() if still live; idempotent.
    void abort() noexcept;

  private:
    explicit Txn(MDB_txn* txn) : m_txn(txn) {}
    MDB_txn* m_txn;
};

/// Owns an MDB_cursor; closes it in the destructor, which must run before its transaction
/// ends (declare it after the Txn). Move-only, same thread rules as its transaction.
class Cursor {
  public:
    Cursor(MDB_txn* txn, MDB_dbi dbi);
    ~Cursor() { mdb_cursor_close(m_cursor); }
    Cursor(const Cursor&) = delete;
    Cursor& operator=(const Cursor&) = delete;

    /// mdb_cursor_get(). Returns false on MDB_NOTFOUND, throws Error(StoreError) otherwise.
    bool get(MDB_val& key, MDB_val& value, MDB_cursor_op op);

  private:
    MDB_cursor* m_cursor = nullptr;
};

/// The value stored under @p key, or nullopt. The view is valid as described at from_val().
std::optional<ByteView> get(MDB_txn* txn, MDB_dbi dbi, ByteView key);
/// mdb_put() with @p flags (0: insert or replace). Throws Error(StoreError), including for
/// MDB_KEYEXIST under MDB_NOOVERWRITE and MDB_MAP_FULL (with its own message).
void put(MDB_txn* txn, MDB_dbi dbi, ByteView key, ByteView value, unsigned flags = 0);
/// Deletes @p key; returns false when it was absent.
bool del(MDB_txn* txn, MDB_dbi dbi, ByteView key);

}  // namespace kms::store::lmdb
