// ManagedObjectService (services/managed_objects.hpp) against a real LMDB store and a fake HSM
// whose AES-GCM is a keyed XOR with a 16-byte "tag" and records the additional data, so the
// test can see what the service stored and that it bound the object id (the kmip suite runs
// it against SoftHSM2 and checks the store file for clear passwords).
#include "services/managed_objects.hpp"

#include <gtest/gtest.h>

#include "domain/error.hpp"
#include "service_fixture.hpp"
#include "services/key_lifecycle.hpp"

namespace kms::core {
namespace {

using namespace test_support;

class GcmHsm final : public FakeHsm {
  public:
    Bytes encrypt(const KeyRef& k, const CipherParams& p, ByteView in) override {
        EXPECT_EQ(p.mode, CipherMode::AesGcm);
        EXPECT_EQ(k.key_id, "kms-secret-data");
        aad.assign(p.aad.begin(), p.aad.end());
        Bytes out(in.begin(), in.end());
        for (auto& b : out) b ^= 0x5A;
        out.insert(out.end(), 16, 0xEE);
        return out;
    }
    Bytes decrypt(const KeyRef&, const CipherParams& p, ByteView in) override {
        if (std::string(p.aad.begin(), p.aad.end()) != bound)
            throw Error(ErrorCode::VerificationFailed, "tag");
        Bytes out(in.begin(), in.end() - 16);
        for (auto& b : out) b ^= 0x5A;
        return out;
    }
    Bytes aad;
    std::string bound;  ///< the additional data decrypt() accepts
};

class Objects : public ServiceFixture<GcmHsm> {
  protected:
    Objects() : ServiceFixture("objects") {}
    void SetUp() override {
        ServiceFixture::SetUp();
        m_service = std::make_unique<ManagedObjectService>(*m_ctx);
    }
    void TearDown() override {
        m_service.reset();
        ServiceFixture::TearDown();
    }
    RegisterObjectRequest req(const std::string& name) {
        RegisterObjectRequest r;
        r.name = name;
        r.source = "kmip";
        return r;
    }
    std::string audit_text() {
        std::string all;
        for (const auto& r : m_store->read_audit(1, 1000))
            all += r.event.action + " " + r.event.target + " " + r.event.detail + "\n";
        return all;
    }
    std::unique_ptr<ManagedObjectService> m_service;
    Principal m_officer = person("array-1", Role::KeyOfficer);
    SecureBytes m_secret{reinterpret_cast<const std::uint8_t*>("hunter2-password"), 16};
};

TEST_F(Objects, SecretIsStoredEncryptedBoundToItsIdAndRevealedAudited) {
    const ManagedObject o = m_service->register_secret_data(m_officer, req("pw"), m_secret);
    EXPECT_TRUE(is_managed_object_id(o.id));
    EXPECT_EQ(o.state, KeyState::PreActive);
    EXPECT_EQ(o.created_by, "array-1");
    EXPECT_EQ(std::string(m_hsm.aad.begin(), m_hsm.aad.end()), o.id);
    const auto rec = m_store->get(Table::ManagedObjects, o.id);
    ASSERT_TRUE(rec);
    const ManagedObject stored = decode_managed_object(*rec);
    EXPECT_EQ(stored.name, "pw");
    EXPECT_EQ(stored.value.size(), 12u + 16u + 16u);  // IV, ciphertext, tag
    EXPECT_EQ(std::string(rec->begin(), rec->end()).find("hunter2"), std::string::npos);
    EXPECT_EQ(encode_managed_object(stored), *rec);

    m_hsm.bound = o.id;
    const SecureBytes back = m_service->reveal_secret(m_officer, o.id);
    EXPECT_EQ(std::string(back.view().begin(), back.view().end()), "hunter2-password");
    const std::string audit = audit_text();
    EXPECT_NE(audit.find("object.register " + o.id), std::string::npos) << audit;
    EXPECT_NE(audit.find("object.reveal " + o.id), std::string::npos) << audit;
    EXPECT_EQ(audit.find("hunter2"), std::string::npos) << audit;

    // The secret key is made once and kept.
    const int generated = m_hsm.generated;
    m_service->register_secret_data(m_officer, req("pw2"), m_secret);
    EXPECT_EQ(m_hsm.generated, generated);

    // A value moved to another record does not decrypt (the id is the additional data).
    m_hsm.bound = "o-other";
    EXPECT_THROW(m_service->reveal_secret(m_officer, o.id), Error);
}

TEST_F(Objects, LifecycleFollowsTheKeyTableAndDestroyWipesAndFreesTheName) {
    const ManagedObject o = m_service->register_secret_data(m_officer, req("pw"), m_secret);
    EXPECT_THROW(m_service->register_secret_data(m_officer, req("pw"), m_secret), Error);
    m_service->transition(m_officer, o.id, Transition::Activate, "");
    try {
        m_service->transition(m_officer, o.id, Transition::Destroy, "");
        ADD_FAILURE() << "an Active object was destroyed";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), ErrorCode::WrongState);
    }
    m_service->transition(m_officer, o.id, Transition::Compromise, "", 1000);
    const ManagedObject d = m_service->transition(m_officer, o.id, Transition::Destroy, "");
    EXPECT_EQ(d.state, KeyState::DestroyedCompromised);
    EXPECT_EQ(d.compromise_ms, 1000);
    EXPECT_TRUE(m_service->get(m_officer, o.id).value.empty());
    EXPECT_THROW(m_service->reveal_secret(m_officer, o.id), Error);
    EXPECT_NO_THROW(m_service->register_secret_data(m_officer, req("pw"), m_secret));
    EXPECT_EQ(m_service->list(m_officer).size(), 2u);
}

TEST_F(Objects, RefusalsStoreNothing) {
    auto code = [](const std::function<void()>& f) {
        try {
            f();
        } catch (const Error& e) {
            return e.code();
        }
        return ErrorCode::Internal;
    };
    EXPECT_EQ(code([&] {
                  m_service->register_secret_data(person("p", Role::Plugin), req("a"), m_secret);
              }),
              ErrorCode::Forbidden);
    EXPECT_EQ(code([&] { m_service->register_secret_data(m_officer, req("a b"), m_secret); }),
              ErrorCode::InvalidArgument);
    EXPECT_EQ(code([&] { m_service->register_secret_data(m_officer, req("e"), SecureBytes()); }),
              ErrorCode::InvalidArgument);
    const Bytes junk{0x30, 0x03, 0x02, 0x01, 0x01};
    EXPECT_EQ(code([&] { m_service->register_certificate(m_officer, req("c"), junk); }),
              ErrorCode::InvalidArgument);
    // A key's name is taken for objects too.
    KeyLifecycle keys(*m_ctx);
    CreateKeyRequest k;
    k.name = "shared";
    k.usage = UsageMask().add(Usage::Encrypt);
    keys.create(m_officer, k);
    EXPECT_EQ(code([&] { m_service->register_secret_data(m_officer, req("shared"), m_secret); }),
              ErrorCode::Conflict);
    EXPECT_EQ(m_service->list(m_officer).size(), 0u);
    EXPECT_EQ(code([&] { m_service->get(m_officer, "k-123"); }), ErrorCode::NotFound);
    EXPECT_EQ(code([&] { m_service->reveal_secret(person("aud", Role::Auditor), "o-1"); }),
              ErrorCode::Forbidden);
}

}  // namespace
}  // namespace kms::core
