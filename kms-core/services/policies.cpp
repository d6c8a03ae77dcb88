// Plugin policies: encoding, glob matching, the cached check (see policies.hpp).
#include "services/policies.hpp"

#include <algorithm>
#include <cctype>
#include <mutex>

#include "domain/error.hpp"

namespace kms::core {

namespace {

constexpr std::uint8_t kPolicyFormat = 1;
constexpr std::string_view kOperationNames[kPolicyOperationCount] = {
    "encrypt", "decrypt", "mac", "mac-verify", "sign", "verify", "random", "read", "gp"};
constexpr std::uint32_t kAllOperations = (1u << kPolicyOperationCount) - 1;

bool is_hex(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

void validate_entry(std::string_view e) {
    if (e.empty() || e.size() > kMaxPolicyEntryLength)
        throw Error(ErrorCode::InvalidArgument, "keys: each entry must be 1 to " +
                                                    std::to_string(kMaxPolicyEntryLength) +
                                                    " characters");
    for (char c : e)
        if (c < 0x20 || c > 0x7e)
            throw Error(ErrorCode::InvalidArgument,
                        "keys: entries must be printable ASCII (a key id or a name glob)");
}

std::string describe_key(const KeyRecord* key) {
    if (key == nullptr) return "without a key";
    return "with key " + key->id + " (" + key->name + ")";
}

}  // namespace

std::string_view policy_operation_name(PolicyOperation op) {
    const auto i = static_cast<std::size_t>(op);
    return i < kPolicyOperationCount ? kOperationNames[i] : std::string_view("?");
}

std::optional<PolicyOperation> parse_policy_operation(std::string_view name) {
    for (std::size_t i = 0; i < kPolicyOperationCount; ++i)
        if (kOperationNames[i] == name) return static_cast<PolicyOperation>(i);
    return std::nullopt;
}

std::optional<PolicyOperation> policy_operation_of(Operation op) {
    switch (op) {
        case Operation::Encrypt:
            return PolicyOperation::Encrypt;
        case Operation::Decrypt:
            return PolicyOperation::Decrypt;
        case Operation::Mac:
            return PolicyOperation::Mac;
        case Operation::MacVerify:
            return PolicyOperation::MacVerify;
        case Operation::Sign:
            return PolicyOperation::Sign;
        case Operation::Verify:
            return PolicyOperation::Verify;
        default:
            return std::nullopt;
    }
}

bool glob_match(std::string_view pattern, std::string_view text) {
    // Greedy match remembering only the last '*': on a mismatch the last star absorbs one more
    // character. O(|pattern| * |text|) at worst, never exponential.
    std::size_t p = 0, t = 0;
    std::size_t star = std::string_view::npos, star_t = 0;
    while (t < text.size()) {
        if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
            ++p;
            ++t;
        } else if (p < pattern.size() && pattern[p] == '*') {
            star = p++;
            star_t = t;
        } else if (star != std::string_view::npos) {
            p = star + 1;
            t = ++star_t;
        } else {
            return false;
        }
    }
    while (p < pattern.size() && pattern[p] == '*') ++p;
    return p == pattern.size();
}

bool is_key_id(std::string_view entry) {
    if (entry.size() != 34 || entry.substr(0, 2) != "k-") return false;
    return std::all_of(entry.begin() + 2, entry.end(), is_hex);
}

bool PluginPolicy::covers(const KeyRecord& key) const {
    for (const auto& e : keys) {
        if (is_key_id(e)) {
            if (e == key.id) return true;
        } else if (glob_match(e, key.name)) {
            return true;
        }
    }
    return false;
}

std::vector<PolicyOperation> PluginPolicy::operation_list() const {
    std::vector<PolicyOperation> out;
    for (std::size_t i = 0; i < kPolicyOperationCount; ++i)
        if (operations & (1u << i)) out.push_back(static_cast<PolicyOperation>(i));
    return out;
}

Bytes encode_policy(const PluginPolicy& p) {
    Bytes out;
    put_u8(out, kPolicyFormat);
    put_u32(out, p.operations);
    put_u64(out, static_cast<std::uint64_t>(p.updated_ms));
    put_lv(out, std::string_view(p.updated_by));
    put_u32(out, static_cast<std::uint32_t>(p.keys.size()));
    for (const auto& k : p.keys) put_lv(out, std::string_view(k));
    return out;
}

PluginPolicy decode_policy(std::string_view principal, ByteView data) {
    ByteReader r(data);
    if (r.u8() != kPolicyFormat)
        throw Error(ErrorCode::Integrity,
                    "policy of '" + std::string(principal) + "': unknown record format");
    PluginPolicy p;
    p.principal = std::string(principal);
    p.operations = r.u32();
    if ((p.operations & ~kAllOperations) != 0)
        throw Error(ErrorCode::Integrity,
                    "policy of '" + std::string(principal) + "': unknown operation bits");
    p.updated_ms = static_cast<std::int64_t>(r.u64());
    p.updated_by = r.lv_string();
    const std::uint32_t n = r.u32();
    if (n > kMaxPolicyKeys)
        throw Error(ErrorCode::Integrity,
                    "policy of '" + std::string(principal) + "': too many key entries");
    p.keys.reserve(n);
    for (std::uint32_t i = 0; i < n; ++i) p.keys.push_back(r.lv_string());
    if (!r.at_end())
        throw Error(ErrorCode::Integrity,
                    "policy of '" + std::string(principal) + "': trailing bytes");
    return p;
}

bool policy_restricted(const Principal& caller) {
    return caller.has(Role::Plugin) && !caller.has_any({Role::Admin, Role::KeyOfficer});
}

PluginPolicy PolicyService::set(const Principal& caller, const std::string& name,
                                const std::vector<std::string>& keys,
                                const std::vector<PolicyOperation>& operations) {
    require_role(caller, {Role::Admin}, "setting a plugin policy");
    validate_principal_name(name);
    if (keys.size() > kMaxPolicyKeys)
        throw Error(ErrorCode::InvalidArgument,
                    "keys: at most " + std::to_string(kMaxPolicyKeys) + " entries");
    PluginPolicy p;
    p.principal = name;
    for (const auto& k : keys) {
        validate_entry(k);
        std::string e = k;
        if (is_key_id(e))  // key ids are upper-case hex ("k-" + to_hex)
            std::transform(e.begin() + 2, e.end(), e.begin() + 2,
                           [](char c) { return static_cast<char>(std::toupper(c)); });
        if (std::find(p.keys.begin(), p.keys.end(), e) == p.keys.end()) p.keys.push_back(e);
    }
    for (PolicyOperation op : operations) p.operations |= 1u << static_cast<unsigned>(op);
    p.updated_ms = m_ctx.clock.now_ms();
    p.updated_by = caller.name;

    auto joined = [](const std::vector<std::string>& items) {
        std::string out;
        for (const auto& i : items) out += (out.empty() ? "" : ",") + i;
        return out.empty() ? std::string("(none)") : out;
    };
    std::vector<std::string> op_names;
    for (PolicyOperation op : p.operation_list()) op_names.emplace_back(policy_operation_name(op));
    std::string detail = "keys=" + joined(p.keys) + " operations=" + joined(op_names);
    if (detail.size() > 1024) detail = detail.substr(0, 1021) + "...";

    const Bytes record = encode_policy(p);
    try {
        m_ctx.store.write([&](WriteTxn& t) {
            auto target = t.find_principal(name);
            if (!target) throw Error(ErrorCode::NotFound, "no principal named '" + name + "'");
            if (!target->has(Role::Plugin))
                throw Error(ErrorCode::InvalidArgument,
                            "name: principal '" + name +
                                "' does not hold the plugin role (policies restrict plugins)");
            t.put(Table::Policies, name, record);
            t.append_audit(
                AuditEvent{caller.name, "policy.set", name, AuditOutcome::Success, detail});
        });
    } catch (...) {
        std::unique_lock lock(m_mutex);
        m_cache.erase(name);
        throw;
    }
    std::unique_lock lock(m_mutex);
    m_cache.erase(name);
    return p;
}

std::optional<PluginPolicy> PolicyService::get(const Principal& caller, std::string_view name) {
    if (caller.name != name || caller.disabled)
        require_role(caller, {Role::Admin, Role::KeyOfficer, Role::Auditor},
                     "reading a plugin policy");
    if (!m_ctx.store.find_principal(name))
        throw Error(ErrorCode::NotFound, "no principal named '" + std::string(name) + "'");
    return load(std::string(name));
}

std::optional<PluginPolicy> PolicyService::load(const std::string& name) {
    if (m_ctx.shared_store) {  // another node may have changed it: never cached
        auto raw = m_ctx.store.get(Table::Policies, name);
        if (!raw) return std::nullopt;
        return decode_policy(name, *raw);
    }
    {
        std::shared_lock lock(m_mutex);
        auto it = m_cache.find(name);
        if (it != m_cache.end()) return it->second;
    }
    std::optional<PluginPolicy> p;
    if (auto raw = m_ctx.store.get(Table::Policies, name)) p = decode_policy(name, *raw);
    std::unique_lock lock(m_mutex);
    // A concurrent set() may have erased and re-filled the entry meanwhile; keep what is there.
    return m_cache.try_emplace(name, std::move(p)).first->second;
}

bool PolicyService::permits(const Principal& caller, const KeyRecord* key, PolicyOperation op) {
    if (!policy_restricted(caller)) return true;
    if (caller.disabled) return false;
    const auto p = load(caller.name);
    if (!p || !p->allows(op)) return false;
    return key == nullptr || p->covers(*key);
}

void PolicyService::authorize(const Principal& caller, const KeyRecord* key, PolicyOperation op) {
    if (permits(caller, key, op)) return;
    throw Error(ErrorCode::Forbidden, "plugin '" + caller.name + "' may not " +
                                          std::string(policy_operation_name(op)) + " " +
                                          describe_key(key));
}

void authorize_policy(ServiceContext& ctx, const Principal& caller, const KeyRecord* key,
                      PolicyOperation op) {
    if (!policy_restricted(caller)) return;
    if (ctx.policies == nullptr)
        throw Error(ErrorCode::Forbidden, "plugin '" + caller.name + "' may not " +
                                              std::string(policy_operation_name(op)) +
                                              ": plugin policies are not available");
    ctx.policies->authorize(caller, key, op);
}

}  // namespace kms::core
