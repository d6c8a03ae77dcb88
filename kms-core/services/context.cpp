// Helpers shared by the use cases: role checks and cached key loads.
#include "services/context.hpp"

#include "domain/error.hpp"

namespace kms::core {

void require_role(const Principal& caller, std::initializer_list<Role> roles,
                  std::string_view what) {
    if (caller.disabled)
        throw Error(ErrorCode::Forbidden, "principal '" + caller.name + "' is disabled");
    if (caller.has_any(roles)) return;
    std::string names;
    for (Role r : roles) {
        if (!names.empty()) names += ", ";
        names += role_name(r);
    }
    throw Error(ErrorCode::Forbidden, std::string(what) + " needs one of the roles: " + names);
}

std::shared_ptr<const KeyRecord> load_key(ServiceContext& ctx, std::string_view id) {
    if (auto hit = ctx.keys.get(id)) return hit;
    const std::uint64_t gen = ctx.keys.generation();
    auto rec = ctx.store.find_key(id);
    if (!rec) throw Error(ErrorCode::NotFound, "no key with id '" + std::string(id) + "'");
    auto shared = std::make_shared<const KeyRecord>(std::move(*rec));
    ctx.keys.insert(shared, gen);
    return shared;
}

void write_key(ServiceContext& ctx, std::string_view key_id,
               const std::function<void(WriteTxn&)>& fn) {
    try {
        ctx.store.write(fn);
    } catch (...) {
        // A failed group commit may still have changed nothing; drop the entry to be safe.
        ctx.keys.invalidate(key_id);
        throw;
    }
    ctx.keys.invalidate(key_id);
}

}  // namespace kms::core
