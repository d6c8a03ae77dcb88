// ApprovalService against a real LMDB store and a fake clock: quorum rules, votes, expiry
// (without waiting), exactly-once execution, record codecs and the audit trail. The REST side
// (gate, replay) is covered by tests/rest/rest_approvals_test.cpp against a real kmsd.
#include "services/approvals.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "crypto/host_crypto.hpp"
#include "domain/error.hpp"
#include "service_fixture.hpp"

namespace kms::core {
namespace {

using namespace test_support;

/// The approval service never calls the HSM; the store's audit sealer uses audit_seal only.
class NoHsm final : public FakeHsm {
  public:
    GeneratedKey generate(const KeySpec&) override { throw Error(ErrorCode::Internal, "unused"); }
    GeneratedKey import_secret(const KeySpec&, const SecureBytes&) override {
        throw Error(ErrorCode::Internal, "unused");
    }
};

class Approvals : public ServiceFixture<NoHsm> {
  protected:
    Approvals() : ServiceFixture("approvals") {}
    void SetUp() override {
        ServiceFixture::SetUp();
        m_svc = std::make_unique<ApprovalService>(*m_ctx);
        m_alice = add("alice", Role::Admin);
        m_bob = add("bob", Role::Admin);
        m_carol = add("carol", Role::KeyOfficer);
        m_dave = add("dave", Role::Auditor);
    }
    void TearDown() override {
        m_svc.reset();
        ServiceFixture::TearDown();
    }
    Principal add(const std::string& name, Role role, bool disabled = false) {
        Principal p = person(name, role);
        p.token_hash = crypto::sha256(as_view(name));
        p.created_ms = m_clock.now_ms();
        p.created_by = "test";
        p.disabled = disabled;
        m_store->write([&](WriteTxn& t) { t.put_principal(p); });
        return p;
    }
    QuorumRule rule(const std::string& op, std::uint32_t m, std::int64_t ttl = 3600) {
        QuorumRule q;
        q.operation = op;
        q.approvals = m;
        q.ttl_seconds = ttl;
        return q;
    }
    Approval ask(const Principal& who, const QuorumRule& q) {
        return m_svc->request(
            who, q.operation, q, "POST /v1/principals",
            StoredRequest{
                "POST", "/v1/principals", {{"x", "1"}}, R"({"name":"eve","roles":["auditor"]})"});
    }

