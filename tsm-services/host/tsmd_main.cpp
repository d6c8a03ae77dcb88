// tsmd: the TSM plugin host. Loads the plugin instances of its configuration file, serves each
// under https://LISTEN/<instance>/..., keeps the TSM store (its own LMDB environment).
//
//   tsmd --config FILE
//
// FILE (JSON; relative paths are taken from FILE's folder):
//   {"listen": "127.0.0.1:9443",
//    "tls": {"certificate": "tsmd.crt", "key": "tsmd.key", "clientCa": "ca.pem"?,
//            "trustedProxies": ["front"]?},
//    "store": "tsm-store",
//    "maxBodyBytes": 1048576?, "maxConnections": 64?,
//    "plugins": [{"instance": "sp-a", "library": "libsp_tsm.so", "config": {...}?}, ...],
//    "logFormat": "text"|"json"?, "metrics": {"tokenFile": "metrics.token"}?}
// With clientCa, clients must present a certificate from that CA (mTLS); its CN reaches the
// plugin as tsm_request.client, or, from a CN in tls.trustedProxies, the X-TSM-Client header's
// value (plugin-api/forwarded_client.hpp). Prints one line containing "listening" when it accepts
// connections and then sends READY=1 to $NOTIFY_SOCKET when set (sd_notify(3), Type=notify);
// stops on SIGTERM or SIGINT, sending STOPPING=1.
//
// Logs (--log-format json|text overrides logFormat): text lines "tsmd: <level>: ..." on stderr,
// or one JSON object per line on stdout (kms-core/observe/log.hpp), then with one access line
// per request: request_id (the client's valid X-Request-Id, else tsmd's own, echoed in the
// answer), tsmd_request (tsmd's own "tsmd-<n>", the id plugins see and log), instance, method,
// path, status, duration_us, client (the certificate's CN).
// GET /metrics: see tsmd_metrics.hpp.
#include <Poco/Exception.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <Poco/Net/Context.h>
#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerRequestImpl.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/NetSSL.h>
#include <Poco/Net/SecureServerSocket.h>
#include <Poco/Net/SecureStreamSocket.h>
#include <Poco/Net/X509Certificate.h>
#include <Poco/Thread.h>
#include <Poco/ThreadPool.h>
#include <Poco/URI.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <vector>

#include "observe/log.hpp"
#include "plugin-api/forwarded_client.hpp"
#include "plugin-api/tsm_plugin.h"
#include "plugin_host.hpp"
#include "systemd/sd_notify.hpp"
#include "tsm_store.hpp"
#include "tsmd_metrics.hpp"

#ifndef KMS_VERSION
#define KMS_VERSION "unknown"
#endif

namespace {

using kms::tsm::PluginAnswer;
using kms::tsm::PluginCall;
using kms::tsm::PluginInstance;
using kms::tsm::PluginSpec;
using kms::tsm::TsmStore;

constexpr int kExitUsage = 64;
constexpr int kExitConfig = 78;

// The log's format is set once in main() before any thread starts (plugins log through
// log_line from their own threads), hence a global next to the mutex that serializes lines.
std::mutex g_log_mutex;
std::atomic<bool> g_json_log{false};

std::int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

void json_log(kms::observe::LogLevel level, const std::string& msg,
              const std::vector<kms::observe::LogField>& fields = {}) {
    const std::string line = kms::observe::Logger::json_line(now_ms(), level, msg, fields);
    std::lock_guard lock(g_log_mutex);
    std::cout << line << std::endl;
}

void log_line(int level, const std::string& line) {
    static const char* names[] = {"debug", "info", "warning", "error"};
    const int l = (level >= 0 && level <= 3) ? level : 3;
    if (g_json_log.load(std::memory_order_relaxed)) {
        using kms::observe::LogLevel;
        json_log(l == 3   ? LogLevel::Error
                 : l == 2 ? LogLevel::Warning
                          : LogLevel::Info,
                 line,
                 l == 0 ? std::vector<kms::observe::LogField>{{"debug", std::int64_t{1}}}
                        : std::vector<kms::observe::LogField>{});
        return;
    }
    std::lock_guard lock(g_log_mutex);
    std::cerr << "tsmd: " << names[l] << ": " << line << std::endl;
}

/// The start and stop lines: "tsmd: <msg>" on stdout, or a JSON info line.
void say(const std::string& msg) {
    if (g_json_log.load(std::memory_order_relaxed)) {
        json_log(kms::observe::LogLevel::Info, msg);
        return;
    }
    std::lock_guard lock(g_log_mutex);
    std::cout << "tsmd: " << msg << std::endl;
}

/// The client's X-Request-Id when it is 1 to 64 of [A-Za-z0-9._:-] (the rule of kmsd), else "".
std::string valid_request_id(const std::string& header) {
    if (header.empty() || header.size() > 64) return {};
    for (const char c : header) {
        const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                        (c >= '0' && c <= '9') || c == '.' || c == '_' || c == ':' || c == '-';
        if (!ok) return {};
    }
    return header;
}

struct Config {
    std::string listen;
    std::string cert_file, key_file, client_ca;
    std::set<std::string> trusted_proxies;  ///< client CNs whose X-TSM-Client is believed
    std::string store_dir;
    std::size_t max_body = 1024 * 1024;
    int max_connections = 64;
    std::vector<PluginSpec> plugins;
    std::string log_format = "text";
    std::string metrics_token_file;  ///< "" = no /metrics
};

/// Milliseconds since @p start, as text for a log line.
std::string ms_since(std::chrono::steady_clock::time_point start) {
    return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::steady_clock::now() - start)
                              .count());
}

