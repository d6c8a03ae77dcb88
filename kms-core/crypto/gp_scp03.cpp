// GlobalPlatform SCP03 host crypto (see gp_scp03.hpp). Section numbers are those of GPC Card
// Spec v2.2 Amendment D v1.1.x, which GPCS v2.3.1 merges unchanged.
#include "crypto/gp_scp03.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <memory>
#include <string>

#include "crypto/host_crypto.hpp"
#include "crypto/ossl.hpp"
#include "domain/error.hpp"

namespace kms::crypto::scp03 {

namespace {

constexpr std::size_t kBlock = 16;
constexpr std::size_t kS8 = 8;  // S8 mode: challenges, cryptograms and MACs are 8 bytes


[[noreturn]] void invalid(const std::string& what) {
    throw Error(ErrorCode::InvalidArgument, "SCP03: " + what);
}

void require_aes_key(ByteView key, const char* what) {
    if (key.size() != 16 && key.size() != 24 && key.size() != 32)
        invalid(std::string(what) + " must be a 16-, 24- or 32-byte AES key");
}

/// AES-CBC over whole blocks, no padding (the GP padding is applied by the caller).
Bytes aes_cbc(ByteView key, ByteView iv, ByteView data, bool encrypt) {
    require_aes_key(key, "S-ENC");
    return encrypt ? aes_cbc_encrypt(key, iv, data) : aes_cbc_decrypt(key, iv, data);
}

/// Amd D §6.2.6 / §6.2.7: ICV = AES-ECB(S-ENC, block) = AES-CBC with a zero IV over one block.
Bytes icv(ByteView s_enc, std::uint32_t counter, bool response) {
    Bytes block(kBlock, 0);
    for (int k = 0; k < 4; ++k)
        block[kBlock - 1 - k] = static_cast<std::uint8_t>(counter >> (8 * k));
    if (response) block[0] = 0x80;
    const Bytes zero(kBlock, 0);
    return aes_cbc(s_enc, zero, block, true);
}

bool is_error_sw(std::uint16_t sw) {
    const std::uint8_t sw1 = static_cast<std::uint8_t>(sw >> 8);
    return sw != 0x9000 && sw1 != 0x62 && sw1 != 0x63;
}

void require_challenge(ByteView c, const char* what) {
    if (c.size() != kS8) invalid(std::string(what) + " must be 8 bytes (S8 mode)");
}

Bytes context_of(ByteView host_challenge, ByteView card_challenge) {
    require_challenge(host_challenge, "host challenge");
    require_challenge(card_challenge, "card challenge");
    Bytes ctx(host_challenge.begin(), host_challenge.end());
    ctx.insert(ctx.end(), card_challenge.begin(), card_challenge.end());
    return ctx;
}

Bytes to_bytes(const SecureBytes& s) {
    return Bytes(s.view().begin(), s.view().end());
}

}  // namespace

SecureBytes kdf_ctr_cmac(ByteView key, ByteView before, ByteView after, std::size_t out_bits) {
    require_aes_key(key, "KDF key");
    if (out_bits == 0 || out_bits % 8 != 0)
        invalid("KDF output length must be a multiple of 8 bits");
    const std::size_t out_len = out_bits / 8;
    const std::size_t n = (out_len + kBlock - 1) / kBlock;
    if (n > 255) invalid("KDF output too long for an 8-bit counter");
    SecureBytes out(out_len);
    Bytes input(before.begin(), before.end());
    input.push_back(0);
    const std::size_t counter_at = before.size();
    input.insert(input.end(), after.begin(), after.end());
    std::size_t pos = 0;
    for (std::size_t i = 1; i <= n; ++i) {
        input[counter_at] = static_cast<std::uint8_t>(i);
        Bytes k = aes_cmac(key, input);
        const std::size_t take = std::min(kBlock, out_len - pos);
        std::copy_n(k.begin(), take, out.data() + pos);
        pos += take;
        secure_wipe(k.data(), k.size());
    }
    return out;
}

namespace {

/// 11 zero bytes || constant || 00 || L: the part of the label before the counter (§6.2.2).
Bytes label_before_counter(DerivationConstant constant, std::uint16_t out_bits) {
    Bytes b(11, 0);
    b.push_back(static_cast<std::uint8_t>(constant));
    b.push_back(0x00);
    b.push_back(static_cast<std::uint8_t>(out_bits >> 8));
    b.push_back(static_cast<std::uint8_t>(out_bits));
    return b;
}

void require_gp_length(std::uint16_t out_bits) {
    if (out_bits != 64 && out_bits != 128 && out_bits != 192 && out_bits != 256)
        invalid("KDF output length must be 64, 128, 192 or 256 bits");
}

}  // namespace

std::vector<Bytes> kdf_input_blocks(DerivationConstant constant, std::uint16_t out_bits,
                                    ByteView context) {
    require_gp_length(out_bits);
    const Bytes before = label_before_counter(constant, out_bits);
    const std::size_t n = (out_bits + 127) / 128;
    std::vector<Bytes> blocks;
    for (std::size_t i = 1; i <= n; ++i) {
        Bytes b = before;
        b.push_back(static_cast<std::uint8_t>(i));
        b.insert(b.end(), context.begin(), context.end());
        blocks.push_back(std::move(b));
    }
    return blocks;
}

SecureBytes kdf(ByteView key, DerivationConstant constant, std::uint16_t out_bits,
                ByteView context) {
    require_gp_length(out_bits);
    return kdf_ctr_cmac(key, label_before_counter(constant, out_bits), context, out_bits);
}

SessionKeys derive_session_keys(ByteView static_enc, ByteView static_mac, ByteView host_challenge,
                                ByteView card_challenge) {
    require_aes_key(static_enc, "static ENC key");
    require_aes_key(static_mac, "static MAC key");
    if (static_enc.size() != static_mac.size()) invalid("static keys must be of one length");
    const Bytes ctx = context_of(host_challenge, card_challenge);
    const auto bits = static_cast<std::uint16_t>(static_enc.size() * 8);
    // §6.2.1: S-ENC from the static ENC key, S-MAC and S-RMAC from the static MAC key.
    return SessionKeys{kdf(static_enc, DerivationConstant::SEnc, bits, ctx),
                       kdf(static_mac, DerivationConstant::SMac, bits, ctx),
                       kdf(static_mac, DerivationConstant::SRmac, bits, ctx)};
}

Bytes card_cryptogram(ByteView s_mac, ByteView host_challenge, ByteView card_challenge) {
    return to_bytes(kdf(s_mac, DerivationConstant::CardCryptogram, 64,
                        context_of(host_challenge, card_challenge)));
}

Bytes host_cryptogram(ByteView s_mac, ByteView host_challenge, ByteView card_challenge) {
    return to_bytes(kdf(s_mac, DerivationConstant::HostCryptogram, 64,
                        context_of(host_challenge, card_challenge)));
}

Bytes pseudo_random_card_challenge(ByteView static_enc, ByteView sequence_counter, ByteView aid) {
    if (sequence_counter.size() != 3) invalid("sequence counter must be 3 bytes");
    if (aid.size() < 5 || aid.size() > 16) invalid("AID must be 5 to 16 bytes");
    Bytes ctx(sequence_counter.begin(), sequence_counter.end());
    ctx.insert(ctx.end(), aid.begin(), aid.end());
    return to_bytes(kdf(static_enc, DerivationConstant::CardChallenge, 64, ctx));
}

InitializeUpdateResponse parse_initialize_update_response(ByteView data) {
    // Table 7-3: KDD 10 | key version 1 | SCP id 1 | i 1 | card challenge 8 | card cryptogram 8
    // | sequence counter 3 (only with a pseudo-random card challenge).
    if (data.size() != 29 && data.size() != 32)
        invalid("INITIALIZE UPDATE response data must be 29 or 32 bytes in S8 mode, got " +
                std::to_string(data.size()));
    InitializeUpdateResponse r;
    r.key_diversification_data.assign(data.begin(), data.begin() + 10);
    r.key_version = data[10];
    r.scp_id = data[11];
    r.i = data[12];
    if (r.scp_id != 0x03) invalid("INITIALIZE UPDATE response is not for SCP03");
    if (r.i & ~(kIPseudoRandomChallenge | kIRMacSupport | kIREncSupport))
        throw Error(ErrorCode::Unsupported,
                    "SCP03: unsupported i parameter (S8 mode, i = 00, 10, "
                    "20, 30, 60 or 70 only)");
    r.card_challenge.assign(data.begin() + 13, data.begin() + 21);
    r.card_cryptogram.assign(data.begin() + 21, data.begin() + 29);
    const bool pseudo_random = (r.i & kIPseudoRandomChallenge) != 0;
    if (data.size() == 32) r.sequence_counter = Bytes(data.begin() + 29, data.end());
    if (pseudo_random && !r.sequence_counter)
        invalid("INITIALIZE UPDATE response lacks the sequence counter that i requires");
    return r;
}

CommandApdu initialize_update_command(std::uint8_t key_version, ByteView host_challenge) {
    require_challenge(host_challenge, "host challenge");
    CommandApdu c;
    c.cla = 0x80;
    c.ins = 0x50;
    c.p1 = key_version;
    c.p2 = 0x00;
    c.data.assign(host_challenge.begin(), host_challenge.end());
    c.le = 256;
    return c;
}

void check_security_level(std::uint8_t level, std::uint8_t i) {
    switch (level) {
        case 0x00:
        case 0x01:
        case 0x03:
        case 0x11:
        case 0x13:
        case 0x33:
            break;
        default:
            invalid("security level must be 00, 01, 03, 11, 13 or 33");
    }
    if ((level & kLevelRMac) && !(i & kIRMacSupport)) invalid("the card's i does not allow R-MAC");
    if ((level & kLevelREncryption) && !(i & kIREncSupport))
        invalid("the card's i does not allow R-ENCRYPTION");
}

Wrapper::Wrapper(SessionKeys keys, std::uint8_t i) : m_keys(std::move(keys)), m_i(i) {
    require_aes_key(m_keys.s_enc.view(), "S-ENC");
    require_aes_key(m_keys.s_mac.view(), "S-MAC");
    require_aes_key(m_keys.s_rmac.view(), "S-RMAC");
}

Bytes Wrapper::c_mac(ByteView mac_input) {
    Bytes in = m_mac_chaining;
    in.insert(in.end(), mac_input.begin(), mac_input.end());
    m_mac_chaining = aes_cmac(m_keys.s_mac.view(), in);
    return Bytes(m_mac_chaining.begin(), m_mac_chaining.begin() + kS8);
}

CommandApdu Wrapper::external_authenticate(ByteView host_cryptogram, std::uint8_t level) {
    if (host_cryptogram.size() != kS8) invalid("host cryptogram must be 8 bytes (S8 mode)");
    check_security_level(level, m_i);
    // §6.2.4: the MAC chaining value starts as 16 zero bytes; EXTERNAL AUTHENTICATE is always
    // C-MACed and never encrypted, whatever level it requests.
    m_mac_chaining.assign(kBlock, 0);
    m_counter = 0;
    m_pending.clear();
    CommandApdu c;
    c.cla = 0x84;
    c.ins = 0x82;
    c.p1 = level;
    c.p2 = 0x00;
    Bytes mac_input{c.cla, c.ins, c.p1, c.p2, static_cast<std::uint8_t>(kS8 + kS8)};
    mac_input.insert(mac_input.end(), host_cryptogram.begin(), host_cryptogram.end());
    const Bytes mac = c_mac(mac_input);
    c.data.assign(host_cryptogram.begin(), host_cryptogram.end());
    c.data.insert(c.data.end(), mac.begin(), mac.end());
    m_level = level;
    m_authenticated = true;
    return c;
}

CommandApdu Wrapper::wrap(const CommandApdu& command) {
    if (!m_authenticated) throw Error(ErrorCode::WrongState, "SCP03: no EXTERNAL AUTHENTICATE yet");
    // §6.2.6: the counter counts commands, "in this case the encryption counter shall still be
    // incremented" when there is no data field to encrypt.
    ++m_counter;
    if (m_counter == 0) throw Error(ErrorCode::WrongState, "SCP03: encryption counter exhausted");
    if (!(m_level & kLevelCMac)) return command;  // no C-MAC, hence no R-MAC either
    CommandApdu out = command;
    if ((m_level & kLevelCDecryption) && !command.data.empty()) {
        // §6.2.6: pad 80 00.. to a multiple of 16 (always at least one padding byte).
        const Bytes padded = pad_iso9797_m2(command.data, kBlock);
        out.data =
            aes_cbc(m_keys.s_enc.view(), icv(m_keys.s_enc.view(), m_counter, false), padded, true);
    }
    const std::size_t lc = out.data.size() + kS8;
    if (lc > 65535) invalid("wrapped command data exceeds 65535 bytes");
    // §6.2.4: logical channel bits of CLA are kept; b3 (0x04) marks GP secure messaging.
    out.cla = static_cast<std::uint8_t>(command.cla | 0x04);
    out.extended = command.extended || lc > 255 || (command.le && *command.le > 256);
    // The MAC covers the header and Lc' as they go on the wire (short or extended), not Le.
    CommandApdu header_only = out;
    header_only.le.reset();
    header_only.data.resize(lc, 0);  // placeholder bytes for the MAC, cut off below
    Bytes mac_input = core::encode_command_apdu(header_only);
    mac_input.resize(mac_input.size() - kS8);
    const Bytes mac = c_mac(mac_input);
    out.data.insert(out.data.end(), mac.begin(), mac.end());
    // Only an R-MAC (and R-ENCRYPTION, which needs it) uses the command's chaining value and
    // counter when its response comes back.
    if (m_level & kLevelRMac) m_pending.push_back(Pending{m_mac_chaining, m_counter});
    return out;
}

ResponseApdu Wrapper::unwrap(const ResponseApdu& response) {
    if (!(m_level & kLevelRMac)) return response;  // nothing protects it
    if (m_pending.empty())
        throw Error(ErrorCode::WrongState, "SCP03: no wrapped command awaits this response");
    const Pending p = std::move(m_pending.front());
    m_pending.pop_front();
    // §6.2.5 (Amd D v1.1.1+): "No R-MAC shall be generated and no protection shall be applied
    // to a response that includes an error status word" (all but 9000, 62xx and 63xx).
    if (is_error_sw(response.sw)) return response;
    if (response.data.size() < kS8)
        throw Error(ErrorCode::VerificationFailed, "SCP03: response lacks its R-MAC");
    ResponseApdu out;
    out.sw = response.sw;
    const std::size_t n = response.data.size() - kS8;
    Bytes in = p.mac_chaining;
    in.insert(in.end(), response.data.begin(), response.data.begin() + static_cast<long>(n));
    in.push_back(static_cast<std::uint8_t>(response.sw >> 8));
    in.push_back(static_cast<std::uint8_t>(response.sw));
    const Bytes expected = aes_cmac(m_keys.s_rmac.view(), in);
    if (!equal_ct(ByteView(expected.data(), kS8), ByteView(response.data).subspan(n)))
        throw Error(ErrorCode::VerificationFailed, "SCP03: R-MAC does not verify");
    out.data.assign(response.data.begin(), response.data.begin() + static_cast<long>(n));
    // GlobalPlatformPro#158: R-ENCRYPTION of an empty response is an empty response.
    if ((m_level & kLevelREncryption) && !out.data.empty()) {
        if (out.data.size() % kBlock != 0)
            throw Error(ErrorCode::VerificationFailed, "SCP03: R-ENC data is not whole blocks");
        Bytes clear = aes_cbc(m_keys.s_enc.view(), icv(m_keys.s_enc.view(), p.counter, true),
                              out.data, false);
        // §6.2.7: the card padded with 80 00..; strip it and reject anything else.
        std::size_t end = clear.size();
        while (end > 0 && clear[end - 1] == 0x00 && clear.size() - end < kBlock) --end;
        if (end == 0 || clear[end - 1] != 0x80 || clear.size() - end >= kBlock) {
            secure_wipe(clear.data(), clear.size());
            throw Error(ErrorCode::VerificationFailed, "SCP03: R-ENC padding is malformed");
        }
        clear.resize(end - 1);
        out.data = std::move(clear);
    }
    return out;
}

}  // namespace kms::crypto::scp03
