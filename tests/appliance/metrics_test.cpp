// GET /metrics of a real kmsd (suite "appliance"): who may scrape it, that the text is valid
// exposition format 0.0.4 (read by the strict parser in exposition.hpp), that the request
// counters move by exactly the requests made and carry route templates instead of key ids, and
// that HSM failures injected by the fault shim (hsm-adapters/faultshim) show in the HSM error
// and session pool series. One kmsd on a fault-shim token for the whole program: about 3 s.
#include <thread>

#include "../reliability/faults/fault_rig.hpp"
#include "exposition.hpp"

namespace kms::test {
namespace {

class Metrics : public ::testing::Test {
  public:
    static void SetUpTestSuite() {
        s_rig = std::make_unique<FaultRig>();
        auto args = s_rig->kmsd_args();
        // One session and a short wait, so the pool test can make a request time out.
        for (const char* a : {"--hsm-sessions", "1", "--hsm-wait-ms", "300"}) args.push_back(a);
        s_kmsd = std::make_unique<KmsdProcess>(args);
        s_admin = s_kmsd->admin_token();
        HttpsClient c("127.0.0.1", s_kmsd->port(), s_kmsd->ca_file());
        auto principal = [&](const std::string& name, const std::string& role) {
            auto r = c.post("/v1/principals",
                            R"({"name":")" + name + R"(","roles":[")" + role + R"("]})", s_admin);
            if (r.status != 201) throw std::runtime_error("principal " + name + ": " + r.body);
            return r.json()->getValue<std::string>("token");
        };
        s_monitor = principal("prometheus", "monitor");
        s_auditor = principal("auditor", "auditor");
        s_officer = principal("officer", "key-officer");
        // Before the first scrape: the key census is then taken with this key in it.
        auto k = c.post("/v1/keys", R"({"name":"m-key","algorithm":"AES-256","usage":["mac"]})",
                        s_admin);
        if (k.status != 201) throw std::runtime_error("key: " + k.body);
        s_key_id = k.json()->getValue<std::string>("id");
    }
    static void TearDownTestSuite() {
        s_kmsd.reset();
        s_rig.reset();
    }

  protected:
    void SetUp() override {
        m_client = std::make_unique<HttpsClient>("127.0.0.1", s_kmsd->port(), s_kmsd->ca_file());
    }
    Exposition scrape() {
        auto r = m_client->get("/metrics", s_monitor);
        EXPECT_EQ(r.status, 200) << r.body;
        EXPECT_EQ(r.content_type, "text/plain; version=0.0.4; charset=utf-8");
        return parse_exposition(r.body);
    }
    static double requests(const Exposition& e, const std::string& route, const std::string& method,
                           int code) {
        return sample_value(e, "kms_http_requests_total", "kms_http_requests_total",
                            {{"route", route}, {"method", method}, {"code", std::to_string(code)}});
    }
    static double latency_count(const Exposition& e, const std::string& route,
                                const std::string& method) {
        return sample_value(e, "kms_http_request_duration_seconds",
                            "kms_http_request_duration_seconds_count",
                            {{"route", route}, {"method", method}});
    }

