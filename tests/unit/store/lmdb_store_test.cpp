// What only the LMDB backend has: opening and file modes, one open per directory, schema
// versions and migration in the environment, tamper detection on the LMDB files and hot
// backup. The behaviour both backends share is in store_contract_test.cpp.
#include <sys/stat.h>

#include <filesystem>

#include "store/record_codec.hpp"
#include "store_fixture.hpp"

namespace kms::store::test {
namespace {

using core::KeyState;
using core::WriteTxn;

unsigned mode_of(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return 0xFFFF;
    return st.st_mode & 07777;
}

TEST_F(StoreTest, OpenCreatesPrivateDirectoryAndFilesAndWritesSchemaThree) {
    EXPECT_EQ(mode_of(dir), 0700u);
    EXPECT_EQ(mode_of(dir + "/data.mdb"), 0600u);
    EXPECT_EQ(mode_of(dir + "/lock.mdb"), 0600u);
    EXPECT_EQ(text(store->get_setting("schema_version")), "3");
    EXPECT_EQ(store->opened_schema(), 0u);  // created by this open: nothing migrated
    EXPECT_EQ(LmdbStore::current_schema(), 3u);
    EXPECT_EQ(store->path(), dir);
    EXPECT_EQ(store->key_count(), 0u);
    const core::AuditHead head = store->audit_head();
    EXPECT_EQ(head.seq, 0u);
    EXPECT_EQ(head.hash, Bytes(32, 0));
    EXPECT_TRUE(store->probe());
}

TEST_F(StoreTest, OptionsAndSealerAreValidated) {
    expect_error([&] { LmdbStore(LmdbOptions{}, &test_seal, clock); }, ErrorCode::InvalidArgument);
    expect_error(
        [&] {
            LmdbStore(LmdbOptions{tmp.sub("x"), 1 << 20, 8, 0}, &test_seal, clock);
        },
        ErrorCode::InvalidArgument);
    expect_error([&] { LmdbStore(LmdbOptions{tmp.sub("y")}, core::AuditSealer{}, clock); },
                 ErrorCode::InvalidArgument, "sealer");
}

TEST_F(StoreTest, SecondOpenOfTheSameDirectoryInOneProcessIsRefused) {
    expect_error([&] { open_store(); }, ErrorCode::StoreError, "already open in this process");
    // The refusal did not disturb the open store.
    put_key(make_key(1, "a"));
    EXPECT_EQ(store->key_count(), 1u);
}

TEST_F(StoreTest, NewerSchemaIsRefusedOnOpen) {
    store.reset();
    edit_raw(dir, "meta", [](MDB_txn* txn, MDB_dbi dbi) {
        MDB_val k{14, const_cast<char*>("schema_version")};
        MDB_val v{1, const_cast<char*>("4")};
        ASSERT_EQ(mdb_put(txn, dbi, &k, &v, 0), 0);
    });
    expect_error([&] { open_store(); }, ErrorCode::StoreError,
                 "store schema 4 is newer than this kmsd (3)");
}

TEST_F(StoreTest, SchemaTwoStoreIsMigratedToThreeWithTheManagedObjectsTable) {
    store->write([](core::WriteTxn& t) { t.put(core::Table::Policies, "p", as_view("policy")); });
    store.reset();
    edit_raw(dir, "meta", [](MDB_txn* txn, MDB_dbi dbi) {
        MDB_val k{14, const_cast<char*>("schema_version")};
        MDB_val v{1, const_cast<char*>("2")};
        ASSERT_EQ(mdb_put(txn, dbi, &k, &v, 0), 0);
    });
    store = open_store();
    EXPECT_EQ(text(store->get_setting("schema_version")), "3");
    EXPECT_EQ(store->opened_schema(), 2u);  // kmsd logs "store schema 2 migrated to 3"
    EXPECT_EQ(text(store->get(core::Table::Policies, "p")), "policy");
    store->write(
        [](core::WriteTxn& t) { t.put(core::Table::ManagedObjects, "o-1", as_view("object")); });
    EXPECT_EQ(text(store->get(core::Table::ManagedObjects, "o-1")), "object");
}

TEST_F(StoreTest, SchemaOneStoreIsMigratedToThreeWithItsRecordTables) {
    store.reset();
    edit_raw(dir, "meta", [](MDB_txn* txn, MDB_dbi dbi) {
        MDB_val k{14, const_cast<char*>("schema_version")};
        MDB_val v{1, const_cast<char*>("1")};
        ASSERT_EQ(mdb_put(txn, dbi, &k, &v, 0), 0);
    });
    store = open_store();
    EXPECT_EQ(text(store->get_setting("schema_version")), "3");
    EXPECT_EQ(store->opened_schema(), 1u);  // what kmsd logs as "store schema 1 migrated to 3"
    store->write([](core::WriteTxn& t) {
        t.put(core::Table::Certificates, "0A", as_view("cert"));
        t.put(core::Table::Certificates, "0B", as_view("other"));
        t.put(core::Table::Policies, "0A", as_view("policy"));
    });
    EXPECT_EQ(text(store->get(core::Table::Certificates, "0A")), "cert");
    EXPECT_FALSE(store->get(core::Table::Approvals, "0A").has_value());
    const auto all = store->scan(core::Table::Certificates, "", 10);
    ASSERT_EQ(all.size(), 2u);
    const auto after = store->scan(core::Table::Certificates, "0A", 10);
    ASSERT_EQ(after.size(), 1u);
    EXPECT_EQ(after[0].first, "0B");
    store->write([](core::WriteTxn& t) { t.erase(core::Table::Certificates, "0A"); });
    EXPECT_EQ(store->scan(core::Table::Certificates, "", 10).size(), 1u);
    expect_error(
        [&] { store->write([](core::WriteTxn& t) { t.put(core::Table::Policies, "", {}); }); },
        ErrorCode::InvalidArgument, "record key must have 1 to 255 bytes");
}

TEST_F(StoreTest, GarbledSchemaVersionIsAnIntegrityError) {
    store.reset();
    edit_raw(dir, "meta", [](MDB_txn* txn, MDB_dbi dbi) {
        MDB_val k{14, const_cast<char*>("schema_version")};
        MDB_val v{2, const_cast<char*>("1x")};
        ASSERT_EQ(mdb_put(txn, dbi, &k, &v, 0), 0);
    });
    expect_error([&] { open_store(); }, ErrorCode::Integrity, "schema_version");
}

TEST_F(StoreTest, ACutOffAuditLogStillOpensAndKeepsItsHeadForVerification) {
    // Judging the chain is the audit verification's job; the store must open so that it
    // can run, and must keep the head it had so that the cut shows.
    audit("one");
    audit("two");
    audit("three");
    const core::AuditHead head = store->audit_head();
    store.reset();
    edit_raw(dir, "audit", [](MDB_txn* txn, MDB_dbi dbi) {
        const Bytes key = audit_key(3);
        MDB_val k{key.size(), const_cast<std::uint8_t*>(key.data())};
        ASSERT_EQ(mdb_del(txn, dbi, &k, nullptr), 0);
    });
    store = open_store();
    EXPECT_EQ(store->audit_head().seq, 3u);
    EXPECT_EQ(store->audit_head().hash, head.hash);
    ASSERT_EQ(all_audit().size(), 2u);
    audit("four");  // continues after the head, leaving the gap visible
    const auto records = all_audit();
    ASSERT_EQ(records.size(), 3u);
    EXPECT_EQ(records[2].seq, 4u);
    EXPECT_EQ(records[2].prev_hash, head.hash);
}

TEST_F(StoreTest, AnAuditRecordBeyondTheHeadIsNeverOverwritten) {
    audit("one");
    store.reset();
    edit_raw(dir, "audit", [](MDB_txn* txn, MDB_dbi dbi) {
        const Bytes key = audit_key(2);
        const Bytes value = encode_audit(core::AuditRecord{2, 0, event("planted", ""), {}, {}, {}});
        MDB_val k{key.size(), const_cast<std::uint8_t*>(key.data())};
        MDB_val v{value.size(), const_cast<std::uint8_t*>(value.data())};
        ASSERT_EQ(mdb_put(txn, dbi, &k, &v, 0), 0);
    });
    store = open_store();
    expect_error([&] { audit("two"); }, ErrorCode::Integrity, "already exists");
    EXPECT_EQ(store->audit_head().seq, 1u);
    EXPECT_EQ(store->read_audit(2, 1).at(0).event.action, "planted");
}

TEST_F(StoreTest, HotBackupOpensAsAStoreWithTheSameContent) {
    for (unsigned n = 0; n < 50; ++n) put_key(make_key(n, "key-" + std::to_string(n)));
    audit("backup.test");
    const std::string backup = tmp.sub("backups/b1");
    store->hot_backup(backup);
    EXPECT_EQ(mode_of(backup), 0700u);
    EXPECT_EQ(mode_of(backup + "/data.mdb"), 0600u);

    put_key(make_key(99, "after-backup"));  // not in the copy
    {
        StepClock other_clock;
        LmdbStore copy(LmdbOptions{backup}, &test_seal, other_clock);
        EXPECT_EQ(copy.key_count(), 50u);
        EXPECT_EQ(copy.find_key(key_id(17))->name, "key-17");
        EXPECT_EQ(copy.find_key_id_by_name("key-49"), key_id(49));
        EXPECT_FALSE(copy.find_key(key_id(99)));
        EXPECT_EQ(copy.audit_head().hash, store->audit_head().hash);
        EXPECT_EQ(text(copy.get_setting("schema_version")), "3");
    }
    expect_error([&] { store->hot_backup(backup); }, ErrorCode::InvalidArgument, "must be empty");
    // An existing empty directory is accepted.
    std::filesystem::create_directories(tmp.sub("empty"));
    store->hot_backup(tmp.sub("empty"));
    EXPECT_EQ(mode_of(tmp.sub("empty") + "/data.mdb"), 0600u);
}

}  // namespace
}  // namespace kms::store::test
