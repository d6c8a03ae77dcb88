// Flows A and B end to end, as a newcomer runs them from the README: ./demo.sh starts kmsd, the
// virtual SE and three tsmd processes (the front with se-tsm, two sp-tsm instances sharing one
// TSM store) on 127.0.0.1 over TLS, and the wallet command line talks to the front while relaying
// APDUs to the virtual SE. Nothing is faked: every key is in SoftHSM2 behind kmsd, every hop is
// mTLS, the card checks every cryptogram and MAC.
//
// The tests run in declaration order on one demo (gtest keeps that order): install, top-up,
// retries, routing and a killed instance, malformed requests, then the loss report, which ends
// the card's top-ups for good.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <thread>

#include "card_link.hpp"
#include "domain/bytes.hpp"
#include "kmsd_process.hpp"

namespace kms::test {
namespace {

namespace fs = std::filesystem;

std::string env(const char* name) {
    const char* v = std::getenv(name);
    if (v == nullptr) throw std::runtime_error(std::string(name) + " is not set (run via meson)");
    return v;
}

/// A finished command: exit code and what it printed (stdout and stderr together).
struct Ran {
    int rc = -1;
    std::string out;
};

Ran run(const std::vector<std::string>& args, const std::string& log, int timeout_s = 120) {
    std::error_code ec;
    fs::remove(log, ec);
    const pid_t pid = spawn(args, log);
    Ran r;
    r.rc = wait_exit(pid, timeout_s * 1000);
    if (r.rc == -1000) {
        ::kill(pid, SIGKILL);
        wait_exit(pid, 5000);
    }
    r.out = slurp(log);
    return r;
}

/// "name = value" lines of the wallet's result.
std::map<std::string, std::string> variables(const std::string& out) {
    std::map<std::string, std::string> vars;
    std::istringstream in(out);
    for (std::string line; std::getline(in, line);) {
        const auto eq = line.find(" = ");
        if (line.rfind("  ", 0) == 0 && eq != std::string::npos)
            vars[line.substr(2, eq - 2)] = line.substr(eq + 3);
    }
    return vars;
}

class E2e : public ::testing::Test {
  public:
    static void SetUpTestSuite() {
        s_dir = fs::temp_directory_path() / ("kms-e2e-" + std::to_string(::getpid()));
        fs::create_directories(s_dir);
        s_ports = {{"DEMO_KMS_PORT", free_port()},
                   {"DEMO_FRONT_PORT", free_port()},
                   {"DEMO_SP1_PORT", free_port()},
                   {"DEMO_SP2_PORT", free_port()},
                   {"DEMO_CARD_PORT", free_port()}};
        for (const auto& [name, port] : s_ports)
            ::setenv(name.c_str(), std::to_string(port).c_str(), 1);
        ::setenv("DEMO_DIR", (s_dir / "demo").c_str(), 1);
        ::setenv("DEMO_NO_BUILD", "1", 1);
        ::setenv("DEMO_BUILD_DIR", env("BUILD_ROOT").c_str(), 1);
        const Ran started = run({"/bin/bash", env("DEMO_SCRIPT"), "--background"},
                                (s_dir / "demo-start.log").string(), 300);
        s_started = started.rc == 0;
        s_start_log = started.out;
        // The wallet's settings, as `source demo-data/env.sh` gives them to a user.
        std::ifstream envsh(s_dir / "demo" / "env.sh");
        for (std::string line; std::getline(envsh, line);) {
            if (line.rfind("export WALLET_", 0) != 0) continue;
            const auto eq = line.find('=');
            ::setenv(line.substr(7, eq - 7).c_str(), line.substr(eq + 1).c_str(), 1);
        }
    }
    static void TearDownTestSuite() {
        run({"/bin/bash", env("DEMO_SCRIPT"), "stop"}, (s_dir / "demo-stop.log").string(), 60);
        if (!::testing::Test::HasFailure()) {
            std::error_code ec;
            fs::remove_all(s_dir, ec);
        }
    }

