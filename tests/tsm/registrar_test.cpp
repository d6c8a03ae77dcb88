// Service instances registering themselves at the front (tsm-services/front/registrar, the
// "front" configuration of sp-tsm and se-tsm): real tsmd processes on 127.0.0.1 over TLS, the
// front requiring client certificates from a test CA and naming the registrars' CNs. An
// instance appears in GET /front/routes and gets traffic, renews past its TTL, a clean stop
// deregisters at once, a SIGKILLed one expires, one started before the front registers once the
// front is up or back after a restart, a CN outside `registrars` is refused (403, logged by the
// instance), codes at two paths are registered as a route per code (and bad "routes" get a 400
// naming the field), bad "front" configurations stop tsmd with exit 78 naming the field. And the
// Registrar class alone against a front that hangs in the TLS handshake and one that refuses
// connections: neither delays the other, and stop() is bounded. Meson test front-registrar.
#include "registrar.hpp"

#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <functional>
#include <memory>
#include <mutex>

#include "test_pki.hpp"
#include "tsmd_process.hpp"

namespace kms::test {
namespace {

using Clock = std::chrono::steady_clock;
using Poco::JSON::Object;

/// Polls @p done every 50 ms for up to @p ms; true once it holds.
bool eventually(const std::function<bool()>& done, int ms) {
    const auto deadline = Clock::now() + std::chrono::milliseconds(ms);
    while (Clock::now() < deadline) {
        if (done()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return done();
}

std::size_t count(const std::string& text, const std::string& what) {
    std::size_t n = 0;
    for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
}

/// A purse top-up without secure channel or KMS step (the first action is a SELECT).
const char* kPlainScript = R"({"name": "plain-top-up", "version": 1,
  "inputs": [{"name": "amount", "type": "u32"}],
  "steps": [
    {"id": "select", "kind": "apdu", "header": "00 A4 04 00", "data": "A0000005591010FFFF"},
    {"id": "select-ok", "kind": "expect", "sw": ["9000"], "onFail": "purse-not-found"},
    {"id": "done", "kind": "end", "outcome": "success"}]})";

const std::string kProduct = R"({"id":"dev-card","vendor":"Demo","chipModel":"virtual-se",
  "gpVersion":"2.2","scp02":["55"],"scp03":[],"isdAid":"A000000151000000",
  "diversification":"none","defaultKeyVersion":32})";
const std::string kSe = R"({"seid":"A1B2C3D4E5F60001","cplc":")" + std::string(84, '4') +
                        R"(","productId":"dev-card","isdKey":{"keyId":"isd"},"owner":"alice"})";

