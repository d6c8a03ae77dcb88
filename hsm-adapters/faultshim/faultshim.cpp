// libkms_faultshim.so: a PKCS#11 v2.40 module that forwards every call to a real module
// (SoftHSM2 by default) and injects the faults a control file asks for, so kmsd's recovery can
// be tested against a real token, and vendor quirks can be emulated without the vendor's HSM.
//
// Loading. kmsd (or any PKCS#11 application) loads the shim like a vendor module and calls
// C_GetFunctionList (v2.40 §5.2). On that first call the shim reads its environment:
//   KMS_FAULTSHIM_CONTROL  the control file (language: control.hpp); unset = pure pass-through
//   KMS_FAULTSHIM_STATS    where to write counters (default: "<control file>.stats")
//   KMS_FAULTSHIM_TARGET   the real module, unless the control file has a `target` line
//                          (default: KMS_FAULTSHIM_DEFAULT_TARGET, the build's SoftHSM2)
// and dlopens the target. The real module is never dlclosed (applications may call into the
// list until exit). The only global is the module state behind C_GetFunctionList, which the C
// ABI gives no other place to live.
//
// Control file changes. Every call (all but C_GetFunctionList) stat()s the control file and
// re-reads it when its inode, size or mtime (ns) changed, so a change takes effect at the next
// PKCS#11 call the application makes after the write; latency = time to that call, plus one
// stat() per call (about 1 us). Write the file atomically (write a temporary file, rename) so
// a reader never sees half a file. Each load replaces every rule: the progress of `fail ...
// after=N count=N` starts over, and `reset` runs once per load.
//
// Fault semantics, in the order they are applied to one call:
//   1. `delay`: the call sleeps first (outside every lock), then goes on.
//   2. `remove` (token out of its slot; v2.40 §5.1.4, §5.1.14): when a load turns it on, every
//      session of the target is closed (the device lost them). While removed, C_GetSlotList
//      with tokenPresent = CK_TRUE lists no slot, C_GetSlotInfo clears CKF_TOKEN_PRESENT,
//      functions taking a slot (C_GetTokenInfo, C_GetMechanismList/Info, C_InitToken,
//      C_OpenSession, C_CloseAllSessions) answer CKR_TOKEN_NOT_PRESENT and functions taking a
//      session answer CKR_DEVICE_REMOVED. After `clear`, old session handles reach the target,
//      which answers CKR_SESSION_HANDLE_INVALID: the application must open and log in again.
//   3. `fail`: the first matching rule that fires answers its CKR without calling the target.
//      C_CloseSession and C_CloseAllSessions are forwarded anyway before answering the CKR (a
//      device that failed has lost the session; the target must not keep it open forever).
//   4. `hide`: C_*Init, C_GenerateKey(Pair), C_WrapKey, C_UnwrapKey, C_DeriveKey with a hidden
//      mechanism answer CKR_MECHANISM_INVALID; C_GetMechanismList leaves it out and
//      C_GetMechanismInfo answers CKR_MECHANISM_INVALID (v2.40 §5.5).
//   `reset` closes every session of the target (C_CloseAllSessions on each slot with a token)
//   once, when the file is loaded; it waits for calls already inside the target to return, so
//   it never closes a session under a running call (SoftHSM2 frees the session object).
//
// Counters (file KMS_FAULTSHIM_STATS, rewritten atomically after every change): `loads`,
// `errors` (control lines that could not be parsed; the messages go to stderr), `calls`,
// `injected` (every CKR the shim answered instead of the target), `injected <C_Function>
// <CKR>` per pair, `delayed`, `hidden`, `quirks`, `resets`, `removals`, `removed` (0/1) and
// `called <C_Function> <n>` (calls seen). The file is rewritten on every load, injection,
// delay, quirk and every call of C_Initialize, C_Finalize, C_OpenSession, C_CloseSession,
// C_CloseAllSessions, C_Login and C_Logout, so those counts are exact when read; the counts of
// other functions are as of the last rewrite.
//
// Thread safety: every entry point may be called from any thread (the shim adds its own
// locking; the target is initialized by the application with CKF_OS_LOCKING_OK or not, as the
// application chooses).
#include <dlfcn.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>
#include <type_traits>
#include <vector>

