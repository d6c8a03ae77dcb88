// se-tsm (tsm-services/se-tsm) as a tsmd plugin, run by a real tsmd over TLS on 127.0.0.1:
// products and SEs registered, the GP card life cycle walked, product private attributes set,
// a loss report (flow B) invalidating them and queuing outbox entries for sp-tsm, one entry
// marked delivered, the state surviving a restart and seen by a second tsmd sharing the TSM
// store, the 4xx answers naming the field, and with "operators" (mTLS with a test CA) a wallet
// reaching only its own SEs.
#include <Poco/JSON/Array.h>
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <set>
#include <thread>
#include <vector>

#include "test_pki.hpp"
#include "tsmd_process.hpp"

namespace kms::test {
namespace {

const std::string kCplc(84, '4');

const std::string kProduct = R"({"id":"nxp-jcop4","vendor":"NXP","chipModel":"JCOP 4 P71",
  "gpVersion":"2.2","scp02":["15","55"],"scp03":["70"],"isdAid":"a000000151000000",
  "diversification":"EMV-CPS11","defaultKeyVersion":32,"actionCode":"ignored"})";

std::string se_body(const std::string& seid, const std::string& owner) {
    return R"({"seid":")" + seid + R"(","cplc":")" + kCplc +
           R"(","productId":"nxp-jcop4","isdKey":{"keyId":"issuer-isd-master"},"owner":")" + owner +
           R"("})";
}

/// Asserts a JSON error answer: status, error code and a message containing @p naming.
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
}

std::string plugins(const std::string& name = "se") {
    return "[" + instance(name, env("TSM_SE_PLUGIN"), R"({"kms":{}})") + "]";
}

TEST(SeTsm, ThePluginExportsOnlyItsEntryPoint) {
    void* lib = ::dlopen(env("TSM_SE_PLUGIN").c_str(), RTLD_NOW | RTLD_LOCAL);
    ASSERT_NE(lib, nullptr) << ::dlerror();
    EXPECT_NE(::dlsym(lib, "tsm_plugin_entry"), nullptr);
    // The domain's functions are linked in but local (plugin/exports.map).
    EXPECT_EQ(::dlsym(lib,
                      "_ZN3kms3tsm2se14decode_productERKNSt7__cxx1112basic_stringIcSt11char_"
                      "traitsIcESaIcEEE"),
              nullptr);
    ::dlclose(lib);
}

