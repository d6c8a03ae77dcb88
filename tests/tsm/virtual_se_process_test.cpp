// virtual-se as a process (suite tsm): the card listening on 127.0.0.1 and reached with
// TcpCardLink over a real socket (ATR, APDUs, an SCP02 session opened with kms-core's host code,
// readers served in turn); the state file surviving SIGTERM and SIGKILL right after an answer;
// --vpcd mode against a vpcd side played by the test; exit codes of bad command lines and files.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "card_file.hpp"
#include "card_link.hpp"
#include "crypto/gp_scp02.hpp"
#include "crypto/host_crypto.hpp"
#include "domain/apdu.hpp"
#include "domain/error.hpp"

namespace kms::tsm::vse::test {
namespace {

using namespace std::chrono_literals;

const std::string kEnc = "404142434445464748494A4B4C4D4E4F";
const std::string kMac = "505152535455565758595A5B5C5D5E5F";
const std::string kDek = "606162636465666768696A6B6C6D6E6F";
const std::string kCredit = "0123456789ABCDEFFEDCBA9876543210";

std::string exe() {
    const char* v = std::getenv("VIRTUAL_SE");
    if (!v) throw std::runtime_error("VIRTUAL_SE is not set (run through meson test)");
    return v;
}

std::string card_json(const std::string& extra = "") {
    return R"({"scp":"02","i":"55","keyVersion":"20","enc":")" + kEnc + R"(","mac":")" + kMac +
           R"(","dek":")" + kDek + R"(","kdd":"00112233445566778899","sequenceCounter":5,)" +
           R"("purse":{"creditKey":")" + kCredit + R"(","balance":1000,"counter":7})" + extra + "}";
}

std::string read(const std::string& path) {
    std::ifstream in(path);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

/// A temporary folder, removed at the end.
struct TempDir {
    std::string path;
    TempDir() {
        std::string t = "/tmp/vse-process-XXXXXX";
        if (!::mkdtemp(t.data())) throw std::runtime_error("mkdtemp");
        path = t;
    }
    ~TempDir() { std::filesystem::remove_all(path); }
    std::string file(const std::string& name, const std::string& text) const {
        const std::string p = path + "/" + name;
        std::ofstream(p) << text;
        return p;
    }
};

/// One virtual-se process; stdout captured through a pipe, stopped by its PID.
class VseProcess {
  public:
    explicit VseProcess(const std::vector<std::string>& args) {
        int fds[2];
        if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
        m_pid = ::fork();
        if (m_pid == 0) {
            ::dup2(fds[1], 1);
            std::string path = exe();
            std::vector<char*> argv{path.data()};
            std::vector<std::string> copy = args;
            for (auto& a : copy) argv.push_back(a.data());
            argv.push_back(nullptr);
            ::execv(argv[0], argv.data());
            ::_exit(127);
        }
        ::close(fds[1]);
        m_out = fds[0];
    }
    ~VseProcess() {
        if (m_pid > 0) stop(SIGKILL);
        ::close(m_out);
    }

    /// Waits for a stdout line starting with @p prefix; returns the rest of it ("" on timeout).
    std::string wait_line(const std::string& prefix, std::chrono::milliseconds timeout = 10s) {
        const auto end = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            std::size_t start = 0;
            while (true) {
                const auto nl = m_buffer.find('\n', start);
                if (nl == std::string::npos) break;
                const std::string line = m_buffer.substr(start, nl - start);
                start = nl + 1;
                if (line.rfind(prefix, 0) == 0) {
                    m_buffer.erase(0, start);
                    return line.substr(prefix.size());
                }
            }
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                end - std::chrono::steady_clock::now());
            if (left.count() <= 0) return "";
            pollfd p{m_out, POLLIN, 0};
            if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return "";
            char buf[512];
            const ssize_t n = ::read(m_out, buf, sizeof buf);
            if (n <= 0) return "";
            m_buffer.append(buf, static_cast<std::size_t>(n));
        }
    }

    /// The port of "virtual-se: listening on 127.0.0.1:PORT".
    std::uint16_t port() {
        const std::string rest = wait_line("virtual-se: listening on 127.0.0.1:");
        if (rest.empty()) throw std::runtime_error("virtual-se did not say it listens");
        return static_cast<std::uint16_t>(std::stoi(rest));
    }

    /// Sends @p sig and waits (10 s) for the exit: the exit code, 128 + signal when killed.
    int stop(int sig) {
        ::kill(m_pid, sig);
        for (int k = 0; k < 1000; ++k) {
            int status = 0;
            if (::waitpid(m_pid, &status, WNOHANG) == m_pid) {
                m_pid = -1;
                return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            }
            std::this_thread::sleep_for(10ms);
        }
        ::kill(m_pid, SIGKILL);
        ::waitpid(m_pid, nullptr, 0);
        m_pid = -1;
        return -1;
    }

  private:
    pid_t m_pid = -1;
    int m_out = -1;
    std::string m_buffer;
};

