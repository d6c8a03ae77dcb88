// SecureBytes: a locked arena for small secrets, dedicated locked pages for large ones, and a
// wipe the optimiser must keep.
//
// Why an arena: mlock() and munlock() per buffer cost two system calls and a page-table walk
// for every session key (about 10 % of kmsd's CPU when opening SCP03 sessions), and munlock()
// of a page shared by two small buffers unlocked the survivor too. Here small buffers come
// from 64 KiB chunks that are locked once and never unlocked or unmapped; a freed block is
// wiped and kept on its size class's free list for the next secret of that size.
#include "secure_bytes.hpp"

#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <array>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>

// Under AddressSanitizer the arena tells it which blocks are handed out, so a use after release
// or an overrun into a neighbouring block is reported as it would be for malloc.
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define KMS_POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define KMS_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define KMS_POISON(p, n) ((void)(p), (void)(n))
#define KMS_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

namespace kms {

void secure_wipe(void* p, std::size_t len) noexcept {
    if (p != nullptr && len != 0) explicit_bzero(p, len);  // glibc: not elided
}

namespace {

constexpr std::size_t kMinBlock = 16;
constexpr std::size_t kMaxBlock = 4096;  // larger buffers get their own pages
constexpr std::size_t kClasses = 9;      // 16, 32, ..., 4096
constexpr std::size_t kChunk = 64 * 1024;

std::size_t class_of(std::size_t size) noexcept {
    std::size_t c = 0;
    for (std::size_t block = kMinBlock; block < size; block <<= 1) ++c;
    return c;
}

std::size_t page_size() noexcept {
    static const std::size_t page = [] {
        const long p = ::sysconf(_SC_PAGESIZE);
        return p > 0 ? static_cast<std::size_t>(p) : std::size_t{4096};
    }();
    return page;
}

/// Anonymous private pages: zero-filled, kept out of core dumps, locked when the limit allows.
/// Returns nullptr when the mapping fails.
void* map_secret_pages(std::size_t bytes, bool& locked) noexcept {
    void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return nullptr;
    (void)::madvise(p, bytes, MADV_DONTDUMP);
    locked = ::mlock(p, bytes) == 0;
    return p;
}

/// Process-wide free lists, one per size class, each under its own mutex. Memory is never
/// returned to the system: the arena is as large as the most secrets ever alive at once.
class LockedArena {
  public:
    void* allocate(std::size_t size, bool& locked) {
        Class& k = m_classes[class_of(size)];
        const std::size_t block = kMinBlock << class_of(size);
        std::lock_guard lock(k.mutex);
        if (k.free_list == nullptr) refill(k, block);
        Free* b = k.free_list;
        KMS_UNPOISON(b, sizeof(Free));
        k.free_list = b->next;
        locked = k.locked;
        KMS_UNPOISON(b, size);  // the rest of the block stays poisoned
        std::memset(b, 0, size);  // SecureBytes(n) is zero-filled, like calloc
        return b;
    }

    /// @p p came from allocate(@p size); its @p size bytes have been wiped.
    void release(void* p, std::size_t size) noexcept {
        Class& k = m_classes[class_of(size)];
        std::lock_guard lock(k.mutex);
        auto* b = static_cast<Free*>(p);
        KMS_UNPOISON(b, sizeof(Free));
        b->next = k.free_list;
        k.free_list = b;
        KMS_POISON(b, kMinBlock << class_of(size));
    }

  private:
    struct Free {
        Free* next;
    };
    struct Class {
        std::mutex mutex;
        Free* free_list = nullptr;
        bool locked = true;  ///< false once any chunk of this class could not be locked
    };

    static void refill(Class& k, std::size_t block) {
        bool locked = false;
        auto* chunk = static_cast<std::uint8_t*>(map_secret_pages(kChunk, locked));
        if (chunk == nullptr) throw std::bad_alloc();
        k.locked = k.locked && locked;
        for (std::size_t off = kChunk; off >= block; off -= block) {
            auto* b = reinterpret_cast<Free*>(chunk + off - block);
            b->next = k.free_list;
            k.free_list = b;
        }
        KMS_POISON(chunk, kChunk);
    }

    std::array<Class, kClasses> m_classes;
};

LockedArena& arena() {
    // Never destroyed: a static SecureBytes may be released after other statics are gone.
    static LockedArena* a = new LockedArena;
    return *a;
}

std::size_t large_mapping(std::size_t size) noexcept {
    return (size + page_size() - 1) / page_size() * page_size();
}

}  // namespace

SecureBytes::SecureBytes(std::size_t size) : m_size(size) {
    if (size == 0) return;
    if (size <= kMaxBlock) {
        m_data = static_cast<std::uint8_t*>(arena().allocate(size, m_locked));
        return;
    }
    m_data = static_cast<std::uint8_t*>(map_secret_pages(large_mapping(size), m_locked));
    if (m_data == nullptr) throw std::bad_alloc();
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
    if (m_size <= kMaxBlock) {
        arena().release(m_data, m_size);
    } else {
        // Its own pages: munlock (implied by munmap) cannot touch another secret.
        ::munmap(m_data, large_mapping(m_size));
    }
    m_data = nullptr;
    m_size = 0;
    m_locked = false;
}

}  // namespace kms
