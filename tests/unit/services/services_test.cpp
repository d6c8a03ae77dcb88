// Use cases against a real LMDB store and a recording fake HSM (the use cases' own logic:
// roles, lifecycle table, versions, tombstones, caches, audit records). The HSM adapter has its
// own suite against SoftHSM2.
#include <gtest/gtest.h>

#include <lmdb.h>

#include <atomic>
#include <functional>
#include <thread>

#include "crypto/host_crypto.hpp"
#include "domain/error.hpp"
#include "service_fixture.hpp"
#include "services/audit_service.hpp"
#include "services/key_lifecycle.hpp"
#include "services/key_operations.hpp"
#include "services/principals.hpp"
#include "store/record_codec.hpp"

namespace kms::core {
namespace {

using namespace test_support;

class Services : public ServiceFixture<FakeHsm, SystemClock> {
  protected:
    Services() : ServiceFixture("services") {}
    KeyRecord make(const std::string& name, Algorithm a = Algorithm::Aes128) {
        KeyLifecycle k(*m_ctx);
        return k.create(m_admin,
                        CreateKeyRequest{name, a, UsageMask().add(Usage::Mac), true, false});
    }
    void tamper(const std::function<bool(AuditRecord&)>& edit);

    Principal m_admin = person("admin", Role::Admin);
};

TEST_F(Services, CreateStoresTheBlockAndAnAuditRecord) {
    const auto k = make("svc-a");
    EXPECT_EQ(k.state, KeyState::Active);
    ASSERT_EQ(k.versions.size(), 1u);
    const std::string expected_block = k.id + "/1";
    EXPECT_EQ(k.versions[0].block, Bytes(expected_block.begin(), expected_block.end()));
    const auto stored = m_store->find_key(k.id);
    ASSERT_TRUE(stored);
    EXPECT_EQ(stored->versions[0].block, k.versions[0].block);
    const auto a = audit();
    ASSERT_EQ(a.size(), 1u);
    EXPECT_EQ(a[0].event.action, "key.create");
    EXPECT_EQ(a[0].event.target, k.id);
    EXPECT_NE(a[0].event.detail.find("kcv=010203"), std::string::npos);
}

TEST_F(Services, UsageThatTheAlgorithmCannotHaveIsRefusedBeforeTheHsm) {
    KeyLifecycle k(*m_ctx);
    EXPECT_THROW(k.create(m_admin, CreateKeyRequest{"svc-ec", Algorithm::EcP256,
                                                    UsageMask().add(Usage::Encrypt), true, false}),
                 Error);
    EXPECT_EQ(m_hsm.generated.load(), 0);
}

TEST_F(Services, RotateAddsAVersionAndMacNamesIt) {
    const auto k = make("svc-rot");
    KeyLifecycle life(*m_ctx);
    KeyOperations ops(*m_ctx);
    const auto m1 = ops.mac(m_admin, k.id, MacAlgorithm::AesCmac, as_view("x"));
    const auto r = life.rotate(m_admin, k.id);
    EXPECT_EQ(r.current().number, 2u);
    const auto m2 = ops.mac(m_admin, k.id, MacAlgorithm::AesCmac, as_view("x"));
    EXPECT_EQ(m1.version, 1u);
    EXPECT_EQ(m2.version, 2u) << "the key cache was invalidated by the rotation";
    EXPECT_NE(m1.mac, m2.mac);
    const auto v1 = ops.verify_mac(m_admin, k.id, MacAlgorithm::AesCmac, as_view("x"), m1.mac, 1u);
    EXPECT_TRUE(v1.valid);
    const auto v2 = ops.verify_mac(m_admin, k.id, MacAlgorithm::AesCmac, as_view("x"), m1.mac, 2u);
    EXPECT_FALSE(v2.valid);
}

TEST_F(Services, DestroyWipesBlocksKeepsTheTombstoneAndForgetsHandles) {
    const auto k = make("svc-destroy");
    KeyLifecycle life(*m_ctx);
    life.rotate(m_admin, k.id);
    EXPECT_THROW(life.destroy(m_admin, k.id, "no"), Error) << "Active keys are deactivated first";
    life.transition(m_admin, k.id, Transition::Deactivate, "retire");
    const auto d = life.destroy(m_admin, k.id, "end");
    EXPECT_EQ(d.state, KeyState::Destroyed);
    const auto stored = m_store->find_key(k.id);
    ASSERT_TRUE(stored);
    ASSERT_EQ(stored->versions.size(), 2u);
    for (const auto& v : stored->versions) {
        EXPECT_TRUE(v.block.empty());
        EXPECT_EQ(v.kcv, (Bytes{1, 2, 3})) << "the tombstone keeps the KCV";
    }
    ASSERT_EQ(m_hsm.forgotten.size(), 1u);
    EXPECT_EQ(m_hsm.forgotten[0], k.id);
    EXPECT_FALSE(m_store->find_key_id_by_name("svc-destroy")) << "the name is free again";
    KeyOperations ops(*m_ctx);
    try {
        ops.mac(m_admin, k.id, MacAlgorithm::AesCmac, as_view("x"));
        FAIL() << "a destroyed key was used";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), ErrorCode::WrongState);
    }
}

