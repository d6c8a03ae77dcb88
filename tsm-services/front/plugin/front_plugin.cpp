// The front gateway as a tsmd plugin (plugin-api/tsm_plugin.h, ABI 1): the one entry point for
// external systems (the wallet). Routes each action to a healthy upstream instance by its
// actionCode, keeps operations on the instance that started them (records in the TSM store),
// takes registrations, runs the health checks in a background thread, and enforces the body and
// rate limits. Every exception is caught here, at the C boundary. Behaviour: docs/front.md.
#include <Poco/Dynamic/Var.h>
#include <Poco/Exception.h>
#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <Poco/URI.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>

#include "affinity.hpp"
#include "front_config.hpp"
#include "limits.hpp"
#include "plugin-api/forwarded_client.hpp"
#include "plugin-api/json_int.hpp"
#include "plugin-api/tsm_plugin.h"
#include "routing.hpp"
#include "upstreams.hpp"

namespace kms::tsm::front {
namespace {

using kms::client::HttpAnswer;
using kms::client::HttpCall;
using kms::client::TransportError;
using Poco::JSON::Array;
using Poco::JSON::Object;

constexpr const char* kOperations = "operations";  // TSM store table of OperationRecords

Millis steady_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}
std::int64_t unix_seconds() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string to_text(const Object& o) {
    std::ostringstream out;
    o.stringify(out);
    return out.str();
}

/// An answer of the front itself; thrown by the route code, turned into JSON once in handle().
struct Refusal {
    int status;
    std::string code, message;
    std::optional<Millis> retry_after_ms;
};

[[noreturn]] void refuse(int status, const std::string& code, const std::string& message) {
    throw Refusal{status, code, message, std::nullopt};
}

struct Answer {
    int status = 500;
    std::string content_type = "application/json";
    std::string body;
};

Answer json_answer(int status, const Object& o) {
    return {status, "application/json", to_text(o)};
}

class Front {
  public:
    Front(const tsm_host_api* host, FrontConfig cfg)
        : m_host(host),
          m_cfg(std::move(cfg)),
          m_upstreams(m_cfg.upstream_tls, 16 * 1024 * 1024),
          m_table(m_cfg.routes),
          m_health(m_cfg.health.failures) {
        if (m_cfg.rate_limit)
            m_limiter.emplace(m_cfg.rate_limit->requests_per_second, m_cfg.rate_limit->burst);
        m_checker = std::thread([this] { check_loop(); });
    }
    ~Front() {
        {
            std::lock_guard lock(m_mutex);
            m_stopping = true;
        }
        m_wake.notify_all();
        m_checker.join();
    }

    Answer handle(const tsm_request& req) {
        const std::string method = req.method, path = req.path;
        if (req.body_size > m_cfg.max_body_bytes)
            refuse(413, "payload_too_large",
                   "the body is larger than " + std::to_string(m_cfg.max_body_bytes) + " bytes");
        if (path == "/actions") {
            if (method != "POST") refuse(405, "method_not_allowed", "use POST /actions");
            limit(req.client);
            return action(req);
        }
        if (path.rfind("/operations/", 0) == 0) {
            if (method != "GET" && method != "POST" && method != "DELETE")
                refuse(405, "method_not_allowed", "use GET, POST or DELETE on an operation");
            limit(req.client);
            return follow_up(req);
        }
        if (path == "/registrations") {
            registrar(req.client);
            if (method == "POST") return register_instance(req);
            if (method == "DELETE") return unregister(req);
            refuse(405, "method_not_allowed", "use POST or DELETE /registrations");
        }
        if (path == "/routes") {
            registrar(req.client);
            if (method != "GET") refuse(405, "method_not_allowed", "use GET /routes");
            return routes();
        }
        refuse(404, "not_found", "the front has no route " + path.substr(0, 100));
    }

    void log(int level, const std::string& message) const {
        m_host->log(m_host->host, level, ("front: " + message).c_str());
    }

    void respond(tsm_response* r, int status, const std::string& type,
                 const std::string& body) const {
        m_host->respond(r, status, type.c_str(), body.data(), body.size());
    }

  private:
    // ---- limits and access ----------------------------------------------------------------

