// Opening the configured store backend.
#include "daemon/store_choice.hpp"

#include "store/pg/pg_store.hpp"

namespace kms::daemon {

const char* const kPostgresBackupRefusal =
    "the online backup copies the LMDB store and this kmsd keeps its store in PostgreSQL "
    "(store.backend = postgresql): back up the database with pg_dump (or PostgreSQL's own "
    "base backups) and the HSM with its vendor's tools; see docs/operations.md";

OpenedStore open_store(const DaemonConfig& cfg, core::AuditSealer sealer,
                       const core::Clock& clock) {
    OpenedStore out;
    if (cfg.postgresql_store()) {
        store::pg::PgOptions o;
        o.conninfo = cfg.store_pg_conninfo;
        auto pg = store::pg::PgStore::open(std::move(o), std::move(sealer), clock);
        out.opened_schema = pg->opened_schema();
        out.current_schema = store::pg::PgStore::current_schema();
        out.description = "the PostgreSQL store";
        out.store = std::move(pg);
        return out;
    }
    store::LmdbOptions o;
    o.path = cfg.store_dir();
    o.map_size = cfg.store_map_size_mb << 20;
    auto lmdb = store::LmdbStore::open(std::move(o), std::move(sealer), clock);
    out.opened_schema = lmdb->opened_schema();
    out.current_schema = store::LmdbStore::current_schema();
    out.description = "the LMDB store";
    out.lmdb = lmdb.get();
    out.store = std::move(lmdb);
    return out;
}

}  // namespace kms::daemon
