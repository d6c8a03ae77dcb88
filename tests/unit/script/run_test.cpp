// ScriptRun against the fake purse: the documented top-up end to end, named failures, the step
// cap and loop bounds, save/restore mid-run, and idempotent re-feeding of answers.
#include <gtest/gtest.h>

#include "script_test_support.hpp"

namespace kms::test {
namespace {

using sc::Action;
using sc::Done;
using sc::KmsRequest;
using sc::OpenSecureChannel;
using sc::ScriptRun;
using sc::SendApdu;

std::string docs_example() {
    const std::string md = read_text("KMS_DOCS_DIR", "service-scripts.md");
    const std::string marker = "<!-- example: tests/unit/script/transit-top-up.json -->\n```json\n";
    const auto start = md.find(marker);
    if (start == std::string::npos)
        throw std::runtime_error("example marker not found in the docs");
    const auto body = start + marker.size();
    const auto end = md.find("```\n", body);
    if (end == std::string::npos) throw std::runtime_error("example block is not closed");
    return md.substr(body, end - body);
}

TEST(ScriptDocs, ExampleInTheDocsIsTheTestedScript) {
    EXPECT_EQ(docs_example(), top_up_text());
}

TEST(ScriptRun, TopUpCreditsOnceAndReportsTheNewBalance) {
    FakePurse card;
    ScriptRun run(top_up_script(), top_up_inputs(card, 500));
    Trace trace;
    const Done done = drive(run, card, &trace);
    EXPECT_TRUE(done.success()) << done.outcome;
    EXPECT_EQ(done.outcome, "success");
    EXPECT_EQ(card.credits, 1);
    EXPECT_EQ(card.balance, 1500u);
    EXPECT_EQ(done.variables.at("balance").text(), "1000");
    EXPECT_EQ(done.variables.at("counter").text(), "7");
    EXPECT_EQ(done.variables.at("newBalance").text(), "1500");
    EXPECT_EQ(done.variables.at("amount").text(), "500");

    // SELECT (plain), channel, READ BALANCE (secure), MAC, CREDIT (secure), READ BALANCE, Done.
    ASSERT_EQ(trace.actions.size(), 7u);
    const auto& select = std::get<SendApdu>(trace.actions[0].what);
    EXPECT_EQ(to_hex(select.apdu), "00A4040009A0000005591010FFFF00");
    EXPECT_FALSE(select.secure);
    const auto& channel = std::get<OpenSecureChannel>(trace.actions[1].what);
    EXPECT_EQ(channel.protocol, "SCP02");
    EXPECT_EQ(channel.keyset, "sp-transit-scp");
    EXPECT_EQ(channel.level, 0x01);
    const auto& read = std::get<SendApdu>(trace.actions[2].what);
    EXPECT_EQ(to_hex(read.apdu), "805C000006");
    EXPECT_TRUE(read.secure);
    const auto& mac = std::get<KmsRequest>(trace.actions[3].what);
    EXPECT_EQ(mac.operation, sc::KmsOperation::Mac);
    EXPECT_EQ(mac.key, "sp-transit-credit-mac");
    EXPECT_EQ(mac.algorithm, "DES3-RETAIL");
    EXPECT_EQ(to_hex(mac.input),
              "A0000005591010FFFF"
              "000001F4"
              "0007");
    const auto& credit = std::get<SendApdu>(trace.actions[4].what);
    EXPECT_EQ(to_hex(credit.apdu),
              "805200000E"
              "000001F4"
              "0007" +
                  to_hex(fake_mac(mac.input)));
    EXPECT_TRUE(credit.secure);
    for (std::size_t i = 0; i < trace.actions.size(); ++i)
        EXPECT_EQ(trace.actions[i].seq, i + 1) << "actions are numbered from 1 without gaps";
    EXPECT_EQ(trace.actions[6].step_id, "done");
}

TEST(ScriptRun, RefusedCreditEndsInTheNamedFailure) {
    FakePurse card;
    card.refuse_credit = true;
    ScriptRun run(top_up_script(), top_up_inputs(card));
    const Done done = drive(run, card);
    EXPECT_FALSE(done.success());
    EXPECT_EQ(done.outcome, "credit-refused");
    EXPECT_EQ(run.next().step_id, "credit-ok");
    EXPECT_EQ(card.balance, 1000u);
    EXPECT_EQ(done.variables.count("newBalance"), 0u);
}

TEST(ScriptRun, OtherNamedFailures) {
    {
        FakePurse card;
        card.select_sw = 0x6A82;
        ScriptRun run(top_up_script(), top_up_inputs(card));
        EXPECT_EQ(drive(run, card).outcome, "purse-not-found");
        EXPECT_EQ(card.received.size(), 1u);
    }
    {
        FakePurse card;
        card.select_sw = 0x6110;  // matches the "61xx" pattern
        ScriptRun run(top_up_script(), top_up_inputs(card));
        EXPECT_EQ(drive(run, card).outcome, "success");
    }
    {
        FakePurse card;
        ScriptRun run(top_up_script(), top_up_inputs(card));
        EXPECT_EQ(drive(run, card, nullptr, /*channel_opens=*/false).outcome,
                  "secure-channel-refused");
        EXPECT_EQ(card.received.size(), 1u) << "nothing after SELECT without a channel";
    }
    {
        FakePurse card;
        card.short_balance = true;
        ScriptRun run(top_up_script(), top_up_inputs(card));
        EXPECT_EQ(drive(run, card).outcome, "read-balance-malformed");
        EXPECT_EQ(card.credits, 0);
    }
}

TEST(ScriptRun, BranchOnTheCapturedBalance) {
    FakePurse card;
    card.balance = 9000;
    ScriptRun run(top_up_script(), top_up_inputs(card, 500, /*ceiling=*/8999));
    Trace trace;
    EXPECT_EQ(drive(run, card, &trace).outcome, "balance-over-ceiling");
    EXPECT_TRUE(trace.kms_inputs.empty());
    EXPECT_EQ(card.credits, 0);

    FakePurse at_ceiling;  // balance == ceiling: not over it
    at_ceiling.balance = 9000;
    ScriptRun run2(top_up_script(), top_up_inputs(at_ceiling, 500, 9000));
    EXPECT_EQ(drive(run2, at_ceiling).outcome, "success");
    EXPECT_EQ(at_ceiling.balance, 9500u);
}

TEST(ScriptRun, InputsAreCheckedAgainstTheirTypes) {
    FakePurse card;
    auto inputs = top_up_inputs(card);
    inputs.erase("amount");
    EXPECT_NE(error_of([&] {
                  ScriptRun(top_up_script(), inputs);
              }).second.find("input 'amount' is required"),
              std::string::npos);
    inputs = top_up_inputs(card);
    inputs["amount"] = "4294967296";  // 2^32
    EXPECT_EQ(error_of([&] { ScriptRun(top_up_script(), inputs); }).first,
              ErrorCode::InvalidArgument);
    inputs = top_up_inputs(card);
    inputs["purseAid"] = "A000000559";  // 5 bytes: the shortest AID
    EXPECT_NO_THROW(ScriptRun(top_up_script(), inputs));
    inputs["purseAid"] = "A0000005";
    EXPECT_NE(error_of([&] { ScriptRun(top_up_script(), inputs); }).second.find("5 to 16 bytes"),
              std::string::npos);
    inputs = top_up_inputs(card);
    inputs["colour"] = "1";
    EXPECT_NE(
        error_of([&] { ScriptRun(top_up_script(), inputs); }).second.find("unknown input 'colour'"),
        std::string::npos);
}

/// Drives until the action at @p step_id is current.
void drive_to(ScriptRun& run, FakePurse& card, const std::string& step_id) {
    for (int i = 0; i < 20 && run.next().step_id != step_id; ++i) {
        const Action& a = run.next();
        ASSERT_FALSE(run.done()) << "ended at " << a.step_id;
        if (const auto* send = std::get_if<SendApdu>(&a.what))
            run.feed_response(a.seq, card.respond(send->apdu));
        else if (const auto* k = std::get_if<KmsRequest>(&a.what))
            run.feed_kms_result(a.seq, fake_mac(k->input));
        else
            run.feed_channel_result(a.seq, true);
    }
    ASSERT_EQ(run.next().step_id, step_id);
}

TEST(ScriptRun, SavedMidRunAndRestoredItContinues) {
    FakePurse card;
    const auto script = top_up_script();
    ScriptRun run(script, top_up_inputs(card));
    drive_to(run, card, "credit");
    const Bytes saved = run.serialize();
    const Action before = run.next();

    // A restart: the script is loaded again from its document, the run from its bytes.
    ScriptRun restored = ScriptRun::restore(top_up_script(), saved);
    EXPECT_EQ(restored.serialize(), saved);
    EXPECT_EQ(restored.next().seq, before.seq);
    EXPECT_EQ(restored.next().step_id, "credit");
    EXPECT_EQ(std::get<SendApdu>(restored.next().what).apdu, std::get<SendApdu>(before.what).apdu);
    EXPECT_EQ(restored.steps_executed(), run.steps_executed());
    const Done done = drive(restored, card);
    EXPECT_EQ(done.outcome, "success");
    EXPECT_EQ(card.credits, 1);
    EXPECT_EQ(done.variables.at("newBalance").text(), "1500");

    // A run that has ended restores as ended.
    ScriptRun ended = ScriptRun::restore(script, restored.serialize());
    ASSERT_TRUE(ended.done());
    EXPECT_EQ(std::get<Done>(ended.next().what).outcome, "success");
    EXPECT_EQ(std::get<Done>(ended.next().what).variables, done.variables);
}

TEST(ScriptRun, RestoreRefusesCorruptStateAndOtherRevisions) {
    FakePurse card;
    const auto script = top_up_script();
    ScriptRun run(script, top_up_inputs(card));
    drive_to(run, card, "credit-mac");
    const Bytes saved = run.serialize();
    ASSERT_NO_THROW(ScriptRun::restore(script, saved));

    for (std::size_t cut : {std::size_t{0}, std::size_t{3}, saved.size() / 2, saved.size() - 1}) {
        const Bytes truncated(saved.begin(), saved.begin() + static_cast<std::ptrdiff_t>(cut));
        EXPECT_EQ(error_of([&] { ScriptRun::restore(script, truncated); }).first,
                  ErrorCode::Integrity)
            << "cut at " << cut;
    }
    Bytes trailing = saved;
    trailing.push_back(0);
    EXPECT_EQ(error_of([&] { ScriptRun::restore(script, trailing); }).first, ErrorCode::Integrity);

    std::string other = top_up_text();
    other.replace(other.find("\"version\": 1"), 12, "\"version\": 2");
    const auto revised = std::make_shared<const sc::Script>(sc::load_script_json(other));
    EXPECT_NE(error_of([&] { ScriptRun::restore(revised, saved); }).second.find("another revision"),
              std::string::npos);
    std::string reformatted = top_up_text() + "\n";  // same name and version, other text
    const auto edited = std::make_shared<const sc::Script>(sc::load_script_json(reformatted));
    EXPECT_EQ(error_of([&] { ScriptRun::restore(edited, saved); }).first, ErrorCode::Integrity);
}

TEST(ScriptRun, ReFeedingAnAnsweredActionDoesNotAdvanceTwice) {
    FakePurse card;
    ScriptRun run(top_up_script(), top_up_inputs(card));
    drive_to(run, card, "credit");
    const Action credit = run.next();
    const Bytes answer = card.respond(std::get<SendApdu>(credit.what).apdu);
    ASSERT_EQ(card.credits, 1);
    const Action after = run.feed_response(credit.seq, answer);
    EXPECT_EQ(after.step_id, "read-new-balance");
    EXPECT_EQ(after.seq, credit.seq + 1);
    const std::uint32_t executed = run.steps_executed();
    const Bytes state = run.serialize();

    // The wallet lost the answer and sends the same response again: same next action.
    const Action& again = run.feed_response(credit.seq, answer);
    EXPECT_EQ(again.seq, after.seq);
    EXPECT_EQ(std::get<SendApdu>(again.what).apdu, std::get<SendApdu>(after.what).apdu);
    EXPECT_EQ(run.steps_executed(), executed);
    EXPECT_EQ(run.serialize(), state);

    // Also after a restart.
    ScriptRun restored = ScriptRun::restore(top_up_script(), state);
    EXPECT_EQ(restored.feed_response(credit.seq, answer).seq, after.seq);
    EXPECT_EQ(restored.serialize(), state);

    // Other bytes for an answered action, a stale number, a future one, a wrong kind.
    const Bytes other = from_hex("6985");
    EXPECT_EQ(error_of([&] { run.feed_response(credit.seq, other); }).first, ErrorCode::Conflict);
    EXPECT_EQ(error_of([&] { run.feed_response(1, from_hex("9000")); }).first, ErrorCode::Conflict);
    EXPECT_EQ(error_of([&] { run.feed_response(after.seq + 1, answer); }).first,
              ErrorCode::InvalidArgument);
    EXPECT_EQ(error_of([&] { run.feed_kms_result(after.seq, from_hex("00")); }).first,
              ErrorCode::InvalidArgument);
    EXPECT_EQ(error_of([&] { run.feed_response(after.seq, from_hex("90")); }).first,
              ErrorCode::InvalidArgument);
    EXPECT_EQ(run.serialize(), state) << "refused answers change nothing";

    const Action last = run.next();
    ASSERT_EQ(last.step_id, "read-new-balance");
    const Bytes last_answer = card.respond(std::get<SendApdu>(last.what).apdu);
    const Action end = run.feed_response(last.seq, last_answer);
    ASSERT_TRUE(std::holds_alternative<Done>(end.what));
    EXPECT_EQ(std::get<Done>(end.what).outcome, "success");
    EXPECT_EQ(card.credits, 1) << "the balance changes exactly once";
    EXPECT_EQ(card.balance, 1500u);
    // After the end, the last answer again still gives the same Done.
    const Action& end_again = run.feed_response(last.seq, last_answer);
    EXPECT_EQ(end_again.seq, end.seq);
    EXPECT_TRUE(std::holds_alternative<Done>(end_again.what));
}

TEST(ScriptRun, RetryOfACardResponseFollowedByKmsWorkGetsTheLatestAction) {
    // The host answers the MAC request in the same HTTPS request as READ BALANCE's response;
    // the wallet's retry of that response must get CREDIT again, not a conflict.
    FakePurse card;
    ScriptRun run(top_up_script(), top_up_inputs(card));
    drive_to(run, card, "read-balance");
    const Action read = run.next();
    const Bytes answer = card.respond(std::get<SendApdu>(read.what).apdu);
    const Action mac = run.feed_response(read.seq, answer);
    ASSERT_TRUE(std::holds_alternative<KmsRequest>(mac.what));
    const Action credit =
        run.feed_kms_result(mac.seq, fake_mac(std::get<KmsRequest>(mac.what).input));
    ASSERT_EQ(credit.step_id, "credit");
    EXPECT_EQ(run.feed_response(read.seq, answer).seq, credit.seq);
    EXPECT_EQ(run.feed_kms_result(mac.seq, fake_mac(std::get<KmsRequest>(mac.what).input)).seq,
              credit.seq);
    EXPECT_EQ(error_of([&] { run.feed_kms_result(mac.seq, from_hex("0102030405060708")); }).first,
              ErrorCode::Conflict);
}

std::shared_ptr<const sc::Script> polling_script(int max_steps, int max_visits) {
    // GET STATUS until the card stops answering 6300; a bounded loop.
    const std::string doc = R"({"name": "poll", "maxSteps": )" + std::to_string(max_steps) + R"(,
      "steps": [
        {"id": "status", "kind": "apdu", "header": "80 F2 00 00", "maxVisits": )" +
                            std::to_string(max_visits) + R"(},
        {"id": "fields", "kind": "capture", "onFail": "bad", "fields": [{"name": "state", "type": "u8"}]},
        {"id": "busy", "kind": "branch", "if": {"var": "state", "op": "==", "value": 1}, "goto": "status"},
        {"id": "done", "kind": "end", "outcome": "success"}]})";
    return std::make_shared<const sc::Script>(sc::load_script_json(doc));
}

