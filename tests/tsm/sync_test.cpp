// Flow B's sync and flow A's check, end to end over TLS between two real tsmd processes: se-tsm
// in one (its delivery worker calling sp-tsm with its own client certificate), sp-tsm in the
// other (mTLS, syncClients, checkAttributes). The test plays the operator (se-tsm's routes), the
// wallet (sp-tsm's operations, relaying a plain purse script: no kmsd is needed, because the
// refusals under test happen before anything reaches the card or kmsd) and, for the ordering
// rules, se-tsm itself (posting sync messages to sp-tsm directly).
#include <Poco/JSON/Array.h>
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <regex>
#include <thread>

#include "test_pki.hpp"
#include "tsmd_process.hpp"

namespace kms::test {
namespace {

const std::string kSeid = "A1B2C3D4E5F60001";
const std::string kCplc(84, '4');

/// A purse top-up without secure channel or KMS step: SELECT, READ BALANCE, CREDIT.
const char* kPlainScript = R"({"name": "plain-top-up", "version": 1,
  "inputs": [{"name": "amount", "type": "u32"}],
  "steps": [
    {"id": "select", "kind": "apdu", "header": "00 A4 04 00", "data": "A0000005591010FFFF"},
    {"id": "select-ok", "kind": "expect", "sw": ["9000"], "onFail": "purse-not-found"},
    {"id": "read", "kind": "apdu", "header": "80 5C 00 00", "le": 6},
    {"id": "read-ok", "kind": "expect", "sw": ["9000"], "onFail": "read-balance-refused"},
    {"id": "credit", "kind": "apdu", "header": "80 52 00 00", "data": "${amount}"},
    {"id": "credit-ok", "kind": "expect", "sw": ["9000"], "onFail": "credit-refused"},
    {"id": "done", "kind": "end", "outcome": "success"}]})";

const std::string kTopUp = R"({"script":"plain","variables":{"amount":500},"seid":")" + kSeid +
                           R"(","productId":"transit","actionCode":"TOPUP"})";

