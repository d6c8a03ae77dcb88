// Pkcs11Hsm: opening (module, profile, token, mechanisms, pool, master keys), token
// initialisation, HSM facts and the small operations. Key blocks are in key_blocks.cpp, the
// cryptographic operations in operations.cpp.
#include "pkcs11/pkcs11_hsm.hpp"

#include <algorithm>

#include "pkcs11/hsm_impl.hpp"
#include "pkcs11/session.hpp"

namespace kms::hsm {

namespace {

constexpr std::size_t kMaxRandom = 4096;

CK_UTF8CHAR* pin_ptr(const SecretString& pin) {
    return reinterpret_cast<CK_UTF8CHAR*>(const_cast<char*>(pin.reveal().data()));
}

void validate(const Pkcs11Config& c) {
    if (c.module_path.empty())
        throw Error(ErrorCode::InvalidArgument, "HSM config: module_path is empty");
    if (c.handle_cache_capacity == 0)
        throw Error(ErrorCode::InvalidArgument, "HSM config: handle_cache_capacity must be >= 1");
    if (c.sessions > 64)
        throw Error(ErrorCode::InvalidArgument, "HSM config: sessions must be 0..64");
    if (c.lmk_label.empty() || c.lmk_mac_label.empty() || c.audit_key_label.empty() ||
        c.lmk_label == c.lmk_mac_label || c.lmk_label == c.audit_key_label ||
        c.lmk_mac_label == c.audit_key_label)
        throw Error(ErrorCode::InvalidArgument,
                    "HSM config: the three master key labels must be non-empty and distinct");
    (void)padded_label(c.token_label);
}

/// Token secret-key objects labelled @p label.
std::vector<CK_OBJECT_HANDLE> find_by_label(const CK_FUNCTION_LIST& fn, CK_SESSION_HANDLE s,
                                            const std::string& label) {
    Template t;
    t.ulong(CKA_CLASS, CKO_SECRET_KEY).flag(CKA_TOKEN, true).text(CKA_LABEL, label);
    return find_objects(fn, s, t.data(), t.size(), 8);
}

/// Integrity unless the master object has exactly the security attributes it was created with.
void check_master(const CK_FUNCTION_LIST& fn, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h,
                  const std::string& label, bool is_lmk, bool require_trusted) {
    CK_KEY_TYPE type = 0;
    CK_ULONG len = 0;
    CK_BBOOL sensitive = CK_FALSE, extractable = CK_TRUE, priv = CK_FALSE, wrap = CK_FALSE,
             unwrap = CK_FALSE, encrypt = CK_TRUE, decrypt = CK_TRUE, sign = CK_FALSE,
             verify = CK_FALSE, trusted = CK_FALSE;
    CK_ATTRIBUTE attrs[] = {
        {CKA_KEY_TYPE, &type, sizeof type},
        {CKA_VALUE_LEN, &len, sizeof len},
        {CKA_SENSITIVE, &sensitive, 1},
        {CKA_EXTRACTABLE, &extractable, 1},
        {CKA_PRIVATE, &priv, 1},
        {CKA_WRAP, &wrap, 1},
        {CKA_UNWRAP, &unwrap, 1},
        {CKA_ENCRYPT, &encrypt, 1},
        {CKA_DECRYPT, &decrypt, 1},
        {CKA_SIGN, &sign, 1},
        {CKA_VERIFY, &verify, 1},
        {CKA_TRUSTED, &trusted, 1},
    };
    check_rv(fn.C_GetAttributeValue(s, h, attrs, std::size(attrs)), "C_GetAttributeValue", label);
    const bool common = len == 32 && sensitive && !extractable && priv && !encrypt && !decrypt;
    const bool ok =
        is_lmk ? common && type == CKK_AES && wrap && unwrap && !sign && !verify &&
                     (!require_trusted || trusted)
               : common && type == CKK_GENERIC_SECRET && sign && verify && !wrap && !unwrap;
    if (!ok)
        throw Error(ErrorCode::Integrity,
                    "master key '" + label +
                        "' does not have the required attributes (type, "
                        "length 32, sensitive, non-extractable, private, capabilities)");
}

Bytes random_id(const CK_FUNCTION_LIST& fn, CK_SESSION_HANDLE s) {
    Bytes id(16);
    check_rv(fn.C_GenerateRandom(s, id.data(), id.size()), "C_GenerateRandom");
    return id;
}

/// Generates the master objects whose labels are in @p missing (all three on a fresh token).
void create_masters(const CK_FUNCTION_LIST& fn, CK_SESSION_HANDLE s, const Pkcs11Config& c,
                    const std::vector<std::string>& missing) {
    const auto wanted = [&](const std::string& label) {
        return std::find(missing.begin(), missing.end(), label) != missing.end();
    };
    CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
    if (wanted(c.lmk_label)) {
        const Bytes id = random_id(fn, s);
        Template t = lmk_template(c.lmk_label, id);
        CK_MECHANISM m{CKM_AES_KEY_GEN, nullptr, 0};
        check_rv(fn.C_GenerateKey(s, &m, t.data(), t.size(), &h), "C_GenerateKey", c.lmk_label);
    }
    for (const auto* label : {&c.lmk_mac_label, &c.audit_key_label}) {
        if (!wanted(*label)) continue;
        const Bytes id = random_id(fn, s);
        Template t = master_hmac_template(*label, id);
        CK_MECHANISM m{CKM_GENERIC_SECRET_KEY_GEN, nullptr, 0};
        check_rv(fn.C_GenerateKey(s, &m, t.data(), t.size(), &h), "C_GenerateKey", *label);
    }
}

}  // namespace

// ---- initialize_token -------------------------------------------------------------------

void initialize_token(const std::string& module_path, const std::string& label,
                      const SecretString& so_pin, const SecretString& user_pin) {
    const auto padded = padded_label(label);
    if (so_pin.empty() || user_pin.empty())
        throw Error(ErrorCode::InvalidArgument, "token initialisation needs an SO and a user PIN");
    const auto module = Module::load(module_path);
    const auto& fn = module->fn();
    auto slot = module->find_token(label);
    if (slot) {
        // A first start killed between C_InitToken and C_InitPIN leaves the token without a
        // user PIN (CK_TOKEN_INFO flags lack CKF_USER_PIN_INITIALIZED, PKCS#11 v2.40 §3.2):
        // finish it below. Any other existing token is not ours to touch.
        if ((module->token_info(*slot).flags & CKF_USER_PIN_INITIALIZED) != 0)
            throw Error(ErrorCode::Conflict, "a token labelled '" + label + "' already exists");
    } else {
        slot = module->find_uninitialized_token();
        if (!slot)
            throw Error(ErrorCode::HsmError,
                        "no slot with an uninitialised token in " + module_path);
        // PKCS#11 v2.40 §5.6 C_InitToken: no session may be open on the slot.
        check_rv(fn.C_InitToken(*slot, pin_ptr(so_pin), so_pin.size(),
                                const_cast<CK_UTF8CHAR*>(padded.data())),
                 "C_InitToken", "token '" + label + "'");
    }
    Session s = Session::open(*module, *slot);
    check_rv(fn.C_Login(s.handle(), CKU_SO, pin_ptr(so_pin), so_pin.size()), "C_Login",
             "SO of token '" + label + "'");
    check_rv(fn.C_InitPIN(s.handle(), pin_ptr(user_pin), user_pin.size()), "C_InitPIN",
             "token '" + label + "'");
    fn.C_Logout(s.handle());
}

// ---- open ---------------------------------------------------------------------------------

std::unique_ptr<Pkcs11Hsm> Pkcs11Hsm::open(const Pkcs11Config& config, MasterKeys master_keys) {
    validate(config);
    SecretString pin = config.pin.resolve();
    auto module = Module::load(config.module_path);
    const VendorProfile& profile = select_profile(config.profile, module->info());
    const auto slot = module->find_token(config.token_label);
    if (!slot)
        throw Error(ErrorCode::NotFound, "no initialised token labelled '" + config.token_label +
                                             "' in " + config.module_path);
    MechanismSet mechanisms = MechanismSet::discover(*module, *slot);
    Capabilities caps = resolve(profile, mechanisms);
    const std::size_t sessions = config.sessions != 0 ? config.sessions : profile.default_sessions;
    auto pool = std::make_unique<SessionPool>(module, config.token_label, std::move(pin), sessions);

    Pkcs11Config kept = config;
    if (kept.pin.kind == PinSource::Kind::Value) kept.pin.where.clear();
    auto impl = std::make_unique<Impl>(std::move(module), profile, std::move(mechanisms),
                                       std::move(caps), std::move(kept), std::move(pool));

    // Master keys: all three, or none (then create them if allowed), never some, except that
    // CompleteMissing finishes the set an interrupted first start left (see MasterKeys).
    {
        Lease lease = impl->pool->borrow();
        const auto& fn = impl->fn();
        const auto& c = impl->config;
        std::vector<std::string> present, missing;
        for (const auto* label : {&c.lmk_label, &c.lmk_mac_label, &c.audit_key_label}) {
            const auto found = find_by_label(fn, lease.handle(), *label);
            if (found.size() > 1)
                throw Error(
                    ErrorCode::Integrity,
                    "token '" + c.token_label + "' has several objects labelled '" + *label + "'");
            (found.empty() ? missing : present).push_back(*label);
        }
        if (present.empty()) {
            if (master_keys == MasterKeys::RequireExisting)
                throw Error(ErrorCode::NotFound,
                            "token '" + c.token_label +
                                "' has no master keys; the first start must create them");
            create_masters(fn, lease.handle(), c, missing);
        } else if (!missing.empty() && master_keys == MasterKeys::CompleteMissing) {
            create_masters(fn, lease.handle(), c, missing);
        } else if (!missing.empty()) {
            std::string list;
            for (const auto& m : missing) list += (list.empty() ? "" : ", ") + m;
            throw Error(ErrorCode::Integrity,
                        "token '" + c.token_label + "' lacks master key(s) " + list +
                            " while others exist; refusing to create a new master key");
        }
        std::lock_guard lock(impl->masters_mutex);
        impl->master_handles = impl->find_masters(lease);
        impl->master_key_ids = impl->master_ids(lease, impl->master_handles);
    }
    return std::unique_ptr<Pkcs11Hsm>(new Pkcs11Hsm(std::move(impl)));
}

Pkcs11Hsm::Pkcs11Hsm(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}
Pkcs11Hsm::~Pkcs11Hsm() = default;

// ---- masters ------------------------------------------------------------------------------

MasterHandles Pkcs11Hsm::Impl::find_masters(const Lease& lease) {
    MasterHandles m;
    CK_OBJECT_HANDLE* slots[] = {&m.lmk, &m.lmk_mac, &m.audit};
    const std::string* labels[] = {&config.lmk_label, &config.lmk_mac_label,
                                   &config.audit_key_label};
    for (int i = 0; i < 3; ++i) {
        const auto found = find_by_label(fn(), lease.handle(), *labels[i]);
        if (found.size() != 1)
            throw Error(ErrorCode::Integrity, "master key '" + *labels[i] + "' is " +
                                                  (found.empty() ? "missing" : "not unique") +
                                                  " on token '" + config.token_label + "'");
        *slots[i] = found[0];
        check_master(fn(), lease.handle(), found[0], *labels[i], i == 0, caps.lmk_trusted);
    }
    m.generation = lease.generation();
    return m;
}

std::array<Bytes, 3> Pkcs11Hsm::Impl::master_ids(const Lease& lease, const MasterHandles& m) {
    std::array<Bytes, 3> ids;
    const CK_OBJECT_HANDLE handles[] = {m.lmk, m.lmk_mac, m.audit};
    for (int i = 0; i < 3; ++i)
        ids[i] = try_read_attribute(fn(), lease.handle(), handles[i], CKA_ID).value_or(Bytes());
    return ids;
}

MasterHandles Pkcs11Hsm::Impl::masters(const Lease& lease) {
    std::lock_guard lock(masters_mutex);
    if (master_handles.generation != lease.generation()) {
        // After a reconnection: handles may differ, and the token found by label must still
        // hold the master keys this process opened with.
        const MasterHandles found = find_masters(lease);
        if (master_ids(lease, found) != master_key_ids)
            throw Error(ErrorCode::Integrity, "token '" + config.token_label +
                                                  "' no longer holds the master keys it was "
                                                  "opened with (CKA_ID differs)");
        master_handles = found;
    }
    return master_handles;
}

// ---- small operations ---------------------------------------------------------------------

Bytes Pkcs11Hsm::random(std::size_t length) {
    if (length < 1 || length > kMaxRandom)
        throw Error(ErrorCode::InvalidArgument, "random: length must be 1..4096 bytes");
    return m_impl->run([&](Lease& lease) {
        Bytes out(length);
        check_rv(m_impl->fn().C_GenerateRandom(lease.handle(), out.data(), length),
                 "C_GenerateRandom");
        return out;
    });
}

Bytes Pkcs11Hsm::audit_seal(ByteView data) {
    return m_impl->run([&](Lease& lease) {
        const auto m = m_impl->masters(lease);
        CK_MECHANISM mech{CKM_SHA256_HMAC, nullptr, 0};
        return sign_once(m_impl->fn(), lease.handle(), mech, m.audit, data, 32,
                         m_impl->config.audit_key_label);
    });
}

void Pkcs11Hsm::forget(std::string_view key_id) {
    m_impl->cache.forget(key_id);
}

bool Pkcs11Hsm::probe() noexcept {
    return m_impl->pool->probe();
}

const std::string& Pkcs11Hsm::profile_name() const noexcept {
    return m_impl->profile_name;
}

std::vector<std::string> Pkcs11Hsm::mechanism_names() const {
    return m_impl->mechanisms.names();
}

std::size_t Pkcs11Hsm::session_pool_size() const noexcept {
    return m_impl->pool->size();
}

Pkcs11Hsm::PoolStats Pkcs11Hsm::pool_stats() const {
    const auto s = m_impl->pool->stats();
    return PoolStats{s.size, s.in_use, s.waits, s.timeouts};
}

Pkcs11Hsm::CacheStats Pkcs11Hsm::cache_stats() const {
    const auto s = m_impl->cache.stats();
    return {s.size, s.capacity, s.hits, s.misses, s.evictions};
}

namespace {

/// The CKF_* flags set in CK_TOKEN_INFO.flags (PKCS#11 v2.40 §3.2 table 10), by name.
std::vector<std::string> token_flag_names(CK_FLAGS flags) {
#define KMS_CKF(x) \
    { x, #x }
    static constexpr std::pair<CK_FLAGS, const char*> kFlags[] = {
        KMS_CKF(CKF_RNG),
        KMS_CKF(CKF_WRITE_PROTECTED),
        KMS_CKF(CKF_LOGIN_REQUIRED),
        KMS_CKF(CKF_USER_PIN_INITIALIZED),
        KMS_CKF(CKF_RESTORE_KEY_NOT_NEEDED),
        KMS_CKF(CKF_CLOCK_ON_TOKEN),
        KMS_CKF(CKF_PROTECTED_AUTHENTICATION_PATH),
        KMS_CKF(CKF_DUAL_CRYPTO_OPERATIONS),
        KMS_CKF(CKF_TOKEN_INITIALIZED),
        KMS_CKF(CKF_SECONDARY_AUTHENTICATION),
        KMS_CKF(CKF_USER_PIN_COUNT_LOW),
        KMS_CKF(CKF_USER_PIN_FINAL_TRY),
        KMS_CKF(CKF_USER_PIN_LOCKED),
        KMS_CKF(CKF_USER_PIN_TO_BE_CHANGED),
        KMS_CKF(CKF_SO_PIN_COUNT_LOW),
        KMS_CKF(CKF_SO_PIN_FINAL_TRY),
        KMS_CKF(CKF_SO_PIN_LOCKED),
        KMS_CKF(CKF_SO_PIN_TO_BE_CHANGED),
    };
#undef KMS_CKF
    std::vector<std::string> out;
    for (const auto& [flag, name] : kFlags)
        if ((flags & flag) != 0) out.emplace_back(name);
    return out;
}

/// CK_TOKEN_INFO's counters; CK_UNAVAILABLE_INFORMATION becomes nullopt (§3.2).
core::HsmTokenCounters token_counters(const CK_TOKEN_INFO& ti) {
    auto v = [](CK_ULONG n) -> std::optional<std::uint64_t> {
        if (n == CK_UNAVAILABLE_INFORMATION) return std::nullopt;
        return static_cast<std::uint64_t>(n);
    };
    core::HsmTokenCounters c;
    c.sessions = v(ti.ulSessionCount);
    c.max_sessions = v(ti.ulMaxSessionCount);
    c.rw_sessions = v(ti.ulRwSessionCount);
    c.max_rw_sessions = v(ti.ulMaxRwSessionCount);
    c.total_public_memory = v(ti.ulTotalPublicMemory);
    c.free_public_memory = v(ti.ulFreePublicMemory);
    c.total_private_memory = v(ti.ulTotalPrivateMemory);
    c.free_private_memory = v(ti.ulFreePrivateMemory);
    return c;
}

/// The CKF_* flags set in CK_SLOT_INFO.flags (PKCS#11 v2.40 §3.2 table 9), by name.
std::vector<std::string> slot_flag_names(CK_FLAGS flags) {
    std::vector<std::string> out;
    if ((flags & CKF_TOKEN_PRESENT) != 0) out.emplace_back("CKF_TOKEN_PRESENT");
    if ((flags & CKF_REMOVABLE_DEVICE) != 0) out.emplace_back("CKF_REMOVABLE_DEVICE");
    if ((flags & CKF_HW_SLOT) != 0) out.emplace_back("CKF_HW_SLOT");
    return out;
}

/// Every slot of @p module with its token's facts. A slot or token that disappears between the
/// calls (a removed device) is listed with what could still be read.
std::vector<core::HsmSlot> list_slots(const Module& module, CK_SLOT_ID used) {
    std::vector<core::HsmSlot> out;
    for (const CK_SLOT_ID id : module.all_slots()) {
        core::HsmSlot s;
        s.slot_id = id;
        s.in_use = id == used;
        CK_SLOT_INFO si{};
        if (module.fn().C_GetSlotInfo(id, &si) != CKR_OK) continue;  // gone meanwhile
        s.description = trim_padded(si.slotDescription);
        s.manufacturer = trim_padded(si.manufacturerID);
        s.flags = slot_flag_names(si.flags);
        CK_TOKEN_INFO ti{};
        if ((si.flags & CKF_TOKEN_PRESENT) != 0 && module.fn().C_GetTokenInfo(id, &ti) == CKR_OK) {
            s.token_present = true;
            s.token_label = trim_padded(ti.label);
            s.token_serial = trim_padded(ti.serialNumber);
            s.token_manufacturer = trim_padded(ti.manufacturerID);
            s.token_model = trim_padded(ti.model);
            s.token_flags = token_flag_names(ti.flags);
            s.token_counters = token_counters(ti);
        }
        out.push_back(std::move(s));
    }
    return out;
}

}  // namespace

core::HsmInfo Pkcs11Hsm::info() {
    auto& impl = *m_impl;
    const CK_INFO ci = impl.module->info();
    const CK_TOKEN_INFO ti = impl.module->token_info(impl.pool->slot());
    core::HsmInfo out;
    out.module_path = impl.config.module_path;
    out.library_description = trim_padded(ci.libraryDescription);
    out.library_manufacturer = trim_padded(ci.manufacturerID);
    out.library_version = version_string(ci.libraryVersion);
    out.cryptoki_version = version_string(ci.cryptokiVersion);
    out.token_label = trim_padded(ti.label);
    out.token_serial = trim_padded(ti.serialNumber);
    out.token_manufacturer = trim_padded(ti.manufacturerID);
    out.token_model = trim_padded(ti.model);
    out.slot_id = impl.pool->slot();
    out.slots = list_slots(*impl.module, impl.pool->slot());
    out.token_flags = token_flag_names(ti.flags);
    out.token_hardware_version = version_string(ti.hardwareVersion);
    out.token_firmware_version = version_string(ti.firmwareVersion);
    out.token_counters = token_counters(ti);
    out.mechanism_info = impl.mechanisms.details();
    out.profile = impl.profile_name;
    out.session_pool_size = impl.pool->size();
    out.sessions_in_use = impl.pool->in_use();
    const auto stats = impl.cache.stats();
    out.cached_handles = stats.size;
    out.handle_cache_capacity = stats.capacity;
    out.mechanisms = impl.mechanisms.names();
    out.host_fallbacks = impl.caps.host_fallbacks;
    // PKCS#11 v2.40 §4.10: CKA_CHECK_VALUE of a secret key, computed by the module when it
    // supports it. For AES, SoftHSM2 gives the ECB form E(K, 0^16)[0..3].
    out.master_key_kcv = impl.run([&](Lease& lease) {
        const auto m = impl.masters(lease);
        const auto kcv = try_read_attribute(impl.fn(), lease.handle(), m.lmk, CKA_CHECK_VALUE);
        return kcv ? to_hex(*kcv) : std::string();
    });
    return out;
}

std::vector<std::string> Pkcs11Hsm::foreign_token_objects() {
    auto& impl = *m_impl;
    return impl.run([&](Lease& lease) {
        const auto m = impl.masters(lease);
        Template t;
        t.flag(CKA_TOKEN, true);
        std::vector<std::string> out;
        for (const auto h : find_objects(impl.fn(), lease.handle(), t.data(), t.size())) {
            if (h == m.lmk || h == m.lmk_mac || h == m.audit) continue;
            const auto label = try_read_attribute(impl.fn(), lease.handle(), h, CKA_LABEL);
            const auto id = try_read_attribute(impl.fn(), lease.handle(), h, CKA_ID);
            out.push_back("label=" + (label ? std::string(label->begin(), label->end()) : "") +
                          " id=" + (id ? to_hex(*id) : ""));
        }
        std::sort(out.begin(), out.end());
        return out;
    });
}

}  // namespace kms::hsm
