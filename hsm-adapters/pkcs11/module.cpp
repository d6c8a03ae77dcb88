// Module loading with a per-library reference count, and slot/token look-ups.
#include "pkcs11/module.hpp"

#include <dlfcn.h>

#include <algorithm>
#include <condition_variable>
#include <mutex>

#include "domain/error.hpp"
#include "pkcs11/errors.hpp"

namespace kms::hsm {

// The registry of loaded modules (see module.hpp for why it exists). An entry stays until the
// Module's deleter has run C_Finalize, so a concurrent load() of the same library waits for the
// finalisation instead of racing it with a C_Initialize that would see "already initialized".
struct ModuleRegistry {
    struct Entry {
        void* handle;
        std::weak_ptr<Module> module;
    };
    std::mutex mutex;
    std::condition_variable released;
    std::vector<Entry> entries;

    static ModuleRegistry& instance() {
        static ModuleRegistry registry;
        return registry;
    }

    static void destroy(Module* m) noexcept {
        auto& reg = instance();
        std::lock_guard lock(reg.mutex);
        reg.entries.erase(std::remove_if(reg.entries.begin(), reg.entries.end(),
                                         [m](const Entry& e) { return e.handle == m->m_handle; }),
                          reg.entries.end());
        delete m;  // C_Finalize and dlclose under the lock
        reg.released.notify_all();
    }
};

Module::Module(std::string path, void* handle, CK_FUNCTION_LIST* fn)
    : m_path(std::move(path)), m_handle(handle), m_fn(fn) {}

Module::~Module() {
    // PKCS#11 v2.40 §5.4: C_Finalize closes every session of the application; only the user
    // that initialised the library may finalise it.
    if (m_owns_init) m_fn->C_Finalize(nullptr);
    if (m_handle != nullptr) ::dlclose(m_handle);
}

std::shared_ptr<Module> Module::load(const std::string& path) {
    auto& reg = ModuleRegistry::instance();
    std::unique_lock lock(reg.mutex);

    void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
        const char* why = ::dlerror();
        throw Error(ErrorCode::HsmUnavailable, "cannot load PKCS#11 module " + path + ": " +
                                                   (why != nullptr ? why : "dlopen failed"));
    }
    // An entry whose Module is expired is being finalised right now: wait until it is gone.
    for (;;) {
        auto it =
            std::find_if(reg.entries.begin(), reg.entries.end(),
                         [handle](const ModuleRegistry::Entry& e) { return e.handle == handle; });
        if (it == reg.entries.end()) break;
        if (auto shared = it->module.lock()) {
            ::dlclose(handle);  // drop our extra dlopen reference; the Module keeps its own
            return shared;
        }
        reg.released.wait(lock);
    }

    auto get_list = reinterpret_cast<CK_C_GetFunctionList>(::dlsym(handle, "C_GetFunctionList"));
    if (get_list == nullptr) {
        ::dlclose(handle);
        throw Error(ErrorCode::HsmUnavailable,
                    "PKCS#11 module " + path + " has no C_GetFunctionList symbol");
    }
    CK_FUNCTION_LIST* fn = nullptr;
    const CK_RV list_rv = get_list(&fn);
    if (list_rv != CKR_OK || fn == nullptr) {
        ::dlclose(handle);
        throw ck_error(list_rv == CKR_OK ? CKR_GENERAL_ERROR : list_rv, "C_GetFunctionList", path);
    }

    std::unique_ptr<Module> module(new Module(path, handle, fn));
    // PKCS#11 v2.40 §5.4: CKF_OS_LOCKING_OK with NULL mutex functions = "use the OS primitives".
    module->m_init_args.flags = CKF_OS_LOCKING_OK;
    const CK_RV rv = fn->C_Initialize(&module->m_init_args);
    if (rv == CKR_OK) {
        module->m_owns_init = true;
    } else if (rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
        throw ck_error(rv, "C_Initialize", path);  // ~Module: no C_Finalize, dlclose
    }
    std::shared_ptr<Module> shared(module.release(), &ModuleRegistry::destroy);
    reg.entries.push_back({handle, shared});
    return shared;
}

CK_INFO Module::info() const {
    CK_INFO info{};
    check_rv(m_fn->C_GetInfo(&info), "C_GetInfo");
    return info;
}

std::vector<CK_SLOT_ID> Module::slots_with_token() const {
    return slot_list(CK_TRUE);
}

std::vector<CK_SLOT_ID> Module::all_slots() const {
    return slot_list(CK_FALSE);
}

std::vector<CK_SLOT_ID> Module::slot_list(CK_BBOOL token_present) const {
    std::vector<CK_SLOT_ID> slots;
    for (int attempt = 0;; ++attempt) {
        CK_ULONG n = 0;
        check_rv(m_fn->C_GetSlotList(token_present, nullptr, &n), "C_GetSlotList");
        slots.resize(n);
        const CK_RV rv = m_fn->C_GetSlotList(token_present, slots.data(), &n);
        if (rv == CKR_BUFFER_TOO_SMALL && attempt < 3) continue;  // a slot appeared meanwhile
        check_rv(rv, "C_GetSlotList");
        slots.resize(n);
        return slots;
    }
}

CK_TOKEN_INFO Module::token_info(CK_SLOT_ID slot) const {
    CK_TOKEN_INFO info{};
    check_rv(m_fn->C_GetTokenInfo(slot, &info), "C_GetTokenInfo");
    return info;
}

std::optional<CK_SLOT_ID> Module::find_token(std::string_view label) const {
    (void)padded_label(label);  // validates the length
    std::optional<CK_SLOT_ID> found;
    for (const auto slot : slots_with_token()) {
        CK_TOKEN_INFO info{};
        if (m_fn->C_GetTokenInfo(slot, &info) != CKR_OK) continue;  // removed meanwhile
        if ((info.flags & CKF_TOKEN_INITIALIZED) == 0) continue;
        if (trim_padded(info.label) != label) continue;
        if (found)
            throw Error(ErrorCode::Conflict,
                        "two tokens are labelled '" + std::string(label) + "' in " + m_path);
        found = slot;
    }
    return found;
}

std::optional<CK_SLOT_ID> Module::find_uninitialized_token() const {
    for (const auto slot : slots_with_token()) {
        CK_TOKEN_INFO info{};
        if (m_fn->C_GetTokenInfo(slot, &info) != CKR_OK) continue;
        if ((info.flags & CKF_TOKEN_INITIALIZED) == 0) return slot;
    }
    return std::nullopt;
}

std::string trim_padded(const CK_UTF8CHAR* text, std::size_t size) {
    std::size_t n = size;
    while (n > 0 && (text[n - 1] == ' ' || text[n - 1] == '\0')) --n;
    return std::string(reinterpret_cast<const char*>(text), n);
}

std::array<CK_UTF8CHAR, 32> padded_label(std::string_view label) {
    if (label.empty() || label.size() > 32)
        throw Error(ErrorCode::InvalidArgument, "a token label must have 1 to 32 bytes");
    std::array<CK_UTF8CHAR, 32> out;
    out.fill(' ');
    std::copy(label.begin(), label.end(), out.begin());
    return out;
}

std::string version_string(const CK_VERSION& v) {
    return std::to_string(v.major) + "." + std::to_string(v.minor);
}

}  // namespace kms::hsm