std::string error_body(const std::string& code, const std::string& message) {
    return kms::tsm::json_error(code, message);
}

/// Throws std::runtime_error naming the field that is missing or wrong.
Config read_config(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw std::runtime_error("cannot read the configuration file " + path);
    std::stringstream text;
    text << in.rdbuf();
    Poco::JSON::Object::Ptr o;
    try {
        o = Poco::JSON::Parser().parse(text.str()).extract<Poco::JSON::Object::Ptr>();
    } catch (const Poco::Exception& e) {
        throw std::runtime_error(path + " is not a JSON object: " + e.displayText());
    }
    const std::filesystem::path base = std::filesystem::path(path).parent_path();
    auto file = [&](const std::string& v) {
        const std::filesystem::path p(v);
        return (p.is_absolute() ? p : base / p).string();
    };
    auto need = [&](const Poco::JSON::Object::Ptr& obj, const std::string& field,
                    const std::string& where) {
        if (!obj || !obj->has(field) || !obj->get(field).isString() ||
            obj->getValue<std::string>(field).empty())
            throw std::runtime_error(path + ": " + where + field + " (a string) is required");
        return obj->getValue<std::string>(field);
    };
    Config c;
    c.listen = need(o, "listen", "");
    auto tls = o->getObject("tls");
    c.cert_file = file(need(tls, "certificate", "tls."));
    c.key_file = file(need(tls, "key", "tls."));
    if (tls->has("clientCa")) c.client_ca = file(need(tls, "clientCa", "tls."));
    if (tls->has("trustedProxies")) {
        const std::string what =
            path +
            ": tls.trustedProxies must be a list of 1 to 16 client certificate CNs (each "
            "1 to 64 printable ASCII characters)";
        if (c.client_ca.empty())
            throw std::runtime_error(path +
                                     ": tls.trustedProxies needs tls.clientCa (a proxy is "
                                     "known by its client certificate)");
        const auto list = tls->getArray("trustedProxies");
        if (!list || list->size() == 0 || list->size() > 16) throw std::runtime_error(what);
        for (std::size_t i = 0; i < list->size(); ++i) {
            const Poco::Dynamic::Var v = list->get(static_cast<unsigned>(i));
            if (!v.isString() || !kms::tsm::forwardable_client_name(v.extract<std::string>()))
                throw std::runtime_error(what);
            c.trusted_proxies.insert(v.extract<std::string>());
        }
    }
    c.store_dir = file(need(o, "store", ""));
    if (o->has("maxBodyBytes")) c.max_body = o->getValue<std::size_t>("maxBodyBytes");
    if (o->has("maxConnections")) c.max_connections = o->getValue<int>("maxConnections");
    if (c.max_body == 0 || c.max_body > 16 * 1024 * 1024 || c.max_connections < 1 ||
        c.max_connections > 1024)
        throw std::runtime_error(path + ": maxBodyBytes 1..16 MiB, maxConnections 1..1024");
    if (o->has("logFormat")) c.log_format = need(o, "logFormat", "");
    if (c.log_format != "text" && c.log_format != "json")
        throw std::runtime_error(path + ": logFormat must be \"text\" or \"json\"");
    if (o->has("metrics")) {
        auto m = o->getObject("metrics");
        if (!m) throw std::runtime_error(path + ": metrics must be an object");
        c.metrics_token_file = file(need(m, "tokenFile", "metrics."));
    }
    auto plugins = o->getArray("plugins");
    if (!plugins || plugins->size() == 0)
        throw std::runtime_error(path + ": plugins (a list of at least one instance) is required");
    for (std::size_t i = 0; i < plugins->size(); ++i) {
        auto p = plugins->getObject(static_cast<unsigned>(i));
        const std::string where = "plugins[" + std::to_string(i) + "].";
        if (!p) throw std::runtime_error(path + ": " + where + " must be an object");
        PluginSpec s;
        s.instance = need(p, "instance", where);
        s.library = file(need(p, "library", where));
        if (p->has("config")) {
            std::ostringstream out;
            p->getObject("config")->stringify(out);
            s.config_json = out.str();
        } else {
            s.config_json = "{}";
        }
        for (const auto& other : c.plugins)
            if (other.instance == s.instance)
                throw std::runtime_error(path + ": instance '" + s.instance + "' appears twice");
        if (s.instance == "metrics" || s.instance == "healthz")
            throw std::runtime_error(path + ": instance '" + s.instance +
                                     "' would hide tsmd's own /" + s.instance);
        c.plugins.push_back(std::move(s));
    }
    return c;
}

