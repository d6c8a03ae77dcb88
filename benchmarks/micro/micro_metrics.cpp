// Micro-benchmarks of kmsd's metrics (kms-core/api/metrics.hpp): what one request adds on the
// request path (Metrics::record_request: a relaxed atomic increment of its status counter and
// one histogram bucket plus the sum), from 1 and 8 threads on the same route (the worst case
// for cache-line sharing), what one scrape costs (Metrics::render over a route table the size
// of kmsd's, with every route called), and one walk of the key census.
#include <benchmark/benchmark.h>

#include <chrono>
#include <memory>
#include <string>

#include "api/metrics.hpp"
#include "api/router.hpp"
#include "bench_env.hpp"
#include "daemon/key_census.hpp"
#include "store/lmdb_store.hpp"

namespace {

using namespace kms;

/// A router with 90 routes (kmsd has about that many) and metrics bound to it.
struct MetricsFixture {
    MetricsFixture() : metrics("bench", {}) {
        for (int i = 0; i < 90; ++i)
            router.add("GET", "/v1/bench/" + std::to_string(i) + "/{id}", "bench",
                       api::BodyPolicy::None, [](api::Request&) {
                           return api::Reply{200, {}};
                       });
        metrics.bind_routes(router);
    }
    api::Router router;
    api::Metrics metrics;
};

MetricsFixture& fixture() {
    static MetricsFixture f;  // benchmark-only; shared by the threads of one run
    return f;
}

void BM_MetricsRecordRequest(benchmark::State& state) {
    auto& m = fixture().metrics;
    for (auto _ : state) m.record_request(7, 200, std::chrono::microseconds(420));
}
BENCHMARK(BM_MetricsRecordRequest)->Threads(1)->Threads(8)->UseRealTime();

// The same plus the two steady_clock reads the server makes around a request.
void BM_MetricsRecordRequestWithClock(benchmark::State& state) {
    auto& m = fixture().metrics;
    for (auto _ : state) {
        const auto start = std::chrono::steady_clock::now();
        m.record_request(7, 200, std::chrono::steady_clock::now() - start);
    }
}
BENCHMARK(BM_MetricsRecordRequestWithClock)->Threads(1)->Threads(8)->UseRealTime();

void BM_MetricsRender(benchmark::State& state) {
    auto& m = fixture().metrics;
    for (std::size_t r = 0; r < 91; ++r)
        for (int code : {200, 201, 400, 403, 404, 500, 503})
            m.record_request(r, code, std::chrono::microseconds(100 * code));
    for (int op = 0; op < static_cast<int>(api::HsmOp::Count_); ++op)
        m.record_hsm_call(static_cast<api::HsmOp>(op), std::chrono::microseconds(80), true);
    std::size_t bytes = 0;
    for (auto _ : state) {
        const std::string text = m.render();
        bytes = text.size();
        benchmark::DoNotOptimize(text.data());
    }
    state.counters["bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_MetricsRender);

}  // namespace

namespace {

// The key census behind kms_keys (kms-core/daemon/key_census.hpp): one walk of a store of
// state.range(0) keys (1000 per read transaction), which a scrape triggers at most every 15 s.
void BM_KeyCensusWalk(benchmark::State& state) {
    const auto n = static_cast<std::uint64_t>(state.range(0));
    auto store = bench::BenchEnv::instance().open_store("census-" + std::to_string(n));
    for (std::uint64_t done = 0; done < n;) {
        store->write([&](core::WriteTxn& t) {
            for (std::uint64_t i = 0; i < 10000 && done < n; ++i, ++done) {
                char id[40];
                std::snprintf(id, sizeof id, "k-%032llx", static_cast<unsigned long long>(done));
                core::KeyRecord k;
                k.id = id;
                k.name = "census/" + std::to_string(done);
                k.algorithm = done % 3 == 0 ? core::Algorithm::Aes128 : core::Algorithm::Aes256;
                k.usage = core::UsageMask(0x7);
                k.state = done % 10 == 0 ? core::KeyState::Deactivated : core::KeyState::Active;
                k.created_by = "bench";
                k.created_ms = 1700000000000;
                k.versions.push_back({1, Bytes(72, 0xA5), Bytes(3, 0x11), {}, 1700000000000});
                t.put_key(k);
            }
        });
    }
    for (auto _ : state) {
        // A refresh period of 0: every call walks the store.
        daemon::KeyCensus census(*store, std::chrono::milliseconds(0));
        benchmark::DoNotOptimize(census.counts());
    }
}
BENCHMARK(BM_KeyCensusWalk)->Arg(10000)->Arg(100000)->Unit(benchmark::kMillisecond)->Iterations(3);

}  // namespace
