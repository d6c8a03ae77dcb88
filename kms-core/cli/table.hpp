// Plain-text layout for kmsctl's human output: aligned tables and "Label:  value" blocks.
#pragma once

#include <ostream>
#include <string>
#include <utility>
#include <vector>

namespace kms::cli {

/// Display width of UTF-8 text in terminal columns (one per code point; kmsd's names are ASCII
/// in practice, and this keeps multi-byte names from breaking the alignment).
std::size_t display_width(const std::string& text);

/// A table with a header row; columns are separated by two spaces and padded to the widest
/// cell, the last column is not padded. Cells with line breaks are flattened to one line.
class Table {
  public:
    explicit Table(std::vector<std::string> headers);
    /// Adds a row; missing cells are empty, extra cells are dropped.
    void add(std::vector<std::string> row);
    bool empty() const { return m_rows.empty(); }
    void print(std::ostream& out) const;

  private:
    std::vector<std::string> m_headers;
    std::vector<std::vector<std::string>> m_rows;
};

/// Labelled lines, "Label:" padded so the values line up:
///   Name:       payments-mac
///   Algorithm:  AES-256
class Labels {
  public:
    void add(std::string label, std::string value);
    void print(std::ostream& out) const;

  private:
    std::vector<std::pair<std::string, std::string>> m_lines;
};

}  // namespace kms::cli
