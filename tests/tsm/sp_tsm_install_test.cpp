// The SP TSM plugin (libsp_tsm) in tsmd, with a real kmsd, running the transit purse's install
// and delete scripts (tests/unit/script/transit-install.json, transit-delete.json) with the
// catalogue's sample load file (tests/tsm/data/transit-purse.bin), the test playing the wallet.
//
// The test card: the virtual SE (SCP02 i=55, fresh random TDEA keys loaded into kmsd by
// ceremony), which verifies the C-MAC of every command of the session and really installs: it
// keeps the load file (checking the hash of INSTALL [for load]), instantiates the purse, stores
// the credit key PUT KEY brings (decrypted under the session DEK, its KCV checked) and hands the
// STORE DATA of INSTALL [for personalization] to the purse. The test also records each
// card-management command without its C-MAC, to check the bytes the scripts send.
#include <gtest/gtest.h>
#include <openssl/rand.h>

#include <fstream>
#include <functional>

#include "../rest/ceremony_fixture.hpp"
#include "../rest/plugin_support.hpp"
#include "crypto/host_crypto.hpp"
#include "domain/apdu.hpp"
#include "tsmd_process.hpp"
#include "virtual_se.hpp"

namespace kms::test {
namespace {

using tsm::vse::VirtualSe;
using tsm::vse::VirtualSeConfig;

const char* const kPurseSha256 = "E697098A7219CC7C2F719CCC8CFB01AB3E534B4D901D8CB055A94196A98F7328";

Bytes random_bytes(std::size_t n) {
    Bytes b(n);
    if (RAND_bytes(b.data(), static_cast<int>(n)) != 1) throw std::runtime_error("RAND_bytes");
    return b;
}

Bytes file_bytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

/// The virtual SE plus a recorder of the card-management commands it receives.
struct TestCard {
    Bytes enc = random_bytes(16), mac = random_bytes(16), dek = random_bytes(16);
    std::unique_ptr<VirtualSe> isd;
    std::vector<Bytes> installs, deletes;  ///< INSTALL and DELETE commands without their C-MAC
    Bytes loaded;                          ///< the LOAD blocks' data, in order
    int load_commands = 0;
    bool load_flags_ok = true;  ///< P2 counted from 00, P1 80 only on the last block
    bool last_block_seen = false;

    TestCard() {
        VirtualSeConfig cfg;
        cfg.scp = tsm::vse::Scp::Scp02;
        cfg.i = 0x55;
        cfg.key_version = 0x20;
        cfg.enc = SecureBytes(enc);
        cfg.mac = SecureBytes(mac);
        cfg.dek = SecureBytes(dek);
        cfg.kdd = random_bytes(10);
        isd = std::make_unique<VirtualSe>(std::move(cfg));
    }

