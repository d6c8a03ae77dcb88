// A fast KMIP load client (issue 9, docs/benchmarks.md "KMIP"): the PyKMIP client caps what a
// benchmark can measure at a few thousand operations a second on 2 cores, so this one, in C++,
// drives a KMIP server (kmsd or pykmip-server) harder with the same requests.
//
// Usage:
//   kmip_load --port PORT --cert CLIENT.crt --key CLIENT.key --ca CA.pem --op get|encrypt
//             --id UNIQUE_ID [--host 127.0.0.1] [--threads 2] [--seconds 5] [--version 1.4]
//
// Each of THREADS threads opens one TLS 1.2+ connection with the client certificate (mutual
// authentication; the server's certificate must chain to CA.pem and name HOST) and sends one
// KMIP Request Message after another for SECONDS seconds, each answered before the next is sent
// (one batch item per message). The request is encoded once with kms-core/kmip's TTLV codec
// (KMIP 1.4 §9.1) and reused:
//   get:     Get (KMIP 1.4 §4.11) of UNIQUE_ID, no Key Format Type (the server's default).
//   encrypt: Encrypt (KMIP 1.4 §4.29) of 64 zero bytes with UNIQUE_ID, Cryptographic Parameters
//            (§2.1.5) Block Cipher Mode CBC, Padding Method PKCS5, Cryptographic Algorithm AES
//            (in that order, as PyKMIP sends them), IV/Counter/Nonce 00 01 .. 0f: the request
//            benchmarks/kmip_bench.py makes with PyKMIP.
// The Protocol Version (§6.1) is VERSION (1.0 to 1.4, 2.0; default 1.4).
//
// A response whose batch item has Result Status Success (§9.1.3.2.28) counts as a success;
// anything else counts as an error, and the first error's Result Reason and Result Message are
// printed. A connection the server closes, a TLS failure or 10 s without an answer counts as
// one error and ends that thread. Output, one line, key=value:
//   op=encrypt threads=2 seconds=5.00 ok=123456 errors=0 ops_per_s=24691 p50_us=78 p99_us=160
// followed, when there were errors, by "first_error: reason=0x01 (...) message=...".
// Latency is measured per request from the write to the end of the response.
//
// Exit status: 0 with at least one success and no error, 1 when any error occurred or nothing
// succeeded, 2 for a usage error or when no connection could be set up at all.
#include <arpa/inet.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "kmip/protocol.hpp"
#include "kmip/ttlv.hpp"

