// kmsd's choice of store backend (store.backend in the configuration): the embedded LMDB
// store in DIR/store (one machine), or PostgreSQL (store.postgresql.conninfo), which several
// kmsd nodes may share (docs/operations.md "PostgreSQL store (cluster step 1)").
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "daemon/config.hpp"
#include "ports/clock.hpp"
#include "ports/metadata_store.hpp"
#include "store/lmdb_store.hpp"

namespace kms::daemon {

struct OpenedStore {
    std::unique_ptr<core::MetadataStore> store;
    /// The same object when it is the LMDB store (hot backup, group commit counters);
    /// null for PostgreSQL.
    store::LmdbStore* lmdb = nullptr;
    /// The schema found at open (0: a store this open created) and the build's own.
    std::uint32_t opened_schema = 0;
    std::uint32_t current_schema = 0;
    /// "the LMDB store in DIR/store" or "the PostgreSQL store": for log lines. Never
    /// holds the conninfo.
    std::string description;
};

/// Opens the store @p cfg names. @p sealer and @p clock as for LmdbStore / PgStore, whose
/// errors pass through (Error(StoreError) when PostgreSQL cannot be reached or its schema
/// is newer than this kmsd).
OpenedStore open_store(const DaemonConfig& cfg, core::AuditSealer sealer, const core::Clock& clock);

/// What POST /v1/backups answers (409) on a PostgreSQL store, which the hot backup cannot
/// copy: "... back it up with pg_dump ...".
extern const char* const kPostgresBackupRefusal;

}  // namespace kms::daemon