/// The client certificate's CN, or "" (no mTLS, or none presented).
std::string client_name(Poco::Net::HTTPServerRequest& req) {
    auto* impl = dynamic_cast<Poco::Net::HTTPServerRequestImpl*>(&req);
    if (impl == nullptr || !req.secure()) return "";
    try {
        Poco::Net::SecureStreamSocket socket(impl->socket());
        if (!socket.havePeerCertificate()) return "";
        return socket.peerCertificate().commonName();
    } catch (const Poco::Exception&) {
        return "";
    }
}

class Handler final : public Poco::Net::HTTPRequestHandler {
  public:
    Handler(const std::map<std::string, std::unique_ptr<PluginInstance>>& instances,
            std::size_t max_body, const std::set<std::string>& proxies,
            std::atomic<std::uint64_t>& ids, kms::tsm::TsmdMetrics& metrics)
        : m_instances(instances),
          m_max_body(max_body),
          m_proxies(proxies),
          m_ids(ids),
          m_metrics(metrics) {}

    void handleRequest(Poco::Net::HTTPServerRequest& req,
                       Poco::Net::HTTPServerResponse& resp) override {
        const auto started = std::chrono::steady_clock::now();
        // The plugin ABI promises a unique id per request (tsm_plugin.h): tsmd's own. The
        // client's X-Request-Id, when valid, is the one echoed and logged first.
        const std::string own_id = "tsmd-" + std::to_string(++m_ids);
        std::string request_id = valid_request_id(req.get("X-Request-Id", ""));
        if (request_id.empty()) request_id = own_id;
        resp.set("X-Request-Id", request_id);
        PluginAnswer a;
        std::size_t series = m_metrics.unmatched();
        std::string path;
        try {
            a = route(req, resp, own_id, series, path);
        } catch (const std::exception& e) {
            log_line(TSM_LOG_ERROR, std::string("request failed: ") + e.what());
            a = {500, "application/json", error_body("internal", "tsmd could not serve this")};
        }
        resp.setStatus(static_cast<Poco::Net::HTTPResponse::HTTPStatus>(a.status));
        if (!a.content_type.empty()) resp.setContentType(a.content_type);
        resp.setContentLength(static_cast<std::streamsize>(a.body.size()));
        resp.send() << a.body;
        const auto elapsed = std::chrono::steady_clock::now() - started;
        m_metrics.record(series, a.status, elapsed);
        if (g_json_log.load(std::memory_order_relaxed)) {
            std::string method = req.getMethod().substr(0, 16);
            if (path.size() > 256) path.resize(256);
            for (auto& c : path)
                if (c < 0x20 || c > 0x7E) c = '?';
            json_log(kms::observe::LogLevel::Info, "access",
                     {{"request_id", request_id},
                      {"tsmd_request", own_id},
                      {"instance", m_metrics.label(series)},
                      {"method", method},
                      {"path", path},
                      {"status", static_cast<std::int64_t>(a.status)},
                      {"duration_us",
                       static_cast<std::int64_t>(
                           std::chrono::duration_cast<std::chrono::microseconds>(elapsed).count())},
                      {"client", client_name(req)}});
        }
    }

