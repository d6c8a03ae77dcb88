// The SP TSM's record of its application instances on each SE: which instance of which load
// file is on which card, in which GP application life cycle state, and which operation put it
// there (docs/sp-tsm.md, "Application instances"). A script named in the configuration's
// "instanceEffects" moves the instance of its load file to a state when an operation bound to
// an SE (its "seid") ends in success; nothing is recorded for failures, which leave the card as
// it was or in a state the next operation finds out. Pure: the plugin stores the records.
#pragma once

#include <Poco/Dynamic/Var.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "domain/bytes.hpp"
#include "script.hpp"

namespace kms::tsm::sp {

/// GP application life cycle states the SP TSM records (GPCS 2.2.1 §5.3.1), and DELETED for an
/// instance that was on the card and is gone.
enum class InstanceState { Installed, Selectable, Personalized, Locked, Deleted };

/// "INSTALLED", "SELECTABLE", "PERSONALIZED", "LOCKED", "DELETED".
std::string_view instance_state_name(InstanceState s);
std::optional<InstanceState> instance_state_from(std::string_view name);

/// The configuration's "instanceEffects": script name -> the state its success leaves. Throws
/// Error(InvalidArgument) naming the field ("instanceEffects.lock: ...") when the value is not an
/// object, a script is not among @p scripts, the script has no "loadFile" (so no instance AID),
/// or a state is unknown.
std::map<std::string, InstanceState> instance_effects_from_config(
    const Poco::Dynamic::Var& value,
    const std::map<std::string, std::shared_ptr<const script::Script>>& scripts);

/// One application instance on one SE, as stored (table "instances", key "SEID/AID").
struct InstanceRecord {
    std::string seid;       ///< upper-case hex
    std::string aid;        ///< the instance AID, upper-case hex
    std::string load_file;  ///< the catalogue entry
    InstanceState state = InstanceState::Installed;
    std::string operation;  ///< the operation that set the state
    std::string script;     ///< its script
    std::string updated;    ///< UTC, ISO 8601

    std::string to_json() const;
    /// Throws Error(Integrity) when @p json is not a record this code wrote.
    static InstanceRecord from_json(const std::string& json);
};

/// The SE's index (table "se-instances", key SEID): the instance AIDs recorded for it, sorted,
/// as a JSON array. add_to_index returns the new index text, nullopt when @p aid was in it.
std::vector<std::string> index_from_json(const std::string& json);
std::optional<std::string> add_to_index(const std::optional<std::string>& index,
                                        const std::string& aid);

}  // namespace kms::tsm::sp
