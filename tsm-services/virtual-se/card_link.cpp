// The vpcd framing over TCP and the reader-side card link (see card_link.hpp): POSIX sockets
// with poll() for every wait, no other dependency than kms-core's domain (bytes, errors).
#include "card_link.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "domain/error.hpp"

namespace kms::tsm::vse {

namespace {

[[noreturn]] void unavailable(const std::string& what, int err = 0) {
    std::string msg = what;
    if (err != 0) msg += ": " + std::string(std::strerror(err));
    throw Error(ErrorCode::HsmUnavailable, msg, err ? NativeKind::Errno : NativeKind::None,
                static_cast<std::uint64_t>(err));
}

/// Waits for @p events on @p fd; false on timeout.
bool wait_for(int fd, short events, int timeout_ms) {
    pollfd p{fd, events, 0};
    for (;;) {
        const int rc = ::poll(&p, 1, timeout_ms);
        if (rc > 0) return true;
        if (rc == 0) return false;
        if (errno != EINTR) unavailable("virtual SE link: poll", errno);
    }
}

/// Reads exactly @p n bytes. Returns false when the peer closed before the first byte and
/// @p eof_ok is set.
bool read_exact(int fd, std::uint8_t* out, std::size_t n, int timeout_ms, bool eof_ok) {
    std::size_t got = 0;
    while (got < n) {
        if (!wait_for(fd, POLLIN, timeout_ms))
            unavailable("virtual SE link: no answer within " + std::to_string(timeout_ms) + " ms");
        const ssize_t r = ::recv(fd, out + got, n - got, 0);
        if (r == 0) {
            if (got == 0 && eof_ok) return false;
            unavailable("virtual SE link: the peer closed the connection in the middle of a frame");
        }
        if (r < 0) {
            if (errno == EINTR || errno == EAGAIN) continue;
            unavailable("virtual SE link: recv", errno);
        }
        got += static_cast<std::size_t>(r);
    }
    return true;
}

void write_all(int fd, const std::uint8_t* data, std::size_t n, int timeout_ms) {
    std::size_t sent = 0;
    while (sent < n) {
        if (!wait_for(fd, POLLOUT, timeout_ms))
            unavailable("virtual SE link: the peer takes no data (" + std::to_string(timeout_ms) +
                        " ms)");
        const ssize_t r = ::send(fd, data + sent, n - sent, MSG_NOSIGNAL);
        if (r < 0) {
            if (errno == EINTR || errno == EAGAIN) continue;
            unavailable("virtual SE link: send", errno);
        }
        sent += static_cast<std::size_t>(r);
    }
}

std::string peer_name(const std::string& host, std::uint16_t port) {
    return host + ":" + std::to_string(port);
}

}  // namespace

void vpcd_send(int fd, ByteView payload, int timeout_ms) {
    if (payload.empty() || payload.size() > 0xFFFF)
        throw Error(ErrorCode::InvalidArgument, "vpcd frame: the payload must be 1..65535 bytes");
    Bytes frame{static_cast<std::uint8_t>(payload.size() >> 8),
                static_cast<std::uint8_t>(payload.size())};
    frame.insert(frame.end(), payload.begin(), payload.end());
    write_all(fd, frame.data(), frame.size(), timeout_ms);
}

std::optional<Bytes> vpcd_receive(int fd, int timeout_ms) {
    std::uint8_t len[2];
    if (!read_exact(fd, len, 2, timeout_ms, true)) return std::nullopt;
    Bytes payload(static_cast<std::size_t>(len[0] << 8 | len[1]));
    if (!payload.empty()) read_exact(fd, payload.data(), payload.size(), timeout_ms, false);
    return payload;
}

int tcp_connect(const std::string& host, std::uint16_t port, int timeout_ms) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* list = nullptr;
    const std::string service = std::to_string(port);
    const int gai = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &list);
    if (gai != 0)
        unavailable("virtual SE link: cannot resolve " + host + ": " + ::gai_strerror(gai));
    int last_err = 0;
    for (addrinfo* a = list; a; a = a->ai_next) {
        const int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) {
            last_err = errno;
            continue;
        }
        // Non-blocking connect so the timeout holds; blocking again afterwards (poll guards
        // every read and write).
        const int flags = ::fcntl(fd, F_GETFL);
        ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
        int rc = ::connect(fd, a->ai_addr, a->ai_addrlen);
        if (rc < 0 && errno == EINPROGRESS) {
            if (wait_for(fd, POLLOUT, timeout_ms)) {
                int err = 0;
                socklen_t len = sizeof err;
                ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
                rc = err == 0 ? 0 : -1;
                errno = err;
            } else {
                errno = ETIMEDOUT;
            }
        }
        if (rc == 0) {
            ::fcntl(fd, F_SETFL, flags);
            const int one = 1;
            ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            ::freeaddrinfo(list);
            return fd;
        }
        last_err = errno;
        ::close(fd);
    }
    ::freeaddrinfo(list);
    unavailable("virtual SE link: cannot connect to " + peer_name(host, port), last_err);
}