  private:
    /// For tsmd's own routes, which read no body: skips one the client sent, so that the next
    /// request on this keep-alive connection starts at its request line; a chunked or
    /// oversized one closes the connection instead.
    void skip_body(Poco::Net::HTTPServerRequest& req, Poco::Net::HTTPServerResponse& resp) {
        const auto len = req.getContentLength();
        if (req.getChunkedTransferEncoding() || len > static_cast<std::streamsize>(m_max_body))
            resp.setKeepAlive(false);
        else if (len > 0)
            req.stream().ignore(len);
    }

    PluginAnswer route(Poco::Net::HTTPServerRequest& req, Poco::Net::HTTPServerResponse& resp,
                       const std::string& own_id, std::size_t& series, std::string& path_out) {
        const Poco::URI uri(req.getURI());
        const std::string path = uri.getPath();
        path_out = path;
        if (path == "/metrics" && m_metrics.enabled()) {
            series = m_metrics.metrics();
            skip_body(req, resp);
            if (req.getMethod() != "GET")
                return {404, "application/json",
                        error_body("not_found", "method " + req.getMethod().substr(0, 16) +
                                                    " is not allowed on /metrics")};
            if (!m_metrics.authorized(req.get("Authorization", ""))) {
                resp.set("WWW-Authenticate", "Bearer realm=\"tsmd\"");
                return {401, "application/json",
                        error_body("unauthenticated",
                                   "GET /metrics needs Authorization: Bearer and the token of "
                                   "metrics.tokenFile")};
            }
            return {200, "text/plain; version=0.0.4; charset=utf-8", m_metrics.render()};
        }
        if (path == "/healthz" && req.getMethod() == "GET") {
            series = m_metrics.healthz();
            skip_body(req, resp);
            std::string list;
            for (const auto& [name, inst] : m_instances)
                list += (list.empty() ? "\"" : ",\"") + name + "\"";  // names are printable
            return {200, "application/json", "{\"status\":\"ok\",\"instances\":[" + list + "]}"};
        }
        const std::size_t slash = path.find('/', 1);
        const std::string instance =
            path.substr(1, slash == std::string::npos ? std::string::npos : slash - 1);
        const auto it = m_instances.find(instance);
        series = m_metrics.index_of(instance);
        const auto len = req.getContentLength();
        if (it == m_instances.end()) {
            if (len > 0 && static_cast<std::size_t>(len) <= m_max_body) req.stream().ignore(len);
            if (len > 0 && static_cast<std::size_t>(len) > m_max_body) resp.setKeepAlive(false);
            return {404, "application/json",
                    error_body("not_found",
                               "no plugin instance '" + instance.substr(0, 64) + "' in this tsmd")};
        }
        PluginCall call;
        auto too_large = [&] {
            resp.setKeepAlive(false);  // the rest of the body is not read
            return PluginAnswer{
                413, "application/json",
                error_body("payload_too_large",
                           "the body is larger than " + std::to_string(m_max_body) + " bytes")};
        };
        // Without Content-Length or chunked encoding a request has no body (RFC 9112 §6.3).
        if (req.getChunkedTransferEncoding()) {
            char buffer[8192];
            while (req.stream().read(buffer, sizeof buffer) || req.stream().gcount() > 0) {
                call.body.append(buffer, static_cast<std::size_t>(req.stream().gcount()));
                if (call.body.size() > m_max_body) {
                    return too_large();
                }
            }
        } else if (len > 0) {
            if (static_cast<std::size_t>(len) > m_max_body) return too_large();
            call.body.resize(static_cast<std::size_t>(len));
            req.stream().read(call.body.data(), len);
            if (req.stream().gcount() != len) {
                resp.setKeepAlive(false);
                return {400, "application/json",
                        error_body("malformed_request", "the body is shorter than announced")};
            }
        }
        call.method = req.getMethod();
        call.path = slash == std::string::npos ? "/" : path.substr(slash);
        call.query = uri.getRawQuery();
        call.content_type = req.getContentType();
        call.client = client_name(req);
        if (req.has(kms::tsm::kForwardedClientHeader)) {
            const std::string& wallet = req.get(kms::tsm::kForwardedClientHeader);
            if (call.client.empty() || m_proxies.count(call.client) == 0)
                return {403, "application/json",
                        error_body("forbidden",
                                   std::string(kms::tsm::kForwardedClientHeader) +
                                       " is accepted only from the client certificates named "
                                       "in this tsmd's tls.trustedProxies")};
            if (!kms::tsm::forwardable_client_name(wallet))
                return {
                    400, "application/json",
                    error_body("malformed_request", std::string(kms::tsm::kForwardedClientHeader) +
                                                        ": 1 to 64 printable ASCII characters")};
            call.client = wallet;  // the proxy (the front) authenticated the wallet
        }
        call.request_id = own_id;
        return it->second->handle(call);
    }