TEST(SeTsm, RegistersWalksTheLifeCycleReportsALossAndKeepsItAll) {
    TsmdProcess t(plugins());
    ASSERT_TRUE(t.start()) << t.log();
    HttpsClient c = t.client();

    auto p = c.post("/se/products", kProduct);
    ASSERT_EQ(p.status, 201) << p.body;
    EXPECT_EQ(p.body,
              R"({"id":"nxp-jcop4","vendor":"NXP","chipModel":"JCOP 4 P71","gpVersion":"2.2",)"
              R"("scp02":["15","55"],"scp03":["70"],"isdAid":"A000000151000000",)"
              R"("diversification":"EMV-CPS11","defaultKeyVersion":32})");
    EXPECT_EQ(c.get("/se/products/nxp-jcop4").body, p.body);
    expect_error(c.post("/se/products", kProduct), 409, "conflict", "nxp-jcop4");

    auto s = c.post("/se/ses", se_body("a1b2c3d4e5f60001", "alice"));
    ASSERT_EQ(s.status, 201) << s.body;
    EXPECT_EQ(s.body, R"({"seid":"A1B2C3D4E5F60001","cplc":")" + kCplc +
                          R"(","productId":"nxp-jcop4","isdKey":{"keyId":"issuer-isd-master",)"
                          R"("diversification":"EMV-CPS11"},"state":"OP_READY","owner":"alice"})");
    ASSERT_EQ(c.post("/se/ses", se_body("A1B2C3D4E5F60002", "alice")).status, 201);
    ASSERT_EQ(c.post("/se/ses", se_body("B0B0B0B000000001", "bob")).status, 201);
    expect_error(c.post("/se/ses", se_body("A1B2C3D4E5F60001", "bob")), 409, "conflict",
                 "A1B2C3D4E5F60001");

    // The GP card life cycle: forward, lock and unlock; no way back.
    for (const char* state : {"INITIALIZED", "SECURED", "CARD_LOCKED", "SECURED"}) {
        auto r = c.post("/se/ses/A1B2C3D4E5F60001/lifecycle",
                        std::string(R"({"state":")") + state + R"(","actionCode":"x"})");
        EXPECT_EQ(r.status, 200) << state << r.body;
        EXPECT_EQ(r.json()->getValue<std::string>("state"), state);
    }
    expect_error(c.post("/se/ses/A1B2C3D4E5F60001/lifecycle", R"({"state":"OP_READY"})"), 409,
                 "wrong_state", "SECURED -> OP_READY");
    expect_error(c.post("/se/ses/A1B2C3D4E5F60002/lifecycle", R"({"state":"SECURED"})"), 409,
                 "wrong_state", "OP_READY -> SECURED");
    EXPECT_EQ(c.get("/se/ses/a1b2c3d4e5f60001").json()->getValue<std::string>("state"), "SECURED");

    // Product private attributes.
    for (auto [seid, product] :
         {std::pair{"A1B2C3D4E5F60001", "transit"}, std::pair{"A1B2C3D4E5F60001", "health"},
          std::pair{"A1B2C3D4E5F60002", "transit"}, std::pair{"B0B0B0B000000001", "transit"}}) {
        auto r = c.request("PUT", std::string("/se/ses/") + seid + "/attributes/" + product,
                           R"({"valid":true})");
        EXPECT_EQ(r.status, 200) << r.body;
    }
    EXPECT_EQ(c.get("/se/ses/A1B2C3D4E5F60001/attributes/transit").body,
              R"({"seid":"A1B2C3D4E5F60001","product":"transit","valid":true})");

    // Flow B: alice loses her phone.
    auto loss = c.post("/se/loss-reports", R"({"owner":"alice","actionCode":"loss"})");
    ASSERT_EQ(loss.status, 200) << loss.body;
    // Entries 1 to 4 are the four attributes set above: every change is queued for sp-tsm.
    EXPECT_EQ(
        loss.body,
        R"({"ses":["A1B2C3D4E5F60001","A1B2C3D4E5F60002"],"invalidated":3,"outbox":[5,6,7]})");
    for (const char* path : {"/se/ses/A1B2C3D4E5F60001/attributes/transit",
                             "/se/ses/A1B2C3D4E5F60001/attributes/health",
                             "/se/ses/A1B2C3D4E5F60002/attributes/transit"})
        EXPECT_FALSE(c.get(path).json()->getValue<bool>("valid")) << path;
    EXPECT_TRUE(
        c.get("/se/ses/B0B0B0B000000001/attributes/transit").json()->getValue<bool>("valid"));

    auto pending = c.get("/se/outbox?status=pending");
    ASSERT_EQ(pending.status, 200);
    auto entries = pending.json()->getArray("entries");
    ASSERT_EQ(entries->size(), 7u) << pending.body;
    EXPECT_EQ(
        pending.body,
        R"({"entries":[)"
        R"({"seq":1,"seid":"A1B2C3D4E5F60001","product":"transit","valid":true,"event":"attribute-set","status":"pending","attempts":0},)"
        R"({"seq":2,"seid":"A1B2C3D4E5F60001","product":"health","valid":true,"event":"attribute-set","status":"pending","attempts":0},)"
        R"({"seq":3,"seid":"A1B2C3D4E5F60002","product":"transit","valid":true,"event":"attribute-set","status":"pending","attempts":0},)"
        R"({"seq":4,"seid":"B0B0B0B000000001","product":"transit","valid":true,"event":"attribute-set","status":"pending","attempts":0},)"
        R"({"seq":5,"seid":"A1B2C3D4E5F60001","product":"transit","valid":false,"event":"loss-report","status":"pending","attempts":0},)"
        R"({"seq":6,"seid":"A1B2C3D4E5F60001","product":"health","valid":false,"event":"loss-report","status":"pending","attempts":0},)"
        R"({"seq":7,"seid":"A1B2C3D4E5F60002","product":"transit","valid":false,"event":"loss-report","status":"pending","attempts":0}]})");
    auto delivered = c.post("/se/outbox/6/delivered", "");
    EXPECT_EQ(delivered.status, 200) << delivered.body;
    EXPECT_EQ(delivered.json()->getValue<std::string>("status"), "delivered");
    EXPECT_EQ(delivered.json()->getValue<int>("attempts"), 1);
    EXPECT_EQ(c.get("/se/outbox?status=pending").json()->getArray("entries")->size(), 6u);

    // Restarted, tsmd has it all: the state lives in the TSM store only.
    ASSERT_EQ(t.stop(), 0) << t.log();
    ASSERT_TRUE(t.start()) << t.log();
    HttpsClient c2 = t.client();
    EXPECT_EQ(c2.get("/se/products/nxp-jcop4").body, p.body);
    EXPECT_EQ(c2.get("/se/ses/A1B2C3D4E5F60001").json()->getValue<std::string>("state"), "SECURED");
    EXPECT_FALSE(
        c2.get("/se/ses/A1B2C3D4E5F60001/attributes/health").json()->getValue<bool>("valid"));
    auto after = c2.get("/se/outbox?status=pending").json()->getArray("entries");
    ASSERT_EQ(after->size(), 6u);
    EXPECT_EQ(after->getObject(4)->getValue<int>("seq"), 5);
    EXPECT_EQ(after->getObject(5)->getValue<int>("seq"), 7);
    auto done = c2.get("/se/outbox?status=delivered").json()->getArray("entries");
    ASSERT_EQ(done->size(), 1u);
    EXPECT_EQ(done->getObject(0)->getValue<int>("seq"), 6);
    EXPECT_EQ(c2.get("/se/outbox").json()->getArray("entries")->size(), 7u);
    EXPECT_EQ(c2.get("/se/outbox?status=rejected").json()->getArray("entries")->size(), 0u);
    // Sequence numbers go on after the restart.
    EXPECT_EQ(c2.post("/se/loss-reports", R"({"owner":"bob"})").body,
              R"({"ses":["B0B0B0B000000001"],"invalidated":1,"outbox":[8]})");
    auto terminated = c2.post("/se/ses/B0B0B0B000000001/lifecycle", R"({"state":"TERMINATED"})");
    EXPECT_EQ(terminated.status, 200) << terminated.body;
    // Termination invalidates (again) and queues one entry per attribute.
    auto all = c2.get("/se/outbox").json()->getArray("entries");
    ASSERT_EQ(all->size(), 9u);
    EXPECT_EQ(all->getObject(8)->getValue<std::string>("event"), "terminated");
    EXPECT_EQ(all->getObject(8)->getValue<std::string>("seid"), "B0B0B0B000000001");
    EXPECT_FALSE(all->getObject(8)->getValue<bool>("valid"));
    expect_error(
        c2.request("PUT", "/se/ses/B0B0B0B000000001/attributes/transit", R"({"valid":true})"), 409,
        "wrong_state", "TERMINATED");
    expect_error(c2.post("/se/ses/B0B0B0B000000001/lifecycle", R"({"state":"SECURED"})"), 409,
                 "wrong_state", "TERMINATED -> SECURED");
}

