// The virtual SE's card-management commands one by one, good paths and refusals with their
// status words (GPCS 2.2.1 §11.2 DELETE, §11.4 GET STATUS, §11.5 INSTALL, §11.6 LOAD, §11.10
// SET STATUS), SELECT of applications, the card life cycle rules, and the saved state.
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include "crypto/host_crypto.hpp"
#include "domain/error.hpp"
#include "vector_file.hpp"
#include "vse_content_support.hpp"

namespace kms::tsm::vse::test {
namespace {

using core::CommandApdu;
using core::ResponseApdu;

const Bytes kOtherPackage = from_hex("A00000055920");
const Bytes kOtherModule = from_hex("A0000005592010");
const Protocol kScp03{Scp::Scp03, 0x70, "scp03"};

#define ASSERT_BYTES_EQ(actual, expected) ASSERT_EQ(to_hex(actual), to_hex(expected))

Bytes sha1_of(const Bytes& data) {
    Bytes out(20);
    unsigned int n = 0;
    EXPECT_EQ(EVP_Digest(data.data(), data.size(), out.data(), &n, EVP_sha1(), nullptr), 1);
    return out;
}

class Content : public ::testing::Test {
  protected:
    TestKeys m_keys;
    VirtualSe m_card{config_of(Scp::Scp03, 0x70, m_keys)};
    HostSession m_s;

