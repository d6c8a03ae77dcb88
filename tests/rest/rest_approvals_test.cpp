// REST: dual control (quorums, approvals, the gate and the replay) against a real kmsd over
// TLS (suite "rest"). Expiry needs a clock that can jump: it is covered by
// tests/unit/services/approvals_test.cpp.
#include "rest_fixture.hpp"

namespace kms::test {
namespace {

using Poco::JSON::Object;

/// Three administrators and a key officer besides the first admin, created on a fresh data
/// directory (no quorum yet, so each answers 201 at once).
class Approvals : public Rest {
  public:
    static void SetUpTestSuite() {
        Rest::SetUpTestSuite();
        HttpsClient c("127.0.0.1", s_kmsd->port(), s_kmsd->ca_file());
        auto make = [&](const std::string& name, const std::string& roles) {
            auto r = c.post("/v1/principals", "{\"name\":\"" + name + "\",\"roles\":" + roles + "}",
                            s_admin);
            if (r.status != 201) throw std::runtime_error("creating " + name + ": " + r.body);
            return r.json()->getValue<std::string>("token");
        };
        s_admin2 = make("admin2", R"(["admin"])");
        s_admin3 = make("admin3", R"(["admin"])");
        s_officer = make("officer", R"(["key-officer"])");
        s_auditor = make("auditor", R"(["auditor"])");
    }

  protected:
    HttpResponse put(const std::string& path, const std::string& body,
                     const std::string& token = s_admin) {
        return http().request("PUT", path, body, token);
    }
    HttpResponse del(const std::string& path, const std::string& token = s_admin) {
        return http().request("DELETE", path, "", token);
    }
    HttpResponse approve(const std::string& id, const std::string& token,
                         const std::string& body = "") {
        return post("/v1/approvals/" + id + "/approve", body, token);
    }
    HttpResponse execute(const std::string& id, const std::string& token = s_admin) {
        return post("/v1/approvals/" + id + "/execute", "", token);
    }
    std::string state_of(const std::string& id) {
        auto r = get("/v1/approvals/" + id);
        EXPECT_EQ(r.status, 200) << r.body;
        return str(r.json(), "state");
    }
    /// Removes the rule of @p op through dual control: DELETE (202), approvals by admin2 and
    /// admin3 as far as needed, execute (200).
    void remove_quorum(const std::string& op) {
        auto d = del("/v1/quorums/" + op);
        ASSERT_EQ(d.status, 202) << d.body;
        const std::string id = str(d.json(), "id");
        EXPECT_EQ(str(d.json(), "operation"), "quorum." + op);
        const int required = d.json()->getValue<int>("required");
        ASSERT_EQ(approve(id, s_admin2).status, 200);
        if (required > 1) {
            ASSERT_EQ(approve(id, s_admin3).status, 200);
        }
        auto x = execute(id);
        ASSERT_EQ(x.status, 200) << x.body;
        EXPECT_EQ(get("/v1/quorums/" + op).status, 404);
    }
    std::string audit_text() {
        auto r = get("/v1/audit?limit=1000");
        EXPECT_EQ(r.status, 200);
        return r.body;
    }