TEST(SeTsm, TwoTsmdProcessesSharingTheTsmStoreSeeTheSameState) {
    char tmpl[] = "/tmp/se-tsm-store-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    const std::string store = tmpl;
    {
        TsmdProcess a(plugins(), store), b(plugins(), store);
        ASSERT_TRUE(a.start()) << a.log();
        ASSERT_TRUE(b.start()) << b.log();
        HttpsClient ca = a.client(), cb = b.client();
        ASSERT_EQ(ca.post("/se/products", kProduct).status, 201);
        ASSERT_EQ(cb.post("/se/ses", se_body("C0C0C0C000000001", "carol")).status, 201);
        ASSERT_EQ(
            ca.request("PUT", "/se/ses/C0C0C0C000000001/attributes/transit", R"({"valid":true})")
                .status,
            200);
        EXPECT_EQ(cb.post("/se/loss-reports", R"({"owner":"carol"})").status, 200);
        EXPECT_FALSE(
            ca.get("/se/ses/C0C0C0C000000001/attributes/transit").json()->getValue<bool>("valid"));
        EXPECT_EQ(ca.get("/se/outbox?status=pending").json()->getArray("entries")->size(), 2u);
    }
    std::error_code ec;
    std::filesystem::remove_all(store, ec);
}

TEST(SeTsm, TwoProcessesOnOneStoreLoseNoUpdateAndTakeNoNumberTwice) {
    // ABI 2's compare-and-put in se-tsm: two tsmd processes sharing the store register SEs of
    // one owner and set attributes at the same time; the owner index keeps every SE, the outbox
    // numbers are all different, and one SEID registered through both at once is one SE.
    char tmpl[] = "/tmp/se-tsm-store-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    const std::string store = tmpl;
    {
        TsmdProcess a(plugins(), store), b(plugins(), store);
        ASSERT_TRUE(a.start()) << a.log();
        ASSERT_TRUE(b.start()) << b.log();
        ASSERT_EQ(a.client().post("/se/products", kProduct).status, 201);
        constexpr int kThreads = 8, kEach = 5;
        std::atomic<int> failures{0}, created{0}, conflicts{0};
        std::vector<std::thread> threads;
        for (int i = 0; i < kThreads; ++i)
            threads.emplace_back([&, i] {
                HttpsClient c = (i % 2 == 0 ? a : b).client();
                for (int n = 0; n < kEach; ++n) {
                    char seid[17];
                    std::snprintf(seid, sizeof seid, "D0D0%04X%08X", i, n);
                    if (c.post("/se/ses", se_body(seid, "dave")).status != 201) ++failures;
                    if (c.request("PUT", std::string("/se/ses/") + seid + "/attributes/transit",
                                  R"({"valid":true})")
                            .status != 200)
                        ++failures;
                    // The same new SEID from both processes at once: one registration.
                    char same[17];
                    std::snprintf(same, sizeof same, "E0E0%04X%08X", i / 2, n);
                    const int st = c.post("/se/ses", se_body(same, "erin")).status;
                    if (st == 201)
                        ++created;
                    else if (st == 409)
                        ++conflicts;
                    else
                        ++failures;
                }
            });
        for (auto& t : threads) t.join();
        EXPECT_EQ(failures.load(), 0);
        EXPECT_EQ(created.load(), kThreads / 2 * kEach);
        EXPECT_EQ(conflicts.load(), kThreads / 2 * kEach);
        const auto report = b.client().post("/se/loss-reports", R"({"owner":"dave"})");
        ASSERT_EQ(report.status, 200) << report.body;
        EXPECT_EQ(report.json()->getArray("ses")->size(), std::size_t{kThreads * kEach});
        const auto erin = a.client().post("/se/loss-reports", R"({"owner":"erin"})");
        ASSERT_EQ(erin.status, 200) << erin.body;
        EXPECT_EQ(erin.json()->getArray("ses")->size(), std::size_t{kThreads / 2 * kEach});
        // 40 attribute-set entries and 40 loss-report entries, numbered 1..80 once each.
        const auto outbox = a.client().get("/se/outbox").json()->getArray("entries");
        std::set<int> seqs;
        for (std::size_t k = 0; k < outbox->size(); ++k)
            seqs.insert(outbox->getObject(static_cast<unsigned>(k))->getValue<int>("seq"));
        EXPECT_EQ(outbox->size(), std::size_t{2 * kThreads * kEach});
        EXPECT_EQ(seqs.size(), outbox->size()) << "an outbox number taken twice";
    }
    std::error_code ec;
    std::filesystem::remove_all(store, ec);
}

