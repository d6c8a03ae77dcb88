// ISO/IEC 7816-4 APDU codec (links domain_dep only): every case short and extended, Le 00 =
// 256 and 0000 = 65536, round trips, and refusal of malformed length fields.
#include "domain/apdu.hpp"

#include <gtest/gtest.h>

#include <optional>

#include "domain/bytes.hpp"
#include "domain/error.hpp"

namespace kms::core {
namespace {

std::optional<ErrorCode> error_code_of_parse(const char* hex) {
    try {
        parse_command_apdu(from_hex(hex));
    } catch (const Error& e) {
        return e.code();
    }
    return std::nullopt;
}

CommandApdu make(std::optional<std::uint32_t> le, Bytes data, bool extended = false) {
    CommandApdu c;
    c.cla = 0x80;
    c.ins = 0xCA;
    c.p1 = 0x9F;
    c.p2 = 0x7F;
    c.data = std::move(data);
    c.le = le;
    c.extended = extended;
    return c;
}

struct Known {
    const char* hex;
    CommandApdu apdu;
};

TEST(Apdu, ParsesAndEncodesEveryCaseShortAndExtended) {
    const Bytes d3 = from_hex("010203");
    const Known known[] = {
        {"80CA9F7F", make(std::nullopt, {})},
        {"80CA9F7F10", make(16, {})},
        {"80CA9F7F00", make(256, {})},
        {"80CA9F7F03010203", make(std::nullopt, d3)},
        {"80CA9F7F0301020300", make(256, d3)},
        {"80CA9F7F0301020307", make(7, d3)},
        {"80CA9F7F000010", make(16, {}, true)},
        {"80CA9F7F000100", make(256, {}, true)},
        {"80CA9F7F000000", make(65536, {}, true)},
        {"80CA9F7F000003010203", make(std::nullopt, d3, true)},
        {"80CA9F7F0000030102030000", make(65536, d3, true)},
        {"80CA9F7F0000030102030101", make(257, d3, true)},
    };
    for (const auto& k : known) {
        SCOPED_TRACE(k.hex);
        const CommandApdu parsed = parse_command_apdu(from_hex(k.hex));
        EXPECT_EQ(parsed, k.apdu);
        EXPECT_EQ(to_hex(encode_command_apdu(k.apdu)), k.hex);
    }
    EXPECT_EQ(make(std::nullopt, {}).iso_case(), 1);
    EXPECT_EQ(make(1, {}).iso_case(), 2);
    EXPECT_EQ(make(std::nullopt, d3).iso_case(), 3);
    EXPECT_EQ(make(1, d3).iso_case(), 4);
}

TEST(Apdu, ChoosesExtendedWhenTheLengthsNeedIt) {
    EXPECT_EQ(to_hex(encode_command_apdu(make(257, {}))), "80CA9F7F000101");
    EXPECT_EQ(to_hex(encode_command_apdu(make(65536, {}))), "80CA9F7F000000");
    const Bytes d256(256, 0xAB);
    const Bytes enc = encode_command_apdu(make(std::nullopt, d256));
    ASSERT_EQ(enc.size(), 4u + 3u + 256u);
    EXPECT_EQ(to_hex(ByteView(enc).first(7)), "80CA9F7F000100");
    const Bytes enc4 = encode_command_apdu(make(10, d256));
    ASSERT_EQ(enc4.size(), 4u + 3u + 256u + 2u);
    EXPECT_EQ(to_hex(ByteView(enc4).last(2)), "000A");
    // A short-length APDU with 255 bytes and Le 256 stays short.
    const Bytes enc5 = encode_command_apdu(make(256, Bytes(255, 1)));
    EXPECT_EQ(enc5.size(), 4u + 1u + 255u + 1u);
    EXPECT_EQ(enc5[4], 0xFF);
    EXPECT_EQ(enc5.back(), 0x00);
}

TEST(Apdu, RoundTripsEveryLengthBoundary) {
    for (std::size_t len : {0u, 1u, 254u, 255u, 256u, 1000u, 65535u}) {
        for (std::optional<std::uint32_t> le :
             {std::optional<std::uint32_t>{}, std::optional<std::uint32_t>{1},
              std::optional<std::uint32_t>{255}, std::optional<std::uint32_t>{256},
              std::optional<std::uint32_t>{257}, std::optional<std::uint32_t>{65535},
              std::optional<std::uint32_t>{65536}}) {
            for (bool ext : {false, true}) {
                Bytes data(len);
                for (std::size_t i = 0; i < len; ++i) data[i] = static_cast<std::uint8_t>(i * 7);
                CommandApdu c = make(le, data, ext);
                const Bytes enc = encode_command_apdu(c);
                const CommandApdu back = parse_command_apdu(enc);
                SCOPED_TRACE(testing::Message()
                             << "len " << len << " le " << le.value_or(0) << " ext " << ext);
                c.extended = ext || len > 255 || (le && *le > 256);
                if (len == 0 && !le) c.extended = false;  // case 1 has no length field at all
                EXPECT_EQ(back, c);
                EXPECT_EQ(encode_command_apdu(back), enc);
            }
        }
    }
}

TEST(Apdu, RefusesMalformedLengths) {
    for (const char* bad : {
             "", "80", "80CA9F",            // shorter than the header
             "80CA9F7F0301",                // Lc 3, one byte follows
             "80CA9F7F030102030405",        // Lc 3, five bytes follow
             "80CA9F7F0000",                // extended marker with one byte
             "80CA9F7F00000001",            // extended Lc 0000
             "80CA9F7F0000030102",          // extended Lc 3, two bytes follow
             "80CA9F7F00000301020300",      // extended Lc 3, one Le byte
             "80CA9F7F000003010203000000",  // extended Lc 3, three trailing bytes
         }) {
        EXPECT_EQ(error_code_of_parse(bad), ErrorCode::InvalidArgument) << bad;
    }
    auto encode_error = [](const CommandApdu& c) -> std::optional<ErrorCode> {
        try {
            encode_command_apdu(c);
        } catch (const Error& e) {
            return e.code();
        }
        return std::nullopt;
    };
    EXPECT_EQ(encode_error(make(0, {})), ErrorCode::InvalidArgument);
    EXPECT_EQ(encode_error(make(65537, {})), ErrorCode::InvalidArgument);
    EXPECT_EQ(encode_error(make(std::nullopt, Bytes(65536))), ErrorCode::InvalidArgument);
}

TEST(Apdu, ResponseSplitsDataAndStatusWord) {
    const ResponseApdu r = parse_response_apdu(from_hex("0102039000"));
    EXPECT_EQ(to_hex(r.data), "010203");
    EXPECT_EQ(r.sw, 0x9000);
    EXPECT_EQ(to_hex(encode_response_apdu(r)), "0102039000");
    const ResponseApdu sw_only = parse_response_apdu(from_hex("6A82"));
    EXPECT_TRUE(sw_only.data.empty());
    EXPECT_EQ(sw_only.sw, 0x6A82);
    EXPECT_EQ(to_hex(encode_response_apdu(sw_only)), "6A82");
    for (const char* bad : {"", "90"}) {
        try {
            parse_response_apdu(from_hex(bad));
            ADD_FAILURE() << bad;
        } catch (const Error& e) {
            EXPECT_EQ(e.code(), ErrorCode::InvalidArgument);
        }
    }
}

}  // namespace
}  // namespace kms::core
