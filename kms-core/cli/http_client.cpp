// HTTPS transport of kmsctl over Poco::Net with OpenSSL doing the host name check.
#include "http_client.hpp"

#include <Poco/Net/Context.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/HTTPSClientSession.h>
#include <Poco/Net/IPAddress.h>
#include <Poco/Net/InvalidCertificateHandler.h>
#include <Poco/Net/NetException.h>
#include <Poco/Net/NetSSL.h>
#include <Poco/Net/SSLException.h>
#include <Poco/Net/SSLManager.h>
#include <Poco/Net/VerificationErrorArgs.h>
#include <Poco/Timespan.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <istream>
#include <ostream>

#include "exit_codes.hpp"

namespace kms::cli {

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

std::string read_limited(std::istream& in) {
    std::string body;
    char buffer[16 * 1024];
    while (in) {
        in.read(buffer, sizeof buffer);
        body.append(buffer, static_cast<std::size_t>(in.gcount()));
        if (body.size() > kMaxResponseBody)
            throw CliError(ExitCode::ServerError, "the server's answer is larger than " +
                                                      std::to_string(kMaxResponseBody) + " bytes");
    }
    return body;
}

}  // namespace

struct HttpClient::Impl {
    ConnectionConfig cfg;
    Poco::SharedPtr<RememberingRejectHandler> verifier;
    Poco::Net::Context::Ptr context;
    std::unique_ptr<Poco::Net::HTTPSClientSession> session;

    std::string tls_failure(const std::string& detail) const {
        std::string msg = "TLS with " + cfg.host + ":" + std::to_string(cfg.port) + " failed: ";
        if (!verifier->problem().empty())
            msg += "the server certificate was rejected: " + verifier->problem() +
                   (cfg.ca_file ? "; check --ca " + *cfg.ca_file + " and the URL's host"
                                : "; no CA file given (--ca), so only the system CAs are trusted");
        else
            msg += detail;
        return msg;
    }
};

HttpClient::HttpClient(const ConnectionConfig& cfg) : m_impl(std::make_unique<Impl>()) {
    using Poco::Net::Context;
    m_impl->cfg = cfg;
    m_impl->verifier = new RememberingRejectHandler();

    Context::Params params;
    params.verificationMode = Context::VERIFY_RELAXED;  // a client: verify the server's chain
    params.verificationDepth = 9;
    params.loadDefaultCAs = !cfg.ca_file.has_value();
    if (cfg.ca_file) params.caLocation = *cfg.ca_file;
    if (cfg.cert_file) {
        params.certificateFile = *cfg.cert_file;
        params.privateKeyFile = cfg.key_file.value_or(*cfg.cert_file);
    }
    params.cipherList = "HIGH:!aNULL:!eNULL:!MD5:!RC4:!3DES:!CAMELLIA:!ARIA";
    try {
        m_impl->context = new Context(Context::TLS_CLIENT_USE, params);
    } catch (const Poco::Exception& e) {
        throw UsageError("cannot set up TLS: " + e.displayText() +
                         " (check --ca, --cert and --key)");
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
    if (Poco::Net::IPAddress::tryParse(cfg.host, ip)) {
        ok = X509_VERIFY_PARAM_set1_ip_asc(vp, cfg.host.c_str());
    } else {
        X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        ok = X509_VERIFY_PARAM_set1_host(vp, cfg.host.c_str(), cfg.host.size());
    }
    if (ok != 1) throw UsageError("--url: cannot use host '" + cfg.host + "' for TLS");

    m_impl->session =
        std::make_unique<Poco::Net::HTTPSClientSession>(cfg.host, cfg.port, m_impl->context);
    m_impl->session->setTimeout(Poco::Timespan(cfg.timeout_seconds, 0));
    m_impl->session->setKeepAlive(true);
}

HttpClient::~HttpClient() = default;
HttpClient::HttpClient(HttpClient&&) noexcept = default;
HttpClient& HttpClient::operator=(HttpClient&&) noexcept = default;

HttpResponse HttpClient::send(const ApiCall& call) {
    Impl& im = *m_impl;
    Poco::Net::HTTPRequest request(call.method, im.cfg.base_path + call.target,
                                   Poco::Net::HTTPMessage::HTTP_1_1);
    request.set("Accept", call.accept);
    request.set("User-Agent", "kmsctl/0.1");
    if (call.needs_auth && im.cfg.token) request.set("Authorization", "Bearer " + *im.cfg.token);
    if (call.body) {
        request.setContentType("application/json");
        request.setContentLength(static_cast<std::streamsize>(call.body->size()));
    } else if (call.method != "GET") {
        request.setContentLength(0);
    }

    im.verifier->clear();
    try {
        std::ostream& out = im.session->sendRequest(request);
        if (call.body) out << *call.body;
        out.flush();
        // The request stream swallows socket errors (a failed or timed-out TLS handshake, which
        // happens on the first write) and Poco rethrows them only in receiveResponse(); surface
        // them here so they count as connection failures, not as a missing answer.
        if (const Poco::Exception* failed = im.session->networkException()) failed->rethrow();
    } catch (const Poco::Net::SSLException& e) {
        throw CliError(ExitCode::ConnectFailed, im.tls_failure(e.displayText()));
    } catch (const Poco::TimeoutException&) {
        throw CliError(ExitCode::ConnectFailed, "cannot connect to " + im.cfg.url +
                                                    ": the TCP connect or TLS handshake timed out");
    } catch (const Poco::Exception& e) {
        throw CliError(ExitCode::ConnectFailed,
                       "cannot connect to " + im.cfg.url + ": " + e.displayText());
    }

    HttpResponse result;
    try {
        Poco::Net::HTTPResponse response;
        std::istream& in = im.session->receiveResponse(response);
        result.status = static_cast<int>(response.getStatus());
        result.reason = response.getReason();
        result.content_type = response.getContentType();
        result.body = read_limited(in);
    } catch (const CliError&) {
        throw;
    } catch (const Poco::Net::SSLException& e) {
        // A TLS 1.3 server sends its verdict on our certificate after the handshake.
        throw CliError(ExitCode::ConnectFailed, im.tls_failure(e.displayText()));
    } catch (const Poco::TimeoutException&) {
        throw CliError(ExitCode::ServerError, "no answer from " + im.cfg.url + " within " +
                                                  std::to_string(im.cfg.timeout_seconds) + " s");
    } catch (const Poco::Exception& e) {
        throw CliError(ExitCode::ServerError,
                       "lost the connection to " + im.cfg.url + ": " + e.displayText());
    }
    return result;
}

TlsLibrary::TlsLibrary() {
    Poco::Net::initializeSSL();
}
TlsLibrary::~TlsLibrary() {
    Poco::Net::uninitializeSSL();
}

}  // namespace kms::cli