/// A folder with a test CA (client certificates for se-tsm, sp-tsm, an operator, a wallet and
/// an intruder) and one server certificate every tsmd of the test serves (make_server_certificate
/// gives all the same subject, so one trusted file is simplest), and the front's tsmd.
class Rig {
  public:
    Rig() {
        char tmpl[] = "/tmp/registrar-test-XXXXXX";
        if (::mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp");
        m_dir = tmpl;
        m_pki = std::make_unique<TestPki>(m_dir);
        for (const char* cn : {"se-tsm", "sp-tsm", "operator", "wallet", "intruder", "front"})
            m_pki->issue(cn);
        make_server_certificate(m_dir);
        write(m_dir + "/plain.json", kPlainScript);
        const std::string config =
            R"({"upstreamTls":{"ca":")" + server_ca() + R"(","certificate":")" +
            m_pki->cert("front") + R"(","key":")" + m_pki->key("front") +
            R"(","timeoutSeconds":5},"healthCheck":{"intervalMs":200,"timeoutMs":1000,)"
            R"("failures":2},"registrars":["se-tsm","sp-tsm","operator"]})";
        front = std::make_unique<TsmdProcess>(
            "[" + instance("front", env("TSM_FRONT_PLUGIN"), config) + "]", "store",
            m_pki->ca_file());
        share_certificate(*front);
    }
    ~Rig() {
        front.reset();
        std::error_code ec;
        std::filesystem::remove_all(m_dir, ec);
    }

    std::string server_ca() const { return m_dir + "/tsmd.crt"; }
    std::string front_url() const {
        return "https://127.0.0.1:" + std::to_string(front->port()) + "/front";
    }
    static std::string url_of(const TsmdProcess& t, const std::string& name) {
        return "https://127.0.0.1:" + std::to_string(t.port()) + "/" + name;
    }
    /// A client of the front presenting the test CA's certificate for @p cn.
    HttpsClient client(const std::string& cn) const {
        return HttpsClient("127.0.0.1", front->port(), server_ca(), m_pki->cert(cn),
                           m_pki->key(cn));
    }

    /// The "front" object for an instance named @p name whose client certificate has @p cn;
    /// "@SELF@" stands for its own URL until instance_process() knows its port.
    std::string front_config(const std::string& cn, int ttl, const std::string& actions) const {
        return R"("front":{"urls":[")" + front_url() + R"("],"self":"@SELF@","ca":")" +
               server_ca() + R"(","certificate":")" + m_pki->cert(cn) + R"(","key":")" +
               m_pki->key(cn) + R"(","ttlSeconds":)" + std::to_string(ttl) +
               R"(,"timeoutSeconds":2,"actions":)" + actions + "}";
    }
    /// A tsmd running se-tsm as instance "se", registering @p actions (default: se.loss-report)
    /// as @p cn.
    std::unique_ptr<TsmdProcess> se_tsm(
        const std::string& cn, int ttl,
        const std::string& actions =
            R"([{"actionCode":"se.loss-report","path":"/loss-reports"}])") const {
        return instance_process("se", env("TSM_SE_PLUGIN"),
                                "{" + front_config(cn, ttl, actions) + "}");
    }
    /// A tsmd running sp-tsm as instance "sp" (its KMS is never called), registering two
    /// operation codes as sp-tsm.
    std::unique_ptr<TsmdProcess> sp_tsm(int ttl) const {
        const std::string config =
            R"({"kms":{"url":"https://127.0.0.1:1","ca":")" + m_pki->ca_file() +
            R"(","token":"unused"},"scripts":{"plain":")" + m_dir + R"(/plain.json"},)" +
            front_config("sp-tsm", ttl,
                         R"([{"actionCode":"transit.topup","path":"/operations","operation":true},)"
                         R"({"actionCode":"transit.balance","path":"/operations",)"
                         R"("operation":true}])") +
            "}";
        return instance_process("sp", env("TSM_SP_PLUGIN"), config);
    }
    std::unique_ptr<TsmdProcess> instance_process(const std::string& name,
                                                  const std::string& library,
                                                  const std::string& config) const {
        auto t = std::make_unique<TsmdProcess>("[" + instance(name, library, config) + "]");
        std::string text = slurp(t->config());
        const auto at = text.find("@SELF@");
        if (at != std::string::npos) text.replace(at, 6, url_of(*t, name));
        write(t->config(), text);
        share_certificate(*t);
        return t;
    }

    /// GET /front/routes as the operator: the entry of @p instance for @p code, or nullptr.
    Object::Ptr route(const std::string& code, const std::string& instance) const {
        HttpsClient c = client("operator");
        const HttpResponse r = c.get("/front/routes");
        if (r.status != 200) throw std::runtime_error("GET /front/routes: " + r.body);
        auto routes = r.json()->getArray("routes");
        for (std::size_t i = 0; i < routes->size(); ++i) {
            auto route = routes->getObject(static_cast<unsigned>(i));
            if (route->getValue<std::string>("actionCode") != code) continue;
            auto list = route->getArray("instances");
            for (std::size_t j = 0; j < list->size(); ++j) {
                auto o = list->getObject(static_cast<unsigned>(j));
                if (o->getValue<std::string>("instance") == instance) return o;
            }
        }
        return nullptr;
    }
    HttpResponse act(const std::string& code, const std::string& more = "") const {
        HttpsClient c = client("wallet");
        return c.post("/front/actions", R"({"actionCode":")" + code + "\"" + more + "}");
    }

    /// The test CA and the certificate and key it issued for @p cn.
    std::string ca_file() const { return m_pki->ca_file(); }
    std::string cert(const std::string& cn) const { return m_pki->cert(cn); }
    std::string key(const std::string& cn) const { return m_pki->key(cn); }

    std::unique_ptr<TsmdProcess> front;

  private:
    void share_certificate(const TsmdProcess& t) const {
        for (const char* f : {"/tsmd.crt", "/tsmd.key"}) write(t.dir() + f, slurp(m_dir + f));
    }
    std::string m_dir;
    std::unique_ptr<TestPki> m_pki;
};