/// Polls @p done every 20 ms for up to @p ms; true once it holds.
bool eventually(const std::function<bool()>& done, int ms = 15000) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (std::chrono::steady_clock::now() < end) {
        if (done()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return done();
}

class Sync : public ::testing::Test {
  protected:
    void SetUp() override {
        char tmpl[] = "/tmp/tsm-sync-test-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        m_dir = tmpl;
        m_pki = std::make_unique<TestPki>(m_dir);
        for (const char* cn : {"se-sync", "wallet", "intruder"}) m_pki->issue(cn);
        write(m_dir + "/plain.json", kPlainScript);
    }
    void TearDown() override {
        m_se.reset();
        m_sp.reset();
        std::error_code ec;
        std::filesystem::remove_all(m_dir, ec);
    }

    /// sp-tsm with mTLS from the test CA; its KMS is never called by these tests.
    void make_sp(const std::string& extra = R"(,"syncClients":["se-sync"])") {
        m_sp = make_sp_process(extra, "store");
    }
    std::unique_ptr<TsmdProcess> make_sp_process(const std::string& extra,
                                                 const std::string& store) {
        // The KMS client needs a CA file that loads: the test CA will do (nothing connects).
        const std::string config = R"({"kms":{"url":"https://127.0.0.1:1","ca":")" +
                                   m_pki->ca_file() + R"(","token":"unused"},)" +
                                   R"("scripts":{"plain":")" + m_dir + R"(/plain.json"})" + extra +
                                   "}";
        return std::make_unique<TsmdProcess>(
            "[" + instance("sp", env("TSM_SP_PLUGIN"), config) + "]", store, m_pki->ca_file());
    }
    /// se-tsm delivering to m_sp (or to @p targets, in order) as @p cn, with short backoffs.
    void make_se(const std::string& cn = "se-sync", std::vector<const TsmdProcess*> targets = {}) {
        if (targets.empty()) targets.push_back(m_sp.get());
        std::string urls;
        for (const TsmdProcess* t : targets)
            urls += std::string(urls.empty() ? "" : ",") +
                    "\"https://127.0.0.1:" + std::to_string(t->port()) + "/sp\"";
        // The targets' tsmd certificates are self-signed: the first is the CA (a test with
        // several targets gives them the same certificate).
        write(m_dir + "/sp-ca.pem", slurp(targets.front()->certificate()));
        const std::string config =
            R"({"sync":{"targets":[)" + urls + R"(],"ca":")" + m_dir +
            R"(/sp-ca.pem","certificate":")" + m_pki->cert(cn) + R"(","key":")" + m_pki->key(cn) +
            R"(","source":"se","retryMs":50,"maxBackoffMs":400,"pollMs":200}})";
        m_se =
            std::make_unique<TsmdProcess>("[" + instance("se", env("TSM_SE_PLUGIN"), config) + "]");
    }
    void start_both() {
        make_sp();
        make_se();
        ASSERT_TRUE(m_sp->start()) << m_sp->log();
        ASSERT_TRUE(m_se->start()) << m_se->log();
    }
    /// Registers the product and the SE (owner alice) at se-tsm.
    void register_se(HttpsClient& se) {
        ASSERT_EQ(se.post("/se/products",
                          R"({"id":"nxp-jcop4","vendor":"NXP","chipModel":"JCOP 4",)"
                          R"("gpVersion":"2.2","scp02":["55"],"isdAid":"A000000151000000",)"
                          R"("diversification":"none","defaultKeyVersion":32})")
                      .status,
                  201);
        ASSERT_EQ(se.post("/se/ses", R"({"seid":")" + kSeid + R"(","cplc":")" + kCplc +
                                         R"(","productId":"nxp-jcop4","isdKey":{"keyId":"k"},)"
                                         R"("owner":"alice"})")
                      .status,
                  201);
    }
    HttpResponse set_valid(HttpsClient& se, bool valid) {
        return se.request("PUT", "/se/ses/" + kSeid + "/attributes/transit",
                          std::string(R"({"valid":)") + (valid ? "true" : "false") + "}");
    }
    /// sp-tsm's copy for (kSeid, transit): 404 until it knows the pair.
    HttpResponse sp_state(HttpsClient& sp) {
        return sp.get("/sp/attributes/" + kSeid + "/transit");
    }
    static bool sp_says(HttpsClient& sp_client, int seq, bool valid) {
        const HttpResponse r = sp_client.get("/sp/attributes/" + kSeid + "/transit");
        return r.status == 200 && r.json()->getValue<int>("seq") == seq &&
               r.json()->getValue<bool>("valid") == valid;
    }
    static Poco::JSON::Array::Ptr outbox(HttpsClient& se, const std::string& status) {
        return se.get("/se/outbox?status=" + status).json()->getArray("entries");
    }
    HttpsClient wallet() const { return m_sp->client(m_pki->cert("wallet"), m_pki->key("wallet")); }
    HttpsClient sync_client(const std::string& cn = "se-sync") const {
        return m_sp->client(m_pki->cert(cn), m_pki->key(cn));
    }

    std::string m_dir;
    std::unique_ptr<TestPki> m_pki;
    std::unique_ptr<TsmdProcess> m_sp, m_se;
};

void expect_error(const HttpResponse& r, int status, const std::string& error,
                  const std::string& naming) {
    EXPECT_EQ(r.status, status) << r.body;
    Poco::JSON::Object::Ptr o;
    try {
        o = r.json();
    } catch (...) {
        ADD_FAILURE() << "not JSON: " << r.body;
        return;
    }
    EXPECT_EQ(o->optValue<std::string>("error", ""), error) << r.body;
    EXPECT_NE(o->optValue<std::string>("message", "").find(naming), std::string::npos) << r.body;
    EXPECT_FALSE(o->has("action")) << r.body;
}

