// Audit of refused requests (every 4xx): what one denial record says, and how a client that
// never authenticated is kept from flooding the audit chain. No I/O here; server.cpp writes the
// records through AuditService::record_denial.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kms::api {

/// The request id a client sent in an X-Request-Id header, or "" when the header is absent or
/// is not 1 to 64 characters of [A-Za-z0-9._:-]. An id that does not qualify is ignored, not
/// refused: it only helps find the request in the audit log and the access log.
std::string request_id_of(std::string_view header);

/// @p text with every byte outside printable ASCII (0x20..0x7E) replaced by '?', cut to at most
/// @p max bytes. Error messages and audit details go through this: they quote parts of the
/// request (ids, field names, paths), which may hold control characters, invalid UTF-8 or a
/// percent-decoded NUL, and must not turn into invalid JSON or forged log lines.
std::string printable(std::string_view text, std::size_t max);

/// What the audit record of a denial says about the request. Never the body, a header value
/// (other than the request id) or anything secret.
struct DenialFacts {
    std::string method;      ///< "GET", "POST", ...
    std::string path;        ///< the request path as received (decoded), without the query
    int status = 0;          ///< the HTTP status answered (4xx)
    std::string error;       ///< the error code name ("invalid_argument", ...)
    std::string message;     ///< the message answered to the client
    std::string request_id;  ///< from request_id_of(), may be empty
    std::string source;      ///< the client address; written for unauthenticated denials only
};

/// The record's detail: "CODE: MESSAGE | METHOD PATH -> STATUS[ request=ID][ from=ADDR]",
/// printable ASCII (see printable()), at most 716 bytes. The error code comes first, as before
/// this format existed (tests and operators search for "forbidden:", ...).
std::string denial_detail(const DenialFacts& facts);

/// Rate limit of the audit records of unauthenticated denials (no principal: a missing or
/// unknown token or certificate, an unknown route, a bad request to a public route), per client
/// address. Authenticated principals are accountable and always recorded; an anonymous client
/// could otherwise append records (each a durable write and part of an HSM-sealed batch) as
/// fast as it can send requests.
///
/// Within one window of @p window_ms per address, the first @p per_window denials are recorded
/// one by one; the next one is recorded as a "limit reached" marker; later ones are only
/// counted. When a window that suppressed denials has ended, the next call (from any address)
/// returns its count so that one summary record is written ("N denials from ADDR not
/// recorded"). At most @p max_sources addresses are tracked; past that, expired windows are
/// dropped, then every further new address shares the bucket "*".
///
/// Thread-safe (one mutex); admit() is O(1) amortized plus a sweep of expired windows at most
/// once per second.
class AnonymousDenialLimiter {
  public:
    /// @p per_window 0 disables the limit (every denial recorded).
    explicit AnonymousDenialLimiter(std::size_t per_window = 60, std::int64_t window_ms = 60000,
                                    std::size_t max_sources = 4096);

    struct Decision {
        bool record = true;          ///< write this denial's own record
        bool limit_reached = false;  ///< this denial is the first over the limit (the marker)
        /// Windows that ended with suppressed denials: (address, count), one summary record
        /// each.
        std::vector<std::pair<std::string, std::uint64_t>> summaries;
    };
    /// Decides for one unauthenticated denial from @p source at @p now_ms (a monotonic clock).
    Decision admit(const std::string& source, std::int64_t now_ms);

    /// Denials not recorded one by one since start (their counts go into summaries).
    std::uint64_t suppressed_total() const;
    std::size_t per_window() const { return m_per_window; }
    std::int64_t window_ms() const { return m_window_ms; }

  private:
    struct Window {
        std::int64_t start_ms = 0;
        std::uint64_t count = 0;       ///< denials seen in this window
        std::uint64_t suppressed = 0;  ///< of which not recorded
    };
    void sweep(std::int64_t now_ms, Decision& d);

    const std::size_t m_per_window;
    const std::int64_t m_window_ms;
    const std::size_t m_max_sources;
    mutable std::mutex m_mutex;
    std::map<std::string, Window> m_windows;
    std::int64_t m_last_sweep_ms = 0;
    std::uint64_t m_suppressed_total = 0;
};

}  // namespace kms::api
