// The start-up self-tests against a real SoftHSM2 token in a temporary folder, through the
// PKCS#11 adapter: every built-in test passes, corrupted vectors are reported as failures, a
// second run in the same process passes too, and the run's duration is printed.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "pkcs11/pkcs11_hsm.hpp"
#include "selftest/self_test.hpp"

namespace kms::core {
namespace {

using namespace selftest;

constexpr const char* kToken = "kms-selftest";
constexpr const char* kSoPin = "so-pin-2718";
constexpr const char* kUserPin = "user-pin-3141";

bool contains(const std::string& haystack, std::string_view needle) {
    return haystack.find(needle) != std::string::npos;
}

/// SOFTHSM2_CONF pointing at a token folder under a fresh temporary directory; one token with
/// kmsd's master keys, opened once for the whole binary.
class SoftHsmEnvironment : public ::testing::Environment {
  public:
    static hsm::Pkcs11Hsm& hsm() { return *s_hsm; }

    void SetUp() override {
        const char* module = std::getenv("KMS_SOFTHSM_MODULE");
        const std::string module_path =
            module != nullptr && *module != '\0' ? module : "/usr/lib/softhsm/libsofthsm2.so";
        char tmpl[] = "/tmp/kms-selftest-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        m_dir = tmpl;
        std::filesystem::create_directories(m_dir + "/tokens");  // SoftHSM2 needs it to exist
        {
            std::ofstream conf(m_dir + "/softhsm2.conf");
            conf << "directories.tokendir = " << m_dir << "/tokens\n"
                 << "objectstore.backend = file\n"
                 << "log.level = ERROR\n";
        }
        ::setenv("SOFTHSM2_CONF", (m_dir + "/softhsm2.conf").c_str(), 1);
        hsm::initialize_token(module_path, kToken, SecretString(kSoPin), SecretString(kUserPin));
        hsm::Pkcs11Config config;
        config.module_path = module_path;
        config.token_label = kToken;
        config.pin = {hsm::PinSource::Kind::Value, kUserPin};
        s_hsm = hsm::Pkcs11Hsm::open(config, hsm::MasterKeys::CreateIfMissing);
    }

    void TearDown() override {
        s_hsm.reset();
        std::error_code ec;
        if (!m_dir.empty()) std::filesystem::remove_all(m_dir, ec);
    }

  private:
    static inline std::unique_ptr<hsm::Pkcs11Hsm> s_hsm;
    std::string m_dir;
};

[[maybe_unused]] auto* const g_environment =
    ::testing::AddGlobalTestEnvironment(new SoftHsmEnvironment);

void expect_all_passed(const std::vector<SelfTestResult>& results) {
    for (const auto& r : results) EXPECT_TRUE(r.passed) << r.name << ": " << r.detail;
    EXPECT_TRUE(all_passed(results));
}

TEST(SelfTestSoftHsm, EveryBuiltInTestPassesAndReportsTiming) {
    const auto start = std::chrono::steady_clock::now();
    const auto results = run_self_tests(SoftHsmEnvironment::hsm());
    const double total =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    expect_all_passed(results);
    EXPECT_EQ(results.size(), host_known_answers().size() + mac_known_answers().size() +
                                  cipher_known_answers().size() + kcv_known_answers().size() +
                                  verify_known_answers().size() + pairwise_tests().size() + 2);
    for (const auto& r : results)
        std::cout << "  " << (r.passed ? "ok   " : "FAIL ") << r.elapsed_ms << " ms  " << r.name
                  << "\n";
    std::cout << "run_self_tests: " << results.size() << " tests in " << total << " ms\n";
    RecordProperty("self_test_ms", static_cast<int>(total));
}

TEST(SelfTestSoftHsm, SecondRunInTheSameProcessPasses) {
    // Same key ids as the first run: the runner's forget() must drop the cached objects so a
    // re-import under the same id does not collide.
    expect_all_passed(run_self_tests(SoftHsmEnvironment::hsm()));
}

TEST(SelfTestSoftHsm, CorruptedMacVectorFails) {
    std::vector<MacKnownAnswer> table(mac_known_answers().begin(), mac_known_answers().end());
    table[0].expected = "dfa66747de9ae63030ca32611497c828";  // RFC 4493 Example 3, last digit +1
    const auto results = run_mac(SoftHsmEnvironment::hsm(), table);
    EXPECT_FALSE(results[0].passed);
    EXPECT_TRUE(contains(results[0].detail, "mac: expected DFA66747")) << results[0].detail;
    for (std::size_t i = 1; i < results.size(); ++i)
        EXPECT_TRUE(results[i].passed) << results[i].name << ": " << results[i].detail;
}

TEST(SelfTestSoftHsm, CorruptedCipherVectorsFail) {
    std::vector<CipherKnownAnswer> table(cipher_known_answers().begin(),
                                         cipher_known_answers().end());
    // GCM Test Case 4 with a wrong tag, and TCBCMMT3 with a wrong key. The key change is in
    // bit 4 of the last byte: the low bit of every DES key byte is parity and ignored
    // (FIPS 46-3), so changing d0 to d1 would be the same key (and the test would pass).
    table[0].ciphertext =
        "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
        "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091"
        "5bc94fbc3221a5db94fae95ae7121a48";
    const std::size_t des3 = 6;
    ASSERT_EQ(table[des3].key_algorithm, Algorithm::Des3_3k);
    table[des3].key = "1a5d4c0825072a15a8ad9dfdaeda8c048adffb85bc4fcee0";
    const auto results = run_cipher(SoftHsmEnvironment::hsm(), table);
    EXPECT_FALSE(results[0].passed);
    EXPECT_TRUE(contains(results[0].detail, "encrypt: expected")) << results[0].detail;
    EXPECT_FALSE(results[des3].passed);
    for (std::size_t i = 0; i < results.size(); ++i) {
        if (i != 0 && i != des3) {
            EXPECT_TRUE(results[i].passed) << results[i].name;
        }
    }
}

TEST(SelfTestSoftHsm, CorruptedKcvAndSignatureVectorsFail) {
    std::vector<KcvKnownAnswer> kcv(kcv_known_answers().begin(), kcv_known_answers().end());
    kcv[2].kcv = "8BAF48";
    const auto kcv_results = run_kcv(SoftHsmEnvironment::hsm(), kcv);
    EXPECT_FALSE(kcv_results[2].passed);
    EXPECT_TRUE(contains(kcv_results[2].detail, "kcv: expected 8BAF48, got 8BAF47"))
        << kcv_results[2].detail;

    std::vector<VerifyKnownAnswer> verify(verify_known_answers().begin(),
                                          verify_known_answers().end());
    // RFC 6979 A.2.5 signature with r changed in its first digit (E -> D).
    verify[0].signature =
        "DFD48B2AACB6A8FD1140DD9CD45E81D69D2C877B56AAF991C34D0EA84EAF3716"
        "F7CB1C942D657C41D436C7A1B6E29F65F3E900DBB9AFF4064DC4AB2F843ACDA8";
    const auto verify_results = run_verify(SoftHsmEnvironment::hsm(), verify);
    EXPECT_FALSE(verify_results[0].passed);
    EXPECT_TRUE(contains(verify_results[0].detail, "did not verify")) << verify_results[0].detail;
    EXPECT_TRUE(verify_results[1].passed) << verify_results[1].detail;
    EXPECT_TRUE(verify_results[2].passed) << verify_results[2].detail;
}

}  // namespace
}  // namespace kms::core