TEST(FrontRegistrar, AnSeTsmInstanceRegistersGetsTrafficAndRenewsPastItsTtl) {
    Rig rig;
    ASSERT_TRUE(rig.front->start()) << rig.front->log();
    auto se = rig.se_tsm("se-tsm", 2);
    ASSERT_TRUE(se->start()) << se->log();
    const std::string self = Rig::url_of(*se, "se");
    ASSERT_TRUE(eventually([&] { return rig.route("se.loss-report", self) != nullptr; }, 5000))
        << se->log() << rig.front->log();
    const auto r = rig.route("se.loss-report", self);
    EXPECT_EQ(r->getValue<std::string>("source"), "registered");
    EXPECT_EQ(r->getValue<std::string>("path"), "/loss-reports");
    EXPECT_FALSE(r->getValue<bool>("operation"));
    EXPECT_LE(r->getValue<int>("expiresInMs"), 2000);
    EXPECT_NE(se->log().find("info: se: se-tsm: registrar: " + self + " registered at " +
                             rig.front_url() + " for se.loss-report (ttl 2 s"),
              std::string::npos)
        << se->log();

    // Traffic: the loss report goes through the front to this se-tsm.
    HttpsClient admin = se->client();
    ASSERT_EQ(admin.post("/se/products", kProduct).status, 201);
    ASSERT_EQ(admin.post("/se/ses", kSe).status, 201);
    const auto report = rig.act("se.loss-report", R"(,"owner":"alice")");
    ASSERT_EQ(report.status, 200) << report.body;
    EXPECT_NE(report.body.find("A1B2C3D4E5F60001"), std::string::npos) << report.body;

    // Renewals: listed at every look for 3.5 TTLs, and renewed (the front logs each one).
    const std::size_t before = count(rig.front->log(), "registration of " + self);
    const auto until = Clock::now() + std::chrono::milliseconds(7000);
    int looks = 0;
    while (Clock::now() < until) {
        ASSERT_NE(rig.route("se.loss-report", self), nullptr) << "look " << looks;
        ++looks;
        std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
    EXPECT_GE(looks, 20);
    // Every 666 ms for 7 s: about 10 renewals; at least 6 leaves room for a slow machine.
    EXPECT_GE(count(rig.front->log(), "registration of " + self) - before, 6u);
    EXPECT_EQ(rig.act("se.loss-report", R"(,"owner":"alice")").status, 200);
}

/// Inserts @p text after the first @p after in @p t's configuration file.
void insert_in_config(const TsmdProcess& t, const std::string& after, const std::string& text) {
    std::string config = slurp(t.config());
    const auto at = config.find(after);
    if (at == std::string::npos) throw std::runtime_error("no " + after + " in " + config);
    config.insert(at + after.size(), text);
    write(t.config(), config);
}

// The front names the wallet (forwardClient), se-tsm's tsmd believes it from the front only
// (trustedProxies), and se-tsm with "operators" lets the wallet report only its own loss.
TEST(FrontRegistrar, BehindAFrontThatNamesWalletsAWalletReportsOnlyItsOwnLoss) {
    Rig rig;
    insert_in_config(*rig.front, "\"upstreamTls\":{", R"("forwardClient":true,)");
    ASSERT_TRUE(rig.front->start()) << rig.front->log();
    auto se = rig.se_tsm("se-tsm", 600);
    insert_in_config(*se, "\"key\":\"tsmd.key\"",
                     ",\"clientCa\":\"" + rig.ca_file() + "\",\"trustedProxies\":[\"front\"]");
    insert_in_config(*se, "\"config\":{", R"("operators":["operator"],)");
    ASSERT_TRUE(se->start()) << se->log();
    const std::string self = Rig::url_of(*se, "se");
    ASSERT_TRUE(eventually([&] { return rig.route("se.loss-report", self) != nullptr; }, 5000))
        << se->log();
    HttpsClient admin = se->client(rig.cert("operator"), rig.key("operator"));
    ASSERT_EQ(admin.post("/se/products", kProduct).status, 201);
    ASSERT_EQ(admin.post("/se/ses", kSe).status, 201);  // alice's
    std::string wallets = kSe;
    wallets.replace(wallets.find("A1B2C3D4E5F60001"), 16, "A1B2C3D4E5F60002");
    wallets.replace(wallets.find("\"alice\""), 7, "\"wallet\"");
    ASSERT_EQ(admin.post("/se/ses", wallets).status, 201);

    const auto own = rig.act("se.loss-report", R"(,"owner":"wallet")");
    ASSERT_EQ(own.status, 200) << own.body << se->log();
    EXPECT_NE(own.body.find("A1B2C3D4E5F60002"), std::string::npos) << own.body;
    const auto other = rig.act("se.loss-report", R"(,"owner":"alice")");
    EXPECT_EQ(other.status, 403) << other.body;
    EXPECT_NE(other.body.find("owner 'alice' is not 'wallet'"), std::string::npos) << other.body;
    // The operator, through the same front, may.
    HttpsClient op = rig.client("operator");
    const auto by_operator =
        op.post("/front/actions", R"({"actionCode":"se.loss-report","owner":"alice"})");
    EXPECT_EQ(by_operator.status, 200) << by_operator.body;
    EXPECT_NE(by_operator.body.find("A1B2C3D4E5F60001"), std::string::npos) << by_operator.body;
}

TEST(FrontRegistrar, ACleanStopDeregistersAtOnce) {
    Rig rig;
    ASSERT_TRUE(rig.front->start()) << rig.front->log();
    auto se = rig.se_tsm("se-tsm", 600);  // a long TTL: only the DELETE can remove it quickly
    ASSERT_TRUE(se->start()) << se->log();
    const std::string self = Rig::url_of(*se, "se");
    ASSERT_TRUE(eventually([&] { return rig.route("se.loss-report", self) != nullptr; }, 5000))
        << se->log();
    EXPECT_EQ(se->stop(), 0) << se->log();
    EXPECT_EQ(rig.route("se.loss-report", self), nullptr);
    const auto gone = rig.act("se.loss-report", R"(,"owner":"alice")");
    EXPECT_EQ(gone.status, 404) << gone.body;
    EXPECT_NE(gone.body.find("unknown_action_code"), std::string::npos) << gone.body;
    EXPECT_NE(se->log().find("deregistered at " + rig.front_url()), std::string::npos) << se->log();
    EXPECT_NE(rig.front->log().find("registration of " + self + " removed by 'se-tsm'"),
              std::string::npos)
        << rig.front->log();
}

TEST(FrontRegistrar, AKilledInstanceIsNotRoutedToAndExpiresAfterItsTtl) {
    Rig rig;
    ASSERT_TRUE(rig.front->start()) << rig.front->log();
    auto se = rig.se_tsm("se-tsm", 3);
    ASSERT_TRUE(se->start()) << se->log();
    const std::string self = Rig::url_of(*se, "se");
    ASSERT_TRUE(eventually([&] { return rig.route("se.loss-report", self) != nullptr; }, 5000));
    se->kill_hard();
    const auto killed = Clock::now();
    // Still registered (no DELETE was sent), but nothing answers there: the front does not
    // hand the request to it (the connection is refused, no other instance: 503).
    EXPECT_NE(rig.route("se.loss-report", self), nullptr);
    const auto down = rig.act("se.loss-report", R"(,"owner":"alice")");
    EXPECT_EQ(down.status, 503) << down.body;
    EXPECT_NE(down.body.find("no_instance"), std::string::npos) << down.body;
    ASSERT_TRUE(eventually([&] { return rig.route("se.loss-report", self) == nullptr; }, 6000));
    const auto after = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - killed);
    // At most one TTL after the last renewal, which came at most ttl/3 before the kill.
    EXPECT_LE(after.count(), 3000 + 500) << after.count();
    EXPECT_GE(after.count(), 3000 - 1000 - 100) << after.count();
    EXPECT_EQ(rig.act("se.loss-report", R"(,"owner":"alice")").status, 404);
}

