// The transit purse on the virtual SE, installed as a TSM would over SCP02 (i=55) and SCP03
// (i=70): INSTALL [for load] with the Load File Data Block hash, LOAD in several blocks, INSTALL
// [for install and make selectable], PUT KEY of the credit key set 70, INSTALL [for
// personalization] and STORE DATA DGI 0101; then the purse through a secure channel opened
// while it is selected, GET STATUS and DELETE.
#include <gtest/gtest.h>

#include "vse_content_support.hpp"

namespace kms::tsm::vse::test {
namespace {

using core::CommandApdu;
using core::ResponseApdu;

const Bytes kCreditKey = from_hex("0123456789ABCDEFFEDCBA9876543210");

class Purse : public ::testing::TestWithParam<Protocol> {
  protected:
    TestKeys m_keys;
    VirtualSe m_card{config_of(GetParam().scp, GetParam().i, m_keys)};

    HostSession session(std::uint8_t level = 0x01) {
        return open_session(m_card, GetParam(), m_keys, level);
    }

    std::uint16_t select(const Bytes& aid) {
        return send(m_card, command(0x00, 0xA4, 0x04, 0x00, aid, 256)).sw;
    }

    /// The whole installation of the purse with @p balance; the ISD selected at the end.
    void install_purse(std::uint32_t balance) {
        HostSession s = session(0x03);  // C-MAC and C-DECRYPTION, as a TSM would
        ASSERT_TRUE(s.send);
        Bytes block(600);
        for (std::size_t k = 0; k < block.size(); ++k) block[k] = static_cast<std::uint8_t>(k * 7);
        const Bytes hash = crypto::sha256(block);
        ASSERT_EQ(s.send(install_for_load(kPursePackageAid, hash)).sw, 0x9000);
        const auto loads = load_commands(load_file_of(block), 200);
        ASSERT_EQ(loads.size(), 4u);
        for (const auto& l : loads) ASSERT_EQ(s.send(l).sw, 0x9000);
        ASSERT_NE(m_card.content().find_load_file(kPursePackageAid), nullptr);
        EXPECT_EQ(m_card.content().find_load_file(kPursePackageAid)->data, block);
        ASSERT_EQ(
            s.send(install_for_install(kPursePackageAid, kPurseModuleAid, kPurseInstanceAid, true))
                .sw,
            0x9000);
        ResponseApdu put = s.send(put_credit_key(s, kCreditKey));
        ASSERT_EQ(put.sw, 0x9000);
        EXPECT_BYTES_EQ(put.data, cat({{0x70}, crypto::kcv_des3(kCreditKey)}));
        ASSERT_EQ(s.send(install_for_personalization(kPurseInstanceAid)).sw, 0x9000);
        ASSERT_EQ(
            s.send(command(0x80, 0xE2, 0x80, 0x00, cat({{0x01, 0x01, 0x04}, u32(balance)}))).sw,
            0x9000);
        const Application* app = m_card.content().find_application(kPurseInstanceAid);
        ASSERT_NE(app, nullptr);
        EXPECT_EQ(app->life_cycle, kAppPersonalized);
        ASSERT_TRUE(app->purse && app->purse->personalized);
    }

