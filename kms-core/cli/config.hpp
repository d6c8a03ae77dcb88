// Where kmsctl connects and with which credentials: the global options merged with the
// environment and a kmsd data dir. Secrets (the token) stay in this struct and the HTTP
// client; nothing here prints them.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "args.hpp"

namespace kms::cli {

/// Reads an environment variable; nullopt when unset or empty. Injected so tests can control it.
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;

/// The process environment (getenv).
EnvLookup process_environment();

/// Resolved connection settings.
struct ConnectionConfig {
    std::string url;   ///< as given, for messages: "https://127.0.0.1:8443"
    std::string host;  ///< host name or IP address (no brackets), checked against the cert
    std::uint16_t port = 443;
    std::string base_path;  ///< path prefix of the URL without a trailing '/', usually empty
    std::optional<std::string> ca_file;    ///< CA bundle; nullopt: the system's trusted CAs
    std::optional<std::string> cert_file;  ///< client certificate for mTLS
    std::optional<std::string> key_file;   ///< its private key (defaults to cert_file)
    std::optional<std::string> token;      ///< bearer token; secret, never printed
    int timeout_seconds = 30;
    /// Largest answer read; 0: kMaxResponseBody (64 MiB). backup create raises it.
    std::size_t max_answer_bytes = 0;
};

/// Default for --timeout.
inline constexpr int kDefaultTimeoutSeconds = 30;

/// Merges @p g with the environment. Precedence for each setting: its own option, then
/// --data-dir, then its own variable (KMS_URL, KMS_CA, KMS_TOKEN, KMS_TOKEN_FILE, KMS_CERT,
/// KMS_KEY), then KMS_DATA_DIR. A data dir gives DIR/kmsd.url, DIR/tls/ca.pem and
/// DIR/admin.token (the token only when no client certificate is configured). The token is read
/// only when @p needs_auth. Throws UsageError (exit 1) for: no URL, a URL that is not https or
/// has user info, query or fragment, --token together with --token-file, an unreadable or empty
/// token file, a token with spaces or control characters, --key without --cert, a missing
/// data dir, CA or certificate file, no credentials when @p needs_auth. Throws
/// CliError(ConnectFailed, exit 6) when a data dir exists but has no kmsd.url yet (kmsd not
/// listening).
ConnectionConfig resolve_connection(const GlobalOptions& g, bool needs_auth, const EnvLookup& env);

}  // namespace kms::cli