    void limit(const std::string& client) {
        if (!m_limiter) return;
        Millis wait = 0;
        {
            std::lock_guard lock(m_mutex);
            wait = m_limiter->take(client, steady_ms());
        }
        if (wait > 0)
            throw Refusal{429, "rate_limited",
                          "too many requests from client '" + client.substr(0, 64) +
                              "'; retry after " + std::to_string(wait) + " ms",
                          wait};
    }

    void registrar(const std::string& client) const {
        if (!m_cfg.registrars) return;
        const auto& r = *m_cfg.registrars;
        if (std::find(r.begin(), r.end(), client) == r.end())
            refuse(403, "forbidden",
                   "client '" + client.substr(0, 64) +
                       "' is not a registrar of this front (config registrars)");
    }

    // ---- bodies ---------------------------------------------------------------------------

    static Object::Ptr body_object(const tsm_request& req) {
        Poco::Dynamic::Var v;
        try {
            v = Poco::JSON::Parser().parse(std::string(req.body, req.body_size));
        } catch (const Poco::Exception&) {
            refuse(400, "malformed_request", "the body must be a JSON object");
        }
        if (v.type() != typeid(Object::Ptr))
            refuse(400, "malformed_request", "the body must be a JSON object");
        return v.extract<Object::Ptr>();
    }

    static std::string action_code(const Object& o) {
        if (!o.has("actionCode") || o.isNull("actionCode"))
            refuse(400, "invalid_argument", "actionCode is required");
        const Poco::Dynamic::Var v = o.get("actionCode");
        if (!v.isString()) refuse(400, "invalid_argument", "actionCode must be a string");
        const std::string code = v.extract<std::string>();
        if (!valid_action_code(code))
            refuse(400, "invalid_argument",
                   "actionCode must be 1..64 characters of [A-Za-z0-9._-]");
        return code;
    }

    /// The answer's JSON object when it is one, else nullptr.
    static Object::Ptr answer_object(const HttpAnswer& a) {
        try {
            const Poco::Dynamic::Var v = Poco::JSON::Parser().parse(a.body);
            if (v.type() == typeid(Object::Ptr)) return v.extract<Object::Ptr>();
        } catch (const Poco::Exception&) {
        }
        return nullptr;
    }

    /// Names the wallet (its client certificate's CN) to the instance in X-TSM-Client, which
    /// the instance's tsmd believes when the front's own certificate is in its
    /// tls.trustedProxies (plugin-api/forwarded_client.hpp); with upstreamTls.forwardClient
    /// only. Without mTLS towards the front there is no name to pass on.
    void name_client(HttpCall& call, const tsm_request& req) const {
        const std::string client = req.client;
        if (!m_cfg.upstream_tls.forward_client || client.empty()) return;
        if (!kms::tsm::forwardable_client_name(client))
            refuse(403, "forbidden",
                   "the client certificate's CN cannot be passed on to the instance (1 to 64 "
                   "printable ASCII characters)");
        call.headers.emplace_back(kms::tsm::kForwardedClientHeader, client);
    }

    static Answer relay(const HttpAnswer& a) {
        return {a.status, a.content_type.empty() ? "application/json" : a.content_type, a.body};
    }

    // ---- POST /actions --------------------------------------------------------------------

    Answer action(const tsm_request& req) {
        const Object::Ptr body = body_object(req);
        const std::string code = action_code(*body);
        std::vector<Candidate> order;
        {
            std::lock_guard lock(m_mutex);
            const std::vector<Candidate> all = m_table.candidates(code, steady_ms());
            if (all.empty())
                refuse(404, "unknown_action_code",
                       "no route for actionCode '" + code + "' in this front");
            order = m_rr.order(code, all, m_health);
        }
        if (order.empty())
            refuse(503, "no_instance",
                   "no healthy instance serves actionCode '" + code + "' now; retry later");

        HttpCall call;
        call.method = "POST";
        call.body = std::string(req.body, req.body_size);  // unchanged, actionCode included
        call.user_agent = "tsm-front/0.1";
        name_client(call, req);
        for (const Candidate& c : order) {
            call.target = c.path;
            HttpAnswer a;
            try {
                a = m_upstreams.send(c.instance, call);
            } catch (const TransportError& e) {
                suspect(c.instance, e.what());
                // Only a request that certainly did not reach the instance may go to another:
                // one that did may have started something there.
                if (e.request_sent())
                    refuse(502, "upstream_failed",
                           "the instance serving actionCode '" + code +
                               "' failed after the request reached it; check the state "
                               "before retrying");
                continue;
            }
            healthy(c.instance);
            if (c.operation && a.status >= 200 && a.status < 300)
                return start_operation(req, code, c, a);
            return relay(a);
        }
        // Every instance was tried and none got the request: as safe to retry as no_instance.
        refuse(503, "no_instance",
               "no instance serving actionCode '" + code + "' could be reached; retry later");
    }