    /// READ BALANCE: balance, counter; nullopt (and a failure) when refused.
    std::pair<std::uint32_t, std::uint16_t> read_balance(const HostSession& s) {
        const ResponseApdu r = s.send(command(0x80, 0x5C, 0x00, 0x00, {}, 6));
        EXPECT_EQ(r.sw, 0x9000);
        if (r.data.size() != 6) {
            ADD_FAILURE() << "READ BALANCE answered " << to_hex(r.data);
            return {0, 0};
        }
        return {static_cast<std::uint32_t>(r.data[0]) << 24 | r.data[1] << 16 | r.data[2] << 8 |
                    r.data[3],
                static_cast<std::uint16_t>(r.data[4] << 8 | r.data[5])};
    }
};

TEST_P(Purse, InstallPersonalizeCreditDebitListAndDelete) {
    install_purse(1000);
    ASSERT_FALSE(HasFatalFailure());

    // The key set 70 has one key: never chosen for a secure channel, refused when asked for.
    EXPECT_EQ(send(m_card, command(0x80, 0x50, 0x70, 0x00, pattern(8, 1), 256)).sw, 0x6A88);

    // SELECT, then the channel opened while the purse is selected (processed by the ISD).
    ASSERT_EQ(select(kPurseInstanceAid), 0x9000);
    EXPECT_EQ(m_card.selected(), kPurseInstanceAid);
    HostSession s = session(0x01);
    ASSERT_TRUE(s.send);
    EXPECT_EQ(read_balance(s), std::make_pair(1000u, std::uint16_t{0}));
    EXPECT_EQ(s.send(credit_command(kCreditKey, 250, 0)).sw, 0x9000);
    EXPECT_EQ(read_balance(s), std::make_pair(1250u, std::uint16_t{1}));
    // A MAC under another key, and a replayed counter: refused, nothing credited.
    const Bytes other_key = from_hex("00112233445566778899AABBCCDDEEFF");
    EXPECT_EQ(s.send(credit_command(other_key, 250, 1)).sw, 0x6985);
    EXPECT_EQ(s.send(credit_command(kCreditKey, 250, 0)).sw, 0x6985);
    CommandApdu tampered = credit_command(kCreditKey, 250, 1);
    tampered.data[3] ^= 0x01;  // the amount, under the same MAC
    EXPECT_EQ(s.send(tampered).sw, 0x6985);
    EXPECT_EQ(read_balance(s), std::make_pair(1250u, std::uint16_t{1}));
    // DEBIT inside the session (C-MAC as the session requires), then too much.
    EXPECT_EQ(s.send(command(0x80, 0x54, 0x00, 0x00, u32(50))).sw, 0x9000);
    EXPECT_EQ(s.send(command(0x80, 0x54, 0x00, 0x00, u32(5000))).sw, 0x6A84);
    EXPECT_EQ(read_balance(s), std::make_pair(1200u, std::uint16_t{1}));
    // Card-management commands are not the purse's.
    EXPECT_EQ(s.send(get_status(0x40, 0x02)).sw, 0x6D00);

    // Back to the ISD: GET STATUS lists the purse, DELETE removes it with its load file.
    ASSERT_EQ(select(m_card.state().isd_aid), 0x9000);
    EXPECT_EQ(m_card.selected(), std::nullopt);
    HostSession isd = session(0x01);
    ASSERT_TRUE(isd.send);
    const ResponseApdu apps = isd.send(get_status(0x40, 0x02));
    ASSERT_EQ(apps.sw, 0x9000);
    // E3 { 4F AID, 9F70 0F, C5 000000, C4 package AID } (GPCS 2.2.1 §11.4.3).
    EXPECT_BYTES_EQ(apps.data, cat({from_hex("E31C4F09"), kPurseInstanceAid,
                                    from_hex("9F70010FC503000000C406"), kPursePackageAid}));
    const ResponseApdu files = isd.send(get_status(0x10, 0x02));
    ASSERT_EQ(files.sw, 0x9000);
    EXPECT_BYTES_EQ(files.data, cat({from_hex("E3154F06"), kPursePackageAid,
                                     from_hex("9F7001018407"), kPurseModuleAid}));
    EXPECT_EQ(isd.send(delete_command(kPursePackageAid, false)).sw, 0x6985);  // has an instance
    const ResponseApdu del = isd.send(delete_command(kPursePackageAid, true));
    EXPECT_EQ(del.sw, 0x9000);
    EXPECT_BYTES_EQ(del.data, Bytes{0x00});
    EXPECT_EQ(isd.send(get_status(0x40, 0x02)).sw, 0x6A88);
    EXPECT_EQ(isd.send(get_status(0x20, 0x02)).sw, 0x6A88);
    EXPECT_EQ(select(kPurseInstanceAid), 0x6A82);
}

TEST_P(Purse, RefusesWhatAPurseMust) {
    install_purse(100);
    ASSERT_FALSE(HasFatalFailure());
    ASSERT_EQ(select(kPurseInstanceAid), 0x9000);
    // Outside a session: READ BALANCE and CREDIT need the C-MAC; DEBIT is plain.
    EXPECT_EQ(send(m_card, command(0x80, 0x5C, 0x00, 0x00, {}, 6)).sw, 0x6982);
    EXPECT_EQ(send(m_card, credit_command(kCreditKey, 1, 0)).sw, 0x6982);
    EXPECT_EQ(send(m_card, command(0x84, 0x5C, 0x00, 0x00, pattern(8, 0), 6)).sw, 0x6982);
    EXPECT_EQ(send(m_card, command(0x80, 0x54, 0x00, 0x00, u32(40))).sw, 0x9000);
    EXPECT_EQ(send(m_card, command(0x80, 0x54, 0x00, 0x00, u32(61))).sw, 0x6A84);
    EXPECT_EQ(send(m_card, command(0x80, 0x54, 0x00, 0x00, u32(60))).sw, 0x9000);
    EXPECT_EQ(send(m_card, command(0x80, 0x54, 0x00, 0x00, Bytes{0x01})).sw, 0x6700);
    EXPECT_EQ(send(m_card, command(0x80, 0x54, 0x01, 0x00, u32(1))).sw, 0x6A86);
    EXPECT_EQ(send(m_card, command(0x80, 0x99, 0x00, 0x00)).sw, 0x6D00);

    // In a session, a DEBIT without its C-MAC ends the session (6982): the channel's rule.
    HostSession s = session(0x01);
    ASSERT_TRUE(s.send);
    EXPECT_EQ(read_balance(s), std::make_pair(0u, std::uint16_t{0}));
    EXPECT_EQ(send(m_card, command(0x80, 0x54, 0x00, 0x00, u32(0))).sw, 0x6982);
    EXPECT_FALSE(m_card.secure_channel_open());
    // A reset ends everything and selects the ISD.
    m_card.reset();
    EXPECT_EQ(m_card.selected(), std::nullopt);
}

TEST_P(Purse, AnUnpersonalizedPurseAnswers6985) {
    HostSession s = session(0x01);
    ASSERT_TRUE(s.send);
    ASSERT_EQ(s.send(install_for_load(kPursePackageAid, {})).sw, 0x9000);
    ASSERT_EQ(s.send(load_commands(load_file_of(Bytes(10, 0xAB)), 255)[0]).sw, 0x9000);
    ASSERT_EQ(
        s.send(install_for_install(kPursePackageAid, kPurseModuleAid, kPurseInstanceAid, true)).sw,
        0x9000);
    ASSERT_EQ(select(kPurseInstanceAid), 0x9000);
    EXPECT_EQ(send(m_card, command(0x80, 0x54, 0x00, 0x00, u32(0))).sw, 0x6985);
    HostSession p = session(0x01);
    ASSERT_TRUE(p.send);
    EXPECT_EQ(p.send(command(0x80, 0x5C, 0x00, 0x00, {}, 6)).sw, 0x6985);
    EXPECT_EQ(p.send(credit_command(kCreditKey, 1, 0)).sw, 0x6985);
}

TEST_P(Purse, PersonalizationRefusesBadDgisAndASecondTime) {
    install_purse(7);
    ASSERT_FALSE(HasFatalFailure());
    HostSession s = session(0x01);
    ASSERT_TRUE(s.send);
    ASSERT_EQ(s.send(install_for_personalization(kPurseInstanceAid)).sw, 0x9000);
    // Already personalized.
    EXPECT_EQ(s.send(command(0x80, 0xE2, 0x80, 0x00, from_hex("0101040000000A"))).sw, 0x6985);
    EXPECT_EQ(s.send(install_for_personalization(from_hex("A000000559101099"))).sw, 0x6A88);
}

TEST_P(Purse, PersonalizationDataIsChecked) {
    HostSession s = session(0x01);
    ASSERT_TRUE(s.send);
    ASSERT_EQ(s.send(install_for_load(kPursePackageAid, {})).sw, 0x9000);
    ASSERT_EQ(s.send(load_commands(load_file_of(Bytes(3, 1)), 255)[0]).sw, 0x9000);
    ASSERT_EQ(
        s.send(install_for_install(kPursePackageAid, kPurseModuleAid, kPurseInstanceAid, true)).sw,
        0x9000);
    ASSERT_EQ(s.send(install_for_personalization(kPurseInstanceAid)).sw, 0x9000);
    EXPECT_EQ(s.send(command(0x80, 0xE2, 0x80, 0x00, from_hex("010103000001"))).sw, 0x6A80);
    EXPECT_EQ(s.send(command(0x80, 0xE2, 0x80, 0x00, from_hex("02020400000001"))).sw, 0x6A80);
    EXPECT_EQ(s.send(command(0x80, 0xE2, 0x80, 0x00, from_hex("010104000000"))).sw, 0x6A80);
    EXPECT_FALSE(m_card.content().find_application(kPurseInstanceAid)->purse->personalized);
    EXPECT_EQ(s.send(command(0x80, 0xE2, 0x80, 0x00, from_hex("0101040000002A"))).sw, 0x9000);
    EXPECT_EQ(m_card.content().find_application(kPurseInstanceAid)->purse->balance, 42u);
}

TEST_P(Purse, PersonalizationDataMayComeEncryptedUnderTheDek) {
    HostSession s = session(0x01);
    ASSERT_TRUE(s.send);
    ASSERT_EQ(s.send(install_for_load(kPursePackageAid, {})).sw, 0x9000);
    ASSERT_EQ(s.send(load_commands(load_file_of(Bytes(3, 1)), 255)[0]).sw, 0x9000);
    ASSERT_EQ(
        s.send(install_for_install(kPursePackageAid, kPurseModuleAid, kPurseInstanceAid, true)).sw,
        0x9000);
    ASSERT_EQ(s.send(install_for_personalization(kPurseInstanceAid)).sw, 0x9000);
    // P1 E0: last block, encrypted under the DEK (b7-b6 = 11), padded 80 00.. to whole blocks.
    const std::size_t block = GetParam().scp == Scp::Scp02 ? 8 : 16;
    const Bytes clear = crypto::pad_iso9797_m2(from_hex("0101040001E240"), block);
    EXPECT_EQ(s.send(command(0x80, 0xE2, 0xE0, 0x00, s.encrypt_key(clear))).sw, 0x9000);
    const Application* app = m_card.content().find_application(kPurseInstanceAid);
    ASSERT_TRUE(app->purse->personalized);
    EXPECT_EQ(app->purse->balance, 123456u);
}

INSTANTIATE_TEST_SUITE_P(Scp, Purse,
                         ::testing::Values(Protocol{Scp::Scp02, 0x55, "scp02_i55"},
                                           Protocol{Scp::Scp03, 0x70, "scp03_i70"}),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace kms::tsm::vse::test
