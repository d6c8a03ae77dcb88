// se-tsm's card operations (docs/se-tsm.md, "Card operations") end to end: libse_tsm in tsmd
// over TLS, a real kmsd (ISD master keys loaded by two-custodian ceremonies, a plugin principal
// with a policy on se/*), and the virtual SE in this process as the card, the test playing the
// wallet that relays every APDU. Checked on the card itself (VirtualSe::life_cycle(), its key
// sets) and in se-tsm's records.
#include <gtest/gtest.h>
#include <openssl/rand.h>

#include "../rest/ceremony_fixture.hpp"
#include "domain/apdu.hpp"
#include "tsmd_process.hpp"
#include "virtual_se.hpp"

namespace kms::test {
namespace {

using tsm::vse::CardLifeCycle;
using tsm::vse::VirtualSe;
using tsm::vse::VirtualSeConfig;

Bytes random_bytes(std::size_t n) {
    Bytes b(n);
    if (RAND_bytes(b.data(), static_cast<int>(n)) != 1) throw std::runtime_error("RAND_bytes");
    return b;
}

const char* const kIsdAid = "A000000151000000";
const std::string kCplc(84, '0');

/// The test card: the virtual SE's ISD, SCP02 i=55, key set 20 whose ENC, MAC and DEK are one
/// random TDEA key (an ISD key "none"-diversified from a master key, as GPPro's default keys).
struct TestCard {
    Bytes key = random_bytes(16);
    std::unique_ptr<VirtualSe> se;
    int apdus = 0;

