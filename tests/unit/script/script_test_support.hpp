// Test support for the service script engine: the documents on disk, a scripted fake transit
// purse (the card side of docs/service-scripts.md's example) and a fake KMS MAC.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "domain/apdu.hpp"
#include "domain/bytes.hpp"
#include "domain/error.hpp"
#include "script_json.hpp"
#include "script_run.hpp"

namespace kms::test {

namespace sc = kms::tsm::script;

/// The text of $@p env_var/@p name; throws when the variable is unset or the file unreadable.
inline std::string read_text(const char* env_var, const std::string& name) {
    const char* dir = std::getenv(env_var);
    if (!dir) throw std::runtime_error(std::string(env_var) + " is not set");
    std::ifstream in(std::string(dir) + "/" + name, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read " + std::string(dir) + "/" + name);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

inline std::string top_up_text() {
    return read_text("KMS_SCRIPT_TEST_DIR", "transit-top-up.json");
}

inline std::shared_ptr<const sc::Script> top_up_script() {
    return std::make_shared<const sc::Script>(sc::load_script_json(top_up_text()));
}

/// The fake KMS "MAC": 8 bytes that depend on every input byte, so a wrong input is visible.
inline Bytes fake_mac(ByteView input) {
    Bytes mac(8);
    for (std::size_t i = 0; i < 8; ++i) mac[i] = static_cast<std::uint8_t>(0xA5 + 17 * i);
    for (std::size_t i = 0; i < input.size(); ++i)
        mac[i % 8] = static_cast<std::uint8_t>((mac[i % 8] * 31) ^ input[i]);
    return mac;
}

/// A scripted transit purse: SELECT → 9000 (6A82 for another AID), READ BALANCE (80 5C) →
/// balance(4) || counter(2) || 9000, CREDIT (80 52, data amount(4) || counter(2) || MAC(8)) →
/// 9000 and the balance grows, or 6985 when refusing or when counter or MAC are wrong.
struct FakePurse {
    Bytes aid = from_hex("A0000005591010FFFF");
    std::uint32_t balance = 1000;
    std::uint16_t counter = 7;
    bool refuse_credit = false;
    bool short_balance = false;  ///< answer READ BALANCE with 3 bytes only
    std::uint16_t select_sw = 0x9000;
    int credits = 0;
    std::vector<Bytes> received;

    Bytes respond(ByteView apdu) {
        received.emplace_back(apdu.begin(), apdu.end());
        const core::CommandApdu c = core::parse_command_apdu(apdu);
        core::ResponseApdu r;
        r.sw = 0x6D00;
        if (c.cla == 0x00 && c.ins == 0xA4) {
            r.sw = c.data == aid ? select_sw : 0x6A82;
        } else if (c.cla == 0x80 && c.ins == 0x5C) {
            put_u32(r.data, balance);
            r.data.push_back(static_cast<std::uint8_t>(counter >> 8));
            r.data.push_back(static_cast<std::uint8_t>(counter));
            if (short_balance) r.data.resize(3);
            r.sw = 0x9000;
        } else if (c.cla == 0x80 && c.ins == 0x52) {
            r.sw = 0x6985;
            if (!refuse_credit && c.data.size() == 14) {
                const std::uint32_t amount =
                    static_cast<std::uint32_t>(sc::value_number(ByteView(c.data).first(4)));
                const auto ctr =
                    static_cast<std::uint16_t>(sc::value_number(ByteView(c.data).subspan(4, 2)));
                Bytes mac_input = aid;
                mac_input.insert(mac_input.end(), c.data.begin(), c.data.begin() + 6);
                if (ctr == counter &&
                    Bytes(c.data.begin() + 6, c.data.end()) == fake_mac(mac_input)) {
                    balance += amount;
                    ++counter;
                    ++credits;
                    r.sw = 0x9000;
                }
            }
        }
        return core::encode_response_apdu(r);
    }
};

/// What a drive saw, besides the card's own record.
struct Trace {
    std::vector<sc::Action> actions;
    std::vector<Bytes> kms_inputs;
};

/// Plays the host: answers every action until Done (at most @p max_actions), with the channel
/// opening when @p channel_opens. Returns the final Done.
inline sc::Done drive(sc::ScriptRun& run, FakePurse& card, Trace* trace = nullptr,
                      bool channel_opens = true, int max_actions = 100) {
    for (int i = 0; i < max_actions; ++i) {
        const sc::Action a = run.next();
        if (trace) trace->actions.push_back(a);
        if (const auto* d = std::get_if<sc::Done>(&a.what)) return *d;
        if (const auto* send = std::get_if<sc::SendApdu>(&a.what)) {
            run.feed_response(a.seq, card.respond(send->apdu));
        } else if (const auto* k = std::get_if<sc::KmsRequest>(&a.what)) {
            if (trace) trace->kms_inputs.push_back(k->input);
            run.feed_kms_result(a.seq, fake_mac(k->input));
        } else {
            run.feed_channel_result(a.seq, channel_opens);
        }
    }
    ADD_FAILURE() << "the run did not end within " << max_actions << " actions";
    return {};
}

inline std::map<std::string, std::string, std::less<>> top_up_inputs(
    const FakePurse& card, std::uint32_t amount = 500, std::uint32_t ceiling = 10000) {
    return {{"purseAid", to_hex(card.aid)},
            {"amount", std::to_string(amount)},
            {"balanceCeiling", std::to_string(ceiling)}};
}

/// The message of the kms::Error that @p f throws, with its code; a failure if none.
template <typename F>
std::pair<ErrorCode, std::string> error_of(F&& f) {
    try {
        f();
    } catch (const Error& e) {
        return {e.code(), e.what()};
    }
    ADD_FAILURE() << "expected a kms::Error";
    return {ErrorCode::Internal, ""};
}

}  // namespace kms::test