Done poll_busy_card(ScriptRun& run) {
    for (int i = 0; i < 1000 && !run.done(); ++i)
        run.feed_response(run.next().seq, from_hex("019000"));
    return std::get<Done>(run.next().what);
}

TEST(ScriptRun, StepCapEndsARunThatKeepsLooping) {
    ScriptRun run(polling_script(10, 1000), {});
    const Done done = poll_busy_card(run);
    EXPECT_EQ(done.outcome, sc::kStepLimitExceeded);
    EXPECT_EQ(run.steps_executed(), 10u);
    EXPECT_EQ(run.next().step_id, "fields") << "the 11th step would have been 'fields'";

    ScriptRun ok(polling_script(10, 1000), {});  // a card that is ready at once
    ok.feed_response(ok.next().seq, from_hex("009000"));
    EXPECT_EQ(std::get<Done>(ok.next().what).outcome, "success");
    EXPECT_EQ(ok.steps_executed(), 4u);
}

TEST(ScriptRun, LoopBoundEndsTheRun) {
    ScriptRun run(polling_script(100, 3), {});
    const Done done = poll_busy_card(run);
    EXPECT_EQ(done.outcome, sc::kLoopBoundExceeded);
    EXPECT_EQ(run.next().step_id, "status");
    EXPECT_EQ(run.steps_executed(), 10u);  // 3 rounds of 3 steps, then the 4th visit of 'status'
}

}  // namespace
}  // namespace kms::test

