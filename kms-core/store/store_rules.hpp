// What every MetadataStore backend does the same way, whatever the engine underneath (LMDB in
// store/, PostgreSQL in store/pg/): the rules for what callers name, so that a name refused by
// one is refused by the other with the same kms::Error and message, and the usage-counter flush.
// No engine headers here.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ports/metadata_store.hpp"

namespace kms::store {

/// Index keys (key names, token hashes, setting names) are at most this long. It keeps LMDB
/// keys well under its default 511-byte limit (mdb_env_get_maxkeysize), and PostgreSQL keeps
/// the same bound so that both backends accept the same names.
inline constexpr std::size_t kMaxIndexKeyBytes = 255;

/// Reserved settings, written only by the store itself. "schema_version": ASCII decimal,
/// e.g. "3". "store/audit_head": the audit chain's head (LMDB; PostgreSQL keeps it in a table).
inline constexpr std::string_view kSchemaVersionSetting = "schema_version";
inline constexpr std::string_view kAuditHeadSetting = "store/audit_head";

/// True for the setting names put_setting()/delete_setting() must refuse: "schema_version"
/// and everything under "store/".
bool is_reserved_setting(std::string_view name);

/// Throws Error(InvalidArgument) "<what> must be 1..255 bytes" unless @p value fits an index.
void check_index_key(std::string_view value, const char* what);

/// Throws Error(InvalidArgument) unless @p name is a setting a caller may write: 1..255
/// printable ASCII bytes (0x21..0x7E) and not reserved.
void check_setting_name(std::string_view name);

/// Throws Error(InvalidArgument) unless @p key (a record table's key) is 1..255 printable
/// ASCII bytes.
void check_table_key(std::string_view key);

/// MetadataStore::add_use_counters() inside @p txn: each key of @p deltas that exists gets its
/// counters added and one "key.use" audit record (detail: record_codec.hpp
/// use_counter_detail()); zero deltas and unknown ids are skipped.
void apply_use_counters(core::WriteTxn& txn,
                        const std::vector<std::pair<std::string, core::UseCounters>>& deltas);

}  // namespace kms::store
