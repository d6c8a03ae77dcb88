// Crash test: the checks run after each restart, against the model of acknowledged operations
// (crash_workload.hpp) and kmsd's REST API.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "crash_workload.hpp"
#include "kmsd_process.hpp"

namespace kms::test {

/// Resolves every key of @p slots against what the restarted kmsd lists (GET /v1/keys with
/// namePrefix "crash-"), then proves key material by use:
///  - an operation that was acknowledged shows exactly: state, current version, and the KCV
///    of every version as the acknowledging answers gave them;
///  - an operation in flight at the kill (ModelKey::pending) shows either its old or its new
///    state, nothing else; after the check the model adopts what kmsd shows;
///  - no "crash-" key exists that the model does not know (nothing appears from nowhere);
///  - Active: AES-CMAC(0^16) answers 200 with the current version and starts with its KCV (and
///    equals the recorded tag); older versions' tags verify. Deactivated: MAC generation is
///    refused (409) and the recorded tag verifies. Destroyed: verification is refused (409).
/// The usability checks cover every key touched this round or in flight, plus @p sample
/// others chosen with @p rng (all keys when @p sample is SIZE_MAX).
/// Everything found wrong goes to @p failures; returns the number of keys checked by use.
std::size_t check_keys(HttpsClient& c, const std::string& token, std::vector<Slot>& slots,
                       std::mt19937_64& rng, std::size_t sample, Failures& failures);

/// Dual control across a kill: for every destroy whose execute's 200 did not come back, the
/// stored approval must be in a state that agrees with the key, and an approval the kill left
/// usable must still work after the restart:
///  - key Destroyed (the replay committed): the approval is `executing` or `executed`;
///  - key Deactivated, vote not acknowledged: `pending` or `approved` (then the approver votes
///    now); vote acknowledged: `approved`, or `executing` (the replay was cut before the key's
///    commit: final, docs/dual-control.md); an `approved` one is executed now by the requester
///    and must answer 200 with the key Destroyed, which the model adopts.
/// Returns the number of destroys finished this way. Call after check_keys().
std::size_t finish_destroy_approvals(const Target& target, std::vector<Slot>& slots,
                                     Failures& failures);

/// The lines of @p log that start with "kmsd: reconcile: " + @p kind, with that prefix removed.
std::vector<std::string> reconcile_lines(const std::string& log, const std::string& kind);

}  // namespace kms::test