namespace kms::test {
namespace {

/// GET DATA, then: the KMS encrypts the returned tag unless it is 9F7F; its result cut to 4
/// bytes goes into a STORE DATA.
std::shared_ptr<const sc::Script> tag_script() {
    return std::make_shared<const sc::Script>(sc::load_script_json(R"({"name": "tags",
      "inputs": [{"name": "skip", "type": "hex"}],
      "steps": [
        {"id": "get", "kind": "apdu", "header": "80 CA 00 00", "le": 256},
        {"id": "tag", "kind": "capture", "onFail": "short", "fields": [{"name": "tag", "type": "hex", "length": 2}]},
        {"id": "same", "kind": "branch", "if": {"var": "tag", "op": "==", "value": "9F7F"}, "goto": "cplc"},
        {"id": "other", "kind": "branch", "if": {"var": "tag", "op": "==", "value": "${skip}"}, "goto": "skipped"},
        {"id": "enc", "kind": "kms", "operation": "encrypt", "key": "k-dek", "algorithm": "AES-CBC",
         "input": "${tag} 80 00", "result": "cipher", "truncate": 4},
        {"id": "store", "kind": "apdu", "header": "80 E2 80 00", "data": "${cipher}"},
        {"id": "done", "kind": "end", "outcome": "success"},
        {"id": "cplc", "kind": "end", "outcome": "cplc"},
        {"id": "skipped", "kind": "end", "outcome": "skipped"}]})"));
}

std::string run_tag(const std::string& tag_answer, Bytes* kms_input = nullptr,
                    Bytes* store = nullptr) {
    ScriptRun run(tag_script(), {{"skip", "DF01"}});
    const Action& a = run.feed_response(run.next().seq, from_hex(tag_answer));
    if (const auto* k = std::get_if<KmsRequest>(&a.what)) {
        EXPECT_EQ(k->operation, sc::KmsOperation::Encrypt);
        if (kms_input) *kms_input = k->input;
        const std::uint64_t seq = a.seq;
        EXPECT_EQ(error_of([&] { run.feed_kms_result(seq, from_hex("010203")); }).first,
                  ErrorCode::InvalidArgument)
            << "shorter than truncate";
        const Action& s = run.feed_kms_result(seq, from_hex("0102030405060708"));
        if (store) *store = std::get<SendApdu>(s.what).apdu;
        run.feed_response(s.seq, from_hex("9000"));
    }
    return std::get<Done>(run.next().what).outcome;
}

TEST(ScriptRun, HexComparisonsAndTruncatedKmsResults) {
    EXPECT_EQ(run_tag("9F7F9000"), "cplc");
    EXPECT_EQ(run_tag("DF019000"), "skipped");
    EXPECT_EQ(run_tag("9F9000"), "short");
    Bytes input, store;
    EXPECT_EQ(run_tag("9F6E9000", &input, &store), "success");
    EXPECT_EQ(to_hex(input), "9F6E8000");
    EXPECT_EQ(to_hex(store),
              "80E2800004"
              "01020304");
}

}  // namespace
}  // namespace kms::test

