// Buffers for secrets (clear key components, PINs): wiped on release with a call the compiler
// cannot elide, optionally locked in RAM so they are never swapped out.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace kms {

/// Overwrites @p len bytes at @p p with zeros; never optimised away.
void secure_wipe(void* p, std::size_t len) noexcept;

/// Move-only owner of secret bytes, zero-filled at construction and wiped in the destructor.
/// Up to 4096 bytes it lives in a process-wide arena of pages locked once (mlock) and kept out
/// of core dumps (MADV_DONTDUMP); larger buffers get pages of their own with the same
/// treatment. Failure to lock is tolerated (RLIMIT_MEMLOCK may be small; the wipe still
/// happens) and shows in locked(). Never printed, never copied implicitly.
class SecureBytes {
  public:
    SecureBytes() = default;
    explicit SecureBytes(std::size_t size);
    SecureBytes(const std::uint8_t* data, std::size_t size);
    explicit SecureBytes(std::span<const std::uint8_t> data)
        : SecureBytes(data.data(), data.size()) {}
    ~SecureBytes();

    SecureBytes(SecureBytes&& other) noexcept;
    SecureBytes& operator=(SecureBytes&& other) noexcept;
    SecureBytes(const SecureBytes&) = delete;
    SecureBytes& operator=(const SecureBytes&) = delete;

    std::uint8_t* data() noexcept { return m_data; }
    const std::uint8_t* data() const noexcept { return m_data; }
    std::size_t size() const noexcept { return m_size; }
    bool empty() const noexcept { return m_size == 0; }
    /// True when the pages holding the buffer are locked in RAM.
    bool locked() const noexcept { return m_locked; }
    std::span<const std::uint8_t> view() const noexcept { return {m_data, m_size}; }
    std::uint8_t& operator[](std::size_t i) noexcept { return m_data[i]; }
    std::uint8_t operator[](std::size_t i) const noexcept { return m_data[i]; }

  private:
    void release() noexcept;
    std::uint8_t* m_data = nullptr;
    std::size_t m_size = 0;
    bool m_locked = false;
};

/// A PIN or token: wiped on release, shown as "***" if someone tries to print it.
class SecretString {
  public:
    SecretString() = default;
    explicit SecretString(std::string_view value)
        : m_bytes(reinterpret_cast<const std::uint8_t*>(value.data()), value.size()) {}
    std::string_view reveal() const noexcept {
        return {reinterpret_cast<const char*>(m_bytes.data()), m_bytes.size()};
    }
    bool empty() const noexcept { return m_bytes.empty(); }
    std::size_t size() const noexcept { return m_bytes.size(); }

  private:
    SecureBytes m_bytes;
};

}  // namespace kms
