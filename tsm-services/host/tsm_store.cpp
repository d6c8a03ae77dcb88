// TsmStore over LMDB: one named database "kv", keys instance 0x1F table 0x1F key (0x1F never
// appears in a valid name, so no two triples share a key).
#include "tsm_store.hpp"

#include <lmdb.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>

namespace kms::tsm {

namespace {

void check(int rc, const std::string& what) {
    if (rc != MDB_SUCCESS) throw std::runtime_error("TSM store: " + what + ": " + mdb_strerror(rc));
}

std::string composite(std::string_view instance, std::string_view table, std::string_view key) {
    if (!TsmStore::valid_name(instance) || !TsmStore::valid_name(table) ||
        !TsmStore::valid_name(key))
        throw std::invalid_argument(
            "TSM store: instance, table and key must be 1 to 200 printable ASCII characters");
    std::string k;
    k.reserve(instance.size() + table.size() + key.size() + 2);
    k.append(instance).push_back('\x1f');
    k.append(table).push_back('\x1f');
    k.append(key);
    return k;
}

/// A write transaction aborted unless committed.
struct WriteTxn {
    MDB_txn* txn = nullptr;
    explicit WriteTxn(MDB_env* env) { check(mdb_txn_begin(env, nullptr, 0, &txn), "begin"); }
    ~WriteTxn() {
        if (txn) mdb_txn_abort(txn);
    }
    void commit() {
        MDB_txn* t = txn;
        txn = nullptr;
        check(mdb_txn_commit(t), "commit");
    }
};

}  // namespace

struct TsmStore::Env {
    MDB_env* env = nullptr;
    MDB_dbi dbi = 0;
    ~Env() {
        if (env) mdb_env_close(env);
    }
};

bool TsmStore::valid_name(std::string_view name) {
    if (name.empty() || name.size() > 200) return false;
    for (char c : name)
        if (c < 0x20 || c > 0x7E) return false;
    return true;
}

TsmStore::TsmStore(const std::string& dir, std::size_t map_size) : m_env(std::make_unique<Env>()) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) throw std::runtime_error("TSM store: cannot create " + dir + ": " + ec.message());
    ::chmod(dir.c_str(), 0700);
    check(mdb_env_create(&m_env->env), "mdb_env_create");
    check(mdb_env_set_maxdbs(m_env->env, 4), "mdb_env_set_maxdbs");
    check(mdb_env_set_mapsize(m_env->env, map_size), "mdb_env_set_mapsize");
    // MDB_NOTLS: read transactions run on Poco pool threads. Durable commits (no NOSYNC).
    check(mdb_env_open(m_env->env, dir.c_str(), MDB_NOTLS, 0600), "open " + dir);
    int dead = 0;
    check(mdb_reader_check(m_env->env, &dead), "mdb_reader_check");
    WriteTxn t(m_env->env);
    check(mdb_dbi_open(t.txn, "kv", MDB_CREATE, &m_env->dbi), "open table kv");
    t.commit();
}

TsmStore::~TsmStore() = default;

void TsmStore::put(std::string_view instance, std::string_view table, std::string_view key,
                   ByteView value) {
    if (value.size() > kMaxValue)
        throw std::invalid_argument("TSM store: a value has at most " + std::to_string(kMaxValue) +
                                    " bytes");
    std::string k = composite(instance, table, key);
    WriteTxn t(m_env->env);
    MDB_val mk{k.size(), k.data()};
    MDB_val mv{value.size(), const_cast<std::uint8_t*>(value.data())};
    check(mdb_put(t.txn, m_env->dbi, &mk, &mv, 0), "put");
    t.commit();
}

std::optional<Bytes> TsmStore::get(std::string_view instance, std::string_view table,
                                   std::string_view key) const {
    std::string k = composite(instance, table, key);
    MDB_txn* txn = nullptr;
    check(mdb_txn_begin(m_env->env, nullptr, MDB_RDONLY, &txn), "begin read");
    MDB_val mk{k.size(), k.data()}, mv{};
    const int rc = mdb_get(txn, m_env->dbi, &mk, &mv);
    std::optional<Bytes> out;
    if (rc == MDB_SUCCESS) {
        const auto* p = static_cast<const std::uint8_t*>(mv.mv_data);
        out = Bytes(p, p + mv.mv_size);
    }
    mdb_txn_abort(txn);
    if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND) check(rc, "get");
    return out;
}

bool TsmStore::erase(std::string_view instance, std::string_view table, std::string_view key) {
    std::string k = composite(instance, table, key);
    WriteTxn t(m_env->env);
    MDB_val mk{k.size(), k.data()};
    const int rc = mdb_del(t.txn, m_env->dbi, &mk, nullptr);
    if (rc == MDB_NOTFOUND) return false;
    check(rc, "delete");
    t.commit();
    return true;
}

}  // namespace kms::tsm
