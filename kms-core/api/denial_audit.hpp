// Audit of refused requests (every 4xx): what one denial record may quote from the request.
// No I/O here; server.cpp writes the records through AuditService::record_denial.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace kms::api {

/// @p text with every byte outside printable ASCII (0x20..0x7E) replaced by '?', cut to at most
/// @p max bytes. Error messages and audit details go through this: they quote parts of the
/// request (ids, field names, paths), which may hold control characters, invalid UTF-8 or a
/// percent-decoded NUL, and must not turn into invalid JSON or forged log lines.
std::string printable(std::string_view text, std::size_t max);

}  // namespace kms::api
