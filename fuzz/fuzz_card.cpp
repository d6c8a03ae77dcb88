// libFuzzer target: the virtual secure element's card side (tsm-services/virtual-se) and the
// host side's secure channel wrappers (kms-core/crypto gp_scp02 / gp_scp03). The first byte picks
// a mode; the rest is a list of APDUs, each with a 1-byte length:
//   0: raw command APDUs to an unauthenticated card (SELECT, GET DATA, INITIALIZE UPDATE, ...);
//   1: an SCP03 session opened through the host code at a level the second byte picks, then
//      each APDU parsed, wrapped by the host, processed by the card and its answer unwrapped by
//      the host: the card-content commands (INSTALL, LOAD with BER-TLV lengths, DELETE, GET
//      STATUS, STORE DATA, PUT KEY) are reached with valid MACs;
//   2: the same over SCP02;
//   3: an SCP03 session at level 33, each chunk given to the host's unwrap as a card response.
// Properties: process() never throws and always answers at least SW1 SW2; a card that took any
// sequence of commands saves a state that restores.
#include <cstddef>
#include <cstdint>
#include <memory>

#include "crypto/gp_scp02.hpp"
#include "crypto/gp_scp03.hpp"
#include "domain/apdu.hpp"
#include "fuzz_check.hpp"
#include "virtual_se.hpp"

using namespace kms;
using kms::fuzz::check;
using kms::tsm::vse::Scp;
using kms::tsm::vse::VirtualSe;

namespace {

Bytes pattern(std::size_t n, std::uint8_t first) {
    Bytes b(n);
    for (std::size_t k = 0; k < n; ++k) b[k] = static_cast<std::uint8_t>(first + k);
    return b;
}

const Bytes kEnc = pattern(16, 0x40), kMac = pattern(16, 0x50), kDek = pattern(16, 0x60);

VirtualSe make_card(Scp scp) {
    tsm::vse::VirtualSeConfig c;
    c.scp = scp;
    c.i = scp == Scp::Scp03 ? 0x70 : 0x75;  // SCP02 i = 75: R-MAC supported
    c.key_version = 0x30;
    c.enc = SecureBytes(ByteView(kEnc));
    c.mac = SecureBytes(ByteView(kMac));
    c.dek = SecureBytes(ByteView(kDek));
    c.kdd = pattern(10, 0x01);
    c.cplc = pattern(42, 0x90);
    c.sequence_counter = 0x2A;
    c.card_challenge = pattern(scp == Scp::Scp03 ? 8 : 6, 0x11);  // deterministic runs
    return VirtualSe(std::move(c));
}

Bytes process(VirtualSe& card, ByteView command) {
    Bytes r;
    try {
        r = card.process(command);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "VirtualSe::process threw: %s\n", e.what());
        std::abort();
    }
    check(r.size() >= 2, "card answered less than SW1 SW2");
    return r;
}

std::unique_ptr<crypto::scp03::Wrapper> open_scp03(VirtualSe& card, std::uint8_t level) {
    namespace s3 = crypto::scp03;
    const Bytes host_challenge = pattern(8, 0xA0);
    const auto iu = core::parse_response_apdu(process(
        card, core::encode_command_apdu(s3::initialize_update_command(0x30, host_challenge))));
    check(iu.sw == 0x9000, "SCP03 INITIALIZE UPDATE refused");
    const auto r = s3::parse_initialize_update_response(iu.data);
    auto keys = s3::derive_session_keys(kEnc, kMac, host_challenge, r.card_challenge);
    const Bytes hc = s3::host_cryptogram(keys.s_mac.view(), host_challenge, r.card_challenge);
    auto w = std::make_unique<s3::Wrapper>(std::move(keys), r.i);
    const auto ea = core::parse_response_apdu(
        process(card, core::encode_command_apdu(w->external_authenticate(hc, level))));
    check(ea.sw == 0x9000, "SCP03 EXTERNAL AUTHENTICATE refused");
    return w;
}

