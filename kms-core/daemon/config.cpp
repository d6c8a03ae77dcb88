// Configuration file parsing and validation.
#include "daemon/config.hpp"

#include <fstream>

#include "daemon/pins.hpp"
#include "domain/error.hpp"

namespace kms::daemon {

namespace {
std::string trim(const std::string& s) {
    const auto b = s.find_first_not_of(" \t\r");
    if (b == std::string::npos) return {};
    const auto e = s.find_last_not_of(" \t\r");
    return s.substr(b, e - b + 1);
}

std::size_t to_size(const std::string& key, const std::string& v, std::size_t min,
                    std::size_t max) {
    try {
        std::size_t pos = 0;
        const unsigned long long n = std::stoull(v, &pos);
        if (pos == v.size() && n >= min && n <= max) return static_cast<std::size_t>(n);
    } catch (const std::exception&) {
    }
    throw Error(ErrorCode::InvalidArgument, key + ": expected a number from " +
                                                std::to_string(min) + " to " + std::to_string(max));
}
}  // namespace

void load_config_file(const std::string& path, DaemonConfig& cfg) {
    std::ifstream in(path);
    if (!in) throw Error(ErrorCode::InvalidArgument, "--config: cannot read " + path);
    std::string line;
    int n = 0;
    while (std::getline(in, line)) {
        ++n;
        line = trim(line);
        if (line.empty() || line[0] == '#') continue;
        const auto eq = line.find('=');
        if (eq == std::string::npos)
            throw Error(ErrorCode::InvalidArgument,
                        path + ":" + std::to_string(n) + ": expected key = value");
        const std::string key = trim(line.substr(0, eq));
        const std::string value = trim(line.substr(eq + 1));
        if (key == "listen")
            cfg.listen = value;
        else if (key == "kmip.listen")
            cfg.kmip_listen = value;
        else if (key == "kmip.get_secret_keys")
            cfg.kmip_get_secret_keys = value;
        else if (key == "hsm.module")
            cfg.hsm_module = value;
        else if (key == "hsm.token_label")
            cfg.token_label = value;
        else if (key == "hsm.pin_file")
            cfg.pin_file = value;
        else if (key == "hsm.so_pin_file")
            cfg.so_pin_option = value;
        else if (key == "hsm.pin_env")
            throw Error(ErrorCode::InvalidArgument,
                        "hsm.pin_env is no longer read: a PIN in kmsd's environment shows in "
                        "/proc/PID/environ for its whole life; give the credential hsm-pin or "
                        "hsm.pin_file");
        else if (key == "hsm.pin")
            cfg.pin_value = value;
        else if (key == "hsm.profile")
            cfg.hsm_profile = value;
        else if (key == "hsm.sessions")
            cfg.hsm_sessions = to_size(key, value, 1, 64);
        else if (key == "hsm.session_wait_ms")
            cfg.hsm_wait_ms = to_size(key, value, 0, 3600000);
        else if (key == "hsm.handle_cache")
            cfg.handle_cache = to_size(key, value, 16, 10000000);
        else if (key == "server.max_connections")
            cfg.max_connections = static_cast<int>(to_size(key, value, 4, 4096));
        else if (key == "server.access_log")
            cfg.access_log = value == "true" || value == "1";
        else if (key == "log.format")
            cfg.log_format = value;
        else if (key == "server.anonymous_denials_per_minute")
            cfg.anonymous_denials_per_minute = to_size(key, value, 0, 1000000);
        else if (key == "store.map_size_mb")
            cfg.store_map_size_mb = to_size(key, value, 16, 1 << 24);
        else if (key == "store.backend")
            cfg.store_backend = value;
        else if (key == "store.postgresql.conninfo")
            cfg.store_pg_conninfo = value;
        else if (key == "counters.flush_seconds")
            cfg.counter_flush_seconds = static_cast<int>(to_size(key, value, 1, 3600));
        else if (key == "gp.session_seconds")
            cfg.gp_session_seconds = static_cast<int>(to_size(key, value, 10, 86400));
        else if (key == "console.session_idle_s")
            cfg.console_session_idle_s = static_cast<int>(to_size(key, value, 1, 86400));
        else if (key == "console.session_max_s")
            cfg.console_session_max_s = static_cast<int>(to_size(key, value, 60, 604800));
        else
            throw Error(ErrorCode::InvalidArgument,
                        path + ":" + std::to_string(n) + ": unknown key '" + key + "'");
    }
}

void validate(const DaemonConfig& cfg) {
    if (cfg.data_dir.empty()) throw Error(ErrorCode::InvalidArgument, "--data-dir DIR is required");
    if (cfg.listen.find(':') == std::string::npos)
        throw Error(ErrorCode::InvalidArgument, "--listen: expected HOST:PORT");
    if (!cfg.kmip_listen.empty() && cfg.kmip_listen.find(':') == std::string::npos)
        throw Error(ErrorCode::InvalidArgument, "--kmip-listen: expected HOST:PORT");
    if (cfg.kmip_get_secret_keys != "never" && cfg.kmip_get_secret_keys != "owner")
        throw Error(ErrorCode::InvalidArgument,
                    "--kmip-get-secret-keys (kmip.get_secret_keys): expected owner or never");
    if (!cfg.embedded_hsm() && cfg.pin_file.empty() && cfg.pin_value.empty() &&
        !user_pin_credential_present())
        throw Error(ErrorCode::InvalidArgument,
                    "a vendor HSM (--hsm-module) needs a PIN source: the credential hsm-pin, "
                    "--pin-file or hsm.pin in the config file");
    if (!cfg.embedded_hsm() && !cfg.so_pin_option.empty())
        throw Error(ErrorCode::InvalidArgument,
                    "--so-pin-file: only for the embedded token (a vendor HSM is initialized "
                    "with the vendor's tools)");
    if (cfg.log_format != "text" && cfg.log_format != "json")
        throw Error(ErrorCode::InvalidArgument, "--log-format: expected text or json, got '" +
                                                    cfg.log_format.substr(0, 32) + "'");
    if (cfg.console_session_max_s < cfg.console_session_idle_s)
        throw Error(ErrorCode::InvalidArgument,
                    "console.session_max_s: must not be below console.session_idle_s");
    if (cfg.store_backend != "lmdb" && cfg.store_backend != "postgresql")
        throw Error(ErrorCode::InvalidArgument,
                    "store.backend: expected lmdb or postgresql, got '" +
                        cfg.store_backend.substr(0, 32) + "'");
    if (cfg.postgresql_store() && cfg.store_pg_conninfo.empty())
        throw Error(ErrorCode::InvalidArgument,
                    "store.backend = postgresql needs store.postgresql.conninfo (a libpq "
                    "connection string)");
    if (!cfg.postgresql_store() && !cfg.store_pg_conninfo.empty())
        throw Error(ErrorCode::InvalidArgument,
                    "store.postgresql.conninfo is set but store.backend is not postgresql");
    if (cfg.token_label.empty() || cfg.token_label.size() > 32)
        throw Error(ErrorCode::InvalidArgument, "--token-label: 1 to 32 characters");
}

}  // namespace kms::daemon
