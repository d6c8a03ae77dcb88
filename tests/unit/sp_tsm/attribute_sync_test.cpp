// sp-tsm's copy of the product private attributes (tsm-services/sp-tsm/plugin/attribute_sync):
// the sync message's validation names the field, the stored record round-trips and refuses
// garbage, an update is applied once and never over a newer one from the same source, and the
// start request's productId and actionCode.
#include "attribute_sync.hpp"

#include <gtest/gtest.h>

#include "conversation.hpp"
#include "domain/error.hpp"

namespace kms::tsm::sp {
namespace {

/// The message and code of the kms::Error @p fn throws; {"", Internal} when none.
template <class Fn>
std::pair<std::string, ErrorCode> refusal(Fn&& fn) {
    try {
        fn();
    } catch (const Error& e) {
        return {e.what(), e.code()};
    }
    return {"", ErrorCode::Internal};
}

const char* kUpdate = R"({"seq":7,"seid":"a1b2c3d4e5f60001","product":"transit","valid":false,)"
                      R"("event":"loss-report","source":"se"})";

AttributeUpdate update(std::uint64_t seq, bool valid, const std::string& source = "se") {
    AttributeUpdate u;
    u.seq = seq;
    u.seid = "A1B2C3D4E5F60001";
    u.product = "transit";
    u.valid = valid;
    u.event = valid ? "attribute-set" : "loss-report";
    u.source = source;
    return u;
}

TEST(SpTsmAttributes, TheSyncMessageIsParsedAndNormalized) {
    const AttributeUpdate u = parse_attribute_update(kUpdate);
    EXPECT_EQ(u.seq, 7u);
    EXPECT_EQ(u.seid, "A1B2C3D4E5F60001");
    EXPECT_EQ(u.product, "transit");
    EXPECT_FALSE(u.valid);
    EXPECT_EQ(u.event, "loss-report");
    EXPECT_EQ(u.source, "se");
    EXPECT_EQ(parse_attribute_update(
                  R"({"seq":18446744073709551615,"seid":"00000000","product":"p","valid":true,)"
                  R"("event":"e","source":"s"})")
                  .seq,
              18446744073709551615ull);
}

TEST(SpTsmAttributes, SyncMessageRefusalsNameTheField) {
    auto msg = [](const std::string& body) {
        return refusal([&] { parse_attribute_update(body); });
    };
    EXPECT_EQ(msg("not json").second, ErrorCode::MalformedRequest);
    EXPECT_EQ(msg("[1]").second, ErrorCode::MalformedRequest);
    EXPECT_EQ(msg("").second, ErrorCode::MalformedRequest);
    const std::string good = kUpdate;
    auto with = [&](const std::string& from, const std::string& to) {
        std::string t = good;
        t.replace(t.find(from), from.size(), to);
        return t;
    };
    const std::pair<std::string, std::string> cases[] = {
        {with(R"("seq":7,)", ""), "seq:"},
        {with(R"("seq":7)", R"("seq":0)"), "seq:"},
        {with(R"("seq":7)", R"("seq":-3)"), "seq:"},
        {with(R"("seq":7)", R"("seq":"7")"), "seq:"},
        {with(R"("seq":7)", R"("seq":1.5)"), "seq:"},
        {with(R"("seid":"a1b2c3d4e5f60001",)", ""), "seid:"},
        {with("a1b2c3d4e5f60001", "a1b2c3"), "seid:"},
        {with("a1b2c3d4e5f60001", "a1b2c3d4e5f6000z"), "seid:"},
        {with(R"("seid":"a1b2c3d4e5f60001")", R"("seid":12)"), "seid:"},
        {with(R"("product":"transit")", R"("product":"a/b")"), "product:"},
        {with(R"("product":"transit")", R"("product":"")"), "product:"},
        {with(R"("valid":false)", R"("valid":"false")"), "valid:"},
        {with(R"("valid":false)", R"("valid":0)"), "valid:"},
        {with(R"("valid":false,)", ""), "valid:"},
        {with(R"("event":"loss-report")", R"("event":"loss report")"), "event:"},
        {with(R"(,"source":"se")", ""), "source:"},
        {with(R"("source":"se")", R"("source":null)"), "source:"},
        {with(R"("source":"se")", R"("source":"se","colour":"red")"), "colour:"},
    };
    for (const auto& [body, field] : cases) {
        const auto [message, code] = msg(body);
        EXPECT_EQ(code, ErrorCode::InvalidArgument) << body;
        EXPECT_EQ(message.rfind(field, 0), 0u) << body << " -> " << message;
    }
}

TEST(SpTsmAttributes, AnUpdateIsAppliedOnceAndNeverOverANewerOne) {
    // Unknown pair: applied.
    ApplyResult a = apply_update(std::nullopt, update(3, true), "2026-01-01T00:00:00Z");
    EXPECT_TRUE(a.applied);
    EXPECT_TRUE(a.record.valid);
    EXPECT_EQ(a.record.seq, 3u);
    EXPECT_EQ(a.record.seid, "A1B2C3D4E5F60001");
    EXPECT_EQ(a.record.event, "attribute-set");
    EXPECT_EQ(a.record.updated, "2026-01-01T00:00:00Z");
    // The same seq again (a retried delivery): not applied, nothing changes.
    ApplyResult b = apply_update(a.record, update(3, false), "2026-01-01T00:00:09Z");
    EXPECT_FALSE(b.applied);
    EXPECT_EQ(b.record, a.record);
    // Newer: applied. Older, arriving late: not applied.
    ApplyResult c = apply_update(a.record, update(9, false), "2026-01-01T00:00:10Z");
    EXPECT_TRUE(c.applied);
    EXPECT_FALSE(c.record.valid);
    EXPECT_EQ(c.record.seq, 9u);
    ApplyResult d = apply_update(c.record, update(5, true), "2026-01-01T00:00:11Z");
    EXPECT_FALSE(d.applied);
    EXPECT_FALSE(d.record.valid);
    EXPECT_EQ(d.record.seq, 9u);
    // Another source has its own numbering: its seq 1 is applied.
    ApplyResult e = apply_update(c.record, update(1, true, "se-b"), "2026-01-01T00:00:12Z");
    EXPECT_TRUE(e.applied);
    EXPECT_TRUE(e.record.valid);
    EXPECT_EQ(e.record.source, "se-b");
    EXPECT_EQ(e.record.sources.at("se"), 9u);
    EXPECT_EQ(e.record.sources.at("se-b"), 1u);
    EXPECT_FALSE(apply_update(e.record, update(8, false), "t").applied);

    EXPECT_EQ(update_answer_json(d.record, d.applied),
              R"({"seid":"A1B2C3D4E5F60001","product":"transit","valid":false,"applied":false})");
    EXPECT_EQ(record_answer_json(c.record),
              R"({"seid":"A1B2C3D4E5F60001","product":"transit","valid":false,"seq":9,)"
              R"("source":"se","event":"loss-report","updated":"2026-01-01T00:00:10Z"})");
    EXPECT_FALSE(attribute_allows(std::nullopt));  // fail closed
    EXPECT_FALSE(attribute_allows(c.record));
    EXPECT_TRUE(attribute_allows(e.record));
}

TEST(SpTsmAttributes, TheRecordRoundTripsAndGarbageIsAnIntegrityError) {
    const AttributeRecord r =
        apply_update(apply_update(std::nullopt, update(4, true), "2026-01-01T00:00:00Z").record,
                     update(2, false, "other"), "2026-01-01T00:00:01Z")
            .record;
    EXPECT_EQ(AttributeRecord::from_json(r.to_json()), r);
    EXPECT_EQ(attribute_key(r.seid, r.product), "A1B2C3D4E5F60001/transit");
    std::string bad_seid = r.to_json();
    bad_seid.replace(bad_seid.find("A1B2"), 4, "a1b2");
    for (const std::string& text : {std::string("{}"), std::string("nonsense"),
                                    std::string(R"({"seid":"A1B2C3D4"})"), bad_seid})
        EXPECT_EQ(refusal([&] { AttributeRecord::from_json(text); }).second, ErrorCode::Integrity)
            << text;
}

TEST(SpTsmAttributes, StartRequestTakesProductIdAndActionCode) {
    const auto r = parse_start_request(
        R"({"script":"top-up","seid":"A1B2C3D4","productId":"transit","actionCode":"TOPUP-01"})");
    EXPECT_EQ(r.product_id, "transit");
    EXPECT_EQ(r.action_code, "TOPUP-01");
    const auto none = parse_start_request(R"({"script":"top-up"})");
    EXPECT_FALSE(none.product_id);
    EXPECT_FALSE(none.action_code);
    auto msg = [](const char* body) { return refusal([&] { parse_start_request(body); }); };
    EXPECT_EQ(msg(R"({"script":"a","productId":"a b"})").first.rfind("productId:", 0), 0u);
    EXPECT_EQ(msg(R"({"script":"a","productId":7})").first.rfind("productId:", 0), 0u);
    EXPECT_EQ(msg(R"({"script":"a","actionCode":7})").first.rfind("actionCode:", 0), 0u);
    EXPECT_EQ(msg(R"({"script":"a","actionCode":7})").second, ErrorCode::InvalidArgument);
}

}  // namespace
}  // namespace kms::tsm::sp
