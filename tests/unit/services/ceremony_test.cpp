// Key ceremonies and the distribution rules against a real LMDB store, a fake HSM and a clock
// the test moves (expiry; the rest suite covers the same flows through a real kmsd and
// SoftHSM2). The fake HSM keeps an imported value in its "block" so the test can check what
// the service assembled.
#include <gtest/gtest.h>

#include "crypto/host_crypto.hpp"
#include "crypto/public_key.hpp"
#include "domain/error.hpp"
#include "service_fixture.hpp"
#include "services/ceremonies.hpp"
#include "services/distribution.hpp"
#include "services/key_lifecycle.hpp"
#include "services/reconcile.hpp"

namespace kms::core {
namespace {

using namespace test_support;

/// Keeps an imported value as its "block" (the test checks what the service assembled) with its
/// real KCV, wraps to the key's block, and counts imports and wraps.
class ImportingHsm final : public FakeHsm {
  public:
    GeneratedKey generate(const KeySpec& s) override {
        const std::string b = "gen:" + s.key_id;
        return GeneratedKey{Bytes(b.begin(), b.end()), Bytes{1, 2, 3}, {}};
    }
    GeneratedKey import_secret(const KeySpec& s, const SecureBytes& v) override {
        ++imports;
        last_spec = s;
        const Bytes value(v.view().begin(), v.view().end());
        return GeneratedKey{value,
                            core::info(s.algorithm).family == KeyFamily::Des3
                                ? crypto::kcv_des3(value)
                                : crypto::kcv_aes_cmac(value),
                            {}};
    }
    Bytes wrap_key(const KeyRef& key, const KeyRef&, WrapFormat) override {
        ++wraps;
        return Bytes(key.block.begin(), key.block.end());
    }

    int imports = 0;
    int wraps = 0;
    KeySpec last_spec;
};

SecureBytes secret(const Bytes& b) {
    return SecureBytes(b.data(), b.size());
}

class Ceremonies : public ServiceFixture<ImportingHsm> {
  protected:
    Ceremonies() : ServiceFixture("ceremony") {}
    void SetUp() override {
        ServiceFixture::SetUp();
        m_service = std::make_unique<CeremonyService>(*m_ctx);
    }
    void TearDown() override {
        m_service.reset();
        ServiceFixture::TearDown();
    }
    Ceremony open(const std::string& name, int components = 2, Algorithm alg = Algorithm::Aes128,
                  std::optional<Bytes> kcv = std::nullopt) {
        CeremonyRequest r;
        r.name = name;
        r.algorithm = alg;
        r.usage = UsageMask().add(Usage::Mac);
        r.components = components;
        r.kcv = std::move(kcv);
        r.expires_in_s = 60;
        return m_service->create(m_officer, r);
    }
    std::vector<std::string> actions() {
        std::vector<std::string> out;
        for (const auto& r : m_store->read_audit(1, 1000)) out.push_back(r.event.action);
        return out;
    }
    std::string audit_text() {
        std::string all;
        for (const auto& r : m_store->read_audit(1, 1000))
            all += r.event.action + " " + r.event.target + " " + r.event.detail + "\n";
        return all;
    }