std::unique_ptr<crypto::Scp02Wrapper> open_scp02(VirtualSe& card, std::uint8_t level) {
    const Bytes host_challenge = pattern(8, 0xB0);
    core::CommandApdu iu_cmd;
    iu_cmd.cla = 0x80;
    iu_cmd.ins = 0x50;
    iu_cmd.p1 = 0x30;
    iu_cmd.data = host_challenge;
    iu_cmd.le = 256;
    const auto iu = core::parse_response_apdu(process(card, core::encode_command_apdu(iu_cmd)));
    check(iu.sw == 0x9000, "SCP02 INITIALIZE UPDATE refused");
    const auto r = crypto::parse_scp02_initialize_update_response(iu.data);
    auto keys = crypto::scp02_session_keys(kEnc, kMac, kDek, r.seq);
    const Bytes hc =
        crypto::scp02_host_cryptogram(keys.enc.view(), r.seq, r.card_challenge, host_challenge);
    auto w = std::make_unique<crypto::Scp02Wrapper>(std::move(keys), 0x75, level);
    const auto ea = core::parse_response_apdu(process(card, w->external_authenticate(hc)));
    check(ea.sw == 0x9000, "SCP02 EXTERNAL AUTHENTICATE refused");
    return w;
}

void check_state_restores(const VirtualSe& card) {
    try {
        VirtualSe restored(card.state());
        check(restored.state().applications.size() == card.state().applications.size(),
              "restored card has other applications");
    } catch (const std::exception& e) {
        std::fprintf(stderr, "a card's own state does not restore: %s\n", e.what());
        std::abort();
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    fuzz::Reader in(data, size);
    const std::uint8_t mode = in.byte() % 4;
    const std::uint8_t level_pick = in.byte();

    if (mode == 0) {
        VirtualSe card = make_card(level_pick & 1 ? Scp::Scp02 : Scp::Scp03);
        while (!in.empty()) {
            const auto apdu = in.chunk();
            process(card, ByteView(apdu.data(), apdu.size()));
        }
        check_state_restores(card);
        return 0;
    }

    if (mode == 1 || mode == 3) {
        // SCP03 levels the card's i = 70 allows (Amd D §5.1, Table 5-1).
        static constexpr std::uint8_t kLevels[] = {0x00, 0x01, 0x03, 0x11, 0x13, 0x33};
        VirtualSe card = make_card(Scp::Scp03);
        auto w = open_scp03(card, mode == 3 ? 0x33 : kLevels[level_pick % 6]);
        while (!in.empty()) {
            const auto chunk = in.chunk();
            const ByteView bytes(chunk.data(), chunk.size());
            fuzz::refusing_only_with_error("scp03 session", [&] {
                if (mode == 3) {
                    // The host has sent a command; the "card" answers with fuzzed bytes.
                    w->wrap(core::parse_command_apdu(Bytes{0x80, 0xCA, 0x00, 0x66, 0x00}));
                    w->unwrap(core::parse_response_apdu(bytes));
                    return;
                }
                const auto wrapped = w->wrap(core::parse_command_apdu(bytes));
                const Bytes raw = process(card, core::encode_command_apdu(wrapped));
                w->unwrap(core::parse_response_apdu(raw));
            });
        }
        check_state_restores(card);
        return 0;
    }

    // SCP02 levels for i = 75: C-MAC, C-MAC + C-DEC, each with or without R-MAC.
    static constexpr std::uint8_t kLevels02[] = {0x01, 0x03, 0x11, 0x13};
    VirtualSe card = make_card(Scp::Scp02);
    auto w = open_scp02(card, kLevels02[level_pick % 4]);
    while (!in.empty()) {
        const auto chunk = in.chunk();
        const ByteView bytes(chunk.data(), chunk.size());
        fuzz::refusing_only_with_error("scp02 session", [&] {
            const Bytes raw = process(card, w->wrap(core::parse_command_apdu(bytes)));
            w->unwrap(raw);
        });
    }
    check_state_restores(card);
    return 0;
}
