// The store's named LMDB databases and typed lookups over them, shared by the read path
// (read-only transactions) and the write path (nested write transactions). Internal.
//
//   meta              setting name (ASCII)    -> raw bytes; includes the reserved entries below
//   keys              key id                  -> encode_key()
//   key_names         key name                -> key id, for keys that are not destroyed
//   principals        principal name          -> encode_principal()
//   principal_tokens  token hash (32 bytes)   -> principal name
//   audit             audit_key(seq)          -> encode_audit()
//   ceremonies, approvals, quorums, certificates, policies (schema 2): core::Table record
//                     tables, key (printable ASCII) -> the owning service's encoding
#pragma once

#include <lmdb.h>

#include <optional>
#include <string>
#include <string_view>

#include "domain/audit.hpp"
#include "domain/key.hpp"
#include "domain/principal.hpp"
#include "ports/metadata_store.hpp"
#include "store/store_rules.hpp"

namespace kms::store {

/// Handles of the named databases, valid for the environment's lifetime once opened.
struct Dbis {
    MDB_dbi meta = 0;
    MDB_dbi keys = 0;
    MDB_dbi key_names = 0;
    MDB_dbi principals = 0;
    MDB_dbi principal_tokens = 0;
    MDB_dbi audit = 0;
    MDB_dbi tables[core::kTableCount] = {};  ///< indexed by core::Table
    MDB_dbi table(core::Table t) const { return tables[static_cast<std::size_t>(t)]; }
};

// The reserved meta entries ("schema_version", "store/audit_head": encode_audit_head()) and the
// naming rules are in store_rules.hpp, shared with the PostgreSQL backend.

/// Lookups through @p txn (read-only or write). Each returns a decoded copy; decoding
/// failures throw Error(Integrity), LMDB failures Error(StoreError).
std::optional<core::KeyRecord> load_key(MDB_txn* txn, const Dbis& dbis, std::string_view id);
std::optional<std::string> load_key_id_by_name(MDB_txn* txn, const Dbis& dbis,
                                               std::string_view name);
std::optional<core::Principal> load_principal(MDB_txn* txn, const Dbis& dbis,
                                              std::string_view name);
std::optional<core::Principal> load_principal_by_token_hash(MDB_txn* txn, const Dbis& dbis,
                                                            ByteView token_hash);
std::optional<Bytes> load_setting(MDB_txn* txn, const Dbis& dbis, std::string_view name);

/// The stored head, or {0, 32 zero bytes} for an empty log.
core::AuditHead load_audit_head(MDB_txn* txn, const Dbis& dbis);

}  // namespace kms::store
