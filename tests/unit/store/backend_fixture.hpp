// One store test suite, two backends: a value-parameterised gtest fixture that opens a
// MetadataStore on LMDB (a temporary directory) or on PostgreSQL (a fresh schema of one real
// PostgreSQL 15 server, started once per test binary by tests/support/postgres_server.hpp).
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "postgres_server.hpp"
#include "store/lmdb_store.hpp"
#include "store/pg/pg_store.hpp"
#include "store_fixture.hpp"

namespace kms::store::test {

enum class Backend { Lmdb, Postgres };

inline std::string backend_name(const ::testing::TestParamInfo<Backend>& info) {
    return info.param == Backend::Lmdb ? "Lmdb" : "Postgres";
}

/// The PostgreSQL server of this test binary: started on first use (1-2 s), stopped and its
/// folder removed when the binary exits (also after failed tests).
inline kms::test::PostgresServer& shared_postgres() {
    static kms::test::PostgresServer server;
    return server;
}

class BackendTest : public ::testing::TestWithParam<Backend> {
  protected:
    void SetUp() override {
        if (GetParam() == Backend::Postgres) schema = shared_postgres().create_schema();
        store = open_store();
    }
    /// A new store object on the same data (a second LMDB open needs the first closed).
    std::unique_ptr<core::MetadataStore> open_store() {
        if (GetParam() == Backend::Lmdb)
            return LmdbStore::open(LmdbOptions{dir}, &test_seal, clock);
        return pg::PgStore::open(pg_options(), &test_seal, clock);
    }
    pg::PgOptions pg_options() const {
        pg::PgOptions o;
        o.conninfo = shared_postgres().schema_conninfo(schema);
        return o;
    }

    void put_key(const core::KeyRecord& k) {
        store->write([&](core::WriteTxn& txn) { txn.put_key(k); });
    }
    void put_principal(const core::Principal& p) {
        store->write([&](core::WriteTxn& txn) { txn.put_principal(p); });
    }
    void audit(const std::string& action, const std::string& target = "") {
        store->write([&](core::WriteTxn& txn) { txn.append_audit(event(action, target)); });
    }
    std::vector<core::AuditRecord> all_audit() { return store->read_audit(0, 1'000'000); }

    TempDir tmp;
    StepClock clock;
    std::string dir = tmp.sub("store");
    std::string schema;  ///< PostgreSQL only
    std::unique_ptr<core::MetadataStore> store;
};

}  // namespace kms::store::test
