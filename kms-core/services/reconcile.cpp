// Use case: reconcile store and HSM at start-up (see reconcile.hpp).
#include "services/reconcile.hpp"

namespace kms::core {

ReconcileReport reconcile(ServiceContext& ctx,
                          const std::vector<std::string>& foreign_token_objects) {
    ReconcileReport report;
    report.hsm_orphans = foreign_token_objects;
    for (const auto& [name, value] : ctx.store.list_settings("intent/"))
        report.open_intents.push_back(name.substr(7) + ": " +
                                      std::string(value.begin(), value.end()));
    std::string after;
    for (;;) {
        KeyPage page = ctx.store.list_keys(KeyFilter{}, after, 1000);
        for (const auto& k : page.keys)
            // An imported public key only (SPKI) has an empty block and a public key.
            if (!is_destroyed(k.state) && (k.versions.empty() || (k.current().block.empty() &&
                                                                  k.current().public_key.empty())))
                report.store_orphans.push_back(k.id);
        if (page.next_after.empty()) break;
        after = page.next_after;
    }
    if (report.clean()) return report;

    ctx.store.write([&](WriteTxn& t) {
        for (const auto& o : report.hsm_orphans)
            t.append_audit(AuditEvent{"kmsd", "reconcile.hsm-orphan", o, AuditOutcome::Failed,
                                      "token object unknown to the store; left in place"});
        for (const auto& o : report.store_orphans)
            t.append_audit(AuditEvent{"kmsd", "reconcile.store-orphan", o, AuditOutcome::Failed,
                                      "live key without key material"});
        for (const auto& [name, value] : ctx.store.list_settings("intent/")) {
            t.append_audit(AuditEvent{"kmsd", "reconcile.intent", name.substr(7),
                                      AuditOutcome::Failed,
                                      "interrupted: " + std::string(value.begin(), value.end())});
            t.delete_setting(name);
        }
    });
    return report;
}

}  // namespace kms::core