    explicit TestCard(CardLifeCycle state = CardLifeCycle::Secured) {
        VirtualSeConfig cfg;
        cfg.scp = tsm::vse::Scp::Scp02;
        cfg.i = 0x55;
        cfg.key_version = 0x20;
        cfg.enc = SecureBytes(key);
        cfg.mac = SecureBytes(key);
        cfg.dek = SecureBytes(key);
        cfg.kdd = random_bytes(10);
        cfg.life_cycle = state;
        se = std::make_unique<VirtualSe>(std::move(cfg));
    }
    Bytes process(const Bytes& apdu) {
        ++apdus;
        return se->process(apdu);
    }
};

/// The wallet's connection to tsmd (HttpsClient is neither copied nor moved).
struct Wallet {
    HttpsClient https;
    explicit Wallet(const TsmdProcess& t) : https(t.client()) {}
};

class SeTsmCardOps : public CeremonyRest {
  public:
    static void SetUpTestSuite() {
        CeremonyRest::SetUpTestSuite();
        s_se = create_plugin("se-cardops", R"({"keys":["se/*"],"operations":["gp"]})");
    }

  protected:
    /// The card's ISD key as a KMS master key (usage derive and wrap, trusted: PUT KEY goes
    /// under its DEK).
    std::string isd_kmc(const Bytes& value) {
        return ceremony_key("se/kmc-" + std::to_string(++s_n), "DES3-2K", R"(["derive","wrap"])",
                            value, R"(,"trusted":true)");
    }
    std::string kms_config() const {
        return "{\"kms\":{\"url\":\"" + s_kmsd->url() + "\",\"ca\":\"" + s_kmsd->ca_file() +
               "\",\"token\":\"" + s_se + "\"}}";
    }
    void start(const std::string& config) {
        m_tsmd =
            std::make_unique<TsmdProcess>("[" + instance("se", env("TSM_SE_PLUGIN"), config) + "]");
        ASSERT_TRUE(m_tsmd->start()) << m_tsmd->log();
        m_wallet = std::make_unique<Wallet>(*m_tsmd);
        ASSERT_EQ(post("/se/products",
                       R"({"id":"vse","vendor":"Test","chipModel":"virtual SE","gpVersion":"2.2",)"
                       R"("scp02":["55"],"isdAid":"A000000151000000","diversification":"none",)"
                       R"("defaultKeyVersion":32})")
                      .status,
                  201);
    }
    HttpResponse post(const std::string& path, const std::string& body) {
        return m_wallet->https.post(path, body);
    }
    HttpResponse get(const std::string& path) { return m_wallet->https.get(path); }
    /// Registers @p seid with the master key @p kmc and moves it to SECURED, as the card is.
    void register_se(const std::string& seid, const std::string& kmc) {
        auto r = post("/se/ses", "{\"seid\":\"" + seid + "\",\"cplc\":\"" + kCplc +
                                     "\",\"productId\":\"vse\",\"isdKey\":{\"keyId\":\"" + kmc +
                                     "\",\"diversification\":\"none\"},\"owner\":\"alice\"}");
        ASSERT_EQ(r.status, 201) << r.body;
        for (const char* s : {"INITIALIZED", "SECURED"})
            ASSERT_EQ(
                post("/se/ses/" + seid + "/lifecycle", std::string("{\"state\":\"") + s + "\"}")
                    .status,
                200);
    }
    std::string se_state(const std::string& seid) {
        return str(get("/se/ses/" + seid).json(), "state");
    }
    static Poco::JSON::Object::Ptr action(const HttpResponse& r) {
        return r.json()->getObject("action");
    }
    /// Starts an operation at @p path with @p body and relays every APDU to @p card until the
    /// end. Returns the last answer (the first that is not 2xx, if any); @p id the operation.
    HttpResponse run(const std::string& path, const std::string& body, TestCard& card,
                     std::string* id = nullptr) {
        HttpResponse r = post(path, body);
        if (r.status != 201) return r;
        const std::string op = str(r.json(), "operation");
        if (id) *id = op;
        for (std::uint64_t seq = 1; str(action(r), "kind") == "apdu"; ++seq) {
            const Bytes response = card.process(from_hex(str(action(r), "apdu")));
            m_last =
                "{\"seq\":" + std::to_string(seq) + ",\"response\":\"" + to_hex(response) + "\"}";
            r = post("/se/operations/" + op + "/responses", m_last);
            if (r.status != 200) break;
        }
        return r;
    }
    HttpResponse card_op(const std::string& seid, const std::string& op, TestCard& card,
                         std::string* id = nullptr) {
        return run("/se/ses/" + seid + "/operations", "{\"operation\":\"" + op + "\"}", card, id);
    }

    std::unique_ptr<TsmdProcess> m_tsmd;
    std::unique_ptr<Wallet> m_wallet;
    std::string m_last;  ///< the last response posted
    static std::string s_se;
    static int s_n;
};

std::string SeTsmCardOps::s_se;
int SeTsmCardOps::s_n = 0;

TEST_F(SeTsmCardOps, LockUnlockAndTerminateChangeTheCardAndTheRecord) {
    TestCard card;
    start(kms_config());
    register_se("A1B2C3D4E5F60001", isd_kmc(card.key));
    ASSERT_EQ(post("/se/ses/A1B2C3D4E5F60001/attributes/transit", "").status, 405);
    ASSERT_EQ(
        m_wallet->https
            .request("PUT", "/se/ses/A1B2C3D4E5F60001/attributes/transit", R"({"valid":true})")
            .status,
        200);

    HttpResponse r = card_op("A1B2C3D4E5F60001", "lock", card);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(str(action(r), "kind"), "done");
    EXPECT_EQ(str(action(r), "outcome"), "success") << r.body;
    EXPECT_EQ(card.se->life_cycle(), CardLifeCycle::CardLocked);
    EXPECT_EQ(se_state("A1B2C3D4E5F60001"), "CARD_LOCKED");

    r = card_op("A1B2C3D4E5F60001", "unlock", card);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(str(action(r), "outcome"), "success") << r.body;
    EXPECT_EQ(card.se->life_cycle(), CardLifeCycle::Secured);
    EXPECT_EQ(se_state("A1B2C3D4E5F60001"), "SECURED");

    r = card_op("A1B2C3D4E5F60001", "terminate", card);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(str(action(r), "outcome"), "success") << r.body;
    EXPECT_EQ(card.se->life_cycle(), CardLifeCycle::Terminated);
    EXPECT_EQ(se_state("A1B2C3D4E5F60001"), "TERMINATED");
    // Terminating went through the life cycle path: the attribute is invalid and sp-tsm is told.
    EXPECT_FALSE(
        get("/se/ses/A1B2C3D4E5F60001/attributes/transit").json()->getValue<bool>("valid"));
    const std::string outbox = get("/se/outbox?status=pending").body;
    EXPECT_NE(outbox.find("\"event\":\"terminated\""), std::string::npos) << outbox;
}

TEST_F(SeTsmCardOps, AForbiddenTransitionIsRefusedBeforeAnyApdu) {
    TestCard card;
    start(kms_config());
    register_se("A1B2C3D4E5F60002", isd_kmc(card.key));
    const HttpResponse r = card_op("A1B2C3D4E5F60002", "unlock", card);  // SECURED -> SECURED
    EXPECT_EQ(r.status, 409) << r.body;
    EXPECT_EQ(str(r.json(), "error"), "wrong_state");
    EXPECT_NE(r.body.find("SECURED"), std::string::npos) << r.body;
    EXPECT_EQ(card.apdus, 0);
    EXPECT_EQ(card.se->sequence_counter(), 0u);
    // Unknown SE, unknown operation, fields that are not there: 4xx naming them, no APDU.
    EXPECT_EQ(card_op("A1B2C3D4E5F6FFFF", "lock", card).status, 404);
    HttpResponse bad = card_op("A1B2C3D4E5F60002", "reboot", card);
    EXPECT_EQ(bad.status, 400);
    EXPECT_NE(bad.body.find("operation"), std::string::npos) << bad.body;
    bad = post("/se/operations", R"({"operation":"lock"})");
    EXPECT_EQ(bad.status, 400);
    EXPECT_NE(bad.body.find("seid"), std::string::npos) << bad.body;
    bad = post("/se/ses/A1B2C3D4E5F60002/operations", R"({"operation":"lock","pin":"1234"})");
    EXPECT_EQ(bad.status, 400);
    EXPECT_NE(bad.body.find("pin"), std::string::npos) << bad.body;
    bad = post("/se/ses/A1B2C3D4E5F60002/operations", R"({"operation":"lock","keyVersion":3})");
    EXPECT_EQ(bad.status, 400);
    EXPECT_NE(bad.body.find("keyVersion"), std::string::npos) << bad.body;
    EXPECT_EQ(post("/se/ses/A1B2C3D4E5F60002/operations", "[1]").status, 400);
    EXPECT_EQ(post("/se/operations/nope/responses", R"({"seq":1,"response":"9000"})").status, 404);
    EXPECT_EQ(card.apdus, 0);
}

TEST_F(SeTsmCardOps, TheFrontsShapeListsTheCardsApplications) {
    TestCard card;
    card.se->install_purse(random_bytes(16), 1000, 0);
    start(kms_config());
    register_se("A1B2C3D4E5F60003", isd_kmc(card.key));
    const HttpResponse r = run("/se/operations",
                               R"({"actionCode":"se.card-op","seid":"a1b2c3d4e5f60003",)"
                               R"("operation":"list-contents"})",
                               card);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(str(action(r), "outcome"), "success") << r.body;
    // GET STATUS P1 40 P2 02 (GPCS 2.2.1 §11.4.3): E3 { 4F AID, 9F70 life cycle, C5 ... }.
    const std::string apps = str(action(r)->getObject("variables"), "applications");
    EXPECT_EQ(apps.rfind("E3", 0), 0u) << apps;
    EXPECT_NE(apps.find("4F09A0000005591010FFFF"), std::string::npos) << apps;
    EXPECT_EQ(se_state("A1B2C3D4E5F60003"), "SECURED");
    EXPECT_EQ(card.se->life_cycle(), CardLifeCycle::Secured);
}

TEST_F(SeTsmCardOps, ListContentsFollowsMoreDataPages) {
    // Twelve applications: more entries than one GET STATUS answer holds (the virtual SE sends
    // at most 232 bytes, then 6310), so the script asks for the next occurrences (P2 03).
    TestCard card;
    card.se->install_purse(random_bytes(16), 1000, 0);
    tsm::vse::VirtualSeState state = card.se->state();
    const tsm::vse::Application purse = state.applications.at(0);
    for (int n = 1; n < 12; ++n) {
        tsm::vse::Application app = purse;
        app.aid =
            from_hex("A0000005591010FF" + std::string(n < 16 ? "0" : "") + "0123456789ABCDEF"[n]);
        app.purse.reset();
        state.applications.push_back(std::move(app));
    }
    card.se = std::make_unique<VirtualSe>(std::move(state));
    start(kms_config());
    register_se("A1B2C3D4E5F6000C", isd_kmc(card.key));
    const HttpResponse r = card_op("A1B2C3D4E5F6000C", "list-contents", card);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(str(action(r), "outcome"), "success") << r.body;
    const std::string apps = str(action(r)->getObject("variables"), "applications");
    EXPECT_GT(apps.size() / 2, 232u) << apps;
    EXPECT_NE(apps.find("4F09A0000005591010FFFF"), std::string::npos) << apps;
    EXPECT_NE(apps.find("4F09A0000005591010FF0B"), std::string::npos) << apps;  // the last one
}

TEST_F(SeTsmCardOps, ARetryOfTheLastResponseIsAnsweredTheSame) {
    TestCard card;
    start(kms_config());
    register_se("A1B2C3D4E5F60004", isd_kmc(card.key));
    std::string id;
    const HttpResponse r = card_op("A1B2C3D4E5F60004", "lock", card, &id);
    ASSERT_EQ(str(action(r), "outcome"), "success") << r.body;
    const int apdus = card.apdus;
    const HttpResponse again = post("/se/operations/" + id + "/responses", m_last);
    EXPECT_EQ(again.status, 200);
    EXPECT_EQ(again.body, r.body);
    const std::string other =
        m_last.substr(0, m_last.find("\"response\"")) + "\"response\":\"6985\"}";
    EXPECT_EQ(post("/se/operations/" + id + "/responses", other).status, 409);
    EXPECT_EQ(card.apdus, apdus);
    EXPECT_EQ(se_state("A1B2C3D4E5F60004"), "CARD_LOCKED");
    const HttpResponse s = get("/se/operations/" + id);
    ASSERT_EQ(s.status, 200) << s.body;
    EXPECT_EQ(str(s.json(), "state"), "done");
    EXPECT_EQ(str(s.json(), "kind"), "lock");
    EXPECT_TRUE(s.json()->getValue<bool>("applied"));
    // DELETE of an ended operation keeps its outcome.
    const HttpResponse d = m_wallet->https.request("DELETE", "/se/operations/" + id, "");
    EXPECT_EQ(d.status, 200);
    EXPECT_EQ(str(action(d), "outcome"), "success");
}

TEST_F(SeTsmCardOps, ACardThatRefusesLeavesTheRecordUnchanged) {
    // The card is locked already (by another path); se-tsm's record still says SECURED.
    TestCard card(CardLifeCycle::CardLocked);
    start(kms_config());
    register_se("A1B2C3D4E5F60005", isd_kmc(card.key));
    const HttpResponse r = card_op("A1B2C3D4E5F60005", "lock", card);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(str(action(r), "outcome"), "set-status-refused") << r.body;  // 6985
    EXPECT_EQ(se_state("A1B2C3D4E5F60005"), "SECURED");
    EXPECT_EQ(card.se->life_cycle(), CardLifeCycle::CardLocked);
}

TEST_F(SeTsmCardOps, ACardWithOtherKeysEndsSecureChannelRefused) {
    TestCard card;
    start(kms_config());
    register_se("A1B2C3D4E5F60006", isd_kmc(random_bytes(16)));
    const HttpResponse r = card_op("A1B2C3D4E5F60006", "lock", card);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(str(action(r), "outcome"), "secure-channel-refused") << r.body;
    EXPECT_EQ(se_state("A1B2C3D4E5F60006"), "SECURED");
    EXPECT_EQ(card.se->life_cycle(), CardLifeCycle::Secured);
}

TEST_F(SeTsmCardOps, RotateKeysPutsADiversifiedKeySetOnTheCard) {
    TestCard card;
    start(kms_config());
    const std::string old_kmc = isd_kmc(card.key);
    register_se("A1B2C3D4E5F60007", old_kmc);
    std::string rotation;
    const std::string new_kmc = ceremony_key("se/new-kmc-" + std::to_string(++s_n), "DES3-2K",
                                             R"(["derive"])", random_bytes(16));
    HttpResponse r = run("/se/ses/A1B2C3D4E5F60007/operations",
                         "{\"operation\":\"rotate-keys\",\"newIsdKey\":{\"keyId\":\"" + new_kmc +
                             "\",\"diversification\":\"VISA2\"}}",
                         card, &rotation);
    ASSERT_EQ(r.status, 200) << r.body;
    ASSERT_EQ(str(action(r), "outcome"), "success") << r.body;
    // The card replaced key set 20 by 21 (PUT KEY P1 20, GPCS 2.2.1 §11.8.2.2).
    EXPECT_EQ(card.se->key_versions(), std::vector<std::uint8_t>{0x21});
    const auto key = get("/se/ses/A1B2C3D4E5F60007").json()->getObject("isdKey");
    EXPECT_EQ(str(key, "keyId"), new_kmc);
    EXPECT_EQ(str(key, "diversification"), "VISA2");
    EXPECT_EQ(key->getValue<int>("keyVersion"), 0x21);
    const auto summary = get("/se/operations/" + rotation).json();
    EXPECT_TRUE(summary->getValue<bool>("applied"));
    EXPECT_EQ(str(summary->getObject("newIsdKey"), "keyId"), new_kmc);
    EXPECT_EQ(summary->getObject("newIsdKey")->getArray("keyIds")->size(), 3u);
    // A new session with the new keys (kmsd diversifies the new master key over the card's
    // KDD) works ...
    r = card_op("A1B2C3D4E5F60007", "list-contents", card);
    EXPECT_EQ(str(action(r), "outcome"), "success") << r.body;
    // ... and the old keys do not: another SE record on this card with the old key set.
    register_se("A1B2C3D4E5F60008", old_kmc);
    r = card_op("A1B2C3D4E5F60008", "list-contents", card);
    EXPECT_EQ(str(action(r), "outcome"), "secure-channel-refused") << r.body;
}

TEST_F(SeTsmCardOps, AnOperationContinuesAfterTsmdRestartsAndCanBeCancelled) {
    TestCard card;
    start(kms_config());
    register_se("A1B2C3D4E5F60009", isd_kmc(card.key));
    HttpResponse r = post("/se/ses/A1B2C3D4E5F60009/operations", R"({"operation":"lock"})");
    ASSERT_EQ(r.status, 201) << r.body;
    const std::string id = str(r.json(), "operation");
    // SELECT answered, then tsmd restarts: the state is only in the TSM store.
    r = post("/se/operations/" + id + "/responses",
             "{\"seq\":1,\"response\":\"" + to_hex(card.process(from_hex(str(action(r), "apdu")))) +
                 "\"}");
    ASSERT_EQ(r.status, 200) << r.body;
    ASSERT_EQ(m_tsmd->stop(), 0);
    ASSERT_TRUE(m_tsmd->start()) << m_tsmd->log();
    m_wallet = std::make_unique<Wallet>(*m_tsmd);
    for (std::uint64_t seq = 2; str(action(r), "kind") == "apdu"; ++seq) {
        r = post("/se/operations/" + id + "/responses",
                 "{\"seq\":" + std::to_string(seq) + ",\"response\":\"" +
                     to_hex(card.process(from_hex(str(action(r), "apdu")))) + "\"}");
        ASSERT_EQ(r.status, 200) << r.body;
    }
    EXPECT_EQ(str(action(r), "outcome"), "success") << r.body;
    EXPECT_EQ(card.se->life_cycle(), CardLifeCycle::CardLocked);
    EXPECT_EQ(se_state("A1B2C3D4E5F60009"), "CARD_LOCKED");

    // The wallet gives up after SELECT: cancelled, nothing changed, later responses 409.
    r = post("/se/ses/A1B2C3D4E5F60009/operations", R"({"operation":"unlock"})");
    ASSERT_EQ(r.status, 201) << r.body;
    const std::string id2 = str(r.json(), "operation");
    const std::string select = to_hex(card.process(from_hex(str(action(r), "apdu"))));
    ASSERT_EQ(
        post("/se/operations/" + id2 + "/responses", "{\"seq\":1,\"response\":\"" + select + "\"}")
            .status,
        200);
    const HttpResponse d = m_wallet->https.request("DELETE", "/se/operations/" + id2, "");
    ASSERT_EQ(d.status, 200) << d.body;
    EXPECT_EQ(str(action(d), "outcome"), "cancelled");
    EXPECT_EQ(post("/se/operations/" + id2 + "/responses", R"({"seq":2,"response":"9000"})").status,
              409);
    EXPECT_EQ(se_state("A1B2C3D4E5F60009"), "CARD_LOCKED");
    EXPECT_EQ(card.se->life_cycle(), CardLifeCycle::CardLocked);
    EXPECT_EQ(m_wallet->https.request("DELETE", "/se/operations/" + id2, "").body, d.body);
}

TEST_F(SeTsmCardOps, AnSeWithThreeStaticKeysIsLocked) {
    // A card whose ENC, MAC and DEK differ, each loaded into kmsd by ceremony.
    const Bytes enc = random_bytes(16), mac = random_bytes(16), dek = random_bytes(16);
    VirtualSeConfig cfg;
    cfg.scp = tsm::vse::Scp::Scp02;
    cfg.i = 0x55;
    cfg.key_version = 0x20;
    cfg.enc = SecureBytes(enc);
    cfg.mac = SecureBytes(mac);
    cfg.dek = SecureBytes(dek);
    TestCard card;
    card.se = std::make_unique<VirtualSe>(std::move(cfg));
    start(kms_config());
    const std::string n = std::to_string(++s_n);
    const std::string ids =
        "\"enc\":\"" + ceremony_key("se/enc-" + n, "DES3-2K", R"(["derive"])", enc) +
        "\",\"mac\":\"" + ceremony_key("se/mac-" + n, "DES3-2K", R"(["derive"])", mac) +
        "\",\"dek\":\"" +
        ceremony_key("se/dek-" + n, "DES3-2K", R"(["derive","wrap"])", dek, R"(,"trusted":true)") +
        "\"";
    const std::string head = "{\"seid\":\"A1B2C3D4E5F6000A\",\"cplc\":\"" + kCplc +
                             "\",\"productId\":\"vse\",\"owner\":\"alice\",\"isdKey\":{";
    HttpResponse r = post("/se/ses", head + ids + ",\"keyId\":\"k-x\"}}");
    EXPECT_EQ(r.status, 400);
    EXPECT_NE(r.body.find("isdKey"), std::string::npos) << r.body;
    r = post("/se/ses", head + ids + ",\"diversification\":\"VISA2\"}}");
    EXPECT_EQ(r.status, 400);
    EXPECT_NE(r.body.find("isdKey.diversification"), std::string::npos) << r.body;
    r = post("/se/ses", head + ids + "}}");
    ASSERT_EQ(r.status, 201) << r.body;
    EXPECT_EQ(str(r.json()->getObject("isdKey"), "diversification"), "none");
    for (const char* s : {"INITIALIZED", "SECURED"})
        ASSERT_EQ(
            post("/se/ses/A1B2C3D4E5F6000A/lifecycle", std::string("{\"state\":\"") + s + "\"}")
                .status,
            200);
    r = card_op("A1B2C3D4E5F6000A", "lock", card);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(str(action(r), "outcome"), "success") << r.body;
    EXPECT_EQ(card.se->life_cycle(), CardLifeCycle::CardLocked);
}

TEST_F(SeTsmCardOps, ARotationWhoseEndIsUncertainIsConfirmedOnTheCard) {
    TestCard card;
    start(kms_config());
    register_se("A1B2C3D4E5F6000B", isd_kmc(card.key));
    const std::string new_kmc = ceremony_key("se/new-kmc-" + std::to_string(++s_n), "DES3-2K",
                                             R"(["derive"])", random_bytes(16));
    const std::string rotate = "{\"operation\":\"rotate-keys\",\"newIsdKey\":{\"keyId\":\"" +
                               new_kmc + "\",\"diversification\":\"VISA2\"}}";
    // The wallet relays PUT KEY to the card, which executes it, then gives up (DELETE) instead
    // of posting the card's answer: se-tsm cannot know the card has the new keys.
    HttpResponse r = post("/se/ses/A1B2C3D4E5F6000B/operations", rotate);
    ASSERT_EQ(r.status, 201) << r.body;
    const std::string id = str(r.json(), "operation");
    for (std::uint64_t seq = 1;; ++seq) {
        const std::string apdu = str(action(r), "apdu");
        const Bytes answer = card.process(from_hex(apdu));
        if (apdu.rfind("84D8", 0) == 0) break;  // PUT KEY (GPCS 2.2.1 §11.8), with C-MAC
        r = post("/se/operations/" + id + "/responses",
                 "{\"seq\":" + std::to_string(seq) + ",\"response\":\"" + to_hex(answer) + "\"}");
        ASSERT_EQ(r.status, 200) << r.body;
        ASSERT_EQ(str(action(r), "kind"), "apdu") << r.body;
    }
    EXPECT_EQ(card.se->key_versions(), std::vector<std::uint8_t>{0x21});
    ASSERT_EQ(m_wallet->https.request("DELETE", "/se/operations/" + id, "").status, 200);
    EXPECT_FALSE(get("/se/ses/A1B2C3D4E5F6000B").json()->getObject("isdKey")->has("keyVersion"));
    r = card_op("A1B2C3D4E5F6000B", "lock", card);  // the recorded (old) keys fail now
    EXPECT_EQ(str(action(r), "outcome"), "secure-channel-refused") << r.body;

    // confirm-keys opens a channel with the rotation's key set: the card has it, so se-tsm
    // records it, and the card works again.
    r = run("/se/ses/A1B2C3D4E5F6000B/operations",
            "{\"operation\":\"confirm-keys\",\"rotation\":\"" + id + "\"}", card);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(str(action(r), "outcome"), "success") << r.body;
    const auto key = get("/se/ses/A1B2C3D4E5F6000B").json()->getObject("isdKey");
    EXPECT_EQ(str(key, "keyId"), new_kmc);
    EXPECT_EQ(key->getValue<int>("keyVersion"), 0x21);
    EXPECT_TRUE(get("/se/operations/" + id).json()->getValue<bool>("applied"));
    r = card_op("A1B2C3D4E5F6000B", "lock", card);
    EXPECT_EQ(str(action(r), "outcome"), "success") << r.body;
    // Settled: confirming again is 409; a rotation that never sent PUT KEY has nothing to
    // confirm (409); a rotation of another SE, or no rotation, is refused naming "rotation".
    r = post("/se/ses/A1B2C3D4E5F6000B/operations",
             "{\"operation\":\"confirm-keys\",\"rotation\":\"" + id + "\"}");
    EXPECT_EQ(r.status, 409) << r.body;
    EXPECT_EQ(post("/se/ses/A1B2C3D4E5F6000B/operations", R"({"operation":"confirm-keys"})").status,
              400);
    EXPECT_EQ(post("/se/ses/A1B2C3D4E5F6000B/operations",
                   R"({"operation":"confirm-keys","rotation":"0123"})")
                  .status,
              404);
    for (const char* rotation : {"", "..", "a b", "%2F"})
        EXPECT_EQ(
            post("/se/ses/A1B2C3D4E5F6000B/operations",
                 std::string(R"({"operation":"confirm-keys","rotation":")") + rotation + "\"}")
                .status,
            404)
            << rotation;
    EXPECT_EQ(get("/se/operations/not-an-id").status, 404);
    EXPECT_EQ(post("/se/operations/ZZ/responses", R"({"seq":1,"response":"9000"})").status, 404);
}

TEST_F(SeTsmCardOps, WithoutKmsTheRoutesAnswer503) {
    start("{}");
    const HttpResponse r =
        post("/se/operations", R"({"seid":"A1B2C3D4E5F60001","operation":"lock"})");
    EXPECT_EQ(r.status, 503);
    EXPECT_EQ(str(r.json(), "error"), "kms_unavailable");
}

TEST_F(SeTsmCardOps, ABadKmsOrScriptsSettingRefusesTheInstance) {
    TsmdProcess t(
        "[" +
        instance("se", env("TSM_SE_PLUGIN"), "{\"kms\":{\"url\":\"" + s_kmsd->url() + "\"}}") +
        "]");
    EXPECT_FALSE(t.start());
    EXPECT_EQ(t.exit_code(), 78);
    EXPECT_NE(t.log().find("kms.ca"), std::string::npos) << t.log();
    TsmdProcess u("[" +
                  instance("se", env("TSM_SE_PLUGIN"),
                           "{\"kms\":{\"url\":\"" + s_kmsd->url() + "\",\"ca\":\"" +
                               s_kmsd->ca_file() +
                               "\",\"token\":\"x\"},\"cardScripts\":\"/nonexistent\"}") +
                  "]");
    EXPECT_FALSE(u.start());
    EXPECT_EQ(u.exit_code(), 78);
    EXPECT_NE(u.log().find("cardScripts: cannot read /nonexistent/card-lock.json"),
              std::string::npos)
        << u.log();
}

}  // namespace
}  // namespace kms::test
