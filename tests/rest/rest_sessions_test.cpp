// Officer sessions against a real kmsd (services/sessions.hpp, routes_sessions.cpp): an officer
// token opens a short-lived session token; the session token authenticates like the officer's
// own; log out (DELETE /v1/sessions/current) and the idle timeout end it with a 401 JSON error
// over plain REST; requests keep it alive; a session cannot open another; open, close and
// expiry are audited without the token. kmsd runs with console.session_idle_s = 3 so the
// expiry is observed in seconds. Also here, for the console's other kmsd additions: disabling
// and enabling a principal, and GET /v1/audit's filters (actor, action, target, outcome, time
// range) with their seq cursor. The whole program takes about 8 s, most of it kmsd's start and
// the idle waits.
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
    auto by_token = get("/v1/whoami", token);
    EXPECT_EQ(by_token.status, 401) << by_token.body;
    EXPECT_NE(str(by_token.json(), "message").find("principal 'sess-officer' is disabled"),
              std::string::npos)
        << by_token.body;
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

TEST_F(Sessions, AuditFiltersAndTheirCursor) {
    const std::string officer = create_principal("audit-officer", R"(["key-officer"])");
    std::vector<std::string> ids;
    for (int i = 0; i < 3; ++i) {
        auto k = post("/v1/keys",
                      R"({"name":"audit-f-)" + std::to_string(i) +
                          R"(","algorithm":"AES-128","usage":["mac"]})",
                      officer);
        ASSERT_EQ(k.status, 201) << k.body;
        ids.push_back(str(k.json(), "id"));
    }
    ASSERT_EQ(post("/v1/keys/" + ids[1] + "/rotate", "", officer).status, 200);

    auto mine = get("/v1/audit?actor=audit-officer");
    ASSERT_EQ(mine.status, 200) << mine.body;
    auto recs = mine.json()->getArray("records");
    ASSERT_EQ(recs->size(), 4u) << mine.body;
    for (std::size_t i = 0; i < recs->size(); ++i)
        EXPECT_EQ(str(recs->getObject(static_cast<unsigned>(i)), "actor"), "audit-officer");
    EXPECT_TRUE(mine.json()->isNull("next"));

    // Page by page (limit 1): the same records, in order, through the seq cursor.
    std::vector<std::uint64_t> seqs;
    std::string path = "/v1/audit?actor=audit-officer&limit=1";
    for (int guard = 0; guard < 10; ++guard) {
        auto r = get(path);
        ASSERT_EQ(r.status, 200) << r.body;
        auto page = r.json()->getArray("records");
        for (std::size_t i = 0; i < page->size(); ++i)
            seqs.push_back(
                page->getObject(static_cast<unsigned>(i))->getValue<std::uint64_t>("seq"));
        if (r.json()->isNull("next")) break;
        path = "/v1/audit?actor=audit-officer&limit=1&from=" +
               std::to_string(r.json()->getValue<std::uint64_t>("next"));
    }
    ASSERT_EQ(seqs.size(), 4u);
    for (std::size_t i = 0; i < 4; ++i)
        EXPECT_EQ(seqs[i],
                  recs->getObject(static_cast<unsigned>(i))->getValue<std::uint64_t>("seq"));

    // Action (exact and prefix), target, outcome, time range.
    auto rot = get("/v1/audit?action=key.rot*&target=" + ids[1]);
    ASSERT_EQ(rot.status, 200) << rot.body;
    ASSERT_EQ(rot.json()->getArray("records")->size(), 1u) << rot.body;
    EXPECT_EQ(str(rot.json()->getArray("records")->getObject(0), "action"), "key.rotate");
    auto created = get("/v1/audit?action=key.create&actor=audit-officer&outcome=success");
    EXPECT_EQ(created.json()->getArray("records")->size(), 3u) << created.body;
    const std::string first_time = str(recs->getObject(0), "time");
    auto before = get("/v1/audit?actor=audit-officer&until=" + first_time);
    EXPECT_EQ(before.json()->getArray("records")->size(), 0u) << before.body;
    auto since = get("/v1/audit?actor=audit-officer&since=" + first_time);
    EXPECT_EQ(since.json()->getArray("records")->size(), 4u) << since.body;

    // Bad filters name themselves.
    for (const auto& [q, msg] : std::vector<std::pair<std::string, std::string>>{
             {"since=yesterday", "since"},
             {"until=2026-01-01T00:00:00Z&since=2026-02-01T00:00:00Z", "until: must be after"},
             {"outcome=maybe", "outcome: success, denied or failed"},
             {"actor=", "actor: 1 to 64"},
             {"target=%01", "target: printable ASCII"}}) {
        auto r = get("/v1/audit?" + q);
        EXPECT_EQ(r.status, 400) << q << ": " << r.body;
        EXPECT_NE(str(r.json(), "message").find(msg), std::string::npos) << q << ": " << r.body;
    }
    // Auditors may filter too; officers may not read the log at all.
    EXPECT_EQ(get("/v1/audit?actor=admin", officer).status, 403);
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