    const std::map<std::string, std::unique_ptr<PluginInstance>>& m_instances;
    std::size_t m_max_body;
    const std::set<std::string>& m_proxies;
    std::atomic<std::uint64_t>& m_ids;
    kms::tsm::TsmdMetrics& m_metrics;
};

class Factory final : public Poco::Net::HTTPRequestHandlerFactory {
  public:
    Factory(const std::map<std::string, std::unique_ptr<PluginInstance>>& instances,
            std::size_t max_body, const std::set<std::string>& proxies,
            kms::tsm::TsmdMetrics& metrics)
        : m_instances(instances), m_max_body(max_body), m_proxies(proxies), m_metrics(metrics) {}
    Poco::Net::HTTPRequestHandler* createRequestHandler(
        const Poco::Net::HTTPServerRequest&) override {
        return new Handler(m_instances, m_max_body, m_proxies, m_ids, m_metrics);
    }

  private:
    const std::map<std::string, std::unique_ptr<PluginInstance>>& m_instances;
    std::size_t m_max_body;
    const std::set<std::string>& m_proxies;
    std::atomic<std::uint64_t> m_ids{0};
    kms::tsm::TsmdMetrics& m_metrics;
};

/// SIGTERM and SIGINT, blocked in main() before any thread exists so that every thread inherits
/// the mask and only serve()'s sigwait() receives them.
sigset_t& stop_signals() {
    static sigset_t set = [] {
        sigset_t s;
        sigemptyset(&s);
        sigaddset(&s, SIGTERM);
        sigaddset(&s, SIGINT);
        return s;
    }();
    return set;
}

