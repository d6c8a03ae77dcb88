// Input and output files of kmsctl.
#include "local_files.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "domain/secure_bytes.hpp"
#include "exit_codes.hpp"

namespace kms::cli {

namespace {

/// Opens @p path for reading and returns its size; throws UsageError on failure.
int open_for_reading(std::string_view field, const std::string& path, std::size_t max_bytes,
                     std::size_t& size) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        throw UsageError(std::string(field) + ": cannot read " + path + ": " +
                         std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        ::close(fd);
        throw UsageError(std::string(field) + ": " + path + " is not a regular file");
    }
    if (static_cast<std::size_t>(st.st_size) > max_bytes) {
        ::close(fd);
        throw UsageError(std::string(field) + ": " + path + " is larger than " +
                         std::to_string(max_bytes) + " bytes");
    }
    size = static_cast<std::size_t>(st.st_size);
    return fd;
}

/// Reads exactly up to @p size bytes into @p out (already sized); returns the count read.
std::size_t read_all(int fd, char* out, std::size_t size) {
    std::size_t done = 0;
    while (done < size) {
        const ssize_t n = ::read(fd, out + done, size - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        done += static_cast<std::size_t>(n);
    }
    return done;
}

}  // namespace

std::string read_text_file(std::string_view field, const std::string& path, std::size_t max_bytes) {
    std::size_t size = 0;
    const int fd = open_for_reading(field, path, max_bytes, size);
    std::string text(size, '\0');
    text.resize(read_all(fd, text.data(), size));
    ::close(fd);
    return text;
}

std::string read_secret_file(std::string_view field, const std::string& path,
                             std::size_t max_bytes) {
    std::size_t size = 0;
    const int fd = open_for_reading(field, path, max_bytes, size);
    std::string text;
    text.reserve(size + 1);  // one allocation; resize below never reallocates
    text.resize(size);
    const std::size_t got = read_all(fd, text.data(), size);
    ::close(fd);
    text.resize(got);
    return text;
}

void wipe(std::string& s) noexcept {
    if (s.capacity() > 0) kms::secure_wipe(s.data(), s.capacity());
    s.clear();
}

OutputFile::OutputFile(std::string option, std::string path)
    : m_option(std::move(option)), m_path(std::move(path)) {
    m_fd = ::open(m_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (m_fd < 0)
        throw UsageError("--" + m_option + ": cannot create " + m_path + ": " +
                         std::strerror(errno) + " (it must not exist yet)");
}

OutputFile::~OutputFile() {
    if (m_fd >= 0) ::close(m_fd);
    if (!m_written) ::unlink(m_path.c_str());
}

void OutputFile::write(std::string_view data, const std::string& lost_hint) {
    std::size_t done = 0;
    bool ok = true;
    while (ok && done < data.size()) {
        const ssize_t n = ::write(m_fd, data.data() + done, data.size() - done);
        if (n < 0 && errno == EINTR) continue;
        ok = n > 0;
        if (ok) done += static_cast<std::size_t>(n);
    }
    ok = ok && ::fsync(m_fd) == 0;
    const int fd = m_fd;
    m_fd = -1;
    ok = ::close(fd) == 0 && ok;
    if (!ok)
        throw CliError(ExitCode::Usage,
                       "--" + m_option + ": cannot write " + m_path + "; " + lost_hint);
    m_written = true;
}

}  // namespace kms::cli
