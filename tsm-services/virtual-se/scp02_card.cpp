// SCP02 card side (see scp02_card.hpp). Section numbers: GP Card Specification 2.2.1 Appendix E.
#include "scp02_card.hpp"

#include <string>

#include "crypto/host_crypto.hpp"
#include "domain/error.hpp"
#include "status_words.hpp"

namespace kms::tsm::vse {

using core::CommandApdu;
using core::ResponseApdu;
namespace level = crypto::scp02_level;

namespace {

constexpr std::size_t kBlock = 8;
constexpr std::uint8_t kSecureMessaging = 0x04;
const Bytes kZeroIcv(kBlock, 0);

void require(bool ok, const std::string& what) {
    if (!ok) throw Error(ErrorCode::InvalidArgument, "virtual SE SCP02: " + what);
}

/// Single DES under the first 8 bytes of @p key (EDE with K1 = K2).
Bytes des_encrypt(ByteView key, ByteView block) {
    Bytes k(key.begin(), key.begin() + 8);
    k.insert(k.end(), key.begin(), key.begin() + 8);
    Bytes out = crypto::des3_ecb_encrypt(k, block);
    secure_wipe(k.data(), k.size());
    return out;
}

/// TDEA-CBC decryption, zero ICV (E.4.6): P_i = D(C_i) xor C_(i-1).
Bytes des3_cbc_decrypt(ByteView key, ByteView data) {
    Bytes out = crypto::des3_ecb_decrypt(key, data);
    for (std::size_t b = 1; b < data.size() / kBlock; ++b)
        for (std::size_t j = 0; j < kBlock; ++j) out[b * kBlock + j] ^= data[(b - 1) * kBlock + j];
    return out;
}

/// Strips ISO/IEC 9797-1 method 2 padding that ends within the last 8 bytes.
std::optional<Bytes> unpad(Bytes data) {
    std::size_t end = data.size();
    while (end > 0 && data[end - 1] == 0x00 && data.size() - end < kBlock) --end;
    if (end == 0 || data[end - 1] != 0x80 || data.size() - end >= kBlock) {
        secure_wipe(data.data(), data.size());
        return std::nullopt;
    }
    data.resize(end - 1);
    return data;
}

bool level_allowed(std::uint8_t l, std::uint8_t i) {
    // E.5.2.2 Table E-15: 00, 01, 03, 11 or 13 (C-DECRYPTION needs C-MAC; R-MAC needs the card to
    // support it, i bit 20).
    if (l != 0x00 && l != 0x01 && l != 0x03 && l != 0x11 && l != 0x13) return false;
    return !(l & level::RMac) || (i & kScp02IRMacSupport);
}

}  // namespace

Scp02CardChannel::Scp02CardChannel(const Scp02CardParams& p)
    : m_keys(crypto::scp02_session_keys(p.enc, p.mac, p.dek, p.sequence_counter)),
      m_i(p.i),
      m_seq(p.sequence_counter.begin(), p.sequence_counter.end()),
      m_host_challenge(p.host_challenge.begin(), p.host_challenge.end()) {
    require(p.kdd.size() == 10, "key diversification data must be 10 bytes");
    require(p.host_challenge.size() == 8, "host challenge must be 8 bytes");
    if (p.fixed_card_challenge) {
        require(p.fixed_card_challenge->size() == 6, "card challenge must be 6 bytes");
        m_card_challenge = *p.fixed_card_challenge;
    } else if (p.i & kScp02IPseudoRandomChallenge) {
        m_card_challenge = crypto::scp02_pseudo_random_card_challenge(m_keys.cmac.view(), p.aid);
    } else {
        m_card_challenge = crypto::random_bytes(6);
    }
    const Bytes cryptogram =
        crypto::scp02_card_cryptogram(m_keys.enc.view(), m_host_challenge, m_seq, m_card_challenge);
    // E.5.1.3 Table E-13: KDD | key version | 02 | sequence counter | card challenge | cryptogram.
    m_iu_response.assign(p.kdd.begin(), p.kdd.end());
    m_iu_response.push_back(p.key_version);
    m_iu_response.push_back(0x02);
    m_iu_response.insert(m_iu_response.end(), m_seq.begin(), m_seq.end());
    m_iu_response.insert(m_iu_response.end(), m_card_challenge.begin(), m_card_challenge.end());
    m_iu_response.insert(m_iu_response.end(), cryptogram.begin(), cryptogram.end());
}

std::uint16_t Scp02CardChannel::external_authenticate(const CommandApdu& c) {
    // E.5.2: 84 82 level 00 10 host cryptogram(8) C-MAC(8).
    if (c.data.size() != 16) return sw::kWrongLength;
    if (c.p2 != 0x00 || !level_allowed(c.p1, m_i)) return sw::kIncorrectP1P2;
    const ByteView data(c.data);
    const Bytes expected =
        crypto::scp02_host_cryptogram(m_keys.enc.view(), m_seq, m_card_challenge, m_host_challenge);
    if (!equal_ct(expected, data.first(8))) return sw::kAuthenticationFailed;
    // E.4.4: the first C-MAC has a zero ICV; on the unmodified APDU (i bit 02) the header is the
    // one before secure messaging: CLA 80, Lc without the MAC.
    const bool modified = (m_i & kScp02IUnmodifiedApdu) == 0;
    Bytes mac_input{static_cast<std::uint8_t>(modified ? c.cla : (c.cla & ~kSecureMessaging)),
                    c.ins, c.p1, c.p2, static_cast<std::uint8_t>(modified ? 16 : 8)};
    mac_input.insert(mac_input.end(), data.begin(), data.begin() + 8);
    Bytes mac = crypto::scp02_retail_mac(m_keys.cmac.view(), kZeroIcv, mac_input);
    if (!equal_ct(mac, data.subspan(8))) return sw::kSecurityStatusNotSatisfied;
    m_cmac = std::move(mac);
    m_level = c.p1;
    if (m_level & level::RMac) m_rmac_icv = kZeroIcv;
    m_authenticated = true;
    return sw::kOk;
}

std::optional<CommandApdu> Scp02CardChannel::unwrap(const CommandApdu& c) {
    if (!m_authenticated) return std::nullopt;
    const bool sm = (c.cla & kSecureMessaging) != 0;
    CommandApdu plain = c;
    plain.cla = static_cast<std::uint8_t>(c.cla & ~kSecureMessaging);
    if (!(m_level & level::CMac)) {
        if (sm) return std::nullopt;
    } else {
        // Short APDUs only: the wrapped Lc is one byte.
        if (!sm || c.extended || c.data.size() < 8) return std::nullopt;
        plain.data.resize(c.data.size() - 8);
        if ((m_level & level::CDec) && !plain.data.empty()) {
            // E.4.6: TDEA-CBC under S-ENC, zero ICV, padding 80 00.. always present.
            if (plain.data.size() % kBlock != 0) return std::nullopt;
            auto clear = unpad(des3_cbc_decrypt(m_keys.enc.view(), plain.data));
            if (!clear) return std::nullopt;
            plain.data = std::move(*clear);
        }
        // E.4.4: the C-MAC covers the clear data; on the modified APDU the header carries the
        // secure messaging bit and Lc counts the MAC.
        const bool modified = (m_i & kScp02IUnmodifiedApdu) == 0;
        Bytes mac_input{modified ? c.cla : plain.cla, c.ins, c.p1, c.p2,
                        static_cast<std::uint8_t>(plain.data.size() + (modified ? 8 : 0))};
        mac_input.insert(mac_input.end(), plain.data.begin(), plain.data.end());
        // E.3.4 (i bit 10): the ICV is the previous C-MAC encrypted with single DES under the
        // first half of the C-MAC session key.
        const Bytes icv =
            (m_i & kScp02IIcvEncryption) ? des_encrypt(m_keys.cmac.view(), m_cmac) : m_cmac;
        Bytes mac = crypto::scp02_retail_mac(m_keys.cmac.view(), icv, mac_input);
        secure_wipe(mac_input.data(), mac_input.size());
        if (!equal_ct(mac, ByteView(c.data).last(8))) return std::nullopt;
        m_cmac = std::move(mac);
    }
    if (m_level & level::RMac) {
        // E.4.5: the R-MAC covers the command as the host built it (CLA without the secure
        // messaging bit, Lc of the clear data, the clear data), then the response.
        m_rmac_prefix = {plain.cla, plain.ins, plain.p1, plain.p2,
                         static_cast<std::uint8_t>(plain.data.size())};
        m_rmac_prefix.insert(m_rmac_prefix.end(), plain.data.begin(), plain.data.end());
    }
    plain.extended = false;
    return plain;
}

ResponseApdu Scp02CardChannel::wrap(const ResponseApdu& r) {
    if (!m_authenticated || !(m_level & level::RMac)) return r;
    const auto sw1 = static_cast<std::uint8_t>(r.sw >> 8);
    // A bare error status word carries no R-MAC (as the host side expects: anything but 9000 and
    // 61xx with no data).
    if (r.data.empty() && sw1 != 0x90 && sw1 != 0x61) return r;
    Bytes input = m_rmac_prefix;
    input.push_back(static_cast<std::uint8_t>(r.data.size()));
    input.insert(input.end(), r.data.begin(), r.data.end());
    input.push_back(sw1);
    input.push_back(static_cast<std::uint8_t>(r.sw));
    Bytes mac = crypto::scp02_retail_mac(m_keys.rmac.view(), m_rmac_icv, input);
    ResponseApdu out = r;
    out.data.insert(out.data.end(), mac.begin(), mac.end());
    m_rmac_icv = std::move(mac);
    return out;
}

std::optional<SecureBytes> Scp02CardChannel::decrypt_with_dek(ByteView data) const {
    // GP 2.2.1 E.4.7 / §11.8.2.3: TDEA-ECB under the session DEK.
    if (data.empty() || data.size() % kBlock != 0) return std::nullopt;
    Bytes clear = crypto::des3_ecb_decrypt(m_keys.dek.view(), data);
    SecureBytes out(clear);
    secure_wipe(clear.data(), clear.size());
    return out;
}

}  // namespace kms::tsm::vse
