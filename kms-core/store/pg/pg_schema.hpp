// The PostgreSQL schema of the KMS store: table definitions, the schema version check at
// open, and the migration chain (none yet). Internal to kms-core/store/pg.
//
//   kms_meta        name text PK                 -> value bytea (settings; "schema_version")
//   kms_keys        id text PK, name, live, state, algorithm, usage -> record bytea
//                   (encode_key(): the same bytes as in LMDB); UNIQUE (name) WHERE live is
//                   the name index: a destroyed key (live = false) releases its name
//   kms_principals  name text PK, token_hash bytea -> record bytea (encode_principal());
//                   UNIQUE (token_hash) is the token index (NULL for no token)
//   kms_audit       seq bigint PK                -> record bytea (encode_audit())
//   kms_audit_head  one row (id = 1): seq, hash; locked FOR UPDATE by every writer that
//                   appends, so writers on any number of nodes extend one chain
//   kms_ceremonies, kms_approvals, kms_quorums, kms_certificates, kms_policies:
//                   key text PK -> value bytea (core::Table record tables)
// Every text key column is COLLATE "C", so ORDER BY is byte order, as in LMDB.
#pragma once

#include <cstdint>
#include <pqxx/pqxx>
#include <string>

#include "ports/metadata_store.hpp"

namespace kms::store::pg {

/// The schema this build reads and writes, numbered as LMDB's (store/schema.hpp) so that
/// "schema_version" reads the same on both backends. 2 was the first PostgreSQL schema; 3 adds
/// the managed_objects record table (KMIP Secret Data and Certificates) and format-3 key
/// records, so a kmsd of schema 2 refuses a database that may hold them.
inline constexpr std::uint32_t kPgSchema = 3;

/// The SQL table name of a record table: "kms_" + core::table_name(t).
std::string table_sql_name(core::Table t);

/// In one transaction on @p conn, under a transaction-scoped advisory lock (so that two nodes
/// starting at once do not race on CREATE TABLE): creates the tables and indexes that are
/// missing, inserts the audit head row, then checks "schema_version" in kms_meta:
///   - absent (a new database): writes kPgSchema;   - equal: nothing;
///   - newer: throws Error(StoreError, "store schema N is newer than this kmsd (M)");
///   - 2: migrated to 3 (the CREATE TABLE above made kms_managed_objects; only the version
///     is written);   - below 2: Integrity (no PostgreSQL store had it);
///   - not a positive decimal number: throws Error(Integrity).
/// Returns the version found (0 for a new database). Nothing is written when it throws.
/// libpqxx exceptions pass through (the caller translates them).
std::uint32_t open_schema(pqxx::connection& conn);

}  // namespace kms::store::pg
