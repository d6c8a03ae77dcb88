// Opening the adapter: token initialisation, master keys (create, require, partial set), PIN
// sources and wrong PINs, profile choice, what pkcs11-tool sees, orphan report, info.
#include <sys/stat.h>

#include <algorithm>
#include <fstream>

#include "crypto/host_crypto.hpp"
#include "pkcs11/object_templates.hpp"
#include "support.hpp"

namespace kms::hsm::test {
namespace {

using core::Algorithm;
using core::Usage;

TEST(Token, SharedTokenWasOpenedWithCreateIfMissing) {
    const core::HsmInfo info = shared_hsm().info();
    EXPECT_EQ(info.module_path, module_path());
    EXPECT_EQ(info.library_manufacturer, "SoftHSM");
    EXPECT_EQ(info.library_description, "Implementation of PKCS11");
    EXPECT_EQ(info.cryptoki_version, "2.40");
    EXPECT_EQ(info.library_version, "2.6");
    EXPECT_EQ(info.token_label, kSharedToken);
    EXPECT_EQ(info.token_model, "SoftHSM v2");
    EXPECT_FALSE(info.token_serial.empty());
    EXPECT_EQ(info.profile, "softhsm2");
    EXPECT_EQ(info.session_pool_size, 32u);  // the softhsm2 row's default
    EXPECT_EQ(info.handle_cache_capacity, 4096u);
    EXPECT_EQ(info.master_key_kcv.size(), 6u) << "SoftHSM2 computes CKA_CHECK_VALUE";
    const auto has = [&](const std::string& m) {
        return std::find(info.mechanisms.begin(), info.mechanisms.end(), m) !=
               info.mechanisms.end();
    };
    EXPECT_TRUE(has("CKM_AES_CMAC"));
    EXPECT_TRUE(has("CKM_AES_KEY_WRAP_PAD"));
    EXPECT_TRUE(has("CKM_SHA256_HMAC"));
    EXPECT_FALSE(has("CKM_ECDSA_SHA256"));  // SoftHSM 2.6.1
    ASSERT_EQ(info.host_fallbacks.size(), 5u);
    EXPECT_EQ(info.host_fallbacks[0].rfind("DES3-RETAIL:", 0), 0u);
    EXPECT_EQ(info.host_fallbacks[1].rfind("TR-31:", 0), 0u);
    EXPECT_EQ(info.host_fallbacks[2].rfind("RSA-OAEP-SHA256:", 0), 0u);
    EXPECT_EQ(info.host_fallbacks[3].rfind("ECDSA:", 0), 0u);
    EXPECT_EQ(info.host_fallbacks[4].rfind("GlobalPlatform session keys:", 0), 0u);
    EXPECT_EQ(shared_hsm().profile_name(), "softhsm2");
    EXPECT_TRUE(shared_hsm().probe());
}

TEST(Token, MasterKeysAreTokenObjectsWithSafeAttributes) {
    RawToken raw(kSharedToken);
    for (const char* label : {"kms-lmk", "kms-lmk-mac", "kms-audit"}) {
        const auto found = raw.find_secret(label);
        ASSERT_EQ(found.size(), 1u) << label;
        CK_BBOOL token = 0, priv = 0, sensitive = 0, extractable = 1, wrap = 0, sign = 0;
        CK_ULONG len = 0;
        CK_ATTRIBUTE a[] = {{CKA_TOKEN, &token, 1},
                            {CKA_PRIVATE, &priv, 1},
                            {CKA_SENSITIVE, &sensitive, 1},
                            {CKA_EXTRACTABLE, &extractable, 1},
                            {CKA_WRAP, &wrap, 1},
                            {CKA_SIGN, &sign, 1},
                            {CKA_VALUE_LEN, &len, sizeof len}};
        ASSERT_EQ(raw.fn().C_GetAttributeValue(raw.session(), found[0], a, 7), CKR_OK);
        EXPECT_TRUE(token && priv && sensitive && !extractable) << label;
        EXPECT_EQ(len, 32u) << label;
        const bool lmk = std::string(label) == "kms-lmk";
        EXPECT_EQ(wrap == CK_TRUE, lmk) << label;
        EXPECT_EQ(sign == CK_TRUE, !lmk) << label;
        CK_BYTE value[32];
        CK_ATTRIBUTE v{CKA_VALUE, value, sizeof value};
        EXPECT_EQ(raw.fn().C_GetAttributeValue(raw.session(), found[0], &v, 1),
                  CKR_ATTRIBUTE_SENSITIVE)
            << label;
    }
}

TEST(Token, ReopenWithRequireExistingUsesTheSameMasterKeys) {
    const core::KeySpec spec{unique_id("reopen"), 1, Algorithm::Aes128, usage({Usage::Mac})};
    const auto key = shared_hsm().import_secret(spec, secret("2b7e151628aed2a6abf7158809cf4f3c"));
    auto second = Pkcs11Hsm::open(config_for(kSharedToken), MasterKeys::RequireExisting);
    const Bytes mac = second->mac(ref(spec, key), core::MacAlgorithm::AesCmac, {});
    EXPECT_EQ(to_hex(mac), "BB1D6929E95937287FA37D129B756746");  // RFC 4493 Example 1
    EXPECT_EQ(second->info().master_key_kcv, shared_hsm().info().master_key_kcv);
}

TEST(Token, FreshTokenThenCreateThenRequire) {
    const std::string label = new_token("fresh");
    expect_error(ErrorCode::NotFound,
                 [&] { Pkcs11Hsm::open(config_for(label), MasterKeys::RequireExisting); });
    {
        auto hsm = Pkcs11Hsm::open(config_for(label), MasterKeys::CreateIfMissing);
        EXPECT_TRUE(hsm->foreign_token_objects().empty());
    }
    auto again = Pkcs11Hsm::open(config_for(label), MasterKeys::CreateIfMissing);
    RawToken raw(label);
    EXPECT_EQ(raw.find_secret("kms-lmk").size(), 1u) << "CreateIfMissing must not duplicate";
}

TEST(Token, PartialMasterKeySetIsAnIntegrityErrorAndNothingIsRecreated) {
    const std::string label = new_token("partial");
    Pkcs11Hsm::open(config_for(label), MasterKeys::CreateIfMissing).reset();
    {
        RawToken raw(label);
        const auto audit = raw.find_secret("kms-audit");
        ASSERT_EQ(audit.size(), 1u);
        ASSERT_EQ(raw.fn().C_DestroyObject(raw.session(), audit[0]), CKR_OK);
    }
    auto msg = expect_error(ErrorCode::Integrity, [&] {
        Pkcs11Hsm::open(config_for(label), MasterKeys::RequireExisting);
    });
    EXPECT_NE(msg.find("kms-audit"), std::string::npos) << msg;
    expect_error(ErrorCode::Integrity,
                 [&] { Pkcs11Hsm::open(config_for(label), MasterKeys::CreateIfMissing); });
    RawToken raw(label);
    EXPECT_TRUE(raw.find_secret("kms-audit").empty());
    EXPECT_EQ(raw.find_secret("kms-lmk").size(), 1u);
}

TEST(Token, PartialMasterKeySetIsCompletedOnlyWithCompleteMissing) {
    // What a first start killed between two C_GenerateKey calls leaves: kms-lmk alone.
    const std::string label = new_token("interrupted");
    Pkcs11Hsm::open(config_for(label), MasterKeys::CreateIfMissing).reset();
    {
        RawToken raw(label);
        for (const char* name : {"kms-lmk-mac", "kms-audit"}) {
            const auto h = raw.find_secret(name);
            ASSERT_EQ(h.size(), 1u);
            ASSERT_EQ(raw.fn().C_DestroyObject(raw.session(), h[0]), CKR_OK);
        }
    }
    expect_error(ErrorCode::Integrity,
                 [&] { Pkcs11Hsm::open(config_for(label), MasterKeys::CreateIfMissing); });
    const std::string kcv_before = [&] {
        auto hsm = Pkcs11Hsm::open(config_for(label), MasterKeys::CompleteMissing);
        return hsm->info().master_key_kcv;
    }();
    RawToken raw(label);
    EXPECT_EQ(raw.find_secret("kms-lmk").size(), 1u) << "the existing LMK is kept, not duplicated";
    EXPECT_EQ(raw.find_secret("kms-lmk-mac").size(), 1u);
    EXPECT_EQ(raw.find_secret("kms-audit").size(), 1u);
    auto again = Pkcs11Hsm::open(config_for(label), MasterKeys::RequireExisting);
    EXPECT_EQ(again->info().master_key_kcv, kcv_before);
}

TEST(Token, MasterKeyWithUnsafeAttributesIsRefused) {
    const std::string label = new_token("unsafe");
    {
        // An extractable AES key that merely carries the LMK's label.
        RawToken raw(label);
        Template t;
        const std::string lmk = "kms-lmk";
        t.ulong(CKA_CLASS, CKO_SECRET_KEY).ulong(CKA_KEY_TYPE, CKK_AES).ulong(CKA_VALUE_LEN, 32);
        t.flag(CKA_TOKEN, true).flag(CKA_PRIVATE, true).flag(CKA_SENSITIVE, true);
        t.flag(CKA_EXTRACTABLE, true)
            .flag(CKA_WRAP, true)
            .flag(CKA_UNWRAP, true)
            .text(CKA_LABEL, lmk);
        CK_MECHANISM m{CKM_AES_KEY_GEN, nullptr, 0};
        CK_OBJECT_HANDLE h;
        ASSERT_EQ(raw.fn().C_GenerateKey(raw.session(), &m, t.data(), t.size(), &h), CKR_OK);
        for (const char* other : {"kms-lmk-mac", "kms-audit"}) {
            Template g;
            g.ulong(CKA_CLASS, CKO_SECRET_KEY).ulong(CKA_KEY_TYPE, CKK_GENERIC_SECRET);
            g.ulong(CKA_VALUE_LEN, 32).flag(CKA_TOKEN, true).flag(CKA_PRIVATE, true);
            g.flag(CKA_SENSITIVE, true).flag(CKA_EXTRACTABLE, false).flag(CKA_SIGN, true);
            g.flag(CKA_VERIFY, true).text(CKA_LABEL, other);
            CK_MECHANISM gm{CKM_GENERIC_SECRET_KEY_GEN, nullptr, 0};
            ASSERT_EQ(raw.fn().C_GenerateKey(raw.session(), &gm, g.data(), g.size(), &h), CKR_OK);
        }
    }
    const auto msg = expect_error(ErrorCode::Integrity, [&] {
        Pkcs11Hsm::open(config_for(label), MasterKeys::RequireExisting);
    });
    EXPECT_NE(msg.find("kms-lmk"), std::string::npos) << msg;
}

TEST(Token, InitializingAnExistingLabelIsAConflict) {
    expect_error(ErrorCode::Conflict, [] {
        initialize_token(module_path(), kSharedToken, SecretString(kSoPin), SecretString(kUserPin));
    });
    expect_error(ErrorCode::InvalidArgument, [] {
        initialize_token(module_path(), std::string(33, 'x'), SecretString(kSoPin),
                         SecretString(kUserPin));
    });
}

TEST(Token, MissingTokenAndModuleAreCleanErrors) {
    expect_error(ErrorCode::NotFound,
                 [] { Pkcs11Hsm::open(config_for("no-such-token"), MasterKeys::RequireExisting); });
    auto cfg = config_for(kSharedToken);
    cfg.module_path = "/nonexistent/libpkcs11.so";
    const auto msg = expect_error(ErrorCode::HsmUnavailable,
                                  [&] { Pkcs11Hsm::open(cfg, MasterKeys::RequireExisting); });
    EXPECT_NE(msg.find("/nonexistent/libpkcs11.so"), std::string::npos);
}

TEST(Token, WrongPinIsACleanErrorWithoutThePin) {
    const std::string label = new_token("wrongpin");
    auto cfg = config_for(label);
    const std::string wrong = "not-the-pin-31337";
    cfg.pin = {PinSource::Kind::Value, wrong};
    try {
        Pkcs11Hsm::open(cfg, MasterKeys::CreateIfMissing);
        FAIL() << "a wrong PIN must not open the token";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), ErrorCode::HsmError);
        EXPECT_EQ(e.native_kind(), NativeKind::CkRv);
        EXPECT_EQ(e.native_code(), CKR_PIN_INCORRECT);
        const std::string msg = e.what();
        EXPECT_NE(msg.find("C_Login"), std::string::npos) << msg;
        EXPECT_NE(msg.find("CKR_PIN_INCORRECT"), std::string::npos) << msg;
        EXPECT_EQ(msg.find(wrong), std::string::npos) << msg;
    }
}

