// Use cases: read one key, list keys.
#include "domain/error.hpp"
#include "services/key_lifecycle.hpp"
#include "services/policies.hpp"

namespace kms::core {

KeyRecord KeyLifecycle::get(const Principal& caller, std::string_view id) {
    require_role(caller, {Role::Admin, Role::KeyOfficer, Role::Auditor, Role::Plugin},
                 "reading a key");
    auto shared = load_key(m_ctx, id);
    authorize_policy(m_ctx, caller, shared.get(), PolicyOperation::Read);
    KeyRecord rec = *shared;
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
    if (policy_restricted(caller)) {
        // A plugin sees only the keys its policy names with "read". Keep reading pages until
        // this one is full or the store has no more, so a page is short only at the end.
        if (m_ctx.policies == nullptr)
            throw Error(ErrorCode::Forbidden, "plugin '" + caller.name +
                                                  "' may not read keys: plugin policies are "
                                                  "not available");
        auto visible = [&](const KeyRecord& k) {
            return m_ctx.policies->permits(caller, &k, PolicyOperation::Read);
        };
        KeyPage out;
        for (;;) {
            for (auto& k : page.keys) {
                if (out.keys.size() == limit) break;
                if (visible(k)) out.keys.push_back(std::move(k));
            }
            if (out.keys.size() == limit) {
                out.next_after = out.keys.back().id;
                break;
            }
            if (page.next_after.empty()) break;
            page = m_ctx.store.list_keys(filter, page.next_after, limit);
        }
        page = std::move(out);
    }
    for (auto& k : page.keys) k.counters += m_ctx.counters.pending(k.id);
    return page;
}

}  // namespace kms::core
