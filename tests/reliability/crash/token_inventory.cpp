// TokenInventory (see token_inventory.hpp): a deliberately small raw PKCS#11 client, so the
// crash test's view of the token does not depend on the adapter it checks.
#include "token_inventory.hpp"

#include <dlfcn.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <optional>
#include <stdexcept>

#include "kmsd_process.hpp"
#include "pkcs11/cryptoki.hpp"

namespace kms::test {

namespace {

std::string rv_hex(CK_RV rv) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "0x%08lX", static_cast<unsigned long>(rv));
    return buf;
}

void check(CK_RV rv, const char* what) {
    if (rv != CKR_OK) throw std::runtime_error(std::string(what) + " failed: CK_RV " + rv_hex(rv));
}

std::string to_lower_hex(const std::vector<unsigned char>& b) {
    static const char* digits = "0123456789abcdef";
    std::string s;
    for (unsigned char c : b) {
        s += digits[c >> 4];
        s += digits[c & 15];
    }
    return s;
}

/// Sets SOFTHSM2_CONF for one scope and restores the previous value.
class ConfScope {
  public:
    explicit ConfScope(const std::string& conf) {
        if (const char* old = std::getenv("SOFTHSM2_CONF")) m_old = old;
        ::setenv("SOFTHSM2_CONF", conf.c_str(), 1);
    }
    ~ConfScope() {
        if (m_old)
            ::setenv("SOFTHSM2_CONF", m_old->c_str(), 1);
        else
            ::unsetenv("SOFTHSM2_CONF");
    }
    ConfScope(const ConfScope&) = delete;
    ConfScope& operator=(const ConfScope&) = delete;

  private:
    std::optional<std::string> m_old;
};

/// An attribute's bytes, or nullopt when the object has no such attribute (PKCS#11 v2.40 §5.7
/// C_GetAttributeValue: CK_UNAVAILABLE_INFORMATION in ulValueLen).
std::optional<std::vector<unsigned char>> attribute(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s,
                                                    CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE type) {
    CK_ATTRIBUTE a{type, nullptr, 0};
    if (f->C_GetAttributeValue(s, h, &a, 1) != CKR_OK || a.ulValueLen == CK_UNAVAILABLE_INFORMATION)
        return std::nullopt;
    std::vector<unsigned char> out(a.ulValueLen);
    a.pValue = out.data();
    if (f->C_GetAttributeValue(s, h, &a, 1) != CKR_OK) return std::nullopt;
    out.resize(a.ulValueLen);
    return out;
}

}  // namespace

bool is_master_label(const std::string& label) {
    return label == "kms-lmk" || label == "kms-lmk-mac" || label == "kms-audit";
}

struct TokenInventory::Impl {
    void* lib = nullptr;
    CK_FUNCTION_LIST_PTR f = nullptr;

    /// C_Initialize, find the token by label, open an R/W session, log in as user, run @p fn,
    /// then log out, close and C_Finalize whatever happened (PKCS#11 v2.40 §5.4-§5.6).
    void with_session(const std::string& conf, const std::string& label,
                      const std::string& pin_file,
                      const std::function<void(CK_SESSION_HANDLE)>& fn) {
        ConfScope scope(conf);
        CK_C_INITIALIZE_ARGS args{};
        args.flags = CKF_OS_LOCKING_OK;
        check(f->C_Initialize(&args), "C_Initialize");
        struct Finalize {
            CK_FUNCTION_LIST_PTR f;
            ~Finalize() { f->C_Finalize(nullptr); }
        } finalize{f};

        CK_ULONG n = 0;
        check(f->C_GetSlotList(CK_TRUE, nullptr, &n), "C_GetSlotList");
        std::vector<CK_SLOT_ID> slots(n);
        check(f->C_GetSlotList(CK_TRUE, slots.data(), &n), "C_GetSlotList");
        std::optional<CK_SLOT_ID> slot;
        for (CK_ULONG i = 0; i < n && !slot; ++i) {
            CK_TOKEN_INFO ti{};
            if (f->C_GetTokenInfo(slots[i], &ti) != CKR_OK) continue;
            // CK_TOKEN_INFO.label is 32 bytes padded with blanks, not NUL-terminated (§3.2).
            std::string l(reinterpret_cast<const char*>(ti.label), sizeof ti.label);
            l.erase(l.find_last_not_of(' ') + 1);
            if (l == label) slot = slots[i];
        }
        if (!slot) throw std::runtime_error("no token labelled '" + label + "'");

        CK_SESSION_HANDLE s = 0;
        // §5.6 C_OpenSession: CKF_SERIAL_SESSION must always be set.
        check(f->C_OpenSession(*slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr, &s),
              "C_OpenSession");
        struct Close {
            CK_FUNCTION_LIST_PTR f;
            CK_SESSION_HANDLE s;
            ~Close() {
                f->C_Logout(s);
                f->C_CloseSession(s);
            }
        } close{f, s};
        std::string pin = slurp(pin_file);
        while (!pin.empty() && (pin.back() == '\n' || pin.back() == '\r')) pin.pop_back();
        check(f->C_Login(s, CKU_USER, reinterpret_cast<CK_UTF8CHAR_PTR>(pin.data()), pin.size()),
              "C_Login");
        fn(s);
    }
};