TEST(Token, PinFromFileAndFromEnvironment) {
    const std::string label = new_token("pins");
    const std::string path = temp_dir() + "/" + label + ".pin";
    {
        std::ofstream f(path);
        f << kUserPin << "\n";
    }
    ::chmod(path.c_str(), 0600);
    auto cfg = config_for(label);
    cfg.pin = {PinSource::Kind::File, path};
    EXPECT_EQ(cfg.pin.resolve().reveal(), kUserPin);
    Pkcs11Hsm::open(cfg, MasterKeys::CreateIfMissing).reset();

    ::setenv("KMS_TEST_HSM_PIN", kUserPin, 1);
    cfg.pin = {PinSource::Kind::Env, "KMS_TEST_HSM_PIN"};
    Pkcs11Hsm::open(cfg, MasterKeys::RequireExisting).reset();

    // A wrong PIN from a file: clean error, neither PIN in the text.
    const std::string wrong_path = temp_dir() + "/" + label + ".wrong";
    {
        std::ofstream f(wrong_path);
        f << "wrong-pin-2718\n";
    }
    ::chmod(wrong_path.c_str(), 0600);
    cfg.pin = {PinSource::Kind::File, wrong_path};
    const auto msg = expect_error(ErrorCode::HsmError,
                                  [&] { Pkcs11Hsm::open(cfg, MasterKeys::RequireExisting); });
    EXPECT_EQ(msg.find("wrong-pin-2718"), std::string::npos) << msg;
    EXPECT_EQ(msg.find(kUserPin), std::string::npos) << msg;
}

