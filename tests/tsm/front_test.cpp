// The front gateway plugin (libtsm_front.so) in a real tsmd over TLS, in front of two more tsmd
// processes ("A" and "B") running the echo test plugin as instance "sp", whose answers say which
// process served them. Run as four meson tests (gtest filters): front-routing (round robin, the
// body forwarded unchanged, upstream answers relayed, 404/400/405 refusals, bad configurations),
// front-affinity (operation follow-ups stay on their instance, across a front restart and a
// second front on the same store), front-health (a stopped upstream: new actions go to the other,
// its operations get a clean 503, the health check brings it back), front-limits (413, 429,
// registrars, registrations with heartbeat and expiry).
#include <Poco/JSON/Object.h>
#include <Poco/URI.h>
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <mutex>
#include <set>

#include "tsmd_process.hpp"

namespace kms::test {
namespace {

using Poco::JSON::Object;

std::string url_of(const TsmdProcess& p) {
    return "https://127.0.0.1:" + std::to_string(p.port()) + "/sp";
}

/// The "name" in the echo instance's configuration that served @p body's answer.
std::string served_by(const HttpResponse& r) {
    return r.json()->getObject("servedBy")->getValue<std::string>("name");
}

std::string error_of(const HttpResponse& r) {
    return r.json()->getValue<std::string>("error");
}

/// A test CA (DIR/ca.pem) and certificates it issues (DIR/CN.crt, DIR/CN.key), for mTLS between
/// the clients, the front and the upstreams.
class TestCa {
  public:
    explicit TestCa(const std::string& dir) : m_dir(dir), m_key(EVP_EC_gen("P-256")) {
        m_cert = make("kms test client CA", m_key, nullptr, true);
        save(m_cert, m_key, dir + "/ca.pem", "");
    }
    ~TestCa() {
        X509_free(m_cert);
        EVP_PKEY_free(m_key);
    }
    TestCa(const TestCa&) = delete;
    TestCa& operator=(const TestCa&) = delete;
    std::string ca() const { return m_dir + "/ca.pem"; }
    /// Issues a client certificate for @p cn; returns its path (the key is next to it, .key).
    std::string issue(const std::string& cn) {
        EVP_PKEY* k = EVP_EC_gen("P-256");
        X509* x = make(cn, k, m_cert, false);
        save(x, k, m_dir + "/" + cn + ".crt", m_dir + "/" + cn + ".key");
        X509_free(x);
        EVP_PKEY_free(k);
        return m_dir + "/" + cn + ".crt";
    }
    HttpsClient client(const TsmdProcess& t, const std::string& cn) {
        issue(cn);
        return HttpsClient("127.0.0.1", t.port(), t.dir() + "/tsmd.crt", m_dir + "/" + cn + ".crt",
                           m_dir + "/" + cn + ".key");
    }