namespace {

using namespace kms::kmip;
using Clock = std::chrono::steady_clock;

struct Options {
    std::string host = "127.0.0.1";
    std::string port, cert, key, ca, op, id;
    int threads = 2;
    double seconds = 5;
    int major = 1, minor = 4;
};

[[noreturn]] void usage(const std::string& problem) {
    std::fprintf(stderr,
                 "kmip_load: %s\nusage: kmip_load --port PORT --cert CRT --key KEY --ca CA "
                 "--op get|encrypt --id UID [--host H] [--threads N] [--seconds S] "
                 "[--version 1.0..1.4|2.0]\n",
                 problem.c_str());
    std::exit(2);
}

Options parse(int argc, char** argv) {
    Options o;
    std::map<std::string, std::string*> text{
        {"--host", &o.host}, {"--port", &o.port}, {"--cert", &o.cert}, {"--key", &o.key},
        {"--ca", &o.ca},     {"--op", &o.op},     {"--id", &o.id}};
    for (int i = 1; i < argc; i += 2) {
        const std::string name = argv[i];
        if (i + 1 >= argc) usage(name + " needs a value");
        const std::string value = argv[i + 1];
        if (auto t = text.find(name); t != text.end()) {
            *t->second = value;
        } else if (name == "--threads") {
            o.threads = std::atoi(value.c_str());
            if (o.threads < 1 || o.threads > 256) usage("--threads must be 1 to 256");
        } else if (name == "--seconds") {
            o.seconds = std::atof(value.c_str());
            if (!(o.seconds > 0 && o.seconds <= 3600)) usage("--seconds must be in (0, 3600]");
        } else if (name == "--version") {
            static const std::map<std::string, std::pair<int, int>> known{
                {"1.0", {1, 0}}, {"1.1", {1, 1}}, {"1.2", {1, 2}},
                {"1.3", {1, 3}}, {"1.4", {1, 4}}, {"2.0", {2, 0}}};
            auto v = known.find(value);
            if (v == known.end()) usage("--version must be 1.0 to 1.4 or 2.0");
            o.major = v->second.first;
            o.minor = v->second.second;
        } else {
            usage("unknown option " + name);
        }
    }
    for (auto [name, value] : text)
        if (value->empty()) usage(name + " is required");
    if (o.op != "get" && o.op != "encrypt") usage("--op must be get or encrypt");
    return o;
}

/// The Request Message (KMIP 1.4 §7.1, §7.2): header with the Protocol Version and Batch Count
/// 1, one Batch Item with the operation and its payload.
Octets build_request(const Options& o) {
    Item payload = Item::structure(tag::RequestPayload);
    payload.add(Item::text(tag::UniqueIdentifier, o.id));
    Op op = Op::Get;
    if (o.op == "encrypt") {
        op = Op::Encrypt;
        // Cryptographic Parameters fields in the order of KMIP 1.4 §2.1.5 (PyKMIP's order).
        payload.add(
            Item::structure(tag::CryptographicParameters,
                            {Item::enumeration(tag::BlockCipherMode, kModeCbc),
                             Item::enumeration(tag::PaddingMethod, kPaddingPkcs5),
                             Item::enumeration(tag::CryptographicAlgorithm,
                                               static_cast<std::uint32_t>(CryptoAlg::Aes))}));
        const Octets data(64, 0);
        Octets iv(16);
        for (std::size_t i = 0; i < iv.size(); ++i) iv[i] = static_cast<std::uint8_t>(i);
        payload.add(Item::byte_string(tag::Data, data));
        payload.add(Item::byte_string(tag::IvCounterNonce, iv));
    }
    Item version =
        Item::structure(tag::ProtocolVersion, {Item::integer(tag::ProtocolVersionMajor, o.major),
                                               Item::integer(tag::ProtocolVersionMinor, o.minor)});
    Item header = Item::structure(tag::RequestHeader, {version, Item::integer(tag::BatchCount, 1)});
    Item batch = Item::structure(
        tag::BatchItem,
        {Item::enumeration(tag::Operation, static_cast<std::uint32_t>(op)), payload});
    return encode(Item::structure(tag::RequestMessage, {header, batch}));
}

std::string openssl_error() {
    char buf[256] = "unknown TLS error";
    if (unsigned long e = ERR_get_error()) ERR_error_string_n(e, buf, sizeof buf);
    ERR_clear_error();
    return buf;
}

struct CtxFree {
    void operator()(SSL_CTX* c) const noexcept { SSL_CTX_free(c); }
};
struct SslFree {
    void operator()(SSL* s) const noexcept { SSL_free(s); }
};
using CtxPtr = std::unique_ptr<SSL_CTX, CtxFree>;
using SslPtr = std::unique_ptr<SSL, SslFree>;

/// One TLS context for all threads (SSL_CTX is safe to share once configured): TLS 1.2+,
/// the client certificate and key, the server verified against the CA file.
CtxPtr make_context(const Options& o) {
    CtxPtr ctx(SSL_CTX_new(TLS_client_method()));
    if (!ctx || !SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION) ||
        SSL_CTX_use_certificate_chain_file(ctx.get(), o.cert.c_str()) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx.get(), o.key.c_str(), SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_load_verify_locations(ctx.get(), o.ca.c_str(), nullptr) != 1) {
        std::fprintf(stderr, "kmip_load: TLS setup (certificate, key or CA file): %s\n",
                     openssl_error().c_str());
        std::exit(2);
    }
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
    return ctx;
}

/// Seconds a read or write may block before the connection counts as failed.
constexpr long kIoTimeoutSeconds = 10;

