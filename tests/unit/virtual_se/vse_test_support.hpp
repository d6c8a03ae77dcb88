// Helpers of the virtual SE tests: card configurations and host sessions opened with the
// host-side GlobalPlatform code of kms-core/crypto (the peer the card must interoperate with).
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "crypto/gp_scp02.hpp"
#include "crypto/gp_scp03.hpp"
#include "domain/apdu.hpp"
#include "domain/bytes.hpp"
#include "virtual_se.hpp"

namespace kms::tsm::vse::test {

#define EXPECT_BYTES_EQ(actual, expected) EXPECT_EQ(to_hex(actual), to_hex(expected))

/// n bytes first, first+1, ... (the GP test key pattern 40 41 42 ..).
inline Bytes pattern(std::size_t n, std::uint8_t first) {
    Bytes b(n);
    for (std::size_t k = 0; k < n; ++k) b[k] = static_cast<std::uint8_t>(first + k);
    return b;
}

inline SecureBytes secure(const Bytes& b) {
    return SecureBytes(ByteView(b));
}

/// Static keys of the tests: ENC 40.., MAC 50.., DEK 60.. of @p n bytes.
struct TestKeys {
    Bytes enc, mac, dek;
    explicit TestKeys(std::size_t n = 16)
        : enc(pattern(n, 0x40)), mac(pattern(n, 0x50)), dek(pattern(n, 0x60)) {}
};

/// A card of @p scp with @p keys as key set @p key_version.
inline VirtualSeConfig config_of(Scp scp, std::uint8_t i, const TestKeys& keys,
                                 std::uint8_t key_version = 0x30) {
    VirtualSeConfig c;
    c.scp = scp;
    c.i = i;
    c.key_version = key_version;
    c.enc = secure(keys.enc);
    c.mac = secure(keys.mac);
    c.dek = secure(keys.dek);
    c.kdd = pattern(10, 0x01);
    c.cplc = pattern(42, 0x90);
    c.sequence_counter = 0x2A;
    return c;
}

inline core::ResponseApdu send(VirtualSe& card, const core::CommandApdu& c) {
    return core::parse_response_apdu(card.process(core::encode_command_apdu(c)));
}

inline core::ResponseApdu send_hex(VirtualSe& card, const std::string& hex) {
    return core::parse_response_apdu(card.process(from_hex(hex)));
}

inline core::CommandApdu command(std::uint8_t cla, std::uint8_t ins, std::uint8_t p1,
                                 std::uint8_t p2, Bytes data = {},
                                 std::optional<std::uint32_t> le = std::nullopt) {
    core::CommandApdu c;
    c.cla = cla;
    c.ins = ins;
    c.p1 = p1;
    c.p2 = p2;
    c.data = std::move(data);
    c.le = le;
    return c;
}

/// An SCP03 host session with the card: INITIALIZE UPDATE, card cryptogram check and EXTERNAL
/// AUTHENTICATE through the host code; nullptr (and a test failure) when any step fails.
inline std::unique_ptr<crypto::scp03::Wrapper> open_scp03(VirtualSe& card, const TestKeys& keys,
                                                          std::uint8_t key_version,
                                                          std::uint8_t level) {
    namespace s3 = crypto::scp03;
    const Bytes host_challenge = pattern(8, 0xA0);
    const auto iu = send(card, s3::initialize_update_command(key_version, host_challenge));
    EXPECT_EQ(iu.sw, 0x9000);
    if (iu.sw != 0x9000) return nullptr;
    const auto r = s3::parse_initialize_update_response(iu.data);
    auto session = s3::derive_session_keys(keys.enc, keys.mac, host_challenge, r.card_challenge);
    EXPECT_BYTES_EQ(s3::card_cryptogram(session.s_mac.view(), host_challenge, r.card_challenge),
                    r.card_cryptogram);
    const Bytes hc = s3::host_cryptogram(session.s_mac.view(), host_challenge, r.card_challenge);
    auto w = std::make_unique<s3::Wrapper>(std::move(session), r.i);
    const auto ea = send(card, w->external_authenticate(hc, level));
    EXPECT_EQ(ea.sw, 0x9000);
    if (ea.sw != 0x9000) return nullptr;
    return w;
}

/// Wraps @p plain, sends it, unwraps the answer (throws when the R-MAC does not verify).
inline core::ResponseApdu transmit02(VirtualSe& card, crypto::Scp02Wrapper& w,
                                     const core::CommandApdu& plain) {
    return core::parse_response_apdu(w.unwrap(card.process(w.wrap(plain))));
}

/// Wraps @p plain, sends it, unwraps the answer (throws when the R-MAC does not verify).
inline core::ResponseApdu transmit(VirtualSe& card, crypto::scp03::Wrapper& w,
                                   const core::CommandApdu& plain) {
    const Bytes raw = card.process(core::encode_command_apdu(w.wrap(plain)));
    return w.unwrap(core::parse_response_apdu(raw));
}

/// An SCP02 host session with the card, as open_scp03; @p i is the card's (SCP02 does not
/// send it).
inline std::unique_ptr<crypto::Scp02Wrapper> open_scp02(VirtualSe& card, const TestKeys& keys,
                                                        std::uint8_t key_version, std::uint8_t i,
                                                        std::uint8_t level) {
    const Bytes host_challenge = pattern(8, 0xB0);
    const auto iu = send(card, command(0x80, 0x50, key_version, 0x00, host_challenge, 256));
    EXPECT_EQ(iu.sw, 0x9000);
    if (iu.sw != 0x9000) return nullptr;
    const auto r = crypto::parse_scp02_initialize_update_response(iu.data);
    auto session = crypto::scp02_session_keys(keys.enc, keys.mac, keys.dek, r.seq);
    EXPECT_BYTES_EQ(
        crypto::scp02_card_cryptogram(session.enc.view(), host_challenge, r.seq, r.card_challenge),
        r.card_cryptogram);
    const Bytes hc =
        crypto::scp02_host_cryptogram(session.enc.view(), r.seq, r.card_challenge, host_challenge);
    auto w = std::make_unique<crypto::Scp02Wrapper>(std::move(session), i, level);
    const auto ea = core::parse_response_apdu(card.process(w->external_authenticate(hc)));
    EXPECT_EQ(ea.sw, 0x9000);
    if (ea.sw != 0x9000) return nullptr;
    return w;
}

}  // namespace kms::tsm::vse::test