TEST(FrontRegistrar, AnInstanceStartedBeforeTheFrontRegistersOnceItComesUp) {
    Rig rig;  // the front is not started yet
    auto se = rig.se_tsm("se-tsm", 2);
    ASSERT_TRUE(se->start()) << se->log();
    const std::string self = Rig::url_of(*se, "se");
    ASSERT_TRUE(eventually(
        [&] { return se->log().find("cannot register " + self) != std::string::npos; }, 3000))
        << se->log();
    EXPECT_NE(se->log().find("warning: se: se-tsm: registrar: cannot register " + self + " at " +
                             rig.front_url() + ": cannot connect"),
              std::string::npos)
        << se->log();
    // The instance serves meanwhile.
    HttpsClient admin = se->client();
    EXPECT_EQ(admin.post("/se/products", kProduct).status, 201);
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // backoff reaches its cap
    EXPECT_EQ(count(se->log(), "cannot register " + self), 1u) << "one line, not one per retry";
    ASSERT_TRUE(rig.front->start()) << rig.front->log();
    const auto up = Clock::now();
    ASSERT_TRUE(eventually([&] { return rig.route("se.loss-report", self) != nullptr; }, 3000))
        << se->log();
    // Within the backoff's cap (renewal_interval_ms(2) = 666 ms) and some slack.
    EXPECT_LE(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - up).count(),
              1500);
    EXPECT_NE(se->log().find("registered at " + rig.front_url()), std::string::npos);
}

