// virtual-se: the virtual secure element as a process, reachable over TCP with the vpcd framing
// of vsmartcard, either waiting for a reader (--listen) or connecting to vpcd (--vpcd) as vicc
// does, so PC/SC tools reach it through pcscd. See docs/virtual-se.md "Command line".
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "card_file.hpp"
#include "card_link.hpp"
#include "card_server.hpp"
#include "domain/error.hpp"

namespace {

using namespace kms::tsm::vse;
using kms::Bytes;

// sysexits.h codes.
constexpr int kExitUsage = 64;
constexpr int kExitUnavailable = 69;
constexpr int kExitConfig = 78;

std::atomic<bool> g_stop{false};  // set by SIGTERM / SIGINT only

extern "C" void on_signal(int) {
    g_stop.store(true);
}

const char* const kUsage =
    "usage: virtual-se (--listen HOST:PORT | --vpcd HOST:PORT) --card FILE [--state FILE]\n"
    "  --listen HOST:PORT  wait for a reader on HOST (numeric) PORT (0: any free port)\n"
    "  --vpcd HOST:PORT    connect to vpcd (vsmartcard) at HOST:PORT, as vicc does\n"
    "  --card FILE         the card description (JSON, docs/virtual-se.md)\n"
    "  --state FILE        the card's state: loaded when it exists, saved after every change\n";

int usage(const std::string& why) {
    std::cerr << "virtual-se: " << why << "\n" << kUsage;
    return kExitUsage;
}

bool split_host_port(const std::string& s, std::string& host, std::uint16_t& port) {
    const auto colon = s.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == s.size()) return false;
    host = s.substr(0, colon);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']')
        host = host.substr(1, host.size() - 2);
    const std::string p = s.substr(colon + 1);
    if (p.size() > 5 || p.find_first_not_of("0123456789") != std::string::npos) return false;
    const unsigned long v = std::stoul(p);
    if (v > 65535) return false;
    port = static_cast<std::uint16_t>(v);
    return true;
}

std::optional<std::string> read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return std::nullopt;
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

void sleep_interruptibly(int ms) {
    for (int waited = 0; waited < ms && !g_stop.load(); waited += 100) ::usleep(100 * 1000);
}

}  // namespace

int main(int argc, char** argv) {
    std::string listen, vpcd, card_path, state_path;
    for (int k = 1; k < argc; ++k) {
        const std::string a = argv[k];
        if (a == "--help" || a == "-h") {
            std::cout << kUsage;
            return 0;
        }
        std::string* target = a == "--listen"  ? &listen
                              : a == "--vpcd"  ? &vpcd
                              : a == "--card"  ? &card_path
                              : a == "--state" ? &state_path
                                               : nullptr;
        if (!target) return usage("unknown argument '" + a + "'");
        if (k + 1 >= argc) return usage(a + " needs a value");
        if (!target->empty()) return usage(a + " given twice");
        *target = argv[++k];
        if (target->empty()) return usage(a + " needs a non-empty value");
    }
    if (listen.empty() == vpcd.empty()) return usage("give exactly one of --listen and --vpcd");
    if (card_path.empty()) return usage("--card is required");
    std::string host;
    std::uint16_t port = 0;
    if (!split_host_port(listen.empty() ? vpcd : listen, host, port))
        return usage("'" + (listen.empty() ? vpcd : listen) + "' is not HOST:PORT");
    if (!vpcd.empty() && port == 0) return usage("--vpcd needs a port other than 0");

    std::unique_ptr<CardServer> server;
    try {
        const auto text = read_file(card_path);
        if (!text) {
            std::cerr << "virtual-se: cannot read the card description " << card_path << "\n";
            return kExitConfig;
        }
        CardDescription description = parse_card_description(*text);
        Bytes atr = description.atr;
        std::optional<VirtualSe> card;
        if (!state_path.empty()) {
            if (const auto saved = read_file(state_path)) {
                try {
                    card.emplace(state_from_json(*saved));
                } catch (const std::exception& e) {
                    std::cerr << "virtual-se: the state file " << state_path
                              << " is not a card state: " << e.what() << "\n";
                    return kExitConfig;
                }
            }
        }
        if (!card) card.emplace(description.make_card());
        server = std::make_unique<CardServer>(std::move(*card), std::move(atr), state_path);
    } catch (const std::exception& e) {
        std::cerr << "virtual-se: " << card_path << ": " << e.what() << "\n";
        return kExitConfig;
    }

    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, nullptr);
    sigaction(SIGINT, &sa, nullptr);
    signal(SIGPIPE, SIG_IGN);

    if (!listen.empty()) {
        int listen_fd = -1;
        std::uint16_t bound = 0;
        try {
            listen_fd = tcp_listen(host, port, bound);
        } catch (const kms::Error& e) {
            std::cerr << "virtual-se: " << e.what() << "\n";
            return e.code() == kms::ErrorCode::InvalidArgument ? kExitUsage : kExitUnavailable;
        }
        std::cout << "virtual-se: listening on " << host << ":" << bound << std::endl;
        // One reader at a time; the others wait in the listen backlog and are served in turn.
        while (!g_stop.load()) {
            int fd = -1;
            try {
                fd = tcp_accept(listen_fd, 200);
            } catch (const kms::Error& e) {
                std::cerr << "virtual-se: " << e.what() << "\n";
                sleep_interruptibly(200);
            }
            if (fd >= 0) server->serve(fd, g_stop);
        }
        ::close(listen_fd);
    } else {
        // As vicc: connect to vpcd, serve it, connect again when it goes away.
        bool announced = false;
        while (!g_stop.load()) {
            int fd = -1;
            try {
                fd = tcp_connect(host, port, 2000);
            } catch (const kms::Error& e) {
                if (!announced) std::cerr << "virtual-se: " << e.what() << "; retrying\n";
                announced = true;
                sleep_interruptibly(1000);
                continue;
            }
            announced = false;
            std::cout << "virtual-se: connected to vpcd " << host << ":" << port << std::endl;
            server->serve(fd, g_stop);
            sleep_interruptibly(200);
        }
    }
    std::cout << "virtual-se: stopped" << std::endl;
    return 0;
}
