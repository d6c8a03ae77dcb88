// Micro-benchmarks of the PKCS#11 adapter (hsm-adapters/pkcs11) against a SoftHSM2 token in a
// temporary folder, next to the same work done straight through PKCS#11 (the raw SoftHSM2
// baseline): borrowing and returning a pooled session, and AES-CMAC of 16 bytes through
// Pkcs11Hsm::mac() (key block unwrapped once, then a cached session object; C_SignInit +
// C_Sign, PKCS#11 v2.40 §5.11) against C_SignInit + C_Sign on a session key of our own.
#include <benchmark/benchmark.h>

#include <memory>
#include <mutex>

#include "bench_env.hpp"
#include "pkcs11/module.hpp"
#include "pkcs11/session.hpp"
#include "pkcs11/session_pool.hpp"

namespace {

using namespace kms;

// SessionPool::borrow() and the Lease's return, uncontended (1 thread) and with 2 threads on a
// pool of 2 sessions. (A second pool on the token the bench's Pkcs11Hsm also uses: the module
// is shared, PKCS#11 v2.40 §5.4.)
void BM_PoolBorrowRelease(benchmark::State& state) {
    auto& pool = bench::BenchEnv::instance().pool();
    for (auto _ : state) {
        auto lease = pool.borrow();
        benchmark::DoNotOptimize(lease.handle());
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_PoolBorrowRelease)->Threads(1)->Threads(2)->UseRealTime();

// AES-CMAC of 16 bytes through the adapter (what POST /v1/keys/{id}/mac costs in the HSM layer).
void BM_AdapterAesCmac16(benchmark::State& state) {
    auto& h = bench::BenchEnv::instance().hsm();
    static std::once_flag once;
    static core::KeySpec spec{"bench-mac", 1, core::Algorithm::Aes128,
                              core::UsageMask().add(core::Usage::Mac)};
    static core::GeneratedKey key;
    std::call_once(once, [&h] { key = h.generate(spec); });
    const core::KeyRef ref{spec.key_id, 1, spec.algorithm, spec.usage, key.block, {}};
    const Bytes data(16, 0x5A);
    for (auto _ : state) benchmark::DoNotOptimize(h.mac(ref, core::MacAlgorithm::AesCmac, data));
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AdapterAesCmac16)->Threads(1)->Threads(2)->UseRealTime();

// The raw SoftHSM2 baseline: a session of our own per thread, an AES-128 session key
// (C_GenerateKey, CKM_AES_KEY_GEN), then C_SignInit(CKM_AES_CMAC) + C_Sign over 16 bytes, as
// benchmarks/p11_baseline does.
void BM_RawP11AesCmac16(benchmark::State& state) {
    auto& env = bench::BenchEnv::instance();
    auto module = hsm::Module::load(env.module_path());
    const auto& f = module->fn();
    const auto slot = module->find_token(bench::BenchEnv::kToken);
    if (!slot) return state.SkipWithError("bench token not found");
    auto session = hsm::Session::open(*module, *slot);
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE kt = CKK_AES;
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_ULONG len = 16;
    CK_ATTRIBUTE tmpl[] = {{CKA_CLASS, &cls, sizeof cls},
                           {CKA_KEY_TYPE, &kt, sizeof kt},
                           {CKA_TOKEN, &no, sizeof no},
                           {CKA_SIGN, &yes, sizeof yes},
                           {CKA_VALUE_LEN, &len, sizeof len}};
    CK_MECHANISM gen{CKM_AES_KEY_GEN, nullptr, 0};
    CK_OBJECT_HANDLE key = CK_INVALID_HANDLE;
    if (f.C_GenerateKey(session.handle(), &gen, tmpl, 5, &key) != CKR_OK)
        return state.SkipWithError("C_GenerateKey failed");
    CK_MECHANISM mech{CKM_AES_CMAC, nullptr, 0};
    unsigned char data[16] = {0}, mac[16];
    for (auto _ : state) {
        CK_ULONG mlen = sizeof mac;
        if (f.C_SignInit(session.handle(), &mech, key) != CKR_OK ||
            f.C_Sign(session.handle(), data, sizeof data, mac, &mlen) != CKR_OK) {
            state.SkipWithError("C_SignInit/C_Sign failed");
            break;
        }
        benchmark::DoNotOptimize(mac);
    }
    f.C_DestroyObject(session.handle(), key);
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RawP11AesCmac16)->Threads(1)->Threads(2)->UseRealTime();

}  // namespace
