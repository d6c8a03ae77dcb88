// HTTPS transport to kmsd over Poco::Net, with OpenSSL doing the host name check.
#include "client/https_connection.hpp"

#include <Poco/Exception.h>
#include <Poco/Net/Context.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/HTTPSClientSession.h>
#include <Poco/Net/IPAddress.h>
#include <Poco/Net/InvalidCertificateHandler.h>
#include <Poco/Net/NetException.h>
#include <Poco/Net/NetSSL.h>
#include <Poco/Net/SSLException.h>
#include <Poco/Net/VerificationErrorArgs.h>
#include <Poco/Timespan.h>
#include <Poco/URI.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <istream>
#include <ostream>

namespace kms::client {

namespace {

/// Rejects every certificate OpenSSL did not accept, remembering why so the error message can
/// say it (Poco's own exception only says "certificate verify failed"). It is set on the
/// Context, which Poco 1.11 asks before the SSLManager-wide handlers.
class RememberingRejectHandler : public Poco::Net::InvalidCertificateHandler {
  public:
    RememberingRejectHandler() : InvalidCertificateHandler(false) {}

    void onInvalidCertificate(const void*, Poco::Net::VerificationErrorArgs& args) override {
        args.setIgnoreError(false);
        if (m_problem.empty())
            m_problem = args.errorMessage() + " (certificate " + args.certificate().subjectName() +
                        ", depth " + std::to_string(args.errorDepth()) + ")";
    }

    const std::string& problem() const { return m_problem; }
    void clear() { m_problem.clear(); }

  private:
    std::string m_problem;
};

}  // namespace

void parse_https_url(const std::string& url, HttpsEndpoint& out) {
    Poco::URI uri;
    try {
        uri = Poco::URI(url);
    } catch (const Poco::Exception& e) {
        throw std::invalid_argument("cannot parse '" + url + "': " + e.message());
    }
    if (uri.getScheme() != "https")
        throw std::invalid_argument("kmsd serves HTTPS only; expected https://HOST:PORT, got '" +
                                    url + "'");
    if (uri.getHost().empty()) throw std::invalid_argument("no host in '" + url + "'");
    if (!uri.getUserInfo().empty() || !uri.getRawQuery().empty() || !uri.getFragment().empty())
        throw std::invalid_argument("give only https://HOST:PORT[/PATH], got '" + url + "'");
    out.url = url;
    out.host = uri.getHost();
    out.port = uri.getPort();
    std::string path = uri.getPath();
    while (!path.empty() && path.back() == '/') path.pop_back();
    out.base_path = path;
}

struct HttpsConnection::Impl {
    HttpsEndpoint endpoint;
    std::size_t max_answer = 0;
    Poco::SharedPtr<RememberingRejectHandler> verifier;
    Poco::Net::Context::Ptr context;
    std::unique_ptr<Poco::Net::HTTPSClientSession> session;

    std::string tls_failure(const std::string& detail) const {
        std::string msg = "TLS with " + endpoint.host + ":" + std::to_string(endpoint.port) +
                          " failed: ";
        if (!verifier->problem().empty())
            msg += "the server certificate was rejected: " + verifier->problem() +
                   (endpoint.ca_file ? "; check the CA file " + *endpoint.ca_file +
                                           " and the URL's host"
                                     : "; no CA file given, so only the system CAs are trusted");
        else
            msg += detail;
        return msg;
    }

