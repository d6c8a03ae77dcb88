// The SP TSM's OperationDriver against a fake KMS port, on the transit top-up of
// docs/service-scripts.md: what the wallet sees (plain and wrapped APDUs, the channel's
// INITIALIZE UPDATE and EXTERNAL AUTHENTICATE, contiguous seq numbers), what goes to the KMS
// (mapped key ids, the rendered MAC input, the keyset), and how refusals become outcomes.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "fake_kms.hpp"
#include "operation_driver.hpp"
#include "script_json.hpp"

namespace kms::tsm::sp {
namespace {

using script::ScriptRun;

std::shared_ptr<const script::Script> load(const std::string& text) {
    return std::make_shared<const script::Script>(script::load_script_json(text));
}

/// The transit top-up; with @p level, its secure channel at that security level instead of 01.
std::shared_ptr<const script::Script> top_up(const std::string& level = "01") {
    const char* dir = std::getenv("KMS_SCRIPT_TEST_DIR");
    if (dir == nullptr) throw std::runtime_error("KMS_SCRIPT_TEST_DIR is not set");
    std::ifstream in(std::string(dir) + "/transit-top-up.json");
    std::ostringstream s;
    s << in.rdbuf();
    std::string text = s.str();
    const auto at = text.find("\"level\": \"01\"");
    if (at == std::string::npos) throw std::runtime_error("the top-up's level is not 01");
    text.replace(at, 13, "\"level\": \"" + level + "\"");
    return load(text);
}

class Driver : public ::testing::Test {
  protected:
    FakeKms kms;
    std::map<std::string, std::string> keys{{"sp-transit-credit-mac", "id-credit"}, {"k", "id-k"}};
    std::map<std::string, KeySet> keysets{
        {"sp-transit-scp", KeySet{"id-enc", "id-mac", "id-dek", 0x55, 0x20, from_hex("A000000151"),
                                  "", "", std::nullopt}}};
    std::vector<std::string> warnings;
    OperationDriver driver{kms, keys, keysets,
                           [this](const std::string& m) { warnings.push_back(m); }};
    OperationRecord r;
    std::unique_ptr<ScriptRun> run;

