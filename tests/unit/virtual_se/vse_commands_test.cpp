// The virtual SE's ISD commands over SCP03 (PUT KEY, STORE DATA, SET STATUS, GET DATA, SELECT)
// and its answers to what it does not know, with the host-side PUT KEY encoding of kms-core.
#include <gtest/gtest.h>

#include <array>
#include <string>

#include "crypto/gp_put_key.hpp"
#include "crypto/gp_scp03.hpp"
#include "crypto/host_crypto.hpp"
#include "domain/error.hpp"
#include "vector_file.hpp"
#include "vse_test_support.hpp"

namespace kms::tsm::vse::test {
namespace {

using core::CommandApdu;
using core::ResponseApdu;
using crypto::gp::KeyType;
using crypto::gp::PutKeyComponent;

/// An AES key encrypted as SCP03 PUT KEY sends it (Amd D §7.2: AES-CBC, zero ICV, static DEK;
/// AES-192 padded 80 00.. to two blocks).
PutKeyComponent aes_component(const Bytes& dek, const Bytes& key) {
    Bytes padded = key;
    if (padded.size() % 16 != 0) padded = crypto::pad_iso9797_m2(key, 16);
    return PutKeyComponent{KeyType::Aes, static_cast<std::uint8_t>(key.size()),
                           crypto::aes_cbc_encrypt(dek, Bytes(16, 0), padded),
                           crypto::kcv_aes_gp(key)};
}

std::array<PutKeyComponent, 3> key_set(const Bytes& dek, const TestKeys& k) {
    return {aes_component(dek, k.enc), aes_component(dek, k.mac), aes_component(dek, k.dek)};
}

class Scp03Commands : public ::testing::Test {
  protected:
    TestKeys m_keys;
    VirtualSe m_card{config_of(Scp::Scp03, 0x70, m_keys)};
};

TEST_F(Scp03Commands, PutKeyAddsThenReplacesAKeySet) {
    auto w = open_scp03(m_card, m_keys, 0x30, 0x33);
    ASSERT_TRUE(w);
    TestKeys next(24);  // AES-192: padded to 32 bytes, the length byte tells 24
    next.enc = pattern(24, 0x01);
    const auto comps = key_set(m_keys.dek, next);
    ResponseApdu r = transmit(m_card, *w, crypto::gp::put_key_command(0x00, 0x01, 0x31, comps));
    Bytes raw = r.data;
    raw.push_back(static_cast<std::uint8_t>(r.sw >> 8));
    raw.push_back(static_cast<std::uint8_t>(r.sw));
    const auto parsed = crypto::gp::parse_put_key_response(raw, 3);
    EXPECT_EQ(parsed.key_version, 0x31);
    for (std::size_t k = 0; k < 3; ++k) EXPECT_BYTES_EQ(parsed.kcvs[k], comps[k].kcv);
    EXPECT_EQ(m_card.key_versions(), (std::vector<std::uint8_t>{0x30, 0x31}));

    // Adding 31 again is refused; replacing 31 by 32 moves the set.
    EXPECT_EQ(transmit(m_card, *w, crypto::gp::put_key_command(0x00, 0x01, 0x31, comps)).sw,
              0x6A80);
    EXPECT_EQ(transmit(m_card, *w, crypto::gp::put_key_command(0x31, 0x01, 0x32, comps)).sw,
              0x9000);
    EXPECT_EQ(m_card.key_versions(), (std::vector<std::uint8_t>{0x30, 0x32}));
    EXPECT_EQ(m_card.key_check_value(0x32, 2), comps[1].kcv);
    EXPECT_EQ(m_card.key_check_value(0x31, 2), std::nullopt);
    // Replacing a key set that does not exist.
    EXPECT_EQ(transmit(m_card, *w, crypto::gp::put_key_command(0x40, 0x01, 0x41, comps)).sw,
              0x6A88);

    // The new AES-192 key set opens a session.
    auto w2 = open_scp03(m_card, next, 0x32, 0x03);
    ASSERT_TRUE(w2);
    EXPECT_EQ(transmit(m_card, *w2, command(0x80, 0xCA, 0x9F, 0x7F, {}, 256)).sw, 0x9000);
}

TEST_F(Scp03Commands, PutKeyWithAWrongKcvChangesNothing) {
    auto w = open_scp03(m_card, m_keys, 0x30, 0x03);
    ASSERT_TRUE(w);
    auto comps = key_set(m_keys.dek, TestKeys(16));
    comps[2].kcv[0] ^= 0x01;
    EXPECT_EQ(transmit(m_card, *w, crypto::gp::put_key_command(0x00, 0x01, 0x31, comps)).sw,
              0x9485);
    EXPECT_EQ(m_card.key_versions(), (std::vector<std::uint8_t>{0x30}));
    // Encrypted under another DEK: the KCV does not match the decrypted key either.
    const auto wrong_dek = key_set(pattern(16, 0x99), TestKeys(16));
    EXPECT_EQ(transmit(m_card, *w, crypto::gp::put_key_command(0x00, 0x01, 0x31, wrong_dek)).sw,
              0x9485);
    EXPECT_EQ(m_card.key_versions(), (std::vector<std::uint8_t>{0x30}));
}

TEST_F(Scp03Commands, PutKeyRefusesMalformedData) {
    auto w = open_scp03(m_card, m_keys, 0x30, 0x01);
    ASSERT_TRUE(w);
    const auto comps = key_set(m_keys.dek, TestKeys(16));
    CommandApdu c = crypto::gp::put_key_command(0x00, 0x01, 0x31, comps);
    CommandApdu truncated = c;
    truncated.data.pop_back();
    EXPECT_EQ(transmit(m_card, *w, truncated).sw, 0x6A80);
    CommandApdu unknown_type = c;
    unknown_type.data[1] = 0xA1;  // the first key's type: neither DES nor AES
    EXPECT_EQ(transmit(m_card, *w, unknown_type).sw, 0x9484);
    CommandApdu one_key_flag = c;
    one_key_flag.p2 = 0x01;  // b8 clear, yet three keys follow
    EXPECT_EQ(transmit(m_card, *w, one_key_flag).sw, 0x6A80);
    CommandApdu version_zero = c;
    version_zero.data[0] = 0x00;
    EXPECT_EQ(transmit(m_card, *w, version_zero).sw, 0x6A80);
    EXPECT_EQ(m_card.key_versions(), (std::vector<std::uint8_t>{0x30}));
    EXPECT_EQ(transmit(m_card, *w, c).sw, 0x9000);
}

TEST_F(Scp03Commands, PutKeyAndStoreDataNeedASession) {
    const auto comps = key_set(m_keys.dek, TestKeys(16));
    EXPECT_EQ(send(m_card, crypto::gp::put_key_command(0x00, 0x01, 0x31, comps)).sw, 0x6982);
    EXPECT_EQ(send(m_card, command(0x80, 0xE2, 0x80, 0x00, {0x01})).sw, 0x6982);
    EXPECT_EQ(send(m_card, command(0x80, 0xF0, 0x80, 0x7F)).sw, 0x6982);
    EXPECT_EQ(send(m_card, command(0x84, 0xE2, 0x80, 0x00, Bytes(9, 0))).sw, 0x6982);
    EXPECT_TRUE(m_card.stored_data().empty());
}

// STORE DATA P1 b7-b6 = 11: encrypted under the static DEK (AES-CBC, zero ICV), inside a
// C-DECRYPTION session; the card keeps the clear data. Blocks are numbered from 00.
TEST_F(Scp03Commands, StoreDataDecryptsSensitiveDataAndChecksBlockNumbers) {
    auto w = open_scp03(m_card, m_keys, 0x30, 0x03);
    ASSERT_TRUE(w);
    const Bytes clear = pattern(32, 0xC0);
    const Bytes encrypted = crypto::aes_cbc_encrypt(m_keys.dek, Bytes(16, 0), clear);
    EXPECT_EQ(transmit(m_card, *w, command(0x80, 0xE2, 0x60, 0x00, encrypted)).sw, 0x9000);
    EXPECT_EQ(transmit(m_card, *w, command(0x80, 0xE2, 0x00, 0x02, {0x01})).sw, 0x6A86);
    EXPECT_EQ(transmit(m_card, *w, command(0x80, 0xE2, 0x60, 0x01, Bytes(15, 0))).sw, 0x6A80);
    EXPECT_EQ(transmit(m_card, *w, command(0x80, 0xE2, 0x90, 0x01, {0x5A, 0x01, 0x02})).sw, 0x9000);
    ASSERT_EQ(m_card.stored_data().size(), 2u);
    EXPECT_TRUE(m_card.stored_data()[0].was_encrypted);
    EXPECT_BYTES_EQ(m_card.stored_data()[0].data, clear);
    EXPECT_FALSE(m_card.stored_data()[1].was_encrypted);
    EXPECT_EQ(m_card.stored_data()[1].p1, 0x90);
    EXPECT_BYTES_EQ(m_card.stored_data()[1].data, Bytes({0x5A, 0x01, 0x02}));
    // After the last block the numbering starts again.
    EXPECT_EQ(transmit(m_card, *w, command(0x80, 0xE2, 0x80, 0x00, {0x01})).sw, 0x9000);
}

TEST_F(Scp03Commands, SetStatusFollowsTheCardLifeCycle) {
    auto w = open_scp03(m_card, m_keys, 0x30, 0x01);
    ASSERT_TRUE(w);
    EXPECT_EQ(m_card.life_cycle(), CardLifeCycle::Secured);
    // No way back to INITIALIZED or OP_READY.
    EXPECT_EQ(transmit(m_card, *w, command(0x80, 0xF0, 0x80, 0x07)).sw, 0x6985);
    EXPECT_EQ(transmit(m_card, *w, command(0x80, 0xF0, 0x80, 0x01)).sw, 0x6985);
    EXPECT_EQ(transmit(m_card, *w, command(0x80, 0xF0, 0x80, 0x0F)).sw, 0x6985);
    EXPECT_EQ(transmit(m_card, *w, command(0x80, 0xF0, 0x80, 0x33)).sw, 0x6A86);
    EXPECT_EQ(transmit(m_card, *w, command(0x80, 0xF0, 0x40, 0x7F)).sw, 0x6A86);
    // Lock: PUT KEY and STORE DATA are refused, GET DATA is not.
    EXPECT_EQ(
        transmit(m_card, *w, command(0x80, 0xF0, 0x80, 0x7F, from_hex("A000000151000000"))).sw,
        0x9000);
    EXPECT_EQ(m_card.life_cycle(), CardLifeCycle::CardLocked);
    EXPECT_EQ(transmit(m_card, *w, command(0x80, 0xE2, 0x80, 0x00, {0x01})).sw, 0x6985);
    EXPECT_EQ(transmit(m_card, *w, command(0x80, 0xCA, 0x9F, 0x7F, {}, 256)).sw, 0x9000);
    EXPECT_EQ(transmit(m_card, *w, command(0x80, 0xF0, 0x80, 0x7F)).sw, 0x6985);
    // Unlock, then terminate: the session ends and only GET DATA answers.
    EXPECT_EQ(transmit(m_card, *w, command(0x80, 0xF0, 0x80, 0x0F)).sw, 0x9000);
    EXPECT_EQ(m_card.life_cycle(), CardLifeCycle::Secured);
    EXPECT_EQ(transmit(m_card, *w, command(0x80, 0xF0, 0x80, 0xFF)).sw, 0x9000);
    EXPECT_EQ(m_card.life_cycle(), CardLifeCycle::Terminated);
    EXPECT_FALSE(m_card.secure_channel_open());
    EXPECT_EQ(send(m_card, crypto::scp03::initialize_update_command(0x30, pattern(8, 1))).sw,
              0x6A81);
    EXPECT_EQ(send(m_card, command(0x80, 0xCA, 0x9F, 0x7F, {}, 256)).sw, 0x9000);
}

TEST(VirtualSeLifeCycle, OpReadyGoesForwardOnly) {
    const TestKeys keys;
    VirtualSeConfig config = config_of(Scp::Scp03, 0x70, keys);
    config.life_cycle = CardLifeCycle::OpReady;
    VirtualSe card(std::move(config));
    auto w = open_scp03(card, keys, 0x30, 0x01);
    ASSERT_TRUE(w);
    EXPECT_EQ(transmit(card, *w, command(0x80, 0xF0, 0x80, 0x7F)).sw, 0x6985);
    EXPECT_EQ(transmit(card, *w, command(0x80, 0xF0, 0x80, 0x07)).sw, 0x9000);
    EXPECT_EQ(transmit(card, *w, command(0x80, 0xF0, 0x80, 0x01)).sw, 0x6985);
    EXPECT_EQ(transmit(card, *w, command(0x80, 0xF0, 0x80, 0x0F)).sw, 0x9000);
    EXPECT_EQ(card.life_cycle(), CardLifeCycle::Secured);
}

TEST_F(Scp03Commands, GetDataWithoutASession) {
    ResponseApdu r = send_hex(m_card, "80CA9F7F00");
    EXPECT_EQ(r.sw, 0x9000);
    Bytes expected{0x9F, 0x7F, 0x2A};
    const Bytes cplc = pattern(42, 0x90);
    expected.insert(expected.end(), cplc.begin(), cplc.end());
    EXPECT_BYTES_EQ(r.data, expected);
    EXPECT_EQ(send_hex(m_card, "00CA9F7F00").sw, 0x9000);
    EXPECT_EQ(send_hex(m_card, "80CA004200").sw, 0x6A88);
}

TEST_F(Scp03Commands, SelectAnswersTheFciAndEndsTheSession) {
    auto w = open_scp03(m_card, m_keys, 0x30, 0x01);
    ASSERT_TRUE(w);
    ResponseApdu r = send_hex(m_card, "00A4040008A00000015100000000");
    EXPECT_EQ(r.sw, 0x9000);
    EXPECT_EQ(to_hex(r.data), "6F108408A000000151000000A5049F6501FF");
    EXPECT_FALSE(m_card.secure_channel_open());
    EXPECT_EQ(send_hex(m_card, "00A4040000").sw, 0x9000);            // no AID: the ISD
    EXPECT_EQ(send_hex(m_card, "00A4040005A000000151").sw, 0x9000);  // partial AID
    EXPECT_EQ(send_hex(m_card, "00A4040005A000000152").sw, 0x6A82);
    EXPECT_EQ(send_hex(m_card, "00A4000C023F00").sw, 0x6A86);
}

TEST_F(Scp03Commands, UnknownClassInstructionAndMalformedApdus) {
    EXPECT_BYTES_EQ(m_card.process(from_hex("80AA000000")), Bytes({0x6D, 0x00}));
    EXPECT_BYTES_EQ(m_card.process(from_hex("00B0000000")), Bytes({0x6D, 0x00}));
    EXPECT_BYTES_EQ(m_card.process(from_hex("A0CA9F7F00")), Bytes({0x6E, 0x00}));
    EXPECT_BYTES_EQ(m_card.process(from_hex("00500000080102030405060708")), Bytes({0x6E, 0x00}));
    EXPECT_BYTES_EQ(m_card.process(from_hex("81CA9F7F00")), Bytes({0x68, 0x81}));
    EXPECT_BYTES_EQ(m_card.process(from_hex("80CA9F")), Bytes({0x67, 0x00}));
    EXPECT_BYTES_EQ(m_card.process(from_hex("80500000050102030405")), Bytes({0x67, 0x00}));
    // EXTERNAL AUTHENTICATE without INITIALIZE UPDATE.
    EXPECT_BYTES_EQ(m_card.process(from_hex("848201001000000000000000000000000000000000")),
                    Bytes({0x69, 0x85}));
    // Any command between INITIALIZE UPDATE and EXTERNAL AUTHENTICATE ends the handshake.
    const Bytes host_challenge = pattern(8, 0xA0);
    const auto iu = send(m_card, crypto::scp03::initialize_update_command(0x30, host_challenge));
    ASSERT_EQ(iu.sw, 0x9000);
    const auto p = crypto::scp03::parse_initialize_update_response(iu.data);
    auto session = crypto::scp03::derive_session_keys(m_keys.enc, m_keys.mac, host_challenge,
                                                      p.card_challenge);
    const Bytes hc =
        crypto::scp03::host_cryptogram(session.s_mac.view(), host_challenge, p.card_challenge);
    crypto::scp03::Wrapper w(std::move(session), p.i);
    EXPECT_EQ(send_hex(m_card, "80CA9F7F00").sw, 0x9000);
    EXPECT_EQ(send(m_card, w.external_authenticate(hc, 0x01)).sw, 0x6985);
}

TEST(VirtualSeConfig, RejectsWhatNoCardWouldHave) {
    const TestKeys aes, aes20(20);
    auto code = [](VirtualSeConfig c) {
        return kms::test::error_code_of([&] { VirtualSe card(std::move(c)); });
    };
    VirtualSeConfig c = config_of(Scp::Scp03, 0x70, aes20);
    EXPECT_EQ(code(std::move(c)), ErrorCode::InvalidArgument);
    c = config_of(Scp::Scp03, 0x15, aes);
    EXPECT_EQ(code(std::move(c)), ErrorCode::InvalidArgument);
    c = config_of(Scp::Scp02, 0x70, aes);
    EXPECT_EQ(code(std::move(c)), ErrorCode::InvalidArgument);
    c = config_of(Scp::Scp02, 0x55, TestKeys(24));
    EXPECT_EQ(code(std::move(c)), ErrorCode::InvalidArgument);
    c = config_of(Scp::Scp02, 0x55, aes);
    c.sequence_counter = 0x10000;
    EXPECT_EQ(code(std::move(c)), ErrorCode::InvalidArgument);
    c = config_of(Scp::Scp03, 0x70, aes);
    c.kdd = Bytes(9, 0);
    EXPECT_EQ(code(std::move(c)), ErrorCode::InvalidArgument);
    c = config_of(Scp::Scp03, 0x70, aes);
    c.card_challenge = Bytes(6, 0);
    EXPECT_EQ(code(std::move(c)), ErrorCode::InvalidArgument);
    c = config_of(Scp::Scp03, 0x70, aes, 0x80);
    EXPECT_EQ(code(std::move(c)), ErrorCode::InvalidArgument);
    c = config_of(Scp::Scp03, 0x70, aes);
    c.isd_aid = Bytes(4, 0xA0);
    EXPECT_EQ(code(std::move(c)), ErrorCode::InvalidArgument);
}

TEST(VirtualSeSequenceCounter, AnExhaustedCounterOpensNoSession) {
    const TestKeys keys;
    VirtualSeConfig config = config_of(Scp::Scp02, 0x55, keys);
    config.sequence_counter = 0xFFFF;
    VirtualSe card(std::move(config));
    const CommandApdu iu = command(0x80, 0x50, 0x30, 0x00, pattern(8, 1), 256);
    EXPECT_EQ(send(card, iu).sw, 0x9000);
    EXPECT_EQ(send(card, iu).sw, 0x6985);
}

}  // namespace
}  // namespace kms::tsm::vse::test
