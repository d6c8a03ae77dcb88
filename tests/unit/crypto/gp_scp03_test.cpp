// Known-answer tests of the GlobalPlatform SCP03 host crypto (kms-core/crypto/gp_scp03.hpp)
// against tests/vectors/gp_scp03.txt (NIST CAVP, pySim, kaoh/globalplatform, omfgp,
// GlobalPlatformPro; each case cites its source), plus the protocol rules without a published
// vector: error status words, empty R-ENC responses, state and input checks.
#include "crypto/gp_scp03.hpp"

#include <gtest/gtest.h>

#include <string>

#include "crypto/host_crypto.hpp"
#include "domain/apdu.hpp"
#include "domain/error.hpp"
#include "vector_file.hpp"

namespace kms::crypto::scp03 {
namespace {

using test::error_code_of;
using test::read_vector_file;
using test::VectorCase;

#define EXPECT_BYTES_EQ(actual, expected) EXPECT_EQ(to_hex(actual), to_hex(expected))

Bytes bytes_of(const SecureBytes& s) {
    return Bytes(s.view().begin(), s.view().end());
}

SecureBytes secure(const Bytes& b) {
    return SecureBytes(ByteView(b));
}

std::vector<VectorCase> cases_of(const std::string& kind) {
    std::vector<VectorCase> out;
    for (auto& c : read_vector_file("gp_scp03.txt"))
        if (c.text("kind") == kind) out.push_back(std::move(c));
    return out;
}

DerivationConstant constant_of(const VectorCase& c) {
    return static_cast<DerivationConstant>(c.bytes("constant").at(0));
}

TEST(Scp03Kat, RawKdfCavp) {
    const auto cases = cases_of("kdf-raw");
    ASSERT_EQ(cases.size(), 4u);
    for (const auto& c : cases) {
        SCOPED_TRACE(c.where());
        EXPECT_BYTES_EQ(bytes_of(kdf_ctr_cmac(c.bytes("key"), c.bytes("before"), c.bytes("after"),
                                              c.number("l_bits"))),
                        c.bytes("output"));
    }
}

TEST(Scp03Kat, RawKdfKcv) {
    const auto cases = cases_of("kdf-raw-kcv");
    ASSERT_EQ(cases.size(), 1u);
    for (const auto& c : cases) {
        SCOPED_TRACE(c.where());
        const SecureBytes k =
            kdf_ctr_cmac(c.bytes("key"), c.bytes("before"), c.bytes("after"), c.number("l_bits"));
        EXPECT_BYTES_EQ(kcv_aes_gp(k.view()), c.bytes("kcv"));
    }
}

TEST(Scp03Kat, GpKdf) {
    const auto cases = cases_of("kdf");
    ASSERT_EQ(cases.size(), 5u);
    for (const auto& c : cases) {
        SCOPED_TRACE(c.where());
        const auto bits = static_cast<std::uint16_t>(c.number("l_bits"));
        const Bytes key = c.bytes("key"), context = c.bytes("context");
        EXPECT_BYTES_EQ(bytes_of(kdf(key, constant_of(c), bits, context)), c.bytes("output"));
        // The HSM path: CMAC of each input block under the key, concatenated, cut to L.
        Bytes joined;
        for (const Bytes& block : kdf_input_blocks(constant_of(c), bits, context)) {
            ASSERT_EQ(block.size(), 16u + context.size());
            const Bytes m = aes_cmac(key, block);
            joined.insert(joined.end(), m.begin(), m.end());
        }
        joined.resize(bits / 8);
        EXPECT_BYTES_EQ(joined, c.bytes("output"));
    }
}

TEST(Scp03Kat, GpKdfKcv) {
    const auto cases = cases_of("kdf-kcv");
    ASSERT_EQ(cases.size(), 3u);
    for (const auto& c : cases) {
        SCOPED_TRACE(c.where());
        const SecureBytes k =
            kdf(c.bytes("key"), constant_of(c), static_cast<std::uint16_t>(c.number("l_bits")),
                c.bytes("context"));
        EXPECT_BYTES_EQ(kcv_aes_gp(k.view()), c.bytes("kcv"));
    }
}

TEST(Scp03Kat, PseudoRandomCardChallenge) {
    const auto cases = cases_of("challenge");
    ASSERT_EQ(cases.size(), 3u);
    for (const auto& c : cases) {
        SCOPED_TRACE(c.where());
        EXPECT_BYTES_EQ(pseudo_random_card_challenge(c.bytes("key"), c.bytes("sequence_counter"),
                                                     c.bytes("aid")),
                        c.bytes("card_challenge"));
    }
}

TEST(Scp03Kat, KdfInputBlockLayout) {
    // Amd D §6.2.2: 11 zero bytes, constant, 00, L (bits, 2 bytes), counter, context.
    const Bytes ctx = from_hex("1122");
    const auto blocks = kdf_input_blocks(DerivationConstant::SRmac, 256, ctx);
    ASSERT_EQ(blocks.size(), 2u);
    EXPECT_EQ(to_hex(blocks[0]),
              "00000000000000000000000700010001"
              "1122");
    EXPECT_EQ(to_hex(blocks[1]),
              "00000000000000000000000700010002"
              "1122");
    EXPECT_EQ(kdf_input_blocks(DerivationConstant::CardCryptogram, 64, ctx).size(), 1u);
}

// Whole sessions: INITIALIZE UPDATE, the card cryptogram, EXTERNAL AUTHENTICATE, then each
// command wrapped and, where the source gives one, its response unwrapped, in the source's order.
TEST(Scp03Kat, Sessions) {
    const auto cases = cases_of("session");
    ASSERT_EQ(cases.size(), 14u);
    for (const auto& c : cases) {
        SCOPED_TRACE(c.where());
        const Bytes enc = c.bytes("enc"), mac = c.bytes("mac"), host = c.bytes("host_challenge");
        const auto kv = c.bytes("key_version").at(0);
        EXPECT_BYTES_EQ(core::encode_command_apdu(initialize_update_command(kv, host)),
                        c.bytes("initialize_update"));

        const auto iur = parse_initialize_update_response(c.bytes("initialize_update_response"));
        EXPECT_EQ(iur.scp_id, 0x03);
        SessionKeys keys = derive_session_keys(enc, mac, host, iur.card_challenge);
        if (c.has("s_enc")) {
            EXPECT_BYTES_EQ(bytes_of(keys.s_enc), c.bytes("s_enc"));
            EXPECT_BYTES_EQ(bytes_of(keys.s_mac), c.bytes("s_mac"));
            EXPECT_BYTES_EQ(bytes_of(keys.s_rmac), c.bytes("s_rmac"));
        }
        EXPECT_BYTES_EQ(card_cryptogram(keys.s_mac.view(), host, iur.card_challenge),
                        iur.card_cryptogram);
        const Bytes host_crypto = host_cryptogram(keys.s_mac.view(), host, iur.card_challenge);

        Wrapper w(std::move(keys), iur.i);
        const auto level = c.bytes("security_level").at(0);
        EXPECT_BYTES_EQ(core::encode_command_apdu(w.external_authenticate(host_crypto, level)),
                        c.bytes("external_authenticate"));
        for (int n = 1; c.has("plain_" + std::to_string(n)); ++n) {
            const std::string s = std::to_string(n);
            SCOPED_TRACE("command " + s);
            const auto plain = core::parse_command_apdu(c.bytes("plain_" + s));
            EXPECT_BYTES_EQ(core::encode_command_apdu(w.wrap(plain)), c.bytes("wrapped_" + s));
            EXPECT_EQ(w.encryption_counter(), static_cast<std::uint32_t>(n));
            if (c.has("response_" + s)) {
                const auto r = w.unwrap(core::parse_response_apdu(c.bytes("response_" + s)));
                EXPECT_BYTES_EQ(core::encode_response_apdu(r), c.bytes("unwrapped_" + s));
            }
        }
    }
}

// A session of the pySim AES-128 level 0x33 vector, up to EXTERNAL AUTHENTICATE.
Wrapper pysim_aes128_session(std::uint8_t level) {
    const Bytes enc = from_hex("000102030405060708090A0B0C0D0E0F");
    const Bytes mac = from_hex("101112131415161718191A1B1C1D1E1F");
    const Bytes host = from_hex("FDF38259A1E0DE44");
    const auto iur = parse_initialize_update_response(
        from_hex("000000000000000000003003703B1ACA81E821F219081CDC01C26B372D000003"));
    SessionKeys keys = derive_session_keys(enc, mac, host, iur.card_challenge);
    const Bytes hc = host_cryptogram(keys.s_mac.view(), host, iur.card_challenge);
    Wrapper w(std::move(keys), iur.i);
    w.external_authenticate(hc, level);
    return w;
}

TEST(Scp03Wrapper, ErrorStatusWordsCarryNoRMac) {
    // Amd D §6.2.5 (GlobalPlatformPro PR #225): all SWs but 9000, 62xx, 63xx are errors, returned
    // as they are; the session goes on.
    Wrapper w = pysim_aes128_session(0x33);
    w.wrap(core::parse_command_apdu(from_hex("80E2910006BF3E035C015A00")));
    const ResponseApdu err{{}, 0x6A88};
    EXPECT_EQ(w.unwrap(err), err);
    EXPECT_EQ(w.pending_responses(), 0u);
    // A warning SW is protected: without an R-MAC it fails.
    w.wrap(core::parse_command_apdu(from_hex("80F22002")));
    EXPECT_EQ(error_code_of([&] {
                  w.unwrap(ResponseApdu{{}, 0x6310});
              }),
              ErrorCode::VerificationFailed);
}

TEST(Scp03Wrapper, RMacMismatchAndMissingCommand) {
    Wrapper w = pysim_aes128_session(0x33);
    EXPECT_EQ(error_code_of([&] { w.unwrap(ResponseApdu{{}, 0x9000}); }), ErrorCode::WrongState);
    w.wrap(core::parse_command_apdu(from_hex("80E2910006BF3E035C015A00")));
    Bytes r = from_hex(
        "f3ba2b1013aa6224f5e1c138d71805c569e5439b47576260b75fc021b25097cb2e68f8a0144975b99000");
    r[3] ^= 0x01;
    EXPECT_EQ(error_code_of([&] { w.unwrap(core::parse_response_apdu(r)); }),
              ErrorCode::VerificationFailed);
}

TEST(Scp03Wrapper, EmptyREncResponse) {
    // GlobalPlatformPro#158: with R-ENC, a response with no data is just R-MAC || SW. The R-MAC
    // here is computed with the primitives (CMAC under S-RMAC over the command's C-MAC || SW), so
    // this checks the rule, not a published value.
    const Bytes host = from_hex("FDF38259A1E0DE44");
    const auto iur = parse_initialize_update_response(
        from_hex("000000000000000000003003703B1ACA81E821F219081CDC01C26B372D000003"));
    SessionKeys keys =
        derive_session_keys(from_hex("000102030405060708090A0B0C0D0E0F"),
                            from_hex("101112131415161718191A1B1C1D1E1F"), host, iur.card_challenge);
    const Bytes s_mac = bytes_of(keys.s_mac), s_rmac = bytes_of(keys.s_rmac);
    Wrapper w = pysim_aes128_session(0x33);
    const CommandApdu wrapped = w.wrap(core::parse_command_apdu(from_hex("80F22002")));
    const Bytes cmac_tail(wrapped.data.end() - 8, wrapped.data.end());
    // The full C-MAC is the chaining value; rebuild it to compute the R-MAC.
    Wrapper probe = pysim_aes128_session(0x33);
    Bytes ext = core::encode_command_apdu(
        probe.external_authenticate(host_cryptogram(s_mac, host, iur.card_challenge), 0x33));
    const Bytes chain0 = aes_cmac(s_mac, [&] {
        Bytes in(16, 0);
        in.insert(in.end(), ext.begin(), ext.end() - 8);
        return in;
    }());
    Bytes in = chain0;
    const Bytes hdr = from_hex("84F2200208");
    in.insert(in.end(), hdr.begin(), hdr.end());
    const Bytes chain1 = aes_cmac(s_mac, in);
    EXPECT_BYTES_EQ(Bytes(chain1.begin(), chain1.begin() + 8), cmac_tail);
    Bytes rin = chain1;
    rin.push_back(0x90);
    rin.push_back(0x00);
    Bytes rmac = aes_cmac(s_rmac, rin);
    rmac.resize(8);
    const ResponseApdu out = w.unwrap(ResponseApdu{rmac, 0x9000});
    EXPECT_TRUE(out.data.empty());
    EXPECT_EQ(out.sw, 0x9000);
}

TEST(Scp03Wrapper, StateAndInputChecks) {
    const Bytes k16(16, 0x42);
    Wrapper w(SessionKeys{secure(k16), secure(k16), secure(k16)}, 0x00);
    EXPECT_EQ(error_code_of([&] {
                  w.wrap(CommandApdu{0x80, 0xF2, 0x20, 0x02, {}, {}, false});
              }),
              ErrorCode::WrongState);
    // i = 00 allows neither R-MAC nor R-ENC; 0x02 alone and 0x21 are not levels.
    for (std::uint8_t level : {0x11, 0x13, 0x33, 0x02, 0x21})
        EXPECT_EQ(error_code_of([&] { w.external_authenticate(Bytes(8, 0), level); }),
                  ErrorCode::InvalidArgument);
    EXPECT_EQ(error_code_of([&] { check_security_level(0x33, 0x30); }), ErrorCode::InvalidArgument);
    check_security_level(0x13, 0x30);
    check_security_level(0x33, 0x70);
    // Level 00: commands pass unchanged.
    w.external_authenticate(Bytes(8, 0), 0x00);
    const CommandApdu plain{0x80, 0xF2, 0x20, 0x02, from_hex("4F00"), 256, false};
    EXPECT_EQ(w.wrap(plain), plain);

    EXPECT_EQ(error_code_of([&] { parse_initialize_update_response(Bytes(28, 0)); }),
              ErrorCode::InvalidArgument);
    Bytes iur(29, 0);
    iur[11] = 0x02;
    EXPECT_EQ(error_code_of([&] { parse_initialize_update_response(iur); }),
              ErrorCode::InvalidArgument);
    iur[11] = 0x03;
    iur[12] = 0x01;  // S16 mode
    EXPECT_EQ(error_code_of([&] { parse_initialize_update_response(iur); }),
              ErrorCode::Unsupported);
    iur[12] = 0x70;  // pseudo-random challenge without sequence counter
    EXPECT_EQ(error_code_of([&] { parse_initialize_update_response(iur); }),
              ErrorCode::InvalidArgument);
    EXPECT_EQ(error_code_of([&] { derive_session_keys(k16, Bytes(24, 0), Bytes(8), Bytes(8)); }),
              ErrorCode::InvalidArgument);
    EXPECT_EQ(error_code_of([&] { kdf(Bytes(15, 0), DerivationConstant::SEnc, 128, {}); }),
              ErrorCode::InvalidArgument);
}

}  // namespace
}  // namespace kms::crypto::scp03
