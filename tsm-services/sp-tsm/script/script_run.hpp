// ScriptRun: one execution of a compiled service script, as a state machine driven by the host
// (the SP TSM), which relays APDUs to the card through the wallet and asks the KMS for MACs,
// ciphertexts and secure channels. Pure C++; the state serializes to bytes so that a run spans
// HTTPS requests and restarts.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "domain/bytes.hpp"
#include "script.hpp"

namespace kms::tsm::script {

/// Send this command APDU to the card. When @c secure is set the host wraps it through the
/// run's secure channel session (KMS .../wrap) before sending, and unwraps the card's answer
/// (KMS .../unwrap) before feed_response(): the engine only sees plain APDUs.
struct SendApdu {
    Bytes apdu;
    bool secure = false;
};

/// Ask the KMS for @c operation with key @c key (a reference the host resolves under the SP's
/// policy) and @c algorithm over @c input; feed the raw result (MAC or ciphertext bytes) back
/// with feed_kms_result().
struct KmsRequest {
    KmsOperation operation = KmsOperation::Mac;
    std::string key;
    std::string algorithm;
    Bytes input;
};

/// Open a GlobalPlatform secure channel with the card through the KMS (the KMS builds
/// INITIALIZE UPDATE and EXTERNAL AUTHENTICATE; the host relays them). Report the result with
/// feed_channel_result().
struct OpenSecureChannel {
    std::string protocol;  ///< "SCP02" or "SCP03"
    std::string keyset;
    std::uint8_t level = 0x01;
};

/// Send LOAD block @c block of the script's load file @c load_file (GPCS 2.2.1 §11.6): the host,
/// which holds the file, builds the command with load_command(file, block_size, block) and
/// then treats it as a SendApdu (wrapped when @c secure, the answer unwrapped and fed with
/// feed_response()). The engine checks each answer for 9000 (else the step's onFail) and asks
/// for the next block until the last, @c blocks - 1, which carries P1 '80'.
struct SendLoadBlock {
    std::string load_file;  ///< the catalogue entry (the document's "loadFile")
    std::size_t block_size = kDefaultLoadBlockSize;
    std::size_t block = 0;   ///< P2
    std::size_t blocks = 0;  ///< LOAD commands in all
    bool secure = false;
};

/// Have the KMS build PUT KEY (GPCS 2.2.1 §11.8) of the keys the host maps from @c keys, inside
/// the run's open secure channel (kmsd encrypts them under the card's DEK and wraps the
/// command), send it to the card, and have the KMS check the card's answer (key version and
/// KCVs). Feed whether all of that succeeded with feed_put_key_result(); false ends the run with
/// the step's onFail.
struct PutKey {
    std::vector<std::string> keys;  ///< key references, in key identifier order
    std::uint8_t key_version = 0;   ///< the new key version
    std::uint8_t replace_version = 0;
    std::uint8_t key_id = 1;
};

/// A value with its type, as Done reports variables.
struct Value {
    VarType type = VarType::Hex;
    Bytes bytes;
    std::string text() const { return value_text(type, bytes); }
    bool operator==(const Value&) const = default;
};

/// The run has ended. @c outcome is "success" or a failure name: one from the script, or one of
/// the engine's own: "step-limit-exceeded", "loop-bound-exceeded", "command-too-long".
struct Done {
    std::string outcome;
    std::map<std::string, Value> variables;  ///< every variable set when the run ended
    bool success() const { return outcome == kSuccess; }
};

/// What the host must do next. @c seq numbers the actions of a run from 1; the host echoes it
/// with the answer so a retried answer is recognised.
struct Action {
    std::uint64_t seq = 0;
    std::string step_id;
    std::variant<SendApdu, KmsRequest, OpenSecureChannel, Done, SendLoadBlock, PutKey> what;
};

/// Engine-defined outcomes.
inline constexpr std::string_view kStepLimitExceeded = "step-limit-exceeded";
inline constexpr std::string_view kLoopBoundExceeded = "loop-bound-exceeded";

/// One execution of a script. Not thread-safe: the host serializes the requests of one run
/// (it persists the state between them anyway). Movable; the script is shared and immutable.
///
/// Idempotence: an answer fed with the sequence number of an action that was already answered
/// changes nothing and returns the current action, so a wallet that retries an HTTPS request
/// whose answer was lost gets the same next step and the card is never sent a command twice by
/// the engine (a CREDIT runs at most once per run). Feeding it different bytes than were
/// accepted for that number is refused (Conflict).
class ScriptRun {
  public:
    /// Starts a run of @p script with @p inputs (name -> text: decimal for integers, hex for
    /// hex and AID). Throws Error(InvalidArgument) when an input is missing, unknown or not
    /// valid for its type. Executes up to the first action.
    ScriptRun(std::shared_ptr<const Script> script,
              const std::map<std::string, std::string, std::less<>>& inputs);

