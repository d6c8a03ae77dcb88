// Use cases of dual control: quorum rules, approval requests, votes and the exactly-once
// execution of an approved request.
#include "services/approvals.hpp"

#include <algorithm>
#include <mutex>

#include "crypto/host_crypto.hpp"
#include "domain/error.hpp"

namespace kms::core {

namespace {

constexpr std::uint8_t kQuorumFormat = 1;
constexpr std::uint8_t kApprovalFormat = 1;
constexpr std::uint32_t kMaxVotes = 64;
constexpr std::size_t kMaxComment = 1024;

void put_i64(Bytes& out, std::int64_t v) {
    put_u64(out, static_cast<std::uint64_t>(v));
}
std::int64_t get_i64(ByteReader& r) {
    return static_cast<std::int64_t>(r.u64());
}

void put_votes(Bytes& out, const std::vector<ApprovalVote>& votes) {
    put_u32(out, static_cast<std::uint32_t>(votes.size()));
    for (const auto& v : votes) {
        put_lv(out, v.by);
        put_i64(out, v.at_ms);
        put_lv(out, v.comment);
    }
}
std::vector<ApprovalVote> get_votes(ByteReader& r) {
    const std::uint32_t n = r.u32();
    if (n > kMaxVotes) throw Error(ErrorCode::Integrity, "approval record: too many votes");
    std::vector<ApprovalVote> out(n);
    for (auto& v : out) {
        v.by = r.lv_string();
        v.at_ms = get_i64(r);
        v.comment = r.lv_string();
    }
    return out;
}

std::string roles_text(std::uint32_t roles) {
    std::string s;
    for (const auto& n : role_names(roles)) s += (s.empty() ? "" : ",") + n;
    return s;
}

bool voted(const Approval& a, std::string_view name) {
    auto by = [&](const ApprovalVote& v) { return v.by == name; };
    return std::any_of(a.approvals.begin(), a.approvals.end(), by) ||
           std::any_of(a.rejections.begin(), a.rejections.end(), by);
}

Approval load_in(WriteTxn& t, std::string_view id) {
    auto raw = t.get(Table::Approvals, id);
    if (!raw) throw Error(ErrorCode::NotFound, "no approval with id '" + std::string(id) + "'");
    return decode_approval(*raw);
}

/// Officers may read approvals; a plugin only its own requests.
void require_reader(const Principal& caller, const Approval* a) {
    if (a && a->requested_by == caller.name && !caller.disabled) return;
    require_role(caller, {Role::Admin, Role::KeyOfficer, Role::Auditor, Role::Custodian},
                 "reading approvals");
}

}  // namespace

// ---------------------------------------------------------------- codecs

std::string_view approval_state_name(ApprovalState s) {
    switch (s) {
        case ApprovalState::Pending:
            return "pending";
        case ApprovalState::Approved:
            return "approved";
        case ApprovalState::Rejected:
            return "rejected";
        case ApprovalState::Expired:
            return "expired";
        case ApprovalState::Executing:
            return "executing";
        case ApprovalState::Executed:
            return "executed";
        case ApprovalState::Failed:
            return "failed";
    }
    return "unknown";
}

std::optional<ApprovalState> parse_approval_state(std::string_view name) {
    for (std::uint8_t i = 1; i <= 7; ++i) {
        const auto s = static_cast<ApprovalState>(i);
        if (approval_state_name(s) == name) return s;
    }
    return std::nullopt;
}

Bytes encode_quorum(const QuorumRule& q) {
    Bytes out;
    put_u8(out, kQuorumFormat);
    put_lv(out, q.operation);
    put_u32(out, q.approvals);
    put_u32(out, q.approver_roles);
    put_i64(out, q.ttl_seconds);
    put_i64(out, q.updated_ms);
    put_lv(out, q.updated_by);
    return out;
}

QuorumRule decode_quorum(ByteView data) {
    ByteReader r(data);
    if (r.u8() != kQuorumFormat) throw Error(ErrorCode::Integrity, "quorum record: unknown format");
    QuorumRule q;
    q.operation = r.lv_string();
    q.approvals = r.u32();
    q.approver_roles = r.u32();
    q.ttl_seconds = get_i64(r);
    q.updated_ms = get_i64(r);
    q.updated_by = r.lv_string();
    if (!r.at_end()) throw Error(ErrorCode::Integrity, "quorum record: trailing bytes");
    return q;
}

Bytes encode_approval(const Approval& a) {
    Bytes out;
    put_u8(out, kApprovalFormat);
    put_lv(out, a.id);
    put_lv(out, a.operation);
    put_lv(out, a.requested_by);
    put_lv(out, a.summary);
    put_u8(out, static_cast<std::uint8_t>(a.state));
    put_u32(out, a.required);
    put_u32(out, a.approver_roles);
    put_i64(out, a.created_ms);
    put_i64(out, a.expires_ms);
    put_lv(out, a.request.method);
    put_lv(out, a.request.path);
    put_u32(out, static_cast<std::uint32_t>(a.request.query.size()));
    for (const auto& [k, v] : a.request.query) {
        put_lv(out, k);
        put_lv(out, v);
    }
    put_lv(out, a.request.body_json);
    put_votes(out, a.approvals);
    put_votes(out, a.rejections);
    put_i64(out, a.executed_ms);
    put_u32(out, static_cast<std::uint32_t>(a.result_status));
    put_lv(out, a.result);
    return out;
}

Approval decode_approval(ByteView data) {
    ByteReader r(data);
    if (r.u8() != kApprovalFormat)
        throw Error(ErrorCode::Integrity, "approval record: unknown format");
    Approval a;
    a.id = r.lv_string();
    a.operation = r.lv_string();
    a.requested_by = r.lv_string();
    a.summary = r.lv_string();
    const std::uint8_t st = r.u8();
    if (st < 1 || st > 7 || st == static_cast<std::uint8_t>(ApprovalState::Expired))
        throw Error(ErrorCode::Integrity, "approval record: bad state");
    a.state = static_cast<ApprovalState>(st);
    a.required = r.u32();
    a.approver_roles = r.u32();
    a.created_ms = get_i64(r);
    a.expires_ms = get_i64(r);
    a.request.method = r.lv_string();
    a.request.path = r.lv_string();
    const std::uint32_t nq = r.u32();
    if (nq > 256) throw Error(ErrorCode::Integrity, "approval record: too many query items");
    for (std::uint32_t i = 0; i < nq; ++i) {
        std::string k = r.lv_string();
        a.request.query.emplace_back(std::move(k), r.lv_string());
    }
    a.request.body_json = r.lv_string();
    a.approvals = get_votes(r);
    a.rejections = get_votes(r);
    a.executed_ms = get_i64(r);
    a.result_status = static_cast<std::int32_t>(r.u32());
    a.result = r.lv_string();
    if (!r.at_end()) throw Error(ErrorCode::Integrity, "approval record: trailing bytes");
    return a;
}

// ---------------------------------------------------------------- quorums

const std::vector<std::string>& ApprovalService::gated_operations() {
    static const std::vector<std::string> ops = {"ceremony.create", "key.destroy", "key.export",
                                                 "key.import", "principal.create"};
    return ops;
}

std::optional<QuorumRule> ApprovalService::quorum_for(std::string_view operation) {
    const std::string key(operation);
    if (m_ctx.shared_store) {  // another node may have set or deleted it: never cached
        auto raw = m_ctx.store.get(Table::Quorums, key);
        if (!raw) return std::nullopt;
        return decode_quorum(*raw);
    }
    std::uint64_t gen;
    {
        std::shared_lock lock(m_mutex);
        auto it = m_quorums.find(key);
        if (it != m_quorums.end()) return it->second;
        gen = m_generation;
    }
    std::optional<QuorumRule> rule;
    if (auto raw = m_ctx.store.get(Table::Quorums, key)) rule = decode_quorum(*raw);
    std::unique_lock lock(m_mutex);
    if (gen == m_generation) m_quorums[key] = rule;
    return rule;
}

void ApprovalService::invalidate(std::string_view operation) {
    std::unique_lock lock(m_mutex);
    m_quorums.erase(std::string(operation));
    ++m_generation;
}

std::size_t ApprovalService::eligible(std::uint32_t roles) {
    std::size_t n = 0;
    for (const auto& p : m_ctx.store.list_principals())
        if (!p.disabled && (p.roles & roles) != 0) ++n;
    return n;
}

std::size_t ApprovalService::check_quorum(const QuorumRule& rule) {
    const auto& ops = gated_operations();
    if (std::find(ops.begin(), ops.end(), rule.operation) == ops.end()) {
        std::string names;
        for (const auto& o : ops) names += (names.empty() ? "" : ", ") + o;
        throw Error(ErrorCode::InvalidArgument, "operation: '" + rule.operation.substr(0, 64) +
                                                    "' is not under dual control (one of " + names +
                                                    ")");
    }
    if (rule.approvals < 1 || rule.approvals > 9)
        throw Error(ErrorCode::InvalidArgument, "approvals: must be between 1 and 9");
    if (rule.approver_roles == 0)
        throw Error(ErrorCode::InvalidArgument, "approverRoles: at least one role is required");
    if ((rule.approver_roles & static_cast<std::uint32_t>(Role::Plugin)) != 0)
        throw Error(ErrorCode::InvalidArgument, "approverRoles: plugins cannot approve");
    if ((rule.approver_roles & static_cast<std::uint32_t>(Role::Monitor)) != 0)
        throw Error(ErrorCode::InvalidArgument, "approverRoles: monitors cannot approve");
    if (rule.ttl_seconds < 60 || rule.ttl_seconds > 604800)
        throw Error(ErrorCode::InvalidArgument, "ttlSeconds: must be between 60 and 604800");
    const std::size_t n = eligible(rule.approver_roles);
    if (rule.approvals > n)
        throw Error(ErrorCode::InvalidArgument, "approvals: " + std::to_string(rule.approvals) +
                                                    " exceeds the " + std::to_string(n) +
                                                    " principal(s) holding an approver role (" +
                                                    roles_text(rule.approver_roles) + ")");
    return n;
}

QuorumView ApprovalService::set_quorum(const Principal& caller, QuorumRule rule) {
    require_role(caller, {Role::Admin}, "setting a quorum");
    const std::size_t n = check_quorum(rule);
    rule.updated_ms = m_ctx.clock.now_ms();
    rule.updated_by = caller.name;
    m_ctx.store.write([&](WriteTxn& t) {
        const bool existed = t.get(Table::Quorums, rule.operation).has_value();
        t.put(Table::Quorums, rule.operation, encode_quorum(rule));
        t.append_audit(AuditEvent{caller.name, "quorum.set", rule.operation, AuditOutcome::Success,
                                  std::string(existed ? "changed" : "created") +
                                      " approvals=" + std::to_string(rule.approvals) +
                                      " roles=" + roles_text(rule.approver_roles) +
                                      " ttl=" + std::to_string(rule.ttl_seconds)});
    });
    invalidate(rule.operation);
    return QuorumView{rule, n};
}

void ApprovalService::delete_quorum(const Principal& caller, std::string_view operation) {
    require_role(caller, {Role::Admin}, "deleting a quorum");
    m_ctx.store.write([&](WriteTxn& t) {
        if (!t.get(Table::Quorums, operation))
            throw Error(ErrorCode::NotFound,
                        "no quorum for operation '" + std::string(operation.substr(0, 64)) + "'");
        t.erase(Table::Quorums, operation);
        t.append_audit(AuditEvent{caller.name, "quorum.delete", std::string(operation),
                                  AuditOutcome::Success, "removed"});
    });
    invalidate(operation);
}

std::vector<QuorumView> ApprovalService::list_quorums(const Principal& caller) {
    require_role(caller, {Role::Admin, Role::KeyOfficer, Role::Auditor}, "listing quorums");
    std::vector<QuorumView> out;
    const auto principals = m_ctx.store.list_principals();
    for (auto& [k, v] : m_ctx.store.scan(Table::Quorums, "", 1000)) {
        QuorumView view{decode_quorum(v), 0};
        for (const auto& p : principals)
            if (!p.disabled && (p.roles & view.rule.approver_roles) != 0) ++view.eligible;
        out.push_back(std::move(view));
    }
    return out;
}

// ---------------------------------------------------------------- approvals

ApprovalState ApprovalService::state_of(const Approval& a) const {
    if ((a.state == ApprovalState::Pending || a.state == ApprovalState::Approved) &&
        m_ctx.clock.now_ms() >= a.expires_ms)
        return ApprovalState::Expired;
    return a.state;
}

Approval ApprovalService::request(const Principal& caller, std::string_view operation,
                                  const QuorumRule& rule, std::string summary, StoredRequest req) {
    if (caller.disabled)
        throw Error(ErrorCode::Forbidden, "principal '" + caller.name + "' is disabled");
    Approval a;
    a.id = "a-" + to_hex(crypto::random_bytes(16));
    a.operation = std::string(operation);
    a.requested_by = caller.name;
    a.summary = std::move(summary);
    a.state = ApprovalState::Pending;
    a.required = rule.approvals;
    a.approver_roles = rule.approver_roles;
    a.created_ms = m_ctx.clock.now_ms();
    a.expires_ms = a.created_ms + rule.ttl_seconds * 1000;
    a.request = std::move(req);
    m_ctx.store.write([&](WriteTxn& t) {
        t.put(Table::Approvals, a.id, encode_approval(a));
        t.append_audit(
            AuditEvent{caller.name, "approval.request", a.id, AuditOutcome::Success,
                       a.operation + " " + a.summary + " required=" + std::to_string(a.required)});
    });
    return a;
}

Approval ApprovalService::approve(const Principal& caller, std::string_view id,
                                  const std::string& comment) {
    return vote(caller, id, comment, true);
}

Approval ApprovalService::reject(const Principal& caller, std::string_view id,
                                 const std::string& comment) {
    return vote(caller, id, comment, false);
}

Approval ApprovalService::vote(const Principal& caller, std::string_view id,
                               const std::string& comment, bool approve) {
    if (comment.size() > kMaxComment)
        throw Error(ErrorCode::InvalidArgument, "comment: at most 1024 characters");
    Approval a;
    m_ctx.store.write([&](WriteTxn& t) {
        a = load_in(t, id);
        if (a.requested_by == caller.name)
            throw Error(ErrorCode::Forbidden,
                        "the requester cannot vote on their own request (dual control)");
        // The stored principal, not the one authenticated a moment ago: a role removed or a
        // principal disabled since then no longer counts.
        auto me = t.find_principal(caller.name);
        if (!me || me->disabled)
            throw Error(ErrorCode::Forbidden, "principal '" + caller.name + "' is disabled");
        if ((me->roles & a.approver_roles) == 0)
            throw Error(ErrorCode::Forbidden, "voting on this request needs one of the roles: " +
                                                  roles_text(a.approver_roles));
        const ApprovalState st = state_of(a);
        if (st == ApprovalState::Expired)
            throw Error(ErrorCode::Expired, "approval '" + a.id + "' expired");
        if (voted(a, caller.name))
            throw Error(ErrorCode::Conflict,
                        "principal '" + caller.name + "' already voted on '" + a.id + "'");
        if (st != ApprovalState::Pending)
            throw Error(ErrorCode::WrongState, "approval '" + a.id + "' is " +
                                                   std::string(approval_state_name(st)) +
                                                   ", not pending");
        if (a.approvals.size() + a.rejections.size() >= kMaxVotes)
            throw Error(ErrorCode::Conflict, "approval '" + a.id + "' has too many votes");
        ApprovalVote v{caller.name, m_ctx.clock.now_ms(), comment};
        if (approve) {
            a.approvals.push_back(std::move(v));
            if (a.approvals.size() >= a.required) a.state = ApprovalState::Approved;
        } else {
            a.rejections.push_back(std::move(v));
            a.state = ApprovalState::Rejected;
        }
        t.put(Table::Approvals, a.id, encode_approval(a));
        // The comment is free text from an officer: not copied into the audit chain.
        t.append_audit(AuditEvent{caller.name, approve ? "approval.approve" : "approval.reject",
                                  a.id, AuditOutcome::Success,
                                  a.operation + " " + std::to_string(a.approvals.size()) + "/" +
                                      std::to_string(a.required) +
                                      " state=" + std::string(approval_state_name(a.state))});
    });
    return a;
}

Approval ApprovalService::get(const Principal& caller, std::string_view id) {
    auto raw = m_ctx.store.get(Table::Approvals, id);
    if (!raw) {
        require_reader(caller, nullptr);
        throw Error(ErrorCode::NotFound, "no approval with id '" + std::string(id) + "'");
    }
    Approval a = decode_approval(*raw);
    require_reader(caller, &a);
    return a;
}

std::vector<Approval> ApprovalService::list(const Principal& caller,
                                            std::optional<ApprovalState> state, std::size_t limit) {
    const bool officer = !caller.disabled && caller.has_any({Role::Admin, Role::KeyOfficer,
                                                             Role::Auditor, Role::Custodian});
    if (caller.disabled || !caller.has(Role::Plugin)) require_reader(caller, nullptr);
    std::vector<Approval> out;
    std::string after;
    for (;;) {
        auto page = m_ctx.store.scan(Table::Approvals, after, 500);
        for (auto& [k, v] : page) {
            Approval a = decode_approval(v);
            if (!officer && a.requested_by != caller.name) continue;
            if (state && state_of(a) != *state) continue;
            out.push_back(std::move(a));
        }
        if (page.size() < 500) break;
        after = page.back().first;
    }
    std::sort(out.begin(), out.end(), [](const Approval& x, const Approval& y) {
        return x.created_ms != y.created_ms ? x.created_ms > y.created_ms : x.id < y.id;
    });
    if (out.size() > limit) out.resize(limit);
    return out;
}

Approval ApprovalService::begin_execute(const Principal& caller, std::string_view id) {
    Approval a;
    m_ctx.store.write([&](WriteTxn& t) {
        a = load_in(t, id);
        if (a.requested_by != caller.name)
            throw Error(ErrorCode::Forbidden,
                        "only the requester ('" + a.requested_by + "') can execute '" + a.id + "'");
        if (caller.disabled)
            throw Error(ErrorCode::Forbidden, "principal '" + caller.name + "' is disabled");
        const ApprovalState st = state_of(a);
        if (st == ApprovalState::Expired)
            throw Error(ErrorCode::Expired, "approval '" + a.id + "' expired");
        if (st != ApprovalState::Approved)
            throw Error(ErrorCode::WrongState,
                        "approval '" + a.id + "' is " + std::string(approval_state_name(st)) +
                            (st == ApprovalState::Pending
                                 ? " (" + std::to_string(a.approvals.size()) + " of " +
                                       std::to_string(a.required) + " approvals)"
                                 : std::string()) +
                            ", not approved");
        a.state = ApprovalState::Executing;
        a.executed_ms = m_ctx.clock.now_ms();
        t.put(Table::Approvals, a.id, encode_approval(a));
        t.append_audit(AuditEvent{caller.name, "approval.execute", a.id, AuditOutcome::Success,
                                  "started " + a.operation + " " + a.summary});
    });
    return a;
}

bool ApprovalService::finish_execute(std::string_view id, int status,
                                     const std::string& detail) noexcept {
    try {
        m_ctx.store.write([&](WriteTxn& t) {
            Approval a = load_in(t, id);
            if (a.state != ApprovalState::Executing) return;  // already finished: keep it
            a.state = status < 400 ? ApprovalState::Executed : ApprovalState::Failed;
            a.result_status = status;
            a.result = detail.substr(0, 256);
            t.put(Table::Approvals, a.id, encode_approval(a));
            t.append_audit(AuditEvent{a.requested_by, "approval.execute", a.id,
                                      status < 400 ? AuditOutcome::Success : AuditOutcome::Failed,
                                      std::string(approval_state_name(a.state)) + " " +
                                          a.operation + " status=" + std::to_string(status) +
                                          (detail.empty() ? "" : " " + a.result)});
        });
        return true;
    } catch (...) {
        return false;
    }
}

}  // namespace kms::core
