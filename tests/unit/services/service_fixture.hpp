// Scaffolding shared by the service tests: a configurable fake HSM (subclass it and override
// what a test needs), a clock the test moves, the principal and error-code helpers, and a
// GoogleTest fixture owning a temporary LMDB store and the ServiceContext over it.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "crypto/host_crypto.hpp"
#include "domain/error.hpp"
#include "ports/clock.hpp"
#include "ports/hsm.hpp"
#include "services/context.hpp"
#include "store/lmdb_store.hpp"

namespace kms::core::test_support {

/// Time moves only when the test says so.
class MovableClock final : public Clock {
  public:
    std::int64_t now_ms() const override { return now.load(); }
    void advance_s(std::int64_t s) { now += s * 1000; }

    std::atomic<std::int64_t> now{1'800'000'000'000};
};

/// Records what the use cases ask of the HSM. generate() makes the block "<key_id>/<version>"
/// (KCV 01 02 03) so results depend on the key version; import_secret() generates; mac() is an
/// HMAC over the block cut to the algorithm's length; encrypt/decrypt are the identity; audit
/// seals are a host HMAC. Subclass and override what a test needs.
class FakeHsm : public Hsm {
  public:
    GeneratedKey generate(const KeySpec& s) override {
        ++generated;
        const std::string b = s.key_id + "/" + std::to_string(s.version);
        return GeneratedKey{Bytes(b.begin(), b.end()), Bytes{1, 2, 3}, {}};
    }
    GeneratedKey import_secret(const KeySpec& s, const SecureBytes&) override {
        return generate(s);
    }
    Bytes mac(const KeyRef& k, MacAlgorithm alg, ByteView data) override {
        if (k.block.empty()) throw Error(ErrorCode::Integrity, "no block");
        Bytes m = crypto::hmac_sha256(k.block, data);
        m.resize(alg == MacAlgorithm::Des3Retail ? 8 : alg == MacAlgorithm::AesCmac ? 16 : 32);
        return m;
    }
    Bytes encrypt(const KeyRef&, const CipherParams&, ByteView p) override {
        return Bytes(p.begin(), p.end());
    }
    Bytes decrypt(const KeyRef&, const CipherParams&, ByteView c) override {
        return Bytes(c.begin(), c.end());
    }
    Bytes sign(const KeyRef&, SignAlgorithm, ByteView) override { return Bytes(64, 1); }
    bool verify(const KeyRef&, SignAlgorithm, ByteView, ByteView) override { return true; }
    Bytes random(std::size_t n) override { return Bytes(n, 7); }
    Bytes audit_seal(ByteView d) override { return crypto::hmac_sha256(as_view("seal"), d); }
    void forget(std::string_view id) override { forgotten.push_back(std::string(id)); }
    bool probe() noexcept override { return true; }
    HsmInfo info() override { return {}; }

    std::atomic<int> generated{0};
    std::vector<std::string> forgotten;
};

inline Principal person(const std::string& name, Role role) {
    Principal p;
    p.name = name;
    p.roles = static_cast<std::uint32_t>(role);
    return p;
}

/// The ErrorCode of the kms::Error that @p f throws; a test failure if it throws none.
inline ErrorCode code_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const Error& e) {
        return e.code();
    }
    ADD_FAILURE() << "no kms::Error thrown";
    return ErrorCode::Internal;
}

/// A real LMDB store in a fresh /tmp/kms-<name>-XXXXXX directory (removed in TearDown), audit
/// records sealed by the HSM, and the ServiceContext over them. A test's fixture derives from
/// it, builds its service after ServiceFixture::SetUp() and drops it before
/// ServiceFixture::TearDown().
template <class HsmT = FakeHsm, class ClockT = MovableClock>
class ServiceFixture : public ::testing::Test {
  protected:
    explicit ServiceFixture(std::string name) : m_name(std::move(name)) {}

    void SetUp() override {
        std::string tmpl = "/tmp/kms-" + m_name + "-XXXXXX";
        m_dir = ::mkdtemp(tmpl.data());
        store::LmdbOptions o;
        o.path = m_dir + "/store";
        o.map_size = 64 << 20;
        m_store = store::LmdbStore::open(
            o, [this](ByteView h) { return m_hsm.audit_seal(h); }, m_clock);
        m_ctx = std::make_unique<ServiceContext>(
            ServiceContext{*m_store, m_hsm, m_clock, m_cache, m_counters});
    }
    void TearDown() override {
        m_ctx.reset();
        m_store.reset();
        std::filesystem::remove_all(m_dir);
    }
    std::vector<AuditRecord> audit() { return m_store->read_audit(1, 1000); }

    std::string m_name;
    std::string m_dir;
    ClockT m_clock;
    HsmT m_hsm;
    KeyCache m_cache;
    UseCounterBook m_counters;
    std::unique_ptr<store::LmdbStore> m_store;
    std::unique_ptr<ServiceContext> m_ctx;
};

}  // namespace kms::core::test_support
