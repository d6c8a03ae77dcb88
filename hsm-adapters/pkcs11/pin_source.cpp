// PinSource::resolve: the user PIN from a file, an environment variable or a config value,
// read into locked memory. Errors name the file or variable, never the PIN.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "domain/error.hpp"
#include "pkcs11/pkcs11_hsm.hpp"

namespace kms::hsm {

namespace {

constexpr std::size_t kMaxPinFile = 4096;

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

[[noreturn]] void file_error(const std::string& path, const std::string& what, int err = 0) {
    std::string msg = "PIN file " + path + ": " + what;
    if (err != 0) msg += std::string(" (") + std::strerror(err) + ")";
    throw Error(ErrorCode::InvalidArgument, msg, err != 0 ? NativeKind::Errno : NativeKind::None,
                static_cast<std::uint64_t>(err));
}

SecretString trimmed(const std::uint8_t* data, std::size_t size) {
    while (size > 0 && (data[size - 1] == '\n' || data[size - 1] == '\r')) --size;
    return SecretString(std::string_view(reinterpret_cast<const char*>(data), size));
}

SecretString read_pin_file(const std::string& path) {
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (fd.get() < 0) file_error(path, "cannot open", errno);
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) file_error(path, "cannot stat", errno);
    if (!S_ISREG(st.st_mode)) file_error(path, "not a regular file");
    if ((st.st_mode & S_IROTH) != 0) file_error(path, "readable by others; use mode 0600 or 0640");
    if (st.st_size <= 0 || static_cast<std::size_t>(st.st_size) > kMaxPinFile)
        file_error(path, "empty or larger than 4096 bytes");
    SecureBytes buffer(static_cast<std::size_t>(st.st_size));
    std::size_t got = 0;
    while (got < buffer.size()) {
        const ssize_t n = ::read(fd.get(), buffer.data() + got, buffer.size() - got);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) file_error(path, "cannot read", errno);
        if (n == 0) break;
        got += static_cast<std::size_t>(n);
    }
    SecretString pin = trimmed(buffer.data(), got);  // buffer is wiped on return
    if (pin.empty()) file_error(path, "holds no PIN");
    return pin;
}

}  // namespace

SecretString PinSource::resolve() const {
    switch (kind) {
        case Kind::File:
            if (where.empty()) throw Error(ErrorCode::InvalidArgument, "PIN file: no path given");
            return read_pin_file(where);
        case Kind::Env: {
            if (where.empty())
                throw Error(ErrorCode::InvalidArgument, "PIN variable: no name given");
            const char* value = std::getenv(where.c_str());
            if (value == nullptr || *value == '\0')
                throw Error(ErrorCode::InvalidArgument,
                            "PIN environment variable " + where + " is not set or empty");
            return SecretString(value);
        }
        case Kind::Value:
            if (where.empty()) throw Error(ErrorCode::InvalidArgument, "PIN value is empty");
            return SecretString(where);
    }
    throw Error(ErrorCode::InvalidArgument, "unknown PIN source");
}

}  // namespace kms::hsm
