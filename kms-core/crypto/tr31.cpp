// Host TR-31 key blocks, versions B and D (see tr31.hpp).
#include "crypto/tr31.hpp"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cstring>

#include "crypto/ossl.hpp"
#include "domain/error.hpp"

namespace kms::crypto {

namespace {

using detail::openssl_fail;

struct Params {
    char version;
    std::size_t block;     ///< cipher block size: 8 (TDES) or 16 (AES)
    std::size_t mac_size;  ///< 8 (B) or 16 (D)
    std::uint8_t algorithm_indicator;
};

[[noreturn]] void bad(const std::string& what) {
    throw Error(ErrorCode::InvalidArgument, "TR-31 " + what);
}

Params params_for(char version, std::size_t kbpk_size) {
    if (version == 'B') {
        if (kbpk_size != 16 && kbpk_size != 24)
            bad("version B needs a 16- or 24-byte TDES key block protection key");
        return {'B', 8, 8, static_cast<std::uint8_t>(kbpk_size == 16 ? 0 : 1)};
    }
    if (version == 'D') {
        if (kbpk_size != 16 && kbpk_size != 24 && kbpk_size != 32)
            bad("version D needs a 16-, 24- or 32-byte AES key block protection key");
        return {'D', 16, 16,
                static_cast<std::uint8_t>(kbpk_size == 16 ? 2 : kbpk_size == 24 ? 3 : 4)};
    }
    bad("key block version '" + std::string(1, version) + "' is not supported (B or D)");
}

/// A TDES key as OpenSSL's 3-key EDE wants it: K1 K2 K1 for a 2-key value.
SecureBytes tdes_key(ByteView k) {
    SecureBytes out(24);
    std::memcpy(out.data(), k.data(), k.size());
    if (k.size() == 16) std::memcpy(out.data() + 16, k.data(), 8);
    return out;
}

struct MacDeleter {
    void operator()(EVP_MAC* m) const { EVP_MAC_free(m); }
};
struct MacCtxDeleter {
    void operator()(EVP_MAC_CTX* c) const { EVP_MAC_CTX_free(c); }
};
struct CipherDeleter {
    void operator()(EVP_CIPHER* c) const { EVP_CIPHER_free(c); }
};
struct CipherCtxDeleter {
    void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};

const char* cbc_name(char version, std::size_t key_size) {
    if (version == 'B') return "DES-EDE3-CBC";
    return key_size == 16 ? "AES-128-CBC" : key_size == 24 ? "AES-192-CBC" : "AES-256-CBC";
}

/// CMAC (SP 800-38B) of @p data, the full tag into @p out (block size bytes).
void cmac(char version, ByteView key, ByteView data, std::uint8_t* out) {
    SecureBytes k3;
    ByteView k = key;
    if (version == 'B') {
        k3 = tdes_key(key);
        k = k3.view();
    }
    std::unique_ptr<EVP_MAC, MacDeleter> m(EVP_MAC_fetch(nullptr, "CMAC", nullptr));
    if (!m) openssl_fail("EVP_MAC_fetch(CMAC)");
    std::unique_ptr<EVP_MAC_CTX, MacCtxDeleter> ctx(EVP_MAC_CTX_new(m.get()));
    if (!ctx) openssl_fail("EVP_MAC_CTX_new");
    OSSL_PARAM p[] = {OSSL_PARAM_construct_utf8_string(
                          OSSL_MAC_PARAM_CIPHER, const_cast<char*>(cbc_name(version, k.size())), 0),
                      OSSL_PARAM_construct_end()};
    if (EVP_MAC_init(ctx.get(), k.data(), k.size(), p) != 1) openssl_fail("EVP_MAC_init");
    if (EVP_MAC_update(ctx.get(), data.data(), data.size()) != 1) openssl_fail("EVP_MAC_update");
    std::uint8_t tag[16];
    std::size_t len = 0;
    if (EVP_MAC_final(ctx.get(), tag, &len, sizeof tag) != 1) openssl_fail("EVP_MAC_final");
    std::memcpy(out, tag, len);
    secure_wipe(tag, sizeof tag);
}

/// CBC without padding over whole blocks, @p in and @p out of the same length.
void cbc(char version, ByteView key, ByteView iv, ByteView in, std::uint8_t* out, bool encrypt) {
    SecureBytes k3;
    ByteView k = key;
    if (version == 'B') {
        k3 = tdes_key(key);
        k = k3.view();
    }
    std::unique_ptr<EVP_CIPHER, CipherDeleter> c(
        EVP_CIPHER_fetch(nullptr, cbc_name(version, k.size()), nullptr));
    if (!c) openssl_fail("EVP_CIPHER_fetch");
    std::unique_ptr<EVP_CIPHER_CTX, CipherCtxDeleter> ctx(EVP_CIPHER_CTX_new());
    if (!ctx) openssl_fail("EVP_CIPHER_CTX_new");
    if (EVP_CipherInit_ex2(ctx.get(), c.get(), k.data(), iv.data(), encrypt ? 1 : 0, nullptr) != 1)
        openssl_fail("EVP_CipherInit_ex2");
    EVP_CIPHER_CTX_set_padding(ctx.get(), 0);
    int len = 0;
    if (EVP_CipherUpdate(ctx.get(), out, &len, in.data(), static_cast<int>(in.size())) != 1)
        openssl_fail("EVP_CipherUpdate");
    int fin = 0;
    if (EVP_CipherFinal_ex(ctx.get(), out + len, &fin) != 1) openssl_fail("EVP_CipherFinal_ex");
}

/// KBEK (usage indicator 0000) or KBAK (0001): TR-31:2018 §5.3.2.3 / §5.3.3.3.
SecureBytes derive(const Params& p, ByteView kbpk, bool mac_key) {
    SecureBytes out(kbpk.size());
    const std::size_t bits = kbpk.size() * 8;
    std::uint8_t block[16];
    for (std::size_t i = 0, counter = 1; i < out.size(); ++counter) {
        const std::uint8_t data[8] = {static_cast<std::uint8_t>(counter), 0x00,
                                      static_cast<std::uint8_t>(mac_key ? 1 : 0), 0x00, 0x00,
                                      p.algorithm_indicator, static_cast<std::uint8_t>(bits >> 8),
                                      static_cast<std::uint8_t>(bits & 0xFF)};
        cmac(p.version, kbpk, ByteView(data, 8), block);
        const std::size_t n = std::min(p.block, out.size() - i);
        std::memcpy(out.data() + i, block, n);
        i += n;
    }
    secure_wipe(block, sizeof block);
    return out;
}

/// CMAC(KBAK, header || payload), truncated to the version's MAC size.
Bytes block_mac(const Params& p, ByteView kbak, std::string_view header, ByteView payload) {
    SecureBytes data(header.size() + payload.size());
    std::memcpy(data.data(), header.data(), header.size());
    std::memcpy(data.data() + header.size(), payload.data(), payload.size());
    Bytes tag(16);
    cmac(p.version, kbak, data.view(), tag.data());
    tag.resize(p.mac_size);
    return tag;
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

}  // namespace

std::string tr31_wrap(ByteView kbpk, const core::Tr31Header& header_in, ByteView key,
                      const ByteView* pad) {
    const Params p = params_for(header_in.version, kbpk.size());
    if (key.empty() || key.size() > 0xFFFF / 8) bad("key length is out of range");

    core::Tr31Header header = header_in;
    // The header is MACed and sent as is; with optional blocks its length must be a multiple of
    // the cipher block (X9.143 §6.3.6): pad it with a "PB" block when it is not.
    std::string probe = core::format_tr31_header(header, 9999);
    if (probe.size() % p.block != 0) {
        std::size_t fill = p.block - probe.size() % p.block;
        if (fill < 4) fill += p.block;  // "PB" + 2 length digits at least
        header.optional_blocks.push_back({"PB", std::string(fill - 4, '0')});
    }
    const std::size_t header_size = core::format_tr31_header(header, 9999).size();

    const std::size_t content = 2 + key.size();
    std::size_t pad_size = (p.block - content % p.block) % p.block;
    if (pad != nullptr) {
        if ((content + pad->size()) % p.block != 0)
            bad("padding must complete the payload to a multiple of the cipher block");
        pad_size = pad->size();
    }
    SecureBytes payload(content + pad_size);
    payload[0] = static_cast<std::uint8_t>((key.size() * 8) >> 8);
    payload[1] = static_cast<std::uint8_t>((key.size() * 8) & 0xFF);
    std::memcpy(payload.data() + 2, key.data(), key.size());
    if (pad != nullptr) {
        if (pad_size != 0) std::memcpy(payload.data() + content, pad->data(), pad_size);
    } else if (pad_size != 0 &&
               RAND_bytes(payload.data() + content, static_cast<int>(pad_size)) != 1) {
        openssl_fail("RAND_bytes");
    }

    const std::size_t total = header_size + 2 * payload.size() + 2 * p.mac_size;
    const std::string head = core::format_tr31_header(header, total);
    const SecureBytes kbak = derive(p, kbpk, true);
    const Bytes mac = block_mac(p, kbak.view(), head, payload.view());
    const SecureBytes kbek = derive(p, kbpk, false);
    Bytes encrypted(payload.size());
    cbc(p.version, kbek.view(), mac, payload.view(), encrypted.data(), true);
    std::string out = head + to_hex(encrypted) + to_hex(mac);
    if (out.size() != total) throw Error(ErrorCode::Internal, "TR-31 block length mismatch");
    return out;
}

Tr31Opened tr31_unwrap(ByteView kbpk, std::string_view block) {
    auto [header, header_size] = core::parse_tr31_header(block);
    const Params p = params_for(header.version, kbpk.size());
    const std::string_view rest = block.substr(header_size);
    if (rest.size() < 2 * p.mac_size + 2 * p.block)
        bad("key block is too short for its encrypted key and MAC");
    const std::size_t enc_hex = rest.size() - 2 * p.mac_size;
    if (enc_hex % (2 * p.block) != 0)
        bad("encrypted key length is not a multiple of the cipher block");
    Bytes raw(rest.size() / 2);
    if (rest.size() % 2 != 0) bad("encrypted key and MAC must be hex");
    for (std::size_t i = 0; i < raw.size(); ++i) {
        const int hi = hex_value(rest[2 * i]), lo = hex_value(rest[2 * i + 1]);
        if (hi < 0 || lo < 0) bad("encrypted key and MAC must be hex");
        raw[i] = static_cast<std::uint8_t>(hi * 16 + lo);
    }
    const ByteView encrypted(raw.data(), enc_hex / 2);
    const ByteView mac(raw.data() + enc_hex / 2, p.mac_size);

    const SecureBytes kbek = derive(p, kbpk, false);
    SecureBytes payload(encrypted.size());
    cbc(p.version, kbek.view(), mac, encrypted, payload.data(), false);
    const SecureBytes kbak = derive(p, kbpk, true);
    const Bytes expected = block_mac(p, kbak.view(), block.substr(0, header_size), payload.view());
    if (!equal_ct(expected, mac))
        throw Error(ErrorCode::VerificationFailed, "TR-31 key block MAC does not verify");

    const std::size_t bits = (static_cast<std::size_t>(payload[0]) << 8) | payload[1];
    if (bits == 0 || bits % 8 != 0 || bits / 8 > payload.size() - 2)
        bad("key length field does not fit the key block's payload");
    Tr31Opened out;
    out.header = std::move(header);
    out.key = SecureBytes(payload.data() + 2, bits / 8);
    out.padding = SecureBytes(payload.data() + 2 + bits / 8, payload.size() - 2 - bits / 8);
    return out;
}

}  // namespace kms::crypto
