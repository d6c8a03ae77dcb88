// Plugin policies: glob matching, the record encoding, deny by default, officers unaffected,
// the checks in the key use cases, cache invalidation and the audit record (real LMDB, a fake
// HSM: the HSM is not what is tested here).
#include "services/policies.hpp"

#include <gtest/gtest.h>

#include "crypto/host_crypto.hpp"
#include "domain/error.hpp"
#include "service_fixture.hpp"
#include "services/key_lifecycle.hpp"
#include "services/key_operations.hpp"
#include "services/principals.hpp"

namespace kms::core {
namespace {

using namespace test_support;

std::string message_of(const std::function<void()>& fn) {
    try {
        fn();
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

constexpr auto kCmac = MacAlgorithm::AesCmac;

class Policies : public ServiceFixture<FakeHsm, SystemClock> {
  protected:
    Policies() : ServiceFixture("policies") {}
    void SetUp() override {
        ServiceFixture::SetUp();
        m_policies = std::make_unique<PolicyService>(*m_ctx);
        m_ctx->policies = m_policies.get();
        PrincipalService principals(*m_ctx);
        m_plugin_a = principals.create(m_admin, "tsm-a", bits(Role::Plugin)).principal;
        m_plugin_b = principals.create(m_admin, "tsm-b", bits(Role::Plugin)).principal;
        m_officer = principals.create(m_admin, "officer", bits(Role::KeyOfficer)).principal;
        m_key_a = make("tsm/a/mac");
        m_key_b = make("tsm/b/mac");
    }
    void TearDown() override {
        m_policies.reset();
        ServiceFixture::TearDown();
    }
    static std::uint32_t bits(Role r) { return static_cast<std::uint32_t>(r); }
    KeyRecord make(const std::string& name) {
        KeyLifecycle k(*m_ctx);
        return k.create(
            m_admin,
            CreateKeyRequest{name, Algorithm::Aes128,
                             UsageMask().add(Usage::Mac).add(Usage::Encrypt).add(Usage::Decrypt),
                             true, false});
    }

    std::unique_ptr<PolicyService> m_policies;
    Principal m_admin = person("admin", Role::Admin);
    Principal m_plugin_a, m_plugin_b, m_officer;
    KeyRecord m_key_a, m_key_b;
};

TEST(PolicyGlob, MatchesStarAndQuestionMark) {
    EXPECT_TRUE(glob_match("tsm/a/*", "tsm/a/mac"));
    EXPECT_TRUE(glob_match("tsm/a/*", "tsm/a/"));
    EXPECT_FALSE(glob_match("tsm/a/*", "tsm/b/mac"));
    EXPECT_FALSE(glob_match("tsm/a/*", "tsm/a"));
    EXPECT_TRUE(glob_match("*", ""));
    EXPECT_TRUE(glob_match("*", "anything"));
    EXPECT_TRUE(glob_match("tsm/?/mac", "tsm/a/mac"));
    EXPECT_FALSE(glob_match("tsm/?/mac", "tsm/ab/mac"));
    EXPECT_FALSE(glob_match("tsm/?/mac", "tsm//mac"));
    EXPECT_TRUE(glob_match("*mac*", "tsm/a/mac-2"));
    EXPECT_TRUE(glob_match("a*b*c", "a--b--b--c"));
    EXPECT_FALSE(glob_match("a*b*c", "a--b--b--"));
    EXPECT_TRUE(glob_match("exact", "exact"));
    EXPECT_FALSE(glob_match("exact", "exact2"));
    EXPECT_FALSE(glob_match("exact", "Exact"));  // case-sensitive
    EXPECT_FALSE(glob_match("", "x"));
    // No exponential backtracking on a hostile pattern: this must finish at once.
    EXPECT_FALSE(glob_match("a*a*a*a*a*a*a*a*a*a*b", std::string(200, 'a')));
    // Regex-like characters are literal.
    EXPECT_TRUE(glob_match("a.[b]", "a.[b]"));
    EXPECT_FALSE(glob_match("a.[b]", "axb"));
}

TEST(PolicyGlob, KeyIdsAreRecognised) {
    EXPECT_TRUE(is_key_id("k-0123456789ABCDEF0123456789ABCDEF"));
    EXPECT_TRUE(is_key_id("k-0123456789abcdef0123456789abcdef"));
    EXPECT_FALSE(is_key_id("k-0123456789ABCDEF0123456789ABCDE"));
    EXPECT_FALSE(is_key_id("k-0123456789ABCDEF0123456789ABCDEG"));
    EXPECT_FALSE(is_key_id("k-*"));
}

TEST(PolicyRecord, RoundTripsAndRefusesCorruption) {
    PluginPolicy p;
    p.principal = "tsm-a";
    p.keys = {"tsm/a/*", "k-0123456789ABCDEF0123456789ABCDEF"};
    p.operations = (1u << static_cast<unsigned>(PolicyOperation::Mac)) |
                   (1u << static_cast<unsigned>(PolicyOperation::Gp));
    p.updated_ms = 1234;
    p.updated_by = "admin";
    const Bytes enc = encode_policy(p);
    EXPECT_EQ(enc[0], 1);  // format byte
    const PluginPolicy d = decode_policy("tsm-a", enc);
    EXPECT_EQ(d.keys, p.keys);
    EXPECT_EQ(d.operations, p.operations);
    EXPECT_EQ(d.updated_ms, 1234);
    EXPECT_EQ(d.updated_by, "admin");
    EXPECT_TRUE(d.allows(PolicyOperation::Gp));
    EXPECT_FALSE(d.allows(PolicyOperation::Encrypt));

    Bytes bad_format = enc;
    bad_format[0] = 9;
    EXPECT_EQ(code_of([&] { decode_policy("x", bad_format); }), ErrorCode::Integrity);
    Bytes truncated(enc.begin(), enc.end() - 1);
    EXPECT_EQ(code_of([&] { decode_policy("x", truncated); }), ErrorCode::Integrity);
    Bytes trailing = enc;
    trailing.push_back(0);
    EXPECT_EQ(code_of([&] { decode_policy("x", trailing); }), ErrorCode::Integrity);
}

TEST(PolicyOperations, NamesRoundTrip) {
    for (const char* n :
         {"encrypt", "decrypt", "mac", "mac-verify", "sign", "verify", "random", "read", "gp"}) {
        auto op = parse_policy_operation(n);
        ASSERT_TRUE(op) << n;
        EXPECT_EQ(policy_operation_name(*op), n);
    }
    EXPECT_FALSE(parse_policy_operation("wrap"));
    EXPECT_FALSE(parse_policy_operation("MAC"));
    EXPECT_FALSE(policy_operation_of(Operation::Wrap));
    EXPECT_EQ(policy_operation_of(Operation::MacVerify), PolicyOperation::MacVerify);
}

TEST_F(Policies, APluginWithoutAPolicyMayDoNothing) {
    KeyOperations ops(*m_ctx);
    KeyLifecycle life(*m_ctx);
    EXPECT_EQ(code_of([&] { ops.mac(m_plugin_a, m_key_a.id, kCmac, as_view("x")); }),
              ErrorCode::Forbidden);
    EXPECT_EQ(code_of([&] { ops.random(m_plugin_a, 8); }), ErrorCode::Forbidden);
    EXPECT_EQ(code_of([&] { life.get(m_plugin_a, m_key_a.id); }), ErrorCode::Forbidden);
    EXPECT_TRUE(life.list(m_plugin_a, {}, "", 100).keys.empty());
    EXPECT_FALSE(m_policies->get(m_admin, "tsm-a"));
}

TEST_F(Policies, GlobAndOperationsDecide) {
    m_policies->set(m_admin, "tsm-a", {"tsm/a/*"}, {PolicyOperation::Mac});
    KeyOperations ops(*m_ctx);
    EXPECT_NO_THROW(ops.mac(m_plugin_a, m_key_a.id, kCmac, as_view("x")));
    const std::string msg =
        message_of([&] { ops.mac(m_plugin_a, m_key_b.id, kCmac, as_view("x")); });
    EXPECT_EQ(msg, "plugin 'tsm-a' may not mac with key " + m_key_b.id + " (tsm/b/mac)");
    EXPECT_EQ(code_of([&] { ops.mac(m_plugin_a, m_key_b.id, kCmac, as_view("x")); }),
              ErrorCode::Forbidden);
    // An operation the policy does not name, on a key it does name.
    EXPECT_EQ(code_of([&] {
                  ops.encrypt(m_plugin_a, m_key_a.id, CipherMode::AesCbc, Bytes(16, 0), {}, {});
              }),
              ErrorCode::Forbidden);
    EXPECT_EQ(code_of([&] { ops.random(m_plugin_a, 8); }), ErrorCode::Forbidden);
    // The other plugin is not affected by tsm-a's policy.
    EXPECT_EQ(code_of([&] { ops.mac(m_plugin_b, m_key_a.id, kCmac, as_view("x")); }),
              ErrorCode::Forbidden);
}

TEST_F(Policies, ExactKeyIdsAndReads) {
    m_policies->set(m_admin, "tsm-b", {m_key_b.id},
                    {PolicyOperation::Read, PolicyOperation::Encrypt, PolicyOperation::Decrypt,
                     PolicyOperation::Random});
    KeyOperations ops(*m_ctx);
    KeyLifecycle life(*m_ctx);
    EXPECT_NO_THROW(ops.encrypt(m_plugin_b, m_key_b.id, CipherMode::AesCbc, Bytes(16, 0), {}, {}));
    EXPECT_NO_THROW(ops.random(m_plugin_b, 8));
    EXPECT_EQ(life.get(m_plugin_b, m_key_b.id).id, m_key_b.id);
    EXPECT_EQ(code_of([&] { life.get(m_plugin_b, m_key_a.id); }), ErrorCode::Forbidden);
    const auto page = life.list(m_plugin_b, {}, "", 100);
    ASSERT_EQ(page.keys.size(), 1u);
    EXPECT_EQ(page.keys[0].id, m_key_b.id);
    EXPECT_EQ(code_of([&] { ops.mac(m_plugin_b, m_key_b.id, kCmac, as_view("x")); }),
              ErrorCode::Forbidden);
}

TEST_F(Policies, ListPagesFillUpPastInvisibleKeys) {
    for (int i = 0; i < 6; ++i) make("other/" + std::to_string(i));
    for (int i = 0; i < 3; ++i) make("tsm/a/extra" + std::to_string(i));
    m_policies->set(m_admin, "tsm-a", {"tsm/a/*"}, {PolicyOperation::Read});
    KeyLifecycle life(*m_ctx);
    std::vector<std::string> seen;
    std::string after;
    for (int guard = 0; guard < 20; ++guard) {
        auto page = life.list(m_plugin_a, {}, after, 2);
        EXPECT_LE(page.keys.size(), 2u);
        for (const auto& k : page.keys) {
            EXPECT_EQ(k.name.rfind("tsm/a/", 0), 0u) << k.name;
            seen.push_back(k.id);
        }
        if (page.next_after.empty()) break;
        EXPECT_EQ(page.keys.size(), 2u) << "only the last page may be short";
        after = page.next_after;
    }
    EXPECT_EQ(seen.size(), 4u);  // tsm/a/mac and three extras
}

TEST_F(Policies, OfficersAreNotRestricted) {
    KeyOperations ops(*m_ctx);
    EXPECT_NO_THROW(ops.mac(m_officer, m_key_b.id, kCmac, as_view("x")));
    EXPECT_NO_THROW(ops.mac(m_admin, m_key_b.id, kCmac, as_view("x")));
    // A principal holding plugin and key-officer is an officer.
    Principal both = m_plugin_a;
    both.roles |= bits(Role::KeyOfficer);
    EXPECT_FALSE(policy_restricted(both));
    EXPECT_NO_THROW(ops.mac(both, m_key_b.id, kCmac, as_view("x")));
    EXPECT_TRUE(policy_restricted(m_plugin_a));
    EXPECT_FALSE(policy_restricted(m_officer));
}

TEST_F(Policies, SetChecksCallerAndTarget) {
    EXPECT_EQ(code_of([&] { m_policies->set(m_officer, "tsm-a", {"*"}, {PolicyOperation::Mac}); }),
              ErrorCode::Forbidden);
    EXPECT_EQ(code_of([&] { m_policies->set(m_plugin_a, "tsm-a", {"*"}, {PolicyOperation::Mac}); }),
              ErrorCode::Forbidden);
    EXPECT_EQ(code_of([&] { m_policies->set(m_admin, "nobody", {"*"}, {PolicyOperation::Mac}); }),
              ErrorCode::NotFound);
    EXPECT_EQ(code_of([&] { m_policies->set(m_admin, "officer", {"*"}, {PolicyOperation::Mac}); }),
              ErrorCode::InvalidArgument);
    EXPECT_EQ(code_of([&] { m_policies->set(m_admin, "tsm-a", {""}, {PolicyOperation::Mac}); }),
              ErrorCode::InvalidArgument);
    EXPECT_EQ(code_of([&] {
                  m_policies->set(m_admin, "tsm-a", {std::string(256, 'x')},
                                  {PolicyOperation::Mac});
              }),
              ErrorCode::InvalidArgument);
    EXPECT_EQ(code_of([&] { m_policies->set(m_admin, "tsm-a", {"a\nb"}, {PolicyOperation::Mac}); }),
              ErrorCode::InvalidArgument);
    // Nothing was stored by the refused calls.
    EXPECT_FALSE(m_store->get(Table::Policies, "tsm-a"));
    EXPECT_FALSE(m_store->get(Table::Policies, "officer"));
}

TEST_F(Policies, SetIsAuditedAndInvalidatesTheCache) {
    KeyOperations ops(*m_ctx);
    m_policies->set(m_admin, "tsm-a", {"tsm/a/*", "tsm/a/*"}, {PolicyOperation::Mac});
    EXPECT_NO_THROW(ops.mac(m_plugin_a, m_key_a.id, kCmac, as_view("x")));  // now cached
    auto got = m_policies->get(m_plugin_a, "tsm-a");                        // its own policy
    ASSERT_TRUE(got);
    EXPECT_EQ(got->keys, std::vector<std::string>{"tsm/a/*"});  // duplicates dropped
    EXPECT_EQ(code_of([&] { m_policies->get(m_plugin_b, "tsm-a"); }), ErrorCode::Forbidden);

    m_policies->set(m_admin, "tsm-a", {"tsm/a/*"}, {PolicyOperation::Encrypt});
    EXPECT_EQ(code_of([&] { ops.mac(m_plugin_a, m_key_a.id, kCmac, as_view("x")); }),
              ErrorCode::Forbidden);

    const auto records = m_store->read_audit(1, 1000);
    int sets = 0;
    for (const auto& r : records)
        if (r.event.action == "policy.set") {
            ++sets;
            EXPECT_EQ(r.event.actor, "admin");
            EXPECT_EQ(r.event.target, "tsm-a");
        }
    EXPECT_EQ(sets, 2);
    EXPECT_NE(records.back().event.detail.find("operations=encrypt"), std::string::npos)
        << records.back().event.detail;
}

TEST_F(Policies, OnASharedStoreAnotherNodesChangesHoldAtOnce) {
    // Two kmsd nodes on one store (PostgreSQL): node 2's services over the same store, with
    // ServiceContext::shared_store as kmsd sets it there. Without it, node 2 would keep
    // serving from its memory a policy and a token that node 1 replaced.
    KeyCache node2_keys(0);
    UseCounterBook node2_counters;
    ServiceContext node2{*m_store, m_hsm, m_clock, node2_keys, node2_counters};
    node2.shared_store = true;
    PolicyService node2_policies(node2);
    node2.policies = &node2_policies;
    KeyOperations node2_ops(node2);

    m_policies->set(m_admin, "tsm-a", {"tsm/a/*"}, {PolicyOperation::Mac});
    EXPECT_NO_THROW(node2_ops.mac(m_plugin_a, m_key_a.id, kCmac, as_view("x")));
    m_policies->set(m_admin, "tsm-a", {"tsm/a/*"}, {PolicyOperation::Encrypt});  // on node 1
    EXPECT_EQ(code_of([&] { node2_ops.mac(m_plugin_a, m_key_a.id, kCmac, as_view("x")); }),
              ErrorCode::Forbidden);

    PrincipalService node1_principals(*m_ctx);
    PrincipalService node2_principals(node2);
    const std::string old_token = node1_principals.bootstrap_admin("root").token;
    ASSERT_TRUE(node2_principals.authenticate(old_token));  // node 2 has seen it
    const std::string new_token = node1_principals.bootstrap_admin("root").token;  // reissued
    EXPECT_FALSE(node2_principals.authenticate(old_token));
    EXPECT_TRUE(node2_principals.authenticate(new_token));
}

TEST_F(Policies, FailsClosedWithoutAPolicyService) {
    m_policies->set(m_admin, "tsm-a", {"*"}, {PolicyOperation::Mac, PolicyOperation::Random});
    m_ctx->policies = nullptr;
    KeyOperations ops(*m_ctx);
    KeyLifecycle life(*m_ctx);
    EXPECT_EQ(code_of([&] { ops.mac(m_plugin_a, m_key_a.id, kCmac, as_view("x")); }),
              ErrorCode::Forbidden);
    EXPECT_EQ(code_of([&] { ops.random(m_plugin_a, 4); }), ErrorCode::Forbidden);
    EXPECT_EQ(code_of([&] { life.list(m_plugin_a, {}, "", 10); }), ErrorCode::Forbidden);
    EXPECT_NO_THROW(ops.mac(m_officer, m_key_a.id, kCmac, as_view("x")));
}

TEST_F(Policies, DisabledPluginIsDenied) {
    m_policies->set(m_admin, "tsm-a", {"*"}, {PolicyOperation::Mac});
    Principal disabled = m_plugin_a;
    disabled.disabled = true;
    EXPECT_FALSE(m_policies->permits(disabled, &m_key_a, PolicyOperation::Mac));
}

}  // namespace
}  // namespace kms::core
