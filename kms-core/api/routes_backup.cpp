// Route: POST /v1/backups, the signed online backup (services/backup.hpp). Admin only; the
// answer is the archive itself (application/x-tar), which kmsctl writes atomically.
#include "api/api.hpp"
#include "api/json.hpp"
#include "domain/error.hpp"
#include "services/context.hpp"

namespace kms::api {

void add_backup_routes(Router& router, ApiServices& s) {
    router.add("POST", "/v1/backups", "backup.create", BodyPolicy::Optional, [&s](Request& r) {
        if (s.backup == nullptr && s.backup_refusal.empty())
            throw Error(ErrorCode::Unsupported, "backups are not available in this kmsd");
        std::string label;
        if (r.body) {
            Body b(r.body, {"label"});
            label = b.opt_string("label", 128).value_or("");
        }
        if (s.backup == nullptr) {  // e.g. a PostgreSQL store: the same checks first
            core::require_role(*r.caller, {core::Role::Admin}, "making a backup");
            throw Error(ErrorCode::Conflict, s.backup_refusal);
        }
        core::BackupResult result = s.backup->create(*r.caller, label);
        return Reply{200, std::move(result.archive), "application/x-tar"};
    });
}

}  // namespace kms::api