  protected:
    void SetUp() override { ASSERT_TRUE(s_started) << "demo.sh failed:\n" << s_start_log; }

    static Ran wallet(std::vector<std::string> args) {
        args.insert(args.begin(), env("WALLET"));
        return run(args, (s_dir / "wallet.log").string());
    }
    static std::string demo_file(const std::string& name) {
        return (s_dir / "demo" / name).string();
    }
    static int port(const std::string& name) { return s_ports.at(name); }
    /// PID of a demo process by its name in demo-data/pids.
    static pid_t pid_of(const std::string& name) {
        std::ifstream in(demo_file("pids"));
        pid_t pid = 0;
        std::string n;
        while (in >> pid >> n)
            if (n == name) return pid;
        return 0;
    }
    static HttpsClient front() {
        return HttpsClient("127.0.0.1", port("DEMO_FRONT_PORT"), demo_file("pki/ca.pem"),
                           demo_file("pki/wallet-alice.crt"), demo_file("pki/wallet-alice.key"));
    }
    static std::uint32_t balance() {
        const Ran r = wallet({"balance"});
        EXPECT_EQ(r.rc, 0) << r.out;
        const auto vars = variables(r.out);
        const auto it = vars.find("balance");
        if (it == vars.end()) return 0xFFFFFFFF;
        return static_cast<std::uint32_t>(std::stoul(it->second));
    }

    static fs::path s_dir;
    static std::map<std::string, int> s_ports;
    static bool s_started;
    static std::string s_start_log;
};

fs::path E2e::s_dir;
std::map<std::string, int> E2e::s_ports;
bool E2e::s_started = false;
std::string E2e::s_start_log;

TEST_F(E2e, InstallLoadsAndPersonalizesThePurse) {
    const Ran r = wallet({"install", "--balance", "1000"});
    ASSERT_EQ(r.rc, 0) << r.out;
    EXPECT_NE(r.out.find(": success"), std::string::npos) << r.out;
    EXPECT_EQ(balance(), 1000u);
}

TEST_F(E2e, TopupCreditsThePurse) {
    const Ran r = wallet({"topup", "--amount", "500"});
    ASSERT_EQ(r.rc, 0) << r.out;
    EXPECT_EQ(variables(r.out)["newBalance"], "1500") << r.out;
    const Ran pay = wallet({"card", "pay", "--amount", "200"});
    ASSERT_EQ(pay.rc, 0) << pay.out;
    EXPECT_EQ(balance(), 1300u);
}

TEST_F(E2e, LockedPurseRefusesTopupsUntilUnlocked) {
    // sp-tsm records the purse's state per SE (instanceEffects); read it from an sp-tsm instance.
    auto instance_state = [] {
        HttpsClient sp("127.0.0.1", port("DEMO_SP2_PORT"), demo_file("pki/ca.pem"),
                       demo_file("pki/wallet-alice.crt"), demo_file("pki/wallet-alice.key"));
        const auto r = sp.get("/sp/ses/" + env("WALLET_SEID") + "/instances");
        EXPECT_EQ(r.status, 200) << r.body;
        const auto list = r.json()->getArray("instances");
        return list && list->size() == 1 ? list->getObject(0)->getValue<std::string>("state")
                                         : std::string("none");
    };
    EXPECT_EQ(instance_state(), "PERSONALIZED");
    const std::uint32_t before = balance();
    const Ran lock = wallet({"lock"});
    ASSERT_EQ(lock.rc, 0) << lock.out;
    EXPECT_EQ(instance_state(), "LOCKED");
    // The card no longer selects the purse: the top-up ends at SELECT, nothing is credited.
    const Ran refused = wallet({"topup", "--amount", "100"});
    EXPECT_EQ(refused.rc, 3) << refused.out;
    EXPECT_NE(refused.out.find("purse-not-found"), std::string::npos) << refused.out;
    const Ran unlock = wallet({"unlock"});
    ASSERT_EQ(unlock.rc, 0) << unlock.out;
    EXPECT_EQ(instance_state(), "PERSONALIZED");
    EXPECT_EQ(balance(), before);
}

TEST_F(E2e, TopupRetriedByTheWalletCreditsOnce) {
    // The wallet's answer to the CREDIT is lost: it posts the same response again and gets the
    // same answer; the card was credited once.
    const std::uint32_t before = balance();
    HttpsClient https = front();
    // The virtual SE serves one reader at a time: the link is closed before the wallet runs.
    auto card = std::make_unique<tsm::vse::TcpCardLink>(
        "127.0.0.1", static_cast<std::uint16_t>(port("DEMO_CARD_PORT")), 10000);
    auto r = https.request(
        "POST", "/front/actions",
        R"({"actionCode":"transit.topup","script":"top-up","seid":")" + env("WALLET_SEID") +
            R"(","productId":"transit","variables":{"purseAid":"A0000005591010FFFF","amount":"250","balanceCeiling":"1000000"}})");
    ASSERT_EQ(r.status, 201) << r.body;
    const std::string op = r.json()->getValue<std::string>("operation");
    int credits_posted = 0;
    while (r.json()->getObject("action")->getValue<std::string>("kind") == "apdu") {
        const auto seq = r.json()->getValue<std::uint64_t>("seq");
        const Bytes apdu = from_hex(r.json()->getObject("action")->getValue<std::string>("apdu"));
        const Bytes resp = card->transmit(apdu);
        const std::string body =
            "{\"seq\":" + std::to_string(seq) + ",\"response\":\"" + to_hex(resp) + "\"}";
        auto next = https.request("POST", "/front/operations/" + op + "/responses", body);
        ASSERT_EQ(next.status, 200) << next.body;
        if (apdu[1] == 0x52) {
            auto again = https.request("POST", "/front/operations/" + op + "/responses", body);
            EXPECT_EQ(again.status, 200);
            EXPECT_EQ(again.body, next.body);
            ++credits_posted;
        }
        r = next;
    }
    EXPECT_EQ(credits_posted, 1);
    EXPECT_EQ(r.json()->getObject("action")->getValue<std::string>("outcome"), "success") << r.body;
    card.reset();
    EXPECT_EQ(balance(), before + 250);
}

