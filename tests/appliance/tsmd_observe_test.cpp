// tsmd's observability (suite "appliance"): GET /metrics behind its bearer token file, read by
// the strict exposition parser, with counters that move by exactly the requests made per plugin
// instance; JSON log lines with one access line per request carrying the client's request id,
// and never the scrape token. A real tsmd with the echo test plugin: about 1 s.
#include <Poco/JSON/Parser.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <set>
#include <sstream>

#include "../tsm/tsmd_process.hpp"
#include "exposition.hpp"

namespace kms::test {
namespace {

const std::string kToken = "scrape-token-0123456789abcdef";

/// Adds logFormat json and the metrics token file (mode @p mode) to @p t's configuration.
void observe_config(const TsmdProcess& t, mode_t mode) {
    Poco::JSON::Parser parser;
    auto o = parser.parse(slurp(t.config())).extract<Poco::JSON::Object::Ptr>();
    o->set("logFormat", "json");
    Poco::JSON::Object::Ptr m = new Poco::JSON::Object;
    m->set("tokenFile", "metrics.token");
    o->set("metrics", m);
    std::ostringstream out;
    o->stringify(out);
    write(t.config(), out.str());
    write(t.dir() + "/metrics.token", kToken + "\n");
    ::chmod((t.dir() + "/metrics.token").c_str(), mode);
}

double requests(const Exposition& e, const std::string& instance, int code) {
    return sample_value(e, "tsm_http_requests_total", "tsm_http_requests_total",
                        {{"instance", instance}, {"code", std::to_string(code)}});
}

TEST(TsmdObserve, MetricsNeedTheTokenAndCountEveryRequestByInstance) {
    TsmdProcess t("[" + instance("alpha", env("TSM_ECHO_PLUGIN"), "{}") + "]");
    observe_config(t, 0600);
    ASSERT_TRUE(t.start()) << t.log();
    HttpsClient c = t.client();

    auto none = c.get("/metrics", "");
    EXPECT_EQ(none.status, 401) << none.body;
    EXPECT_EQ(c.get("/metrics", "wrong-token-0123456789").status, 401);
    EXPECT_EQ(c.post("/metrics", "{}", kToken).status, 404);
    auto first = c.get("/metrics", kToken);
    ASSERT_EQ(first.status, 200) << first.body;
    EXPECT_EQ(first.content_type, "text/plain; version=0.0.4; charset=utf-8");
    const Exposition before = parse_exposition(first.body);

    for (int i = 0; i < 3; ++i) {
        auto r = c.request("POST", "/alpha/echo", R"({"n":1})", "",
                           {{"X-Request-Id", "t-" + std::to_string(i)}});
        ASSERT_EQ(r.status, 200) << r.body;
        EXPECT_EQ(r.request_id, "t-" + std::to_string(i));
    }
    auto unknown = c.get("/no-such-instance/x", "");
    EXPECT_EQ(unknown.status, 404);
    EXPECT_EQ(unknown.request_id.rfind("tsmd-", 0), 0u) << unknown.request_id;
    EXPECT_EQ(c.get("/healthz", "").status, 200);
    auto second = c.get("/metrics", kToken);
    ASSERT_EQ(second.status, 200);
    const Exposition after = parse_exposition(second.body);

    EXPECT_EQ(requests(after, "alpha", 200) - requests(before, "alpha", 200), 3);
    EXPECT_EQ(requests(after, "unmatched", 404) - requests(before, "unmatched", 404), 1);
    EXPECT_EQ(requests(after, "healthz", 200) - requests(before, "healthz", 200), 1);
    EXPECT_EQ(requests(after, "metrics", 200) - requests(before, "metrics", 200), 1);
    EXPECT_EQ(requests(after, "metrics", 401), 2);
    EXPECT_EQ(requests(after, "metrics", 404), 1);
    EXPECT_EQ(sample_value(after, "tsm_http_request_duration_seconds",
                           "tsm_http_request_duration_seconds_count", {{"instance", "alpha"}}),
              3);
    EXPECT_EQ(after.at("kms_build_info").samples.at(0).labels.at("program"), "tsmd");
    for (const auto& [name, family] : after)
        for (const auto& s : family.samples)
            for (const auto& [label, value] : s.labels)
                EXPECT_EQ(value.find("no-such"), std::string::npos) << name;

    ASSERT_EQ(t.stop(), 0);
    const std::string log = t.log();
    EXPECT_EQ(log.find(kToken), std::string::npos) << "the scrape token was logged";
    std::istringstream in(log);
    std::string line;
    int access = 0;
    bool listening = false;
    std::set<std::string> ids;
    while (std::getline(in, line)) {
        if (line.empty()) continue;
        Poco::JSON::Object::Ptr o;
        try {
            o = Poco::JSON::Parser().parse(line).extract<Poco::JSON::Object::Ptr>();
        } catch (const std::exception&) {
            ADD_FAILURE() << "not a JSON object: " << line;
            continue;
        }
        ASSERT_TRUE(o->has("time") && o->has("level") && o->has("msg")) << line;
        const std::string msg = o->getValue<std::string>("msg");
        if (msg.rfind("listening on https://127.0.0.1:", 0) == 0) listening = true;
        if (msg != "access") continue;
        ++access;
        ids.insert(o->getValue<std::string>("request_id"));
        if (o->getValue<std::string>("request_id") == "t-1") {
            EXPECT_EQ(o->getValue<std::string>("instance"), "alpha");
            EXPECT_EQ(o->getValue<std::string>("path"), "/alpha/echo");
            EXPECT_EQ(o->getValue<int>("status"), 200);
            EXPECT_EQ(o->getValue<std::string>("tsmd_request").rfind("tsmd-", 0), 0u);
        }
    }
    EXPECT_TRUE(listening) << log;
    EXPECT_EQ(access, 10) << log;  // 5 scrapes or refusals, 3 echoes, 1 unknown, 1 healthz
    EXPECT_TRUE(ids.count("t-0") && ids.count("t-1") && ids.count("t-2")) << log;
}

TEST(TsmdObserve, ATokenFileOthersCanReadIsRefusedAtStart) {
    TsmdProcess t("[" + instance("alpha", env("TSM_ECHO_PLUGIN"), "{}") + "]");
    observe_config(t, 0644);
    EXPECT_FALSE(t.start());
    EXPECT_EQ(t.exit_code(), 78);
    EXPECT_NE(t.log().find("is readable by others"), std::string::npos) << t.log();
    EXPECT_EQ(t.log().find(kToken), std::string::npos);
}

TEST(TsmdObserve, WithoutAMetricsEntryThereIsNoMetricsRoute) {
    TsmdProcess t("[" + instance("alpha", env("TSM_ECHO_PLUGIN"), "{}") + "]");
    ASSERT_TRUE(t.start()) << t.log();
    HttpsClient c = t.client();
    EXPECT_EQ(c.get("/metrics", kToken).status, 404);
}

}  // namespace
}  // namespace kms::test
