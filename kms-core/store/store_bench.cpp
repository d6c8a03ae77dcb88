// Throughput of durable MetadataStore::write() calls, each shaped like a key creation (one key
// record with a wrapped block plus one audit record), from 1..N threads, on LMDB (group
// commit) or PostgreSQL (one transaction per write). Not a test: the numbers depend on the
// disk's fsync latency.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "crypto/host_crypto.hpp"
#include "store/lmdb_store.hpp"
#include "store/pg/pg_store.hpp"

namespace {

void usage() {
    std::puts(
        "usage: kms-store-bench DIR|pg:CONNINFO [THREADS [WRITES_PER_THREAD]]\n"
        "  DIR must not exist (it is created, then removed afterwards).\n"
        "  pg:CONNINFO: a PostgreSQL database (libpq string) that gets kmsd's tables; the\n"
        "  bench's keys stay there (use a throwaway database).\n"
        "  Defaults: THREADS 1, WRITES_PER_THREAD 500.");
}

kms::core::KeyRecord make_key(int thread, int i) {
    kms::core::KeyRecord k;
    char id[40];
    std::snprintf(id, sizeof id, "k-%08x%024x", thread, i);
    k.id = id;
    k.name = "bench/" + std::to_string(thread) + "/" + std::to_string(i);
    k.algorithm = kms::core::Algorithm::Aes256;
    k.usage = kms::core::UsageMask(0x7);
    k.state = kms::core::KeyState::Active;
    k.created_by = "bench";
    k.created_ms = 1700000000000;
    k.versions.push_back({1, kms::Bytes(72, 0xA5), kms::Bytes(3, 0x11), {}, 1700000000000});
    return k;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2 || std::string(argv[1]) == "--help") {
        usage();
        return argc < 2 ? 2 : 0;
    }
    const std::string dir = argv[1];
    const int threads = argc > 2 ? std::atoi(argv[2]) : 1;
    const int per_thread = argc > 3 ? std::atoi(argv[3]) : 500;
    const bool pg = dir.starts_with("pg:");
    if (threads < 1 || per_thread < 1 || (!pg && std::filesystem::exists(dir))) {
        usage();
        return 2;
    }

    kms::core::SystemClock clock;
    const long long start_ns = std::chrono::steady_clock::now().time_since_epoch().count();
    const kms::Bytes seal_key(32, 0x5A);
    double seconds = 0;
    kms::store::GroupCommitStats stats;
    {
        const auto seal = [&](kms::ByteView hash) {
            return kms::crypto::hmac_sha256(seal_key, hash);
        };
        std::unique_ptr<kms::core::MetadataStore> opened;
        kms::store::LmdbStore* lmdb = nullptr;
        if (pg) {
            kms::store::pg::PgOptions o;
            o.conninfo = dir.substr(3);
            opened = kms::store::pg::PgStore::open(o, seal, clock);
        } else {
            auto l = kms::store::LmdbStore::open(kms::store::LmdbOptions{dir}, seal, clock);
            lmdb = l.get();
            opened = std::move(l);
        }
        kms::core::MetadataStore& store = *opened;
        const auto start = std::chrono::steady_clock::now();
        std::vector<std::thread> workers;
        for (int t = 0; t < threads; ++t)
            workers.emplace_back([&, t] {
                for (int i = 0; i < per_thread; ++i) {
                    auto key = make_key(t, i);
                    key.id += std::to_string(start_ns);  // unique on a reused database
                    key.name += "/" + std::to_string(start_ns);
                    store.write([&](kms::core::WriteTxn& txn) {
                        txn.put_key(key);
                        txn.append_audit({"bench", "key.create", key.id,
                                          kms::core::AuditOutcome::Success, "AES-256"});
                    });
                }
            });
        for (auto& w : workers) w.join();
        seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        if (lmdb != nullptr) stats = lmdb->commit_stats();
    }
    if (!pg) std::filesystem::remove_all(dir);

    const double total = static_cast<double>(threads) * per_thread;
    std::printf("threads=%d writes=%.0f seconds=%.3f writes/s=%.0f batches=%llu avg_batch=%.1f\n",
                threads, total, seconds, total / seconds,
                static_cast<unsigned long long>(stats.batches),
                stats.batches ? total / static_cast<double>(stats.batches) : 0.0);
    return 0;
}
