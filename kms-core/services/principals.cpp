// Use cases: create principals, authenticate bearer tokens, list principals.
#include "services/principals.hpp"

#include <cctype>

#include "crypto/host_crypto.hpp"
#include "domain/error.hpp"

namespace kms::core {

namespace {
constexpr std::string_view kTokenPrefix = "kms_";

bool well_formed(std::string_view token) {
    if (token.size() != kTokenPrefix.size() + 64 || token.substr(0, 4) != kTokenPrefix)
        return false;
    for (char c : token.substr(4))
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    return true;
}
}  // namespace

IssuedPrincipal PrincipalService::issue(const std::string& actor, const std::string& name,
                                        std::uint32_t roles, bool replace) {
    validate_principal_name(name);
    if (roles == 0) throw Error(ErrorCode::InvalidArgument, "roles: at least one is required");
    std::string token(kTokenPrefix);
    for (char c : to_hex(crypto::random_bytes(32))) token += static_cast<char>(std::tolower(c));

    Principal p;
    p.name = name;
    p.roles = roles;
    p.token_hash = crypto::sha256(as_view(token));
    p.created_ms = m_ctx.clock.now_ms();
    p.created_by = actor;
    m_ctx.store.write([&](WriteTxn& t) {
        if (auto existing = t.find_principal(name)) {
            if (!replace)
                throw Error(ErrorCode::Conflict, "name: principal '" + name + "' already exists");
            p.created_ms = existing->created_ms;
        }
        t.put_principal(p);
        std::string detail = "roles=";
        for (const auto& r : role_names(roles)) detail += r + ",";
        detail.pop_back();
        t.append_audit(AuditEvent{actor, replace ? "principal.token-reissue" : "principal.create",
                                  name, AuditOutcome::Success, detail});
    });
    {
        std::unique_lock lock(m_cache_mutex);
        m_by_token_hash.clear();  // a replaced token must stop working at once
    }
    return IssuedPrincipal{std::move(p), std::move(token)};
}

IssuedPrincipal PrincipalService::create(const Principal& caller, const std::string& name,
                                         std::uint32_t roles) {
    require_role(caller, {Role::Admin}, "creating a principal");
    return issue(caller.name, name, roles, false);
}

IssuedPrincipal PrincipalService::bootstrap_admin(const std::string& name) {
    return issue("kmsd", name, static_cast<std::uint32_t>(Role::Admin), true);
}

std::vector<Principal> PrincipalService::list(const Principal& caller) {
    require_role(caller, {Role::Admin}, "listing principals");
    return m_ctx.store.list_principals();
}

Principal PrincipalService::set_disabled(const Principal& caller, const std::string& name,
                                         bool disabled) {
    require_role(caller, {Role::Admin},
                 disabled ? "disabling a principal" : "enabling a principal");
    if (disabled && name == caller.name)
        throw Error(ErrorCode::InvalidArgument,
                    "name: a principal cannot disable itself; ask another administrator");
    Principal p;
    m_ctx.store.write([&](WriteTxn& t) {
        auto existing = t.find_principal(name);
        if (!existing) throw Error(ErrorCode::NotFound, "principal '" + name + "' does not exist");
        if (existing->disabled == disabled)
            throw Error(ErrorCode::WrongState, "principal '" + name + "' is already " +
                                                   (disabled ? "disabled" : "enabled"));
        p = *existing;
        p.disabled = disabled;
        t.put_principal(p);
        t.append_audit(AuditEvent{caller.name, disabled ? "principal.disable" : "principal.enable",
                                  name, AuditOutcome::Success, ""});
    });
    {
        std::unique_lock lock(m_cache_mutex);
        m_by_token_hash.clear();  // a disabled principal's token must stop working at once
    }
    return p;
}

std::optional<Principal> PrincipalService::authenticate(std::string_view bearer_token) {
    if (!well_formed(bearer_token)) return std::nullopt;
    const Bytes hash = crypto::sha256(as_view(bearer_token));
    if (m_ctx.shared_store) {  // another node may have replaced or disabled it
        auto p = m_ctx.store.find_principal_by_token_hash(hash);
        if (!p || p->disabled) return std::nullopt;
        return p;
    }
    const std::string key = to_hex(hash);
    {
        std::shared_lock lock(m_cache_mutex);
        auto it = m_by_token_hash.find(key);
        if (it != m_by_token_hash.end()) return it->second;
    }
    auto p = m_ctx.store.find_principal_by_token_hash(hash);
    if (!p || p->disabled) return std::nullopt;
    std::unique_lock lock(m_cache_mutex);
    if (m_by_token_hash.size() > 10000) m_by_token_hash.clear();
    m_by_token_hash.emplace(key, *p);
    return p;
}

std::string PrincipalService::refusal_reason(std::string_view bearer_token) {
    if (well_formed(bearer_token)) {
        const auto p =
            m_ctx.store.find_principal_by_token_hash(crypto::sha256(as_view(bearer_token)));
        if (p && p->disabled) return "principal '" + p->name + "' is disabled";
    }
    return "the bearer token is not valid";
}

std::optional<Principal> PrincipalService::find(std::string_view name) {
    return m_ctx.store.find_principal(name);
}

}  // namespace kms::core
