// Loading and validating service script documents: the documented example loads, and every
// malformed document is refused with a message that names the step (or field) at fault.
#include <gtest/gtest.h>

#include "script_test_support.hpp"

namespace kms::test {
namespace {

/// A document with @p steps (a JSON array body) and the inputs amount (u32) and aid (aid).
std::string doc(const std::string& steps, const std::string& extra = "") {
    return R"({"name": "t", "version": 1,)" + extra +
           R"( "inputs": [{"name": "amount", "type": "u32"}, {"name": "aid", "type": "aid"}],
               "steps": [)" +
           steps + "]}";
}

const std::string kSelect =
    R"({"id": "select", "kind": "apdu", "header": "00A40400", "data": "${aid}"},)";
const std::string kEnd = R"({"id": "done", "kind": "end", "outcome": "success"})";

std::string load_error(const std::string& text) {
    const auto [code, message] = error_of([&] { sc::load_script_json(text); });
    EXPECT_EQ(code, ErrorCode::InvalidArgument) << message;
    return message;
}

TEST(ScriptLoad, TheDocumentedTopUpLoads) {
    const sc::Script s = sc::load_script_json(top_up_text());
    EXPECT_EQ(s.name, "transit-purse-top-up");
    EXPECT_EQ(s.version, 1u);
    EXPECT_EQ(s.max_steps, 64u);
    EXPECT_EQ(s.input_count, 3u);
    EXPECT_EQ(s.steps.size(), 15u);
    // Inputs, then what the steps set, in order of appearance.
    std::vector<std::string> names;
    for (const auto& v : s.variables) names.push_back(v.name);
    EXPECT_EQ(names, (std::vector<std::string>{"purseAid", "amount", "balanceCeiling", "balance",
                                               "counter", "creditMac", "newBalance"}));
    EXPECT_EQ(s.fingerprint, sc::fingerprint_of(top_up_text()));
}

TEST(ScriptLoad, AMinimalDocumentLoads) {
    // The positive control for the cases below: they differ from it in one place each.
    EXPECT_NO_THROW(sc::load_script_json(doc(kSelect + R"(
        {"id": "ok", "kind": "expect", "sw": ["9000"], "onFail": "no"},)" +
                                             kEnd)));
}

struct BadCase {
    const char* name;
    std::string text;
    const char* message;  ///< a part of the error message
};

std::vector<BadCase> bad_cases() {
    const std::string expect_ok =
        R"({"id": "ok", "kind": "expect", "sw": ["9000"], "onFail": "no"},)";
    return {
        {"not JSON", "{\"name\": ", "not valid JSON"},
        {"not an object", "[1, 2]", "must be an object"},
        {"unknown top-level field", doc(kSelect + kEnd, R"( "colour": "red",)"),
         "unknown field 'colour'"},
        {"unknown step field",
         doc(R"({"id": "select", "kind": "apdu", "header": "00A40400", "secur": true},)" + kEnd),
         "step 'select': unknown field 'secur'"},
        {"unknown kind", doc(R"({"id": "x", "kind": "jump"},)" + kEnd),
         "step 'x': unknown kind 'jump'"},
        {"no steps", doc(""), "at least one step"},
        {"duplicate id", doc(kSelect + kSelect + kEnd), "step 'select': id is used twice"},
        {"bad hex", doc(R"({"id": "select", "kind": "apdu", "header": "00 A4 0G 00"},)" + kEnd),
         "step 'select': header: bad hex character 'G'"},
        {"odd hex", doc(R"({"id": "select", "kind": "apdu", "header": "00A4040"},)" + kEnd),
         "step 'select': header: odd number of hex digits"},
        {"header not 4 bytes",
         doc(R"({"id": "select", "kind": "apdu", "header": "00A404"},)" + kEnd),
         "step 'select': header: must be 4 bytes"},
        {"hex variable in a header",
         doc(R"({"id": "select", "kind": "apdu", "header": "00A4 ${aid}"},)" + kEnd),
         "step 'select': header: only integer variables"},
        {"unknown variable",
         doc(R"({"id": "select", "kind": "apdu", "header": "00A40400", "data": "${amout}"},)" +
             kEnd),
         "step 'select': data: unknown variable 'amout'"},
        {"unterminated variable",
         doc(R"({"id": "select", "kind": "apdu", "header": "00A40400", "data": "${aid"},)" + kEnd),
         "step 'select': data: unterminated ${"},
        {"variable used before it is set",
         doc(kSelect +
             R"({"id": "send-mac", "kind": "apdu", "header": "80520000", "data": "${mac}"},
             {"id": "mac", "kind": "kms", "operation": "mac", "key": "k", "algorithm": "AES-CMAC",
              "input": "${amount}", "result": "mac"},)" +
             kEnd),
         "step 'send-mac': variable 'mac' may be used before any step sets it"},
        {"set on one branch only",
         doc(kSelect +
             R"({"id": "b", "kind": "branch", "if": {"var": "amount", "op": ">", "value": 5},
              "goto": "use"},
             {"id": "mac", "kind": "kms", "operation": "mac", "key": "k", "algorithm": "AES-CMAC",
              "input": "${amount}", "result": "mac"},
             {"id": "use", "kind": "apdu", "header": "80520000", "data": "${mac}"},)" +
             kEnd),
         "step 'use': variable 'mac' may be used before any step sets it"},
        {"goto an undefined step",
         doc(kSelect +
             R"({"id": "b", "kind": "branch", "if": {"var": "amount", "op": "==", "value": 1},
              "goto": "nowhere"},)" +
             kEnd),
         "step 'b': goto names undefined step 'nowhere'"},
        {"next an undefined step",
         doc(R"({"id": "select", "kind": "apdu", "header": "00A40400", "next": "nowhere"},)" +
             kEnd),
         "step 'select': next names undefined step 'nowhere'"},
        {"unreachable step",
         doc(kSelect + R"({"id": "early", "kind": "end", "outcome": "success"},
             {"id": "orphan", "kind": "apdu", "header": "00A40400"},)" +
             kEnd),
         "step 'orphan': is unreachable"},
        {"falls off the end", doc(kSelect + expect_ok.substr(0, expect_ok.size() - 1)),
         "step 'ok': falls off the end"},
        {"loop without a bound",
         doc(kSelect +
             R"({"id": "again", "kind": "branch", "if": {"var": "amount", "op": "!=", "value": 0},
              "goto": "select"},)" +
             kEnd),
         "loop without a bound ('select' -> 'again' -> 'select')"},
        {"self loop without a bound",
         doc(R"({"id": "spin", "kind": "branch", "if": {"var": "amount", "op": ">", "value": 0},
                  "goto": "spin"},)" +
             kEnd),
         "step 'spin': loop without a bound ('spin' -> 'spin')"},
        {"expect before any APDU", doc(expect_ok + kEnd),
         "step 'ok': may run before any APDU has a response"},
        {"capture before any APDU",
         doc(R"({"id": "c", "kind": "capture", "onFail": "no", "fields": [{"name": "x", "type": "u8"}]},)" +
             kEnd),
         "step 'c': may run before any APDU"},
        {"secure APDU before the channel",
         doc(R"({"id": "select", "kind": "apdu", "header": "00A40400", "secure": true},)" + kEnd),
         "step 'select': is secure but may run before a secure-channel step"},
        {"capture length does not fit the type",
         doc(kSelect + R"({"id": "c", "kind": "capture", "onFail": "no",
              "fields": [{"name": "x", "type": "u32", "length": 2}]},)" +
             kEnd),
         "step 'c': field 'x': a u32 is 4 bytes"},
        {"hex capture without a length",
         doc(kSelect + R"({"id": "c", "kind": "capture", "onFail": "no",
              "fields": [{"name": "x", "type": "hex"}]},)" +
             kEnd),
         "step 'c': field 'x': a hex capture needs a length"},
        {"AID capture of 3 bytes",
         doc(kSelect + R"({"id": "c", "kind": "capture", "onFail": "no",
              "fields": [{"name": "x", "type": "aid", "length": 3}]},)" +
             kEnd),
         "step 'c': field 'x': an AID is 5 to 16 bytes"},
        {"capture overwrites an input",
         doc(kSelect + R"({"id": "c", "kind": "capture", "onFail": "no",
              "fields": [{"name": "amount", "type": "u32"}]},)" +
             kEnd),
         "step 'c': overwrites the input variable 'amount'"},
        {"variable set with two types",
         doc(kSelect +
             R"({"id": "c1", "kind": "capture", "onFail": "no", "fields": [{"name": "x", "type": "u8"}]},
             {"id": "c2", "kind": "capture", "onFail": "no", "fields": [{"name": "x", "type": "u16"}]},)" +
             kEnd),
         "step 'c2': sets 'x' as u16 but another step sets it as u8"},
        {"bad SW pattern",
         doc(kSelect + R"({"id": "ok", "kind": "expect", "sw": ["90G0"], "onFail": "no"},)" + kEnd),
         "step 'ok': sw: SW pattern '90G0'"},
        {"expect without onFail",
         doc(kSelect + R"({"id": "ok", "kind": "expect", "sw": ["9000"]},)" + kEnd),
         "step 'ok': 'onFail' is required"},
        {"bad outcome name", doc(kSelect + R"({"id": "done", "kind": "end", "outcome": "no way"})"),
         "step 'done': outcome: an outcome name is required"},
        {"integer compared with hex",
         doc(kSelect +
             R"({"id": "b", "kind": "branch", "if": {"var": "amount", "op": "==", "value": "00"},
              "goto": "done"},)" +
             kEnd),
         "step 'b': if: 'amount' is an integer"},
        {"AID ordered",
         doc(kSelect +
             R"({"id": "b", "kind": "branch", "if": {"var": "aid", "op": "<", "value": "A000000559"},
              "goto": "done"},)" +
             kEnd),
         "step 'b': if: aid values compare only with == and !="},
        {"number does not fit",
         doc(kSelect +
             R"({"id": "b", "kind": "branch", "if": {"var": "amount", "op": "==", "value": 4294967296},
              "goto": "done"},)" +
             kEnd),
         "step 'b': if: 4294967296 does not fit a u32"},
        {"unknown type",
         R"({"name": "t", "inputs": [{"name": "amount", "type": "u64"}], "steps": [)" + kEnd + "]}",
         "input #1: 'type': unknown type 'u64'"},
        {"maxSteps over the hard cap", doc(kSelect + kEnd, R"( "maxSteps": 100000,)"),
         "'maxSteps' must be 0..4096"},
        {"maxSteps past 64 bits", doc(kSelect + kEnd, R"( "maxSteps": 18446744073709551615,)"),
         "'maxSteps' is out of range"},
        {"branch value past 64 bits",
         doc(kSelect + R"({"id": "b", "kind": "branch", "if": {"var": "amount", "op": "==",
              "value": 18446744073709551615}, "goto": "done"},)" +
             kEnd),
         "step 'b': 'value' is out of range"},
        {"maxSteps zero", doc(kSelect + kEnd, R"( "maxSteps": 0,)"), "maxSteps: 1..4096"},
        {"unknown protocol",
         doc(R"({"id": "sc", "kind": "secure-channel", "protocol": "SCP11", "keyset": "k", "onFail": "no"},)" +
             kEnd),
         "step 'sc': protocol: SCP02 or SCP03"},
        {"KMS step without input",
         doc(R"({"id": "m", "kind": "kms", "operation": "mac", "key": "k", "algorithm": "AES-CMAC",
              "input": "", "result": "mac"},)" +
             kEnd),
         "step 'm': input: the KMS needs data"},
        {"KMS operation unknown",
         doc(R"({"id": "m", "kind": "kms", "operation": "sign", "key": "k", "algorithm": "AES-CMAC",
              "input": "00", "result": "mac"},)" +
             kEnd),
         "step 'm': unknown operation 'sign'"},
    };
}

TEST(ScriptLoad, MalformedDocumentsAreRefusedNamingTheFault) {
    for (const auto& c : bad_cases()) {
        SCOPED_TRACE(c.name);
        const std::string message = load_error(c.text);
        EXPECT_NE(message.find(c.message), std::string::npos)
            << "expected '" << c.message << "' in: " << message;
    }
}

TEST(ScriptLoad, ABoundedLoopIsAccepted) {
    EXPECT_NO_THROW(sc::load_script_json(doc(
        R"({"id": "select", "kind": "apdu", "header": "00A40400", "maxVisits": 3},
           {"id": "again", "kind": "branch", "if": {"var": "amount", "op": "!=", "value": 0}, "goto": "select"},)" +
        kEnd)));
}

TEST(ScriptLoad, OversizedDocumentIsRefused) {
    std::string text = doc(kSelect + kEnd);
    text.insert(text.size() - 1, std::string(sc::kMaxDocumentBytes, ' '));
    EXPECT_NE(load_error(text).find("larger than"), std::string::npos);
}

}  // namespace
}  // namespace kms::test
