// The HTTPS server: one request handler that matches the route, authenticates, parses the
// body, calls the use case and maps errors (one place) to JSON error replies; refusals are
// recorded in the audit log. Every request is counted (api/metrics.hpp), carries a request id
// (the client's X-Request-Id when valid, else one made here, echoed in the response) and, with
// the access log on, gets one access line (observe/log.hpp).
#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/NetException.h>
#include <Poco/Net/SecureServerSocket.h>
#include <Poco/URI.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <random>

#include "api/api.hpp"
#include "api/denial_audit.hpp"
#include "api/error_mapping.hpp"
#include "api/json.hpp"
#include "api/metrics.hpp"
#include "domain/error.hpp"
#include "observe/log.hpp"

namespace kms::api {

namespace {

using observe::AccessRecord;
using observe::LogFormat;
using observe::Logger;
using observe::LogLevel;

/// Request ids for requests without a valid X-Request-Id: "kmsd-<8 hex, random per
/// process>-<counter in hex>", unique within the process and unlikely to repeat across
/// restarts. One atomic increment per request.
class RequestIds {
  public:
    RequestIds() {
        std::random_device rd;
        std::snprintf(m_prefix, sizeof m_prefix, "kmsd-%08x-", static_cast<unsigned>(rd()));
    }
    std::string next() {
        char buf[48];
        std::snprintf(
            buf, sizeof buf, "%s%llx", m_prefix,
            static_cast<unsigned long long>(m_next.fetch_add(1, std::memory_order_relaxed)));
        return buf;
    }

  private:
    char m_prefix[16] = {};
    std::atomic<std::uint64_t> m_next{1};
};

void send(Poco::Net::HTTPServerResponse& resp, int status, const std::string& content_type,
          const std::string& body,
          const std::vector<std::pair<std::string, std::string>>& headers = {}) {
    // With its standard reason phrase: setStatus() alone left "OK" on every status line.
    resp.setStatusAndReason(static_cast<Poco::Net::HTTPResponse::HTTPStatus>(status));
    resp.setContentType(content_type);
    resp.set("Cache-Control", "no-store");
    resp.set("X-Content-Type-Options", "nosniff");
    for (const auto& [name, value] : headers) resp.set(name, value);
    resp.setContentLength(static_cast<std::streamsize>(body.size()));
    resp.send() << body;
}

std::string error_body(ErrorCode code, const std::string& message) {
    auto o = new_object();
    o->set("error", std::string(error_code_name(code)));
    o->set("message", message);
    return stringify(o);
}

/// Reads what is left of the request body before the answer, so that the next request on this
/// keep-alive connection starts at its request line: a request refused before its body is read
/// (bad credentials, an unknown route, a bad path) or sent to a route that takes none would
/// otherwise have its body parsed as the start of the next request. A body declared larger
/// than 16 MiB, a chunked one past kMaxBody, or one that cannot be read closes the connection
/// instead. Reading stops at the body's end, so a body already parsed costs nothing.
void discard_body(Poco::Net::HTTPServerRequest& req, Poco::Net::HTTPServerResponse& resp) {
    if (!resp.getKeepAlive()) return;
    const bool chunked = req.getChunkedTransferEncoding();
    const std::streamsize len = req.getContentLength();
    if (!chunked && len <= 0) return;
    if (!chunked && len > (16 << 20)) {
        resp.setKeepAlive(false);
        return;
    }
    const auto limit = static_cast<std::streamsize>(kMaxBody) + 1;
    try {
        std::istream& in = req.stream();
        in.ignore(chunked ? limit : len);
        if (in.bad() || (chunked && in.gcount() >= limit)) resp.setKeepAlive(false);
    } catch (const std::exception&) {
        resp.setKeepAlive(false);  // timeout or reset while reading: nothing to keep
    }
}

class ApiHandler final : public Poco::Net::HTTPRequestHandler {
  public:
    ApiHandler(const Router& router, ApiServices& services, bool access_log, Logger& log,
               AnonymousDenialLimiter& limiter, RequestIds& ids)
        : m_router(router),
          m_services(services),
          m_access_log(access_log),
          m_log(log),
          m_limiter(limiter),
          m_ids(ids) {}