TEST(SeTsm, ConcurrentRequestsOnOneOwnerLoseNoIndexUpdate) {
    TsmdProcess t(plugins());
    ASSERT_TRUE(t.start()) << t.log();
    ASSERT_EQ(t.client().post("/se/products", kProduct).status, 201);
    // tsmd calls handle() from several threads; every SE registered here goes into one owner's
    // index, which only se-tsm's serialization keeps whole.
    constexpr int kThreads = 4, kEach = 8;
    std::vector<std::thread> threads;
    std::atomic<int> failures{0};
    for (int i = 0; i < kThreads; ++i)
        threads.emplace_back([&, i] {
            HttpsClient c = t.client();
            for (int k = 0; k < kEach; ++k) {
                char seid[17];
                std::snprintf(seid, sizeof seid, "E0E0E0E0%04X%04X", i, k);
                if (c.post("/se/ses", se_body(seid, "erin")).status != 201) ++failures;
                if (c.request("PUT", std::string("/se/ses/") + seid + "/attributes/transit",
                              R"({"valid":true})")
                        .status != 200)
                    ++failures;
            }
        });
    for (auto& th : threads) th.join();
    EXPECT_EQ(failures, 0);
    auto loss = t.client().post("/se/loss-reports", R"({"owner":"erin"})");
    ASSERT_EQ(loss.status, 200) << loss.body;
    EXPECT_EQ(loss.json()->getArray("ses")->size(), std::size_t{kThreads * kEach});
    EXPECT_EQ(loss.json()->getValue<int>("invalidated"), kThreads * kEach);
    // One entry per attribute set, one per attribute invalidated.
    EXPECT_EQ(t.client().get("/se/outbox?status=pending").json()->getArray("entries")->size(),
              std::size_t{2 * kThreads * kEach});
}

