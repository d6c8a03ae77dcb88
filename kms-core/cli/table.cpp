// Column alignment for kmsctl's tables and labelled blocks.
#include "table.hpp"

#include <algorithm>

namespace kms::cli {

namespace {

std::string one_line(std::string text) {
    for (char& c : text)
        if (c == '\n' || c == '\r' || c == '\t') c = ' ';
    return text;
}

void pad(std::ostream& out, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) out << ' ';
}

}  // namespace

std::size_t display_width(const std::string& text) {
    std::size_t width = 0;
    for (unsigned char c : text)
        if ((c & 0xC0) != 0x80) ++width;  // count lead bytes, skip continuation bytes
    return width;
}

Table::Table(std::vector<std::string> headers) : m_headers(std::move(headers)) {}

void Table::add(std::vector<std::string> row) {
    row.resize(m_headers.size());
    for (auto& cell : row) cell = one_line(std::move(cell));
    m_rows.push_back(std::move(row));
}

void Table::print(std::ostream& out) const {
    std::vector<std::size_t> widths(m_headers.size());
    for (std::size_t c = 0; c < m_headers.size(); ++c) {
        widths[c] = display_width(m_headers[c]);
        for (const auto& row : m_rows) widths[c] = std::max(widths[c], display_width(row[c]));
    }
    auto print_row = [&](const std::vector<std::string>& row) {
        for (std::size_t c = 0; c < row.size(); ++c) {
            out << row[c];
            if (c + 1 < row.size()) pad(out, widths[c] - display_width(row[c]) + 2);
        }
        out << '\n';
    };
    print_row(m_headers);
    for (const auto& row : m_rows) print_row(row);
}

void Labels::add(std::string label, std::string value) {
    m_lines.emplace_back(std::move(label), std::move(value));
}

void Labels::print(std::ostream& out) const {
    std::size_t width = 0;
    for (const auto& [label, value] : m_lines) width = std::max(width, display_width(label));
    for (const auto& [label, value] : m_lines) {
        out << label << ':';
        if (!value.empty()) {
            pad(out, width - display_width(label) + 2);
            out << value;
        }
        out << '\n';
    }
}

}  // namespace kms::cli
