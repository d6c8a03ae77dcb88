// The KMIP TLS listener: accept, mTLS principal, read one framed TTLV message, answer it.
#include "kmip/listener.hpp"

#include <Poco/Net/Context.h>
#include <Poco/Net/NetException.h>
#include <Poco/Net/SecureServerSocket.h>
#include <Poco/Net/SecureStreamSocket.h>
#include <Poco/Net/TCPServerConnection.h>
#include <Poco/Net/TCPServerConnectionFactory.h>
#include <Poco/Net/TCPServerParams.h>
#include <Poco/Net/X509Certificate.h>
#include <openssl/bn.h>
#include <openssl/x509.h>
#include <sys/socket.h>

#include <chrono>
#include <ctime>
#include <iostream>
#include <mutex>
#include <set>

#include "api/authn.hpp"
#include "domain/error.hpp"
#include "domain/secure_bytes.hpp"
#include "kmip/protocol.hpp"

namespace kms::kmip {

namespace {

constexpr int kBodyTimeoutS = 10;

std::int64_t epoch_seconds(const ASN1_TIME* t) {
    std::tm tm{};
    if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1)
        throw Error(ErrorCode::Unauthenticated, "client certificate: unreadable validity dates");
    return static_cast<std::int64_t>(::timegm(&tm));
}

api::PresentedCertificate presented(const Poco::Net::X509Certificate& cert) {
    const X509* x = cert.certificate();
    api::PresentedCertificate out;
    BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), nullptr);
    char* hex = bn != nullptr ? BN_bn2hex(bn) : nullptr;
    BN_free(bn);
    if (hex == nullptr) throw Error(ErrorCode::Unauthenticated, "client certificate: bad serial");
    out.serial_hex = hex;
    OPENSSL_free(hex);
    unsigned char* der = nullptr;
    const int len = i2d_X509(const_cast<X509*>(x), &der);
    if (len <= 0) throw Error(ErrorCode::Unauthenticated, "client certificate: cannot be encoded");
    out.der.assign(der, der + len);
    OPENSSL_free(der);
    out.not_before_s = epoch_seconds(X509_get0_notBefore(x));
    out.not_after_s = epoch_seconds(X509_get0_notAfter(x));
    return out;
}

/// Reads exactly @p n bytes; false when the peer closed the connection before the first one.
bool read_exact(Poco::Net::SecureStreamSocket& s, std::uint8_t* p, std::size_t n, bool first) {
    std::size_t got = 0;
    while (got < n) {
        const int r = s.receiveBytes(p + got, static_cast<int>(n - got));
        if (r <= 0) {
            if (got == 0 && first) return false;
            throw Poco::Net::NetException("connection closed inside a message");
        }
        got += static_cast<std::size_t>(r);
    }
    return true;
}

/// Wipes every value a message holds (a Register carries clear key material in Byte Strings
/// and Big Integers), through a call the compiler cannot elide.
void wipe_item(Item& i) noexcept {
    kms::secure_wipe(i.bytes.data(), i.bytes.size());
    for (Item& c : i.children) wipe_item(c);
}

/// Wipes the received bytes and their decoded form when a message's turn ends, on every path.
struct WipeMessage {
    Octets& buf;
    Item& item;
    ~WipeMessage() {
        wipe_item(item);
        kms::secure_wipe(buf.data(), buf.size());
    }
};

void send_item(Poco::Net::SecureStreamSocket& s, const Item& msg) {
    Octets out = encode(msg);
    // A Get of Secret Data answers a secret: the encoded copy is wiped on every path.
    struct Wipe {
        Octets& b;
        ~Wipe() { kms::secure_wipe(b.data(), b.size()); }
    } wipe{out};
    std::size_t sent = 0;
    while (sent < out.size()) {
        const int n = s.sendBytes(out.data() + sent, static_cast<int>(out.size() - sent));
        if (n <= 0) throw Poco::Net::NetException("send failed");
        sent += static_cast<std::size_t>(n);
    }
}

}  // namespace

