// The start-up reconciler: after a crash, store and HSM must agree. With key-block storage the
// HSM holds no per-key state (working keys exist there only as session objects), so the
// persistent pairs to check are: intents left by interrupted intent-act-commit sequences, token
// objects the store does not know (HSM-side orphans), and live keys without key material
// (store-side orphans). Findings are reported and audited; nothing is deleted silently.
#pragma once

#include <string>
#include <vector>

#include "services/context.hpp"

namespace kms::core {

struct ReconcileReport {
    std::vector<std::string> hsm_orphans;    ///< token objects unknown to the store
    std::vector<std::string> store_orphans;  ///< live keys whose current version has no block
    std::vector<std::string> open_intents;   ///< intents found (and closed) at start-up
    bool clean() const {
        return hsm_orphans.empty() && store_orphans.empty() && open_intents.empty();
    }
};

/// @p foreign_token_objects: what the HSM adapter lists besides the master keys.
ReconcileReport reconcile(ServiceContext& ctx,
                          const std::vector<std::string>& foreign_token_objects);

}  // namespace kms::core
