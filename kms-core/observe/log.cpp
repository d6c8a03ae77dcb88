// The logger (see log.hpp): text lines as kmsd always wrote them, or JSON lines.
#include "observe/log.hpp"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <ostream>

namespace kms::observe {

namespace {

std::string_view level_name(LogLevel level) {
    switch (level) {
        case LogLevel::Info:
            return "info";
        case LogLevel::Warning:
            return "warning";
        case LogLevel::Error:
            return "error";
    }
    return "info";
}

/// Appends @p s as a JSON string (RFC 8259 §7); bytes outside printable ASCII become '?'.
void append_json_string(std::string& out, std::string_view s) {
    out += '"';
    for (const char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += ch;
        } else if (c == '\n') {
            out += "\\n";
        } else if (c == '\t') {
            out += "\\t";
        } else if (c == '\r') {
            out += "\\r";
        } else if (c < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            out += buf;
        } else if (c > 0x7E) {
            out += '?';
        } else {
            out += ch;
        }
    }
    out += '"';
}

std::int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace

std::optional<LogFormat> parse_log_format(std::string_view name) {
    if (name == "text") return LogFormat::Text;
    if (name == "json") return LogFormat::Json;
    return std::nullopt;
}

std::string rfc3339_ms(std::int64_t time_ms) {
    const std::time_t s = static_cast<std::time_t>(time_ms / 1000);
    std::tm tm{};
    ::gmtime_r(&s, &tm);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  static_cast<int>(time_ms % 1000));
    return buf;
}

Logger::Logger(LogFormat format, std::ostream& out, std::ostream& err, std::string program)
    : m_format(format), m_prefix(std::move(program) + ": "), m_out(out), m_err(err) {}

std::string Logger::json_line(std::int64_t time_ms, LogLevel level, std::string_view msg,
                              const std::vector<LogField>& fields) {
    std::string line = "{\"time\":\"" + rfc3339_ms(time_ms) + "\",\"level\":\"";
    line += level_name(level);
    line += "\",\"msg\":";
    append_json_string(line, msg);
    for (const auto& f : fields) {
        line += ',';
        append_json_string(line, f.key);
        line += ':';
        if (const auto* s = std::get_if<std::string>(&f.value))
            append_json_string(line, *s);
        else
            line += std::to_string(std::get<std::int64_t>(f.value));
    }
    line += '}';
    return line;
}

void Logger::write(std::ostream& stream, const std::string& line) {
    std::lock_guard lock(m_mutex);
    stream << line << std::endl;  // flushed: journald and tests read the pipe as it comes
}

void Logger::info(std::string_view msg, const std::vector<LogField>& fields) {
    if (m_format == LogFormat::Json)
        write(m_out, json_line(now_ms(), LogLevel::Info, msg, fields));
    else
        write(m_out, m_prefix + std::string(msg));
}

void Logger::warning(std::string_view msg, const std::vector<LogField>& fields) {
    if (m_format == LogFormat::Json)
        write(m_out, json_line(now_ms(), LogLevel::Warning, msg, fields));
    else
        write(m_err, m_prefix + "warning: " + std::string(msg));
}

void Logger::error(std::string_view msg, const std::vector<LogField>& fields) {
    if (m_format == LogFormat::Json)
        write(m_out, json_line(now_ms(), LogLevel::Error, msg, fields));
    else
        write(m_err, m_prefix + "error: " + std::string(msg));
}

void Logger::request_line(LogLevel level, std::string_view msg,
                          const std::vector<LogField>& fields) {
    if (m_format == LogFormat::Json)
        write(m_out, json_line(now_ms(), level, msg, fields));
    else
        write(m_err, std::string(msg));
}

void Logger::access(const AccessRecord& r) {
    if (m_format == LogFormat::Text) {
        write(m_err, "access " + r.principal + " " + r.method + " " + r.path + " " +
                         std::to_string(r.status) + " request=" + r.request_id);
        return;
    }
    // Whole microseconds as a decimal: JSON numbers with a fraction, no locale involved.
    const auto us = static_cast<std::int64_t>(r.duration_ms * 1000.0);
    std::string line = json_line(now_ms(), LogLevel::Info, "access",
                                 {{"request_id", r.request_id},
                                  {"principal", r.principal},
                                  {"method", r.method},
                                  {"route", r.route},
                                  {"path", r.path},
                                  {"status", static_cast<std::int64_t>(r.status)}});
    char ms[64];
    std::snprintf(ms, sizeof ms, ",\"duration_ms\":%lld.%03lld}", static_cast<long long>(us / 1000),
                  static_cast<long long>(us % 1000));
    line.pop_back();  // the closing brace
    line += ms;
    write(m_out, line);
}

}  // namespace kms::observe
