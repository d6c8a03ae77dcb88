// Officer sessions against a real kmsd (services/sessions.hpp, routes_sessions.cpp): an officer
// token opens a short-lived session token; the session token authenticates like the officer's
// own; log out (DELETE /v1/sessions/current) and the idle timeout end it with a 401 JSON error
// over plain REST; requests keep it alive; a session cannot open another; open, close and
// expiry are audited without the token. kmsd runs with console.session_idle_s = 3 so the
// expiry is observed in seconds (the whole program takes about 10 s, most of it kmsd's start
// and two idle waits).
#include <Poco/JSON/Array.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "rest_fixture.hpp"

namespace kms::test {
namespace {

constexpr int kIdleSeconds = 3;

class Sessions : public Rest {
  public:
    static void SetUpTestSuite() {
        char tmpl[] = "/tmp/kms-sessions-XXXXXX";
        if (::mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
        s_dir = tmpl;
        std::ofstream(s_dir + "/kmsd.conf")
            << "console.session_idle_s = " << kIdleSeconds << "\nconsole.session_max_s = 60\n";
        try {
            s_kmsd = std::make_unique<KmsdProcess>(
                std::vector<std::string>{"--config", s_dir + "/kmsd.conf"});
        } catch (...) {
            std::filesystem::remove_all(s_dir);
            throw;
        }
        s_admin = s_kmsd->admin_token();
    }
    static void TearDownTestSuite() {
        Rest::TearDownTestSuite();
        std::filesystem::remove_all(s_dir);
    }

  protected:
    /// Opens a session with @p token and returns its JSON (asserts 201).
    Poco::JSON::Object::Ptr open(const std::string& token = s_admin) {
        auto r = post("/v1/sessions", "", token);
        EXPECT_EQ(r.status, 201) << r.body;
        return r.json();
    }
    /// The audit records whose action is @p action.
    std::vector<Poco::JSON::Object::Ptr> audit_of(const std::string& action) {
        std::vector<Poco::JSON::Object::Ptr> out;
        for (std::uint64_t from = 1;;) {
            auto r = get("/v1/audit?limit=1000&from=" + std::to_string(from));
            EXPECT_EQ(r.status, 200) << r.body;
            auto recs = r.json()->getArray("records");
            for (std::size_t i = 0; i < recs->size(); ++i) {
                auto o = recs->getObject(static_cast<unsigned>(i));
                if (str(o, "action") == action) out.push_back(o);
            }
            if (r.json()->isNull("next")) break;
            from = r.json()->getValue<std::uint64_t>("next");
        }
        return out;
    }
    /// The whole audit log as text, to look for a token that must not be there.
    std::string audit_text() {
        std::string all;
        for (std::uint64_t from = 1;;) {
            auto r = get("/v1/audit?limit=1000&from=" + std::to_string(from));
            all += r.body;
            if (r.status != 200 || r.json()->isNull("next")) break;
            from = r.json()->getValue<std::uint64_t>("next");
        }
        return all;
    }
    static inline std::string s_dir;
};

TEST_F(Sessions, OpenUseAndLogOut) {
    auto s = open();
    const std::string token = str(s, "token");
    ASSERT_EQ(token.size(), 69u);
    EXPECT_EQ(token.substr(0, 5), "kmss_");
    EXPECT_EQ(str(s, "name"), "admin");
    EXPECT_EQ(s->getValue<int>("idleTimeoutSeconds"), kIdleSeconds);
    EXPECT_EQ(s->getArray("roles")->getElement<std::string>(0), "admin");

    auto who = get("/v1/whoami", token);
    ASSERT_EQ(who.status, 200) << who.body;
    EXPECT_EQ(str(who.json(), "name"), "admin");
    auto cur = get("/v1/sessions/current", token);
    ASSERT_EQ(cur.status, 200) << cur.body;
    EXPECT_EQ(str(cur.json(), "id"), str(s, "id"));
    EXPECT_EQ(str(cur.json(), "expiresAt"), str(s, "expiresAt"));
    // The session acts for the officer: creating a key works with it.
    auto k =
        post("/v1/keys", R"({"name":"via-session","algorithm":"AES-256","usage":["mac"]})", token);
    EXPECT_EQ(k.status, 201) << k.body;

    auto bye = http().request("DELETE", "/v1/sessions/current", "", token);
    ASSERT_EQ(bye.status, 200) << bye.body;
    EXPECT_TRUE(bye.json()->getValue<bool>("closed"));
    // Logged out: the old token is refused over plain REST, with a JSON error.
    for (const char* path : {"/v1/whoami", "/v1/keys", "/v1/sessions/current"}) {
        auto r = get(path, token);
        EXPECT_EQ(r.status, 401) << path << ": " << r.body;
        EXPECT_EQ(r.content_type, "application/json");
        EXPECT_EQ(str(r.json(), "error"), "unauthenticated");
        EXPECT_NE(str(r.json(), "message").find("log in again"), std::string::npos) << r.body;
    }
    auto again = http().request("DELETE", "/v1/sessions/current", "", token);
    EXPECT_EQ(again.status, 401) << again.body;

    // One success (the log out) and one denial (the second DELETE, by an unknown token).
    auto closes = audit_of("session.close");
    ASSERT_EQ(closes.size(), 2u);
    EXPECT_EQ(str(closes[0], "actor"), "admin");
    EXPECT_EQ(str(closes[0], "target"), str(s, "id"));
    EXPECT_EQ(str(closes[0], "outcome"), "success");
    EXPECT_EQ(str(closes[1], "actor"), "-");
    EXPECT_EQ(str(closes[1], "outcome"), "denied");
    auto opens = audit_of("session.open");
    ASSERT_FALSE(opens.empty());
    EXPECT_EQ(str(opens.back(), "target"), str(s, "id"));
    EXPECT_NE(str(opens.back(), "detail").find("by token"), std::string::npos);
    const std::string all = audit_text();
    EXPECT_EQ(all.find(token), std::string::npos) << "a session token is in the audit log";
    EXPECT_EQ(all.find(token.substr(5)), std::string::npos);
}

TEST_F(Sessions, IdleTimeoutEndsTheSessionAndRequestsKeepItAlive) {
    const std::string busy = str(open(), "token");
    const std::string idle = str(open(), "token");
    // Four requests 1.2 s apart: 4.8 s in all, past the 3 s idle time, never idle that long.
    for (int i = 0; i < 4; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1200));
        auto r = get("/v1/whoami", busy);
        ASSERT_EQ(r.status, 200) << "request " << i << ": " << r.body;
    }
    auto r = get("/v1/whoami", idle);
    ASSERT_EQ(r.status, 401) << r.body;
    EXPECT_EQ(str(r.json(), "error"), "unauthenticated");
    EXPECT_NE(str(r.json(), "message").find("expired after 3 s without a request"),
              std::string::npos)
        << r.body;
    // Dropped at once: the next try no longer knows it.
    auto r2 = get("/v1/whoami", idle);
    EXPECT_EQ(r2.status, 401);
    EXPECT_NE(str(r2.json(), "message").find("not valid"), std::string::npos) << r2.body;
    auto expiries = audit_of("session.expire");
    ASSERT_EQ(expiries.size(), 1u);
    EXPECT_EQ(str(expiries[0], "actor"), "admin");
    EXPECT_EQ(str(expiries[0], "outcome"), "denied");
    EXPECT_EQ(audit_text().find(idle.substr(5)), std::string::npos);
}

TEST_F(Sessions, RefusalsNameTheProblem) {
    const std::string token = str(open(), "token");
    // A session does not open another (it would outlive its own expiry).
    auto chained = post("/v1/sessions", "", token);
    EXPECT_EQ(chained.status, 403) << chained.body;
    EXPECT_NE(str(chained.json(), "message").find("cannot open a session"), std::string::npos);
    // DELETE and GET of the current session need a session token.
    auto no_session = http().request("DELETE", "/v1/sessions/current", "", s_admin);
    EXPECT_EQ(no_session.status, 400) << no_session.body;
    EXPECT_NE(str(no_session.json(), "message").find("Bearer kmss_"), std::string::npos);
    // Well-formed but never issued; malformed; no credentials at all.
    auto forged = get("/v1/whoami", "kmss_" + std::string(64, 'a'));
    EXPECT_EQ(forged.status, 401) << forged.body;
    EXPECT_EQ(post("/v1/sessions", "", "").status, 401);
    // Plugins do not get sessions (they have no console).
    const std::string plugin = create_principal("sess-plugin", R"(["plugin"])");
    auto p = post("/v1/sessions", "", plugin);
    EXPECT_EQ(p.status, 403) << p.body;
    // A custodian does (ceremonies in the console).
    const std::string custodian = create_principal("sess-custodian", R"(["custodian"])");
    EXPECT_EQ(str(open(custodian), "name"), "sess-custodian");
}

TEST_F(Sessions, DisablingAPrincipalEndsItsTokenAndSessions) {
    const std::string token = create_principal("sess-officer", R"(["key-officer"])");
    const std::string session = str(open(token), "token");
    auto off = post("/v1/principals/sess-officer/disable", "");
    ASSERT_EQ(off.status, 200) << off.body;
    EXPECT_TRUE(off.json()->getValue<bool>("disabled"));
    EXPECT_EQ(get("/v1/whoami", token).status, 401);
    auto r = get("/v1/whoami", session);
    EXPECT_EQ(r.status, 401) << r.body;
    EXPECT_NE(str(r.json(), "message").find("'sess-officer' is disabled"), std::string::npos)
        << r.body;
    EXPECT_EQ(post("/v1/sessions", "", token).status, 401);
    auto again = post("/v1/principals/sess-officer/disable", "");
    EXPECT_EQ(again.status, 409) << again.body;
    auto on = post("/v1/principals/sess-officer/enable", "");
    ASSERT_EQ(on.status, 200) << on.body;
    EXPECT_FALSE(on.json()->getValue<bool>("disabled"));
    EXPECT_EQ(get("/v1/whoami", token).status, 200);
    // The session the disabling ended stays ended.
    EXPECT_EQ(get("/v1/whoami", session).status, 401);
    auto self = post("/v1/principals/admin/disable", "");
    EXPECT_EQ(self.status, 400) << self.body;
    // One disable and one enable done; the second disable and the self-disable denied.
    auto disables = audit_of("principal.disable");
    ASSERT_EQ(disables.size(), 3u);
    EXPECT_EQ(str(disables[0], "outcome"), "success");
    EXPECT_EQ(str(disables[0], "target"), "sess-officer");
    EXPECT_EQ(str(disables[1], "outcome"), "denied");
    EXPECT_EQ(str(disables[2], "outcome"), "denied");
    EXPECT_EQ(audit_of("principal.enable").size(), 1u);
}

TEST(SessionConfig, MaximumBelowIdleIsRefusedAtStart) {
    char tmpl[] = "/tmp/kms-sessions-cfg-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    const std::string dir = tmpl;
    std::ofstream(dir + "/kmsd.conf") << "console.session_idle_s = 3600\n"
                                         "console.session_max_s = 600\n";
    std::string out;
    const int rc = run_kmsd(
        {"--data-dir", dir + "/data", "--listen", "127.0.0.1:0", "--config", dir + "/kmsd.conf"},
        out, 30);
    std::filesystem::remove_all(dir);
    EXPECT_NE(rc, 0) << out;
    EXPECT_NE(out.find("console.session_max_s"), std::string::npos) << out;
}

}  // namespace
}  // namespace kms::test
