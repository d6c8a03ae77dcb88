// The micro-benchmarks' SoftHSM2 token in a temporary folder, and main() (see bench_env.hpp).
#include "bench_env.hpp"

#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>

#include "pkcs11/module.hpp"

namespace kms::bench {

namespace {
std::unique_ptr<BenchEnv>& slot() {
    static std::unique_ptr<BenchEnv> env;
    return env;
}
}  // namespace

BenchEnv::BenchEnv() {
    const char* m = std::getenv("KMS_SOFTHSM_MODULE");
    m_module = m != nullptr && *m != '\0' ? m : "/usr/lib/softhsm/libsofthsm2.so";
    char tmpl[] = "/tmp/kms-micro-bench-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) throw Error(ErrorCode::Internal, "bench: mkdtemp failed");
    m_dir = tmpl;
    std::filesystem::create_directories(m_dir + "/tokens");
    std::ofstream(m_dir + "/softhsm2.conf") << "directories.tokendir = " << m_dir << "/tokens\n"
                                            << "objectstore.backend = file\nlog.level = ERROR\n"
                                            << "slots.removable = false\n";
    ::setenv("SOFTHSM2_CONF", (m_dir + "/softhsm2.conf").c_str(), 1);
    hsm::initialize_token(m_module, kToken, SecretString("bench-so-pin"), SecretString(kUserPin));
    hsm::Pkcs11Config cfg;
    cfg.module_path = m_module;
    cfg.token_label = kToken;
    cfg.pin = {hsm::PinSource::Kind::Value, kUserPin};
    m_hsm = hsm::Pkcs11Hsm::open(cfg, hsm::MasterKeys::CreateIfMissing);
}

BenchEnv& BenchEnv::instance() {
    static std::once_flag once;
    std::call_once(once, [] { slot().reset(new BenchEnv()); });
    return *slot();
}

void BenchEnv::cleanup() noexcept {
    auto& env = slot();
    if (!env) return;
    const std::string dir = env->m_dir;
    env.reset();  // closes the sessions before the token folder goes
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
}

std::unique_ptr<store::LmdbStore> BenchEnv::open_store(const std::string& prefix) {
    store::LmdbOptions opt;
    {
        std::lock_guard lock(m_mutex);
        opt.path = m_dir + "/" + prefix + "-" + std::to_string(++m_next);
    }
    opt.map_size = std::size_t{1} << 30;
    return store::LmdbStore::open(
        opt, [this](ByteView h) { return m_hsm->audit_seal(h); }, m_clock);
}

store::LmdbStore& BenchEnv::shared_store() {
    {
        std::lock_guard lock(m_mutex);
        if (m_store) return *m_store;
    }
    auto s = open_store("store");
    std::lock_guard lock(m_mutex);
    if (!m_store) m_store = std::move(s);
    return *m_store;
}

hsm::SessionPool& BenchEnv::pool() {
    std::lock_guard lock(m_mutex);
    if (!m_pool)
        m_pool = std::make_unique<hsm::SessionPool>(hsm::Module::load(m_module), kToken,
                                                    SecretString(kUserPin), 2);
    return *m_pool;
}

}  // namespace kms::bench

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    int rc = 0;
    try {
        benchmark::RunSpecifiedBenchmarks();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "micro_bench: %s\n", e.what());
        rc = 1;
    }
    benchmark::Shutdown();
    kms::bench::BenchEnv::cleanup();
    return rc;
}
