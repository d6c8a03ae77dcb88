// A quick throughput loop for the session pool size question (SoftHSM2 slows down with more
// threads): cached AES-CMAC over 32 bytes on a fresh SoftHSM2 token.
// Usage: hsm_bench [sessions=1] [threads=1] [seconds=3]   (KMS_SOFTHSM_MODULE overrides the module)
#include <stdlib.h>

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
        std::atomic<std::uint64_t> total{0};
        std::vector<std::thread> pool;
        const auto start = std::chrono::steady_clock::now();
        for (int t = 0; t < threads; ++t)
            pool.emplace_back([&] {
                std::uint64_t n = 0;
                while (!stop.load(std::memory_order_relaxed)) {
                    h->mac(ref, core::MacAlgorithm::AesCmac, data);
                    ++n;
                }
                total += n;
            });
        std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
        stop = true;
        for (auto& t : pool) t.join();
        const double secs =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        std::printf("sessions=%zu threads=%d: %.0f CMAC/s\n", sessions, threads, total / secs);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "hsm_bench: %s\n", e.what());
        rc = 1;
    }
    std::filesystem::remove_all(dir);
    return rc;
}
