// TR-31 / ANSI X9.143 header codec and the usage mapping of this KMS (see tr31.hpp).
//
// Usage mapping (ASC X9 TR-31:2018 Table 2 key usages, Table 4 modes of use; ANSI X9.143-2022
// adds "B3", key derivation key, not for ANSI X9.24 DUKPT; IBM CCA "TR-31 key block header"
// lists the same values):
//   kms usage        TR-31 usage  algorithm        mode of use
//   wrap + unwrap    K0           A / T            B (wrap only: E, unwrap only: D)
//   encrypt/decrypt  D0           A / T            B (encrypt only: E, decrypt only: D)
//   mac (+ verify)   M6 (AES)     A                C (verify only: V)  ISO 9797-1:2011 alg 5
//                    M3 (DES3)    T                C                   ISO 9797-1 alg 3
//                    M7 (HMAC)    H                C                   HMAC
//   derive           B3           A / T            X
// On import, mode 'N' (no special restrictions beyond the key usage) allows every usage of
// the row.
// A TR-31 block carries one key usage, so a key whose usages span two rows (e.g. encrypt +
// wrap) has no TR-31 form: Unsupported. AES and HMAC keys are exported in version D blocks
// only (a TDES KBPK of version B is weaker than an AES key).
#include "tr31.hpp"

#include <cctype>

#include "error.hpp"

namespace kms::core {

namespace {

constexpr std::size_t kFixedHeader = 16;
constexpr std::size_t kMaxBlockLength = 9999;

[[noreturn]] void bad(const std::string& message) {
    throw Error(ErrorCode::InvalidArgument, "TR-31 " + message);
}

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}
bool is_alnum(char c) {
    return is_digit(c) || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}
bool is_printable(char c) {
    return c >= 0x20 && c <= 0x7E;
}
bool is_hex(char c) {
    return is_digit(c) || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f');
}

std::size_t parse_decimal(std::string_view text, std::string_view field) {
    std::size_t v = 0;
    for (char c : text) {
        if (!is_digit(c)) bad(std::string(field) + " must be decimal digits");
        v = v * 10 + static_cast<std::size_t>(c - '0');
    }
    return v;
}

std::size_t parse_hex_number(std::string_view text, std::string_view field) {
    std::size_t v = 0;
    for (char c : text) {
        if (!is_hex(c)) bad(std::string(field) + " must be hex digits");
        const int d = is_digit(c) ? c - '0' : (std::toupper(static_cast<unsigned char>(c)) - 'A' + 10);
        v = v * 16 + static_cast<std::size_t>(d);
    }
    return v;
}

std::string fixed_digits(std::size_t v, std::size_t width) {
    std::string s = std::to_string(v);
    if (s.size() < width) s.insert(0, width - s.size(), '0');
    return s;
}

std::string hex_digits(std::size_t v, std::size_t width) {
    static const char* digits = "0123456789ABCDEF";
    std::string s(width, '0');
    for (std::size_t i = width; i-- > 0;) {
        s[i] = digits[v & 0xF];
        v >>= 4;
    }
    return s;
}

bool known_version(char v) {
    return v == 'B' || v == 'D';
}
bool known_algorithm(char a) {
    return std::string_view("ADEHRST").find(a) != std::string_view::npos;
}
bool known_mode(char m) {
    return std::string_view("BCDEGNSTVXY").find(m) != std::string_view::npos;
}
bool known_exportability(char e) {
    return e == 'E' || e == 'N' || e == 'S';
}

void check_fields(const Tr31Header& h) {
    if (!known_version(h.version))
        bad("key block version '" + std::string(1, h.version) + "' is not supported (B or D)");
    if (h.usage.size() != 2 || !is_alnum(h.usage[0]) || !is_alnum(h.usage[1]))
        bad("key usage must be 2 alphanumeric characters");
    if (!known_algorithm(h.algorithm)) bad("algorithm field is invalid");
    if (!known_mode(h.mode_of_use)) bad("mode of use field is invalid");
    if (h.key_version.size() != 2 || !is_alnum(h.key_version[0]) || !is_alnum(h.key_version[1]))
        bad("key version number must be 2 alphanumeric characters");
    if (!known_exportability(h.exportability)) bad("exportability field is invalid (E, N or S)");
    if (h.optional_blocks.size() > 99) bad("more than 99 optional blocks");
    for (const auto& b : h.optional_blocks) {
        if (b.id.size() != 2 || !is_alnum(b.id[0]) || !is_alnum(b.id[1]))
            bad("optional block id must be 2 alphanumeric characters");
        for (char c : b.data)
            if (!is_printable(c)) bad("optional block " + b.id + " data must be printable ASCII");
    }
}

enum class UsageClass { None, Kek, Data, Mac, Derive, Other };

UsageClass classify(UsageMask usage) {
    UsageClass cls = UsageClass::None;
    auto join = [&](UsageClass c) {
        if (cls != UsageClass::None && cls != c) cls = UsageClass::Other;
        else if (cls != UsageClass::Other) cls = c;
    };
    for (Usage u : all_usages()) {
        if (!usage.has(u)) continue;
        switch (u) {
            case Usage::Wrap:
            case Usage::Unwrap:
                join(UsageClass::Kek);
                break;
            case Usage::Encrypt:
            case Usage::Decrypt:
                join(UsageClass::Data);
                break;
            case Usage::Mac:
            case Usage::Verify:
                join(UsageClass::Mac);
                break;
            case Usage::Derive:
                join(UsageClass::Derive);
                break;
            default:
                cls = UsageClass::Other;
                break;
        }
    }
    return cls;
}

char algorithm_char(Algorithm a) {
    switch (info(a).family) {
        case KeyFamily::Aes:
            return 'A';
        case KeyFamily::Des3:
            return 'T';
        case KeyFamily::Hmac:
            return 'H';
        default:
            return 0;
    }
}

/// 'B' with both, @p one alone, @p other alone.
char pair_mode(bool first, bool second, char first_only, char second_only) {
    if (first && second) return 'B';
    return first ? first_only : second_only;
}

}  // namespace

