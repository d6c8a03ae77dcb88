// tsmd, the plugin host, as a process on 127.0.0.1 over TLS, with the echo test plugin
// (echo_plugin.cpp, built only against plugin-api/tsm_plugin.h) loaded as two instances:
// routing by instance, each instance's own configuration and store namespace, the store
// surviving a restart, answers the host must supply (none, two), size limits, and start-up
// refusals (missing library, create() refusing, a newer ABI, bad configuration), and ABI 2's
// compare-and-put across two tsmd processes sharing one store.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <iostream>
#include <thread>
#include <vector>

#include "tsmd_process.hpp"

namespace kms::test {
namespace {

TEST(Tsmd, RoutesEachInstanceWithItsOwnConfigurationAndStore) {
    const std::string echo = env("TSM_ECHO_PLUGIN");
    TsmdProcess t("[" + instance("alpha", echo, R"({"colour":"red"})") + "," +
                  instance("beta", echo, R"({"colour":"blue"})") + "]");
    ASSERT_TRUE(t.start()) << t.log();
    HttpsClient c = t.client();
    auto h = c.get("/healthz", "");
    EXPECT_EQ(h.status, 200);
    EXPECT_EQ(h.body, R"({"status":"ok","instances":["alpha","beta"]})");

    auto e = c.post("/alpha/echo", R"({"hello":"card"})", "");
    EXPECT_EQ(e.status, 200);
    EXPECT_EQ(e.body, R"({"hello":"card"})");
    EXPECT_EQ(c.get("/alpha/whoami?x=1", "").body,
              R"({"config":{"colour":"red"},"client":"","query":"x=1"})");
    EXPECT_EQ(c.get("/beta/whoami", "").body,
              R"({"config":{"colour":"blue"},"client":"","query":""})");

    // Each instance has its own store namespace; values longer than the plugin's first buffer
    // come back whole.
    const std::string value(100, 'v');
    EXPECT_EQ(c.request("PUT", "/alpha/kv/cards/se-1", value, "").status, 204);
    EXPECT_EQ(c.get("/alpha/kv/cards/se-1", "").body, value);
    EXPECT_EQ(c.get("/beta/kv/cards/se-1", "").status, 404);
    EXPECT_EQ(c.request("PUT", "/beta/kv/cards/se-1", "b", "").status, 204);
    EXPECT_EQ(c.get("/alpha/kv/cards/se-1", "").body, value);

    // Durable: a restarted tsmd still has both.
    ASSERT_EQ(t.stop(), 0) << t.log();
    EXPECT_NE(t.log().find("stopped"), std::string::npos);
    ASSERT_TRUE(t.start()) << t.log();
    HttpsClient c2 = t.client();
    EXPECT_EQ(c2.get("/alpha/kv/cards/se-1", "").body, value);
    EXPECT_EQ(c2.get("/beta/kv/cards/se-1", "").body, "b");
    EXPECT_EQ(c2.request("DELETE", "/alpha/kv/cards/se-1", "", "").status, 204);
    EXPECT_EQ(c2.get("/alpha/kv/cards/se-1", "").status, 404);
    EXPECT_EQ(c2.request("DELETE", "/alpha/kv/cards/se-1", "", "").status, 404);
    EXPECT_EQ(c2.get("/beta/kv/cards/se-1", "").body, "b");
}

TEST(Tsmd, CompareAndPutLosesNoUpdateAcrossTwoProcessesSharingTheStore) {
    // ABI 2: two tsmd processes on one TSM store, 4 clients each adding 1 to the same counter
    // 50 times through store_compare_and_put; every increment lands exactly once.
    char tmpl[] = "/tmp/tsmd-cas-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    const std::string store = tmpl;
    const std::string echo = env("TSM_ECHO_PLUGIN");
    TsmdProcess a("[" + instance("alpha", echo, "{}") + "]", store);
    TsmdProcess b("[" + instance("alpha", echo, "{}") + "]", store);
    ASSERT_TRUE(a.start()) << a.log();
    ASSERT_TRUE(b.start()) << b.log();
    std::atomic<int> failures{0}, conflicts{0};
    std::vector<std::thread> clients;
    for (int i = 0; i < 8; ++i)
        clients.emplace_back([&, i] {
            HttpsClient c = (i % 2 == 0 ? a : b).client();
            for (int n = 0; n < 50; ++n) {
                const auto r = c.post("/alpha/count/tickets", "{}", "");
                if (r.status != 200) {
                    ++failures;
                    continue;
                }
                conflicts += r.json()->getValue<int>("conflicts");
            }
        });
    for (auto& t : clients) t.join();
    EXPECT_EQ(failures.load(), 0);
    HttpsClient c = a.client();
    EXPECT_EQ(c.post("/alpha/count/tickets", "{}", "").json()->getValue<int>("value"), 401)
        << "400 increments from two processes, then this one";
    // The first write of a key expects it absent; a key another instance wrote is separate.
    EXPECT_EQ(c.post("/alpha/count/other", "{}", "").json()->getValue<int>("value"), 1);
    std::cout << "compare-and-put conflicts retried: " << conflicts.load() << "\n";
    std::error_code ec;
    std::filesystem::remove_all(store, ec);
}

TEST(Tsmd, TheHostAnswersForPluginsThatDoNotAndRefusesWhatIsTooLarge) {
    TsmdProcess t("[" + instance("alpha", env("TSM_ECHO_PLUGIN"), "{}") + "]");
    ASSERT_TRUE(t.start()) << t.log();
    HttpsClient c = t.client();
    auto silent = c.get("/alpha/silent", "");
    EXPECT_EQ(silent.status, 500);
    EXPECT_EQ(silent.json()->getValue<std::string>("error"), "plugin_error");
    auto twice = c.get("/alpha/twice", "");
    EXPECT_EQ(twice.status, 200);
    EXPECT_EQ(twice.body, R"({"first":true})");
    EXPECT_NE(t.log().find("answered a request twice"), std::string::npos) << t.log();
    auto none = c.get("/gamma/echo", "");
    EXPECT_EQ(none.status, 404);
    EXPECT_EQ(none.json()->getValue<std::string>("error"), "not_found");
    // A store key the store refuses (more than 200 characters) is the plugin's 400.
    EXPECT_EQ(c.request("PUT", "/alpha/kv/t/" + std::string(201, 'k'), "x", "").status, 400);
    HttpsClient big = t.client();
    auto too_large = big.post("/alpha/echo", std::string(5000, 'x'), "");
    EXPECT_EQ(too_large.status, 413);
    // The host still serves after all of that.
    EXPECT_EQ(t.client().post("/alpha/echo", "{}", "").status, 200);
    // GET /healthz with a body: tsmd answers without reading it, and the next request on the
    // keep-alive connection must still start at its own request line.
    HttpsClient keep = t.client();
    EXPECT_EQ(keep.request("GET", "/healthz", "{\"unused\":1}", "").status, 200);
    auto next = keep.post("/alpha/echo", "{}", "");
    EXPECT_EQ(next.status, 200) << next.body;
}

TEST(Tsmd, StartUpRefusalsNameTheInstanceAndTheReason) {
    const std::string echo = env("TSM_ECHO_PLUGIN");
    struct Case {
        std::string plugins, expected;
    } cases[] = {
        {"[" + instance("alpha", "/nonexistent/libnothing.so", "{}") + "]", "cannot load"},
        {"[" + instance("alpha", echo, R"({"mode":"refuse"})") + "]",
         "create() refused: echo: refused by configuration"},
        {"[" + instance("alpha", env("TSM_ECHO_PLUGIN_V2"), "{}") + "]",
         "built for plugin ABI version 3, this tsmd has 2"},
        {"[" + instance("a/b", echo, "{}") + "]", "plugin instance name 'a/b'"},
        {"[" + instance("alpha", echo, "{}") + "," + instance("alpha", echo, "{}") + "]",
         "instance 'alpha' appears twice"},
        {"[]", "plugins (a list of at least one instance) is required"},
    };
    for (const Case& k : cases) {
        TsmdProcess t(k.plugins);
        EXPECT_FALSE(t.start()) << k.plugins;
        EXPECT_EQ(t.exit_code(), 78) << k.plugins << "\n" << t.log();
        EXPECT_NE(t.log().find(k.expected), std::string::npos) << t.log();
    }
    // tls.trustedProxies: only beside clientCa, a list of 1 to 16 forwardable CNs.
    const std::string one = "[" + instance("alpha", echo, "{}") + "]";
    for (const auto& [tls, expected] : std::vector<std::pair<std::string, std::string>>{
             {R"("trustedProxies":["front"])", "tls.trustedProxies needs tls.clientCa"},
             {R"("clientCa":"tsmd.crt","trustedProxies":"front")", "tls.trustedProxies must be"},
             {R"("clientCa":"tsmd.crt","trustedProxies":[])", "tls.trustedProxies must be"},
             {R"("clientCa":"tsmd.crt","trustedProxies":[" front"])",
              "tls.trustedProxies must be"}}) {
        TsmdProcess t(one);
        std::string config = slurp(t.config());
        const std::string key = "\"key\":\"tsmd.key\"";
        config.replace(config.find(key), key.size(), key + "," + tls);
        write(t.config(), config);
        EXPECT_FALSE(t.start()) << tls;
        EXPECT_EQ(t.exit_code(), 78) << tls << "\n" << t.log();
        EXPECT_NE(t.log().find(expected), std::string::npos) << tls << "\n" << t.log();
    }
    const pid_t pid = spawn({env("TSMD"), "--bogus"}, "/dev/null");
    EXPECT_EQ(wait_exit(pid, 10000), 64);
}

}  // namespace
}  // namespace kms::test
