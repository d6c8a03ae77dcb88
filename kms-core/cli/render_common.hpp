// Internal to kmsctl's renderers (render.cpp, render_issue3.cpp): reading fields of an answer
// for display, and the printers both files use.
#pragma once

#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>

#include <initializer_list>
#include <ostream>
#include <string>
#include <utility>

#include "render.hpp"
#include "table.hpp"

namespace kms::cli::detail {

inline constexpr const char* kNone = "-";

/// A JSON value as text: "-" when empty, yes/no for booleans, arrays joined with ", ".
std::string scalar(const Poco::Dynamic::Var& v);
/// The field @p key of @p o as text: "-" when absent or null (see scalar()).
std::string field(const Poco::JSON::Object::Ptr& o, const std::string& key);
bool present(const Poco::JSON::Object::Ptr& o, const std::string& key);
/// The object / array field @p key, or nullptr.
Poco::JSON::Object::Ptr child(const Poco::JSON::Object::Ptr& o, const std::string& key);
Poco::JSON::Array::Ptr list(const Poco::JSON::Object::Ptr& o, const std::string& key);
/// Prints a table with every line indented by two spaces (a table inside a labelled block).
void print_indented(const Table& t, std::ostream& out);
/// A key object: labelled lines, then versions, counters and history.
void print_key(const Poco::JSON::Object::Ptr& key, std::ostream& out);
/// A new principal (principal create, approval execute of principal.create).
void print_principal_created(const Poco::JSON::Object::Ptr& answer, const RenderContext& ctx,
                             std::ostream& out, std::ostream& err);
/// Labelled lines "Label: field" for the given (label, JSON field) pairs.
void print_labels(const Poco::JSON::Object::Ptr& answer,
                  std::initializer_list<std::pair<const char*, const char*>> fields,
                  std::ostream& out);

/// The human output of the issue-3 commands (see render_answer()); returns std::nullopt for
/// other commands.
std::optional<ExitCode> render_issue3(CommandId command, const Poco::JSON::Object::Ptr& answer,
                                      const RenderContext& ctx, std::ostream& out,
                                      std::ostream& err);

/// The human output of the GlobalPlatform commands (render_gp.cpp); std::nullopt for others.
std::optional<ExitCode> render_gp(CommandId command, const Poco::JSON::Object::Ptr& answer,
                                  std::ostream& out, std::ostream& err);

}  // namespace kms::cli::detail