    Bytes process(const Bytes& raw) {
        const core::CommandApdu c = core::parse_command_apdu(raw);
        if ((c.ins == 0xE6 || c.ins == 0xE8 || c.ins == 0xE4) && c.cla == 0x84 &&
            c.data.size() >= 8) {
            core::CommandApdu plain = c;
            plain.cla = 0x80;
            plain.data.resize(c.data.size() - 8);
            if (c.ins == 0xE6) installs.push_back(core::encode_command_apdu(plain));
            if (c.ins == 0xE4) deletes.push_back(core::encode_command_apdu(plain));
            if (c.ins == 0xE8) {
                load_flags_ok = load_flags_ok && !last_block_seen && c.p2 == load_commands &&
                                (c.p1 == 0x00 || c.p1 == 0x80);
                last_block_seen = c.p1 == 0x80;
                ++load_commands;
                loaded.insert(loaded.end(), plain.data.begin(), plain.data.end());
            }
        }
        return isd->process(raw);
    }
    const tsm::vse::Application* purse() const {
        for (const auto& a : isd->content().applications())
            if (a.aid == tsm::vse::kPurseInstanceAid) return &a;
        return nullptr;
    }
    const tsm::vse::LoadFile* package() const {
        for (const auto& f : isd->content().load_files())
            if (f.aid == tsm::vse::kPursePackageAid) return &f;
        return nullptr;
    }
};

/// The wallet's connection to tsmd (HttpsClient is neither copied nor moved).
struct Wallet {
    HttpsClient https;
    explicit Wallet(const TsmdProcess& t) : https(t.client()) {}
};

class SpTsmInstall : public CeremonyRest {
  public:
    static void SetUpTestSuite() {
        CeremonyRest::SetUpTestSuite();
        s_sp = create_plugin("sp-install", R"({"keys":["sp/*"],"operations":["gp","mac"]})");
    }

  protected:
    /// The instance's configuration: @p card's ISD keys and a credit key in kmsd, the two
    /// scripts, the catalogue with @p sha256 for the sample load file.
    std::string config(TestCard& card, const std::string& sha256 = kPurseSha256) {
        static int n = 0;
        const std::string p = "sp/install-" + std::to_string(++n);
        const std::string enc = ceremony_key(p + "/enc", "DES3-2K", R"(["derive"])", card.enc);
        const std::string mac = ceremony_key(p + "/mac", "DES3-2K", R"(["derive"])", card.mac);
        const std::string dek = ceremony_key(p + "/dek", "DES3-2K", R"(["derive","wrap"])",
                                             card.dek, R"(,"trusted":true)");
        m_credit = ceremony_key(p + "/credit", "DES3-2K", R"(["mac"])", m_credit_value,
                                R"(,"exportable":true)");
        return "{\"kms\":{\"url\":\"" + s_kmsd->url() + "\",\"ca\":\"" + s_kmsd->ca_file() +
               "\",\"token\":\"" + s_sp + "\"},\"scripts\":{\"install\":\"" +
               env("SP_TSM_SCRIPT_DIR") + "/transit-install.json\",\"delete\":\"" +
               env("SP_TSM_SCRIPT_DIR") + "/transit-delete.json\",\"lock\":\"" +
               env("SP_TSM_DEMO_SCRIPTS") + "/transit-lock.json\",\"unlock\":\"" +
               env("SP_TSM_DEMO_SCRIPTS") +
               "/transit-unlock.json\"},\"instanceEffects\":{\"install\":\"PERSONALIZED\","
               "\"lock\":\"LOCKED\",\"unlock\":\"PERSONALIZED\",\"delete\":\"DELETED\"},"
               "\"catalogue\":{"
               "\"transit-purse\":{\"loadFileAid\":\"A00000055910\",\"file\":\"" +
               env("SP_TSM_DATA_DIR") + "/transit-purse.bin\",\"sha256\":\"" + sha256 +
               "\",\"modules\":[\"A0000005591010\"],\"instanceAid\":\"A0000005591010FFFF\","
               "\"version\":\"1.0\",\"privileges\":\"00\",\"installParameters\":\"C900\"}},"
               "\"kmsKeys\":{\"sp-transit-credit-mac\":\"" +
               m_credit + "\",\"sp-transit-scp\":{\"enc\":\"" + enc + "\",\"mac\":\"" + mac +
               "\",\"dek\":\"" + dek + "\",\"i\":85,\"keyVersion\":32}}}";
    }
    void start(TestCard& card) {
        m_tsmd = std::make_unique<TsmdProcess>("[{\"instance\":\"sp\",\"library\":\"" +
                                               env("SP_TSM_PLUGIN") +
                                               "\",\"config\":" + config(card) + "}]");
        ASSERT_TRUE(m_tsmd->start()) << m_tsmd->log();
        m_wallet = std::make_unique<Wallet>(*m_tsmd);
    }
    static Poco::JSON::Object::Ptr action(const HttpResponse& r) {
        return r.json()->getObject("action");
    }
    /// Starts @p script with @p variables and plays the wallet to the end with @p card.
    /// Returns the last answer (the first that is not 2xx, if any).
    HttpResponse run(const std::string& script, const std::string& variables, TestCard& card,
                     const std::string& seid = "") {
        HttpResponse r = m_wallet->https.post(
            "/sp/operations", "{\"script\":\"" + script + "\",\"variables\":" + variables +
                                  (seid.empty() ? "" : ",\"seid\":\"" + seid + "\"") + "}");
        if (r.status != 201) return r;
        const std::string op = str(r.json(), "operation");
        for (std::uint64_t seq = 1; str(action(r), "kind") == "apdu"; ++seq) {
            const Bytes response = card.process(from_hex(str(action(r), "apdu")));
            r = m_wallet->https.post(
                "/sp/operations/" + op + "/responses",
                "{\"seq\":" + std::to_string(seq) + ",\"response\":\"" + to_hex(response) + "\"}");
            if (r.status != 200) break;
        }
        return r;
    }

    Bytes m_credit_value = random_bytes(16);
    std::string m_credit;
    std::unique_ptr<TsmdProcess> m_tsmd;
    std::unique_ptr<Wallet> m_wallet;
    static std::string s_sp;
};

std::string SpTsmInstall::s_sp;

const char* const kInstallVariables = R"({"isdAid":"A000000151000000","initialBalance":1000})";

TEST_F(SpTsmInstall, InstallsThePurseAndItsCreditKeyThroughKmsd) {
    TestCard card;
    start(card);
    const HttpResponse r = run("install", kInstallVariables, card);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(str(action(r), "kind"), "done");
    EXPECT_EQ(str(action(r), "outcome"), "success") << r.body;
    // INSTALL [for load] with the catalogue's hash, [for install and make selectable],
    // [for personalization], each C-MAC verified by the ISD.
    ASSERT_EQ(card.installs.size(), 3u);
    EXPECT_EQ(
        to_hex(card.installs[0]),
        std::string("80E602003306A0000005591008A00000015100000020") + kPurseSha256 + "000000");
    EXPECT_EQ(to_hex(card.installs[1]),
              "80E60C001F06A0000005591007A000000559101009A0000005591010FFFF010002C9000000");
    EXPECT_EQ(to_hex(card.installs[2]), "80E620000F000009A0000005591010FFFF00000000");
    // LOAD: the whole file framed with C4 82 0BB8, in 16 numbered blocks, the last flagged.
    const Bytes file = file_bytes(env("SP_TSM_DATA_DIR") + "/transit-purse.bin");
    Bytes framed = from_hex("C4820BB8");
    framed.insert(framed.end(), file.begin(), file.end());
    EXPECT_EQ(card.load_commands, 16);
    EXPECT_TRUE(card.load_flags_ok);
    EXPECT_TRUE(card.last_block_seen);
    EXPECT_EQ(card.loaded, framed);
    // PUT KEY: the card decrypted the credit key under the session DEK, checked its KCV and
    // holds it as key 01 of the new key set 70; kmsd verified the card's answer.
    const auto kcv = card.isd->key_check_value(0x70, 0x01);
    ASSERT_TRUE(kcv.has_value());
    EXPECT_EQ(to_hex(*kcv), to_hex(crypto::kcv_des3(m_credit_value)));
    // The card holds the package and a personalized purse: STORE DATA DGI 0101 (the initial
    // balance) reached the purse through INSTALL [for personalization].
    ASSERT_NE(card.package(), nullptr);
    EXPECT_EQ(card.package()->data, file);
    const auto* purse = card.purse();
    ASSERT_NE(purse, nullptr);
    EXPECT_EQ(purse->life_cycle, tsm::vse::kAppPersonalized);
    ASSERT_TRUE(purse->purse.has_value());
    EXPECT_TRUE(purse->purse->personalized);
    EXPECT_EQ(purse->purse->balance, 1000u);

    // The delete script: the instance, then the package.
    const HttpResponse d = run("delete", R"({"isdAid":"A000000151000000"})", card);
    ASSERT_EQ(d.status, 200) << d.body;
    EXPECT_EQ(str(action(d), "outcome"), "success") << d.body;
    ASSERT_EQ(card.deletes.size(), 2u);
    EXPECT_EQ(to_hex(card.deletes[0]), "80E400000B4F09A0000005591010FFFF00");
    EXPECT_EQ(to_hex(card.deletes[1]), "80E40000084F06A0000005591000");
    EXPECT_EQ(card.purse(), nullptr);
    EXPECT_EQ(card.package(), nullptr);
}

TEST_F(SpTsmInstall, ASecondInstallIsRefusedByTheCardAndChangesNothing) {
    TestCard card;
    start(card);
    ASSERT_EQ(str(action(run("install", kInstallVariables, card)), "outcome"), "success");
    // The package is on the card now: a second install is refused at INSTALL [for load] (the
    // card answers 6985 for a load file AID it has), before anything else is sent.
    const HttpResponse again = run("install", kInstallVariables, card);
    ASSERT_EQ(again.status, 200) << again.body;
    EXPECT_EQ(str(action(again), "outcome"), "install-for-load-refused") << again.body;
    EXPECT_EQ(card.load_commands, 16) << "no LOAD after the refusal";
    ASSERT_NE(card.purse(), nullptr);
    EXPECT_EQ(card.purse()->purse->balance, 1000u);
}

/// tsmd's exit code and log for an instance with @p config.
std::pair<int, std::string> refused(const std::string& config) {
    TsmdProcess t("[{\"instance\":\"sp\",\"library\":\"" + env("SP_TSM_PLUGIN") +
                  "\",\"config\":" + config + "}]");
    if (t.start()) return {0, t.log()};
    return {t.exit_code(), t.log()};
}

std::string replaced(std::string text, const std::string& from, const std::string& to) {
    const auto at = text.find(from);
    if (at == std::string::npos) throw std::runtime_error("not in the config: " + from);
    return text.replace(at, from.size(), to);
}

TEST_F(SpTsmInstall, AnInstanceWithAnUnknownLoadFileOrAnUnmappedPutKeyIsRefusedAtStart) {
    TestCard card;
    const std::string good = config(card);
    auto [code, log] = refused(
        replaced(good, "\"catalogue\":{\"transit-purse\"", "\"catalogue\":{\"other-purse\""));
    EXPECT_EQ(code, 78);
    EXPECT_NE(log.find("loadFile: 'transit-purse' is not in the catalogue"), std::string::npos)
        << log;
    std::tie(code, log) = refused(replaced(good, "\"sp-transit-credit-mac\":", "\"other-key\":"));
    EXPECT_EQ(code, 78);
    EXPECT_NE(log.find("scripts.install: key 'sp-transit-credit-mac' is not in kmsKeys"),
              std::string::npos)
        << log;
}

TEST_F(SpTsmInstall, AnInstanceWhoseLoadFileHashDiffersIsRefusedAtStart) {
    TestCard card;
    const std::string other(64, '0');
    TsmdProcess t("[{\"instance\":\"sp\",\"library\":\"" + env("SP_TSM_PLUGIN") +
                  "\",\"config\":" + config(card, other) + "}]");
    EXPECT_FALSE(t.start());
    EXPECT_EQ(t.exit_code(), 78);
    EXPECT_NE(t.log().find("catalogue.transit-purse.sha256: the file"), std::string::npos)
        << t.log();
}

TEST_F(SpTsmInstall, InstanceStatesFollowInstallLockUnlockDeletePerSe) {
    TestCard card;
    start(card);
    const std::string seid = "a1b2c3d4e5f60077";  // any case in; stored upper-case
    const std::string isd = R"({"isdAid":"A000000151000000"})";
    auto state = [&] {
        const auto r = m_wallet->https.get("/sp/ses/A1B2C3D4E5F60077/instances");
        EXPECT_EQ(r.status, 200) << r.body;
        const auto list = r.json()->getArray("instances");
        if (!list || list->size() != 1) return std::string("none");
        const auto rec = list->getObject(0);
        EXPECT_EQ(str(rec, "aid"), "A0000005591010FFFF");
        EXPECT_EQ(str(rec, "loadFile"), "transit-purse");
        return str(rec, "state");
    };
    EXPECT_EQ(state(), "none");
    ASSERT_EQ(str(action(run("install", kInstallVariables, card, seid)), "outcome"), "success");
    EXPECT_EQ(state(), "PERSONALIZED");
    EXPECT_FALSE(card.purse()->locked());
    // An operation not bound to an SE (no seid) changes the card but records nothing.
    ASSERT_EQ(str(action(run("lock", isd, card)), "outcome"), "success");
    EXPECT_TRUE(card.purse()->locked());
    EXPECT_EQ(state(), "PERSONALIZED");
    ASSERT_EQ(str(action(run("unlock", isd, card, seid)), "outcome"), "success");
    EXPECT_FALSE(card.purse()->locked());
    ASSERT_EQ(str(action(run("lock", isd, card, seid)), "outcome"), "success");
    EXPECT_EQ(state(), "LOCKED");
    ASSERT_NE(card.purse(), nullptr);
    EXPECT_TRUE(card.purse()->locked()) << "SET STATUS reached the card";
    ASSERT_EQ(str(action(run("unlock", isd, card, seid)), "outcome"), "success");
    EXPECT_EQ(state(), "PERSONALIZED");
    EXPECT_FALSE(card.purse()->locked());
    ASSERT_EQ(str(action(run("delete", isd, card, seid)), "outcome"), "success");
    EXPECT_EQ(state(), "DELETED");
    EXPECT_EQ(card.purse(), nullptr);
    // A failed operation records nothing: the card refuses to lock what is not there.
    EXPECT_EQ(str(action(run("lock", isd, card, seid)), "outcome"), "lock-refused");
    EXPECT_EQ(state(), "DELETED");
    const auto other = m_wallet->https.get("/sp/ses/0102030405060708/instances");
    EXPECT_EQ(other.status, 200);
    EXPECT_EQ(other.json()->getArray("instances")->size(), 0u);
    EXPECT_EQ(m_wallet->https.get("/sp/ses/not-hex/instances").status, 400);
    EXPECT_EQ(m_wallet->https.post("/sp/ses/0102030405060708/instances", "{}").status, 405);
}

TEST_F(SpTsmInstall, InstanceEffectsOfAScriptWithoutLoadFileAreRefusedAtStart) {
    TestCard card;
    const std::string good = config(card);
    auto [code, log] = refused(replaced(good, "\"instanceEffects\":{\"install\":\"PERSONALIZED\"",
                                        "\"instanceEffects\":{\"install\":\"GONE\""));
    EXPECT_EQ(code, 78);
    EXPECT_NE(log.find("instanceEffects.install: INSTALLED, SELECTABLE"), std::string::npos) << log;
    std::tie(code, log) = refused(
        replaced(good, "\"instanceEffects\":{", "\"instanceEffects\":{\"nope\":\"LOCKED\","));
    EXPECT_EQ(code, 78);
    EXPECT_NE(log.find("instanceEffects.nope: no such script"), std::string::npos) << log;
}

}  // namespace
}  // namespace kms::test