TEST(Token, PinSourceErrorsNameTheSourceNotThePin) {
    const std::string path = temp_dir() + "/world-readable.pin";
    {
        std::ofstream f(path);
        f << "secret-in-file-1414\n";
    }
    ::chmod(path.c_str(), 0644);
    auto msg = expect_error(ErrorCode::InvalidArgument, [&] {
        PinSource{PinSource::Kind::File, path}.resolve();
    });
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    EXPECT_EQ(msg.find("secret-in-file-1414"), std::string::npos) << msg;

    msg = expect_error(ErrorCode::InvalidArgument, [&] {
        PinSource{PinSource::Kind::File, temp_dir() + "/missing.pin"}.resolve();
    });
    EXPECT_NE(msg.find("missing.pin"), std::string::npos) << msg;

    ::unsetenv("KMS_TEST_NO_SUCH_PIN");
    msg = expect_error(ErrorCode::InvalidArgument, [] {
        PinSource{PinSource::Kind::Env, "KMS_TEST_NO_SUCH_PIN"}.resolve();
    });
    EXPECT_NE(msg.find("KMS_TEST_NO_SUCH_PIN"), std::string::npos) << msg;

    const std::string crlf = temp_dir() + "/crlf.pin";
    {
        std::ofstream f(crlf);
        f << "1234\r\n";
    }
    ::chmod(crlf.c_str(), 0600);
    EXPECT_EQ((PinSource{PinSource::Kind::File, crlf}.resolve().reveal()), "1234");
}

