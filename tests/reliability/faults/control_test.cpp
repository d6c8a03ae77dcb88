// The fault shim's control language (hsm-adapters/faultshim/control.hpp): every directive, the
// name tables, numbers, `clear`, and the errors for lines that do not parse. Pure parsing; the
// behaviour of the loaded rules is tested through kmsd in faults_test.cpp and quirks_test.cpp.
#include "faultshim/control.hpp"

#include <gtest/gtest.h>

namespace kms::hsm::faultshim {
namespace {

Control parse(const std::string& text, std::vector<std::string>& errors) {
    return parse_control(text, errors);
}

TEST(FaultshimControl, ParsesEveryDirective) {
    std::vector<std::string> errors;
    const Control c = parse(
        "# a comment\n"
        "target /usr/lib/softhsm/libsofthsm2.so\n"
        "fail C_Sign CKR_DEVICE_ERROR count=3 after=2   # trailing comment\n"
        "fail * 0xE0\n"
        "delay C_GenerateKey 250\n"
        "remove\n"
        "reset\n"
        "hide CKM_RSA_X_509\n"
        "hide 0x1234\n"
        "unsupported C_GetOperationState\n"
        "login-already-logged-in\n"
        "manufacturer  Acme   HSM Corp\r\n"
        "\n",
        errors);
    EXPECT_TRUE(errors.empty()) << errors.front();
    EXPECT_EQ(c.target, "/usr/lib/softhsm/libsofthsm2.so");
    ASSERT_EQ(c.fails.size(), 3u);
    EXPECT_EQ(c.fails[0].function, Fn::C_Sign);
    EXPECT_EQ(c.fails[0].rv, CKR_DEVICE_ERROR);
    EXPECT_EQ(c.fails[0].count, 3u);
    EXPECT_EQ(c.fails[0].after, 2u);
    EXPECT_FALSE(c.fails[1].function.has_value());  // "*"
    EXPECT_EQ(c.fails[1].rv, CKR_TOKEN_NOT_PRESENT);
    EXPECT_EQ(c.fails[1].count, 0u);  // unlimited
    EXPECT_EQ(c.fails[2].function, Fn::C_GetOperationState);
    EXPECT_EQ(c.fails[2].rv, CKR_FUNCTION_NOT_SUPPORTED);
    EXPECT_TRUE(c.fails[2].quirk);
    ASSERT_EQ(c.delays.size(), 1u);
    EXPECT_EQ(c.delays[0].function, Fn::C_GenerateKey);
    EXPECT_EQ(c.delays[0].milliseconds, 250u);
    EXPECT_TRUE(c.removed);
    EXPECT_TRUE(c.reset);
    EXPECT_EQ(c.hidden, (std::vector<CK_MECHANISM_TYPE>{CKM_RSA_X_509, 0x1234}));
    EXPECT_TRUE(c.login_already_logged_in);
    EXPECT_EQ(c.manufacturer, "Acme HSM Corp");
}

TEST(FaultshimControl, ClearForgetsEverythingAboveButTheTarget) {
    std::vector<std::string> errors;
    const Control c =
        parse("target /x.so\nfail * CKR_DEVICE_ERROR\nremove\nclear\ndelay * 5\n", errors);
    EXPECT_TRUE(errors.empty());
    EXPECT_EQ(c.target, "/x.so");
    EXPECT_TRUE(c.fails.empty());
    EXPECT_FALSE(c.removed);
    ASSERT_EQ(c.delays.size(), 1u);
    EXPECT_FALSE(c.delays[0].function.has_value());
}

TEST(FaultshimControl, BadLinesAreReportedAndSkipped) {
    std::vector<std::string> errors;
    const Control c = parse(
        "fail C_Nope CKR_DEVICE_ERROR\n"          // 1: unknown function
        "fail C_Sign CKR_NOPE\n"                  // 2: unknown CKR
        "fail C_Sign CKR_DEVICE_ERROR count=0\n"  // 3: count must be > 0
        "fail C_Sign CKR_DEVICE_ERROR often\n"    // 4: unknown option
        "delay C_Sign 60001\n"                    // 5: too long
        "delay C_Sign soon\n"                     // 6: not a number
        "hide CKM_NOPE\n"                         // 7: unknown CKM
        "unsupported *\n"                         // 8: needs one function
        "remove now\n"                            // 9: no argument expected
        "explode\n"                               // 10: unknown directive
        "fail C_Sign CKR_DEVICE_ERROR\n",         // 11: fine
        errors);
    ASSERT_EQ(errors.size(), 10u);
    EXPECT_EQ(errors[0].rfind("line 1: unknown function 'C_Nope'", 0), 0u) << errors[0];
    EXPECT_EQ(errors[1].rfind("line 2: unknown CKR 'CKR_NOPE'", 0), 0u) << errors[1];
    EXPECT_EQ(errors[9].rfind("line 10: cannot parse 'explode'", 0), 0u) << errors[9];
    ASSERT_EQ(c.fails.size(), 1u);
    EXPECT_EQ(c.fails[0].function, Fn::C_Sign);
    EXPECT_FALSE(c.removed);
}

TEST(FaultshimControl, NamesAndNumbers) {
    EXPECT_EQ(function_name(Fn::C_Initialize), "C_Initialize");
    EXPECT_EQ(function_name(Fn::C_WaitForSlotEvent), "C_WaitForSlotEvent");
    EXPECT_EQ(function_by_name("C_DeriveKey"), Fn::C_DeriveKey);
    EXPECT_FALSE(function_by_name("C_GetFunctionList").has_value());  // never faulted
    EXPECT_EQ(parse_ckr("CKR_SESSION_HANDLE_INVALID"), CKR_SESSION_HANDLE_INVALID);
    EXPECT_EQ(parse_ckr("48"), CKR_DEVICE_ERROR);
    EXPECT_EQ(parse_ckr("0x32"), CKR_DEVICE_REMOVED);
    EXPECT_FALSE(parse_ckr("0x").has_value());
    EXPECT_FALSE(parse_ckr("12abc").has_value());
    EXPECT_EQ(ckr_label(CKR_TOKEN_NOT_PRESENT), "CKR_TOKEN_NOT_PRESENT");
    EXPECT_EQ(ckr_label(0x80000001UL), "0x80000001");
    EXPECT_EQ(parse_ckm("CKM_AES_KEY_WRAP_PAD"), CKM_AES_KEY_WRAP_PAD);
    EXPECT_TRUE(never_faulted(Fn::C_Finalize));
    EXPECT_FALSE(never_faulted(Fn::C_Login));
}

}  // namespace
}  // namespace kms::hsm::faultshim