    std::unique_ptr<CeremonyService> m_service;
    Principal m_officer = person("officer", Role::KeyOfficer);
    Principal m_alice = person("alice", Role::Custodian);
    Principal m_bob = person("bob", Role::Custodian);
    Principal m_carol = person("carol", Role::Custodian);
    // AES-128 components of the RFC 4493 key 2b7e1516 28aed2a6 abf71588 09cf4f3c.
    Bytes m_c1 = from_hex("00112233445566778899AABBCCDDEEFF");
    Bytes m_key = from_hex("2B7E151628AED2A6ABF7158809CF4F3C");
    Bytes m_c2 = [this] {
        Bytes c(16);
        for (int i = 0; i < 16; ++i) c[i] = m_key[i] ^ m_c1[i];
        return c;
    }();
};

ExportRequest export_request(const std::string& key_id, DistributionFormat format,
                             const std::string& kek_id) {
    ExportRequest r;
    r.key_id = key_id;
    r.format = format;
    r.kek_id = kek_id;
    return r;
}

TEST_F(Ceremonies, TwoComponentsAssembleTheirXorAndTheRecordNamesTheCustodians) {
    const auto c = open("cer-two", 2, Algorithm::Aes128, crypto::kcv_aes_cmac(m_key));
    EXPECT_EQ(c.id.substr(0, 2), "c-");
    EXPECT_EQ(c.id.size(), 34u);
    auto r1 = m_service->add_component(m_alice, c.id, secret(m_c1), crypto::kcv_aes_cmac(m_c1));
    EXPECT_EQ(r1.received, 1u);
    EXPECT_FALSE(r1.key);
    EXPECT_EQ(m_service->get(m_officer, c.id).state, CeremonyState::Open);
    auto r2 = m_service->add_component(m_bob, c.id, secret(m_c2), crypto::kcv_aes_cmac(m_c2));
    ASSERT_TRUE(r2.key);
    EXPECT_EQ(r2.received, 2u);
    EXPECT_EQ(r2.key->versions[0].block, m_key) << "the HSM received C1 xor C2";
    EXPECT_EQ(r2.key->current().kcv, crypto::kcv_aes_cmac(m_key));
    EXPECT_EQ(r2.key->created_by, "officer");
    EXPECT_EQ(r2.key->state, KeyState::Active);
    const auto done = m_service->get(m_officer, c.id);
    EXPECT_EQ(done.state, CeremonyState::Completed);
    EXPECT_EQ(done.key_id, r2.key->id);
    ASSERT_EQ(done.custodians.size(), 2u);
    EXPECT_EQ(done.custodians[0].name, "alice");
    EXPECT_EQ(done.custodians[1].name, "bob");
    ASSERT_TRUE(m_store->find_key(r2.key->id));
    EXPECT_EQ(actions(),
              (std::vector<std::string>{"ceremony.create", "ceremony.component",
                                        "ceremony.component", "key.create", "ceremony.complete"}));
    const std::string text = audit_text();
    EXPECT_NE(text.find("custodian=alice received=1/2"), std::string::npos) << text;
    EXPECT_NE(text.find("key=" + r2.key->id), std::string::npos) << text;
    EXPECT_EQ(text.find(to_hex(m_c1)), std::string::npos) << "no component in the audit log";
    EXPECT_EQ(text.find(to_hex(m_c2)), std::string::npos);
    EXPECT_EQ(text.find(to_hex(m_key)), std::string::npos);
    // No component in the stored ceremony record either.
    const auto raw = m_store->get(Table::Ceremonies, c.id);
    ASSERT_TRUE(raw);
    const std::string rec(raw->begin(), raw->end());
    EXPECT_EQ(rec.find(std::string(m_c1.begin(), m_c1.end())), std::string::npos);
    EXPECT_EQ(rec.find(std::string(m_key.begin(), m_key.end())), std::string::npos);
}

TEST_F(Ceremonies, ThreeDes3ComponentsGetOddParity) {
    const Bytes k1 = from_hex("0123456789ABCDEFFEDCBA9876543210");
    const Bytes k2 = from_hex("1111111111111111222222222222222F");
    const Bytes k3 = from_hex("4040404040404040A1A1A1A1A1A1A1A1");
    const auto c = open("cer-des3", 3, Algorithm::Des3_2k);
    m_service->add_component(m_alice, c.id, secret(k1), crypto::kcv_des3(k1));
    m_service->add_component(m_bob, c.id, secret(k2), crypto::kcv_des3(k2));
    auto r = m_service->add_component(m_carol, c.id, secret(k3), crypto::kcv_des3(k3));
    ASSERT_TRUE(r.key);
    const Bytes& v = r.key->versions[0].block;
    ASSERT_EQ(v.size(), 16u);
    for (std::size_t i = 0; i < 16; ++i) {
        EXPECT_EQ(v[i] & 0xFE, (k1[i] ^ k2[i] ^ k3[i]) & 0xFE);
        EXPECT_EQ(__builtin_popcount(v[i]) % 2, 1) << "byte " << i << " has odd parity";
    }
    Bytes x(16);
    for (int i = 0; i < 16; ++i) x[i] = k1[i] ^ k2[i] ^ k3[i];
    EXPECT_EQ(r.key->current().kcv, crypto::kcv_des3(x)) << "parity does not change the KCV";
}

TEST_F(Ceremonies, EveryRefusalKeepsNothingOfTheComponent) {
    const auto c = open("cer-refuse");
    EXPECT_EQ(code_of([&] {
                  m_service->add_component(m_officer, c.id, secret(m_c1),
                                           crypto::kcv_aes_cmac(m_c1));
              }),
              ErrorCode::Forbidden);
    EXPECT_EQ(code_of([&] {
                  m_service->add_component(m_alice, c.id, secret(Bytes(15, 1)),
                                           crypto::kcv_aes_cmac(Bytes(16, 1)));
              }),
              ErrorCode::InvalidArgument);
    EXPECT_EQ(code_of([&] {
                  m_service->add_component(m_alice, c.id, secret(m_c1), Bytes{0, 0, 0});
              }),
              ErrorCode::VerificationFailed);
    EXPECT_EQ(m_service->get(m_officer, c.id).received(), 0u);
    m_service->add_component(m_alice, c.id, secret(m_c1), crypto::kcv_aes_cmac(m_c1));
    EXPECT_EQ(code_of([&] {
                  m_service->add_component(m_alice, c.id, secret(m_c2), crypto::kcv_aes_cmac(m_c2));
              }),
              ErrorCode::Conflict);
    EXPECT_EQ(m_service->get(m_officer, c.id).received(), 1u);
    EXPECT_EQ(m_hsm.imports, 0);
    EXPECT_EQ(code_of([&] { m_service->get(m_officer, "c-nope"); }), ErrorCode::NotFound);
}

TEST_F(Ceremonies, ExpiryAnswersExpiredAndWipesTheSum) {
    const auto c = open("cer-expire");
    m_service->add_component(m_alice, c.id, secret(m_c1), crypto::kcv_aes_cmac(m_c1));
    m_clock.now += 59'000;
    EXPECT_EQ(m_service->get(m_officer, c.id).state, CeremonyState::Open);
    m_clock.now += 1'000;
    EXPECT_EQ(m_service->get(m_officer, c.id).state, CeremonyState::Expired);
    EXPECT_EQ(code_of([&] {
                  m_service->add_component(m_bob, c.id, secret(m_c2), crypto::kcv_aes_cmac(m_c2));
              }),
              ErrorCode::Expired);
    EXPECT_EQ(m_hsm.imports, 0);
    EXPECT_FALSE(m_store->find_key_id_by_name("cer-expire"));
    // Stored as expired: even a clock moved back does not reopen it.
    m_clock.now -= 120'000;
    EXPECT_EQ(m_service->get(m_officer, c.id).state, CeremonyState::Expired);
    EXPECT_EQ(code_of([&] {
                  m_service->add_component(m_bob, c.id, secret(m_c2), crypto::kcv_aes_cmac(m_c2));
              }),
              ErrorCode::WrongState);
}

TEST_F(Ceremonies, WrongAssembledKcvFailsTheCeremonyAndStoresNoKey) {
    const auto c = open("cer-wrong", 2, Algorithm::Aes128, Bytes{1, 2, 3});
    m_service->add_component(m_alice, c.id, secret(m_c1), crypto::kcv_aes_cmac(m_c1));
    EXPECT_EQ(code_of([&] {
                  m_service->add_component(m_bob, c.id, secret(m_c2), crypto::kcv_aes_cmac(m_c2));
              }),
              ErrorCode::VerificationFailed);
    EXPECT_EQ(m_service->get(m_officer, c.id).state, CeremonyState::Failed);
    EXPECT_EQ(m_hsm.imports, 0);
    EXPECT_FALSE(m_store->find_key_id_by_name("cer-wrong"));
    EXPECT_EQ(m_store->key_count(), 0u);
}

TEST_F(Ceremonies, ARestartReadsInterruptedAndCancelWorks) {
    const auto c = open("cer-restart");
    m_service->add_component(m_alice, c.id, secret(m_c1), crypto::kcv_aes_cmac(m_c1));
    const auto fresh = open("cer-fresh");
    m_service = std::make_unique<CeremonyService>(*m_ctx);  // kmsd restarted
    EXPECT_EQ(m_service->get(m_officer, c.id).state, CeremonyState::Interrupted);
    EXPECT_EQ(m_service->get(m_officer, fresh.id).state, CeremonyState::Open)
        << "nothing was lost of a ceremony without components";
    EXPECT_EQ(code_of([&] {
                  m_service->add_component(m_bob, c.id, secret(m_c2), crypto::kcv_aes_cmac(m_c2));
              }),
              ErrorCode::WrongState);
    EXPECT_EQ(code_of([&] { m_service->cancel(m_alice, c.id); }), ErrorCode::Forbidden);
    EXPECT_EQ(m_service->cancel(m_officer, c.id).state, CeremonyState::Cancelled);
    EXPECT_EQ(m_service->get(m_officer, c.id).state, CeremonyState::Cancelled);
    EXPECT_EQ(code_of([&] { m_service->cancel(m_officer, c.id); }), ErrorCode::WrongState);
    const auto all = m_service->list(m_alice);
    ASSERT_EQ(all.size(), 2u);
}

TEST_F(Ceremonies, CreateChecksItsInput) {
    CeremonyRequest r;
    r.name = "cer-input";
    r.algorithm = Algorithm::HmacSha256;
    r.usage = UsageMask().add(Usage::Mac);
    EXPECT_EQ(code_of([&] { m_service->create(m_officer, r); }), ErrorCode::InvalidArgument);
    r.algorithm = Algorithm::Aes256;
    r.components = 4;
    EXPECT_EQ(code_of([&] { m_service->create(m_officer, r); }), ErrorCode::InvalidArgument);
    r.components = 2;
    r.expires_in_s = 59;
    EXPECT_EQ(code_of([&] { m_service->create(m_officer, r); }), ErrorCode::InvalidArgument);
    r.expires_in_s = 3600;
    r.trusted = true;  // trusted with usage mac
    EXPECT_EQ(code_of([&] { m_service->create(m_officer, r); }), ErrorCode::InvalidArgument);
    r.usage = UsageMask().add(Usage::Wrap).add(Usage::Unwrap);
    EXPECT_EQ(code_of([&] { m_service->create(m_alice, r); }), ErrorCode::Forbidden);
    const auto c = m_service->create(m_officer, r);
    EXPECT_TRUE(c.trusted);
    const auto back = decode_ceremony(encode_ceremony(c));
    EXPECT_EQ(back.name, c.name);
    EXPECT_EQ(back.usage, c.usage);
    EXPECT_EQ(back.expires_ms, c.expires_ms);
    EXPECT_TRUE(back.trusted);
    Bytes bad = encode_ceremony(c);
    bad[0] = 9;
    EXPECT_EQ(code_of([&] { decode_ceremony(bad); }), ErrorCode::Integrity);
}

TEST_F(Ceremonies, ATrustedCeremonyKeyIsImportedTrusted) {
    CeremonyRequest r;
    r.name = "cer-kek";
    r.algorithm = Algorithm::Aes128;
    r.usage = UsageMask().add(Usage::Wrap);
    r.trusted = true;
    r.exportable = true;
    const auto c = m_service->create(m_officer, r);
    m_service->add_component(m_alice, c.id, secret(m_c1), crypto::kcv_aes_cmac(m_c1));
    auto res = m_service->add_component(m_bob, c.id, secret(m_c2), crypto::kcv_aes_cmac(m_c2));
    ASSERT_TRUE(res.key);
    EXPECT_TRUE(res.key->trusted);
    EXPECT_TRUE(m_hsm.last_spec.trusted);
    EXPECT_TRUE(m_hsm.last_spec.exportable);
}

// ---- distribution rules (metadata checks before the HSM) ----

TEST_F(Ceremonies, ExportNeedsAnExportableKeyAndATrustedActiveKek) {
    KeyLifecycle life(*m_ctx);
    DistributionService dist(*m_ctx);
    const auto data = life.create(
        m_officer, CreateKeyRequest{"d-data", Algorithm::Aes256, UsageMask().add(Usage::Encrypt),
                                    true, true, false});
    const auto closed = life.create(
        m_officer, CreateKeyRequest{"d-closed", Algorithm::Aes256, UsageMask().add(Usage::Encrypt),
                                    true, false, false});
    const auto kek =
        life.create(m_officer, CreateKeyRequest{"d-kek", Algorithm::Aes256,
                                                UsageMask().add(Usage::Wrap), true, false, true});
    const auto plain =
        life.create(m_officer, CreateKeyRequest{"d-plain", Algorithm::Aes256,
                                                UsageMask().add(Usage::Wrap), true, false, false});
    const ExportRequest req = export_request(data.id, DistributionFormat::AesKwp, kek.id);
    const auto out = dist.export_key(m_officer, req);
    EXPECT_EQ(m_hsm.wraps, 1);
    EXPECT_EQ(out.kek_id, kek.id);
    EXPECT_NE(audit_text().find("key.export " + data.id + " kek=" + kek.id + " format=AES-KWP"),
              std::string::npos)
        << audit_text();
    EXPECT_EQ(code_of([&] {
                  dist.export_key(m_officer, export_request(closed.id, DistributionFormat::AesKwp, kek.id));
              }),
              ErrorCode::Forbidden);
    EXPECT_EQ(code_of([&] {
                  dist.export_key(m_officer, export_request(data.id, DistributionFormat::AesKwp, plain.id));
              }),
              ErrorCode::Forbidden);
    EXPECT_EQ(code_of([&] {
                  dist.export_key(m_officer, export_request(data.id, DistributionFormat::RsaOaepSha256, kek.id));
              }),
              ErrorCode::InvalidArgument);
    EXPECT_EQ(code_of([&] { dist.export_key(m_alice, req); }), ErrorCode::Forbidden);
    EXPECT_EQ(code_of([&] {
                  life.create(m_officer,
                              CreateKeyRequest{"d-bad-kek", Algorithm::Aes256,
                                               UsageMask().add(Usage::Wrap).add(Usage::Encrypt),
                                               true, false, true});
              }),
              ErrorCode::InvalidArgument);
    life.transition(m_officer, kek.id, Transition::Suspend, "hold");
    EXPECT_EQ(code_of([&] { dist.export_key(m_officer, req); }), ErrorCode::WrongState);
    EXPECT_EQ(m_hsm.wraps, 1) << "no refused export reached the HSM";
}

TEST_F(Ceremonies, ASpkiImportIsAPublicKeyOnlyThatReconcileAndDestroyAccept) {
    KeyLifecycle life(*m_ctx);
    DistributionService dist(*m_ctx);
    // RFC 5280-style SPKI of a P-256 key: the generator point (a valid public key).
    const Bytes point = from_hex(
        "046B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296"
        "4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5");
    ImportRequest req;
    req.name = "d-spki";
    req.algorithm = Algorithm::EcP256;
    req.usage = UsageMask().add(Usage::Verify);
    req.format = DistributionFormat::Spki;
    req.public_key = crypto::ec_public_key_spki(Algorithm::EcP256, point);
    const auto k = dist.import_key(m_officer, req);
    EXPECT_TRUE(k.current().block.empty());
    EXPECT_EQ(k.current().public_key, req.public_key);
    EXPECT_EQ(k.state, KeyState::Active);
    EXPECT_TRUE(reconcile(*m_ctx, {}).clean()) << "a public key only is no store orphan";
    EXPECT_EQ(code_of([&] { life.rotate(m_officer, k.id); }), ErrorCode::WrongState);
    req.name = "d-spki-rsa";
    req.algorithm = Algorithm::Rsa2048;
    EXPECT_EQ(code_of([&] { dist.import_key(m_officer, req); }), ErrorCode::InvalidArgument)
        << "the SPKI is an EC key, not RSA-2048";
    life.transition(m_officer, k.id, Transition::Deactivate, "done");
    const auto gone = life.destroy(m_officer, k.id, "done");
    EXPECT_EQ(gone.state, KeyState::Destroyed);
    EXPECT_EQ(life.get(m_officer, k.id).current().public_key, req.public_key);
}

}  // namespace
}  // namespace kms::core
