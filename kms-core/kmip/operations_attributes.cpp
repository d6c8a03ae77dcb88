// KMIP attribute changes: Add / Modify / Delete Attribute (KMIP 1.4 §4.14 to §4.16) and their
// KMIP 2.0 forms (§6.1: Current Attribute / New Attribute / Attribute Reference), Set and
// Adjust Attribute (2.0), all through one kms-core use case, KeyLifecycle::change_attributes
// (role check, one transaction, audit record "key.attributes").
//
// What a client may change follows the "Modifiable by client" / "Deletable by client" rows of
// KMIP 1.4 §3 (2.0 §4): Name (multi-instance, §3.2; every name unique among live keys, as kmsd
// requires of key names), Contact Information (single, §3.36), Object Group (multi, §3.33) and,
// in 1.x, custom attributes whose name starts with "x-" (§3.39; "y-" names are the server's).
// Everything else kmsd keeps is server-maintained here: Attribute Read Only (2.0) / Permission
// Denied (1.x), as §11.14 to §11.16 answer an attribute that is not client-modifiable. The
// dates the specification lets a client set (Activation, Deactivation) are refused too: kmsd
// changes them only with the state (Activate, Revoke), having no scheduler for future dates.
#include <algorithm>

#include "domain/error.hpp"
#include "kmip/attributes.hpp"
#include "kmip/operations.hpp"

