// The pure rules of the outbox delivery (see outbox_sync.hpp).
#include "outbox_sync.hpp"

#include <algorithm>
#include <cstdio>

namespace kms::tsm::se {
namespace {

std::string json_string(const std::string& s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (static_cast<unsigned char>(c) < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned char>(c));
            out += buf;
        } else {
            out += c;
        }
    }
    return out + "\"";
}

}  // namespace

std::string sync_message_json(const OutboxEntry& e, const std::string& source) {
    return "{\"seq\":" + std::to_string(e.seq) + ",\"seid\":" + json_string(e.seid) +
           ",\"product\":" + json_string(e.product) + ",\"valid\":" + (e.valid ? "true" : "false") +
           ",\"event\":" + json_string(e.event) + ",\"source\":" + json_string(source) + "}";
}

DeliveryResult classify_sync_status(int status) noexcept {
    if (status >= 200 && status < 300) return DeliveryResult::Delivered;
    if (status == 408 || status == 429) return DeliveryResult::Failed;
    if (status >= 400 && status < 500) return DeliveryResult::Rejected;
    return DeliveryResult::Failed;
}

std::uint64_t backoff_ms(std::uint64_t retry_ms, std::uint64_t max_backoff_ms,
                         std::uint32_t failures) noexcept {
    std::uint64_t wait = std::min(retry_ms, max_backoff_ms);
    for (std::uint32_t i = 1; i < failures && wait < max_backoff_ms; ++i)
        wait = wait > max_backoff_ms / 2 ? max_backoff_ms : wait * 2;
    return wait;
}

}  // namespace kms::tsm::se