    /// An operation route answered 2xx: remember where the operation runs under a new front id
    /// and hand that id to the client instead of the instance's.
    Answer start_operation(const tsm_request& req, const std::string& code, const Candidate& c,
                           const HttpAnswer& a) {
        Object::Ptr o = answer_object(a);
        if (!o || !o->has("operation") || !o->get("operation").isString()) return relay(a);
        std::array<std::uint8_t, 16> random{};
        if (RAND_bytes(random.data(), static_cast<int>(random.size())) != 1)
            throw std::runtime_error("RAND_bytes failed");
        const std::string id = operation_id(random);
        const std::int64_t now = unix_seconds();
        OperationRecord r{
            c.instance, c.path, o->getValue<std::string>("operation"), code, req.client, now, now};
        put_record(id, r);
        o->set("operation", id);
        return json_answer(a.status, *o);
    }

    void put_record(const std::string& id, const OperationRecord& r) {
        const std::string value = encode(r);
        const int rc =
            m_host->store_put(m_host->host, kOperations, id.c_str(), value.data(), value.size());
        if (rc != TSM_STORE_OK)
            throw std::runtime_error("TSM store: cannot write operation " + id + " (result " +
                                     std::to_string(rc) + ")");
    }

    std::optional<OperationRecord> get_record(const std::string& id) {
        std::string buffer(512, '\0');
        for (int round = 0; round < 3; ++round) {
            std::size_t size = buffer.size();
            const int rc =
                m_host->store_get(m_host->host, kOperations, id.c_str(), buffer.data(), &size);
            if (rc == TSM_STORE_NOT_FOUND) return std::nullopt;
            if (rc == TSM_STORE_OK) {
                auto r = decode(buffer.substr(0, size));
                if (!r) throw std::runtime_error("TSM store: operation " + id + " is corrupt");
                return r;
            }
            if (rc != TSM_STORE_TOO_LARGE)
                throw std::runtime_error("TSM store: cannot read operation " + id + " (result " +
                                         std::to_string(rc) + ")");
            buffer.resize(size);
        }
        throw std::runtime_error("TSM store: operation " + id + " keeps growing");
    }

    // ---- /operations/{id}[/rest] ----------------------------------------------------------

    Answer follow_up(const tsm_request& req) {
        const std::string path = req.path;
        const std::size_t start = std::string("/operations/").size();
        const std::size_t slash = path.find('/', start);
        const std::string id =
            path.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
        const std::string rest = slash == std::string::npos ? "" : path.substr(slash);
        const std::string unknown = "no operation '" + id.substr(0, 64) + "' in this front";
        if (!valid_operation_id(id)) refuse(404, "unknown_operation", unknown);
        std::optional<OperationRecord> r = get_record(id);
        // Another client's operation is as unknown as a missing one: ids are not shared.
        if (!r || r->client != req.client) refuse(404, "unknown_operation", unknown);
        const std::int64_t now = unix_seconds();
        if (operation_expired(*r, now, m_cfg.operation_ttl_seconds)) {
            m_host->store_delete(m_host->host, kOperations, id.c_str());
            refuse(404, "unknown_operation", unknown + " (expired)");
        }
        const std::string gone = "the instance that runs operation " + id +
                                 " is not reachable; start the operation again";
        {
            std::lock_guard lock(m_mutex);
            if (!m_health.healthy(r->instance)) refuse(503, "operation_instance_unavailable", gone);
        }
        HttpCall call;
        call.method = req.method;
        std::string target = r->path + "/";
        Poco::URI::encode(r->upstream_id, "/?#", target);
        Poco::URI::encode(rest, "?#", target);
        if (*req.query != '\0') target += std::string("?") + req.query;
        call.target = target;
        if (req.body_size > 0) call.body = std::string(req.body, req.body_size);
        call.user_agent = "tsm-front/0.1";
        name_client(call, req);
        HttpAnswer a;
        try {
            a = m_upstreams.send(r->instance, call);
        } catch (const TransportError& e) {
            suspect(r->instance, e.what());
            // Never to another instance: only this one knows the operation.
            refuse(503, "operation_instance_unavailable", gone);
        }
        healthy(r->instance);
        if (last_use_worth_writing(*r, now, m_cfg.operation_ttl_seconds)) {
            r->last_used_s = now;
            put_record(id, *r);
        }
        Object::Ptr o = answer_object(a);
        if (!o || !o->has("operation") || !o->get("operation").isString()) return relay(a);
        o->set("operation", id);
        return json_answer(a.status, *o);
    }

