// KMIP Request Message → Response Message: header, batch items, versions, error mapping
// (KMIP 1.4 §7.1, §7.2, §9.1.3.2.28/29; KMIP 2.0 §8, §11.39).
#include "kmip/processor.hpp"

#include <ctime>
#include <vector>

#include "domain/error.hpp"
#include "kmip/operations.hpp"
#include "kmip/protocol.hpp"

namespace kms::kmip {

namespace {

Item version_item(Version v) {
    return Item::structure(tag::ProtocolVersion,
                           {Item::integer(tag::ProtocolVersionMajor, v.major),
                            Item::integer(tag::ProtocolVersionMinor, v.minor)});
}

Item response_header(Version v, std::size_t batch_count) {
    return Item::structure(
        tag::ResponseHeader,
        {version_item(v),
         Item::date_time(tag::TimeStamp, static_cast<std::int64_t>(std::time(nullptr))),
         Item::integer(tag::BatchCount, static_cast<std::int32_t>(batch_count))});
}

/// A Result Reason @p v can carry: reasons KMIP 2.0 added fall back to their 1.x kin.
Reason reason_for(Version v, Reason r) {
    const auto n = static_cast<std::uint32_t>(r);
    if (n >= 0x19 && n < 0x100 && !v.at_least(2, 0)) {
        switch (r) {
            case Reason::WrongKeyLifecycleState:
            case Reason::AttributeReadOnly:  // 1.4 §11.14 to §11.16: not client-modifiable
                return Reason::PermissionDenied;
            case Reason::AttributeNotFound:  // no such attribute or instance: Item Not Found
            case Reason::AttributeInstanceNotFound:
                return Reason::ItemNotFound;
            case Reason::AttributeSingleValued:  // a second instance of a single-instance one
            case Reason::MultiValuedAttribute:
                return Reason::IllegalOperation;
            case Reason::UnsupportedAttribute:
                return Reason::FeatureNotSupported;
            case Reason::NonUniqueNameAttribute:
                return reason_for(v, Reason::ObjectAlreadyExists);
            default:
                return Reason::GeneralFailure;
        }
    }
    if (r == Reason::ObjectAlreadyExists && !v.at_least(1, 4)) return Reason::IllegalOperation;
    if (r == Reason::NotExtractable && !v.at_least(1, 4)) return Reason::PermissionDenied;
    return r;
}

Item failure_item(Version v, const Item* op, const Item* batch_id, Reason r,
                  const std::string& message) {
    Item bi = Item::structure(tag::BatchItem);
    if (op != nullptr) bi.add(*op);
    if (batch_id != nullptr) bi.add(*batch_id);
    bi.add(Item::enumeration(tag::ResultStatus,
                             static_cast<std::uint32_t>(ResultStatus::OperationFailed)));
    bi.add(Item::enumeration(tag::ResultReason, static_cast<std::uint32_t>(reason_for(v, r))));
    bi.add(Item::text(tag::ResultMessage, message.substr(0, 512)));
    return bi;
}

Reason reason_of(ErrorCode c) {
    switch (c) {
        case ErrorCode::InvalidArgument:
        case ErrorCode::MalformedRequest:
            return Reason::InvalidField;
        case ErrorCode::PayloadTooLarge:
            return Reason::ResponseTooLarge;
        case ErrorCode::Unauthenticated:
            return Reason::AuthenticationNotSuccessful;
        case ErrorCode::Forbidden:
        case ErrorCode::UsageNotPermitted:
            return Reason::PermissionDenied;
        case ErrorCode::NotFound:
            return Reason::ItemNotFound;
        case ErrorCode::Conflict:
            return Reason::ObjectAlreadyExists;
        case ErrorCode::WrongState:
            return Reason::WrongKeyLifecycleState;
        case ErrorCode::VerificationFailed:
        case ErrorCode::HsmError:
            return Reason::CryptographicFailure;
        case ErrorCode::Unsupported:
            return Reason::FeatureNotSupported;
        default:
            return Reason::GeneralFailure;
    }
}

constexpr std::uint32_t kBatchContinue = 1;
constexpr std::uint32_t kBatchStop = 2;
constexpr std::uint32_t kBatchUndo = 3;

/// The ID Placeholder after a successful item: the object Create or Register made, the
/// private key of Create Key Pair, the one object a Locate found (KMIP 1.4 §3.1.1).
void set_placeholder(Op op, const Item& response, std::string& placeholder) {
    const Item* uid = nullptr;
    if (op == Op::Create || op == Op::Register || op == Op::ReKey)
        uid = response.find(tag::UniqueIdentifier);
    else if (op == Op::CreateKeyPair)
        uid = response.find(tag::PrivateKeyUniqueIdentifier);
    else if (op == Op::Locate && response.find_all(tag::UniqueIdentifier).size() == 1)
        uid = response.find(tag::UniqueIdentifier);
    if (uid != nullptr) placeholder = uid->text_value();
}

std::string op_name(std::uint32_t op) {
    return "kmip.op" + std::to_string(op);
}

}  // namespace

bool supported(Version v) {
    return (v.major == 1 && v.minor >= 0 && v.minor <= 4) || (v.major == 2 && v.minor == 0);
}

Item Processor::failure(std::uint32_t reason, const std::string& why) {
    const Version v{1, 0};
    Item msg = Item::structure(tag::ResponseMessage);
    msg.add(response_header(v, 1));
    msg.add(failure_item(v, nullptr, nullptr, static_cast<Reason>(reason), why));
    return msg;
}

Item Processor::decode_failure(const std::string& why) {
    return failure(static_cast<std::uint32_t>(Reason::InvalidMessage), why);
}

Item Processor::handle(const core::Principal& caller, const Item& request) {
    const Item* header = request.find(tag::RequestHeader);
    if (request.tag != tag::RequestMessage || header == nullptr)
        return decode_failure("not a KMIP Request Message (no Request Header)");
    Version v;
    const Item* pv = header->find(tag::ProtocolVersion);
    const Item* mj = pv != nullptr ? pv->find(tag::ProtocolVersionMajor) : nullptr;
    const Item* mn = pv != nullptr ? pv->find(tag::ProtocolVersionMinor) : nullptr;
    if (mj == nullptr || mn == nullptr || mj->type != ItemType::Integer ||
        mn->type != ItemType::Integer)
        return decode_failure("Request Header: Protocol Version missing or not Integers");
    v = {static_cast<int>(mj->number), static_cast<int>(mn->number)};
    const auto items = request.find_all(tag::BatchItem);
    Item msg = Item::structure(tag::ResponseMessage);
    if (!supported(v)) {
        // Answered in the newest version we speak that is older than the client's (§7.1),
        // so the client can read the refusal and fall back with Discover Versions.
        const Version answer = v.at_least(2, 0)   ? Version{2, 0}
                               : v.at_least(1, 0) ? Version{1, 4}
                                                  : Version{1, 0};
        msg.add(response_header(answer, 1));
        msg.add(failure_item(answer, nullptr, nullptr, Reason::InvalidMessage,
                             "protocol version " + std::to_string(v.major) + "." +
                                 std::to_string(v.minor) +
                                 " is not supported (1.0 to 1.4 and 2.0 are)"));
        return msg;
    }
    if (items.empty() || items.size() > m_limits.max_batch_items) {
        msg.add(response_header(v, 1));
        msg.add(failure_item(v, nullptr, nullptr, Reason::InvalidMessage,
                             "a request holds 1 to " + std::to_string(m_limits.max_batch_items) +
                                 " batch items, not " + std::to_string(items.size())));
        return msg;
    }
    const Item* bc = header->find(tag::BatchCount);
    if (bc == nullptr || bc->type != ItemType::Integer ||
        bc->number != static_cast<std::int64_t>(items.size())) {
        msg.add(response_header(v, 1));
        msg.add(failure_item(v, nullptr, nullptr, Reason::InvalidMessage,
                             "Batch Count does not match the number of batch items"));
        return msg;
    }
    // Batch Error Continuation Option (KMIP 1.4 §6.15): Stop (the default) answers the items
    // up to the first failure and leaves the rest unprocessed; Continue runs them all; Undo
    // would need every operation to be reversible, which kmsd's audited changes are not.
    std::uint32_t on_error = kBatchStop;
    if (const Item* o = header->find(tag::BatchErrorContinuationOption)) {
        if (o->type != ItemType::Enumeration || o->number < 1 || o->number > 3) {
            msg.add(response_header(v, 1));
            msg.add(failure_item(v, nullptr, nullptr, Reason::InvalidMessage,
                                 "Batch Error Continuation Option: Continue, Stop or Undo"));
            return msg;
        }
        on_error = static_cast<std::uint32_t>(o->number);
    }
    if (on_error == kBatchUndo && items.size() > 1) {
        msg.add(response_header(v, 1));
        msg.add(failure_item(v, nullptr, nullptr, Reason::FeatureNotSupported,
                             "Batch Error Continuation Option Undo is not supported"));
        return msg;
    }
    std::vector<Item> answers;
    std::string placeholder;  // ID Placeholder (§3.1.1 / 2.0 §2.1.1), per request message
    for (const Item* bi : items) {
        answers.push_back(process_item(caller, v, *bi, placeholder));
        const Item* st = answers.back().find(tag::ResultStatus);
        const bool failed =
            st == nullptr || st->number != static_cast<std::int64_t>(ResultStatus::Success);
        if (failed && on_error != kBatchContinue) break;
    }
    msg.add(response_header(v, answers.size()));
    for (auto& a : answers) msg.add(std::move(a));
    return msg;
}

Item Processor::process_item(const core::Principal& caller, Version v, const Item& bi,
                             std::string& placeholder) {
    const Item* op = bi.find(tag::Operation);
    const Item* id = bi.find(tag::UniqueBatchItemId);
    if (op == nullptr || op->type != ItemType::Enumeration)
        return failure_item(v, nullptr, id, Reason::InvalidMessage,
                            "batch item: Operation missing or not an Enumeration");
    const Item* payload = bi.find(tag::RequestPayload);
    if (payload == nullptr || payload->type != ItemType::Structure)
        return failure_item(v, op, id, Reason::InvalidMessage,
                            "batch item: Request Payload missing or not a Structure");
    const auto opnum = static_cast<std::uint32_t>(op->number);
    // The audit target of a refusal: the object named, when the payload names one.
    std::string target;
    if (const Item* uid = payload->find(tag::UniqueIdentifier);
        uid != nullptr && uid->type == ItemType::TextString)
        for (char c : uid->text_value().substr(0, 128))
            target += (c >= 0x20 && c < 0x7F) ? c : '?';  // a client's text: printable only
    try {
        Item response = dispatch(caller, v, opnum, *payload, placeholder);
        set_placeholder(static_cast<Op>(opnum), response, placeholder);
        Item out = Item::structure(tag::BatchItem);
        out.add(*op);
        if (id != nullptr) out.add(*id);
        out.add(Item::enumeration(tag::ResultStatus,
                                  static_cast<std::uint32_t>(ResultStatus::Success)));
        out.add(std::move(response));
        return out;
    } catch (const KmipFailure& f) {
        if (f.reason() == Reason::PermissionDenied)
            m_s.audit.record_denial(caller.name, op_name(opnum), target, f.what());
        return failure_item(v, op, id, f.reason(), f.what());
    } catch (const Error& e) {
        const Reason r = reason_of(e.code());
        if (r == Reason::PermissionDenied)
            m_s.audit.record_denial(caller.name, op_name(opnum), target, e.what());
        return failure_item(v, op, id, r, e.what());
    } catch (const std::bad_alloc&) {
        throw;
    } catch (const std::exception& e) {
        return failure_item(v, op, id, Reason::GeneralFailure, "internal error");
    }
}

Item Processor::dispatch(const core::Principal& caller, Version v, std::uint32_t op,
                         const Item& payload, std::string& placeholder) {
    Operations ops(m_s, m_limits, caller, v, placeholder);
    // Encrypt to RNG Retrieve came with KMIP 1.2 (§4.29 to §4.35): an older client cannot
    // ask for them. Discover Versions (1.1) is answered in every version: clients probe with it.
    if (op >= static_cast<std::uint32_t>(Op::Encrypt) &&
        op <= static_cast<std::uint32_t>(Op::RngRetrieve) && !v.at_least(1, 2))
        throw KmipFailure(Reason::OperationNotSupported,
                          "operation " + std::to_string(op) + " is not part of KMIP " +
                              std::to_string(v.major) + "." + std::to_string(v.minor));
    // Set Attribute and Adjust Attribute came with KMIP 2.0 (2.0 §6.1).
    if ((op == static_cast<std::uint32_t>(Op::SetAttribute) ||
         op == static_cast<std::uint32_t>(Op::AdjustAttribute)) &&
        !v.at_least(2, 0))
        throw KmipFailure(Reason::OperationNotSupported,
                          "operation " + std::to_string(op) + " is not part of KMIP " +
                              std::to_string(v.major) + "." + std::to_string(v.minor));
    // Secret Data and Certificates ("o-" ids) have their own store and lifecycle.
    if (ops.names_object(static_cast<Op>(op), payload))
        return ops.object_operation(static_cast<Op>(op), payload);
    switch (static_cast<Op>(op)) {
        case Op::DiscoverVersions:
            return ops.discover_versions(payload);
        case Op::Query:
            return ops.query(payload);
        case Op::Create:
            return ops.create(payload);
        case Op::Get:
            return ops.get(payload);
        case Op::GetAttributes:
            return ops.get_attributes(payload);
        case Op::GetAttributeList:
            return ops.get_attribute_list(payload);
        case Op::Locate:
            return ops.locate(payload);
        case Op::Activate:
            return ops.activate(payload);
        case Op::Revoke:
            return ops.revoke(payload);
        case Op::Destroy:
            return ops.destroy(payload);
        case Op::Encrypt:
            return ops.encrypt(payload);
        case Op::Decrypt:
            return ops.decrypt(payload);
        case Op::CreateKeyPair:
            return ops.create_key_pair(payload);
        case Op::Sign:
            return ops.sign(payload);
        case Op::SignatureVerify:
            return ops.signature_verify(payload);
        case Op::Mac:
            return ops.mac(payload);
        case Op::MacVerify:
            return ops.mac_verify(payload);
        case Op::RngRetrieve:
            return ops.rng_retrieve(payload);
        case Op::AddAttribute:
            return ops.add_attribute(payload);
        case Op::ModifyAttribute:
            return ops.modify_attribute(payload);
        case Op::DeleteAttribute:
            return ops.delete_attribute(payload);
        case Op::SetAttribute:
            return ops.set_attribute(payload);
        case Op::AdjustAttribute:
            return ops.adjust_attribute(payload);
        case Op::ReKey:
            return ops.rekey(payload);
        case Op::Register:
            return ops.register_object(payload);
        default:
            throw KmipFailure(Reason::OperationNotSupported,
                              "operation " + std::to_string(op) + " is not supported");
    }
}

}  // namespace kms::kmip
