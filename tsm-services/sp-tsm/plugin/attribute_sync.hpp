// sp-tsm's copy of the SEs' product private attributes, kept current by se-tsm's sync (flow B,
// DESIGN.md §8) and checked before a service script runs (flow A). The pure part: the sync
// message's validation, the stored record, and the rule that applies an update at most once
// and never lets an older one overwrite a newer one. No I/O; sp_tsm_plugin.cpp stores the
// records (table "attributes", key attribute_key()) in the TSM store.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace kms::tsm::sp {

/// Throws Error(InvalidArgument) "<field>: must be 1 to 64 of A-Z a-z 0-9 . _ -" unless
/// @p value has the syntax of a product id (se-tsm's, docs/se-tsm.md).
void check_product_id(std::string_view field, std::string_view value);
/// Upper-case hex of a SEID (4 to 32 bytes, as se-tsm registers them); throws
/// Error(InvalidArgument) naming @p field otherwise.
std::string normalize_seid(std::string_view field, std::string_view value);

/// POST /attributes: {"seq", "seid", "product", "valid", "event", "source"} from se-tsm.
struct AttributeUpdate {
    std::uint64_t seq = 0;  ///< se-tsm's outbox sequence number, >= 1
    std::string seid;       ///< upper-case hex
    std::string product;
    bool valid = false;
    std::string event;   ///< what changed it at se-tsm ("loss-report", "attribute-set", ...)
    std::string source;  ///< the se-tsm instance that sent it
};

/// Throws Error(MalformedRequest) when @p body is not a JSON object, Error(InvalidArgument)
/// with the field's name first ("seq: ...") when a field is missing, of the wrong type, out of
/// its syntax, or unknown.
AttributeUpdate parse_attribute_update(std::string_view body);

/// The state sp-tsm keeps per (SEID, product).
struct AttributeRecord {
    std::string seid, product;
    bool valid = false;
    std::uint64_t seq = 0;  ///< of the update that set `valid`
    std::string source;     ///< who sent that update
    std::string event;
    std::string updated;  ///< when sp-tsm applied it, UTC "YYYY-MM-DDTHH:MM:SSZ"
    /// Per source, the highest seq applied: updates at or below it are not applied again.
    std::map<std::string, std::uint64_t> sources;

    bool operator==(const AttributeRecord&) const = default;

    /// JSON text for the store.
    std::string to_json() const;
    /// Throws Error(Integrity) when @p text is not a stored record.
    static AttributeRecord from_json(std::string_view text);
};

/// The store key of (seid, product): "SEID/product".
std::string attribute_key(const std::string& seid, const std::string& product);

/// Applies @p update to @p stored (std::nullopt: sp-tsm knows nothing of the pair yet). The
/// update is applied when its seq is above the highest seq applied from its source, and then
/// replaces valid, seq, source, event and updated (= @p now); otherwise nothing changes
/// (applied false): a duplicate delivery or an older update that arrives late. Updates from
/// different sources are not ordered against each other: the last applied wins.
struct ApplyResult {
    AttributeRecord record;
    bool applied = false;
};
ApplyResult apply_update(const std::optional<AttributeRecord>& stored,
                         const AttributeUpdate& update, const std::string& now);

/// {"seid", "product", "valid", "applied"}: the answer to POST /attributes.
std::string update_answer_json(const AttributeRecord& r, bool applied);
/// {"seid", "product", "valid", "seq", "source", "event", "updated"}: GET /attributes/...
std::string record_answer_json(const AttributeRecord& r);

/// Whether flow A may go on: a record that says valid. No record is "no" (fail closed).
inline bool attribute_allows(const std::optional<AttributeRecord>& r) noexcept {
    return r && r->valid;
}

}  // namespace kms::tsm::sp