    void SetUp() override {
        m_s = open_session(m_card, kScp03, m_keys, 0x01);
        ASSERT_TRUE(m_s.send);
    }
    std::uint16_t sw(const CommandApdu& c) { return m_s.send(c).sw; }
    /// Loads @p lf (a few bytes, no hash) and answers the last LOAD's status word.
    std::uint16_t load(const Bytes& lf) {
        const std::uint16_t r = sw(install_for_load(lf, {}));
        if (r != 0x9000) return r;
        return sw(load_commands(load_file_of(Bytes{1, 2, 3}), 255)[0]);
    }
    std::uint16_t select(const Bytes& aid) {
        return send(m_card, command(0x00, 0xA4, 0x04, 0x00, aid, 256)).sw;
    }
};

TEST_F(Content, CardManagementNeedsAnAuthenticatedSession) {
    m_card.reset();
    EXPECT_EQ(send(m_card, install_for_load(kPursePackageAid, {})).sw, 0x6982);
    EXPECT_EQ(send(m_card, command(0x80, 0xE8, 0x80, 0x00, {0xC4, 0x00})).sw, 0x6982);
    EXPECT_EQ(send(m_card, delete_command(kPursePackageAid, false)).sw, 0x6982);
    EXPECT_EQ(send(m_card, get_status(0x80, 0x02)).sw, 0x6982);
    EXPECT_EQ(send(m_card, command(0x80, 0xF0, 0x40, 0x80, kPurseInstanceAid)).sw, 0x6982);
    // With the CLA of secure messaging but no session.
    EXPECT_EQ(send(m_card, command(0x84, 0xE6, 0x02, 0x00, pattern(16, 0))).sw, 0x6982);
}

TEST_F(Content, InstallForLoadRefusals) {
    EXPECT_EQ(sw(install_for_load(from_hex("A0000001"), {})), 0x6A80);        // AID too short
    EXPECT_EQ(sw(install_for_load(kPursePackageAid, Bytes(19, 0))), 0x6A80);  // hash length
    EXPECT_EQ(sw(install_for_load(kPursePackageAid, {}, from_hex("A000000151000099"))), 0x6A88);
    EXPECT_EQ(sw(install_for_load(m_card.state().isd_aid, {})), 0x6A80);  // the ISD's AID
    EXPECT_EQ(sw(command(0x80, 0xE6, 0x02, 0x00, from_hex("06A00000055910"))), 0x6A80);
    EXPECT_EQ(sw(command(0x80, 0xE6, 0x02, 0x01, install_for_load(kPursePackageAid, {}).data)),
              0x6A86);
    EXPECT_EQ(sw(command(0x80, 0xE6, 0x40, 0x00, {0x00})), 0x6A86);  // registry update: not done
    // The ISD's own AID as the security domain is accepted; the file is then taken.
    EXPECT_EQ(sw(install_for_load(kPursePackageAid, {}, m_card.state().isd_aid)), 0x9000);
    EXPECT_EQ(sw(load_commands(load_file_of({0x01}), 255)[0]), 0x9000);
    EXPECT_EQ(sw(install_for_load(kPursePackageAid, {})), 0x6A80);
}

TEST_F(Content, LoadChecksOrderFramingAndHash) {
    EXPECT_EQ(sw(command(0x80, 0xE8, 0x80, 0x00, {0xC4, 0x00})), 0x6985);  // no INSTALL [for load]
    // Out of order: the sequence is abandoned.
    ASSERT_EQ(sw(install_for_load(kOtherPackage, {})), 0x9000);
    EXPECT_EQ(sw(command(0x80, 0xE8, 0x00, 0x01, {0xC4, 0x00})), 0x6A86);
    EXPECT_EQ(sw(command(0x80, 0xE8, 0x80, 0x00, {0xC4, 0x00})), 0x6985);
    // Not C4-framed, or a length past the data.
    ASSERT_EQ(sw(install_for_load(kOtherPackage, {})), 0x9000);
    EXPECT_EQ(sw(command(0x80, 0xE8, 0x80, 0x00, {0xC5, 0x01, 0x00})), 0x6A80);
    ASSERT_EQ(sw(install_for_load(kOtherPackage, {})), 0x9000);
    EXPECT_EQ(sw(command(0x80, 0xE8, 0x80, 0x00, {0xC4, 0x81, 0x05, 0x00})), 0x6A80);
    // A hash that does not match (SHA-256, then SHA-1): nothing is loaded.
    const Bytes block = pattern(300, 0x11);
    ASSERT_EQ(sw(install_for_load(kOtherPackage, crypto::sha256(pattern(300, 0x12)))), 0x9000);
    for (const auto& l : load_commands(load_file_of(block), 128)) sw(l);
    EXPECT_EQ(m_card.content().find_load_file(kOtherPackage), nullptr);
    // SHA-1 over the whole block, with a DAP block (E2) before it: loaded.
    // The SHA-1 helper against FIPS 180 "abc" first.
    ASSERT_BYTES_EQ(sha1_of(Bytes{'a', 'b', 'c'}),
                    from_hex("A9993E364706816ABA3E25717850C26C9CD0D89D"));
    const Bytes sha1 = sha1_of(block);
    ASSERT_EQ(sw(install_for_load(kOtherPackage, sha1)), 0x9000);
    const Bytes file = cat({from_hex("E203010203"), load_file_of(block)});
    const auto loads = load_commands(file, 100);
    ASSERT_EQ(loads.size(), 4u);
    for (std::size_t k = 0; k + 1 < loads.size(); ++k) EXPECT_EQ(sw(loads[k]), 0x9000);
    EXPECT_EQ(sw(loads.back()), 0x9000);
    ASSERT_NE(m_card.content().find_load_file(kOtherPackage), nullptr);
    EXPECT_TRUE(m_card.content().find_load_file(kOtherPackage)->modules.empty());
}

TEST_F(Content, InstallForInstallRefusals) {
    ASSERT_EQ(load(kPursePackageAid), 0x9000);
    ASSERT_EQ(load(kOtherPackage), 0x9000);
    // A module the load file does not have (any package but the purse's has none): 6A88.
    EXPECT_EQ(
        sw(install_for_install(kOtherPackage, kOtherModule, from_hex("A0000005592010FF"), true)),
        0x6A88);
    EXPECT_EQ(sw(install_for_install(kPursePackageAid, kOtherModule, kPurseInstanceAid, true)),
              0x6A88);
    EXPECT_EQ(
        sw(install_for_install(from_hex("A00000055999"), kPurseModuleAid, kPurseInstanceAid, true)),
        0x6A88);
    EXPECT_EQ(sw(install_for_install(kPursePackageAid, kPurseModuleAid, kPurseInstanceAid, true,
                                     {0x00, 0x00})),
              0x6A80);  // privileges of 2 bytes
    EXPECT_EQ(
        sw(install_for_install(kPursePackageAid, kPurseModuleAid, kPurseInstanceAid, true, {0x80})),
        0x6A80);  // a security domain: not implemented
    EXPECT_EQ(sw(install_for_install(kPursePackageAid, kPurseModuleAid, kPurseInstanceAid, true,
                                     {0x00}, {0xEF, 0x00})),
              0x6A80);  // no C9
    EXPECT_EQ(sw(install_for_install(kPursePackageAid, kPurseModuleAid, kPurseInstanceAid, true,
                                     {0x00}, {0xC9, 0x02, 0x01, 0x02})),
              0x9000);
    const Application* app = m_card.content().find_application(kPurseInstanceAid);
    ASSERT_NE(app, nullptr);
    EXPECT_BYTES_EQ(app->install_parameters, from_hex("0102"));
    EXPECT_EQ(app->life_cycle, kAppSelectable);
    // The same instance AID again.
    EXPECT_EQ(sw(install_for_install(kPursePackageAid, kPurseModuleAid, kPurseInstanceAid, false)),
              0x6A80);
}

TEST_F(Content, InstallThenMakeSelectable) {
    ASSERT_EQ(load(kPursePackageAid), 0x9000);
    ASSERT_EQ(sw(install_for_install(kPursePackageAid, kPurseModuleAid, kPurseInstanceAid, false,
                                     {0x00, 0x00, 0x00})),
              0x9000);
    EXPECT_EQ(m_card.content().find_application(kPurseInstanceAid)->life_cycle, kAppInstalled);
    EXPECT_EQ(select(kPurseInstanceAid), 0x6A82);  // INSTALLED is not selectable
    m_s = open_session(m_card, kScp03, m_keys);
    ASSERT_TRUE(m_s.send);
    EXPECT_EQ(sw(install_make_selectable(from_hex("A0000005591010FFFE"))), 0x6A88);
    EXPECT_EQ(sw(install_make_selectable(kPurseInstanceAid)), 0x9000);
    EXPECT_EQ(sw(install_make_selectable(kPurseInstanceAid)), 0x6985);  // already selectable
    EXPECT_EQ(select(kPurseInstanceAid), 0x9000);
    // A prefix of the instance AID selects it too (ISO/IEC 7816-4 partial name).
    EXPECT_EQ(select(m_card.state().isd_aid), 0x9000);
    EXPECT_EQ(select(from_hex("A0000005591010")), 0x9000);
    EXPECT_EQ(m_card.selected(), kPurseInstanceAid);
}

TEST_F(Content, DeleteRefusalsAndObjects) {
    EXPECT_EQ(sw(delete_command(m_card.state().isd_aid, false)), 0x6985);
    EXPECT_EQ(sw(delete_command(kPursePackageAid, false)), 0x6A88);
    EXPECT_EQ(sw(command(0x80, 0xE4, 0x00, 0x01, from_hex("4F06A00000055910"))), 0x6A86);
    EXPECT_EQ(sw(command(0x80, 0xE4, 0x00, 0x00, from_hex("4E06A00000055910"))), 0x6A80);
    ASSERT_EQ(load(kPursePackageAid), 0x9000);
    ASSERT_EQ(sw(install_for_install(kPursePackageAid, kPurseModuleAid, kPurseInstanceAid, true)),
              0x9000);
    // The instance alone, then the load file alone.
    EXPECT_EQ(sw(delete_command(kPurseInstanceAid, false)), 0x9000);
    EXPECT_EQ(m_card.content().find_application(kPurseInstanceAid), nullptr);
    EXPECT_EQ(sw(delete_command(kPursePackageAid, false)), 0x9000);
    EXPECT_TRUE(m_card.content().load_files().empty());
}

TEST_F(Content, GetStatusSubsetsAndFormats) {
    const Bytes isd = m_card.state().isd_aid;
    ResponseApdu r = m_s.send(get_status(0x80, 0x02));
    ASSERT_EQ(r.sw, 0x9000);
    EXPECT_BYTES_EQ(r.data, cat({from_hex("E3134F08"), isd, from_hex("9F70010FC5039EFE80")}));
    r = m_s.send(get_status(0x80, 0x00));  // legacy: L AID, life cycle, privileges
    ASSERT_EQ(r.sw, 0x9000);
    EXPECT_BYTES_EQ(r.data, cat({{0x08}, isd, {0x0F, 0x9E}}));
    EXPECT_EQ(sw(get_status(0x40, 0x02)), 0x6A88);  // no application yet
    ASSERT_EQ(load(kPursePackageAid), 0x9000);
    ASSERT_EQ(load(kOtherPackage), 0x9000);
    ASSERT_EQ(sw(install_for_install(kPursePackageAid, kPurseModuleAid, kPurseInstanceAid, true)),
              0x9000);
    r = m_s.send(get_status(0x10, 0x00));  // legacy with modules
    ASSERT_EQ(r.sw, 0x9000);
    EXPECT_BYTES_EQ(r.data, cat({{0x06},
                                 kPursePackageAid,
                                 {0x01, 0x00, 0x01, 0x07},
                                 kPurseModuleAid,
                                 {0x06},
                                 kOtherPackage,
                                 {0x01, 0x00, 0x00}}));
    r = m_s.send(get_status(0x20, 0x02, kOtherPackage));  // an AID prefix as search criterion
    ASSERT_EQ(r.sw, 0x9000);
    EXPECT_BYTES_EQ(r.data, cat({from_hex("E30C4F06"), kOtherPackage, from_hex("9F700101")}));
    r = m_s.send(get_status(0x40, 0x00));
    ASSERT_EQ(r.sw, 0x9000);
    EXPECT_BYTES_EQ(r.data, cat({{0x09}, kPurseInstanceAid, {0x07, 0x00}}));
    EXPECT_EQ(sw(get_status(0x40, 0x02, from_hex("A0000009"))), 0x6A88);
    EXPECT_EQ(sw(get_status(0x41, 0x02)), 0x6A86);
    EXPECT_EQ(sw(get_status(0x40, 0x06)), 0x6A86);
    EXPECT_EQ(sw(command(0x80, 0xF2, 0x40, 0x02, from_hex("5C00"), 256)), 0x6A80);
}

TEST_F(Content, GetStatusContinuesAfter6310) {
    // 20 load files of 16-byte AIDs: 24 bytes each in the tag-list format, 480 in all, so three
    // responses of at most 232 bytes (9 + 9 + 2 entries).
    std::vector<Bytes> aids;
    for (std::uint8_t n = 0; n < 20; ++n) {
        Bytes aid = pattern(16, 0xA0);
        aid[15] = n;
        aids.push_back(aid);
        ASSERT_EQ(load(aid), 0x9000);
    }
    Bytes all;
    ResponseApdu r = m_s.send(get_status(0x20, 0x02));
    EXPECT_EQ(r.sw, 0x6310);
    EXPECT_EQ(r.data.size(), 9u * 24);
    all.insert(all.end(), r.data.begin(), r.data.end());
    r = m_s.send(get_status(0x20, 0x03));
    EXPECT_EQ(r.sw, 0x6310);
    all.insert(all.end(), r.data.begin(), r.data.end());
    r = m_s.send(get_status(0x20, 0x03));
    EXPECT_EQ(r.sw, 0x9000);
    EXPECT_EQ(r.data.size(), 2u * 24);
    all.insert(all.end(), r.data.begin(), r.data.end());
    Bytes expected;
    for (const auto& aid : aids)
        expected = cat({expected, from_hex("E3164F10"), aid, from_hex("9F700101")});
    EXPECT_BYTES_EQ(all, expected);
    // No pending request: a "next occurrence" is refused; another P1 breaks the sequence.
    EXPECT_EQ(sw(get_status(0x20, 0x03)), 0x6985);
    EXPECT_EQ(sw(get_status(0x20, 0x00)), 0x6310);  // legacy: 19 bytes each, 12 fit
    EXPECT_EQ(sw(get_status(0x10, 0x01)), 0x6985);
}

TEST_F(Content, SetStatusLocksAndUnlocksAnApplication) {
    ASSERT_EQ(load(kPursePackageAid), 0x9000);
    ASSERT_EQ(sw(install_for_install(kPursePackageAid, kPurseModuleAid, kPurseInstanceAid, true)),
              0x9000);
    EXPECT_EQ(sw(command(0x80, 0xF0, 0x40, 0x80, kPurseInstanceAid)), 0x9000);
    EXPECT_EQ(m_card.content().find_application(kPurseInstanceAid)->life_cycle, 0x87);
    EXPECT_EQ(sw(command(0x80, 0xF0, 0x40, 0x80, kPurseInstanceAid)), 0x6985);  // locked already
    EXPECT_EQ(sw(command(0x80, 0xF0, 0x40, 0x80, from_hex("A0000005591010FFFE"))), 0x6A88);
    EXPECT_EQ(sw(command(0x80, 0xF0, 0x40, 0x0F, kPurseInstanceAid)), 0x6A86);
    // §11.10: the GET STATUS of a locked application shows the bit.
    ResponseApdu r = m_s.send(get_status(0x40, 0x00));
    EXPECT_BYTES_EQ(r.data, cat({{0x09}, kPurseInstanceAid, {0x87, 0x00}}));
    // No personalization of a locked application.
    EXPECT_EQ(sw(install_for_personalization(kPurseInstanceAid)), 0x6985);
    EXPECT_EQ(select(kPurseInstanceAid), 0x6A81);
    m_s = open_session(m_card, kScp03, m_keys);
    ASSERT_TRUE(m_s.send);
    EXPECT_EQ(sw(command(0x80, 0xF0, 0x40, 0x00, kPurseInstanceAid)), 0x9000);
    EXPECT_EQ(sw(command(0x80, 0xF0, 0x40, 0x00, kPurseInstanceAid)), 0x6985);  // not locked
    EXPECT_EQ(m_card.content().find_application(kPurseInstanceAid)->life_cycle, kAppSelectable);
    EXPECT_EQ(select(kPurseInstanceAid), 0x9000);
}

TEST_F(Content, ACardLockedCardSelectsOnlyTheIsdAndChangesNoContent) {
    ASSERT_EQ(load(kPursePackageAid), 0x9000);
    ASSERT_EQ(sw(install_for_install(kPursePackageAid, kPurseModuleAid, kPurseInstanceAid, true)),
              0x9000);
    ASSERT_EQ(sw(command(0x80, 0xF0, 0x80, 0x7F)), 0x9000);
    EXPECT_EQ(sw(install_for_load(kOtherPackage, {})), 0x6985);
    EXPECT_EQ(sw(delete_command(kPurseInstanceAid, false)), 0x6985);
    EXPECT_EQ(sw(command(0x80, 0xF0, 0x40, 0x80, kPurseInstanceAid)), 0x6985);
    EXPECT_EQ(sw(get_status(0x40, 0x02)), 0x9000);  // reading is allowed
    EXPECT_EQ(select(kPurseInstanceAid), 0x6A81);
    EXPECT_EQ(select(m_card.state().isd_aid), 0x9000);
}

TEST_F(Content, TheStateRestoresTheSameCard) {
    ASSERT_EQ(load(kPursePackageAid), 0x9000);
    ASSERT_EQ(sw(install_for_install(kPursePackageAid, kPurseModuleAid, kPurseInstanceAid, true)),
              0x9000);
    ASSERT_EQ(m_s.send(put_credit_key(m_s, pattern(16, 0x20))).sw, 0x9000);
    ASSERT_EQ(sw(install_for_personalization(kPurseInstanceAid)), 0x9000);
    ASSERT_EQ(sw(command(0x80, 0xE2, 0x80, 0x00, from_hex("01010400000309"))), 0x9000);
    VirtualSe restored(m_card.state());
    EXPECT_EQ(restored.sequence_counter(), m_card.sequence_counter());
    EXPECT_EQ(restored.key_versions(), (std::vector<std::uint8_t>{0x30, 0x70}));
    EXPECT_EQ(restored.key_check_value(0x70, 1), crypto::kcv_des3(pattern(16, 0x20)));
    const Application* app = restored.content().find_application(kPurseInstanceAid);
    ASSERT_NE(app, nullptr);
    EXPECT_EQ(app->purse->balance, 0x309u);
    EXPECT_EQ(app->life_cycle, kAppPersonalized);
    // A state listing an AID twice, or an application without its load file, is refused.
    VirtualSeState twice = m_card.state();
    twice.load_files.push_back(twice.load_files[0]);
    EXPECT_EQ(kms::test::error_code_of([&] { VirtualSe c(std::move(twice)); }),
              ErrorCode::InvalidArgument);
    VirtualSeState orphan = m_card.state();
    orphan.load_files.clear();
    EXPECT_EQ(kms::test::error_code_of([&] { VirtualSe c(std::move(orphan)); }),
              ErrorCode::InvalidArgument);
}

TEST(VirtualSePurse, InstallPurseForDemosAndItsRefusals) {
    const TestKeys keys;
    VirtualSe card(config_of(Scp::Scp02, 0x55, keys));
    card.install_purse(pattern(16, 1), 500, 3);
    const Application* app = card.content().find_application(kPurseInstanceAid);
    ASSERT_NE(app, nullptr);
    EXPECT_TRUE(app->selectable());
    EXPECT_EQ(app->purse->balance, 500u);
    EXPECT_EQ(kms::test::error_code_of([&] { card.install_purse(pattern(16, 1), 1, 1); }),
              ErrorCode::InvalidArgument);
    VirtualSe other(config_of(Scp::Scp02, 0x55, keys));
    EXPECT_EQ(kms::test::error_code_of([&] { other.install_purse(pattern(8, 1), 1, 1); }),
              ErrorCode::InvalidArgument);
}

}  // namespace
}  // namespace kms::tsm::vse::test
