// Flows A and B end to end, as a newcomer runs them from the README: ./demo.sh starts kmsd, the
// virtual SE and three tsmd processes (the front with se-tsm, two sp-tsm instances sharing one
// TSM store) on 127.0.0.1 over TLS, and the wallet command line talks to the front while relaying
// APDUs to the virtual SE. Nothing is faked: every key is in SoftHSM2 behind kmsd, every hop is
// mTLS, the card checks every cryptogram and MAC.
//
// The tests run in declaration order on one demo (gtest keeps that order): install, top-up,
// retries, routing and a killed instance, malformed requests, then the loss report, which ends
// the card's top-ups for good.
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
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
    Ran probe;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    do {
        probe = wallet({"balance"});
        if (probe.rc != 0) break;
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