/// pcscd with a vsmartcard-vpcd reader whose two slots connect to two virtual SEs listening on
/// 127.0.0.1 (vpcd's reversed mode: DEVICENAME HOST:PORT, slot n on PORT+n), started and stopped
/// by the test.
class PcscReader {
  public:
    explicit PcscReader(const fs::path& dir) : m_dir(dir) {}
    ~PcscReader() {
        for (pid_t pid : m_pids) {
            ::kill(pid, SIGTERM);
            if (wait_exit(pid, 5000) == -1000) {
                ::kill(pid, SIGKILL);
                wait_exit(pid, 5000);
            }
        }
    }
    /// Empty when it runs; otherwise why this machine cannot run it.
    std::string start(const std::string& card_file) {
        const char* driver = "/usr/lib/pcsc/drivers/serial/libifdvpcd.so";
        if (!fs::exists(driver)) return std::string("no vpcd driver (") + driver + ")";
        if (::geteuid() != 0) return "pcscd needs root for /run/pcscd";
        if (fs::exists("/run/pcscd/pcscd.comm") || fs::exists("/run/pcscd/pcscd.pid"))
            return "a pcscd runs already on this machine (its readers are not the test's)";
        int port = 0;
        for (int attempt = 0; attempt < 20 && port == 0; ++attempt) {
            const int p = free_port();
            if (p < 65535 && port_free(p + 1)) port = p;
        }
        if (port == 0) return "no two consecutive free ports";
        fs::create_directories(m_dir / "reader.conf.d");
        std::ofstream(m_dir / "reader.conf.d" / "vpcd")
            << "FRIENDLYNAME \"Virtual SE\"\nDEVICENAME 127.0.0.1:" << port << "\nLIBPATH "
            << driver << "\nCHANNELID " << port << "\n";
        for (int slot = 0; slot < 2; ++slot)
            m_pids.push_back(
                spawn({env("VIRTUAL_SE"), "--listen", "127.0.0.1:" + std::to_string(port + slot),
                       "--card", card_file},
                      (m_dir / ("card" + std::to_string(slot) + ".log")).string()));
        for (int slot = 0; slot < 2; ++slot)
            if (!wait_for(m_dir / ("card" + std::to_string(slot) + ".log"), "listening"))
                return "the virtual SE did not start";
        m_pids.push_back(spawn({"/usr/sbin/pcscd", "--foreground", "--info", "--config",
                                (m_dir / "reader.conf.d").string()},
                               (m_dir / "pcscd.log").string()));
        if (!wait_for(m_dir / "pcscd.log", "Card ATR")) return "pcscd saw no card";
        return "";
    }

