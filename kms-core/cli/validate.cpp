// Argument checks for kmsctl, with the value lists taken from the domain model so the client
// and the server agree on names.
#include "validate.hpp"

#include <algorithm>
#include <charconv>
#include <ctime>
#include <optional>

#include "domain/algorithm.hpp"
#include "domain/error.hpp"
#include "domain/key_state.hpp"
#include "domain/principal.hpp"
#include "exit_codes.hpp"

namespace kms::cli {

namespace {

char upper(char c) {
    return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
}

bool is_hex_digit(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

bool equal_ignore_case(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (upper(a[i]) != upper(b[i])) return false;
    return true;
}

std::string quoted(std::string_view text) {
    constexpr std::size_t kShown = 40;  // keep messages short for long inputs
    if (text.size() <= kShown) return "'" + std::string(text) + "'";
    return "'" + std::string(text.substr(0, kShown)) + "...'";
}

bool digits(std::string_view s, std::size_t pos, std::size_t n, int& out) {
    if (pos + n > s.size()) return false;
    out = 0;
    for (std::size_t i = pos; i < pos + n; ++i) {
        if (s[i] < '0' || s[i] > '9') return false;
        out = out * 10 + (s[i] - '0');
    }
    return true;
}

bool leap(int y) {
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int days_in_month(int y, int m) {
    static constexpr int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && leap(y) ? 29 : days[m - 1];
}

/// RFC 3339 §5.6 date-time, broken into fields; nullopt when malformed or out of range.
struct DateTime {
    int y, mo, d, h, mi, sec;
    std::string millis;      ///< "" or up to 3 digits of the fraction
    int offset_minutes = 0;  ///< local time minus UTC
};

std::optional<DateTime> parse_rfc3339(std::string_view s) {
    DateTime t{};
    if (!digits(s, 0, 4, t.y) || s.size() < 20 || s[4] != '-' || !digits(s, 5, 2, t.mo) ||
        s[7] != '-' || !digits(s, 8, 2, t.d) || (s[10] != 'T' && s[10] != 't') ||
        !digits(s, 11, 2, t.h) || s[13] != ':' || !digits(s, 14, 2, t.mi) || s[16] != ':' ||
        !digits(s, 17, 2, t.sec))
        return std::nullopt;
    if (t.mo < 1 || t.mo > 12 || t.d < 1 || t.d > days_in_month(t.y, t.mo) || t.h > 23 ||
        t.mi > 59 || t.sec > 60)
        return std::nullopt;
    std::size_t pos = 19;
    if (pos < s.size() && s[pos] == '.') {
        const std::size_t start = ++pos;
        while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') ++pos;
        if (pos == start) return std::nullopt;
        t.millis = std::string(s.substr(start, std::min<std::size_t>(pos - start, 3)));
    }
    if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z'))
        return pos + 1 == s.size() ? std::optional<DateTime>(t) : std::nullopt;
    int oh, om;
    if (!(pos + 6 == s.size() && (s[pos] == '+' || s[pos] == '-') && digits(s, pos + 1, 2, oh) &&
          s[pos + 3] == ':' && digits(s, pos + 4, 2, om) && oh <= 23 && om <= 59))
        return std::nullopt;
    t.offset_minutes = (s[pos] == '-' ? -1 : 1) * (oh * 60 + om);
    return t;
}

/// Formats @p t in UTC as YYYY-MM-DDTHH:MM:SS[.mmm]Z.
std::string to_utc_text(const DateTime& t) {
    std::tm tm{};
    tm.tm_year = t.y - 1900;
    tm.tm_mon = t.mo - 1;
    tm.tm_mday = t.d;
    tm.tm_hour = t.h;
    tm.tm_min = t.mi;
    tm.tm_sec = t.sec;
    const std::time_t utc = ::timegm(&tm) - static_cast<std::time_t>(t.offset_minutes) * 60;
    std::tm out{};
    ::gmtime_r(&utc, &out);
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &out);
    std::string result = text;
    if (!t.millis.empty()) result += "." + t.millis;
    return result + "Z";
}

}  // namespace

std::string require_hex(std::string_view field, std::string_view text) {
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (!is_hex_digit(text[i])) {
            const char c = text[i];
            const std::string shown =
                (c >= 0x21 && c <= 0x7E) ? "'" + std::string(1, c) + "'" : "a non-printable byte";
            throw UsageError(std::string(field) + ": not hex: " + shown + " at position " +
                             std::to_string(i + 1) + " of " + quoted(text) +
                             " (use digits 0-9 and letters A-F)");
        }
    }
    if (text.size() % 2 != 0)
        throw UsageError(std::string(field) + ": hex must have an even number of digits, got " +
                         std::to_string(text.size()) + " in " + quoted(text));
    std::string out(text);
    for (char& c : out) c = upper(c);
    return out;
}

std::int64_t require_int(std::string_view field, std::string_view text, std::int64_t min,
                         std::int64_t max) {
    std::int64_t value = 0;
    const char* end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(text.data(), end, value);
    const bool digits_only =
        !text.empty() && text.find_first_not_of("0123456789") == std::string_view::npos;
    if (!digits_only || ec != std::errc() || ptr != end || value < min || value > max)
        throw UsageError(std::string(field) + ": expected a whole number from " +
                         std::to_string(min) + " to " + std::to_string(max) + ", got " +
                         quoted(text));
    return value;
}

std::string require_choice(std::string_view field, std::string_view text,
                           const std::vector<std::string>& choices) {
    for (const auto& c : choices)
        if (equal_ignore_case(c, text)) return c;
    std::string list;
    for (const auto& c : choices) list += (list.empty() ? "" : ", ") + c;
    throw UsageError(std::string(field) + ": unknown value " + quoted(text) + "; expected one of " +
                     list);
}

std::string require_rfc3339(std::string_view field, std::string_view text) {
    const auto t = parse_rfc3339(text);
    if (!t)
        throw UsageError(std::string(field) + ": expected an RFC 3339 time such as " +
                         "2026-11-26T07:30:00Z, got " + quoted(text));
    return to_utc_text(*t);
}

std::string require_principal_name(std::string_view text) {
    try {
        core::validate_principal_name(text);
    } catch (const kms::Error& e) {
        throw UsageError(std::string("NAME ") + quoted(text) + ": " +
                         std::string(e.what()).substr(std::string_view("name: ").size()));
    }
    return std::string(text);
}

std::string require_key_id(std::string_view text) {
    if (text.empty() || text.size() > 256) throw UsageError("ID: a key id has 1 to 256 characters");
    for (char c : text)
        if (c < 0x21 || c > 0x7E)
            throw UsageError("ID " + quoted(text) + ": only printable characters without spaces");
    return std::string(text);
}

std::string require_secret_hex(std::string_view field, std::string_view text,
                               const std::vector<std::size_t>& byte_lengths) {
    for (std::size_t i = 0; i < text.size(); ++i)
        if (!is_hex_digit(text[i]))
            throw UsageError(std::string(field) + ": not hex at position " + std::to_string(i + 1) +
                             " (use digits 0-9 and letters A-F)");
    std::string allowed;
    bool ok = false;
    for (std::size_t n : byte_lengths) {
        ok = ok || text.size() == 2 * n;
        allowed += (allowed.empty() ? "" : ", ") + std::to_string(n);
    }
    if (!ok)
        throw UsageError(std::string(field) + ": expected " + allowed + " bytes (" +
                         "twice as many hex digits), got " + std::to_string(text.size()) +
                         " hex digits");
    std::string out(text);
    for (char& c : out) c = upper(c);
    return out;
}

std::string require_kcv(std::string_view field, std::string_view text) {
    auto hex = require_hex(field, text);
    if (hex.size() != 6)
        throw UsageError(std::string(field) + ": a KCV is 3 bytes (6 hex digits), got " +
                         quoted(text));
    return hex;
}

std::string require_object_id(std::string_view field, std::string_view text) {
    if (text.empty() || text.size() > 256)
        throw UsageError(std::string(field) + ": an id has 1 to 256 characters");
    for (char c : text)
        if (c < 0x21 || c > 0x7E)
            throw UsageError(std::string(field) + " " + quoted(text) +
                             ": only printable characters without spaces");
    return std::string(text);
}

std::string require_serial(std::string_view field, std::string_view text) {
    auto hex = require_hex(field, text);
    if (hex.empty() || hex.size() > 40)
        throw UsageError(std::string(field) + ": a serial number is 1 to 20 bytes of hex, got " +
                         quoted(text));
    return hex;
}

std::vector<std::string> split_commas(std::string_view text) {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start <= text.size()) {
        const auto comma = text.find(',', start);
        const auto end = comma == std::string_view::npos ? text.size() : comma;
        if (end > start) out.emplace_back(text.substr(start, end - start));
        if (comma == std::string_view::npos) break;
        start = comma + 1;
    }
    return out;
}

