// The SP TSM's pure conversation (tsm-services/sp-tsm/plugin/conversation): request validation
// names the field, the wallet sees only APDUs and outcomes, the stored record round-trips, and
// the retry rule (same seq + same response: replay; other response: conflict).
#include "conversation.hpp"

#include <gtest/gtest.h>

#include "domain/error.hpp"
#include "plugin-api/json_int.hpp"

namespace kms::tsm::sp {
namespace {

/// The message of the kms::Error @p fn throws, with its code; {"", Internal} when none.
template <class Fn>
std::pair<std::string, ErrorCode> refusal(Fn&& fn) {
    try {
        fn();
    } catch (const Error& e) {
        return {e.what(), e.code()};
    }
    return {"", ErrorCode::Internal};
}

TEST(SpTsmConversation, StartRequestAcceptsStringAndIntegerVariables) {
    const auto r = parse_start_request(
        R"({"script":"top-up","variables":{"purseAid":"A0000005591010FFFF","amount":500},"seid":"0102"})");
    EXPECT_EQ(r.script, "top-up");
    EXPECT_EQ(r.variables.at("purseAid"), "A0000005591010FFFF");
    EXPECT_EQ(r.variables.at("amount"), "500");
    ASSERT_TRUE(r.seid);
    EXPECT_EQ(to_hex(*r.seid), "0102");
}

TEST(SpTsmConversation, StartRequestRefusalsNameTheField) {
    auto msg = [](const char* body) { return refusal([&] { parse_start_request(body); }); };
    EXPECT_EQ(msg("[]").second, ErrorCode::MalformedRequest);
    EXPECT_EQ(msg("not json").second, ErrorCode::MalformedRequest);
    EXPECT_EQ(msg(R"({"variables":{}})").first.rfind("script:", 0), 0u);
    EXPECT_EQ(msg(R"({"script":"a","seid":"0G"})").first.rfind("seid:", 0), 0u);
    EXPECT_EQ(msg(R"({"script":"a","variables":{"x":-1}})").first.rfind("variables.x:", 0), 0u);
    EXPECT_EQ(msg(R"({"script":"a","colour":"red"})").first.rfind("colour:", 0), 0u);
    EXPECT_EQ(msg(R"({"script":"a","seid":"0G"})").second, ErrorCode::InvalidArgument);
}

// fuzz_plugin_msgs found it (2026-11-26, fuzz/run.sh 600): Poco keeps 2^63 as an unsigned
// value and its convert<std::int64_t>() threw RangeException, which the plugin answered 500.
TEST(SpTsmConversation, IntegersPastInt64AreRefusalsNamingTheField) {
    auto msg = [](const std::string& body) { return refusal([&] { parse_start_request(body); }); };
    EXPECT_EQ(parse_start_request(R"({"script":"a","variables":{"amount":9223372036854775808}})")
                  .variables.at("amount"),
              "9223372036854775808");
    EXPECT_EQ(parse_start_request(R"({"script":"a","variables":{"n":18446744073709551615}})")
                  .variables.at("n"),
              "18446744073709551615");
    EXPECT_EQ(msg(R"({"script":"a","variables":{"n":true}})").first.rfind("variables.n:", 0), 0u);
    EXPECT_EQ(parse_response_request(R"({"seq":9223372036854775808,"response":"9000"})").seq,
              9223372036854775808u);
    EXPECT_EQ(refusal([] {
                  parse_response_request(R"({"seq":-9223372036854775808,"response":"9000"})");
              }).first.rfind("seq:", 0),
              0u);
}

TEST(PluginJsonInt, RangesWithoutPocoExceptions) {
    using Poco::Dynamic::Var;
    EXPECT_EQ(json_int(Var(std::uint64_t{9223372036854775808u}), 1, 127), std::nullopt);
    EXPECT_EQ(json_int(Var(std::uint64_t{127}), 1, 127), 127);
    EXPECT_EQ(json_int(Var(std::int64_t{0}), 1, 127), std::nullopt);
    EXPECT_EQ(json_int(Var(std::int64_t{-5}), -10, -1), -5);
    EXPECT_EQ(json_int(Var(std::uint64_t{3}), -10, -1), std::nullopt);
    EXPECT_EQ(json_int(Var(true), 0, 1), std::nullopt);
    EXPECT_EQ(json_int(Var(1.5), 0, 2), std::nullopt);
    EXPECT_EQ(json_int(Var(std::string("1")), 0, 2), std::nullopt);
    EXPECT_EQ(json_int(Var(), 0, 2), std::nullopt);
    EXPECT_EQ(json_uint(Var(std::uint64_t{18446744073709551615u})), 18446744073709551615u);
    EXPECT_EQ(json_uint(Var(std::int64_t{-1})), std::nullopt);
    EXPECT_EQ(json_uint(Var(std::int64_t{7}), 6), std::nullopt);
}

TEST(SpTsmConversation, ResponseRequestRefusalsNameTheField) {
    const auto ok = parse_response_request(R"({"seq":3,"response":"000003E800079000"})");
    EXPECT_EQ(ok.seq, 3u);
    EXPECT_EQ(to_hex(ok.response), "000003E800079000");
    auto msg = [](const char* body) {
        return refusal([&] { parse_response_request(body); }).first;
    };
    EXPECT_EQ(msg(R"({"response":"9000"})").rfind("seq:", 0), 0u);
    EXPECT_EQ(msg(R"({"seq":0,"response":"9000"})").rfind("seq:", 0), 0u);
    EXPECT_EQ(msg(R"({"seq":"1","response":"9000"})").rfind("seq:", 0), 0u);
    EXPECT_EQ(msg(R"({"seq":1})").rfind("response:", 0), 0u);
    EXPECT_EQ(msg(R"({"seq":1,"response":"90Z0"})").rfind("response:", 0), 0u);
    EXPECT_EQ(msg(R"({"seq":1,"response":"900"})").rfind("response:", 0), 0u);
    EXPECT_EQ(msg(R"({"seq":1,"response":"90"})").rfind("response:", 0), 0u);
    EXPECT_EQ(msg(R"({"seq":1,"response":9000})").rfind("response:", 0), 0u);
}

TEST(SpTsmConversation, WalletActionsAreApdusOrOutcomes) {
    EXPECT_EQ(wallet_apdu_json(from_hex("805C000006")), R"({"kind":"apdu","apdu":"805C000006"})");
    script::Done d;
    d.outcome = "success";
    d.variables["newBalance"] = script::Value{script::VarType::U32, from_hex("000005DC")};
    EXPECT_EQ(wallet_done_json(d),
              R"({"kind":"done","outcome":"success","variables":{"newBalance":"1500"}})");
}

OperationRecord sample() {
    OperationRecord r;
    r.id = "00aa";
    r.script = "top-up";
    r.state = from_hex("010203");
    r.seq = 4;
    r.waiting = Waiting::CardResponse;
    r.engine_seq = 5;
    r.secure = true;
    r.session = "s-1";
    r.action = wallet_apdu_json(from_hex("8052"));
    r.answered_seq = 3;
    r.answered_response = from_hex("9000");
    return r;
}

TEST(SpTsmConversation, RecordRoundTripsAndRefusesGarbage) {
    const OperationRecord r = sample();
    const OperationRecord back = OperationRecord::from_json(r.to_json());
    EXPECT_EQ(back.to_json(), r.to_json());
    EXPECT_EQ(back.engine_seq, 5u);
    EXPECT_TRUE(back.secure);
    EXPECT_EQ(answer_json(back, true),
              R"({"operation":"00aa","seq":4,"action":{"kind":"apdu","apdu":"8052"}})");
    EXPECT_EQ(refusal([] { OperationRecord::from_json("{\"id\":1}"); }).second,
              ErrorCode::Integrity);
}

TEST(SpTsmConversation, RetryRule) {
    OperationRecord r = sample();  // answered seq 3 with 9000, now waiting for seq 4
    auto verdict = [&](std::uint64_t seq, const char* hex) {
        return judge(r, ResponseRequest{seq, from_hex(hex)});
    };
    EXPECT_EQ(verdict(4, "6985"), Verdict::Advance);
    EXPECT_EQ(verdict(3, "9000"), Verdict::Replay);
    EXPECT_EQ(verdict(3, "6985"), Verdict::Conflict);
    EXPECT_EQ(verdict(2, "9000"), Verdict::Conflict);
    EXPECT_EQ(verdict(5, "9000"), Verdict::Unknown);
    r.waiting = Waiting::Nothing;
    EXPECT_EQ(verdict(4, "9000"), Verdict::Ended);
    EXPECT_EQ(verdict(3, "9000"), Verdict::Replay);
}

}  // namespace
}  // namespace kms::tsm::sp