  private:
    static bool port_free(int port) {
        const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(static_cast<std::uint16_t>(port));
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
        ::close(fd);
        return ok;
    }
    static bool wait_for(const fs::path& log, const std::string& line) {
        for (int i = 0; i < 100; ++i) {
            if (slurp(log.string()).find(line) != std::string::npos) return true;
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
        return false;
    }
    fs::path m_dir;
    std::vector<pid_t> m_pids;
};

TEST_F(E2e, WalletRelaysThroughAPcscReader) {
    // A second phone whose card sits in a PC/SC reader: pcscd with vsmartcard-vpcd, the card a
    // virtual SE with the demo card's keys. The wallet finds it by reader name.
    PcscReader reader(s_dir / "pcsc");
    std::ofstream(s_dir / "card2.json")
        << R"({"isdAid":"A000000151000000","scp":"02","i":"55","keyVersion":"20",)"
        << R"("enc":"404142434445464748494A4B4C4D4E4F","mac":"404142434445464748494A4B4C4D4E4F",)"
        << R"("dek":"404142434445464748494A4B4C4D4E4F","kdd":"00000000000000000002"})";
    if (const std::string why = reader.start((s_dir / "card2.json").string()); !why.empty())
        GTEST_SKIP() << "PC/SC reader test not run: " << why;
    // se-tsm learns the SE (its owner bob) and that its transit attribute is valid.
    HttpsClient se("127.0.0.1", port("DEMO_FRONT_PORT"), demo_file("pki/ca.pem"),
                   demo_file("pki/se-tsm.crt"), demo_file("pki/se-tsm.key"));
    const std::string seid = "A1B2C3D4E5F60002";
    std::ifstream keys(demo_file("keys"));
    std::string isd_enc;
    keys >> isd_enc;
    auto r = se.request("POST", "/se/ses",
                        R"({"seid":")" + seid + R"(","cplc":")" + std::string(84, '0') +
                            R"(","productId":"dev-card","isdKey":{"keyId":")" + isd_enc +
                            R"(","diversification":"none"},"owner":"bob"})");
    ASSERT_EQ(r.status, 201) << r.body;
    r = se.request("PUT", "/se/ses/" + seid + "/attributes/transit", R"({"valid":true})");
    ASSERT_EQ(r.status, 200) << r.body;
    const Ran readers = wallet({"readers"});
    ASSERT_EQ(readers.rc, 0) << readers.out;
    EXPECT_NE(readers.out.find("Virtual SE 00 00"), std::string::npos) << readers.out;
    // The attribute reaches sp-tsm through se-tsm's outbox: until then the install is refused.
    Ran install;
    for (int i = 0; i < 50; ++i) {
        install =
            wallet({"--reader", "Virtual SE 00 00", "--seid", seid, "install", "--balance", "10"});
        if (install.rc != 2) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    ASSERT_EQ(install.rc, 0) << install.out;
    const Ran topup = wallet({"--reader", "0", "--seid", seid, "topup", "--amount", "5"});
    ASSERT_EQ(topup.rc, 0) << topup.out;
    EXPECT_EQ(variables(topup.out)["newBalance"], "15") << topup.out;
    // The first phone's card is untouched by all this.
    EXPECT_EQ(wallet({"card", "atr"}).rc, 0);
    const Ran unknown = wallet({"--reader", "No Such Reader", "card", "atr"});
    EXPECT_EQ(unknown.rc, 6) << unknown.out;
    EXPECT_NE(unknown.out.find("Virtual SE 00 00"), std::string::npos)
        << "the error lists the readers: " << unknown.out;
}

