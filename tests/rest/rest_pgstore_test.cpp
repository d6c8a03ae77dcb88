// kmsd on the PostgreSQL store (store.backend = postgresql): real kmsd processes, a real
// PostgreSQL 15 in a temporary folder, HTTPS on 127.0.0.1. One node: keys survive a restart,
// the LMDB hot backup answers 409 naming pg_dump, a PostgreSQL restart gives 503 and then
// service again. Two nodes on one database sharing one SoftHSM2 token (so one master key; the
// dual-control join comes later): a key made on node 1 is used on node 2, and a key destroyed
// on node 1 is refused on node 2 at once (no key record is cached on a shared store). Under
// load: node 1 killed with SIGKILL and PostgreSQL restarted lose no acknowledged key, and the
// audit chain stays one valid chain.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <thread>
#include <vector>

#include "kmsd_process.hpp"
#include "postgres_server.hpp"

namespace kms::test {
namespace {

/// One PostgreSQL server for the program; a fresh schema per kmsd data set.
PostgresServer& postgres() {
    static PostgresServer server;
    return server;
}

/// A config file selecting the PostgreSQL store on a new schema; removed by the destructor.
class PgConfig {
  public:
    PgConfig() {
        // The schema first: when that throws, no folder is left behind.
        const std::string conninfo = postgres().schema_conninfo(postgres().create_schema());
        char tmpl[] = "/tmp/kmsd-pgconf-XXXXXX";
        if (::mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
        m_dir = tmpl;
        std::ofstream(m_dir + "/kmsd.conf") << "store.backend = postgresql\n"
                                            << "store.postgresql.conninfo = " << conninfo << "\n";
    }
    ~PgConfig() {
        std::error_code ec;
        std::filesystem::remove_all(m_dir, ec);
    }
    std::string arg() const { return "--config=" + m_dir + "/kmsd.conf"; }

  private:
    std::string m_dir;
};

std::string str(const HttpResponse& r, const std::string& field) {
    return r.json()->getValue<std::string>(field);
}

constexpr const char* kMacBody =
    R"({"algorithm":"AES-CMAC","data":"00112233445566778899AABBCCDDEEFF"})";

/// kmsd with @p config_text as its configuration file: exit code and output.
int run_with_config(const std::string& config_text, std::string& output) {
    char tmpl[] = "/tmp/kmsd-pgconf-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
    const std::string dir = tmpl;
    std::ofstream(dir + "/kmsd.conf") << config_text;
    const int rc = run_kmsd(
        {"--data-dir", dir + "/data", "--listen", "127.0.0.1:1", "--config=" + dir + "/kmsd.conf"},
        output, 60);
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
    return rc;
}

TEST(RestPgStore, BadStoreConfigurationStopsKmsdWithAClearMessage) {
    std::string out;
    EXPECT_EQ(run_with_config("store.backend = postgres\n", out), 64) << out;
    EXPECT_NE(out.find("store.backend: expected lmdb or postgresql"), std::string::npos) << out;
    EXPECT_EQ(run_with_config("store.backend = postgresql\n", out), 64) << out;
    EXPECT_NE(out.find("needs store.postgresql.conninfo"), std::string::npos) << out;
    // Unreachable: kmsd stops before serving, and never repeats the password it was given.
    EXPECT_NE(run_with_config("store.backend = postgresql\nstore.postgresql.conninfo = "
                              "host=127.0.0.1 port=1 user=kms password=hunter2 "
                              "connect_timeout=2\n",
                              out),
              0)
        << out;
    EXPECT_NE(out.find("cannot connect to PostgreSQL"), std::string::npos) << out;
    EXPECT_EQ(out.find("hunter2"), std::string::npos) << out;
}

TEST(RestPgStore, KeysSurviveARestartAndAPostgresRestartGives503ThenService) {
    PgConfig conf;
    KmsdProcess kmsd({conf.arg()});
    const std::string admin = kmsd.admin_token();
    std::string id, mac;
    {
        HttpsClient c("127.0.0.1", kmsd.port(), kmsd.ca_file());
        auto k =
            c.post("/v1/keys", R"({"name":"pg-zak","algorithm":"AES-128","usage":["mac"]})", admin);
        ASSERT_EQ(k.status, 201) << k.body;
        id = str(k, "id");
        auto m = c.post("/v1/keys/" + id + "/mac", kMacBody, admin);
        ASSERT_EQ(m.status, 200) << m.body;
        mac = str(m, "mac");
        auto backup = c.post("/v1/backups", "", admin);
        EXPECT_EQ(backup.status, 409) << backup.body;
        EXPECT_NE(backup.body.find("pg_dump"), std::string::npos) << backup.body;
    }
    EXPECT_NE(kmsd.output().find("store: the PostgreSQL store"), std::string::npos);
    EXPECT_EQ(kmsd.output().find("host="), std::string::npos) << "the conninfo was logged";

    ASSERT_EQ(kmsd.stop(), 0) << kmsd.output();
    kmsd.start();
    HttpsClient c("127.0.0.1", kmsd.port(), kmsd.ca_file());
    auto again = c.get("/v1/keys/" + id, admin);
    ASSERT_EQ(again.status, 200) << again.body;
    EXPECT_EQ(str(again, "name"), "pg-zak");
    auto m = c.post("/v1/keys/" + id + "/mac", kMacBody, admin);
    ASSERT_EQ(m.status, 200) << m.body;
    EXPECT_EQ(str(m, "mac"), mac);
    EXPECT_EQ(c.get("/v1/audit/verify", admin).status, 200);

    {
        // Started again however the block is left, so a failure here fails this test only.
        struct Restart {
            ~Restart() { postgres().start(); }
        } restart;
        postgres().stop();
        auto down = c.post("/v1/keys/" + id + "/mac", kMacBody, admin);
        EXPECT_EQ(down.status, 503) << "a MAC with the store away: " << down.body;
        if (down.status == 503) {
            EXPECT_EQ(str(down, "error"), "store_error") << down.body;
        }
        auto refused = c.post("/v1/keys",
                              R"({"name":"pg-down","algorithm":"AES-128","usage":["mac"]})", admin);
        EXPECT_EQ(refused.status, 503) << refused.body;
    }
    auto back = c.post("/v1/keys/" + id + "/mac", kMacBody, admin);
    ASSERT_EQ(back.status, 200) << back.body;
    EXPECT_EQ(str(back, "mac"), mac);
    EXPECT_EQ(c.get("/v1/keys?namePrefix=pg-down", admin).body.find("pg-down"), std::string::npos)
        << "a key refused while PostgreSQL was away must not exist";
    auto verify = c.get("/v1/audit/verify", admin);
    EXPECT_EQ(verify.status, 200) << verify.body;
    EXPECT_TRUE(verify.json()->getValue<bool>("valid")) << verify.body;
}

TEST(RestPgStore, TwoNodesOnOneDatabaseShareKeysAndADestroyIsSeenAtOnce) {
    PgConfig conf;
    KmsdProcess node1({conf.arg()});
    const std::string admin = node1.admin_token();
    // Node 2 reaches node 1's SoftHSM2 token as a "vendor" module: the same master keys.
    const char* module = std::getenv("KMS_SOFTHSM_MODULE");
    ASSERT_NE(module, nullptr);
    ::setenv("SOFTHSM2_CONF", (node1.data_dir() + "/softhsm2.conf").c_str(), 1);
    KmsdProcess node2({conf.arg(), std::string("--hsm-module=") + module,
                       "--pin-file=" + node1.data_dir() + "/hsm.pin"});
    ::unsetenv("SOFTHSM2_CONF");

    HttpsClient c1("127.0.0.1", node1.port(), node1.ca_file());
    HttpsClient c2("127.0.0.1", node2.port(), node1.ca_file());  // one CA, in the store
    auto k = c1.post("/v1/keys", R"({"name":"shared-zak","algorithm":"AES-256","usage":["mac"]})",
                     admin);
    ASSERT_EQ(k.status, 201) << k.body;
    const std::string id = str(k, "id");
    auto m1 = c1.post("/v1/keys/" + id + "/mac", kMacBody, admin);
    auto m2 = c2.post("/v1/keys/" + id + "/mac", kMacBody, admin);
    ASSERT_EQ(m1.status, 200) << m1.body;
    ASSERT_EQ(m2.status, 200) << m2.body;
    EXPECT_EQ(str(m1, "mac"), str(m2, "mac"));

    auto deact = c1.post("/v1/keys/" + id + "/deactivate", R"({"reason":"test"})", admin);
    ASSERT_EQ(deact.status, 200) << deact.body;
    auto refused = c2.post("/v1/keys/" + id + "/mac", kMacBody, admin);
    EXPECT_EQ(refused.status, 409) << "node 2 used a key node 1 deactivated: " << refused.body;
    auto destroy = c1.request("DELETE", "/v1/keys/" + id, "", admin);
    ASSERT_EQ(destroy.status, 200) << destroy.body;
    auto gone =
        c2.post("/v1/keys/" + id + "/mac/verify",
                R"({"algorithm":"AES-CMAC","data":"00112233445566778899AABBCCDDEEFF","mac":")" +
                    str(m1, "mac") + "\"}",
                admin);
    EXPECT_EQ(gone.status, 409) << "node 2 used a key node 1 destroyed: " << gone.body;
    auto state = c2.get("/v1/keys/" + id, admin);
    EXPECT_EQ(str(state, "state"), "Destroyed");
    // The name is free on both nodes; the audit chain is one chain.
    auto reuse = c2.post("/v1/keys",
                         R"({"name":"shared-zak","algorithm":"AES-256","usage":["mac"]})", admin);
    EXPECT_EQ(reuse.status, 201) << reuse.body;
    auto verify = c2.get("/v1/audit/verify", admin);
    EXPECT_EQ(verify.status, 200) << verify.body;
    EXPECT_TRUE(verify.json()->getValue<bool>("valid")) << verify.body;
}

struct Load {
    std::vector<std::string> acked;  ///< names kmsd answered 201 for
    std::size_t refused = 0;         ///< 503 answers (the store away)
    int last_status = 0;
};

/// Creates keys named @p prefix + n on @p port until @p stop or a transport failure (a killed
/// node). Any answer but 201 must be 503.
Load create_until(int port, const std::string& ca, const std::string& admin,
                  const std::string& prefix, const std::atomic<bool>& stop) {
    Load load;
    std::vector<std::string>& acked = load.acked;
    std::size_t& refused = load.refused;
    try {
        HttpsClient c("127.0.0.1", port, ca);
        for (int n = 0; !stop.load(); ++n) {
            const std::string name = prefix + std::to_string(n);
            auto r = c.post("/v1/keys",
                            R"({"name":")" + name + R"(","algorithm":"AES-128","usage":["mac"]})",
                            admin);
            load.last_status = r.status;
            if (r.status == 201) {
                acked.push_back(name);
            } else {
                EXPECT_EQ(r.status, 503) << r.body;
                ++refused;
                std::this_thread::sleep_for(std::chrono::milliseconds(10));
            }
        }
    } catch (const std::exception&) {
        // The node was killed: the connection is gone. What it acknowledged is in acked.
    }
    std::printf("%s: %zu acknowledged, %zu refused with 503\n", prefix.c_str(), acked.size(),
                refused);
    return load;
}

TEST(RestPgStore, UnderLoadAKilledNodeAndAPostgresRestartLoseNoAcknowledgedKey) {
    PgConfig conf;
    KmsdProcess node1({conf.arg()});
    const std::string admin = node1.admin_token();
    const char* module = std::getenv("KMS_SOFTHSM_MODULE");
    ASSERT_NE(module, nullptr);
    ::setenv("SOFTHSM2_CONF", (node1.data_dir() + "/softhsm2.conf").c_str(), 1);
    KmsdProcess node2({conf.arg(), std::string("--hsm-module=") + module,
                       "--pin-file=" + node1.data_dir() + "/hsm.pin"});
    ::unsetenv("SOFTHSM2_CONF");

    // Node 1 killed (SIGKILL) while creating keys; node 2 keeps going through a PostgreSQL
    // restart (503 while it is away, never anything else).
    std::atomic<bool> stop{false};
    Load load_1, load_2;
    const std::vector<std::string>& acked1 = load_1.acked;
    const std::vector<std::string>& acked2 = load_2.acked;
    std::thread load1(
        [&] { load_1 = create_until(node1.port(), node1.ca_file(), admin, "n1-", stop); });
    std::thread load2(
        [&] { load_2 = create_until(node2.port(), node1.ca_file(), admin, "n2-", stop); });
    std::this_thread::sleep_for(std::chrono::milliseconds(700));
    node1.kill9();
    load1.join();
    {
        struct Restart {
            ~Restart() { postgres().start(); }
        } restart;
        postgres().stop();
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    stop = true;
    load2.join();
    EXPECT_GT(acked1.size(), 0u);
    EXPECT_GT(load_2.refused, 0u) << "PostgreSQL's restart went unnoticed";
    EXPECT_EQ(load_2.last_status, 201) << "node 2 did not serve again after PostgreSQL returned";
    std::printf("acknowledged: %zu on node 1 before SIGKILL, %zu on node 2\n", acked1.size(),
                acked2.size());

    HttpsClient c("127.0.0.1", node2.port(), node1.ca_file());
    std::size_t listed = 0;
    for (const auto& prefix : {"n1-", "n2-"}) {
        std::string after;
        do {
            auto page = c.get(std::string("/v1/keys?limit=1000&namePrefix=") + prefix +
                                  (after.empty() ? "" : "&after=" + after),
                              admin);
            ASSERT_EQ(page.status, 200) << page.body;
            const auto keys = page.json()->getArray("keys");
            for (std::size_t i = 0; i < keys->size(); ++i) {
                const std::string name = keys->getObject(i)->getValue<std::string>("name");
                const auto& mine = std::string(prefix) == "n1-" ? acked1 : acked2;
                if (std::find(mine.begin(), mine.end(), name) != mine.end()) ++listed;
            }
            const auto body = page.json();
            after = body->has("next") && !body->isNull("next") ? body->getValue<std::string>("next")
                                                               : std::string();
        } while (!after.empty());
    }
    EXPECT_EQ(listed, acked1.size() + acked2.size()) << "an acknowledged key was lost";
    auto verify = c.get("/v1/audit/verify", admin);
    ASSERT_EQ(verify.status, 200) << verify.body;
    EXPECT_TRUE(verify.json()->getValue<bool>("valid")) << verify.body;
}

}  // namespace
}  // namespace kms::test
