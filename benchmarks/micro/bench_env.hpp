// The micro-benchmarks' shared fixtures: one temporary folder per run holding a SoftHSM2
// configuration and token (SOFTHSM2_CONF), a Pkcs11Hsm opened on it as kmsd opens its own, and
// room for LMDB stores. Created on first use, removed by BenchEnv::cleanup() from main().
//
// Why process-wide: a SoftHSM2 token and its master keys take ~1 s to make, and PKCS#11
// C_Initialize is process-wide anyway (PKCS#11 v2.40 §5.4); every benchmark shares them.
// Thread safety: instance() may be called from any thread (a function-local static); the
// objects it hands out are thread-safe as their own headers say (Pkcs11Hsm, SessionPool).
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "domain/error.hpp"
#include "pkcs11/pkcs11_hsm.hpp"
#include "pkcs11/session_pool.hpp"
#include "ports/clock.hpp"
#include "store/lmdb_store.hpp"

namespace kms::bench {

class BenchEnv {
  public:
    /// The environment, created on first call: mkdtemp under /tmp, softhsm2.conf, the token
    /// "bench" (SO and user PIN below) and its master keys. Throws kms::Error when SoftHSM2
    /// cannot be loaded (the module path comes from KMS_SOFTHSM_MODULE, else the Debian path).
    static BenchEnv& instance();
    /// Closes the HSM and removes the temporary folder (if instance() ever ran). Call once, at
    /// the end of main(); never throws.
    static void cleanup() noexcept;

    hsm::Pkcs11Hsm& hsm() { return *m_hsm; }
    const std::string& module_path() const { return m_module; }
    const std::string& dir() const { return m_dir; }
    static constexpr const char* kToken = "bench";
    static constexpr const char* kUserPin = "bench-user-pin";
    /// A new LmdbStore in a fresh folder inside dir(), its audit records sealed by hsm()'s
    /// audit key as kmsd seals them. The caller must destroy it before cleanup().
    std::unique_ptr<store::LmdbStore> open_store(const std::string& prefix);
    /// One store shared by the write benchmarks (they only add records); created on first use.
    store::LmdbStore& shared_store();
    /// A second session pool (2 sessions) on the bench token; created on first use.
    hsm::SessionPool& pool();

  private:
    BenchEnv();
    std::string m_module;
    std::string m_dir;
    // Destroyed in reverse order: the pool and the store (whose sealer uses m_hsm) first.
    std::unique_ptr<hsm::Pkcs11Hsm> m_hsm;
    core::SystemClock m_clock;
    std::mutex m_mutex;  ///< guards the lazy members below and m_next
    int m_next = 0;
    std::unique_ptr<store::LmdbStore> m_store;
    std::unique_ptr<hsm::SessionPool> m_pool;
};

}  // namespace kms::bench
