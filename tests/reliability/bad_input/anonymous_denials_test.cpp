// The audit of unauthenticated denials (kms-core/api/denial_audit.hpp): the per-address limiter
// with a fake clock, and a real kmsd started with --anonymous-denials-per-minute 5 flooded by a
// client without credentials (suite "reliability").
#include <gtest/gtest.h>

#include "api/denial_audit.hpp"
#include "kmsd_process.hpp"

namespace kms::test {
namespace {

using api::AnonymousDenialLimiter;

TEST(AnonymousDenialLimiter, RecordsUpToTheLimitThenCountsAndSummarizes) {
    AnonymousDenialLimiter l(3, 60000);
    for (int i = 0; i < 3; ++i) {
        const auto d = l.admit("10.0.0.1", 1000 + i);
        EXPECT_TRUE(d.record);
        EXPECT_FALSE(d.limit_reached);
    }
    const auto marker = l.admit("10.0.0.1", 1100);
    EXPECT_TRUE(marker.record);
    EXPECT_TRUE(marker.limit_reached);
    for (int i = 0; i < 5; ++i) EXPECT_FALSE(l.admit("10.0.0.1", 1200 + i).record);
    EXPECT_EQ(l.suppressed_total(), 5u);
    // Another address has its own budget.
    EXPECT_TRUE(l.admit("10.0.0.2", 1300).record);
    // After the window, the next denial (from anyone) brings the summary of the suppressed.
    const auto later = l.admit("10.0.0.2", 70000);
    ASSERT_EQ(later.summaries.size(), 1u);
    EXPECT_EQ(later.summaries[0].first, "10.0.0.1");
    EXPECT_EQ(later.summaries[0].second, 5u);
    EXPECT_TRUE(later.record);
    EXPECT_TRUE(l.admit("10.0.0.1", 70001).record);  // a new window
    EXPECT_TRUE(l.admit("10.0.0.1", 70002).summaries.empty());
}

TEST(AnonymousDenialLimiter, ZeroMeansNoLimit) {
    AnonymousDenialLimiter l(0, 60000);
    for (int i = 0; i < 1000; ++i) ASSERT_TRUE(l.admit("10.0.0.1", i).record);
    EXPECT_EQ(l.suppressed_total(), 0u);
}

TEST(AnonymousDenialLimiter, ManyAddressesShareOneBucketPastTheCap) {
    AnonymousDenialLimiter l(1, 60000, 4);
    for (int i = 0; i < 4; ++i) EXPECT_TRUE(l.admit("10.0.0." + std::to_string(i), 10).record);
    // The table is full: new addresses share "*" (one record, the marker, then counted).
    EXPECT_TRUE(l.admit("10.0.1.1", 11).record);
    EXPECT_TRUE(l.admit("10.0.1.2", 12).limit_reached);
    EXPECT_FALSE(l.admit("10.0.1.3", 13).record);
    const auto later = l.admit("10.0.9.9", 60020);
    ASSERT_EQ(later.summaries.size(), 1u);
    EXPECT_EQ(later.summaries[0].first, "*");
}

TEST(DenialDetail, PrintableBoundedAndWithoutBody) {
    api::DenialFacts f{"GET",
                       std::string("/v1/keys/\r\nx\xC0", 13),
                       404,
                       "not_found",
                       std::string(1000, 'm'),
                       "bi-1",
                       "127.0.0.1"};
    const std::string d = api::denial_detail(f);
    EXPECT_EQ(d.rfind("not_found: ", 0), 0u);
    EXPECT_NE(d.find("| GET /v1/keys/??x? -> 404 request=bi-1 from=127.0.0.1"), std::string::npos)
        << d;
    EXPECT_LE(d.size(), 716u);
    api::DenialFacts longest{std::string(100, 'M'), std::string(500, '/'),  499,
                             std::string(100, 'e'), std::string(1000, 'm'), std::string(64, 'r'),
                             std::string(100, 'a')};
    EXPECT_EQ(api::denial_detail(longest).size(), 716u);
    for (char c : d) EXPECT_TRUE(c >= 0x20 && c <= 0x7E);
    EXPECT_EQ(api::request_id_of("ok-1.2:3_x"), "ok-1.2:3_x");
    EXPECT_EQ(api::request_id_of("bad id"), "");
    EXPECT_EQ(api::request_id_of(std::string(65, 'a')), "");
}

TEST(AnonymousFlood, OnlyTheLimitIsRecordedThenOneMarker) {
    KmsdProcess kmsd({"--anonymous-denials-per-minute", "5"});
    HttpsClient admin("127.0.0.1", kmsd.port(), kmsd.ca_file());
    auto head = admin.get("/v1/audit/verify", kmsd.admin_token());
    ASSERT_EQ(head.status, 200) << head.body;
    const auto from = head.json()->getValue<std::uint64_t>("headSeq") + 1;
    for (int i = 0; i < 40; ++i) {
        HttpsClient anon("127.0.0.1", kmsd.port(), kmsd.ca_file());
        const auto r = anon.request("GET", i % 2 ? "/v1/keys" : "/v1/no-such", "", "",
                                    {{"X-Request-Id", "flood-" + std::to_string(i)}});
        ASSERT_EQ(r.status, i % 2 ? 401 : 404) << r.body;
    }
    // An authenticated principal's denials are never limited.
    for (int i = 0; i < 10; ++i)
        ASSERT_EQ(admin.get("/v1/keys/k-nope-" + std::to_string(i), kmsd.admin_token()).status,
                  404);
    auto list = admin.get("/v1/audit?limit=1000&from=" + std::to_string(from), kmsd.admin_token());
    ASSERT_EQ(list.status, 200) << list.body;
    auto records = list.json()->getArray("records");
    int anonymous = 0, markers = 0, admin_denials = 0;
    for (std::size_t i = 0; i < records->size(); ++i) {
        auto r = records->getObject(static_cast<unsigned>(i));
        const std::string detail = r->getValue<std::string>("detail");
        if (r->getValue<std::string>("outcome") != "denied") continue;
        if (r->getValue<std::string>("actor") == "admin") ++admin_denials;
        if (detail.find("request=flood-") == std::string::npos) continue;
        EXPECT_EQ(r->getValue<std::string>("actor"), "-");
        EXPECT_NE(detail.find("from=127.0.0.1"), std::string::npos) << detail;
        ++anonymous;
        if (detail.find("audit limit reached") != std::string::npos) ++markers;
    }
    EXPECT_EQ(anonymous, 6) << "5 records and the marker";
    EXPECT_EQ(markers, 1);
    EXPECT_EQ(admin_denials, 10);
    EXPECT_NE(kmsd.output().find("audit: unauthenticated denials from 127.0.0.1 over 5 per window"),
              std::string::npos)
        << kmsd.output();
    auto verify = admin.get("/v1/audit/verify", kmsd.admin_token());
    EXPECT_TRUE(verify.json()->getValue<bool>("valid")) << verify.body;
}

}  // namespace
}  // namespace kms::test