#include "faultshim/control.hpp"

extern "C" CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list);

#ifndef KMS_FAULTSHIM_DEFAULT_TARGET
#define KMS_FAULTSHIM_DEFAULT_TARGET "/usr/lib/softhsm/libsofthsm2.so"
#endif

namespace kms::hsm::faultshim {

namespace {

/// What identifies one version of the control file.
struct FileKey {
    bool exists = false;
    dev_t dev = 0;
    ino_t ino = 0;
    off_t size = 0;
    long mtime_sec = 0;
    long mtime_nsec = 0;
    bool operator==(const FileKey&) const = default;
};

FileKey file_key(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return {};
    return {true,
            st.st_dev,
            st.st_ino,
            st.st_size,
            static_cast<long>(st.st_mtim.tv_sec),
            static_cast<long>(st.st_mtim.tv_nsec)};
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

/// How a function behaves while the token is removed (see the header comment, step 2).
enum class RemovedClass { Pass, Slot, Session };

RemovedClass removed_class(Fn f) noexcept {
    switch (f) {
        case Fn::C_Initialize:
        case Fn::C_Finalize:
        case Fn::C_GetInfo:
        case Fn::C_GetSlotList:
        case Fn::C_GetSlotInfo:
        case Fn::C_WaitForSlotEvent:
            return RemovedClass::Pass;
        case Fn::C_GetTokenInfo:
        case Fn::C_GetMechanismList:
        case Fn::C_GetMechanismInfo:
        case Fn::C_InitToken:
        case Fn::C_OpenSession:
        case Fn::C_CloseAllSessions:
            return RemovedClass::Slot;
        default:
            return RemovedClass::Session;
    }
}

/// The functions whose calls rewrite the stats file at once (session life cycle and login).
bool rewrites_stats(Fn f) noexcept {
    switch (f) {
        case Fn::C_Initialize:
        case Fn::C_Finalize:
        case Fn::C_OpenSession:
        case Fn::C_CloseSession:
        case Fn::C_CloseAllSessions:
        case Fn::C_Login:
        case Fn::C_Logout:
            return true;
        default:
            return false;
    }
}

bool closes_sessions(Fn f) noexcept {
    return f == Fn::C_CloseSession || f == Fn::C_CloseAllSessions;
}

/// The decision for one call, taken under the state lock.
struct Decision {
    unsigned delay_ms = 0;
    bool inject = false;
    CK_RV rv = CKR_OK;
};

class Shim {
  public:
    Shim() {
        if (const char* c = std::getenv("KMS_FAULTSHIM_CONTROL"); c != nullptr && *c != '\0')
            m_control_path = c;
        if (const char* s = std::getenv("KMS_FAULTSHIM_STATS"); s != nullptr && *s != '\0')
            m_stats_path = s;
        else if (!m_control_path.empty())
            m_stats_path = m_control_path + ".stats";

        std::string target = KMS_FAULTSHIM_DEFAULT_TARGET;
        if (const char* t = std::getenv("KMS_FAULTSHIM_TARGET"); t != nullptr && *t != '\0')
            target = t;
        if (!m_control_path.empty()) {
            std::vector<std::string> ignored;
            const Control c = parse_control(read_file(m_control_path), ignored);
            if (!c.target.empty()) target = c.target;
        }
        void* h = ::dlopen(target.c_str(), RTLD_NOW | RTLD_LOCAL);
        auto get = h != nullptr
                       ? reinterpret_cast<CK_C_GetFunctionList>(::dlsym(h, "C_GetFunctionList"))
                       : nullptr;
        if (get == nullptr || get(&m_real) != CKR_OK || m_real == nullptr) {
            const char* why = h == nullptr ? ::dlerror() : "no usable C_GetFunctionList";
            std::cerr << "kms-faultshim: cannot load the target module " << target << ": "
                      << (why != nullptr ? why : "dlopen failed") << "\n";
            m_real = nullptr;
        }
        write_stats();
    }

    bool loaded() const noexcept { return m_real != nullptr; }
    const CK_FUNCTION_LIST& real() const noexcept { return *m_real; }

    /// Re-reads the control file when it changed and decides what @p f does now.
    /// @p mechanism: the call's CK_MECHANISM, if it takes one.
    Decision before(Fn f, const CK_MECHANISM* mechanism) {
        refresh();
        m_calls.fetch_add(1, std::memory_order_relaxed);
        m_called[static_cast<std::size_t>(f)].fetch_add(1, std::memory_order_relaxed);
        Decision d;
        bool changed = rewrites_stats(f);
        {
            std::lock_guard lock(m_mutex);
            for (const auto& r : m_control.delays)
                if (!never_faulted(f) && (!r.function || *r.function == f))
                    d.delay_ms += r.milliseconds;
            if (d.delay_ms > 0) {
                ++m_delayed;
                changed = true;
            }
            if (m_control.removed && removed_class(f) != RemovedClass::Pass) {
                d.inject = true;
                d.rv = removed_class(f) == RemovedClass::Slot ? CKR_TOKEN_NOT_PRESENT
                                                              : CKR_DEVICE_REMOVED;
            }
            for (auto& r : m_control.fails) {
                if (d.inject || never_faulted(f) || (r.function && *r.function != f)) continue;
                ++r.seen;
                if (r.seen <= r.after || (r.count != 0 && r.fired >= r.count)) continue;
                ++r.fired;
                d.inject = true;
                d.rv = r.rv;
                if (r.quirk) ++m_quirks;
            }
            if (!d.inject && mechanism != nullptr && is_hidden_locked(mechanism->mechanism)) {
                d.inject = true;
                d.rv = CKR_MECHANISM_INVALID;
                ++m_hidden;
            }
            if (d.inject) {
                ++m_injected;
                ++m_injected_by[std::string(function_name(f)) + " " + ckr_label(d.rv)];
                changed = true;
            }
        }
        if (changed) write_stats();
        return d;
    }

    /// Forwards one call with the gate held, so reset/remove never close a session under it.
    template <class Call>
    CK_RV forward(Call&& call) {
        {
            std::unique_lock lock(m_gate_mutex);
            m_gate_cv.wait(lock, [this] { return !m_closing; });
            ++m_active;
        }
        const CK_RV rv = call();
        {
            std::lock_guard lock(m_gate_mutex);
            if (--m_active == 0 && m_closing) m_gate_cv.notify_all();
        }
        return rv;
    }

    bool removed() {
        std::lock_guard lock(m_mutex);
        return m_control.removed;
    }
    bool is_hidden(CK_MECHANISM_TYPE m) {
        std::lock_guard lock(m_mutex);
        return is_hidden_locked(m);
    }
    bool login_already_logged_in() {
        std::lock_guard lock(m_mutex);
        return m_control.login_already_logged_in;
    }
    std::optional<std::string> manufacturer() {
        std::lock_guard lock(m_mutex);
        return m_control.manufacturer;
    }
    /// Counts a quirk or a hidden mechanism that changed an answer.
    void count_quirk(bool hidden_mechanism) {
        {
            std::lock_guard lock(m_mutex);
            ++(hidden_mechanism ? m_hidden : m_quirks);
        }
        write_stats();
    }

  private:
    bool is_hidden_locked(CK_MECHANISM_TYPE m) const {
        return std::find(m_control.hidden.begin(), m_control.hidden.end(), m) !=
               m_control.hidden.end();
    }

    void refresh() {
        if (m_control_path.empty()) return;
        const FileKey key = file_key(m_control_path);
        bool close = false;
        {
            std::lock_guard lock(m_mutex);
            if (key == m_key) return;
            m_key = key;
            std::vector<std::string> errors;
            Control next = parse_control(key.exists ? read_file(m_control_path) : "", errors);
            for (const auto& e : errors)
                std::cerr << "kms-faultshim: " << m_control_path << ": " << e << "\n";
            m_errors += errors.size();
            ++m_loads;
            if (next.reset) ++m_resets;
            if (next.removed && !m_control.removed) ++m_removals;
            close = next.reset || (next.removed && !m_control.removed);
            m_control = std::move(next);
        }
        if (close && loaded()) close_all_sessions();
        write_stats();
    }

    /// The device lost every session: C_CloseAllSessions (v2.40 §5.6) on every slot with a
    /// token, once no call is inside the target; calls arriving meanwhile wait at the gate.
    void close_all_sessions() {
        std::unique_lock lock(m_gate_mutex);
        m_gate_cv.wait(lock, [this] { return !m_closing; });  // one closer at a time
        m_closing = true;
        m_gate_cv.wait(lock, [this] { return m_active == 0; });
        CK_ULONG n = 0;
        if (m_real->C_GetSlotList(CK_TRUE, nullptr, &n) == CKR_OK && n > 0) {
            std::vector<CK_SLOT_ID> slots(n);
            if (m_real->C_GetSlotList(CK_TRUE, slots.data(), &n) == CKR_OK)
                for (CK_ULONG i = 0; i < n; ++i) m_real->C_CloseAllSessions(slots[i]);
        }
        m_closing = false;
        m_gate_cv.notify_all();
    }

    /// Rewrites the stats file (temporary file + rename). A thread that finds another writing
    /// leaves it a "dirty" mark, which the writer picks up before it leaves.
    void write_stats() {
        if (m_stats_path.empty()) return;
        m_stats_dirty.store(true);
        for (;;) {
            {
                std::unique_lock writer(m_stats_mutex, std::try_to_lock);
                if (!writer.owns_lock()) return;
                while (m_stats_dirty.exchange(false)) {
                    const std::string text = snapshot();
                    const std::string tmp = m_stats_path + ".tmp";
                    if (std::FILE* f = std::fopen(tmp.c_str(), "w")) {
                        std::fwrite(text.data(), 1, text.size(), f);
                        std::fclose(f);
                        std::rename(tmp.c_str(), m_stats_path.c_str());
                    }
                }
            }
            if (!m_stats_dirty.load()) return;
        }
    }

    std::string snapshot() {
        std::lock_guard lock(m_mutex);
        std::ostringstream o;
        o << "loads " << m_loads << "\nerrors " << m_errors << "\ncalls " << m_calls.load()
          << "\ninjected " << m_injected << "\ndelayed " << m_delayed << "\nhidden " << m_hidden
          << "\nquirks " << m_quirks << "\nresets " << m_resets << "\nremovals " << m_removals
          << "\nremoved " << (m_control.removed ? 1 : 0) << "\n";
        for (const auto& [what, n] : m_injected_by) o << "injected " << what << " " << n << "\n";
        for (std::size_t i = 0; i < kFunctionCount; ++i)
            if (const auto n = m_called[i].load(); n != 0)
                o << "called " << function_name(static_cast<Fn>(i)) << " " << n << "\n";
        return o.str();
    }

    CK_FUNCTION_LIST* m_real = nullptr;
    std::string m_control_path;
    std::string m_stats_path;

    std::mutex m_mutex;  // everything down to m_injected_by
    FileKey m_key;
    Control m_control;
    std::uint64_t m_loads = 0, m_errors = 0, m_injected = 0, m_delayed = 0, m_hidden = 0,
                  m_quirks = 0, m_resets = 0, m_removals = 0;
    std::map<std::string, std::uint64_t> m_injected_by;
    std::atomic<std::uint64_t> m_calls{0};
    std::array<std::atomic<std::uint64_t>, kFunctionCount> m_called{};

    std::mutex m_gate_mutex;  // the gate: calls inside the target vs. close_all_sessions()
    std::condition_variable m_gate_cv;
    std::size_t m_active = 0;
    bool m_closing = false;

    std::mutex m_stats_mutex;
    std::atomic<bool> m_stats_dirty{false};
};

Shim& shim() {
    // The module state (see the header comment). Never destroyed: an application thread may
    // still call into the list while static destructors run at exit.
    static Shim* const s = new Shim;
    return *s;
}

/// The CK_MECHANISM_PTR argument of a call, if it has one.
template <typename... A>
const CK_MECHANISM* mechanism_of(A... args) {
    const CK_MECHANISM* m = nullptr;
    (
        [&] {
            if constexpr (std::is_same_v<A, CK_MECHANISM_PTR>)
                if (m == nullptr) m = args;
        }(),
        ...);
    return m;
}

void sleep_ms(unsigned ms) {
    if (ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(ms));
}

/// The generic wrapper: delay, inject, or forward.
template <Fn F, auto Member>
struct Wrap;
template <Fn F, typename... A, CK_RV (*CK_FUNCTION_LIST::*Member)(A...)>
struct Wrap<F, Member> {
    static CK_RV call(A... args) {
        Shim& s = shim();
        const Decision d = s.before(F, mechanism_of(args...));
        sleep_ms(d.delay_ms);
        if (d.inject && !closes_sessions(F)) return d.rv;
        // C_WaitForSlotEvent may block until a slot event (v2.40 §5.5): outside the gate, or a
        // reset would wait for it.
        if constexpr (F == Fn::C_WaitForSlotEvent) return (s.real().*Member)(args...);
        const CK_RV rv = s.forward([&] { return (s.real().*Member)(args...); });
        return d.inject ? d.rv : rv;
    }
};

// ---- functions with their own behaviour ----

/// v2.40 §5.4 C_GetInfo; the `manufacturer` quirk rewrites manufacturerID (blank padded).
CK_RV get_info(CK_INFO_PTR info) {
    Shim& s = shim();
    const Decision d = s.before(Fn::C_GetInfo, nullptr);
    sleep_ms(d.delay_ms);
    if (d.inject) return d.rv;
    const CK_RV rv = s.forward([&] { return s.real().C_GetInfo(info); });
    if (rv == CKR_OK && info != nullptr) {
        if (const auto m = s.manufacturer()) {
            std::memset(info->manufacturerID, ' ', sizeof info->manufacturerID);
            std::memcpy(info->manufacturerID, m->data(),
                        std::min(m->size(), sizeof info->manufacturerID));
            s.count_quirk(false);
        }
    }
    return rv;
}

/// Answers a list query the PKCS#11 way (v2.40 §5.2 "conventions for functions returning
/// output in a variable-length buffer"): NULL buffer = size only; too small =
/// CKR_BUFFER_TOO_SMALL with the size needed.
template <typename T>
CK_RV answer_list(const std::vector<T>& items, T* out, CK_ULONG_PTR count) {
    if (count == nullptr) return CKR_ARGUMENTS_BAD;
    const CK_ULONG room = *count;
    *count = static_cast<CK_ULONG>(items.size());
    if (out == nullptr) return CKR_OK;
    if (room < items.size()) return CKR_BUFFER_TOO_SMALL;
    std::copy(items.begin(), items.end(), out);
    return CKR_OK;
}

/// v2.40 §5.5 C_GetSlotList: with tokenPresent, a removed token's slots are left out.
CK_RV get_slot_list(CK_BBOOL token_present, CK_SLOT_ID_PTR list, CK_ULONG_PTR count) {
    Shim& s = shim();
    const Decision d = s.before(Fn::C_GetSlotList, nullptr);
    sleep_ms(d.delay_ms);
    if (d.inject) return d.rv;
    if (token_present == CK_TRUE && s.removed())
        return answer_list(std::vector<CK_SLOT_ID>{}, list, count);
    return s.forward([&] { return s.real().C_GetSlotList(token_present, list, count); });
}

/// v2.40 §5.5 C_GetSlotInfo: a removed token's slot lacks CKF_TOKEN_PRESENT.
CK_RV get_slot_info(CK_SLOT_ID slot, CK_SLOT_INFO_PTR info) {
    Shim& s = shim();
    const Decision d = s.before(Fn::C_GetSlotInfo, nullptr);
    sleep_ms(d.delay_ms);
    if (d.inject) return d.rv;
    const CK_RV rv = s.forward([&] { return s.real().C_GetSlotInfo(slot, info); });
    if (rv == CKR_OK && info != nullptr && s.removed()) info->flags &= ~CKF_TOKEN_PRESENT;
    return rv;
}

/// v2.40 §5.5 C_GetMechanismList without the hidden mechanisms.
CK_RV get_mechanism_list(CK_SLOT_ID slot, CK_MECHANISM_TYPE_PTR list, CK_ULONG_PTR count) {
    Shim& s = shim();
    const Decision d = s.before(Fn::C_GetMechanismList, nullptr);
    sleep_ms(d.delay_ms);
    if (d.inject) return d.rv;
    if (count == nullptr) return CKR_ARGUMENTS_BAD;
    std::vector<CK_MECHANISM_TYPE> all;
    const CK_RV rv = s.forward([&] {
        CK_ULONG n = 0;
        CK_RV r = s.real().C_GetMechanismList(slot, nullptr, &n);
        if (r != CKR_OK) return r;
        all.resize(n);
        r = s.real().C_GetMechanismList(slot, all.data(), &n);
        all.resize(n);
        return r;
    });
    if (rv != CKR_OK) return rv;
    const auto before = all.size();
    std::erase_if(all, [&s](CK_MECHANISM_TYPE m) { return s.is_hidden(m); });
    if (all.size() != before) s.count_quirk(true);
    return answer_list(all, list, count);
}

/// v2.40 §5.5 C_GetMechanismInfo: CKR_MECHANISM_INVALID for a hidden mechanism.
CK_RV get_mechanism_info(CK_SLOT_ID slot, CK_MECHANISM_TYPE type, CK_MECHANISM_INFO_PTR info) {
    Shim& s = shim();
    const Decision d = s.before(Fn::C_GetMechanismInfo, nullptr);
    sleep_ms(d.delay_ms);
    if (d.inject) return d.rv;
    if (s.is_hidden(type)) {
        s.count_quirk(true);
        return CKR_MECHANISM_INVALID;
    }
    return s.forward([&] { return s.real().C_GetMechanismInfo(slot, type, info); });
}

/// v2.40 §5.6 C_Login; the `login-already-logged-in` quirk answers CKR_USER_ALREADY_LOGGED_IN
/// after a successful login, as a module whose login another application already holds.
CK_RV login(CK_SESSION_HANDLE session, CK_USER_TYPE user, CK_UTF8CHAR_PTR pin, CK_ULONG len) {
    Shim& s = shim();
    const Decision d = s.before(Fn::C_Login, nullptr);
    sleep_ms(d.delay_ms);
    if (d.inject) return d.rv;
    const CK_RV rv = s.forward([&] { return s.real().C_Login(session, user, pin, len); });
    if (rv == CKR_OK && s.login_already_logged_in()) {
        s.count_quirk(false);
        return CKR_USER_ALREADY_LOGGED_IN;
    }
    return rv;
}

CK_FUNCTION_LIST g_list;  // filled once, under std::call_once
std::once_flag g_once;

void build_list() {
    Shim& s = shim();
    if (!s.loaded()) return;
    g_list = s.real();  // version and layout of the target's list
#define KMS_FAULTSHIM_ASSIGN(f) g_list.f = &Wrap<Fn::f, &CK_FUNCTION_LIST::f>::call;
    KMS_FAULTSHIM_FUNCTIONS(KMS_FAULTSHIM_ASSIGN)
#undef KMS_FAULTSHIM_ASSIGN
    g_list.C_GetInfo = &get_info;
    g_list.C_GetSlotList = &get_slot_list;
    g_list.C_GetSlotInfo = &get_slot_info;
    g_list.C_GetMechanismList = &get_mechanism_list;
    g_list.C_GetMechanismInfo = &get_mechanism_info;
    g_list.C_Login = &login;
    g_list.C_GetFunctionList = &::C_GetFunctionList;
}

}  // namespace

}  // namespace kms::hsm::faultshim

extern "C" {

/// PKCS#11 v2.40 §5.2 C_GetFunctionList: the shim's list, whose entries forward to the target.
/// CKR_GENERAL_ERROR when the target cannot be loaded (the reason goes to stderr).
__attribute__((visibility("default"))) CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list) {
    using namespace kms::hsm::faultshim;
    if (list == nullptr) return CKR_ARGUMENTS_BAD;
    std::call_once(g_once, build_list);
    if (!shim().loaded()) return CKR_GENERAL_ERROR;
    *list = &g_list;
    return CKR_OK;
}

}  // extern "C"
