// The registrar's pure pieces (tsm-services/front/registrar): the renewal period and backoff, the
// "front" configuration's checks (every refusal names its field), the registration body and the
// deregistration target.
#include <gtest/gtest.h>

#include <limits>
#include <stdexcept>

#include "registrar_config.hpp"
#include "registrar_schedule.hpp"

namespace kms::tsm::registrar {
namespace {

TEST(RegistrarSchedule, RenewsEveryThirdOfTheTtl) {
    EXPECT_EQ(renewal_interval_ms(15), 5000);
    EXPECT_EQ(renewal_interval_ms(1), 333);
    EXPECT_EQ(renewal_interval_ms(2), 666);
    EXPECT_EQ(renewal_interval_ms(86400), 28'800'000);
}

TEST(RegistrarSchedule, RetriesAtMostEveryRenewalPeriodAndNeverMoreThan30s) {
    EXPECT_EQ(max_retry_ms(15), 5000);
    EXPECT_EQ(max_retry_ms(1), 333);
    EXPECT_EQ(max_retry_ms(90), 30000);
    EXPECT_EQ(max_retry_ms(86400), 30000);
}

TEST(RegistrarSchedule, BackoffDoublesUpToItsCapAndStartsAgainAfterASuccess) {
    Backoff b(200, 5000);
    const std::int64_t expected[] = {200, 400, 800, 1600, 3200, 5000, 5000};
    for (std::int64_t e : expected) EXPECT_EQ(b.next(), e);
    EXPECT_EQ(b.failures(), 7);
    b.reset();
    EXPECT_EQ(b.failures(), 0);
    EXPECT_EQ(b.next(), 200);
    EXPECT_EQ(b.next(), 400);
}

TEST(RegistrarSchedule, BackoffCapBelowTheFirstWaitIsRaisedAndNothingOverflows) {
    Backoff low(200, 100);
    EXPECT_EQ(low.next(), 200);
    EXPECT_EQ(low.next(), 200);
    const std::int64_t cap = std::numeric_limits<std::int64_t>::max() / 2;
    Backoff big(1, cap);
    std::int64_t last = 0;
    for (int i = 0; i < 200; ++i) {
        const std::int64_t w = big.next();
        ASSERT_GE(w, last) << i;
        ASSERT_LE(w, cap) << i;
        last = w;
    }
    EXPECT_EQ(last, cap);
}

const std::string kFull =
    R"({"kms": {"url": "x"}, "front": {"urls": ["https://127.0.0.1:9443/front",
       "https://10.0.0.2:9443/front"], "self": "https://127.0.0.1:9445/sp", "ca": "/etc/ca.pem",
       "certificate": "/etc/sp.crt", "key": "/etc/sp.key", "ttlSeconds": 6, "timeoutSeconds": 2,
       "actions": [{"actionCode": "transit.topup", "path": "/operations", "operation": true},
                   {"actionCode": "transit.balance", "path": "/operations", "operation": true}]}})";

TEST(RegistrarConfig, WithoutFrontTheInstanceDoesNotRegister) {
    EXPECT_FALSE(parse_front_registration(R"({"kms": {}})").has_value());
    EXPECT_FALSE(parse_front_registration("{}").has_value());
}

TEST(RegistrarConfig, ParsesEveryFieldAndBuildsTheRegistrationBody) {
    const auto s = parse_front_registration(kFull);
    ASSERT_TRUE(s.has_value());
    EXPECT_EQ(s->front_urls, (std::vector<std::string>{"https://127.0.0.1:9443/front",
                                                       "https://10.0.0.2:9443/front"}));
    EXPECT_EQ(s->self, "https://127.0.0.1:9445/sp");
    EXPECT_EQ(s->ca_file, "/etc/ca.pem");
    EXPECT_EQ(s->cert_file.value_or(""), "/etc/sp.crt");
    EXPECT_EQ(s->key_file.value_or(""), "/etc/sp.key");
    EXPECT_EQ(s->ttl_seconds, 6);
    EXPECT_EQ(s->timeout_seconds, 2);
    ASSERT_EQ(s->actions.size(), 2u);
    EXPECT_EQ(s->actions[1].action_code, "transit.balance");
    EXPECT_TRUE(s->actions[1].operation);
    EXPECT_TRUE(one_route(*s));
    EXPECT_EQ(registration_body(*s),
              R"({"instance":"https://127.0.0.1:9445/sp","actionCodes":["transit.topup",)"
              R"("transit.balance"],"ttlSeconds":6,"path":"/operations","operation":true})");
}

TEST(RegistrarConfig, DefaultsAreTtl15Timeout2PathActionsNoOperationNoClientCertificate) {
    const auto s = parse_front_registration(
        R"({"front": {"urls": ["https://127.0.0.1:9443/front"], "self": "https://h:1/se",
            "ca": "ca.pem", "actions": [{"actionCode": "se.loss-report"}]}})");
    ASSERT_TRUE(s.has_value());
    EXPECT_EQ(s->ttl_seconds, 15);
    EXPECT_EQ(s->timeout_seconds, 2);
    EXPECT_FALSE(s->cert_file.has_value());
    EXPECT_EQ(s->actions[0].path, "/actions");
    EXPECT_FALSE(s->actions[0].operation);
}