TEST_F(E2e, RoutingSurvivesAKilledSpInstance) {
    // Two operations started one after the other land on the two sp-tsm instances (round
    // robin); sp1 is killed; the operation it ran gets a clean 503 from the front, the other
    // finishes, and new operations go to sp2.
    HttpsClient https = front();
    const std::string start =
        R"({"actionCode":"transit.balance","script":"balance","seid":")" + env("WALLET_SEID") +
        R"(","productId":"transit","variables":{"purseAid":"A0000005591010FFFF"}})";
    auto a = https.request("POST", "/front/actions", start);
    auto b = https.request("POST", "/front/actions", start);
    ASSERT_EQ(a.status, 201) << a.body;
    ASSERT_EQ(b.status, 201) << b.body;
    const pid_t sp1 = pid_of("tsmd-sp1");
    ASSERT_GT(sp1, 0);
    ASSERT_EQ(::kill(sp1, SIGKILL), 0);
    auto card = std::make_unique<tsm::vse::TcpCardLink>(
        "127.0.0.1", static_cast<std::uint16_t>(port("DEMO_CARD_PORT")), 10000);
    int unavailable = 0, finished = 0;
    for (auto* r : {&a, &b}) {
        const std::string op = r->json()->getValue<std::string>("operation");
        HttpResponse cur = *r;
        for (;;) {
            auto action = cur.json()->getObject("action");
            if (action->getValue<std::string>("kind") == "done") {
                EXPECT_EQ(action->getValue<std::string>("outcome"), "success") << cur.body;
                ++finished;
                break;
            }
            const Bytes resp = card->transmit(from_hex(action->getValue<std::string>("apdu")));
            auto next = https.request(
                "POST", "/front/operations/" + op + "/responses",
                "{\"seq\":" + std::to_string(cur.json()->getValue<std::uint64_t>("seq")) +
                    ",\"response\":\"" + to_hex(resp) + "\"}");
            if (next.status == 503) {
                EXPECT_EQ(next.json()->getValue<std::string>("error"),
                          "operation_instance_unavailable")
                    << next.body;
                ++unavailable;
                break;
            }
            ASSERT_EQ(next.status, 200) << next.body;
            cur = next;
        }
    }
    EXPECT_EQ(unavailable, 1);
    EXPECT_EQ(finished, 1);
    card.reset();
    // New operations all go to the surviving instance.
    for (int i = 0; i < 3; ++i) {
        const Ran r = wallet({"balance"});
        EXPECT_EQ(r.rc, 0) << r.out;
    }
}

TEST_F(E2e, MalformedRequestsAtTheFrontGet4xx) {
    HttpsClient https = front();
    EXPECT_EQ(https.request("POST", "/front/actions", "not json").status, 400);
    EXPECT_EQ(https.request("POST", "/front/actions", "[]").status, 400);
    EXPECT_EQ(https.request("POST", "/front/actions", R"({"script":"top-up"})").status, 400);
    EXPECT_EQ(https.request("POST", "/front/actions", R"({"actionCode":42})").status, 400);
    auto unknown = https.request("POST", "/front/actions", R"({"actionCode":"transit.steal"})");
    EXPECT_EQ(unknown.status, 404) << unknown.body;
    EXPECT_EQ(https
                  .request("POST", "/front/operations/00112233445566778899AABBCCDDEEFF/responses",
                           R"({"seq":1,"response":"9000"})")
                  .status,
              404);
    // Over the front's maxBodyBytes (64 KiB), under tsmd's (1 MiB): the front refuses it.
    const std::string huge =
        R"({"actionCode":"transit.topup","pad":")" + std::string(100 * 1024, 'A') + "\"}";
    EXPECT_EQ(https.request("POST", "/front/actions", huge).status, 413);
    // sp-tsm's own validation comes back through the front as it is.
    auto bad_amount = https.request(
        "POST", "/front/actions",
        R"({"actionCode":"transit.topup","script":"top-up","seid":")" + env("WALLET_SEID") +
            R"(","productId":"transit","variables":{"purseAid":"A0000005591010FFFF","amount":"-5","balanceCeiling":"1"}})");
    EXPECT_EQ(bad_amount.status, 400) << bad_amount.body;
    // The wallet refuses bad arguments before sending anything.
    EXPECT_EQ(wallet({"topup", "--amount", "lots"}).rc, 1);
    EXPECT_EQ(wallet({"topup", "--amount", "5", "--colour", "red"}).rc, 1);
}

