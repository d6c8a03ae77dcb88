// One keep-alive HTTPS connection to kmsd, as its REST clients need it: TLS 1.2 or newer, the
// server's certificate checked against the configured CA and the URL's host before any byte of
// a request (and so a token) is sent, and an optional client certificate (mTLS, plugins).
// Shared by kmsctl and the TSM services' KMS client; no kms-core layer beyond domain is used.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace kms::client {

/// Where kmsd is and how to trust it and be known to it.
struct HttpsEndpoint {
    std::string url;   ///< as given, for messages: "https://127.0.0.1:8443"
    std::string host;  ///< host name or IP address (no brackets), checked against the cert
    std::uint16_t port = 443;
    std::string base_path;                 ///< path prefix without a trailing '/', usually empty
    std::optional<std::string> ca_file;    ///< CA bundle; nullopt: the system's trusted CAs
    std::optional<std::string> cert_file;  ///< client certificate for mTLS
    std::optional<std::string> key_file;   ///< its private key (defaults to cert_file)
    int timeout_seconds = 30;
};

/// Splits "https://HOST[:PORT][/PATH]" into @p out's url, host, port and base_path. Throws
/// std::invalid_argument (naming what is wrong) for another scheme, user info, a query or
/// fragment, an empty host or a bad port.
void parse_https_url(const std::string& url, HttpsEndpoint& out);

/// An HTTP answer, whatever its status.
struct HttpAnswer {
    int status = 0;
    std::string reason;
    std::string content_type;
    std::string body;
};

/// A request to send; the target is the percent-encoded path plus query, without base_path.
struct HttpCall {
    std::string method;  ///< "GET", "POST", "PUT" or "DELETE"
    std::string target;
    std::optional<std::string> body;          ///< JSON text, when the call has a body
    std::optional<std::string> bearer_token;  ///< sent as "Authorization: Bearer"
    std::string accept = "application/json";
    std::string user_agent = "kms-client/0.1";
    /// More request headers, sent as given (names and values without CR or LF: the caller
    /// checks them; Accept, User-Agent, Authorization and Content-* are set from the fields
    /// above and must not appear here).
    std::vector<std::pair<std::string, std::string>> headers;
};

/// Why a call got no answer.
class TransportError : public std::runtime_error {
  public:
    enum class Kind {
        Setup,    ///< the CA file, client certificate or key cannot be used, or a bad host
        Connect,  ///< no TCP connection, or the TLS handshake failed (certificate rejected...)
        Timeout,  ///< no answer within the timeout, after the request was sent
        Lost,     ///< the connection broke after the request was sent
        TooLarge  ///< the answer exceeds the size limit
    };
    TransportError(Kind kind, const std::string& message, bool request_sent)
        : std::runtime_error(message), m_kind(kind), m_request_sent(request_sent) {}
    Kind kind() const noexcept { return m_kind; }
    /// False when the request certainly did not reach kmsd (safe to send again).
    bool request_sent() const noexcept { return m_request_sent; }

  private:
    Kind m_kind;
    bool m_request_sent;
};

/// Not thread-safe: one connection per thread, or a pool (see tsm-services' KmsClient).
/// Move-only. Connects lazily and reconnects after kmsd closed an idle connection.
class HttpsConnection {
  public:
    /// Largest answer read by default (a page of 1000 keys with public keys fits many times).
    static constexpr std::size_t kDefaultMaxAnswer = 64 * 1024 * 1024;

    /// Builds the TLS context: trust @p endpoint.ca_file (or the system CAs), require TLS
    /// 1.2+, verify the server's chain and that its certificate names endpoint.host (an IP
    /// address against the IP SANs, a name against the DNS SANs, RFC 6125), and load the client
    /// certificate when configured. Throws TransportError(Setup). No connection is made yet.
    explicit HttpsConnection(const HttpsEndpoint& endpoint,
                             std::size_t max_answer = kDefaultMaxAnswer);
    ~HttpsConnection();
    HttpsConnection(HttpsConnection&&) noexcept;
    HttpsConnection& operator=(HttpsConnection&&) noexcept;
    HttpsConnection(const HttpsConnection&) = delete;
    HttpsConnection& operator=(const HttpsConnection&) = delete;

    /// Sends @p call and returns the answer, whatever its status. Throws TransportError:
    /// Connect when it cannot connect or the TLS handshake fails (the message says why, e.g.
    /// the certificate problem), Timeout or Lost after the request went out, TooLarge.
    HttpAnswer send(const HttpCall& call);

    const HttpsEndpoint& endpoint() const;

  private:
    struct Impl;
    std::unique_ptr<Impl> m_impl;
};

/// Initializes and releases the OpenSSL and Poco TLS machinery for the process (RAII; create
/// one in main before any HttpsConnection).
class TlsLibrary {
  public:
    TlsLibrary();
    ~TlsLibrary();
    TlsLibrary(const TlsLibrary&) = delete;
    TlsLibrary& operator=(const TlsLibrary&) = delete;
};

}  // namespace kms::client