  private:
    X509* make(const std::string& cn, EVP_PKEY* key, X509* issuer, bool ca) {
        X509* x = X509_new();
        X509_set_version(x, 2);
        ASN1_INTEGER_set(X509_get_serialNumber(x), ++m_serial);
        X509_gmtime_adj(X509_getm_notBefore(x), -60);
        X509_gmtime_adj(X509_getm_notAfter(x), 86400);
        X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_UTF8,
                                   reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
        X509_set_issuer_name(x, X509_get_subject_name(issuer ? issuer : x));
        X509_set_pubkey(x, key);
        X509V3_CTX ctx;
        X509V3_set_ctx_nodb(&ctx);
        X509V3_set_ctx(&ctx, issuer ? issuer : x, x, nullptr, nullptr, 0);
        X509_EXTENSION* e = X509V3_EXT_conf_nid(nullptr, &ctx, NID_basic_constraints,
                                                ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
        X509_add_ext(x, e, -1);
        X509_EXTENSION_free(e);
        X509_sign(x, issuer ? m_key : key, EVP_sha256());
        return x;
    }
    static void save(X509* x, EVP_PKEY* k, const std::string& cert, const std::string& key) {
        FILE* f = std::fopen(cert.c_str(), "w");
        PEM_write_X509(f, x);
        std::fclose(f);
        if (key.empty()) return;
        f = std::fopen(key.c_str(), "w");
        PEM_write_PrivateKey(f, k, nullptr, nullptr, 0, nullptr, nullptr);
        std::fclose(f);
    }
    std::string m_dir;
    EVP_PKEY* m_key;
    X509* m_cert = nullptr;
    long m_serial = 100;
};

/// Makes @p t require client certificates from @p ca (tls.clientCa) before it starts.
void require_client_certificates(const TsmdProcess& t, const std::string& ca) {
    std::string config = slurp(t.config());
    const std::string key = "\"key\":\"tsmd.key\"";
    config.replace(config.find(key), key.size(), key + ",\"clientCa\":\"" + ca + "\"");
    write(t.config(), config);
}

/// Two echo upstreams and a front over them. @p extra: more members of the front's config;
/// @p mtls: every tsmd requires client certificates from a test CA, the front presents its own
/// (CN "front") to the upstreams; @p timeout: the front's upstreamTls.timeoutSeconds.
class Rig {
  public:
    explicit Rig(const std::string& extra = "", bool mtls = false, int timeout = 5)
        : a("[" + instance("sp", env("TSM_ECHO_PLUGIN"), R"({"name":"A"})") + "]"),
          b("[" + instance("sp", env("TSM_ECHO_PLUGIN"), R"({"name":"B"})") + "]") {
        // make_server_certificate() gives every tsmd the same subject and serial, so a bundle
        // of two such self-signed certificates would let OpenSSL find only the first by name:
        // B serves A's certificate and key (both name 127.0.0.1), the front trusts that one.
        bundle = a.dir() + "/tsmd.crt";
        for (const char* f : {"/tsmd.crt", "/tsmd.key"}) write(b.dir() + f, slurp(a.dir() + f));
        std::string client_tls;
        if (mtls) {
            ca = std::make_unique<TestCa>(a.dir());
            ca->issue("front");
            require_client_certificates(a, ca->ca());
            require_client_certificates(b, ca->ca());
            client_tls = ",\"certificate\":\"" + a.dir() + "/front.crt\",\"key\":\"" + a.dir() +
                         "/front.key\"";
        }
        if (!a.start() || !b.start()) throw std::runtime_error("upstream: " + a.log() + b.log());
        const std::string both = "[\"" + url_of(a) + "\",\"" + url_of(b) + "\"]";
        front_config =
            R"({"routes":{"transit.topup":{"path":"/ops","operation":true,"instances":)" + both +
            R"(},"se.loss-report":{"path":"/served","instances":)" + both +
            R"(},"echo.slow":{"path":"/slow","instances":)" + both +
            R"(},"echo.missing":{"path":"/nothing","instances":[")" + url_of(a) +
            R"("]}},"upstreamTls":{"ca":")" + bundle + "\"" + client_tls +
            ",\"timeoutSeconds\":" + std::to_string(timeout) +
            R"(},"healthCheck":{"intervalMs":200,"timeoutMs":1000,"failures":2})" + extra + "}";
        front = std::make_unique<TsmdProcess>(plugins());
        if (mtls) require_client_certificates(*front, ca->ca());
        if (!front->start()) throw std::runtime_error("front: " + front->log());
    }
    std::string plugins() const {
        return "[" + instance("front", env("TSM_FRONT_PLUGIN"), front_config) + "]";
    }
    HttpResponse act(HttpsClient& c, const std::string& code, const std::string& more = "") {
        return c.post("/front/actions", R"({"actionCode":")" + code + "\"" + more + "}");
    }
    /// Polls GET /front/routes until @p instance's "healthy" is @p healthy (10 s at most).
    bool wait_health(HttpsClient& c, const std::string& instance, bool healthy) {
        for (int i = 0; i < 100; ++i) {
            const auto r = c.get("/front/routes");
            if (r.body.find("\"instance\":\"" + instance + "\"") != std::string::npos &&
                health_of(r, instance) == healthy)
                return true;
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
        return false;
    }
    static bool health_of(const HttpResponse& routes, const std::string& instance) {
        auto list = routes.json()->getArray("routes");
        for (std::size_t i = 0; i < list->size(); ++i) {
            auto is = list->getObject(static_cast<unsigned>(i))->getArray("instances");
            for (std::size_t j = 0; j < is->size(); ++j) {
                auto o = is->getObject(static_cast<unsigned>(j));
                if (o->getValue<std::string>("instance") == instance)
                    return o->getValue<bool>("healthy");
            }
        }
        throw std::runtime_error("no " + instance + " in " + routes.body);
    }

    TsmdProcess a, b;
    std::unique_ptr<TestCa> ca;  ///< with mtls
    std::string bundle, front_config;
    std::unique_ptr<TsmdProcess> front;
};

// ---- front-routing ------------------------------------------------------------------------

