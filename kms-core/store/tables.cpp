// Typed lookups over the store's named databases.
#include "store/tables.hpp"

#include "domain/error.hpp"
#include "store/lmdb_env.hpp"
#include "store/record_codec.hpp"

namespace kms::store {

namespace {
std::string to_string(ByteView v) {
    return std::string(v.begin(), v.end());
}
}  // namespace

std::optional<core::KeyRecord> load_key(MDB_txn* txn, const Dbis& dbis, std::string_view id) {
    if (id.empty()) return std::nullopt;  // LMDB rejects empty keys; no record has one
    const auto v = lmdb::get(txn, dbis.keys, as_view(id));
    if (!v) return std::nullopt;
    return decode_key(*v);
}

std::optional<std::string> load_key_id_by_name(MDB_txn* txn, const Dbis& dbis,
                                               std::string_view name) {
    if (name.empty()) return std::nullopt;
    const auto v = lmdb::get(txn, dbis.key_names, as_view(name));
    if (!v) return std::nullopt;
    return to_string(*v);
}

std::optional<core::Principal> load_principal(MDB_txn* txn, const Dbis& dbis,
                                              std::string_view name) {
    if (name.empty()) return std::nullopt;
    const auto v = lmdb::get(txn, dbis.principals, as_view(name));
    if (!v) return std::nullopt;
    return decode_principal(*v);
}

std::optional<core::Principal> load_principal_by_token_hash(MDB_txn* txn, const Dbis& dbis,
                                                            ByteView token_hash) {
    if (token_hash.empty()) return std::nullopt;
    const auto name = lmdb::get(txn, dbis.principal_tokens, token_hash);
    if (!name) return std::nullopt;
    return load_principal(txn, dbis, to_string(*name));
}

std::optional<Bytes> load_setting(MDB_txn* txn, const Dbis& dbis, std::string_view name) {
    if (name.empty()) return std::nullopt;
    const auto v = lmdb::get(txn, dbis.meta, as_view(name));
    if (!v) return std::nullopt;
    return Bytes(v->begin(), v->end());
}

core::AuditHead load_audit_head(MDB_txn* txn, const Dbis& dbis) {
    const auto v = lmdb::get(txn, dbis.meta, as_view(kAuditHeadSetting));
    if (!v) return core::AuditHead{0, Bytes(32, 0)};
    return decode_audit_head(*v);
}

}  // namespace kms::store
