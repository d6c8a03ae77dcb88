// Vendor quirks through the fault shim, against kmsd's profile logic (hsm-adapters/pkcs11/
// profiles.cpp): a module whose CK_INFO names another manufacturer gets the "generic" profile,
// whose assumptions the start-up self-tests catch; chosen by name, the profile applied to a
// module that lacks raw RSA and shares its login drops the host fallback that needed the
// mechanism and serves; a module lacking a mechanism the key storage model requires is refused
// at start-up with a message naming it. Also: a start-up without the token, or with a failing
// login, ends with a message naming the problem (and never the PIN).
#include <Poco/JSON/Array.h>

#include "fault_rig.hpp"

namespace kms::test {
namespace {

bool array_has(const Poco::JSON::Array::Ptr& a, const std::string& needle) {
    for (std::size_t i = 0; i < a->size(); ++i)
        if (a->getElement<std::string>(static_cast<unsigned>(i)).find(needle) != std::string::npos)
            return true;
    return false;
}

/// Runs kmsd on @p rig to completion with @p extra options (for start-up refusals).
int run_kmsd_on(const FaultRig& rig, const std::vector<std::string>& extra, std::string& output) {
    char tmpl[] = "/tmp/kms-quirk-data-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
    std::vector<std::string> args = {"--data-dir", std::string(tmpl) + "/data", "--listen",
                                     "127.0.0.1:" + std::to_string(free_port())};
    for (const auto& a : rig.kmsd_args()) args.push_back(a);
    args.insert(args.end(), extra.begin(), extra.end());
    const int rc = run_kmsd(args, output, 60);
    std::error_code ec;
    std::filesystem::remove_all(tmpl, ec);
    return rc;
}

TEST(Quirks, AnotherManufacturerGetsTheGenericProfileAndItsSelfTestsRefuseToServe) {
    // SoftHSM2 reports a bad GCM tag as CKR_GENERAL_ERROR; only the softhsm2 row says so. Under
    // another manufacturer's name "auto" picks "generic", and the start-up known-answer tests
    // catch the mismatch instead of serving a decrypt that answers 500 for a forged tag.
    FaultRig rig("manufacturer Acme HSM Corp");
    std::string output;
    const int rc = run_kmsd_on(rig, {}, output);
    EXPECT_NE(rc, 0) << output;
    EXPECT_NE(rc, -1) << "kmsd hung: " << output;
    EXPECT_NE(output.find("profile generic"), std::string::npos) << output;
    EXPECT_NE(output.find("self-test FAILED"), std::string::npos) << output;
    EXPECT_NE(output.find("GCM"), std::string::npos) << output;
    EXPECT_EQ(output.find("listening"), std::string::npos) << output;
    EXPECT_GT(rig.stat("quirks"), 0u);
}

TEST(Quirks, ProfileByNameWithoutRawRsaAndASharedLoginDropsTheFallbackAndServes) {
    FaultRig rig("manufacturer Acme HSM Corp\nhide CKM_RSA_X_509\nlogin-already-logged-in");
    auto args = rig.kmsd_args();
    args.insert(args.end(), {"--hsm-profile", "softhsm2"});
    KmsdProcess kmsd(args);
    HttpsClient c("127.0.0.1", kmsd.port(), kmsd.ca_file());
    const std::string admin = kmsd.admin_token();

    auto info = c.get("/v1/hsm", admin);
    ASSERT_EQ(info.status, 200) << info.body;
    const auto j = info.json();
    EXPECT_EQ(j->getObject("library")->getValue<std::string>("manufacturer"), "Acme HSM Corp");
    EXPECT_EQ(j->getValue<std::string>("profile"), "softhsm2");
    EXPECT_FALSE(array_has(j->getArray("mechanisms"), "CKM_RSA_X_509")) << info.body;
    EXPECT_TRUE(array_has(j->getArray("mechanisms"), "CKM_RSA_PKCS_OAEP")) << info.body;
    // RSA-OAEP-SHA256 on the host needs raw RSA in the module: without it, no such fallback.
    EXPECT_FALSE(array_has(j->getArray("hostFallbacks"), "RSA-OAEP-SHA256")) << info.body;
    EXPECT_TRUE(array_has(j->getArray("hostFallbacks"), "DES3-RETAIL")) << info.body;
    EXPECT_GT(rig.stat("hidden"), 0u);

    // The login answered CKR_USER_ALREADY_LOGGED_IN; kmsd accepted it and works.
    EXPECT_GT(rig.stat("quirks"), 0u);
    auto k =
        c.post("/v1/keys", R"({"name":"quirk-mac","algorithm":"AES-256","usage":["mac"]})", admin);
    ASSERT_EQ(k.status, 201) << k.body;
    const std::string mac_path = "/v1/keys/" + k.json()->getValue<std::string>("id") + "/mac";
    auto m = c.post(mac_path, R"({"algorithm":"AES-CMAC","data":"00"})", admin);
    EXPECT_EQ(m.status, 200) << m.body;

    // A reconnection logs in again through the same quirk.
    const auto logins = rig.stat("called C_Login");
    rig.control("manufacturer Acme HSM Corp\nhide CKM_RSA_X_509\nlogin-already-logged-in\nreset");
    auto m2 = c.post(mac_path, R"({"algorithm":"AES-CMAC","data":"00"})", admin);
    EXPECT_EQ(m2.status, 200) << m2.body;
    EXPECT_EQ(m2.body, m.body);
    EXPECT_GT(rig.stat("called C_Login"), logins);
}

TEST(Quirks, ModuleWithoutHmacSha256IsRefusedAtStartNamingTheMechanism) {
    FaultRig rig("hide CKM_SHA256_HMAC");
    std::string output;
    const int rc = run_kmsd_on(rig, {}, output);
    EXPECT_NE(rc, 0) << output;
    EXPECT_NE(rc, -1) << "kmsd hung: " << output;
    EXPECT_NE(output.find("CKM_SHA256_HMAC"), std::string::npos) << output;
    EXPECT_EQ(output.find("listening"), std::string::npos) << output;
}

TEST(Quirks, ModuleWithoutCGenerateRandomFailsTheSelfTestsNamingTheFunction) {
    // `unsupported`: the vendor's module answers CKR_FUNCTION_NOT_SUPPORTED to C_GenerateRandom.
    // Every key id, IV and token relies on the HSM's random source, so kmsd must not serve.
    FaultRig rig("unsupported C_GenerateRandom");
    std::string output;
    const int rc = run_kmsd_on(rig, {}, output);
    EXPECT_NE(rc, 0) << output;
    EXPECT_NE(rc, -1) << "kmsd hung: " << output;
    EXPECT_NE(output.find("C_GenerateRandom: CKR_FUNCTION_NOT_SUPPORTED"), std::string::npos)
        << output;
    EXPECT_EQ(output.find("listening"), std::string::npos) << output;
    EXPECT_EQ(rig.stat("injected C_GenerateRandom CKR_FUNCTION_NOT_SUPPORTED"), 1u);
}

TEST(StartUp, WithoutTheTokenOrWithAFailingLoginKmsdExitsNamingTheProblem) {
    {
        FaultRig rig("remove");
        std::string output;
        const int rc = run_kmsd_on(rig, {}, output);
        EXPECT_NE(rc, 0) << output;
        EXPECT_NE(rc, -1) << "kmsd hung: " << output;
        EXPECT_NE(output.find("kms-faults"), std::string::npos) << output;
        EXPECT_EQ(output.find("listening"), std::string::npos) << output;
    }
    {
        FaultRig rig("fail C_Login CKR_DEVICE_ERROR");
        std::string output;
        const int rc = run_kmsd_on(rig, {}, output);
        EXPECT_NE(rc, 0) << output;
        EXPECT_NE(rc, -1) << "kmsd hung: " << output;
        EXPECT_NE(output.find("CKR_DEVICE_ERROR"), std::string::npos) << output;
        EXPECT_EQ(output.find("87654321"), std::string::npos) << "the PIN was printed";
    }
}

TEST(StartUp, AKmsdProcessThatFailsToStartLeavesNoTemporaryFolder) {
    // The quirk tests start kmsd on modules it must refuse; the test support must clean up
    // after a start that throws (tests/support/kmsd_process.cpp).
    const std::string marker = "no-such-option-" + std::to_string(::getpid());
    EXPECT_THROW(KmsdProcess kmsd({"--" + marker}), std::runtime_error);
    for (const auto& e : std::filesystem::directory_iterator("/tmp")) {
        if (e.path().filename().string().rfind("kmsd-test-", 0) != 0) continue;
        EXPECT_EQ(slurp((e.path() / "kmsd.log").string()).find(marker), std::string::npos)
            << e.path() << " was left behind";
    }
}

}  // namespace
}  // namespace kms::test
