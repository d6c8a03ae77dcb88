// Move-only RAII over a PKCS#11 session and over an object handle, and the object search.
// Destructors never throw: a failed C_CloseSession or C_DestroyObject cannot be reported from a
// destructor, and the state it leaves (an object that outlives its use by at most the life of
// its session) is harmless.
//
// Thread safety: a session must not be used by two threads at once (PKCS#11 v2.20 §13.1:
// "different threads of an application should never share sessions"). The objects here are
// not synchronised; SessionPool hands each session to one thread at a time.
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

#include "pkcs11/cryptoki.hpp"

namespace kms::hsm {

class Module;

/// An open session; C_CloseSession in the destructor. Closing the application's last session
/// on a token logs the user out (PKCS#11 v2.40 §5.6), which SessionPool relies on.
class Session {
  public:
    Session() = default;
    /// Opens a serial session on @p slot, read/write when @p read_write.
    /// Throws kms::Error (CkRv) from C_OpenSession.
    static Session open(const Module& module, CK_SLOT_ID slot, bool read_write = true);

    Session(const CK_FUNCTION_LIST* fn, CK_SESSION_HANDLE handle) noexcept
        : m_fn(fn), m_handle(handle) {}
    ~Session() { close(); }
    Session(Session&& other) noexcept : m_fn(other.m_fn), m_handle(other.m_handle) {
        other.m_handle = CK_INVALID_HANDLE;
    }
    Session& operator=(Session&& other) noexcept;
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    CK_SESSION_HANDLE handle() const noexcept { return m_handle; }
    explicit operator bool() const noexcept { return m_handle != CK_INVALID_HANDLE; }
    /// C_CloseSession now; the result is ignored (the session may already be gone).
    void close() noexcept;

  private:
    const CK_FUNCTION_LIST* m_fn = nullptr;
    CK_SESSION_HANDLE m_handle = CK_INVALID_HANDLE;
};

/// An object that must not outlive the current operation (temporary key objects of generate()
/// and import, the clear-value object of a host fallback): C_DestroyObject in the destructor.
class ScopedObject {
  public:
    ScopedObject() = default;
    ScopedObject(const CK_FUNCTION_LIST* fn, CK_SESSION_HANDLE session,
                 CK_OBJECT_HANDLE object) noexcept
        : m_fn(fn), m_session(session), m_object(object) {}
    ~ScopedObject() { reset(); }
    ScopedObject(ScopedObject&& other) noexcept
        : m_fn(other.m_fn), m_session(other.m_session), m_object(other.m_object) {
        other.m_object = CK_INVALID_HANDLE;
    }
    ScopedObject& operator=(ScopedObject&& other) noexcept;
    ScopedObject(const ScopedObject&) = delete;
    ScopedObject& operator=(const ScopedObject&) = delete;

    CK_OBJECT_HANDLE get() const noexcept { return m_object; }
    /// Gives up ownership without destroying the object.
    CK_OBJECT_HANDLE release() noexcept;
    /// Destroys the object now (result ignored).
    void reset() noexcept;

  private:
    const CK_FUNCTION_LIST* m_fn = nullptr;
    CK_SESSION_HANDLE m_session = CK_INVALID_HANDLE;
    CK_OBJECT_HANDLE m_object = CK_INVALID_HANDLE;
};

/// C_FindObjectsInit / C_FindObjects / C_FindObjectsFinal (PKCS#11 v2.40 §5.7): every object
/// matching @p attrs, at most @p max. C_FindObjectsFinal always runs, also when a call throws,
/// so the session never keeps an active search. Throws kms::Error (CkRv).
std::vector<CK_OBJECT_HANDLE> find_objects(const CK_FUNCTION_LIST& fn, CK_SESSION_HANDLE session,
                                           CK_ATTRIBUTE* attrs, CK_ULONG count,
                                           std::size_t max = static_cast<std::size_t>(-1));

}  // namespace kms::hsm
