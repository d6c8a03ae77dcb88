// The SP TSM plugin (libsp_tsm) in tsmd, with a real kmsd, running the transit top-up of
// docs/service-scripts.md (tests/unit/script/transit-top-up.json) while the test plays the
// wallet: it relays each APDU action to a test card and posts the card's answer back.
//
// The test card: the virtual SE's ISD (SCP02 i=55, fresh random TDEA keys, loaded into kmsd by
// ceremony) answers INITIALIZE UPDATE and EXTERNAL AUTHENTICATE, so kmsd authenticates a real
// card and the card authenticates kmsd; a purse application written here answers SELECT, READ
// BALANCE and CREDIT. It refuses purse commands without the C-MAC class (CLA 84), has the ISD
// verify each one's C-MAC in its session (the ISD checks every command of a session whatever its
// INS, and answers 6D00 to an instruction it does not know), and checks CREDIT's SP MAC itself
// with the ceremony key's value (ISO/IEC 9797-1 MAC algorithm 3) and its own counter, as a real
// purse does.
#include <gtest/gtest.h>
#include <openssl/rand.h>

#include <filesystem>
#include <functional>
#include <iostream>
#include <thread>

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

Bytes random_bytes(std::size_t n) {
    Bytes b(n);
    if (RAND_bytes(b.data(), static_cast<int>(n)) != 1) throw std::runtime_error("RAND_bytes");
    return b;
}

Bytes u32(std::uint32_t v) {
    return {static_cast<std::uint8_t>(v >> 24), static_cast<std::uint8_t>(v >> 16),
            static_cast<std::uint8_t>(v >> 8), static_cast<std::uint8_t>(v)};
}

const Bytes kPurseAid = from_hex("A0000005591010FFFF");

/// The virtual SE's ISD plus the test purse (see the file comment).
struct TestCard {
    Bytes enc = random_bytes(16), mac = random_bytes(16), dek = random_bytes(16);
    Bytes credit_key;  ///< the SP's credit MAC key, as the purse holds it
    std::unique_ptr<VirtualSe> isd;
    std::uint32_t balance = 1000;
    std::uint16_t counter = 7;
    int credits = 0;        ///< CREDITs the purse executed
    int commands = 0;       ///< APDUs the card received
    int macs_verified = 0;  ///< purse commands whose C-MAC the ISD verified
    bool purse_selected = false;

    explicit TestCard(Bytes credit) : credit_key(std::move(credit)) {
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
        ++commands;
        const core::CommandApdu c = core::parse_command_apdu(raw);
        if (c.ins == 0x50 || c.ins == 0x82) return isd->process(raw);
        if (c.cla == 0x00 && c.ins == 0xA4) {
            purse_selected = c.data == kPurseAid;
            return from_hex(purse_selected ? "9000" : "6A82");
        }
        if (!purse_selected) return from_hex("6D00");
        if (c.cla != 0x84 || c.data.size() < 8) return from_hex("6982");  // no C-MAC
        // The ISD checks the C-MAC of every command of its session, whatever the INS, and
        // answers 6D00 to a purse instruction whose C-MAC verified (6982 and the session ends
        // when it does not): the purse trusts the command only then.
        const Bytes isd_says = isd->process(raw);
        if (to_hex(isd_says) != "6D00") return isd_says;
        ++macs_verified;
        const Bytes data(c.data.begin(), c.data.end() - 8);
        if (c.ins == 0x5C) {
            Bytes r = u32(balance);
            r.push_back(static_cast<std::uint8_t>(counter >> 8));
            r.push_back(static_cast<std::uint8_t>(counter));
            r.push_back(0x90);
            r.push_back(0x00);
            return r;
        }
        if (c.ins == 0x52 && data.size() == 14) {
            Bytes input = kPurseAid;
            input.insert(input.end(), data.begin(), data.begin() + 6);
            const Bytes expected = crypto::retail_mac(credit_key, input);
            const std::uint16_t their = static_cast<std::uint16_t>(data[4] << 8 | data[5]);
            if (their != counter || !std::equal(expected.begin(), expected.end(), data.begin() + 6))
                return from_hex("6985");
            balance +=
                static_cast<std::uint32_t>(data[0]) << 24 | data[1] << 16 | data[2] << 8 | data[3];
            ++counter;
            ++credits;
            return from_hex("9000");
        }
        return from_hex("6D00");
    }
};

