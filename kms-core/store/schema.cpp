// Database opening, schema version check and migrations.
#include "store/schema.hpp"

#include <array>
#include <charconv>
#include <string>

#include "domain/error.hpp"
#include "store/lmdb_env.hpp"

namespace kms::store {

namespace {

/// One migration: rewrites a store of schema (i + 1) into schema (i + 2) for step i.
using MigrationStep = void (*)(MDB_txn* txn, const Dbis& dbis);

/// 1 -> 2: adds the record tables (ceremonies, approvals, quorums, certificates, policies).
/// open_tables() has already created them empty, so there is nothing to rewrite; the step
/// exists so the version says which databases a store has.
void migrate_1_to_2(MDB_txn*, const Dbis&) {}

/// 2 -> 3: adds the managed_objects table (KMIP Secret Data and Certificates), created empty
/// by open_tables() like the others: nothing to rewrite. Schema 3 is also the first whose key
/// records may be format 3 (KMIP names, client attributes and Re-key links, record_codec.cpp):
/// older records stay readable, and a kmsd of schema 2 refuses such a store at start instead
/// of reading a format-3 record as corrupt.
void migrate_2_to_3(MDB_txn*, const Dbis&) {}

/// Exactly one step per schema bump; the array size makes forgetting one a compile error.
constexpr std::array<MigrationStep, kCurrentSchema - 1> kMigrations{migrate_1_to_2, migrate_2_to_3};

MDB_dbi open_dbi(MDB_txn* txn, const char* name) {
    MDB_dbi dbi = 0;
    lmdb::check("mdb_dbi_open", mdb_dbi_open(txn, name, MDB_CREATE, &dbi));
    return dbi;
}

std::uint32_t parse_version(ByteView stored) {
    const auto* first = reinterpret_cast<const char*>(stored.data());
    const auto* last = first + stored.size();
    std::uint32_t v = 0;
    const auto [end, ec] = std::from_chars(first, last, v);
    if (stored.empty() || ec != std::errc() || end != last || v == 0)
        throw Error(ErrorCode::Integrity, "store schema_version is not a positive number");
    return v;
}

void write_version(MDB_txn* txn, const Dbis& dbis, std::uint32_t v) {
    const std::string text = std::to_string(v);
    lmdb::put(txn, dbis.meta, as_view(kSchemaVersionSetting), as_view(text));
}

/// The version found (0 for a new store).
std::uint32_t check_schema(MDB_txn* txn, const Dbis& dbis) {
    const auto stored = lmdb::get(txn, dbis.meta, as_view(kSchemaVersionSetting));
    if (!stored) {
        write_version(txn, dbis, kCurrentSchema);
        return 0;
    }
    const std::uint32_t version = parse_version(*stored);
    if (version > kCurrentSchema)
        throw Error(ErrorCode::StoreError, "store schema " + std::to_string(version) +
                                               " is newer than this kmsd (" +
                                               std::to_string(kCurrentSchema) + ")");
    for (std::uint32_t v = version; v < kCurrentSchema; ++v) kMigrations[v - 1](txn, dbis);
    if (version != kCurrentSchema) write_version(txn, dbis, kCurrentSchema);
    return version;
}

}  // namespace

Dbis open_tables(MDB_env* env, std::uint32_t* found_version) {
    lmdb::Txn txn = lmdb::Txn::begin(env, nullptr, 0);
    Dbis dbis;
    dbis.meta = open_dbi(txn.get(), "meta");
    dbis.keys = open_dbi(txn.get(), "keys");
    dbis.key_names = open_dbi(txn.get(), "key_names");
    dbis.principals = open_dbi(txn.get(), "principals");
    dbis.principal_tokens = open_dbi(txn.get(), "principal_tokens");
    dbis.audit = open_dbi(txn.get(), "audit");
    for (std::size_t i = 0; i < core::kTableCount; ++i) {
        const std::string name(core::table_name(static_cast<core::Table>(i)));
        dbis.tables[i] = open_dbi(txn.get(), name.c_str());
    }
    const std::uint32_t found = check_schema(txn.get(), dbis);
    txn.commit();
    if (found_version != nullptr) *found_version = found;
    return dbis;
}

}  // namespace kms::store
