// File helpers (see files.hpp).
#include "daemon/files.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "domain/error.hpp"

namespace kms::daemon {

namespace {
[[noreturn]] void fail(const std::string& what, const std::string& path) {
    const int e = errno;
    throw Error(ErrorCode::Internal, what + " " + path + ": " + std::strerror(e), NativeKind::Errno,
                static_cast<std::uint64_t>(e));
}
}  // namespace

void write_file_atomic(const std::string& path, const std::string& content, mode_t mode) {
    const std::string tmp = path + ".tmp";
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) fail("cannot create", tmp);
    ::fchmod(fd, mode);
    std::size_t off = 0;
    while (off < content.size()) {
        const ssize_t n = ::write(fd, content.data() + off, content.size() - off);
        if (n < 0) {
            if (errno == EINTR) continue;
            ::close(fd);
            fail("cannot write", tmp);
        }
        off += static_cast<std::size_t>(n);
    }
    if (::fsync(fd) != 0) {
        ::close(fd);
        fail("cannot sync", tmp);
    }
    ::close(fd);
    if (::rename(tmp.c_str(), path.c_str()) != 0) fail("cannot rename to", path);
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(ErrorCode::InvalidArgument, "cannot read " + path);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

bool file_exists(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0;
}

void make_dirs(const std::string& path, mode_t mode) {
    std::string cur;
    std::stringstream ss(path);
    std::string part;
    if (!path.empty() && path[0] == '/') cur = "/";
    while (std::getline(ss, part, '/')) {
        if (part.empty()) continue;
        cur += part;
        if (::mkdir(cur.c_str(), mode) != 0 && errno != EEXIST) fail("cannot create", cur);
        cur += "/";
    }
}

}  // namespace kms::daemon
