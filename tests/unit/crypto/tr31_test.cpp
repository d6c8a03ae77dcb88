// TR-31 (versions B and D), AES key wrap (RFC 3394 / 5649) and RSA-OAEP SHA-256 on the host,
// against the published vectors in tests/vectors/tr31.txt and key_wrap.txt; the TR-31 header
// codec and the usage mapping of domain/tr31.hpp.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <memory>
#include <string>

#include "crypto/host_crypto.hpp"
#include "crypto/key_wrap.hpp"
#include "crypto/rsa_oaep.hpp"
#include "crypto/tr31.hpp"
#include "domain/error.hpp"
#include "domain/tr31.hpp"
#include "vector_file.hpp"

namespace kms::crypto {
namespace {

using core::Algorithm;
using core::Tr31Header;
using core::Usage;
using core::UsageMask;
using test::error_code_of;
using test::read_vector_file;

#define EXPECT_BYTES_EQ(actual, expected) EXPECT_EQ(to_hex(actual), to_hex(expected))

Bytes copy(const SecureBytes& s) {
    return Bytes(s.data(), s.data() + s.size());
}

std::string block_of(const test::VectorCase& c) {
    const Bytes b = c.bytes("block");
    return std::string(b.begin(), b.end());
}

// ---- TR-31 known answers ----

TEST(Tr31Kat, UnwrapsEveryPublishedBlock) {
    const auto cases = read_vector_file("tr31.txt");
    ASSERT_GE(cases.size(), 10u);
    for (const auto& c : cases) {
        SCOPED_TRACE(c.where() + " " + c.text("source"));
        const std::string block = block_of(c);
        const Tr31Opened opened = tr31_unwrap(c.bytes("kbpk"), block);
        EXPECT_BYTES_EQ(copy(opened.key), c.bytes("key"));
        EXPECT_EQ(opened.header.block_length, block.size());
        EXPECT_EQ(opened.header.version, block[0]);
        EXPECT_EQ(opened.header.usage, block.substr(5, 2));
        if (c.has("kcv")) {
            const Bytes kcv = opened.header.algorithm == 'A' ? kcv_aes_cmac(opened.key.view())
                                                             : kcv_des3(opened.key.view());
            EXPECT_BYTES_EQ(kcv, c.bytes("kcv"));
        }
    }
}

TEST(Tr31Kat, WrapWithThePublishedPaddingGivesThePublishedBlock) {
    for (const auto& c : read_vector_file("tr31.txt")) {
        SCOPED_TRACE(c.where() + " " + c.text("source"));
        const std::string block = block_of(c);
        const Tr31Opened opened = tr31_unwrap(c.bytes("kbpk"), block);
        const ByteView pad = opened.padding.view();
        EXPECT_EQ(tr31_wrap(c.bytes("kbpk"), opened.header, c.bytes("key"), &pad), block);
    }
}

TEST(Tr31Kat, AnyChangedCharacterFailsVerification) {
    const auto cases = read_vector_file("tr31.txt");
    for (const auto& c : cases) {
        SCOPED_TRACE(c.where());
        const std::string block = block_of(c);
        const auto [h, header_size] = core::parse_tr31_header(block);
        // Every character after the header (encrypted key, MAC) and a header field the MAC
        // covers (exportability, position 11).
        for (std::size_t i = header_size; i < block.size(); i += 7) {
            std::string t = block;
            t[i] = t[i] == '0' ? '1' : '0';
            EXPECT_EQ(error_code_of([&] { tr31_unwrap(c.bytes("kbpk"), t); }),
                      ErrorCode::VerificationFailed)
                << "position " << i;
        }
        std::string t = block;
        t[11] = t[11] == 'E' ? 'N' : 'E';
        EXPECT_EQ(error_code_of([&] { tr31_unwrap(c.bytes("kbpk"), t); }),
                  ErrorCode::VerificationFailed);
        Bytes wrong_kbpk = c.bytes("kbpk");
        wrong_kbpk[0] ^= 0x02;  // not bit 0: a DES parity bit does not change the key
        EXPECT_EQ(error_code_of([&] { tr31_unwrap(wrong_kbpk, block); }),
                  ErrorCode::VerificationFailed);
    }
}

TEST(Tr31, RoundTripsWithRandomPaddingForEveryKbpkSize) {
    struct Case {
        char version;
        std::size_t kbpk;
        std::size_t key;
        std::size_t expected_length;
    };
    // B: 16 + 2*ceil8(2+key) + 16; D: 16 + 2*ceil16(2+key) + 32.
    for (const Case c : {Case{'B', 16, 16, 80}, Case{'B', 24, 24, 96}, Case{'B', 24, 16, 80},
                         Case{'D', 16, 16, 112}, Case{'D', 24, 24, 112}, Case{'D', 32, 32, 144},
                         Case{'D', 32, 16, 112}}) {
        SCOPED_TRACE(std::string(1, c.version) + " " + std::to_string(c.kbpk));
        const Bytes kbpk = random_bytes(c.kbpk);
        const Bytes key = random_bytes(c.key);
        Tr31Header h;
        h.version = c.version;
        h.usage = "D0";
        h.algorithm = c.version == 'B' ? 'T' : 'A';
        h.mode_of_use = 'B';
        const std::string a = tr31_wrap(kbpk, h, key);
        const std::string b = tr31_wrap(kbpk, h, key);
        EXPECT_EQ(a.size(), c.expected_length);
        EXPECT_EQ(a.substr(0, 16), b.substr(0, 16));
        EXPECT_NE(a, b);  // random padding (and so MAC and IV) differ
        EXPECT_BYTES_EQ(copy(tr31_unwrap(kbpk, a).key), key);
        EXPECT_BYTES_EQ(copy(tr31_unwrap(kbpk, b).key), key);
    }
}

TEST(Tr31, OptionalBlocksArePaddedToTheCipherBlock) {
    const Bytes kbpk = random_bytes(32);
    const Bytes key = random_bytes(16);
    Tr31Header h;
    h.version = 'D';
    h.optional_blocks.push_back({"KS", "00604B120F9292800000"});  // 24 characters
    const std::string block = tr31_wrap(kbpk, h, key);
    const auto [parsed, header_size] = core::parse_tr31_header(block);
    EXPECT_EQ(header_size % 16, 0u);
    ASSERT_EQ(parsed.optional_blocks.size(), 2u);
    EXPECT_EQ(parsed.optional_blocks[1].id, "PB");
    EXPECT_BYTES_EQ(copy(tr31_unwrap(kbpk, block).key), key);
}

TEST(Tr31, RefusesWrongKbpkLengthsAndMalformedBlocks) {
    Tr31Header h;
    h.version = 'B';
    EXPECT_EQ(error_code_of([&] { tr31_wrap(Bytes(32, 1), h, Bytes(16, 2)); }),
              ErrorCode::InvalidArgument);
    h.version = 'D';
    EXPECT_EQ(error_code_of([&] { tr31_wrap(Bytes(8, 1), h, Bytes(16, 2)); }),
              ErrorCode::InvalidArgument);
    const Bytes kbpk(16, 0x45);
    for (const std::string bad :
         {"", "B0016P0TE00N0000", "B0040P0TE00N0000", "X0016P0TE00N0000",
          "B0032M3TC00E0000FFFFFFFF9AA5BBA6", "B0064M3TC00E0000BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBFFFFFFFF9AA5BBAX"}) {
        EXPECT_EQ(error_code_of([&] { tr31_unwrap(kbpk, bad); }), ErrorCode::InvalidArgument)
            << bad;
    }
    // psec test_kb_unwrap_exceptions: MAC mismatch with KBPK "E"*16.
    EXPECT_EQ(error_code_of([&] {
                  tr31_unwrap(as_view("EEEEEEEEEEEEEEEE"),
                              "B0064M3TC00E0000BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBFFFFFFFF9AA5BBA6");
              }),
              ErrorCode::VerificationFailed);
    // psec: a valid MAC over a payload whose key length is 0 bits / longer than the payload.
    for (const char* b : {"B0064M3TC00E000013F1B06566ECAE897A6DF8C7AA651FCEF9480447EEEC9933",
                          "B0064M3TC00E00000398DC96A5DDB0EF61E26F8935173BD478DF9484050A672A"}) {
        EXPECT_EQ(error_code_of([&] { tr31_unwrap(as_view("EEEEEEEEEEEEEEEE"), b); }),
                  ErrorCode::InvalidArgument)
            << b;
    }
}

// ---- TR-31 header codec (domain/tr31.hpp) ----

TEST(Tr31Header, ParsesAndFormatsOptionalBlocks) {
    // psec tests/test_tr31.py test_header_load_optional_multiple and _256.
    const std::string text = "B0056P0TE00N0400KS1800604B120F9292800000T104T20600PB0600";
    const auto [h, size] = core::parse_tr31_header(text);
    EXPECT_EQ(size, 56u);
    ASSERT_EQ(h.optional_blocks.size(), 4u);
    EXPECT_EQ(h.optional_blocks[0].id, "KS");
    EXPECT_EQ(h.optional_blocks[0].data, "00604B120F9292800000");
    EXPECT_EQ(h.optional_blocks[1].data, "");
    EXPECT_EQ(h.optional_blocks[2].data, "00");
    EXPECT_EQ(core::format_tr31_header(h, 56), text);

    const std::string long_block = "B0288P0TE00N0200KS0002010A" + std::string(256, 'P') + "PB0600";
    const auto [h2, size2] = core::parse_tr31_header(long_block);
    EXPECT_EQ(size2, 288u);
    EXPECT_EQ(h2.optional_blocks[0].data, std::string(256, 'P'));
    // Extended length: "00", length of the length in bytes ("02"), the length in 4 hex digits.
    EXPECT_EQ(core::format_tr31_header(h2, 288), long_block);
    // psec test_header_load_optional_extended_length: a needless extended length parses.
    const auto [h3, size3] = core::parse_tr31_header("B0048P0TE00N0200KS00011600604B120F9292PB0A000000");
    EXPECT_EQ(size3, 48u);
    EXPECT_EQ(h3.optional_blocks[0].data, "00604B120F9292");
    EXPECT_EQ(core::format_tr31_header(h3, 44), "B0044P0TE00N0200KS1200604B120F9292PB0A000000");
}

TEST(Tr31Header, RefusesMalformedHeaders) {
    for (const std::string bad :
         {"B0016P0TE00N00", "A0016P0TE00N0000", "B001XP0TE00N0000", "B0017P0TE00N0000",
          "B0016P0T_00N0000", "B0016P0TE00X0000", "B0016P0TE00N0X00", "B0016P0TE00N0001",
          "B0020P0TE00N0100KS", "B0020P0TE00N0100KS02", "B0022P0TE00N0100KS0000",
          "B0024P0TE00N0100KS07\x03X"}) {
        EXPECT_EQ(error_code_of([&] { core::parse_tr31_header(bad); }),
                  ErrorCode::InvalidArgument)
            << bad;
    }
}

// ---- the usage mapping ----

UsageMask mask(std::initializer_list<Usage> us) {
    UsageMask m;
    for (Usage u : us) m.add(u);
    return m;
}

TEST(Tr31Mapping, ExportHeaders) {
    struct Row {
        char version;
        Algorithm alg;
        UsageMask usage;
        const char* usage_code;
        char algorithm;
        char mode;
    };
    const Row rows[] = {
        {'D', Algorithm::Aes256, mask({Usage::Wrap, Usage::Unwrap}), "K0", 'A', 'B'},
        {'D', Algorithm::Aes128, mask({Usage::Wrap}), "K0", 'A', 'E'},
        {'B', Algorithm::Des3_2k, mask({Usage::Unwrap}), "K0", 'T', 'D'},
        {'D', Algorithm::Aes192, mask({Usage::Encrypt, Usage::Decrypt}), "D0", 'A', 'B'},
        {'B', Algorithm::Des3_3k, mask({Usage::Encrypt}), "D0", 'T', 'E'},
        {'D', Algorithm::Aes256, mask({Usage::Decrypt}), "D0", 'A', 'D'},
        {'D', Algorithm::Aes256, mask({Usage::Mac}), "M6", 'A', 'C'},
        {'D', Algorithm::Aes128, mask({Usage::Mac, Usage::Verify}), "M6", 'A', 'C'},
        {'D', Algorithm::Aes128, mask({Usage::Verify}), "M6", 'A', 'V'},
        {'B', Algorithm::Des3_2k, mask({Usage::Mac}), "M3", 'T', 'C'},
        {'D', Algorithm::Des3_3k, mask({Usage::Mac}), "M3", 'T', 'C'},
        {'D', Algorithm::HmacSha256, mask({Usage::Mac}), "M7", 'H', 'C'},
        {'D', Algorithm::Aes256, mask({Usage::Derive}), "B3", 'A', 'X'},
    };
    for (const Row& r : rows) {
        const Tr31Header h = core::tr31_header_for(r.version, r.alg, r.usage, true);
        EXPECT_EQ(h.version, r.version);
        EXPECT_EQ(h.usage, r.usage_code);
        EXPECT_EQ(h.algorithm, r.algorithm);
        EXPECT_EQ(h.mode_of_use, r.mode) << r.usage_code;
        EXPECT_EQ(h.exportability, 'E');
        EXPECT_EQ(h.key_version, "00");
        EXPECT_TRUE(h.optional_blocks.empty());
        // What we export, we import again with the same usage.
        EXPECT_NO_THROW(core::check_tr31_import(h, r.alg, r.usage)) << r.usage_code;
    }
    EXPECT_EQ(core::tr31_header_for('D', Algorithm::Aes256, mask({Usage::Mac}), false).exportability,
              'N');
}

TEST(Tr31Mapping, UnsupportedExports) {
    const auto code = [](char v, Algorithm a, UsageMask u) {
        return error_code_of([&] { core::tr31_header_for(v, a, u, false); });
    };
    EXPECT_EQ(code('D', Algorithm::Aes256, mask({Usage::Encrypt, Usage::Wrap})),
              ErrorCode::Unsupported);
    EXPECT_EQ(code('D', Algorithm::Aes256, mask({Usage::Mac, Usage::Decrypt})),
              ErrorCode::Unsupported);
    EXPECT_EQ(code('D', Algorithm::EcP256, mask({Usage::Sign})), ErrorCode::Unsupported);
    EXPECT_EQ(code('D', Algorithm::Aes256, mask({Usage::Sign})), ErrorCode::Unsupported);
    EXPECT_EQ(code('B', Algorithm::Aes128, mask({Usage::Encrypt})), ErrorCode::Unsupported);
    EXPECT_EQ(code('B', Algorithm::HmacSha256, mask({Usage::Mac})), ErrorCode::Unsupported);
    EXPECT_EQ(code('C', Algorithm::Des3_2k, mask({Usage::Mac})), ErrorCode::InvalidArgument);
}

TEST(Tr31Mapping, ImportRefusesContradictions) {
    const auto header = [](const char* usage, char alg, char mode) {
        Tr31Header h;
        h.version = 'D';
        h.usage = usage;
        h.algorithm = alg;
        h.mode_of_use = mode;
        return h;
    };
    const auto refused = [](const Tr31Header& h, Algorithm a, UsageMask u) {
        return error_code_of([&] { core::check_tr31_import(h, a, u); }) ==
               ErrorCode::InvalidArgument;
    };
    // Encrypt-only block imported with decrypt.
    EXPECT_TRUE(refused(header("D0", 'A', 'E'), Algorithm::Aes256, mask({Usage::Decrypt})));
    EXPECT_NO_THROW(
        core::check_tr31_import(header("D0", 'A', 'E'), Algorithm::Aes256, mask({Usage::Encrypt})));
    // AES header imported as DES3.
    EXPECT_TRUE(refused(header("D0", 'A', 'B'), Algorithm::Des3_2k, mask({Usage::Encrypt})));
    // KEK usage imported as a MAC key.
    EXPECT_TRUE(refused(header("K0", 'A', 'B'), Algorithm::Aes256, mask({Usage::Mac})));
    // Wrap-only KEK imported with unwrap.
    EXPECT_TRUE(refused(header("K0", 'T', 'E'), Algorithm::Des3_3k, mask({Usage::Unwrap})));
    // MAC verify-only imported with mac; CMAC header as a DES3 retail MAC key.
    EXPECT_TRUE(refused(header("M6", 'A', 'V'), Algorithm::Aes128, mask({Usage::Mac})));
    EXPECT_TRUE(refused(header("M6", 'T', 'C'), Algorithm::Des3_2k, mask({Usage::Mac})));
    // PIN key (P0) and BDK (B0): no equivalent here.
    EXPECT_TRUE(refused(header("P0", 'T', 'E'), Algorithm::Des3_2k, mask({Usage::Encrypt})));
    EXPECT_TRUE(refused(header("B0", 'T', 'X'), Algorithm::Des3_2k, mask({Usage::Derive})));
    // Asymmetric algorithms.
    EXPECT_TRUE(refused(header("D0", 'A', 'B'), Algorithm::Rsa2048, mask({Usage::Decrypt})));
    // Empty usage.
    EXPECT_TRUE(refused(header("D0", 'A', 'B'), Algorithm::Aes256, UsageMask()));
}

// ---- AES key wrap ----

TEST(KeyWrapKat, Rfc3394AndRfc5649) {
    const auto cases = read_vector_file("key_wrap.txt");
    ASSERT_GE(cases.size(), 8u);
    for (const auto& c : cases) {
        SCOPED_TRACE(c.where());
        const bool pad = c.text("format") == "KWP";
        EXPECT_BYTES_EQ(aes_key_wrap(c.bytes("kek"), c.bytes("key"), pad), c.bytes("wrapped"));
        EXPECT_BYTES_EQ(copy(aes_key_unwrap(c.bytes("kek"), c.bytes("wrapped"), pad)),
                        c.bytes("key"));
        Bytes tampered = c.bytes("wrapped");
        tampered.back() ^= 0x01;
        EXPECT_EQ(error_code_of([&] { aes_key_unwrap(c.bytes("kek"), tampered, pad); }),
                  ErrorCode::VerificationFailed);
    }
}

// ---- RSA-OAEP SHA-256 ----

struct PkeyDeleter {
    void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct PkeyCtxDeleter {
    void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
};

Bytes openssl_decrypt(EVP_PKEY* key, ByteView ct, int padding) {
    std::unique_ptr<EVP_PKEY_CTX, PkeyCtxDeleter> ctx(EVP_PKEY_CTX_new(key, nullptr));
    EXPECT_EQ(EVP_PKEY_decrypt_init(ctx.get()), 1);
    EXPECT_EQ(EVP_PKEY_CTX_set_rsa_padding(ctx.get(), padding), 1);
    if (padding == RSA_PKCS1_OAEP_PADDING) {
        EXPECT_EQ(EVP_PKEY_CTX_set_rsa_oaep_md(ctx.get(), EVP_sha256()), 1);
        EXPECT_EQ(EVP_PKEY_CTX_set_rsa_mgf1_md(ctx.get(), EVP_sha256()), 1);
    }
    std::size_t len = 512;
    Bytes out(len);
    if (EVP_PKEY_decrypt(ctx.get(), out.data(), &len, ct.data(), ct.size()) != 1) return {};
    out.resize(len);
    return out;
}

TEST(RsaOaep, EncryptsToAnSpkiAndDecodesRawDecryption) {
    std::unique_ptr<EVP_PKEY, PkeyDeleter> key(EVP_RSA_gen(2048));
    ASSERT_TRUE(key);
    unsigned char* der = nullptr;
    const int der_len = i2d_PUBKEY(key.get(), &der);
    ASSERT_GT(der_len, 0);
    const Bytes spki(der, der + der_len);
    OPENSSL_free(der);

    for (std::size_t n : {1u, 16u, 32u, 190u}) {
        const Bytes secret = random_bytes(n);
        const Bytes ct = rsa_oaep_sha256_encrypt(spki, secret);
        ASSERT_EQ(ct.size(), 256u);
        // OpenSSL's own OAEP-SHA256 decryption agrees...
        EXPECT_BYTES_EQ(openssl_decrypt(key.get(), ct, RSA_PKCS1_OAEP_PADDING), secret);
        // ...and so does raw RSA + our EME-OAEP decoding (the HSM path).
        const Bytes em = openssl_decrypt(key.get(), ct, RSA_NO_PADDING);
        ASSERT_EQ(em.size(), 256u);
        EXPECT_BYTES_EQ(copy(oaep_sha256_decode(em)), secret);
        // Any flipped byte of the encoded message is refused.
        for (std::size_t i : {0u, 1u, 40u, 100u, 255u}) {
            Bytes bad = em;
            bad[i] ^= 0x01;
            EXPECT_EQ(error_code_of([&] { oaep_sha256_decode(bad); }),
                      ErrorCode::VerificationFailed)
                << i;
        }
    }
    EXPECT_EQ(error_code_of([&] { rsa_oaep_sha256_encrypt(spki, Bytes(191, 1)); }),
              ErrorCode::InvalidArgument);
    EXPECT_EQ(error_code_of([&] { rsa_oaep_sha256_encrypt(Bytes{0x30, 0x00}, Bytes(16, 1)); }),
              ErrorCode::InvalidArgument);
    EXPECT_EQ(error_code_of([&] { oaep_sha256_decode(Bytes(60, 0)); }),
              ErrorCode::VerificationFailed);
}

}  // namespace
}  // namespace kms::crypto
