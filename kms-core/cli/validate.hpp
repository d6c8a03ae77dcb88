// Client-side checks of kmsctl's arguments: hex strings, numbers in range, names from fixed
// lists (algorithms, usages, roles, states, modes), RFC 3339 times. Each failure throws
// UsageError (exit 1) naming the option and what was expected, before anything is sent.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace kms::cli {

/// Checks that @p text is hex (either case, even length; empty is allowed) and returns it in
/// upper case. @p field names the option in the message, e.g. "--data".
std::string require_hex(std::string_view field, std::string_view text);

/// Parses a decimal integer in [@p min, @p max]. No sign, spaces or leading '+'.
std::int64_t require_int(std::string_view field, std::string_view text, std::int64_t min,
                         std::int64_t max);

/// Returns the entry of @p choices equal to @p text ignoring ASCII case ("aes-256" gives
/// "AES-256"); otherwise throws, listing the choices.
std::string require_choice(std::string_view field, std::string_view text,
                           const std::vector<std::string>& choices);

/// Checks an RFC 3339 date-time (YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)) with fields
/// in range, and returns it in the form kmsd reads: UTC with a "Z", the fraction cut to
/// milliseconds ("2026-11-26T07:30:00+01:00" gives "2026-11-26T06:30:00Z").
std::string require_rfc3339(std::string_view field, std::string_view text);

/// Checks a principal name: 1 to 64 of [a-z0-9._-] (the server's rule).
std::string require_principal_name(std::string_view text);

/// Checks a key id: 1 to 256 printable ASCII characters, no spaces.
std::string require_key_id(std::string_view text);

/// Checks a secret hex value (a key component): hex, of one of @p byte_lengths bytes. Messages
/// name positions and lengths, never the value. Returns it in upper case.
std::string require_secret_hex(std::string_view field, std::string_view text,
                               const std::vector<std::size_t>& byte_lengths);

/// Checks a key check value: 3 bytes of hex (6 digits). Returns it in upper case.
std::string require_kcv(std::string_view field, std::string_view text);

/// Checks the id of a kmsd object (a ceremony, an approval, a KEK): 1 to 256 printable ASCII
/// characters without spaces; @p field names it in the message.
std::string require_object_id(std::string_view field, std::string_view text);

/// Checks a certificate serial number: hex, 1 to 20 bytes (RFC 5280 §4.1.2.2). Upper case.
std::string require_serial(std::string_view field, std::string_view text);

/// Splits "a,b,,c" into {"a","b","c"} (empty parts are dropped).
std::vector<std::string> split_commas(std::string_view text);

/// The names the server accepts, from the domain model (kms-core/domain).
std::vector<std::string> key_algorithm_names();
std::vector<std::string> usage_names();
std::vector<std::string> role_names();
std::vector<std::string> key_state_names();
std::vector<std::string> cipher_mode_names();
std::vector<std::string> mac_algorithm_names();
std::vector<std::string> sign_algorithm_names();
std::vector<std::string> revocation_reason_names();
/// Issue 3: ceremonies take the symmetric algorithms a component can be entered for.
std::vector<std::string> ceremony_algorithm_names();
std::vector<std::string> export_format_names();  ///< AES-KW AES-KWP RSA-OAEP-SHA256 TR-31
std::vector<std::string> import_format_names();  ///< the export formats and SPKI
std::vector<std::string> dual_control_operation_names();
std::vector<std::string> approval_state_names();
std::vector<std::string> cert_profile_names();
std::vector<std::string> cert_status_names();
std::vector<std::string> policy_operation_names();

}  // namespace kms::cli
