// The virtual SE's SCP02 card side against the host-side Scp02Wrapper of kms-core/crypto: round
// trips for i = 15 and 55 (and 35 / 75, which add R-MAC support) at levels 01, 03, 11 and 13,
// the pseudo-random card challenge, PUT KEY and encrypted STORE DATA under the session DEK, a
// wrong C-MAC, and the published pySim / kaoh sessions of tests/vectors/gp_scp02.txt.
#include <gtest/gtest.h>

#include <array>
#include <string>
#include <tuple>

#include "crypto/gp_put_key.hpp"
#include "crypto/gp_scp02.hpp"
#include "crypto/host_crypto.hpp"
#include "vector_file.hpp"
#include "vse_test_support.hpp"

namespace kms::tsm::vse::test {
namespace {

using core::CommandApdu;
using core::ResponseApdu;

class Scp02RoundTrip : public ::testing::TestWithParam<std::tuple<std::uint8_t, std::uint8_t>> {};

TEST_P(Scp02RoundTrip, HostAndCardAgreeOnEveryCommandAndResponse) {
    const auto [i, level] = GetParam();
    const TestKeys keys;
    VirtualSe card(config_of(Scp::Scp02, i, keys));
    auto w = open_scp02(card, keys, 0x30, i, level);
    ASSERT_TRUE(w);
    EXPECT_TRUE(card.secure_channel_open());
    EXPECT_EQ(card.security_level(), level);

    ResponseApdu r = transmit02(card, *w, command(0x80, 0xCA, 0x9F, 0x7F, {}, 256));
    EXPECT_EQ(r.sw, 0x9000);
    ASSERT_EQ(r.data.size(), 45u);
    EXPECT_BYTES_EQ(ByteView(r.data).subspan(3), pattern(42, 0x90));

    // C-DECRYPTION (level 03, 13) of a block that is not a multiple of 8.
    const Bytes personalisation = pattern(29, 0x21);
    r = transmit02(card, *w, command(0x80, 0xE2, 0x00, 0x00, personalisation));
    EXPECT_EQ(r.sw, 0x9000);
    r = transmit02(card, *w, command(0x80, 0xE2, 0x80, 0x01, pattern(8, 0x31)));
    EXPECT_EQ(r.sw, 0x9000);
    ASSERT_EQ(card.stored_data().size(), 2u);
    EXPECT_BYTES_EQ(card.stored_data()[0].data, personalisation);
    EXPECT_BYTES_EQ(card.stored_data()[1].data, pattern(8, 0x31));

    // An error status word (no R-MAC), then the chain goes on.
    r = transmit02(card, *w, command(0x80, 0xCA, 0x00, 0x66, {}, 256));
    EXPECT_EQ(r.sw, 0x6A88);
    r = transmit02(card, *w, command(0x80, 0xCA, 0x00, 0xE0, {}, 256));
    EXPECT_EQ(r.sw, 0x9000);
    EXPECT_BYTES_EQ(r.data, Bytes({0xE0, 0x12, 0xC0, 0x04, 0x01, 0x30, 0x80, 0x10, 0xC0, 0x04,
                                   0x02, 0x30, 0x80, 0x10, 0xC0, 0x04, 0x03, 0x30, 0x80, 0x10}));
    EXPECT_EQ(w->pending_responses(), 0u);
}

INSTANTIATE_TEST_SUITE_P(IAndLevels, Scp02RoundTrip,
                         ::testing::Values(std::make_tuple(0x15, 0x00), std::make_tuple(0x15, 0x01),
                                           std::make_tuple(0x15, 0x03), std::make_tuple(0x55, 0x01),
                                           std::make_tuple(0x55, 0x03), std::make_tuple(0x35, 0x11),
                                           std::make_tuple(0x35, 0x13), std::make_tuple(0x75, 0x01),
                                           std::make_tuple(0x75, 0x11),
                                           std::make_tuple(0x75, 0x13)));

// i = 15 and 55 do not announce R-MAC (GP 2.2.1 Table E-1, b6): the card refuses level 11.
TEST(Scp02Card, RMacLevelNeedsTheRMacBitOfI) {
    for (std::uint8_t i : {0x15, 0x55}) {
        SCOPED_TRACE(i);
        const TestKeys keys;
        VirtualSe card(config_of(Scp::Scp02, i, keys));
        const Bytes host_challenge = pattern(8, 0xB0);
        const auto iu = send(card, command(0x80, 0x50, 0x30, 0x00, host_challenge, 256));
        ASSERT_EQ(iu.sw, 0x9000);
        const auto r = crypto::parse_scp02_initialize_update_response(iu.data);
        auto session = crypto::scp02_session_keys(keys.enc, keys.mac, keys.dek, r.seq);
        const Bytes hc = crypto::scp02_host_cryptogram(session.enc.view(), r.seq, r.card_challenge,
                                                       host_challenge);
        crypto::Scp02Wrapper w(std::move(session), i, 0x11);
        EXPECT_EQ(core::parse_response_apdu(card.process(w.external_authenticate(hc))).sw, 0x6A86);
        EXPECT_FALSE(card.secure_channel_open());
    }
}

TEST(Scp02Card, PseudoRandomChallengeAndSequenceCounter) {
    const TestKeys keys;
    VirtualSe card(config_of(Scp::Scp02, 0x55, keys));
    for (std::uint8_t seq = 0x2A; seq < 0x2C; ++seq) {
        const auto iu = send(card, command(0x80, 0x50, 0x30, 0x00, pattern(8, 0xB0), 256));
        ASSERT_EQ(iu.sw, 0x9000);
        const auto r = crypto::parse_scp02_initialize_update_response(iu.data);
        EXPECT_BYTES_EQ(r.kdd, pattern(10, 0x01));
        EXPECT_EQ(r.key_version, 0x30);
        EXPECT_BYTES_EQ(r.seq, Bytes({0x00, seq}));
        // E.4.2.3: the C-MAC algorithm under the session C-MAC key over the ISD AID.
        const auto session = crypto::scp02_session_keys(keys.enc, keys.mac, keys.dek, r.seq);
        EXPECT_BYTES_EQ(r.card_challenge, crypto::scp02_pseudo_random_card_challenge(
                                              session.cmac.view(), from_hex("A000000151000000")));
        EXPECT_EQ(card.sequence_counter(), seq + 1u);
    }
}

TEST(Scp02Card, RandomChallengeWithoutBit40) {
    const TestKeys keys;
    VirtualSe card(config_of(Scp::Scp02, 0x15, keys));
    const auto a = send(card, command(0x80, 0x50, 0x30, 0x00, pattern(8, 0xB0), 256));
    const auto b = send(card, command(0x80, 0x50, 0x30, 0x00, pattern(8, 0xB0), 256));
    ASSERT_EQ(a.sw, 0x9000);
    ASSERT_EQ(b.sw, 0x9000);
    const auto ra = crypto::parse_scp02_initialize_update_response(a.data);
    const auto rb = crypto::parse_scp02_initialize_update_response(b.data);
    EXPECT_NE(to_hex(ra.card_challenge), to_hex(rb.card_challenge));
    const auto session = crypto::scp02_session_keys(keys.enc, keys.mac, keys.dek, ra.seq);
    EXPECT_NE(to_hex(ra.card_challenge), to_hex(crypto::scp02_pseudo_random_card_challenge(
                                             session.cmac.view(), from_hex("A000000151000000"))));
}

TEST(Scp02Card, WrongCMacGets6982AndEndsTheSession) {
    const TestKeys keys;
    VirtualSe card(config_of(Scp::Scp02, 0x15, keys));
    auto w = open_scp02(card, keys, 0x30, 0x15, 0x03);
    ASSERT_TRUE(w);
    Bytes wrapped = w->wrap(command(0x80, 0xE2, 0x80, 0x00, pattern(10, 1)));
    wrapped[wrapped.size() - 1] ^= 0x01;
    EXPECT_BYTES_EQ(card.process(wrapped), Bytes({0x69, 0x82}));
    EXPECT_FALSE(card.secure_channel_open());
    EXPECT_TRUE(card.stored_data().empty());
    EXPECT_EQ(transmit02(card, *w, command(0x80, 0xCA, 0x9F, 0x7F, {}, 256)).sw, 0x6982);
}

TEST(Scp02Card, WrongHostCryptogramGets6300) {
    const TestKeys keys;
    VirtualSe card(config_of(Scp::Scp02, 0x55, keys));
    const Bytes host_challenge = pattern(8, 0xB0);
    const auto iu = send(card, command(0x80, 0x50, 0x30, 0x00, host_challenge, 256));
    const auto r = crypto::parse_scp02_initialize_update_response(iu.data);
    const Bytes wrong_enc = pattern(16, 0x77);  // the host has another ENC key
    auto session = crypto::scp02_session_keys(wrong_enc, keys.mac, keys.dek, r.seq);
    const Bytes hc =
        crypto::scp02_host_cryptogram(session.enc.view(), r.seq, r.card_challenge, host_challenge);
    crypto::Scp02Wrapper w(std::move(session), 0x55, 0x01);
    EXPECT_EQ(core::parse_response_apdu(card.process(w.external_authenticate(hc))).sw, 0x6300);
    EXPECT_FALSE(card.secure_channel_open());
}

// PUT KEY of a new DES key set under the session DEK (TDEA-ECB), its KCVs in the answer, then a
// session opened with the new keys.
TEST(Scp02Card, PutKeyAddsAKeySetUsableForTheNextSession) {
    const TestKeys keys;
    VirtualSe card(config_of(Scp::Scp02, 0x55, keys));
    auto w = open_scp02(card, keys, 0x30, 0x55, 0x03);
    ASSERT_TRUE(w);
    TestKeys next;
    next.enc = pattern(16, 0x11);
    next.mac = pattern(16, 0x22);
    next.dek = pattern(16, 0x33);
    std::array<crypto::gp::PutKeyComponent, 3> comps;
    const std::array<const Bytes*, 3> values{&next.enc, &next.mac, &next.dek};
    for (std::size_t k = 0; k < 3; ++k) {
        comps[k].type = crypto::gp::KeyType::Des;
        comps[k].key_length = 16;
        comps[k].encrypted = crypto::des3_ecb_encrypt(w->session_dek().view(), *values[k]);
        comps[k].kcv = crypto::kcv_des3(*values[k]);
    }
    const Bytes answer =
        w->unwrap(card.process(w->wrap(crypto::gp::put_key_command(0x00, 0x01, 0x31, comps))));
    const auto parsed = crypto::gp::parse_put_key_response(answer, 3);
    EXPECT_EQ(parsed.key_version, 0x31);
    for (std::size_t k = 0; k < 3; ++k) {
        EXPECT_BYTES_EQ(parsed.kcvs[k], comps[k].kcv);
        EXPECT_EQ(card.key_check_value(0x31, static_cast<std::uint8_t>(k + 1)), comps[k].kcv);
    }
    EXPECT_EQ(card.key_versions(), (std::vector<std::uint8_t>{0x30, 0x31}));
    auto w2 = open_scp02(card, next, 0x31, 0x55, 0x01);
    ASSERT_TRUE(w2);
    EXPECT_EQ(transmit02(card, *w2, command(0x80, 0xCA, 0x9F, 0x7F, {}, 256)).sw, 0x9000);
}

// STORE DATA with P1 b7-b6 = 11: the data is encrypted under the session DEK; the card keeps the
// clear value.
TEST(Scp02Card, StoreDataEncryptedUnderTheSessionDek) {
    const TestKeys keys;
    VirtualSe card(config_of(Scp::Scp02, 0x15, keys));
    auto w = open_scp02(card, keys, 0x30, 0x15, 0x01);
    ASSERT_TRUE(w);
    const Bytes secret = pattern(16, 0x71);
    const Bytes encrypted = crypto::des3_ecb_encrypt(w->session_dek().view(), secret);
    EXPECT_EQ(transmit02(card, *w, command(0x80, 0xE2, 0xE0, 0x00, encrypted)).sw, 0x9000);
    ASSERT_EQ(card.stored_data().size(), 1u);
    EXPECT_TRUE(card.stored_data()[0].was_encrypted);
    EXPECT_BYTES_EQ(card.stored_data()[0].data, secret);
}

std::uint8_t hex_byte(const kms::test::VectorCase& v, const std::string& name) {
    return static_cast<std::uint8_t>(std::stoul(v.text(name), nullptr, 16));
}

// The published sessions: the card, configured with the vector's KDD, key version, sequence
// counter and card challenge, answers INITIALIZE UPDATE with exactly the published data and
// accepts the published EXTERNAL AUTHENTICATE and wrapped commands.
TEST(Scp02Card, PublishedSessions) {
    int sessions = 0, commands = 0;
    for (const auto& v : kms::test::read_vector_file("gp_scp02.txt")) {
        if (v.text("type") != "session") continue;
        SCOPED_TRACE(v.where());
        const Bytes published = v.bytes("iu_response");
        ASSERT_EQ(published.size(), 28u);
        TestKeys keys;
        keys.enc = v.bytes("enc");
        keys.mac = v.bytes("mac");
        keys.dek = v.bytes("dek");
        VirtualSeConfig config = config_of(Scp::Scp02, hex_byte(v, "i"), keys, published[10]);
        config.kdd.assign(published.begin(), published.begin() + 10);
        config.sequence_counter = static_cast<std::uint32_t>(published[12] << 8 | published[13]);
        config.card_challenge = Bytes(published.begin() + 14, published.begin() + 20);
        VirtualSe card(std::move(config));
        Bytes iu{0x80, 0x50, published[10], 0x00, 0x08};
        const Bytes host_challenge = v.bytes("host_challenge");
        iu.insert(iu.end(), host_challenge.begin(), host_challenge.end());
        iu.push_back(0x00);
        const ResponseApdu r = core::parse_response_apdu(card.process(iu));
        ASSERT_EQ(r.sw, 0x9000);
        EXPECT_BYTES_EQ(r.data, published);
        EXPECT_BYTES_EQ(card.process(v.bytes("ext_auth")), Bytes({0x90, 0x00}));
        EXPECT_EQ(card.security_level(), hex_byte(v, "level"));
        for (int k = 1; v.has("wrapped" + std::to_string(k)); ++k) {
            SCOPED_TRACE("wrapped" + std::to_string(k));
            const Bytes answer = card.process(v.bytes("wrapped" + std::to_string(k)));
            EXPECT_NE(to_hex(ByteView(answer).last(2)), "6982");
            EXPECT_TRUE(card.secure_channel_open());
            ++commands;
        }
        ++sessions;
    }
    EXPECT_EQ(sessions, 3);
    EXPECT_EQ(commands, 7);
}

}  // namespace
}  // namespace kms::tsm::vse::test
