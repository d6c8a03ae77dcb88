// KMIP Re-key (KMIP 1.4 §4.4; KMIP 2.0 §6.1 Re-key) onto KeyLifecycle::rekey: a new symmetric
// key object replaces an existing one, with its names and attributes, a Replaced Object Link
// back and a Replacement Object Link on the existing key (§3.35). The existing key keeps its
// state (Re-key does not revoke it; the client does, when it is done with it).
#include <ctime>

#include "kmip/attributes.hpp"
#include "kmip/operations.hpp"

namespace kms::kmip {

Item Operations::rekey(const Item& payload) {
    const ObjectRef ref = resolve(payload);
    const core::KeyRecord k = load(ref);  // ownership (Permission Denied, audited) first
    if (ref.public_half || !core::is_symmetric(k.algorithm))
        throw KmipFailure(Reason::IllegalOperation,
                          "Re-key replaces symmetric keys; " + ref.uid() +
                              " is part of a key pair (Re-key Key Pair is not supported)");
    // §4.4: the replacement's Activation Date is its Initial Date plus Offset. kmsd has no
    // scheduler: Offset 0 activates the replacement at once, a later date is refused, and no
    // Offset leaves it Pre-Active (the client activates it, as after Create).
    bool activate = false;
    if (const Item* o = payload.find(tag::Offset)) {
        if (o->type != ItemType::Interval)
            throw KmipFailure(Reason::InvalidField, "Offset is not an Interval");
        if (o->number != 0)
            throw KmipFailure(Reason::FeatureNotSupported,
                              "an Offset other than 0 (an Activation Date in the future) is not "
                              "supported; re-key without Offset and Activate later");
        activate = true;
    }
    // Template attributes for the replacement: an Activation Date not in the future; the rest
    // come from the existing key (§4.4's table) and cannot be given here.
    const RequestedAttributes a = read_request_attributes(payload, m_v);
    if (a.name || a.object_type || a.algorithm || a.length || a.usage_mask || a.state ||
        a.object_group || a.contact_information)
        throw KmipFailure(Reason::FeatureNotSupported,
                          "Re-key takes only an Activation Date as a template attribute: the "
                          "replacement has the existing key's attributes");
    if (a.activation_s) {
        if (*a.activation_s > static_cast<std::int64_t>(std::time(nullptr)))
            throw KmipFailure(Reason::FeatureNotSupported,
                              "an Activation Date in the future is not supported; use Activate");
        activate = true;
    }
    const core::KeyRecord fresh = m_s.keys.rekey(m_caller, ref.key_id, activate);
    return payload_with_id(fresh.id);
}

}  // namespace kms::kmip