/// Runs virtual-se to its end (stdout and stderr kept away); its exit code.
int exit_code_of(const std::vector<std::string>& args) {
    const pid_t pid = ::fork();
    if (pid == 0) {
        const int null = ::open("/dev/null", O_WRONLY);
        ::dup2(null, 1);
        ::dup2(null, 2);
        std::string path = exe();
        std::vector<char*> argv{path.data()};
        std::vector<std::string> copy = args;
        for (auto& a : copy) argv.push_back(a.data());
        argv.push_back(nullptr);
        ::execv(argv[0], argv.data());
        ::_exit(127);
    }
    for (int k = 0; k < 1000; ++k) {
        int status = 0;
        if (::waitpid(pid, &status, WNOHANG) == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        std::this_thread::sleep_for(10ms);
    }
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    return -2;  // it did not end: a bad command line must not start a card
}

std::uint16_t sw_of(const Bytes& r) {
    return static_cast<std::uint16_t>(r[r.size() - 2] << 8 | r[r.size() - 1]);
}

Bytes u32(std::uint32_t v) {
    return {static_cast<std::uint8_t>(v >> 24), static_cast<std::uint8_t>(v >> 16),
            static_cast<std::uint8_t>(v >> 8), static_cast<std::uint8_t>(v)};
}

/// SELECT the purse, open an SCP02 session (C-MAC) with kms-core's host code and READ BALANCE:
/// balance || counter as hex ("" and a failure when a step is refused).
std::string read_balance(TcpCardLink& link) {
    EXPECT_EQ(sw_of(link.transmit(from_hex("00A4040009A0000005591010FFFF00"))), 0x9000);
    const Bytes host_challenge = from_hex("0102030405060708");
    Bytes iu = from_hex("8050000008");
    iu.insert(iu.end(), host_challenge.begin(), host_challenge.end());
    iu.push_back(0x00);
    const Bytes answer = link.transmit(iu);
    EXPECT_EQ(sw_of(answer), 0x9000);
    if (sw_of(answer) != 0x9000) return "";
    const auto r =
        crypto::parse_scp02_initialize_update_response(ByteView(answer).first(answer.size() - 2));
    auto keys = crypto::scp02_session_keys(from_hex(kEnc), from_hex(kMac), from_hex(kDek), r.seq);
    const Bytes hc =
        crypto::scp02_host_cryptogram(keys.enc.view(), r.seq, r.card_challenge, host_challenge);
    crypto::Scp02Wrapper w(std::move(keys), 0x55, 0x01);
    EXPECT_EQ(sw_of(link.transmit(w.external_authenticate(hc))), 0x9000);
    core::CommandApdu read;
    read.cla = 0x80;
    read.ins = 0x5C;
    read.le = 6;
    const Bytes balance = w.unwrap(link.transmit(w.wrap(read)));
    EXPECT_EQ(sw_of(balance), 0x9000);
    return to_hex(ByteView(balance).first(balance.size() - 2));
}

Bytes debit(std::uint32_t amount) {
    Bytes c = from_hex("8054000004");
    const Bytes a = u32(amount);
    c.insert(c.end(), a.begin(), a.end());
    return c;
}

TEST(VirtualSeProcess, ListensAnswersAndKeepsItsStateAcrossARestart) {
    TempDir dir;
    const std::string card = dir.file("card.json", card_json());
    const std::string state = dir.path + "/state.json";
    {
        VseProcess p({"--listen", "127.0.0.1:0", "--card", card, "--state", state});
        TcpCardLink link("127.0.0.1", p.port(), 5000);
        EXPECT_EQ(link.atr(), default_atr());
        EXPECT_EQ(read_balance(link), "000003E80007");
        // In the session a plain DEBIT ends it (6982: every command needs its C-MAC); a new
        // SELECT ends the session and the plain DEBIT goes through, as a merchant terminal's.
        EXPECT_EQ(sw_of(link.transmit(debit(100))), 0x6982);
        EXPECT_EQ(sw_of(link.transmit(from_hex("00A4040009A0000005591010FFFF00"))), 0x9000);
        EXPECT_EQ(sw_of(link.transmit(debit(100))), 0x9000);
        EXPECT_EQ(read_balance(link), "000003840007");
        EXPECT_EQ(p.stop(SIGTERM), 0);
    }
    // The state file: the debited purse, the sequence counter after two sessions.
    const VirtualSeState saved = state_from_json(read(state));
    EXPECT_EQ(saved.sequence_counter, 7u);
    ASSERT_EQ(saved.applications.size(), 1u);
    EXPECT_EQ(saved.applications[0].purse->balance, 900u);
    EXPECT_EQ(std::filesystem::status(state).permissions() & std::filesystem::perms::others_read,
              std::filesystem::perms::none);
    {
        VseProcess p({"--listen", "127.0.0.1:0", "--card", card, "--state", state});
        TcpCardLink link("127.0.0.1", p.port(), 5000);
        EXPECT_EQ(read_balance(link), "000003840007");
        EXPECT_EQ(p.stop(SIGINT), 0);
    }
    EXPECT_EQ(state_from_json(read(state)).sequence_counter, 8u);
}

TEST(VirtualSeProcess, ASigkillRightAfterAnAnswerLeavesAWholeStateFile) {
    TempDir dir;
    const std::string card = dir.file("card.json", card_json());
    const std::string state = dir.path + "/state.json";
    for (std::uint32_t round = 1; round <= 5; ++round) {
        VseProcess p({"--listen", "127.0.0.1:0", "--card", card, "--state", state});
        TcpCardLink link("127.0.0.1", p.port(), 5000);
        EXPECT_EQ(link.transmit(from_hex("00A4040009A0000005591010FFFF00")).size(), 21u);
        EXPECT_EQ(sw_of(link.transmit(debit(round))), 0x9000);
        EXPECT_EQ(p.stop(SIGKILL), 128 + SIGKILL);
        // Saved before the answer left: the file is whole and has this round's debit.
        const VirtualSeState saved = state_from_json(read(state));
        EXPECT_EQ(saved.applications.at(0).purse->balance, 1000u - round * (round + 1) / 2);
    }
}

TEST(VirtualSeProcess, ReadersAreServedInTurnAndAResetSelectsTheIsd) {
    TempDir dir;
    const std::string card = dir.file("card.json", card_json());
    VseProcess p({"--listen", "127.0.0.1:0", "--card", card});
    const std::uint16_t port = p.port();
    auto first = std::make_unique<TcpCardLink>("127.0.0.1", port, 5000);
    TcpCardLink second("127.0.0.1", port, 5000);  // waits in the backlog
    EXPECT_EQ(sw_of(first->transmit(from_hex("00A4040009A0000005591010FFFF00"))), 0x9000);
    // DEBIT goes to the purse; after a reset the ISD is selected and DEBIT is unknown to it.
    EXPECT_EQ(sw_of(first->transmit(debit(1))), 0x9000);
    first->reset();
    EXPECT_EQ(sw_of(first->transmit(debit(1))), 0x6D00);
    first.reset();  // the first reader hangs up; the second is served
    EXPECT_EQ(second.atr(), default_atr());
    EXPECT_EQ(sw_of(second.transmit(from_hex("80CA9F7F00"))), 0x9000);
    EXPECT_EQ(p.stop(SIGTERM), 0);
}

TEST(VirtualSeProcess, ConnectsToVpcdAsViccDoes) {
    TempDir dir;
    const std::string card = dir.file("card.json", card_json(R"(,"atr":"3B800080")"));
    std::uint16_t port = 0;
    const int listen_fd = tcp_listen("127.0.0.1", 0, port);
    VseProcess p({"--vpcd", "127.0.0.1:" + std::to_string(port), "--card", card});
    const int fd = tcp_accept(listen_fd, 10000);
    ASSERT_GE(fd, 0) << "the card did not connect";
    TcpCardLink vpcd = TcpCardLink::adopt(fd, 5000, "vicc");
    EXPECT_FALSE(p.wait_line("virtual-se: connected to vpcd 127.0.0.1:").empty());
    vpcd.power_on();
    EXPECT_EQ(vpcd.atr(), from_hex("3B800080"));
    const Bytes fci = vpcd.transmit(from_hex("00A4040000"));
    EXPECT_EQ(to_hex(fci), "6F108408A000000151000000A5049F6501FF9000");
    EXPECT_EQ(sw_of(vpcd.transmit(from_hex("80CA9F7F00"))), 0x9000);
    vpcd.power_off();
    EXPECT_EQ(sw_of(vpcd.transmit(from_hex("80CA00E000"))), 0x9000);
    EXPECT_EQ(p.stop(SIGTERM), 0);
    ::close(listen_fd);
}

TEST(VirtualSeProcess, TheLinkSaysWhatWentWrong) {
    std::uint16_t port = 0;
    const int fd = tcp_listen("127.0.0.1", 0, port);
    ::close(fd);  // nobody listens there now
    try {
        TcpCardLink link("127.0.0.1", port, 2000);
        FAIL() << "connected to a closed port";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), ErrorCode::HsmUnavailable);
        EXPECT_NE(std::string(e.what()).find("127.0.0.1:" + std::to_string(port)),
                  std::string::npos)
            << e.what();
    }
    // A peer that accepts and never answers: a timeout, named.
    const int quiet = tcp_listen("127.0.0.1", 0, port);
    TcpCardLink link("127.0.0.1", port, 300);
    try {
        link.atr();
        FAIL() << "an ATR from nobody";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), ErrorCode::HsmUnavailable);
        EXPECT_NE(std::string(e.what()).find("no answer"), std::string::npos) << e.what();
    }
    ::close(quiet);
}

