// The virtual SE's PUT KEY against the published commands of tests/vectors/gp_put_key.txt: the
// [jcx] cases were built under known static keys (40..4F; SCP02 sequence counter 009B), so a
// card holding those keys must decrypt every key, accept every KCV and answer the new key
// version with the published KCVs. The [kaoh-73] case gives only its session DEK and is left out.
#include <gtest/gtest.h>

#include <string>

#include "crypto/gp_scp02.hpp"
#include "crypto/gp_scp03.hpp"
#include "vector_file.hpp"
#include "vse_test_support.hpp"

namespace kms::tsm::vse::test {
namespace {

/// The card a [jcx] case was built for: SCP02 (i = 55) or SCP03 (i = 70) with ENC = MAC = DEK =
/// 40..4F as key set @p key_version; SCP02 at sequence counter 009B (the session DEK's).
VirtualSe card_for(Scp scp, std::uint8_t key_version) {
    TestKeys keys;
    keys.enc = keys.mac = keys.dek = pattern(16, 0x40);
    VirtualSeConfig c = config_of(scp, scp == Scp::Scp02 ? 0x55 : 0x70, keys, key_version);
    if (scp == Scp::Scp02) c.sequence_counter = 0x009B;
    return VirtualSe(std::move(c));
}

TEST(VirtualSePutKey, PublishedCommands) {
    int cases = 0;
    const TestKeys keys = [] {
        TestKeys k;
        k.enc = k.mac = k.dek = pattern(16, 0x40);
        return k;
    }();
    for (const auto& v : kms::test::read_vector_file("gp_put_key.txt")) {
        if (v.text("kind") != "command") continue;
        SCOPED_TRACE(v.where());
        const auto new_version = static_cast<std::uint8_t>(v.number("new_version"));
        const auto replace = static_cast<std::uint8_t>(v.number("replace_version"));
        Scp scp;
        switch (new_version) {
            case 1:  // table_11_68: DES keys over SCP02, added next to a key set of version 20
            case 2:  // table_11_16: AES keys over SCP02, replacing key set 01
                scp = Scp::Scp02;
                break;
            case 3:  // amdD_6_2_8: AES keys over SCP03, replacing key set 01
            case 4:  // amdD_6_2_8: one AES-192 key over SCP03, padded to two blocks
            case 5:  // table_11_71: DES keys over SCP03, replacing key set 01
                scp = Scp::Scp03;
                break;
            default:
                continue;  // [kaoh-73]: only its session DEK is known
        }
        const std::uint8_t card_version = replace != 0 ? replace : 0x20;
        VirtualSe card = card_for(scp, card_version);
        const core::CommandApdu plain = core::parse_command_apdu(v.bytes("apdu"));
        Bytes answer;
        if (scp == Scp::Scp02) {
            auto w = open_scp02(card, keys, card_version, 0x55, 0x01);
            ASSERT_TRUE(w);
            answer = w->unwrap(card.process(w->wrap(plain)));
        } else {
            auto w = open_scp03(card, keys, card_version, 0x01);
            ASSERT_TRUE(w);
            const auto r = transmit(card, *w, plain);
            answer = r.data;
            answer.push_back(static_cast<std::uint8_t>(r.sw >> 8));
            answer.push_back(static_cast<std::uint8_t>(r.sw));
        }
        Bytes expected{new_version};
        const std::size_t n = v.number("keys");
        for (std::size_t k = 1; k <= n; ++k) {
            const Bytes kcv = v.bytes("kcv_" + std::to_string(k));
            expected.insert(expected.end(), kcv.begin(), kcv.end());
            EXPECT_EQ(card.key_check_value(new_version, static_cast<std::uint8_t>(k)), kcv);
        }
        expected.push_back(0x90);
        expected.push_back(0x00);
        EXPECT_BYTES_EQ(answer, expected);
        ++cases;
    }
    EXPECT_EQ(cases, 5);
}

}  // namespace
}  // namespace kms::tsm::vse::test
