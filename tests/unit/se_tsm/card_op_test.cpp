// Unit tests of se-tsm's card operations, their pure parts: the operation names and life cycle
// targets, the check before any APDU, the ISD channel from the product, the binding record,
// the SE record's key version; and the built-in scripts (tsm-services/se-tsm/scripts) run by
// the engine step by step, with the engine's `rest` capture and u8 key version variables.
#include "card_op.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "domain/error.hpp"
#include "script_json.hpp"
#include "script_run.hpp"
#include "se_codec.hpp"

namespace kms::tsm::se {
namespace {

using script::Done;
using script::OpenSecureChannel;
using script::PutKey;
using script::ScriptRun;
using script::SendApdu;

ErrorCode code_of(const std::function<void()>& f, std::string* message = nullptr) {
    try {
        f();
    } catch (const Error& e) {
        if (message) *message = e.what();
        return e.code();
    }
    return ErrorCode::Internal;
}

SecureElement se_in(CardState state) {
    SecureElement se;
    se.seid = "A1B2C3D4E5F60001";
    se.state = state;
    return se;
}

TEST(CardOp, NamesRoundTripAndUnknownNamesAreRefused) {
    for (CardOp op : {CardOp::Lock, CardOp::Unlock, CardOp::Terminate, CardOp::ListContents,
                      CardOp::RotateKeys, CardOp::ConfirmKeys})
        EXPECT_EQ(parse_card_op(card_op_name(op)), op);
    EXPECT_FALSE(parse_card_op("LOCK").has_value());
    EXPECT_FALSE(parse_card_op("").has_value());
    EXPECT_EQ(card_op_target(CardOp::Lock), CardState::CardLocked);
    EXPECT_EQ(card_op_target(CardOp::Unlock), CardState::Secured);
    EXPECT_EQ(card_op_target(CardOp::Terminate), CardState::Terminated);
    EXPECT_FALSE(card_op_target(CardOp::ListContents).has_value());
    EXPECT_FALSE(card_op_target(CardOp::RotateKeys).has_value());
}

TEST(CardOp, TheLifeCycleTableDecidesBeforeAnyApdu) {
    std::string m;
    EXPECT_NO_THROW(check_card_op_allowed(se_in(CardState::Secured), CardOp::Lock));
    EXPECT_NO_THROW(check_card_op_allowed(se_in(CardState::CardLocked), CardOp::Unlock));
    EXPECT_NO_THROW(check_card_op_allowed(se_in(CardState::CardLocked), CardOp::Terminate));
    EXPECT_NO_THROW(check_card_op_allowed(se_in(CardState::CardLocked), CardOp::ListContents));
    EXPECT_NO_THROW(check_card_op_allowed(se_in(CardState::Secured), CardOp::RotateKeys));
    EXPECT_EQ(code_of([] { check_card_op_allowed(se_in(CardState::Secured), CardOp::Unlock); }, &m),
              ErrorCode::WrongState);
    EXPECT_NE(m.find("SECURED -> SECURED"), std::string::npos) << m;
    EXPECT_EQ(code_of([] { check_card_op_allowed(se_in(CardState::OpReady), CardOp::Lock); }),
              ErrorCode::WrongState);
    EXPECT_EQ(
        code_of([] { check_card_op_allowed(se_in(CardState::Terminated), CardOp::Terminate); }),
        ErrorCode::WrongState);
    EXPECT_EQ(
        code_of([] { check_card_op_allowed(se_in(CardState::Terminated), CardOp::ListContents); }),
        ErrorCode::WrongState);
    EXPECT_EQ(
        code_of([] { check_card_op_allowed(se_in(CardState::CardLocked), CardOp::RotateKeys); }),
        ErrorCode::WrongState);
}

TEST(CardOp, TheChannelComesFromTheProductAndTheSesKeyVersion) {
    Product p;
    p.id = "p";
    p.scp02 = {0x55, 0x15};
    p.scp03 = {0x70};
    p.default_key_version = 32;
    SecureElement se = se_in(CardState::Secured);
    IsdChannel c = isd_channel(p, se);
    EXPECT_EQ(c.protocol, "SCP02");
    EXPECT_EQ(c.i, 0x55);
    EXPECT_EQ(c.key_version, 32);
    se.isd_key_version = 33;  // after a rotate-keys
    EXPECT_EQ(isd_channel(p, se).key_version, 33);
    p.scp02.clear();
    c = isd_channel(p, se);
    EXPECT_EQ(c.protocol, "SCP03");
    EXPECT_EQ(c.i, 0x70);
    p.scp03.clear();
    EXPECT_EQ(code_of([&] { isd_channel(p, se); }), ErrorCode::InvalidArgument);
}

TEST(CardOp, TheBindingRoundTripsAndGarbageIsIntegrity) {
    CardOpBinding b;
    b.seid = "A1B2C3D4E5F60001";
    b.op = CardOp::RotateKeys;
    b.new_key_id = "k-1";
    b.new_diversification = "VISA2";
    b.new_key_version = 33;
    EXPECT_EQ(decode_card_op_binding(encode(b)), b);
    b.new_key_ids = {"k-enc", "k-mac", "k-dek"};
    b.applied = true;
    b.put_key_sent = true;
    EXPECT_EQ(decode_card_op_binding(encode(b)), b);
    b.op = CardOp::ConfirmKeys;
    b.confirms = "0123456789ABCDEF";
    EXPECT_EQ(decode_card_op_binding(encode(b)), b);
    EXPECT_NO_THROW(check_card_op_allowed(se_in(CardState::CardLocked), CardOp::ConfirmKeys));
    EXPECT_EQ(
        code_of([] { check_card_op_allowed(se_in(CardState::Terminated), CardOp::ConfirmKeys); }),
        ErrorCode::WrongState);
    EXPECT_EQ(code_of([] { decode_card_op_binding("se-tsm/1 card-op\nseid=A1\n"); }),
              ErrorCode::Integrity);
    std::string text = encode(b);
    text.replace(text.find("confirm-keys"), 12, "reboot-cards");
    EXPECT_EQ(code_of([&] { decode_card_op_binding(text); }), ErrorCode::Integrity);
}

TEST(CardOp, TheSeRecordKeepsItsKeyVersionOnlyOnceSet) {
    SecureElement se = se_in(CardState::Secured);
    se.cplc = std::string(84, '0');
    se.product_id = "p";
    se.isd_key_id = "k-1";
    se.owner = "alice";
    EXPECT_EQ(encode(se).find("isdKeyVersion"), std::string::npos);
    EXPECT_EQ(decode_se(encode(se)), se);
    se.isd_key_version = 33;
    EXPECT_NE(encode(se).find("isdKeyVersion=33"), std::string::npos);
    EXPECT_EQ(decode_se(encode(se)), se);
    std::string text = encode(se);
    text.replace(text.find("isdKeyVersion=33"), 16, "isdKeyVersion=x9");
    EXPECT_EQ(code_of([&] { decode_se(text); }), ErrorCode::Integrity);
    se.isd_key_version = 128;
    EXPECT_EQ(code_of([&] { validate(se); }), ErrorCode::InvalidArgument);
}

TEST(CardOp, AnIsdKeyIsAMasterKeyOrThreeStaticKeys) {
    SecureElement se = se_in(CardState::Secured);
    se.cplc = std::string(84, '0');
    se.product_id = "p";
    se.owner = "alice";
    se.isd_enc = "k-enc";
    se.isd_mac = "k-mac";
    se.isd_dek = "k-dek";
    EXPECT_NO_THROW(validate(se));
    EXPECT_NO_THROW(validate_isd_key(se));
    EXPECT_EQ(decode_se(encode(se)), se);
    std::string m;
    se.isd_diversification = Diversification::Visa2;
    EXPECT_EQ(code_of([&] { validate_isd_key(se); }, &m), ErrorCode::InvalidArgument);
    EXPECT_EQ(m.rfind("isdKey.diversification", 0), 0u) << m;
    se.isd_diversification = Diversification::None;
    se.isd_key_id = "k-kmc";  // both forms
    EXPECT_EQ(code_of([&] { validate(se); }, &m), ErrorCode::InvalidArgument);
    EXPECT_EQ(m.rfind("isdKey", 0), 0u) << m;
    se.isd_key_id.clear();
    se.isd_dek.clear();  // an incomplete set
    EXPECT_EQ(code_of([&] { validate(se); }, &m), ErrorCode::InvalidArgument);
    EXPECT_EQ(m.rfind("isdKey.dek", 0), 0u) << m;
}

// ---- the built-in scripts

std::shared_ptr<const script::Script> card_script(const std::string& name) {
    std::ifstream in(std::string(std::getenv("SE_TSM_SCRIPT_DIR")) + "/" + name);
    std::ostringstream s;
    s << in.rdbuf();
    return std::make_shared<const script::Script>(script::load_script_json(s.str()));
}

const std::map<std::string, std::string, std::less<>> kIsd = {{"isdAid", "A000000151000000"}};

/// SELECT the ISD and open the channel: the first two actions of every card script.
void select_and_open(ScriptRun& run) {
    const auto& select = std::get<SendApdu>(run.next().what);
    EXPECT_EQ(to_hex(select.apdu), "00A4040008A00000015100000000");
    EXPECT_FALSE(select.secure);
    run.feed_response(run.next().seq, from_hex("9000"));
    const auto& ch = std::get<OpenSecureChannel>(run.next().what);
    EXPECT_EQ(ch.keyset, "isd");
    EXPECT_EQ(ch.level, 0x01);
    run.feed_channel_result(run.next().seq, true);
}

TEST(CardScripts, LockUnlockAndTerminateSendSetStatusOfTheIsd) {
    // GPCS 2.2.1 §11.10: P1 80 the ISD (the card's life cycle), P2 the new state, data the AID.
    for (const auto& [file, p2] : {std::pair{"card-lock.json", "7F"},
                                   {"card-unlock.json", "0F"},
                                   {"card-terminate.json", "FF"}}) {
        ScriptRun run(card_script(file), kIsd);
        select_and_open(run);
        const auto& set = std::get<SendApdu>(run.next().what);
        EXPECT_EQ(to_hex(set.apdu), std::string("80F080") + p2 + "08A000000151000000") << file;
        EXPECT_TRUE(set.secure);
        run.feed_response(run.next().seq, from_hex("9000"));
        EXPECT_EQ(std::get<Done>(run.next().what).outcome, "success");
    }
    ScriptRun refused(card_script("card-lock.json"), kIsd);
    select_and_open(refused);
    refused.feed_response(refused.next().seq, from_hex("6985"));
    EXPECT_EQ(std::get<Done>(refused.next().what).outcome, "set-status-refused");
}

TEST(CardScripts, ListContentsCapturesTheWholeGetStatusAnswer) {
    // GPCS 2.2.1 §11.4: P1 40 applications, P2 02 the E3 tag list format, 4F 00 every AID.
    const Bytes entry = from_hex("E3104F09A0000005591010FFFF9F700107C50100");
    ScriptRun run(card_script("card-list-contents.json"), kIsd);
    select_and_open(run);
    const auto& gs = std::get<SendApdu>(run.next().what);
    EXPECT_EQ(to_hex(gs.apdu), "80F24002024F0000");
    Bytes answer = entry;
    answer.push_back(0x90);
    answer.push_back(0x00);
    run.feed_response(run.next().seq, answer);
    const Done& d = std::get<Done>(run.next().what);
    EXPECT_EQ(d.outcome, "success");
    EXPECT_EQ(d.variables.at("applications").text(), to_hex(entry));
    // 6A88: no application on the card, an empty list.
    ScriptRun none(card_script("card-list-contents.json"), kIsd);
    select_and_open(none);
    none.feed_response(none.next().seq, from_hex("6A88"));
    EXPECT_EQ(std::get<Done>(none.next().what).outcome, "success");
    EXPECT_EQ(std::get<Done>(none.next().what).variables.at("applications").text(), "");
    // 6310 (more data, §11.4.2): GET STATUS [next occurrence] (P2 03) until 9000, the pages
    // appended into one value.
    ScriptRun more(card_script("card-list-contents.json"), kIsd);
    select_and_open(more);
    more.feed_response(more.next().seq, from_hex("E30142"
                                                 "6310"));
    EXPECT_EQ(to_hex(std::get<SendApdu>(more.next().what).apdu), "80F24003024F0000");
    more.feed_response(more.next().seq, from_hex("E30143"
                                                 "6310"));
    EXPECT_EQ(to_hex(std::get<SendApdu>(more.next().what).apdu), "80F24003024F0000");
    more.feed_response(more.next().seq, from_hex("E30144"
                                                 "9000"));
    const Done& all = std::get<Done>(more.next().what);
    EXPECT_EQ(all.outcome, "success");
    EXPECT_EQ(all.variables.at("applications").text(), "E30142E30143E30144");
    // More than one value (1024 bytes) of entries: a clear failure, not a truncated list.
    ScriptRun many(card_script("card-list-contents.json"), kIsd);
    select_and_open(many);
    Bytes page(232, 0xE3);
    page.push_back(0x63);
    page.push_back(0x10);
    std::string outcome;
    for (int n = 0; n < 8 && outcome.empty(); ++n) {
        many.feed_response(many.next().seq, page);
        if (const auto* d = std::get_if<Done>(&many.next().what)) outcome = d->outcome;
    }
    EXPECT_EQ(outcome, "too-many-applications");
}

TEST(CardScripts, RotateKeysReadsTheKddAndPutsTheVersionsOfItsInputs) {
    auto inputs = kIsd;
    inputs["keyVersion"] = "32";
    inputs["newKeyVersion"] = "33";
    ScriptRun run(card_script("card-rotate-keys.json"), inputs);
    run.feed_response(run.next().seq, from_hex("9000"));  // SELECT
    // INITIALIZE UPDATE, P1 the key version: its answer starts with the
    // 10 bytes of key diversification data (GPCS 2.2.1 §E.5.1.3, Table E-13).
    EXPECT_EQ(to_hex(std::get<SendApdu>(run.next().what).apdu), "8050200008000000000000000000");
    EXPECT_FALSE(run.variable("kdd").has_value());
    run.feed_response(run.next().seq, from_hex("00112233445566778899"
                                               "2002"
                                               "000102030405060708090A0B"
                                               "9000"));
    EXPECT_EQ(run.variable("kdd")->text(), "00112233445566778899");
    run.feed_channel_result(run.next().seq, true);
    const PutKey& pk = std::get<PutKey>(run.next().what);
    EXPECT_EQ(pk.key_version, 0x21);
    EXPECT_EQ(pk.replace_version, 0x20);
    EXPECT_EQ(pk.key_id, 0x01);
    EXPECT_EQ(pk.keys, (std::vector<std::string>{"new-isd-enc", "new-isd-mac", "new-isd-dek"}));
    run.feed_put_key_result(run.next().seq, true);
    EXPECT_EQ(std::get<Done>(run.next().what).outcome, "success");
    // A version out of 01..7F from the host ends the step's onFail, not a malformed PUT KEY.
    inputs["newKeyVersion"] = "200";
    ScriptRun bad(card_script("card-rotate-keys.json"), inputs);
    bad.feed_response(bad.next().seq, from_hex("9000"));
    bad.feed_response(bad.next().seq, from_hex("00112233445566778899"
                                               "9000"));
    bad.feed_channel_result(bad.next().seq, true);
    EXPECT_EQ(std::get<Done>(bad.next().what).outcome, "put-key-refused");
}

TEST(CardScripts, ConfirmKeysOnlyOpensTheChannel) {
    ScriptRun run(card_script("card-confirm-keys.json"), kIsd);
    select_and_open(run);
    EXPECT_EQ(std::get<Done>(run.next().what).outcome, "success");
    ScriptRun refused(card_script("card-confirm-keys.json"), kIsd);
    refused.feed_response(refused.next().seq, from_hex("9000"));
    refused.feed_channel_result(refused.next().seq, false);
    EXPECT_EQ(std::get<Done>(refused.next().what).outcome, "secure-channel-refused");
}

TEST(CardScripts, TheEngineRefusesMisusedRestAndVersionVariables) {
    const std::string head =
        R"({"name":"t","version":1,"inputs":[{"name":"a","type":"aid"},{"name":"w","type":"u16"}],)"
        R"("steps":[{"id":"s","kind":"apdu","header":"00 A4 04 00","data":"${a}"},)";
    const std::string channel =
        R"({"id":"c","kind":"secure-channel","protocol":"SCP02","keyset":"k","onFail":"no"},)";
    const std::string end = R"({"id":"e","kind":"end","outcome":"success"}]})";
    std::string m;
    auto refused = [&](const std::string& doc) {
        return code_of([&] { script::load_script_json(doc); }, &m) == ErrorCode::InvalidArgument;
    };
    EXPECT_TRUE(refused(head +
                        R"({"id":"x","kind":"capture","onFail":"f","fields":[)"
                        R"({"name":"v","type":"u16","rest":true}]},)" +
                        end));
    EXPECT_NE(m.find("rest"), std::string::npos) << m;
    EXPECT_TRUE(refused(head +
                        R"({"id":"x","kind":"capture","onFail":"f","fields":[)"
                        R"({"name":"v","type":"hex","length":2,"rest":true}]},)" +
                        end));
    EXPECT_TRUE(refused(head + channel +
                        R"({"id":"p","kind":"put-key","keys":["k"],"keyVersion":"${w}",)"
                        R"("onFail":"f"},)" +
                        end));
    EXPECT_NE(m.find("keyVersion"), std::string::npos) << m;
    EXPECT_TRUE(refused(head +
                        R"({"id":"x","kind":"capture","onFail":"f","fields":[)"
                        R"({"name":"v","type":"hex","rest":true,"append":true}]},)" +
                        end));  // appends to a value never set
    EXPECT_TRUE(refused(head +
                        R"({"id":"x","kind":"capture","onFail":"f","fields":[)"
                        R"({"name":"v","type":"hex","length":2,"append":true}]},)" +
                        end));
    EXPECT_TRUE(refused(head +
                        R"({"id":"x","kind":"capture","onFail":"f","fields":[)"
                        R"({"name":"v","type":"u8","sw":true}]},)" +
                        end));
    EXPECT_TRUE(refused(head +
                        R"({"id":"x","kind":"capture","onFail":"f","fields":[)"
                        R"({"name":"v","type":"u16","sw":true,"offset":1}]},)" +
                        end));
    EXPECT_TRUE(refused(head + channel +
                        R"({"id":"p","kind":"put-key","keys":["k"],"keyVersion":"${nope}",)"
                        R"("onFail":"f"},)" +
                        end));
}

}  // namespace
}  // namespace kms::tsm::se
