// Reader for the known-answer data files in tests/vectors: "key = value" lines, a blank line
// between cases, '#' at the start of a line for comments. Values are trimmed; a field named
// "<name>_ascii" holds text whose bytes are the value, any other field holds hex.
#pragma once

#include <gtest/gtest.h>

#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "domain/bytes.hpp"
#include "domain/error.hpp"

namespace kms::test {

/// One case of a vector file. Accessors throw std::runtime_error naming file:line when a
/// field is missing or malformed, so a typo in a data file fails the test instead of skipping.
struct VectorCase {
    std::string file;
    int line = 0;  ///< line of the case's first field
    std::map<std::string, std::string, std::less<>> fields;

    bool has(std::string_view name) const;
    /// The raw (trimmed) value of @p name.
    const std::string& text(std::string_view name) const;
    /// @p name as hex, or the bytes of "<name>_ascii" when that field is present instead.
    Bytes bytes(std::string_view name) const;
    /// @p name as a non-negative decimal.
    std::size_t number(std::string_view name) const;
    /// "file:line", for SCOPED_TRACE.
    std::string where() const;
};

/// Parses @p content; @p file_name is used in messages only. Throws std::runtime_error on a
/// non-comment line without '=', an empty field name or a field given twice in one case.
std::vector<VectorCase> parse_vectors(std::string_view content, const std::string& file_name);

/// Reads $KMS_TEST_VECTORS/@p file_name. Throws std::runtime_error when the variable is not
/// set, the file cannot be read, or it holds no case.
std::vector<VectorCase> read_vector_file(const std::string& file_name);

/// The ErrorCode of the kms::Error that @p f throws; a test failure if it throws none.
template <typename F>
ErrorCode error_code_of(F&& f) {
    try {
        f();
    } catch (const Error& e) {
        return e.code();
    }
    ADD_FAILURE() << "expected a kms::Error";
    return ErrorCode::Internal;
}

}  // namespace kms::test
