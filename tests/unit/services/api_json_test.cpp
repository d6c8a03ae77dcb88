// api/json: parse_time reads exactly the RFC 3339 form json.hpp documents (found by
// fuzz/fuzz_rest_json: trailing text, signs and ".5" read as 5 ms were accepted).
#include <gtest/gtest.h>

#include "api/json.hpp"
#include "domain/error.hpp"

namespace {

using kms::api::format_time;
using kms::api::parse_time;

TEST(ApiJsonTime, ReadsTheDocumentedForm) {
    EXPECT_EQ(parse_time("1970-01-01T00:00:00Z", "t"), 0);
    EXPECT_EQ(format_time(parse_time("2026-01-31T12:00:00.123Z", "t")), "2026-01-31T12:00:00.123Z");
    EXPECT_EQ(format_time(parse_time("2024-02-29T23:59:59Z", "t")), "2024-02-29T23:59:59.000Z");
}

TEST(ApiJsonTime, FractionDigitsAreDecimalFractions) {
    // RFC 3339 §5.6: time-secfrac = "." 1*DIGIT, a fraction of a second.
    EXPECT_EQ(parse_time("2026-01-31T12:00:00.5Z", "t") % 1000, 500);
    EXPECT_EQ(parse_time("2026-01-31T12:00:00.05Z", "t") % 1000, 50);
}

TEST(ApiJsonTime, RefusesEverythingElseNamingTheField) {
    for (const char* bad :
         {"2026-01-31T12:00:00.123Z2",  // the fuzzer's find: text after the Z
          "2026-01-31T12:00:00Zjunk", "2026-1-31T12:00:00Z", "2026-01-31T-1:00:00Z",
          "2026-01-31T12:00:00.-5Z", "2026-01-31T12:00:00.Z", "2026-02-30T12:00:00Z",
          "2025-02-29T12:00:00Z", "2026-01-31T12:00:60Z", "1969-12-31T23:59:59Z",
          "2026-01-31 12:00:00Z", "2026-01-31T12:00:00+01:00", "2026-01-31T12:00:00.1234Z", "",
          "yesterday"}) {
        try {
            parse_time(bad, "compromiseDate");
            ADD_FAILURE() << "accepted " << bad;
        } catch (const kms::Error& e) {
            EXPECT_EQ(e.code(), kms::ErrorCode::InvalidArgument) << bad;
            EXPECT_EQ(std::string(e.what()).rfind("compromiseDate:", 0), 0u) << bad;
        }
    }
}

}  // namespace
