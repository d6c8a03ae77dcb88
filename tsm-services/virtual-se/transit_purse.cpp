// The demo transit purse (see transit_purse.hpp).
#include "transit_purse.hpp"

#include <algorithm>

#include "crypto/host_crypto.hpp"
#include "status_words.hpp"

namespace kms::tsm::vse {

using core::CommandApdu;
using core::ResponseApdu;

namespace {

constexpr std::uint8_t kInsReadBalance = 0x5C;
constexpr std::uint8_t kInsCredit = 0x52;
constexpr std::uint8_t kInsDebit = 0x54;
constexpr std::uint16_t kNotEnoughMemory = 0x6A84;

ResponseApdu status(std::uint16_t s) {
    return ResponseApdu{{}, s};
}

std::uint32_t u32_at(ByteView d, std::size_t pos) {
    return static_cast<std::uint32_t>(d[pos]) << 24 | static_cast<std::uint32_t>(d[pos + 1]) << 16 |
           static_cast<std::uint32_t>(d[pos + 2]) << 8 | d[pos + 3];
}

}  // namespace

ResponseApdu transit_purse_process(PurseState& purse, const CommandApdu& c,
                                   const PurseCommandContext& ctx) {
    if ((c.cla & ~0x04) != 0x80) return status(sw::kClaNotSupported);
    if (c.ins != kInsReadBalance && c.ins != kInsCredit && c.ins != kInsDebit)
        return status(sw::kInsNotSupported);
    if (c.p1 != 0x00 || c.p2 != 0x00) return status(sw::kIncorrectP1P2);
    if (!purse.personalized) return status(sw::kConditionsNotSatisfied);
    const ByteView d(c.data);

    if (c.ins == kInsDebit) {
        if (d.size() != 4) return status(sw::kWrongLength);
        const std::uint32_t amount = u32_at(d, 0);
        if (amount > purse.balance) return status(kNotEnoughMemory);
        purse.balance -= amount;
        return status(sw::kOk);
    }
    if (!ctx.c_mac_verified) return status(sw::kSecurityStatusNotSatisfied);
    if (c.ins == kInsReadBalance) {
        if (!d.empty()) return status(sw::kWrongLength);
        return ResponseApdu{{static_cast<std::uint8_t>(purse.balance >> 24),
                             static_cast<std::uint8_t>(purse.balance >> 16),
                             static_cast<std::uint8_t>(purse.balance >> 8),
                             static_cast<std::uint8_t>(purse.balance),
                             static_cast<std::uint8_t>(purse.counter >> 8),
                             static_cast<std::uint8_t>(purse.counter)},
                            sw::kOk};
    }
    // CREDIT: amount(4) || counter(2) || MAC(8).
    if (d.size() != 14) return status(sw::kWrongLength);
    if (ctx.credit_key.size() != 16) return status(sw::kConditionsNotSatisfied);
    Bytes input(ctx.instance_aid.begin(), ctx.instance_aid.end());
    input.insert(input.end(), d.begin(), d.begin() + 6);
    const Bytes expected = crypto::retail_mac(ctx.credit_key, input);
    const std::uint16_t counter = static_cast<std::uint16_t>(d[4] << 8 | d[5]);
    const bool mac_ok = equal_ct(expected, d.subspan(6, 8));
    if (!mac_ok || counter != purse.counter || purse.counter == 0xFFFF)
        return status(sw::kConditionsNotSatisfied);
    const std::uint32_t amount = u32_at(d, 0);
    if (amount > 0xFFFFFFFFu - purse.balance) return status(kNotEnoughMemory);
    purse.balance += amount;
    ++purse.counter;
    return status(sw::kOk);
}

ResponseApdu transit_purse_store_data(PurseState& purse, ByteView d) {
    if (purse.personalized) return status(sw::kConditionsNotSatisfied);
    std::optional<std::uint32_t> balance;
    std::size_t pos = 0;
    while (pos < d.size()) {
        // GPCS 2.2.1 §11.11.2 / EMV CPS: DGI tag (2 bytes), length 1 byte or FF + 2 bytes.
        if (d.size() - pos < 3) return status(sw::kWrongData);
        const std::uint16_t dgi = static_cast<std::uint16_t>(d[pos] << 8 | d[pos + 1]);
        pos += 2;
        std::size_t len = d[pos++];
        if (len == 0xFF) {
            if (d.size() - pos < 2) return status(sw::kWrongData);
            len = static_cast<std::size_t>(d[pos] << 8 | d[pos + 1]);
            pos += 2;
        }
        if (d.size() - pos < len) return status(sw::kWrongData);
        if (dgi != 0x0101 || len != 4) return status(sw::kWrongData);
        balance = u32_at(d, pos);
        pos += len;
    }
    if (!balance) return status(sw::kWrongData);
    purse.balance = *balance;
    purse.counter = 0;
    purse.personalized = true;
    return status(sw::kOk);
}

}  // namespace kms::tsm::vse