TEST(FrontRegistrar, ARestartedFrontHasTheInstanceBackWithinOneRenewal) {
    Rig rig;
    ASSERT_TRUE(rig.front->start()) << rig.front->log();
    auto se = rig.se_tsm("se-tsm", 3);  // renewed every second
    ASSERT_TRUE(se->start()) << se->log();
    const std::string self = Rig::url_of(*se, "se");
    ASSERT_TRUE(eventually([&] { return rig.route("se.loss-report", self) != nullptr; }, 5000));
    EXPECT_EQ(rig.front->stop(), 0);  // registrations live in the front's memory only
    ASSERT_TRUE(rig.front->start()) << rig.front->log();
    const auto up = Clock::now();
    ASSERT_TRUE(eventually([&] { return rig.route("se.loss-report", self) != nullptr; }, 5000))
        << se->log();
    // The next renewal, or a retry if one failed while the front was down (both at most 1 s).
    EXPECT_LE(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - up).count(),
              1800);
}

TEST(FrontRegistrar, ACertificateNotInRegistrarsIsRefusedAndTheInstanceLogsIt) {
    Rig rig;
    ASSERT_TRUE(rig.front->start()) << rig.front->log();
    auto se = rig.se_tsm("intruder", 2);
    ASSERT_TRUE(se->start()) << se->log();
    const std::string self = Rig::url_of(*se, "se");
    ASSERT_TRUE(
        eventually([&] { return se->log().find("answered 403") != std::string::npos; }, 5000))
        << se->log();
    const std::string log = se->log();
    // At level error: unlike a front that is down, this will not go away by itself.
    EXPECT_NE(log.find("error: se: se-tsm: registrar: cannot register " + self + " at " +
                       rig.front_url() + ": answered 403"),
              std::string::npos)
        << log;
    EXPECT_NE(log.find("forbidden"), std::string::npos) << log;
    EXPECT_NE(log.find("intruder"), std::string::npos) << log;
    std::this_thread::sleep_for(std::chrono::milliseconds(1000));
    EXPECT_EQ(rig.route("se.loss-report", self), nullptr);
    EXPECT_EQ(rig.act("se.loss-report", R"(,"owner":"alice")").status, 404);
    // A clean stop sends no DELETE for a registration the front never took.
    EXPECT_EQ(se->stop(), 0);
    EXPECT_EQ(se->log().find("deregist"), std::string::npos) << se->log();
}

