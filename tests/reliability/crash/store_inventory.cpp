// Store inventory for the crash test (see store_inventory.hpp), over raw LMDB and the store's
// own record codec (the codec is the format; the reconciler's logic is not reused).
#include "store_inventory.hpp"

#include <lmdb.h>

#include <algorithm>
#include <functional>
#include <stdexcept>

#include "store/record_codec.hpp"

namespace kms::test {

namespace {

void check(int rc, const char* what) {
    if (rc != 0)
        throw std::runtime_error(std::string(what) + " failed: " + mdb_strerror(rc) + " (" +
                                 std::to_string(rc) + ")");
}

/// Opens DIR/store, runs @p fn in one transaction on the `keys` table, commits when
/// @p write (aborts otherwise) and closes the environment whatever happens.
void with_keys(const std::string& data_dir, bool write,
               const std::function<void(MDB_txn*, MDB_dbi)>& fn) {
    MDB_env* env = nullptr;
    check(mdb_env_create(&env), "mdb_env_create");
    struct EnvGuard {
        MDB_env* env;
        ~EnvGuard() { mdb_env_close(env); }
    } env_guard{env};
    // Same limits as kmsd's store (a smaller map size would be raised to the file's size).
    check(mdb_env_set_maxdbs(env, 32), "mdb_env_set_maxdbs");
    check(mdb_env_set_mapsize(env, std::size_t{8} << 30), "mdb_env_set_mapsize");
    check(mdb_env_open(env, (data_dir + "/store").c_str(), write ? 0 : MDB_RDONLY, 0600),
          "mdb_env_open");
    MDB_txn* txn = nullptr;
    check(mdb_txn_begin(env, nullptr, write ? 0 : MDB_RDONLY, &txn), "mdb_txn_begin");
    try {
        MDB_dbi keys = 0;
        check(mdb_dbi_open(txn, "keys", 0, &keys), "mdb_dbi_open(keys)");
        fn(txn, keys);
    } catch (...) {
        mdb_txn_abort(txn);
        throw;
    }
    // mdb_txn_commit frees the transaction even when it fails (lmdb.h).
    if (write)
        check(mdb_txn_commit(txn), "mdb_txn_commit");
    else
        mdb_txn_abort(txn);
}

}  // namespace

std::vector<core::KeyRecord> read_key_records(const std::string& data_dir) {
    std::vector<core::KeyRecord> out;
    with_keys(data_dir, false, [&](MDB_txn* txn, MDB_dbi keys) {
        MDB_cursor* cur = nullptr;
        check(mdb_cursor_open(txn, keys, &cur), "mdb_cursor_open");
        MDB_val k{}, v{};
        int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
        while (rc == 0) {
            out.push_back(store::decode_key(
                ByteView(static_cast<const std::uint8_t*>(v.mv_data), v.mv_size)));
            rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
        }
        mdb_cursor_close(cur);
        if (rc != MDB_NOTFOUND) check(rc, "mdb_cursor_get");
    });
    return out;
}

std::vector<std::string> store_orphans(const std::vector<core::KeyRecord>& records) {
    std::vector<std::string> out;
    for (const auto& k : records) {
        if (k.state == core::KeyState::Destroyed || k.state == core::KeyState::DestroyedCompromised)
            continue;
        if (k.versions.empty() || (k.current().block.empty() && k.current().public_key.empty()))
            out.push_back(k.id);
    }
    std::sort(out.begin(), out.end());
    return out;
}

void strip_current_block(const std::string& data_dir, const std::string& key_id) {
    with_keys(data_dir, true, [&](MDB_txn* txn, MDB_dbi keys) {
        MDB_val k{key_id.size(), const_cast<char*>(key_id.data())};
        MDB_val v{};
        check(mdb_get(txn, keys, &k, &v), "mdb_get(keys)");
        core::KeyRecord rec =
            store::decode_key(ByteView(static_cast<const std::uint8_t*>(v.mv_data), v.mv_size));
        if (rec.versions.empty()) throw std::runtime_error(key_id + " has no version");
        rec.versions.back().block.clear();
        Bytes enc = store::encode_key(rec);
        MDB_val nv{enc.size(), enc.data()};
        check(mdb_put(txn, keys, &k, &nv, 0), "mdb_put(keys)");
    });
}

}  // namespace kms::test
