// A managed key as the metadata store keeps it: identity, algorithm, usage, lifecycle state,
// versions (each a key block sealed under the master key), history and use counters.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "algorithm.hpp"
#include "bytes.hpp"
#include "key_state.hpp"

namespace kms::core {

/// One version of a key. `rotate` appends one; the newest is used for new work.
struct KeyVersion {
    std::uint32_t number = 0;     ///< 1, 2, ...
    Bytes block;                  ///< sealed key block (domain/key_block.hpp); empty once destroyed
    Bytes kcv;                    ///< 3 bytes for AES (CMAC form) and DES3; empty otherwise
    Bytes public_key;             ///< DER SubjectPublicKeyInfo for EC/RSA; empty otherwise
    std::int64_t created_ms = 0;  ///< Unix epoch milliseconds, UTC
};

/// One entry of a key's state history.
struct StateChange {
    KeyState from = KeyState::PreActive;
    KeyState to = KeyState::PreActive;
    std::int64_t at_ms = 0;
    std::string by;      ///< principal name
    std::string reason;  ///< free text from the officer, or the revocation reason
};

/// Per-key use counters (DESIGN: counted, not one audit record per MAC).
struct UseCounters {
    std::uint64_t encrypt = 0, decrypt = 0, mac = 0, mac_verify = 0, sign = 0, verify = 0;
    UseCounters& operator+=(const UseCounters& o) {
        encrypt += o.encrypt;
        decrypt += o.decrypt;
        mac += o.mac;
        mac_verify += o.mac_verify;
        sign += o.sign;
        verify += o.verify;
        return *this;
    }
    bool zero() const {
        return encrypt == 0 && decrypt == 0 && mac == 0 && mac_verify == 0 && sign == 0 &&
               verify == 0;
    }
};

/// An attribute a KMIP client set on a key (KMIP 1.4 §3.18 Object Group, §3.36 Contact
/// Information, §3.39 Custom Attribute): its KMIP name and its value as the TTLV encoding of
/// the value item (kmip/attributes.cpp), opaque to kms-core. Never a secret.
struct ClientAttribute {
    std::string name;  ///< "Contact Information", "Object Group" or "x-..."
    Bytes value;       ///< TTLV item (tag 0x42000B Attribute Value)
    bool operator==(const ClientAttribute&) const = default;
};

/// Where the key material lives. KeyBlock (default) is the payment-HSM model of DESIGN §4.
enum class KeyStorage : std::uint8_t { KeyBlock = 1 };

struct KeyRecord {
    std::string id;    ///< "k-" followed by 32 hex digits, never reused
    std::string name;  ///< unique among keys that are not destroyed
    Algorithm algorithm = Algorithm::Aes256;
    UsageMask usage;
    KeyState state = KeyState::PreActive;
    bool exportable = false;  ///< may ever leave the HSM wrapped (bound in the key block)
    bool trusted = false;     ///< a trusted KEK: exports may go under it (bound in the block)
    KeyStorage storage = KeyStorage::KeyBlock;
    std::string created_by;
    std::int64_t created_ms = 0;
    std::optional<std::int64_t> activation_ms;
    std::optional<std::int64_t> deactivation_ms;
    std::optional<std::int64_t> compromise_ms;
    std::optional<std::int64_t> destroy_ms;
    std::vector<KeyVersion> versions;  ///< ascending by number, never empty after creation
    std::vector<StateChange> history;
    UseCounters counters;  ///< as last flushed to the store
    // Record format 3 (KMIP attributes and Re-key, KeyLifecycle::change_attributes / rekey):
    /// Names after `name` (KMIP Name is multi-instance, 1.4 §3.2), each unique among live keys
    /// as `name` is (the store's "key-alias/NAME" settings index them).
    std::vector<std::string> kmip_extra_names;
    std::vector<ClientAttribute> kmip_client_attributes;  ///< in the order they were added
    std::string kmip_replaced_id;     ///< Re-key: the key this one replaced ("" if none)
    std::string kmip_replacement_id;  ///< Re-key: the key that replaced this one ("" if none)

    const KeyVersion& current() const { return versions.back(); }
    /// The version with @p number, or nullptr.
    const KeyVersion* version(std::uint32_t number) const {
        for (const auto& v : versions)
            if (v.number == number) return &v;
        return nullptr;
    }
};

/// The usage an operation needs. MacVerify is allowed with either `verify` or `mac`.
bool usage_permits(UsageMask mask, Operation op);

/// Validates a key name: 1..128 characters of [A-Za-z0-9._:/-], not starting with '-'.
/// Throws kms::Error(InvalidArgument) naming the rule that failed.
void validate_key_name(std::string_view name);

}  // namespace kms::core
