// A gtest fixture holding one LmdbStore in a temporary directory, plus helpers to assert
// kms::Error codes and to edit the LMDB files behind the store's back (tamper tests).
#pragma once

#include <gtest/gtest.h>
#include <lmdb.h>

#include <functional>
#include <memory>
#include <string>

#include "domain/error.hpp"
#include "store/lmdb_store.hpp"
#include "store_test_support.hpp"

namespace kms::store::test {

/// Runs @p fn and asserts it throws kms::Error with @p code and, when given, a message that
/// contains @p text.
inline void expect_error(const std::function<void()>& fn, ErrorCode code,
                         const std::string& text = {}) {
    try {
        fn();
        ADD_FAILURE() << "no exception; expected " << error_code_name(code);
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), code) << e.what();
        if (!text.empty()) {
            EXPECT_NE(std::string(e.what()).find(text), std::string::npos) << e.what();
        }
    }
}

/// Opens the environment in @p dir directly (the store must be closed) and runs @p edit in
/// one committed write transaction with a handle of the named database @p db.
inline void edit_raw(const std::string& dir, const char* db,
                     const std::function<void(MDB_txn*, MDB_dbi)>& edit) {
    MDB_env* env = nullptr;
    ASSERT_EQ(mdb_env_create(&env), 0);
    ASSERT_EQ(mdb_env_set_maxdbs(env, 16), 0);
    ASSERT_EQ(mdb_env_open(env, dir.c_str(), 0, 0600), 0);
    MDB_txn* txn = nullptr;
    ASSERT_EQ(mdb_txn_begin(env, nullptr, 0, &txn), 0);
    MDB_dbi dbi = 0;
    ASSERT_EQ(mdb_dbi_open(txn, db, 0, &dbi), 0);
    edit(txn, dbi);
    ASSERT_EQ(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
}

class StoreTest : public ::testing::Test {
  protected:
    std::unique_ptr<LmdbStore> open_store(LmdbOptions options = {}) {
        if (options.path.empty()) options.path = dir;
        return LmdbStore::open(std::move(options), &test_seal, clock);
    }
    void SetUp() override { store = open_store(); }

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
    std::unique_ptr<LmdbStore> store;
};

}  // namespace kms::store::test
