// What only the PostgreSQL backend has: two PgStore objects on one database as two kmsd
// nodes (a key written on one is read on the other; concurrent conflicting state changes end
// in one valid state; the audit chain stays one chain), schema checks in the database, a
// planted audit row, and faults: a connection killed by pg_terminate_backend and a server
// restart give Error(StoreError), and the next call succeeds without anything half-written.
#include <atomic>
#include <thread>

#include "backend_fixture.hpp"

namespace kms::store::test {
namespace {

using core::KeyState;
using core::WriteTxn;

class PgStoreTest : public BackendTest {
  protected:
    std::unique_ptr<pg::PgStore> open_node() {
        return pg::PgStore::open(pg_options(), &test_seal, clock);
    }
    /// Terminates every server process of this test's connections; returns how many.
    int terminate_connections() {
        const std::string out = shared_postgres().sql(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name = '" +
            schema + "'");
        return std::stoi(out);
    }
};

INSTANTIATE_TEST_SUITE_P(Backends, PgStoreTest, ::testing::Values(Backend::Postgres), backend_name);

/// The read-modify-write of services/change_state.cpp in small: read the key inside the
/// write, refuse unless it is in @p from, move it to @p to.
void transition(core::MetadataStore& s, const std::string& id, KeyState from, KeyState to) {
    s.write([&](WriteTxn& txn) {
        auto key = txn.find_key(id);
        if (!key || key->state != from) throw Error(ErrorCode::WrongState, "not in the state");
        key->history.push_back({from, to, 0, "node", ""});
        key->state = to;
        txn.put_key(*key);
        txn.append_audit(event("key.state", id));
    });
}

TEST_P(PgStoreTest, AKeyWrittenOnOneNodeIsReadOnTheOther) {
    auto node2 = open_node();
    put_key(make_key(1, "zmk"));
    ASSERT_TRUE(node2->find_key(key_id(1)));
    EXPECT_EQ(node2->find_key(key_id(1))->versions.at(0).block, Bytes(40, 1));
    EXPECT_EQ(node2->find_key_id_by_name("zmk"), key_id(1));
    // The name index is one index across nodes.
    expect_error([&] { node2->write([](WriteTxn& t) { t.put_key(make_key(2, "zmk")); }); },
                 ErrorCode::Conflict, "name already in use");
    // Destroyed on node 1: node 2 reads the tombstone and may reuse the name.
    put_key(make_key(1, "zmk", KeyState::Destroyed));
    EXPECT_EQ(node2->find_key(key_id(1))->state, KeyState::Destroyed);
    node2->write([](WriteTxn& t) { t.put_key(make_key(2, "zmk")); });
    EXPECT_EQ(store->find_key_id_by_name("zmk"), key_id(2));
}

TEST_P(PgStoreTest, ConcurrentConflictingStateChangesOnTwoNodesEndInOneValidState) {
    auto node2 = open_node();
    // Without the row lock of WriteTxn::find_key both would read Active and both would
    // "succeed", the second overwriting the first (a lost update under READ COMMITTED).
    for (unsigned round = 0; round < 20; ++round) {
        put_key(make_key(round, "k" + std::to_string(round), KeyState::Active));
        std::atomic<int> ready{0};
        std::atomic<int> wins{0};
        auto run = [&](core::MetadataStore& s, KeyState to) {
            ready.fetch_add(1);
            while (ready.load() < 2) {
            }
            try {
                transition(s, key_id(round), KeyState::Active, to);
                wins.fetch_add(1);
            } catch (const Error& e) {
                EXPECT_EQ(e.code(), ErrorCode::WrongState) << e.what();
            }
        };
        std::thread a([&] { run(*store, KeyState::Deactivated); });
        std::thread b([&] { run(*node2, KeyState::Suspended); });
        a.join();
        b.join();
        EXPECT_EQ(wins.load(), 1) << "round " << round;
        const auto key = store->find_key(key_id(round));
        ASSERT_TRUE(key);
        ASSERT_EQ(key->history.size(), 1u) << "round " << round;
        EXPECT_EQ(key->history[0].to, key->state);
        EXPECT_TRUE(key->state == KeyState::Deactivated || key->state == KeyState::Suspended);
    }
    expect_chain(all_audit(), 1, Bytes(32, 0));
}

TEST_P(PgStoreTest, OneNameCreatedOnTwoNodesAtOnceGoesToOneKeyTheOtherGetsConflict) {
    // The loser either sees the winner's row in its own check or hits the unique index
    // (then its write is run again and the check names the conflict): Conflict either way,
    // never a StoreError, never two live keys with one name.
    auto node2 = open_node();
    for (unsigned round = 0; round < 20; ++round) {
        const std::string name = "race-" + std::to_string(round);
        std::atomic<int> ready{0};
        std::atomic<int> wins{0};
        auto create = [&](core::MetadataStore& s, unsigned n) {
            ready.fetch_add(1);
            while (ready.load() < 2) {
            }
            try {
                s.write([&](WriteTxn& txn) {
                    txn.put_key(make_key(n, name));
                    txn.append_audit(event("key.create", key_id(n)));
                });
                wins.fetch_add(1);
            } catch (const Error& e) {
                EXPECT_EQ(e.code(), ErrorCode::Conflict) << e.what();
            }
        };
        std::thread a([&] { create(*store, 1000 + 2 * round); });
        std::thread b([&] { create(*node2, 1001 + 2 * round); });
        a.join();
        b.join();
        EXPECT_EQ(wins.load(), 1) << name;
        const auto owner = store->find_key_id_by_name(name);
        ASSERT_TRUE(owner);
        EXPECT_TRUE(*owner == key_id(1000 + 2 * round) || *owner == key_id(1001 + 2 * round));
    }
    EXPECT_EQ(store->key_count(), 20u);
    expect_chain(all_audit(), 1, Bytes(32, 0));
}

TEST_P(PgStoreTest, WritersOnTwoNodesMakeOneAuditChain) {
    auto node2 = open_node();
    constexpr int kPerThread = 40;
    auto writer = [&](core::MetadataStore& s, const std::string& who) {
        for (int i = 0; i < kPerThread; ++i)
            s.write([&](WriteTxn& txn) {
                txn.append_audit(event("write", who));
                if (i % 3 == 0) txn.append_audit(event("write.more", who));
            });
    };
    std::thread a([&] { writer(*store, "n1a"); });
    std::thread b([&] { writer(*store, "n1b"); });
    std::thread c([&] { writer(*node2, "n2a"); });
    std::thread d([&] { writer(*node2, "n2b"); });
    a.join();
    b.join();
    c.join();
    d.join();
    const auto records = all_audit();
    EXPECT_EQ(records.size(), 4u * (kPerThread + (kPerThread + 2) / 3));
    expect_chain(records, 1, Bytes(32, 0));
    EXPECT_EQ(store->audit_head().seq, records.size());
    EXPECT_EQ(node2->audit_head().hash, records.back().hash);
}

TEST_P(PgStoreTest, NewerSchemaInTheDatabaseIsRefusedOnOpen) {
    shared_postgres().sql("UPDATE " + schema +
                          ".kms_meta SET value = '4'::bytea WHERE name = 'schema_version'");
    expect_error([&] { open_node(); }, ErrorCode::StoreError,
                 "store schema 4 is newer than this kmsd (3)");
    shared_postgres().sql("UPDATE " + schema +
                          ".kms_meta SET value = '2x'::bytea WHERE name = 'schema_version'");
    expect_error([&] { open_node(); }, ErrorCode::Integrity, "schema_version");
}

TEST_P(PgStoreTest, SchemaTwoDatabaseIsMigratedToThreeWithTheManagedObjectsTable) {
    store->write([](core::WriteTxn& t) { t.put(core::Table::Policies, "p", as_view("policy")); });
    // A schema-2 database as the first PostgreSQL kmsd left it: no kms_managed_objects.
    shared_postgres().sql("DROP TABLE " + schema + ".kms_managed_objects");
    shared_postgres().sql("UPDATE " + schema +
                          ".kms_meta SET value = '2'::bytea WHERE name = 'schema_version'");
    auto node = open_node();
    EXPECT_EQ(text(node->get_setting("schema_version")), "3");
    EXPECT_EQ(text(node->get(core::Table::Policies, "p")), "policy");
    node->write(
        [](core::WriteTxn& t) { t.put(core::Table::ManagedObjects, "o-1", as_view("object")); });
    EXPECT_EQ(text(node->get(core::Table::ManagedObjects, "o-1")), "object");
    shared_postgres().sql("UPDATE " + schema +
                          ".kms_meta SET value = '1'::bytea WHERE name = 'schema_version'");
    expect_error([&] { open_node(); }, ErrorCode::Integrity, "never existed on PostgreSQL");
}

TEST_P(PgStoreTest, AnAuditRowBeyondTheHeadIsNeverOverwritten) {
    audit("one");
    shared_postgres().sql("INSERT INTO " + schema + ".kms_audit VALUES (2, '\\x00')");
    expect_error([&] { audit("two"); }, ErrorCode::Integrity, "already exists");
    EXPECT_EQ(store->audit_head().seq, 1u);
}

TEST_P(PgStoreTest, AKilledConnectionGivesStoreErrorAndTheNextCallSucceeds) {
    put_key(make_key(1, "a"));
    // Idle connections killed behind the store's back: the next read and write notice it on
    // their first statement and run again on a new connection, without an error.
    ASSERT_GE(terminate_connections(), 1);
    ASSERT_TRUE(store->find_key(key_id(1)));
    ASSERT_GE(terminate_connections(), 1);
    put_key(make_key(3, "c"));
    ASSERT_TRUE(store->find_key(key_id(3)));

    // A write whose connection dies: nothing of it lands, and the next write succeeds.
    expect_error(
        [&] {
            store->write([&](WriteTxn& txn) {
                txn.put_key(make_key(2, "b"));
                txn.append_audit(event("key.create", key_id(2)));
                terminate_connections();
                txn.put_setting("s", as_view("v"));
            });
        },
        ErrorCode::StoreError);
    EXPECT_FALSE(store->find_key(key_id(2)));
    EXPECT_FALSE(store->get_setting("s"));
    EXPECT_EQ(store->audit_head().seq, 0u);
    EXPECT_EQ(store->key_count(), 2u);
    put_key(make_key(2, "b"));
    audit("after");
    expect_chain(all_audit(), 1, Bytes(32, 0));
    EXPECT_TRUE(store->probe());
}

TEST_P(PgStoreTest, AServerRestartFailsCallsCleanlyUntilItIsBack) {
    put_key(make_key(1, "a"));
    shared_postgres().stop();
    EXPECT_FALSE(store->probe());
    expect_error([&] { store->find_key(key_id(1)); }, ErrorCode::StoreError);
    expect_error([&] { put_key(make_key(2, "b")); }, ErrorCode::StoreError);
    shared_postgres().start();
    EXPECT_TRUE(store->probe());
    EXPECT_TRUE(store->find_key(key_id(1)));
    EXPECT_FALSE(store->find_key(key_id(2)));
    put_key(make_key(2, "b"));
    EXPECT_EQ(store->key_count(), 2u);
}

TEST_P(PgStoreTest, OptionsAndSealerAreValidated) {
    expect_error([&] { pg::PgStore(pg::PgOptions{}, &test_seal, clock); },
                 ErrorCode::InvalidArgument, "conninfo");
    expect_error([&] { pg::PgStore(pg_options(), core::AuditSealer{}, clock); },
                 ErrorCode::InvalidArgument, "sealer");
    pg::PgOptions unreachable;
    unreachable.conninfo = "host=127.0.0.1 port=1 user=kms password=hunter2 connect_timeout=2";
    try {
        pg::PgStore s(unreachable, &test_seal, clock);
        ADD_FAILURE() << "opened an unreachable database";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), ErrorCode::StoreError);
        EXPECT_EQ(std::string(e.what()).find("hunter2"), std::string::npos) << e.what();
    }
}

}  // namespace
}  // namespace kms::store::test