TEST_F(Services, RolesAreEnforcedInTheUseCases) {
    Principal auditor{"aud", static_cast<std::uint32_t>(Role::Auditor), {}, 0, "", false};
    Principal plugin{"plg", static_cast<std::uint32_t>(Role::Plugin), {}, 0, "", false};
    const auto k = make("svc-roles");
    KeyLifecycle life(*m_ctx);
    KeyOperations ops(*m_ctx);
    auto code = [](auto&& fn) {
        try {
            fn();
        } catch (const Error& e) {
            return e.code();
        }
        return ErrorCode::Internal;
    };
    EXPECT_EQ(code([&] { life.rotate(auditor, k.id); }), ErrorCode::Forbidden);
    EXPECT_EQ(code([&] { ops.mac(auditor, k.id, MacAlgorithm::AesCmac, as_view("x")); }),
              ErrorCode::Forbidden);
    // A plugin without a policy may do nothing with keys (policies_test.cpp has the rest).
    EXPECT_EQ(code([&] { ops.mac(plugin, k.id, MacAlgorithm::AesCmac, as_view("x")); }),
              ErrorCode::Forbidden);
    EXPECT_EQ(code([&] { life.transition(plugin, k.id, Transition::Suspend, ""); }),
              ErrorCode::Forbidden);
    Principal disabled = m_admin;
    disabled.disabled = true;
    EXPECT_EQ(code([&] { life.get(disabled, k.id); }), ErrorCode::Forbidden);
}

TEST_F(Services, ConcurrentRotationsNeverLoseAVersion) {
    const auto k = make("svc-race");
    KeyLifecycle life(*m_ctx);
    std::atomic<int> ok{0}, conflicts{0};
    std::vector<std::thread> ts;
    for (int i = 0; i < 8; ++i)
        ts.emplace_back([&] {
            try {
                life.rotate(m_admin, k.id);
                ++ok;
            } catch (const Error& e) {
                if (e.code() == ErrorCode::Conflict) ++conflicts;
            }
        });
    for (auto& t : ts) t.join();
    const auto stored = m_store->find_key(k.id);
    EXPECT_EQ(ok + conflicts, 8);
    EXPECT_EQ(stored->versions.size(), 1u + ok);
    for (std::size_t i = 0; i < stored->versions.size(); ++i)
        EXPECT_EQ(stored->versions[i].number, i + 1);
}

TEST_F(Services, UseCountersAreCountedAndGivenBack) {
    const auto k = make("svc-count");
    KeyOperations ops(*m_ctx);
    for (int i = 0; i < 5; ++i) ops.mac(m_admin, k.id, MacAlgorithm::AesCmac, as_view("x"));
    EXPECT_EQ(m_counters.pending(k.id).mac, 5u);
    auto taken = m_counters.take();
    EXPECT_EQ(m_counters.pending(k.id).mac, 0u);
    m_counters.restore(taken);
    EXPECT_EQ(m_counters.pending(k.id).mac, 5u);
    m_store->add_use_counters(m_counters.take());
    m_cache.invalidate(k.id);
    KeyLifecycle life(*m_ctx);
    EXPECT_EQ(life.get(m_admin, k.id).counters.mac, 5u);
    EXPECT_EQ(audit().back().event.action, "key.use");
}

