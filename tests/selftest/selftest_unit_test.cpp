// Unit tests of kms-core/selftest without a real HSM: the host KATs pass, a corrupted or
// malformed vector is reported as a failure (never an exception), and two fake HSMs (one that
// is down, one that answers "yes" to everything) make every HSM test fail with a useful detail.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "domain/error.hpp"
#include "selftest/self_test.hpp"

namespace kms::core {
namespace {

using namespace selftest;

bool contains(const std::string& haystack, std::string_view needle) {
    return haystack.find(needle) != std::string::npos;
}

std::size_t hsm_test_count() {
    return mac_known_answers().size() + cipher_known_answers().size() + kcv_known_answers().size() +
           verify_known_answers().size() + pairwise_tests().size() + 2;  // random, audit seal
}

/// Every call fails as an unreachable HSM would.
class DownHsm final : public Hsm {
  public:
    [[noreturn]] static void down() { throw Error(ErrorCode::HsmUnavailable, "hsm down"); }
    GeneratedKey generate(const KeySpec&) override { down(); }
    GeneratedKey import_secret(const KeySpec&, const SecureBytes&) override { down(); }
    Bytes mac(const KeyRef&, MacAlgorithm, ByteView) override { down(); }
    Bytes encrypt(const KeyRef&, const CipherParams&, ByteView) override { down(); }
    Bytes decrypt(const KeyRef&, const CipherParams&, ByteView) override { down(); }
    Bytes sign(const KeyRef&, SignAlgorithm, ByteView) override { down(); }
    bool verify(const KeyRef&, SignAlgorithm, ByteView, ByteView) override { down(); }
    Bytes random(std::size_t) override { down(); }
    Bytes audit_seal(ByteView) override { down(); }
    void forget(std::string_view) override { down(); }  // must not escape either
    bool probe() noexcept override { return false; }
    HsmInfo info() override { down(); }
};

/// Accepts everything and computes nothing: the negative checks must catch it.
class YesHsm final : public Hsm {
  public:
    GeneratedKey generate(const KeySpec&) override { return {Bytes{1}, {}, {}}; }
    GeneratedKey import_secret(const KeySpec&, const SecureBytes&) override {
        return {Bytes{1}, Bytes{0, 0, 0}, {}};
    }
    Bytes mac(const KeyRef&, MacAlgorithm, ByteView) override { return Bytes(16); }
    Bytes encrypt(const KeyRef&, const CipherParams&, ByteView p) override {
        return Bytes(p.begin(), p.end());
    }
    Bytes decrypt(const KeyRef&, const CipherParams&, ByteView c) override {
        return Bytes(c.begin(), c.end());
    }
    Bytes sign(const KeyRef&, SignAlgorithm, ByteView) override { return Bytes(64); }
    bool verify(const KeyRef&, SignAlgorithm, ByteView, ByteView) override { return true; }
    Bytes random(std::size_t n) override { return Bytes(n); }
    Bytes audit_seal(ByteView) override { return Bytes(32); }
    void forget(std::string_view) override {}
    bool probe() noexcept override { return true; }
    HsmInfo info() override { return {}; }
};

TEST(SelfTestHost, BuiltInHostVectorsPass) {
    const auto results = run_host(host_known_answers());
    ASSERT_EQ(results.size(), host_known_answers().size());
    for (const auto& r : results) EXPECT_TRUE(r.passed) << r.name << ": " << r.detail;
    EXPECT_TRUE(all_passed(results));
}

TEST(SelfTestHost, EveryHostFunctionIsCovered) {
    std::vector<bool> seen(9, false);
    for (const auto& k : host_known_answers()) seen.at(static_cast<std::size_t>(k.function)) = true;
    for (std::size_t i = 0; i < seen.size(); ++i) EXPECT_TRUE(seen[i]) << "HostFunction " << i;
}

TEST(SelfTestHost, CorruptedExpectedValueIsReportedAsFailed) {
    std::vector<HostKnownAnswer> table(host_known_answers().begin(), host_known_answers().end());
    // SHA-256("abc") with the last digit changed (FIPS 180-2 B.1 ends in ...15ad).
    ASSERT_EQ(table[0].function, HostFunction::Sha256);
    table[0].expected = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ae";
    const auto results = run_host(table);
    ASSERT_EQ(results.size(), table.size());
    EXPECT_FALSE(results[0].passed);
    EXPECT_TRUE(contains(results[0].detail, "expected BA7816BF")) << results[0].detail;
    EXPECT_TRUE(contains(results[0].detail, "got BA7816BF")) << results[0].detail;
    for (std::size_t i = 1; i < results.size(); ++i)
        EXPECT_TRUE(results[i].passed) << results[i].name;
    EXPECT_FALSE(all_passed(results));
}

TEST(SelfTestHost, MalformedVectorIsAFailureNotAnException) {
    std::vector<HostKnownAnswer> table(host_known_answers().begin(), host_known_answers().end());
    table[1].message = "6162Z3";
    table[2].key = "";  // HMAC with an empty key computes, but not the published MAC
    std::vector<SelfTestResult> results;
    ASSERT_NO_THROW(results = run_host(table));
    EXPECT_FALSE(results[1].passed);
    EXPECT_TRUE(contains(results[1].detail, "exception: invalid_argument")) << results[1].detail;
    EXPECT_FALSE(results[2].passed);
    EXPECT_TRUE(contains(results[2].detail, "expected 5BDCC146")) << results[2].detail;
}

TEST(SelfTestHost, ResultNamesCiteTheirSource) {
    for (const auto& r : run_host(host_known_answers())) {
        EXPECT_TRUE(contains(r.name, "[") && contains(r.name, "]")) << r.name;
        EXPECT_GE(r.elapsed_ms, 0.0);
    }
}

TEST(SelfTestRun, HsmDownFailsEveryHsmTestWithoutThrowing) {
    DownHsm hsm;
    std::vector<SelfTestResult> results;
    ASSERT_NO_THROW(results = run_self_tests(hsm));
    ASSERT_EQ(results.size(), host_known_answers().size() + hsm_test_count());
    std::size_t failed = 0;
    for (const auto& r : results) {
        if (r.name.rfind("host ", 0) == 0) {
            EXPECT_TRUE(r.passed) << r.name;
        } else {
            EXPECT_FALSE(r.passed) << r.name;
            EXPECT_TRUE(contains(r.detail, "exception: hsm_unavailable: hsm down")) << r.detail;
            ++failed;
        }
    }
    EXPECT_EQ(failed, hsm_test_count());
    EXPECT_FALSE(all_passed(results));
}

TEST(SelfTestRun, NegativeChecksCatchAnHsmThatSaysYesToEverything) {
    YesHsm hsm;
    const auto results = run_self_tests(hsm);
    for (const auto& r : results) {
        if (r.name.rfind("host ", 0) == 0) continue;
        EXPECT_FALSE(r.passed) << r.name << " passed against a fake";
        std::string_view want;
        if (r.name.rfind("hsm verify", 0) == 0) want = "one bit flipped verified";
        if (r.name.rfind("hsm pairwise", 0) == 0) want = "no public key";
        if (r.name == "hsm random") want = "equal";
        if (r.name == "hsm audit seal") want = "one-bit change";
        EXPECT_TRUE(contains(r.detail, want)) << r.name << ": " << r.detail;
    }
}

TEST(SelfTestRun, GcmTagCheckCatchesAnHsmThatIgnoresTheTag) {
    // Encrypts "correctly" by echoing the expected ciphertext back and decrypts anything to the
    // plaintext, so only the corrupted-tag check can notice.
    class TagBlindHsm final : public Hsm {
      public:
        explicit TagBlindHsm(const CipherKnownAnswer& k) : m_k(k) {}
        GeneratedKey generate(const KeySpec&) override { return {}; }
        GeneratedKey import_secret(const KeySpec&, const SecureBytes&) override { return {}; }
        Bytes mac(const KeyRef&, MacAlgorithm, ByteView) override { return {}; }
        Bytes encrypt(const KeyRef&, const CipherParams&, ByteView) override {
            return from_hex(m_k.ciphertext);
        }
        Bytes decrypt(const KeyRef&, const CipherParams&, ByteView) override {
            return from_hex(m_k.plaintext);
        }
        Bytes sign(const KeyRef&, SignAlgorithm, ByteView) override { return {}; }
        bool verify(const KeyRef&, SignAlgorithm, ByteView, ByteView) override { return false; }
        Bytes random(std::size_t) override { return {}; }
        Bytes audit_seal(ByteView) override { return {}; }
        void forget(std::string_view) override {}
        bool probe() noexcept override { return true; }
        HsmInfo info() override { return {}; }

      private:
        const CipherKnownAnswer& m_k;
    };
    const CipherKnownAnswer& gcm = cipher_known_answers()[0];
    ASSERT_EQ(gcm.mode, CipherMode::AesGcm);
    TagBlindHsm hsm(gcm);
    const auto results = run_cipher(hsm, std::span<const CipherKnownAnswer>(&gcm, 1));
    ASSERT_EQ(results.size(), 1u);
    EXPECT_FALSE(results[0].passed);
    EXPECT_TRUE(contains(results[0].detail, "corrupted GCM tag")) << results[0].detail;
}

TEST(SelfTestRun, AllPassedNeedsAtLeastOneResult) {
    EXPECT_FALSE(all_passed({}));
    EXPECT_TRUE(all_passed({SelfTestResult{"a", true, "", 0}}));
    EXPECT_FALSE(
        all_passed({SelfTestResult{"a", true, "", 0}, SelfTestResult{"b", false, "x", 0}}));
}

TEST(SelfTestTables, CoverEveryMechanismTheKmsOffers) {
    // DESIGN §3/§5: every MAC, cipher mode and signature algorithm of domain/algorithm.hpp has
    // a known answer through the HSM; every key algorithm is exercised at least once.
    std::vector<bool> mac(4, false), cipher(6, false), sign(5, false), algorithm(11, false);
    for (const auto& k : mac_known_answers()) {
        mac[static_cast<std::size_t>(k.mac)] = true;
        algorithm[static_cast<std::size_t>(k.key_algorithm)] = true;
    }
    for (const auto& k : cipher_known_answers()) {
        cipher[static_cast<std::size_t>(k.mode)] = true;
        algorithm[static_cast<std::size_t>(k.key_algorithm)] = true;
    }
    for (const auto& k : verify_known_answers()) {
        sign[static_cast<std::size_t>(k.sign)] = true;
        algorithm[static_cast<std::size_t>(k.key_algorithm)] = true;
    }
    for (const auto& t : pairwise_tests()) {
        for (auto s : t.schemes) sign[static_cast<std::size_t>(s)] = true;
        algorithm[static_cast<std::size_t>(t.key_algorithm)] = true;
    }
    for (auto m : {MacAlgorithm::AesCmac, MacAlgorithm::Des3Retail, MacAlgorithm::HmacSha256})
        EXPECT_TRUE(mac[static_cast<std::size_t>(m)]) << mac_algorithm_name(m);
    for (auto m : {CipherMode::AesGcm, CipherMode::AesCbcPad, CipherMode::AesCbc,
                   CipherMode::Des3CbcPad, CipherMode::Des3Cbc})
        EXPECT_TRUE(cipher[static_cast<std::size_t>(m)]) << cipher_mode_name(m);
    for (auto s : {SignAlgorithm::EcdsaSha256, SignAlgorithm::EcdsaSha384,
                   SignAlgorithm::RsaPssSha256, SignAlgorithm::RsaPkcs1Sha256})
        EXPECT_TRUE(sign[static_cast<std::size_t>(s)]) << sign_algorithm_name(s);
    for (const auto& a : all_algorithms()) {
        if (a.algorithm == Algorithm::Rsa3072) continue;  // see known_answers.cpp: keygen cost
        EXPECT_TRUE(algorithm[static_cast<std::size_t>(a.algorithm)]) << a.name;
    }
}

}  // namespace
}  // namespace kms::core
