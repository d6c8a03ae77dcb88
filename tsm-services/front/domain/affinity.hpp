// Operation affinity ("HTTPS multi-session memory"): what the front remembers about an operation
// it started on one upstream instance, so that every follow-up reaches that same instance. The
// records live in the front's TSM store (table "operations", key: the front's operation id), so
// a restarted front, or a second front process on the same store, still routes the follow-ups.
// Pure C++: the codec and the id rules; the plugin does the store calls.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>

#include "routing.hpp"

namespace kms::tsm::front {

/// One operation started through the front.
struct OperationRecord {
    std::string instance;          ///< base URL of the instance that runs it
    std::string path;              ///< the route's upstream path ("/operations")
    std::string upstream_id;       ///< the instance's own operation id
    std::string action_code;       ///< the actionCode that started it
    std::string client;            ///< CN of the client that started it ("" without mTLS)
    std::int64_t created_s = 0;    ///< wall-clock seconds (Unix time): stored, so shared
    std::int64_t last_used_s = 0;  ///< by processes and restarts
};

/// The record as stored: "front-op/1\n" then each field as "<decimal length>:<bytes>\n" in the
/// order of OperationRecord. Length-prefixed, so any byte in a field (an upstream id is the
/// upstream's business) survives.
std::string encode(const OperationRecord& record);
/// The record, or nullopt when @p text is not exactly what encode() writes (wrong version, a
/// length running past the end, trailing bytes, a number that is not one).
std::optional<OperationRecord> decode(const std::string& text);

/// A front operation id: the 16 bytes (128 bits, from a CSPRNG) as 32 lower-case hex digits.
std::string operation_id(const std::array<std::uint8_t, 16>& random);
/// True for what operation_id() makes: exactly 32 characters of [0-9a-f].
bool valid_operation_id(const std::string& id);

/// True when a record last used at @p last_used_s has expired at @p now_s under @p ttl_s.
inline bool operation_expired(const OperationRecord& r, std::int64_t now_s, std::int64_t ttl_s) {
    return now_s - r.last_used_s >= ttl_s;
}

/// True when a use at @p now_s should be written back to the store: when the stored last use is
/// at least ttl/60 (and 1 s) old. A durable write per follow-up request would cost an fsync on
/// every step of every operation; this way a record expires at most ttl/60 early (one minute
/// of the default hour), and an operation in use never expires.
inline bool last_use_worth_writing(const OperationRecord& r, std::int64_t now_s,
                                   std::int64_t ttl_s) {
    const std::int64_t step = ttl_s / 60 > 1 ? ttl_s / 60 : 1;
    return now_s - r.last_used_s >= step;
}

}  // namespace kms::tsm::front
