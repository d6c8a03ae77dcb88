// Officers and plugins: creation (admin only), bearer-token authentication, listing.
// Tokens are 32 random bytes shown once ("kms_" + 64 hex digits); only their SHA-256 is stored.
#pragma once

#include <optional>
#include <string>
#include <unordered_map>

#include "services/context.hpp"

namespace kms::core {

struct IssuedPrincipal {
    Principal principal;
    std::string token;  ///< shown once; never logged
};

class PrincipalService {
  public:
    explicit PrincipalService(ServiceContext& ctx) : m_ctx(ctx) {}

    IssuedPrincipal create(const Principal& caller, const std::string& name, std::uint32_t roles);
    std::vector<Principal> list(const Principal& caller);
    /// Disables (or enables again) the principal @p name (admin). A disabled principal's token,
    /// client certificate and sessions are refused from its next request on (the token cache is
    /// cleared here). Audited "principal.disable" / "principal.enable". Throws NotFound for an
    /// unknown name, InvalidArgument when @p caller would disable itself (the last way back in
    /// could be lost), WrongState when it already is in that state.
    Principal set_disabled(const Principal& caller, const std::string& name, bool disabled);
    /// The principal owning @p bearer_token, or nullopt (unknown, malformed, or disabled).
    /// Cached by token hash in memory, except on a shared store (ServiceContext::shared_store),
    /// where a token another node replaced must stop working at once.
    std::optional<Principal> authenticate(std::string_view bearer_token);
    /// Why authenticate(@p bearer_token) refused it, for the 401 message: "principal 'NAME' is
    /// disabled" when it is a disabled principal's token (its holder may know), else "the
    /// bearer token is not valid". One store read; call it only after a refusal.
    std::string refusal_reason(std::string_view bearer_token);
    /// The principal named @p name, or nullopt. No role check: for authentication paths
    /// (client certificates), never for answering a caller.
    std::optional<Principal> find(std::string_view name);
    /// First start: creates (or, after an interrupted first start, re-issues the token of)
    /// the first administrator. Audited as actor "kmsd".
    IssuedPrincipal bootstrap_admin(const std::string& name);

  private:
    IssuedPrincipal issue(const std::string& actor, const std::string& name, std::uint32_t roles,
                          bool replace);
    ServiceContext& m_ctx;
    std::shared_mutex m_cache_mutex;
    std::unordered_map<std::string, Principal> m_by_token_hash;  ///< hex hash -> principal
};

}  // namespace kms::core
