// SCP02 session keys, cryptograms, EXTERNAL AUTHENTICATE and command wrapping against published
// vectors (tests/vectors/gp_scp02.txt), plus R-MAC chaining and refusal cases.
#include "crypto/gp_scp02.hpp"

#include <gtest/gtest.h>

#include <string>

#include "crypto/host_crypto.hpp"
#include "vector_file.hpp"

namespace kms::crypto {
namespace {

std::uint8_t hex_byte(const test::VectorCase& v, const char* name) {
    const Bytes b = v.bytes(name);
    EXPECT_EQ(b.size(), 1u);
    return b.at(0);
}

TEST(Scp02, PublishedSessionKeys) {
    int n = 0;
    for (const auto& v : test::read_vector_file("gp_scp02.txt")) {
        if (v.text("type") != "session_key") continue;
        SCOPED_TRACE(v.where());
        const Bytes c = v.bytes("constant");
        const auto constant = static_cast<Scp02KeyConstant>((c.at(0) << 8) | c.at(1));
        const SecureBytes k = scp02_session_key(v.bytes("static"), constant, v.bytes("seq"));
        if (v.has("key")) {
            EXPECT_EQ(to_hex(k.view()), to_hex(v.bytes("key")));
        }
        if (v.has("kcv")) {
            EXPECT_EQ(to_hex(kcv_des3(k.view())), to_hex(v.bytes("kcv")));
        }
        ++n;
    }
    EXPECT_EQ(n, 7);
}

TEST(Scp02, PublishedSessions) {
    int n = 0;
    for (const auto& v : test::read_vector_file("gp_scp02.txt")) {
        if (v.text("type") != "session") continue;
        SCOPED_TRACE(v.where());
        const auto iu = parse_scp02_initialize_update_response(v.bytes("iu_response"));
        Scp02SessionKeys keys =
            scp02_session_keys(v.bytes("enc"), v.bytes("mac"), v.bytes("dek"), iu.seq);
        const Bytes host_challenge = v.bytes("host_challenge");
        EXPECT_EQ(to_hex(scp02_card_cryptogram(keys.enc.view(), host_challenge, iu.seq,
                                               iu.card_challenge)),
                  to_hex(iu.card_cryptogram));
        const Bytes host_cryptogram =
            scp02_host_cryptogram(keys.enc.view(), iu.seq, iu.card_challenge, host_challenge);
        Scp02Wrapper w(std::move(keys), hex_byte(v, "i"), hex_byte(v, "level"));
        EXPECT_EQ(to_hex(w.external_authenticate(host_cryptogram)), to_hex(v.bytes("ext_auth")));
        for (int k = 1; v.has("command" + std::to_string(k)); ++k) {
            const std::string idx = std::to_string(k);
            SCOPED_TRACE("command" + idx);
            const Bytes wrapped = w.wrap(core::parse_command_apdu(v.bytes("command" + idx)));
            EXPECT_EQ(to_hex(wrapped), to_hex(v.bytes("wrapped" + idx)));
            if (v.has("response" + idx)) {
                EXPECT_EQ(to_hex(w.unwrap(v.bytes("response" + idx))),
                          to_hex(v.bytes("unwrapped" + idx)));
            }
        }
        ++n;
    }
    EXPECT_EQ(n, 3);
}

TEST(Scp02, ParsesInitializeUpdateResponse) {
    const auto r = parse_scp02_initialize_update_response(
        from_hex("000074746E6E6E6262620102069FAA2A0591E73367DD78794D04315E9000"));
    EXPECT_EQ(to_hex(r.kdd), "000074746E6E6E626262");
    EXPECT_EQ(r.key_version, 0x01);
    EXPECT_EQ(to_hex(r.seq), "069F");
    EXPECT_EQ(to_hex(r.card_challenge), "AA2A0591E733");
    EXPECT_EQ(to_hex(r.card_cryptogram), "67DD78794D04315E");
    EXPECT_EQ(test::error_code_of([] { parse_scp02_initialize_update_response(Bytes(27, 0)); }),
              ErrorCode::InvalidArgument);
    Bytes scp03(28, 0);
    scp03[11] = 0x03;
    EXPECT_EQ(test::error_code_of([&] { parse_scp02_initialize_update_response(scp03); }),
              ErrorCode::InvalidArgument);
}

Scp02Wrapper rmac_wrapper() {
    const Bytes k = from_hex("404142434445464748494A4B4C4D4E4F");
    Scp02Wrapper w(scp02_session_keys(k, k, k, from_hex("0001")), 0x55, 0x11);
    w.external_authenticate(Bytes(8, 0x11));
    return w;
}

TEST(Scp02, RMacRefusesTamperedMissingAndUnexpectedResponses) {
    Scp02Wrapper w = rmac_wrapper();
    EXPECT_EQ(test::error_code_of([&] { w.unwrap(from_hex("9000")); }), ErrorCode::InvalidArgument)
        << "no command waits for a response";
    w.wrap(core::parse_command_apdu(from_hex("80CA006600")));
    EXPECT_EQ(test::error_code_of([&] { w.unwrap(from_hex("0102030405060708099000")); }),
              ErrorCode::VerificationFailed);
    w.wrap(core::parse_command_apdu(from_hex("80CA006600")));
    EXPECT_EQ(test::error_code_of([&] { w.unwrap(from_hex("9000")); }),
              ErrorCode::VerificationFailed)
        << "9000 without R-MAC";
    w.wrap(core::parse_command_apdu(from_hex("80CA006600")));
    EXPECT_EQ(to_hex(w.unwrap(from_hex("6A88"))), "6A88") << "error SW alone carries no R-MAC";
}

TEST(Scp02, WrapRefusesSecureMessagingClaAndOversizedData) {
    const Bytes k = from_hex("404142434445464748494A4B4C4D4E4F");
    Scp02Wrapper w(scp02_session_keys(k, k, k, from_hex("0001")), 0x15, 0x03);
    EXPECT_EQ(test::error_code_of([&] { w.wrap(core::parse_command_apdu(from_hex("80F22002"))); }),
              ErrorCode::InvalidArgument)
        << "before EXTERNAL AUTHENTICATE";
    w.external_authenticate(Bytes(8, 0));
    EXPECT_EQ(test::error_code_of([&] { w.wrap(core::parse_command_apdu(from_hex("84F22002"))); }),
              ErrorCode::InvalidArgument);
    core::CommandApdu big;
    big.cla = 0x80;
    big.ins = 0xE8;
    big.data.assign(240, 0xAA);
    EXPECT_EQ(test::error_code_of([&] { w.wrap(big); }), ErrorCode::InvalidArgument);
}

}  // namespace
}  // namespace kms::crypto
