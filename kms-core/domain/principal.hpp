// Officers and plugins that call kmsd, with their roles.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bytes.hpp"

namespace kms::core {

enum class Role : std::uint32_t {
    Admin = 1u << 0,
    KeyOfficer = 1u << 1,
    Custodian = 1u << 2,
    Auditor = 1u << 3,
    Plugin = 1u << 4,
    /// Reads GET /metrics (and the public /healthz) and nothing else: for a Prometheus scraper.
    Monitor = 1u << 5,
};
std::string_view role_name(Role r);  ///< "admin", "key-officer", "custodian", "auditor", "plugin",
                                     ///< "monitor"
std::optional<Role> parse_role(std::string_view name);
const std::vector<Role>& all_roles();

struct Principal {
    std::string name;         ///< 1..64 of [a-z0-9._-]
    std::uint32_t roles = 0;  ///< Role bits
    Bytes token_hash;  ///< SHA-256 of the bearer token; empty for certificate-only principals
    std::int64_t created_ms = 0;
    std::string created_by;
    bool disabled = false;

    bool has(Role r) const { return (roles & static_cast<std::uint32_t>(r)) != 0; }
    bool has_any(std::initializer_list<Role> rs) const {
        for (Role r : rs)
            if (has(r)) return true;
        return false;
    }
};

std::vector<std::string> role_names(std::uint32_t roles);
/// Throws kms::Error(InvalidArgument) unless @p name is 1..64 of [a-z0-9._-].
void validate_principal_name(std::string_view name);

}  // namespace kms::core
