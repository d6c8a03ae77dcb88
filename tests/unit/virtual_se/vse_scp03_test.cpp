// The virtual SE's SCP03 card side against the host-side SCP03 code of kms-core/crypto: round
// trips at every security level and AES key length, the pseudo-random card challenge, failed
// checks that end the session, and the published pySim / kaoh sessions of
// tests/vectors/gp_scp03.txt, which the card must answer byte for byte and accept.
#include <gtest/gtest.h>

#include <string>
#include <tuple>

#include "crypto/gp_scp03.hpp"
#include "crypto/host_crypto.hpp"
#include "vector_file.hpp"
#include "vse_test_support.hpp"

namespace kms::tsm::vse::test {
namespace {

namespace s3 = crypto::scp03;
using core::CommandApdu;
using core::ResponseApdu;

class Scp03RoundTrip : public ::testing::TestWithParam<std::tuple<std::size_t, std::uint8_t>> {};

TEST_P(Scp03RoundTrip, HostAndCardAgreeOnEveryCommandAndResponse) {
    const auto [key_length, level] = GetParam();
    const TestKeys keys(key_length);
    VirtualSe card(config_of(Scp::Scp03, 0x70, keys));
    auto w = open_scp03(card, keys, 0x30, level);
    ASSERT_TRUE(w);
    EXPECT_TRUE(card.secure_channel_open());
    EXPECT_EQ(card.security_level(), level);

    // Case 2 with data in the response (R-ENCRYPTION when the level has it).
    ResponseApdu r = transmit(card, *w, command(0x80, 0xCA, 0x9F, 0x7F, {}, 256));
    EXPECT_EQ(r.sw, 0x9000);
    Bytes cplc{0x9F, 0x7F, 42};
    const Bytes cplc_data = pattern(42, 0x90);
    cplc.insert(cplc.end(), cplc_data.begin(), cplc_data.end());
    EXPECT_BYTES_EQ(r.data, cplc);

    // Case 3 (C-DECRYPTION when the level has it); the card keeps the clear block.
    const Bytes personalisation = pattern(37, 0x11);
    r = transmit(card, *w, command(0x80, 0xE2, 0x00, 0x00, personalisation));
    EXPECT_EQ(r.sw, 0x9000);
    EXPECT_TRUE(r.data.empty());
    ASSERT_EQ(card.stored_data().size(), 1u);
    EXPECT_BYTES_EQ(card.stored_data()[0].data, personalisation);

    // An extended-length command: the C-MAC covers the 3-byte Lc as sent.
    const Bytes large = pattern(300, 0x07);
    r = transmit(card, *w, command(0x80, 0xE2, 0x80, 0x01, large));
    EXPECT_EQ(r.sw, 0x9000);
    ASSERT_EQ(card.stored_data().size(), 2u);
    EXPECT_BYTES_EQ(card.stored_data()[1].data, large);

    // An error status word carries no R-MAC, and the session goes on.
    r = transmit(card, *w, command(0x80, 0xCA, 0x00, 0x66, {}, 256));
    EXPECT_EQ(r.sw, 0x6A88);
    EXPECT_TRUE(card.secure_channel_open());

    // The key information template: three AES keys of key set 30.
    r = transmit(card, *w, command(0x80, 0xCA, 0x00, 0xE0, {}, 256));
    EXPECT_EQ(r.sw, 0x9000);
    const auto n = static_cast<std::uint8_t>(key_length);
    EXPECT_BYTES_EQ(r.data, Bytes({0xE0, 0x12, 0xC0, 0x04, 0x01, 0x30, 0x88, n,    0xC0, 0x04,
                                   0x02, 0x30, 0x88, n,    0xC0, 0x04, 0x03, 0x30, 0x88, n}));
    EXPECT_EQ(w->encryption_counter(), 5u);
    EXPECT_EQ(w->pending_responses(), 0u);
}

INSTANTIATE_TEST_SUITE_P(KeyLengthsAndLevels, Scp03RoundTrip,
                         ::testing::Combine(::testing::Values(16u, 24u, 32u),
                                            ::testing::Values(0x00, 0x01, 0x03, 0x11, 0x13, 0x33)));

TEST(Scp03Card, PseudoRandomChallengeAndSequenceCounter) {
    const TestKeys keys;
    VirtualSe card(config_of(Scp::Scp03, 0x70, keys));
    EXPECT_EQ(card.sequence_counter(), 0x2Au);
    const Bytes host_challenge = pattern(8, 0xA0);
    for (std::uint32_t seq = 0x2A; seq < 0x2C; ++seq) {
        const auto iu = send(card, s3::initialize_update_command(0x30, host_challenge));
        ASSERT_EQ(iu.sw, 0x9000);
        const auto r = s3::parse_initialize_update_response(iu.data);
        EXPECT_BYTES_EQ(r.key_diversification_data, pattern(10, 0x01));
        EXPECT_EQ(r.key_version, 0x30);
        EXPECT_EQ(r.i, 0x70);
        const Bytes counter{0x00, 0x00, static_cast<std::uint8_t>(seq)};
        ASSERT_TRUE(r.sequence_counter);
        EXPECT_BYTES_EQ(*r.sequence_counter, counter);
        // Amd D §6.2.2.3 under the default ISD AID A000000151000000.
        EXPECT_BYTES_EQ(r.card_challenge, s3::pseudo_random_card_challenge(
                                              keys.enc, counter, from_hex("A000000151000000")));
        EXPECT_EQ(card.sequence_counter(), seq + 1);
    }
}

TEST(Scp03Card, RandomChallengeWithoutSequenceCounter) {
    const TestKeys keys;
    VirtualSe card(config_of(Scp::Scp03, 0x20, keys));  // R-MAC, random challenge
    const auto a = send(card, s3::initialize_update_command(0x30, pattern(8, 1)));
    const auto b = send(card, s3::initialize_update_command(0x30, pattern(8, 1)));
    ASSERT_EQ(a.sw, 0x9000);
    ASSERT_EQ(a.data.size(), 29u);  // no sequence counter without i bit 10
    EXPECT_NE(to_hex(s3::parse_initialize_update_response(a.data).card_challenge),
              to_hex(s3::parse_initialize_update_response(b.data).card_challenge));
    // R-ENCRYPTION is not in i = 20: the card refuses level 33.
    auto w = open_scp03(card, keys, 0x30, 0x13);
    ASSERT_TRUE(w);
    const auto iu = send(card, s3::initialize_update_command(0x30, pattern(8, 2)));
    ASSERT_EQ(iu.sw, 0x9000);
    const auto r = s3::parse_initialize_update_response(iu.data);
    auto session = s3::derive_session_keys(keys.enc, keys.mac, pattern(8, 2), r.card_challenge);
    const Bytes hc = s3::host_cryptogram(session.s_mac.view(), pattern(8, 2), r.card_challenge);
    s3::Wrapper cheat(std::move(session), 0x70);  // a host that ignores the card's i
    EXPECT_EQ(send(card, cheat.external_authenticate(hc, 0x33)).sw, 0x6A86);
    EXPECT_FALSE(card.secure_channel_open());
}

TEST(Scp03Card, WrongCMacGets6982AndEndsTheSession) {
    const TestKeys keys;
    VirtualSe card(config_of(Scp::Scp03, 0x70, keys));
    auto w = open_scp03(card, keys, 0x30, 0x33);
    ASSERT_TRUE(w);
    CommandApdu wrapped = w->wrap(command(0x80, 0xCA, 0x9F, 0x7F, {}, 256));
    wrapped.data.back() ^= 0x01;
    const auto r = send(card, wrapped);
    EXPECT_EQ(r.sw, 0x6982);
    EXPECT_TRUE(r.data.empty());  // no R-MAC on an error status word
    EXPECT_FALSE(card.secure_channel_open());
    EXPECT_EQ(w->unwrap(r).sw, 0x6982);
    // The session is gone: the next correctly wrapped command is refused too.
    EXPECT_EQ(transmit(card, *w, command(0x80, 0xCA, 0x9F, 0x7F, {}, 256)).sw, 0x6982);
    // A new session works.
    auto again = open_scp03(card, keys, 0x30, 0x01);
    ASSERT_TRUE(again);
    EXPECT_EQ(transmit(card, *again, command(0x80, 0xCA, 0x9F, 0x7F, {}, 256)).sw, 0x9000);
}

TEST(Scp03Card, TamperedEncryptedDataGets6982) {
    const TestKeys keys;
    VirtualSe card(config_of(Scp::Scp03, 0x70, keys));
    auto w = open_scp03(card, keys, 0x30, 0x03);
    ASSERT_TRUE(w);
    CommandApdu wrapped = w->wrap(command(0x80, 0xE2, 0x80, 0x00, pattern(20, 1)));
    wrapped.data[0] ^= 0x80;  // the MAC covers the cryptogram
    EXPECT_EQ(send(card, wrapped).sw, 0x6982);
    EXPECT_TRUE(card.stored_data().empty());
    EXPECT_FALSE(card.secure_channel_open());
}

TEST(Scp03Card, UnprotectedCommandInACMacSessionGets6982) {
    const TestKeys keys;
    VirtualSe card(config_of(Scp::Scp03, 0x70, keys));
    auto w = open_scp03(card, keys, 0x30, 0x01);
    ASSERT_TRUE(w);
    EXPECT_EQ(send(card, command(0x80, 0xCA, 0x9F, 0x7F, {}, 256)).sw, 0x6982);
    EXPECT_FALSE(card.secure_channel_open());
}

TEST(Scp03Card, WrongHostCryptogramGets6300) {
    const TestKeys keys;
    VirtualSe card(config_of(Scp::Scp03, 0x70, keys));
    const Bytes host_challenge = pattern(8, 0xA0);
    const auto iu = send(card, s3::initialize_update_command(0x30, host_challenge));
    const auto r = s3::parse_initialize_update_response(iu.data);
    auto session = s3::derive_session_keys(keys.enc, keys.mac, host_challenge, r.card_challenge);
    Bytes hc = s3::host_cryptogram(session.s_mac.view(), host_challenge, r.card_challenge);
    hc[0] ^= 0xFF;
    s3::Wrapper w(std::move(session), r.i);
    EXPECT_EQ(send(card, w.external_authenticate(hc, 0x01)).sw, 0x6300);
    EXPECT_FALSE(card.secure_channel_open());
    // EXTERNAL AUTHENTICATE again without INITIALIZE UPDATE: conditions of use not satisfied.
    EXPECT_EQ(send(card, w.external_authenticate(hc, 0x01)).sw, 0x6985);
}

TEST(Scp03Card, UnknownKeyVersionGets6A88) {
    const TestKeys keys;
    VirtualSe card(config_of(Scp::Scp03, 0x70, keys));
    EXPECT_EQ(send(card, s3::initialize_update_command(0x31, pattern(8, 1))).sw, 0x6A88);
    // P1 00: the first available key set.
    EXPECT_EQ(send(card, s3::initialize_update_command(0x00, pattern(8, 1))).sw, 0x9000);
}

// The published sessions: configured with the vector's KDD, key version, i, sequence counter
// and card challenge, the card must answer INITIALIZE UPDATE with exactly the published data,
// accept the published EXTERNAL AUTHENTICATE and every published wrapped command (its C-MAC,
// chaining and C-DECRYPTION), and its own responses must pass the host's R-MAC / R-ENC checks.
TEST(Scp03Card, PublishedSessions) {
    int sessions = 0, commands = 0;
    for (const auto& v : kms::test::read_vector_file("gp_scp03.txt")) {
        if (v.text("kind") != "session") continue;
        SCOPED_TRACE(v.where());
        const Bytes published = v.bytes("initialize_update_response");
        ASSERT_GE(published.size(), 29u);
        TestKeys keys;
        keys.enc = v.bytes("enc");
        keys.mac = v.bytes("mac");
        keys.dek = Bytes(keys.enc.size(), 0x5A);  // not in the vectors; PUT KEY is not used
        VirtualSeConfig config = config_of(Scp::Scp03, published[12], keys, published[10]);
        config.kdd.assign(published.begin(), published.begin() + 10);
        if (published.size() == 32)
            config.sequence_counter = static_cast<std::uint32_t>(
                published[29] << 16 | published[30] << 8 | published[31]);
        config.card_challenge = Bytes(published.begin() + 13, published.begin() + 21);
        if (v.has("aid")) config.isd_aid = v.bytes("aid");
        VirtualSe card(std::move(config));

        const ResponseApdu iu = send_hex(card, v.text("initialize_update"));
        ASSERT_EQ(iu.sw, 0x9000);
        EXPECT_BYTES_EQ(iu.data, published);
        EXPECT_EQ(send_hex(card, v.text("external_authenticate")).sw, 0x9000);
        ASSERT_TRUE(card.secure_channel_open());
        const auto level = static_cast<std::uint8_t>(v.bytes("security_level").at(0));
        EXPECT_EQ(card.security_level(), level);

        // A host in step with the card, to check the card's own responses.
        const auto r = s3::parse_initialize_update_response(published);
        const Bytes host_challenge = v.bytes("host_challenge");
        auto keys_host =
            s3::derive_session_keys(keys.enc, keys.mac, host_challenge, r.card_challenge);
        const Bytes hc =
            s3::host_cryptogram(keys_host.s_mac.view(), host_challenge, r.card_challenge);
        s3::Wrapper host(std::move(keys_host), r.i);
        host.external_authenticate(hc, level);
        for (int k = 1; v.has("wrapped_" + std::to_string(k)); ++k) {
            const std::string n = std::to_string(k);
            SCOPED_TRACE("wrapped_" + n);
            const CommandApdu wrapped = host.wrap(core::parse_command_apdu(v.bytes("plain_" + n)));
            EXPECT_BYTES_EQ(core::encode_command_apdu(wrapped), v.bytes("wrapped_" + n));
            const ResponseApdu answer = send_hex(card, v.text("wrapped_" + n));
            EXPECT_NE(answer.sw, 0x6982);
            EXPECT_TRUE(card.secure_channel_open());
            EXPECT_NO_THROW(host.unwrap(answer));
            ++commands;
        }
        ++sessions;
    }
    EXPECT_EQ(sessions, 14);
    EXPECT_EQ(commands, 52);
}

// pySim's card challenges are the pseudo-random ones of its eUICC's ISD-R: the card computes
// them itself from the AID and the sequence counter, no injection needed.
TEST(Scp03Card, PublishedPseudoRandomChallengesWithoutInjection) {
    int sessions = 0;
    for (const auto& v : kms::test::read_vector_file("gp_scp03.txt")) {
        if (v.text("kind") != "session" || !v.has("aid")) continue;
        SCOPED_TRACE(v.where());
        const Bytes published = v.bytes("initialize_update_response");
        ASSERT_EQ(published.size(), 32u);
        TestKeys keys;
        keys.enc = v.bytes("enc");
        keys.mac = v.bytes("mac");
        keys.dek = Bytes(keys.enc.size(), 0x5A);
        VirtualSeConfig config = config_of(Scp::Scp03, published[12], keys, published[10]);
        config.kdd.assign(published.begin(), published.begin() + 10);
        config.sequence_counter =
            static_cast<std::uint32_t>(published[29] << 16 | published[30] << 8 | published[31]);
        config.isd_aid = v.bytes("aid");
        VirtualSe card(std::move(config));
        const ResponseApdu iu = send_hex(card, v.text("initialize_update"));
        ASSERT_EQ(iu.sw, 0x9000);
        EXPECT_BYTES_EQ(iu.data, published);
        ++sessions;
    }
    EXPECT_EQ(sessions, 9);
}

// The published pseudo-random challenges (omfgp, kaoh: static ENC key, counter, AID): a card
// with that key, counter and ISD AID puts exactly that challenge in its INITIALIZE UPDATE answer.
TEST(Scp03Card, PublishedPseudoRandomChallenges) {
    int cases = 0;
    for (const auto& v : kms::test::read_vector_file("gp_scp03.txt")) {
        if (v.text("kind") != "challenge") continue;
        SCOPED_TRACE(v.where());
        TestKeys keys;
        keys.enc = v.bytes("key");
        keys.mac = keys.dek = Bytes(keys.enc.size(), 0x5A);
        VirtualSeConfig config = config_of(Scp::Scp03, 0x70, keys);
        const Bytes seq = v.bytes("sequence_counter");
        ASSERT_EQ(seq.size(), 3u);
        config.sequence_counter = static_cast<std::uint32_t>(seq[0] << 16 | seq[1] << 8 | seq[2]);
        config.isd_aid = v.bytes("aid");
        VirtualSe card(std::move(config));
        const auto iu = send(card, s3::initialize_update_command(0x30, pattern(8, 0xA0)));
        ASSERT_EQ(iu.sw, 0x9000);
        const auto r = s3::parse_initialize_update_response(iu.data);
        EXPECT_BYTES_EQ(r.card_challenge, v.bytes("card_challenge"));
        ASSERT_TRUE(r.sequence_counter);
        EXPECT_BYTES_EQ(*r.sequence_counter, seq);
        ++cases;
    }
    EXPECT_EQ(cases, 3);
}

}  // namespace
}  // namespace kms::tsm::vse::test
