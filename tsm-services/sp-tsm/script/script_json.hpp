// Reading a service script document (JSON, docs/service-scripts.md) into a compiled Script.
// The only file of the engine that sees Poco::JSON.
#pragma once

#include <cstddef>
#include <string_view>

#include "script.hpp"

namespace kms::tsm::script {

inline constexpr std::size_t kMaxDocumentBytes = 256 * 1024;

/// Parses and compiles @p json. Throws Error(InvalidArgument) naming the field (and the step,
/// "step 'credit': ...") when the text is not a JSON object, is larger than kMaxDocumentBytes,
/// has a field of the wrong type, an unknown field (a typo is an error, not an ignored option),
/// or fails any check of compile_script(). The Script's fingerprint is that of @p json.
Script load_script_json(std::string_view json);

}  // namespace kms::tsm::script