    // ---- registrations and routes ---------------------------------------------------------

    Answer register_instance(const tsm_request& req) {
        const Object::Ptr o = body_object(req);
        for (const auto& [name, value] : *o)
            if (name != "instance" && name != "actionCodes" && name != "ttlSeconds" &&
                name != "path" && name != "operation" && name != "routes")
                refuse(400, "invalid_argument", name.substr(0, 64) + " is not a known field");
        RoutingTable::Registration reg;
        if (!o->has("instance") || !o->get("instance").isString())
            refuse(400, "invalid_argument", "instance (an https URL) is required");
        reg.instance = o->getValue<std::string>("instance");
        try {
            check_instance_url(reg.instance, "instance");
        } catch (const std::invalid_argument& e) {
            refuse(400, "invalid_argument", e.what());
        }
        Array::Ptr codes = o->getArray("actionCodes");
        if (!codes || codes->size() == 0 || codes->size() > 256)
            refuse(400, "invalid_argument", "actionCodes must be a list of 1..256 actionCodes");
        for (std::size_t i = 0; i < codes->size(); ++i) {
            const Poco::Dynamic::Var v = codes->get(static_cast<unsigned>(i));
            if (!v.isString() || !valid_action_code(v.extract<std::string>()))
                refuse(400, "invalid_argument",
                       "actionCodes[" + std::to_string(i) +
                           "] must be 1..64 characters of [A-Za-z0-9._-]");
            reg.action_codes.push_back(v.extract<std::string>());
        }
        std::int64_t ttl = 30;
        if (o->has("ttlSeconds")) {
            const auto v = json_int(o->get("ttlSeconds"), 1, 86400);
            if (!v) refuse(400, "invalid_argument", "ttlSeconds must be an integer 1..86400");
            ttl = *v;
        }
        reg.ttl_ms = ttl * 1000;
        if (o->has("path")) {
            const Poco::Dynamic::Var v = o->get("path");
            const std::string p = v.isString() ? v.extract<std::string>() : "";
            if (p.empty() || p[0] != '/' || p.find_first_of("?#") != std::string::npos ||
                p.size() > 200)
                refuse(400, "invalid_argument",
                       "path must start with '/' and hold no '?' or '#' (1..200 characters)");
            reg.path = p;
        }
        if (o->has("operation")) {
            const Poco::Dynamic::Var v = o->get("operation");
            if (v.type() != typeid(bool))
                refuse(400, "invalid_argument", "operation must be true or false");
            reg.operation = v.extract<bool>();
        }
        if (o->has("routes")) reg.routes = registered_routes(*o, reg.action_codes);
        {
            std::lock_guard lock(m_mutex);
            m_table.register_instance(reg, steady_ms());
        }
        log(TSM_LOG_INFO, "registration of " + reg.instance + " by '" + req.client + "' for " +
                              std::to_string(ttl) + " s");
        Object out;
        out.set("instance", reg.instance);
        Array list;
        for (const auto& c : reg.action_codes) list.add(c);
        out.set("actionCodes", list);
        out.set("ttlSeconds", ttl);
        return json_answer(200, out);
    }