TEST(FrontRouting, RoundRobinsAcrossUpstreamsAndForwardsTheBodyUnchanged) {
    Rig rig;
    HttpsClient c = rig.front->client();
    std::vector<std::string> who;
    for (int i = 0; i < 6; ++i) {
        const auto r = rig.act(c, "se.loss-report", R"(,"seId":"se-)" + std::to_string(i) + "\"");
        ASSERT_EQ(r.status, 200) << r.body;
        who.push_back(served_by(r));
        auto request = r.json()->getObject("request");
        EXPECT_EQ(request->getValue<std::string>("actionCode"), "se.loss-report");
        EXPECT_EQ(request->getValue<std::string>("seId"), "se-" + std::to_string(i));
    }
    EXPECT_NE(who[0], who[1]);
    for (int i = 2; i < 6; ++i) EXPECT_EQ(who[i], who[i - 2]) << i;
    EXPECT_EQ(std::set<std::string>(who.begin(), who.end()), (std::set<std::string>{"A", "B"}));

    // The upstream's own refusal is relayed as it is.
    const auto missing = rig.act(c, "echo.missing");
    EXPECT_EQ(missing.status, 404);
    EXPECT_EQ(missing.body, R"({"error":"not_found","message":"echo has no /nothing"})");
}

TEST(FrontRouting, RefusesUnknownCodesAndBadBodiesNamingTheField) {
    Rig rig;
    HttpsClient c = rig.front->client();
    const auto unknown = rig.act(c, "transit.refund");
    EXPECT_EQ(unknown.status, 404);
    EXPECT_EQ(error_of(unknown), "unknown_action_code");
    EXPECT_NE(unknown.json()->getValue<std::string>("message").find("transit.refund"),
              std::string::npos);

    auto expect_400 = [&](const std::string& body, const std::string& error,
                          const std::string& words) {
        const auto r = c.post("/front/actions", body);
        EXPECT_EQ(r.status, 400) << body << " -> " << r.body;
        EXPECT_EQ(error_of(r), error) << body;
        EXPECT_NE(r.json()->getValue<std::string>("message").find(words), std::string::npos)
            << body << " -> " << r.body;
    };
    expect_400("not json", "malformed_request", "JSON object");
    expect_400("", "malformed_request", "JSON object");
    expect_400(R"(["se.loss-report"])", "malformed_request", "JSON object");
    expect_400(R"({"seId":"x"})", "invalid_argument", "actionCode is required");
    expect_400(R"({"actionCode":5})", "invalid_argument", "actionCode must be a string");
    expect_400(R"({"actionCode":"se loss"})", "invalid_argument", "actionCode must be 1..64");
    expect_400(R"({"actionCode":""})", "invalid_argument", "actionCode must be 1..64");
    expect_400("{\"actionCode\":\"" + std::string(65, 'a') + "\"}", "invalid_argument",
               "actionCode must be 1..64");

    EXPECT_EQ(c.get("/front/actions").status, 405);
    EXPECT_EQ(c.get("/front/nothing").status, 404);
    EXPECT_EQ(error_of(c.get("/front/nothing")), "not_found");
}

TEST(FrontRouting, ABadConfigurationStopsTsmdNamingTheField) {
    const std::string lib = env("TSM_FRONT_PLUGIN");
    const std::vector<std::pair<std::string, std::string>> cases = {
        {R"({"routes":{"t.x":{"path":"ops","instances":[]}}})", "routes.t.x.path"},
        {R"({"routes":{"t.x":{"path":"/ops","instances":["http://127.0.0.1:1/sp"]}}})",
         "routes.t.x.instances[0]"},
        {R"({"routes":{"t x":{"path":"/ops"}}})", "actionCode 't x'"},
        {R"({"routes":{"t.x":{"path":"/ops","operation":"yes"}}})", "operation must be true"},
        {R"({"healthCheck":{"intervalMs":0}})", "healthCheck.intervalMs"},
        {R"({"rateLimit":{"burst":3}})", "rateLimit.requestsPerSecond"},
        {R"({"maxBodyBytes":"big"})", "maxBodyBytes must be an integer"},
        {R"({"registrars":"sp-a"})", "registrars must be a list"},
        {R"({"upstreamTLS":{}})", "upstreamTLS is not a known field"},
        {R"({"upstreamTls":{"ca":"/nonexistent/ca.pem"}})", "upstreamTls (ca, certificate, key)"},
        {R"({"upstreamTls":{"forwardClient":true}})", "upstreamTls.forwardClient needs"},
        {R"({"upstreamTls":{"forwardClient":1}})", "upstreamTls.forwardClient must be true"},
    };
    for (const auto& [config, words] : cases) {
        TsmdProcess t("[" + instance("front", lib, config) + "]");
        EXPECT_FALSE(t.start()) << config;
        EXPECT_EQ(t.exit_code(), 78) << config;
        EXPECT_NE(t.log().find(words), std::string::npos) << config << "\n" << t.log();
    }
}