TEST_F(Sync, AValidAttributeThenALossReportReachSpTsmAndTheTopUpIsRefused) {
    start_both();
    HttpsClient se = m_se->client(), w = wallet();
    register_se(se);

    // Fail closed: sp-tsm knows nothing of the SE yet.
    expect_error(w.post("/sp/operations", kTopUp), 403, "product_attribute_invalid", kSeid);

    ASSERT_EQ(set_valid(se, true).status, 200);
    ASSERT_TRUE(eventually([&] { return sp_says(w, 1, true); })) << m_se->log() << m_sp->log();
    const auto state = sp_state(w).json();
    EXPECT_EQ(state->getValue<std::string>("source"), "se");
    EXPECT_EQ(state->getValue<std::string>("event"), "attribute-set");
    EXPECT_EQ(state->getValue<std::string>("updated").size(), 20u);
    ASSERT_TRUE(eventually([&] { return outbox(se, "delivered")->size() == 1; }));
    EXPECT_EQ(outbox(se, "delivered")->getObject(0)->getValue<int>("attempts"), 1);

    // Valid: the top-up starts with the card's first APDU.
    auto op = w.post("/sp/operations", kTopUp);
    ASSERT_EQ(op.status, 201) << op.body;
    EXPECT_EQ(op.json()->getObject("action")->getValue<std::string>("apdu"),
              "00A4040009A0000005591010FFFF");
    // With the check on, an operation names its SE and product.
    expect_error(w.post("/sp/operations", R"({"script":"plain","variables":{"amount":1},)"
                                          R"("productId":"transit"})"),
                 400, "invalid_argument", "seid");
    expect_error(w.post("/sp/operations",
                        R"({"script":"plain","variables":{"amount":1},"seid":")" + kSeid + R"("})"),
                 400, "invalid_argument", "productId");
    expect_error(w.post("/sp/operations", R"({"script":"plain","seid":")" + kSeid +
                                              R"(","productId":"transit","actionCode":5})"),
                 400, "invalid_argument", "actionCode");
    // Another product of the same SE has no attribute: refused.
    std::string health = kTopUp;
    health.replace(health.find("transit"), 7, "health");
    expect_error(w.post("/sp/operations", health), 403, "product_attribute_invalid", "health");

    // Flow B: alice reports her phone lost (the front forwards the wallet's body unchanged).
    auto loss = se.post("/se/loss-reports", R"({"owner":"alice","actionCode":"LOSS"})");
    ASSERT_EQ(loss.status, 200) << loss.body;
    EXPECT_EQ(loss.body, R"({"ses":[")" + kSeid + R"("],"invalidated":1,"outbox":[2]})");
    ASSERT_TRUE(eventually([&] { return sp_says(w, 2, false); })) << m_se->log();
    EXPECT_EQ(sp_state(w).json()->getValue<std::string>("event"), "loss-report");
    expect_error(w.post("/sp/operations", kTopUp), 403, "product_attribute_invalid", kSeid);
    ASSERT_TRUE(eventually([&] { return outbox(se, "delivered")->size() == 2; }));
    EXPECT_EQ(outbox(se, "pending")->size(), 0u);
}

