// The store's behaviour, one suite run against both backends (LmdbStore and PgStore on a real
// PostgreSQL 15): keys and the name index, principals and the token index, settings, the
// record tables, the audit chain and its seals, listings, use counters, and reopening.
#include "backend_fixture.hpp"

namespace kms::store::test {
namespace {

using core::KeyState;
using core::WriteTxn;

std::vector<std::string> ids(const core::KeyPage& page) {
    std::vector<std::string> out;
    for (const auto& k : page.keys) out.push_back(k.id);
    return out;
}

INSTANTIATE_TEST_SUITE_P(Backends, BackendTest, ::testing::Values(Backend::Lmdb, Backend::Postgres),
                         backend_name);

TEST_P(BackendTest, ANewStoreIsEmptyAtTheCurrentSchema) {
    EXPECT_EQ(text(store->get_setting("schema_version")), "3");
    EXPECT_EQ(store->key_count(), 0u);
    const core::AuditHead head = store->audit_head();
    EXPECT_EQ(head.seq, 0u);
    EXPECT_EQ(head.hash, Bytes(32, 0));
    EXPECT_FALSE(store->get_setting("store/audit_head"));
    EXPECT_TRUE(store->probe());
}

TEST_P(BackendTest, RecordTablesPutGetScanErase) {
    store->write([](core::WriteTxn& t) {
        t.put(core::Table::Certificates, "0B", as_view("other"));
        t.put(core::Table::Certificates, "0A", as_view("cert"));
        t.put(core::Table::Policies, "0A", as_view("policy"));
        EXPECT_EQ(text(t.get(core::Table::Certificates, "0A")), "cert");
    });
    EXPECT_EQ(text(store->get(core::Table::Certificates, "0A")), "cert");
    EXPECT_EQ(text(store->get(core::Table::Policies, "0A")), "policy");
    EXPECT_FALSE(store->get(core::Table::Approvals, "0A").has_value());
    const auto all = store->scan(core::Table::Certificates, "", 10);
    ASSERT_EQ(all.size(), 2u);
    EXPECT_EQ(all[0].first, "0A");
    EXPECT_EQ(text(all[0].second), "cert");
    const auto after = store->scan(core::Table::Certificates, "0A", 10);
    ASSERT_EQ(after.size(), 1u);
    EXPECT_EQ(after[0].first, "0B");
    EXPECT_EQ(store->scan(core::Table::Certificates, "", 1).size(), 1u);
    store->write([](core::WriteTxn& t) {
        t.put(core::Table::Certificates, "0B", as_view("replaced"));
        t.erase(core::Table::Certificates, "0A");
        t.erase(core::Table::Certificates, "never-there");
    });
    const auto left = store->scan(core::Table::Certificates, "", 10);
    ASSERT_EQ(left.size(), 1u);
    EXPECT_EQ(text(left[0].second), "replaced");
    for (const std::string& bad : {std::string(), std::string("a b"), std::string(256, 'k')}) {
        expect_error(
            [&] {
                store->write([&](core::WriteTxn& t) { t.put(core::Table::Policies, bad, {}); });
            },
            ErrorCode::InvalidArgument, "record key");
        expect_error([&] { store->get(core::Table::Policies, bad); }, ErrorCode::InvalidArgument);
    }
}

TEST_P(BackendTest, AFailingCallbackWritesNothingNotEvenItsAuditRecords) {
    audit("before");
    expect_error(
        [&] {
            store->write([&](WriteTxn& txn) {
                txn.put_key(make_key(1, "a"));
                txn.put_setting("s", as_view("v"));
                txn.append_audit(event("key.create", key_id(1)));
                throw Error(ErrorCode::WrongState, "refused after writing");
            });
        },
        ErrorCode::WrongState, "refused after writing");
    EXPECT_FALSE(store->find_key(key_id(1)));
    EXPECT_FALSE(store->find_key_id_by_name("a"));
    EXPECT_FALSE(store->get_setting("s"));
    EXPECT_EQ(store->audit_head().seq, 1u);
    audit("after");
    expect_chain(all_audit(), 1, Bytes(32, 0));
}

TEST_P(BackendTest, AFailingSealerFailsTheWriteClosed) {
    // The sealer is the HSM in kmsd: when it fails, neither the change nor its record lands.
    std::unique_ptr<core::MetadataStore> failing;
    store.reset();
    auto sealer = [](ByteView) -> Bytes { throw Error(ErrorCode::HsmUnavailable, "no HSM"); };
    if (GetParam() == Backend::Lmdb)
        failing = LmdbStore::open(LmdbOptions{dir}, sealer, clock);
    else
        failing = pg::PgStore::open(pg_options(), sealer, clock);
    expect_error(
        [&] {
            failing->write([&](WriteTxn& txn) {
                txn.put_key(make_key(1, "a"));
                txn.append_audit(event("key.create", key_id(1)));
            });
        },
        ErrorCode::HsmUnavailable);
    EXPECT_FALSE(failing->find_key(key_id(1)));
    EXPECT_EQ(failing->audit_head().seq, 0u);
    // A write without audit records needs no seal.
    failing->write([&](WriteTxn& txn) { txn.put_key(make_key(2, "b")); });
    EXPECT_TRUE(failing->find_key(key_id(2)));
}

TEST_P(BackendTest, WriteQueuedCommitsAndReportsItsOutcome) {
    auto ok = store->write_queued([](WriteTxn& txn) { txn.put_key(make_key(1, "a")); });
    auto bad = store->write_queued([](WriteTxn& txn) { txn.put_key(make_key(2, "a")); });
    audit("later");  // a later write(): both queued writes are decided once it returns
    ok->wait();
    expect_error([&] { bad->wait(); }, ErrorCode::Conflict, "name already in use");
    EXPECT_EQ(store->find_key_id_by_name("a"), key_id(1));
    EXPECT_FALSE(store->find_key(key_id(2)));
}

TEST_P(BackendTest, PutAndFindKey) {
    core::KeyRecord k = make_key(7, "payments/zpk");
    k.counters.mac = 9;
    put_key(k);
    const auto found = store->find_key(k.id);
    ASSERT_TRUE(found);
    EXPECT_EQ(found->name, "payments/zpk");
    EXPECT_EQ(found->state, KeyState::Active);
    EXPECT_EQ(found->versions.at(0).block, Bytes(40, 7));
    EXPECT_EQ(found->counters.mac, 9u);
    EXPECT_EQ(store->find_key_id_by_name("payments/zpk"), k.id);
    EXPECT_EQ(store->key_count(), 1u);
    EXPECT_FALSE(store->find_key(key_id(8)));
    EXPECT_FALSE(store->find_key(""));
    EXPECT_FALSE(store->find_key_id_by_name("payments/zmk"));
}

TEST_P(BackendTest, WriteTxnReadsItsOwnWrites) {
    const core::KeyRecord k = make_key(1, "a");
    store->write([&](WriteTxn& txn) {
        EXPECT_FALSE(txn.find_key(k.id));
        txn.put_key(k);
        ASSERT_TRUE(txn.find_key(k.id));
        EXPECT_EQ(txn.find_key(k.id)->name, "a");
        EXPECT_EQ(txn.find_key_id_by_name("a"), k.id);
        txn.put_setting("s", as_view("v"));
        EXPECT_EQ(text(txn.get_setting("s")), "v");
        txn.append_audit(event("key.create", k.id));
        txn.append_audit(event("key.activate", k.id));
    });
    const auto records = all_audit();
    ASSERT_EQ(records.size(), 2u);
    expect_chain(records, 1, Bytes(32, 0));
}

TEST_P(BackendTest, NameOfALiveKeyIsUnique) {
    put_key(make_key(1, "shared"));
    expect_error([&] { put_key(make_key(2, "shared")); }, ErrorCode::Conflict,
                 "name already in use");
    EXPECT_FALSE(store->find_key(key_id(2)));
    EXPECT_EQ(store->find_key_id_by_name("shared"), key_id(1));
    // Re-putting the owner under its own name is fine.
    core::KeyRecord again = make_key(1, "shared");
    again.state = KeyState::Suspended;
    put_key(again);
    EXPECT_EQ(store->find_key(key_id(1))->state, KeyState::Suspended);
}

TEST_P(BackendTest, ACaughtConflictLeavesNothingHalfDone) {
    put_key(make_key(1, "taken"));
    put_key(make_key(2, "mine"));
    store->write([&](WriteTxn& txn) {
        core::KeyRecord rename = make_key(2, "taken");
        EXPECT_THROW(txn.put_key(rename), Error);
    });
    EXPECT_EQ(store->find_key_id_by_name("mine"), key_id(2));
    EXPECT_EQ(store->find_key_id_by_name("taken"), key_id(1));
    EXPECT_EQ(store->find_key(key_id(2))->name, "mine");
}

TEST_P(BackendTest, DestroyReleasesTheNameAndKeepsATombstone) {
    put_key(make_key(1, "zmk"));
    core::KeyRecord destroyed = make_key(1, "zmk", KeyState::Destroyed);
    destroyed.versions[0].block.clear();
    put_key(destroyed);
    EXPECT_FALSE(store->find_key_id_by_name("zmk"));
    ASSERT_TRUE(store->find_key(key_id(1)));
    EXPECT_EQ(store->find_key(key_id(1))->state, KeyState::Destroyed);

    put_key(make_key(2, "zmk"));  // the name is free for a new key
    EXPECT_EQ(store->find_key_id_by_name("zmk"), key_id(2));
    // Rewriting the tombstone (e.g. a counter flush) does not take the name back.
    destroyed.counters.decrypt = 1;
    put_key(destroyed);
    EXPECT_EQ(store->find_key_id_by_name("zmk"), key_id(2));
    // DestroyedCompromised releases too.
    put_key(make_key(2, "zmk", KeyState::DestroyedCompromised));
    EXPECT_FALSE(store->find_key_id_by_name("zmk"));
    EXPECT_EQ(store->key_count(), 2u);
}

TEST_P(BackendTest, RenameMovesTheNameIndex) {
    put_key(make_key(1, "old"));
    put_key(make_key(1, "new"));
    EXPECT_FALSE(store->find_key_id_by_name("old"));
    EXPECT_EQ(store->find_key_id_by_name("new"), key_id(1));
    put_key(make_key(2, "old"));  // the old name is free
    EXPECT_EQ(store->find_key_id_by_name("old"), key_id(2));
}

TEST_P(BackendTest, KeyIdsAndLiveNamesMustBeUsableIndexKeys) {
    expect_error([&] { put_key(make_key(1, "")); }, ErrorCode::InvalidArgument, "key name");
    core::KeyRecord no_id = make_key(1, "n");
    no_id.id.clear();
    expect_error([&] { put_key(no_id); }, ErrorCode::InvalidArgument, "key id");
    expect_error([&] { put_key(make_key(1, std::string(256, 'n'))); }, ErrorCode::InvalidArgument);
    EXPECT_EQ(store->key_count(), 0u);
}

TEST_P(BackendTest, PrincipalsAndTheTokenHashIndex) {
    const Bytes t1(32, 0x01), t2(32, 0x02);
    put_principal(make_principal("alice", t1));
    put_principal(make_principal("certonly", {}));
    ASSERT_TRUE(store->find_principal("alice"));
    EXPECT_EQ(store->find_principal("alice")->roles, 0x3u);
    EXPECT_EQ(store->find_principal_by_token_hash(t1)->name, "alice");
    EXPECT_FALSE(store->find_principal_by_token_hash(Bytes{}));

    put_principal(make_principal("alice", t2));  // token rotated
    EXPECT_FALSE(store->find_principal_by_token_hash(t1));
    EXPECT_EQ(store->find_principal_by_token_hash(t2)->name, "alice");

    expect_error([&] { put_principal(make_principal("bob", t2)); }, ErrorCode::Conflict, "token");
    EXPECT_FALSE(store->find_principal("bob"));

    put_principal(make_principal("alice", {}));  // token revoked
    EXPECT_FALSE(store->find_principal_by_token_hash(t2));
    put_principal(make_principal("bob", t2));  // now free
    EXPECT_EQ(store->find_principal_by_token_hash(t2)->name, "bob");

    const auto all = store->list_principals();
    ASSERT_EQ(all.size(), 3u);
    EXPECT_EQ(all[0].name, "alice");
    EXPECT_EQ(all[1].name, "bob");
    EXPECT_EQ(all[2].name, "certonly");
}

TEST_P(BackendTest, SettingsPutGetDeleteAndListByPrefix) {
    store->write([&](WriteTxn& txn) {
        txn.put_setting("intent/b", as_view("2"));
        txn.put_setting("intent/a", as_view("1"));
        txn.put_setting("intentx", as_view("x"));
        txn.put_setting("other", Bytes{0x00, 0xFF});
    });
    const auto intents = store->list_settings("intent/");
    ASSERT_EQ(intents.size(), 2u);
    EXPECT_EQ(intents[0].first, "intent/a");
    EXPECT_EQ(intents[0].second, (Bytes{'1'}));
    EXPECT_EQ(intents[1].first, "intent/b");
    EXPECT_EQ(store->get_setting("other"), (Bytes{0x00, 0xFF}));
    EXPECT_TRUE(store->list_settings("zzz").empty());

    std::vector<std::string> names;
    for (const auto& [name, value] : store->list_settings("")) names.push_back(name);
    EXPECT_EQ(names, (std::vector<std::string>{"intent/a", "intent/b", "intentx", "other",
                                               "schema_version"}));

    store->write([&](WriteTxn& txn) {
        txn.delete_setting("intent/a");
        txn.delete_setting("never-there");
    });
    EXPECT_FALSE(store->get_setting("intent/a"));
    EXPECT_EQ(store->list_settings("intent/").size(), 1u);
}

TEST_P(BackendTest, ReservedAndMalformedSettingNamesAreRefused) {
    for (const std::string name : {"schema_version", "store/audit_head", "store/x", "", "a b"}) {
        SCOPED_TRACE(name);
        expect_error(
            [&] { store->write([&](WriteTxn& txn) { txn.put_setting(name, as_view("9")); }); },
            ErrorCode::InvalidArgument);
        expect_error([&] { store->write([&](WriteTxn& txn) { txn.delete_setting(name); }); },
                     ErrorCode::InvalidArgument);
    }
    EXPECT_EQ(text(store->get_setting("schema_version")), "3");
}

TEST_P(BackendTest, AuditRecordsCarryClockTimeChainAndSeal) {
    const std::int64_t t0 = clock.peek();
    audit("key.create", "k-1");
    audit("key.activate", "k-1");
    audit("auth");
    const auto records = all_audit();
    ASSERT_EQ(records.size(), 3u);
    expect_chain(records, 1, Bytes(32, 0));
    EXPECT_EQ(records[0].time_ms, t0);
    EXPECT_EQ(records[1].time_ms, t0 + 1);
    EXPECT_EQ(records[2].time_ms, t0 + 2);
    EXPECT_EQ(records[0].event.actor, "alice");
    EXPECT_EQ(records[0].event.action, "key.create");
    EXPECT_EQ(records[0].event.target, "k-1");
    EXPECT_EQ(records[0].event.outcome, core::AuditOutcome::Success);
    EXPECT_EQ(records[0].event.detail, "detail");
    EXPECT_EQ(records[2].event.target, "");

    const core::AuditHead head = store->audit_head();
    EXPECT_EQ(head.seq, 3u);
    EXPECT_EQ(head.hash, records[2].hash);

    const auto middle = store->read_audit(2, 1);
    ASSERT_EQ(middle.size(), 1u);
    EXPECT_EQ(middle[0].seq, 2u);
    EXPECT_EQ(store->read_audit(3, 10).size(), 1u);
    EXPECT_TRUE(store->read_audit(4, 10).empty());
    EXPECT_TRUE(store->read_audit(1, 0).empty());
}

TEST_P(BackendTest, ListKeysPagesInIdOrder) {
    for (unsigned n = 0; n < 25; ++n) put_key(make_key(n, "key-" + std::to_string(100 - n)));
    const core::KeyPage p1 = store->list_keys({}, "", 10);
    ASSERT_EQ(p1.keys.size(), 10u);
    EXPECT_EQ(p1.keys.front().id, key_id(0));
    EXPECT_EQ(p1.next_after, key_id(9));
    const core::KeyPage p2 = store->list_keys({}, p1.next_after, 10);
    EXPECT_EQ(p2.keys.front().id, key_id(10));
    EXPECT_EQ(p2.next_after, key_id(19));
    const core::KeyPage p3 = store->list_keys({}, p2.next_after, 10);
    ASSERT_EQ(p3.keys.size(), 5u);
    EXPECT_EQ(p3.keys.back().id, key_id(24));
    EXPECT_EQ(p3.next_after, "");
    // An after_id that is not a stored id starts after it.
    EXPECT_EQ(store->list_keys({}, key_id(4) + "0", 1).keys.at(0).id, key_id(5));
    // A page that ends exactly at the last key has no next_after.
    const core::KeyPage last = store->list_keys({}, key_id(14), 10);
    EXPECT_EQ(last.keys.size(), 10u);
    EXPECT_EQ(last.next_after, "");

    expect_error([&] { store->list_keys({}, "", 0); }, ErrorCode::InvalidArgument);
    expect_error([&] { store->list_keys({}, "", 1001); }, ErrorCode::InvalidArgument);
    EXPECT_EQ(store->list_keys({}, "", 1000).keys.size(), 25u);
}

TEST_P(BackendTest, ListKeysFilters) {
    using core::Algorithm;
    put_key(make_key(1, "pay/b", KeyState::Active, Algorithm::Aes128));
    put_key(make_key(2, "pay/a", KeyState::PreActive, Algorithm::Aes256));
    put_key(make_key(3, "card/x", KeyState::Active, Algorithm::Des3_2k));
    put_key(make_key(4, "pay/c", KeyState::Active, Algorithm::Aes256));
    put_key(make_key(5, "pay/d", KeyState::Destroyed, Algorithm::Aes256));
    put_key(make_key(6, "payroll", KeyState::Active, Algorithm::Aes256));

    core::KeyFilter state;
    state.state = KeyState::Active;
    EXPECT_EQ(ids(store->list_keys(state, "", 100)),
              (std::vector<std::string>{key_id(1), key_id(3), key_id(4), key_id(6)}));

    core::KeyFilter algorithm;
    algorithm.algorithm = Algorithm::Aes256;
    EXPECT_EQ(ids(store->list_keys(algorithm, "", 100)),
              (std::vector<std::string>{key_id(2), key_id(4), key_id(5), key_id(6)}));

    // Prefix: live keys from the name index, returned by id, not by name.
    core::KeyFilter prefix;
    prefix.name_prefix = "pay/";
    EXPECT_EQ(ids(store->list_keys(prefix, "", 100)),
              (std::vector<std::string>{key_id(1), key_id(2), key_id(4)}));
    const core::KeyPage first = store->list_keys(prefix, "", 2);
    EXPECT_EQ(ids(first), (std::vector<std::string>{key_id(1), key_id(2)}));
    EXPECT_EQ(first.next_after, key_id(2));
    const core::KeyPage second = store->list_keys(prefix, first.next_after, 2);
    EXPECT_EQ(ids(second), (std::vector<std::string>{key_id(4)}));
    EXPECT_EQ(second.next_after, "");

    core::KeyFilter combined;
    combined.name_prefix = "pay";
    combined.state = KeyState::Active;
    combined.algorithm = Algorithm::Aes256;
    EXPECT_EQ(ids(store->list_keys(combined, "", 100)),
              (std::vector<std::string>{key_id(4), key_id(6)}));

    // A destroyed state with a prefix finds tombstones by their recorded name.
    core::KeyFilter tombstones;
    tombstones.name_prefix = "pay/";
    tombstones.state = KeyState::Destroyed;
    EXPECT_EQ(ids(store->list_keys(tombstones, "", 100)), (std::vector<std::string>{key_id(5)}));

    core::KeyFilter nothing;
    nothing.name_prefix = "zzz";
    const core::KeyPage empty = store->list_keys(nothing, "", 100);
    EXPECT_TRUE(empty.keys.empty());
    EXPECT_EQ(empty.next_after, "");
}

TEST_P(BackendTest, AddUseCountersAccumulatesAndAudits) {
    put_key(make_key(1, "a"));
    put_key(make_key(2, "b"));
    core::UseCounters d1;
    d1.mac = 12;
    d1.encrypt = 3;
    core::UseCounters d2;
    d2.verify = 1;
    store->add_use_counters({{key_id(1), d1}, {"k-unknown", d1}, {key_id(2), {}}});
    store->add_use_counters({{key_id(1), d1}, {key_id(2), d2}});
    store->add_use_counters({});

    const auto k1 = store->find_key(key_id(1));
    EXPECT_EQ(k1->counters.mac, 24u);
    EXPECT_EQ(k1->counters.encrypt, 6u);
    EXPECT_EQ(k1->counters.decrypt, 0u);
    EXPECT_EQ(store->find_key(key_id(2))->counters.verify, 1u);
    EXPECT_EQ(store->find_key(key_id(2))->counters.mac, 0u);
    EXPECT_EQ(store->find_key_id_by_name("a"), key_id(1));

    const auto records = all_audit();
    ASSERT_EQ(records.size(), 3u);
    expect_chain(records, 1, Bytes(32, 0));
    EXPECT_EQ(records[0].event.actor, "kmsd");
    EXPECT_EQ(records[0].event.action, "key.use");
    EXPECT_EQ(records[0].event.target, key_id(1));
    EXPECT_EQ(records[0].event.outcome, core::AuditOutcome::Success);
    EXPECT_EQ(records[0].event.detail, "encrypt=3 mac=12");
    EXPECT_EQ(records[1].event.target, key_id(1));
    EXPECT_EQ(records[2].event.target, key_id(2));
    EXPECT_EQ(records[2].event.detail, "verify=1");
}

TEST_P(BackendTest, DataSurvivesCloseAndReopenAndTheChainContinues) {
    put_key(make_key(1, "a"));
    put_principal(make_principal("alice", Bytes(32, 9)));
    store->write([&](WriteTxn& txn) { txn.put_setting("ca/cert", as_view("PEM")); });
    audit("one");
    audit("two");
    const core::AuditHead before = store->audit_head();
    store.reset();

    store = open_store();
    EXPECT_EQ(store->find_key(key_id(1))->name, "a");
    EXPECT_EQ(store->find_key_id_by_name("a"), key_id(1));
    EXPECT_EQ(store->find_principal_by_token_hash(Bytes(32, 9))->name, "alice");
    EXPECT_EQ(text(store->get_setting("ca/cert")), "PEM");
    EXPECT_EQ(store->audit_head().hash, before.hash);
    audit("three");
    const auto records = all_audit();
    ASSERT_EQ(records.size(), 3u);
    expect_chain(records, 1, Bytes(32, 0));
    EXPECT_EQ(records[2].prev_hash, before.hash);
}

}  // namespace
}  // namespace kms::store::test
