// KMIP Secret Data and Certificates (KMIP 1.4 §2.2.7, §2.2.1) onto core::ManagedObjectService:
// Get, Get Attributes, Get Attribute List, Activate, Revoke, Destroy and Locate of the objects
// Register stored (ids "o-" + 32 hex digits). Ownership as for keys: a client manages the
// objects it registered; an administrator all of them; anything else is Permission Denied.
#include <algorithm>

#include "domain/error.hpp"
#include "kmip/attributes.hpp"
#include "kmip/operations.hpp"
#include "services/policies.hpp"

namespace kms::kmip {

namespace {

std::uint32_t object_type(const core::ManagedObject& o) {
    return static_cast<std::uint32_t>(
        o.kind == core::ObjectKind::SecretData ? ObjectType::SecretData : ObjectType::Certificate);
}

/// The attributes kmsd keeps for a managed object, tagged (KMIP 1.4 §3).
std::vector<Item> object_attributes(const core::ManagedObject& o) {
    std::vector<Item> out;
    out.push_back(Item::text(tag::UniqueIdentifier, o.id));
    out.push_back(
        Item::structure(tag::Name, {Item::text(tag::NameValue, o.name),
                                    Item::enumeration(tag::NameType, kNameUninterpretedText)}));
    out.push_back(Item::enumeration(tag::ObjectType, object_type(o)));
    if (o.usage_mask != 0)
        out.push_back(
            Item::integer(tag::CryptographicUsageMask, static_cast<std::int32_t>(o.usage_mask)));
    out.push_back(Item::enumeration(tag::State, kmip_state(o.state)));
    out.push_back(Item::date_time(tag::InitialDate, o.created_ms / 1000));
    if (o.activation_ms)
        out.push_back(Item::date_time(tag::ActivationDate, *o.activation_ms / 1000));
    if (o.deactivation_ms)
        out.push_back(Item::date_time(tag::DeactivationDate, *o.deactivation_ms / 1000));
    if (o.compromise_ms) {
        out.push_back(Item::date_time(tag::CompromiseOccurrenceDate, *o.compromise_ms / 1000));
        out.push_back(Item::date_time(tag::CompromiseDate, *o.compromise_ms / 1000));
    }
    return out;
}

bool object_matches(const core::ManagedObject& o, const RequestedAttributes& a) {
    if (a.algorithm || a.length) return false;  // neither object has them
    if (a.name && o.name != *a.name) return false;
    if (a.object_type && *a.object_type != object_type(o)) return false;
    if (a.usage_mask && (o.usage_mask & *a.usage_mask) != *a.usage_mask) return false;
    if (a.state && *a.state != kmip_state(o.state)) return false;
    if (a.activation_s && (!o.activation_ms || *o.activation_ms / 1000 != *a.activation_s))
        return false;
    return true;
}

}  // namespace

bool Operations::names_object(Op op, const Item& payload) const {
    switch (op) {
        case Op::Get:
        case Op::GetAttributes:
        case Op::GetAttributeList:
        case Op::Activate:
        case Op::Revoke:
        case Op::Destroy:
            break;
        default:
            return false;
    }
    const Item* id = payload.find(tag::UniqueIdentifier);
    if (id == nullptr) return core::is_managed_object_id(m_placeholder);
    return id->type == ItemType::TextString && core::is_managed_object_id(id->text_value());
}

core::ManagedObject Operations::load_object(const std::string& id) {
    core::ManagedObject o = m_s.objects.get(m_caller, id);  // NotFound, roles
    if (!m_caller.has(core::Role::Admin) && o.created_by != m_caller.name)
        throw KmipFailure(Reason::PermissionDenied,
                          "object " + o.id + " was registered by another client ('" + o.created_by +
                              "'); a KMIP client manages the objects it registered");
    return o;
}

std::vector<std::string> Operations::locate_objects(const RequestedAttributes& a) {
    std::vector<std::string> out;
    // Plugins (policy-restricted) and roles without object access see no managed objects.
    if (core::policy_restricted(m_caller) ||
        !(m_caller.has(core::Role::Admin) || m_caller.has(core::Role::KeyOfficer)))
        return out;
    for (const auto& o : m_s.objects.list(m_caller))
        if ((m_caller.has(core::Role::Admin) || o.created_by == m_caller.name) &&
            object_matches(o, a))
            out.push_back(o.id);
    return out;
}

Item Operations::get_object(const Item& payload, const core::ManagedObject& o) {
    Item out = Item::structure(tag::ResponsePayload);
    out.add(Item::enumeration(tag::ObjectType, object_type(o)));
    out.add(Item::text(tag::UniqueIdentifier, o.id));
    if (o.kind == core::ObjectKind::Certificate) {
        if (o.value.empty())
            throw KmipFailure(Reason::WrongKeyLifecycleState, "object " + o.id + " is destroyed");
        out.add(
            Item::structure(tag::Certificate, {Item::enumeration(tag::CertificateType, o.subtype),
                                               Item::byte_string(tag::CertificateValue, o.value)}));
        return out;
    }
    if (const Item* f = payload.find(tag::KeyFormatType)) {
        if (f->type != ItemType::Enumeration || f->number != kFormatOpaque)
            throw KmipFailure(Reason::KeyFormatTypeNotSupported,
                              "Secret Data is served in Key Format Type Opaque");
    }
    // The purpose of Secret Data: the client that registered it reads it back (audited,
    // object.reveal). The clear value lives in SecureBytes here; the listener wipes the
    // response once sent.
    const SecureBytes secret = m_s.objects.reveal_secret(m_caller, o.id);
    Item block = Item::structure(
        tag::KeyBlock,
        {Item::enumeration(tag::KeyFormatType, kFormatOpaque),
         Item::structure(tag::KeyValue, {Item::byte_string(tag::KeyMaterial, secret.view())})});
    out.add(Item::structure(tag::SecretData,
                            {Item::enumeration(tag::SecretDataType, o.subtype), std::move(block)}));
    return out;
}

Item Operations::object_operation(Op op, const Item& payload) {
    const std::string id = required_id(payload);
    const core::ManagedObject o = load_object(id);
    switch (op) {
        case Op::Get:
            return get_object(payload, o);
        case Op::GetAttributes: {
            const std::vector<std::uint32_t> wanted = requested_attribute_tags(payload, m_v);
            std::vector<Item> attrs;
            for (Item& a : object_attributes(o))
                if (wanted.empty() ||
                    std::find(wanted.begin(), wanted.end(), a.tag) != wanted.end())
                    attrs.push_back(std::move(a));
            Item out = payload_with_id(o.id);
            if (m_v.at_least(2, 0)) {
                out.add(Item::structure(tag::Attributes, std::move(attrs)));
            } else {
                for (const Item& a : attrs) out.add(attribute_1x(a));
            }
            return out;
        }
        case Op::GetAttributeList: {
            Item out = payload_with_id(o.id);
            for (const Item& a : object_attributes(o)) {
                if (m_v.at_least(2, 0))
                    out.add(Item::enumeration(tag::AttributeReference, a.tag));
                else
                    out.add(Item::text(tag::AttributeName, attribute_name(a.tag)));
            }
            return out;
        }
        case Op::Activate:
            m_s.objects.transition(m_caller, o.id, core::Transition::Activate, "KMIP Activate");
            return payload_with_id(o.id);
        case Op::Revoke: {
            const Item* rr = payload.find(tag::RevocationReason);
            const Item* code = rr != nullptr ? rr->find(tag::RevocationReasonCode) : nullptr;
            if (rr == nullptr || rr->type != ItemType::Structure || code == nullptr ||
                code->type != ItemType::Enumeration || code->number < 1 || code->number > 7)
                throw KmipFailure(Reason::InvalidField,
                                  "Revocation Reason with a Revocation Reason Code 1 to 7 is "
                                  "required");
            const bool compromise = code->number == 2 || code->number == 3;  // key / CA
            const Item* d = payload.find(tag::CompromiseOccurrenceDate);
            if (d != nullptr &&
                (d->type != ItemType::DateTime || d->number < 0 || d->number > 253402300799))
                throw KmipFailure(Reason::InvalidField, "Compromise Occurrence Date is invalid");
            if (compromise && d == nullptr)
                throw KmipFailure(
                    Reason::InvalidField,
                    "Compromise Occurrence Date is required for a compromise (§4.20)");
            m_s.objects.transition(
                m_caller, o.id,
                compromise ? core::Transition::Compromise : core::Transition::Deactivate,
                "KMIP Revoke",
                compromise ? std::optional<std::int64_t>(d->number * 1000) : std::nullopt);
            return payload_with_id(o.id);
        }
        case Op::Destroy:
            // §4.21: not while Active; and not around REST's dual control of key.destroy.
            if (o.state == core::KeyState::Active)
                throw KmipFailure(Reason::WrongKeyLifecycleState,
                                  "object " + o.id + " is Active: revoke it before Destroy");
            if (m_s.approvals.quorum_for("key.destroy"))
                throw KmipFailure(Reason::PermissionDenied,
                                  "key.destroy is under dual control: KMIP cannot destroy");
            m_s.objects.transition(m_caller, o.id, core::Transition::Destroy, "KMIP Destroy");
            return payload_with_id(o.id);
        default:
            throw KmipFailure(Reason::OperationNotSupported, "not an operation on this object");
    }
}

}  // namespace kms::kmip
