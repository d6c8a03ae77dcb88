// Role names and principal name rules.
#include "principal.hpp"

#include "error.hpp"

namespace kms::core {

std::string_view role_name(Role r) {
    switch (r) {
        case Role::Admin:
            return "admin";
        case Role::KeyOfficer:
            return "key-officer";
        case Role::Custodian:
            return "custodian";
        case Role::Auditor:
            return "auditor";
        case Role::Plugin:
            return "plugin";
        case Role::Monitor:
            return "monitor";
    }
    return "?";
}

const std::vector<Role>& all_roles() {
    static const std::vector<Role> roles = {Role::Admin,   Role::KeyOfficer, Role::Custodian,
                                            Role::Auditor, Role::Plugin,     Role::Monitor};
    return roles;
}

std::optional<Role> parse_role(std::string_view name) {
    for (Role r : all_roles())
        if (role_name(r) == name) return r;
    return std::nullopt;
}

std::vector<std::string> role_names(std::uint32_t roles) {
    std::vector<std::string> out;
    for (Role r : all_roles())
        if (roles & static_cast<std::uint32_t>(r)) out.emplace_back(role_name(r));
    return out;
}

void validate_principal_name(std::string_view name) {
    if (name.empty() || name.size() > 64)
        throw Error(ErrorCode::InvalidArgument, "name: must be 1 to 64 characters");
    for (char c : name) {
        const bool ok =
            (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
        if (!ok)
            throw Error(ErrorCode::InvalidArgument,
                        "name: only lower-case letters, digits and . _ - are allowed");
    }
}

}  // namespace kms::core