TEST_F(Sync, EntriesWaitWhileSpTsmIsDownAndArriveInOrderWhenItIsBack) {
    start_both();
    HttpsClient se = m_se->client();
    register_se(se);
    ASSERT_EQ(set_valid(se, true).status, 200);
    {
        HttpsClient w = wallet();
        ASSERT_TRUE(eventually([&] { return sp_says(w, 1, true); })) << m_se->log();
    }

    ASSERT_EQ(m_sp->stop(), 0);
    // Four changes while sp-tsm is down: 2 invalid, 3 valid, 4 invalid (loss), 5 valid.
    ASSERT_EQ(set_valid(se, false).status, 200);
    ASSERT_EQ(set_valid(se, true).status, 200);
    ASSERT_EQ(se.post("/se/loss-reports", R"({"owner":"alice"})").status, 200);
    ASSERT_EQ(set_valid(se, true).status, 200);
    // The first is tried again and again, with its reason; the others wait behind it.
    ASSERT_TRUE(eventually([&] {
        const auto p = outbox(se, "pending");
        return p->size() == 4 && p->getObject(0)->getValue<int>("attempts") >= 3;
    })) << se.get("/se/outbox").body;
    const auto pending = outbox(se, "pending");
    EXPECT_EQ(pending->getObject(0)->getValue<int>("seq"), 2);
    EXPECT_FALSE(pending->getObject(0)->getValue<std::string>("lastError").empty());
    for (unsigned i = 1; i < 4; ++i) EXPECT_EQ(pending->getObject(i)->getValue<int>("attempts"), 0);

    ASSERT_TRUE(m_sp->start()) << m_sp->log();
    HttpsClient w = wallet();
    ASSERT_TRUE(eventually([&] { return sp_says(w, 5, true); })) << m_se->log();
    EXPECT_EQ(outbox(se, "pending")->size(), 0u);
    // sp-tsm applied 2, 3, 4, 5 in that order, each once.
    const std::string log = m_sp->log();
    std::vector<int> applied;
    const std::regex line("seq ([0-9]+) from se \\([a-z-]+, (in)?valid\\) applied");
    for (auto it = std::sregex_iterator(log.begin(), log.end(), line); it != std::sregex_iterator();
         ++it)
        applied.push_back(std::stoi((*it)[1]));
    EXPECT_EQ(applied, (std::vector<int>{1, 2, 3, 4, 5})) << log;
    // The loss report at seq 4 was followed by a valid at 5: the top-up goes on.
    EXPECT_EQ(w.post("/sp/operations", kTopUp).status, 201);

    // And a loss report now, while sp-tsm is up, refuses it again.
    ASSERT_EQ(se.post("/se/loss-reports", R"({"owner":"alice"})").status, 200);
    ASSERT_TRUE(eventually([&] { return sp_says(w, 6, false); })) << m_se->log();
    expect_error(w.post("/sp/operations", kTopUp), 403, "product_attribute_invalid", kSeid);
}

TEST_F(Sync, PendingEntriesAreDeliveredAfterSeTsmRestarts) {
    start_both();
    HttpsClient se = m_se->client();
    register_se(se);
    ASSERT_EQ(m_sp->stop(), 0);
    ASSERT_EQ(set_valid(se, true).status, 200);
    ASSERT_EQ(se.post("/se/loss-reports", R"({"owner":"alice"})").status, 200);
    ASSERT_TRUE(eventually(
        [&] { return outbox(se, "pending")->getObject(0)->getValue<int>("attempts") >= 1; }));
    ASSERT_EQ(m_se->stop(), 0);  // with two pending entries in its store

    ASSERT_TRUE(m_sp->start()) << m_sp->log();
    HttpsClient w = wallet();
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    EXPECT_EQ(sp_state(w).status, 404);  // nobody delivers while se-tsm is down

    ASSERT_TRUE(m_se->start()) << m_se->log();
    ASSERT_TRUE(eventually([&] { return sp_says(w, 2, false); })) << m_se->log();
    HttpsClient se2 = m_se->client();
    EXPECT_EQ(outbox(se2, "pending")->size(), 0u);
    EXPECT_EQ(outbox(se2, "delivered")->size(), 2u);
    expect_error(w.post("/sp/operations", kTopUp), 403, "product_attribute_invalid", kSeid);
}