TEST(VirtualSeProcess, BadCommandLinesExit64) {
    TempDir dir;
    const std::string card = dir.file("card.json", card_json());
    EXPECT_EQ(exit_code_of({}), 64);
    EXPECT_EQ(exit_code_of({"--listen", "127.0.0.1:0"}), 64);  // no card
    EXPECT_EQ(exit_code_of({"--listen", "127.0.0.1:0", "--vpcd", "127.0.0.1:1", "--card", card}),
              64);
    EXPECT_EQ(exit_code_of({"--listen", "127.0.0.1:99999", "--card", card}), 64);
    EXPECT_EQ(exit_code_of({"--listen", "127.0.0.1", "--card", card}), 64);
    EXPECT_EQ(exit_code_of({"--listen", "localhost:0", "--card", card}), 64);
    EXPECT_EQ(exit_code_of({"--vpcd", "127.0.0.1:0", "--card", card}), 64);
    EXPECT_EQ(exit_code_of({"--listen", "127.0.0.1:0", "--card", card, "--verbose"}), 64);
    EXPECT_EQ(exit_code_of({"--listen", "127.0.0.1:0", "--card"}), 64);
    EXPECT_EQ(exit_code_of({"--listen", "127.0.0.1:0", "--card", card, "--card", card}), 64);
}

