// The SP TSM's OperationDriver on the transit purse install (tests/unit/script/
// transit-install.json) against a fake KMS port and the real catalogue of the sample load file
// (tests/tsm/data/transit-purse.bin): LOAD blocks built from the catalogue's bytes and wrapped,
// PUT KEY built by the KMS under the mapped key id and sent as it is, the card's answer
// unwrapped and verified by the KMS, and each PUT KEY failure ending with the step's onFail and
// closing the session.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "fake_kms.hpp"
#include "load_file.hpp"
#include "operation_driver.hpp"
#include "script_json.hpp"

namespace kms::tsm::sp {
namespace {

using script::ScriptRun;

std::string read_file(const char* env, const std::string& name) {
    const char* dir = std::getenv(env);
    if (dir == nullptr) throw std::runtime_error(std::string(env) + " is not set");
    std::ifstream in(std::string(dir) + "/" + name, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

const char* const kPurseSha256 = "E697098A7219CC7C2F719CCC8CFB01AB3E534B4D901D8CB055A94196A98F7328";

/// The demo catalogue: the sample purse load file with its agreed AIDs.
std::string catalogue_json(const std::string& sha256 = kPurseSha256) {
    return R"({"transit-purse": {"loadFileAid": "A00000055910", "file": ")" +
           std::string(std::getenv("KMS_TSM_DATA_DIR")) + R"(/transit-purse.bin", "sha256": ")" +
           sha256 + R"(", "modules": ["A0000005591010"], "instanceAid": "A0000005591010FFFF",
           "version": "1.0", "privileges": "00", "installParameters": "C900"}})";
}

class InstallDriver : public ::testing::Test {
  protected:
    FakeKms kms;
    Catalogue catalogue = Catalogue::from_json(catalogue_json());
    std::map<std::string, std::string> keys{{"sp-transit-credit-mac", "id-credit"}};
    std::map<std::string, KeySet> keysets{
        {"sp-transit-scp",
         KeySet{"id-enc", "id-mac", "id-dek", 0x55, 0x20, std::nullopt, "", "", std::nullopt}}};
    std::vector<std::string> warnings;
    OperationDriver driver{kms, keys, keysets,
                           [this](const std::string& m) { warnings.push_back(m); }, &catalogue};
    std::shared_ptr<const script::Script> script =
        std::make_shared<const script::Script>(script::load_script_json(
            read_file("KMS_SCRIPT_TEST_DIR", "transit-install.json"), catalogue.resolver()));
    OperationRecord r;
    std::unique_ptr<ScriptRun> run;

    void begin(OperationDriver& d) {
        run = std::make_unique<ScriptRun>(
            script, std::map<std::string, std::string, std::less<>>{{"isdAid", "A000000151000000"},
                                                                    {"initialBalance", "1000"}});
        r = OperationRecord();
        r.seq = 1;
        d.drive(r, *run);
        r.state = run->serialize();
    }
    std::string answer(const std::string& hex, OperationDriver* d = nullptr) {
        EXPECT_EQ(judge(r, ResponseRequest{r.seq, from_hex(hex)}), Verdict::Advance);
        (d ? *d : driver).advance(r, *run, ResponseRequest{r.seq, from_hex(hex)});
        return r.action;
    }
    static std::string apdu(const Bytes& b) { return wallet_apdu_json(b); }
    /// What the fake KMS makes of a secure command.
    static Bytes wrapped(Bytes b) {
        b[0] |= 0x04;
        b.insert(b.end(), 8, 0xCC);
        return b;
    }
    /// Up to the PUT KEY: SELECT, the channel, INSTALL [for load], 16 LOAD blocks, INSTALL.
    void run_to_put_key(OperationDriver& d) {
        begin(d);
        answer("9000", &d);                                      // SELECT ISD
        answer("00112233445566778899AABBCCDDEEFF00119000", &d);  // INITIALIZE UPDATE
        answer("9000", &d);                                      // EXTERNAL AUTHENTICATE
        answer("009000", &d);                                    // INSTALL [for load]
        for (int b = 0; b < 16; ++b) answer(b == 15 ? "009000" : "9000", &d);  // LOAD
        answer("009000", &d);  // INSTALL [for install and make selectable]
    }
};