    void handleRequest(Poco::Net::HTTPServerRequest& req,
                       Poco::Net::HTTPServerResponse& resp) override {
        const auto started = std::chrono::steady_clock::now();
        std::string actor = "-";
        std::string action = "http";
        std::string target;
        std::string path;
        const Route* matched = nullptr;
        int status = 500;
        std::string request_id = request_id_of(req.get("X-Request-Id", ""));
        if (request_id.empty()) request_id = m_ids.next();
        resp.set("X-Request-Id", request_id);
        try {
            std::vector<std::pair<std::string, std::string>> query;
            try {
                const Poco::URI uri(req.getURI());
                path = uri.getPath();
                query = uri.getQueryParameters();
            } catch (const Poco::Exception&) {
                // Poco::URI throws on a bad percent-encoding ("%zz", a lone "%"): the client's
                // mistake, not ours.
                path = req.getURI().substr(0, req.getURI().find('?'));
                target = printable(path, 128);
                throw Error(ErrorCode::MalformedRequest,
                            "request target: invalid URI (a '%' must be followed by two hex "
                            "digits)");
            }
            auto m = m_router.match(req.getMethod(), path);
            if (m.route == nullptr) {
                target = printable(path, 128);
                if (m.path_known)
                    throw Error(ErrorCode::NotFound,
                                "method " + req.getMethod() + " is not allowed on " + target);
                throw Error(ErrorCode::NotFound, "no such endpoint: " + target);
            }
            const Route& route = *m.route;
            matched = m.route;
            action = route.action;
            if (!m.params.empty()) target = printable(m.params.front(), 128);

            std::optional<core::Principal> caller;
            if (route.authenticated) {
                caller = authenticate_request(req, m_services);
                actor = caller->name;
                // A scraper's credential opens /metrics and nothing else (/healthz is public).
                if (caller->roles == static_cast<std::uint32_t>(core::Role::Monitor) &&
                    route.action != "metrics")
                    throw Error(ErrorCode::Forbidden,
                                "the monitor role may only read /metrics and /healthz");
            }
            // Ids and names in paths are printable ASCII; a percent-decoded NUL, CR LF or
            // non-ASCII byte would otherwise travel into lookups, messages and the audit log.
            for (const auto& p : m.params)
                for (const unsigned char c : p)
                    if (c < 0x21 || c > 0x7E)
                        throw Error(ErrorCode::InvalidArgument,
                                    "path: '" + printable(p, 64) +
                                        "' holds a byte that is not printable ASCII (after "
                                        "percent-decoding); ids and names never do");
            Request r{req,     std::move(m.params), caller ? &*caller : nullptr,
                      nullptr, std::move(query),    {}};
            if (route.body != BodyPolicy::None) {
                const auto len = req.getContentLength();
                if (len != 0 && !(len == Poco::Net::HTTPMessage::UNKNOWN_CONTENT_LENGTH &&
                                  !req.getChunkedTransferEncoding())) {
                    if (len > static_cast<std::streamsize>(kMaxBody)) {
                        // Drain a moderately oversized body so the client reads our 413 instead
                        // of a reset; past 16 MiB close the connection instead.
                        if (len <= (16 << 20))
                            req.stream().ignore(len);
                        else
                            resp.setKeepAlive(false);
                        throw Error(ErrorCode::PayloadTooLarge, "body is larger than 1 MiB");
                    }
                    try {
                        r.body = parse_object(req.stream(), len);
                    } catch (const Error& e) {
                        if (e.code() == ErrorCode::PayloadTooLarge) resp.setKeepAlive(false);
                        throw;
                    }
                } else if (route.body == BodyPolicy::Required) {
                    throw Error(ErrorCode::MalformedRequest, "a JSON body is required");
                }
            }
            std::optional<Reply> gated;
            if (!route.approval_operation.empty()) gated = dual_control_gate(route, r, m_services);
            Reply reply = gated ? std::move(*gated) : route.handler(r);
            const std::string body = reply.json ? stringify(reply.json) : reply.raw;
            discard_body(req, resp);
            status = reply.status;
            send(resp, reply.status, reply.content_type, body, reply.headers);
        } catch (const Error& e) {
            status = http_status(e.code());
            std::string message = printable(e.what(), 512);
            if (status >= 500) {
                m_log.request_line(LogLevel::Error,
                                   "error " + action + " " + target + ": " + message + " (" +
                                       std::string(error_code_name(e.code())) + ", native " +
                                       std::to_string(e.native_code()) + ")",
                                   {{"request_id", request_id}, {"action", action}});
                if (e.code() == ErrorCode::Internal) message = "internal error";
            } else {
                if (actor == "-") actor = attributed_actor(req);
                audit_denial(req, actor, action, target,
                             DenialFacts{req.getMethod(),
                                         path,
                                         status,
                                         std::string(error_code_name(e.code())),
                                         message,
                                         request_id,
                                         {}});
            }
            discard_body(req, resp);
            reply_error(resp, status, e.code(), message);
        } catch (const Poco::Exception& e) {
            status = 500;
            m_log.request_line(LogLevel::Error, "error " + action + ": " + e.displayText(),
                               {{"request_id", request_id}, {"action", action}});
            resp.setKeepAlive(false);
            reply_error(resp, 500, ErrorCode::Internal, "internal error");
        } catch (const std::exception& e) {
            status = 500;
            m_log.request_line(LogLevel::Error, std::string("error ") + action + ": " + e.what(),
                               {{"request_id", request_id}, {"action", action}});
            resp.setKeepAlive(false);
            reply_error(resp, 500, ErrorCode::Internal, "internal error");
        }
        const auto elapsed = std::chrono::steady_clock::now() - started;
        Metrics* metrics = m_services.metrics;
        std::size_t route_index = 0;
        if (metrics != nullptr) {
            route_index = matched ? m_router.index_of(matched) : metrics->unmatched_route();
            metrics->record_request(route_index, status, elapsed);
        }
        if (m_access_log) {
            AccessRecord a;
            a.request_id = request_id;
            a.principal = actor;
            a.method = printable(req.getMethod(), 16);
            a.route = metrics != nullptr ? metrics->route_template(route_index)
                                         : (matched ? action : "unmatched");
            a.path = printable(path, 256);
            a.status = status;
            a.duration_ms = std::chrono::duration<double, std::milli>(elapsed).count();
            m_log.access(a);
        }
    }