TEST(FrontRouting, ARequestThatMayHaveReachedAnInstanceIsNotSentToAnother) {
    Rig rig("", false, 1);  // upstreamTls.timeoutSeconds 1; POST /slow answers after 2.5 s
    HttpsClient c = rig.front->client();
    const auto r = rig.act(c, "echo.slow");
    EXPECT_EQ(r.status, 502) << r.body;
    EXPECT_EQ(error_of(r), "upstream_failed");
    std::this_thread::sleep_for(std::chrono::milliseconds(2000));  // A's or B's answer is late
    HttpsClient ca = rig.a.client(), cb = rig.b.client();
    const int hits = ca.get("/sp/slow").json()->getValue<int>("hits") +
                     cb.get("/sp/slow").json()->getValue<int>("hits");
    EXPECT_EQ(hits, 1);  // sent once, never retried on the other instance
}

TEST(FrontRouting, ConcurrentClientsShareTheRoundRobinAndTheConnectionPools) {
    Rig rig;
    std::mutex m;
    std::map<std::string, int> count;
    std::vector<std::string> failures;
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&, t] {
            try {
                HttpsClient c = rig.front->client();
                for (int i = 0; i < 10; ++i) {
                    const auto r =
                        rig.act(c, "se.loss-report", ",\"n\":" + std::to_string(t * 100 + i));
                    const auto o = rig.act(c, "transit.topup");
                    const std::string id = o.json()->getValue<std::string>("operation");
                    const auto f = c.get("/front/operations/" + id);
                    std::lock_guard lock(m);
                    if (r.status != 200 || o.status != 201 || f.status != 200 ||
                        served_by(f) != served_by(o) ||
                        r.json()->getObject("request")->getValue<int>("n") != t * 100 + i)
                        failures.push_back(r.body + " " + o.body + " " + f.body);
                    ++count[served_by(r)];
                }
            } catch (const std::exception& e) {
                std::lock_guard lock(m);
                failures.push_back(e.what());
            }
        });
    for (auto& th : threads) th.join();
    EXPECT_TRUE(failures.empty()) << failures.front();
    EXPECT_EQ(count["A"], 20);
    EXPECT_EQ(count["B"], 20);
}

// ---- front-affinity -----------------------------------------------------------------------

TEST(FrontAffinity, FollowUpsReachTheInstanceThatStartedTheOperation) {
    Rig rig;
    HttpsClient c = rig.front->client();
    std::map<std::string, std::string> started;  // front id -> upstream name
    for (int i = 0; i < 4; ++i) {
        const auto r = rig.act(c, "transit.topup", R"(,"amount":500)");
        ASSERT_EQ(r.status, 201) << r.body;
        const std::string id = r.json()->getValue<std::string>("operation");
        EXPECT_EQ(id.size(), 32u) << id;
        EXPECT_EQ(id.find_first_not_of("0123456789abcdef"), std::string::npos) << id;
        EXPECT_EQ(id.find("op-"), std::string::npos);  // the upstream's id never shows
        EXPECT_EQ(r.json()->getObject("request")->getValue<int>("amount"), 500);
        started[id] = served_by(r);
    }
    ASSERT_EQ(started.size(), 4u);  // ids differ

    auto follow_all = [&](HttpsClient& client) {
        for (int round = 0; round < 3; ++round)
            for (const auto& [id, who] : started) {
                const auto g = client.get("/front/operations/" + id + "/status");
                ASSERT_EQ(g.status, 200) << g.body;
                EXPECT_EQ(served_by(g), who);
                EXPECT_EQ(g.json()->getValue<std::string>("operation"), id);
                EXPECT_EQ(g.json()->getValue<std::string>("method"), "GET");
                EXPECT_EQ(g.json()->getValue<std::string>("rest"), "/status");
                const auto p = client.post("/front/operations/" + id, R"({"apdu":"9000"})");
                ASSERT_EQ(p.status, 200) << p.body;
                EXPECT_EQ(served_by(p), who);
                EXPECT_EQ(p.json()->getObject("request")->getValue<std::string>("apdu"), "9000");
                EXPECT_EQ(p.json()->getValue<std::string>("rest"), "");
            }
    };
    follow_all(c);
    const std::string first = started.begin()->first;
    const auto d = c.request("DELETE", "/front/operations/" + first, "", "");
    EXPECT_EQ(d.status, 200);
    EXPECT_EQ(d.json()->getValue<std::string>("method"), "DELETE");

    // Unknown, malformed, or wrong-method operation ids.
    EXPECT_EQ(c.get("/front/operations/00112233445566778899aabbccddeeff").status, 404);
    EXPECT_EQ(error_of(c.get("/front/operations/00112233445566778899aabbccddeeff")),
              "unknown_operation");
    EXPECT_EQ(c.get("/front/operations/op-1").status, 404);
    EXPECT_EQ(c.request("PUT", "/front/operations/" + first, "{}", "").status, 405);

    // The records are in the TSM store: a restarted front, and a second front process on the
    // same store, route the follow-ups to the same instances.
    ASSERT_EQ(rig.front->stop(), 0) << rig.front->log();
    ASSERT_TRUE(rig.front->start()) << rig.front->log();
    HttpsClient c2 = rig.front->client();
    follow_all(c2);
    TsmdProcess second(rig.plugins(), rig.front->dir() + "/store");
    ASSERT_TRUE(second.start()) << second.log();
    HttpsClient c3 = second.client();
    follow_all(c3);
}

