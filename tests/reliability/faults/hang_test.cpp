// A hung HSM must not look healthy: with every pooled session held by a call the module does
// not answer, /healthz turns 503 within a few seconds (the background probe gives up waiting for
// a session), and turns 200 again once the module answers.
#include "fault_rig.hpp"

namespace kms::test {
namespace {

TEST(Hang, HealthzReportsAnHsmWhoseSessionsAreAllStuck) {
    FaultRig rig;
    auto args = rig.kmsd_args();
    args.insert(args.end(), {"--hsm-sessions", "1"});
    KmsdProcess kmsd(args);
    const std::string admin = kmsd.admin_token();
    HttpsClient c("127.0.0.1", kmsd.port(), kmsd.ca_file());
    auto k = c.post("/v1/keys", R"({"name":"hang","algorithm":"AES-128","usage":["mac"]})", admin);
    ASSERT_EQ(k.status, 201) << k.body;
    const std::string path = "/v1/keys/" + k.json()->getValue<std::string>("id") + "/mac";
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

}  // namespace
}  // namespace kms::test