TEST(FrontRegistrar, AnInstanceServingCodesAtTwoPathsRegistersARoutePerCode) {
    Rig rig;
    ASSERT_TRUE(rig.front->start()) << rig.front->log();
    auto se = rig.se_tsm("se-tsm", 5,
                         R"([{"actionCode":"se.loss-report","path":"/loss-reports"},)"
                         R"({"actionCode":"se.product","path":"/products"}])");
    ASSERT_TRUE(se->start()) << se->log();
    const std::string self = Rig::url_of(*se, "se");
    ASSERT_TRUE(eventually([&] { return rig.route("se.product", self) != nullptr; }, 5000))
        << se->log() << rig.front->log();
    EXPECT_EQ(rig.route("se.product", self)->getValue<std::string>("path"), "/products");
    EXPECT_EQ(rig.route("se.loss-report", self)->getValue<std::string>("path"), "/loss-reports");
    // Each code reaches its own path: a product is created (se-tsm takes the actionCode), and
    // the loss report of an owner without SEs is se-tsm's own 404.
    std::string product = kProduct;
    product.insert(1, R"("actionCode":"se.product",)");
    HttpsClient w = rig.client("wallet");
    const auto created = w.post("/front/actions", product);
    EXPECT_EQ(created.status, 201) << created.body;
    EXPECT_EQ(se->client().get("/se/products/dev-card").status, 200);
    const auto report = rig.act("se.loss-report", R"(,"owner":"nobody")");
    EXPECT_EQ(report.status, 404) << report.body;
    EXPECT_EQ(report.body.find("unknown_action_code"), std::string::npos) << report.body;

    // The front's checks of "routes" name the field.
    HttpsClient op = rig.client("operator");
    const std::string head = R"({"instance":"https://127.0.0.1:1/x","actionCodes":["a.b"],)";
    const std::pair<std::string, std::string> bad[] = {
        {head + R"("routes":[]})", "routes must be an object"},
        {head + R"("routes":{"c.d":{"path":"/c"}}})", "routes.c.d is not one of actionCodes"},
        {head + R"("routes":{"a.b":{"path":"c"}}})", "routes.a.b.path must start with '/'"},
        {head + R"("routes":{"a.b":{"path":"/c","operation":1}}})",
         "routes.a.b.operation must be true or false"},
        {head + R"("routes":{"a.b":{"path":"/c","weight":1}}})",
         "routes.a.b.weight is not a known field"},
        {head + R"("routes":{"a.b":"/c"}})", "routes.a.b must be an object"},
    };
    for (const auto& [body, message] : bad) {
        const auto r = op.post("/front/registrations", body);
        EXPECT_EQ(r.status, 400) << body << " " << r.body;
        EXPECT_NE(r.body.find(message), std::string::npos) << message << " " << r.body;
    }
}

