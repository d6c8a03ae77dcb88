// The TTLV codec against the KMIP specification's encoding examples and test-case messages
// (tests/vectors/kmip_ttlv.txt), and the strict decoder's refusals: every malformed input is
// a TtlvError naming its fault, never a read out of range.
#include "kmip/ttlv.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace kms::kmip {
namespace {

Octets hex(const std::string& text) {
    Octets out;
    std::string digits;
    for (char c : text)
        if (std::isxdigit(static_cast<unsigned char>(c))) digits += c;
    if (digits.size() % 2 != 0) throw std::runtime_error("odd hex: " + text);
    for (std::size_t i = 0; i < digits.size(); i += 2)
        out.push_back(static_cast<std::uint8_t>(std::stoul(digits.substr(i, 2), nullptr, 16)));
    return out;
}

struct Vector {
    std::string name, hex, dump;
};

std::vector<Vector> load_vectors() {
    const char* dir = std::getenv("KMS_TEST_VECTORS");
    if (dir == nullptr) throw std::runtime_error("KMS_TEST_VECTORS is not set");
    std::ifstream in(std::string(dir) + "/kmip_ttlv.txt");
    if (!in) throw std::runtime_error("cannot read kmip_ttlv.txt");
    std::vector<Vector> out;
    std::string line, last;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#') continue;
        const auto eq = line.find(" = ");
        if (eq == std::string::npos) {  // continuation of the previous field
            if (last == "hex") out.back().hex += line;
            continue;
        }
        last = line.substr(0, eq);
        const std::string value = line.substr(eq + 3);
        if (last == "name") out.push_back({value, "", ""});
        if (last == "hex") out.back().hex = value;
        if (last == "dump") {
            std::string d;
            std::stringstream ss(value);
            std::string part;
            while (std::getline(ss, part, '|')) d += part + "\n";
            out.back().dump = d;
        }
    }
    return out;
}

TEST(Ttlv, SpecificationExamplesDecodeAndEncodeBack) {
    const auto vectors = load_vectors();
    ASSERT_EQ(vectors.size(), 11u);
    for (const auto& v : vectors) {
        SCOPED_TRACE(v.name);
        const Octets bytes = hex(v.hex);
        const Item item = decode(bytes);
        EXPECT_EQ(dump(item), v.dump);
        EXPECT_EQ(encode(item), bytes);
    }
}

TEST(Ttlv, BuildersEncodeLikeTheSpecification) {
    // §9.1.2: "A Text String with the value 'Hello World'", built rather than decoded.
    EXPECT_EQ(encode(Item::text(0x420020, "Hello World")),
              hex("420020 07 0000000B 48656C6C6F20576F726C640000000000"));
    EXPECT_EQ(encode(Item::structure(
                  0x420020, {Item::enumeration(0x420004, 254), Item::integer(0x420005, 255)})),
              hex("420020 01 00000020 420004 05 00000004 000000FE00000000 "
                  "420005 02 00000004 000000FF00000000"));
    EXPECT_EQ(encode(Item::integer(0x420020, -1)), hex("420020 02 00000004 FFFFFFFF00000000"));
    EXPECT_EQ(decode(hex("420020 02 00000004 FFFFFFFF00000000")).number, -1);
}

TtlvFault fault_of(const std::string& h, const DecodeLimits& limits = {}) {
    try {
        decode(hex(h), limits);
    } catch (const TtlvError& e) {
        return e.fault();
    }
    ADD_FAILURE() << "decoded: " << h;
    return TtlvFault::BadValue;
}

