// GlobalPlatform VISA2 / EMV CPS 1.1 key diversification against GlobalPlatformPro's KCVs
// (tests/vectors/gp_diversify.txt) and the byte layout of the diversification input.
#include "crypto/gp_diversify.hpp"

#include <gtest/gtest.h>

#include "crypto/host_crypto.hpp"
#include "vector_file.hpp"

namespace kms::crypto {
namespace {

TEST(GpDiversify, PublishedKcvs) {
    for (const auto& v : test::read_vector_file("gp_diversify.txt")) {
        SCOPED_TRACE(v.where());
        const auto method =
            v.text("method") == "visa2" ? GpDiversification::Visa2 : GpDiversification::EmvCps11;
        const std::pair<GpKeyPurpose, const char*> keys[] = {{GpKeyPurpose::Enc, "kcv_enc"},
                                                             {GpKeyPurpose::Mac, "kcv_mac"},
                                                             {GpKeyPurpose::Dek, "kcv_dek"}};
        for (const auto& [purpose, field] : keys) {
            const SecureBytes k = gp_diversify_key(method, v.bytes("kmc"), v.bytes("kdd"), purpose);
            ASSERT_EQ(k.size(), 16u);
            EXPECT_EQ(to_hex(kcv_des3(k.view())), to_hex(v.bytes(field))) << field;
        }
    }
}

TEST(GpDiversify, InputLayout) {
    const Bytes kdd = from_hex("00010203040506070809");
    // KDD[0..1] || KDD[4..7] || F0 k || KDD[0..1] || KDD[4..7] || 0F k
    EXPECT_EQ(to_hex(gp_diversification_input(GpDiversification::Visa2, kdd, GpKeyPurpose::Enc)),
              "000104050607F0010001040506070F01");
    // KDD[4..9] || F0 k || KDD[4..9] || 0F k
    EXPECT_EQ(to_hex(gp_diversification_input(GpDiversification::EmvCps11, kdd, GpKeyPurpose::Dek)),
              "040506070809F0030405060708090F03");
}

TEST(GpDiversify, RejectsWrongLengths) {
    EXPECT_EQ(test::error_code_of([] {
                  gp_diversification_input(GpDiversification::Visa2, from_hex("0001"),
                                           GpKeyPurpose::Enc);
              }),
              ErrorCode::InvalidArgument);
    EXPECT_EQ(test::error_code_of([] {
                  gp_diversify_key(GpDiversification::EmvCps11, Bytes(24, 1), Bytes(10, 0),
                                   GpKeyPurpose::Mac);
              }),
              ErrorCode::InvalidArgument);
}

}  // namespace
}  // namespace kms::crypto
