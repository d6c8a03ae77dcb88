// The pure rules of se-tsm's delivery of outbox entries to sp-tsm (flow B's sync, DESIGN.md §8):
// the message sp-tsm receives, how an HTTP status settles an attempt, and the retry backoff.
// No I/O: the worker that sends (plugin/outbox_delivery.hpp) applies these rules.
#pragma once

#include <cstdint>
#include <string>

#include "se_model.hpp"
#include "se_tsm_service.hpp"

namespace kms::tsm::se {

/// The body of `POST <target>/attributes` for @p entry, as JSON text:
/// {"seq": n, "seid": "HEX", "product": "transit", "valid": false, "event": "loss-report",
///  "source": @p source}. @p source names the se-tsm instance (sp-tsm orders updates per
/// source by seq). Strings are escaped, although the domain's syntax leaves nothing to escape.
std::string sync_message_json(const OutboxEntry& entry, const std::string& source);

/// How sp-tsm's HTTP status settles one attempt: 2xx Delivered; 408 (timeout) and 429 (too
/// many requests) Failed, as any 5xx or other status (tried again later); any other 4xx
/// Rejected (the entry is refused as it is: a retry would get the same answer).
DeliveryResult classify_sync_status(int status) noexcept;

/// The wait before the next attempt after @p failures consecutive failed attempts (>= 1):
/// @p retry_ms doubled per failure after the first, at most @p max_backoff_ms
/// (retry_ms, 2 retry_ms, 4 retry_ms, ...). Never overflows.
std::uint64_t backoff_ms(std::uint64_t retry_ms, std::uint64_t max_backoff_ms,
                         std::uint32_t failures) noexcept;

}  // namespace kms::tsm::se
