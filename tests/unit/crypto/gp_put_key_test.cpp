// Known-answer tests of GlobalPlatform PUT KEY (kms-core/crypto/gp_put_key.hpp) and of the
// encryption of key values / sensitive data under the card's DEK, against
// tests/vectors/gp_put_key.txt (kaoh/globalplatform, GlobalPlatformPro, pySim, jcexpress; each
// case cites its source). SCP02: 3DES-ECB under the session DEK (des3_ecb_encrypt,
// scp02_session_key); SCP03: AES-CBC with a zero ICV under the static DEK, computed here with
// OpenSSL EVP since host_crypto has no AES-CBC helper. No published card response to PUT KEY
// was found, so the response parser is tested on the layout of CS 2.2.1 §11.8.3 only.
#include "crypto/gp_put_key.hpp"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "crypto/gp_scp02.hpp"
#include "crypto/host_crypto.hpp"
#include "domain/apdu.hpp"
#include "domain/error.hpp"
#include "vector_file.hpp"

namespace kms::crypto::gp {
namespace {

using test::error_code_of;
using test::read_vector_file;
using test::VectorCase;

#define EXPECT_BYTES_EQ(actual, expected) EXPECT_EQ(to_hex(actual), to_hex(expected))

std::vector<VectorCase> cases_of(const std::string& kind) {
    std::vector<VectorCase> out;
    for (auto& c : read_vector_file("gp_put_key.txt"))
        if (c.text("kind") == kind) out.push_back(std::move(c));
    return out;
}

/// AES-CBC, zero ICV, no padding: the SCP03 DEK encryption of Amendment D §7.2 / pySim
/// SCP03.dek_encrypt (crypto::aes_cbc_encrypt). Whole blocks only.
Bytes aes_cbc_zero_icv(ByteView key, ByteView data) {
    return crypto::aes_cbc_encrypt(key, Bytes(16, 0), data);
}

Bytes session_dek_of(const VectorCase& c) {
    if (c.has("session_dek")) return c.bytes("session_dek");
    const SecureBytes k =
        scp02_session_key(c.bytes("static_dek"), Scp02KeyConstant::Dek, c.bytes("seq"));
    return Bytes(k.view().begin(), k.view().end());
}

std::vector<PutKeyComponent> components_of(const VectorCase& c) {
    std::vector<PutKeyComponent> keys;
    for (std::size_t n = 1; n <= c.number("keys"); ++n) {
        const std::string i = std::to_string(n);
        PutKeyComponent k;
        k.type = static_cast<KeyType>(c.bytes("type_" + i).at(0));
        k.key_length = static_cast<std::uint8_t>(c.number("key_length_" + i));
        k.encrypted = c.bytes("encrypted_" + i);
        k.kcv = c.bytes("kcv_" + i);
        keys.push_back(std::move(k));
    }
    return keys;
}

PutKeyComponent des_component() {
    return {KeyType::Des, 16, from_hex("EFBEE6C6D99D7B70BDE9D7E927F020AF"), from_hex("8BAF47")};
}

PutKeyComponent aes_component() {
    return {KeyType::Aes, 16, from_hex("D533E59B45A153ED7E5E9C5DFCFD4AAA"), from_hex("504A77")};
}

// ---------------------------------------------------------------------------------------------
// Known answers

TEST(GpPutKeyKat, PublishedCommands) {
    const auto cases = cases_of("command");
    ASSERT_EQ(cases.size(), 6u);
    for (const auto& c : cases) {
        SCOPED_TRACE(c.where());
        const auto keys = components_of(c);
        const core::CommandApdu cmd =
            put_key_command(static_cast<std::uint8_t>(c.number("replace_version")),
                            static_cast<std::uint8_t>(c.number("key_id")),
                            static_cast<std::uint8_t>(c.number("new_version")), keys);
        EXPECT_EQ(cmd.cla, 0x80);
        EXPECT_EQ(cmd.ins, 0xD8);
        EXPECT_EQ(cmd.p1, c.number("replace_version"));
        EXPECT_EQ(cmd.p2, c.number("key_id") | (keys.size() > 1 ? 0x80u : 0x00u));
        ASSERT_TRUE(cmd.le.has_value());
        EXPECT_EQ(*cmd.le, 256u);
        EXPECT_EQ(cmd.iso_case(), 4);
        EXPECT_BYTES_EQ(core::encode_command_apdu(cmd), c.bytes("apdu"));
    }
}

TEST(GpPutKeyKat, ComponentsAreTheSlicesOfPublishedCommands) {
    // Each key data field, encoded alone, is found in order in the published command data after
    // the new key version byte (CLA INS P1 P2 Lc | version | fields | Le).
    for (const auto& c : cases_of("command")) {
        SCOPED_TRACE(c.where());
        const Bytes apdu = c.bytes("apdu");
        std::size_t at = 6;
        for (const auto& k : components_of(c)) {
            const Bytes field = encode_put_key_component(k);
            ASSERT_LE(at + field.size(), apdu.size());
            EXPECT_BYTES_EQ(ByteView(apdu).subspan(at, field.size()), field);
            at += field.size();
        }
        EXPECT_EQ(at + 1, apdu.size());  // only Le left
    }
}

TEST(GpPutKeyKat, Scp02KeyUnderSessionDek) {
    const auto cases = cases_of("scp02-key");
    ASSERT_EQ(cases.size(), 9u);
    for (const auto& c : cases) {
        SCOPED_TRACE(c.where());
        const Bytes dek = session_dek_of(c);
        if (c.has("session_dek_kcv")) {
            EXPECT_BYTES_EQ(kcv_des3(dek), c.bytes("session_dek_kcv"));
        }
        EXPECT_BYTES_EQ(des3_ecb_encrypt(dek, c.bytes("key")), c.bytes("encrypted"));
        if (c.has("kcv_des3")) {
            EXPECT_BYTES_EQ(kcv_des3(c.bytes("key")), c.bytes("kcv_des3"));
        }
        if (c.has("kcv_aes")) {
            EXPECT_BYTES_EQ(kcv_aes_gp(c.bytes("key")), c.bytes("kcv_aes"));
        }
    }
}

TEST(GpPutKeyKat, Des3EcbStaticDek) {
    const auto cases = cases_of("des3-ecb");
    ASSERT_EQ(cases.size(), 1u);
    for (const auto& c : cases) {
        SCOPED_TRACE(c.where());
        EXPECT_BYTES_EQ(des3_ecb_encrypt(c.bytes("key"), c.bytes("plain")), c.bytes("cipher"));
    }
}

TEST(GpPutKeyKat, Scp03KeyUnderStaticDek) {
    const auto cases = cases_of("scp03-key");
    ASSERT_EQ(cases.size(), 14u);
    for (const auto& c : cases) {
        SCOPED_TRACE(c.where());
        const Bytes key = c.bytes("key");
        Bytes plain = key;
        if (c.has("padded")) {
            plain = c.bytes("padded");
            // The published padding is ISO/IEC 9797-1 method 2 of the clear key.
            EXPECT_BYTES_EQ(pad_iso9797_m2(key, kAesBlock), plain);
        }
        EXPECT_BYTES_EQ(aes_cbc_zero_icv(c.bytes("dek"), plain), c.bytes("encrypted"));
        if (c.has("kcv_aes")) {
            EXPECT_BYTES_EQ(kcv_aes_gp(key), c.bytes("kcv_aes"));
        }
        if (c.has("kcv_des3")) {
            EXPECT_BYTES_EQ(kcv_des3(key), c.bytes("kcv_des3"));
        }
    }
}

TEST(GpPutKeyKat, KcvAesGp) {
    const auto cases = cases_of("kcv-aes");
    ASSERT_EQ(cases.size(), 4u);
    for (const auto& c : cases) {
        SCOPED_TRACE(c.where());
        EXPECT_BYTES_EQ(kcv_aes_gp(c.bytes("key")), c.bytes("kcv"));
    }
}

TEST(GpPutKeyKat, KcvDes3) {
    const auto cases = cases_of("kcv-des3");
    ASSERT_EQ(cases.size(), 1u);
    for (const auto& c : cases) {
        SCOPED_TRACE(c.where());
        EXPECT_BYTES_EQ(kcv_des3(c.bytes("key")), c.bytes("kcv"));
    }
}

TEST(GpPutKeyKat, CommandFromClearKeysKaoh73) {
    // [kaoh-73] end to end: clear AES keys 40..4F under the logged SCP02 session DEK, GP AES KCV,
    // key set 30 -> the logged command.
    const Bytes dek = from_hex("C61DF24D2C9A770E32E969984B5B7074");
    const Bytes clear = from_hex("404142434445464748494A4B4C4D4E4F");
    std::vector<PutKeyComponent> keys(
        3, PutKeyComponent{KeyType::Aes, 16, des3_ecb_encrypt(dek, clear), kcv_aes_gp(clear)});
    EXPECT_EQ(to_hex(core::encode_command_apdu(put_key_command(0, 1, 0x30, keys))),
              "80D800814630881110B23034FA4329DE9AD8E91583618813B303504A77881110B23034FA4329DE9AD8"
              "E91583618813B303504A77881110B23034FA4329DE9AD8E91583618813B303504A7700");
}

// ---------------------------------------------------------------------------------------------
// Encoding rules without a published vector (CS 2.2.1 Tables 11-66 to 11-68, Amd D §7.2)

TEST(GpPutKey, ComponentLayoutDes) {
    EXPECT_EQ(to_hex(encode_put_key_component(des_component())),
              "8010EFBEE6C6D99D7B70BDE9D7E927F020AF038BAF47");
}

TEST(GpPutKey, ComponentLayoutAes) {
    EXPECT_EQ(to_hex(encode_put_key_component(aes_component())),
              "881110D533E59B45A153ED7E5E9C5DFCFD4AAA03504A77");
    PutKeyComponent k256{KeyType::Aes, 32, Bytes(32, 0xAB), from_hex("010203")};
    const Bytes f = encode_put_key_component(k256);
    ASSERT_EQ(f.size(), 3u + 32u + 4u);
    EXPECT_EQ(f[0], 0x88);
    EXPECT_EQ(f[1], 0x21);
    EXPECT_EQ(f[2], 0x20);
    EXPECT_EQ(f[35], 0x03);
}

TEST(GpPutKey, CommandHeaderSingleAndMultipleKeys) {
    const std::vector<PutKeyComponent> one{aes_component()};
    const core::CommandApdu c1 = put_key_command(0x7F, 0x7F, 0x7F, one);
    EXPECT_EQ(c1.cla, 0x80);
    EXPECT_EQ(c1.ins, 0xD8);
    EXPECT_EQ(c1.p1, 0x7F);
    EXPECT_EQ(c1.p2, 0x7F);  // a single key: b8 clear
    EXPECT_EQ(c1.data.at(0), 0x7F);
    ASSERT_TRUE(c1.le.has_value());
    EXPECT_EQ(*c1.le, 256u);
    const std::vector<PutKeyComponent> two{aes_component(), aes_component()};
    const core::CommandApdu c2 = put_key_command(0, 2, 1, two);
    EXPECT_EQ(c2.p1, 0x00);
    EXPECT_EQ(c2.p2, 0x82);  // several keys: b8 set
    EXPECT_EQ(c2.data.size(), 1u + 2u * 23u);
}

TEST(GpPutKey, ComponentErrors) {
    auto bad = [](PutKeyComponent k) {
        EXPECT_EQ(error_code_of([&] { encode_put_key_component(k); }), ErrorCode::InvalidArgument);
    };
    auto d = des_component();
    d.encrypted.resize(8);
    bad(d);
    d = des_component();
    d.encrypted.resize(24);
    bad(d);
    d = des_component();
    d.key_length = 24;
    bad(d);
    d = des_component();
    d.kcv.resize(2);
    bad(d);
    d = des_component();
    d.kcv.resize(4);
    bad(d);
    d = des_component();
    d.kcv.clear();
    bad(d);

    auto a = aes_component();
    a.encrypted.resize(15);
    bad(a);
    a = aes_component();
    a.encrypted.resize(17);
    bad(a);
    a = aes_component();
    a.key_length = 24;  // 24 bytes do not fit in 16
    bad(a);
    a = aes_component();
    a.key_length = 20;
    bad(a);
    a = aes_component();
    a.key_length = 0;
    bad(a);
    a = aes_component();
    a.encrypted.clear();
    bad(a);
    a = aes_component();
    a.encrypted.assign(128, 0);  // L = 129 does not fit the one-byte length
    bad(a);
    a = aes_component();
    a.kcv.resize(4);
    bad(a);
}

TEST(GpPutKey, CommandErrors) {
    const std::vector<PutKeyComponent> none;
    const std::vector<PutKeyComponent> one{aes_component()};
    const std::vector<PutKeyComponent> four(4, aes_component());
    auto code = [](auto&& f) { return error_code_of(f); };
    EXPECT_EQ(code([&] { put_key_command(0, 1, 1, none); }), ErrorCode::InvalidArgument);
    EXPECT_EQ(code([&] { put_key_command(0, 1, 1, four); }), ErrorCode::InvalidArgument);
    EXPECT_EQ(code([&] { put_key_command(0, 0, 1, one); }), ErrorCode::InvalidArgument);
    EXPECT_EQ(code([&] { put_key_command(0, 128, 1, one); }), ErrorCode::InvalidArgument);
    EXPECT_EQ(code([&] { put_key_command(0, 255, 1, one); }), ErrorCode::InvalidArgument);
    EXPECT_EQ(code([&] { put_key_command(0, 1, 0, one); }), ErrorCode::InvalidArgument);
    EXPECT_EQ(code([&] { put_key_command(0, 1, 128, one); }), ErrorCode::InvalidArgument);
    EXPECT_EQ(code([&] { put_key_command(128, 1, 1, one); }), ErrorCode::InvalidArgument);
    EXPECT_EQ(code([&] { put_key_command(0xFF, 1, 1, one); }), ErrorCode::InvalidArgument);
    // A bad component inside a command is rejected too.
    auto k = aes_component();
    k.kcv.clear();
    const std::vector<PutKeyComponent> bad{aes_component(), k};
    EXPECT_EQ(code([&] { put_key_command(0, 1, 1, bad); }), ErrorCode::InvalidArgument);
}

// ---------------------------------------------------------------------------------------------
// Response (CS 2.2.1 §11.8.3: key version || one KCV per key, then SW). No published card
// response was found: these responses are built from the published key version and KCVs of
// [kaoh-73] and [pysim] on the specified layout, not taken from a card.

TEST(GpPutKey, ResponseParsed) {
    const PutKeyResponse r = parse_put_key_response(from_hex("30504A77504A77504A779000"), 3);
    EXPECT_EQ(r.key_version, 0x30);
    ASSERT_EQ(r.kcvs.size(), 3u);
    for (const auto& kcv : r.kcvs) EXPECT_EQ(to_hex(kcv), "504A77");

    const PutKeyResponse r2 = parse_put_key_response(from_hex("02C35280013808840DE59000"), 3);
    EXPECT_EQ(r2.key_version, 0x02);
    ASSERT_EQ(r2.kcvs.size(), 3u);
    EXPECT_EQ(to_hex(r2.kcvs[0]), "C35280");
    EXPECT_EQ(to_hex(r2.kcvs[1]), "013808");
    EXPECT_EQ(to_hex(r2.kcvs[2]), "840DE5");

    const PutKeyResponse r1 = parse_put_key_response(from_hex("04"
                                                              "38FCB6"
                                                              "9000"),
                                                     1);
    EXPECT_EQ(r1.key_version, 0x04);
    ASSERT_EQ(r1.kcvs.size(), 1u);
    EXPECT_EQ(to_hex(r1.kcvs[0]), "38FCB6");
}

TEST(GpPutKey, ResponseErrorStatusWord) {
    for (const char* sw : {"6A80", "6982", "6A88", "6985", "9001", "6100"}) {
        SCOPED_TRACE(sw);
        const Bytes r = from_hex(std::string("30504A77") + sw);
        try {
            parse_put_key_response(r, 1);
            ADD_FAILURE() << "no error";
        } catch (const Error& e) {
            EXPECT_EQ(e.code(), ErrorCode::InvalidArgument);
            EXPECT_NE(std::string(e.what()).find(sw), std::string::npos) << e.what();
        }
        // The status word alone (an error carries no data).
        EXPECT_EQ(error_code_of([&] { parse_put_key_response(from_hex(sw), 1); }),
                  ErrorCode::InvalidArgument);
    }
}

TEST(GpPutKey, ResponseErrorLength) {
    auto code = [](const char* hex, std::size_t keys) {
        return error_code_of([&] { parse_put_key_response(from_hex(hex), keys); });
    };
    EXPECT_EQ(code("", 1), ErrorCode::InvalidArgument);
    EXPECT_EQ(code("90", 1), ErrorCode::InvalidArgument);
    EXPECT_EQ(code("9000", 1), ErrorCode::InvalidArgument);        // no key version
    EXPECT_EQ(code("309000", 1), ErrorCode::InvalidArgument);      // no KCV
    EXPECT_EQ(code("30504A9000", 1), ErrorCode::InvalidArgument);  // short KCV
    EXPECT_EQ(code("30504A77009000", 1), ErrorCode::InvalidArgument);
    EXPECT_EQ(code("30504A77504A779000", 1), ErrorCode::InvalidArgument);  // two KCVs for one key
    EXPECT_EQ(code("30504A779000", 3), ErrorCode::InvalidArgument);        // one KCV for three
    EXPECT_EQ(code("30504A77504A77504A779000", 2), ErrorCode::InvalidArgument);
}

}  // namespace
}  // namespace kms::crypto::gp
