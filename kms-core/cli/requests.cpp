// Command -> REST call mapping of kmsctl, with the client-side validation of each argument.
#include "requests.hpp"

#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>

#include <sstream>

#include "client_key.hpp"
#include "domain/algorithm.hpp"
#include "exit_codes.hpp"
#include "requests_common.hpp"
#include "validate.hpp"

namespace kms::cli {

namespace {

using Poco::JSON::Array;
using Poco::JSON::Object;
using namespace detail;

std::string key_target(const Invocation& inv, std::string_view suffix = "") {
    return "/v1/keys/" + percent_encode(require_key_id(*inv.positional)) + std::string(suffix);
}

/// Adds {"reason": TEXT} when --reason was given; lifecycle transitions take it optionally.
ApiCall transition(const Invocation& inv, std::string_view verb) {
    Object body = ordered();
    if (auto reason = inv.value("reason")) body.set("reason", *reason);
    return post(key_target(inv, "/" + std::string(verb)), body);
}

void set_optional_version(const Invocation& inv, Object& body) {
    if (auto v = inv.value("version"))
        body.set("version", static_cast<Poco::Int64>(require_int("--version", *v, 1, 1'000'000)));
}

/// Checks --iv and --aad against the cipher mode, and --plaintext against unpadded CBC blocks.
void check_cipher_inputs(const Invocation& inv, const std::string& mode,
                         const std::optional<std::string>& plaintext_hex) {
    const auto m = core::parse_cipher_mode(mode);
    if (!m) return;  // require_choice already accepted it; unknown here means a newer server
    if (auto iv = inv.value("iv")) {
        const std::size_t want = core::cipher_iv_size(*m);
        if (iv->size() != 2 * want)
            throw UsageError("--iv: " + mode + " takes a " + std::to_string(want) + "-byte IV (" +
                             std::to_string(2 * want) + " hex digits), got " +
                             std::to_string(iv->size() / 2) + " bytes");
    }
    if (inv.has("aad") && *m != core::CipherMode::AesGcm)
        throw UsageError("--aad: only AES-GCM takes additional authenticated data");
    const bool unpadded = *m == core::CipherMode::AesCbc || *m == core::CipherMode::Des3Cbc;
    if (unpadded && plaintext_hex) {
        const std::size_t block = core::cipher_block_size(*m);
        const std::size_t len = plaintext_hex->size() / 2;
        if (len == 0 || len % block != 0)
            throw UsageError("--plaintext: " + mode + " has no padding, so the data must be a " +
                             "non-empty multiple of " + std::to_string(block) + " bytes (got " +
                             std::to_string(len) + "); use " + mode + "-PAD otherwise");
    }
}

ApiCall encrypt_call(const Invocation& inv) {
    const auto mode = require_choice("--algorithm", *inv.value("algorithm"), cipher_mode_names());
    const auto plaintext = require_hex("--plaintext", *inv.value("plaintext"));
    Object body = ordered();
    body.set("algorithm", mode);
    body.set("plaintext", plaintext);
    if (auto iv = inv.value("iv")) body.set("iv", require_hex("--iv", *iv));
    if (auto aad = inv.value("aad")) body.set("aad", require_hex("--aad", *aad));
    check_cipher_inputs(inv, mode, plaintext);
    return post(key_target(inv, "/encrypt"), body);
}

ApiCall decrypt_call(const Invocation& inv) {
    const auto mode = require_choice("--algorithm", *inv.value("algorithm"), cipher_mode_names());
    Object body = ordered();
    body.set("algorithm", mode);
    body.set("ciphertext", require_hex("--ciphertext", *inv.value("ciphertext")));
    body.set("iv", require_hex("--iv", *inv.value("iv")));
    if (auto aad = inv.value("aad")) body.set("aad", require_hex("--aad", *aad));
    set_optional_version(inv, body);
    check_cipher_inputs(inv, mode, std::nullopt);
    return post(key_target(inv, "/decrypt"), body);
}

/// mac, mac-verify, sign and verify share one shape: algorithm, data, and for the checks the
/// value to check plus an optional version.
ApiCall authenticate_call(const Invocation& inv, const std::vector<std::string>& algorithms,
                          std::string_view suffix, std::string_view checked) {
    Object body = ordered();
    body.set("algorithm", require_choice("--algorithm", *inv.value("algorithm"), algorithms));
    body.set("data", require_hex("--data", *inv.value("data")));
    if (!checked.empty()) {
        const std::string name(checked);
        body.set(name, require_hex("--" + name, *inv.value(checked)));
        set_optional_version(inv, body);
    }
    return post(key_target(inv, suffix), body);
}

ApiCall key_create_call(const Invocation& inv) {
    if (inv.positional->empty() || inv.positional->size() > 128)
        throw UsageError("NAME: a key name has 1 to 128 characters");
    Object body = ordered();
    body.set("name", *inv.positional);
    body.set("algorithm",
             require_choice("--algorithm", *inv.value("algorithm"), key_algorithm_names()));
    const auto usages = collect_choices(inv, "usage", usage_names());
    body.set("usage", to_array(usages));
    body.set("activate", !inv.has("pre-active"));
    body.set("exportable", inv.has("exportable"));
    if (inv.has("trusted")) {
        check_trusted_usage(usages);
        body.set("trusted", true);  // sent only when asked, like any field kmsd may not know yet
    }
    return ApiCall{"POST", "/v1/keys", to_text(body), true};
}

ApiCall key_list_call(const Invocation& inv, const std::optional<std::string>& cursor) {
    std::optional<std::string> state, algorithm, usage, limit;
    if (auto s = inv.value("state")) state = require_choice("--state", *s, key_state_names());
    if (auto u = inv.value("usage")) usage = require_choice("--usage", *u, usage_names());
    if (auto a = inv.value("algorithm"))
        algorithm = require_choice("--algorithm", *a, key_algorithm_names());
    if (auto l = inv.value("limit")) limit = std::to_string(require_int("--limit", *l, 1, 1000));
    auto after = cursor ? cursor : inv.value("after");
    if (after) require_key_id(*after);
    return get("/v1/keys" + query({{"namePrefix", inv.value("name-prefix")},
                                   {"state", state},
                                   {"algorithm", algorithm},
                                   {"usage", usage},
                                   {"limit", limit},
                                   {"after", after}}));
}

ApiCall key_revoke_call(const Invocation& inv) {
    Object body = ordered();
    body.set("reason", require_choice("--reason", *inv.value("reason"), revocation_reason_names()));
    if (auto date = inv.value("compromise-date"))
        body.set("compromiseDate", require_rfc3339("--compromise-date", *date));
    if (auto message = inv.value("message")) body.set("message", *message);
    return post(key_target(inv, "/revoke"), body);
}

ApiCall key_destroy_call(const Invocation& inv) {
    ApiCall call{"DELETE", key_target(inv), std::nullopt, true};
    if (auto reason = inv.value("reason")) {
        Object body = ordered();
        body.set("reason", *reason);
        call.body = to_text(body);
    }
    return call;
}

ApiCall principal_create_call(const Invocation& inv) {
    Object body = ordered();
    body.set("name", require_principal_name(*inv.positional));
    body.set("roles", to_array(collect_choices(inv, "role", role_names())));
    if (auto csr = inv.value("csr-file")) body.set("csr", read_csr_file("--csr-file", *csr));
    std::optional<ClientKey> made;
    if (inv.has("key-out")) {
        if (inv.has("csr-file"))
            throw UsageError("--key-out: kmsctl makes the key and its CSR; drop --csr-file");
        if (!inv.has("cert-out"))
            throw UsageError("--key-out: give --cert-out too (the key is useless without it)");
        made = make_client_key(*inv.positional);
        body.set("csr", made->csr_pem);
    }
    if (inv.has("cert-out") && !inv.has("csr-file") && !made)
        throw UsageError(
            "--cert-out: give --csr-file too (or --key-out; no certificate is issued without "
            "one)");
    ApiCall call{"POST", "/v1/principals", to_text(body), true};
    if (made) call.local_key_pem = std::move(made->key_pem);
    return call;
}

ApiCall audit_list_call(const Invocation& inv, const std::optional<std::string>& cursor) {
    std::optional<std::string> from, limit;
    if (cursor)
        from = cursor;
    else if (auto f = inv.value("from"))
        from = std::to_string(require_int("--from", *f, 0, INT64_MAX));
    if (auto l = inv.value("limit")) limit = std::to_string(require_int("--limit", *l, 1, 1000));
    auto outcome = inv.value("outcome");
    if (outcome && *outcome != "success" && *outcome != "denied" && *outcome != "failed")
        throw UsageError("--outcome: success, denied or failed");
    std::optional<std::string> since, until;
    if (auto v = inv.value("since")) since = require_rfc3339("--since", *v);
    if (auto v = inv.value("until")) until = require_rfc3339("--until", *v);
    return get("/v1/audit" + query({{"from", from},
                                    {"limit", limit},
                                    {"actor", inv.value("actor")},
                                    {"action", inv.value("action")},
                                    {"target", inv.value("target")},
                                    {"outcome", outcome},
                                    {"since", since},
                                    {"until", until}}));
}

ApiCall dispatch(const Invocation& inv, const std::optional<std::string>& cursor) {
    if (auto call = build_issue3_call(inv)) return std::move(*call);
    if (auto call = build_gp_call(inv)) return std::move(*call);
    if (auto call = build_backup_call(inv)) return std::move(*call);
    switch (inv.command->id) {
        case CommandId::Health:
            return get("/healthz", false);
        case CommandId::OpenApi:
            return get("/v1/openapi.json", false);
        case CommandId::Whoami:
            return get("/v1/whoami");
        case CommandId::PrincipalCreate:
            return principal_create_call(inv);
        case CommandId::PrincipalList:
            return get("/v1/principals");
        case CommandId::PrincipalDisable:
        case CommandId::PrincipalEnable:
            return ApiCall{
                "POST",
                "/v1/principals/" + percent_encode(require_principal_name(*inv.positional)) +
                    (inv.command->id == CommandId::PrincipalDisable ? "/disable" : "/enable"),
                std::nullopt, true};
        case CommandId::KeyCreate:
            return key_create_call(inv);
        case CommandId::KeyList:
            return key_list_call(inv, cursor);
        case CommandId::KeyShow:
            return get(key_target(inv));
        case CommandId::KeyRotate:
            return ApiCall{"POST", key_target(inv, "/rotate"), std::nullopt, true};
        case CommandId::KeyActivate:
            return transition(inv, "activate");
        case CommandId::KeySuspend:
            return transition(inv, "suspend");
        case CommandId::KeyResume:
            return transition(inv, "resume");
        case CommandId::KeyDeactivate:
            return transition(inv, "deactivate");
        case CommandId::KeyRevoke:
            return key_revoke_call(inv);
        case CommandId::KeyDestroy:
            return key_destroy_call(inv);
        case CommandId::Encrypt:
            return encrypt_call(inv);
        case CommandId::Decrypt:
            return decrypt_call(inv);
        case CommandId::Mac:
            return authenticate_call(inv, mac_algorithm_names(), "/mac", "");
        case CommandId::MacVerify:
            return authenticate_call(inv, mac_algorithm_names(), "/mac/verify", "mac");
        case CommandId::Sign:
            return authenticate_call(inv, sign_algorithm_names(), "/sign", "");
        case CommandId::Verify:
            return authenticate_call(inv, sign_algorithm_names(), "/verify", "signature");
        case CommandId::Random: {
            Object body = ordered();
            body.set("length",
                     static_cast<Poco::Int64>(require_int("N", *inv.positional, 1, 4096)));
            return ApiCall{"POST", "/v1/random", to_text(body), true};
        }
        case CommandId::AuditList:
            return audit_list_call(inv, cursor);
        case CommandId::AuditVerify:
            return get("/v1/audit/verify");
        case CommandId::HsmInfo:
            return get("/v1/hsm");
        default:
            break;  // the issue-3 and gp commands, built above
    }
    throw UsageError("internal: command without a REST mapping");
}

}  // namespace

namespace detail {

Object ordered() {
    return Object(Poco::JSON_PRESERVE_KEY_ORDER);
}

std::string to_text(const Object& obj) {
    std::ostringstream out;
    obj.stringify(out);
    return out.str();
}

/// Builds "?a=1&b=2" from the pairs that have a value.
std::string query(const std::vector<std::pair<std::string, std::optional<std::string>>>& params) {
    std::string q;
    for (const auto& [name, value] : params)
        if (value) q += (q.empty() ? "?" : "&") + name + "=" + percent_encode(*value);
    return q;
}

ApiCall get(std::string target, bool needs_auth) {
    return ApiCall{"GET", std::move(target), std::nullopt, needs_auth};
}

ApiCall post(std::string target, const Object& body) {
    return ApiCall{"POST", std::move(target), to_text(body), true};
}

/// Options whose values are several names, given repeatedly and/or comma-separated.
std::vector<std::string> collect_choices(const Invocation& inv, std::string_view option,
                                         const std::vector<std::string>& choices) {
    std::vector<std::string> out;
    const std::string field = "--" + std::string(option);
    for (const auto& v : inv.values(option))
        for (const auto& part : split_commas(v)) {
            auto name = require_choice(field, part, choices);
            bool seen = false;
            for (const auto& o : out) seen = seen || o == name;
            if (!seen) out.push_back(std::move(name));
        }
    if (out.empty()) throw UsageError(field + ": give at least one value");
    return out;
}

Array to_array(const std::vector<std::string>& items) {
    Array a;
    for (const auto& i : items) a.add(i);
    return a;
}

ApiCall put(std::string target, const Object& body) {
    return ApiCall{"PUT", std::move(target), to_text(body), true};
}

}  // namespace detail

std::string percent_encode(std::string_view text) {
    static constexpr char digits[] = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : text) {
        const bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                                (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
                                c == '~';
        if (unreserved) {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += digits[c >> 4];
            out += digits[c & 0x0F];
        }
    }
    return out;
}

ApiCall build_call(const Invocation& inv, const std::optional<std::string>& cursor) {
    if (inv.command == nullptr) throw UsageError("no command given; see 'kmsctl --help'");
    ApiCall call = dispatch(inv, cursor);
    if (call.body && call.body->size() > kMaxRequestBody)
        throw UsageError("the request body would be " + std::to_string(call.body->size()) +
                         " bytes; kmsd accepts at most " + std::to_string(kMaxRequestBody) +
                         " (1 MiB)");
    return call;
}

}  // namespace kms::cli
