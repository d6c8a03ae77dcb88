// Reading the front's configuration (front_config.hpp).
#include "front_config.hpp"

#include <Poco/Exception.h>
#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>

#include <set>
#include <stdexcept>

#include "client/https_connection.hpp"

namespace kms::tsm::front {
namespace {

using Poco::JSON::Array;
using Poco::JSON::Object;

[[noreturn]] void bad(const std::string& message) {
    throw std::invalid_argument(message);
}

void only(const Object& o, const std::set<std::string>& allowed, const std::string& where) {
    for (const auto& [name, value] : o)
        if (allowed.count(name) == 0) bad(where + name + " is not a known field");
}

Object::Ptr object(const Object& o, const std::string& name, const std::string& where) {
    Object::Ptr v = o.getObject(name);
    if (!v) bad(where + name + " must be an object");
    return v;
}

std::string text(const Object& o, const std::string& name, const std::string& where) {
    const Poco::Dynamic::Var v = o.get(name);
    if (!v.isString() || v.extract<std::string>().empty())
        bad(where + name + " must be a non-empty string");
    return v.extract<std::string>();
}

double number(const Object& o, const std::string& name, const std::string& where, double low,
              double high) {
    const Poco::Dynamic::Var v = o.get(name);
    if (!v.isNumeric()) bad(where + name + " must be a number");
    double d = 0;
    try {
        d = v.convert<double>();
    } catch (const Poco::Exception&) {
        bad(where + name + " must be a number");
    }
    if (!(d >= low && d <= high))
        bad(where + name + " must be between " + std::to_string(static_cast<long long>(low)) +
            " and " + std::to_string(static_cast<long long>(high)));
    return d;
}

std::int64_t integer(const Object& o, const std::string& name, const std::string& where,
                     std::int64_t low, std::int64_t high) {
    const Poco::Dynamic::Var v = o.get(name);
    if (!v.isInteger()) bad(where + name + " must be an integer");
    const double d = number(o, name, where, static_cast<double>(low), static_cast<double>(high));
    return static_cast<std::int64_t>(d);
}

std::vector<std::string> strings(const Object& o, const std::string& name,
                                 const std::string& where) {
    Array::Ptr a = o.getArray(name);
    if (!a) bad(where + name + " must be a list of strings");
    std::vector<std::string> out;
    for (std::size_t i = 0; i < a->size(); ++i) {
        const Poco::Dynamic::Var v = a->get(static_cast<unsigned>(i));
        if (!v.isString() || v.extract<std::string>().empty())
            bad(where + name + "[" + std::to_string(i) + "] must be a non-empty string");
        out.push_back(v.extract<std::string>());
    }
    return out;
}

StaticRoute route(const Object& o, const std::string& where) {
    only(o, {"path", "operation", "instances"}, where);
    StaticRoute r;
    r.path = text(o, "path", where);
    if (r.path[0] != '/' || r.path.find_first_of("?#") != std::string::npos ||
        (r.path.size() > 1 && r.path.back() == '/'))
        bad(where + "path must start with '/', not end with '/', and hold no '?' or '#'");
    if (o.has("operation")) {
        const Poco::Dynamic::Var v = o.get("operation");
        if (v.type() != typeid(bool)) bad(where + "operation must be true or false");
        r.operation = v.extract<bool>();
    }
    if (o.has("instances")) r.instances = strings(o, "instances", where);
    for (std::size_t i = 0; i < r.instances.size(); ++i)
        check_instance_url(r.instances[i], where + "instances[" + std::to_string(i) + "]");
    return r;
}

}  // namespace

void check_instance_url(const std::string& url, const std::string& field) {
    kms::client::HttpsEndpoint e;
    try {
        kms::client::parse_https_url(url, e);
    } catch (const std::invalid_argument& x) {
        bad(field +
            " must be an https URL of an instance (https://HOST:PORT/INSTANCE): " + x.what());
    }
    if (url.size() > 300) bad(field + " is longer than 300 characters");
    if (url.back() == '/') bad(field + " must not end with '/'");
}

FrontConfig parse_front_config(const std::string& json) {
    Poco::Dynamic::Var parsed;
    try {
        parsed = Poco::JSON::Parser().parse(json);
    } catch (const Poco::Exception& e) {
        bad("config is not JSON: " + e.displayText());
    }
    if (parsed.type() != typeid(Object::Ptr)) bad("config must be a JSON object");
    const Object& o = *parsed.extract<Object::Ptr>();
    only(o,
         {"routes", "upstreamTls", "healthCheck", "rateLimit", "maxBodyBytes", "registrars",
          "operationTtlSeconds"},
         "config.");
    FrontConfig c;
    if (o.has("routes")) {
        Object::Ptr routes = object(o, "routes", "config.");
        for (const auto& [code, value] : *routes) {
            const std::string where = "routes." + code + ".";
            if (!valid_action_code(code))
                bad("routes: the actionCode '" + code.substr(0, 64) +
                    "' must be 1..64 characters of [A-Za-z0-9._-]");
            Object::Ptr r = routes->getObject(code);
            if (!r) bad("routes." + code + " must be an object");
            c.routes.emplace(code, route(*r, where));
        }
    }
    if (o.has("upstreamTls")) {
        Object::Ptr t = object(o, "upstreamTls", "config.");
        only(*t, {"ca", "certificate", "key", "timeoutSeconds", "poolSize", "forwardClient"},
             "upstreamTls.");
        if (t->has("ca")) c.upstream_tls.ca = text(*t, "ca", "upstreamTls.");
        if (t->has("certificate"))
            c.upstream_tls.certificate = text(*t, "certificate", "upstreamTls.");
        if (t->has("key")) c.upstream_tls.key = text(*t, "key", "upstreamTls.");
        if (c.upstream_tls.key && !c.upstream_tls.certificate)
            bad("upstreamTls.key is given without upstreamTls.certificate");
        if (t->has("timeoutSeconds"))
            c.upstream_tls.timeout_seconds =
                static_cast<int>(integer(*t, "timeoutSeconds", "upstreamTls.", 1, 300));
        if (t->has("poolSize"))
            c.upstream_tls.pool_size =
                static_cast<int>(integer(*t, "poolSize", "upstreamTls.", 0, 64));
        if (t->has("forwardClient")) {
            if (!t->get("forwardClient").isBoolean())
                bad("upstreamTls.forwardClient must be true or false");
            c.upstream_tls.forward_client = t->getValue<bool>("forwardClient");
            if (c.upstream_tls.forward_client && !c.upstream_tls.certificate)
                bad("upstreamTls.forwardClient needs upstreamTls.certificate (instances believe "
                    "the wallet's name only from a front they know by its client certificate)");
        }
    }
    if (o.has("healthCheck")) {
        Object::Ptr h = object(o, "healthCheck", "config.");
        only(*h, {"intervalMs", "timeoutMs", "failures"}, "healthCheck.");
        if (h->has("intervalMs"))
            c.health.interval_ms =
                static_cast<int>(integer(*h, "intervalMs", "healthCheck.", 50, 600000));
        if (h->has("timeoutMs"))
            c.health.timeout_ms =
                static_cast<int>(integer(*h, "timeoutMs", "healthCheck.", 1, 60000));
        if (h->has("failures"))
            c.health.failures = static_cast<int>(integer(*h, "failures", "healthCheck.", 1, 100));
    }
    if (o.has("rateLimit")) {
        Object::Ptr r = object(o, "rateLimit", "config.");
        only(*r, {"requestsPerSecond", "burst"}, "rateLimit.");
        RateLimitConfig rl;
        if (!r->has("requestsPerSecond")) bad("rateLimit.requestsPerSecond is required");
        rl.requests_per_second = number(*r, "requestsPerSecond", "rateLimit.", 0.001, 1e6);
        rl.burst = r->has("burst") ? number(*r, "burst", "rateLimit.", 1, 1e6)
                                   : std::max(1.0, rl.requests_per_second);
        c.rate_limit = rl;
    }
    if (o.has("maxBodyBytes"))
        c.max_body_bytes =
            static_cast<std::size_t>(integer(o, "maxBodyBytes", "config.", 2, 16 * 1024 * 1024));
    if (o.has("registrars")) c.registrars = strings(o, "registrars", "config.");
    if (o.has("operationTtlSeconds"))
        c.operation_ttl_seconds = integer(o, "operationTtlSeconds", "config.", 1, 30 * 86400);
    return c;
}

}  // namespace kms::tsm::front
