// Route: POST /v1/backups, the signed online backup (services/backup.hpp). Admin only; the
// answer is the archive itself (application/x-tar), which kmsctl writes atomically.
#include "api/api.hpp"
#include "api/json.hpp"
#include "domain/error.hpp"

namespace kms::api {

void add_backup_routes(Router& router, ApiServices& s) {
    router.add("POST", "/v1/backups", "backup.create", BodyPolicy::Optional, [&s](Request& r) {
        if (s.backup == nullptr)
            throw Error(ErrorCode::Unsupported, "backups are not available in this kmsd");
        std::string label;
        if (r.body) {
            Body b(r.body, {"label"});
            label = b.opt_string("label", 128).value_or("");
        }
        core::BackupResult result = s.backup->create(*r.caller, label);
        return Reply{200, std::move(result.archive), "application/x-tar"};
    });
}

}  // namespace kms::api