TEST(FrontAffinity, AnOperationUnusedForItsTtlIsForgotten) {
    Rig rig(R"(,"operationTtlSeconds":1)");
    HttpsClient c = rig.front->client();
    const auto r = rig.act(c, "transit.topup");
    ASSERT_EQ(r.status, 201) << r.body;
    const std::string id = r.json()->getValue<std::string>("operation");
    EXPECT_EQ(c.get("/front/operations/" + id).status, 200);
    std::this_thread::sleep_for(std::chrono::milliseconds(2100));
    const auto gone = c.get("/front/operations/" + id);
    EXPECT_EQ(gone.status, 404);
    EXPECT_EQ(error_of(gone), "unknown_operation");
    EXPECT_NE(gone.body.find("expired"), std::string::npos) << gone.body;
    EXPECT_EQ(c.get("/front/operations/" + id).body.find("expired"), std::string::npos);  // deleted
}

// ---- front-health -------------------------------------------------------------------------

TEST(FrontHealth, AStoppedUpstreamLosesNewActionsItsOperationsGetACleanRefusalAndItComesBack) {
    Rig rig;
    HttpsClient c = rig.front->client();
    std::map<std::string, std::string> op;  // upstream name -> front operation id
    for (int i = 0; i < 2; ++i) {
        const auto r = rig.act(c, "transit.topup");
        ASSERT_EQ(r.status, 201) << r.body;
        op[served_by(r)] = r.json()->getValue<std::string>("operation");
    }
    ASSERT_EQ(op.size(), 2u);
    ASSERT_TRUE(rig.wait_health(c, url_of(rig.a), true));

    ASSERT_EQ(rig.a.stop(), 0);
    // New actions all reach B at once: a request A certainly never got goes to the next one.
    for (int i = 0; i < 6; ++i) {
        const auto r = rig.act(c, i % 2 ? "transit.topup" : "se.loss-report");
        ASSERT_LT(r.status, 300) << r.body;
        EXPECT_EQ(served_by(r), "B");
    }
    // A's operation: the clean refusal, never B.
    const auto gone = c.get("/front/operations/" + op["A"] + "/status");
    EXPECT_EQ(gone.status, 503) << gone.body;
    EXPECT_EQ(error_of(gone), "operation_instance_unavailable");
    EXPECT_EQ(gone.json()->getValue<std::string>("message"),
              "the instance that runs operation " + op["A"] +
                  " is not reachable; start the operation again");
    EXPECT_EQ(c.get("/front/operations/" + op["B"] + "/status").status, 200);
    // An action only A serves: no healthy instance.
    const auto none = rig.act(c, "echo.missing");
    EXPECT_EQ(none.status, 503) << none.body;
    EXPECT_EQ(error_of(none), "no_instance");
    EXPECT_FALSE(Rig::health_of(c.get("/front/routes"), url_of(rig.a)));

    // The health check brings A back once it answers /healthz again.
    ASSERT_TRUE(rig.a.start()) << rig.a.log();
    ASSERT_TRUE(rig.wait_health(c, url_of(rig.a), true)) << rig.front->log();
    std::set<std::string> who;
    for (int i = 0; i < 4; ++i) who.insert(served_by(rig.act(c, "se.loss-report")));
    EXPECT_EQ(who, (std::set<std::string>{"A", "B"}));
    EXPECT_EQ(c.get("/front/operations/" + op["A"] + "/status").status, 200);
    EXPECT_NE(rig.front->log().find("is healthy again"), std::string::npos);

    // Both stopped: whether or not the checks noticed yet, nothing got the request.
    ASSERT_EQ(rig.a.stop(), 0);
    ASSERT_EQ(rig.b.stop(), 0);
    const auto down = rig.act(c, "se.loss-report");
    EXPECT_EQ(down.status, 503) << down.body;
    EXPECT_EQ(error_of(down), "no_instance");
}

