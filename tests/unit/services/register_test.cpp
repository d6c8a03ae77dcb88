// KeyRegistration (services/register_key.hpp) against a real LMDB store and a fake HSM that
// keeps an imported value as its "block", so the test sees exactly what reached the HSM (the
// kmip suite runs the same use case through a real kmsd and SoftHSM2).
#include <gtest/gtest.h>

#include "crypto/host_crypto.hpp"
#include "crypto/public_key.hpp"
#include "domain/error.hpp"
#include "service_fixture.hpp"
#include "services/register_key.hpp"

namespace kms::core {
namespace {

using namespace test_support;

class ImportingHsm final : public FakeHsm {
  public:
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
    int imports = 0;
    KeySpec last_spec;
};

class Registration : public ServiceFixture<ImportingHsm> {
  protected:
    Registration() : ServiceFixture("register") {}
    void SetUp() override {
        ServiceFixture::SetUp();
        m_service = std::make_unique<KeyRegistration>(*m_ctx);
    }
    void TearDown() override {
        m_service.reset();
        ServiceFixture::TearDown();
    }
    RegisterSecretRequest aes(const std::string& name) {
        RegisterSecretRequest r;
        r.name = name;
        r.algorithm = Algorithm::Aes128;
        r.usage = UsageMask().add(Usage::Encrypt).add(Usage::Decrypt);
        r.source = "kmip";
        return r;
    }
    std::string audit_text() {
        std::string all;
        for (const auto& r : m_store->read_audit(1, 1000))
            all += r.event.action + " " + r.event.target + " " + r.event.detail + "\n";
        return all;
    }
    std::size_t key_count() { return m_store->list_keys(KeyFilter{}, "", 100).keys.size(); }

