// Reading a JSON integer from a plugin's request body without Poco's conversion exceptions.
//
// Poco's JSON parser keeps a number past INT64_MAX as an unsigned 64-bit value, and
// Poco::Dynamic::Var::convert<std::int64_t>() of it throws Poco::RangeException. A handler that
// range-checks with convert<std::int64_t>() therefore answers `{"amount": 9223372036854775808}`
// with whatever its catch-all gives a foreign exception (a 500), not the 400 naming the field
// that any other bad number gets. These helpers never throw: they say whether the value is an
// integer in the range, and the caller refuses in its own words.
#pragma once

#include <Poco/Dynamic/Var.h>

#include <cstdint>
#include <limits>
#include <optional>
#include <typeinfo>

namespace kms::tsm {

/// @p v when it is a JSON integer (not a bool, a string or a fraction) in [@p min, @p max];
/// nullopt otherwise.
inline std::optional<std::int64_t> json_int(const Poco::Dynamic::Var& v, std::int64_t min,
                                            std::int64_t max) {
    if (v.isEmpty() || !v.isInteger() || v.type() == typeid(bool)) return std::nullopt;
    if (!v.isSigned()) {
        const auto u = v.convert<std::uint64_t>();
        if (max < 0 || u > static_cast<std::uint64_t>(max)) return std::nullopt;
        const auto n = static_cast<std::int64_t>(u);
        return n < min ? std::nullopt : std::optional<std::int64_t>(n);
    }
    const auto n = v.convert<std::int64_t>();
    return n < min || n > max ? std::nullopt : std::optional<std::int64_t>(n);
}

/// @p v when it is a non-negative JSON integer up to @p max (the whole unsigned 64-bit range by
/// default); nullopt otherwise.
inline std::optional<std::uint64_t> json_uint(
    const Poco::Dynamic::Var& v, std::uint64_t max = std::numeric_limits<std::uint64_t>::max()) {
    if (v.isEmpty() || !v.isInteger() || v.type() == typeid(bool)) return std::nullopt;
    if (v.isSigned() && v.convert<std::int64_t>() < 0) return std::nullopt;
    const auto u = v.convert<std::uint64_t>();
    return u > max ? std::nullopt : std::optional<std::uint64_t>(u);
}

}  // namespace kms::tsm