std::pair<Tr31Header, std::size_t> parse_tr31_header(std::string_view block) {
    if (block.size() < kFixedHeader) bad("key block is shorter than its 16-character header");
    for (char c : block.substr(0, kFixedHeader))
        if (!is_printable(c)) bad("header must be printable ASCII");
    Tr31Header h;
    h.version = block[0];
    if (!known_version(h.version))
        bad("key block version '" + std::string(1, h.version) + "' is not supported (B or D)");
    h.block_length = parse_decimal(block.substr(1, 4), "key block length");
    if (h.block_length != block.size())
        bad("key block length field (" + std::to_string(h.block_length) +
            ") does not match the block's length (" + std::to_string(block.size()) + ")");
    h.usage = std::string(block.substr(5, 2));
    h.algorithm = block[7];
    h.mode_of_use = block[8];
    h.key_version = std::string(block.substr(9, 2));
    h.exportability = block[11];
    const std::size_t count = parse_decimal(block.substr(12, 2), "number of optional blocks");
    if (block.substr(14, 2) != "00") bad("reserved field must be \"00\"");

    std::size_t pos = kFixedHeader;
    for (std::size_t i = 0; i < count; ++i) {
        const auto need = [&](std::size_t n, const char* what) {
            if (block.size() - pos < n) bad(std::string("optional block ") + what + " is truncated");
        };
        need(4, "header");
        Tr31OptionalBlock ob;
        ob.id = std::string(block.substr(pos, 2));
        const std::size_t start = pos;
        std::size_t length = parse_hex_number(block.substr(pos + 2, 2), "optional block length");
        pos += 4;
        std::size_t overhead = 4;
        if (length == 0) {
            // Extended length (X9.143 §6.3.6): 2 hex digits give the length of the length in
            // bytes (2 hex digits each); the length covers the whole optional block.
            need(2, "length of length");
            const std::size_t ll =
                parse_hex_number(block.substr(pos, 2), "optional block length of length");
            if (ll == 0 || ll > 4) bad("optional block length of length must be 1 to 4");
            pos += 2;
            need(2 * ll, "extended length");
            length = parse_hex_number(block.substr(pos, 2 * ll), "optional block length");
            pos += 2 * ll;
            overhead = 6 + 2 * ll;
        }
        if (length < overhead) bad("optional block " + ob.id + " length is too small");
        const std::size_t data_length = length - overhead;
        if (block.size() - pos < data_length) bad("optional block " + ob.id + " is truncated");
        ob.data = std::string(block.substr(pos, data_length));
        pos = start + length;
        h.optional_blocks.push_back(std::move(ob));
    }
    check_fields(h);
    return {std::move(h), pos};
}

std::string format_tr31_header(const Tr31Header& h, std::size_t total_length) {
    check_fields(h);
    if (total_length > kMaxBlockLength) bad("key block is longer than 9999 characters");
    std::string out;
    out += h.version;
    out += fixed_digits(total_length, 4);
    out += h.usage;
    out += h.algorithm;
    out += h.mode_of_use;
    out += h.key_version;
    out += h.exportability;
    out += fixed_digits(h.optional_blocks.size(), 2);
    out += "00";
    for (const auto& b : h.optional_blocks) {
        out += b.id;
        if (b.data.size() + 4 <= 0xFF) {
            out += hex_digits(b.data.size() + 4, 2);
        } else {
            // Extended length: "00", "02" (a 2-byte length), four hex digits of the whole
            // optional block's length.
            const std::size_t length = b.data.size() + 10;
            if (length > 0xFFFF) bad("optional block " + b.id + " is too long");
            out += "0002" + hex_digits(length, 4);
        }
        out += b.data;
    }
    if (out.size() > total_length) bad("key block length is shorter than its header");
    return out;
}

