// Opening the store's databases, the schema version check and the migration chain that
// brings an older store up to this build's schema. Internal to kms-core/store.
//
// Adding schema N+1: raise kCurrentSchema and append one step to kMigrations in schema.cpp
// that rewrites a schema-N store into N+1 inside the given write transaction. The steps run
// in order, in the one transaction that opens the store, so a migration commits entirely or
// not at all.
#pragma once

#include <lmdb.h>

#include <cstdint>

#include "store/tables.hpp"

namespace kms::store {

/// The schema this build reads and writes.
inline constexpr std::uint32_t kCurrentSchema = 3;

/// Opens (creating where missing) every named database of tables.hpp in one write
/// transaction on the calling thread, then, in the same transaction:
///   - schema_version absent (a new store): writes kCurrentSchema;
///   - equal to kCurrentSchema: nothing;
///   - newer: throws Error(StoreError, "store schema N is newer than this kmsd (M)");
///   - older: runs the migration steps from it up to kCurrentSchema;
///   - not a decimal number: throws Error(Integrity).
/// Commits durably. The audit chain is not judged here: a tampered log must not keep kmsd
/// from starting, so that the audit verification (services) can report what was changed.
/// @p env must be open with mdb_env_set_maxdbs() >= 12 and no other transaction of this
/// process may be live (mdb_dbi_open's rule). Nothing is written when it throws.
/// @p found_version, when not null, receives the schema_version the store had before this
/// call: 0 for a new store, less than kCurrentSchema when it was migrated.
Dbis open_tables(MDB_env* env, std::uint32_t* found_version = nullptr);

}  // namespace kms::store
