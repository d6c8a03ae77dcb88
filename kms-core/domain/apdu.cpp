// ISO/IEC 7816-4 §5.1 command/response APDU codec: the four cases, short and extended length.
#include "apdu.hpp"

#include <string>

#include "error.hpp"

namespace kms::core {
namespace {

[[noreturn]] void malformed(const std::string& what) {
    throw Error(ErrorCode::InvalidArgument, "command APDU: " + what);
}

std::uint32_t short_le(std::uint8_t b) {
    return b == 0 ? 256u : b;
}
std::uint32_t extended_le(std::uint8_t hi, std::uint8_t lo) {
    const std::uint32_t v = (std::uint32_t{hi} << 8) | lo;
    return v == 0 ? 65536u : v;
}

}  // namespace

CommandApdu parse_command_apdu(ByteView apdu) {
    if (apdu.size() < 4) malformed("shorter than the 4-byte header");
    CommandApdu c;
    c.cla = apdu[0];
    c.ins = apdu[1];
    c.p1 = apdu[2];
    c.p2 = apdu[3];
    const ByteView body = apdu.subspan(4);
    const std::size_t n = body.size();
    if (n == 0) return c;  // case 1
    if (n == 1) {          // case 2 short
        c.le = short_le(body[0]);
        return c;
    }
    if (body[0] != 0) {  // short Lc (1..255): case 3 or 4 short
        const std::size_t lc = body[0];
        if (n == 1 + lc) {
            c.data.assign(body.begin() + 1, body.end());
            return c;
        }
        if (n == 2 + lc) {
            c.data.assign(body.begin() + 1, body.begin() + 1 + static_cast<std::ptrdiff_t>(lc));
            c.le = short_le(body[1 + lc]);
            return c;
        }
        malformed("Lc " + std::to_string(lc) + " does not match the " + std::to_string(n - 1) +
                  " bytes that follow it");
    }
    // body[0] == 00 and more than one byte: extended length (ISO 7816-4 §5.1).
    c.extended = true;
    if (n == 3) {  // case 2 extended: 00 Le1 Le2
        c.le = extended_le(body[1], body[2]);
        return c;
    }
    if (n < 3) malformed("extended length field is truncated");
    const std::size_t lc = (std::size_t{body[1]} << 8) | body[2];
    if (lc == 0) malformed("extended Lc is 0000");
    if (n == 3 + lc) {
        c.data.assign(body.begin() + 3, body.end());
        return c;
    }
    if (n == 5 + lc) {
        c.data.assign(body.begin() + 3, body.begin() + 3 + static_cast<std::ptrdiff_t>(lc));
        c.le = extended_le(body[3 + lc], body[4 + lc]);
        return c;
    }
    malformed("extended Lc " + std::to_string(lc) + " does not match the " + std::to_string(n - 3) +
              " bytes that follow it");
}

Bytes encode_command_apdu(const CommandApdu& c) {
    if (c.data.size() > 65535) {
        throw Error(ErrorCode::InvalidArgument, "command APDU: data longer than 65535 bytes");
    }
    if (c.le && (*c.le == 0 || *c.le > 65536)) {
        throw Error(ErrorCode::InvalidArgument, "command APDU: Le must be 1..65536");
    }
    const bool ext = c.extended || c.data.size() > 255 || (c.le && *c.le > 256);
    Bytes out{c.cla, c.ins, c.p1, c.p2};
    out.reserve(4 + 3 + c.data.size() + 3);
    if (!c.data.empty()) {
        if (ext) {
            out.push_back(0);
            out.push_back(static_cast<std::uint8_t>(c.data.size() >> 8));
            out.push_back(static_cast<std::uint8_t>(c.data.size()));
        } else {
            out.push_back(static_cast<std::uint8_t>(c.data.size()));
        }
        out.insert(out.end(), c.data.begin(), c.data.end());
    }
    if (c.le) {
        const std::uint32_t le = *c.le;
        if (ext) {
            // Case 2 extended has the 00 marker before Le; case 4 extended shares Lc's marker.
            if (c.data.empty()) out.push_back(0);
            out.push_back(static_cast<std::uint8_t>((le == 65536 ? 0 : le) >> 8));
            out.push_back(static_cast<std::uint8_t>(le == 65536 ? 0 : le));
        } else {
            out.push_back(static_cast<std::uint8_t>(le == 256 ? 0 : le));
        }
    }
    return out;
}

ResponseApdu parse_response_apdu(ByteView response) {
    if (response.size() < 2) {
        throw Error(ErrorCode::InvalidArgument, "response APDU: shorter than SW1 SW2");
    }
    ResponseApdu r;
    r.data.assign(response.begin(), response.end() - 2);
    r.sw = static_cast<std::uint16_t>((response[response.size() - 2] << 8) |
                                      response[response.size() - 1]);
    return r;
}

Bytes encode_response_apdu(const ResponseApdu& r) {
    Bytes out(r.data);
    out.push_back(static_cast<std::uint8_t>(r.sw >> 8));
    out.push_back(static_cast<std::uint8_t>(r.sw));
    return out;
}

}  // namespace kms::core