TEST_F(Sync, WhenTheFirstTargetIsDownTheNextOneTakesTheEntry) {
    // Two sp-tsm processes sharing one TSM store; se-tsm offers each entry to a, then b.
    auto a = make_sp_process(R"(,"syncClients":["se-sync"])", m_dir + "/sp-store");
    auto b = make_sp_process(R"(,"syncClients":["se-sync"])", m_dir + "/sp-store");
    // One server certificate for both (the CA bundle then holds no two roots of one name).
    for (const char* f : {"/tsmd.crt", "/tsmd.key"}) write(b->dir() + f, slurp(a->dir() + f));
    make_se("se-sync", {a.get(), b.get()});
    ASSERT_TRUE(a->start()) << a->log();
    ASSERT_TRUE(b->start()) << b->log();
    ASSERT_TRUE(m_se->start()) << m_se->log();
    HttpsClient se = m_se->client();
    register_se(se);
    ASSERT_EQ(set_valid(se, true).status, 200);
    {
        HttpsClient wa = a->client(m_pki->cert("wallet"), m_pki->key("wallet"));
        ASSERT_TRUE(eventually([&] { return sp_says(wa, 1, true); })) << m_se->log();
    }
    EXPECT_NE(a->log().find("seq 1 from se"), std::string::npos);
    EXPECT_EQ(b->log().find("seq 1 from se"), std::string::npos);

    ASSERT_EQ(a->stop(), 0);
    ASSERT_EQ(se.post("/se/loss-reports", R"({"owner":"alice"})").status, 200);
    HttpsClient wb = b->client(m_pki->cert("wallet"), m_pki->key("wallet"));
    ASSERT_TRUE(eventually([&] { return sp_says(wb, 2, false); })) << m_se->log();
    ASSERT_TRUE(eventually([&] { return outbox(se, "delivered")->size() == 2; }));
    EXPECT_EQ(outbox(se, "delivered")->getObject(1)->getValue<int>("attempts"), 1);
    // a shares b's store: back up, it refuses the top-up too.
    ASSERT_TRUE(a->start()) << a->log();
    HttpsClient wa = a->client(m_pki->cert("wallet"), m_pki->key("wallet"));
    EXPECT_TRUE(sp_says(wa, 2, false));
    expect_error(wa.post("/sp/operations", kTopUp), 403, "product_attribute_invalid", kSeid);
}

TEST_F(Sync, ALossReportMidOperationEndsItBeforeTheCredit) {
    start_both();
    HttpsClient se = m_se->client(), w = wallet();
    register_se(se);
    ASSERT_EQ(set_valid(se, true).status, 200);
    ASSERT_TRUE(eventually([&] { return sp_says(w, 1, true); })) << m_se->log();

    auto r = w.post("/sp/operations", kTopUp);
    ASSERT_EQ(r.status, 201) << r.body;
    const std::string op = r.json()->getValue<std::string>("operation");
    r = w.post("/sp/operations/" + op + "/responses", R"({"seq":1,"response":"9000"})");
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.json()->getObject("action")->getValue<std::string>("apdu"), "805C000006");

    // The phone is reported lost while the wallet talks to the card.
    ASSERT_EQ(se.post("/se/loss-reports", R"({"owner":"alice"})").status, 200);
    ASSERT_TRUE(eventually([&] { return sp_says(w, 2, false); })) << m_se->log();

    // The READ BALANCE answer arrives: the run ends there, no CREDIT is asked for.
    const std::string body = R"({"seq":2,"response":"000003E800079000"})";
    auto end = w.post("/sp/operations/" + op + "/responses", body);
    ASSERT_EQ(end.status, 200) << end.body;
    const auto action = end.json()->getObject("action");
    EXPECT_EQ(action->getValue<std::string>("kind"), "done");
    EXPECT_EQ(action->getValue<std::string>("outcome"), "product-attribute-invalid");
    EXPECT_EQ(end.json()->getValue<int>("seq"), 3);
    // A retry of that answer gets the same answer; the operation stays ended.
    EXPECT_EQ(w.post("/sp/operations/" + op + "/responses", body).body, end.body);
    auto s = w.get("/sp/operations/" + op);
    EXPECT_EQ(s.json()->getValue<std::string>("state"), "done");
    EXPECT_EQ(s.json()->getValue<std::string>("outcome"), "product-attribute-invalid");
    EXPECT_EQ(
        w.post("/sp/operations/" + op + "/responses", R"({"seq":3,"response":"9000"})").status,
        409);
}

