// The SP TSM's catalogue (tsm-services/sp-tsm/plugin/catalogue.*): the demo entry with the
// sample load file loads with its facts, and every bad entry is refused with the field's path
// first in the message (a hash that differs, a file missing or empty, AIDs of the wrong length,
// unknown fields).
#include "catalogue.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <map>

#include "domain/error.hpp"

namespace kms::tsm::sp {
namespace {

const char* const kPurseSha256 = "E697098A7219CC7C2F719CCC8CFB01AB3E534B4D901D8CB055A94196A98F7328";

std::string data_file() {
    return std::string(std::getenv("KMS_TSM_DATA_DIR")) + "/transit-purse.bin";
}

/// The demo entry as JSON, with @p change applied (field -> raw JSON value; "" removes it).
std::string entry(const std::map<std::string, std::string>& change = {},
                  const std::string& name = "transit-purse") {
    std::map<std::string, std::string> f{{"loadFileAid", R"("A00000055910")"},
                                         {"file", "\"" + data_file() + "\""},
                                         {"sha256", std::string("\"") + kPurseSha256 + "\""},
                                         {"modules", R"(["A0000005591010"])"},
                                         {"instanceAid", R"("A0000005591010FFFF")"},
                                         {"version", R"("1.0")"},
                                         {"privileges", R"("00")"},
                                         {"installParameters", R"("C900")"}};
    for (const auto& [k, v] : change) {
        if (v.empty())
            f.erase(k);
        else
            f[k] = v;
    }
    std::string out = "{\"" + name + "\": {";
    for (const auto& [k, v] : f) out += (out.back() == '{' ? "\"" : ", \"") + k + "\": " + v;
    return out + "}}";
}

std::string refusal(const std::string& json) {
    try {
        Catalogue::from_json(json);
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), ErrorCode::InvalidArgument) << e.what();
        return e.what();
    }
    ADD_FAILURE() << "accepted: " << json;
    return "";
}

TEST(Catalogue, TheDemoEntryLoadsWithItsFacts) {
    const Catalogue c = Catalogue::from_json(entry());
    ASSERT_EQ(c.size(), 1u);
    const CatalogueEntry* e = c.find("transit-purse");
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(c.find("other"), nullptr);
    EXPECT_EQ(e->content.size(), 3000u);
    EXPECT_EQ(to_hex(sha256_of(e->content)), kPurseSha256);
    const auto f = c.resolver()("transit-purse");
    ASSERT_TRUE(f.has_value());
    EXPECT_EQ(f->name, "transit-purse");
    EXPECT_EQ(to_hex(f->aid), "A00000055910");
    EXPECT_EQ(to_hex(f->hash), kPurseSha256);
    EXPECT_EQ(f->size, 3000u);
    EXPECT_EQ(to_hex(f->module), "A0000005591010");
    EXPECT_EQ(to_hex(f->instance_aid), "A0000005591010FFFF");
    EXPECT_EQ(to_hex(f->privileges), "00");
    EXPECT_EQ(to_hex(f->install_parameters), "C900");
    EXPECT_FALSE(c.resolver()("other").has_value());
    // Defaults: privileges 00, install parameters C900.
    const Catalogue d = Catalogue::from_json(
        entry({{"privileges", ""}, {"installParameters", ""}, {"version", ""}}));
    EXPECT_EQ(to_hex(d.find("transit-purse")->privileges), "00");
    EXPECT_EQ(to_hex(d.find("transit-purse")->install_parameters), "C900");
    // FIPS 180-2's "abc".
    EXPECT_EQ(to_hex(sha256_of(from_hex("616263"))),
              "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD");
}

TEST(Catalogue, AFileWhoseHashDiffersIsRefusedNamingTheEntry) {
    const std::string other(64, '0');
    const std::string m = refusal(entry({{"sha256", "\"" + other + "\""}}));
    EXPECT_EQ(m.rfind("catalogue.transit-purse.sha256: the file '" + data_file() +
                          "' has SHA-256 " + kPurseSha256 + ", not " + other,
                      0),
              0u)
        << m;
    EXPECT_EQ(refusal(entry({{"sha256", R"("E697")"}})),
              "catalogue.transit-purse.sha256: 32 bytes of hex (64 digits)");
}

TEST(Catalogue, MissingEmptyOrRelativeFilesAreRefused) {
    EXPECT_EQ(refusal(entry({{"file", R"("/nonexistent/transit-purse.bin")"}})),
              "catalogue.transit-purse.file: cannot read '/nonexistent/transit-purse.bin'");
    EXPECT_EQ(refusal(entry({{"file", R"("transit-purse.bin")"}})),
              "catalogue.transit-purse.file: an absolute path is required");
    EXPECT_EQ(refusal(entry({{"file", ""}})), "catalogue.transit-purse.file: is required");
    char path[] = "/tmp/catalogue-empty-XXXXXX";
    const int fd = ::mkstemp(path);
    ASSERT_GE(fd, 0);
    ::close(fd);
    EXPECT_EQ(refusal(entry({{"file", "\"" + std::string(path) + "\""}})),
              "catalogue.transit-purse.file: '" + std::string(path) + "' is empty");
    std::remove(path);
}

TEST(Catalogue, BadAidsAndFieldsAreRefusedNamingTheField) {
    EXPECT_EQ(refusal(entry({{"loadFileAid", R"("A0000005")"}})),
              "catalogue.transit-purse.loadFileAid: an AID is 5 to 16 bytes, not 4");
    EXPECT_EQ(refusal(entry({{"loadFileAid", ""}})),
              "catalogue.transit-purse.loadFileAid: is required");
    EXPECT_EQ(refusal(entry({{"instanceAid", R"("A0000005591010FFFG")"}})),
              "catalogue.transit-purse.instanceAid: not valid hex");
    EXPECT_EQ(refusal(entry({{"instanceAid", "17"}})),
              "catalogue.transit-purse.instanceAid: must be a string");
    EXPECT_EQ(refusal(entry({{"modules", R"(["A0000005591010", "A000"])"}})),
              "catalogue.transit-purse.modules[1]: an AID is 5 to 16 bytes, not 2");
    EXPECT_EQ(refusal(entry({{"modules", "[]"}})),
              "catalogue.transit-purse.modules: 1 to 16 module AIDs");
    EXPECT_EQ(refusal(entry({{"modules", R"("A0000005591010")"}})),
              "catalogue.transit-purse.modules: must be an array");
    EXPECT_EQ(refusal(entry({{"privileges", R"("0000")"}})),
              "catalogue.transit-purse.privileges: 1 or 3 bytes (GPCS 2.2.1 §11.1.2)");
    EXPECT_EQ(refusal(entry({{"lodFileAid", R"("A00000055910")"}})),
              "catalogue.transit-purse.lodFileAid: unknown field");
    EXPECT_EQ(refusal(entry({}, "1purse")).rfind("catalogue.1purse: an entry name is 1..64", 0),
              0u);
    EXPECT_EQ(refusal(R"({"transit-purse": 3})"), "catalogue.transit-purse: must be an object");
    EXPECT_EQ(refusal(R"(["transit-purse"])"), "catalogue: an object of load file name -> entry");
    EXPECT_EQ(refusal("{"), "catalogue: not valid JSON");
}

}  // namespace
}  // namespace kms::tsm::sp