namespace kms::kmip {

namespace {

constexpr std::size_t kMaxExtraNames = 16;
constexpr std::size_t kMaxClientAttributes = 64;
constexpr std::size_t kMaxTextValue = 1024;
constexpr std::size_t kMaxCustomValue = 4096;  ///< encoded TTLV bytes of one custom value

enum class Kind { Name, Text, Custom };

/// An attribute a client may change: how it is kept and whether it may have many instances.
struct Target {
    Kind kind;
    std::string name;  ///< KMIP 1.x attribute name
    bool multi;
};

[[noreturn]] void read_only(const std::string& name) {
    std::string why =
        "attribute '" + name + "' is maintained by kmsd and cannot be changed by a client";
    if (name == "Activation Date" || name == "Deactivation Date")
        why += " (kmsd sets it with the state: use Activate or Revoke)";
    if (name == "Cryptographic Usage Mask")
        why += " (the usage is bound into the key block when the key is made)";
    throw KmipFailure(Reason::AttributeReadOnly, why);
}

Target target_by_name(const std::string& name, Version v) {
    if (name == "Name") return {Kind::Name, name, true};
    if (name == "Contact Information") return {Kind::Text, name, false};
    if (name == "Object Group") return {Kind::Text, name, true};
    if (!v.at_least(2, 0) && is_custom_name(name)) {
        if (name.compare(0, 2, "y-") == 0) read_only(name);  // §3.39: the server's own
        // The name goes into the audit record: printable ASCII only, bounded.
        if (name.size() > 128 ||
            std::any_of(name.begin(), name.end(), [](char ch) { return ch < 0x20 || ch > 0x7E; }))
            throw KmipFailure(Reason::InvalidField,
                              "a custom attribute name is 3 to 128 printable ASCII characters");
        return {Kind::Custom, name, true};
    }
    if (attribute_tag(name) != 0) read_only(name);
    throw KmipFailure(Reason::UnsupportedAttribute,
                      "attribute '" + name.substr(0, 64) + "' is not kept by kmsd");
}

Target target_by_tag(std::uint32_t t, Version v) {
    const std::string name = attribute_name(t);
    if (name.empty())
        throw KmipFailure(Reason::UnsupportedAttribute,
                          "attribute tag " + std::to_string(t) + " is not kept by kmsd");
    return target_by_name(name, v);
}

/// The current instances of @p t, in index order (tagged for Name and the text attributes;
/// tagged Attribute Value for custom ones).
std::vector<Item> instances(const core::KeyAttributes& a, const Target& t) {
    std::vector<Item> out;
    if (t.kind == Kind::Name) {
        out.push_back(name_item(a.name));
        for (const auto& n : a.extra_names) out.push_back(name_item(n));
        return out;
    }
    const std::uint32_t tg = attribute_tag(t.name);
    for (const auto& c : a.client_attributes)
        if (c.name == t.name) {
            Item i = client_attribute_value(c);
            if (tg != 0) i.tag = tg;
            out.push_back(std::move(i));
        }
    return out;
}

/// Replaces every instance of @p t by @p list (in order).
void store(core::KeyAttributes& a, const Target& t, const std::vector<Item>& list) {
    if (t.kind == Kind::Name) {
        // A kmsd key always has a name (REST and kmsctl address keys by it).
        if (list.empty())
            throw KmipFailure(Reason::IllegalOperation,
                              "the last Name of a key cannot be deleted: a kmsd key always has "
                              "a name (modify it instead)");
        if (list.size() > 1 + kMaxExtraNames)
            throw KmipFailure(Reason::IllegalOperation,
                              "a key has at most " + std::to_string(1 + kMaxExtraNames) + " Names");
        a.name = list[0].find(tag::NameValue)->text_value();
        a.extra_names.clear();
        for (std::size_t i = 1; i < list.size(); ++i)
            a.extra_names.push_back(list[i].find(tag::NameValue)->text_value());
        return;
    }
    auto& ca = a.client_attributes;
    auto first =
        std::find_if(ca.begin(), ca.end(), [&](const auto& c) { return c.name == t.name; });
    const auto at = first - ca.begin();
    std::erase_if(ca, [&](const auto& c) { return c.name == t.name; });
    std::vector<core::ClientAttribute> add;
    for (const Item& i : list) add.push_back(client_attribute(t.name, i));
    ca.insert(ca.begin() + std::min<std::ptrdiff_t>(at, static_cast<std::ptrdiff_t>(ca.size())),
              add.begin(), add.end());
    if (ca.size() > kMaxClientAttributes)
        throw KmipFailure(
            Reason::IllegalOperation,
            "a key has at most " + std::to_string(kMaxClientAttributes) + " client attributes");
}

/// Checks a value for @p t (any tag) and returns it in the form instances() uses.
Item checked_value(const Target& t, const Item& v) {
    const std::string what = "attribute '" + t.name + "'";
    switch (t.kind) {
        case Kind::Name: {
            if (v.type != ItemType::Structure)
                throw KmipFailure(Reason::InvalidField, what + " is not a Structure");
            const Item* nv = v.find(tag::NameValue);
            if (nv == nullptr || nv->type != ItemType::TextString)
                throw KmipFailure(Reason::InvalidField, "Name needs a Name Value (Text String)");
            if (const Item* nt = v.find(tag::NameType);
                nt != nullptr &&
                (nt->type != ItemType::Enumeration || nt->number != kNameUninterpretedText))
                throw KmipFailure(Reason::InvalidField,
                                  "Name Type: only Uninterpreted Text String (1) is supported");
            // The characters and length are kms-core's rule (validate_key_name, Invalid Field).
            return name_item(nv->text_value());
        }
        case Kind::Text:
            if (v.type != ItemType::TextString)
                throw KmipFailure(Reason::InvalidField, what + " is not a Text String");
            if (v.bytes.empty() || v.bytes.size() > kMaxTextValue)
                throw KmipFailure(
                    Reason::InvalidField,
                    what + " must be 1 to " + std::to_string(kMaxTextValue) + " bytes");
            return Item::text(attribute_tag(t.name), v.text_value());
        case Kind::Custom: {
            Item out = v;
            out.tag = tag::AttributeValue;
            if (encode(out).size() > kMaxCustomValue)
                throw KmipFailure(
                    Reason::InvalidField,
                    what + " is larger than " + std::to_string(kMaxCustomValue) + " bytes encoded");
            return out;
        }
    }
    return v;
}

bool same_value(const Item& a, const Item& b) {
    return encode(a) == encode(b);
}

/// The one tagged attribute inside a 2.0 New Attribute / Current Attribute structure.
const Item& single_attribute(const Item& payload, std::uint32_t container, const char* what,
                             bool required = true) {
    static const Item none;
    const Item* c = payload.find(container);
    if (c == nullptr) {
        if (!required) return none;
        throw KmipFailure(Reason::InvalidField, std::string(what) + " is missing");
    }
    if (c->type != ItemType::Structure || c->children.size() != 1)
        throw KmipFailure(Reason::InvalidField,
                          std::string(what) + " must be a Structure holding one attribute");
    return c->children.front();
}

/// The 1.x Attribute structure of a request: name, index (absent: nullopt) and value.
struct Attribute1x {
    std::string name;
    std::optional<std::int64_t> index;
    const Item* value = nullptr;
};
Attribute1x attribute_1x_in(const Item& payload, bool value_required) {
    const Item* a = payload.find(tag::Attribute);
    if (a == nullptr || a->type != ItemType::Structure)
        throw KmipFailure(Reason::InvalidField, "Attribute is missing or not a Structure");
    const Item* n = a->find(tag::AttributeName);
    if (n == nullptr || n->type != ItemType::TextString)
        throw KmipFailure(Reason::InvalidField, "Attribute needs an Attribute Name (Text String)");
    Attribute1x out{n->text_value(), std::nullopt, a->find(tag::AttributeValue)};
    if (const Item* i = a->find(tag::AttributeIndex)) {
        if (i->type != ItemType::Integer || i->number < 0)
            throw KmipFailure(Reason::InvalidField,
                              "Attribute Index is not a non-negative Integer");
        out.index = i->number;
    }
    if (value_required && out.value == nullptr)
        throw KmipFailure(Reason::InvalidField, "Attribute needs an Attribute Value");
    return out;
}

/// The 1.x Attribute structure of a response: name, index and value.
Item attribute_1x_out(const std::string& name, std::size_t index, const Item& value) {
    Item v = value;
    v.tag = tag::AttributeValue;
    return Item::structure(
        tag::Attribute,
        {Item::text(tag::AttributeName, name),
         Item::integer(tag::AttributeIndex, static_cast<std::int32_t>(index)), std::move(v)});
}

[[noreturn]] void no_instance(const Target& t, std::optional<std::size_t> index) {
    if (index)
        throw KmipFailure(Reason::AttributeInstanceNotFound,
                          "attribute '" + t.name + "' has no instance " + std::to_string(*index));
    throw KmipFailure(Reason::AttributeNotFound,
                      "attribute '" + t.name + "' is not set on this object");
}

/// The index of the instance equal to @p current, or AttributeInstanceNotFound.
std::size_t index_of(const std::vector<Item>& list, const Target& t, const Item& current) {
    for (std::size_t i = 0; i < list.size(); ++i)
        if (same_value(list[i], current)) return i;
    if (list.empty()) no_instance(t, std::nullopt);
    throw KmipFailure(Reason::AttributeInstanceNotFound,
                      "attribute '" + t.name + "' has no instance with the given value");
}

}  // namespace

Item Operations::change_attributes(const ObjectRef& ref, const std::string& what,
                                   const std::function<void(core::KeyAttributes&)>& edit) {
    (void)load(ref);  // ownership (Permission Denied, audited) and Item Not Found first
    if (ref.public_half)
        throw KmipFailure(Reason::IllegalOperation,
                          "the public half " + ref.uid() +
                              " shares the attributes of its key pair: change them on " +
                              ref.key_id);
    try {
        m_s.keys.change_attributes(m_caller, ref.key_id, edit, what);
    } catch (const Error& e) {
        if (e.code() == ErrorCode::Conflict)
            throw KmipFailure(Reason::NonUniqueNameAttribute, e.what());
        throw;
    }
    return payload_with_id(ref.uid());
}

Item Operations::add_attribute(const Item& payload) {
    const ObjectRef ref = resolve(payload);
    Target t{Kind::Name, "", false};
    Item value;
    if (m_v.at_least(2, 0)) {
        const Item& a = single_attribute(payload, tag::NewAttribute, "New Attribute");
        t = target_by_tag(a.tag, m_v);
        value = checked_value(t, a);
    } else {
        const Attribute1x a = attribute_1x_in(payload, true);
        t = target_by_name(a.name, m_v);
        value = checked_value(t, *a.value);
    }
    std::size_t index = 0;
    Item out = change_attributes(ref, "KMIP Add Attribute " + t.name, [&](core::KeyAttributes& k) {
        std::vector<Item> list = instances(k, t);
        // §4.14: a single-instance attribute that is already present cannot be added again.
        if (!t.multi && !list.empty())
            throw KmipFailure(Reason::AttributeSingleValued,
                              "attribute '" + t.name +
                                  "' is single-instance and already set: "
                                  "modify it instead");
        for (const Item& i : list)
            if (same_value(i, value))
                throw KmipFailure(
                    t.kind == Kind::Name ? Reason::NonUniqueNameAttribute : Reason::InvalidField,
                    "the object already has this '" + t.name + "' value");
        index = list.size();
        list.push_back(value);
        store(k, t, list);
    });
    // 1.x answers the attribute with the index it got (§4.14); 2.0 only the identifier.
    if (!m_v.at_least(2, 0)) out.add(attribute_1x_out(t.name, index, value));
    return out;
}

Item Operations::modify_attribute(const Item& payload) {
    const ObjectRef ref = resolve(payload);
    Target t{Kind::Name, "", false};
    Item value;
    std::optional<std::size_t> index;
    std::optional<Item> current;
    if (m_v.at_least(2, 0)) {
        const Item& n = single_attribute(payload, tag::NewAttribute, "New Attribute");
        t = target_by_tag(n.tag, m_v);
        value = checked_value(t, n);
        const Item& c =
            single_attribute(payload, tag::CurrentAttribute, "Current Attribute", false);
        if (c.tag != 0) {
            if (c.tag != n.tag)
                throw KmipFailure(Reason::InvalidField,
                                  "Current Attribute and New Attribute name different attributes");
            current = checked_value(t, c);
        }
    } else {
        const Attribute1x a = attribute_1x_in(payload, true);
        t = target_by_name(a.name, m_v);
        value = checked_value(t, *a.value);
        index = static_cast<std::size_t>(a.index.value_or(0));
    }
    std::size_t at = 0;
    Item out =
        change_attributes(ref, "KMIP Modify Attribute " + t.name, [&](core::KeyAttributes& k) {
            std::vector<Item> list = instances(k, t);
            // 2.0: the instance equal to Current Attribute, else the first; 1.x: by index.
            at = current ? index_of(list, t, *current) : index.value_or(0);
            if (at >= list.size()) no_instance(t, list.empty() ? std::nullopt : index);
            list[at] = value;
            store(k, t, list);
        });
    if (!m_v.at_least(2, 0)) out.add(attribute_1x_out(t.name, at, value));
    return out;
}

Item Operations::delete_attribute(const Item& payload) {
    const ObjectRef ref = resolve(payload);
    Target t{Kind::Name, "", false};
    std::optional<std::size_t> index;
    std::optional<Item> current;
    bool all = false;  // 2.0 Attribute Reference: every instance
    if (m_v.at_least(2, 0)) {
        const Item& c =
            single_attribute(payload, tag::CurrentAttribute, "Current Attribute", false);
        if (c.tag != 0) {
            t = target_by_tag(c.tag, m_v);
            current = checked_value(t, c);
        } else {
            const Item* r = payload.find(tag::AttributeReference);
            if (r == nullptr)
                throw KmipFailure(Reason::InvalidField,
                                  "Delete Attribute needs a Current Attribute or an Attribute "
                                  "Reference");
            const std::vector<std::uint32_t> tags = requested_attribute_tags(payload, m_v);
            if (tags.size() != 1 || tags[0] == 0)
                throw KmipFailure(Reason::UnsupportedAttribute,
                                  "Attribute Reference names no attribute kmsd keeps");
            t = target_by_tag(tags[0], m_v);
            all = true;
        }
    } else {
        const Item* n = payload.find(tag::AttributeName);
        if (n == nullptr || n->type != ItemType::TextString)
            throw KmipFailure(Reason::InvalidField,
                              "Attribute Name is missing or not a Text String");
        t = target_by_name(n->text_value(), m_v);
        if (const Item* i = payload.find(tag::AttributeIndex)) {
            if (i->type != ItemType::Integer || i->number < 0)
                throw KmipFailure(Reason::InvalidField,
                                  "Attribute Index is not a non-negative Integer");
            index = static_cast<std::size_t>(i->number);
        }
    }
    std::optional<Item> deleted;
    std::size_t at = 0;
    Item out =
        change_attributes(ref, "KMIP Delete Attribute " + t.name, [&](core::KeyAttributes& k) {
            std::vector<Item> list = instances(k, t);
            if (list.empty()) no_instance(t, std::nullopt);
            if (all) {
                list.clear();
            } else {
                at = current ? index_of(list, t, *current) : index.value_or(0);
                if (at >= list.size()) no_instance(t, index);
                deleted = list[at];
                list.erase(list.begin() + static_cast<std::ptrdiff_t>(at));
            }
            store(k, t, list);
        });
    // 1.x answers the deleted attribute (§4.16).
    if (!m_v.at_least(2, 0) && deleted) out.add(attribute_1x_out(t.name, at, *deleted));
    return out;
}

Item Operations::set_attribute(const Item& payload) {
    // 2.0 Set Attribute: sets a single-instance attribute, whether it is present or not; a
    // multi-instance one is Multi Valued Attribute (use Add or Modify Attribute).
    const ObjectRef ref = resolve(payload);
    const Item& n = single_attribute(payload, tag::NewAttribute, "New Attribute");
    const Target t = target_by_tag(n.tag, m_v);
    if (t.multi)
        throw KmipFailure(
            Reason::MultiValuedAttribute,
            "attribute '" + t.name + "' is multi-instance: use Add Attribute or Modify Attribute");
    const Item value = checked_value(t, n);
    return change_attributes(ref, "KMIP Set Attribute " + t.name,
                             [&](core::KeyAttributes& k) { store(k, t, {value}); });
}

Item Operations::adjust_attribute(const Item& payload) {
    // 2.0 Adjust Attribute increments, decrements or negates a numeric or date attribute.
    // The ones kmsd keeps are either server-maintained (dates, length, usage mask) or text, so
    // the request is checked and then refused with the reason that applies.
    const ObjectRef ref = resolve(payload);
    const Item* r = payload.find(tag::AttributeReference);
    if (r == nullptr) throw KmipFailure(Reason::InvalidField, "Attribute Reference is missing");
    const Item* type = payload.find(tag::AdjustmentType);
    if (type == nullptr || type->type != ItemType::Enumeration || type->number < kAdjustIncrement ||
        type->number > kAdjustNegate)
        throw KmipFailure(Reason::InvalidField,
                          "Adjustment Type must be Increment, Decrement or Negate");
    (void)load(ref);  // ownership and Item Not Found before what the attribute allows
    const std::vector<std::uint32_t> tags = requested_attribute_tags(payload, m_v);
    if (tags.size() != 1 || tags[0] == 0)
        throw KmipFailure(Reason::UnsupportedAttribute,
                          "Attribute Reference names no attribute kmsd keeps");
    const Target t = target_by_tag(tags[0], m_v);  // read-only ones throw here
    throw KmipFailure(Reason::InvalidField, "attribute '" + t.name +
                                                "' is not a number or a date: it cannot be "
                                                "adjusted");
}

}  // namespace kms::kmip
