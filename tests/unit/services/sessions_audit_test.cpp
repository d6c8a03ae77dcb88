// Officer sessions (services/sessions.hpp) on a clock the test moves, so idle and maximum
// lifetimes are checked to the millisecond without sleeping; and the audit log's filtered,
// budgeted read (AuditService::search) whose seq cursor must never skip or repeat a match.
// Real LMDB store, fake HSM (service_fixture.hpp). About 0.1 s.
#include <set>

#include "service_fixture.hpp"
#include "services/audit_service.hpp"
#include "services/principals.hpp"
#include "services/sessions.hpp"

namespace kms::core {
namespace {

using test_support::code_of;
using test_support::person;

class SessionsAudit : public test_support::ServiceFixture<> {
  protected:
    SessionsAudit() : ServiceFixture("sessions") {}
    void SetUp() override {
        ServiceFixture::SetUp();
        m_principals = std::make_unique<PrincipalService>(*m_ctx);
        m_officer = m_principals->bootstrap_admin("alice").principal;
        m_sessions =
            std::make_unique<SessionService>(*m_ctx, *m_principals, SessionLimits{10, 60, 3});
    }
    void TearDown() override {
        m_sessions.reset();
        m_principals.reset();
        ServiceFixture::TearDown();
    }
    std::vector<AuditRecord> of_action(const std::string& action) {
        std::vector<AuditRecord> out;
        for (auto& r : audit())
            if (r.event.action == action) out.push_back(r);
        return out;
    }
    std::unique_ptr<PrincipalService> m_principals;
    std::unique_ptr<SessionService> m_sessions;
    Principal m_officer;
};

TEST_F(SessionsAudit, IdleTimeoutCountsFromTheLastRequest) {
    const auto s = m_sessions->open(m_officer, "token");
    EXPECT_TRUE(SessionService::is_session_token(s.token));
    EXPECT_EQ(s.expires_ms, m_clock.now + 60'000);
    m_clock.now += 9'999;
    EXPECT_EQ(m_sessions->authenticate(s.token).name, "alice");  // restarts the idle clock
    m_clock.now += 9'999;
    EXPECT_EQ(m_sessions->authenticate(s.token).name, "alice");
    m_clock.now += 10'000;  // exactly the idle time: over
    try {
        m_sessions->authenticate(s.token);
        ADD_FAILURE() << "an idle session was accepted";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), ErrorCode::Unauthenticated);
        EXPECT_NE(std::string(e.what()).find("expired after 10 s without a request"),
                  std::string::npos)
            << e.what();
    }
    const auto expired = of_action("session.expire");
    ASSERT_EQ(expired.size(), 1u);
    EXPECT_EQ(expired[0].event.actor, "alice");
    EXPECT_EQ(expired[0].event.target, s.id);
    EXPECT_EQ(expired[0].event.outcome, AuditOutcome::Denied);
    // Dropped: a second try is "not valid" and not audited again.
    EXPECT_EQ(code_of([&] { m_sessions->authenticate(s.token); }), ErrorCode::Unauthenticated);
    EXPECT_EQ(of_action("session.expire").size(), 1u);
    EXPECT_EQ(m_sessions->size(), 0u);
}

TEST_F(SessionsAudit, MaximumLifetimeEndsABusySession) {
    const auto s = m_sessions->open(m_officer, "certificate");
    for (int i = 0; i < 6; ++i) {
        m_clock.now += 9'000;
        EXPECT_NO_THROW(m_sessions->authenticate(s.token)) << i;  // 54 s
    }
    m_clock.now += 6'000;  // 60 s after opening
    try {
        m_sessions->authenticate(s.token);
        ADD_FAILURE() << "a session outlived its maximum";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("maximum lifetime of 1 min"), std::string::npos)
            << e.what();
    }
    EXPECT_NE(of_action("session.open").at(0).event.detail.find("by certificate"),
              std::string::npos);
}

