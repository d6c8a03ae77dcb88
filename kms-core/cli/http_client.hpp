// kmsctl's HTTPS client: one keep-alive connection to kmsd (kms-core/client), TLS 1.2 or newer,
// the server's certificate checked against the configured CA and the URL's host before any
// byte of a request (and so the token) is sent.
#pragma once

#include <memory>
#include <string>

#include "client/https_connection.hpp"
#include "config.hpp"
#include "requests.hpp"

namespace kms::cli {

/// An HTTP answer, whatever its status.
struct HttpResponse {
    int status = 0;
    std::string reason;
    std::string content_type;
    std::string body;
};

/// Largest answer kmsctl reads (a full page of 1000 keys with public keys fits many times).
inline constexpr std::size_t kMaxResponseBody = 64 * 1024 * 1024;

/// Not thread-safe: one client per thread (kmsctl has one). Move-only.
class HttpClient {
  public:
    /// Builds the TLS context: trust @p cfg.ca_file (or the system CAs when absent), require
    /// TLS 1.2+, verify the server's chain and that its certificate names cfg.host (an IP
    /// address is matched against the IP SANs, a name against the DNS SANs, RFC 6125), and load
    /// the client certificate when configured. Throws UsageError (exit 1) when the CA file or
    /// the client certificate or key cannot be loaded. No connection is made yet.
    explicit HttpClient(const ConnectionConfig& cfg);
    ~HttpClient();
    HttpClient(HttpClient&&) noexcept;
    HttpClient& operator=(HttpClient&&) noexcept;
    HttpClient(const HttpClient&) = delete;
    HttpClient& operator=(const HttpClient&) = delete;

    /// Sends @p call and returns the answer, whatever its status. Adds "Authorization: Bearer"
    /// when call.needs_auth and a token is configured. Throws CliError(ConnectFailed, exit 6)
    /// when it cannot connect, the TLS handshake fails or the certificate is rejected (the
    /// message says why), and CliError(ServerError, exit 5) when the connection breaks or times
    /// out while waiting for the answer, or the answer is larger than kMaxResponseBody.
    HttpResponse send(const ApiCall& call);

  private:
    struct Impl;
    std::unique_ptr<Impl> m_impl;
};

/// The process-wide TLS set-up (RAII; create one in main before any HttpClient).
using TlsLibrary = client::TlsLibrary;

}  // namespace kms::cli
