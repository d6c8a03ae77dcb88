// PostgreSQL DDL and the schema version check.
#include "store/pg/pg_schema.hpp"

#include <charconv>

#include "domain/error.hpp"

namespace kms::store::pg {

namespace {

// Any constant: the key of the advisory lock that serializes schema set-up across nodes.
constexpr long long kSchemaLockKey = 0x6b6d7364;  // "kmsd"

constexpr const char* kDdl = R"sql(
CREATE TABLE IF NOT EXISTS kms_meta (
  name  text COLLATE "C" PRIMARY KEY,
  value bytea NOT NULL);
CREATE TABLE IF NOT EXISTS kms_keys (
  id        text COLLATE "C" PRIMARY KEY,
  name      text COLLATE "C" NOT NULL,
  live      boolean NOT NULL,
  state     smallint NOT NULL,
  algorithm smallint NOT NULL,
  usage     bigint NOT NULL,
  record    bytea NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS kms_keys_live_name ON kms_keys (name) WHERE live;
CREATE TABLE IF NOT EXISTS kms_principals (
  name       text COLLATE "C" PRIMARY KEY,
  token_hash bytea UNIQUE,
  record     bytea NOT NULL);
CREATE TABLE IF NOT EXISTS kms_audit (
  seq    bigint PRIMARY KEY CHECK (seq > 0),
  record bytea NOT NULL);
CREATE TABLE IF NOT EXISTS kms_audit_head (
  id   smallint PRIMARY KEY CHECK (id = 1),
  seq  bigint NOT NULL,
  hash bytea NOT NULL);
INSERT INTO kms_audit_head (id, seq, hash)
  VALUES (1, 0, '\x0000000000000000000000000000000000000000000000000000000000000000')
  ON CONFLICT (id) DO NOTHING;
)sql";

std::uint32_t parse_version(const std::string& stored) {
    std::uint32_t v = 0;
    const auto [end, ec] = std::from_chars(stored.data(), stored.data() + stored.size(), v);
    if (stored.empty() || ec != std::errc() || end != stored.data() + stored.size() || v == 0)
        throw Error(ErrorCode::Integrity, "store schema_version is not a positive number");
    return v;
}

}  // namespace

std::string table_sql_name(core::Table t) {
    return "kms_" + std::string(core::table_name(t));
}

std::uint32_t open_schema(pqxx::connection& conn) {
    pqxx::work w(conn);
    w.exec_params("SELECT pg_advisory_xact_lock($1)", kSchemaLockKey);
    w.exec0(kDdl);
    for (std::size_t i = 0; i < core::kTableCount; ++i) {
        const std::string name = table_sql_name(static_cast<core::Table>(i));
        w.exec0("CREATE TABLE IF NOT EXISTS " + name +
                " (key text COLLATE \"C\" PRIMARY KEY, value bytea NOT NULL)");
    }
    const pqxx::result r = w.exec("SELECT value FROM kms_meta WHERE name = 'schema_version'");
    std::uint32_t found = 0;
    if (r.empty()) {
        w.exec_params0("INSERT INTO kms_meta (name, value) VALUES ('schema_version', $1)",
                       pqxx::binarystring(std::to_string(kPgSchema)));
    } else {
        const pqxx::binarystring stored(r[0][0]);
        found = parse_version(stored.str());
        if (found > kPgSchema)
            throw Error(ErrorCode::StoreError, "store schema " + std::to_string(found) +
                                                   " is newer than this kmsd (" +
                                                   std::to_string(kPgSchema) + ")");
        // Migrations run here, in this transaction. Schema 2 is the first PostgreSQL schema;
        // 2 -> 3 adds kms_managed_objects, which the CREATE TABLE loop above has made.
        if (found < 2)
            throw Error(ErrorCode::Integrity,
                        "store schema " + std::to_string(found) + " never existed on PostgreSQL");
        if (found < kPgSchema)
            w.exec_params0("UPDATE kms_meta SET value = $1 WHERE name = 'schema_version'",
                           pqxx::binarystring(std::to_string(kPgSchema)));
    }
    w.commit();
    return found;
}

}  // namespace kms::store::pg