    static std::string s_admin2, s_admin3, s_officer, s_auditor;
};

std::string Approvals::s_admin2, Approvals::s_admin3, Approvals::s_officer, Approvals::s_auditor;

TEST_F(Approvals, FreshDataDirHasNoQuorumAndCreatesAtOnce) {
    auto q = get("/v1/quorums");
    ASSERT_EQ(q.status, 200) << q.body;
    EXPECT_EQ(q.json()->getArray("quorums")->size(), 0u);
    auto p = post("/v1/principals", R"({"name":"at-once","roles":["auditor"]})");
    EXPECT_EQ(p.status, 201) << p.body;
    EXPECT_EQ(get("/v1/approvals").json()->getArray("approvals")->size(), 0u);
}

TEST_F(Approvals, PrincipalCreationWaitsForASecondAdministrator) {
    auto set = put("/v1/quorums/principal.create", R"({"approvals":1,"approverRoles":["admin"]})");
    ASSERT_EQ(set.status, 200) << set.body;
    EXPECT_EQ(str(set.json(), "operation"), "principal.create");
    EXPECT_EQ(set.json()->getValue<int>("approvals"), 1);
    EXPECT_EQ(set.json()->getValue<int>("eligible"), 3) << "admin, admin2, admin3";
    EXPECT_EQ(set.json()->getValue<int>("ttlSeconds"), 86400);

    auto held = post("/v1/principals", R"({"name":"newbie","roles":["auditor"]})");
    ASSERT_EQ(held.status, 202) << held.body;
    auto a = held.json();
    const std::string id = str(a, "id");
    EXPECT_EQ(id.size(), 34u);
    EXPECT_EQ(id.substr(0, 2), "a-");
    EXPECT_EQ(str(a, "state"), "pending");
    EXPECT_EQ(str(a, "operation"), "principal.create");
    EXPECT_EQ(str(a, "requestedBy"), "admin");
    EXPECT_EQ(str(a, "summary"), "POST /v1/principals");
    EXPECT_EQ(a->getValue<int>("required"), 1);
    EXPECT_EQ(a->getArray("approvals")->size(), 0u);
    EXPECT_FALSE(str(a, "expiresAt").empty());
    EXPECT_FALSE(a->has("token")) << "nothing was created yet";
    EXPECT_EQ(str(a->getObject("request")->getObject("body"), "name"), "newbie")
        << "approvers see what they approve";
    auto list = get("/v1/principals");
    EXPECT_EQ(list.body.find("\"newbie\""), std::string::npos) << list.body;

    auto own = approve(id, s_admin);
    EXPECT_EQ(own.status, 403) << own.body;
    EXPECT_EQ(str(own.json(), "error"), "forbidden");
    auto officer = approve(id, s_officer);
    EXPECT_EQ(officer.status, 403) << "key-officer is not an approver role of this rule";
    auto early = execute(id);
    EXPECT_EQ(early.status, 409) << early.body;

    auto ok = approve(id, s_admin2, R"({"comment":"checked with the team lead"})");
    ASSERT_EQ(ok.status, 200) << ok.body;
    EXPECT_EQ(str(ok.json(), "state"), "approved");
    auto votes = ok.json()->getArray("approvals");
    ASSERT_EQ(votes->size(), 1u);
    EXPECT_EQ(votes->getObject(0)->getValue<std::string>("by"), "admin2");
    EXPECT_EQ(votes->getObject(0)->getValue<std::string>("comment"), "checked with the team lead");

    auto twice = approve(id, s_admin2);
    EXPECT_EQ(twice.status, 409) << twice.body;
    auto pending = get("/v1/approvals?state=pending");
    EXPECT_EQ(pending.body.find(id), std::string::npos);
    auto approved = get("/v1/approvals?state=approved", s_auditor);
    ASSERT_EQ(approved.status, 200) << approved.body;
    EXPECT_NE(approved.body.find(id), std::string::npos);

    auto stranger = execute(id, s_admin2);
    EXPECT_EQ(stranger.status, 403) << "only the requester executes";
    auto run = execute(id);
    ASSERT_EQ(run.status, 201) << run.body;
    EXPECT_EQ(str(run.json(), "name"), "newbie");
    const std::string token = str(run.json(), "token");
    auto who = get("/v1/whoami", token);
    ASSERT_EQ(who.status, 200) << who.body;
    EXPECT_EQ(str(who.json(), "name"), "newbie");

    auto again = execute(id);
    EXPECT_EQ(again.status, 409) << again.body;
    EXPECT_EQ(state_of(id), "executed");
    auto shown = get("/v1/approvals/" + id);
    EXPECT_EQ(shown.body.find(token), std::string::npos) << "the token is shown once only";

    const std::string audit = audit_text();
    for (const char* action :
         {"approval.request", "approval.approve", "approval.execute", "quorum.set"})
        EXPECT_NE(audit.find(std::string("\"") + action + "\""), std::string::npos) << action;
    EXPECT_EQ(audit.find(token.substr(4)), std::string::npos);

    remove_quorum("principal.create");
    auto after = post("/v1/principals", R"({"name":"after-quorum","roles":["auditor"]})");
    EXPECT_EQ(after.status, 201) << "without a rule the operation runs at once again";
}

TEST_F(Approvals, OneRejectionEndsTheRequest) {
    ASSERT_EQ(put("/v1/quorums/principal.create", R"({"approvals":2})").status, 200);
    const auto held_before = get("/v1/approvals").json()->getArray("approvals")->size();
    auto refused =
        post("/v1/principals", R"({"name":"by-officer","roles":["auditor"]})", s_officer);
    EXPECT_EQ(refused.status, 403) << "a requester who could never run it is refused at once";
    auto dup = post("/v1/principals", R"({"name":"admin2","roles":["auditor"]})");
    EXPECT_EQ(dup.status, 409) << "an existing name is refused before it is held";
    EXPECT_EQ(post("/v1/principals", "{\"name\":").status, 400) << "unparsable body: not held";
    EXPECT_EQ(post("/v1/principals", R"({"name":"Bad Name","roles":["auditor"]})").status, 400)
        << "an invalid name is refused before it is held";
    EXPECT_EQ(get("/v1/approvals").json()->getArray("approvals")->size(), held_before)
        << "none of these was held";

    auto held = post("/v1/principals", R"({"name":"rejected-one","roles":["admin"]})");
    ASSERT_EQ(held.status, 202) << held.body;
    const std::string id = str(held.json(), "id");
    ASSERT_EQ(approve(id, s_officer).status, 200);
    EXPECT_EQ(state_of(id), "pending") << "1 of 2";
    auto no = post("/v1/approvals/" + id + "/reject", R"({"comment":"not agreed"})", s_admin2);
    ASSERT_EQ(no.status, 200) << no.body;
    EXPECT_EQ(str(no.json(), "state"), "rejected");
    EXPECT_EQ(no.json()->getArray("rejections")->size(), 1u);
    EXPECT_EQ(approve(id, s_admin3).status, 409);
    EXPECT_EQ(execute(id).status, 409);
    EXPECT_EQ(get("/v1/principals").body.find("rejected-one"), std::string::npos);
    auto bad = post("/v1/approvals/" + id + "/reject", R"({"note":"x"})", s_admin3);
    EXPECT_EQ(bad.status, 400) << "unknown field";
    remove_quorum("principal.create");
}

TEST_F(Approvals, KeyDestructionNeedsTwoApprovals) {
    auto k = create_key("dual-destroy", "AES-128", R"(["mac"])");
    const std::string key_id = str(k, "id");
    ASSERT_EQ(post("/v1/keys/" + key_id + "/deactivate", "{}").status, 200);
    auto set = put("/v1/quorums/key.destroy", R"({"approvals":2,"ttlSeconds":600})");
    ASSERT_EQ(set.status, 200) << set.body;
    EXPECT_EQ(set.json()->getValue<int>("eligible"), 4) << "3 admins and the key officer";

    EXPECT_EQ(del("/v1/keys/k-00000000000000000000000000000000").status, 404)
        << "an unknown key is refused before it is held";
    const std::string active =
        str(create_key("dual-destroy-active", "AES-128", R"(["mac"])"), "id");
    auto refused = del("/v1/keys/" + active, s_officer);
    EXPECT_EQ(refused.status, 409)
        << "an Active key cannot be destroyed: not held " << refused.body;
    EXPECT_EQ(str(refused.json(), "error"), "wrong_state");
    auto alias = post("/v1/keys/" + key_id + "/destroy", R"({"reason":"retired"})");
    ASSERT_EQ(alias.status, 202) << "the POST alias is gated too: " << alias.body;

    auto held = del("/v1/keys/" + key_id, s_officer);
    ASSERT_EQ(held.status, 202) << held.body;
    const std::string id = str(held.json(), "id");
    EXPECT_EQ(str(held.json(), "operation"), "key.destroy");
    EXPECT_EQ(held.json()->getValue<int>("required"), 2);
    EXPECT_EQ(str(get("/v1/keys/" + key_id).json(), "state"), "Deactivated");

    auto first = approve(id, s_admin);
    ASSERT_EQ(first.status, 200) << first.body;
    EXPECT_EQ(str(first.json(), "state"), "pending");
    EXPECT_EQ(execute(id, s_officer).status, 409) << "1 of 2 approvals";
    auto second = approve(id, s_admin2);
    ASSERT_EQ(second.status, 200);
    EXPECT_EQ(str(second.json(), "state"), "approved");
    auto run = execute(id, s_officer);
    ASSERT_EQ(run.status, 200) << run.body;
    EXPECT_EQ(str(run.json(), "state"), "Destroyed");
    EXPECT_EQ(str(get("/v1/keys/" + key_id).json(), "state"), "Destroyed");
    EXPECT_EQ(execute(id, s_officer).status, 409);

    // The alias request, approved after the key is gone: the replay answers the handler's own
    // refusal and the approval ends failed.
    const std::string alias_id = str(alias.json(), "id");
    ASSERT_EQ(approve(alias_id, s_admin2).status, 200);
    ASSERT_EQ(approve(alias_id, s_admin3).status, 200);
    auto late = execute(alias_id);
    EXPECT_EQ(late.status, 409) << late.body;
    EXPECT_EQ(state_of(alias_id), "failed");
    EXPECT_EQ(execute(alias_id).status, 409);
    remove_quorum("key.destroy");
}

TEST_F(Approvals, ChangingAQuorumIsDecidedUnderTheQuorum) {
    ASSERT_EQ(put("/v1/quorums/principal.create", R"({"approvals":2})").status, 200);
    auto lower = put("/v1/quorums/principal.create", R"({"approvals":1})", s_admin2);
    ASSERT_EQ(lower.status, 202) << lower.body;
    const std::string id = str(lower.json(), "id");
    EXPECT_EQ(str(lower.json(), "operation"), "quorum.principal.create");
    EXPECT_EQ(lower.json()->getValue<int>("required"), 2);
    auto rule = get("/v1/quorums/principal.create");
    ASSERT_EQ(rule.status, 200);
    EXPECT_EQ(rule.json()->getValue<int>("approvals"), 2) << "not applied while pending";
    auto bad = put("/v1/quorums/principal.create", R"({"approvals":0})", s_admin2);
    EXPECT_EQ(bad.status, 400) << "a bad change is refused before it is held";

    EXPECT_EQ(approve(id, s_admin2).status, 403) << "the requester cannot approve";
    ASSERT_EQ(approve(id, s_admin).status, 200);
    EXPECT_EQ(get("/v1/quorums/principal.create").json()->getValue<int>("approvals"), 2);
    ASSERT_EQ(approve(id, s_officer).status, 200);
    auto run = execute(id, s_admin2);
    ASSERT_EQ(run.status, 200) << run.body;
    EXPECT_EQ(run.json()->getValue<int>("approvals"), 1);
    EXPECT_EQ(get("/v1/quorums/principal.create").json()->getValue<int>("approvals"), 1);
    remove_quorum("principal.create");
}

TEST_F(Approvals, BadInputIsRefusedNamingTheField) {
    auto unknown = put("/v1/quorums/key.destory", R"({"approvals":1})");
    EXPECT_EQ(unknown.status, 400) << unknown.body;
    EXPECT_NE(str(unknown.json(), "message").find("operation"), std::string::npos);
    auto zero = put("/v1/quorums/key.destroy", R"({"approvals":0})");
    EXPECT_EQ(zero.status, 400);
    EXPECT_NE(str(zero.json(), "message").find("approvals"), std::string::npos);
    auto many = put("/v1/quorums/key.destroy", R"({"approvals":9,"approverRoles":["admin"]})");
    EXPECT_EQ(many.status, 400) << "M must not exceed the eligible principals";
    EXPECT_NE(str(many.json(), "message").find("approvals"), std::string::npos);
    auto ttl = put("/v1/quorums/key.destroy", R"({"approvals":1,"ttlSeconds":59})");
    EXPECT_EQ(ttl.status, 400);
    EXPECT_NE(str(ttl.json(), "message").find("ttlSeconds"), std::string::npos);
    auto role = put("/v1/quorums/key.destroy", R"({"approvals":1,"approverRoles":["plugin"]})");
    EXPECT_EQ(role.status, 400);
    auto field = put("/v1/quorums/key.destroy", R"({"approvals":1,"approver":"x"})");
    EXPECT_EQ(field.status, 400);
    EXPECT_EQ(put("/v1/quorums/key.destroy", R"({"approvals":1})", s_officer).status, 403);
    EXPECT_EQ(get("/v1/quorums/key.destroy").status, 404);
    EXPECT_EQ(del("/v1/quorums/key.destroy").status, 404);
    EXPECT_EQ(get("/v1/approvals?state=bogus").status, 400);
    EXPECT_EQ(get("/v1/approvals/a-00000000000000000000000000000000").status, 404);
    EXPECT_EQ(get("/v1/approvals/nonsense").status, 404);
    EXPECT_EQ(approve("a-00000000000000000000000000000000", s_admin2).status, 404);
    EXPECT_EQ(execute("a-00000000000000000000000000000000").status, 404);
}

}  // namespace
}  // namespace kms::test