/// A connected, handshaken TLS connection that owns its socket; throws std::runtime_error.
class Connection {
  public:
    Connection(SSL_CTX* ctx, const Options& o) {
        addrinfo hints{};
        hints.ai_socktype = SOCK_STREAM;
        addrinfo* res = nullptr;
        if (getaddrinfo(o.host.c_str(), o.port.c_str(), &hints, &res) != 0 || !res)
            throw std::runtime_error("cannot resolve " + o.host + ":" + o.port);
        m_fd = socket(res->ai_family, res->ai_socktype, res->ai_protocol);
        const bool connected = m_fd >= 0 && connect(m_fd, res->ai_addr, res->ai_addrlen) == 0;
        freeaddrinfo(res);
        if (!connected) {
            close_fd();
            throw std::runtime_error("cannot connect to " + o.host + ":" + o.port + ": " +
                                     std::strerror(errno));
        }
        // A server that stops answering ends the thread (an error) instead of hanging it.
        const timeval limit{kIoTimeoutSeconds, 0};
        setsockopt(m_fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
        setsockopt(m_fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);
        m_ssl.reset(SSL_new(ctx));
        SSL_set_fd(m_ssl.get(), m_fd);
        // The server's certificate must name HOST: an IP address SAN for a literal address.
        X509_VERIFY_PARAM* param = SSL_get0_param(m_ssl.get());
        in6_addr addr;
        if (inet_pton(AF_INET, o.host.c_str(), &addr) == 1 ||
            inet_pton(AF_INET6, o.host.c_str(), &addr) == 1) {
            X509_VERIFY_PARAM_set1_ip_asc(param, o.host.c_str());
        } else {
            SSL_set_tlsext_host_name(m_ssl.get(), o.host.c_str());
            SSL_set1_host(m_ssl.get(), o.host.c_str());
        }
        if (SSL_connect(m_ssl.get()) != 1) {
            const std::string why = openssl_error();
            m_ssl.reset();
            close_fd();
            throw std::runtime_error("TLS handshake: " + why);
        }
    }
    ~Connection() {
        if (m_ssl) SSL_shutdown(m_ssl.get());
        m_ssl.reset();
        close_fd();
    }
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    void write_all(const Octets& data) {
        std::size_t written = 0;
        if (SSL_write_ex(m_ssl.get(), data.data(), data.size(), &written) != 1 ||
            written != data.size())
            throw std::runtime_error("TLS write: " + openssl_error());
    }
    void read_exact(std::uint8_t* out, std::size_t n) {
        while (n > 0) {
            std::size_t got = 0;
            if (SSL_read_ex(m_ssl.get(), out, n, &got) != 1)
                throw std::runtime_error("the server closed the connection or TLS failed: " +
                                         openssl_error());
            out += got;
            n -= got;
        }
    }

  private:
    void close_fd() noexcept {
        if (m_fd >= 0) ::close(m_fd);
        m_fd = -1;
    }
    int m_fd = -1;
    SslPtr m_ssl;
};

/// What one response says (KMIP 1.4 §7.2): Result Status, Reason and Message of its first
/// batch item.
struct Outcome {
    bool success = false;
    std::string error;
};

Outcome judge(const Item& response) {
    const Item* batch = response.find(tag::BatchItem);
    const Item* status = batch ? batch->find(tag::ResultStatus) : nullptr;
    if (!status) return {false, "a response without a Batch Item or Result Status"};
    if (status->number == static_cast<std::int64_t>(ResultStatus::Success)) return {true, {}};
    char text[64];
    std::snprintf(text, sizeof text, "status=%lld", static_cast<long long>(status->number));
    std::string error = text;
    if (const Item* reason = batch->find(tag::ResultReason)) {
        std::snprintf(text, sizeof text, " reason=0x%02llx",
                      static_cast<unsigned long long>(reason->number));
        error += text;
    }
    if (const Item* message = batch->find(tag::ResultMessage))
        error += " message=" + message->text_value();
    return {false, error};
}

struct Shared {
    std::atomic<long> ok{0}, errors{0}, connected{0};
    std::mutex first_error_mutex;
    std::string first_error;
    void error(const std::string& what) {
        errors.fetch_add(1, std::memory_order_relaxed);
        std::lock_guard lock(first_error_mutex);
        if (first_error.empty()) first_error = what;
    }
};

/// One thread: one connection, requests until @p end; latencies (microseconds) into @p lat.
void run(SSL_CTX* ctx, const Options& o, const Octets& request, Clock::time_point end,
         Shared& shared, std::vector<std::uint32_t>& lat) {
    try {
        Connection c(ctx, o);
        shared.connected.fetch_add(1);
        Octets buf(kHeaderSize);
        while (Clock::now() < end) {
            const auto t0 = Clock::now();
            c.write_all(request);
            buf.resize(kHeaderSize);
            c.read_exact(buf.data(), kHeaderSize);
            const std::size_t size = framed_size(buf, 1u << 20);
            buf.resize(size);
            c.read_exact(buf.data() + kHeaderSize, size - kHeaderSize);
            const auto t1 = Clock::now();
            lat.push_back(static_cast<std::uint32_t>(
                std::chrono::duration_cast<std::chrono::microseconds>(t1 - t0).count()));
            const Outcome outcome = judge(decode(buf));
            if (outcome.success)
                shared.ok.fetch_add(1, std::memory_order_relaxed);
            else
                shared.error(outcome.error);
        }
    } catch (const std::exception& e) {
        shared.error(e.what());
    }
}

std::uint32_t percentile(const std::vector<std::uint32_t>& sorted, double p) {
    if (sorted.empty()) return 0;
    const auto i = static_cast<std::size_t>(p * static_cast<double>(sorted.size() - 1) + 0.5);
    return sorted[std::min(i, sorted.size() - 1)];
}

}  // namespace

int main(int argc, char** argv) {
    const Options o = parse(argc, argv);
    const Octets request = build_request(o);
    CtxPtr ctx = make_context(o);
    Shared shared;
    std::vector<std::vector<std::uint32_t>> latencies(static_cast<std::size_t>(o.threads));
    const auto t0 = Clock::now();
    const auto end =
        t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.seconds));
    std::vector<std::thread> threads;
    for (int t = 0; t < o.threads; ++t)
        threads.emplace_back(run, ctx.get(), std::cref(o), std::cref(request), end,
                             std::ref(shared), std::ref(latencies[static_cast<std::size_t>(t)]));
    for (auto& t : threads) t.join();
    const double wall = std::chrono::duration<double>(Clock::now() - t0).count();

    std::vector<std::uint32_t> all;
    for (auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
    std::sort(all.begin(), all.end());
    const long ok = shared.ok.load(), errors = shared.errors.load();
    std::printf(
        "op=%s threads=%d seconds=%.2f ok=%ld errors=%ld ops_per_s=%.0f p50_us=%u "
        "p99_us=%u\n",
        o.op.c_str(), o.threads, wall, ok, errors, static_cast<double>(ok) / wall,
        percentile(all, 0.50), percentile(all, 0.99));
    if (!shared.first_error.empty()) std::printf("first_error: %s\n", shared.first_error.c_str());
    if (shared.connected.load() == 0) return 2;
    return ok > 0 && errors == 0 ? 0 : 1;
}
