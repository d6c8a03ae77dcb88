// Crash safety of kmsd's first start (docs/operations.md "First start"): SIGKILL at a random
// moment while kmsd creates the token, master keys, store, CA and administrator; the next start
// must complete the initialization and serve, with a verifying audit chain and an
// administrator token that works. Seeded like the lifecycle test (KMS_CRASH_SEED).
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <random>
#include <thread>

#include "kmsd_process.hpp"

namespace kms::test {
namespace {

/// A temporary folder removed on every path out of the test.
struct TempDir {
    std::string path;
    TempDir() {
        char tmpl[] = "/tmp/kmsd-first-start-XXXXXX";
        if (::mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
        path = tmpl;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
};

/// A kmsd child killed with SIGKILL on every path out of the test.
struct Child {
    pid_t pid = -1;
    ~Child() { kill9(); }
    void kill9() {
        if (pid <= 0) return;
        ::kill(pid, SIGKILL);
        wait_exit(pid, 5000);
        pid = -1;
    }
};

/// Waits for @p text in @p log after offset @p from; false when @p child ends first (it is
/// reaped then) or after @p timeout_ms.
bool wait_for(const std::string& log, const std::string& text, std::size_t from, Child& child,
              int timeout_ms) {
    for (int waited = 0; waited < timeout_ms; waited += 25) {
        if (slurp(log).find(text, from) != std::string::npos) return true;
        if (wait_exit(child.pid, 0) != -1000) {
            child.pid = -1;
            return false;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    return false;
}

TEST(CrashSafety, SigkillDuringFirstStartThenTheNextStartCompletesIt) {
    const char* kmsd = std::getenv("KMSD");
    ASSERT_TRUE(kmsd != nullptr && *kmsd != '\0') << "KMSD is not set";
    const char* seed_env = std::getenv("KMS_CRASH_SEED");
    const std::uint64_t seed =
        seed_env != nullptr && *seed_env != '\0' ? std::stoull(seed_env) : std::random_device{}();
    std::cout << "KMS_CRASH_SEED=" << seed << "\n";
    std::mt19937_64 rng(seed);
    const char* rounds_env = std::getenv("KMS_FIRST_START_ROUNDS");
    const unsigned rounds =
        rounds_env != nullptr && *rounds_env != '\0' ? std::stoul(rounds_env) : 6;
    unsigned interrupted = 0;
    for (unsigned round = 0; round < rounds; ++round) {
        SCOPED_TRACE("first-start round " + std::to_string(round) +
                     ", KMS_CRASH_SEED=" + std::to_string(seed));
        TempDir dir;
        const std::string data = dir.path + "/data";
        const std::string log = dir.path + "/kmsd.log";
        const int port = free_port();
        const std::vector<std::string> args = {kmsd, "--data-dir", data, "--listen",
                                               "127.0.0.1:" + std::to_string(port)};
        Child child;
        child.pid = spawn(args, log);
        const unsigned kill_after = std::uniform_int_distribution<unsigned>(10, 700)(rng);
        std::this_thread::sleep_for(std::chrono::milliseconds(kill_after));
        const bool was_up = slurp(log).find("listening") != std::string::npos;
        child.kill9();
        interrupted += was_up ? 0 : 1;

        const std::size_t from = slurp(log).size();
        const auto t0 = std::chrono::steady_clock::now();
        child.pid = spawn(args, log);
        ASSERT_TRUE(wait_for(log, "listening", from, child, 60000))
            << "kmsd does not start after a SIGKILL " << kill_after << " ms into its first start:\n"
            << slurp(log);
        const auto restart_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                    std::chrono::steady_clock::now() - t0)
                                    .count();
        const std::string second = slurp(log).substr(from);
        std::string token = slurp(data + "/admin.token");
        while (!token.empty() && token.back() == '\n') token.pop_back();
        ASSERT_FALSE(token.empty()) << "no administrator token after the restart:\n" << second;
        // Its own scope: an open keep-alive connection would delay kmsd's SIGTERM shutdown.
        auto c = std::make_unique<HttpsClient>("127.0.0.1", port, data + "/tls/ca.pem");
        auto who = c->get("/v1/whoami", token);
        EXPECT_EQ(who.status, 200) << who.body << "\n" << second;
        auto v = c->get("/v1/audit/verify", token);
        ASSERT_EQ(v.status, 200) << v.body;
        EXPECT_TRUE(v.json()->getValue<bool>("valid")) << v.body;
        auto k =
            c->post("/v1/keys",
                    R"({"name":"after-first-start","algorithm":"AES-256","usage":["mac"]})", token);
        EXPECT_EQ(k.status, 201) << k.body;
        std::cout << "first-start round " << round << ": killed after " << kill_after << " ms ("
                  << (was_up ? "already serving" : "during initialization") << "); restart in "
                  << restart_ms << " ms, "
                  << (second.find("first start: initialized") != std::string::npos
                          ? "which finished the initialization"
                          : "on an initialized store")
                  << "\n";
        c.reset();
        const auto t1 = std::chrono::steady_clock::now();
        ::kill(child.pid, SIGTERM);
        EXPECT_EQ(wait_exit(child.pid, 10000), 0) << slurp(log);
        child.pid = -1;
        std::cout << "  stopped in "
                  << std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::steady_clock::now() - t1)
                         .count()
                  << " ms\n";
    }
    std::cout << "first start: " << interrupted << " of " << rounds
              << " kills landed before kmsd was serving\n";
}

/// Writes @p text to @p path with mode 0600.
void write_private(const std::string& path, const std::string& text) {
    std::ofstream(path) << text;
    std::filesystem::permissions(
        path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
}

// The narrowest window of the first start, made deterministic: the embedded token exists
// (C_InitToken done) but its user PIN was never set (C_InitPIN not reached), exactly as a kill
// between the two calls leaves it (PKCS#11 v2.40 §5.6: C_InitToken, then C_InitPIN in an SO
// session).
TEST(CrashSafety, FirstStartKilledBetweenInitTokenAndInitPinIsCompletedByTheNextStart) {
    const char* kmsd = std::getenv("KMSD");
    ASSERT_TRUE(kmsd != nullptr && *kmsd != '\0') << "KMSD is not set";
    const char* module_env = std::getenv("KMS_SOFTHSM_MODULE");
    const std::string module = module_env != nullptr && *module_env != '\0'
                                   ? module_env
                                   : "/usr/lib/softhsm/libsofthsm2.so";
    TempDir dir;
    const std::string data = dir.path + "/data";
    std::filesystem::create_directories(data + "/tokens");
    std::filesystem::permissions(data, std::filesystem::perms::owner_all);
    std::filesystem::permissions(data + "/tokens", std::filesystem::perms::owner_all);
    // What kmsd's first start writes before it creates the token (daemon/bootstrap.cpp).
    write_private(data + "/softhsm2.conf", "directories.tokendir = " + data +
                                               "/tokens\nobjectstore.backend = file\n"
                                               "log.level = ERROR\nslots.removable = false\n");
    const std::string so_pin = "0123456789abcdef0123456789abcdef0123456789abcdef";
    write_private(data + "/hsm-so.pin", so_pin + "\n");
    write_private(data + "/hsm.pin", "fedcba9876543210fedcba9876543210fedcba9876543210\n");
    const std::string log = dir.path + "/kmsd.log";
    ::setenv("SOFTHSM2_CONF", (data + "/softhsm2.conf").c_str(), 1);
    const pid_t tool = spawn({"/usr/bin/pkcs11-tool", "--module", module, "--init-token", "--label",
                              "kms", "--so-pin", so_pin},
                             dir.path + "/pkcs11-tool.log");
    ::unsetenv("SOFTHSM2_CONF");
    const int tool_rc = wait_exit(tool, 30000);
    if (tool_rc == -1000) {  // hung: never leave it behind
        ::kill(tool, SIGKILL);
        wait_exit(tool, 5000);
    }
    ASSERT_EQ(tool_rc, 0) << slurp(dir.path + "/pkcs11-tool.log");

    const int port = free_port();
    Child child;
    child.pid =
        spawn({kmsd, "--data-dir", data, "--listen", "127.0.0.1:" + std::to_string(port)}, log);
    ASSERT_TRUE(wait_for(log, "listening", 0, child, 60000))
        << "kmsd does not start on a token whose user PIN was never set:\n"
        << slurp(log);
    std::string token = slurp(data + "/admin.token");
    while (!token.empty() && token.back() == '\n') token.pop_back();
    {
        HttpsClient c("127.0.0.1", port, data + "/tls/ca.pem");
        EXPECT_EQ(c.get("/v1/whoami", token).status, 200);
    }
    ::kill(child.pid, SIGTERM);
    EXPECT_EQ(wait_exit(child.pid, 10000), 0) << slurp(log);
    child.pid = -1;
}

}  // namespace
}  // namespace kms::test
