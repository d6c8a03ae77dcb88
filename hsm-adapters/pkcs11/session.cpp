// Session, ScopedObject and object search.
#include "pkcs11/session.hpp"

#include "pkcs11/errors.hpp"
#include "pkcs11/module.hpp"

namespace kms::hsm {

Session Session::open(const Module& module, CK_SLOT_ID slot, bool read_write) {
    CK_FLAGS flags = CKF_SERIAL_SESSION;  // PKCS#11 v2.40 §5.6: must always be set
    if (read_write) flags |= CKF_RW_SESSION;
    CK_SESSION_HANDLE handle = CK_INVALID_HANDLE;
    check_rv(module.fn().C_OpenSession(slot, flags, nullptr, nullptr, &handle), "C_OpenSession");
    return Session(&module.fn(), handle);
}

Session& Session::operator=(Session&& other) noexcept {
    if (this != &other) {
        close();
        m_fn = other.m_fn;
        m_handle = other.m_handle;
        other.m_handle = CK_INVALID_HANDLE;
    }
    return *this;
}

void Session::close() noexcept {
    if (m_handle == CK_INVALID_HANDLE) return;
    m_fn->C_CloseSession(m_handle);
    m_handle = CK_INVALID_HANDLE;
}

ScopedObject& ScopedObject::operator=(ScopedObject&& other) noexcept {
    if (this != &other) {
        reset();
        m_fn = other.m_fn;
        m_session = other.m_session;
        m_object = other.m_object;
        other.m_object = CK_INVALID_HANDLE;
    }
    return *this;
}

CK_OBJECT_HANDLE ScopedObject::release() noexcept {
    const auto h = m_object;
    m_object = CK_INVALID_HANDLE;
    return h;
}

void ScopedObject::reset() noexcept {
    if (m_object == CK_INVALID_HANDLE) return;
    m_fn->C_DestroyObject(m_session, m_object);
    m_object = CK_INVALID_HANDLE;
}

namespace {
class FindGuard {
  public:
    FindGuard(const CK_FUNCTION_LIST& fn, CK_SESSION_HANDLE s) noexcept : m_fn(fn), m_s(s) {}
    ~FindGuard() { m_fn.C_FindObjectsFinal(m_s); }
    FindGuard(const FindGuard&) = delete;
    FindGuard& operator=(const FindGuard&) = delete;

  private:
    const CK_FUNCTION_LIST& m_fn;
    CK_SESSION_HANDLE m_s;
};
}  // namespace

std::vector<CK_OBJECT_HANDLE> find_objects(const CK_FUNCTION_LIST& fn, CK_SESSION_HANDLE session,
                                           CK_ATTRIBUTE* attrs, CK_ULONG count, std::size_t max) {
    check_rv(fn.C_FindObjectsInit(session, attrs, count), "C_FindObjectsInit");
    FindGuard guard(fn, session);
    std::vector<CK_OBJECT_HANDLE> out;
    CK_OBJECT_HANDLE batch[64];
    while (out.size() < max) {
        CK_ULONG got = 0;
        check_rv(fn.C_FindObjects(session, batch, 64, &got), "C_FindObjects");
        if (got == 0) break;
        out.insert(out.end(), batch, batch + got);
    }
    if (out.size() > max) out.resize(max);
    return out;
}

}  // namespace kms::hsm