/// The wallet's connection to tsmd (HttpsClient is neither copied nor moved).
struct Wallet {
    HttpsClient https;
    explicit Wallet(const TsmdProcess& t) : https(t.client()) {}
};

class SpTsm : public CeremonyRest {
  public:
    static void SetUpTestSuite() {
        CeremonyRest::SetUpTestSuite();
        s_sp = create_plugin("sp-transit", R"({"keys":["sp/*"],"operations":["gp","mac"]})");
    }

  protected:
    /// Loads the card's keys and the credit key into kmsd and starts tsmd with the plugin;
    /// @p extra_config is appended to the plugin's configuration object (",\"key\":value").
    void start(TestCard& card, const std::string& extra_config = "") {
        static int n = 0;
        const std::string p = "sp/" + std::to_string(++n);
        const std::string enc = ceremony_key(p + "/enc", "DES3-2K", R"(["derive"])", card.enc);
        const std::string mac = ceremony_key(p + "/mac", "DES3-2K", R"(["derive"])", card.mac);
        const std::string dek = ceremony_key(p + "/dek", "DES3-2K", R"(["derive","wrap"])",
                                             card.dek, R"(,"trusted":true)");
        const std::string credit =
            ceremony_key(p + "/credit", "DES3-2K", R"(["mac"])", card.credit_key);
        const std::string config =
            "{\"kms\":{\"url\":\"" + s_kmsd->url() + "\",\"ca\":\"" + s_kmsd->ca_file() +
            "\",\"token\":\"" + s_sp + "\"},\"scripts\":{\"top-up\":\"" + env("SP_TSM_SCRIPT") +
            "\"},\"kmsKeys\":{\"sp-transit-credit-mac\":\"" + credit +
            "\",\"sp-transit-scp\":{\"enc\":\"" + enc + "\",\"mac\":\"" + mac + "\",\"dek\":\"" +
            dek + "\",\"i\":85,\"keyVersion\":32,\"aid\":\"A000000151000000\"}}" + extra_config +
            "}";
        m_plugins = "[{\"instance\":\"sp\",\"library\":\"" + env("SP_TSM_PLUGIN") +
                    "\",\"config\":" + config + "}]";
        m_tsmd = std::make_unique<TsmdProcess>(m_plugins, m_store);
        ASSERT_TRUE(m_tsmd->start()) << m_tsmd->log();
        m_wallet = std::make_unique<Wallet>(*m_tsmd);
    }
    HttpResponse begin(std::uint32_t amount = 500) {
        return m_wallet->https.post(
            "/sp/operations", R"({"script":"top-up","variables":{"purseAid":"A0000005591010FFFF",)"
                              R"("amount":)" +
                                  std::to_string(amount) + R"(,"balanceCeiling":100000}})");
    }
    HttpResponse answer(const std::string& op, std::uint64_t seq, const Bytes& response) {
        return m_wallet->https.post(
            "/sp/operations/" + op + "/responses",
            "{\"seq\":" + std::to_string(seq) + ",\"response\":\"" + to_hex(response) + "\"}");
    }
    static Poco::JSON::Object::Ptr action(const HttpResponse& r) {
        return r.json()->getObject("action");
    }
    /// Plays the wallet from @p r (the answer that started operation @p op) to the end: every
    /// APDU action goes to @p card and its response back as the next seq. Returns the last
    /// answer, or the first that is not 200.
    HttpResponse relay(const std::string& op, HttpResponse r,
                       const std::function<Bytes(Bytes apdu)>& card) {
        for (std::uint64_t seq = 1; str(action(r), "kind") == "apdu"; ++seq) {
            r = answer(op, seq, card(from_hex(str(action(r), "apdu"))));
            if (r.status != 200) break;
        }
        return r;
    }

    std::string m_plugins;          ///< the instance list start() used
    std::string m_store = "store";  ///< the TSM store start() uses (set before start())
    std::unique_ptr<TsmdProcess> m_tsmd;
    std::unique_ptr<Wallet> m_wallet;
    static std::string s_sp;
};

std::string SpTsm::s_sp;

TEST_F(SpTsm, TopUpCreditsOnceEvenWhenTheSameResponseIsPostedTwice) {
    TestCard card(random_bytes(16));
    start(card);
    auto r = begin();
    ASSERT_EQ(r.status, 201) << r.body;
    const std::string op = str(r.json(), "operation");
    std::uint64_t seq = r.json()->getValue<std::uint64_t>("seq");
    EXPECT_EQ(seq, 1u);
    int retried = 0;
    std::vector<std::string> sent;
    while (str(action(r), "kind") == "apdu") {
        const Bytes apdu = from_hex(str(action(r), "apdu"));
        sent.push_back(to_hex(apdu).substr(0, 4));
        const Bytes resp = card.process(apdu);
        const auto next = answer(op, seq, resp);
        ASSERT_EQ(next.status, 200) << next.body;
        ASSERT_EQ(next.json()->getValue<std::uint64_t>("seq"), seq + 1);
        if (apdu[1] == 0x52) {
            // The wallet lost the answer and posts the CREDIT's response again: same answer,
            // nothing sent twice, nothing credited twice; other bytes for it are a conflict.
            const auto again = answer(op, seq, resp);
            EXPECT_EQ(again.status, 200);
            EXPECT_EQ(again.body, next.body);
            EXPECT_EQ(answer(op, seq, from_hex("6985")).status, 409);
            ++retried;
        }
        r = next;
        ++seq;
    }
    EXPECT_EQ(retried, 1);
    // SELECT, INITIALIZE UPDATE, EXTERNAL AUTHENTICATE, then the purse commands with C-MAC.
    EXPECT_EQ(sent, (std::vector<std::string>{"00A4", "8050", "8482", "845C", "8452", "845C"}));
    EXPECT_EQ(str(action(r), "outcome"), "success") << r.body;
    EXPECT_EQ(str(action(r)->getObject("variables"), "newBalance"), "1500");
    EXPECT_EQ(card.balance, 1500u);
    EXPECT_EQ(card.credits, 1);
    EXPECT_EQ(card.commands, 6);
    EXPECT_EQ(card.macs_verified, 3);

    const auto s = m_wallet->https.get("/sp/operations/" + op);
    ASSERT_EQ(s.status, 200) << s.body;
    EXPECT_EQ(str(s.json(), "state"), "done");
    EXPECT_EQ(str(s.json(), "outcome"), "success");
    EXPECT_EQ(answer(op, seq, from_hex("9000")).status, 409);  // ended
}

TEST_F(SpTsm, AnOperationContinuesAfterTsmdRestartsFromTheStoreAlone) {
    TestCard card(random_bytes(16));
    start(card);
    auto r = begin();
    ASSERT_EQ(r.status, 201) << r.body;
    const std::string op = str(r.json(), "operation");
    std::uint64_t seq = 1;
    Bytes last_response;
    std::string last_body;
    while (str(action(r), "kind") == "apdu") {
        const Bytes apdu = from_hex(str(action(r), "apdu"));
        last_response = card.process(apdu);
        r = answer(op, seq, last_response);
        ASSERT_EQ(r.status, 200) << r.body;
        ++seq;
        if (apdu[1] == 0x52) {  // after the CREDIT: tsmd stops, and starts again
            last_body = r.body;
            ASSERT_EQ(m_tsmd->stop(), 0);
            ASSERT_TRUE(m_tsmd->start()) << m_tsmd->log();
            m_wallet = std::make_unique<Wallet>(*m_tsmd);
            const auto again = answer(op, seq - 1, last_response);  // the retry, after it
            EXPECT_EQ(again.body, last_body);
        }
    }
    EXPECT_FALSE(last_body.empty());
    EXPECT_EQ(str(action(r), "outcome"), "success") << r.body;
    EXPECT_EQ(card.balance, 1500u);
    EXPECT_EQ(card.credits, 1);
}

TEST_F(SpTsm, WrongResponsesEndWithTheScriptsNamedFailure) {
    TestCard card(random_bytes(16));
    start(card);
    // SELECT answered "file not found": purse-not-found, and nothing else is asked.
    auto r = begin();
    ASSERT_EQ(r.status, 201) << r.body;
    auto done = answer(str(r.json(), "operation"), 1, from_hex("6A82"));
    ASSERT_EQ(done.status, 200) << done.body;
    EXPECT_EQ(str(action(done), "kind"), "done");
    EXPECT_EQ(str(action(done), "outcome"), "purse-not-found");

    // The CREDIT refused by the card (the wallet reports 6985): credit-refused, no credit.
    r = begin();
    r = relay(str(r.json(), "operation"), r, [&](const Bytes& apdu) {
        return apdu[1] == 0x52 ? from_hex("6985") : card.process(apdu);
    });
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(str(action(r), "outcome"), "credit-refused");
    EXPECT_EQ(card.balance, 1000u);
}

TEST_F(SpTsm, ATamperedCMacIsRefusedByTheCard) {
    TestCard card(random_bytes(16));
    start(card);
    auto r = begin();
    ASSERT_EQ(r.status, 201) << r.body;
    r = relay(str(r.json(), "operation"), r, [&](Bytes apdu) {
        if (apdu[0] == 0x84 && apdu[1] == 0x5C) apdu[apdu.size() - 2] ^= 0x01;  // in the C-MAC
        return card.process(apdu);
    });
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(str(action(r), "outcome"), "read-balance-refused");
    EXPECT_EQ(card.macs_verified, 0);
    EXPECT_EQ(card.credits, 0);
}

TEST_F(SpTsm, ACardWithOtherKeysGetsNoChannelAndNoCredit) {
    TestCard card(random_bytes(16));
    start(card);
    TestCard other(card.credit_key);  // same purse, other ISD keys than kmsd holds
    auto r = begin();
    ASSERT_EQ(r.status, 201) << r.body;
    r = relay(str(r.json(), "operation"), r,
              [&](const Bytes& apdu) { return other.process(apdu); });
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(str(action(r), "outcome"), "secure-channel-refused");
    EXPECT_EQ(other.credits, 0);
}

TEST_F(SpTsm, RequestRefusals) {
    TestCard card(random_bytes(16));
    start(card);
    auto r = begin();
    ASSERT_EQ(r.status, 201) << r.body;
    const std::string op = str(r.json(), "operation");
    auto bad = m_wallet->https.post("/sp/operations/" + op + "/responses",
                                    R"({"seq":1,"response":"90G0"})");
    EXPECT_EQ(bad.status, 400);
    EXPECT_EQ(str(bad.json(), "message").rfind("response:", 0), 0u) << bad.body;
    EXPECT_EQ(answer("00112233445566778899AABBCCDDEEFF", 1, from_hex("9000")).status, 404);
    EXPECT_EQ(m_wallet->https.get("/sp/operations/0011").status, 404);
    EXPECT_EQ(answer(op, 2, from_hex("9000")).status, 400);  // no action 2 yet
    auto unknown = m_wallet->https.post("/sp/operations", R"({"script":"nope"})");
    EXPECT_EQ(unknown.status, 404);
    auto missing = m_wallet->https.post("/sp/operations", R"({"script":"top-up","variables":{}})");
    EXPECT_EQ(missing.status, 400) << missing.body;
    EXPECT_EQ(m_wallet->https.request("PUT", "/sp/operations/" + op, "{}").status, 405);
    // The operation is untouched by the refusals.
    auto s = m_wallet->https.get("/sp/operations/" + op);
    ASSERT_EQ(s.status, 200);
    EXPECT_EQ(s.json()->getValue<int>("seq"), 1);
    EXPECT_EQ(str(s.json(), "state"), "waiting");
}

TEST_F(SpTsm, TheWalletCanCancelAnOperation) {
    TestCard card(random_bytes(16));
    start(card);
    auto r = begin();
    ASSERT_EQ(r.status, 201) << r.body;
    const std::string op = str(r.json(), "operation");
    r = answer(op, 1, card.process(from_hex(str(action(r), "apdu"))));  // SELECT
    ASSERT_EQ(r.status, 200) << r.body;
    auto c = m_wallet->https.request("DELETE", "/sp/operations/" + op);
    ASSERT_EQ(c.status, 200) << c.body;
    EXPECT_EQ(str(action(c), "outcome"), "cancelled");
    EXPECT_EQ(m_wallet->https.request("DELETE", "/sp/operations/" + op).body, c.body);
    EXPECT_EQ(answer(op, 2, from_hex("9000")).status, 409);
    EXPECT_EQ(str(m_wallet->https.get("/sp/operations/" + op).json(), "outcome"), "cancelled");
    EXPECT_EQ(m_wallet->https.request("DELETE", "/sp/operations/0011").status, 404);
}

TEST_F(SpTsm, AnInstanceWithAnUnmappedKeyReferenceIsRefusedAtStart) {
    const std::string config = "{\"kms\":{\"url\":\"" + s_kmsd->url() + "\",\"ca\":\"" +
                               s_kmsd->ca_file() + "\",\"token\":\"" + s_sp +
                               "\"},\"scripts\":{\"top-up\":\"" + env("SP_TSM_SCRIPT") +
                               "\"},\"kmsKeys\":{\"sp-transit-credit-mac\":\"k1\"}}";
    TsmdProcess t("[{\"instance\":\"sp\",\"library\":\"" + env("SP_TSM_PLUGIN") +
                  "\",\"config\":" + config + "}]");
    EXPECT_FALSE(t.start());
    EXPECT_EQ(t.exit_code(), 78);
    EXPECT_NE(t.log().find("keyset 'sp-transit-scp' is not in kmsKeys"), std::string::npos)
        << t.log();
}

TEST_F(SpTsm, ALossReportSyncedMidOperationStopsItBeforeTheCreditAndClosesTheKmsSession) {
    TestCard card(random_bytes(16));
    start(card, R"(,"checkAttributes":true)");
    const std::string seid = "A1B2C3D4E5F60001";
    // As se-tsm's delivery worker would (no syncClients here: any caller may post).
    auto sync = [&](int seq, bool valid) {
        return m_wallet->https.post(
            "/sp/attributes", R"({"seq":)" + std::to_string(seq) + R"(,"seid":")" + seid +
                                  R"(","product":"transit","valid":)" + (valid ? "true" : "false") +
                                  R"(,"event":"loss-report","source":"se"})");
    };
    const std::string body =
        R"({"script":"top-up","variables":{"purseAid":"A0000005591010FFFF","amount":500,)"
        R"("balanceCeiling":100000},"seid":")" +
        seid + R"(","productId":"transit","actionCode":"TOPUP"})";
    auto refused = m_wallet->https.post("/sp/operations", body);
    EXPECT_EQ(refused.status, 403) << refused.body;  // sp-tsm knows nothing of the SE yet
    EXPECT_EQ(str(refused.json(), "error"), "product_attribute_invalid");
    ASSERT_EQ(sync(1, true).status, 200);

    auto r = m_wallet->https.post("/sp/operations", body);
    ASSERT_EQ(r.status, 201) << r.body;
    const std::string op = str(r.json(), "operation");
    bool reported = false;
    std::vector<std::string> sent;
    r = relay(op, r, [&](const Bytes& apdu) {
        sent.push_back(to_hex(apdu).substr(0, 4));
        const Bytes answer = card.process(apdu);
        if (apdu[1] == 0x5C && !reported) {  // the phone is reported lost at READ BALANCE
            EXPECT_EQ(sync(2, false).status, 200);
            reported = true;
        }
        return answer;
    });
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(str(action(r), "outcome"), "product-attribute-invalid") << r.body;
    EXPECT_EQ(sent, (std::vector<std::string>{"00A4", "8050", "8482", "845C"}));  // no CREDIT
    EXPECT_EQ(card.credits, 0);
    EXPECT_EQ(card.balance, 1000u);

    // kmsd's audit log: the run's GP session was opened and closed by sp-tsm.
    HttpsClient admin("127.0.0.1", s_kmsd->port(), s_kmsd->ca_file());
    std::vector<std::pair<std::string, std::string>> gp;  // (action, session) by sp-transit
    for (std::uint64_t from = 1;;) {
        auto page = admin.get("/v1/audit?limit=1000&from=" + std::to_string(from), s_admin);
        ASSERT_EQ(page.status, 200) << page.body;
        auto records = page.json()->getArray("records");
        for (std::size_t i = 0; i < records->size(); ++i) {
            auto rec = records->getObject(static_cast<unsigned>(i));
            if (str(rec, "actor") == "sp-transit" &&
                str(rec, "action").rfind("gp.session.", 0) == 0)
                gp.emplace_back(str(rec, "action"), str(rec, "target"));
        }
        if (page.json()->isNull("next")) break;
        from = page.json()->getValue<std::uint64_t>("next");
    }
    std::string last_open;
    for (const auto& [a, target] : gp)
        if (a == "gp.session.open") last_open = target;
    ASSERT_FALSE(last_open.empty());
    EXPECT_NE(std::find(gp.begin(), gp.end(),
                        std::pair<std::string, std::string>{"gp.session.close", last_open}),
              gp.end())
        << last_open;
}

TEST_F(SpTsm, TwoProcessesOnOneStoreNeverBothAdvanceAnOperation) {
    // Two tsmd processes share the TSM store (as the demo's two sp-tsm instances do). The same
    // answer posted to both at once: each loads the record, asks kmsd for the next step, and
    // saves with compare-and-put; only one save lands, the other request is a 409 (or, if it
    // loaded after the first saved, a replay with the same answer). Never two different next
    // steps for one seq.
    char tmpl[] = "/tmp/sp-tsm-store-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    m_store = tmpl;
    TestCard card(random_bytes(16));
    start(card);
    TsmdProcess second(m_plugins, m_store);
    ASSERT_TRUE(second.start()) << second.log();
    int conflicts = 0, replays = 0;
    for (int round = 0; round < 8; ++round) {
        const auto r = begin();
        ASSERT_EQ(r.status, 201) << r.body;
        const std::string op = str(r.json(), "operation");
        const Bytes select_ok = card.process(from_hex(str(action(r), "apdu")));
        const std::string body = "{\"seq\":1,\"response\":\"" + to_hex(select_ok) + "\"}";
        HttpResponse a, b;
        std::thread other([&] {
            HttpsClient c = second.client();
            b = c.post("/sp/operations/" + op + "/responses", body);
        });
        a = m_wallet->https.post("/sp/operations/" + op + "/responses", body);
        other.join();
        ASSERT_TRUE(a.status == 200 || b.status == 200) << a.body << " / " << b.body;
        if (a.status == 200 && b.status == 200) {
            EXPECT_EQ(a.body, b.body) << "two different next steps for one seq";
            ++replays;
        } else {
            const HttpResponse& lost = a.status == 200 ? b : a;
            EXPECT_EQ(lost.status, 409) << lost.body;
            ++conflicts;
        }
        // The operation goes on from the stored answer, in either process.
        HttpsClient c = second.client();
        const auto state = c.get("/sp/operations/" + op);
        EXPECT_EQ(state.json()->getValue<int>("seq"), 2) << state.body;
        card.isd->process(from_hex("00A4040008A000000151000000"));  // end the ISD's session
    }
    std::cout << "same answer to two processes: " << conflicts << " conflicts, " << replays
              << " replays\n";
    m_tsmd.reset();
    std::error_code ec;
    std::filesystem::remove_all(m_store, ec);
}

}  // namespace
}  // namespace kms::test