TEST_F(InstallDriver, LoadBlocksComeFromTheCatalogueAndPutKeyFromTheKms) {
    begin(driver);
    EXPECT_EQ(r.action, apdu(from_hex("00A4040008A00000015100000000")));
    answer("9000");
    answer("00112233445566778899AABBCCDDEEFF00119000");
    const std::string ifl = answer("9000");
    EXPECT_EQ(ifl.substr(0, 30), R"({"kind":"apdu","apdu":"84E6020)") << ifl;
    // LOAD: each block is load_command() over the catalogue's bytes, wrapped; one wallet seq
    // per block.
    const std::string file = read_file("KMS_TSM_DATA_DIR", "transit-purse.bin");
    const Bytes content(file.begin(), file.end());
    ASSERT_EQ(content.size(), 3000u);
    std::string next = answer("009000");
    for (std::size_t b = 0; b < 16; ++b) {
        EXPECT_EQ(next,
                  apdu(wrapped(core::encode_command_apdu(script::load_command(content, 200, b)))))
            << "block " << b;
        EXPECT_TRUE(r.secure);
        next = answer(b == 15 ? "009000" : "9000");
    }
    EXPECT_EQ(r.seq, 21u);
    // INSTALL [for install]; then PUT KEY, built by the KMS under the mapped id and sent as
    // the KMS made it (already wrapped in the session: no second wrap).
    const std::size_t wraps_before =
        std::count(kms.calls.begin(), kms.calls.end(), std::string("wrap s1"));
    EXPECT_EQ(answer("009000"), apdu(from_hex("84D8000103DDDDDD00")));
    EXPECT_EQ(kms.calls.back(), "put-key s1 id-credit 112 0 1");
    EXPECT_EQ(std::count(kms.calls.begin(), kms.calls.end(), std::string("wrap s1")),
              static_cast<std::ptrdiff_t>(wraps_before));
    EXPECT_EQ(r.waiting, Waiting::PutKeyResponse);
    // The record while waiting for the card's PUT KEY answer survives the store.
    const OperationRecord stored = OperationRecord::from_json(r.to_json());
    EXPECT_EQ(stored.waiting, Waiting::PutKeyResponse);
    EXPECT_EQ(stored.engine_seq, r.engine_seq);
    // The card's answer: unwrapped, then verified by the KMS; the run goes on.
    const std::string perso = answer("70A1B2C39000");
    EXPECT_EQ(kms.calls[kms.calls.size() - 3], "unwrap s1");
    EXPECT_EQ(kms.calls[kms.calls.size() - 2], "verify s1 70A1B2C39000");
    EXPECT_EQ(perso, apdu(wrapped(from_hex("80E620000F000009A0000005591010FFFF00000000"))));
    EXPECT_EQ(answer("9000"), apdu(wrapped(from_hex("80E28800070101"
                                                    "04000003E8"))));
    answer("9000");
    EXPECT_EQ(r.outcome, "success");
    EXPECT_EQ(r.seq, 25u);
    EXPECT_EQ(kms.closed, std::vector<std::string>{"s1"});
    EXPECT_TRUE(warnings.empty());
}

TEST_F(InstallDriver, EachPutKeyFailureEndsWithOnFailAndClosesTheSession) {
    // kmsd refuses to build it (a key not exportable, outside the policy, ...).
    kms.refuse_put_key = true;
    run_to_put_key(driver);
    EXPECT_EQ(r.outcome, "put-key-refused");
    EXPECT_EQ(kms.closed, std::vector<std::string>{"s1"});
    EXPECT_FALSE(warnings.empty());

    // The card refuses the command: kmsd is not asked to verify.
    kms = FakeKms();
    run_to_put_key(driver);
    answer("6A80");
    EXPECT_EQ(r.outcome, "put-key-refused");
    EXPECT_EQ(kms.calls.back(), "unwrap s1");
    EXPECT_EQ(kms.closed, std::vector<std::string>{"s1"});

    // The card reports another KCV: kmsd's verification fails.
    kms = FakeKms();
    run_to_put_key(driver);
    answer("700000009000");
    EXPECT_EQ(r.outcome, "put-key-refused");
    EXPECT_EQ(kms.calls.back(), "verify s1 700000009000");
    EXPECT_EQ(kms.closed, std::vector<std::string>{"s1"});

    // The answer does not unwrap (a bad R-MAC).
    kms = FakeKms();
    run_to_put_key(driver);
    kms.refuse_unwrap = true;
    answer("70A1B2C39000");
    EXPECT_EQ(r.outcome, "put-key-refused");
    EXPECT_EQ(kms.closed, std::vector<std::string>{"s1"});
    // Ended: a later answer is 409.
    EXPECT_EQ(judge(r, ResponseRequest{r.seq, from_hex("9000")}), Verdict::Ended);
}