    /// A registration's "routes": {"CODE": {"path": "/...", "operation"?: bool}}, for an
    /// instance serving its codes at different paths; every key must be in @p codes.
    static std::map<std::string, RoutingTable::CodeRoute> registered_routes(
        const Object& o, const std::vector<std::string>& codes) {
        const Poco::Dynamic::Var v = o.get("routes");
        if (v.type() != typeid(Object::Ptr))
            refuse(400, "invalid_argument",
                   "routes must be an object {\"CODE\": {\"path\", \"operation\"}}");
        std::map<std::string, RoutingTable::CodeRoute> out;
        for (const auto& [code, value] : *v.extract<Object::Ptr>()) {
            const std::string where = "routes." + code.substr(0, 64);
            if (std::find(codes.begin(), codes.end(), code) == codes.end())
                refuse(400, "invalid_argument", where + " is not one of actionCodes");
            if (value.type() != typeid(Object::Ptr))
                refuse(400, "invalid_argument",
                       where + " must be an object {\"path\", \"operation\"}");
            const Object& r = *value.extract<Object::Ptr>();
            for (const auto& [name, ignored] : r)
                if (name != "path" && name != "operation")
                    refuse(400, "invalid_argument",
                           where + "." + name.substr(0, 64) + " is not a known field");
            const Poco::Dynamic::Var p = r.has("path") ? r.get("path") : Poco::Dynamic::Var();
            const std::string path = p.isString() ? p.extract<std::string>() : "";
            if (path.empty() || path[0] != '/' || path.find_first_of("?#") != std::string::npos ||
                path.size() > 200)
                refuse(
                    400, "invalid_argument",
                    where + ".path must start with '/' and hold no '?' or '#' (1..200 characters)");
            bool operation = false;
            if (r.has("operation")) {
                const Poco::Dynamic::Var b = r.get("operation");
                if (b.type() != typeid(bool))
                    refuse(400, "invalid_argument", where + ".operation must be true or false");
                operation = b.extract<bool>();
            }
            out[code] = {path, operation};
        }
        return out;
    }

    Answer unregister(const tsm_request& req) {
        std::string instance;
        try {
            for (const auto& [name, value] :
                 Poco::URI(std::string("/?") + req.query).getQueryParameters())
                if (name == "instance") instance = value;
        } catch (const Poco::Exception&) {
            refuse(400, "invalid_argument", "the query is not valid");
        }
        if (instance.empty())
            refuse(400, "invalid_argument", "instance (a query parameter, the URL) is required");
        bool found = false;
        {
            std::lock_guard lock(m_mutex);
            found = m_table.unregister(instance);
        }
        if (!found)
            refuse(404, "not_registered",
                   "instance " + instance.substr(0, 300) + " is not registered");
        log(TSM_LOG_INFO, "registration of " + instance + " removed by '" + req.client + "'");
        return {204, "application/json", ""};
    }

    Answer routes() {
        std::lock_guard lock(m_mutex);
        const Millis now = steady_ms();
        Array list;
        for (const std::string& code : m_table.action_codes(now)) {
            Object route;
            route.set("actionCode", code);
            Array instances;
            for (const Candidate& c : m_table.candidates(code, now)) {
                Object i;
                i.set("instance", c.instance);
                i.set("path", c.path);
                i.set("operation", c.operation);
                i.set("source", c.source == Source::Static ? "static" : "registered");
                i.set("healthy", m_health.healthy(c.instance));
                i.set("failures", m_health.failures(c.instance));
                if (c.expires_at) i.set("expiresInMs", std::max<Millis>(0, *c.expires_at - now));
                instances.add(i);
            }
            route.set("instances", instances);
            list.add(route);
        }
        Object out;
        out.set("routes", list);
        return json_answer(200, out);
    }

    // ---- health ---------------------------------------------------------------------------

    void suspect(const std::string& instance, const std::string& why) {
        bool was = false;
        {
            std::lock_guard lock(m_mutex);
            was = m_health.healthy(instance);
            m_health.suspect(instance);
        }
        log(TSM_LOG_WARNING,
            "forward to " + instance + " failed: " + why + (was ? "; marked unhealthy" : ""));
    }

    void healthy(const std::string& instance) {
        std::lock_guard lock(m_mutex);
        m_health.success(instance);
    }

