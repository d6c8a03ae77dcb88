// CK_RV names and mapping, CKM names, vendor profile selection: pure tables, plus the profile
// applied to the real SoftHSM2 mechanism list.
#include "pkcs11/errors.hpp"

#include <cstring>

#include "pkcs11/mechanisms.hpp"
#include "pkcs11/profiles.hpp"
#include "support.hpp"

namespace kms::hsm::test {
namespace {

TEST(CkRvTable, NamesKnownUnknownAndVendorValues) {
    EXPECT_EQ(ckr_name(CKR_OK), "CKR_OK");
    EXPECT_EQ(ckr_name(CKR_KEY_HANDLE_INVALID), "CKR_KEY_HANDLE_INVALID");
    EXPECT_EQ(ckr_name(CKR_PIN_INCORRECT), "CKR_PIN_INCORRECT");
    EXPECT_EQ(ckr_name(0x35), "CKR_AEAD_DECRYPT_FAILED");  // PKCS#11 v3.0
    EXPECT_EQ(ckr_name(0x0F), "CKR_0x0000000F");
    EXPECT_EQ(ckr_name(CKR_VENDOR_DEFINED + 0x42), "CKR_VENDOR_DEFINED+0x42");
}

TEST(CkRvTable, MapsToPortableCodes) {
    struct Row {
        CK_RV rv;
        ErrorCode code;
    };
    const Row rows[] = {
        {CKR_DEVICE_REMOVED, ErrorCode::HsmUnavailable},
        {CKR_DEVICE_ERROR, ErrorCode::HsmUnavailable},
        {CKR_SESSION_HANDLE_INVALID, ErrorCode::HsmUnavailable},
        {CKR_SESSION_CLOSED, ErrorCode::HsmUnavailable},
        {CKR_TOKEN_NOT_PRESENT, ErrorCode::HsmUnavailable},
        {CKR_CRYPTOKI_NOT_INITIALIZED, ErrorCode::HsmUnavailable},
        {CKR_MECHANISM_INVALID, ErrorCode::Unsupported},
        {CKR_FUNCTION_NOT_SUPPORTED, ErrorCode::Unsupported},
        {CKR_SIGNATURE_INVALID, ErrorCode::VerificationFailed},
        {CKR_ENCRYPTED_DATA_INVALID, ErrorCode::VerificationFailed},
        {0x35, ErrorCode::VerificationFailed},
        {CKR_DATA_LEN_RANGE, ErrorCode::InvalidArgument},
        {CKR_ENCRYPTED_DATA_LEN_RANGE, ErrorCode::InvalidArgument},
        {CKR_SIGNATURE_LEN_RANGE, ErrorCode::InvalidArgument},
        {CKR_ARGUMENTS_BAD, ErrorCode::InvalidArgument},
        {CKR_KEY_FUNCTION_NOT_PERMITTED, ErrorCode::UsageNotPermitted},
        {CKR_GENERAL_ERROR, ErrorCode::HsmError},
        {CKR_PIN_INCORRECT, ErrorCode::HsmError},
        {CKR_VENDOR_DEFINED + 1, ErrorCode::HsmError},
    };
    for (const auto& r : rows)
        EXPECT_EQ(error_code_name(ckr_error_code(r.rv)), error_code_name(r.code)) << ckr_name(r.rv);
}

TEST(CkRvTable, ErrorKeepsTheNativeCodeAndNamesTheFunction) {
    const Error e = ck_error(CKR_KEY_HANDLE_INVALID, "C_SignInit", "k1");
    EXPECT_EQ(e.code(), ErrorCode::HsmError);
    EXPECT_EQ(e.native_kind(), NativeKind::CkRv);
    EXPECT_EQ(e.native_code(), 0x60u);
    EXPECT_STREQ(e.what(), "C_SignInit (k1): CKR_KEY_HANDLE_INVALID (0x00000060)");
    const Error plain = ck_error(CKR_DEVICE_REMOVED, "C_Sign");
    EXPECT_STREQ(plain.what(), "C_Sign: CKR_DEVICE_REMOVED (0x00000032)");
    EXPECT_EQ(plain.code(), ErrorCode::HsmUnavailable);
    EXPECT_THROW(check_rv(CKR_ARGUMENTS_BAD, "C_Encrypt"), Error);
    EXPECT_NO_THROW(check_rv(CKR_OK, "C_Encrypt"));
}

TEST(CkRvTable, SessionLossIsRecognised) {
    EXPECT_TRUE(session_lost(ck_error(CKR_SESSION_HANDLE_INVALID, "C_Sign")));
    EXPECT_TRUE(session_lost(ck_error(CKR_DEVICE_REMOVED, "C_Sign")));
    EXPECT_TRUE(session_lost(ck_error(CKR_USER_NOT_LOGGED_IN, "C_Sign")));
    EXPECT_FALSE(session_lost(ck_error(CKR_GENERAL_ERROR, "C_Sign")));
    EXPECT_FALSE(session_lost(Error(ErrorCode::HsmUnavailable, "no CK_RV")));
}

TEST(CkmTable, Names) {
    EXPECT_EQ(ckm_name(CKM_AES_CMAC), "CKM_AES_CMAC");
    EXPECT_EQ(ckm_name(CKM_AES_KEY_WRAP_PAD), "CKM_AES_KEY_WRAP_PAD");
    EXPECT_EQ(ckm_name(0x210B), "CKM_AES_KEY_WRAP_KWP");
    EXPECT_EQ(ckm_name(CKM_SHA256_RSA_PKCS_PSS), "CKM_SHA256_RSA_PKCS_PSS");
    EXPECT_EQ(ckm_name(0x7777), "CKM_0x00007777");
    EXPECT_EQ(ckm_name(CKM_VENDOR_DEFINED + 0x150), "CKM_VENDOR_DEFINED+0x150");
}

CK_INFO info_of(const char* manufacturer, const char* description) {
    CK_INFO info{};
    std::memset(info.manufacturerID, ' ', sizeof info.manufacturerID);
    std::memset(info.libraryDescription, ' ', sizeof info.libraryDescription);
    std::memcpy(info.manufacturerID, manufacturer, std::strlen(manufacturer));
    std::memcpy(info.libraryDescription, description, std::strlen(description));
    return info;
}

TEST(Profiles, SelectedByModuleInfoOrName) {
    EXPECT_EQ(select_profile("auto", info_of("SoftHSM", "Implementation of PKCS11")).name,
              "softhsm2");
    EXPECT_EQ(select_profile("auto", info_of("Acme HSM Corp", "Acme PKCS#11")).name, "generic");
    EXPECT_EQ(select_profile("generic", info_of("SoftHSM", "Implementation of PKCS11")).name,
              "generic");
    const auto msg = expect_error(ErrorCode::InvalidArgument,
                                  [] { select_profile("luna", info_of("SoftHSM", "x")); });
    EXPECT_NE(msg.find("softhsm2"), std::string::npos) << msg;
    EXPECT_EQ(vendor_profiles().back().name, "generic");
}

TEST(Profiles, SoftHsmRowIsData) {
    const auto& p = select_profile("softhsm2", info_of("", ""));
    EXPECT_FALSE(p.lmk_trusted);
    EXPECT_EQ(p.retail_mac_mechanism, 0u);
    EXPECT_TRUE(p.retail_mac_host_fallback);
    EXPECT_EQ(p.decrypt_failure_rvs[0], CKR_GENERAL_ERROR);
    EXPECT_GE(p.default_sessions, 1u);
}

TEST(ModuleLoading, OneInitialisationPerLibraryAndProcess) {
    const auto a = Module::load(module_path());
    const auto b = Module::load(module_path());
    EXPECT_EQ(a.get(), b.get()) << "the same library is shared, not initialised twice";
    EXPECT_TRUE(a->owns_initialization());
    EXPECT_EQ(version_string(a->info().cryptokiVersion), "2.40");
    // A label that is not on any token, and one that cannot be a label.
    EXPECT_FALSE(a->find_token("no-such-token"));
    expect_error(ErrorCode::InvalidArgument, [&] { a->find_token(std::string(33, 'x')); });
    expect_error(ErrorCode::InvalidArgument, [&] { a->find_token(""); });
    expect_error(ErrorCode::HsmUnavailable, [] { Module::load("/nonexistent/libnothing.so"); });
}

TEST(Profiles, ResolvedAgainstTheRealSoftHsmMechanisms) {
    const auto module = Module::load(module_path());
    const auto slot = module->find_token(kSharedToken);
    ASSERT_TRUE(slot);
    const auto mechs = MechanismSet::discover(*module, *slot);
    EXPECT_TRUE(mechs.has(CKM_AES_KEY_WRAP_PAD, CKF_WRAP | CKF_UNWRAP));
    EXPECT_FALSE(mechs.has(CKM_AES_CMAC, CKF_WRAP));
    const auto caps = resolve(select_profile("softhsm2", module->info()), mechs);
    EXPECT_TRUE(caps.retail_mac_on_host);
    // RFC 5649 is 0x210A on SoftHSM2 (softhsm/SoftHSMv2#726); "generic" picks it from the list.
    EXPECT_EQ(caps.key_wrap_mechanism, CKM_AES_KEY_WRAP_PAD);
    EXPECT_FALSE(mechs.has(CKM_AES_KEY_WRAP_KWP));
    EXPECT_EQ(resolve(select_profile("generic", module->info()), mechs).key_wrap_mechanism,
              CKM_AES_KEY_WRAP_PAD);
    // SoftHSM 2.6.1 has no CKM_ECDSA_SHA256: the decision follows the list.
    EXPECT_EQ(caps.ecdsa_sha256_in_module, mechs.has(CKM_ECDSA_SHA256, CKF_SIGN));
    ASSERT_FALSE(caps.host_fallbacks.empty());
    EXPECT_EQ(caps.host_fallbacks[0].rfind("DES3-RETAIL", 0), 0u);
}

}  // namespace
}  // namespace kms::hsm::test