/// The sockets of open connections, so that stop() can end reads blocked on idle clients.
struct KmipListener::Registry {
    explicit Registry(std::size_t denials_per_minute) : limiter(denials_per_minute, 60000) {}
    std::mutex mutex;
    std::set<int> fds;
    bool stopping = false;
    api::AnonymousDenialLimiter limiter;  ///< refused authentications, per client address
};

namespace {

class Connection final : public Poco::Net::TCPServerConnection {
  public:
    Connection(const Poco::Net::StreamSocket& s, const ListenerOptions& o, Processor& p,
               ListenerIdentity id, KmipListener::Registry& reg)
        : TCPServerConnection(s), m_o(o), m_p(p), m_id(id), m_reg(reg) {}

    void run() override {
        const int fd = socket().impl()->sockfd();
        {
            std::lock_guard lock(m_reg.mutex);
            if (m_reg.stopping) return;
            m_reg.fds.insert(fd);
        }
        serve_connection();
        std::lock_guard lock(m_reg.mutex);
        m_reg.fds.erase(fd);
    }

  private:
    void serve_connection() {
        try {
            Poco::Net::SecureStreamSocket s(socket());
            // The handshake gets the short timeout: a peer that connects and sends nothing
            // must not hold one of the max_connections threads for the idle timeout.
            s.setReceiveTimeout(Poco::Timespan(kBodyTimeoutS, 0));
            s.setSendTimeout(Poco::Timespan(30, 0));
            s.completeHandshake();
            s.setReceiveTimeout(Poco::Timespan(m_o.idle_timeout_s, 0));
            if (!s.havePeerCertificate()) return;  // VERIFY_STRICT refuses this already
            const api::PresentedCertificate cert = presented(s.peerCertificate());
            serve(s, cert);
        } catch (const Poco::Exception&) {
            // A handshake refused, a timeout, a reset: the connection just ends.
        } catch (const std::exception& e) {
            std::cerr << "kmsd: kmip: connection ended: " << e.what() << std::endl;
        }
    }

    void serve(Poco::Net::SecureStreamSocket& s, const api::PresentedCertificate& cert) {
        DecodeLimits limits;
        limits.max_message = m_o.max_message;
        Octets buf;
        for (;;) {
            std::uint8_t header[kHeaderSize];
            if (!read_exact(s, header, kHeaderSize, true)) return;
            std::size_t total = 0;
            try {
                total = framed_size(OctetView(header, kHeaderSize), m_o.max_message);
            } catch (const TtlvError& e) {
                send_item(s, Processor::decode_failure(e.what()));
                return;  // the rest of the stream cannot be framed
            }
            buf.assign(header, header + kHeaderSize);
            buf.resize(total);
            // Once a message has started, its rest must follow promptly: a client cannot hold
            // a thread by announcing a long message and sending nothing.
            s.setReceiveTimeout(Poco::Timespan(kBodyTimeoutS, 0));
            read_exact(s, buf.data() + kHeaderSize, total - kHeaderSize, false);
            s.setReceiveTimeout(Poco::Timespan(m_o.idle_timeout_s, 0));
            Item request;
            const WipeMessage wipe{buf, request};
            try {
                request = decode(buf, limits);
            } catch (const TtlvError& e) {
                send_item(s, Processor::decode_failure(e.what()));
                return;
            }
            core::Principal caller;
            try {
                caller = api::principal_for_certificate(
                    cert, static_cast<std::int64_t>(std::time(nullptr)),
                    [&](std::string_view serial) { return m_id.ca.find(serial); },
                    [&](std::string_view name) { return m_id.principals.find(name); });
            } catch (const Error& e) {
                audit_refusal(e.what());
                send_item(s, Processor::failure(
                                 static_cast<std::uint32_t>(Reason::AuthenticationNotSuccessful),
                                 e.what()));
                return;
            }
            Item response = m_p.handle(caller, request);
            try {
                send_item(s, response);
            } catch (...) {
                wipe_item(response);
                throw;
            }
            wipe_item(response);
        }
    }

