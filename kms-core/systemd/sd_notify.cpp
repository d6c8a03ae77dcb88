// Notifier (see sd_notify.hpp): the datagram, the address forms, the watchdog variables.
#include "systemd/sd_notify.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>

namespace kms::sysd {

namespace {

/// A positive decimal number, or 0 when @p text is not one.
unsigned long long positive(const char* text) {
    if (text == nullptr || *text == '\0') return 0;
    char* end = nullptr;
    errno = 0;
    const unsigned long long n = std::strtoull(text, &end, 10);
    if (errno != 0 || *end != '\0' || text[0] == '-') return 0;
    return n;
}

class Fd {
  public:
    explicit Fd(int fd) noexcept : m_fd(fd) {}
    ~Fd() {
        if (m_fd >= 0) ::close(m_fd);
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    int get() const noexcept { return m_fd; }

  private:
    int m_fd;
};

}  // namespace

Notifier::Notifier(std::string socket_name, std::chrono::microseconds watchdog)
    : m_socket(std::move(socket_name)), m_watchdog(watchdog) {}

Notifier Notifier::from_environment() {
    const char* socket_name = std::getenv("NOTIFY_SOCKET");
    std::chrono::microseconds watchdog{0};
    const unsigned long long usec = positive(std::getenv("WATCHDOG_USEC"));
    // sd_watchdog_enabled(3): WATCHDOG_PID, when set, names the process meant to ping; a child
    // that inherited the variables must not.
    const char* pid_text = std::getenv("WATCHDOG_PID");
    const bool ours =
        pid_text == nullptr || positive(pid_text) == static_cast<unsigned long long>(::getpid());
    if (usec != 0 && ours) watchdog = std::chrono::microseconds(usec);
    return Notifier(socket_name != nullptr ? socket_name : "", watchdog);
}

bool Notifier::send(std::string_view state, std::string* error) const noexcept {
    if (m_socket.empty()) return true;
    auto failed = [error](const char* what, int err) {
        if (error != nullptr) {
            try {
                *error = what;
                if (err != 0) *error += std::string(": ") + std::strerror(err);
            } catch (...) {
            }
        }
        return false;
    };
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    // "@name" is the abstract name "\0name"; anything else must be an absolute path
    // (systemd also accepts vsock: addresses, which a machine running this appliance does not
    // hand to its services).
    if (m_socket[0] != '/' && m_socket[0] != '@')
        return failed("NOTIFY_SOCKET is neither an absolute path nor an abstract name", 0);
    if (m_socket.size() > sizeof(addr.sun_path) ||
        (m_socket[0] == '/' && m_socket.size() == sizeof(addr.sun_path)))
        return failed("NOTIFY_SOCKET is longer than a unix socket address", 0);
    std::memcpy(addr.sun_path, m_socket.data(), m_socket.size());
    if (addr.sun_path[0] == '@') addr.sun_path[0] = '\0';
    // An abstract name's length is exactly its bytes; a path is NUL-terminated.
    const socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + m_socket.size() +
                                                 (m_socket[0] == '/' ? 1 : 0));

    const Fd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (fd.get() < 0) return failed("socket(AF_UNIX, SOCK_DGRAM)", errno);
    const ssize_t n = ::sendto(fd.get(), state.data(), state.size(), MSG_NOSIGNAL | MSG_DONTWAIT,
                               reinterpret_cast<const sockaddr*>(&addr), len);
    if (n < 0) return failed("sendto(NOTIFY_SOCKET)", errno);
    if (static_cast<std::size_t>(n) != state.size()) return failed("short datagram", 0);
    return true;
}

}  // namespace kms::sysd
