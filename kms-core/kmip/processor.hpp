// The KMIP message layer: one decoded Request Message in, one Response Message out (KMIP 1.4
// §7.1 and §9.1; KMIP 2.0 §8). Each batch item is mapped one to one onto the kms-core use
// cases REST calls (services/key_lifecycle.hpp, services/key_operations.hpp), so KMIP is one
// more front on the same state machine, audit chain and policy checks, not another store.
//
// Versions: 1.0 to 1.4 and 2.0. A client is answered in the version of its request header,
// and the response never holds a tag, enumeration value or Result Reason newer than that
// version (for example Result Reason "Wrong Key Lifecycle State" only to 2.0 clients, the
// Cryptographic Algorithm "EC" only from 1.4 on).
//
// No Poco, no sockets: kmip/listener.hpp reads the bytes and knows the principal.
// Thread safety: handle() may be called from many threads at once (the services are).
#pragma once

#include <cstddef>

#include "domain/principal.hpp"
#include "kmip/ttlv.hpp"
#include "services/approvals.hpp"
#include "services/audit_service.hpp"
#include "services/key_lifecycle.hpp"
#include "services/key_operations.hpp"
#include "services/managed_objects.hpp"
#include "services/register_key.hpp"

namespace kms::kmip {

/// The use cases a KMIP request reaches, wired by kmsd.
struct KmipServices {
    core::KeyLifecycle& keys;
    core::KeyOperations& ops;
    core::ApprovalService& approvals;  ///< Destroy is refused while key.destroy has a quorum
    core::AuditService& audit;         ///< refusals are recorded (record_denial)
    /// Register of symmetric and public keys (kmip/operations_register.cpp).
    core::KeyRegistration& registration;
    /// Secret Data and Certificates (kmip/operations_objects.cpp).
    core::ManagedObjectService& objects;
};

struct ProcessorLimits {
    std::size_t max_batch_items = 32;  ///< more: the whole message is refused (Invalid Message)
    std::size_t max_located = 1000;    ///< Locate answers at most this many identifiers
    /// kmsd's kmip.get_secret_keys: true ("owner"): Create makes symmetric keys exportable and
    /// releasable to their creator, and Get hands such a key's value to its creator (docs/kmip.md
    /// "Get of secret keys"); false ("never", the default): no secret key leaves in clear.
    bool get_secret_keys = false;
};

/// A protocol version (Protocol Version Major / Minor).
struct Version {
    int major = 1;
    int minor = 0;
    bool at_least(int mj, int mn) const { return major > mj || (major == mj && minor >= mn); }
};

class Processor {
  public:
    Processor(KmipServices services, ProcessorLimits limits = {})
        : m_s(services), m_limits(limits) {}

    /// Processes one Request Message for @p caller and returns the Response Message. Never
    /// throws for bad input: a message that is not a Request Message gets a Response Message
    /// whose single batch item carries Result Reason Invalid Message (KMIP 1.4 §11).
    /// Throws only std::bad_alloc.
    Item handle(const core::Principal& caller, const Item& request);

    /// The response to a message that could not be decoded at all, or whose sender could not
    /// be authenticated (@p reason, @p why names the fault), with a version 1.0 header so that
    /// every client can read it. @p reason: a KMIP 1.0 Result Reason.
    static Item failure(std::uint32_t reason, const std::string& why);
    /// failure() with Result Reason Invalid Message.
    static Item decode_failure(const std::string& why);

  private:
    /// @p placeholder: the request's ID Placeholder, read and set by the items in order.
    Item process_item(const core::Principal& caller, Version v, const Item& batch_item,
                      std::string& placeholder);
    Item dispatch(const core::Principal& caller, Version v, std::uint32_t op, const Item& payload,
                  std::string& placeholder);

    KmipServices m_s;
    ProcessorLimits m_limits;
};

/// Whether this server speaks @p v (1.0 to 1.4, 2.0).
bool supported(Version v);

}  // namespace kms::kmip
