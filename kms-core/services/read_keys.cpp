// Use cases: read one key, list keys.
#include "domain/error.hpp"
#include "services/key_lifecycle.hpp"

namespace kms::core {

KeyRecord KeyLifecycle::get(const Principal& caller, std::string_view id) {
    require_role(caller, {Role::Admin, Role::KeyOfficer, Role::Auditor, Role::Plugin},
                 "reading a key");
    KeyRecord rec = *load_key(m_ctx, id);
    rec.counters += m_ctx.counters.pending(rec.id);
    return rec;
}

KeyPage KeyLifecycle::list(const Principal& caller, const KeyFilter& filter,
                           std::string_view after_id, std::size_t limit) {
    require_role(caller, {Role::Admin, Role::KeyOfficer, Role::Auditor, Role::Plugin},
                 "listing keys");
    if (limit < 1 || limit > 1000)
        throw Error(ErrorCode::InvalidArgument, "limit: must be between 1 and 1000");
    KeyPage page = m_ctx.store.list_keys(filter, after_id, limit);
    for (auto& k : page.keys) k.counters += m_ctx.counters.pending(k.id);
    return page;
}

}  // namespace kms::core