std::vector<std::string> key_algorithm_names() {
    std::vector<std::string> out;
    for (const auto& a : core::all_algorithms()) out.emplace_back(a.name);
    return out;
}

std::vector<std::string> usage_names() {
    std::vector<std::string> out;
    for (core::Usage u : core::all_usages()) out.emplace_back(core::usage_name(u));
    return out;
}

std::vector<std::string> role_names() {
    std::vector<std::string> out;
    for (core::Role r : core::all_roles()) out.emplace_back(core::role_name(r));
    return out;
}

std::vector<std::string> key_state_names() {
    using core::KeyState;
    std::vector<std::string> out;
    for (KeyState s :
         {KeyState::PreActive, KeyState::Active, KeyState::Suspended, KeyState::Deactivated,
          KeyState::Compromised, KeyState::Destroyed, KeyState::DestroyedCompromised})
        out.emplace_back(core::key_state_name(s));
    return out;
}

std::vector<std::string> cipher_mode_names() {
    using core::CipherMode;
    std::vector<std::string> out;
    for (CipherMode m : {CipherMode::AesGcm, CipherMode::AesCbcPad, CipherMode::AesCbc,
                         CipherMode::Des3CbcPad, CipherMode::Des3Cbc})
        out.emplace_back(core::cipher_mode_name(m));
    return out;
}