int tcp_listen(const std::string& host, std::uint16_t port, std::uint16_t& bound_port) {
    sockaddr_storage addr{};
    socklen_t addr_len = 0;
    auto* v4 = reinterpret_cast<sockaddr_in*>(&addr);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&addr);
    if (::inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        addr_len = sizeof *v4;
    } else if (::inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
        addr_len = sizeof *v6;
    } else {
        throw Error(ErrorCode::InvalidArgument,
                    "listen address '" + host + "' is not a numeric IPv4 or IPv6 address");
    }
    const int fd = ::socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) unavailable("virtual SE: socket", errno);
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), addr_len) != 0 || ::listen(fd, 8) != 0) {
        const int err = errno;
        ::close(fd);
        unavailable("virtual SE: cannot listen on " + peer_name(host, port), err);
    }
    sockaddr_storage bound{};
    socklen_t bound_len = sizeof bound;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &bound_len);
    bound_port =
        ntohs(bound.ss_family == AF_INET ? reinterpret_cast<sockaddr_in*>(&bound)->sin_port
                                         : reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port);
    return fd;
}

int tcp_accept(int listen_fd, int timeout_ms) {
    if (!wait_for(listen_fd, POLLIN, timeout_ms)) return -1;
    const int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
        if (errno == EINTR || errno == EAGAIN || errno == ECONNABORTED) return -1;
        unavailable("virtual SE: accept", errno);
    }
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

TcpCardLink::TcpCardLink(std::string host, std::uint16_t port, int timeout_ms)
    : m_fd(tcp_connect(host, port, timeout_ms)),
      m_timeout_ms(timeout_ms),
      m_peer(peer_name(host, port)) {}

TcpCardLink::TcpCardLink(int fd, int timeout_ms, std::string peer) noexcept
    : m_fd(fd), m_timeout_ms(timeout_ms), m_peer(std::move(peer)) {}

TcpCardLink TcpCardLink::adopt(int fd, int timeout_ms, std::string peer) {
    return TcpCardLink(fd, timeout_ms, std::move(peer));
}

TcpCardLink::~TcpCardLink() {
    if (m_fd >= 0) ::close(m_fd);
}

TcpCardLink::TcpCardLink(TcpCardLink&& other) noexcept
    : m_fd(std::exchange(other.m_fd, -1)),
      m_timeout_ms(other.m_timeout_ms),
      m_peer(std::move(other.m_peer)) {}

TcpCardLink& TcpCardLink::operator=(TcpCardLink&& other) noexcept {
    if (this != &other) {
        if (m_fd >= 0) ::close(m_fd);
        m_fd = std::exchange(other.m_fd, -1);
        m_timeout_ms = other.m_timeout_ms;
        m_peer = std::move(other.m_peer);
    }
    return *this;
}

void TcpCardLink::fail(const std::string& what) const {
    throw Error(ErrorCode::HsmUnavailable, "virtual SE " + m_peer + ": " + what);
}

Bytes TcpCardLink::atr() {
    control(kVpcdGetAtr);
    std::optional<Bytes> answer;
    try {
        answer = vpcd_receive(m_fd, m_timeout_ms);
    } catch (const Error& e) {
        fail(std::string("ATR: ") + e.what());
    }
    if (!answer) fail("the card closed the connection instead of sending its ATR");
    return std::move(*answer);
}

Bytes TcpCardLink::transmit(ByteView command_apdu) {
    if (command_apdu.size() < 4 || command_apdu.size() > 0xFFFF)
        throw Error(ErrorCode::InvalidArgument,
                    "virtual SE link: a command APDU has 4..65535 bytes");
    std::optional<Bytes> answer;
    try {
        vpcd_send(m_fd, command_apdu, m_timeout_ms);
        answer = vpcd_receive(m_fd, m_timeout_ms);
    } catch (const Error& e) {
        fail(std::string("APDU: ") + e.what());
    }
    if (!answer) fail("the card closed the connection instead of answering the APDU");
    if (answer->size() < 2)
        throw Error(ErrorCode::Integrity, "virtual SE " + m_peer + ": an answer of " +
                                              std::to_string(answer->size()) +
                                              " byte(s) is no response APDU");
    return std::move(*answer);
}

void TcpCardLink::control(std::uint8_t code) {
    try {
        vpcd_send(m_fd, Bytes{code}, m_timeout_ms);
    } catch (const Error& e) {
        fail(e.what());
    }
}

void TcpCardLink::reset() {
    control(kVpcdReset);
}

void TcpCardLink::power_on() {
    control(kVpcdPowerOn);
}

void TcpCardLink::power_off() {
    control(kVpcdPowerOff);
}

}  // namespace kms::tsm::vse