TEST(FrontRegistrar, AnSpTsmInstanceRegistersItsOperationRoutesAndServesThem) {
    Rig rig;
    ASSERT_TRUE(rig.front->start()) << rig.front->log();
    auto sp = rig.sp_tsm(2);
    ASSERT_TRUE(sp->start()) << sp->log();
    const std::string self = Rig::url_of(*sp, "sp");
    ASSERT_TRUE(eventually([&] { return rig.route("transit.balance", self) != nullptr; }, 5000))
        << sp->log();
    for (const char* code : {"transit.topup", "transit.balance"}) {
        const auto r = rig.route(code, self);
        ASSERT_NE(r, nullptr) << code;
        EXPECT_EQ(r->getValue<std::string>("path"), "/operations");
        EXPECT_TRUE(r->getValue<bool>("operation"));
    }
    const auto start =
        rig.act("transit.topup", R"(,"script":"plain","variables":{"amount":5},)"
                                 R"("seid":"A1B2C3D4E5F60001","productId":"transit")");
    ASSERT_EQ(start.status, 201) << start.body;
    const std::string op = start.json()->getValue<std::string>("operation");
    EXPECT_EQ(op.size(), 32u) << "the front's own id";
    HttpsClient w = rig.client("wallet");
    const auto next =
        w.post("/front/operations/" + op + "/responses", R"({"seq":1,"response":"9000"})");
    EXPECT_EQ(next.status, 200) << next.body;
    EXPECT_EQ(sp->stop(), 0);
    EXPECT_EQ(rig.route("transit.topup", self), nullptr);
}

TEST(FrontRegistrar, BadFrontConfigurationsStopTsmdWithExit78NamingTheField) {
    Rig rig;
    const std::string good = R"({"actionCode":"se.loss-report","path":"/loss-reports"})";
    const std::string front = rig.front_url(), ca = rig.server_ca();
    const std::pair<std::string, std::string> cases[] = {
        {R"({"front":"https://127.0.0.1:1/front"})", "front must be an object"},
        {R"({"front":{"self":"https://127.0.0.1:1/se","ca":")" + ca + R"(","actions":[)" + good +
             "]}}",
         "front.urls"},
        {R"({"front":{"urls":["ftp://x/front"],"self":"https://127.0.0.1:1/se","ca":")" + ca +
             R"(","actions":[)" + good + "]}}",
         "front.urls[0]"},
        {R"({"front":{"urls":[")" + front + R"("],"self":"https://127.0.0.1:1","ca":")" + ca +
             R"(","actions":[)" + good + "]}}",
         "front.self"},
        {R"({"front":{"urls":[")" + front + R"("],"self":"https://127.0.0.1:1/se","ca":")" + ca +
             R"(","ttlSeconds":0,"actions":[)" + good + "]}}",
         "front.ttlSeconds"},
        {R"({"front":{"urls":[")" + front + R"("],"self":"https://127.0.0.1:1/se","ca":")" + ca +
             R"(","actions":[{"actionCode":"a b"}]}})",
         "front.actions[0].actionCode"},
        {R"({"front":{"urls":[")" + front + R"("],"self":"https://127.0.0.1:1/se","ca":")" + ca +
             R"(","actions":[)" + good + R"(,{"actionCode":"se.other","path":"ses"}]}})",
         "front.actions[1].path must start with '/'"},
        {R"({"front":{"urls":[")" + front +
             R"("],"self":"https://127.0.0.1:1/se","ca":"/nonexistent/ca.pem","actions":[)" + good +
             "]}}",
         "front.ca"},
        {R"({"front":{"urls":[")" + front + R"("],"self":"https://127.0.0.1:1/se","ca":")" + ca +
             R"(","retry":1,"actions":[)" + good + "]}}",
         "front.retry is not a known field"},
    };
    for (const auto& [config, field] : cases) {
        TsmdProcess t("[" + instance("se", env("TSM_SE_PLUGIN"), config) + "]");
        EXPECT_FALSE(t.start()) << config;
        EXPECT_EQ(t.exit_code(), 78) << t.log();
        EXPECT_NE(t.log().find(field), std::string::npos) << field << "\n" << t.log();
    }
    // sp-tsm refuses it too (its own prefix).
    auto sp = rig.sp_tsm(2);  // a good configuration but for its front member
    std::string text = slurp(sp->config());
    const auto at = text.find("\"front\":{");
    ASSERT_NE(at, std::string::npos);
    text.replace(at, text.find("}]}", at) + 3 - at, "\"front\":{\"urls\":[]}");
    write(sp->config(), text);
    EXPECT_FALSE(sp->start());
    EXPECT_EQ(sp->exit_code(), 78) << sp->log();
    EXPECT_NE(sp->log().find("sp-tsm: front.urls"), std::string::npos) << sp->log();
}