    std::string read_limited(std::istream& in) const {
        std::string body;
        char buffer[16 * 1024];
        while (in) {
            in.read(buffer, sizeof buffer);
            body.append(buffer, static_cast<std::size_t>(in.gcount()));
            if (body.size() > max_answer)
                throw TransportError(TransportError::Kind::TooLarge,
                                     "the server's answer is larger than " +
                                         std::to_string(max_answer) + " bytes",
                                     true);
        }
        return body;
    }
};

HttpsConnection::HttpsConnection(const HttpsEndpoint& endpoint, std::size_t max_answer)
    : m_impl(std::make_unique<Impl>()) {
    using Poco::Net::Context;
    m_impl->endpoint = endpoint;
    m_impl->max_answer = max_answer;
    m_impl->verifier = new RememberingRejectHandler();

    Context::Params params;
    params.verificationMode = Context::VERIFY_RELAXED;  // a client: verify the server's chain
    params.verificationDepth = 9;
    params.loadDefaultCAs = !endpoint.ca_file.has_value();
    if (endpoint.ca_file) params.caLocation = *endpoint.ca_file;
    if (endpoint.cert_file) {
        params.certificateFile = *endpoint.cert_file;
        params.privateKeyFile = endpoint.key_file.value_or(*endpoint.cert_file);
    }
    params.cipherList = "HIGH:!aNULL:!eNULL:!MD5:!RC4:!3DES:!CAMELLIA:!ARIA";
    try {
        m_impl->context = new Context(Context::TLS_CLIENT_USE, params);
    } catch (const Poco::Exception& e) {
        throw TransportError(TransportError::Kind::Setup,
                             "cannot set up TLS: " + e.displayText() +
                                 " (check the CA file, the client certificate and its key)",
                             false);
    }
    m_impl->context->requireMinimumProtocol(Context::PROTO_TLSV1_2);
    m_impl->context->setInvalidCertificateHandler(m_impl->verifier);

    // Poco's own host check is skipped for loopback addresses unless VERIFY_STRICT, and before
    // 1.12 it ignores IP SANs; so hand the check to OpenSSL, which runs it inside the chain
    // verification (RFC 6125 rules, no partial wildcards) and fails the handshake on mismatch.
    m_impl->context->enableExtendedCertificateVerification(false);
    X509_VERIFY_PARAM* vp = SSL_CTX_get0_param(m_impl->context->sslContext());
    Poco::Net::IPAddress ip;
    int ok = 0;
    if (Poco::Net::IPAddress::tryParse(endpoint.host, ip)) {
        ok = X509_VERIFY_PARAM_set1_ip_asc(vp, endpoint.host.c_str());
    } else {
        X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        ok = X509_VERIFY_PARAM_set1_host(vp, endpoint.host.c_str(), endpoint.host.size());
    }
    if (ok != 1)
        throw TransportError(TransportError::Kind::Setup,
                             "cannot use host '" + endpoint.host + "' for TLS", false);

    m_impl->session = std::make_unique<Poco::Net::HTTPSClientSession>(
        endpoint.host, endpoint.port, m_impl->context);
    m_impl->session->setTimeout(Poco::Timespan(endpoint.timeout_seconds, 0));
    m_impl->session->setKeepAlive(true);
}

HttpsConnection::~HttpsConnection() = default;
HttpsConnection::HttpsConnection(HttpsConnection&&) noexcept = default;
HttpsConnection& HttpsConnection::operator=(HttpsConnection&&) noexcept = default;

const HttpsEndpoint& HttpsConnection::endpoint() const {
    return m_impl->endpoint;
}

HttpAnswer HttpsConnection::send(const HttpCall& call) {
    using Kind = TransportError::Kind;
    Impl& im = *m_impl;
    Poco::Net::HTTPRequest request(call.method, im.endpoint.base_path + call.target,
                                   Poco::Net::HTTPMessage::HTTP_1_1);
    request.set("Accept", call.accept);
    request.set("User-Agent", call.user_agent);
    if (call.bearer_token) request.set("Authorization", "Bearer " + *call.bearer_token);
    for (const auto& [name, value] : call.headers) request.set(name, value);
    if (call.body) {
        request.setContentType("application/json");
        request.setContentLength(static_cast<std::streamsize>(call.body->size()));
    } else if (call.method != "GET") {
        request.setContentLength(0);
    }

    im.verifier->clear();
    try {
        // An idle keep-alive connection that is readable has been closed by kmsd (a restart,
        // its keep-alive timeout): start a new one rather than send into it.
        if (im.session->connected() &&
            im.session->socket().poll(Poco::Timespan(0),
                                      Poco::Net::Socket::SELECT_READ | Poco::Net::Socket::SELECT_ERROR))
            im.session->reset();
        std::ostream& out = im.session->sendRequest(request);
        if (call.body) out << *call.body;
        out.flush();
        // The request stream swallows socket errors (a failed or timed-out TLS handshake, which
        // happens on the first write) and Poco rethrows them only in receiveResponse(); surface
        // them here so they count as connection failures, not as a missing answer.
        if (const Poco::Exception* failed = im.session->networkException()) failed->rethrow();
    } catch (const Poco::Net::SSLException& e) {
        im.session->reset();
        throw TransportError(Kind::Connect, im.tls_failure(e.displayText()), false);
    } catch (const Poco::TimeoutException&) {
        im.session->reset();
        throw TransportError(Kind::Connect,
                             "cannot connect to " + im.endpoint.url +
                                 ": the TCP connect or TLS handshake timed out",
                             false);
    } catch (const Poco::Exception& e) {
        im.session->reset();
        throw TransportError(Kind::Connect,
                             "cannot connect to " + im.endpoint.url + ": " + e.displayText(),
                             false);
    }

    HttpAnswer result;
    try {
        Poco::Net::HTTPResponse response;
        std::istream& in = im.session->receiveResponse(response);
        result.status = static_cast<int>(response.getStatus());
        result.reason = response.getReason();
        result.content_type = response.getContentType();
        result.body = im.read_limited(in);
    } catch (const TransportError&) {
        im.session->reset();
        throw;
    } catch (const Poco::Net::SSLException& e) {
        // A TLS 1.3 server sends its verdict on our certificate after the handshake.
        im.session->reset();
        throw TransportError(Kind::Connect, im.tls_failure(e.displayText()), true);
    } catch (const Poco::TimeoutException&) {
        im.session->reset();
        throw TransportError(Kind::Timeout,
                             "no answer from " + im.endpoint.url + " within " +
                                 std::to_string(im.endpoint.timeout_seconds) + " s",
                             true);
    } catch (const Poco::Exception& e) {
        im.session->reset();
        throw TransportError(Kind::Lost,
                             "lost the connection to " + im.endpoint.url + ": " + e.displayText(),
                             true);
    }
    return result;
}

TlsLibrary::TlsLibrary() {
    Poco::Net::initializeSSL();
}
TlsLibrary::~TlsLibrary() {
    Poco::Net::uninitializeSSL();
}

}  // namespace kms::client
