// The "front" configuration of a registering instance and the registration body (see
// registrar_config.hpp).
#include "registrar_config.hpp"

#include <Poco/Dynamic/Var.h>
#include <Poco/Exception.h>
#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <Poco/URI.h>

#include <set>
#include <sstream>
#include <stdexcept>

#include "client/https_connection.hpp"

namespace kms::tsm::registrar {
namespace {

using Poco::JSON::Array;
using Poco::JSON::Object;

[[noreturn]] void bad(const std::string& message) {
    throw std::invalid_argument(message);
}

std::string string_of(const Object& o, const std::string& name, const std::string& field) {
    const Poco::Dynamic::Var v = o.get(name);
    if (!v.isString() || v.extract<std::string>().empty())
        bad(field + " must be a non-empty string");
    return v.extract<std::string>();
}

int int_of(const Object& o, const std::string& name, const std::string& field, int absent, int min,
           int max) {
    if (!o.has(name)) return absent;
    const Poco::Dynamic::Var v = o.get(name);
    bool ok = v.isInteger();
    std::int64_t n = 0;
    if (ok) {
        try {
            n = v.convert<std::int64_t>();
        } catch (const Poco::Exception&) {
            ok = false;  // an integer past every range
        }
    }
    if (!ok || n < min || n > max)
        bad(field + " must be an integer " + std::to_string(min) + ".." + std::to_string(max));
    return static_cast<int>(n);
}

/// An https base URL: parses as one (client::parse_https_url), no trailing '/', at most 300.
std::string base_url(const Poco::Dynamic::Var& v, const std::string& field, bool need_path) {
    const std::string example =
        need_path ? "https://127.0.0.1:9445/sp" : "https://127.0.0.1:9443/front";
    if (!v.isString()) bad(field + " must be an https URL such as " + example);
    const std::string url = v.extract<std::string>();
    client::HttpsEndpoint e;
    try {
        client::parse_https_url(url, e);
    } catch (const std::invalid_argument& err) {
        bad(field + " must be an https URL such as " + example + ": " + err.what());
    }
    if (url.size() > 300 || url.back() == '/' || (need_path && e.base_path.empty()))
        bad(field + " must be an https base URL such as " + example +
            " (at most 300 characters, no trailing '/')");
    return url;
}

bool valid_path(const std::string& p) {
    return !p.empty() && p[0] == '/' && p.size() <= 200 && (p.size() == 1 || p.back() != '/') &&
           p.find_first_of("?# ") == std::string::npos;
}

RegistrarAction action_of(const Poco::Dynamic::Var& v, const std::string& field) {
    if (v.type() != typeid(Object::Ptr))
        bad(field + " must be an object {\"actionCode\", \"path\", \"operation\"}");
    const Object& o = *v.extract<Object::Ptr>();
    for (const auto& [name, value] : o)
        if (name != "actionCode" && name != "path" && name != "operation")
            bad(field + "." + name.substr(0, 64) + " is not a known field");
    RegistrarAction a;
    if (!o.has("actionCode") || !o.get("actionCode").isString() ||
        !valid_action_code(o.get("actionCode").extract<std::string>()))
        bad(field + ".actionCode must be 1..64 characters of [A-Za-z0-9._-]");
    a.action_code = o.get("actionCode").extract<std::string>();
    if (o.has("path")) {
        const Poco::Dynamic::Var p = o.get("path");
        if (!p.isString() || !valid_path(p.extract<std::string>()))
            bad(field + ".path must start with '/', have no trailing '/', '?', '#' or space, " +
                "and at most 200 characters");
        a.path = p.extract<std::string>();
    }
    if (o.has("operation")) {
        const Poco::Dynamic::Var b = o.get("operation");
        if (b.type() != typeid(bool)) bad(field + ".operation must be true or false");
        a.operation = b.extract<bool>();
    }
    return a;
}

}  // namespace

bool valid_action_code(std::string_view code) {
    if (code.empty() || code.size() > 64) return false;
    for (char c : code)
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    return true;
}

std::optional<RegistrarSettings> parse_front_registration(std::string_view instance_config_json) {
    Poco::Dynamic::Var root;
    try {
        root = Poco::JSON::Parser().parse(std::string(instance_config_json));
    } catch (const Poco::Exception&) {
        bad("the configuration is not JSON");
    }
    if (root.type() != typeid(Object::Ptr)) bad("the configuration is not a JSON object");
    const Object::Ptr config = root.extract<Object::Ptr>();
    if (!config->has("front")) return std::nullopt;
    const Poco::Dynamic::Var fv = config->get("front");
    if (fv.type() != typeid(Object::Ptr))
        bad("front must be an object {\"urls\", \"self\", \"ca\", \"actions\", ...}");
    const Object& f = *fv.extract<Object::Ptr>();
    for (const auto& [name, value] : f)
        if (name != "urls" && name != "self" && name != "ca" && name != "certificate" &&
            name != "key" && name != "ttlSeconds" && name != "timeoutSeconds" && name != "actions")
            bad("front." + name.substr(0, 64) + " is not a known field");

    RegistrarSettings s;
    const Array::Ptr urls = f.has("urls") ? f.getArray("urls") : nullptr;
    if (!urls || urls->size() == 0 || urls->size() > 16)
        bad("front.urls must be a list of 1..16 front URLs such as "
            "[\"https://127.0.0.1:9443/front\"]");
    std::set<std::string> seen_urls;
    for (std::size_t i = 0; i < urls->size(); ++i) {
        const std::string field = "front.urls[" + std::to_string(i) + "]";
        s.front_urls.push_back(base_url(urls->get(static_cast<unsigned>(i)), field, false));
        if (!seen_urls.insert(s.front_urls.back()).second) bad(field + " is listed twice");
    }
    if (!f.has("self")) bad("front.self (this instance's https base URL) is required");
    s.self = base_url(f.get("self"), "front.self", true);
    if (!f.has("ca")) bad("front.ca (the CA bundle of the fronts' certificates) is required");
    s.ca_file = string_of(f, "ca", "front.ca");
    if (f.has("certificate") != f.has("key")) bad("front.certificate and front.key go together");
    if (f.has("certificate")) {
        s.cert_file = string_of(f, "certificate", "front.certificate");
        s.key_file = string_of(f, "key", "front.key");
    }
    s.ttl_seconds = int_of(f, "ttlSeconds", "front.ttlSeconds", 15, 1, 86400);
    s.timeout_seconds = int_of(f, "timeoutSeconds", "front.timeoutSeconds", 2, 1, 60);

    const Array::Ptr actions = f.has("actions") ? f.getArray("actions") : nullptr;
    if (!actions || actions->size() == 0 || actions->size() > 256)
        bad("front.actions must be a list of 1..256 actions such as "
            "[{\"actionCode\": \"transit.topup\", \"path\": \"/operations\", \"operation\": "
            "true}]");
    std::set<std::string> codes;
    for (std::size_t i = 0; i < actions->size(); ++i) {
        const std::string field = "front.actions[" + std::to_string(i) + "]";
        RegistrarAction a = action_of(actions->get(static_cast<unsigned>(i)), field);
        if (!codes.insert(a.action_code).second)
            bad(field + ".actionCode " + a.action_code + " is listed twice");
        s.actions.push_back(std::move(a));
    }
    return s;
}

bool one_route(const RegistrarSettings& s) {
    for (const RegistrarAction& a : s.actions)
        if (a.path != s.actions[0].path || a.operation != s.actions[0].operation) return false;
    return true;
}

std::string registration_body(const RegistrarSettings& s) {
    Object o(Poco::JSON_PRESERVE_KEY_ORDER);
    o.set("instance", s.self);
    Array codes;
    for (const RegistrarAction& a : s.actions) codes.add(a.action_code);
    o.set("actionCodes", codes);
    o.set("ttlSeconds", s.ttl_seconds);
    if (!s.actions.empty() && one_route(s)) {
        o.set("path", s.actions[0].path);
        o.set("operation", s.actions[0].operation);
    } else {
        // Codes at different paths: a route per code (POST /registrations "routes").
        Object routes(Poco::JSON_PRESERVE_KEY_ORDER);
        for (const RegistrarAction& a : s.actions) {
            Object r(Poco::JSON_PRESERVE_KEY_ORDER);
            r.set("path", a.path);
            r.set("operation", a.operation);
            routes.set(a.action_code, r);
        }
        o.set("routes", routes);
    }
    std::ostringstream out;
    o.stringify(out);
    return out.str();
}

std::string deregistration_target(const std::string& self) {
    std::string encoded;
    Poco::URI::encode(self, ":/?#[]@!$&'()*+,;=%", encoded);
    return "/registrations?instance=" + encoded;
}

}  // namespace kms::tsm::registrar