  private:
    /// Who sent a refused request that was not authenticated on its way (an unknown path or
    /// method, a bad URI, a public route, a failed authentication): the principal when its
    /// credentials are valid, else "-". Only for the audit record: the request is refused
    /// either way, and a credential that fails here is not reported as such.
    std::string attributed_actor(const Poco::Net::HTTPServerRequest& req) {
        try {
            return authenticate_request(req, m_services).name;
        } catch (const std::exception&) {
            return "-";
        }
    }

    /// One audit record per denied request (server-side facts only: never the body). Denials
    /// of unauthenticated clients go through the per-address limiter (denial_audit.hpp).
    void audit_denial(const Poco::Net::HTTPServerRequest& req, const std::string& actor,
                      const std::string& action, const std::string& target, DenialFacts facts) {
        std::string suffix;
        if (actor == "-") {
            facts.source = req.clientAddress().host().toString();
            const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                    std::chrono::steady_clock::now().time_since_epoch())
                                    .count();
            const auto d = m_limiter.admit(facts.source, now_ms);
            for (const auto& [source, n] : d.summaries)
                write_denial("-", "audit.suppressed", source,
                             std::to_string(n) + " unauthenticated denials from " + source +
                                 " were not recorded one by one (limit " +
                                 std::to_string(m_limiter.per_window()) + " per " +
                                 std::to_string(m_limiter.window_ms() / 1000) + " s)");
            if (!d.record) return;
            if (d.limit_reached) {
                suffix = " (audit limit reached: further unauthenticated denials from " +
                         facts.source + " in this window are counted, not recorded)";
                m_log.request_line(LogLevel::Warning,
                                   "audit: unauthenticated denials from " + facts.source +
                                       " over " + std::to_string(m_limiter.per_window()) +
                                       " per window; " +
                                       std::to_string(m_limiter.suppressed_total()) +
                                       " not recorded one by one so far",
                                   {});
            }
        }
        write_denial(actor, action, target, denial_detail(facts) + suffix);
    }

    void write_denial(const std::string& actor, const std::string& action,
                      const std::string& target, const std::string& detail) {
        if (!m_services.audit.record_denial(actor, action, target, detail))
            m_log.request_line(LogLevel::Error,
                               "error: could not write the audit record of a denied request", {});
    }

