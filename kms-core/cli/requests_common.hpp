// Internal to kmsctl's request builders (requests.cpp, requests_issue3.cpp): JSON bodies in
// insertion order, query strings, and the multi-valued name options.
#pragma once

#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "args.hpp"
#include "requests.hpp"

namespace kms::cli::detail {

/// A JSON object that keeps its members in insertion order, so bodies read naturally.
Poco::JSON::Object ordered();

std::string to_text(const Poco::JSON::Object& obj);

/// Builds "?a=1&b=2" from the pairs that have a value (values percent-encoded).
std::string query(const std::vector<std::pair<std::string, std::optional<std::string>>>& params);

ApiCall get(std::string target, bool needs_auth = true);
ApiCall post(std::string target, const Poco::JSON::Object& body);
ApiCall put(std::string target, const Poco::JSON::Object& body);

/// The values of a repeatable option given repeatedly and/or comma-separated, each matched
/// against @p choices (ignoring case), without duplicates. Throws UsageError when a value is
/// unknown or none is given.
std::vector<std::string> collect_choices(const Invocation& inv, std::string_view option,
                                         const std::vector<std::string>& choices);

Poco::JSON::Array to_array(const std::vector<std::string>& items);

/// The call of an issue-3 command (policies, export, import, ceremonies, dual control, CA),
/// or nullopt when @p inv is another command. Throws UsageError like build_call.
std::optional<ApiCall> build_issue3_call(const Invocation& inv);

/// The call of a GlobalPlatform command (gp ...), or nullopt when @p inv is another command.
/// Throws UsageError like build_call: bad hex, lengths (one-byte i and level, 8-byte host
/// challenge, 5 to 16-byte AID, 10-byte KDD, APDUs of 4 bytes or more), numbers out of range,
/// static keys and KMC mixed, more than 256 APDUs, an unreadable --file.
std::optional<ApiCall> build_gp_call(const Invocation& inv);

/// The call of `backup create` (POST /v1/backups), or nullopt for another command. backup
/// verify and restore make no call (backup_commands.cpp runs them locally).
std::optional<ApiCall> build_backup_call(const Invocation& inv);

/// The lines of an APDU script with their 1-based line numbers: spaces, tabs and CRs removed,
/// blank lines and lines starting with '#' skipped.
std::vector<std::pair<std::size_t, std::string>> script_lines(std::string_view text);

/// Reads a PKCS#10 CSR (PEM) from @p path for @p field; refuses a file without a PEM
/// certificate request.
std::string read_csr_file(std::string_view field, const std::string& path);

/// Checks `--trusted` against the usages: a trusted key wraps and/or unwraps keys, and may also
/// derive (a GlobalPlatform card DEK or KMC); nothing else.
void check_trusted_usage(const std::vector<std::string>& usages);

}  // namespace kms::cli::detail
