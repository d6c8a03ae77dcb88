// GlobalPlatform SCP02 host side (see gp_scp02.hpp). Built on the TDEA-ECB primitive of
// host_crypto; every buffer that held key material is wiped before it is released.
#include "gp_scp02.hpp"

#include <algorithm>

#include "domain/error.hpp"
#include "host_crypto.hpp"

namespace kms::crypto {
namespace {

void require(bool ok, const char* what) {
    if (!ok) throw Error(ErrorCode::InvalidArgument, std::string("SCP02: ") + what);
}

/// Single DES under the 8-byte @p k (EDE with K1 = K2, as host_crypto does).
Bytes des_encrypt(ByteView k, ByteView block) {
    std::uint8_t kk[16];
    std::copy(k.begin(), k.begin() + 8, kk);
    std::copy(k.begin(), k.begin() + 8, kk + 8);
    Bytes out = des3_ecb_encrypt(ByteView(kk, 16), block);
    secure_wipe(kk, sizeof kk);
    return out;
}

/// TDEA-CBC encryption of whole blocks with @p icv.
Bytes des3_cbc_encrypt(ByteView key, ByteView icv, ByteView data) {
    Bytes out;
    out.reserve(data.size());
    std::uint8_t chain[8];
    std::copy(icv.begin(), icv.end(), chain);
    for (std::size_t off = 0; off < data.size(); off += 8) {
        std::uint8_t x[8];
        for (int j = 0; j < 8; ++j) x[j] = chain[j] ^ data[off + j];
        Bytes e = des3_ecb_encrypt(key, ByteView(x, 8));
        std::copy(e.begin(), e.end(), chain);
        out.insert(out.end(), e.begin(), e.end());
        secure_wipe(x, sizeof x);
        secure_wipe(e.data(), e.size());
    }
    secure_wipe(chain, sizeof chain);
    return out;
}

const std::uint8_t kZero8[8] = {0};

}  // namespace

SecureBytes scp02_session_key(ByteView static_key, Scp02KeyConstant constant, ByteView seq) {
    require(static_key.size() == 16, "static key must be 16 bytes");
    require(seq.size() == 2, "sequence counter must be 2 bytes");
    std::uint8_t block[16] = {0};
    block[0] = static_cast<std::uint8_t>(static_cast<std::uint16_t>(constant) >> 8);
    block[1] = static_cast<std::uint8_t>(constant);
    block[2] = seq[0];
    block[3] = seq[1];
    Bytes k = des3_cbc_encrypt(static_key, ByteView(kZero8, 8), ByteView(block, 16));
    SecureBytes out(k);
    secure_wipe(k.data(), k.size());
    return out;
}

Scp02SessionKeys scp02_session_keys(ByteView enc, ByteView mac, ByteView dek, ByteView seq) {
    return {scp02_session_key(enc, Scp02KeyConstant::Enc, seq),
            scp02_session_key(mac, Scp02KeyConstant::CMac, seq),
            scp02_session_key(mac, Scp02KeyConstant::RMac, seq),
            scp02_session_key(dek, Scp02KeyConstant::Dek, seq)};
}

Bytes scp02_full_3des_mac(ByteView key, ByteView data) {
    require(key.size() == 16, "MAC key must be 16 bytes");
    const Bytes padded = pad_iso9797_m2(data, 8);
    Bytes c = des3_cbc_encrypt(key, ByteView(kZero8, 8), padded);
    return Bytes(c.end() - 8, c.end());
}

Bytes scp02_retail_mac(ByteView key, ByteView icv, ByteView data) {
    require(key.size() == 16, "MAC key must be 16 bytes");
    require(icv.size() == 8, "ICV must be 8 bytes");
    // ISO/IEC 9797-1 MAC algorithm 3: single DES CBC under K1 over all blocks but the last,
    // then TDEA (K1, K2, K1) on the last chained block.
    const Bytes padded = pad_iso9797_m2(data, 8);
    const ByteView k1 = key.first(8);
    Bytes chain(icv.begin(), icv.end());
    const std::size_t blocks = padded.size() / 8;
    for (std::size_t b = 0; b + 1 < blocks; ++b) {
        for (int j = 0; j < 8; ++j) chain[j] ^= padded[b * 8 + j];
        chain = des_encrypt(k1, chain);
    }
    for (int j = 0; j < 8; ++j) chain[j] ^= padded[(blocks - 1) * 8 + j];
    return des3_ecb_encrypt(key, chain);
}

Bytes scp02_card_cryptogram(ByteView s_enc, ByteView host_challenge, ByteView seq,
                            ByteView card_challenge) {
    require(host_challenge.size() == 8 && seq.size() == 2 && card_challenge.size() == 6,
            "challenge or counter length");
    Bytes d(host_challenge.begin(), host_challenge.end());
    d.insert(d.end(), seq.begin(), seq.end());
    d.insert(d.end(), card_challenge.begin(), card_challenge.end());
    return scp02_full_3des_mac(s_enc, d);
}

Bytes scp02_host_cryptogram(ByteView s_enc, ByteView seq, ByteView card_challenge,
                            ByteView host_challenge) {
    require(host_challenge.size() == 8 && seq.size() == 2 && card_challenge.size() == 6,
            "challenge or counter length");
    Bytes d(seq.begin(), seq.end());
    d.insert(d.end(), card_challenge.begin(), card_challenge.end());
    d.insert(d.end(), host_challenge.begin(), host_challenge.end());
    return scp02_full_3des_mac(s_enc, d);
}

Bytes scp02_pseudo_random_card_challenge(ByteView s_cmac, ByteView aid) {
    Bytes m = scp02_retail_mac(s_cmac, ByteView(kZero8, 8), aid);
    m.resize(6);
    return m;
}

Scp02InitializeUpdateResponse parse_scp02_initialize_update_response(ByteView response) {
    if (response.size() == 30) {
        require(response[28] == 0x90 && response[29] == 0x00, "INITIALIZE UPDATE did not succeed");
        response = response.first(28);
    }
    require(response.size() == 28, "INITIALIZE UPDATE response must be 28 bytes");
    require(response[11] == 0x02, "INITIALIZE UPDATE response is not SCP02");
    Scp02InitializeUpdateResponse r;
    r.kdd.assign(response.begin(), response.begin() + 10);
    r.key_version = response[10];
    r.scp = response[11];
    r.seq.assign(response.begin() + 12, response.begin() + 14);
    r.card_challenge.assign(response.begin() + 14, response.begin() + 20);
    r.card_cryptogram.assign(response.begin() + 20, response.begin() + 28);
    return r;
}

// ---- Scp02Wrapper ----

Scp02Wrapper::Scp02Wrapper(Scp02SessionKeys keys, std::uint8_t i, std::uint8_t security_level)
    : m_keys(std::move(keys)), m_i(i), m_level(security_level) {
    require((i & 0x01) != 0, "only i with 3 Secure Channel Keys (b1 = 1) is supported");
    require((security_level & ~0x13) == 0, "security level must combine 01, 02 and 10");
    require((security_level & scp02_level::CMac) != 0 || security_level == 0 ||
                security_level == scp02_level::RMac,
            "C-DECRYPTION needs C-MAC");
    require(m_keys.enc.size() == 16 && m_keys.cmac.size() == 16 && m_keys.rmac.size() == 16 &&
                m_keys.dek.size() == 16,
            "session keys must be 16 bytes");
}

Bytes Scp02Wrapper::next_cmac_icv() const {
    if (m_cmac.empty()) return Bytes(8, 0);
    // i b5: "ICV encryption for C-MAC session" (GP 2.2.1 E.3.4): single DES, first half of the
    // C-MAC session key.
    if ((m_i & 0x10) != 0) return des_encrypt(m_keys.cmac.view(), m_cmac);
    return m_cmac;
}

Bytes Scp02Wrapper::external_authenticate(ByteView host_cryptogram) {
    require(host_cryptogram.size() == 8, "host cryptogram must be 8 bytes");
    require(!m_authenticated, "EXTERNAL AUTHENTICATE was already built");
    const bool modified = (m_i & 0x02) == 0;
    Bytes header{static_cast<std::uint8_t>(modified ? 0x84 : 0x80), 0x82, m_level, 0x00,
                 static_cast<std::uint8_t>(modified ? 0x10 : 0x08)};
    Bytes mac_input(header);
    mac_input.insert(mac_input.end(), host_cryptogram.begin(), host_cryptogram.end());
    m_cmac = scp02_retail_mac(m_keys.cmac.view(), ByteView(kZero8, 8), mac_input);
    m_authenticated = true;
    if ((m_level & scp02_level::RMac) != 0) m_rmac_icv.assign(8, 0);
    Bytes out{0x84, 0x82, m_level, 0x00, 0x10};
    out.insert(out.end(), host_cryptogram.begin(), host_cryptogram.end());
    out.insert(out.end(), m_cmac.begin(), m_cmac.end());
    return out;
}

Bytes Scp02Wrapper::wrap(const core::CommandApdu& command) {
    require(m_authenticated, "wrap before EXTERNAL AUTHENTICATE");
    require((command.cla & 0x04) == 0, "CLA already indicates secure messaging");
    require(!command.le || *command.le <= 256, "extended Le is not supported");
    const bool cmac = (m_level & scp02_level::CMac) != 0;
    const bool cdec = (m_level & scp02_level::CDec) != 0 && !command.data.empty();
    const bool rmac = (m_level & scp02_level::RMac) != 0;

    Bytes data = command.data;
    if (cdec) {
        Bytes padded = pad_iso9797_m2(command.data, 8);
        data = des3_cbc_encrypt(m_keys.enc.view(), ByteView(kZero8, 8), padded);
        secure_wipe(padded.data(), padded.size());
    }
    const std::size_t wrapped_lc = data.size() + (cmac ? 8 : 0);
    require(wrapped_lc <= 255, "wrapped command needs extended length");

    Bytes rmac_prefix;
    if (rmac) {
        // GP 2.2.1 E.4.5: the R-MAC covers the command as given (unmodified header, Lc and
        // clear data) followed by the response.
        rmac_prefix = {command.cla, command.ins, command.p1, command.p2,
                       static_cast<std::uint8_t>(command.data.size())};
        rmac_prefix.insert(rmac_prefix.end(), command.data.begin(), command.data.end());
    }

    core::CommandApdu out = command;
    if (cmac) {
        const bool modified = (m_i & 0x02) == 0;
        // E.4.4: the C-MAC is computed on the clear data; on the modified APDU the header
        // already shows the secure messaging bit and the final Lc.
        Bytes mac_input{
            static_cast<std::uint8_t>(modified ? (command.cla | 0x04) : command.cla), command.ins,
            command.p1, command.p2,
            static_cast<std::uint8_t>(modified ? command.data.size() + 8 : command.data.size())};
        mac_input.insert(mac_input.end(), command.data.begin(), command.data.end());
        const Bytes icv = next_cmac_icv();
        m_cmac = scp02_retail_mac(m_keys.cmac.view(), icv, mac_input);
        secure_wipe(mac_input.data(), mac_input.size());
        out.cla = static_cast<std::uint8_t>(command.cla | 0x04);
        data.insert(data.end(), m_cmac.begin(), m_cmac.end());
    }
    out.data = std::move(data);
    out.extended = false;
    if (rmac) m_pending.push_back(std::move(rmac_prefix));
    return core::encode_command_apdu(out);
}

Bytes Scp02Wrapper::unwrap(ByteView response) {
    require(response.size() >= 2, "response shorter than SW1 SW2");
    if ((m_level & scp02_level::RMac) == 0) return Bytes(response.begin(), response.end());
    require(!m_pending.empty(), "no wrapped command is waiting for this response");
    Bytes prefix = std::move(m_pending.front());
    m_pending.pop_front();
    const std::uint8_t sw1 = response[response.size() - 2];
    const std::uint8_t sw2 = response[response.size() - 1];
    if (response.size() == 2 && sw1 != 0x90 && sw1 != 0x61) {
        return Bytes(response.begin(), response.end());
    }
    if (response.size() < 10) {
        throw Error(ErrorCode::VerificationFailed, "SCP02: response carries no R-MAC");
    }
    const ByteView data = response.first(response.size() - 10);
    const ByteView mac = response.subspan(response.size() - 10, 8);
    Bytes input = std::move(prefix);
    input.push_back(static_cast<std::uint8_t>(data.size()));
    input.insert(input.end(), data.begin(), data.end());
    input.push_back(sw1);
    input.push_back(sw2);
    const Bytes expected = scp02_retail_mac(m_keys.rmac.view(), m_rmac_icv, input);
    if (!equal_ct(expected, mac)) {
        throw Error(ErrorCode::VerificationFailed, "SCP02: R-MAC does not verify");
    }
    m_rmac_icv = expected;
    Bytes out(data.begin(), data.end());
    out.push_back(sw1);
    out.push_back(sw2);
    return out;
}

}  // namespace kms::crypto
