// What every use case needs: the ports and the process-wide caches, passed by reference from
// the composition root (kmsd). No singletons.
#pragma once

#include "ports/clock.hpp"
#include "ports/hsm.hpp"
#include "ports/metadata_store.hpp"
#include "services/key_cache.hpp"
#include "services/use_counters.hpp"

namespace kms::core {

class PolicyService;

struct ServiceContext {
    MetadataStore& store;
    Hsm& hsm;
    const Clock& clock;
    KeyCache& keys;
    UseCounterBook& counters;
    /// Plugin policies (services/policies.hpp); set by kmsd after construction. Null means
    /// "not wired": every policy-restricted caller is refused (fail closed).
    PolicyService* policies = nullptr;
    /// True when other processes (kmsd nodes on one PostgreSQL store) write the same store:
    /// then no service keeps stored records in memory (principals by token, plugin policies)
    /// and every check reads the store, so a change on one node holds on all at once. kmsd
    /// also gives such a context a KeyCache of capacity 0.
    bool shared_store = false;
};

/// Throws Forbidden unless @p caller has one of @p roles. @p what names the call in the message.
void require_role(const Principal& caller, std::initializer_list<Role> roles,
                  std::string_view what);

/// Loads a key through the cache; NotFound when unknown.
std::shared_ptr<const KeyRecord> load_key(ServiceContext& ctx, std::string_view id);

/// Writes @p fn through the store and invalidates @p key_id in the cache once committed.
void write_key(ServiceContext& ctx, std::string_view key_id,
               const std::function<void(WriteTxn&)>& fn);

}  // namespace kms::core
