// Human-readable output of kmsctl: one renderer per kind of answer (key details, key table,
// principal table, audit records, HSM info, crypto results). --json bypasses all of this.
#pragma once

#include <Poco/JSON/Object.h>

#include <map>
#include <optional>
#include <ostream>
#include <string>

#include "command_table.hpp"
#include "exit_codes.hpp"

namespace kms::cli {

/// What the runner did locally that the output should mention.
struct RenderContext {
    /// Answer fields the runner wrote to files (--token-out, --out, --cert-out, --chain-out):
    /// JSON field name ("token", "wrapped", "keyBlock", "certificate", "chain") -> file. Such
    /// a field is not printed; the output says where it went.
    std::map<std::string, std::string> written_to;

    /// The file @p json_field was written to, if any.
    std::optional<std::string> written(const std::string& json_field) const {
        const auto it = written_to.find(json_field);
        if (it == written_to.end()) return std::nullopt;
        return it->second;
    }
};

/// The approval of a request kmsd put under dual control (HTTP 202), for a person, with the
/// next steps on @p err.
void render_pending(const Poco::JSON::Object::Ptr& approval, std::ostream& out, std::ostream& err);

/// Prints @p answer, the JSON object of a successful (2xx) answer to @p command, for a person:
/// labelled lines for single objects, aligned tables for lists. Hints (such as "more keys
/// follow") go to @p err so @p out stays clean. Returns ExitCode::VerifyNegative when the answer
/// is a verification that came out negative (mac-verify, verify, audit verify), else Ok.
/// Missing or null fields print as "-"; unknown fields are ignored.
ExitCode render_answer(CommandId command, const Poco::JSON::Object::Ptr& answer,
                       const RenderContext& ctx, std::ostream& out, std::ostream& err);

/// Whether a verification answer says valid (mac-verify, verify: "valid"; audit verify:
/// "valid"). Used for the exit code in --json mode too.
bool answer_is_valid(const Poco::JSON::Object::Ptr& answer);

}  // namespace kms::cli
