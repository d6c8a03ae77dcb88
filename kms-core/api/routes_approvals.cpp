// Routes: dual control (skeleton; filled in by the dual-control work).
#include "api/api.hpp"

namespace kms::api {

void add_approval_routes(Router&, ApiServices&) {}

std::optional<Reply> dual_control_gate(const Route&, Request&, ApiServices&) {
    return std::nullopt;
}

}  // namespace kms::api