TEST(Token, ProfileByNameAndSessionOverride) {
    auto cfg = config_for(kSharedToken);
    cfg.profile = "generic";
    auto generic = Pkcs11Hsm::open(cfg, MasterKeys::RequireExisting);
    EXPECT_EQ(generic->profile_name(), "generic");
    EXPECT_EQ(generic->session_pool_size(), 4u);  // the generic row's default
    cfg.profile = "softhsm2";
    cfg.sessions = 1;
    EXPECT_EQ(Pkcs11Hsm::open(cfg, MasterKeys::RequireExisting)->session_pool_size(), 1u);
    cfg.profile = "no-such-vendor";
    expect_error(ErrorCode::InvalidArgument,
                 [&] { Pkcs11Hsm::open(cfg, MasterKeys::RequireExisting); });
    cfg = config_for(kSharedToken);
    cfg.handle_cache_capacity = 0;
    expect_error(ErrorCode::InvalidArgument,
                 [&] { Pkcs11Hsm::open(cfg, MasterKeys::RequireExisting); });
}

TEST(Token, Pkcs11ToolListsTheMasterKeysByLabel) {
    const std::string out = run_command(
        "SOFTHSM2_CONF='" + temp_dir() + "/softhsm2.conf' pkcs11-tool --module '" + module_path() +
        "' --token-label " + kSharedToken + " -O --login --pin " + kUserPin);
    EXPECT_NE(out.find("label:      kms-lmk\n"), std::string::npos) << out;
    EXPECT_NE(out.find("label:      kms-lmk-mac"), std::string::npos) << out;
    EXPECT_NE(out.find("label:      kms-audit"), std::string::npos) << out;
}