TEST(Ttlv, StrictDecoderRefusesMalformedInput) {
    EXPECT_EQ(fault_of(""), TtlvFault::Truncated);
    EXPECT_EQ(fault_of("420020 02 000000"), TtlvFault::Truncated);  // short header
    // Length past the buffer, and an inner item longer than its structure.
    EXPECT_EQ(fault_of("420020 07 00000010 4142434400000000"), TtlvFault::Truncated);
    EXPECT_EQ(fault_of("420020 01 00000010 420021 07 00000020 0000000000000000"),
              TtlvFault::Truncated);
    // A length of 0xFFFFFFFF must not wrap the bounds check.
    EXPECT_EQ(fault_of("420020 08 FFFFFFFF 0000000000000000"), TtlvFault::Truncated);
    EXPECT_EQ(fault_of("420020 02 00000008 0000000000000000"), TtlvFault::BadLength);
    EXPECT_EQ(fault_of("420020 06 00000004 0000000100000000"), TtlvFault::BadLength);
    EXPECT_EQ(fault_of("420020 04 00000004 0000000100000000"), TtlvFault::BadLength);
    EXPECT_EQ(fault_of("420020 01 00000004 0000000000000000"), TtlvFault::BadLength);
    EXPECT_EQ(fault_of("420020 0C 00000004 0000000100000000"), TtlvFault::BadType);
    EXPECT_EQ(fault_of("420020 00 00000000"), TtlvFault::BadType);
    EXPECT_EQ(fault_of("420020 02 00000004 0000000100000001"), TtlvFault::BadPadding);
    EXPECT_EQ(fault_of("420020 07 00000001 4142000000000000"), TtlvFault::BadPadding);
    EXPECT_EQ(fault_of("420020 06 00000008 0000000000000002"), TtlvFault::BadValue);
    EXPECT_EQ(fault_of("420020 02 00000004 0000000100000000 00"), TtlvFault::Truncated);
}

TEST(Ttlv, LimitsBoundDepthItemsAndSize) {
    // 5 structures inside each other.
    Octets deep;
    for (int i = 0; i < 5; ++i) {
        Octets outer = hex("420020 01");
        const auto n = static_cast<std::uint32_t>(deep.size());
        for (int s = 24; s >= 0; s -= 8) outer.push_back(static_cast<std::uint8_t>(n >> s));
        outer.insert(outer.end(), deep.begin(), deep.end());
        deep = outer;
    }
    DecodeLimits limits;
    limits.max_depth = 5;
    EXPECT_NO_THROW(decode(deep, limits));
    limits.max_depth = 4;
    EXPECT_THROW(
        {
            try {
                decode(deep, limits);
            } catch (const TtlvError& e) {
                EXPECT_EQ(e.fault(), TtlvFault::TooDeep);
                throw;
            }
        },
        TtlvError);
    DecodeLimits few;
    few.max_items = 3;
    EXPECT_EQ(fault_of("420020 01 00000030 420021 02 00000004 0000000100000000 "
                       "420021 02 00000004 0000000100000000 420021 02 00000004 0000000100000000",
                       few),
              TtlvFault::TooMany);
    DecodeLimits small;
    small.max_message = 8;
    EXPECT_EQ(fault_of("420020 02 00000004 0000000100000000", small), TtlvFault::TooLarge);
}

TEST(Ttlv, FramedSizeReadsTheHeaderOnly) {
    EXPECT_EQ(framed_size(hex("42007801 00000060"), 1 << 20), 0x68u);
    auto fault = [](const std::string& h, std::size_t max) {
        try {
            framed_size(hex(h), max);
        } catch (const TtlvError& e) {
            return e.fault();
        }
        return TtlvFault::BadValue;
    };
    EXPECT_EQ(fault("42007801 00200000", 1 << 20), TtlvFault::TooLarge);
    EXPECT_EQ(fault("42007801 FFFFFFF8", 1 << 20), TtlvFault::TooLarge);
    EXPECT_EQ(fault("42007802 00000004", 1 << 20), TtlvFault::BadType);
    EXPECT_EQ(fault("42007801 00000004", 1 << 20), TtlvFault::BadLength);
    EXPECT_EQ(fault("420078", 1 << 20), TtlvFault::Truncated);
}

}  // namespace
}  // namespace kms::kmip
