// TsmStore over LMDB: one named database "kv", keys instance 0x1F table 0x1F key (0x1F never
// appears in a valid name, so no two triples share a key).
#include "tsm_store.hpp"

#include <lmdb.h>
#include <sys/stat.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <exception>
#include <filesystem>
#include <mutex>
#include <stdexcept>
#include <vector>

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

/// One put or delete waiting for its batch.
struct TsmStore::Write {
    std::string key;
    std::optional<Bytes> value;  ///< nullopt: a delete
    bool found = true;           ///< a delete: whether the key existed
    /// A compare-and-put: the value the key must hold (nullopt inside: must be absent).
    std::optional<std::optional<Bytes>> expected;
    bool conflict = false;  ///< a compare-and-put found another value
    std::exception_ptr error;
    bool done = false;  ///< guarded by Env::mutex
};

struct TsmStore::Env {
    MDB_env* env = nullptr;
    MDB_dbi dbi = 0;
    // Group commit (see commit()): guarded by mutex.
    std::mutex mutex;
    std::condition_variable cv;
    std::deque<Write*> queue;
    bool leader = false;  ///< a thread is running a batch
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
    Write w;
    w.key = composite(instance, table, key);
    w.value = Bytes(value.begin(), value.end());
    commit(w);
}

// Group commit. Every put and delete is durable before it returns, but the writes that queue up
// while a commit is under way share the next one: the first waiting thread becomes the leader,
// takes the whole queue, runs each write in its own nested transaction (so one failing write
// does not take the others with it) and commits the parent once, with one fsync. Under load
// (sp-tsm saves its record on every step of every operation, and several tsmd processes may
// share the environment, whose write lock serializes them) this turns one fsync per write into
// one per batch.
void TsmStore::commit(Write& w) {
    std::unique_lock lock(m_env->mutex);
    m_env->queue.push_back(&w);
    while (!w.done) {
        if (m_env->leader) {
            m_env->cv.wait(lock);
            continue;
        }
        m_env->leader = true;
        std::vector<Write*> batch(m_env->queue.begin(), m_env->queue.end());
        m_env->queue.clear();
        lock.unlock();
        run_batch(batch);
        lock.lock();
        for (Write* b : batch) b->done = true;
        m_env->leader = false;
        m_env->cv.notify_all();
    }
    if (w.error) std::rethrow_exception(w.error);
}

void TsmStore::run_batch(const std::vector<Write*>& batch) noexcept {
    MDB_txn* parent = nullptr;
    int rc = mdb_txn_begin(m_env->env, nullptr, 0, &parent);
    if (rc != MDB_SUCCESS) {
        const auto e = std::make_exception_ptr(
            std::runtime_error(std::string("TSM store: begin: ") + mdb_strerror(rc)));
        for (Write* w : batch) w->error = e;
        return;
    }
    for (Write* w : batch) {
        MDB_txn* child = nullptr;
        rc = mdb_txn_begin(m_env->env, parent, 0, &child);
        if (rc == MDB_SUCCESS) {
            MDB_val mk{w->key.size(), w->key.data()};
            if (w->expected) {
                // Compare inside the write transaction: no other writer, in any process, runs
                // between this read and the put below.
                MDB_val cur{};
                const int got = mdb_get(child, m_env->dbi, &mk, &cur);
                if (got != MDB_SUCCESS && got != MDB_NOTFOUND) {
                    rc = got;
                } else {
                    const auto& want = *w->expected;
                    const bool same =
                        got == MDB_NOTFOUND
                            ? !want.has_value()
                            : want.has_value() && cur.mv_size == want->size() &&
                                  (want->empty() ||
                                   std::memcmp(cur.mv_data, want->data(), want->size()) == 0);
                    w->conflict = !same;
                }
            }
            if (rc != MDB_SUCCESS || w->conflict) {
                // nothing to write
            } else if (w->value) {
                MDB_val mv{w->value->size(), w->value->data()};
                rc = mdb_put(child, m_env->dbi, &mk, &mv, 0);
            } else {
                rc = mdb_del(child, m_env->dbi, &mk, nullptr);
                if (rc == MDB_NOTFOUND) {
                    w->found = false;
                    rc = MDB_SUCCESS;
                }
            }
            rc = rc == MDB_SUCCESS ? mdb_txn_commit(child) : (mdb_txn_abort(child), rc);
        }
        if (rc != MDB_SUCCESS)
            w->error = std::make_exception_ptr(std::runtime_error(
                std::string("TSM store: ") + (w->value ? "put: " : "delete: ") + mdb_strerror(rc)));
    }
    rc = mdb_txn_commit(parent);  // durable: the environment has no MDB_NOSYNC
    if (rc != MDB_SUCCESS) {
        const auto e = std::make_exception_ptr(
            std::runtime_error(std::string("TSM store: commit: ") + mdb_strerror(rc)));
        for (Write* w : batch)
            if (!w->error) w->error = e;
    }
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

bool TsmStore::compare_and_put(std::string_view instance, std::string_view table,
                               std::string_view key, std::optional<ByteView> expected,
                               ByteView value) {
    if (value.size() > kMaxValue)
        throw std::invalid_argument("TSM store: a value has at most " + std::to_string(kMaxValue) +
                                    " bytes");
    Write w;
    w.key = composite(instance, table, key);
    w.value = Bytes(value.begin(), value.end());
    w.expected = expected ? std::optional<Bytes>(Bytes(expected->begin(), expected->end()))
                          : std::optional<Bytes>();
    commit(w);
    return !w.conflict;
}

bool TsmStore::erase(std::string_view instance, std::string_view table, std::string_view key) {
    Write w;
    w.key = composite(instance, table, key);
    commit(w);
    return w.found;
}

}  // namespace kms::tsm