namespace kms::test {
namespace {

TEST(ScriptRun, TheHostCanAbandonARun) {
    FakePurse card;
    ScriptRun run(top_up_script(), top_up_inputs(card));
    drive_to(run, card, "credit-mac");
    const std::uint64_t mac_seq = run.next().seq;
    EXPECT_EQ(error_of([&] { run.abandon("success"); }).first, ErrorCode::InvalidArgument);
    EXPECT_EQ(error_of([&] { run.abandon("kms down"); }).first, ErrorCode::InvalidArgument);
    EXPECT_FALSE(run.done());
    const Action& a = run.abandon("kms-unavailable");
    ASSERT_TRUE(run.done());
    EXPECT_EQ(std::get<Done>(a.what).outcome, "kms-unavailable");
    EXPECT_EQ(std::get<Done>(a.what).variables.at("balance").text(), "1000");
    EXPECT_EQ(a.seq, mac_seq + 1);
    EXPECT_EQ(std::get<Done>(run.abandon("other").what).outcome, "kms-unavailable")
        << "an ended run keeps its outcome";
    EXPECT_EQ(error_of([&] { run.feed_kms_result(mac_seq, from_hex("0102030405060708")); }).first,
              ErrorCode::Conflict);
    ScriptRun restored = ScriptRun::restore(top_up_script(), run.serialize());
    EXPECT_EQ(std::get<Done>(restored.next().what).outcome, "kms-unavailable");
}

}  // namespace
}  // namespace kms::test

