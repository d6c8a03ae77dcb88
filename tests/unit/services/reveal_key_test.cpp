// KeyLifecycle::reveal (services/reveal_key.cpp), the use case behind KMIP Get of a secret
// key, against a real LMDB store and a fake HSM whose "clear value" is the key's block, so the
// test sees what would be released. The kmip suite (tests/kmip/kmip_get.py) runs the same use
// case through a real kmsd and SoftHSM2 and checks the value against OpenSSL.
#include <gtest/gtest.h>

#include "domain/error.hpp"
#include "service_fixture.hpp"
#include "services/key_lifecycle.hpp"

namespace kms::core {
namespace {

using namespace test_support;

class RevealingHsm final : public FakeHsm {
  public:
    SecureBytes reveal_secret(const KeyRef& k) override {
        ++reveals;
        return SecureBytes(k.block.data(), k.block.size());
    }
    Bytes audit_seal(ByteView d) override {
        if (seal_fails) throw Error(ErrorCode::HsmUnavailable, "audit key unreachable");
        return FakeHsm::audit_seal(d);
    }
    int reveals = 0;
    bool seal_fails = false;
};

class Reveal : public ServiceFixture<RevealingHsm> {
  protected:
    Reveal() : ServiceFixture("reveal") {}
    void SetUp() override {
        ServiceFixture::SetUp();
        m_keys = std::make_unique<KeyLifecycle>(*m_ctx);
    }
    void TearDown() override {
        m_keys.reset();
        ServiceFixture::TearDown();
    }
    /// A key as KMIP Create makes it under kmip.get_secret_keys = owner (or not).
    KeyRecord make(const std::string& name, bool exportable, bool owner_may_reveal,
                   const Principal& by) {
        CreateKeyRequest r;
        r.name = name;
        r.algorithm = Algorithm::Aes256;
        r.usage = UsageMask().add(Usage::Encrypt).add(Usage::Decrypt);
        r.activate = false;
        r.exportable = exportable;
        r.owner_may_reveal = owner_may_reveal;
        return m_keys->create(by, r);
    }
    std::size_t reveal_records() {
        std::size_t n = 0;
        for (const auto& r : audit()) n += r.event.action == "key.reveal";
        return n;
    }
    std::unique_ptr<KeyLifecycle> m_keys;
    Principal array = person("array-1", Role::KeyOfficer);
};

TEST_F(Reveal, TheCreatorGetsTheValueAuditedWithoutIt) {
    const KeyRecord k = make("disk-1", true, true, array);
    const SecureBytes v = m_keys->reveal(array, k.id);
    const Bytes& block = k.current().block;
    EXPECT_EQ(Bytes(v.view().begin(), v.view().end()), block);
    EXPECT_EQ(m_hsm.reveals, 1);
    const auto records = audit();
    ASSERT_FALSE(records.empty());
    const AuditEvent& last = records.back().event;
    EXPECT_EQ(last.action, "key.reveal");
    EXPECT_EQ(last.actor, "array-1");
    EXPECT_EQ(last.target, k.id);
    EXPECT_EQ(last.detail.find(std::string(block.begin(), block.end())), std::string::npos);
    EXPECT_EQ(last.detail.find(to_hex(block)), std::string::npos);
}

TEST_F(Reveal, OthersAdministratorsAndAuditorsAreRefused) {
    const KeyRecord k = make("disk-2", true, true, array);
    EXPECT_EQ(code_of([&] { m_keys->reveal(person("array-2", Role::KeyOfficer), k.id); }),
              ErrorCode::Forbidden);
    EXPECT_EQ(code_of([&] { m_keys->reveal(person("root", Role::Admin), k.id); }),
              ErrorCode::Forbidden);
    EXPECT_EQ(code_of([&] { m_keys->reveal(person("array-1", Role::Auditor), k.id); }),
              ErrorCode::Forbidden);
    EXPECT_EQ(m_hsm.reveals, 0);
    EXPECT_EQ(reveal_records(), 0u);
}

TEST_F(Reveal, ExportableAloneIsNotEnough) {
    // A key made over REST with exportable (wrapped export) carries no release marker.
    const KeyRecord rest = make("rest-exportable", true, false, array);
    EXPECT_EQ(code_of([&] { m_keys->reveal(array, rest.id); }), ErrorCode::Forbidden);
    const KeyRecord plain = make("rest-plain", false, false, array);
    EXPECT_EQ(code_of([&] { m_keys->reveal(array, plain.id); }), ErrorCode::Forbidden);
    EXPECT_EQ(m_hsm.reveals, 0);
}

TEST_F(Reveal, TheMarkerNeedsAnExportableSecretKey) {
    EXPECT_EQ(code_of([&] { make("not-exportable", false, true, array); }),
              ErrorCode::InvalidArgument);
    CreateKeyRequest r;
    r.name = "kek";
    r.usage = UsageMask().add(Usage::Wrap).add(Usage::Unwrap);
    r.exportable = r.trusted = r.owner_may_reveal = true;
    EXPECT_EQ(code_of([&] { m_keys->create(array, r); }), ErrorCode::InvalidArgument);
    EXPECT_FALSE(m_store->find_key_id_by_name("kek").has_value());
}

TEST_F(Reveal, DeactivatedAndCompromisedKeysAreReleasedDestroyedOnesNot) {
    const KeyRecord k = make("disk-3", true, true, array);
    m_keys->transition(array, k.id, Transition::Activate, "");
    m_keys->revoke(array, k.id, RevocationReason::KeyCompromise, std::nullopt, "test");
    EXPECT_EQ(m_keys->reveal(array, k.id).size(), k.current().block.size());
    m_keys->destroy(array, k.id, "test");
    EXPECT_EQ(code_of([&] { m_keys->reveal(array, k.id); }), ErrorCode::WrongState);
    EXPECT_EQ(m_hsm.reveals, 1);
}

TEST_F(Reveal, NoValueWithoutItsAuditRecord) {
    const KeyRecord k = make("disk-4", true, true, array);
    m_hsm.seal_fails = true;
    EXPECT_EQ(code_of([&] { m_keys->reveal(array, k.id); }), ErrorCode::HsmUnavailable);
    m_hsm.seal_fails = false;
    EXPECT_EQ(reveal_records(), 0u);
}

}  // namespace
}  // namespace kms::core