    /// Restores a run saved with serialize(). Throws Error(Integrity) when @p state is
    /// truncated, corrupt or was saved for another script (name, version or fingerprint).
    static ScriptRun restore(std::shared_ptr<const Script> script, ByteView state);

    /// The current action (Done once the run has ended; it stays Done).
    const Action& next() const { return m_action; }
    bool done() const { return std::holds_alternative<Done>(m_action.what); }
    /// The variable @p name as the run holds it now; std::nullopt when the script has no such
    /// variable or it is not set yet. For hosts that act on a value between steps (se-tsm's
    /// key rotation reads the captured "kdd" when it has the new keys made for a put-key).
    std::optional<Value> variable(std::string_view name) const;

    /// The card's response (data || SW1 SW2, unwrapped if secure) to SendApdu @p seq.
    /// Returns the next action. When @p seq is the last SendApdu already answered (a retry) and
    /// @p response is the same, returns the current action and changes nothing.
    /// Throws Error(InvalidArgument) when @p seq is not the current action, not a SendApdu, or
    /// the response is shorter than 2 bytes; Error(Conflict) when @p seq was already answered
    /// with other bytes, or is older than the last answered SendApdu.
    const Action& feed_response(std::uint64_t seq, ByteView response);
    /// The KMS result for KmsRequest @p seq. Same rules as feed_response().
    const Action& feed_kms_result(std::uint64_t seq, ByteView result);
    /// Whether the secure channel of OpenSecureChannel @p seq is open. Same rules.
    const Action& feed_channel_result(std::uint64_t seq, bool opened);
    /// Whether the PUT KEY of action @p seq was built, accepted by the card (9000) and its
    /// answer verified by the KMS. Same rules.
    const Action& feed_put_key_result(std::uint64_t seq, bool verified);

    /// Ends the run with the failure @p outcome chosen by the host (the KMS refused a request,
    /// the wallet gave up, the operation timed out) and returns the Done action. A run that has
    /// already ended keeps its outcome. Throws Error(InvalidArgument) when @p outcome is not a
    /// valid name or is "success": only an end step can succeed.
    const Action& abandon(std::string_view outcome);

    /// The whole state, to persist between requests (binary, versioned; no secrets beyond the
    /// script's variables and the last response).
    Bytes serialize() const;

    /// Steps executed so far (bounded by the script's maxSteps; a `load` step counts once
    /// however many blocks it sends).
    std::uint32_t steps_executed() const { return m_steps_executed; }

  private:
    enum class Input : std::uint8_t { Response = 1, KmsResult = 2, Channel = 3, PutKey = 4 };
    explicit ScriptRun(std::shared_ptr<const Script> script);

    /// Common part of the feed_* calls; returns true when @p seq is the current action.
    bool accept(std::uint64_t seq, Input kind, ByteView bytes);
    /// Executes steps from m_step until an action for the host or the end.
    void run();
    /// Rebuilds m_action for the step the run waits at (also used by restore()).
    void build_action();
    void finish(std::string outcome);
    Bytes render(const Template& t) const;
    const Bytes& var(int i) const;
    bool evaluate(const Condition& c) const;
    void set_var(int var, Bytes value);

    std::shared_ptr<const Script> m_script;
    std::uint64_t m_seq = 0;
    std::uint32_t m_step = 0;  ///< the step the run waits at (or the end step)
    std::uint32_t m_steps_executed = 0;
    std::string m_outcome;  ///< set when done
    bool m_has_response = false;
    Bytes m_response_data;
    std::uint16_t m_sw = 0;
    std::vector<std::uint32_t> m_visits;
    std::vector<std::optional<Bytes>> m_vars;
    /// The last accepted answer of each kind (index: Input - 1), to recognise a retry: the
    /// wallet retries only its last request, whose card response may have been followed by
    /// KMS answers the host fed in the same request.
    struct Answer {
        std::uint64_t seq = 0;
        Bytes bytes;
    };
    Answer m_last[4];
    std::uint32_t m_block = 0;  ///< the LOAD block a `load` step waits for
    Action m_action;
};

}  // namespace kms::tsm::script