namespace kms::test {
namespace {

TEST(ScriptRun, ACommandLongerThanExtendedLengthEndsTheRun) {
    std::string data;
    for (int i = 0; i < 64; ++i) data += "${blob}";
    const std::string text = R"({"name": "big", "inputs": [{"name": "blob", "type": "hex"}],
      "steps": [{"id": "store", "kind": "apdu", "header": "80E20000", "data": ")" +
                             data + R"("},
                {"id": "done", "kind": "end", "outcome": "success"}]})";
    const auto script = std::make_shared<const sc::Script>(sc::load_script_json(text));
    // 64 x 1023 bytes = 65472: still one extended-length command.
    ScriptRun fits(script, {{"blob", std::string(2046, 'A')}});
    ASSERT_FALSE(fits.done());
    EXPECT_EQ(std::get<SendApdu>(fits.next().what).apdu.size(), 4u + 3u + 65472u);
    // 64 x 1024 bytes = 65536: one byte too many for Lc.
    ScriptRun too_long(script, {{"blob", std::string(2048, 'A')}});
    ASSERT_TRUE(too_long.done());
    EXPECT_EQ(std::get<Done>(too_long.next().what).outcome, "command-too-long");
    EXPECT_EQ(too_long.next().seq, 1u);
}

}  // namespace
}  // namespace kms::test