    void begin(std::shared_ptr<const script::Script> s,
               const std::map<std::string, std::string, std::less<>>& inputs) {
        run = std::make_unique<ScriptRun>(std::move(s), inputs);
        r.seq = 1;
        driver.drive(r, *run);
        r.state = run->serialize();
    }
    void begin_top_up(const std::string& level = "01") {
        begin(
            top_up(level),
            {{"purseAid", "A0000005591010FFFF"}, {"amount", "500"}, {"balanceCeiling", "100000"}});
    }
    /// Posts @p hex as the wallet's answer to the current action; returns the next action.
    std::string answer(const char* hex) {
        EXPECT_EQ(judge(r, ResponseRequest{r.seq, from_hex(hex)}), Verdict::Advance);
        driver.advance(r, *run, ResponseRequest{r.seq, from_hex(hex)});
        return r.action;
    }
    static std::string apdu(const char* hex) { return wallet_apdu_json(from_hex(hex)); }
};

TEST_F(Driver, SecureApdusAreWrappedAndKmsStepsNeverReachTheWallet) {
    begin_top_up();
    EXPECT_EQ(r.action, apdu("00A4040009A0000005591010FFFF00"));    // plain SELECT
    EXPECT_EQ(answer("9000"), apdu("80502000081122334455667788"));  // INITIALIZE UPDATE
    EXPECT_EQ(r.waiting, Waiting::InitializeUpdate);
    EXPECT_EQ(kms.opened.protocol, "SCP02");
    EXPECT_EQ(kms.opened.enc + kms.opened.mac + kms.opened.dek, "id-encid-macid-dek");
    EXPECT_EQ(kms.opened.i, 0x55);
    EXPECT_EQ(kms.opened.key_version, 0x20);
    EXPECT_EQ(answer("00112233445566778899AABBCCDDEEFF00119000"),
              apdu("8482010010AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBB"));
    EXPECT_EQ(kms.calls.back(), "authenticate s1 00112233445566778899AABBCCDDEEFF00119000 1");
    EXPECT_EQ(answer("9000"), apdu("845C000006CCCCCCCCCCCCCCCC"));  // READ BALANCE, wrapped
    EXPECT_TRUE(r.secure);
    // The balance answer: the MAC is asked of the KMS under the mapped id, then CREDIT wrapped.
    EXPECT_EQ(answer("000003E800079000"),
              apdu("845200000E000001F400070102030405060708CCCCCCCCCCCCCCCC"));
    EXPECT_NE(std::find(kms.calls.begin(), kms.calls.end(),
                        "mac id-credit DES3-RETAIL A0000005591010FFFF000001F40007"),
              kms.calls.end());
    EXPECT_EQ(answer("9000"), apdu("845C000006CCCCCCCCCCCCCCCC"));
    EXPECT_TRUE(kms.closed.empty());
    answer("000005DC00089000");
    EXPECT_EQ(r.waiting, Waiting::Nothing);
    EXPECT_EQ(r.outcome, "success");
    EXPECT_EQ(r.seq, 7u);  // one wallet seq per APDU, none for the KMS steps
    EXPECT_EQ(kms.closed, std::vector<std::string>{"s1"});
    EXPECT_NE(r.action.find("\"newBalance\":\"1500\""), std::string::npos) << r.action;
    // The record survives the store: a restored run continues to the same state.
    EXPECT_EQ(ScriptRun::restore(top_up(), r.state).serialize(), r.state);
    // At level 01 (C-MAC only) the card's answers carry no R-MAC: kmsd is not asked to unwrap.
    EXPECT_EQ(std::count_if(kms.calls.begin(), kms.calls.end(),
                            [](const std::string& c) { return c.rfind("unwrap", 0) == 0; }),
              0);
}

TEST_F(Driver, AtAnRMacLevelEveryAnswerIsUnwrappedByTheKms) {
    begin_top_up("11");  // C-MAC and R-MAC
    answer("9000");
    answer("00112233445566778899AABBCCDDEEFF00119000");
    EXPECT_EQ(kms.calls.back(), "authenticate s1 00112233445566778899AABBCCDDEEFF00119000 17");
    answer("9000");
    answer("000003E800079000");
    answer("9000");
    answer("000005DC00089000");
    EXPECT_EQ(r.outcome, "success");
    EXPECT_EQ(std::count(kms.calls.begin(), kms.calls.end(), "unwrap s1"), 3)
        << "READ BALANCE, CREDIT, READ BALANCE";
}

TEST_F(Driver, ChannelFailuresEndWithTheStepsOnFailAndCloseTheSession) {
    begin_top_up();
    answer("9000");
    answer("6A88");  // INITIALIZE UPDATE refused by the card
    EXPECT_EQ(r.outcome, "secure-channel-refused");
    EXPECT_EQ(kms.closed, std::vector<std::string>{"s1"});

    kms = FakeKms();
    kms.refuse_auth = true;  // the card's cryptogram does not verify in kmsd
    begin_top_up();
    answer("9000");
    answer("00112233445566778899AABBCCDDEEFF00119000");
    EXPECT_EQ(r.outcome, "secure-channel-refused");
    EXPECT_EQ(kms.closed, std::vector<std::string>{"s1"});

    kms = FakeKms();
    begin_top_up();
    answer("9000");
    answer("00112233445566778899AABBCCDDEEFF00119000");
    answer("6300");  // EXTERNAL AUTHENTICATE refused by the card
    EXPECT_EQ(r.outcome, "secure-channel-refused");

    kms = FakeKms();
    kms.refuse_open = true;
    begin_top_up();
    answer("9000");
    EXPECT_EQ(r.outcome, "secure-channel-refused");
    EXPECT_FALSE(warnings.empty());
}

TEST_F(Driver, KmsRefusalsEndTheRunWithNamedOutcomes) {
    kms.refuse_mac = true;
    begin_top_up();
    answer("9000");
    answer("00112233445566778899AABBCCDDEEFF00119000");
    answer("9000");
    answer("000003E800079000");
    EXPECT_EQ(r.outcome, "kms-refused");
    EXPECT_EQ(kms.closed, std::vector<std::string>{"s1"});

    kms = FakeKms();
    kms.refuse_unwrap = true;  // a bad R-MAC
    begin_top_up("11");
    answer("9000");
    answer("00112233445566778899AABBCCDDEEFF00119000");
    answer("9000");
    answer("000003E800079000");
    EXPECT_EQ(r.outcome, "secure-channel-failed");
}

TEST_F(Driver, AbandoningClosesTheSessionAndKeepsAnEndedOutcome) {
    begin_top_up();
    answer("9000");
    answer("00112233445566778899AABBCCDDEEFF00119000");  // waiting for EXTERNAL AUTHENTICATE
    const std::uint64_t seq = r.seq;
    driver.abandon(r, *run, "cancelled");
    EXPECT_EQ(r.outcome, "cancelled");
    EXPECT_EQ(r.waiting, Waiting::Nothing);
    EXPECT_EQ(r.seq, seq);
    EXPECT_EQ(kms.closed, std::vector<std::string>{"s1"});
    EXPECT_EQ(judge(r, ResponseRequest{seq, from_hex("9000")}), Verdict::Ended);
    driver.abandon(r, *run, "other");
    EXPECT_EQ(r.outcome, "cancelled");
    EXPECT_EQ(kms.closed.size(), 1u);
}

TEST_F(Driver, EncryptStepsAreNotSupportedYet) {
    begin(load(R"({"name":"enc","version":1,"inputs":[],"steps":[
        {"id":"e","kind":"kms","operation":"encrypt","key":"k","algorithm":"AES-CBC",
         "input":"00","result":"c"},
        {"id":"done","kind":"end","outcome":"success"}]})"),
          {});
    EXPECT_EQ(r.waiting, Waiting::Nothing);
    EXPECT_EQ(r.outcome, "kms-operation-unsupported");
    EXPECT_TRUE(kms.calls.empty());
}

}  // namespace
}  // namespace kms::tsm::sp
