// Command -> REST call mapping of kmsctl for GlobalPlatform secure channels (gp ...), with the
// local checks of each argument. Shapes: the issue-4 brief, docs/api.md §5.14,
// docs/openapi/gp.json.
#include "exit_codes.hpp"
#include "local_files.hpp"
#include "requests_common.hpp"
#include "validate.hpp"

namespace kms::cli::detail {

namespace {

using Poco::JSON::Object;

/// kmsd's limits: at most this many APDUs or responses per wrap or unwrap call; a command APDU
/// has 4 to 65544 bytes, a response 2 (SW only) to 65538.
constexpr std::size_t kMaxApdusPerCall = 256;
constexpr std::size_t kMinApdu = 4, kMaxApdu = 65544;
constexpr std::size_t kMinResponse = 2, kMaxResponse = 65538;

std::string session_target(const Invocation& inv, std::string_view suffix = "") {
    return "/v1/gp/scp/sessions/" + percent_encode(require_object_id("SESSION", *inv.positional)) +
           std::string(suffix);
}

/// Hex of @p min..max bytes (either case); upper case.
std::string require_hex_bytes(const std::string& field, std::string_view text, std::size_t min,
                              std::size_t max) {
    const std::string hex = require_hex(field, text);
    const std::size_t n = hex.size() / 2;
    if (n < min || n > max)
        throw UsageError(field + ": expected " +
                         (min == max ? std::to_string(min)
                                     : std::to_string(min) + " to " + std::to_string(max)) +
                         (max == 1 ? " byte (" : " bytes (") +
                         (min == max ? std::to_string(2 * min) + " hex digits" : "hex") +
                         "), got " + std::to_string(n));
    return hex;
}

std::string one_byte(const std::string& field, std::string_view text) {
    return require_hex_bytes(field, text, 1, 1);
}

Poco::Int64 number(const std::string& field, std::string_view text, std::int64_t min,
                   std::int64_t max) {
    return static_cast<Poco::Int64>(require_int(field, text, min, max));
}

/// The APDUs (or responses) of gp wrap / gp unwrap: the arguments, or the lines of --file.
std::vector<std::string> apdu_list(const Invocation& inv, std::string_view what,
                                   std::size_t min_bytes, std::size_t max_bytes) {
    std::vector<std::pair<std::string, std::string>> items;  // (name for messages, text)
    if (auto file = inv.value("file")) {
        if (!inv.rest.empty())
            throw UsageError("--file: give the " + std::string(what) +
                             "s as arguments or in a file, not both");
        std::string text;
        if (*file == "-") {
            if (!inv.stdin_text) throw UsageError("--file -: standard input was not read");
            text = *inv.stdin_text;
        } else {
            text = read_text_file("--file", *file, kMaxRequestBody);
        }
        const std::string source = *file == "-" ? std::string("stdin") : *file;
        for (const auto& [number, line] : script_lines(text))
            items.emplace_back(source + " line " + std::to_string(number), line);
        if (items.empty())
            throw UsageError("--file: no " + std::string(what) + " in " + source +
                             " (one per line, as hex)");
    } else {
        for (std::size_t n = 0; n < inv.rest.size(); ++n)
            items.emplace_back(std::string(what) + " " + std::to_string(n + 1), inv.rest[n]);
        if (items.empty())
            throw UsageError("give at least one " + std::string(what) +
                             " (hex) as an argument, or --file FILE");
    }
    if (items.size() > kMaxApdusPerCall)
        throw UsageError(std::to_string(items.size()) + " " + std::string(what) +
                         "s: kmsd takes at most " + std::to_string(kMaxApdusPerCall) +
                         " per call; split them over several calls");
    std::vector<std::string> out;
    out.reserve(items.size());
    for (const auto& [name, text] : items)
        out.push_back(require_hex_bytes(name, text, min_bytes, max_bytes));
    return out;
}

ApiCall session_open_call(const Invocation& inv) {
    Object body = ordered();
    body.set("protocol", require_choice("--protocol", *inv.value("protocol"), {"SCP02", "SCP03"}));
    body.set("i", one_byte("--i", *inv.value("i")));
    Object keys = ordered();
    const bool statics = inv.has("enc") || inv.has("mac") || inv.has("dek");
    if (inv.has("kmc")) {
        if (statics)
            throw UsageError("--kmc: give either --enc, --mac and --dek, or --kmc, not both");
        if (!inv.has("diversification"))
            throw UsageError("--kmc needs --diversification (none, VISA2 or EMV-CPS11)");
        keys.set("kmc", require_object_id("--kmc", *inv.value("kmc")));
        keys.set("diversification",
                 require_choice("--diversification", *inv.value("diversification"),
                                {"none", "VISA2", "EMV-CPS11"}));
    } else {
        if (inv.has("diversification")) throw UsageError("--diversification: only with --kmc");
        if (!statics)
            throw UsageError(
                "name the card's keys: --enc, --mac and --dek, or --kmc with "
                "--diversification");
        for (const char* k : {"enc", "mac", "dek"}) {
            const std::string field = std::string("--") + k;
            if (!inv.has(k))
                throw UsageError("missing " + field + " ID: give all of --enc, --mac and --dek");
            keys.set(k, require_object_id(field, *inv.value(k)));
        }
    }
    body.set("keys", keys);
    body.set("keyVersion", number("--key-version", *inv.value("key-version"), 0, 255));
    if (auto hc = inv.value("host-challenge"))
        body.set("hostChallenge", require_hex_bytes("--host-challenge", *hc, 8, 8));
    if (auto aid = inv.value("aid")) body.set("aid", require_hex_bytes("--aid", *aid, 5, 16));
    return post("/v1/gp/scp/sessions", body);
}

ApiCall authenticate_call(const Invocation& inv) {
    const std::string target = session_target(inv, "/authenticate");
    Object body = ordered();
    // SCP02: 28 bytes; SCP03: 29 or 32; each optionally followed by SW 9000.
    body.set("initializeUpdateResponse",
             require_hex_bytes("--response", *inv.value("response"), 28, 34));
    body.set("securityLevel", one_byte("--level", *inv.value("level")));
    return post(target, body);
}

ApiCall put_key_call(const Invocation& inv) {
    const std::string target = session_target(inv, "/put-key");
    std::vector<std::string> keys;
    for (const auto& v : inv.values("keys"))
        for (const auto& k : split_commas(v)) keys.push_back(require_object_id("--keys", k));
    if (keys.empty() || keys.size() > 3)
        throw UsageError("--keys: give 1 to 3 key ids (ENC, MAC, DEK order), got " +
                         std::to_string(keys.size()));
    Object body = ordered();
    body.set("keys", to_array(keys));
    body.set("newKeyVersion", number("--new-version", *inv.value("new-version"), 1, 127));
    if (auto v = inv.value("replace-version"))
        body.set("replaceKeyVersion", number("--replace-version", *v, 0, 127));
    if (auto id = inv.value("key-id")) body.set("keyId", number("--key-id", *id, 1, 127));
    return post(target, body);
}

ApiCall put_key_verify_call(const Invocation& inv) {
    const std::string target = session_target(inv, "/put-key/verify");
    Object body = ordered();
    // Key version (1) || 1 to 3 KCVs with their length bytes || SW 9000; generous bounds.
    body.set("response", require_hex_bytes("--response", *inv.value("response"), 3, 64));
    return post(target, body);
}

ApiCall encrypt_call(const Invocation& inv) {
    const std::string target = session_target(inv, "/encrypt");
    const std::string data = require_hex("--data", *inv.value("data"));
    const std::size_t len = data.size() / 2;
    if (len == 0) throw UsageError("--data: give at least one byte");
    Object body = ordered();
    body.set("data", data);
    if (auto p = inv.value("padding")) {
        const std::string padding = require_choice("--padding", *p, {"none", "ISO9797-M2"});
        // SCP02 blocks are 8 bytes, SCP03 16: the session's protocol is kmsd's to check, a
        // length that fits neither is refused here.
        if (padding == "none" && len % 8 != 0)
            throw UsageError(
                "--data: --padding none needs whole blocks (8 bytes for SCP02, 16 "
                "for SCP03), got " +
                std::to_string(len) + " bytes; use --padding ISO9797-M2");
        body.set("padding", padding);
    }
    return post(target, body);
}

ApiCall diversify_call(const Invocation& inv) {
    Object body = ordered();
    body.set("kmc", require_object_id("--kmc", *inv.value("kmc")));
    body.set("diversification", require_choice("--diversification", *inv.value("diversification"),
                                               {"VISA2", "EMV-CPS11"}));
    body.set("kdd", require_hex_bytes("--kdd", *inv.value("kdd"), 10, 10));
    const std::string name = *inv.value("name");
    // The keys are named NAME-enc, NAME-mac and NAME-dek; a key name has at most 128 characters.
    if (name.empty() || name.size() > 124)
        throw UsageError(
            "--name: 1 to 124 characters (the keys are named NAME-enc, NAME-mac, "
            "NAME-dek)");
    body.set("name", name);
    return post("/v1/gp/keys/diversify", body);
}

}  // namespace

std::vector<std::pair<std::size_t, std::string>> script_lines(std::string_view text) {
    std::vector<std::pair<std::size_t, std::string>> out;
    std::size_t number = 0, pos = 0;
    while (pos <= text.size()) {
        const std::size_t end = std::min(text.find('\n', pos), text.size());
        ++number;
        std::string line;
        for (char c : text.substr(pos, end - pos))
            if (c != ' ' && c != '\t' && c != '\r') line += c;
        if (!line.empty() && line[0] != '#') out.emplace_back(number, std::move(line));
        if (end == text.size()) break;
        pos = end + 1;
    }
    return out;
}

std::optional<ApiCall> build_gp_call(const Invocation& inv) {
    switch (inv.command->id) {
        case CommandId::GpSessionOpen:
            return session_open_call(inv);
        case CommandId::GpSessionAuthenticate:
            return authenticate_call(inv);
        case CommandId::GpSessionClose:
            return ApiCall{"DELETE", session_target(inv), std::nullopt, true};
        case CommandId::GpWrap: {
            const std::string target = session_target(inv, "/wrap");
            Object body = ordered();
            body.set("apdus", to_array(apdu_list(inv, "APDU", kMinApdu, kMaxApdu)));
            return post(target, body);
        }
        case CommandId::GpUnwrap: {
            const std::string target = session_target(inv, "/unwrap");
            Object body = ordered();
            body.set("responses", to_array(apdu_list(inv, "RESPONSE", kMinResponse, kMaxResponse)));
            return post(target, body);
        }
        case CommandId::GpPutKey:
            return put_key_call(inv);
        case CommandId::GpPutKeyVerify:
            return put_key_verify_call(inv);
        case CommandId::GpEncrypt:
            return encrypt_call(inv);
        case CommandId::GpDiversify:
            return diversify_call(inv);
        default:
            return std::nullopt;
    }
}

}  // namespace kms::cli::detail