    static std::unique_ptr<FaultRig> s_rig;
    static std::unique_ptr<KmsdProcess> s_kmsd;
    static std::string s_admin, s_monitor, s_auditor, s_officer, s_key_id;
    std::unique_ptr<HttpsClient> m_client;
};
std::unique_ptr<FaultRig> Metrics::s_rig;
std::unique_ptr<KmsdProcess> Metrics::s_kmsd;
std::string Metrics::s_admin, Metrics::s_monitor, Metrics::s_auditor, Metrics::s_officer,
    Metrics::s_key_id;

TEST_F(Metrics, OnlyAdminAuditorAndMonitorMayScrapeAndAMonitorMayDoNothingElse) {
    auto anonymous = m_client->get("/metrics");
    EXPECT_EQ(anonymous.status, 401) << anonymous.body;
    EXPECT_EQ(anonymous.json()->getValue<std::string>("error"), "unauthenticated");
    auto officer = m_client->get("/metrics", s_officer);
    EXPECT_EQ(officer.status, 403) << officer.body;
    EXPECT_NE(officer.json()->getValue<std::string>("message").find("metrics"), std::string::npos)
        << officer.body;
    EXPECT_EQ(m_client->get("/metrics", "not-a-token").status, 401);
    EXPECT_EQ(m_client->get("/metrics", s_auditor).status, 200);
    EXPECT_EQ(m_client->get("/metrics", s_admin).status, 200);
    EXPECT_EQ(m_client->get("/metrics", s_monitor).status, 200);

    // The monitor's token opens nothing else; /healthz needs no token at all.
    for (const char* path : {"/v1/keys", "/v1/whoami", "/v1/audit", "/v1/hsm"}) {
        auto r = m_client->get(path, s_monitor);
        EXPECT_EQ(r.status, 403) << path << ": " << r.body;
        EXPECT_NE(r.json()->getValue<std::string>("message").find("monitor"), std::string::npos);
    }
    auto random = m_client->post("/v1/random", R"({"length":8})", s_monitor);
    EXPECT_EQ(random.status, 403) << random.body;
    EXPECT_EQ(m_client->get("/healthz", s_monitor).status, 200);
    // Nor can a monitor approve dual-control requests.
    auto rule = m_client->request("PUT", "/v1/quorums/key.export",
                                  R"({"approvals":1,"approverRoles":["monitor"],"ttlSeconds":600})",
                                  s_admin);
    EXPECT_EQ(rule.status, 400) << rule.body;
}

TEST_F(Metrics, CountersMoveByExactlyTheRequestsMadeUnderTheRouteTemplate) {
    const Exposition before = scrape();
    const std::string key_path = "/v1/keys/" + s_key_id;
    for (int i = 0; i < 3; ++i) ASSERT_EQ(m_client->get(key_path, s_admin).status, 200);
    for (int i = 0; i < 2; ++i)
        ASSERT_EQ(m_client->get("/v1/keys/no-such-key-42", s_admin).status, 404);
    ASSERT_EQ(m_client->get("/no/such/endpoint", s_admin).status, 404);
    auto mac =
        m_client->post(key_path + "/mac", R"({"algorithm":"AES-CMAC","data":"00112233"})", s_admin);
    ASSERT_EQ(mac.status, 200) << mac.body;
    const Exposition after = scrape();

    const std::string tpl = "/v1/keys/{id}";
    EXPECT_EQ(requests(after, tpl, "GET", 200) - requests(before, tpl, "GET", 200), 3);
    EXPECT_EQ(requests(after, tpl, "GET", 404) - requests(before, tpl, "GET", 404), 2);
    EXPECT_EQ(latency_count(after, tpl, "GET") - latency_count(before, tpl, "GET"), 5);
    EXPECT_EQ(requests(after, "unmatched", "-", 404) - requests(before, "unmatched", "-", 404), 1);
    // The scrape itself is counted once it is answered: "before" shows in "after".
    EXPECT_EQ(requests(after, "/metrics", "GET", 200) - requests(before, "/metrics", "GET", 200),
              1);
    EXPECT_EQ(requests(after, "/v1/keys/{id}/mac", "POST", 200) -
                  requests(before, "/v1/keys/{id}/mac", "POST", 200),
              1);
    // One MAC through the HSM port (and its latency histogram).
    const auto mac_calls = [](const Exposition& e) {
        return sample_value(e, "kms_hsm_call_duration_seconds",
                            "kms_hsm_call_duration_seconds_count", {{"operation", "mac"}});
    };
    EXPECT_EQ(mac_calls(after) - mac_calls(before), 1);
    EXPECT_GE(sample_value(after, "kms_hsm_call_duration_seconds",
                           "kms_hsm_call_duration_seconds_count", {{"operation", "generate"}}),
              1);

    // No label value anywhere holds a key id or a raw path.
    for (const auto& [name, family] : after)
        for (const auto& s : family.samples)
            for (const auto& [label, value] : s.labels) {
                EXPECT_EQ(value.find(s_key_id), std::string::npos) << name << " " << label;
                EXPECT_EQ(value.find("no-such"), std::string::npos) << name << " " << label;
            }

    // The key census, the audit chain, the pool, the process.
    EXPECT_GE(sample_value(after, "kms_keys", "kms_keys",
                           {{"state", "Active"}, {"algorithm", "AES-256"}}),
              1);
    const double audit =
        sample_value(after, "kms_audit_chain_length", "kms_audit_chain_length", {});
    EXPECT_GE(audit, 5) << "first start, three principals and a key are audited";
    auto verify = m_client->get("/v1/audit/verify", s_auditor);
    ASSERT_EQ(verify.status, 200) << verify.body;
    EXPECT_GE(verify.json()->getValue<double>("headSeq"), audit);
    EXPECT_EQ(sample_value(after, "kms_hsm_sessions", "kms_hsm_sessions", {}), 1);
    EXPECT_LE(sample_value(after, "kms_hsm_sessions_in_use", "kms_hsm_sessions_in_use", {}), 1);
    const double started =
        sample_value(after, "process_start_time_seconds", "process_start_time_seconds", {});
    const double now = static_cast<double>(std::time(nullptr));
    EXPECT_GT(started, now - 600);
    EXPECT_LE(started, now + 1);
    ASSERT_EQ(after.at("kms_build_info").samples.size(), 1u);
    EXPECT_EQ(after.at("kms_build_info").samples[0].labels.at("program"), "kmsd");
    EXPECT_EQ(after.at("kms_build_info").samples[0].value, 1);
}

TEST_F(Metrics, AnInjectedHsmErrorShowsByFunctionAndCkrName) {
    const Exposition before = scrape();
    const std::map<std::string, std::string> labels = {
        {"operation", "random"}, {"function", "C_GenerateRandom"}, {"ckr", "CKR_GENERAL_ERROR"}};
    s_rig->control("fail C_GenerateRandom CKR_GENERAL_ERROR count=1");
    auto failed = m_client->post("/v1/random", R"({"length":16})", s_admin);
    s_rig->control("clear");
    EXPECT_EQ(failed.status, 500) << failed.body;
    auto ok = m_client->post("/v1/random", R"({"length":16})", s_admin);
    EXPECT_EQ(ok.status, 200) << ok.body;
    const Exposition after = scrape();
    EXPECT_EQ(sample_value(after, "kms_hsm_errors_total", "kms_hsm_errors_total", labels) -
                  sample_value(before, "kms_hsm_errors_total", "kms_hsm_errors_total", labels),
              1);
    EXPECT_EQ(
        requests(after, "/v1/random", "POST", 500) - requests(before, "/v1/random", "POST", 500),
        1);
    EXPECT_EQ(sample_value(after, "kms_hsm_call_duration_seconds",
                           "kms_hsm_call_duration_seconds_count", {{"operation", "random"}}) -
                  sample_value(before, "kms_hsm_call_duration_seconds",
                               "kms_hsm_call_duration_seconds_count", {{"operation", "random"}}),
              2);
}

TEST_F(Metrics, ASessionWaitThatRunsOutIsCountedAsAWaitAndATimeout) {
    const Exposition before = scrape();
    // The pool's one session is held 1.5 s by a slow C_GenerateRandom; a second request waits
    // --hsm-wait-ms (300 ms) and gets a 503.
    s_rig->control("delay C_GenerateRandom 1500");
    int slow_status = 0;
    std::thread slow([&] {
        HttpsClient c("127.0.0.1", s_kmsd->port(), s_kmsd->ca_file());
        slow_status = c.post("/v1/random", R"({"length":16})", s_admin).status;
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    auto waited = m_client->post("/v1/random", R"({"length":16})", s_admin);
    slow.join();
    s_rig->control("clear");
    EXPECT_EQ(slow_status, 200);
    EXPECT_EQ(waited.status, 503) << waited.body;
    const Exposition after = scrape();
    const auto figure = [](const Exposition& e, const std::string& name) {
        return sample_value(e, name, name, {});
    };
    EXPECT_GE(figure(after, "kms_hsm_session_waits_total") -
                  figure(before, "kms_hsm_session_waits_total"),
              1);
    EXPECT_GE(figure(after, "kms_hsm_session_wait_timeouts_total") -
                  figure(before, "kms_hsm_session_wait_timeouts_total"),
              1);
    // A failure without a CK_RV: empty function and ckr labels.
    const std::map<std::string, std::string> no_rv = {
        {"operation", "random"}, {"function", ""}, {"ckr", ""}};
    EXPECT_EQ(sample_value(after, "kms_hsm_errors_total", "kms_hsm_errors_total", no_rv) -
                  sample_value(before, "kms_hsm_errors_total", "kms_hsm_errors_total", no_rv),
              1);
    EXPECT_EQ(
        requests(after, "/v1/random", "POST", 503) - requests(before, "/v1/random", "POST", 503),
        1);
}

TEST(Exposition, TheStrictParserRefusesWhatKmsdMustNeverWrite) {
    // The parser is the test's yardstick: each of these must be refused.
    const char* bad[] = {
        "x_total 1\n",                                                       // no TYPE
        "# HELP x_total h\n# TYPE x_total counter\nx_total 1\nx_total 2\n",  // repeated
        "# HELP x h\n# TYPE x counter\nx 1\n",  // counter without _total
        "# HELP h h\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\n"
        "h_sum 1\nh_count 1\n",  // not cumulative
        "# HELP h h\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\n"
        "h_sum 1\nh_count 3\n",                           // +Inf != count
        "# HELP g h\n# TYPE g gauge\ng{a=\"x\\y\"} 1\n",  // bad escape
        "# HELP g h\n# TYPE g gauge\ng{a=\"x\"} 1",       // no final newline
    };
    for (const char* text : bad) EXPECT_THROW(parse_exposition(text), std::runtime_error) << text;
    const auto ok = parse_exposition(
        "# HELP g h\n# TYPE g gauge\ng{a=\"q\\\"\\\\\\n\"} 1\n# HELP h h\n# TYPE h histogram\n"
        "h_bucket{le=\"0.5\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 0.7\nh_count 2\n");
    EXPECT_EQ(ok.at("g").samples[0].labels.at("a"), "q\"\\\n");
}

}  // namespace
}  // namespace kms::test
