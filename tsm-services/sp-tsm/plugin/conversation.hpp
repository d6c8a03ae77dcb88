// The SP TSM's HTTPS conversation with the wallet, its pure part: request validation, the
// mapping of engine actions to what the wallet sees, and the stored operation record. No I/O;
// the plugin (sp_tsm_plugin.cpp) does the KMS calls and the store.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "domain/bytes.hpp"
#include "script_run.hpp"

namespace kms::tsm::sp {

/// POST /operations {"script", "variables"?, "seid"?, "productId"?, "actionCode"?}.
struct StartRequest {
    std::string script;
    std::map<std::string, std::string, std::less<>> variables;  ///< text values for ScriptRun
    std::optional<Bytes> seid;
    std::optional<std::string> product_id;   ///< the SP product whose attribute is checked
    std::optional<std::string> action_code;  ///< the front's routing code, only logged
};

/// POST /operations/{id}/responses {"seq", "response"}.
struct ResponseRequest {
    std::uint64_t seq = 0;
    Bytes response;  ///< the card's answer: data || SW1 SW2 (at least 2 bytes)
};

/// Throw Error(MalformedRequest) when @p body is not a JSON object, Error(InvalidArgument)
/// with the field's name first in the message ("seq: ...", "response: ...") when a field is
/// missing, of the wrong type or invalid. Variables may be strings or non-negative integers.
StartRequest parse_start_request(std::string_view body);
ResponseRequest parse_response_request(std::string_view body);

/// What the wallet is asked to do, as JSON text: {"kind":"apdu","apdu":HEX} or
/// {"kind":"done","outcome":..,"variables":{name: text}}.
std::string wallet_apdu_json(ByteView apdu);
std::string wallet_done_json(const script::Done& done);

/// What the plugin is waiting for from the wallet.
enum class Waiting : std::uint8_t {
    CardResponse = 0,          ///< the answer to the engine's SendApdu `engine_seq`
    InitializeUpdate = 1,      ///< the answer to the KMS's INITIALIZE UPDATE (channel `engine_seq`)
    ExternalAuthenticate = 2,  ///< the answer to the KMS's EXTERNAL AUTHENTICATE
    Nothing = 3,               ///< the run has ended
    PutKeyResponse = 4         ///< the answer to kmsd's PUT KEY (engine action `engine_seq`)
};

/// One operation as stored in the TSM store (table "operations", key: the operation id), as
/// JSON text. `state` is ScriptRun::serialize(); `answer` is the JSON text of the last answer
/// the wallet got for `seq` (the current action), `answered_*` the last answered request, so
/// a retry gets the same answer.
struct OperationRecord {
    std::string id;
    std::string script;
    Bytes state;
    std::uint64_t seq = 1;  ///< the wallet's current action number
    Waiting waiting = Waiting::CardResponse;
    std::uint64_t engine_seq = 0;  ///< the engine action the wallet's answer belongs to
    bool secure = false;           ///< the pending card APDU was wrapped (unwrap its answer)
    std::string session;           ///< the KMS GP session, when a channel is open/opening
    std::uint8_t level = 0x01;     ///< security level of the channel being opened
    std::string action;            ///< JSON text of the current wallet action
    std::uint64_t answered_seq = 0;
    Bytes answered_response;
    std::string outcome;  ///< once done

    std::string to_json() const;
    /// Throws Error(Integrity) when @p text is not a record.
    static OperationRecord from_json(std::string_view text);
};

/// {"seq": seq, "action": action} (with "operation": id when @p with_id).
std::string answer_json(const OperationRecord& r, bool with_id);

/// The retry rule of POST .../responses: what to do with @p request given @p record.
enum class Verdict { Advance, Replay, Conflict, Ended, Unknown };
Verdict judge(const OperationRecord& record, const ResponseRequest& request);

}  // namespace kms::tsm::sp
