// Reading a service script document (JSON, docs/service-scripts.md) into a compiled Script.
// The only file of the engine that sees Poco::JSON.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string_view>

#include "script.hpp"

namespace kms::tsm::script {

inline constexpr std::size_t kMaxDocumentBytes = 256 * 1024;

/// Parses and compiles @p json. Throws Error(InvalidArgument) naming the field (and the step,
/// "step 'credit': ...") when the text is not a JSON object, is larger than kMaxDocumentBytes,
/// has a field of the wrong type, an unknown field (a typo is an error, not an ignored option),
/// or fails any check of compile_script(). The Script's fingerprint is that of @p json.
Script load_script_json(std::string_view json);

/// The host's catalogue as the loader sees it: the facts of the load file named @p name, or
/// nullopt when the catalogue has no such entry. Called once per document, at load time.
using LoadFileResolver = std::function<std::optional<LoadFileFacts>(std::string_view name)>;

/// As above, for a document that may name a load file (the top-level "loadFile"): @p resolver
/// supplies its facts (the loadFile.* constants, the size `load` steps cut into blocks).
/// InvalidArgument "loadFile: 'x' is not in the catalogue" when it returns nullopt, or when the
/// document names a load file and @p resolver is empty. The fingerprint covers @p json and the
/// facts, so a run saved before the catalogue's file changed does not restore after it.
Script load_script_json(std::string_view json, const LoadFileResolver& resolver);

}  // namespace kms::tsm::script