TEST_F(InstallDriver, AnUnmappedKeyEndsWithOnFailWithoutAskingTheKms) {
    keys.clear();  // the plugin refuses such a configuration at create(); the driver copes
    run_to_put_key(driver);
    EXPECT_EQ(r.outcome, "put-key-refused");
    EXPECT_EQ(std::count_if(kms.calls.begin(), kms.calls.end(),
                            [](const std::string& c) { return c.rfind("put-key", 0) == 0; }),
              0);
    EXPECT_EQ(kms.closed, std::vector<std::string>{"s1"});
}

TEST_F(InstallDriver, ALoadBlockRefusedByTheCardEndsWithOnFail) {
    begin(driver);
    answer("9000");
    answer("00112233445566778899AABBCCDDEEFF00119000");
    answer("9000");
    answer("009000");
    answer("9000");  // block 0
    answer("6A84");  // block 1: not enough memory
    EXPECT_EQ(r.outcome, "load-refused");
    EXPECT_EQ(kms.closed, std::vector<std::string>{"s1"});
}

TEST_F(InstallDriver, WithoutTheCatalogueALoadEndsLoadFileUnavailable) {
    OperationDriver bare{kms, keys, keysets,
                         [this](const std::string& m) { warnings.push_back(m); }};
    begin(bare);
    answer("9000", &bare);
    answer("00112233445566778899AABBCCDDEEFF00119000", &bare);
    answer("9000", &bare);
    answer("009000", &bare);
    EXPECT_EQ(r.outcome, "load-file-unavailable");
    EXPECT_EQ(kms.closed, std::vector<std::string>{"s1"});
}

TEST_F(InstallDriver, AMasterKeySetTheProtocolAndPerOperationPutKeyKeysReachKmsd) {
    // se-tsm's use of the driver: the key set is a master key with its diversification and
    // decides the protocol; a resolver gives the put-key's keys for this run only.
    KeySet master;
    master.kmc = "k-kmc";
    master.diversification = "VISA2";
    master.i = 0x15;
    master.key_version = 0x20;
    master.protocol = "SCP03";
    const std::map<std::string, KeySet> sets{{"sp-transit-scp", master}};
    OperationDriver d{kms, keys, sets, [this](const std::string& m) { warnings.push_back(m); },
                      &catalogue};
    std::vector<std::string> asked;
    d.set_put_key_resolver([&](const script::PutKey& p, const ScriptRun& run) {
        asked = p.keys;
        EXPECT_EQ(run.variable("isdAid")->text(), "A000000151000000");
        return std::vector<std::string>{"k-made-for-this-run"};
    });
    run_to_put_key(d);
    EXPECT_EQ(kms.opened.kmc, "k-kmc");
    EXPECT_EQ(kms.opened.diversification, "VISA2");
    EXPECT_EQ(kms.opened.protocol, "SCP03");
    EXPECT_EQ(kms.opened.i, 0x15);
    EXPECT_TRUE(kms.opened.enc.empty() && kms.opened.mac.empty() && kms.opened.dek.empty());
    EXPECT_EQ(asked, std::vector<std::string>{"sp-transit-credit-mac"});
    EXPECT_EQ(kms.calls.back(), "put-key s1 k-made-for-this-run 112 0 1");
    EXPECT_EQ(r.waiting, Waiting::PutKeyResponse);

    // A resolver that cannot make the keys ends the step's onFail, like a kmsd refusal.
    OperationDriver failing{kms, keys, sets,
                            [this](const std::string& m) { warnings.push_back(m); }, &catalogue};
    failing.set_put_key_resolver(
        [](const script::PutKey&, const ScriptRun&) -> std::vector<std::string> {
            throw KmsError(409, "conflict", "name taken");
        });
    run_to_put_key(failing);
    EXPECT_EQ(r.waiting, Waiting::Nothing);
    EXPECT_EQ(r.outcome, "put-key-refused");
    EXPECT_EQ(kms.closed.back(), "s1");
}

}  // namespace
}  // namespace kms::tsm::sp
