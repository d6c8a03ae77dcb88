// SecureBytes: allocation, mlock and a wipe the optimiser must keep.
#include "secure_bytes.hpp"

#include <string.h>
#include <sys/mman.h>

#include <cstdlib>
#include <cstring>
#include <new>

namespace kms {

void secure_wipe(void* p, std::size_t len) noexcept {
    if (p != nullptr && len != 0) explicit_bzero(p, len);  // glibc: not elided
}

SecureBytes::SecureBytes(std::size_t size) : m_size(size) {
    if (size == 0) return;
    m_data = static_cast<std::uint8_t*>(std::calloc(size, 1));
    if (m_data == nullptr) throw std::bad_alloc();
    m_locked = ::mlock(m_data, size) == 0;
}

SecureBytes::SecureBytes(const std::uint8_t* data, std::size_t size) : SecureBytes(size) {
    if (size != 0) std::memcpy(m_data, data, size);
}

SecureBytes::~SecureBytes() {
    release();
}

SecureBytes::SecureBytes(SecureBytes&& other) noexcept
    : m_data(other.m_data), m_size(other.m_size), m_locked(other.m_locked) {
    other.m_data = nullptr;
    other.m_size = 0;
    other.m_locked = false;
}

SecureBytes& SecureBytes::operator=(SecureBytes&& other) noexcept {
    if (this != &other) {
        release();
        m_data = other.m_data;
        m_size = other.m_size;
        m_locked = other.m_locked;
        other.m_data = nullptr;
        other.m_size = 0;
        other.m_locked = false;
    }
    return *this;
}

void SecureBytes::release() noexcept {
    if (m_data == nullptr) return;
    secure_wipe(m_data, m_size);
    if (m_locked) ::munlock(m_data, m_size);
    std::free(m_data);
    m_data = nullptr;
    m_size = 0;
    m_locked = false;
}

}  // namespace kms
