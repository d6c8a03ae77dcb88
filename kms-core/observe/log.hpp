// The daemons' one logger: every line kmsd writes (start-up, reconcile, self-test, errors, one
// access line per request) goes through it, as plain text for a terminal or as one JSON object
// per line for journald and log shippers (docs/operations.md, "Monitoring and
// troubleshooting"). tsmd uses its JSON line format (json_line()).
//
// Text format (the default, unchanged from before the logger): informational lines go to the
// standard output as "<program>: <msg>"; warnings and errors to the standard error as
// "<program>: warning: <msg>" and "<program>: error: <msg>"; request lines (access and request
// errors) to the standard error without the prefix, as
// "access <principal> <method> <path> <status> request=<id>".
//
// JSON format: every line goes to the standard output (journald takes both streams alike; one
// stream keeps the order), one object per line, keys in this order:
//   {"time":"2026-11-26T20:01:43.123Z","level":"info","msg":"...", <fields>}
// time is RFC 3339 (§5.6) in UTC with milliseconds; level is "info", "warning" or "error";
// fields are the caller's, strings or integers. An access line adds request_id, principal,
// method, route (the route template, "/v1/keys/{id}", or "unmatched"), path, status and
// duration_ms. Strings are escaped as RFC 8259 §7 asks (control characters as \u00XX), and
// bytes outside printable ASCII are replaced by '?' before that, so a line is always valid
// UTF-8 JSON whatever a client put in its request.
//
// Secrets: the logger cannot tell a secret from a name. Callers pass only names, ids, paths,
// statuses and error messages (which by the convention of kms::Error never hold a secret);
// never a request body, a header value other than X-Request-Id, a PIN or a token.
// tests/appliance/logs_test.cpp checks this on a real kmsd.
//
// Thread safety: every member may be called from any thread; each line is written whole under
// one mutex (a line is I/O anyway; the request path's counters do not take it, see metrics.hpp).
#pragma once

#include <cstdint>
#include <iosfwd>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace kms::observe {

enum class LogFormat { Text, Json };
enum class LogLevel { Info, Warning, Error };

/// "text" or "json"; nullopt for anything else.
std::optional<LogFormat> parse_log_format(std::string_view name);

/// One key and its value (a string or an integer) of a JSON log line.
struct LogField {
    std::string key;
    std::variant<std::string, std::int64_t> value;
};

/// What an access line reports about one request.
struct AccessRecord {
    std::string request_id;  ///< the client's valid X-Request-Id or one kmsd made
    std::string principal;   ///< "-" when not authenticated
    std::string method;
    std::string route;  ///< route template or "unmatched"
    std::string path;   ///< the request path (ids are not secret), truncated to 256 bytes
    int status = 0;
    double duration_ms = 0;
};

class Logger {
  public:
    /// Writes to @p out (informational lines, and everything in JSON) and @p err (text
    /// warnings, errors, request lines). Both streams must outlive the logger. @p program
    /// prefixes text lines ("kmsd").
    Logger(LogFormat format, std::ostream& out, std::ostream& err, std::string program = "kmsd");
    Logger(const Logger&) = delete;
    Logger& operator=(const Logger&) = delete;

    LogFormat format() const noexcept { return m_format; }

    void info(std::string_view msg, const std::vector<LogField>& fields = {});
    void warning(std::string_view msg, const std::vector<LogField>& fields = {});
    void error(std::string_view msg, const std::vector<LogField>& fields = {});
    /// A line of the request path that is not the access line (a 5xx error, an audit write
    /// failure): text "<msg>" on the standard error without the "kmsd: " prefix, as before.
    void request_line(LogLevel level, std::string_view msg, const std::vector<LogField>& fields);
    /// The one access line of a request.
    void access(const AccessRecord& record);

    /// The JSON line (without the newline) for @p level, @p msg and @p fields at @p time_ms
    /// (milliseconds since the epoch). Public for tests.
    static std::string json_line(std::int64_t time_ms, LogLevel level, std::string_view msg,
                                 const std::vector<LogField>& fields);

  private:
    void write(std::ostream& stream, const std::string& line);

    LogFormat m_format;
    std::string m_prefix;  // "kmsd: "
    std::ostream& m_out;
    std::ostream& m_err;
    std::mutex m_mutex;
};

/// RFC 3339 UTC with milliseconds: "2026-11-26T20:01:43.123Z".
std::string rfc3339_ms(std::int64_t time_ms);

}  // namespace kms::observe