TokenInventory::TokenInventory(const std::string& module_path) : m_impl(new Impl) {
    m_impl->lib = ::dlopen(module_path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (m_impl->lib == nullptr) {
        delete m_impl;
        throw std::runtime_error("cannot load " + module_path);
    }
    auto get = reinterpret_cast<CK_C_GetFunctionList>(::dlsym(m_impl->lib, "C_GetFunctionList"));
    if (get == nullptr || get(&m_impl->f) != CKR_OK) {
        ::dlclose(m_impl->lib);
        delete m_impl;
        throw std::runtime_error(module_path + " has no usable C_GetFunctionList");
    }
}

TokenInventory::~TokenInventory() {
    ::dlclose(m_impl->lib);
    delete m_impl;
}

std::vector<TokenObject> TokenInventory::list(const std::string& softhsm_conf,
                                              const std::string& token_label,
                                              const std::string& pin_file) {
    std::vector<TokenObject> out;
    m_impl->with_session(softhsm_conf, token_label, pin_file, [&](CK_SESSION_HANDLE s) {
        auto* f = m_impl->f;
        CK_BBOOL yes = CK_TRUE;
        CK_ATTRIBUTE t{CKA_TOKEN, &yes, sizeof yes};
        check(f->C_FindObjectsInit(s, &t, 1), "C_FindObjectsInit");
        std::vector<CK_OBJECT_HANDLE> handles;
        for (;;) {
            CK_OBJECT_HANDLE batch[64];
            CK_ULONG got = 0;
            const CK_RV rv = f->C_FindObjects(s, batch, 64, &got);
            if (rv != CKR_OK) {
                f->C_FindObjectsFinal(s);
                check(rv, "C_FindObjects");
            }
            if (got == 0) break;
            handles.insert(handles.end(), batch, batch + got);
        }
        // §5.7: every search ends with C_FindObjectsFinal before the session does anything else.
        check(f->C_FindObjectsFinal(s), "C_FindObjectsFinal");
        for (const auto h : handles) {
            TokenObject o;
            if (auto l = attribute(f, s, h, CKA_LABEL)) o.label.assign(l->begin(), l->end());
            if (auto id = attribute(f, s, h, CKA_ID)) o.id_hex = to_lower_hex(*id);
            out.push_back(std::move(o));
        }
    });
    std::sort(out.begin(), out.end(), [](const TokenObject& a, const TokenObject& b) {
        return a.describe() < b.describe();
    });
    return out;
}

void TokenInventory::plant_data_object(const std::string& softhsm_conf,
                                       const std::string& token_label, const std::string& pin_file,
                                       const std::string& label) {
    m_impl->with_session(softhsm_conf, token_label, pin_file, [&](CK_SESSION_HANDLE s) {
        CK_OBJECT_CLASS cls = CKO_DATA;
        CK_BBOOL yes = CK_TRUE;
        std::string app = "kms crash test";
        std::string value = "planted orphan";
        std::string l = label;
        CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof cls},
                            {CKA_TOKEN, &yes, sizeof yes},
                            {CKA_PRIVATE, &yes, sizeof yes},
                            {CKA_LABEL, l.data(), l.size()},
                            {CKA_APPLICATION, app.data(), app.size()},
                            {CKA_VALUE, value.data(), value.size()}};
        CK_OBJECT_HANDLE h = 0;
        check(m_impl->f->C_CreateObject(s, t, sizeof t / sizeof t[0], &h), "C_CreateObject");
    });
}

void TokenInventory::plant_secret_key(const std::string& softhsm_conf,
                                      const std::string& token_label, const std::string& pin_file,
                                      const std::string& label, const std::string& id) {
    m_impl->with_session(softhsm_conf, token_label, pin_file, [&](CK_SESSION_HANDLE s) {
        CK_MECHANISM mech{CKM_AES_KEY_GEN, nullptr, 0};
        CK_BBOOL yes = CK_TRUE;
        CK_ULONG len = 32;
        std::string l = label;
        std::string i = id;
        CK_ATTRIBUTE t[] = {{CKA_TOKEN, &yes, sizeof yes},     {CKA_PRIVATE, &yes, sizeof yes},
                            {CKA_SENSITIVE, &yes, sizeof yes}, {CKA_VALUE_LEN, &len, sizeof len},
                            {CKA_LABEL, l.data(), l.size()},   {CKA_ID, i.data(), i.size()}};
        CK_OBJECT_HANDLE h = 0;
        check(m_impl->f->C_GenerateKey(s, &mech, t, sizeof t / sizeof t[0], &h), "C_GenerateKey");
    });
}

}  // namespace kms::test
