// SCP03 card side (see scp03_card.hpp). Section numbers: GPC Card Spec v2.2 Amendment D v1.1.x.
#include "scp03_card.hpp"

#include <string>

#include "crypto/host_crypto.hpp"
#include "domain/error.hpp"
#include "status_words.hpp"

namespace kms::tsm::vse {

namespace scp03 = crypto::scp03;
using core::CommandApdu;
using core::ResponseApdu;

namespace {

constexpr std::size_t kBlock = 16;
constexpr std::size_t kS8 = 8;
constexpr std::uint8_t kSecureMessaging = 0x04;

void require(bool ok, const std::string& what) {
    if (!ok) throw Error(ErrorCode::InvalidArgument, "virtual SE SCP03: " + what);
}

/// §6.2.6 / §6.2.7: ICV = AES(S-ENC, counter as 16 bytes), with 80 in the first byte for
/// responses.
Bytes icv(ByteView s_enc, std::uint32_t counter, bool response) {
    Bytes block(kBlock, 0);
    for (int k = 0; k < 4; ++k)
        block[kBlock - 1 - k] = static_cast<std::uint8_t>(counter >> (8 * k));
    if (response) block[0] = 0x80;
    return crypto::aes_cbc_encrypt(s_enc, Bytes(kBlock, 0), block);
}

/// §6.2.5: "No R-MAC shall be generated and no protection shall be applied to a response that
/// includes an error status word": all but 9000, 62xx and 63xx.
bool is_error_sw(std::uint16_t sw) {
    const auto sw1 = static_cast<std::uint8_t>(sw >> 8);
    return sw != sw::kOk && sw1 != 0x62 && sw1 != 0x63;
}

/// Strips ISO/IEC 9797-1 method 2 padding (80 00..) that ends within the last @p block bytes.
std::optional<Bytes> unpad(Bytes data, std::size_t block) {
    std::size_t end = data.size();
    while (end > 0 && data[end - 1] == 0x00 && data.size() - end < block) --end;
    if (end == 0 || data[end - 1] != 0x80 || data.size() - end >= block) {
        secure_wipe(data.data(), data.size());
        return std::nullopt;
    }
    data.resize(end - 1);
    return data;
}

}  // namespace

Scp03CardChannel::Scp03CardChannel(const Scp03CardParams& p)
    : m_keys(),
      m_dek(p.dek),
      m_i(p.i),
      m_host_challenge(p.host_challenge.begin(), p.host_challenge.end()) {
    require(p.kdd.size() == 10, "key diversification data must be 10 bytes");
    require(p.sequence_counter.size() == 3, "sequence counter must be 3 bytes");
    require(p.dek.size() == p.enc.size(), "static keys must be of one length");
    if (p.fixed_card_challenge) {
        require(p.fixed_card_challenge->size() == kS8, "card challenge must be 8 bytes");
        m_card_challenge = *p.fixed_card_challenge;
    } else if (p.i & scp03::kIPseudoRandomChallenge) {
        m_card_challenge = scp03::pseudo_random_card_challenge(p.enc, p.sequence_counter, p.aid);
    } else {
        m_card_challenge = crypto::random_bytes(kS8);
    }
    // §6.2.1; derive_session_keys checks the key and challenge lengths.
    m_keys = scp03::derive_session_keys(p.enc, p.mac, m_host_challenge, m_card_challenge);
    const Bytes cryptogram =
        scp03::card_cryptogram(m_keys.s_mac.view(), m_host_challenge, m_card_challenge);
    // §7.1.1.6 Table 7-3: KDD | key version | SCP id 03 | i | card challenge | card cryptogram
    // | sequence counter (only with a pseudo-random card challenge, i bit 10).
    m_iu_response.assign(p.kdd.begin(), p.kdd.end());
    m_iu_response.push_back(p.key_version);
    m_iu_response.push_back(0x03);
    m_iu_response.push_back(p.i);
    m_iu_response.insert(m_iu_response.end(), m_card_challenge.begin(), m_card_challenge.end());
    m_iu_response.insert(m_iu_response.end(), cryptogram.begin(), cryptogram.end());
    if (p.i & scp03::kIPseudoRandomChallenge)
        m_iu_response.insert(m_iu_response.end(), p.sequence_counter.begin(),
                             p.sequence_counter.end());
}

std::uint16_t Scp03CardChannel::external_authenticate(const CommandApdu& c) {
    // §7.1.2: 84 82 level 00 10 host cryptogram(8) C-MAC(8).
    if (c.data.size() != 2 * kS8) return sw::kWrongLength;
    if (c.p2 != 0x00) return sw::kIncorrectP1P2;
    try {
        scp03::check_security_level(c.p1, m_i);
    } catch (const Error&) {
        return sw::kIncorrectP1P2;
    }
    const ByteView data(c.data);
    const Bytes expected =
        scp03::host_cryptogram(m_keys.s_mac.view(), m_host_challenge, m_card_challenge);
    if (!equal_ct(expected, data.first(kS8))) return sw::kAuthenticationFailed;
    // §6.2.4: the MAC chaining value starts as 16 zero bytes for EXTERNAL AUTHENTICATE.
    Bytes mac_input(kBlock, 0);
    mac_input.insert(mac_input.end(), {c.cla, c.ins, c.p1, c.p2, 2 * kS8});
    mac_input.insert(mac_input.end(), data.begin(), data.begin() + kS8);
    Bytes mac = crypto::aes_cmac(m_keys.s_mac.view(), mac_input);
    if (!equal_ct(ByteView(mac).first(kS8), data.subspan(kS8)))
        return sw::kSecurityStatusNotSatisfied;
    m_mac_chaining = std::move(mac);
    m_counter = 0;
    m_level = c.p1;
    m_authenticated = true;
    return sw::kOk;
}

std::optional<CommandApdu> Scp03CardChannel::unwrap(const CommandApdu& c) {
    if (!m_authenticated) return std::nullopt;
    // §6.2.6: the counter counts every command of the session, with or without data.
    if (++m_counter == 0) return std::nullopt;
    const bool sm = (c.cla & kSecureMessaging) != 0;
    if (!(m_level & scp03::kLevelCMac)) {
        if (sm) return std::nullopt;
        return c;
    }
    if (!sm || c.data.size() < kS8) return std::nullopt;
    // §6.2.4: the C-MAC covers the chaining value, the header with the secure messaging bit and
    // Lc as sent (short or extended), and the data field without the MAC; never Le.
    CommandApdu header_only = c;
    header_only.le.reset();
    Bytes mac_input = m_mac_chaining;
    const Bytes encoded = core::encode_command_apdu(header_only);
    mac_input.insert(mac_input.end(), encoded.begin(), encoded.end() - kS8);
    Bytes mac = crypto::aes_cmac(m_keys.s_mac.view(), mac_input);
    const ByteView received = ByteView(c.data).last(kS8);
    if (!equal_ct(ByteView(mac).first(kS8), received)) return std::nullopt;
    m_mac_chaining = std::move(mac);

    CommandApdu plain = c;
    plain.cla = static_cast<std::uint8_t>(c.cla & ~kSecureMessaging);
    plain.data.resize(c.data.size() - kS8);
    if ((m_level & scp03::kLevelCDecryption) && !plain.data.empty()) {
        // §6.2.6: AES-CBC under S-ENC, ICV = AES(S-ENC, counter), padding 80 00.. always present.
        if (plain.data.size() % kBlock != 0) return std::nullopt;
        Bytes clear = crypto::aes_cbc_decrypt(
            m_keys.s_enc.view(), icv(m_keys.s_enc.view(), m_counter, false), plain.data);
        auto unpadded = unpad(std::move(clear), kBlock);
        if (!unpadded) return std::nullopt;
        plain.data = std::move(*unpadded);
    }
    plain.extended = plain.data.size() > 255 || (plain.le && *plain.le > 256);
    return plain;
}

ResponseApdu Scp03CardChannel::wrap(const ResponseApdu& r) {
    if (!m_authenticated || !(m_level & scp03::kLevelRMac) || is_error_sw(r.sw)) return r;
    ResponseApdu out = r;
    // §6.2.7: R-ENCRYPTION of non-empty data only, padded 80 00.., ICV from 80 || counter.
    if ((m_level & scp03::kLevelREncryption) && !r.data.empty()) {
        Bytes padded = crypto::pad_iso9797_m2(r.data, kBlock);
        out.data = crypto::aes_cbc_encrypt(m_keys.s_enc.view(),
                                           icv(m_keys.s_enc.view(), m_counter, true), padded);
        secure_wipe(padded.data(), padded.size());
    }
    // §6.2.5: R-MAC = CMAC(S-RMAC, MAC chaining value of the command || data || SW1 SW2).
    Bytes mac_input = m_mac_chaining;
    mac_input.insert(mac_input.end(), out.data.begin(), out.data.end());
    mac_input.push_back(static_cast<std::uint8_t>(r.sw >> 8));
    mac_input.push_back(static_cast<std::uint8_t>(r.sw));
    const Bytes mac = crypto::aes_cmac(m_keys.s_rmac.view(), mac_input);
    out.data.insert(out.data.end(), mac.begin(), mac.begin() + kS8);
    return out;
}

std::optional<SecureBytes> Scp03CardChannel::decrypt_with_dek(ByteView data) const {
    if (data.empty() || data.size() % kBlock != 0) return std::nullopt;
    Bytes clear = crypto::aes_cbc_decrypt(m_dek.view(), Bytes(kBlock, 0), data);
    SecureBytes out(clear);
    secure_wipe(clear.data(), clear.size());
    return out;
}

}  // namespace kms::tsm::vse