namespace kms::test {
namespace {

TEST(ScriptRun, RestoreRefusesAStateMissingWhatLaterStepsNeed) {
    const auto script = std::make_shared<const sc::Script>(sc::load_script_json(R"({"name": "later",
      "steps": [
        {"id": "a", "kind": "apdu", "header": "80CA0000", "le": 1},
        {"id": "x", "kind": "capture", "onFail": "short", "fields": [{"name": "x", "type": "u8"}]},
        {"id": "b", "kind": "apdu", "header": "80CB0000"},
        {"id": "c", "kind": "apdu", "header": "80CC0000", "data": "${x}"},
        {"id": "done", "kind": "end", "outcome": "success"}]})"));
    ScriptRun run(script, {});
    const Action& b = run.feed_response(run.next().seq, from_hex("059000"));
    ASSERT_EQ(b.step_id, "b");
    const Bytes saved = run.serialize();
    ASSERT_NO_THROW(ScriptRun::restore(script, saved));

    // The same state with x unset: b itself does not use x, but c would.
    // Layout at the end: x (present 01, length 00000001, value 05), then the last answers:
    // response (seq 1, length 3, 059000), KMS (seq 0, empty), channel (seq 0, empty), PUT KEY
    // (seq 0, empty).
    const std::size_t tail = (8 + 4 + 3) + (8 + 4) + (8 + 4) + (8 + 4);
    const std::size_t x_at = saved.size() - tail - 6;
    ASSERT_EQ(to_hex(ByteView(saved).subspan(x_at, 6)), "010000000105");
    Bytes edited(saved.begin(), saved.begin() + static_cast<std::ptrdiff_t>(x_at));
    edited.push_back(0);
    edited.insert(edited.end(), saved.end() - static_cast<std::ptrdiff_t>(tail), saved.end());
    const auto [code, message] = error_of([&] { ScriptRun::restore(script, edited); });
    EXPECT_EQ(code, ErrorCode::Integrity);
    EXPECT_NE(message.find("variable 'x' is unset at step 'b'"), std::string::npos) << message;
}

}  // namespace
}  // namespace kms::test
