// kmsctl's HTTPS transport: kms-core/client's HttpsConnection, its failures mapped to kmsctl's
// exit codes.
#include "http_client.hpp"

#include <utility>

#include "client/https_connection.hpp"
#include "exit_codes.hpp"

namespace kms::cli {

namespace {

client::HttpsEndpoint endpoint_of(const ConnectionConfig& cfg) {
    client::HttpsEndpoint e;
    e.url = cfg.url;
    e.host = cfg.host;
    e.port = cfg.port;
    e.base_path = cfg.base_path;
    e.ca_file = cfg.ca_file;
    e.cert_file = cfg.cert_file;
    e.key_file = cfg.key_file;
    e.timeout_seconds = cfg.timeout_seconds;
    return e;
}

}  // namespace

struct HttpClient::Impl {
    ConnectionConfig cfg;
    std::optional<client::HttpsConnection> connection;
};

HttpClient::HttpClient(const ConnectionConfig& cfg) : m_impl(std::make_unique<Impl>()) {
    m_impl->cfg = cfg;
    try {
        m_impl->connection.emplace(endpoint_of(cfg),
                                   cfg.max_answer_bytes ? cfg.max_answer_bytes : kMaxResponseBody);
    } catch (const client::TransportError& e) {
        throw UsageError(std::string(e.what()) + " (--ca, --cert, --key, --url)");
    }
}

HttpClient::~HttpClient() = default;
HttpClient::HttpClient(HttpClient&&) noexcept = default;
HttpClient& HttpClient::operator=(HttpClient&&) noexcept = default;

HttpResponse HttpClient::send(const ApiCall& call) {
    client::HttpCall c;
    c.method = call.method;
    c.target = call.target;
    c.body = call.body;
    c.accept = call.accept;
    c.user_agent = "kmsctl/0.1";
    if (call.needs_auth && m_impl->cfg.token) c.bearer_token = *m_impl->cfg.token;
    try {
        client::HttpAnswer a = m_impl->connection->send(c);
        return HttpResponse{a.status, std::move(a.reason), std::move(a.content_type),
                            std::move(a.body)};
    } catch (const client::TransportError& e) {
        using Kind = client::TransportError::Kind;
        const bool connect = e.kind() == Kind::Connect || e.kind() == Kind::Setup;
        throw CliError(connect ? ExitCode::ConnectFailed : ExitCode::ServerError, e.what());
    }
}

}  // namespace kms::cli