    std::unique_ptr<KeyRegistration> m_service;
    Principal m_officer = person("array-1", Role::KeyOfficer);
    // SP 800-38A F.2.1's AES-128 key.
    Bytes m_key = from_hex("2B7E151628AED2A6ABF7158809CF4F3C");
};

TEST_F(Registration, SecretKeyGoesToTheHsmAndIsAnOrdinaryPreActiveKey) {
    const SecureBytes v(m_key.data(), m_key.size());
    const KeyRecord k = m_service->register_secret(m_officer, aes("array-key"), v);
    EXPECT_EQ(m_hsm.imports, 1);
    EXPECT_EQ(m_hsm.last_spec.key_id, k.id);
    EXPECT_FALSE(m_hsm.last_spec.exportable);
    EXPECT_EQ(k.current().block, m_key);  // what reached the HSM (the fake keeps it)
    EXPECT_EQ(k.state, KeyState::PreActive);
    EXPECT_FALSE(k.exportable);
    EXPECT_EQ(k.created_by, "array-1");
    const auto stored = m_store->find_key(k.id);
    ASSERT_TRUE(stored);
    EXPECT_EQ(stored->name, "array-key");
    EXPECT_EQ(stored->current().kcv, crypto::kcv_aes_cmac(m_key));
    const std::string audit = audit_text();
    EXPECT_NE(audit.find("key.register " + k.id), std::string::npos) << audit;
    EXPECT_NE(audit.find("kcv=" + to_hex(crypto::kcv_aes_cmac(m_key))), std::string::npos);
    EXPECT_NE(audit.find("via=kmip"), std::string::npos);
    EXPECT_EQ(audit.find(to_hex(m_key)), std::string::npos) << "the key value is in the audit";
}

TEST_F(Registration, ActivateOnRequest) {
    RegisterSecretRequest r = aes("active-key");
    r.activate = true;
    const KeyRecord k = m_service->register_secret(m_officer, r, SecureBytes(m_key.data(), 16));
    EXPECT_EQ(k.state, KeyState::Active);
    EXPECT_TRUE(k.activation_ms);
}

TEST_F(Registration, TripleDesGetsOddParity) {
    RegisterSecretRequest r = aes("des-key");
    r.algorithm = Algorithm::Des3_3k;
    Bytes value(24);
    for (std::size_t i = 0; i < value.size(); ++i) value[i] = static_cast<std::uint8_t>(i * 2);
    const KeyRecord k =
        m_service->register_secret(m_officer, r, SecureBytes(value.data(), value.size()));
    ASSERT_EQ(k.current().block.size(), 24u);
    for (std::size_t i = 0; i < 24; ++i) {
        const std::uint8_t b = k.current().block[i];
        EXPECT_EQ(__builtin_popcount(b) % 2, 1) << "byte " << i;  // FIPS 46-3 §2
        EXPECT_EQ(b & 0xFE, value[i] & 0xFE) << "byte " << i;
    }
}

TEST_F(Registration, RefusalsStoreNothing) {
    auto refused = [&](const Principal& who, const RegisterSecretRequest& r, std::size_t len,
                       ErrorCode want) {
        try {
            m_service->register_secret(who, r, SecureBytes(m_key.data(), len));
            ADD_FAILURE() << "not refused: " << r.name;
        } catch (const Error& e) {
            EXPECT_EQ(e.code(), want) << e.what();
            EXPECT_EQ(std::string(e.what()).find(to_hex(m_key)), std::string::npos);
        }
    };
    refused(m_officer, aes("short"), 15, ErrorCode::InvalidArgument);
    RegisterSecretRequest wide = aes("wide");
    wide.algorithm = Algorithm::Aes256;
    refused(m_officer, wide, 16, ErrorCode::InvalidArgument);
    RegisterSecretRequest mac = aes("mac-usage");
    mac.usage = UsageMask().add(Usage::Sign);
    refused(m_officer, mac, 16, ErrorCode::InvalidArgument);
    refused(m_officer, aes("bad name"), 16, ErrorCode::InvalidArgument);
    refused(person("plugin-1", Role::Plugin), aes("plugin-key"), 16, ErrorCode::Forbidden);
    refused(person("auditor", Role::Auditor), aes("audit-key"), 16, ErrorCode::Forbidden);
    EXPECT_EQ(m_hsm.imports, 0);
    EXPECT_EQ(key_count(), 0u);
    EXPECT_EQ(audit_text().find("key.register"), std::string::npos);

    m_service->register_secret(m_officer, aes("taken"), SecureBytes(m_key.data(), 16));
    refused(m_officer, aes("taken"), 16, ErrorCode::Conflict);
    EXPECT_EQ(key_count(), 1u);
}

TEST_F(Registration, PublicKeyIsKeptAsItsSpki) {
    // The P-256 generator G (SEC 2 v2 §2.4.2): a valid public key with a published value.
    const Bytes g = from_hex(
        "046B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296"
        "4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5");
    RegisterPublicKeyRequest r;
    r.name = "signer-pub";
    r.spki = crypto::ec_public_key_spki(Algorithm::EcP256, g);
    r.usage = UsageMask().add(Usage::Verify);
    const KeyRecord k = m_service->register_public_key(m_officer, r);
    EXPECT_EQ(k.algorithm, Algorithm::EcP256);
    EXPECT_TRUE(k.current().block.empty());
    EXPECT_EQ(k.current().public_key, r.spki);
    EXPECT_EQ(k.history.front().reason.rfind("registered (public key", 0), 0u);
    EXPECT_NE(audit_text().find("object=public-key"), std::string::npos);

    r.name = "signer-sign";
    r.usage = UsageMask().add(Usage::Sign);
    EXPECT_THROW(m_service->register_public_key(m_officer, r), Error);
    r.name = "junk";
    r.usage = UsageMask().add(Usage::Verify);
    r.spki = from_hex("300302010A");
    EXPECT_THROW(m_service->register_public_key(m_officer, r), Error);
    EXPECT_EQ(key_count(), 1u);
}

}  // namespace
}  // namespace kms::core
