// Micro-benchmarks of kmsd's LMDB store (kms-core/store) and audit chain on this machine's
// disk: a snapshot read of a key record, a durable write of one key record (LMDB commit with
// fdatasync through the group-commit writer), a key creation's write (key record + audit
// record, the batch sealed by SoftHSM2's HMAC as kmsd seals it), from 1 and 8 threads (the
// group commit folds concurrent writes into one transaction), and walking the audit chain
// (AuditService::verify: SHA-256 per record, the HSM seal of each batch).
#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>

#include "bench_env.hpp"
#include "ports/clock.hpp"
#include "services/audit_service.hpp"
#include "services/context.hpp"
#include "store/lmdb_store.hpp"

namespace {

using namespace kms;

store::LmdbStore& shared_store() {
    return bench::BenchEnv::instance().shared_store();
}

/// A key record shaped like an AES-256 key's (one version with a 72-byte wrapped block), with
/// a unique id and name.
core::KeyRecord make_key(std::uint64_t n) {
    char id[40];
    std::snprintf(id, sizeof id, "k-%032llx", static_cast<unsigned long long>(n));
    core::KeyRecord k;
    k.id = id;
    k.name = "bench/" + std::to_string(n);
    k.algorithm = core::Algorithm::Aes256;
    k.usage = core::UsageMask(0x7);
    k.state = core::KeyState::Active;
    k.created_by = "bench";
    k.created_ms = 1700000000000;
    k.versions.push_back({1, Bytes(72, 0xA5), Bytes(3, 0x11), {}, 1700000000000});
    return k;
}

std::atomic<std::uint64_t> g_next_key{0};

// A snapshot read of one key record (read transaction, decode).
void BM_StoreFindKey(benchmark::State& state) {
    auto& s = shared_store();
    const std::uint64_t n = ++g_next_key;
    const auto key = make_key(n);
    s.write([&](core::WriteTxn& t) { t.put_key(key); });
    for (auto _ : state) benchmark::DoNotOptimize(s.find_key(key.id));
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_StoreFindKey);

// One key record, durably committed (the caller waits for fdatasync).
void BM_StorePutKeyDurable(benchmark::State& state) {
    auto& s = shared_store();
    for (auto _ : state) {
        const auto key = make_key(++g_next_key);
        s.write([&](core::WriteTxn& t) { t.put_key(key); });
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_StorePutKeyDurable)->Threads(1)->Threads(8)->UseRealTime();

// What a key creation writes: the key record and its audit record in one durable commit; the
// batch's last audit record is sealed by the HSM (HMAC-SHA256 under a token object).
void BM_StoreCreateKeyCommit(benchmark::State& state) {
    auto& s = shared_store();
    for (auto _ : state) {
        const auto key = make_key(++g_next_key);
        s.write([&](core::WriteTxn& t) {
            t.put_key(key);
            t.append_audit({"bench", "key.create", key.id, core::AuditOutcome::Success, "AES-256"});
        });
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_StoreCreateKeyCommit)->Threads(1)->Threads(8)->UseRealTime();

// One audit record appended on its own (a denial's record), durable and sealed.
void BM_AuditAppend(benchmark::State& state) {
    auto& s = shared_store();
    for (auto _ : state)
        s.write([&](core::WriteTxn& t) {
            t.append_audit({"bench", "auth", "", core::AuditOutcome::Denied, "bad token"});
        });
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AuditAppend)->Threads(1)->Threads(8)->UseRealTime();

// Verifying a chain of 1,000 records written 10 per commit batch (so 100 HSM seals to check);
// items = records verified.
void BM_AuditVerify1000(benchmark::State& state) {
    auto& env = bench::BenchEnv::instance();
    auto s = env.open_store("audit");
    for (int batch = 0; batch < 100; ++batch)
        s->write([&](core::WriteTxn& t) {
            for (int i = 0; i < 10; ++i)
                t.append_audit({"bench", "key.use", "k-" + std::to_string(batch * 10 + i),
                                core::AuditOutcome::Success, "mac"});
        });
    core::SystemClock clock;
    core::KeyCache cache;
    core::UseCounterBook counters;
    core::ServiceContext ctx{*s, env.hsm(), clock, cache, counters};
    core::AuditService audit(ctx);
    core::Principal admin;
    admin.name = "bench";
    admin.roles = static_cast<std::uint32_t>(core::Role::Admin);
    for (auto _ : state) {
        const auto v = audit.verify(admin);
        if (!v.valid || v.records != 1000)
            state.SkipWithError(("audit chain: " + v.problem).c_str());
    }
    state.SetItemsProcessed(state.iterations() * 1000);
}
BENCHMARK(BM_AuditVerify1000)->Unit(benchmark::kMillisecond);

}  // namespace
