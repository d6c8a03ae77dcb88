// The front's domain without I/O: which instances serve an actionCode (static rules,
// registrations renewed and expired, their per-code routes), health transitions, the round robin
// skipping unhealthy instances, token buckets per client, and the affinity records' codec and ids.
#include <gtest/gtest.h>

#include "affinity.hpp"
#include "limits.hpp"
#include "routing.hpp"

namespace kms::tsm::front {
namespace {

const std::string kA = "https://127.0.0.1:9444/sp";
const std::string kB = "https://127.0.0.1:9445/sp";
const std::string kC = "https://127.0.0.1:9446/sp";

RoutingTable table() {
    return RoutingTable({{"transit.topup", {"/operations", true, {kA, kB}}},
                         {"se.loss-report", {"/loss-reports", false, {kC}}}});
}

std::vector<std::string> urls(const std::vector<Candidate>& cs) {
    std::vector<std::string> out;
    for (const auto& c : cs) out.push_back(c.instance);
    return out;
}

TEST(FrontActionCode, OnlyShortCodesOfTheSafeAlphabet) {
    EXPECT_TRUE(valid_action_code("transit.topup"));
    EXPECT_TRUE(valid_action_code("A-b_9.z"));
    EXPECT_TRUE(valid_action_code(std::string(64, 'x')));
    EXPECT_FALSE(valid_action_code(""));
    EXPECT_FALSE(valid_action_code(std::string(65, 'x')));
    EXPECT_FALSE(valid_action_code("transit topup"));
    EXPECT_FALSE(valid_action_code("transit/topup"));
    EXPECT_FALSE(valid_action_code("caf\xc3\xa9"));
}

TEST(FrontRoutingTable, StaticRulesGiveTheirPathOperationFlagAndInstances) {
    const RoutingTable t = table();
    const auto top = t.candidates("transit.topup", 0);
    ASSERT_EQ(top.size(), 2u);
    EXPECT_EQ(urls(top), (std::vector<std::string>{kA, kB}));
    EXPECT_EQ(top[0].path, "/operations");
    EXPECT_TRUE(top[0].operation);
    EXPECT_EQ(top[0].source, Source::Static);
    const auto loss = t.candidates("se.loss-report", 0);
    ASSERT_EQ(loss.size(), 1u);
    EXPECT_EQ(loss[0].path, "/loss-reports");
    EXPECT_FALSE(loss[0].operation);
    EXPECT_TRUE(t.candidates("transit.refund", 0).empty());
    EXPECT_TRUE(t.candidates("transit.topu", 0).empty());  // exact match only
    EXPECT_EQ(t.action_codes(0), (std::vector<std::string>{"se.loss-report", "transit.topup"}));
    EXPECT_EQ(t.instances(0), (std::set<std::string>{kA, kB, kC}));
}

TEST(FrontRoutingTable, RegistrationsJoinRulesRenewAndExpire) {
    RoutingTable t = table();
    // A registered instance for a code with a rule takes the rule's path and flag.
    EXPECT_EQ(t.register_instance({kC, {"transit.topup", "transit.refund"}, 15000, {}, {}}, 1000),
              16000);
    auto top = t.candidates("transit.topup", 2000);
    ASSERT_EQ(top.size(), 3u);
    EXPECT_EQ(top[2].instance, kC);
    EXPECT_EQ(top[2].source, Source::Registered);
    EXPECT_EQ(top[2].path, "/operations");
    EXPECT_TRUE(top[2].operation);
    EXPECT_EQ(top[2].expires_at, 16000);
    // A code without a rule: the registration's defaults.
    auto refund = t.candidates("transit.refund", 2000);
    ASSERT_EQ(refund.size(), 1u);
    EXPECT_EQ(refund[0].path, "/actions");
    EXPECT_FALSE(refund[0].operation);

    // A heartbeat at 10 s renews to 25 s, and replaces the list of codes.
    t.register_instance({kC, {"transit.topup"}, 15000, {}, {}}, 10000);
    EXPECT_EQ(t.candidates("transit.topup", 20000).size(), 3u);
    EXPECT_TRUE(t.candidates("transit.refund", 20000).empty());
    // Not renewed: it stops counting at its expiry even before expire() runs...
    EXPECT_EQ(t.candidates("transit.topup", 25000).size(), 2u);
    EXPECT_EQ(t.instances(25000), (std::set<std::string>{kA, kB, kC}));  // kC is static too
    // ...and expire() drops it.
    EXPECT_TRUE(t.expire(24999).empty());
    EXPECT_EQ(t.expire(25000), (std::vector<std::string>{kC}));
    EXPECT_FALSE(t.unregister(kC));
}

TEST(FrontRoutingTable, OwnPathForNewCodesAndUnregister) {
    RoutingTable t({});
    t.register_instance({kB, {"x.y"}, 5000, std::string("/ops"), true}, 0);
    auto c = t.candidates("x.y", 1);
    ASSERT_EQ(c.size(), 1u);
    EXPECT_EQ(c[0].path, "/ops");
    EXPECT_TRUE(c[0].operation);
    EXPECT_EQ(t.action_codes(1), std::vector<std::string>{"x.y"});
    EXPECT_EQ(t.instances(1), std::set<std::string>{kB});
    EXPECT_TRUE(t.unregister(kB));
    EXPECT_TRUE(t.candidates("x.y", 1).empty());
    EXPECT_TRUE(t.action_codes(1).empty());
}

TEST(FrontRoutingTable, PerCodeRoutesOfARegistrationAndTheStaticRuleStillWins) {
    RoutingTable t = table();
    RoutingTable::Registration r{kC, {"se.lock", "se.report", "transit.topup"}, 5000, {}, {}};
    r.routes = {{"se.lock", {"/ses/lock", true}}, {"transit.topup", {"/mine", false}}};
    t.register_instance(r, 0);
    auto lock = t.candidates("se.lock", 1);
    ASSERT_EQ(lock.size(), 1u);
    EXPECT_EQ(lock[0].path, "/ses/lock");
    EXPECT_TRUE(lock[0].operation);
    auto report = t.candidates("se.report", 1);  // not in routes: the common default
    ASSERT_EQ(report.size(), 1u);
    EXPECT_EQ(report[0].path, "/actions");
    EXPECT_FALSE(report[0].operation);
    const auto topup = t.candidates("transit.topup", 1);  // a static rule: its path and flag
    ASSERT_EQ(topup.size(), 3u);
    EXPECT_EQ(topup[2].instance, kC);
    EXPECT_EQ(topup[2].path, "/operations");
    EXPECT_TRUE(topup[2].operation);
    // A heartbeat without routes drops them.
    t.register_instance({kC, {"se.lock"}, 5000, std::string("/x"), false}, 2);
    EXPECT_EQ(t.candidates("se.lock", 3)[0].path, "/x");
}

TEST(FrontRoutingTable, AnInstanceBothStaticAndRegisteredIsOneCandidate) {
    RoutingTable t = table();
    t.register_instance({kA, {"transit.topup"}, 5000, {}, {}}, 0);
    const auto c = t.candidates("transit.topup", 1);
    EXPECT_EQ(urls(c), (std::vector<std::string>{kA, kB}));
    EXPECT_EQ(c[0].source, Source::Static);
}

TEST(FrontHealth, FailuresInARowMakeUnhealthyOneSuccessHealthy) {
    HealthTracker h(2);
    EXPECT_TRUE(h.healthy(kA));  // never seen
    h.failure(kA);
    EXPECT_TRUE(h.healthy(kA));
    EXPECT_EQ(h.failures(kA), 1);
    h.success(kA);  // not in a row
    h.failure(kA);
    EXPECT_TRUE(h.healthy(kA));
    h.failure(kA);
    EXPECT_FALSE(h.healthy(kA));
    h.failure(kA);
    EXPECT_FALSE(h.healthy(kA));
    h.success(kA);
    EXPECT_TRUE(h.healthy(kA));
    EXPECT_EQ(h.failures(kA), 0);
    // A failed forward: unhealthy at once.
    h.suspect(kB);
    EXPECT_FALSE(h.healthy(kB));
    EXPECT_TRUE(h.healthy(kA));
    HealthTracker one(1);
    one.failure(kC);
    EXPECT_FALSE(one.healthy(kC));
}

TEST(FrontRoundRobin, TakesTurnsAndSkipsUnhealthyInstances) {
    RoutingTable t(
        {{"transit.topup", {"/operations", true, {kA, kB, kC}}}, {"other", {"/o", false, {kA}}}});
    HealthTracker h(1);
    RoundRobin rr;
    const auto all = t.candidates("transit.topup", 0);
    std::vector<std::string> firsts;
    for (int i = 0; i < 6; ++i) firsts.push_back(rr.order("transit.topup", all, h)[0].instance);
    EXPECT_EQ(firsts, (std::vector<std::string>{kA, kB, kC, kA, kB, kC}));
    // The fallbacks follow the first in circular order.
    EXPECT_EQ(urls(rr.order("transit.topup", all, h)), (std::vector<std::string>{kA, kB, kC}));
    EXPECT_EQ(urls(rr.order("transit.topup", all, h)), (std::vector<std::string>{kB, kC, kA}));
    // Another code has its own turn.
    EXPECT_EQ(rr.order("other", t.candidates("other", 0), h)[0].instance, kA);

    h.failure(kB);
    std::set<std::string> seen;
    for (int i = 0; i < 4; ++i) {
        const auto o = rr.order("transit.topup", all, h);
        ASSERT_EQ(o.size(), 2u);
        seen.insert(o[0].instance);
        EXPECT_NE(o[0].instance, kB);
        EXPECT_NE(o[1].instance, kB);
    }
    EXPECT_EQ(seen, (std::set<std::string>{kA, kC}));
    h.failure(kA);
    h.failure(kC);
    EXPECT_TRUE(rr.order("transit.topup", all, h).empty());
    h.success(kB);
    EXPECT_EQ(urls(rr.order("transit.topup", all, h)), std::vector<std::string>{kB});
}

TEST(FrontTokenBucket, BurstThenRefillAtTheRate) {
    TokenBucket b(2.0, 3.0, 0);  // 2 per second, burst 3
    EXPECT_EQ(b.take(0), 0);
    EXPECT_EQ(b.take(0), 0);
    EXPECT_EQ(b.take(0), 0);
    EXPECT_EQ(b.take(0), 500);  // one token takes 500 ms at 2/s
    EXPECT_EQ(b.take(100), 400);
    EXPECT_EQ(b.take(500), 0);
    EXPECT_EQ(b.take(500), 500);
    EXPECT_FALSE(b.full(1000));
    EXPECT_TRUE(b.full(2000));
    // Refill stops at the burst.
    EXPECT_EQ(b.take(100000), 0);
    EXPECT_EQ(b.take(100000), 0);
    EXPECT_EQ(b.take(100000), 0);
    EXPECT_GT(b.take(100000), 0);
    // A clock going back adds nothing.
    EXPECT_GT(b.take(50000), 0);
}

TEST(FrontRateLimiter, OneBucketPerClientAndBoundedMemory) {
    RateLimiter r(1.0, 2.0, 3);
    EXPECT_EQ(r.take("wallet-1", 0), 0);
    EXPECT_EQ(r.take("wallet-1", 0), 0);
    EXPECT_EQ(r.take("wallet-1", 0), 1000);
    EXPECT_EQ(r.take("wallet-2", 0), 0);  // not affected by wallet-1
    EXPECT_EQ(r.take("", 0), 0);          // clients without a certificate share ""
    EXPECT_EQ(r.clients(), 3u);
    // A fourth client at t=10 s: the full buckets are forgotten first.
    EXPECT_EQ(r.take("wallet-4", 10000), 0);
    EXPECT_EQ(r.clients(), 1u);
    // At the limit with buckets that are not full: kept (the limit is soft, not a reset).
    RateLimiter busy(1.0, 1.0, 2);
    busy.take("a", 0);
    busy.take("b", 0);
    busy.take("c", 0);
    EXPECT_EQ(busy.clients(), 3u);
    EXPECT_EQ(busy.take("a", 0), 1000);
}

TEST(FrontAffinity, RecordsRoundTripAndMalformedOnesAreRefused) {
    OperationRecord r{kA,         "/operations", "op:7\nwith:colons", "transit.topup",
                      "wallet-1", 1764000000,    1764000042};
    const std::string text = encode(r);
    EXPECT_EQ(text.rfind("front-op/1\n", 0), 0u);
    const auto back = decode(text);
    ASSERT_TRUE(back);
    EXPECT_EQ(back->instance, r.instance);
    EXPECT_EQ(back->path, r.path);
    EXPECT_EQ(back->upstream_id, r.upstream_id);
    EXPECT_EQ(back->action_code, r.action_code);
    EXPECT_EQ(back->client, r.client);
    EXPECT_EQ(back->created_s, r.created_s);
    EXPECT_EQ(back->last_used_s, r.last_used_s);
    OperationRecord empty{};
    ASSERT_TRUE(decode(encode(empty)));
    EXPECT_EQ(decode(encode(empty))->client, "");

    EXPECT_FALSE(decode(""));
    EXPECT_FALSE(decode("front-op/2\n" + text.substr(11)));
    EXPECT_FALSE(decode(text + "x"));
    EXPECT_FALSE(decode(text.substr(0, text.size() - 1)));
    for (std::size_t cut = 0; cut < text.size(); ++cut) EXPECT_FALSE(decode(text.substr(0, cut)));
    std::string long_len = text;
    long_len.replace(11, 2, "99");  // instance length 25 -> 99: runs into the next field
    EXPECT_FALSE(decode(long_len));
    OperationRecord bad_number = r;
    std::string t2 = encode(bad_number);
    t2.replace(t2.find("1764000000"), 10, "17640000x0");
    EXPECT_FALSE(decode(t2));
}

TEST(FrontAffinity, OperationIdsAre128BitHexAndExpireByLastUse) {
    std::array<std::uint8_t, 16> bytes{};
    for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<std::uint8_t>(i * 17);
    const std::string id = operation_id(bytes);
    EXPECT_EQ(id, "00112233445566778899aabbccddeeff");
    EXPECT_TRUE(valid_operation_id(id));
    EXPECT_FALSE(valid_operation_id(id.substr(1)));
    EXPECT_FALSE(valid_operation_id(id + "0"));
    EXPECT_FALSE(valid_operation_id("00112233445566778899AABBCCDDEEFF"));
    EXPECT_FALSE(valid_operation_id("0011223344556677889/aabbccddeeff"));
    OperationRecord r;
    r.last_used_s = 1000;
    EXPECT_FALSE(operation_expired(r, 1999, 1000));
    EXPECT_TRUE(operation_expired(r, 2000, 1000));
    // The last use is written back once per ttl/60 (16 s of 1000 s), at least 1 s apart.
    EXPECT_FALSE(last_use_worth_writing(r, 1015, 1000));
    EXPECT_TRUE(last_use_worth_writing(r, 1016, 1000));
    EXPECT_FALSE(last_use_worth_writing(r, 1000, 30));
    EXPECT_TRUE(last_use_worth_writing(r, 1001, 30));
}

}  // namespace
}  // namespace kms::tsm::front
