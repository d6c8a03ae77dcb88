// CeremonyService: key ceremonies, i.e. importing a symmetric key from 2 or 3 clear components
// entered by different custodians (split knowledge and dual control, DESIGN §5).
//
// The ceremony's metadata lives in the store (Table::Ceremonies): name, algorithm, usage, the
// custodians who entered a component and the state. The components themselves never reach the
// store, the logs or an audit record: their running XOR sum is kept in locked memory
// (SecureBytes) in this service only, and wiped when the ceremony completes, fails, is
// cancelled or expires. A restart loses it; the ceremony then reads "interrupted" and has to be
// started again.
//
// Checks on every component: the caller holds the custodian role, has not entered one already,
// the component has the algorithm's key length, and its KCV matches (AES: CMAC(K, 0^16)[0..3];
// DES3: E(K, 0^8)[0..3]). After the last one the assembled key's KCV is checked against the
// expected one given at creation (if any), the key goes into the HSM with Hsm::import_secret and
// becomes a normal key (Active, created_by = the ceremony's creator). The ceremony record, the
// key record and their audit records commit in one store write.
//
// Roles: create and cancel need admin or key-officer; components need custodian; reads allow
// admin, key-officer, custodian and auditor.
// Errors: kms::Error: InvalidArgument (400), VerificationFailed (400, KCV mismatch), Forbidden
// (403), NotFound (404), Conflict (409: same custodian twice, name taken), WrongState (409:
// ceremony not open), Expired (410), Hsm*/StoreError.
// Thread safety: every method may be called from any thread; components are processed one at a
// time service-wide (a ceremony is minutes of human work, not a hot path).
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "domain/secure_bytes.hpp"
#include "services/context.hpp"

namespace kms::core {

/// What the store keeps. Open is the only state that accepts components; "interrupted" and
/// "expired" of an Open record are derived when it is read (see CeremonyService::get).
enum class CeremonyState : std::uint8_t {
    Open = 1,
    Completed = 2,
    Cancelled = 3,
    Expired = 4,
    Failed = 5,       ///< the assembled key's KCV differed from the expected one
    Interrupted = 6,  ///< never stored: an Open record with components but no sum in memory
};
/// "open", "completed", "cancelled", "expired", "failed", "interrupted".
std::string_view ceremony_state_name(CeremonyState s);

struct CeremonyCustodian {
    std::string name;  ///< principal name
    std::int64_t at_ms = 0;
};

struct Ceremony {
    std::string id;    ///< "c-" and 32 hex digits
    std::string name;  ///< the name the assembled key gets
    Algorithm algorithm = Algorithm::Aes256;
    UsageMask usage;
    std::uint8_t components = 2;  ///< 2 or 3
    bool exportable = false;
    bool trusted = false;
    Bytes expected_kcv;  ///< 3 bytes or empty
    std::string created_by;
    std::int64_t created_ms = 0;
    std::int64_t expires_ms = 0;
    std::vector<CeremonyCustodian> custodians;  ///< in the order their components arrived
    CeremonyState state = CeremonyState::Open;
    std::string key_id;  ///< once completed
    std::string reason;  ///< why it failed, expired or was cancelled
    std::int64_t closed_ms = 0;

    std::size_t received() const { return custodians.size(); }
};

/// The record encoding of Table::Ceremonies: a format byte (1) then the fields (domain/bytes.hpp
/// put_* helpers). decode throws Error(Integrity) on a malformed or unknown record.
Bytes encode_ceremony(const Ceremony& c);
Ceremony decode_ceremony(ByteView data);

struct CeremonyRequest {
    std::string name;
    Algorithm algorithm = Algorithm::Aes256;
    UsageMask usage;
    int components = 2;
    bool exportable = false;
    bool trusted = false;
    std::optional<Bytes> kcv;          ///< expected KCV of the assembled key (3 bytes)
    std::int64_t expires_in_s = 3600;  ///< 60..86400
};

/// The answer to a component: how many arrived and, after the last, the new key.
struct ComponentResult {
    std::size_t received = 0;
    std::optional<KeyRecord> key;
};

class CeremonyService {
  public:
    explicit CeremonyService(ServiceContext& ctx) : m_ctx(ctx) {}

    Ceremony create(const Principal& caller, const CeremonyRequest& request);
    /// The ceremony with its derived state: an Open record past its expiry reads Expired, one
    /// with components but no sum in this process's memory reads Interrupted.
    Ceremony get(const Principal& caller, std::string_view id);
    /// Every ceremony, newest first (at most 1000).
    std::vector<Ceremony> list(const Principal& caller);
    /// Adds one custodian's component. @p component is only read (the caller wipes it).
    ComponentResult add_component(const Principal& caller, std::string_view id,
                                  const SecureBytes& component, ByteView kcv);
    /// Cancels an open (or interrupted) ceremony and wipes its partial sum.
    Ceremony cancel(const Principal& caller, std::string_view id);

  private:
    Ceremony load(std::string_view id);
    Ceremony with_derived_state(Ceremony c);  ///< needs m_mutex
    /// Wipes the partial sum and stores @p c in @p state with its audit record (after
    /// @p first, when given). Needs m_mutex.
    void close(Ceremony& c, CeremonyState state, const std::string& actor,
               const std::string& action, const std::string& reason,
               const AuditEvent* first = nullptr);

    ServiceContext& m_ctx;
    std::mutex m_mutex;
    std::map<std::string, SecureBytes, std::less<>> m_partial;  ///< id -> XOR so far
};

}  // namespace kms::core
