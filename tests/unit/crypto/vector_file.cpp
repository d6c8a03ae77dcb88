// Vector file parsing (see vector_file.hpp).
#include "vector_file.hpp"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace kms::test {

namespace {

std::string_view trim(std::string_view s) {
    const auto first = s.find_first_not_of(" \t\r");
    if (first == std::string_view::npos) return {};
    const auto last = s.find_last_not_of(" \t\r");
    return s.substr(first, last - first + 1);
}

[[noreturn]] void fail(const std::string& where, const std::string& what) {
    throw std::runtime_error(where + ": " + what);
}

}  // namespace

bool VectorCase::has(std::string_view name) const {
    return fields.find(name) != fields.end();
}

const std::string& VectorCase::text(std::string_view name) const {
    const auto it = fields.find(name);
    if (it == fields.end()) fail(where(), "missing field '" + std::string(name) + "'");
    return it->second;
}

Bytes VectorCase::bytes(std::string_view name) const {
    const std::string ascii = std::string(name) + "_ascii";
    if (has(ascii)) {
        const std::string& t = text(ascii);
        return Bytes(t.begin(), t.end());
    }
    try {
        return from_hex(text(name), name);
    } catch (const std::exception& e) {
        fail(where(), e.what());
    }
}

std::size_t VectorCase::number(std::string_view name) const {
    const std::string& t = text(name);
    if (t.empty() || t.find_first_not_of("0123456789") != std::string::npos)
        fail(where(), "field '" + std::string(name) + "' is not a decimal number");
    return static_cast<std::size_t>(std::stoull(t));
}

std::string VectorCase::where() const {
    return file + ":" + std::to_string(line);
}

std::vector<VectorCase> parse_vectors(std::string_view content, const std::string& file_name) {
    std::vector<VectorCase> cases;
    VectorCase current;
    int line_no = 0;
    const auto flush = [&] {
        if (!current.fields.empty()) cases.push_back(std::move(current));
        current = VectorCase{};
    };
    while (!content.empty()) {
        ++line_no;
        const auto nl = content.find('\n');
        const std::string_view raw = content.substr(0, nl);
        content = nl == std::string_view::npos ? std::string_view{} : content.substr(nl + 1);
        const std::string_view line = trim(raw);
        if (line.empty()) {
            flush();
            continue;
        }
        if (line.front() == '#') continue;
        const std::string where = file_name + ":" + std::to_string(line_no);
        const auto eq = line.find('=');
        if (eq == std::string_view::npos) fail(where, "expected 'name = value'");
        const std::string name(trim(line.substr(0, eq)));
        if (name.empty()) fail(where, "empty field name");
        if (current.fields.empty()) {
            current.file = file_name;
            current.line = line_no;
        }
        if (!current.fields.emplace(name, std::string(trim(line.substr(eq + 1)))).second)
            fail(where, "field '" + name + "' given twice in one case");
    }
    flush();
    return cases;
}

std::vector<VectorCase> read_vector_file(const std::string& file_name) {
    const char* dir = std::getenv("KMS_TEST_VECTORS");
    if (dir == nullptr || *dir == '\0')
        throw std::runtime_error("KMS_TEST_VECTORS is not set (run through meson test)");
    const std::string path = std::string(dir) + "/" + file_name;
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read " + path);
    std::ostringstream buffer;
    buffer << in.rdbuf();
    auto cases = parse_vectors(buffer.str(), file_name);
    if (cases.empty()) throw std::runtime_error(path + " holds no case");
    return cases;
}

}  // namespace kms::test
