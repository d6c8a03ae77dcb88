// libFuzzer target: REST request bodies as kmsd reads them (kms-core/api/json): the bounded
// parse_object() of the body stream, then api::Body's typed accessors in the order and with the
// limits each route of kms-core/api/routes_*.cpp uses (the table below mirrors the handlers'
// field lists; the handlers themselves need the whole service graph), and parse_time. Every
// refusal must be a kms::Error (a 4xx); properties: accessors return what they promise (string
// length limits, integer ranges), a parsed time formats and parses back to itself.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "api/json.hpp"
#include "fuzz_check.hpp"

using namespace kms;
using kms::fuzz::check;

namespace {

enum class Kind { String, OptString, Hex, OptHex, Int, OptInt, OptBool, Strings };

struct Field {
    const char* name;
    Kind kind;
    std::int64_t a = 0, b = 0;  ///< String: max length; Int: min, max; Strings: max items
};

/// api::Body over the route's allowed fields (Body takes them as an initializer_list, whose
/// array only lives as long as the braces: hence a function per route).
using MakeBody = api::Body (*)(const Poco::JSON::Object::Ptr&);
#define KMS_FUZZ_BODY(...) \
    [](const Poco::JSON::Object::Ptr& o) { return api::Body(o, {__VA_ARGS__}); }

struct RouteBody {
    const char* route;
    MakeBody body;
    std::vector<Field> fields;  ///< in the order the handler reads them
};

// One entry per route with a body (method path: allowed fields, then the reads).
const std::vector<RouteBody>& routes() {
    static const std::vector<RouteBody> table = {
        {"POST /v1/keys",
         KMS_FUZZ_BODY("name", "algorithm", "usage", "activate", "exportable", "trusted"),
         {{"name", Kind::String, 128},
          {"algorithm", Kind::String, 32},
          {"usage", Kind::Strings, 16},
          {"activate", Kind::OptBool},
          {"exportable", Kind::OptBool},
          {"trusted", Kind::OptBool}}},
        {"POST /v1/keys/{id}/revoke",
         KMS_FUZZ_BODY("reason", "compromiseDate", "message"),
         {{"reason", Kind::String, 32},
          {"compromiseDate", Kind::OptString, 40},
          {"message", Kind::OptString, 1024}}},
        {"reason (state changes, destroy)",
         KMS_FUZZ_BODY("reason"),
         {{"reason", Kind::OptString, 1024}}},
        {"POST /v1/keys/{id}/mac",
         KMS_FUZZ_BODY("algorithm", "data"),
         {{"algorithm", Kind::String, 32}, {"data", Kind::Hex}}},
        {"POST /v1/keys/{id}/mac/verify",
         KMS_FUZZ_BODY("algorithm", "data", "mac", "version"),
         {{"algorithm", Kind::String, 32},
          {"data", Kind::Hex},
          {"mac", Kind::Hex},
          {"version", Kind::OptInt, 1, 0xFFFFFFFF}}},
        {"POST /v1/keys/{id}/encrypt",
         KMS_FUZZ_BODY("algorithm", "plaintext", "iv", "aad"),
         {{"algorithm", Kind::String, 32},
          {"iv", Kind::OptHex},
          {"aad", Kind::OptHex},
          {"plaintext", Kind::Hex}}},
        {"POST /v1/keys/{id}/decrypt",
         KMS_FUZZ_BODY("algorithm", "ciphertext", "iv", "aad", "version"),
         {{"algorithm", Kind::String, 32},
          {"aad", Kind::OptHex},
          {"ciphertext", Kind::Hex},
          {"iv", Kind::Hex},
          {"version", Kind::OptInt, 1, 0xFFFFFFFF}}},
        {"POST /v1/random", KMS_FUZZ_BODY("length"), {{"length", Kind::Int, 1, 4096}}},
        {"POST /v1/principals",
         KMS_FUZZ_BODY("name", "roles", "csr"),
         {{"name", Kind::String, 64},
          {"roles", Kind::Strings, 16},
          {"csr", Kind::OptString, 16384}}},
        {"PUT /v1/quorums/{op}",
         KMS_FUZZ_BODY("approvals", "approverRoles", "ttlSeconds"),
         {{"approvals", Kind::Int, 1, 9},
          {"approverRoles", Kind::Strings, 16},
          {"ttlSeconds", Kind::OptInt, 60, 604800}}},
        {"POST /v1/approvals/{id}/approve",
         KMS_FUZZ_BODY("comment"),
         {{"comment", Kind::OptString, 1024}}},
        {"POST /v1/ca/certificates",
         KMS_FUZZ_BODY("csr", "profile", "validityDays", "principal"),
         {{"csr", Kind::String, 65536},
          {"profile", Kind::String, 32},
          {"validityDays", Kind::OptInt, 1, 7305},
          {"principal", Kind::OptString, 64}}},
        {"POST /v1/ceremonies",
         KMS_FUZZ_BODY("name", "algorithm", "usage", "components", "exportable", "trusted", "kcv",
                       "expiresInSeconds"),
         {{"name", Kind::String, 128},
          {"algorithm", Kind::String, 32},
          {"usage", Kind::Strings, 16},
          {"components", Kind::Int, 2, 3},
          {"exportable", Kind::OptBool},
          {"trusted", Kind::OptBool},
          {"kcv", Kind::OptHex},
          {"expiresInSeconds", Kind::OptInt, 60, 86400}}},
        {"POST /v1/ceremonies/{id}/components",
         KMS_FUZZ_BODY("component", "kcv"),
         {{"component", Kind::String, 128}, {"kcv", Kind::Hex}}},
        {"POST /v1/keys/import",
         KMS_FUZZ_BODY("name", "algorithm", "usage", "format", "kek", "wrapped", "keyBlock",
                       "publicKey", "kcv", "exportable", "trusted", "activate"),
         {{"name", Kind::String, 128},
          {"algorithm", Kind::String, 32},
          {"usage", Kind::Strings, 16},
          {"format", Kind::String, 32},
          {"kek", Kind::OptString, 128},
          {"wrapped", Kind::OptHex},
          {"keyBlock", Kind::OptString, 9999},
          {"publicKey", Kind::OptString, 16384},
          {"kcv", Kind::OptHex},
          {"exportable", Kind::OptBool},
          {"trusted", Kind::OptBool},
          {"activate", Kind::OptBool}}},
        {"POST /v1/gp/scp/sessions",
         KMS_FUZZ_BODY("protocol", "i", "keys", "keyVersion", "hostChallenge", "aid"),
         {{"protocol", Kind::String, 16},
          {"keyVersion", Kind::Int, 0, 255},
          {"hostChallenge", Kind::OptHex},
          {"aid", Kind::OptHex}}},
        {"POST /v1/gp/scp/sessions/{s}/authenticate",
         KMS_FUZZ_BODY("initializeUpdateResponse", "securityLevel"),
         {{"initializeUpdateResponse", Kind::Hex}}},
        {"POST /v1/gp/scp/sessions/{s}/put-key",
         KMS_FUZZ_BODY("keys", "newKeyVersion", "replaceKeyVersion", "keyId"),
         {{"keys", Kind::Strings, 3},
          {"newKeyVersion", Kind::Int, 1, 127},
          {"replaceKeyVersion", Kind::OptInt, 0, 127},
          {"keyId", Kind::OptInt, 1, 127}}},
        {"POST /v1/gp/scp/sessions/{s}/encrypt",
         KMS_FUZZ_BODY("data", "padding"),
         {{"data", Kind::Hex}, {"padding", Kind::OptString, 16}}},
        {"POST /v1/gp/keys/diversify",
         KMS_FUZZ_BODY("kmc", "diversification", "kdd", "name"),
         {{"kmc", Kind::String, 128},
          {"diversification", Kind::String, 32},
          {"kdd", Kind::Hex},
          {"name", Kind::String, 240}}},
        {"PUT /v1/principals/{name}/policy",
         KMS_FUZZ_BODY("keys", "operations"),
         {{"operations", Kind::Strings, 32}}},
    };
    return table;
}

void read_field(const api::Body& b, const Field& f) {
    const auto max = static_cast<std::size_t>(f.a);
    switch (f.kind) {
        case Kind::String:
            check(b.string(f.name, max).size() <= max, "Body::string longer than its limit");
            break;
        case Kind::OptString:
            if (auto s = b.opt_string(f.name, max))
                check(s->size() <= max, "Body::opt_string longer than its limit");
            break;
        case Kind::Hex:
            b.hex(f.name);
            break;
        case Kind::OptHex:
            b.opt_hex(f.name);
            break;
        case Kind::Int: {
            const auto n = b.integer(f.name, f.a, f.b);
            check(n >= f.a && n <= f.b, "Body::integer out of its range");
            break;
        }
        case Kind::OptInt:
            if (auto n = b.opt_int(f.name, f.a, f.b))
                check(*n >= f.a && *n <= f.b, "Body::opt_int out of its range");
            break;
        case Kind::OptBool:
            b.opt_bool(f.name);
            break;
        case Kind::Strings:
            check(b.strings(f.name, max).size() <= max, "Body::strings over its item limit");
            break;
    }
}

/// What parse_time must accept, and what it then means: "YYYY-MM-DDTHH:MM:SS[.f{1,3}]Z" and
/// nothing else (json.hpp), a real date, read back by format_time with the fraction in
/// milliseconds (".5" is 500 ms). nullopt when @p text is not of that shape.
std::optional<std::string> canonical_time(const std::string& text) {
    auto digits = [&](std::size_t pos, std::size_t n) {
        if (pos + n > text.size()) return false;
        for (std::size_t k = pos; k < pos + n; ++k)
            if (text[k] < '0' || text[k] > '9') return false;
        return true;
    };
    if (text.size() < 20 || !digits(0, 4) || text[4] != '-' || !digits(5, 2) || text[7] != '-' ||
        !digits(8, 2) || text[10] != 'T' || !digits(11, 2) || text[13] != ':' || !digits(14, 2) ||
        text[16] != ':' || !digits(17, 2))
        return std::nullopt;
    std::string fraction = "000";
    std::size_t pos = 19;
    if (text[pos] == '.') {
        std::size_t n = 0;
        while (n < 3 && digits(pos + 1 + n, 1)) ++n;
        if (n == 0) return std::nullopt;
        fraction = text.substr(pos + 1, n) + std::string(3 - n, '0');
        pos += 1 + n;
    }
    if (pos + 1 != text.size() || text[pos] != 'Z') return std::nullopt;
    return text.substr(0, 19) + "." + fraction + "Z";
}

void check_time(const std::string& text) {
    fuzz::refusing_only_with_error("parse_time", [&] {
        const std::int64_t ms = api::parse_time(text, "compromiseDate");
        const auto canonical = canonical_time(text);
        check(canonical.has_value(),
              "parse_time accepted a text that is not YYYY-MM-DDTHH:MM:SS[.fff]Z");
        // A date that does not exist (02-30, 25:00) would format as another one.
        check(api::format_time(ms) == *canonical, "parse_time read another time than written");
    });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    check_time(text);

    Poco::JSON::Object::Ptr obj;
    fuzz::refusing_only_with_error("parse_object", [&] {
        std::istringstream body(text);
        obj = api::parse_object(body, static_cast<std::streamsize>(size));
    });
    if (!obj) return 0;
    // Each route reads the body until the first refusal, as its handler does.
    for (const RouteBody& r : routes()) {
        fuzz::refusing_only_with_error(r.route, [&] {
            const api::Body b = r.body(obj);
            for (const Field& f : r.fields) read_field(b, f);
        });
    }
    // Strings the handlers hand on as times.
    if (obj->has("compromiseDate") && obj->get("compromiseDate").isString())
        check_time(obj->getValue<std::string>("compromiseDate"));
    return 0;
}
