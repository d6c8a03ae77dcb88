// Routes: dual control. Quorum rules (/v1/quorums), approval requests (/v1/approvals), the
// gate that turns a request of a guarded operation into a pending approval (202), and the
// replay of an approved request through the router.
#include <Poco/URI.h>

#include <algorithm>
#include <cctype>

#include "api/api.hpp"
#include "api/error_mapping.hpp"
#include "api/json.hpp"
#include "domain/error.hpp"

namespace kms::api {

namespace {

using core::Approval;
using core::ApprovalService;
using core::QuorumRule;
using core::Role;

/// Top-level body fields that carry key material (wrapped keys, TR-31 blocks, components):
/// stored for the replay, never shown to approvers.
bool redacted_field(const std::string& name) {
    return name == "wrapped" || name == "keyBlock" || name == "component" || name == "pin";
}

Poco::JSON::Array::Ptr strings_json(const std::vector<std::string>& v) {
    Poco::JSON::Array::Ptr a = new Poco::JSON::Array();
    for (const auto& s : v) a->add(s);
    return a;
}

Poco::JSON::Object::Ptr quorum_json(const core::QuorumView& q) {
    auto o = new_object();
    o->set("operation", q.rule.operation);
    o->set("approvals", q.rule.approvals);
    o->set("approverRoles", strings_json(core::role_names(q.rule.approver_roles)));
    o->set("eligible", q.eligible);
    o->set("ttlSeconds", q.rule.ttl_seconds);
    if (q.rule.updated_ms != 0) o->set("updatedAt", format_time(q.rule.updated_ms));
    if (!q.rule.updated_by.empty()) o->set("updatedBy", q.rule.updated_by);
    return o;
}

Poco::JSON::Array::Ptr votes_json(const std::vector<core::ApprovalVote>& votes) {
    Poco::JSON::Array::Ptr a = new Poco::JSON::Array();
    for (const auto& v : votes) {
        auto o = new_object();
        o->set("by", v.by);
        o->set("at", format_time(v.at_ms));
        if (!v.comment.empty()) o->set("comment", v.comment);
        a->add(o);
    }
    return a;
}

Poco::JSON::Object::Ptr approval_json(const Approval& a, core::ApprovalState state) {
    auto o = new_object();
    o->set("id", a.id);
    o->set("operation", a.operation);
    o->set("state", std::string(core::approval_state_name(state)));
    o->set("requestedBy", a.requested_by);
    o->set("summary", a.summary);
    o->set("required", a.required);
    o->set("approverRoles", strings_json(core::role_names(a.approver_roles)));
    o->set("approvals", votes_json(a.approvals));
    o->set("rejections", votes_json(a.rejections));
    o->set("createdAt", format_time(a.created_ms));
    o->set("expiresAt", format_time(a.expires_ms));
    // What exactly is being approved: approvers must be able to see it (key material
    // excepted).
    auto req = new_object();
    req->set("method", a.request.method);
    req->set("path", a.request.path);
    auto query = new_object();
    for (const auto& [k, v] : a.request.query) query->set(k, v);
    req->set("query", query);
    if (a.request.body_json.empty()) {
        req->set("body", Poco::Dynamic::Var());
    } else {
        Poco::JSON::Object::Ptr body;
        try {
            body = parse_object_text(a.request.body_json);
        } catch (const Error&) {
            body = new_object();
        }
        for (const auto& name : body->getNames())
            if (redacted_field(name)) body->set(name, "(redacted)");
        req->set("body", body);
    }
    o->set("request", req);
    if (a.executed_ms != 0) o->set("executedAt", format_time(a.executed_ms));
    if (a.result_status != 0) o->set("resultStatus", a.result_status);
    return o;
}

Reply approval_reply(int status, const Approval& a, ApiServices& s) {
    return Reply{status, approval_json(a, s.approvals.state_of(a))};
}

/// Approval ids are "a-" + 32 hex; anything else cannot exist (and never reaches the store).
void check_approval_id(const std::string& id) {
    bool ok = id.size() == 34 && id.compare(0, 2, "a-") == 0;
    for (std::size_t i = 2; ok && i < id.size(); ++i)
        ok = std::isxdigit(static_cast<unsigned char>(id[i])) != 0;
    if (!ok) throw Error(ErrorCode::NotFound, "no approval with id '" + id.substr(0, 64) + "'");
}

bool is_quorum_route(const Route& route) {
    return route.segments.size() == 3 && route.segments[0] == "v1" &&
           route.segments[1] == "quorums";
}

/// The dual-control operation a route and its parameters stand for, or "".
std::string operation_of(const Route& route, const std::vector<std::string>& params) {
    if (!route.approval_operation.empty()) return route.approval_operation;
    if (is_quorum_route(route) && (route.method == "PUT" || route.method == "DELETE") &&
        !params.empty())
        return "quorum." + params[0];
    return {};
}

/// The requester of a guarded operation must be allowed to run it: a request nobody could
/// execute is refused now instead of after the approvers spent their time on it.
void require_requester(const core::Principal& caller, const std::string& operation) {
    if (operation == "principal.create" || operation.rfind("quorum.", 0) == 0)
        core::require_role(caller, {Role::Admin}, "requesting " + operation);
    else
        core::require_role(caller, {Role::Admin, Role::KeyOfficer}, "requesting " + operation);
}

/// Checks that need no knowledge of the handler's body rules: the target named in the path
/// exists. The body itself is validated by the handler, i.e. at execute time.
void precheck(const std::string& operation, Request& r, ApiServices& s) {
    if ((operation == "key.destroy" || operation == "key.export") && !r.params.empty()) {
        const auto key = s.keys.get(*r.caller, r.params[0]);  // NotFound for an unknown key
        // A destroy the state table already forbids (an Active or destroyed key) would only
        // fail at execution, after the approvers' votes.
        if (operation == "key.destroy" && !core::next_state(key.state, core::Transition::Destroy))
            throw Error(ErrorCode::WrongState,
                        "key '" + key.id + "' is " + std::string(core::key_state_name(key.state)) +
                            ": it cannot be destroyed (deactivate or revoke it first)");
    }
    if (operation == "principal.create" && r.body && r.body->has("name")) {
        const auto v = r.body->get("name");
        if (v.isString()) {
            const std::string name = v.extract<std::string>();
            core::validate_principal_name(name);
            for (const auto& p : s.principals.list(*r.caller))
                if (p.name == name)
                    throw Error(ErrorCode::Conflict,
                                "name: principal '" + name + "' already exists");
        }
    }
}

/// Stores @p r as a pending approval of @p operation under @p rule; the 202 reply.
Reply hold_for_approval(Request& r, ApiServices& s, const std::string& operation,
                        const QuorumRule& rule) {
    require_requester(*r.caller, operation);
    precheck(operation, r, s);
    core::StoredRequest stored;
    stored.method = r.http.getMethod();
    stored.path = Poco::URI(r.http.getURI()).getPath();
    stored.query = r.query;
    if (r.body) stored.body_json = stringify(r.body);
    const std::string summary = stored.method + " " + stored.path;
    const Approval a = s.approvals.request(*r.caller, operation, rule, summary, std::move(stored));
    return approval_reply(202, a, s);
}

std::string optional_comment(Request& r) {
    if (!r.body) return {};
    Body b(r.body, {"comment"});
    return b.opt_string("comment", 1024).value_or("");
}

const std::string& known_operation(const std::string& op) {
    const auto& ops = ApprovalService::gated_operations();
    if (std::find(ops.begin(), ops.end(), op) == ops.end())
        throw Error(ErrorCode::NotFound,
                    "no quorum for operation '" + op.substr(0, 64) + "' (not under dual control)");
    return op;
}

}  // namespace

std::optional<Reply> dual_control_gate(const Route& route, Request& r, ApiServices& s) {
    if (!r.approved_by_approval.empty() || route.approval_operation.empty() || !r.caller)
        return std::nullopt;
    const auto rule = s.approvals.quorum_for(route.approval_operation);
    if (!rule) return std::nullopt;
    return hold_for_approval(r, s, route.approval_operation, *rule);
}

void add_approval_routes(Router& router, ApiServices& s) {
    // ---- quorums ----
    router.add("GET", "/v1/quorums", "quorum.list", BodyPolicy::None, [&s](Request& r) {
        Poco::JSON::Array::Ptr arr = new Poco::JSON::Array();
        for (const auto& q : s.approvals.list_quorums(*r.caller)) arr->add(quorum_json(q));
        auto o = new_object();
        o->set("quorums", arr);
        return Reply{200, o};
    });

    router.add("GET", "/v1/quorums/{op}", "quorum.get", BodyPolicy::None, [&s](Request& r) {
        for (const auto& q : s.approvals.list_quorums(*r.caller))
            if (q.rule.operation == r.params[0]) return Reply{200, quorum_json(q)};
        throw Error(ErrorCode::NotFound,
                    "no quorum for operation '" + known_operation(r.params[0]) + "'");
    });

    router.add("PUT", "/v1/quorums/{op}", "quorum.set", BodyPolicy::Required, [&s](Request& r) {
        core::require_role(*r.caller, {Role::Admin}, "setting a quorum");
        Body b(r.body, {"approvals", "approverRoles", "ttlSeconds"});
        QuorumRule rule;
        rule.operation = r.params[0];
        rule.approvals = static_cast<std::uint32_t>(b.integer("approvals", 1, 9));
        if (r.body->has("approverRoles")) {
            rule.approver_roles = 0;
            for (const auto& n : b.strings("approverRoles")) {
                auto role = core::parse_role(n);
                if (!role)
                    throw Error(ErrorCode::InvalidArgument,
                                "approverRoles: unknown role '" + n.substr(0, 64) +
                                    "' (admin, key-officer, custodian, auditor)");
                rule.approver_roles |= static_cast<std::uint32_t>(*role);
            }
        }
        rule.ttl_seconds = b.opt_int("ttlSeconds", 60, 604800).value_or(86400);
        s.approvals.check_quorum(rule);
        // Changing an existing rule is decided under that rule: one officer cannot lower it.
        if (r.approved_by_approval.empty())
            if (auto existing = s.approvals.quorum_for(rule.operation))
                return hold_for_approval(r, s, "quorum." + rule.operation, *existing);
        return Reply{200, quorum_json(s.approvals.set_quorum(*r.caller, rule))};
    });

    router.add("DELETE", "/v1/quorums/{op}", "quorum.delete", BodyPolicy::None, [&s](Request& r) {
        core::require_role(*r.caller, {Role::Admin}, "deleting a quorum");
        const std::string& op = known_operation(r.params[0]);
        if (r.approved_by_approval.empty()) {
            auto existing = s.approvals.quorum_for(op);
            if (!existing) throw Error(ErrorCode::NotFound, "no quorum for operation '" + op + "'");
            return hold_for_approval(r, s, "quorum." + op, *existing);
        }
        s.approvals.delete_quorum(*r.caller, op);
        auto o = new_object();
        o->set("operation", op);
        o->set("deleted", true);
        return Reply{200, o};
    });

    // ---- approvals ----
    router.add("GET", "/v1/approvals", "approval.list", BodyPolicy::None, [&s](Request& r) {
        std::optional<core::ApprovalState> state;
        if (auto q = r.q("state")) {
            state = core::parse_approval_state(*q);
            if (!state)
                throw Error(ErrorCode::InvalidArgument,
                            "state: one of pending, approved, rejected, expired, executing, "
                            "executed, failed");
        }
        Poco::JSON::Array::Ptr arr = new Poco::JSON::Array();
        for (const auto& a : s.approvals.list(*r.caller, state))
            arr->add(approval_json(a, s.approvals.state_of(a)));
        auto o = new_object();
        o->set("approvals", arr);
        return Reply{200, o};
    });

    router.add("GET", "/v1/approvals/{id}", "approval.get", BodyPolicy::None, [&s](Request& r) {
        check_approval_id(r.params[0]);
        return approval_reply(200, s.approvals.get(*r.caller, r.params[0]), s);
    });

    router.add("POST", "/v1/approvals/{id}/approve", "approval.approve", BodyPolicy::Optional,
               [&s](Request& r) {
                   check_approval_id(r.params[0]);
                   const std::string comment = optional_comment(r);
                   return approval_reply(200, s.approvals.approve(*r.caller, r.params[0], comment),
                                         s);
               });

    router.add("POST", "/v1/approvals/{id}/reject", "approval.reject", BodyPolicy::Optional,
               [&s](Request& r) {
                   check_approval_id(r.params[0]);
                   const std::string comment = optional_comment(r);
                   return approval_reply(200, s.approvals.reject(*r.caller, r.params[0], comment),
                                         s);
               });

    // The router outlives the server (kmsd owns both), so the execute handler may keep it.
    const Router* routes = &router;
    router.add("POST", "/v1/approvals/{id}/execute", "approval.execute", BodyPolicy::None,
               [&s, routes](Request& r) {
                   check_approval_id(r.params[0]);
                   const Approval stored = s.approvals.get(*r.caller, r.params[0]);
                   auto m = routes->match(stored.request.method, stored.request.path);
                   if (m.route == nullptr || operation_of(*m.route, m.params) != stored.operation)
                       throw Error(ErrorCode::WrongState,
                                   "approval '" + stored.id + "': its request (" + stored.summary +
                                       ") no longer maps to operation " + stored.operation);
                   // Durably marked executing before the replay: never run twice, even after a
                   // crash.
                   const Approval a = s.approvals.begin_execute(*r.caller, r.params[0]);
                   Poco::JSON::Object::Ptr body;
                   if (!a.request.body_json.empty()) body = parse_object_text(a.request.body_json);
                   Request replay{r.http, std::move(m.params), r.caller,
                                  body,   a.request.query,     a.id};
                   try {
                       Reply reply = m.route->handler(replay);
                       s.approvals.finish_execute(a.id, reply.status, "");
                       return reply;
                   } catch (const Error& e) {
                       s.approvals.finish_execute(a.id, http_status(e.code()),
                                                  std::string(error_code_name(e.code())));
                       throw;
                   } catch (...) {
                       s.approvals.finish_execute(a.id, 500, "internal");
                       throw;
                   }
               });
}

}  // namespace kms::api
