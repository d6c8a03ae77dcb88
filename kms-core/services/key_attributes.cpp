// Use case: change a key's names and client attributes (KMIP Add / Modify / Delete / Set
// Attribute, KMIP 1.4 §4.14 to §4.16, and their KMIP 2.0 §6.1 forms with Set Attribute). KMIP Name
// is multi-instance (1.4 §3.2); kmsd keeps the first as the key's name, the others as extra
// names, and every one of them is unique among live keys.
#include <algorithm>

#include "domain/error.hpp"
#include "services/key_lifecycle.hpp"

namespace kms::core {

namespace {

constexpr std::string_view kAliasPrefix = "key-alias/";

/// The key id an extra-name setting points at, when that key is live.
std::optional<std::string> live_alias_owner(WriteTxn& t, const std::string& name) {
    const auto v = t.get_setting(alias_setting(name));
    if (!v) return std::nullopt;
    std::string id(v->begin(), v->end());
    const auto k = t.find_key(id);
    // A destroyed key's names are free again (as put_key frees its primary name); its
    // setting is overwritten or removed lazily.
    if (!k || is_destroyed(k->state)) return std::nullopt;
    if (std::find(k->kmip_extra_names.begin(), k->kmip_extra_names.end(), name) ==
        k->kmip_extra_names.end())
        return std::nullopt;  // stale: the key gave the name up (Re-key moved it)
    return id;
}

std::string join(const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v) out += (out.empty() ? "" : ",") + s;
    return out;
}

}  // namespace

std::string alias_setting(std::string_view name) {
    return std::string(kAliasPrefix) + std::string(name);
}

void check_alias_free(WriteTxn& t, const std::string& name, std::string_view key_id) {
    const auto owner = live_alias_owner(t, name);
    if (owner && *owner != key_id)
        throw Error(ErrorCode::Conflict, "name: a key named '" + name + "' already exists");
}

KeyRecord KeyLifecycle::change_attributes(const Principal& caller, std::string_view id,
                                          const std::function<void(KeyAttributes&)>& edit,
                                          const std::string& what) {
    require_role(caller, {Role::Admin, Role::KeyOfficer}, "changing key attributes");
    (void)load_key(m_ctx, id);  // NotFound before the write
    KeyRecord out;
    write_key(m_ctx, id, [&](WriteTxn& t) {
        auto rec = t.find_key(id);
        if (!rec) throw Error(ErrorCode::NotFound, "no key with id '" + std::string(id) + "'");
        if (is_destroyed(rec->state))
            throw Error(ErrorCode::WrongState,
                        "key '" + rec->id + "' is destroyed: its attributes cannot change");
        KeyAttributes a{rec->name, rec->kmip_extra_names, rec->kmip_client_attributes};
        edit(a);
        std::vector<std::string> all{a.name};
        all.insert(all.end(), a.extra_names.begin(), a.extra_names.end());
        for (std::size_t i = 0; i < all.size(); ++i) {
            validate_key_name(all[i]);
            if (std::find(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(i), all[i]) !=
                all.begin() + static_cast<std::ptrdiff_t>(i))
                throw Error(ErrorCode::Conflict,
                            "name: the key already has the name '" + all[i] + "'");
            check_alias_free(t, all[i], rec->id);
            if (const auto owner = t.find_key_id_by_name(all[i]); owner && *owner != rec->id)
                throw Error(ErrorCode::Conflict,
                            "name: a key named '" + all[i] + "' already exists");
        }
        // Names given up are free again; new extra names are indexed.
        for (const auto& n : rec->kmip_extra_names)
            if (std::find(a.extra_names.begin(), a.extra_names.end(), n) == a.extra_names.end())
                t.delete_setting(alias_setting(n));
        for (const auto& n : a.extra_names) t.put_setting(alias_setting(n), as_view(rec->id));
        rec->name = a.name;
        rec->kmip_extra_names = std::move(a.extra_names);
        rec->kmip_client_attributes = std::move(a.client_attributes);
        t.put_key(*rec);  // renames in the store's name index (Conflict if taken meanwhile)
        std::vector<std::string> attrs;
        for (const auto& c : rec->kmip_client_attributes) attrs.push_back(c.name);
        t.append_audit(AuditEvent{caller.name, "key.attributes", rec->id, AuditOutcome::Success,
                                  what + ": name=" + rec->name + " names=" +
                                      join(rec->kmip_extra_names) + " attributes=" + join(attrs)});
        out = std::move(*rec);
    });
    return out;
}

std::optional<std::string> KeyLifecycle::find_id_by_name(const Principal& caller,
                                                         std::string_view name) {
    require_role(caller, {Role::Admin, Role::KeyOfficer, Role::Auditor, Role::Plugin},
                 "reading a key");
    if (auto id = m_ctx.store.find_key_id_by_name(name)) return id;
    const auto v = m_ctx.store.get_setting(alias_setting(name));
    if (!v) return std::nullopt;
    std::string id(v->begin(), v->end());
    const auto k = m_ctx.store.find_key(id);
    if (!k || is_destroyed(k->state)) return std::nullopt;
    // A stale setting (the key later gave the name up) is not an answer.
    if (std::find(k->kmip_extra_names.begin(), k->kmip_extra_names.end(), name) ==
        k->kmip_extra_names.end())
        return std::nullopt;
    return id;
}

}  // namespace kms::core