TEST_F(SessionsAudit, CloseDisabledPrincipalAndCapacity) {
    const auto a = m_sessions->open(m_officer, "token");
    const auto closed = m_sessions->close(a.token);
    EXPECT_EQ(closed.id, a.id);
    EXPECT_EQ(code_of([&] { m_sessions->authenticate(a.token); }), ErrorCode::Unauthenticated);
    EXPECT_EQ(code_of([&] { m_sessions->close(a.token); }), ErrorCode::Unauthenticated);
    ASSERT_EQ(of_action("session.close").size(), 1u);
    EXPECT_EQ(of_action("session.close")[0].event.target, a.id);

    // A disabled principal's session stops at its next request.
    const auto bob =
        m_principals->create(m_officer, "bob", static_cast<std::uint32_t>(Role::KeyOfficer));
    const auto b = m_sessions->open(bob.principal, "token");
    m_principals->set_disabled(m_officer, "bob", true);
    EXPECT_EQ(code_of([&] { m_sessions->authenticate(b.token); }), ErrorCode::Unauthenticated);
    EXPECT_FALSE(m_principals->authenticate(bob.token));  // the token cache was cleared
    EXPECT_EQ(code_of([&] { m_principals->set_disabled(m_officer, "alice", true); }),
              ErrorCode::InvalidArgument);

    // Three live sessions at most; expired ones make room.
    for (int i = 0; i < 3; ++i) m_sessions->open(m_officer, "token");
    EXPECT_EQ(code_of([&] { m_sessions->open(m_officer, "token"); }), ErrorCode::Conflict);
    m_clock.now += 10'000;
    EXPECT_NO_THROW(m_sessions->open(m_officer, "token"));
    EXPECT_EQ(m_sessions->size(), 1u);

    // Malformed or unknown tokens, and no token value in any audit record.
    EXPECT_EQ(code_of([&] { m_sessions->authenticate("kmss_xyz"); }), ErrorCode::Unauthenticated);
    EXPECT_FALSE(SessionService::is_session_token("kmss_" + std::string(64, 'A')));
    for (const auto& r : audit()) {
        EXPECT_EQ(r.event.detail.find(a.token.substr(5)), std::string::npos);
        EXPECT_EQ(r.event.target.find(a.token.substr(5)), std::string::npos);
    }
}

TEST_F(SessionsAudit, FilteredSearchPagesBySeqWithinItsBudget) {
    // 30 records: alice and bob alternate key.create / key.rotate on k-0..k-29.
    m_store->write([&](WriteTxn& t) {
        for (int i = 0; i < 30; ++i)
            t.append_audit(AuditEvent{i % 2 ? "bob" : "carol", i % 3 ? "key.create" : "key.rotate",
                                      "k-" + std::to_string(i), AuditOutcome::Success, ""});
    });
    AuditService a(*m_ctx);
    const Principal admin = person("admin", Role::Admin);
    AuditFilter by_bob;
    by_bob.actor = "bob";
    // Every budget and page size gives the same matches, in order, without repeats.
    std::vector<std::uint64_t> all;
    for (const auto& r : a.search(admin, by_bob, 1, 1000).records) all.push_back(r.seq);
    ASSERT_EQ(all.size(), 15u);
    for (std::uint64_t budget : {1u, 2u, 7u, 100u})
        for (std::size_t limit : {1u, 4u, 15u}) {
            std::vector<std::uint64_t> got;
            std::optional<std::uint64_t> from = 1;
            int pages = 0;
            while (from && ++pages < 200) {
                const auto p = a.search(admin, by_bob, *from, limit, budget);
                EXPECT_LE(p.records.size(), limit);
                EXPECT_LE(p.scanned, std::max<std::uint64_t>(budget, limit));
                for (const auto& r : p.records) got.push_back(r.seq);
                from = p.next;
            }
            EXPECT_EQ(got, all) << "budget " << budget << ", limit " << limit;
        }
    AuditFilter rotate_prefix;
    rotate_prefix.action = "key.rot*";
    rotate_prefix.target = "k-3";
    const auto one = a.search(admin, rotate_prefix, 1, 10);
    ASSERT_EQ(one.records.size(), 1u);
    EXPECT_EQ(one.records[0].event.action, "key.rotate");
    EXPECT_FALSE(one.next);  // the end of the log was reached
    AuditFilter window;
    window.since_ms = m_clock.now + 1;  // every record has the current time: none after it
    EXPECT_TRUE(a.search(admin, window, 1, 10).records.empty());
    window.since_ms = m_clock.now;
    window.until_ms = m_clock.now + 1;
    window.outcome = AuditOutcome::Denied;
    EXPECT_TRUE(a.search(admin, window, 1, 10).records.empty());
    window.outcome = AuditOutcome::Success;
    EXPECT_EQ(a.search(admin, window, 1, 1000).records.size(), audit().size());
    EXPECT_EQ(code_of([&] { a.search(person("k", Role::KeyOfficer), by_bob, 1, 10); }),
              ErrorCode::Forbidden);
}

}  // namespace
}  // namespace kms::core