    static void reply_error(Poco::Net::HTTPServerResponse& resp, int status, ErrorCode code,
                            const std::string& message) {
        if (resp.sent()) return;
        if (status == 401) resp.set("WWW-Authenticate", "Bearer realm=\"kmsd\"");
        send(resp, status, "application/json", error_body(code, message));
    }

    const Router& m_router;
    ApiServices& m_services;
    bool m_access_log;
    Logger& m_log;
    AnonymousDenialLimiter& m_limiter;
    RequestIds& m_ids;
};

class Factory final : public Poco::Net::HTTPRequestHandlerFactory {
  public:
    Factory(const Router& router, ApiServices& services, const ServerOptions& options)
        : m_router(router),
          m_services(services),
          m_access_log(options.access_log),
          m_own_log(services.log ? nullptr
                                 : std::make_unique<Logger>(LogFormat::Text, std::cout, std::cerr)),
          m_log(services.log ? *services.log : *m_own_log),
          m_limiter(options.anonymous_denials_per_minute, 60000) {}
    Poco::Net::HTTPRequestHandler* createRequestHandler(
        const Poco::Net::HTTPServerRequest&) override {
        return new ApiHandler(m_router, m_services, m_access_log, m_log, m_limiter, m_ids);
    }

  private:
    const Router& m_router;
    ApiServices& m_services;
    bool m_access_log;
    std::unique_ptr<Logger> m_own_log;  // only when kmsd gave none (tests, fuzzers)
    Logger& m_log;
    AnonymousDenialLimiter m_limiter;
    RequestIds m_ids;
};

Poco::Net::SocketAddress parse_listen(const std::string& listen) {
    const auto colon = listen.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == listen.size())
        throw Error(ErrorCode::InvalidArgument,
                    "--listen: expected HOST:PORT, got '" + listen + "'");
    try {
        return Poco::Net::SocketAddress(listen);
    } catch (const Poco::Exception& e) {
        throw Error(ErrorCode::InvalidArgument, "--listen: " + e.displayText());
    }
}

}  // namespace

ApiServer::ApiServer(const ServerOptions& options, const Router& router, ApiServices& services)
    : m_pool(4, std::max(8, options.max_connections + 4), 60) {
    using Poco::Net::Context;
    Context::Ptr ctx = new Context(Context::TLS_SERVER_USE, options.key_file, options.cert_file,
                                   options.ca_file, Context::VERIFY_RELAXED, 9, false,
                                   "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!MD5:!RC4:!3DES");
    ctx->requireMinimumProtocol(Context::PROTO_TLSV1_2);
    ctx->preferServerCiphers();
    ctx->enableSessionCache(true, "kmsd");

    Poco::Net::SecureServerSocket socket(ctx);
    // SO_REUSEADDR lets a restarted kmsd bind while old connections sit in TIME_WAIT; Linux
    // still refuses a second listener on the same address. SO_REUSEPORT stays off (poco#1419).
    socket.bind(parse_listen(options.listen), true, false);
    socket.listen(256);
    m_port = socket.address().port();

    Poco::Net::HTTPServerParams::Ptr params = new Poco::Net::HTTPServerParams;
    params->setMaxThreads(options.max_connections);
    params->setMaxQueued(256);
    params->setKeepAlive(true);
    params->setMaxKeepAliveRequests(0);  // unlimited per connection
    params->setKeepAliveTimeout(Poco::Timespan(30, 0));
    params->setTimeout(Poco::Timespan(30, 0));
    params->setServerName("kmsd");
    m_server = std::make_unique<Poco::Net::HTTPServer>(new Factory(router, services, options),
                                                       m_pool, socket, params);
}

ApiServer::~ApiServer() {
    if (m_server) m_server->stopAll(true);
}

void ApiServer::start() {
    m_server->start();
}

void ApiServer::stop(int grace_ms) {
    m_server->stop();  // stop accepting
    for (int waited = 0; waited < grace_ms && m_server->currentConnections() > 0; waited += 50)
        Poco::Thread::sleep(50);
    // stopAll(true) aborts the connections registered at that moment; one the dispatcher took
    // just before stop() registers afterwards and would live on through keep-alive: repeat.
    for (int round = 0; round < 100; ++round) {
        m_server->stopAll(true);
        if (m_server->currentConnections() == 0) break;
        Poco::Thread::sleep(50);
    }
}

std::uint16_t ApiServer::port() const {
    return m_port;
}

}  // namespace kms::api