TEST(SeTsm, WithOperatorsAWalletReachesOnlyItsOwnSesAndLoss) {
    char tmpl[] = "/tmp/se-access-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    const std::string dir = tmpl;
    TestPki pki(dir);
    for (const char* cn : {"operator", "alice", "bob"}) pki.issue(cn);
    TsmdProcess t(
        "[" + instance("se", env("TSM_SE_PLUGIN"), R"({"kms":{},"operators":["operator"]})") + "]",
        "store", pki.ca_file());
    ASSERT_TRUE(t.start()) << t.log();
    HttpsClient op = t.client(pki.cert("operator"), pki.key("operator"));
    HttpsClient alice = t.client(pki.cert("alice"), pki.key("alice"));
    HttpsClient bob = t.client(pki.cert("bob"), pki.key("bob"));
    ASSERT_EQ(op.post("/se/products", kProduct).status, 201);
    ASSERT_EQ(op.post("/se/ses", se_body("a1b2c3d4e5f60001", "alice")).status, 201);
    ASSERT_EQ(op.post("/se/ses", se_body("b0b0b0b0b0b00001", "bob")).status, 201);

    // Her own SE; bob's answers exactly as a missing one does.
    EXPECT_EQ(alice.get("/se/ses/A1B2C3D4E5F60001").status, 200);
    expect_error(alice.get("/se/ses/B0B0B0B0B0B00001"), 404, "not_found",
                 "no SE with seid B0B0B0B0B0B00001");
    expect_error(alice.get("/se/ses/C0C0C0C0C0C00001"), 404, "not_found",
                 "no SE with seid C0C0C0C0C0C00001");
    // Card operations: hers pass the access check (503 here: this instance has no kms).
    expect_error(alice.post("/se/ses/A1B2C3D4E5F60001/operations", R"({"operation":"lock"})"), 503,
                 "kms_unavailable", "kms");
    expect_error(alice.post("/se/ses/B0B0B0B0B0B00001/operations", R"({"operation":"lock"})"), 404,
                 "not_found", "B0B0B0B0B0B00001");
    // The operators' routes.
    for (const auto& [method, path] : std::vector<std::pair<std::string, std::string>>{
             {"POST", "/se/products"},
             {"GET", "/se/products/nxp-jcop4"},
             {"POST", "/se/ses"},
             {"POST", "/se/ses/A1B2C3D4E5F60001/lifecycle"},
             {"GET", "/se/ses/A1B2C3D4E5F60001/attributes/transit"},
             {"GET", "/se/outbox"}}) {
        const auto r = alice.request(method, path, method == "POST" ? "{}" : "");
        expect_error(r, 403, "forbidden", "'alice' is not one of this se-tsm's operators");
        EXPECT_NE(r.body.find(method + " " + path.substr(3)), std::string::npos) << r.body;
    }
    // Her own loss only.
    expect_error(alice.post("/se/loss-reports", R"({"owner":"bob"})"), 403, "forbidden",
                 "only its own loss: owner 'bob' is not 'alice'");
    EXPECT_EQ(op.get("/se/ses/B0B0B0B0B0B00001").json()->getValue<std::string>("state"),
              "OP_READY");
    const auto own = alice.post("/se/loss-reports", R"({"owner":"alice"})");
    ASSERT_EQ(own.status, 200) << own.body;
    EXPECT_NE(own.body.find("A1B2C3D4E5F60001"), std::string::npos) << own.body;
    // The operator reaches everything, including bob's SE and his loss.
    EXPECT_EQ(op.get("/se/ses/B0B0B0B0B0B00001").status, 200);
    EXPECT_EQ(op.post("/se/loss-reports", R"({"owner":"bob"})").status, 200);
    EXPECT_EQ(bob.get("/se/ses/B0B0B0B0B0B00001").status, 200);
    t.stop();

    for (const char* bad :
         {R"("operators":"operator")", R"("operators":[])", R"("operators":[""])"}) {
        TsmdProcess u(
            "[" + instance("se", env("TSM_SE_PLUGIN"), "{\"kms\":{}," + std::string(bad) + "}") +
            "]");
        EXPECT_FALSE(u.start()) << bad;
        EXPECT_EQ(u.exit_code(), 78) << bad;
        EXPECT_NE(u.log().find("operators"), std::string::npos) << u.log();
    }
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
}