    std::unique_ptr<ApprovalService> m_svc;
    Principal m_alice, m_bob, m_carol, m_dave;
};

TEST_F(Approvals, NoQuorumUntilOneIsSetAndTheCacheFollowsChanges) {
    EXPECT_FALSE(m_svc->quorum_for("key.destroy"));
    EXPECT_FALSE(m_svc->quorum_for("key.destroy")) << "cached negative answer";
    const auto v = m_svc->set_quorum(m_alice, rule("key.destroy", 2));
    EXPECT_EQ(v.eligible, 3u) << "alice, bob (admin) and carol (key-officer); dave is an auditor";
    auto q = m_svc->quorum_for("key.destroy");
    ASSERT_TRUE(q);
    EXPECT_EQ(q->approvals, 2u);
    EXPECT_EQ(q->updated_by, "alice");
    m_svc->set_quorum(m_alice, rule("key.destroy", 3));
    EXPECT_EQ(m_svc->quorum_for("key.destroy")->approvals, 3u) << "cache invalidated on change";
    m_svc->delete_quorum(m_alice, "key.destroy");
    EXPECT_FALSE(m_svc->quorum_for("key.destroy")) << "cache invalidated on delete";
    EXPECT_EQ(code_of([&] { m_svc->delete_quorum(m_alice, "key.destroy"); }), ErrorCode::NotFound);
    const auto a = audit();
    ASSERT_EQ(a.size(), 3u);
    EXPECT_EQ(a[0].event.action, "quorum.set");
    EXPECT_EQ(a[0].event.target, "key.destroy");
    EXPECT_NE(a[0].event.detail.find("approvals=2"), std::string::npos);
    EXPECT_EQ(a[2].event.action, "quorum.delete");
}

TEST_F(Approvals, OnASharedStoreAQuorumSetOnAnotherNodeHoldsAtOnce) {
    // Two kmsd nodes on one store (PostgreSQL): node 2 has already answered "no quorum" for
    // key.destroy; node 1 then requires two approvals. Node 2 must gate the next destroy.
    KeyCache node2_keys(0);
    UseCounterBook node2_counters;
    ServiceContext node2{*m_store, m_hsm, m_clock, node2_keys, node2_counters};
    node2.shared_store = true;
    ApprovalService node2_svc(node2);
    EXPECT_FALSE(node2_svc.quorum_for("key.destroy"));
    m_svc->set_quorum(m_alice, rule("key.destroy", 2));
    const auto q = node2_svc.quorum_for("key.destroy");
    ASSERT_TRUE(q) << "node 2 let key.destroy through without dual control";
    EXPECT_EQ(q->approvals, 2u);
    m_svc->delete_quorum(m_alice, "key.destroy");
    EXPECT_FALSE(node2_svc.quorum_for("key.destroy"));
}

TEST_F(Approvals, QuorumRulesAreValidated) {
    EXPECT_EQ(code_of([&] { m_svc->set_quorum(m_carol, rule("key.destroy", 1)); }),
              ErrorCode::Forbidden)
        << "admin only";
    EXPECT_EQ(code_of([&] { m_svc->set_quorum(m_alice, rule("key.destory", 1)); }),
              ErrorCode::InvalidArgument)
        << "a typo must not look like a configured quorum";
    EXPECT_EQ(code_of([&] { m_svc->set_quorum(m_alice, rule("key.destroy", 0)); }),
              ErrorCode::InvalidArgument);
    EXPECT_EQ(code_of([&] { m_svc->set_quorum(m_alice, rule("key.destroy", 4)); }),
              ErrorCode::InvalidArgument)
        << "M must not exceed the 3 eligible principals";
    EXPECT_EQ(code_of([&] { m_svc->set_quorum(m_alice, rule("key.destroy", 1, 59)); }),
              ErrorCode::InvalidArgument);
    auto q = rule("key.destroy", 1);
    q.approver_roles = static_cast<std::uint32_t>(Role::Plugin);
    EXPECT_EQ(code_of([&] { m_svc->set_quorum(m_alice, q); }), ErrorCode::InvalidArgument);
    q.approver_roles = static_cast<std::uint32_t>(Role::Auditor);
    EXPECT_EQ(m_svc->set_quorum(m_alice, q).eligible, 1u);
    add("frank", Role::Admin, true);
    EXPECT_EQ(m_svc->eligible(static_cast<std::uint32_t>(Role::Admin)), 2u)
        << "a disabled admin is not eligible";
    EXPECT_TRUE(audit().size() == 1u) << "only the valid rule was written";
}

TEST_F(Approvals, MApprovalsFromOthersApproveAndTheRequesterCannotVote) {
    const auto q = rule("principal.create", 2);
    const auto a = ask(m_alice, q);
    EXPECT_EQ(a.id.size(), 34u);
    EXPECT_EQ(a.id.substr(0, 2), "a-");
    EXPECT_EQ(a.state, ApprovalState::Pending);
    EXPECT_EQ(a.expires_ms, m_clock.now_ms() + 3600 * 1000);
    EXPECT_EQ(code_of([&] { m_svc->approve(m_alice, a.id, ""); }), ErrorCode::Forbidden);
    EXPECT_EQ(code_of([&] { m_svc->approve(m_dave, a.id, ""); }), ErrorCode::Forbidden)
        << "an auditor holds no approver role";
    auto after1 = m_svc->approve(m_bob, a.id, "looks right");
    EXPECT_EQ(after1.state, ApprovalState::Pending);
    EXPECT_EQ(code_of([&] { m_svc->approve(m_bob, a.id, ""); }), ErrorCode::Conflict);
    EXPECT_EQ(code_of([&] { m_svc->reject(m_bob, a.id, ""); }), ErrorCode::Conflict)
        << "one vote per approver, of either kind";
    EXPECT_EQ(code_of([&] { m_svc->begin_execute(m_alice, a.id); }), ErrorCode::WrongState)
        << "1 of 2 approvals";
    auto after2 = m_svc->approve(m_carol, a.id, "");
    EXPECT_EQ(after2.state, ApprovalState::Approved);
    ASSERT_EQ(after2.approvals.size(), 2u);
    EXPECT_EQ(after2.approvals[0].by, "bob");
    EXPECT_EQ(after2.approvals[0].comment, "looks right");
    const auto stored = m_svc->get(m_dave, a.id);
    EXPECT_EQ(stored.state, ApprovalState::Approved);
    EXPECT_EQ(stored.request.body_json, R"({"name":"eve","roles":["auditor"]})");
    ASSERT_EQ(stored.request.query.size(), 1u);
    EXPECT_EQ(stored.request.query[0].second, "1");
}

TEST_F(Approvals, ADisabledApproverNoLongerCounts) {
    const auto a = ask(m_alice, rule("principal.create", 1));
    Principal bob_now = m_bob;
    bob_now.disabled = true;
    m_store->write([&](WriteTxn& t) { t.put_principal(bob_now); });
    EXPECT_EQ(code_of([&] { m_svc->approve(m_bob, a.id, ""); }), ErrorCode::Forbidden)
        << "the stored principal decides, not the copy authenticated earlier";
}

TEST_F(Approvals, OneRejectionIsFinal) {
    const auto a = ask(m_alice, rule("principal.create", 2));
    m_svc->approve(m_bob, a.id, "");
    const auto r = m_svc->reject(m_carol, a.id, "wrong roles");
    EXPECT_EQ(r.state, ApprovalState::Rejected);
    EXPECT_EQ(code_of([&] {
                  add("gina", Role::Admin);
                  m_svc->approve(person("gina", Role::Admin), a.id, "");
              }),
              ErrorCode::WrongState);
    EXPECT_EQ(code_of([&] { m_svc->begin_execute(m_alice, a.id); }), ErrorCode::WrongState);
}

TEST_F(Approvals, ExpiryIsLazyAndAnswersExpired) {
    const auto a = ask(m_alice, rule("principal.create", 1, 60));
    m_clock.advance_s(59);
    EXPECT_EQ(m_svc->state_of(m_svc->get(m_alice, a.id)), ApprovalState::Pending);
    m_clock.advance_s(1);
    EXPECT_EQ(m_svc->state_of(m_svc->get(m_alice, a.id)), ApprovalState::Expired);
    EXPECT_EQ(code_of([&] { m_svc->approve(m_bob, a.id, ""); }), ErrorCode::Expired);
    EXPECT_EQ(code_of([&] { m_svc->reject(m_bob, a.id, ""); }), ErrorCode::Expired);
    ASSERT_EQ(m_svc->list(m_alice, ApprovalState::Expired).size(), 1u);
    EXPECT_TRUE(m_svc->list(m_alice, ApprovalState::Pending).empty());

    // Approved but not executed in time: expired as well.
    const auto b = ask(m_alice, rule("principal.create", 1, 60));
    m_svc->approve(m_bob, b.id, "");
    m_clock.advance_s(61);
    EXPECT_EQ(code_of([&] { m_svc->begin_execute(m_alice, b.id); }), ErrorCode::Expired);
}

TEST_F(Approvals, ExecutionHappensOnceOnlyAndOnlyForTheRequester) {
    const auto a = ask(m_alice, rule("principal.create", 1));
    m_svc->approve(m_bob, a.id, "");
    EXPECT_EQ(code_of([&] { m_svc->begin_execute(m_bob, a.id); }), ErrorCode::Forbidden);
    const auto started = m_svc->begin_execute(m_alice, a.id);
    EXPECT_EQ(started.state, ApprovalState::Executing);
    EXPECT_EQ(started.request.path, "/v1/principals");
    // A crash here leaves it executing: never a second run.
    EXPECT_EQ(code_of([&] { m_svc->begin_execute(m_alice, a.id); }), ErrorCode::WrongState);
    EXPECT_TRUE(m_svc->finish_execute(a.id, 201, ""));
    const auto done = m_svc->get(m_alice, a.id);
    EXPECT_EQ(done.state, ApprovalState::Executed);
    EXPECT_EQ(done.result_status, 201);
    EXPECT_EQ(code_of([&] { m_svc->begin_execute(m_alice, a.id); }), ErrorCode::WrongState);
    m_clock.advance_s(7200);
    EXPECT_EQ(m_svc->state_of(done), ApprovalState::Executed) << "final states never expire";

    const auto b = ask(m_alice, rule("principal.create", 1));
    m_svc->approve(m_carol, b.id, "");
    m_svc->begin_execute(m_alice, b.id);
    m_svc->finish_execute(b.id, 409, "conflict");
    EXPECT_EQ(m_svc->get(m_alice, b.id).state, ApprovalState::Failed);
    EXPECT_EQ(code_of([&] { m_svc->begin_execute(m_alice, b.id); }), ErrorCode::WrongState);

    std::vector<std::string> actions;
    for (const auto& r : audit()) actions.push_back(r.event.action);
    const std::vector<std::string> expected = {
        "approval.request", "approval.approve", "approval.execute", "approval.execute",
        "approval.request", "approval.approve", "approval.execute", "approval.execute"};
    EXPECT_EQ(actions, expected);
    EXPECT_EQ(audit()[7].event.outcome, AuditOutcome::Failed);
    for (const auto& r : audit())
        EXPECT_EQ(r.event.detail.find("eve"), std::string::npos)
            << "the stored body is not copied into the audit chain";
}

TEST_F(Approvals, ConcurrentExecutionsRunOnce) {
    const auto a = ask(m_alice, rule("principal.create", 1));
    m_svc->approve(m_bob, a.id, "");
    std::atomic<int> started{0}, refused{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 8; ++i)
        threads.emplace_back([&] {
            try {
                m_svc->begin_execute(m_alice, a.id);
                ++started;
            } catch (const Error& e) {
                if (e.code() == ErrorCode::WrongState) ++refused;
            }
        });
    for (auto& t : threads) t.join();
    EXPECT_EQ(started.load(), 1);
    EXPECT_EQ(refused.load(), 7);
}

TEST_F(Approvals, ListIsNewestFirstAndFiltersByState) {
    const auto q = rule("principal.create", 1);
    const auto a = ask(m_alice, q);
    m_clock.advance_s(1);
    const auto b = ask(m_bob, q);
    m_svc->approve(m_alice, b.id, "");
    const auto all = m_svc->list(m_dave, std::nullopt);
    ASSERT_EQ(all.size(), 2u);
    EXPECT_EQ(all[0].id, b.id);
    EXPECT_EQ(all[1].id, a.id);
    const auto pending = m_svc->list(m_carol, ApprovalState::Pending);
    ASSERT_EQ(pending.size(), 1u);
    EXPECT_EQ(pending[0].id, a.id);
    const Principal plugin = person("plug", Role::Plugin);
    EXPECT_TRUE(m_svc->list(plugin, std::nullopt).empty()) << "a plugin sees only its own";
    EXPECT_EQ(code_of([&] { m_svc->get(plugin, a.id); }), ErrorCode::Forbidden);
    EXPECT_EQ(code_of([&] { m_svc->get(m_dave, "a-00000000000000000000000000000000"); }),
              ErrorCode::NotFound);
}

TEST(ApprovalCodec, RoundTripsAndRefusesDamage) {
    Approval a;
    a.id = "a-0123456789ABCDEF0123456789ABCDEF";
    a.operation = "quorum.key.destroy";
    a.requested_by = "alice";
    a.summary = "PUT /v1/quorums/key.destroy";
    a.state = ApprovalState::Approved;
    a.required = 2;
    a.approver_roles = 3;
    a.created_ms = 1;
    a.expires_ms = 2;
    a.request = {"PUT", "/v1/quorums/key.destroy", {{"a", "b"}}, R"({"approvals":1})"};
    a.approvals = {{"bob", 5, "ok"}, {"carol", 6, ""}};
    a.rejections = {};
    const Bytes enc = encode_approval(a);
    const Approval d = decode_approval(enc);
    EXPECT_EQ(encode_approval(d), enc);
    EXPECT_EQ(d.approvals[1].by, "carol");
    EXPECT_EQ(d.request.body_json, a.request.body_json);
    Bytes cut(enc.begin(), enc.end() - 1);
    EXPECT_EQ(code_of([&] { decode_approval(cut); }), ErrorCode::Integrity);
    Bytes bad = enc;
    bad[0] = 9;
    EXPECT_EQ(code_of([&] { decode_approval(bad); }), ErrorCode::Integrity);

    QuorumRule q;
    q.operation = "key.export";
    q.approvals = 3;
    q.ttl_seconds = 600;
    q.updated_by = "alice";
    EXPECT_EQ(encode_quorum(decode_quorum(encode_quorum(q))), encode_quorum(q));
}

}  // namespace
}  // namespace kms::core
