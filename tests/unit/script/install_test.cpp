// The install side of the service script engine: the LOAD framing (tag C4 and its BER length,
// blocks, P1/P2), the `load` and `put-key` steps in the transit purse's install and delete
// scripts (tests/unit/script/transit-install.json, transit-delete.json), the loadFile.*
// constants and ${#name} lengths, and the load-time refusals of the new kinds.
#include <gtest/gtest.h>

#include "load_file.hpp"
#include "script_test_support.hpp"

namespace kms::test {
namespace {

using sc::Action;
using sc::Done;
using sc::PutKey;
using sc::ScriptRun;
using sc::SendApdu;
using sc::SendLoadBlock;

const char* const kHash = "E697098A7219CC7C2F719CCC8CFB01AB3E534B4D901D8CB055A94196A98F7328";

/// The catalogue entry of the demo purse (docs/sp-tsm.md), as the loader sees it.
sc::LoadFileFacts purse_facts(std::uint32_t size = 3000) {
    sc::LoadFileFacts f;
    f.aid = from_hex("A00000055910");
    f.hash = from_hex(kHash);
    f.size = size;
    f.module = from_hex("A0000005591010");
    f.instance_aid = from_hex("A0000005591010FFFF");
    f.privileges = from_hex("00");
    f.install_parameters = from_hex("C900");
    return f;
}

sc::LoadFileResolver catalogue(std::uint32_t size = 3000) {
    return [size](std::string_view name) -> std::optional<sc::LoadFileFacts> {
        if (name != "transit-purse") return std::nullopt;
        return purse_facts(size);
    };
}

std::shared_ptr<const sc::Script> script_file(const std::string& name) {
    return std::make_shared<const sc::Script>(
        sc::load_script_json(read_text("KMS_SCRIPT_TEST_DIR", name), catalogue()));
}

std::string apdu_hex(const Action& a) {
    return to_hex(std::get<SendApdu>(a.what).apdu);
}

std::string load_error(const std::string& text, const sc::LoadFileResolver& r = catalogue()) {
    const auto [code, message] = error_of([&] { sc::load_script_json(text, r); });
    EXPECT_EQ(code, ErrorCode::InvalidArgument) << message;
    return message;
}

TEST(LoadFraming, TagC4AndItsBerLength) {
    EXPECT_EQ(to_hex(sc::ber_length(0)), "00");
    EXPECT_EQ(to_hex(sc::ber_length(127)), "7F");
    EXPECT_EQ(to_hex(sc::ber_length(128)), "8180");
    EXPECT_EQ(to_hex(sc::ber_length(255)), "81FF");
    EXPECT_EQ(to_hex(sc::ber_length(256)), "820100");
    EXPECT_EQ(to_hex(sc::ber_length(65535)), "82FFFF");
    EXPECT_EQ(to_hex(sc::ber_length(65536)), "83010000");
    EXPECT_EQ(to_hex(sc::framed_load_file(from_hex("0102030405"))), "C4050102030405");
    EXPECT_EQ(to_hex(sc::framed_load_file(Bytes(200, 0xAB))).substr(0, 8), "C481C8AB");
    EXPECT_EQ(to_hex(sc::framed_load_file(Bytes(3000, 0xAB))).substr(0, 10), "C4820BB8AB");
}

/// Every block of @p file in @p block_size: their data concatenated is the framed file, each
/// but the last is full with P1 00, the last has P1 80, P2 counts from 00.
void check_blocks(const Bytes& file, std::size_t block_size, std::size_t expected_blocks) {
    const std::size_t n = sc::load_block_count(file.size(), block_size);
    ASSERT_EQ(n, expected_blocks);
    Bytes joined;
    for (std::size_t b = 0; b < n; ++b) {
        const core::CommandApdu c = sc::load_command(file, block_size, b);
        EXPECT_EQ(c.cla, 0x80);
        EXPECT_EQ(c.ins, 0xE8);
        EXPECT_EQ(c.p1, b + 1 == n ? 0x80 : 0x00) << "block " << b;
        EXPECT_EQ(c.p2, b);
        EXPECT_EQ(c.le, 256u);
        if (b + 1 < n) {
            EXPECT_EQ(c.data.size(), block_size);
        }
        EXPECT_LE(c.data.size(), block_size);
        joined.insert(joined.end(), c.data.begin(), c.data.end());
    }
    EXPECT_EQ(joined, sc::framed_load_file(file));
}

TEST(LoadFraming, BlocksNumberedFromZeroTheLastFlaggedWithP1_80) {
    Bytes file;
    for (int i = 0; i < 3000; ++i) file.push_back(static_cast<std::uint8_t>(i * 7));
    // < 128 bytes: C4 L, one block.
    check_blocks(Bytes(file.begin(), file.begin() + 100), 200, 1);
    EXPECT_EQ(to_hex(core::encode_command_apdu(
                  sc::load_command(Bytes(file.begin(), file.begin() + 3), 200, 0))),
              "80E8800005C40300070E00");
    // < 256: C4 81 L; 200 bytes framed into 203: a full block and 3 bytes.
    check_blocks(Bytes(file.begin(), file.begin() + 200), 200, 2);
    EXPECT_EQ(to_hex(sc::load_command(Bytes(file.begin(), file.begin() + 200), 200, 1).data),
              to_hex(Bytes(file.begin() + 197, file.begin() + 200)));
    // Larger: C4 82 0B B8; 3004 bytes: 15 blocks of 200 and one of 4.
    check_blocks(file, 200, 16);
    EXPECT_EQ(sc::load_command(file, 200, 15).data.size(), 4u);
    check_blocks(file, 247, 13);
    EXPECT_EQ(sc::load_block_count(file.size(), 1), 3004u);  // counted, but too many to send:
    EXPECT_THROW(sc::load_command(file, 1, 0), Error);
    EXPECT_THROW(sc::load_command(file, 200, 16), Error);  // no block 16
    EXPECT_THROW(sc::load_block_count(10, 0), Error);
    EXPECT_THROW(sc::load_block_count(10, 248), Error);
}

TEST(InstallScript, InstallsLoadsPutsTheKeyAndPersonalizes) {
    const auto script = script_file("transit-install.json");
    ScriptRun run(script, {{"isdAid", "A000000151000000"}, {"initialBalance", "1000"}});
    EXPECT_EQ(apdu_hex(run.next()), "00A4040008A00000015100000000");
    const Action& channel = run.feed_response(1, from_hex("9000"));
    EXPECT_EQ(std::get<sc::OpenSecureChannel>(channel.what).keyset, "sp-transit-scp");
    // INSTALL [for load] (GPCS 2.2.1 §11.5.2.3.1): load file AID, SD AID, the hash, no load
    // parameters, no token.
    const Action& ifl = run.feed_channel_result(2, true);
    EXPECT_TRUE(std::get<SendApdu>(ifl.what).secure);
    EXPECT_EQ(apdu_hex(ifl), std::string("80E6020033") + "06A00000055910" + "08A000000151000000" +
                                 "20" + kHash + "0000" + "00");
    // LOAD: 16 blocks of the 3000-byte file, each answered 9000.
    std::uint64_t seq = 3;
    for (std::size_t b = 0; b < 16; ++b) {
        const Action& a = run.feed_response(seq, from_hex(b == 0 ? "009000" : "9000"));
        const auto& block = std::get<SendLoadBlock>(a.what);
        EXPECT_EQ(a.seq, ++seq);
        EXPECT_EQ(a.step_id, "load");
        EXPECT_EQ(block.load_file, "transit-purse");
        EXPECT_EQ(block.block, b);
        EXPECT_EQ(block.blocks, 16u);
        EXPECT_EQ(block.block_size, 200u);
        EXPECT_TRUE(block.secure);
    }
    EXPECT_EQ(run.steps_executed(), 6u) << "the load step counts once";
    // INSTALL [for install and make selectable] (§11.5.2.3.2).
    const Action& ifi = run.feed_response(seq, from_hex("009000"));
    EXPECT_EQ(apdu_hex(ifi), std::string("80E60C001F") + "06A00000055910" + "07A0000005591010" +
                                 "09A0000005591010FFFF" + "0100" + "02C900" + "00" + "00");
    // PUT KEY of the credit key as the new key set 70, key identifier 01.
    const Action& put = run.feed_response(++seq, from_hex("009000"));
    const auto& p = std::get<PutKey>(put.what);
    EXPECT_EQ(p.keys, std::vector<std::string>{"sp-transit-credit-mac"});
    EXPECT_EQ(p.key_version, 0x70);
    EXPECT_EQ(p.replace_version, 0x00);
    EXPECT_EQ(p.key_id, 0x01);
    // INSTALL [for personalization] (§11.5.2.3.4), then STORE DATA DGI 0101 (§11.11): P1 88 =
    // last block, DGI format, no encryption.
    const Action& perso = run.feed_put_key_result(++seq, true);
    EXPECT_EQ(apdu_hex(perso), "80E620000F000009A0000005591010FFFF00000000");
    const Action& store = run.feed_response(++seq, from_hex("9000"));
    EXPECT_EQ(apdu_hex(store),
              "80E28800070101"
              "04000003E8");
    const Action& done = run.feed_response(++seq, from_hex("9000"));
    EXPECT_EQ(std::get<Done>(done.what).outcome, "success");
    EXPECT_EQ(done.seq, 24u);
}

/// Runs the install script to its LOAD block @p block (0-based); returns the run.
ScriptRun run_to_block(const std::shared_ptr<const sc::Script>& script, std::size_t block) {
    ScriptRun run(script, {{"isdAid", "A000000151000000"}, {"initialBalance", "1000"}});
    run.feed_response(1, from_hex("9000"));
    run.feed_channel_result(2, true);
    run.feed_response(3, from_hex("009000"));
    for (std::size_t b = 0; b < block; ++b) run.feed_response(4 + b, from_hex("9000"));
    return run;
}

TEST(InstallScript, ABlockNotAnswered9000EndsTheLoadWithOnFail) {
    const auto script = script_file("transit-install.json");
    ScriptRun run = run_to_block(script, 3);
    EXPECT_EQ(std::get<SendLoadBlock>(run.next().what).block, 3u);
    const Action& a = run.feed_response(run.next().seq, from_hex("6A80"));
    EXPECT_EQ(std::get<Done>(a.what).outcome, "load-refused");
    // INSTALL [for load] refused: the same ending as any expect.
    ScriptRun refused(script, {{"isdAid", "A000000151000000"}, {"initialBalance", "1"}});
    refused.feed_response(1, from_hex("9000"));
    refused.feed_channel_result(2, true);
    EXPECT_EQ(std::get<Done>(refused.feed_response(3, from_hex("6985")).what).outcome,
              "install-for-load-refused");
}

TEST(InstallScript, APutKeyNotVerifiedEndsWithOnFail) {
    const auto script = script_file("transit-install.json");
    ScriptRun run = run_to_block(script, 16);
    ASSERT_TRUE(std::holds_alternative<SendApdu>(run.next().what));
    const Action& put = run.feed_response(run.next().seq, from_hex("9000"));
    ASSERT_TRUE(std::holds_alternative<PutKey>(put.what));
    EXPECT_THROW(run.feed_response(put.seq, from_hex("9000")), Error) << "not a card response";
    const Action& a = run.feed_put_key_result(put.seq, false);
    EXPECT_EQ(std::get<Done>(a.what).outcome, "put-key-refused");
}

TEST(InstallScript, ARunSavedMidLoadResumesAtItsBlockAndRetriesChangeNothing) {
    const auto script = script_file("transit-install.json");
    ScriptRun run = run_to_block(script, 5);
    const Action before = run.next();
    // The wallet retries its answer to block 4: the same current action, nothing sent again.
    EXPECT_EQ(run.feed_response(before.seq - 1, from_hex("9000")).seq, before.seq);
    EXPECT_THROW(run.feed_response(before.seq - 1, from_hex("6A80")), Error);
    ScriptRun restored = ScriptRun::restore(script, run.serialize());
    EXPECT_EQ(restored.next().seq, before.seq);
    EXPECT_EQ(std::get<SendLoadBlock>(restored.next().what).block, 5u);
    EXPECT_EQ(restored.serialize(), run.serialize());
    // The same document under another load file (a new hash or size) is another revision.
    const auto other = std::make_shared<const sc::Script>(sc::load_script_json(
        read_text("KMS_SCRIPT_TEST_DIR", "transit-install.json"), catalogue(2999)));
    EXPECT_NE(other->fingerprint, script->fingerprint);
    EXPECT_EQ(error_of([&] { ScriptRun::restore(other, run.serialize()); }).first,
              ErrorCode::Integrity);
}

TEST(InstallScript, AStateSavedInFormat1StillRestores) {
    // A top-up saved at READ BALANCE, rewritten as format 1 wrote it: no LOAD block after SW1
    // SW2 and three last answers instead of four.
    const auto script = top_up_script();
    ScriptRun run(script, top_up_inputs(FakePurse()));
    run.feed_response(1, from_hex("9000"));
    run.feed_channel_result(2, true);
    const Bytes v2 = run.serialize();
    ASSERT_EQ(v2[3], 2);
    // magic, format, name, version, fingerprint, seq, step, steps executed, outcome (empty),
    // has response, response data (empty), SW.
    const std::size_t block_at = 4 + (4 + script->name.size()) + 4 + 8 + 8 + 4 + 4 + 4 + 1 + 4 + 4;
    ASSERT_EQ(to_hex(ByteView(v2).subspan(block_at - 4, 8)), "0000900000000000");
    Bytes v1(v2.begin(), v2.begin() + static_cast<std::ptrdiff_t>(block_at));
    v1[3] = 1;
    v1.insert(v1.end(), v2.begin() + static_cast<std::ptrdiff_t>(block_at + 4), v2.end() - 12);
    const ScriptRun restored = ScriptRun::restore(script, v1);
    EXPECT_EQ(restored.next().seq, run.next().seq);
    EXPECT_EQ(restored.serialize(), v2);
    v1[3] = 3;
    EXPECT_EQ(error_of([&] { ScriptRun::restore(script, v1); }).first, ErrorCode::Integrity);
}

TEST(DeleteScript, DeletesTheInstanceThenThePackage) {
    const auto script = script_file("transit-delete.json");
    ScriptRun run(script, {{"isdAid", "A000000151000000"}});
    run.feed_response(1, from_hex("9000"));
    // DELETE (GPCS 2.2.1 §11.2): tag 4F and the AID; 6A88 (not found) is fine: already gone.
    const Action& instance = run.feed_channel_result(2, true);
    EXPECT_EQ(apdu_hex(instance), "80E400000B4F09A0000005591010FFFF00");
    const Action& package = run.feed_response(3, from_hex("6A88"));
    EXPECT_EQ(apdu_hex(package), "80E40000084F06A0000005591000");
    EXPECT_EQ(std::get<Done>(run.feed_response(4, from_hex("009000")).what).outcome, "success");
    ScriptRun refused(script, {{"isdAid", "A000000151000000"}});
    refused.feed_response(1, from_hex("9000"));
    refused.feed_channel_result(2, true);
    EXPECT_EQ(std::get<Done>(refused.feed_response(3, from_hex("6985")).what).outcome,
              "delete-instance-refused");
}

TEST(InstallScript, TheExampleInTheDocsIsTheTestedScript) {
    const std::string md = read_text("KMS_DOCS_DIR", "service-scripts.md");
    const std::string marker =
        "<!-- example: tests/unit/script/transit-install.json -->\n```json\n";
    const auto start = md.find(marker);
    ASSERT_NE(start, std::string::npos);
    const auto body = start + marker.size();
    const auto end = md.find("```\n", body);
    ASSERT_NE(end, std::string::npos);
    EXPECT_EQ(md.substr(body, end - body),
              read_text("KMS_SCRIPT_TEST_DIR", "transit-install.json"));
}

TEST(InstallScript, TheDemoCopiesAreTheTestedScripts) {
    for (const char* name : {"transit-top-up.json", "transit-install.json", "transit-delete.json"})
        EXPECT_EQ(read_text("KMS_DEMO_SCRIPT_DIR", name), read_text("KMS_SCRIPT_TEST_DIR", name))
            << name;
}

/// A document with the purse's load file and @p steps.
std::string doc(const std::string& steps, const std::string& load_file = R"("transit-purse")") {
    return R"({"name": "t", "version": 1, "loadFile": )" + load_file +
           R"(, "inputs": [{"name": "blob", "type": "hex"}], "steps": [)" + steps + "]}";
}
const std::string kChannel =
    R"({"id": "ch", "kind": "secure-channel", "protocol": "SCP02", "keyset": "k", "onFail": "no"},)";
const std::string kEnd = R"({"id": "done", "kind": "end", "outcome": "success"})";

TEST(InstallScriptLoad, NewKindsAreValidatedNamingTheStepAndField) {
    auto has = [](const std::string& message, const std::string& part) {
        EXPECT_NE(message.find(part), std::string::npos) << message;
    };
    const std::string load = R"({"id": "l", "kind": "load", "secure": true, "onFail": "f"},)";
    EXPECT_NO_THROW(sc::load_script_json(doc(kChannel + load + kEnd), catalogue()));
    has(load_error(doc(kChannel + load + kEnd, R"("other")")),
        "loadFile: 'other' is not in the catalogue");
    has(load_error(doc(kChannel + load + kEnd), {}), "loadFile: 'transit-purse' is not in");
    has(load_error(R"({"name": "t", "steps": [)" + kChannel + load + kEnd + "]}"),
        "step 'l': a load step needs the document's \"loadFile\"");
    has(load_error(R"({"name": "t", "steps": [{"id": "a", "kind": "apdu", "header": "80E40000",
        "data": "4F ${#loadFile.aid} ${loadFile.aid}"},)" +
                   kEnd + "]}"),
        "step 'a': data: 'loadFile.aid' needs the document's \"loadFile\"");
    has(load_error(doc(load + kEnd)), "step 'l': is secure but may run before a secure-channel");
    has(load_error(doc(kChannel + R"({"id": "l", "kind": "load", "blockSize": 248,
        "onFail": "f"},)" +
                       kEnd)),
        "step 'l': 'blockSize' must be 0..247");
    has(load_error(doc(kChannel + R"({"id": "l", "kind": "load", "blockSize": 0,
        "onFail": "f"},)" +
                       kEnd)),
        "step 'l': blockSize: 1..247");
    has(load_error(
            doc(kChannel + R"({"id": "l", "kind": "load", "onFail": "f", "le": 1},)" + kEnd)),
        "step 'l': unknown field 'le'");
    has(load_error(doc(kChannel + R"({"id": "l", "kind": "load"},)" + kEnd)),
        "step 'l': 'onFail' is required");
    has(load_error(doc(kChannel + load + kEnd), catalogue(60000)),
        "step 'l': blockSize: load file 'transit-purse' needs 301 blocks of 200 bytes");

    const std::string put = R"({"id": "p", "kind": "put-key", "keys": ["k1"], "keyVersion": "70",
        "onFail": "f"},)";
    EXPECT_NO_THROW(sc::load_script_json(doc(kChannel + put + kEnd), catalogue()));
    has(load_error(doc(put + kEnd)), "step 'p': PUT KEY may run before a secure-channel");
    has(load_error(doc(kChannel + R"({"id": "p", "kind": "put-key", "keys": [],
        "keyVersion": "70", "onFail": "f"},)" +
                       kEnd)),
        "step 'p': keys: 1 to 3 key references");
    has(load_error(doc(kChannel + R"({"id": "p", "kind": "put-key", "keys": ["a","b","c","d"],
        "keyVersion": "70", "onFail": "f"},)" +
                       kEnd)),
        "step 'p': 'keys' has more than 3 items");
    has(load_error(doc(kChannel + R"({"id": "p", "kind": "put-key", "keys": ["a"],
        "keyVersion": "80", "onFail": "f"},)" +
                       kEnd)),
        "step 'p': 'keyVersion' must be one hex byte, 01..7F");
    has(load_error(doc(kChannel + R"({"id": "p", "kind": "put-key", "keys": ["a"],
        "onFail": "f"},)" +
                       kEnd)),
        "step 'p': 'keyVersion' is required");
    has(load_error(doc(kChannel + R"({"id": "p", "kind": "put-key", "keys": ["a"],
        "keyVersion": "70", "keyId": "00", "onFail": "f"},)" +
                       kEnd)),
        "step 'p': 'keyId' must be one hex byte, 01..7F");
    has(load_error(doc(kChannel + R"({"id": "p", "kind": "put-key", "keys": [""],
        "keyVersion": "70", "onFail": "f"},)" +
                       kEnd)),
        "step 'p': keys: a key reference is");
    // The constants are not variables a step may set.
    has(load_error(doc(R"({"id": "a", "kind": "apdu", "header": "80CA0000"},
        {"id": "c", "kind": "capture", "onFail": "f",
         "fields": [{"name": "loadFile.aid", "type": "hex", "length": 1}]},)" +
                       kEnd)),
        "step 'c': bad variable name 'loadFile.aid'");
    has(load_error(doc(R"({"id": "a", "kind": "apdu", "header": "80CA0000",
        "data": "${loadFile.nothing}"},)" +
                       kEnd)),
        "unknown variable 'loadFile.nothing'");
}

TEST(InstallScriptLoad, LengthBytesAndTheirLimit) {
    const auto script = std::make_shared<const sc::Script>(sc::load_script_json(
        doc(R"({"id": "a", "kind": "apdu", "header": "80 E2 ${#blob} 00", "data": "${#blob} ${blob}"},)" +
            kEnd),
        catalogue()));
    ScriptRun run(script, {{"blob", "0102"}});
    EXPECT_EQ(apdu_hex(run.next()), "80E2020003020102");
    ScriptRun too_long(script, {{"blob", std::string(512, 'A')}});
    EXPECT_EQ(std::get<Done>(too_long.next().what).outcome, "command-too-long");
}

}  // namespace
}  // namespace kms::test