TEST(VirtualSeProcess, BadCardFilesExit78) {
    TempDir dir;
    auto code = [&](const std::string& text) {
        return exit_code_of({"--listen", "127.0.0.1:0", "--card", dir.file("c.json", text)});
    };
    EXPECT_EQ(exit_code_of({"--listen", "127.0.0.1:0", "--card", dir.path + "/none.json"}), 78);
    EXPECT_EQ(code("{"), 78);
    EXPECT_EQ(code("[1]"), 78);
    EXPECT_EQ(code(R"({"scp":"02","i":"55","keyVersion":"20"})"), 78);  // no keys
    EXPECT_EQ(code(R"({"scp":"04","i":"55","keyVersion":"20","enc":")" + kEnc + R"(","mac":")" +
                   kMac + R"(","dek":")" + kDek + R"("})"),
              78);
    EXPECT_EQ(code(R"({"scp":"02","i":"70","keyVersion":"20","enc":")" + kEnc + R"(","mac":")" +
                   kMac + R"(","dek":")" + kDek + R"("})"),
              78);  // i of SCP03
    EXPECT_EQ(code(R"({"scp":"02","i":"55","keyVersion":"20","enc":"0011","mac":")" + kMac +
                   R"(","dek":")" + kDek + R"("})"),
              78);
    EXPECT_EQ(code(card_json(R"(,"lifeCycle":"08")")), 78);
    EXPECT_EQ(code(card_json(R"(,"atr":"3B")")), 78);
    EXPECT_EQ(
        code(R"({"scp":"02","i":"55","keyVersion":"20","enc":")" + kEnc + R"(","mac":")" + kMac +
             R"(","dek":")" + kDek + R"(","purse":{"creditKey":"00","balance":1,"counter":0}})"),
        78);
    EXPECT_EQ(code(R"({"scp":"02","i":"55","keyVersion":"20","enc":")" + kEnc + R"(","mac":")" +
                   kMac + R"(","dek":")" + kDek + R"(","purse":{"creditKey":")" + kCredit +
                   R"(","balance":-1,"counter":0}})"),
              78);
    EXPECT_EQ(code(card_json(R"(,"sequenceCounter":123456789012345678901234567890)")), 78);
    EXPECT_EQ(code(card_json(R"(,"sequenceCounter":1.5)")), 78);
    // A state file that is not a card state.
    const std::string card = dir.file("card.json", card_json());
    EXPECT_EQ(exit_code_of({"--listen", "127.0.0.1:0", "--card", card, "--state",
                            dir.file("state.json", R"({"format":"other"})")}),
              78);
}

TEST(VirtualSeCardFile, ParseErrorsNameTheField) {
    try {
        parse_card_description(R"({"scp":"02","i":"55","keyVersion":"20","enc":"zz"})");
        FAIL();
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), ErrorCode::InvalidArgument);
        EXPECT_NE(std::string(e.what()).find("'enc'"), std::string::npos) << e.what();
    }
}

}  // namespace
}  // namespace kms::tsm::vse::test