int serve(const Config& cfg) {
    std::vector<std::string> names;
    for (const PluginSpec& spec : cfg.plugins) names.push_back(spec.instance);
    kms::tsm::TsmdMetrics metrics(names, cfg.metrics_token_file, KMS_VERSION);
    TsmStore store(cfg.store_dir);
    std::map<std::string, std::unique_ptr<PluginInstance>> instances;
    for (const PluginSpec& spec : cfg.plugins) {
        auto inst = std::make_unique<PluginInstance>(spec, store, log_line);
        log_line(TSM_LOG_INFO, "instance " + spec.instance + ": " + inst->description());
        instances.emplace(spec.instance, std::move(inst));
    }

    using Poco::Net::Context;
    Context::Ptr ctx =
        new Context(Context::TLS_SERVER_USE, cfg.key_file, cfg.cert_file, cfg.client_ca,
                    cfg.client_ca.empty() ? Context::VERIFY_NONE : Context::VERIFY_STRICT, 9, false,
                    "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!MD5:!RC4:!3DES");
    ctx->requireMinimumProtocol(Context::PROTO_TLSV1_2);
    // Poco's "extended" check would also match a client's certificate against the client's
    // address (a wallet's CN is no host name) and close every mTLS connection after the
    // handshake; OpenSSL has already verified the chain to clientCa (VERIFY_STRICT).
    ctx->enableExtendedCertificateVerification(false);
    ctx->preferServerCiphers();

    Poco::Net::SecureServerSocket socket(ctx);
    const auto colon = cfg.listen.rfind(':');
    if (colon == std::string::npos || colon == 0)
        throw std::runtime_error("listen: expected HOST:PORT, got '" + cfg.listen + "'");
    socket.bind(Poco::Net::SocketAddress(cfg.listen), true, false);
    socket.listen(256);

    Poco::ThreadPool pool(2, cfg.max_connections + 4, 60);
    Poco::Net::HTTPServerParams::Ptr params = new Poco::Net::HTTPServerParams;
    params->setMaxThreads(cfg.max_connections);
    params->setKeepAlive(true);
    params->setMaxKeepAliveRequests(0);
    params->setKeepAliveTimeout(Poco::Timespan(30, 0));
    params->setServerName("tsmd");
    Poco::Net::HTTPServer server(new Factory(instances, cfg.max_body, cfg.trusted_proxies, metrics),
                                 pool, socket, params);

    server.start();
    const std::string host = cfg.listen.substr(0, colon);
    const std::string url = "https://" + host + ":" + std::to_string(socket.address().port());
    say("listening on " + url);
    // The port accepts connections and every plugin is loaded: ready (sd_notify(3)). A failure
    // to notify is reported and does not stop tsmd.
    const kms::sysd::Notifier notifier = kms::sysd::Notifier::from_environment();
    std::string why;
    if (!notifier.send("READY=1\nSTATUS=serving on " + url, &why))
        log_line(TSM_LOG_WARNING, "cannot notify the service manager: " + why);
    int sig = 0;
    sigwait(&stop_signals(), &sig);
    notifier.send("STOPPING=1\nSTATUS=stopping");
    log_line(TSM_LOG_INFO, "stopping");
    const auto stopping = std::chrono::steady_clock::now();
    server.stop();
    // stopAll(true) aborts the connections registered at that moment. One that the dispatcher
    // took from its queue just before stop() registers after the abort and would live on
    // through keep-alive as long as its client (a front's pooled health probes) keeps using it,
    // so pool.joinAll() would wait for it: repeat the abort until no connection is left.
    for (int round = 0; round < 100; ++round) {
        server.stopAll(true);
        if (server.currentConnections() == 0) break;
        Poco::Thread::sleep(50);
    }
    pool.joinAll();
    const auto closed = std::chrono::steady_clock::now();
    log_line(TSM_LOG_INFO, "connections closed in " + ms_since(stopping) + " ms");
    instances.clear();  // destroy() after the last request
    log_line(TSM_LOG_INFO, "plugins stopped in " + ms_since(closed) + " ms");
    say("stopped");
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    std::string config;
    std::string log_format;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--config" && i + 1 < argc) {
            config = argv[++i];
        } else if (a == "--log-format" && i + 1 < argc) {
            log_format = argv[++i];
            if (log_format != "text" && log_format != "json") {
                std::cerr << "tsmd: --log-format: expected text or json\n";
                return kExitUsage;
            }
        } else if (a == "--help") {
            std::cout << "usage: tsmd --config FILE [--log-format text|json] (see docs/tsmd.md)\n";
            return 0;
        } else {
            std::cerr << "tsmd: unknown argument '" << a << "'; usage: tsmd --config FILE\n";
            return kExitUsage;
        }
    }
    if (config.empty()) {
        std::cerr << "tsmd: usage: tsmd --config FILE\n";
        return kExitUsage;
    }
    pthread_sigmask(SIG_BLOCK, &stop_signals(), nullptr);
    Poco::Net::initializeSSL();
    int rc = 0;
    try {
        Config cfg = read_config(config);
        if (!log_format.empty()) cfg.log_format = log_format;  // the command line wins
        g_json_log = cfg.log_format == "json";
        rc = serve(cfg);
    } catch (const Poco::Exception& e) {
        std::cerr << "tsmd: " << e.displayText() << "\n";
        rc = kExitConfig;
    } catch (const std::exception& e) {
        std::cerr << "tsmd: " << e.what() << "\n";
        rc = kExitConfig;
    }
    Poco::Net::uninitializeSSL();
    return rc;
}
