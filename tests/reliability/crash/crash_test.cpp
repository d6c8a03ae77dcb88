// Crash safety (issue 8): kmsd is killed with SIGKILL at a random moment while client threads
// create, rotate and destroy keys; after every restart nothing acknowledged is lost, nothing
// half-made is usable, the reconciler reports exactly the orphans that exist, and the audit
// chain verifies. docs/crash-safety.md describes the test, its cost and its results.
//
// Environment: KMSD (kmsd binary), KMS_SOFTHSM_MODULE (SoftHSM2 module, for the independent
// token listing), KMS_CRASH_SEED (replay a run: every run prints its seed), KMS_CRASH_ROUNDS
// (default 20), KMS_CRASH_THREADS (client threads, default 3).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <random>
#include <set>
#include <thread>

#include "crash_checks.hpp"
#include "crash_workload.hpp"
#include "kmsd_process.hpp"
#include "store_inventory.hpp"
#include "token_inventory.hpp"

namespace kms::test {
namespace {

unsigned env_unsigned(const char* name, unsigned fallback) {
    const char* v = std::getenv(name);
    if (v == nullptr || *v == '\0') return fallback;
    return static_cast<unsigned>(std::stoul(v));
}

std::uint64_t crash_seed() {
    if (const char* v = std::getenv("KMS_CRASH_SEED"); v != nullptr && *v != '\0')
        return std::stoull(v);
    return std::random_device{}() ^ (std::uint64_t{std::random_device{}()} << 32);
}

/// True when kmsd (@p pid, our child) has already ended on its own: a crash nobody caused.
bool died_on_its_own(pid_t pid) {
    siginfo_t info{};
    return ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
           info.si_pid == pid;
}

std::string joined(const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) s += "\n    " + x;
    return s.empty() ? " (none)" : s;
}

std::string lower(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

long ms_since(std::chrono::steady_clock::time_point t) {
    return static_cast<long>(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t)
            .count());
}

/// Admin setup of a fresh kmsd: two key officers (requester and approver) and a quorum of one
/// approval on key.destroy, so every destroy goes through dual control.
Target set_up(KmsdProcess& k) {
    HttpsClient c("127.0.0.1", k.port(), k.ca_file());
    const std::string admin = k.admin_token();
    Target t;
    t.port = k.port();
    t.ca_file = k.ca_file();
    for (auto [name, token] :
         {std::pair{"crash-officer", &t.officer}, std::pair{"crash-approver", &t.approver}}) {
        auto r =
            c.post("/v1/principals",
                   std::string(R"({"name":")") + name + R"(","roles":["key-officer"]})", admin);
        if (r.status != 201)
            throw std::runtime_error("principal " + std::string(name) + ": " + r.body);
        *token = r.json()->getValue<std::string>("token");
    }
    auto q = c.request("PUT", "/v1/quorums/key.destroy",
                       R"({"approvals":1,"approverRoles":["key-officer"]})", admin);
    if (q.status != 200) throw std::runtime_error("quorum: " + q.body);
    return t;
}

/// Runs pkcs11-tool (PKCS11_TOOL, default /usr/bin/pkcs11-tool) on the stopped kmsd's token
/// with @p args after the module, token and login options, exactly as docs/crash-safety.md
/// tells an operator to; its exit code (output appended to DIR/../pkcs11-tool.log).
int pkcs11_tool(const KmsdProcess& k, const std::vector<std::string>& args) {
    const char* tool = std::getenv("PKCS11_TOOL");
    const char* module = std::getenv("KMS_SOFTHSM_MODULE");
    std::string pin = slurp(k.data_dir() + "/hsm.pin");
    while (!pin.empty() && (pin.back() == '\n' || pin.back() == '\r')) pin.pop_back();
    std::vector<std::string> argv = {
        tool != nullptr && *tool != '\0' ? tool : "/usr/bin/pkcs11-tool",
        "--module",
        module != nullptr && *module != '\0' ? module : "/usr/lib/softhsm/libsofthsm2.so",
        "--token-label",
        "kms",
        "--login",
        "--pin",
        pin};
    argv.insert(argv.end(), args.begin(), args.end());
    ::setenv("SOFTHSM2_CONF", (k.data_dir() + "/softhsm2.conf").c_str(), 1);
    const pid_t pid = spawn(argv, k.data_dir() + "/../pkcs11-tool.log");
    ::unsetenv("SOFTHSM2_CONF");
    const int rc = wait_exit(pid, 30000);
    if (rc == -1000) {  // hung: never leave it behind
        ::kill(pid, SIGKILL);
        wait_exit(pid, 5000);
    }
    return rc;
}

/// The documented clean-up of the orphans planted by the test (docs/crash-safety.md, "Orphans:
/// reported, never cleaned by kmsd"), starting from @p k stopped after the last round: the
/// store orphan is deactivated and destroyed through REST (under dual control), the HSM
/// orphans are deleted with pkcs11-tool while kmsd is stopped; the next start must report
/// nothing.
void clean_up_orphans(KmsdProcess& k, const Target& target, TokenInventory& token,
                      const std::string& orphan_id) {
    SCOPED_TRACE("clean-up of the planted orphans");
    const std::string admin = k.admin_token();
    ASSERT_NO_THROW(k.start());
    {
        HttpsClient c("127.0.0.1", k.port(), k.ca_file());
        auto d =
            c.post("/v1/keys/" + orphan_id + "/deactivate", R"({"reason":"store orphan"})", admin);
        ASSERT_EQ(d.status, 200) << d.body;
        auto held = c.request("DELETE", "/v1/keys/" + orphan_id, "", admin);
        ASSERT_EQ(held.status, 202) << held.body;
        const std::string approval = held.json()->getValue<std::string>("id");
        HttpsClient a("127.0.0.1", k.port(), k.ca_file());
        auto vote = a.post("/v1/approvals/" + approval + "/approve", "", target.approver);
        ASSERT_EQ(vote.status, 200) << vote.body;
        auto done = c.post("/v1/approvals/" + approval + "/execute", "", admin);
        ASSERT_EQ(done.status, 200) << done.body;
        EXPECT_EQ(done.json()->getValue<std::string>("state"), "Destroyed");
    }
    ASSERT_EQ(k.stop(), 0);
    EXPECT_EQ(
        pkcs11_tool(k, {"--delete-object", "--type", "secrkey", "--label", "k-crash-planted"}), 0);
    EXPECT_EQ(
        pkcs11_tool(k, {"--delete-object", "--type", "data", "--label", "crash-planted-data"}), 0);
    for (const auto& o :
         token.list(k.data_dir() + "/softhsm2.conf", "kms", k.data_dir() + "/hsm.pin"))
        EXPECT_TRUE(is_master_label(o.label)) << "left on the token: " << o.describe();
    const std::size_t log_before = k.output().size();
    ASSERT_NO_THROW(k.start());
    const std::string log = k.output().substr(log_before);
    EXPECT_EQ(log.find("reconcile:"), std::string::npos) << log;
    HttpsClient c("127.0.0.1", k.port(), k.ca_file());
    auto v = c.get("/v1/audit/verify", admin);
    EXPECT_TRUE(v.status == 200 && v.json()->getValue<bool>("valid")) << v.body;
    EXPECT_EQ(k.stop(), 0);
}

TEST(CrashSafety, SigkillDuringKeyLifecycleLosesNothingAndLeavesNothingHalfMade) {
    const std::uint64_t seed = crash_seed();
    const unsigned rounds = env_unsigned("KMS_CRASH_ROUNDS", 20);
    const unsigned threads = std::max(1u, env_unsigned("KMS_CRASH_THREADS", 3));
    std::cout << "KMS_CRASH_SEED=" << seed << " KMS_CRASH_ROUNDS=" << rounds
              << " KMS_CRASH_THREADS=" << threads << " (set them to replay this run)\n";
    RecordProperty("seed", std::to_string(seed));
    std::mt19937_64 rng(seed);

    const char* module = std::getenv("KMS_SOFTHSM_MODULE");
    TokenInventory token(module != nullptr && *module != '\0' ? module
                                                              : "/usr/lib/softhsm/libsofthsm2.so");
    KmsdProcess k;
    const std::string admin = k.admin_token();
    const std::string conf = k.data_dir() + "/softhsm2.conf";
    const std::string pin = k.data_dir() + "/hsm.pin";
    const Target target = set_up(k);

    // A key outside the workload whose block the test strips in round 5: a planted store orphan.
    std::string orphan_target;
    {
        HttpsClient c("127.0.0.1", k.port(), k.ca_file());
        auto r = c.post("/v1/keys",
                        R"({"name":"orphan-target","algorithm":"AES-256","usage":["mac"]})", admin);
        ASSERT_EQ(r.status, 201) << r.body;
        orphan_target = r.json()->getValue<std::string>("id");
    }
    bool orphan_stripped = false;

    std::vector<Slot> slots(threads);
    Failures failures;
    Counters counters;
    std::uint64_t audit_records = 0;
    long worst_restart_ms = 0;
    std::size_t approvals_resumed = 0;
    const auto started = std::chrono::steady_clock::now();

    for (unsigned round = 0; round < rounds; ++round) {
        SCOPED_TRACE("round " + std::to_string(round) + ", KMS_CRASH_SEED=" + std::to_string(seed));
        // ---- load, then SIGKILL at a random moment ----
        std::atomic<bool> stop{false};
        std::vector<std::thread> workers;
        std::vector<std::unique_ptr<Worker>> ws;
        for (unsigned i = 0; i < threads; ++i) {
            ws.push_back(std::make_unique<Worker>(slots[i], target, round, i, rng(), stop, failures,
                                                  counters));
            workers.emplace_back([w = ws.back().get()] { w->run(); });
        }
        const unsigned kill_after = std::uniform_int_distribution<unsigned>(100, 1200)(rng);
        std::this_thread::sleep_for(std::chrono::milliseconds(kill_after));
        const pid_t pid = k.pid();
        EXPECT_FALSE(died_on_its_own(pid)) << "kmsd ended before the kill:\n" << k.output();
        k.kill9();
        stop = true;
        for (auto& w : workers) w.join();
        unsigned in_flight = 0;
        for (const auto& s : slots)
            for (const auto& key : s.keys) in_flight += key.pending != Pending::None;

        // ---- kmsd is down: plant orphans, then take the independent inventory ----
        if (round == 1) token.plant_data_object(conf, "kms", pin, "crash-planted-data");
        if (round == 3) token.plant_secret_key(conf, "kms", pin, "k-crash-planted", "planted-id");
        if (round == 5) {
            strip_current_block(k.data_dir(), orphan_target);
            orphan_stripped = true;
        }
        std::vector<std::string> hsm_orphans;
        std::set<std::string> masters;
        for (const auto& o : token.list(conf, "kms", pin)) {
            if (is_master_label(o.label))
                masters.insert(o.label);
            else
                hsm_orphans.push_back(lower(o.describe()));
        }
        EXPECT_EQ(masters.size(), 3u) << "the token lost a master key";
        const auto expected_store_orphans = store_orphans(read_key_records(k.data_dir()));

        // ---- restart on the same data directory and port ----
        const std::size_t log_before = k.output().size();
        const auto t0 = std::chrono::steady_clock::now();
        ASSERT_NO_THROW(k.start()) << "kmsd does not start after a SIGKILL";
        const long restart_ms = ms_since(t0);
        worst_restart_ms = std::max(worst_restart_ms, restart_ms);
        const std::string log = k.output().substr(log_before);

        // The reconciler reports every orphan found independently, and invents none.
        auto reported_hsm = reconcile_lines(log, "HSM object unknown to the store: ");
        for (auto& r : reported_hsm) r = lower(r);
        std::sort(reported_hsm.begin(), reported_hsm.end());
        EXPECT_EQ(reported_hsm, hsm_orphans)
            << "token objects besides the masters:" << joined(hsm_orphans)
            << "\n  reconciler:" << joined(reported_hsm) << "\n"
            << log;
        const auto reported_store = reconcile_lines(log, "live key without key material: ");
        EXPECT_EQ(reported_store, expected_store_orphans)
            << "store orphans:" << joined(expected_store_orphans)
            << "\n  reconciler:" << joined(reported_store) << "\n"
            << log;
        if (round >= 1) {
            EXPECT_FALSE(hsm_orphans.empty()) << "the planted token object is gone";
        }

        // ---- the audit chain verifies after every restart ----
        HttpsClient c("127.0.0.1", k.port(), k.ca_file());
        auto v = c.get("/v1/audit/verify", admin);
        ASSERT_EQ(v.status, 200) << v.body;
        EXPECT_TRUE(v.json()->getValue<bool>("valid")) << v.body;
        const auto records = v.json()->getValue<std::uint64_t>("records");
        EXPECT_GE(records, audit_records) << "the audit log shrank";
        audit_records = records;

        // ---- acknowledged state is there and usable; nothing half-made is usable ----
        const bool last = round + 1 == rounds;
        const std::size_t used = check_keys(c, admin, slots, rng, last ? SIZE_MAX : 8, failures);
        const std::size_t resumed = finish_destroy_approvals(target, slots, failures);
        approvals_resumed += resumed;
        auto o = c.post("/v1/keys/" + orphan_target + "/mac",
                        std::string(R"({"algorithm":"AES-CMAC","data":")") + kZeroBlockHex + "\"}",
                        admin);
        if (orphan_stripped) {
            EXPECT_NE(o.status, 200) << "a key without material is usable: " << o.body;
            if (round == 5)
                std::cout << "store orphan " << orphan_target << ": MAC answers " << o.status << " "
                          << o.body << "\n";
        } else {
            EXPECT_EQ(o.status, 200) << o.body;
        }

        for (const auto& f : failures.take()) ADD_FAILURE() << f;
        std::cout << "round " << round << ": killed after " << kill_after << " ms, " << in_flight
                  << " in flight; restart " << restart_ms
                  << " ms; reconcile: " << reported_hsm.size() << " HSM, " << reported_store.size()
                  << " store orphan(s); audit " << records << " records valid; " << used
                  << " keys used; " << resumed
                  << " approved destroy(s) executed after the restart\n";
        if (HasFatalFailure()) return;
    }

    std::size_t live = 0, destroyed = 0, absent = 0;
    for (const auto& s : slots)
        for (const auto& key : s.keys) {
            live += key.life == Life::Active || key.life == Life::Deactivated;
            destroyed += key.life == Life::Destroyed;
            absent += key.life == Life::Absent;
        }
    std::cout << "summary: " << rounds << " rounds in " << ms_since(started) / 1000.0
              << " s; acknowledged: " << counters.created << " creates, " << counters.rotated
              << " rotations, " << counters.deactivated << " deactivations, " << counters.destroyed
              << " destroys; " << counters.transport_errors
              << " requests cut by the kill; keys at the end: " << live << " live, " << destroyed
              << " destroyed, " << absent << " never created; worst restart " << worst_restart_ms
              << " ms; " << approvals_resumed
              << " destroys approved before a kill executed after it\n";
    EXPECT_EQ(k.stop(), 0) << "kmsd does not shut down cleanly after the crashes:\n" << k.output();
    if (rounds > 5) clean_up_orphans(k, target, token, orphan_target);
}

}  // namespace
}  // namespace kms::test
