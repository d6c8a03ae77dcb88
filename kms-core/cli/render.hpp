// Human-readable output of kmsctl: one renderer per kind of answer (key details, key table,
// principal table, audit records, HSM info, crypto results). --json bypasses all of this.
#pragma once

#include <Poco/JSON/Object.h>

#include <optional>
#include <ostream>
#include <string>

#include "command_table.hpp"
#include "exit_codes.hpp"

namespace kms::cli {

/// What the runner did locally that the output should mention.
struct RenderContext {
    /// principal create --token-out: the file the new token was written to (it is then not
    /// printed).
    std::optional<std::string> token_written_to;
};

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
