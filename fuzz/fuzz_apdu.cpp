// libFuzzer target: ISO/IEC 7816-4 command and response APDU codecs (kms-core/domain/apdu) and
// the host side's parsers of the card's INITIALIZE UPDATE answers (kms-core/crypto gp_scp02 /
// gp_scp03), with the round trips encode(parse(x)) == x where the encoding is canonical.
#include <cstddef>
#include <cstdint>

#include "crypto/gp_scp02.hpp"
#include "crypto/gp_scp03.hpp"
#include "domain/apdu.hpp"
#include "fuzz_check.hpp"

using namespace kms;
using kms::fuzz::check;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const ByteView in(data, size);

    fuzz::refusing_only_with_error("parse_command_apdu", [&] {
        const core::CommandApdu c = core::parse_command_apdu(in);
        check(c.data.size() <= 65535, "command data longer than 65535");
        check(!c.le || (*c.le >= 1 && *c.le <= 65536), "Le out of 1..65536");
        // Every parsed APDU encodes again and parses back to the same fields.
        const Bytes again = core::encode_command_apdu(c);
        const core::CommandApdu c2 = core::parse_command_apdu(again);
        check(c2.cla == c.cla && c2.ins == c.ins && c2.p1 == c.p1 && c2.p2 == c.p2 &&
                  c2.data == c.data && c2.le == c.le,
              "parse(encode(parse(x))) != parse(x)");
        // An APDU that needs extended length only when it says so encodes to the same bytes.
        if (c.extended == c2.extended)
            check(again == Bytes(in.begin(), in.end()), "encode(parse(x)) != x");
    });

    fuzz::refusing_only_with_error("parse_response_apdu", [&] {
        const core::ResponseApdu r = core::parse_response_apdu(in);
        check(core::encode_response_apdu(r) == Bytes(in.begin(), in.end()),
              "encode(parse(response)) != response");
    });

    fuzz::refusing_only_with_error("scp03 initialize update", [&] {
        const auto r = crypto::scp03::parse_initialize_update_response(in);
        check(r.key_diversification_data.size() == 10 && r.card_challenge.size() == 8 &&
                  r.card_cryptogram.size() == 8,
              "scp03 INITIALIZE UPDATE fields of the wrong length");
        // Amd D Table 7-3: the counter is there with a pseudo-random challenge (i bit 0x10). The
        // parser also keeps one a card sends without that bit (a 32-byte answer), which
        // gp_sessions then ignores: lenient, not wrong.
        if (r.i & 0x10) check(r.sequence_counter.has_value(), "scp03 i=1x without the counter");
    });

    fuzz::refusing_only_with_error("scp02 initialize update", [&] {
        const auto r = crypto::parse_scp02_initialize_update_response(in);
        check(r.kdd.size() == 10 && r.seq.size() == 2 && r.card_challenge.size() == 6 &&
                  r.card_cryptogram.size() == 8,
              "scp02 INITIALIZE UPDATE fields of the wrong length");
    });
    return 0;
}
