// Client-certificate authentication decisions (api/authn.hpp principal_for_certificate): every
// refusal is Unauthenticated with a message saying why; only a certificate this KMS recorded,
// valid, client profile, bound to an enabled principal, authenticates. The TLS part (chain to
// the KMS CA) is exercised by tests/rest/rest_mtls_test.cpp against a real kmsd.
#include "api/authn.hpp"

#include <gtest/gtest.h>

#include <map>

#include "domain/error.hpp"

namespace kms::api {
namespace {

constexpr std::int64_t kNow = 1'800'000'000;  // 2027-01-15

class CertAuth : public ::testing::Test {
  protected:
    void SetUp() override {
        m_cert.serial_hex = "4A0102030405060708090A0B0C0D0E0F";
        m_cert.der = Bytes{0x30, 0x03, 0x01, 0x02, 0x03};
        m_cert.not_before_s = kNow - 3600;
        m_cert.not_after_s = kNow + 3600;

        core::CertificateRecord r;
        r.serial = m_cert.serial_hex;
        r.profile = core::CertProfile::Client;
        r.subject = "tsm-a";
        r.principal = "tsm-a";
        r.not_before_s = m_cert.not_before_s;
        r.not_after_s = m_cert.not_after_s;
        r.der = m_cert.der;
        m_records[r.serial] = r;

        core::Principal p;
        p.name = "tsm-a";
        p.roles = static_cast<std::uint32_t>(core::Role::Plugin);
        m_principals[p.name] = p;
    }

    /// The error message, or "" when it authenticated (then @p who is set).
    std::string attempt(std::int64_t now = kNow, std::string* who = nullptr) {
        try {
            auto p = principal_for_certificate(
                m_cert, now,
                [this](std::string_view s) -> std::optional<core::CertificateRecord> {
                    auto it = m_records.find(std::string(s));
                    if (it == m_records.end()) return std::nullopt;
                    return it->second;
                },
                [this](std::string_view n) -> std::optional<core::Principal> {
                    auto it = m_principals.find(std::string(n));
                    if (it == m_principals.end()) return std::nullopt;
                    return it->second;
                });
            if (who) *who = p.name;
            return "";
        } catch (const Error& e) {
            EXPECT_EQ(e.code(), ErrorCode::Unauthenticated) << e.what();
            return e.what();
        }
    }
    core::CertificateRecord& record() { return m_records.begin()->second; }

    PresentedCertificate m_cert;
    std::map<std::string, core::CertificateRecord> m_records;
    std::map<std::string, core::Principal> m_principals;
};

TEST_F(CertAuth, AValidBoundCertificateIsItsPrincipal) {
    std::string who;
    EXPECT_EQ(attempt(kNow, &who), "");
    EXPECT_EQ(who, "tsm-a");
}

TEST_F(CertAuth, ExpiredOrNotYetValidIsRefused) {
    EXPECT_NE(attempt(m_cert.not_after_s).find("expired"), std::string::npos);
    EXPECT_NE(attempt(m_cert.not_after_s + 86400).find("expired"), std::string::npos);
    EXPECT_NE(attempt(m_cert.not_before_s - 1).find("not valid yet"), std::string::npos);
    EXPECT_EQ(attempt(m_cert.not_after_s - 1), "");
    // The record's dates count too (a record shortened after issuance).
    record().not_after_s = kNow - 1;
    EXPECT_NE(attempt().find("outside its validity"), std::string::npos);
}

TEST_F(CertAuth, OnlyRecordedCertificatesCount) {
    m_cert.serial_hex = "4A0102030405060708090A0B0C0D0EFF";
    EXPECT_NE(attempt().find("was not issued by this KMS"), std::string::npos);
    SetUp();
    // Same serial, different certificate (e.g. another CA that happened to pick it).
    m_cert.der.back() ^= 1;
    EXPECT_NE(attempt().find("was not issued by this KMS"), std::string::npos);
}

TEST_F(CertAuth, RevokedIsRefused) {
    record().status = core::CertificateStatus::Revoked;
    EXPECT_NE(attempt().find("client certificate revoked"), std::string::npos);
}

TEST_F(CertAuth, ProfileBindingAndPrincipalAreChecked) {
    record().profile = core::CertProfile::Server;
    EXPECT_NE(attempt().find("not a client certificate"), std::string::npos);
    record().profile = core::CertProfile::Client;
    record().principal.clear();
    EXPECT_NE(attempt().find("not bound to a principal"), std::string::npos);
    record().principal = "tsm-gone";
    EXPECT_NE(attempt().find("'tsm-gone' does not exist"), std::string::npos);
    record().principal = "tsm-a";
    m_principals["tsm-a"].disabled = true;
    EXPECT_NE(attempt().find("disabled"), std::string::npos);
}

}  // namespace
}  // namespace kms::api