    /// One audit record for a refused authentication, rate-limited per client address.
    void audit_refusal(const std::string& why) {
        std::string source = "?";
        try {
            source = socket().peerAddress().host().toString();
        } catch (const Poco::Exception&) {
        }
        const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::steady_clock::now().time_since_epoch())
                                .count();
        const auto d = m_reg.limiter.admit(source, now_ms);
        for (const auto& [from, n] : d.summaries)
            m_id.audit.record_denial("-", "audit.suppressed", from,
                                     std::to_string(n) + " refused KMIP authentications from " +
                                         from + " were not recorded one by one");
        if (!d.record) return;
        std::string detail = "unauthenticated: " + why + " | KMIP from " + source;
        if (d.limit_reached)
            detail += " (audit limit reached: further refusals from " + source +
                      " in this window are counted, not recorded)";
        if (!m_id.audit.record_denial("-", "kmip.authenticate", "", api::printable(detail, 716)))
            std::cerr << "kmsd: kmip: could not write the audit record of a refused "
                         "authentication"
                      << std::endl;
    }

    const ListenerOptions& m_o;
    Processor& m_p;
    ListenerIdentity m_id;
    KmipListener::Registry& m_reg;
};

class Factory final : public Poco::Net::TCPServerConnectionFactory {
  public:
    Factory(const ListenerOptions& o, Processor& p, ListenerIdentity id,
            KmipListener::Registry& reg)
        : m_o(o), m_p(p), m_id(id), m_reg(reg) {}
    Poco::Net::TCPServerConnection* createConnection(const Poco::Net::StreamSocket& s) override {
        return new Connection(s, m_o, m_p, m_id, m_reg);
    }

  private:
    ListenerOptions m_o;
    Processor& m_p;
    ListenerIdentity m_id;
    KmipListener::Registry& m_reg;
};

Poco::Net::SocketAddress parse_listen(const std::string& listen) {
    try {
        return Poco::Net::SocketAddress(listen);
    } catch (const Poco::Exception& e) {
        throw Error(ErrorCode::InvalidArgument, "--kmip-listen: " + e.displayText());
    }
}

}  // namespace

KmipListener::KmipListener(const ListenerOptions& options, Processor& processor,
                           ListenerIdentity identity)
    : m_registry(std::make_unique<Registry>(options.anonymous_denials_per_minute)),
      m_pool(2, options.max_connections + 2, 60) {
    using Poco::Net::Context;
    // VERIFY_STRICT: a client without a certificate chaining to the KMS CA fails the handshake.
    Context::Ptr ctx = new Context(Context::TLS_SERVER_USE, options.key_file, options.cert_file,
                                   options.ca_file, Context::VERIFY_STRICT, 9, false,
                                   "ECDHE+AESGCM:ECDHE+CHACHA20:ECDHE+AES:!aNULL:!MD5:!RC4:!3DES");
    ctx->requireMinimumProtocol(Context::PROTO_TLSV1_2);
    ctx->preferServerCiphers();
    Poco::Net::SecureServerSocket socket(ctx);
    socket.bind(parse_listen(options.listen), true, false);
    socket.listen(64);
    m_port = socket.address().port();
    Poco::Net::TCPServerParams::Ptr params = new Poco::Net::TCPServerParams;
    params->setMaxThreads(options.max_connections);
    params->setMaxQueued(64);
    m_server = std::make_unique<Poco::Net::TCPServer>(
        new Factory(options, processor, identity, *m_registry), m_pool, socket, params);
}

KmipListener::~KmipListener() {
    if (m_server) stop(0);
}

void KmipListener::start() {
    m_server->start();
}

void KmipListener::stop(int grace_ms) {
    m_server->stop();
    for (int waited = 0; waited < grace_ms && m_server->currentConnections() > 0; waited += 50)
        Poco::Thread::sleep(50);
    // TCPServer::stop() does not end a connection blocked in a read: shut its socket down at
    // the OS level (not through OpenSSL, which its own thread is using), so the read returns.
    for (int round = 0; round < 100; ++round) {
        {
            std::lock_guard lock(m_registry->mutex);
            m_registry->stopping = true;
            for (int fd : m_registry->fds) ::shutdown(fd, SHUT_RDWR);
        }
        if (m_server->currentConnections() == 0) break;
        Poco::Thread::sleep(20);
    }
}

}  // namespace kms::kmip