TEST(Token, ForeignTokenObjectsAreReportedButNotTheMasters) {
    const std::string label = new_token("orphans");
    auto hsm = Pkcs11Hsm::open(config_for(label), MasterKeys::CreateIfMissing);
    EXPECT_TRUE(hsm->foreign_token_objects().empty());
    {
        RawToken raw(label);
        Template t;
        const std::string stray = "stray-key";
        const Bytes id = {0x01, 0x02, 0xAB};
        t.ulong(CKA_CLASS, CKO_SECRET_KEY).ulong(CKA_KEY_TYPE, CKK_AES).ulong(CKA_VALUE_LEN, 16);
        t.flag(CKA_TOKEN, true).flag(CKA_PRIVATE, true).text(CKA_LABEL, stray).bytes(CKA_ID, id);
        CK_MECHANISM m{CKM_AES_KEY_GEN, nullptr, 0};
        CK_OBJECT_HANDLE h;
        ASSERT_EQ(raw.fn().C_GenerateKey(raw.session(), &m, t.data(), t.size(), &h), CKR_OK);
    }
    EXPECT_EQ(hsm->foreign_token_objects(),
              (std::vector<std::string>{"label=stray-key id=0102AB"}));
}

TEST(Token, RandomAndAuditSeal) {
    auto& hsm = shared_hsm();
    const Bytes a = hsm.random(32), b = hsm.random(32);
    EXPECT_EQ(a.size(), 32u);
    EXPECT_NE(a, b);
    EXPECT_EQ(hsm.random(4096).size(), 4096u);
    expect_error(ErrorCode::InvalidArgument, [&] { hsm.random(0); });
    expect_error(ErrorCode::InvalidArgument, [&] { hsm.random(4097); });

    const Bytes s1 = hsm.audit_seal(as_view("record 1"));
    EXPECT_EQ(s1.size(), 32u);
    EXPECT_EQ(s1, hsm.audit_seal(as_view("record 1")));
    EXPECT_NE(s1, hsm.audit_seal(as_view("record 2")));
}

}  // namespace
}  // namespace kms::hsm::test
