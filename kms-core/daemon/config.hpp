// kmsd's configuration: command-line options, optionally a key = value file (--config), and
// the layout of the data directory.
#pragma once

#include <cstddef>
#include <string>

namespace kms::daemon {

struct DaemonConfig {
    std::string data_dir;  ///< required
    std::string listen = "127.0.0.1:8443";
    /// KMIP over TLS with client certificates (kmip/listener.hpp); empty: no KMIP listener.
    std::string kmip_listen;
    /// kmip.get_secret_keys: "never" (default: no secret key leaves in clear over KMIP) or
    /// "owner" (KMIP Create makes keys their creator may Get; docs/kmip.md "Get").
    std::string kmip_get_secret_keys = "never";
    std::string config_file;
    // HSM. Without --hsm-module (or hsm.module) kmsd runs an embedded SoftHSM2 token whose
    // configuration, token files and PINs live in the data directory.
    std::string hsm_module;
    std::string token_label = "kms";
    std::string pin_file;  ///< a file holding the user PIN
    /// The embedded token's SO PIN for its initialization (with pin_file; see daemon/pins.hpp).
    std::string so_pin_option;
    std::string pin_value;  ///< the PIN itself (config file only; discouraged)
    std::string hsm_profile = "auto";
    std::size_t hsm_sessions = 0;  ///< 0: the vendor profile's default
    /// Milliseconds an operation waits for a free HSM session before a 503 (0: no limit).
    std::size_t hsm_wait_ms = 10000;
    std::size_t handle_cache = 4096;
    // Server.
    int max_connections = 128;
    bool access_log = false;
    std::string log_format = "text";  ///< "text" or "json" (observe/log.hpp)
    /// Audit records of unauthenticated denials per client address and minute (0: no limit).
    std::size_t anonymous_denials_per_minute = 60;
    int counter_flush_seconds = 5;
    int gp_session_seconds = 300;  ///< lifetime of a GlobalPlatform secure channel session
    /// Officer sessions (POST /v1/sessions, the web console): idle timeout and maximum lifetime.
    int console_session_idle_s = 900;
    int console_session_max_s = 28800;
    std::size_t store_map_size_mb = 8192;
    /// "lmdb" (DIR/store, the default) or "postgresql" (store_pg_conninfo; docs/operations.md
    /// "PostgreSQL store").
    std::string store_backend = "lmdb";
    /// A libpq connection string. Never logged: no password belongs in it (use a passfile
    /// or peer authentication), but one there would not leak either.
    std::string store_pg_conninfo;
    bool postgresql_store() const { return store_backend == "postgresql"; }

    bool embedded_hsm() const { return hsm_module.empty(); }

    // Paths inside the data directory.
    std::string path(const std::string& name) const { return data_dir + "/" + name; }
    std::string softhsm_conf() const { return path("softhsm2.conf"); }
    std::string token_dir() const { return path("tokens"); }
    std::string user_pin_file() const { return path("hsm.pin"); }
    std::string so_pin_file() const { return path("hsm-so.pin"); }
    std::string store_dir() const { return path("store"); }
    std::string tls_dir() const { return path("tls"); }
    std::string ca_pem() const { return path("tls/ca.pem"); }
    std::string server_pem() const { return path("tls/server.pem"); }
    std::string server_key() const { return path("tls/server.key"); }
    std::string admin_token_file() const { return path("admin.token"); }
    std::string url_file() const { return path("kmsd.url"); }
};

/// Reads "key = value" lines ('#' comments) into @p cfg. Keys: listen, kmip.listen,
/// kmip.get_secret_keys, hsm.module, hsm.token_label, hsm.pin_file, hsm.so_pin_file, hsm.pin,
/// hsm.profile, hsm.sessions, hsm.handle_cache, server.max_connections, server.access_log,
/// log.format, server.anonymous_denials_per_minute, store.map_size_mb, store.backend,
/// store.postgresql.conninfo, counters.flush_seconds, gp.session_seconds,
/// console.session_idle_s (1..86400), console.session_max_s (60..604800; not below the idle
/// time). Throws kms::Error(InvalidArgument) naming the line on a bad entry.
void load_config_file(const std::string& path, DaemonConfig& cfg);

/// Checks values and ranges; throws kms::Error(InvalidArgument) with the option name.
void validate(const DaemonConfig& cfg);

}  // namespace kms::daemon