TEST(SeTsm, BadRequestsAreClear4xxNamingTheField) {
    TsmdProcess t(plugins());
    ASSERT_TRUE(t.start()) << t.log();
    HttpsClient c = t.client();
    ASSERT_EQ(c.post("/se/products", kProduct).status, 201);
    ASSERT_EQ(c.post("/se/ses", se_body("D0D0D0D000000001", "dave")).status, 201);

    struct Case {
        std::string method, path, body;
        int status;
        std::string error, naming;
    } cases[] = {
        {"POST", "/se/products", "not json", 400, "malformed_request", "not JSON"},
        {"POST", "/se/products", "[1]", 400, "malformed_request", "object"},
        {"POST", "/se/products", "", 400, "malformed_request", "object"},
        {"POST", "/se/products", R"({"id":"x"})", 400, "invalid_argument", "vendor"},
        {"POST", "/se/products", R"({"id":7,"vendor":"v"})", 400, "invalid_argument",
         "id must be a string"},
        {"POST", "/se/products",
         R"({"id":"p2","vendor":"v","chipModel":"m","gpVersion":"3.0","scp02":["15"],"isdAid":"A000000151","diversification":"none","defaultKeyVersion":1})",
         400, "invalid_argument", "gpVersion"},
        {"POST", "/se/products",
         R"({"id":"p2","vendor":"v","chipModel":"m","gpVersion":"2.2","scp02":["1G"],"isdAid":"A000000151","diversification":"none","defaultKeyVersion":1})",
         400, "invalid_argument", "scp02[0]"},
        {"POST", "/se/products",
         R"({"id":"p2","vendor":"v","chipModel":"m","gpVersion":"2.2","scp02":["15"],"isdAid":"A0","diversification":"none","defaultKeyVersion":1})",
         400, "invalid_argument", "isdAid"},
        {"POST", "/se/products",
         R"({"id":"p2","vendor":"v","chipModel":"m","gpVersion":"2.2","scp02":["15"],"isdAid":"A000000151","diversification":"VISA","defaultKeyVersion":1})",
         400, "invalid_argument", "diversification"},
        {"POST", "/se/products",
         R"({"id":"p2","vendor":"v","chipModel":"m","gpVersion":"2.2","scp02":["15"],"isdAid":"A000000151","diversification":"none","defaultKeyVersion":200})",
         400, "invalid_argument", "defaultKeyVersion"},
        {"GET", "/se/products/unknown", "", 404, "not_found", "unknown"},
        {"POST", "/se/ses", se_body("D0D0", "dave"), 400, "invalid_argument", "seid"},
        {"POST", "/se/ses",
         R"({"seid":"D0D0D0D000000002","cplc":"00","productId":"nxp-jcop4","isdKey":{"keyId":"k"},"owner":"dave"})",
         400, "invalid_argument", "cplc"},
        {"POST", "/se/ses",
         R"({"seid":"D0D0D0D000000002","cplc":")" + kCplc +
             R"(","productId":"nxp-jcop4","owner":"dave"})",
         400, "invalid_argument", "isdKey"},
        {"POST", "/se/ses",
         R"({"seid":"D0D0D0D000000002","cplc":")" + kCplc +
             R"(","productId":"nxp-jcop4","isdKey":{},"owner":"dave"})",
         400, "invalid_argument", "isdKey.keyId"},
        {"POST", "/se/ses",
         R"({"seid":"D0D0D0D000000002","cplc":")" + kCplc +
             R"(","productId":"nxp-jcop4","isdKey":{"keyId":"k","diversification":"x"},"owner":"dave"})",
         400, "invalid_argument", "isdKey.diversification"},
        {"POST", "/se/ses",
         R"({"seid":"D0D0D0D000000002","cplc":")" + kCplc +
             R"(","productId":"nxp-jcop4","isdKey":{"keyId":"k"},"owner":"da ve"})",
         400, "invalid_argument", "owner"},
        {"POST", "/se/ses",
         R"({"seid":"D0D0D0D000000002","cplc":")" + kCplc +
             R"(","productId":"other","isdKey":{"keyId":"k"},"owner":"dave"})",
         404, "not_found", "productId"},
        {"GET", "/se/ses/D0D0D0D000000009", "", 404, "not_found", "D0D0D0D000000009"},
        {"POST", "/se/ses/D0D0D0D000000001/lifecycle", R"({"state":"LOCKED"})", 400,
         "invalid_argument", "state"},
        {"POST", "/se/ses/D0D0D0D000000001/lifecycle", R"({})", 400, "invalid_argument", "state"},
        {"POST", "/se/ses/D0D0D0D000000009/lifecycle", R"({"state":"INITIALIZED"})", 404,
         "not_found", "D0D0D0D000000009"},
        {"PUT", "/se/ses/D0D0D0D000000001/attributes/transit", R"({"valid":"yes"})", 400,
         "invalid_argument", "valid"},
        {"PUT", "/se/ses/D0D0D0D000000001/attributes/transit", R"({})", 400, "invalid_argument",
         "valid"},
        {"PUT", "/se/ses/D0D0D0D000000009/attributes/transit", R"({"valid":true})", 404,
         "not_found", "D0D0D0D000000009"},
        {"GET", "/se/ses/D0D0D0D000000001/attributes/transit", "", 404, "not_found", "transit"},
        {"POST", "/se/loss-reports", R"({})", 400, "invalid_argument", "owner"},
        {"POST", "/se/loss-reports", R"({"owner":"nobody"})", 404, "not_found", "owner"},
        {"POST", "/se/loss-reports", R"({"owner":"dave","actionCode":7})", 400, "invalid_argument",
         "actionCode"},
        {"GET", "/se/outbox?status=lost", "", 400, "invalid_argument", "status"},
        {"POST", "/se/outbox/99/delivered", "", 404, "not_found", "99"},
        {"POST", "/se/outbox/x/delivered", "", 404, "not_found", "x"},
        {"GET", "/se/nothing", "", 404, "not_found", "/nothing"},
        {"DELETE", "/se/products/nxp-jcop4", "", 405, "method_not_allowed", "DELETE"},
    };
    for (const Case& k : cases) {
        SCOPED_TRACE(k.method + " " + k.path + " " + k.body);
        expect_error(c.request(k.method, k.path, k.body), k.status, k.error, k.naming);
    }
    // Nothing of that changed the state.
    EXPECT_EQ(c.get("/se/ses/D0D0D0D000000001").json()->getValue<std::string>("state"), "OP_READY");
    EXPECT_EQ(c.get("/se/outbox").json()->getArray("entries")->size(), 0u);
}

}  // namespace
}  // namespace kms::test
