// The virtual-se executable's card server (see card_server.hpp).
#include "card_server.hpp"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>

#include "card_file.hpp"
#include "card_link.hpp"
#include "domain/error.hpp"

namespace kms::tsm::vse {

namespace {

/// How long the server waits for the rest of a frame once its first byte came.
constexpr int kFrameTimeoutMs = 10000;

[[noreturn]] void store_error(const std::string& what) {
    const int err = errno;
    throw Error(ErrorCode::StoreError, "card state: " + what + ": " + std::strerror(err),
                NativeKind::Errno, static_cast<std::uint64_t>(err));
}

}  // namespace

void write_file_atomically(const std::string& path, const std::string& text) {
    const std::string tmp = path + ".tmp";
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) store_error("cannot create " + tmp);
    std::size_t done = 0;
    while (done < text.size()) {
        const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
        if (n < 0) {
            if (errno == EINTR) continue;
            ::close(fd);
            store_error("cannot write " + tmp);
        }
        done += static_cast<std::size_t>(n);
    }
    if (::fsync(fd) != 0) {
        ::close(fd);
        store_error("cannot fsync " + tmp);
    }
    ::close(fd);
    if (::rename(tmp.c_str(), path.c_str()) != 0) store_error("cannot rename " + tmp);
    // The rename is durable once the folder is.
    const auto slash = path.find_last_of('/');
    const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash + 1);
    const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) store_error("cannot open folder " + dir);
    const int rc = ::fsync(dfd);
    ::close(dfd);
    if (rc != 0) store_error("cannot fsync folder " + dir);
}

CardServer::CardServer(VirtualSe card, Bytes atr, std::string state_path)
    : m_card(std::move(card)), m_atr(std::move(atr)), m_state_path(std::move(state_path)) {
    save_if_changed();
}

void CardServer::save_if_changed() {
    if (m_state_path.empty()) return;
    std::string json = state_to_json(m_card.state());
    if (json == m_saved) return;
    write_file_atomically(m_state_path, json);
    m_saved = std::move(json);
}

std::optional<Bytes> CardServer::handle(ByteView payload) {
    const std::lock_guard<std::mutex> lock(m_mutex);
    if (payload.size() == 1) {
        switch (payload[0]) {
            case kVpcdPowerOff:
            case kVpcdPowerOn:
            case kVpcdReset:
                m_card.reset();
                return std::nullopt;
            case kVpcdGetAtr:
                return m_atr;
            default:
                return std::nullopt;  // vsmartcard ignores unknown controls too
        }
    }
    Bytes answer = m_card.process(payload);
    try {
        save_if_changed();
    } catch (const Error& e) {
        std::cerr << "virtual-se: " << e.what() << std::endl;
        return Bytes{0x65, 0x81};
    }
    return answer;
}

void CardServer::serve(int fd, const std::atomic<bool>& stop) {
    try {
        while (!stop.load()) {
            pollfd p{fd, POLLIN, 0};
            const int rc = ::poll(&p, 1, 200);
            if (rc < 0 && errno != EINTR) break;
            if (rc <= 0) continue;
            auto payload = vpcd_receive(fd, kFrameTimeoutMs);
            if (!payload) break;  // the reader hung up
            if (payload->empty()) continue;
            auto answer = handle(*payload);
            if (answer) vpcd_send(fd, *answer, kFrameTimeoutMs);
        }
    } catch (const std::exception& e) {
        std::cerr << "virtual-se: connection ended: " << e.what() << std::endl;
    }
    ::close(fd);
    // The next reader finds the card as after a power cycle.
    const std::lock_guard<std::mutex> lock(m_mutex);
    m_card.reset();
}

}  // namespace kms::tsm::vse
