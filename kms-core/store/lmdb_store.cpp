// LmdbStore: opening, snapshot reads, writes through the group committer, hot backup.
#include "store/lmdb_store.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "domain/error.hpp"
#include "store/lmdb_env.hpp"
#include "store/record_codec.hpp"
#include "store/schema.hpp"
#include "store/store_rules.hpp"
#include "store/tables.hpp"
#include "store/write_txn.hpp"

namespace kms::store {

namespace fs = std::filesystem;
using core::KeyFilter;
using core::KeyPage;
using core::KeyRecord;

namespace {

constexpr std::size_t kMaxPage = 1000;
// Six named databases today; room for the ones later schemas add.
constexpr MDB_dbi kMaxDbs = 16;

[[noreturn]] void throw_errno(const std::string& what, int err) {
    throw Error(ErrorCode::StoreError, what + ": " + std::strerror(err), NativeKind::Errno,
                static_cast<std::uint64_t>(err));
}

/// @p path without trailing separators, so parent_path() is really the parent.
fs::path normalized(const std::string& path) {
    fs::path p = fs::path(path).lexically_normal();
    if (!p.has_filename() && p.has_parent_path()) p = p.parent_path();
    return p;
}

/// Creates @p dir with mode 0700 (its parents with the default mode) unless it exists.
/// Returns true when it created it.
bool make_private_dir(const fs::path& dir) {
    std::error_code ec;
    if (fs::is_directory(dir, ec)) return false;
    if (fs::exists(dir, ec))
        throw Error(ErrorCode::StoreError, dir.string() + " exists and is not a directory");
    if (dir.has_parent_path()) {
        fs::create_directories(dir.parent_path(), ec);
        if (ec) throw_errno("create " + dir.parent_path().string(), ec.value());
    }
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
        throw_errno("mkdir " + dir.string(), errno);
    return true;
}

void fsync_path(const fs::path& path, int flags) {
    const int fd = ::open(path.c_str(), flags | O_CLOEXEC);
    if (fd < 0) throw_errno("open " + path.string(), errno);
    const int rc = ::fsync(fd);
    const int err = errno;
    ::close(fd);
    if (rc != 0) throw_errno("fsync " + path.string(), err);
}

std::string_view as_string(const MDB_val& v) {
    return {static_cast<const char*>(v.mv_data), v.mv_size};
}

bool matches(const KeyFilter& f, const KeyRecord& k) {
    return k.name.starts_with(f.name_prefix) && (!f.state || k.state == *f.state) &&
           (!f.algorithm || k.algorithm == *f.algorithm) && (!f.usage || k.usage.has(*f.usage));
}

}  // namespace

struct LmdbStore::Lmdb {
    lmdb::Env env;
    Dbis dbis;
};

LmdbStore::LmdbStore(LmdbOptions options, core::AuditSealer sealer, const core::Clock& clock)
    : m_options(std::move(options)), m_sealer(std::move(sealer)), m_clock(clock) {
    if (m_options.path.empty())
        throw Error(ErrorCode::InvalidArgument, "LmdbOptions::path is empty");
    if (m_options.map_size == 0 || m_options.max_readers == 0 || m_options.max_batch == 0)
        throw Error(ErrorCode::InvalidArgument,
                    "LmdbOptions: map_size, max_readers and max_batch must be positive");
    if (!m_sealer) throw Error(ErrorCode::InvalidArgument, "LmdbStore needs an audit sealer");

    make_private_dir(normalized(m_options.path));
    m_lmdb = std::make_unique<Lmdb>();
    MDB_env* env = m_lmdb->env.get();
    lmdb::check("mdb_env_set_maxdbs", mdb_env_set_maxdbs(env, kMaxDbs));
    lmdb::check("mdb_env_set_mapsize", mdb_env_set_mapsize(env, m_options.map_size));
    lmdb::check("mdb_env_set_maxreaders", mdb_env_set_maxreaders(env, m_options.max_readers));
    // MDB_NOTLS: read transactions are begun and ended on Poco pool threads and must not be
    // tied to thread-local reader slots. Durable commits: no MDB_NOSYNC / MDB_NOMETASYNC.
    // No MDB_WRITEMAP: it cannot be combined with nested transactions.
    m_lmdb->env.open(m_options.path, MDB_NOTLS);
    int dead = 0;  // reader slots left by processes that died (lmdb.h "Caveats")
    lmdb::check("mdb_reader_check", mdb_reader_check(env, &dead));
    m_lmdb->dbis = open_tables(env, &m_opened_schema);

    m_writer = std::make_unique<GroupCommitter>(
        env, m_options.max_batch,
        [this](MDB_txn* child, const GroupCommitter::WriteFn& fn) {
            LmdbWriteTxn txn(child, m_lmdb->dbis, m_clock);
            fn(txn);
            if (txn.failed())
                throw Error(ErrorCode::StoreError,
                            "a store operation failed inside the write callback; its changes "
                            "were discarded");
        },
        GroupCommitter::BatchHooks{[this](MDB_txn* parent) {
                                       m_batch_start_seq =
                                           load_audit_head(parent, m_lmdb->dbis).seq;
                                   },
                                   [this](MDB_txn* parent) { seal_audit_head(parent); }});
}

std::unique_ptr<LmdbStore> LmdbStore::open(LmdbOptions options, core::AuditSealer sealer,
                                           const core::Clock& clock) {
    return std::make_unique<LmdbStore>(std::move(options), std::move(sealer), clock);
}

std::uint32_t LmdbStore::current_schema() {
    return kCurrentSchema;
}

LmdbStore::~LmdbStore() {
    if (m_writer) m_writer->stop();
}

template <class Fn>
auto LmdbStore::read(Fn&& fn) {
    // Aborted by the destructor on every path; a read-only transaction has nothing to commit.
    lmdb::Txn txn = lmdb::Txn::begin(m_lmdb->env.get(), nullptr, MDB_RDONLY);
    return fn(txn.get());
}

std::optional<KeyRecord> LmdbStore::find_key(std::string_view id) {
    return read([&](MDB_txn* txn) { return load_key(txn, m_lmdb->dbis, id); });
}

std::optional<std::string> LmdbStore::find_key_id_by_name(std::string_view name) {
    return read([&](MDB_txn* txn) { return load_key_id_by_name(txn, m_lmdb->dbis, name); });
}

KeyPage LmdbStore::list_keys(const KeyFilter& filter, std::string_view after_id,
                             std::size_t limit) {
    if (limit < 1 || limit > kMaxPage)
        throw Error(ErrorCode::InvalidArgument, "limit must be 1..1000");
    const bool wants_destroyed = filter.state && core::is_destroyed(*filter.state);
    if (!filter.name_prefix.empty() && !wants_destroyed)
        return list_keys_by_name(filter, after_id, limit);
    return list_keys_by_id(filter, after_id, limit);
}

KeyPage LmdbStore::list_keys_by_id(const KeyFilter& filter, std::string_view after_id,
                                   std::size_t limit) {
    return read([&](MDB_txn* txn) {
        KeyPage page;
        lmdb::Cursor cursor(txn, m_lmdb->dbis.keys);
        MDB_val k{}, v{};
        bool more;
        if (after_id.empty()) {
            more = cursor.get(k, v, MDB_FIRST);
        } else {
            k = lmdb::to_val(as_view(after_id));
            more = cursor.get(k, v, MDB_SET_RANGE);
            if (more && as_string(k) == after_id) more = cursor.get(k, v, MDB_NEXT);
        }
        for (; more; more = cursor.get(k, v, MDB_NEXT)) {
            if (page.keys.size() == limit) {
                page.next_after = page.keys.back().id;
                break;
            }
            KeyRecord key = decode_key(lmdb::from_val(v));
            if (matches(filter, key)) page.keys.push_back(std::move(key));
        }
        return page;
    });
}

KeyPage LmdbStore::list_keys_by_name(const KeyFilter& filter, std::string_view after_id,
                                     std::size_t limit) {
    return read([&](MDB_txn* txn) {
        std::vector<std::string> ids;
        {
            lmdb::Cursor cursor(txn, m_lmdb->dbis.key_names);
            MDB_val k = lmdb::to_val(as_view(filter.name_prefix));
            MDB_val v{};
            for (bool more = cursor.get(k, v, MDB_SET_RANGE);
                 more && as_string(k).starts_with(filter.name_prefix);
                 more = cursor.get(k, v, MDB_NEXT)) {
                if (as_string(v) > after_id) ids.emplace_back(as_string(v));
            }
        }
        std::sort(ids.begin(), ids.end());
        KeyPage page;
        for (const std::string& id : ids) {
            if (page.keys.size() == limit) {
                page.next_after = page.keys.back().id;
                break;
            }
            auto key = load_key(txn, m_lmdb->dbis, id);
            if (!key) throw Error(ErrorCode::Integrity, "the name index names a missing key " + id);
            if (matches(filter, *key)) page.keys.push_back(std::move(*key));
        }
        return page;
    });
}

std::optional<core::Principal> LmdbStore::find_principal(std::string_view name) {
    return read([&](MDB_txn* txn) { return load_principal(txn, m_lmdb->dbis, name); });
}

std::optional<core::Principal> LmdbStore::find_principal_by_token_hash(ByteView token_hash) {
    return read(
        [&](MDB_txn* txn) { return load_principal_by_token_hash(txn, m_lmdb->dbis, token_hash); });
}

std::vector<core::Principal> LmdbStore::list_principals() {
    return read([&](MDB_txn* txn) {
        std::vector<core::Principal> out;
        lmdb::Cursor cursor(txn, m_lmdb->dbis.principals);
        MDB_val k{}, v{};
        for (bool more = cursor.get(k, v, MDB_FIRST); more; more = cursor.get(k, v, MDB_NEXT))
            out.push_back(decode_principal(lmdb::from_val(v)));
        return out;
    });
}

std::vector<core::AuditRecord> LmdbStore::read_audit(std::uint64_t from_seq, std::size_t limit) {
    if (limit == 0) return {};
    return read([&](MDB_txn* txn) {
        std::vector<core::AuditRecord> out;
        lmdb::Cursor cursor(txn, m_lmdb->dbis.audit);
        const Bytes start = audit_key(from_seq);
        MDB_val k = lmdb::to_val(start);
        MDB_val v{};
        for (bool more = cursor.get(k, v, MDB_SET_RANGE); more && out.size() < limit;
             more = cursor.get(k, v, MDB_NEXT))
            out.push_back(decode_audit(lmdb::from_val(v)));
        return out;
    });
}

core::AuditHead LmdbStore::audit_head() {
    return read([&](MDB_txn* txn) { return load_audit_head(txn, m_lmdb->dbis); });
}

std::optional<Bytes> LmdbStore::get_setting(std::string_view name) {
    return read([&](MDB_txn* txn) { return load_setting(txn, m_lmdb->dbis, name); });
}

std::vector<std::pair<std::string, Bytes>> LmdbStore::list_settings(std::string_view prefix) {
    return read([&](MDB_txn* txn) {
        std::vector<std::pair<std::string, Bytes>> out;
        lmdb::Cursor cursor(txn, m_lmdb->dbis.meta);
        MDB_val k = lmdb::to_val(as_view(prefix));
        MDB_val v{};
        bool more = prefix.empty() ? cursor.get(k, v, MDB_FIRST) : cursor.get(k, v, MDB_SET_RANGE);
        for (; more && as_string(k).starts_with(prefix); more = cursor.get(k, v, MDB_NEXT)) {
            const ByteView value = lmdb::from_val(v);
            out.emplace_back(std::string(as_string(k)), Bytes(value.begin(), value.end()));
        }
        return out;
    });
}

std::optional<Bytes> LmdbStore::get(core::Table table, std::string_view key) {
    check_table_key(key);
    return read([&](MDB_txn* txn) -> std::optional<Bytes> {
        const auto v = lmdb::get(txn, m_lmdb->dbis.table(table), as_view(key));
        if (!v) return std::nullopt;
        return Bytes(v->begin(), v->end());
    });
}

std::vector<std::pair<std::string, Bytes>> LmdbStore::scan(core::Table table,
                                                           std::string_view after,
                                                           std::size_t limit) {
    return read([&](MDB_txn* txn) {
        std::vector<std::pair<std::string, Bytes>> out;
        lmdb::Cursor cursor(txn, m_lmdb->dbis.table(table));
        MDB_val k = lmdb::to_val(as_view(after));
        MDB_val v{};
        bool more = after.empty() ? cursor.get(k, v, MDB_FIRST) : cursor.get(k, v, MDB_SET_RANGE);
        if (more && !after.empty() && as_string(k) == after) more = cursor.get(k, v, MDB_NEXT);
        for (; more && out.size() < limit; more = cursor.get(k, v, MDB_NEXT)) {
            const ByteView value = lmdb::from_val(v);
            out.emplace_back(std::string(as_string(k)), Bytes(value.begin(), value.end()));
        }
        return out;
    });
}

std::size_t LmdbStore::key_count() {
    return read([&](MDB_txn* txn) {
        MDB_stat st{};
        lmdb::check("mdb_stat", mdb_stat(txn, m_lmdb->dbis.keys, &st));
        return static_cast<std::size_t>(st.ms_entries);
    });
}

void LmdbStore::seal_audit_head(MDB_txn* parent) {
    const core::AuditHead head = load_audit_head(parent, m_lmdb->dbis);
    if (head.seq == m_batch_start_seq) return;  // this batch appended no record
    const Bytes key = audit_key(head.seq);
    const auto stored = lmdb::get(parent, m_lmdb->dbis.audit, key);
    if (!stored)  // it was appended by this very transaction
        throw Error(ErrorCode::Internal,
                    "audit record " + std::to_string(head.seq) + " vanished before its seal");
    core::AuditRecord r = decode_audit(*stored);
    const Bytes input = core::audit_batch_seal_input(m_batch_start_seq + 1, r.hash);
    // DESIGN §10 fail closed: a sealer failure fails the batch.
    r.seal = core::audit_batch_seal(m_batch_start_seq + 1, m_sealer(input));
    lmdb::put(parent, m_lmdb->dbis.audit, key, encode_audit(r));
}

void LmdbStore::write(const std::function<void(core::WriteTxn&)>& fn) {
    if (!fn) throw Error(ErrorCode::InvalidArgument, "write() needs a callback");
    m_writer->submit(fn);
}

std::shared_ptr<core::QueuedWrite> LmdbStore::write_queued(
    std::function<void(core::WriteTxn&)> fn) {
    if (!fn) throw Error(ErrorCode::InvalidArgument, "write_queued() needs a callback");
    return m_writer->enqueue(std::move(fn));
}

void LmdbStore::add_use_counters(
    const std::vector<std::pair<std::string, core::UseCounters>>& deltas) {
    if (deltas.empty()) return;
    write([&](core::WriteTxn& txn) { apply_use_counters(txn, deltas); });
}

bool LmdbStore::probe() noexcept {
    MDB_txn* txn = nullptr;
    if (mdb_txn_begin(m_lmdb->env.get(), nullptr, MDB_RDONLY, &txn) != MDB_SUCCESS) return false;
    mdb_txn_abort(txn);
    return true;
}

void LmdbStore::hot_backup(const std::string& dest_dir) {
    const fs::path dir = normalized(dest_dir);
    if (!make_private_dir(dir)) {
        std::error_code ec;
        if (!fs::is_empty(dir, ec) || ec)
            throw Error(ErrorCode::InvalidArgument,
                        "backup directory " + dir.string() + " must be empty");
    }
    const fs::path file = dir / "data.mdb";
    // Our own descriptor (not mdb_env_copy2) so the copy is created 0600 whatever the umask.
    const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) throw_errno("create " + file.string(), errno);
    int rc = mdb_env_copyfd2(m_lmdb->env.get(), fd, MDB_CP_COMPACT);
    const char* failed = "mdb_env_copyfd2";
    if (rc == MDB_SUCCESS && ::fsync(fd) != 0) {
        rc = errno;
        failed = "fsync";
    }
    ::close(fd);
    if (rc != MDB_SUCCESS) {
        ::unlink(file.c_str());
        lmdb::throw_rc(failed, rc);  // mdb_strerror also covers errno values
    }
    fsync_path(dir, O_RDONLY | O_DIRECTORY);  // make the new directory entry durable
}

}  // namespace kms::store
