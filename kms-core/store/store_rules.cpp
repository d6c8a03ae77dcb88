// What both store backends share (store_rules.hpp).
#include "store/store_rules.hpp"

#include <string>

#include "domain/error.hpp"
#include "store/record_codec.hpp"

namespace kms::store {

bool is_reserved_setting(std::string_view name) {
    return name == kSchemaVersionSetting || name.starts_with("store/");
}

void check_index_key(std::string_view value, const char* what) {
    if (value.empty() || value.size() > kMaxIndexKeyBytes)
        throw Error(ErrorCode::InvalidArgument, std::string(what) + " must be 1.." +
                                                    std::to_string(kMaxIndexKeyBytes) + " bytes");
}

void check_setting_name(std::string_view name) {
    check_index_key(name, "setting name");
    for (char c : name)
        if (c < 0x21 || c > 0x7E)
            throw Error(ErrorCode::InvalidArgument, "setting name must be printable ASCII");
    if (is_reserved_setting(name))
        throw Error(ErrorCode::InvalidArgument, "setting name is reserved for the store");
}

void check_table_key(std::string_view key) {
    if (key.empty() || key.size() > kMaxIndexKeyBytes)
        throw Error(ErrorCode::InvalidArgument, "record key must have 1 to 255 bytes");
    for (char c : key)
        if (c < 0x21 || c > 0x7E)
            throw Error(ErrorCode::InvalidArgument, "record key must be printable ASCII");
}

void apply_use_counters(core::WriteTxn& txn,
                        const std::vector<std::pair<std::string, core::UseCounters>>& deltas) {
    for (const auto& [id, delta] : deltas) {
        if (delta.zero()) continue;
        auto key = txn.find_key(id);
        if (!key) continue;
        key->counters += delta;
        txn.put_key(*key);
        txn.append_audit(core::AuditEvent{"kmsd", "key.use", id, core::AuditOutcome::Success,
                                          use_counter_detail(delta)});
    }
}

}  // namespace kms::store