std::vector<std::string> mac_algorithm_names() {
    using core::MacAlgorithm;
    std::vector<std::string> out;
    for (MacAlgorithm m :
         {MacAlgorithm::AesCmac, MacAlgorithm::Des3Retail, MacAlgorithm::HmacSha256})
        out.emplace_back(core::mac_algorithm_name(m));
    return out;
}

std::vector<std::string> sign_algorithm_names() {
    using core::SignAlgorithm;
    std::vector<std::string> out;
    for (SignAlgorithm s : {SignAlgorithm::EcdsaSha256, SignAlgorithm::EcdsaSha384,
                            SignAlgorithm::RsaPssSha256, SignAlgorithm::RsaPkcs1Sha256})
        out.emplace_back(core::sign_algorithm_name(s));
    return out;
}

std::vector<std::string> revocation_reason_names() {
    // RFC 5280 §5.3.1 reason codes that apply to a key, in the API's camelCase spelling.
    return {"keyCompromise",      "caCompromise",       "cessationOfOperation", "superseded",
            "affiliationChanged", "privilegeWithdrawn", "unspecified"};
}

std::vector<std::string> ceremony_algorithm_names() {
    std::vector<std::string> out;
    for (const auto& a : core::all_algorithms())
        if (a.family == core::KeyFamily::Aes || a.family == core::KeyFamily::Des3)
            out.emplace_back(a.name);
    return out;
}

std::vector<std::string> export_format_names() {
    return {"AES-KW", "AES-KWP", "RSA-OAEP-SHA256", "TR-31"};
}

std::vector<std::string> import_format_names() {
    auto out = export_format_names();
    out.emplace_back("SPKI");
    return out;
}

std::vector<std::string> dual_control_operation_names() {
    return {"key.export", "key.import", "key.destroy", "principal.create", "ceremony.create"};
}

std::vector<std::string> approval_state_names() {
    return {"pending", "approved", "rejected", "expired", "executing", "executed", "failed"};
}

std::vector<std::string> cert_profile_names() {
    return {"server", "client", "secure-element"};
}

std::vector<std::string> cert_status_names() {
    return {"valid", "revoked", "expired"};
}

std::vector<std::string> policy_operation_names() {
    return {"encrypt", "decrypt", "mac", "mac-verify", "sign", "verify", "random", "read", "gp"};
}

}  // namespace kms::cli
