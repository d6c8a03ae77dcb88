// Plugin policies (DESIGN §10): which keys a plugin principal may use and for what. Officers
// (admin, key-officer) are never restricted by policies; a plugin without a policy may do
// nothing with keys (deny by default).
//
// A policy names keys by exact id ("k-" + 32 hex digits) or by a glob over the key's name
// ('*' any run of characters, '?' one character; no classes, no escapes), and a set of
// operations. Policies live in the store (Table::Policies, key = principal name) and are
// cached in memory; set() invalidates the cache entry. On a shared store
// (ServiceContext::shared_store) nothing is cached: another node's set() holds at once.
// Thread safety: every method may be called from any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "services/context.hpp"

namespace kms::core {

/// What a policy can allow. Values are bit positions in PluginPolicy::operations (stored).
enum class PolicyOperation : std::uint8_t {
    Encrypt = 0,
    Decrypt = 1,
    Mac = 2,
    MacVerify = 3,
    Sign = 4,
    Verify = 5,
    Random = 6,
    Read = 7,  ///< GET /v1/keys/{id} and the keys listed by GET /v1/keys
    Gp = 8,    ///< GlobalPlatform services
};
inline constexpr std::size_t kPolicyOperationCount = 9;
/// "encrypt", "decrypt", "mac", "mac-verify", "sign", "verify", "random", "read", "gp".
std::string_view policy_operation_name(PolicyOperation op);
std::optional<PolicyOperation> parse_policy_operation(std::string_view name);
/// The policy operation a key operation needs; nullopt for operations no policy can allow
/// (wrap, unwrap, derive: plugins are refused those).
std::optional<PolicyOperation> policy_operation_of(Operation op);

/// True when @p text matches @p pattern: '*' matches any run (also empty), '?' exactly one
/// character, every other character itself (case-sensitive). Linear-time (no backtracking
/// blow-up on patterns like "a*a*a*a*b").
bool glob_match(std::string_view pattern, std::string_view text);
/// True when @p entry is an exact key id ("k-" + 32 lower-case hex digits).
bool is_key_id(std::string_view entry);

struct PluginPolicy {
    std::string principal;
    std::vector<std::string> keys;  ///< exact ids or name globs, as given
    std::uint32_t operations = 0;   ///< bit (1 << PolicyOperation)
    std::int64_t updated_ms = 0;
    std::string updated_by;

    bool allows(PolicyOperation op) const {
        return (operations & (1u << static_cast<unsigned>(op))) != 0;
    }
    /// Whether one of the entries names @p key (by id or by a glob over its name).
    bool covers(const KeyRecord& key) const;
    std::vector<PolicyOperation> operation_list() const;
};

/// Record encoding in Table::Policies (format byte 1 first). decode throws Integrity.
Bytes encode_policy(const PluginPolicy& p);
PluginPolicy decode_policy(std::string_view principal, ByteView data);

/// Limits of a policy: entries per list and length of one key entry.
inline constexpr std::size_t kMaxPolicyKeys = 256;
inline constexpr std::size_t kMaxPolicyEntryLength = 255;

/// Whether @p caller is restricted by policies: holds the plugin role and neither admin nor
/// key-officer.
bool policy_restricted(const Principal& caller);

class PolicyService {
  public:
    explicit PolicyService(ServiceContext& ctx) : m_ctx(ctx) {}

    /// Replaces the policy of plugin @p name (admin only). The principal must exist (NotFound)
    /// and hold the plugin role (InvalidArgument). Key entries: 1..255 printable ASCII, at most
    /// kMaxPolicyKeys; duplicates are dropped. Audited "policy.set" in the same write.
    PluginPolicy set(const Principal& caller, const std::string& name,
                     const std::vector<std::string>& keys,
                     const std::vector<PolicyOperation>& operations);
    /// The policy of @p name (admin, key-officer, auditor, or the plugin itself); nullopt when
    /// it has none. NotFound when the principal does not exist.
    std::optional<PluginPolicy> get(const Principal& caller, std::string_view name);

    /// Throws Forbidden when @p caller is restricted (policy_restricted) and its policy does
    /// not allow @p op on @p key (null for key-less operations: random, some gp calls). The
    /// message names the plugin, the operation and the key. No policy: denied.
    void authorize(const Principal& caller, const KeyRecord* key, PolicyOperation op);
    /// The non-throwing form of authorize (for filtering lists).
    bool permits(const Principal& caller, const KeyRecord* key, PolicyOperation op);

  private:
    /// The cached policy (nullopt: none stored). Store errors propagate.
    std::optional<PluginPolicy> load(const std::string& name);

    ServiceContext& m_ctx;
    std::shared_mutex m_mutex;
    std::unordered_map<std::string, std::optional<PluginPolicy>> m_cache;
};

/// The check the use cases call: returns at once for callers not restricted by policies;
/// otherwise asks ctx.policies and FAILS CLOSED (Forbidden) when no PolicyService is wired.
void authorize_policy(ServiceContext& ctx, const Principal& caller, const KeyRecord* key,
                      PolicyOperation op);

}  // namespace kms::core