/// kFull with @p from replaced by @p to.
std::string with(const std::string& from, const std::string& to) {
    std::string s = kFull;
    const auto at = s.find(from);
    if (at == std::string::npos) throw std::logic_error("no " + from);
    return s.replace(at, from.size(), to);
}

TEST(RegistrarConfig, RefusalsNameTheField) {
    const std::pair<std::string, std::string> cases[] = {
        {R"({"front": []})", "front must be an object"},
        {R"({"front": {"urls": ["https://h:1/f"]}, "x": 1})", "front.self"},
        {with(R"("ttlSeconds": 6)", R"("ttl": 6)"), "front.ttl is not a known field"},
        {with(R"("urls": ["https://127.0.0.1:9443/front",
       "https://10.0.0.2:9443/front"])",
              R"("urls": [])"),
         "front.urls must be a list"},
        {with("https://10.0.0.2:9443/front", "http://10.0.0.2:9443/front"), "front.urls[1]"},
        {with("https://10.0.0.2:9443/front", "https://127.0.0.1:9443/front"),
         "front.urls[1] is listed twice"},
        {with("https://127.0.0.1:9445/sp", "https://127.0.0.1:9445/sp/"), "front.self"},
        {with("https://127.0.0.1:9445/sp", "https://127.0.0.1:9445"), "front.self"},
        {with(R"("ca": "/etc/ca.pem",)", ""), "front.ca"},
        {with(R"("ca": "/etc/ca.pem")", R"("ca": 7)"), "front.ca must be a non-empty string"},
        {with(R"("key": "/etc/sp.key",)", ""), "front.certificate and front.key go together"},
        {with(R"("ttlSeconds": 6)", R"("ttlSeconds": 0)"),
         "front.ttlSeconds must be an integer 1..86400"},
        {with(R"("ttlSeconds": 6)", R"("ttlSeconds": "6")"), "front.ttlSeconds"},
        {with(R"("ttlSeconds": 6)", R"("ttlSeconds": 6.5)"), "front.ttlSeconds"},
        {with(R"("timeoutSeconds": 2)", R"("timeoutSeconds": 61)"), "front.timeoutSeconds"},
        {with(R"("actionCode": "transit.topup")", R"("actionCode": "transit topup")"),
         "front.actions[0].actionCode must be 1..64"},
        {with(R"("actionCode": "transit.balance")", R"("actionCode": "transit.topup")"),
         "front.actions[1].actionCode transit.topup is listed twice"},
        {with(R"("path": "/operations", "operation": true},)",
              R"("path": "operations", "operation": true},)"),
         "front.actions[0].path must start with '/'"},
        {with(R"("path": "/operations", "operation": true},)",
              R"("path": "/operations", "operation": "yes"},)"),
         "front.actions[0].operation must be true or false"},
        {with(R"("path": "/operations", "operation": true},)",
              R"("path": "/operations", "operation": true, "weight": 2},)"),
         "front.actions[0].weight is not a known field"},
    };
    for (const auto& [config, message] : cases) {
        try {
            parse_front_registration(config);
            ADD_FAILURE() << "accepted: " << config;
        } catch (const std::invalid_argument& e) {
            EXPECT_NE(std::string(e.what()).find(message), std::string::npos)
                << e.what() << "\nexpected: " << message;
        }
    }
}

TEST(RegistrarConfig, CodesAtDifferentPathsAreSentAsARoutePerCode) {
    const auto s = parse_front_registration(
        with(R"("actionCode": "transit.balance", "path": "/operations", "operation": true)",
             R"("actionCode": "transit.balance", "path": "/balances")"));
    ASSERT_TRUE(s.has_value());
    EXPECT_FALSE(one_route(*s));
    EXPECT_EQ(s->actions[1].path, "/balances");
    EXPECT_FALSE(s->actions[1].operation);
    EXPECT_EQ(registration_body(*s),
              R"({"instance":"https://127.0.0.1:9445/sp","actionCodes":["transit.topup",)"
              R"("transit.balance"],"ttlSeconds":6,"routes":{"transit.topup":{"path":)"
              R"("/operations","operation":true},"transit.balance":{"path":"/balances",)"
              R"("operation":false}}})");
}

TEST(RegistrarConfig, TheDeregistrationTargetPercentEncodesTheUrl) {
    EXPECT_EQ(deregistration_target("https://127.0.0.1:9445/sp"),
              "/registrations?instance=https%3A%2F%2F127.0.0.1%3A9445%2Fsp");
    EXPECT_EQ(deregistration_target("https://h:1/a&b=c"),
              "/registrations?instance=https%3A%2F%2Fh%3A1%2Fa%26b%3Dc");
}

TEST(RegistrarConfig, ActionCodesFollowTheFrontsRule) {
    EXPECT_TRUE(valid_action_code("transit.topup"));
    EXPECT_TRUE(valid_action_code("A-z_0.9"));
    EXPECT_TRUE(valid_action_code(std::string(64, 'a')));
    EXPECT_FALSE(valid_action_code(std::string(65, 'a')));
    EXPECT_FALSE(valid_action_code(""));
    EXPECT_FALSE(valid_action_code("a/b"));
    EXPECT_FALSE(valid_action_code("é"));
}

}  // namespace
}  // namespace kms::tsm::registrar
