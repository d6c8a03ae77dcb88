// Helpers of the card content and purse tests: the host side of INSTALL, LOAD, DELETE, GET
// STATUS and SET STATUS (GPCS 2.2.1 §11.2-§11.10 data fields, built here byte by byte as a
// TSM would), and one host session type over SCP02 (i=55) or SCP03 (i=70) so each test runs
// with both protocols.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "crypto/gp_put_key.hpp"
#include "crypto/host_crypto.hpp"
#include "vse_test_support.hpp"

namespace kms::tsm::vse::test {

inline Bytes lv(ByteView v) {
    Bytes out{static_cast<std::uint8_t>(v.size())};
    out.insert(out.end(), v.begin(), v.end());
    return out;
}

inline Bytes cat(std::initializer_list<Bytes> parts) {
    Bytes out;
    for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
    return out;
}

/// INSTALL [for load] (§11.5.2.3.1): LF AID, SD AID (empty: the ISD), hash, no parameters, no
/// token.
inline core::CommandApdu install_for_load(const Bytes& lf, const Bytes& hash,
                                          const Bytes& sd = {}) {
    return command(0x80, 0xE6, 0x02, 0x00, cat({lv(lf), lv(sd), lv(hash), {0x00, 0x00}}), 256);
}

/// INSTALL [for install] (P1 04) or [for install and make selectable] (P1 0C).
inline core::CommandApdu install_for_install(const Bytes& lf, const Bytes& module, const Bytes& app,
                                             bool selectable, const Bytes& privileges = {0x00},
                                             const Bytes& params = {0xC9, 0x00}) {
    return command(0x80, 0xE6, selectable ? 0x0C : 0x04, 0x00,
                   cat({lv(lf), lv(module), lv(app), lv(privileges), lv(params), {0x00}}), 256);
}

inline core::CommandApdu install_make_selectable(const Bytes& app) {
    return command(0x80, 0xE6, 0x08, 0x00, cat({{0x00, 0x00}, lv(app), {0x00, 0x00, 0x00}}), 256);
}

inline core::CommandApdu install_for_personalization(const Bytes& app) {
    return command(0x80, 0xE6, 0x20, 0x00, cat({{0x00, 0x00}, lv(app), {0x00, 0x00, 0x00}}), 256);
}

/// The Load File as LOAD carries it: C4, its BER length, the Load File Data Block.
inline Bytes load_file_of(const Bytes& block) {
    Bytes out{0xC4};
    if (block.size() < 0x80) {
        out.push_back(static_cast<std::uint8_t>(block.size()));
    } else if (block.size() <= 0xFF) {
        out.insert(out.end(), {0x81, static_cast<std::uint8_t>(block.size())});
    } else {
        out.insert(out.end(), {0x82, static_cast<std::uint8_t>(block.size() >> 8),
                               static_cast<std::uint8_t>(block.size())});
    }
    out.insert(out.end(), block.begin(), block.end());
    return out;
}

/// LOAD commands (§11.6) carrying @p file in blocks of @p block_size bytes.
inline std::vector<core::CommandApdu> load_commands(const Bytes& file, std::size_t block_size) {
    std::vector<core::CommandApdu> out;
    for (std::size_t pos = 0, n = 0; pos < file.size(); pos += block_size, ++n) {
        const std::size_t len = std::min(block_size, file.size() - pos);
        const bool last = pos + len == file.size();
        out.push_back(command(0x80, 0xE8, last ? 0x80 : 0x00, static_cast<std::uint8_t>(n),
                              Bytes(file.begin() + pos, file.begin() + pos + len), 256));
    }
    return out;
}

inline core::CommandApdu delete_command(const Bytes& aid, bool related) {
    return command(0x80, 0xE4, 0x00, related ? 0x80 : 0x00, cat({{0x4F}, lv(aid)}), 256);
}

inline core::CommandApdu get_status(std::uint8_t p1, std::uint8_t p2, const Bytes& prefix = {}) {
    return command(0x80, 0xF2, p1, p2, cat({{0x4F}, lv(prefix)}), 256);
}

inline Bytes u32(std::uint32_t v) {
    return {static_cast<std::uint8_t>(v >> 24), static_cast<std::uint8_t>(v >> 16),
            static_cast<std::uint8_t>(v >> 8), static_cast<std::uint8_t>(v)};
}

inline Bytes u16(std::uint16_t v) {
    return {static_cast<std::uint8_t>(v >> 8), static_cast<std::uint8_t>(v)};
}

/// CREDIT (80 52) with its MAC: retail MAC over instance AID || amount || counter.
inline core::CommandApdu credit_command(const Bytes& credit_key, std::uint32_t amount,
                                        std::uint16_t counter) {
    const Bytes body = cat({u32(amount), u16(counter)});
    const Bytes mac = crypto::retail_mac(credit_key, cat({kPurseInstanceAid, body}));
    return command(0x80, 0x52, 0x00, 0x00, cat({body, mac}));
}

/// An authenticated host session over the card's protocol.
struct HostSession {
    /// Wraps a plain command (CLA 80), sends it, unwraps the answer.
    std::function<core::ResponseApdu(const core::CommandApdu&)> send;
    /// Whole blocks of a key or of sensitive data as PUT KEY and STORE DATA send them: SCP02
    /// TDEA-ECB under the session DEK, SCP03 AES-CBC (zero ICV) under the static DEK.
    std::function<Bytes(const Bytes&)> encrypt_key;
};

/// The two protocols the purse is tested with.
struct Protocol {
    Scp scp;
    std::uint8_t i;
    std::string name;
};

inline HostSession open_session(VirtualSe& card, const Protocol& p, const TestKeys& keys,
                                std::uint8_t level = 0x01) {
    if (p.scp == Scp::Scp02) {
        std::shared_ptr<crypto::Scp02Wrapper> w = open_scp02(card, keys, 0x00, p.i, level);
        if (!w) return {};
        return HostSession{
            [&card, w](const core::CommandApdu& c) { return transmit02(card, *w, c); },
            [w](const Bytes& key) {
                return crypto::des3_ecb_encrypt(w->session_dek().view(), key);
            }};
    }
    std::shared_ptr<crypto::scp03::Wrapper> w = open_scp03(card, keys, 0x00, level);
    if (!w) return {};
    const Bytes dek = keys.dek;
    return HostSession{
        [&card, w](const core::CommandApdu& c) { return transmit(card, *w, c); },
        [dek](const Bytes& key) { return crypto::aes_cbc_encrypt(dek, Bytes(16, 0), key); }};
}

/// PUT KEY of the purse's credit key as the new one-key key set 70.
inline core::CommandApdu put_credit_key(const HostSession& s, const Bytes& credit_key) {
    const crypto::gp::PutKeyComponent k{crypto::gp::KeyType::Des, 16, s.encrypt_key(credit_key),
                                        crypto::kcv_des3(credit_key)};
    return crypto::gp::put_key_command(0x00, 0x01, 0x70, std::span(&k, 1));
}

}  // namespace kms::tsm::vse::test
