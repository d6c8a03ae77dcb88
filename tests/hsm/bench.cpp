// A quick throughput loop for the session pool size question (SoftHSM2 slows down with more
// threads): cached AES-CMAC over 32 bytes on a fresh SoftHSM2 token.
// Usage: hsm_bench [sessions=1] [threads=1] [seconds=3] [keygen]
//   keygen: one more thread generates RSA-2048 keys meanwhile, to show head-of-line blocking
//   (the worst single MAC latency is printed). KMS_SOFTHSM_MODULE overrides the module.
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "pkcs11/pkcs11_hsm.hpp"

using namespace kms;

int main(int argc, char** argv) {
    const std::size_t sessions = argc > 1 ? std::stoul(argv[1]) : 1;
    const int threads = argc > 2 ? std::stoi(argv[2]) : 1;
    const double seconds = argc > 3 ? std::stod(argv[3]) : 3.0;
    const bool keygen = argc > 4 && std::string(argv[4]) == "keygen";
    const char* m = std::getenv("KMS_SOFTHSM_MODULE");
    const std::string module = m != nullptr ? m : "/usr/lib/softhsm/libsofthsm2.so";

    char tmpl[] = "/tmp/kms-hsm-bench-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) return 1;
    const std::string dir = tmpl;
    std::filesystem::create_directories(dir + "/tokens");
    std::ofstream(dir + "/softhsm2.conf") << "directories.tokendir = " << dir << "/tokens\n"
                                          << "objectstore.backend = file\nlog.level = ERROR\n"
                                          << "slots.removable = false\n";
    ::setenv("SOFTHSM2_CONF", (dir + "/softhsm2.conf").c_str(), 1);
    int rc = 0;
    try {
        hsm::initialize_token(module, "bench", SecretString("so-pin"), SecretString("user-pin"));
        hsm::Pkcs11Config cfg;
        cfg.module_path = module;
        cfg.token_label = "bench";
        cfg.pin = {hsm::PinSource::Kind::Value, "user-pin"};
        cfg.sessions = sessions;
        auto h = hsm::Pkcs11Hsm::open(cfg, hsm::MasterKeys::CreateIfMissing);
        const core::KeySpec spec{"bench-key", 1, core::Algorithm::Aes128,
                                 core::UsageMask().add(core::Usage::Mac)};
        const auto key = h->generate(spec);
        core::KeyRef ref{spec.key_id, 1, spec.algorithm, spec.usage, key.block, {}};
        const Bytes data(32, 0x5A);
        h->mac(ref, core::MacAlgorithm::AesCmac, data);  // warm the cache

        std::atomic<bool> stop{false};
        std::atomic<std::uint64_t> total{0}, worst_us{0}, keys{0};
        std::vector<std::thread> pool;
        const auto start = std::chrono::steady_clock::now();
        for (int t = 0; t < threads; ++t)
            pool.emplace_back([&] {
                std::uint64_t n = 0, worst = 0;
                while (!stop.load(std::memory_order_relaxed)) {
                    const auto t0 = std::chrono::steady_clock::now();
                    h->mac(ref, core::MacAlgorithm::AesCmac, data);
                    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                                        std::chrono::steady_clock::now() - t0)
                                        .count();
                    worst = std::max<std::uint64_t>(worst, us);
                    ++n;
                }
                total += n;
                for (auto w = worst_us.load();
                     w < worst && !worst_us.compare_exchange_weak(w, worst);) {
                }
            });
        if (keygen)
            pool.emplace_back([&] {
                const core::UsageMask sign = core::UsageMask().add(core::Usage::Sign);
                for (int i = 0; !stop.load(); ++i, ++keys)
                    h->generate({"rsa-" + std::to_string(i), 1, core::Algorithm::Rsa2048, sign});
            });
        std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
        stop = true;
        for (auto& t : pool) t.join();
        const double secs =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        std::printf("sessions=%zu threads=%d%s: %.0f CMAC/s, worst MAC %.1f ms%s\n", sessions,
                    threads, keygen ? " +keygen" : "", total / secs, worst_us.load() / 1000.0,
                    keygen ? (", " + std::to_string(keys.load()) + " RSA keys").c_str() : "");
    } catch (const std::exception& e) {
        std::fprintf(stderr, "hsm_bench: %s\n", e.what());
        rc = 1;
    }
    std::filesystem::remove_all(dir);
    return rc;
}
