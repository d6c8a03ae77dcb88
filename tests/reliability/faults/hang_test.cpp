// A hung HSM must not look healthy: with every pooled session held by a call the module does
// not answer, /healthz turns 503 within a few seconds (the background probe gives up waiting for
// a session), and turns 200 again once the module answers. Requests that find every session
// held wait at most --hsm-wait-ms for one, then get a clean 503.
#include "fault_rig.hpp"

namespace kms::test {
namespace {

/// kmsd on a fresh fault-shim token with @p options, and one AES-128 MAC key.
struct MacKmsd {
    explicit MacKmsd(const std::vector<std::string>& options)
        : kmsd([&] {
              auto args = rig.kmsd_args();
              args.insert(args.end(), options.begin(), options.end());
              return args;
          }()),
          admin(kmsd.admin_token()),
          client("127.0.0.1", kmsd.port(), kmsd.ca_file()) {
        auto k = client.post("/v1/keys", R"({"name":"hang","algorithm":"AES-128","usage":["mac"]})",
                             admin);
        if (k.status != 201) throw std::runtime_error("key creation failed: " + k.body);
        mac_path = "/v1/keys/" + k.json()->getValue<std::string>("id") + "/mac";
    }
    FaultRig rig;
    KmsdProcess kmsd;
    std::string admin;
    HttpsClient client;
    std::string mac_path;
};

TEST(Hang, HealthzReportsAnHsmWhoseSessionsAreAllStuck) {
    MacKmsd m({"--hsm-sessions", "1"});
    FaultRig& rig = m.rig;
    KmsdProcess& kmsd = m.kmsd;
    const std::string& admin = m.admin;
    HttpsClient& c = m.client;
    const std::string& path = m.mac_path;
    ASSERT_EQ(c.get("/healthz").status, 200);

    // The one session is held for 4 s by a MAC whose C_Sign the module sits on.
    rig.control("delay C_Sign 4000");
    int stuck_status = 0;
    std::thread stuck([&] {
        HttpsClient s("127.0.0.1", kmsd.port(), kmsd.ca_file());
        stuck_status = s.post(path, R"({"algorithm":"AES-CMAC","data":"00"})", admin).status;
    });
    const auto start = std::chrono::steady_clock::now();
    double unhealthy_after = -1;
    while (std::chrono::steady_clock::now() - start < std::chrono::milliseconds(3800)) {
        if (c.get("/healthz").status == 503) {
            unhealthy_after =
                std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                    .count();
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    rig.control("clear");
    stuck.join();
    EXPECT_EQ(stuck_status, 200) << "a slow call is slow, not failed";
    EXPECT_GE(unhealthy_after, 0) << "/healthz said ok while every session was stuck";
    std::cout << "stuck HSM: /healthz 503 after " << unhealthy_after << " ms\n";

    // The module answers again: healthy within a second.
    const auto back = std::chrono::steady_clock::now();
    while (c.get("/healthz").status != 200 &&
           std::chrono::steady_clock::now() - back < std::chrono::seconds(5))
        std::this_thread::sleep_for(std::chrono::milliseconds(25));
    EXPECT_LT(std::chrono::steady_clock::now() - back, std::chrono::seconds(1));
    EXPECT_EQ(c.post(path, R"({"algorithm":"AES-CMAC","data":"00"})", admin).status, 200);
}

TEST(Hang, RequestsWaitingForABusySessionGetA503AfterTheWaitLimit) {
    MacKmsd m({"--hsm-sessions", "2", "--hsm-wait-ms", "400"});
    FaultRig& rig = m.rig;
    const KmsdProcess& kmsd = m.kmsd;
    const std::string& admin = m.admin;
    HttpsClient& c = m.client;
    const std::string& path = m.mac_path;

    // Both sessions are held for 3 s by MACs whose C_Sign the module sits on; the other
    // requests of the burst find none free.
    rig.control("delay C_Sign 3000");
    const auto out = burst(kmsd, 5, 1, [&](HttpsClient& h, int, int) {
        const auto r = h.post(path, R"({"algorithm":"AES-CMAC","data":"00"})", admin);
        return Outcome{"mac", r.status, r.body, 0};
    });
    rig.control("clear");
    int ok = 0, busy = 0;
    for (const auto& o : out) {
        ASSERT_TRUE(o.status == 200 || o.status == 503) << o.status << " " << o.body;
        if (o.status == 200) {
            ++ok;
            continue;
        }
        ++busy;
        EXPECT_NE(o.body.find("\"error\""), std::string::npos) << o.body;
        EXPECT_NE(o.body.find("stayed busy for 400 ms"), std::string::npos) << o.body;
        EXPECT_LT(o.ms, 2500.0) << "a request waited past the limit for a session";
    }
    EXPECT_GE(ok, 1) << "the slow calls are slow, not failed";
    EXPECT_GE(busy, 1) << "no request was refused while every session was held";
    std::cout << "busy HSM: " << ok << " answered, " << busy << " refused with 503\n";
    EXPECT_EQ(c.post(path, R"({"algorithm":"AES-CMAC","data":"00"})", admin).status, 200);
}

}  // namespace
}  // namespace kms::test
