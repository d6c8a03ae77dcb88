// WriteTxn over one nested LMDB transaction: index upkeep and audit chaining.
#include "store/write_txn.hpp"

#include <string>

#include "crypto/host_crypto.hpp"
#include "domain/error.hpp"
#include "store/lmdb_env.hpp"
#include "store/record_codec.hpp"
#include "store/store_rules.hpp"

namespace kms::store {

std::optional<core::KeyRecord> LmdbWriteTxn::find_key(std::string_view id) {
    return guarded([&] { return load_key(m_txn, m_dbis, id); });
}

std::optional<std::string> LmdbWriteTxn::find_key_id_by_name(std::string_view name) {
    return guarded([&] { return load_key_id_by_name(m_txn, m_dbis, name); });
}

void LmdbWriteTxn::put_key(const core::KeyRecord& key) {
    guarded([&] { put_key_unguarded(key); });
}

void LmdbWriteTxn::put_key_unguarded(const core::KeyRecord& key) {
    check_index_key(key.id, "key id");
    const bool live = !core::is_destroyed(key.state);
    if (live) check_index_key(key.name, "key name");

    // Every check comes before the first write, so a caller that catches the Conflict and
    // carries on leaves nothing half-done behind.
    if (live) {
        const auto owner = load_key_id_by_name(m_txn, m_dbis, key.name);
        if (owner && *owner != key.id) throw Error(ErrorCode::Conflict, "name already in use");
    }
    const auto release = [&](const std::string& name) {
        if (load_key_id_by_name(m_txn, m_dbis, name) == key.id)
            lmdb::del(m_txn, m_dbis.key_names, as_view(name));
    };
    if (const auto old = load_key(m_txn, m_dbis, key.id); old && old->name != key.name)
        release(old->name);  // renamed: the old name is free again
    if (live)
        lmdb::put(m_txn, m_dbis.key_names, as_view(key.name), as_view(key.id));
    else if (!key.name.empty())
        release(key.name);  // destroyed: the name is free for a new key
    lmdb::put(m_txn, m_dbis.keys, as_view(key.id), encode_key(key));
}

std::optional<core::Principal> LmdbWriteTxn::find_principal(std::string_view name) {
    return guarded([&] { return load_principal(m_txn, m_dbis, name); });
}

void LmdbWriteTxn::put_principal(const core::Principal& p) {
    guarded([&] { put_principal_unguarded(p); });
}

void LmdbWriteTxn::put_principal_unguarded(const core::Principal& p) {
    check_index_key(p.name, "principal name");
    if (!p.token_hash.empty()) {
        if (p.token_hash.size() > kMaxIndexKeyBytes)
            throw Error(ErrorCode::InvalidArgument, "token hash is too long");
        const auto owner = lmdb::get(m_txn, m_dbis.principal_tokens, p.token_hash);
        if (owner && std::string(owner->begin(), owner->end()) != p.name)
            throw Error(ErrorCode::Conflict, "token already in use");
    }
    const auto old = load_principal(m_txn, m_dbis, p.name);
    if (old && !old->token_hash.empty() && old->token_hash != p.token_hash) {
        const auto owner = lmdb::get(m_txn, m_dbis.principal_tokens, old->token_hash);
        if (owner && std::string(owner->begin(), owner->end()) == p.name)
            lmdb::del(m_txn, m_dbis.principal_tokens, old->token_hash);
    }
    if (!p.token_hash.empty())
        lmdb::put(m_txn, m_dbis.principal_tokens, p.token_hash, as_view(p.name));
    lmdb::put(m_txn, m_dbis.principals, as_view(p.name), encode_principal(p));
}

void LmdbWriteTxn::append_audit(const core::AuditEvent& event) {
    guarded([&] { append_audit_unguarded(event); });
}

void LmdbWriteTxn::append_audit_unguarded(const core::AuditEvent& event) {
    // The head is read and written through this (nested) transaction: a sibling call in the
    // same group commit sees the head this one leaves, and an aborted call leaves none.
    const core::AuditHead head = load_audit_head(m_txn, m_dbis);
    core::AuditRecord r;
    r.seq = head.seq + 1;
    r.time_ms = m_clock.now_ms();
    r.event = event;
    r.prev_hash = head.hash;
    r.hash = crypto::sha256(core::canonical_audit_bytes(r));
    const Bytes key = audit_key(r.seq);
    try {
        lmdb::put(m_txn, m_dbis.audit, key, encode_audit(r), MDB_NOOVERWRITE);
    } catch (const Error& e) {
        if (e.native_kind() == NativeKind::Lmdb &&
            static_cast<int>(static_cast<std::int64_t>(e.native_code())) == MDB_KEYEXIST)
            throw Error(ErrorCode::Integrity, "audit record " + std::to_string(r.seq) +
                                                  " already exists beyond the audit head");
        throw;
    }
    lmdb::put(m_txn, m_dbis.meta, as_view(kAuditHeadSetting),
              encode_audit_head(core::AuditHead{r.seq, r.hash}));
}

std::optional<Bytes> LmdbWriteTxn::get_setting(std::string_view name) {
    return guarded([&] { return load_setting(m_txn, m_dbis, name); });
}

void LmdbWriteTxn::put_setting(std::string_view name, ByteView value) {
    check_setting_name(name);
    guarded([&] { lmdb::put(m_txn, m_dbis.meta, as_view(name), value); });
}

void LmdbWriteTxn::delete_setting(std::string_view name) {
    check_setting_name(name);
    guarded([&] { lmdb::del(m_txn, m_dbis.meta, as_view(name)); });
}

std::optional<Bytes> LmdbWriteTxn::get(core::Table table, std::string_view key) {
    check_table_key(key);
    return guarded([&]() -> std::optional<Bytes> {
        const auto v = lmdb::get(m_txn, m_dbis.table(table), as_view(key));
        if (!v) return std::nullopt;
        return Bytes(v->begin(), v->end());
    });
}

void LmdbWriteTxn::put(core::Table table, std::string_view key, ByteView value) {
    check_table_key(key);
    guarded([&] { lmdb::put(m_txn, m_dbis.table(table), as_view(key), value); });
}

void LmdbWriteTxn::erase(core::Table table, std::string_view key) {
    check_table_key(key);
    guarded([&] { lmdb::del(m_txn, m_dbis.table(table), as_view(key)); });
}

}  // namespace kms::store