Tr31Header tr31_header_for(char version, Algorithm algorithm, UsageMask usage, bool exportable) {
    if (version != 'B' && version != 'D') bad("version must be B or D");
    const char alg = algorithm_char(algorithm);
    const std::string name(info(algorithm).name);
    if (alg == 0)
        throw Error(ErrorCode::Unsupported, "TR-31 export takes symmetric keys only, not " + name);
    if (version == 'B' && alg != 'T')
        throw Error(ErrorCode::Unsupported,
                    "a " + name + " key needs a version D (AES) key block, not version B");
    Tr31Header h;
    h.version = version;
    h.algorithm = alg;
    h.key_version = "00";
    h.exportability = exportable ? 'E' : 'N';
    switch (classify(usage)) {
        case UsageClass::Kek:
            if (alg == 'H') break;
            h.usage = "K0";
            h.mode_of_use = pair_mode(usage.has(Usage::Wrap), usage.has(Usage::Unwrap), 'E', 'D');
            return h;
        case UsageClass::Data:
            if (alg == 'H') break;
            h.usage = "D0";
            h.mode_of_use =
                pair_mode(usage.has(Usage::Encrypt), usage.has(Usage::Decrypt), 'E', 'D');
            return h;
        case UsageClass::Mac:
            h.usage = alg == 'A' ? "M6" : alg == 'T' ? "M3" : "M7";
            h.mode_of_use = usage.has(Usage::Mac) ? 'C' : 'V';
            return h;
        case UsageClass::Derive:
            if (alg == 'H') break;
            h.usage = "B3";
            h.mode_of_use = 'X';
            return h;
        default:
            break;
    }
    throw Error(ErrorCode::Unsupported,
                "usage of this " + name +
                    " key has no single TR-31 key usage (a key block carries one of: wrap/unwrap, "
                    "encrypt/decrypt, mac/verify, derive)");
}

void check_tr31_import(const Tr31Header& h, Algorithm algorithm, UsageMask usage) {
    const char alg = algorithm_char(algorithm);
    const std::string name(info(algorithm).name);
    if (alg == 0) bad("import takes symmetric keys only, not " + name);
    if (h.algorithm != alg)
        bad("header algorithm '" + std::string(1, h.algorithm) + "' contradicts algorithm " + name);
    if (usage.empty()) bad("usage must not be empty");

    const char m = h.mode_of_use;
    auto refuse = [&](const std::string& what) {
        bad("header key usage " + h.usage + " mode of use '" + std::string(1, m) +
            "' does not allow " + what);
    };
    const std::string& u = h.usage;
    if (u == "K0" || u == "K1") {
        if (alg == 'H') refuse("an HMAC key");
        for (Usage x : all_usages()) {
            if (!usage.has(x)) continue;
            if (x == Usage::Wrap && (m == 'B' || m == 'E' || m == 'N')) continue;
            if (x == Usage::Unwrap && (m == 'B' || m == 'D' || m == 'N')) continue;
            refuse(std::string(usage_name(x)));
        }
        return;
    }
    if (u == "D0") {
        if (alg == 'H') refuse("an HMAC key");
        for (Usage x : all_usages()) {
            if (!usage.has(x)) continue;
            if (x == Usage::Encrypt && (m == 'B' || m == 'E' || m == 'N')) continue;
            if (x == Usage::Decrypt && (m == 'B' || m == 'D' || m == 'N')) continue;
            refuse(std::string(usage_name(x)));
        }
        return;
    }
    if (u == "M6" || u == "M3" || u == "M7") {
        // M6 AES-CMAC, M3 DES3 retail MAC, M7 HMAC: the MAC algorithms this KMS computes.
        const char want = u == "M6" ? 'A' : u == "M7" ? 'H' : 'T';
        if (alg != want) refuse("a " + name + " MAC key (the MAC algorithm needs another key type)");
        for (Usage x : all_usages()) {
            if (!usage.has(x)) continue;
            if (x == Usage::Mac && (m == 'C' || m == 'G' || m == 'N')) continue;
            if (x == Usage::Verify && (m == 'C' || m == 'V' || m == 'N')) continue;
            refuse(std::string(usage_name(x)));
        }
        return;
    }
    if (u == "B3") {
        if (alg == 'H') refuse("an HMAC key");
        for (Usage x : all_usages()) {
            if (!usage.has(x)) continue;
            if (x == Usage::Derive && (m == 'X' || m == 'N')) continue;
            refuse(std::string(usage_name(x)));
        }
        return;
    }
    bad("header key usage " + u + " has no equivalent in this KMS");
}

}  // namespace kms::core