/// A TCP port on 127.0.0.1 that accepts connections (the kernel's backlog) but never answers:
/// a front that hangs in the TLS handshake.
class SilentListener {
  public:
    SilentListener() : m_fd(::socket(AF_INET, SOCK_STREAM, 0)) {
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t size = sizeof a;
        if (m_fd < 0 || ::bind(m_fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
            ::listen(m_fd, 16) != 0 ||
            ::getsockname(m_fd, reinterpret_cast<sockaddr*>(&a), &size) != 0)
            throw std::runtime_error("cannot listen");
        m_port = ntohs(a.sin_port);
    }
    ~SilentListener() { ::close(m_fd); }
    int port() const { return m_port; }

  private:
    int m_fd;
    int m_port = 0;
};

TEST(FrontRegistrar, TheRegistrarStopsWithinItsTimeoutWhileFrontsHangOrRefuse) {
    Rig rig;  // for its CA file; no front runs
    SilentListener hanging;
    const std::string refusing = "https://127.0.0.1:" + std::to_string(free_port()) + "/front";
    const std::string silent = "https://127.0.0.1:" + std::to_string(hanging.port()) + "/front";
    tsm::registrar::RegistrarSettings s;
    s.front_urls = {silent, refusing};
    s.self = "https://127.0.0.1:1/se";
    s.ca_file = rig.server_ca();
    s.ttl_seconds = 1;
    s.timeout_seconds = 1;
    s.actions = {{"se.loss-report", "/loss-reports", false}};
    std::mutex mutex;
    std::vector<std::string> lines;
    auto registrar = std::make_unique<tsm::registrar::Registrar>(s, [&](int, const std::string& m) {
        std::lock_guard lock(mutex);
        lines.push_back(m);
    });
    // Each front has its own worker: the refusing one fails three times (at once, then after
    // 200 and 400 ms of backoff) while the silent one is still in its first attempt, which takes
    // at least one timeout (about three: Poco retries the TLS handshake).
    ASSERT_TRUE(eventually([&] { return registrar->status()[1].failures >= 3; }, 5000));
    auto status = registrar->status();
    EXPECT_EQ(status[0].failures, 0) << status[0].last_error;
    EXPECT_EQ(status[1].url, refusing);
    EXPECT_FALSE(status[1].registered);
    EXPECT_NE(status[1].last_error.find("refused"), std::string::npos) << status[1].last_error;
    ASSERT_TRUE(eventually([&] { return registrar->status()[0].failures >= 1; }, 6000));
    status = registrar->status();
    EXPECT_FALSE(status[0].registered);
    EXPECT_NE(status[0].last_error.find("timed out"), std::string::npos) << status[0].last_error;
    const auto before = Clock::now();
    registrar->stop();  // nothing to deregister: no front took the registration
    registrar.reset();
    // At worst the silent front's attempt in flight: about 3 x timeoutSeconds.
    EXPECT_LE(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - before).count(),
              3600);
    std::lock_guard lock(mutex);
    ASSERT_GE(lines.size(), 2u);
    for (const std::string& line : lines) EXPECT_EQ(line.find("deregist"), std::string::npos);
}

}  // namespace
}  // namespace kms::test
