// kmsd's KMIP listener: TLS 1.2+ with mutual authentication against the KMS CA (KMIP 1.4
// Profiles §3.1, the Basic/TLS 1.2 Authentication Suites: the client certificate is
// required), the TTLV stream framed one Request Message → one Response Message at a time, and
// the principal taken from the client certificate exactly as the REST mTLS path takes it
// (api::principal_for_certificate: issued and recorded by this KMS, not revoked, a client
// profile, bound to an enabled principal). The certificate is checked again for every
// message, so a revocation stops an open connection at its next request.
//
// Bounds: at most max_connections connections are served at once (one thread each, more
// wait in the accept queue), the TLS handshake and the rest of a started message must come
// within 10 s, a message larger than max_message is answered Invalid Message and the
// connection closed, an idle connection is closed after idle_timeout_s, a message that does
// not decode is answered and the connection closed (the stream cannot be trusted to be in
// step any more). Idle authenticated connections do hold their thread: max_connections of
// them keep further clients waiting in the queue until one closes or times out.
#pragma once

#include <Poco/Net/TCPServer.h>
#include <Poco/ThreadPool.h>

#include <cstdint>
#include <memory>
#include <string>

#include "api/denial_audit.hpp"
#include "kmip/processor.hpp"
#include "services/audit_service.hpp"
#include "services/certificate_authority.hpp"
#include "services/principals.hpp"

namespace kms::kmip {

struct ListenerOptions {
    std::string listen;     ///< HOST:PORT (port 0: any free port)
    std::string cert_file;  ///< PEM: kmsd's server certificate (then the chain)
    std::string key_file;   ///< PEM: its private key
    std::string ca_file;    ///< PEM: CA certificates client certificates must chain to
    int max_connections = 64;
    std::size_t max_message = 1u << 20;  ///< bytes of one request message
    int idle_timeout_s = 120;
    /// Audit records of refused authentications per client address and minute (0: no limit).
    std::size_t anonymous_denials_per_minute = 60;
};

/// Who may connect: the lookups api::principal_for_certificate needs, and the audit log of
/// refused authentications (actor "-", action "kmip.authenticate", the client's address in
/// the detail; rate-limited per address like REST's, api/denial_audit.hpp).
struct ListenerIdentity {
    core::CertificateAuthority& ca;
    core::PrincipalService& principals;
    core::AuditService& audit;
};

class KmipListener {
  public:
    /// Binds (SO_REUSEADDR, never SO_REUSEPORT). Throws kms::Error(InvalidArgument) for a bad
    /// address, Poco::Exception when the port cannot be bound or the TLS files not read.
    KmipListener(const ListenerOptions& options, Processor& processor, ListenerIdentity identity);
    ~KmipListener();
    KmipListener(const KmipListener&) = delete;
    KmipListener& operator=(const KmipListener&) = delete;

    void start();
    /// Stops accepting and aborts open connections (waits up to @p grace_ms for them).
    void stop(int grace_ms = 2000);
    std::uint16_t port() const { return m_port; }

    struct Registry;  ///< open connections' sockets (listener.cpp)

  private:
    std::unique_ptr<Registry> m_registry;
    Poco::ThreadPool m_pool;
    std::unique_ptr<Poco::Net::TCPServer> m_server;
    std::uint16_t m_port = 0;
};

}  // namespace kms::kmip
