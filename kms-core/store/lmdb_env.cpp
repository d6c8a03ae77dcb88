// LMDB handles and error mapping.
#include "store/lmdb_env.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <set>
#include <utility>

#include "domain/error.hpp"

namespace kms::store::lmdb {

namespace {

using DirId = std::pair<std::uint64_t, std::uint64_t>;

// The directories this process has open. A process-wide table on purpose: the constraint it
// enforces (one MDB_env per file per process, lmdb.h "Caveats") is itself process-wide, so no
// constructor-injected object could enforce it across independently built stores.
struct OpenDirs {
    std::mutex mutex;
    std::set<DirId> dirs;
};

OpenDirs& open_dirs() {
    static OpenDirs table;
    return table;
}

}  // namespace

void throw_rc(const char* function, int rc) {
    std::string message = std::string(function) + ": ";
    ErrorCode code = ErrorCode::StoreError;
    switch (rc) {
        case MDB_MAP_FULL:
            message +=
                "the metadata store is full (MDB_MAP_FULL); raise LmdbOptions::map_size and "
                "restart";
            break;
        case MDB_CORRUPTED:
        case MDB_PAGE_NOTFOUND:
            code = ErrorCode::Integrity;
            message += mdb_strerror(rc);
            break;
        default:
            message += mdb_strerror(rc);
    }
    throw Error(code, message, NativeKind::Lmdb,
                static_cast<std::uint64_t>(static_cast<std::int64_t>(rc)));
}

Env::Env() {
    check("mdb_env_create", mdb_env_create(&m_env));
}

Env::~Env() {
    // mdb_env_close() must be called even when mdb_env_open() failed (lmdb.h).
    mdb_env_close(m_env);
    if (m_claim) {
        auto& table = open_dirs();
        std::lock_guard lock(table.mutex);
        table.dirs.erase(*m_claim);
    }
}

void Env::open(const std::string& path, unsigned flags) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0)
        throw Error(ErrorCode::StoreError, "stat " + path + ": " + std::strerror(errno),
                    NativeKind::Errno, static_cast<std::uint64_t>(errno));
    const DirId id{st.st_dev, st.st_ino};
    {
        auto& table = open_dirs();
        std::lock_guard lock(table.mutex);
        if (!table.dirs.insert(id).second)
            throw Error(ErrorCode::StoreError,
                        "the metadata store " + path + " is already open in this process");
    }
    m_claim = id;
    check("mdb_env_open", mdb_env_open(m_env, path.c_str(), flags, 0600));
}

Txn Txn::begin(MDB_env* env, MDB_txn* parent, unsigned flags) {
    MDB_txn* txn = nullptr;
    check("mdb_txn_begin", mdb_txn_begin(env, parent, flags, &txn));
    return Txn(txn);
}

void Txn::commit() {
    // LMDB frees the handle whatever the outcome: forget it before looking at the result.
    MDB_txn* txn = std::exchange(m_txn, nullptr);
    check("mdb_txn_commit", mdb_txn_commit(txn));
}

void Txn::abort() noexcept {
    if (m_txn != nullptr) mdb_txn_abort(std::exchange(m_txn, nullptr));
}

Cursor::Cursor(MDB_txn* txn, MDB_dbi dbi) {
    check("mdb_cursor_open", mdb_cursor_open(txn, dbi, &m_cursor));
}

bool Cursor::get(MDB_val& key, MDB_val& value, MDB_cursor_op op) {
    const int rc = mdb_cursor_get(m_cursor, &key, &value, op);
    if (rc == MDB_NOTFOUND) return false;
    check("mdb_cursor_get", rc);
    return true;
}

std::optional<ByteView> get(MDB_txn* txn, MDB_dbi dbi, ByteView key) {
    MDB_val k = to_val(key);
    MDB_val v{};
    const int rc = mdb_get(txn, dbi, &k, &v);
    if (rc == MDB_NOTFOUND) return std::nullopt;
    check("mdb_get", rc);
    return from_val(v);
}

void put(MDB_txn* txn, MDB_dbi dbi, ByteView key, ByteView value, unsigned flags) {
    MDB_val k = to_val(key);
    MDB_val v = to_val(value);
    check("mdb_put", mdb_put(txn, dbi, &k, &v, flags));
}

bool del(MDB_txn* txn, MDB_dbi dbi, ByteView key) {
    MDB_val k = to_val(key);
    const int rc = mdb_del(txn, dbi, &k, nullptr);
    if (rc == MDB_NOTFOUND) return false;
    check("mdb_del", rc);
    return true;
}

}  // namespace kms::store::lmdb