    /// The health checker: every intervalMs, expire registrations and probe every instance a
    /// rule or a live registration names.
    void check_loop() {
        std::unique_lock lock(m_mutex);
        while (!m_stopping) {
            m_wake.wait_for(lock, std::chrono::milliseconds(m_cfg.health.interval_ms),
                            [this] { return m_stopping; });
            if (m_stopping) break;
            const Millis now = steady_ms();
            for (const std::string& gone : m_table.expire(now))
                log(TSM_LOG_INFO, "registration of " + gone + " expired");
            const std::set<std::string> instances = m_table.instances(now);
            lock.unlock();
            m_upstreams.retain_probes(instances);
            for (const std::string& instance : instances) {
                std::string why;
                const bool ok = m_upstreams.probe(instance, m_cfg.health.timeout_ms, why);
                std::lock_guard relock(m_mutex);
                const bool was = m_health.healthy(instance);
                ok ? m_health.success(instance) : m_health.failure(instance);
                const bool is = m_health.healthy(instance);
                if (was != is)
                    log(is ? TSM_LOG_INFO : TSM_LOG_WARNING,
                        instance + (is ? " is healthy again" : " is unhealthy: " + why));
                if (m_stopping) break;
            }
            lock.lock();
        }
    }

    const tsm_host_api* m_host;
    const FrontConfig m_cfg;
    Upstreams m_upstreams;

    std::mutex m_mutex;  ///< guards everything below
    RoutingTable m_table;
    HealthTracker m_health;
    RoundRobin m_rr;
    std::optional<RateLimiter> m_limiter;
    bool m_stopping = false;
    std::condition_variable m_wake;
    std::thread m_checker;  ///< last: started once everything above exists
};

std::string error_body(const Refusal& r) {
    Object o;
    o.set("error", r.code);
    o.set("message", r.message);
    if (r.retry_after_ms) {
        o.set("retryAfterMs", *r.retry_after_ms);
        o.set("retryAfterSeconds", (*r.retry_after_ms + 999) / 1000);
    }
    return to_text(o);
}

/// Builds one TLS client context with @p tls (no connection is made), so that an unreadable CA,
/// certificate or key stops tsmd at start rather than failing every forward later.
void check_upstream_tls(const UpstreamTls& tls) {
    kms::client::HttpsEndpoint e;
    kms::client::parse_https_url("https://127.0.0.1:1", e);
    e.ca_file = tls.ca;
    e.cert_file = tls.certificate;
    e.key_file = tls.key;
    try {
        kms::client::HttpsConnection check(e);
    } catch (const TransportError& x) {
        throw std::invalid_argument(std::string("upstreamTls (ca, certificate, key): ") + x.what());
    }
}

void* create(const tsm_host_api* host, const char* config_json, char* error, size_t error_size) {
    try {
        FrontConfig cfg = parse_front_config(config_json);
        check_upstream_tls(cfg.upstream_tls);
        auto* front = new Front(host, std::move(cfg));
        front->log(TSM_LOG_INFO, "ready");
        return front;
    } catch (const std::exception& e) {
        std::snprintf(error, error_size, "front: %s", e.what());
    } catch (...) {
        std::snprintf(error, error_size, "front: bad configuration");
    }
    return nullptr;
}

void handle(void* instance, const tsm_request* req, tsm_response* response) {
    auto* front = static_cast<Front*>(instance);
    Answer a;
    try {
        a = front->handle(*req);
    } catch (const Refusal& r) {
        a = {r.status, "application/json", error_body(r)};
    } catch (const std::exception& e) {
        front->log(TSM_LOG_ERROR, std::string(req->request_id) + ": " + e.what());
        a = {500, "application/json",
             error_body({500, "internal", "the front failed; see tsmd's log", {}})};
    } catch (...) {
        a = {500, "application/json", error_body({500, "internal", "the front failed", {}})};
    }
    front->respond(response, a.status, a.content_type, a.body);
}

void destroy(void* instance) {
    delete static_cast<Front*>(instance);  // stops and joins the health checker
}

const tsm_plugin kFront = {TSM_PLUGIN_ABI_VERSION, "front", "0.1.0", create, handle, destroy};

}  // namespace
}  // namespace kms::tsm::front

extern "C" __attribute__((visibility("default"))) const tsm_plugin* tsm_plugin_entry(
    uint32_t host_abi_version) {
    return host_abi_version >= TSM_PLUGIN_ABI_VERSION ? &kms::tsm::front::kFront : nullptr;
}
