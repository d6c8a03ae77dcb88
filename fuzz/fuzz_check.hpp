// What every fuzz target of fuzz/ shares: the rule that a parser may refuse its input only with
// kms::Error (which the REST layer, the plugin ABI and kmsctl translate into a clean 4xx), and
// a check that aborts, so libFuzzer records the input, when a structured property fails.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string_view>

#include "domain/error.hpp"

namespace kms::fuzz {

/// Aborts with @p what on stderr when @p ok is false (a round trip that did not hold, ...).
inline void check(bool ok, const char* what) {
    if (ok) return;
    std::fprintf(stderr, "fuzz check failed: %s\n", what);
    std::abort();
}

/// Runs @p f; kms::Error is the documented way to refuse input and is swallowed. Any other
/// exception escaping a production parser is a bug (it would reach a REST handler or the C ABI
/// as a 500 or std::terminate), so it aborts with its message.
template <typename F>
void refusing_only_with_error(const char* where, F&& f) {
    try {
        f();
    } catch (const kms::Error&) {
    } catch (const std::exception& e) {
        std::fprintf(stderr, "%s: unexpected %s exception: %s\n", where, typeid(e).name(),
                     e.what());
        std::abort();
    }
}

/// A cursor over the fuzzer's bytes that never reads past the end (0 once exhausted).
class Reader {
  public:
    Reader(const std::uint8_t* data, std::size_t size) : m_data(data), m_size(size) {}
    bool empty() const { return m_pos >= m_size; }
    std::uint8_t byte() { return empty() ? 0 : m_data[m_pos++]; }
    /// Up to @p n bytes (fewer at the end).
    std::basic_string_view<std::uint8_t> take(std::size_t n) {
        if (n > m_size - m_pos) n = m_size - m_pos;
        std::basic_string_view<std::uint8_t> out(m_data + m_pos, n);
        m_pos += n;
        return out;
    }
    /// A chunk with a 1-byte length prefix.
    std::basic_string_view<std::uint8_t> chunk() { return take(byte()); }
    std::basic_string_view<std::uint8_t> rest() { return take(m_size - m_pos); }

  private:
    const std::uint8_t* m_data;
    std::size_t m_size;
    std::size_t m_pos = 0;
};

}  // namespace kms::fuzz