TEST_F(E2e, LossReportStopsTopupsOnTheCard) {
    const std::uint32_t before = balance();
    const Ran report = wallet({"report-loss", "--owner", "alice"});
    ASSERT_EQ(report.rc, 0) << report.out;
    // se-tsm delivers the invalidation to sp-tsm through its outbox (asynchronously); from then
    // on sp-tsm refuses every operation on the card before anything reaches the card or kmsd.
    // A probe that started just before the delivery is ended mid-way by sp-tsm with the
    // outcome product-attribute-invalid (exit 3): correct, and the next probe is refused.
    Ran probe;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    do {
        probe = wallet({"balance"});
        if (probe.rc == 3)
            ASSERT_NE(probe.out.find("product-attribute-invalid"), std::string::npos) << probe.out;
        else if (probe.rc != 0)
            break;
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
    } while (std::chrono::steady_clock::now() < deadline);
    EXPECT_EQ(probe.rc, 2) << probe.out;
    const Ran topup = wallet({"topup", "--amount", "500"});
    EXPECT_EQ(topup.rc, 2) << topup.out;
    EXPECT_NE(topup.out.find("product_attribute_invalid"), std::string::npos) << topup.out;
    // A merchant can still debit what is on the card; it holds exactly what it held before the
    // report, so paying all of it succeeds and one more unit fails.
    const Ran pay_all = wallet({"card", "pay", "--amount", std::to_string(before)});
    const Ran pay_more = wallet({"card", "pay", "--amount", "1"});
    EXPECT_EQ(pay_all.rc, 0) << pay_all.out;
    EXPECT_EQ(pay_more.rc, 3) << pay_more.out;
}

TEST_F(E2e, CardOperationsGoThroughTheFrontToSeTsm) {
    // se-tsm's card operations (actionCode se.card-op, docs/se-tsm.md): the wallet relays SELECT,
    // the secure channel opened by kmsd and SET STATUS / GET STATUS to the card.
    const Ran list = wallet({"card-op", "list"});
    ASSERT_EQ(list.rc, 0) << list.out;
    EXPECT_NE(list.out.find("4F09A0000005591010FFFF"), std::string::npos) << list.out;
    const Ran lock = wallet({"card-op", "lock"});
    ASSERT_EQ(lock.rc, 0) << lock.out;
    EXPECT_NE(lock.out.find("success"), std::string::npos) << lock.out;
    const Ran again = wallet({"card-op", "lock"});  // refused before any APDU
    EXPECT_EQ(again.rc, 2) << again.out;
    EXPECT_NE(again.out.find("wrong_state"), std::string::npos) << again.out;
    EXPECT_NE(wallet({"card", "pay", "--amount", "1"}).rc, 0);  // a locked card serves no app
    EXPECT_EQ(wallet({"card-op", "unlock"}).rc, 0);
    EXPECT_EQ(wallet({"card-op", "terminate"}).rc, 0);
    const Ran after = wallet({"card-op", "list"});
    EXPECT_EQ(after.rc, 2) << after.out;
    EXPECT_NE(after.out.find("TERMINATED"), std::string::npos) << after.out;
}

}  // namespace
}  // namespace kms::test