TEST(FrontHealth, TheChecksAloneMarkAStoppedUpstreamAndNoActionIsSentToIt) {
    Rig rig;
    HttpsClient c = rig.front->client();
    ASSERT_TRUE(rig.wait_health(c, url_of(rig.b), true));
    ASSERT_EQ(rig.b.stop(), 0);
    // No forward has failed: only the periodic GET /healthz can notice.
    ASSERT_TRUE(rig.wait_health(c, url_of(rig.b), false)) << rig.front->log();
    EXPECT_NE(rig.front->log().find(url_of(rig.b) + " is unhealthy"), std::string::npos);
    EXPECT_EQ(rig.front->log().find("forward to " + url_of(rig.b)), std::string::npos);
    for (int i = 0; i < 4; ++i) EXPECT_EQ(served_by(rig.act(c, "se.loss-report")), "A");
    EXPECT_EQ(rig.front->log().find("forward to " + url_of(rig.b)), std::string::npos);
    ASSERT_EQ(rig.a.stop(), 0);
    ASSERT_TRUE(rig.wait_health(c, url_of(rig.a), false));
    EXPECT_EQ(error_of(rig.act(c, "se.loss-report")), "no_instance");
}

// ---- front-limits -------------------------------------------------------------------------

TEST(FrontLimits, BodySizeRateLimitAndRegistrars) {
    Rig rig(R"(,"maxBodyBytes":1024,"rateLimit":{"requestsPerSecond":0.2,"burst":3},)"
            R"("registrars":["sp-a"])");
    HttpsClient c = rig.front->client();
    const auto big = rig.act(c, "se.loss-report", ",\"pad\":\"" + std::string(2000, 'x') + "\"");
    EXPECT_EQ(big.status, 413);
    EXPECT_EQ(error_of(big), "payload_too_large");

    for (int i = 0; i < 3; ++i) EXPECT_EQ(rig.act(c, "se.loss-report").status, 200) << i;
    const auto limited = rig.act(c, "se.loss-report");
    EXPECT_EQ(limited.status, 429) << limited.body;
    EXPECT_EQ(error_of(limited), "rate_limited");
    const int wait = limited.json()->getValue<int>("retryAfterMs");
    EXPECT_GT(wait, 0);
    EXPECT_LE(wait, 5000);
    EXPECT_EQ(limited.json()->getValue<int>("retryAfterSeconds"), (wait + 999) / 1000);
    // Operation follow-ups count too.
    EXPECT_EQ(c.get("/front/operations/00112233445566778899aabbccddeeff").status, 429);
    std::this_thread::sleep_for(std::chrono::milliseconds(wait + 50));
    EXPECT_EQ(rig.act(c, "se.loss-report").status, 200);

    // Registrations and the routes list are for the registrars only (this client has no CN).
    const auto reg = c.post("/front/registrations",
                            R"({"instance":")" + url_of(rig.a) + R"(","actionCodes":["x.y"]})");
    EXPECT_EQ(reg.status, 403);
    EXPECT_EQ(error_of(reg), "forbidden");
    EXPECT_EQ(c.get("/front/routes").status, 403);
}