TEST(KeyCache, AReaderThatLoadedBeforeAWriteCannotReinsertStaleData) {
    KeyCache cache;
    auto old = std::make_shared<KeyRecord>();
    old->id = "k-1";
    const auto gen = cache.generation();  // reader starts loading
    cache.invalidate("k-1");              // a write commits meanwhile
    cache.insert(old, gen);               // the reader finishes with old data
    EXPECT_EQ(cache.get("k-1"), nullptr);
    cache.insert(old, cache.generation());
    EXPECT_NE(cache.get("k-1"), nullptr);
}

TEST_F(Services, PrincipalTokensAuthenticateAndReissueRevokesTheOldOne) {
    PrincipalService p(*m_ctx);
    const auto first = p.bootstrap_admin("admin");
    ASSERT_TRUE(p.authenticate(first.token));
    EXPECT_EQ(p.authenticate(first.token)->name, "admin");
    const auto second = p.bootstrap_admin("admin");
    EXPECT_FALSE(p.authenticate(first.token)) << "a re-issued token replaces the old one";
    EXPECT_TRUE(p.authenticate(second.token));
    EXPECT_FALSE(p.authenticate("kms_" + std::string(64, 'g')));
    EXPECT_FALSE(p.authenticate("short"));
    const auto officer = p.create(m_admin, "officer", static_cast<std::uint32_t>(Role::KeyOfficer));
    EXPECT_EQ(p.authenticate(officer.token)->roles, static_cast<std::uint32_t>(Role::KeyOfficer));
    EXPECT_THROW(p.create(m_admin, "officer", static_cast<std::uint32_t>(Role::Auditor)), Error);
}

TEST_F(Services, AuditVerificationWalksTheChainAndChecksSeals) {
    make("svc-audit-1");
    make("svc-audit-2");
    AuditService a(*m_ctx);
    const auto ok = a.verify(m_admin);
    EXPECT_TRUE(ok.valid) << ok.problem;
    EXPECT_EQ(ok.records, 2u);
    EXPECT_TRUE(a.record_denial("-", "auth", "", "unauthenticated"));
    const auto v = a.verify(m_admin);
    EXPECT_TRUE(v.valid);
    EXPECT_EQ(v.records, 3u);
    EXPECT_EQ(audit().back().event.outcome, AuditOutcome::Denied);
}