TEST_F(Sync, OnlySyncClientsMayPostAndOlderUpdatesAreNotApplied) {
    make_sp();
    ASSERT_TRUE(m_sp->start()) << m_sp->log();
    HttpsClient sync = sync_client(), intruder = sync_client("intruder"), w = wallet();
    auto msg = [](int seq, bool valid, const std::string& source = "se") {
        return R"({"seq":)" + std::to_string(seq) + R"(,"seid":")" + kSeid +
               R"(","product":"transit","valid":)" + (valid ? "true" : "false") +
               R"(,"event":"attribute-set","source":")" + source + R"("})";
    };
    auto applied = [&](const HttpResponse& r) {
        EXPECT_EQ(r.status, 200) << r.body;
        return r.json()->getValue<bool>("applied");
    };
    EXPECT_EQ(sync.post("/sp/attributes", msg(5, true)).body,
              R"({"seid":")" + kSeid + R"(","product":"transit","valid":true,"applied":true})");
    EXPECT_FALSE(applied(sync.post("/sp/attributes", msg(5, true))));  // the same again
    auto older = sync.post("/sp/attributes", msg(3, false));
    EXPECT_FALSE(applied(older));
    EXPECT_TRUE(older.json()->getValue<bool>("valid"));  // still the newer state
    EXPECT_TRUE(applied(sync.post("/sp/attributes", msg(6, false))));
    EXPECT_TRUE(sp_says(w, 6, false));
    EXPECT_TRUE(applied(sync.post("/sp/attributes", msg(1, true, "se-b"))));  // its own numbering
    EXPECT_TRUE(sp_says(w, 1, true));

    // syncClients: neither another certificate nor the wallet may post.
    expect_error(intruder.post("/sp/attributes", msg(9, false)), 403, "forbidden", "intruder");
    expect_error(w.post("/sp/attributes", msg(9, false)), 403, "forbidden", "wallet");
    EXPECT_TRUE(sp_says(w, 1, true));

    expect_error(sync.post("/sp/attributes", "nope"), 400, "malformed_request", "JSON");
    expect_error(sync.post("/sp/attributes", R"({"seq":1})"), 400, "invalid_argument", "seid");
    expect_error(sync.post("/sp/attributes", msg(0, true)), 400, "invalid_argument", "seq");
    expect_error(w.get("/sp/attributes/" + kSeid + "/health"), 404, "not_found", "health");
    expect_error(w.get("/sp/attributes/zz/transit"), 404, "not_found", "zz");
    expect_error(w.get("/sp/attributes/" + kSeid), 404, "not_found", "route");
    expect_error(sync.get("/sp/attributes"), 405, "method_not_allowed", "POST");
    expect_error(sync.request("PUT", "/sp/attributes/" + kSeid + "/transit", "{}"), 405,
                 "method_not_allowed", "GET");
}