TEST(FrontLimits, RegistrarsAndRateLimitsGoByTheClientCertificate) {
    Rig rig(R"(,"rateLimit":{"requestsPerSecond":0.2,"burst":2},"registrars":["sp-a"])", true);
    HttpsClient w1 = rig.ca->client(*rig.front, "wallet-1");
    HttpsClient w2 = rig.ca->client(*rig.front, "wallet-2");
    HttpsClient sp = rig.ca->client(*rig.front, "sp-a");
    // The upstreams (which require client certificates too) see the front's certificate.
    HttpResponse first;
    try {
        first = rig.act(w1, "se.loss-report");
    } catch (const std::exception& e) {  // tsmd closing mTLS connections (fixed in tsmd_main)
        FAIL() << e.what() << rig.front->log();
    }
    ASSERT_EQ(first.status, 200) << first.body << rig.front->log();
    EXPECT_EQ(first.json()->getValue<std::string>("client"), "front");
    EXPECT_EQ(rig.act(w1, "se.loss-report").status, 200);
    EXPECT_EQ(rig.act(w1, "se.loss-report").status, 429);
    // wallet-2 has its own bucket.
    EXPECT_EQ(rig.act(w2, "se.loss-report").status, 200);
    EXPECT_EQ(rig.act(w2, "se.loss-report").status, 200);
    EXPECT_EQ(rig.act(w2, "se.loss-report").status, 429);

    const std::string reg = R"({"instance":")" + url_of(rig.b) +
                            R"(","actionCodes":["transit.refund"],"path":"/served"})";
    const auto refused = w1.post("/front/registrations", reg);
    EXPECT_EQ(refused.status, 403);
    EXPECT_NE(refused.body.find("wallet-1"), std::string::npos) << refused.body;
    EXPECT_EQ(w1.get("/front/routes").status, 403);
    EXPECT_EQ(sp.post("/front/registrations", reg).status, 200);
    const auto routes = sp.get("/front/routes");
    EXPECT_EQ(routes.status, 200);
    EXPECT_NE(routes.body.find("transit.refund"), std::string::npos) << routes.body;
    const auto refund = rig.act(sp, "transit.refund");
    EXPECT_EQ(refund.status, 200) << refund.body;
    EXPECT_EQ(served_by(refund), "B");
}

/// Inserts @p member (e.g. "\"a\":1,") at the start of the object @p key in @p t's
/// configuration file, then restarts @p t (its port stays the same).
void restart_with(TsmdProcess& t, const std::string& key, const std::string& member) {
    t.stop();
    std::string config = slurp(t.config());
    const auto at = config.find("\"" + key + "\":{");
    if (at == std::string::npos) throw std::runtime_error("no " + key + " in " + config);
    config.insert(at + key.size() + 4, member);
    write(t.config(), config);
    if (!t.start()) throw std::runtime_error("restart: " + t.log());
}

TEST(FrontLimits, TheWalletsNameReachesInstancesThatTrustTheFrontAndNoOneElse) {
    Rig rig("", true);
    HttpsClient w1 = rig.ca->client(*rig.front, "wallet-1");
    // A believes the front (CN "front") as a proxy; B requires client certificates only.
    restart_with(rig.a, "tls", R"("trustedProxies":["front"],)");
    restart_with(*rig.front, "upstreamTls", R"("forwardClient":true,)");
    ASSERT_TRUE(rig.wait_health(w1, url_of(rig.a), true)) << rig.front->log();
    ASSERT_TRUE(rig.wait_health(w1, url_of(rig.b), true)) << rig.front->log();
    // Round robin: one action reaches A, which sees the wallet; B refuses the header (403,
    // relayed): a front that names wallets needs every instance to trust it.
    std::map<int, std::string> seen;
    for (int i = 0; i < 2; ++i) {
        const auto r = rig.act(w1, "se.loss-report");
        seen[r.status] = r.status == 200
                             ? served_by(r) + " " + r.json()->getValue<std::string>("client")
                             : r.body;
    }
    ASSERT_EQ(seen.size(), 2u) << seen.begin()->second;
    EXPECT_EQ(seen[200], "A wallet-1");
    EXPECT_NE(seen[403].find("X-TSM-Client is accepted only from the client certificates named "
                             "in this tsmd's tls.trustedProxies"),
              std::string::npos)
        << seen[403];

    // Straight to A: a wallet cannot claim a name; the front's certificate can, within limits.
    HttpsClient direct = rig.ca->client(rig.a, "wallet-1");
    const std::string body = R"({"actionCode":"se.loss-report"})";
    const auto claimed =
        direct.request("POST", "/sp/served", body, "", {{"X-TSM-Client", "wallet-2"}});
    EXPECT_EQ(claimed.status, 403) << claimed.body;
    const auto plain = direct.post("/sp/served", body);
    ASSERT_EQ(plain.status, 200) << plain.body;
    EXPECT_EQ(plain.json()->getValue<std::string>("client"), "wallet-1");
    HttpsClient proxy = rig.ca->client(rig.a, "front");
    const auto named =
        proxy.request("POST", "/sp/served", body, "", {{"X-TSM-Client", "wallet-9"}});
    ASSERT_EQ(named.status, 200) << named.body;
    EXPECT_EQ(named.json()->getValue<std::string>("client"), "wallet-9");
    const auto unnamed = proxy.post("/sp/served", body);
    EXPECT_EQ(unnamed.json()->getValue<std::string>("client"), "front");
    for (const std::string& bad : {std::string(65, 'w'), std::string("w\x7f")}) {
        const auto r = proxy.request("POST", "/sp/served", body, "", {{"X-TSM-Client", bad}});
        EXPECT_EQ(r.status, 400) << r.body;
        EXPECT_NE(r.body.find("1 to 64 printable ASCII"), std::string::npos) << r.body;
    }
}