/// Closes the store, rewrites audit records through raw LMDB as an attacker with file access
/// would (@p edit gets every record; it returns whether it changed it), and reopens the store
/// under a new m_ctx: services built on the old one must not be used after.
void Services::tamper(const std::function<bool(AuditRecord&)>& edit) {
    m_ctx.reset();
    m_store.reset();
    MDB_env* env = nullptr;
    ASSERT_EQ(mdb_env_create(&env), 0);
    mdb_env_set_maxdbs(env, 32);
    mdb_env_set_mapsize(env, 64 << 20);
    ASSERT_EQ(mdb_env_open(env, (m_dir + "/store").c_str(), 0, 0600), 0);
    MDB_txn* txn = nullptr;
    ASSERT_EQ(mdb_txn_begin(env, nullptr, 0, &txn), 0);
    MDB_dbi audit = 0;
    ASSERT_EQ(mdb_dbi_open(txn, "audit", 0, &audit), 0);
    for (std::uint64_t seq = 1;; ++seq) {
        Bytes k = store::audit_key(seq);
        MDB_val key{k.size(), k.data()}, val{};
        if (mdb_get(txn, audit, &key, &val) != 0) break;
        AuditRecord r = store::decode_audit(
            ByteView(static_cast<const std::uint8_t*>(val.mv_data), val.mv_size));
        if (!edit(r)) continue;
        Bytes v = store::encode_audit(r);
        MDB_val nv{v.size(), v.data()};
        ASSERT_EQ(mdb_put(txn, audit, &key, &nv, 0), 0);
    }
    ASSERT_EQ(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
    store::LmdbOptions o;
    o.path = m_dir + "/store";
    o.map_size = 64 << 20;
    m_store = store::LmdbStore::open(o, [this](ByteView h) { return m_hsm.audit_seal(h); },
                                     m_clock);
    m_ctx = std::make_unique<ServiceContext>(
        ServiceContext{*m_store, m_hsm, m_clock, m_cache, m_counters});
}

TEST_F(Services, AuditRecordsOfOneBatchShareOneSealThatVerifies) {
    // Eight concurrent creations: their records commit in fewer batches than records.
    std::vector<std::thread> threads;
    for (int i = 0; i < 8; ++i)
        threads.emplace_back([this, i] { make("svc-batch-" + std::to_string(i)); });
    for (auto& t : threads) t.join();
    const auto records = audit();
    std::size_t sealed = 0;
    for (const auto& r : records) sealed += !r.seal.empty();
    EXPECT_FALSE(records.back().seal.empty());
    AuditService a(*m_ctx);
    const auto v = a.verify(m_admin);
    EXPECT_TRUE(v.valid) << v.problem;
    EXPECT_EQ(v.records, records.size());
    std::printf("[ info ] %zu records, %zu seals\n", records.size(), sealed);
}

TEST_F(Services, AnEditedRecordInsideABatchIsFoundThroughTheBatchSeal) {
    // Records 2..4 form one batch (only 4 sealed, naming 2); the attacker edits record 3 and
    // recomputes the hashes after it. The seal of record 4 no longer verifies: records 2 to 4
    // are reported, from 2.
    make("svc-edit-1");
    const std::uint64_t base = audit().size();
    m_store->write([](WriteTxn& t) {
        for (int i = 0; i < 3; ++i)
            t.append_audit(AuditEvent{"alice", "batched", std::to_string(i),
                                      AuditOutcome::Success, ""});
    });
    ASSERT_TRUE(audit()[base].seal.empty());
    ASSERT_EQ(audit_seal_parts(audit()[base + 2])->first_seq, base + 1);
    Bytes prev;
    tamper([&](AuditRecord& r) {
        if (r.seq < base + 2) return false;
        if (r.seq == base + 2) r.event.actor = "mallory";
        else r.prev_hash = prev;
        r.hash = crypto::sha256(canonical_audit_bytes(r));
        prev = r.hash;
        return true;
    });
    AuditService a(*m_ctx);
    const auto v = a.verify(m_admin);
    EXPECT_FALSE(v.valid);
    EXPECT_EQ(v.first_invalid, base + 1);
    EXPECT_NE(v.problem.find("were edited"), std::string::npos) << v.problem;
}

TEST_F(Services, ARemovedSealIsNotCoveredByALaterBatch) {
    // The attacker strips the seal of the last record; kmsd then writes more. The new batch's
    // seal names only its own records, so the stripped record stays uncovered.
    make("svc-strip-1");
    const std::uint64_t last = audit().size();
    tamper([&](AuditRecord& r) {
        if (r.seq != last) return false;
        r.seal.clear();
        return true;
    });
    AuditService a(*m_ctx);
    const auto cut = a.verify(m_admin);
    EXPECT_FALSE(cut.valid);
    EXPECT_EQ(cut.first_invalid, last);
    EXPECT_NE(cut.problem.find("covered by no HSM seal"), std::string::npos) << cut.problem;
    make("svc-strip-2");
    const auto v = a.verify(m_admin);
    EXPECT_FALSE(v.valid);
    EXPECT_EQ(v.first_invalid, last);
    EXPECT_NE(v.problem.find("seal removed"), std::string::npos) << v.problem;
}

TEST_F(Services, LegacySealsOfOneRecordStillVerifyAndMalformedOnesAreReported) {
    // Records written before batch seals carry HMAC(hash) alone (32 bytes).
    make("svc-legacy-1");
    make("svc-legacy-2");
    tamper([&](AuditRecord& r) {
        r.seal = m_hsm.audit_seal(r.hash);
        return true;
    });
    AuditService a(*m_ctx);
    const auto v = a.verify(m_admin);
    EXPECT_TRUE(v.valid) << v.problem;
    make("svc-legacy-3");  // a batch seal after legacy ones
    EXPECT_TRUE(a.verify(m_admin).valid);
    tamper([&](AuditRecord& r) {
        if (r.seq != 1) return false;
        r.seal.resize(33);
        return true;
    });
    const auto bad = AuditService(*m_ctx).verify(m_admin);  // tamper() made a new context
    EXPECT_FALSE(bad.valid);
    EXPECT_EQ(bad.first_invalid, 1u);
    EXPECT_NE(bad.problem.find("33 bytes"), std::string::npos) << bad.problem;
}

}  // namespace
}  // namespace kms::core
