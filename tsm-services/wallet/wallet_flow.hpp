// The wallet's side of a TSM conversation: it starts a user operation at the front
// (POST /actions with an actionCode) and relays every APDU the TSM asks for to the secure
// element, posting each response back, until the TSM says the operation is done. Retries after
// a lost answer repeat the same (seq, response), which the TSM answers from its store, so a
// credit on the card happens once however often the wallet retries.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "domain/bytes.hpp"

namespace kms::tsm::wallet {

/// The secure element as the wallet reaches it: one command APDU in, one response APDU
/// (data || SW1 SW2) out. Implementations throw std::runtime_error when the card cannot be
/// reached; the wallet then stops (a command may have reached the card, so it is not resent).
class CardPort {
  public:
    virtual ~CardPort() = default;
    virtual Bytes transmit(ByteView command) = 0;
};

/// Where the front is and how the wallet is known to it.
struct FrontOptions {
    std::string url;  ///< the front instance, e.g. "https://127.0.0.1:9443/front"
    std::optional<std::string> ca_file;
    std::optional<std::string> cert_file;  ///< client certificate (mTLS), when the front asks
    std::optional<std::string> key_file;
    int timeout_seconds = 30;
    /// How often one request is sent again after a transport failure (0: never).
    int retries = 3;
};

/// A refusal of the front or a service behind it: an HTTP status >= 400 with its JSON error.
class FrontRefused : public std::runtime_error {
  public:
    FrontRefused(int status, std::string code, const std::string& message)
        : std::runtime_error(message), m_status(status), m_code(std::move(code)) {}
    int status() const noexcept { return m_status; }
    const std::string& code() const noexcept { return m_code; }

  private:
    int m_status;
    std::string m_code;
};

/// The front could not be reached (after the retries).
class FrontUnreachable : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

/// How an operation ended.
struct OperationResult {
    std::string operation;  ///< the front's operation id
    std::string outcome;    ///< the script's outcome: "success" or a failure name
    std::map<std::string, std::string> variables;  ///< the run's variables, as text
    std::uint64_t apdus = 0;                       ///< APDUs relayed to the card
    std::uint64_t retries = 0;                     ///< requests sent again after a lost answer
};

/// One line of progress: the APDU sent and the card's answer (for --verbose).
using TraceFn = std::function<void(const std::string& line)>;

/// The front's client. Not thread-safe (one keep-alive connection).
class FrontClient {
  public:
    /// Throws FrontUnreachable(setup) when the URL, CA or client certificate cannot be used.
    explicit FrontClient(const FrontOptions& options);
    ~FrontClient();
    FrontClient(const FrontClient&) = delete;
    FrontClient& operator=(const FrontClient&) = delete;

    /// POST /actions with @p body (a JSON object text with "actionCode"). Returns the answer's
    /// JSON text for 2xx; throws FrontRefused for >= 400 and FrontUnreachable when no answer
    /// came. A start is sent again only when it certainly did not reach the front (a second
    /// start would leave an abandoned operation behind, harmless but untidy).
    std::string start(const std::string& body);
    /// POST /operations/{id}/responses {"seq", "response"}: sent again after a lost answer
    /// (the TSM answers a repeated seq and response from its store).
    std::string respond(const std::string& operation, std::uint64_t seq, ByteView response);
    /// Requests sent again so far.
    std::uint64_t retries() const noexcept { return m_retries; }

  private:
    std::string post(const std::string& target, const std::string& body, bool idempotent);

    struct Impl;
    std::unique_ptr<Impl> m_impl;
    int m_max_retries;
    std::uint64_t m_retries = 0;
};

/// Starts an operation with @p start_body and relays its APDUs to @p card until the TSM answers
/// `done`. A non-operation answer (no "action", e.g. a loss report's) is returned as outcome
/// "answered" with its top-level string and number fields as variables. Throws FrontRefused,
/// FrontUnreachable, or std::runtime_error for an answer the wallet cannot read or a card
/// failure.
OperationResult run_operation(FrontClient& front, const std::string& start_body, CardPort* card,
                              const TraceFn& trace = {});

}  // namespace kms::tsm::wallet