TEST_F(Sync, EntriesSpTsmRefusesAreRejectedNotRetried) {
    make_sp();
    make_se("intruder");  // a certificate sp-tsm's syncClients does not list
    ASSERT_TRUE(m_sp->start()) << m_sp->log();
    ASSERT_TRUE(m_se->start()) << m_se->log();
    HttpsClient se = m_se->client(), w = wallet();
    register_se(se);
    ASSERT_EQ(set_valid(se, true).status, 200);
    ASSERT_EQ(se.post("/se/loss-reports", R"({"owner":"alice"})").status, 200);
    ASSERT_TRUE(eventually([&] { return outbox(se, "rejected")->size() == 2; }))
        << se.get("/se/outbox").body << m_se->log();
    std::this_thread::sleep_for(std::chrono::milliseconds(600));  // several retry periods
    const auto rejected = outbox(se, "rejected");
    ASSERT_EQ(rejected->size(), 2u);
    for (unsigned i = 0; i < 2; ++i) {
        EXPECT_EQ(rejected->getObject(i)->getValue<int>("attempts"), 1);
        EXPECT_NE(rejected->getObject(i)->getValue<std::string>("lastError").find("403"),
                  std::string::npos);
    }
    EXPECT_EQ(outbox(se, "pending")->size(), 0u);
    EXPECT_NE(m_se->log().find("rejected by sp-tsm"), std::string::npos);
    EXPECT_EQ(sp_state(w).status, 404);

    // The operator fixes sp-tsm's syncClients and puts both entries back in line.
    std::string config = slurp(m_sp->config());
    config.replace(config.find(R"(["se-sync"])"), 11, R"(["se-sync","intruder"])");
    write(m_sp->config(), config);
    ASSERT_EQ(m_sp->stop(), 0);
    ASSERT_TRUE(m_sp->start()) << m_sp->log();
    HttpsClient w2 = wallet();
    for (const char* seq : {"1", "2"}) {
        auto r = se.post(std::string("/se/outbox/") + seq + "/retry", "");
        EXPECT_EQ(r.status, 200) << r.body;
    }
    ASSERT_TRUE(eventually([&] { return sp_says(w2, 2, false); })) << m_se->log();
    ASSERT_TRUE(eventually([&] { return outbox(se, "delivered")->size() == 2; }));
    EXPECT_EQ(outbox(se, "delivered")->getObject(0)->getValue<int>("attempts"), 2);
    expect_error(se.post("/se/outbox/1/retry", ""), 409, "wrong_state", "delivered");
    expect_error(se.post("/se/outbox/9/retry", ""), 404, "not_found", "9");
}

TEST_F(Sync, WithoutTheCheckOperationsRunAndBadSettingsRefuseTheInstance) {
    make_sp(R"(,"syncClients":["se-sync"],"checkAttributes":false)");
    ASSERT_TRUE(m_sp->start()) << m_sp->log();
    {
        HttpsClient w = wallet();
        EXPECT_EQ(w.post("/sp/operations", R"({"script":"plain","variables":{"amount":1}})").status,
                  201);
        EXPECT_EQ(w.post("/sp/operations", kTopUp).status, 201);  // productId accepted, unchecked
    }
    ASSERT_EQ(m_sp->stop(), 0);

    for (const auto& [extra, naming] :
         {std::pair{R"(,"syncClients":"se-sync")", "syncClients"},
          std::pair{R"(,"syncClients":[""])", "syncClients[0]"},
          std::pair{R"(,"checkAttributes":"yes")", "checkAttributes"}}) {
        make_sp(extra);
        EXPECT_FALSE(m_sp->start()) << extra;
        EXPECT_EQ(m_sp->exit_code(), 78);
        EXPECT_NE(m_sp->log().find(naming), std::string::npos) << m_sp->log();
    }
    make_sp();
    for (
        const auto& [sync, naming] :
        {std::pair{R"({"targets":[]})", "sync.targets"},
         std::pair{R"({"targets":["http://127.0.0.1:1/sp"]})", "sync.targets[0]"},
         std::pair{R"({"targets":["https://127.0.0.1:1/sp"]})", "sync.ca"},
         std::pair{
             R"({"targets":["https://127.0.0.1:1/sp"],"ca":"/nonexistent","certificate":"c","key":"k"})",
             "/nonexistent"},
         std::pair{
             R"({"targets":["https://127.0.0.1:1/sp"],"ca":"a","certificate":"c","key":"k","retryMs":0})",
             "sync.retryMs"},
         std::pair{
             R"({"targets":["https://127.0.0.1:1/sp"],"ca":"a","certificate":"c","key":"k","colour":1})",
             "sync.colour"}}) {
        TsmdProcess se(
            "[" + instance("se", env("TSM_SE_PLUGIN"), std::string(R"({"sync":)") + sync + "}") +
            "]");
        EXPECT_FALSE(se.start()) << sync;
        EXPECT_EQ(se.exit_code(), 78);
        EXPECT_NE(se.log().find(naming), std::string::npos) << se.log();
    }
}

}  // namespace
}  // namespace kms::test