TEST(FrontLimits, RegistrationsAddRoutesRenewWithHeartbeatsAndExpire) {
    Rig rig;
    HttpsClient c = rig.front->client();
    const std::string b = url_of(rig.b);
    auto heartbeat = [&](int ttl) {
        return c.post("/front/registrations", R"({"instance":")" + b +
                                                  R"(","actionCodes":["transit.refund"],)"
                                                  R"("path":"/served","ttlSeconds":)" +
                                                  std::to_string(ttl) + "}");
    };
    EXPECT_EQ(rig.act(c, "transit.refund").status, 404);
    const auto r = heartbeat(3);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.json()->getValue<int>("ttlSeconds"), 3);
    const auto served = rig.act(c, "transit.refund");
    ASSERT_EQ(served.status, 200) << served.body;
    EXPECT_EQ(served_by(served), "B");
    const auto routes = c.get("/front/routes");
    EXPECT_NE(routes.body.find(R"("source":"registered")"), std::string::npos) << routes.body;
    EXPECT_NE(routes.body.find(R"("source":"static")"), std::string::npos) << routes.body;
    EXPECT_NE(routes.body.find("expiresInMs"), std::string::npos) << routes.body;

    // Heartbeats every second keep it past its first ttl...
    for (int i = 0; i < 3; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1000));
        ASSERT_EQ(heartbeat(3).status, 200);
    }
    EXPECT_EQ(rig.act(c, "transit.refund").status, 200);
    // ...and without them it expires.
    std::this_thread::sleep_for(std::chrono::milliseconds(3500));
    const auto expired = rig.act(c, "transit.refund");
    EXPECT_EQ(expired.status, 404) << expired.body;
    EXPECT_EQ(error_of(expired), "unknown_action_code");
    EXPECT_NE(rig.front->log().find("registration of " + b + " expired"), std::string::npos);

    // DELETE ends one at once.
    ASSERT_EQ(heartbeat(60).status, 200);
    EXPECT_EQ(rig.act(c, "transit.refund").status, 200);
    std::string q;
    Poco::URI::encode(b, ":/?&=", q);
    EXPECT_EQ(c.request("DELETE", "/front/registrations?instance=" + q, "", "").status, 204);
    EXPECT_EQ(rig.act(c, "transit.refund").status, 404);
    EXPECT_EQ(c.request("DELETE", "/front/registrations?instance=" + q, "", "").status, 404);
    EXPECT_EQ(c.request("DELETE", "/front/registrations", "", "").status, 400);

    // Bad registrations name the field.
    auto expect_400 = [&](const std::string& body, const std::string& words) {
        const auto x = c.post("/front/registrations", body);
        EXPECT_EQ(x.status, 400) << body << " -> " << x.body;
        EXPECT_NE(x.body.find(words), std::string::npos) << body << " -> " << x.body;
    };
    expect_400(R"({"actionCodes":["a.b"]})", "instance");
    expect_400(R"({"instance":"http://127.0.0.1:1/sp","actionCodes":["a.b"]})", "instance");
    expect_400(R"({"instance":")" + b + R"("})", "actionCodes");
    expect_400(R"({"instance":")" + b + R"(","actionCodes":["a b"]})", "actionCodes[0]");
    expect_400(R"({"instance":")" + b + R"(","actionCodes":["a.b"],"ttlSeconds":0})", "ttlSeconds");
    expect_400(R"({"instance":")" + b + R"(","actionCodes":["a.b"],"ttl":5})", "ttl is not");
    expect_400("[]", "JSON object");
}

}  // namespace
}  // namespace kms::test
