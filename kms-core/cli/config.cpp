// Resolution of kmsctl's connection settings from options, a data dir and the environment.
#include "config.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "client/https_connection.hpp"
#include "exit_codes.hpp"

namespace kms::cli {

namespace fs = std::filesystem;

namespace {

std::string trim(const std::string& s) {
    const auto first = s.find_first_not_of(" \t\r\n");
    if (first == std::string::npos) return {};
    const auto last = s.find_last_not_of(" \t\r\n");
    return s.substr(first, last - first + 1);
}

/// Reads a small text file; nullopt when it does not exist. Throws UsageError when it exists
/// but cannot be read. @p what names the file's role in messages.
std::optional<std::string> read_small_file(const std::string& path, const std::string& what) {
    std::error_code ec;
    if (!fs::exists(path, ec)) return std::nullopt;
    if (fs::is_directory(path, ec)) throw UsageError(what + " " + path + " is a directory");
    std::ifstream in(path, std::ios::binary);
    if (!in) throw UsageError("cannot read " + what + " " + path);
    std::ostringstream text;
    text << in.rdbuf();
    if (text.str().size() > 64 * 1024) throw UsageError(what + " " + path + " is too large");
    return text.str();
}

void require_file(const std::string& path, const std::string& what) {
    std::error_code ec;
    if (!fs::is_regular_file(path, ec))
        throw UsageError(what + " " + path + " does not exist or is not a file");
}

/// A data dir named by --data-dir or KMS_DATA_DIR, checked to exist.
struct DataDir {
    std::string path;
    std::string origin;  ///< "--data-dir" or "KMS_DATA_DIR", for messages
};

std::optional<DataDir> data_dir(const std::optional<std::string>& value, const char* origin) {
    if (!value) return std::nullopt;
    std::error_code ec;
    if (!fs::is_directory(*value, ec))
        throw UsageError(std::string(origin) + ": " + *value + " is not a directory");
    return DataDir{*value, origin};
}

std::string url_from_data_dir(const DataDir& dir) {
    const std::string path = (fs::path(dir.path) / "kmsd.url").string();
    auto text = read_small_file(path, "URL file");
    if (!text || trim(*text).empty())
        throw CliError(ExitCode::ConnectFailed, "kmsd is not listening for data dir " + dir.path +
                                                    " (no URL in " + path +
                                                    "); start it with: kmsd --data-dir " +
                                                    dir.path + " --listen 127.0.0.1:PORT");
    return trim(*text);
}

void parse_url(const std::string& url, ConnectionConfig& cfg) {
    client::HttpsEndpoint e;
    try {
        client::parse_https_url(url, e);
    } catch (const std::invalid_argument& ex) {
        throw UsageError(std::string("--url: ") + ex.what());
    }
    cfg.url = e.url;
    cfg.host = e.host;
    cfg.port = e.port;
    cfg.base_path = e.base_path;
}

/// Checks that a token can go into an HTTP header as is; the message never shows the token.
std::string checked_token(const std::string& raw, const std::string& origin) {
    const std::string token = trim(raw);
    if (token.empty()) throw UsageError("the token from " + origin + " is empty");
    for (char c : token)
        if (c < 0x21 || c > 0x7E)
            throw UsageError("the token from " + origin + " contains spaces or control characters");
    return token;
}

std::string token_from_file(const std::string& path, const std::string& origin) {
    auto text = read_small_file(path, "token file");
    if (!text) throw UsageError(origin + ": token file " + path + " does not exist");
    return checked_token(*text, origin + " " + path);
}

}  // namespace

EnvLookup process_environment() {
    return [](const std::string& name) -> std::optional<std::string> {
        const char* v = std::getenv(name.c_str());
        if (v == nullptr || *v == '\0') return std::nullopt;
        return std::string(v);
    };
}

ConnectionConfig resolve_connection(const GlobalOptions& g, bool needs_auth, const EnvLookup& env) {
    ConnectionConfig cfg;
    cfg.timeout_seconds = g.timeout_seconds.value_or(kDefaultTimeoutSeconds);
    const auto cli_dir = data_dir(g.data_dir, "--data-dir");
    const auto env_dir = cli_dir ? std::nullopt : data_dir(env("KMS_DATA_DIR"), "KMS_DATA_DIR");

    // URL: --url, --data-dir, KMS_URL, KMS_DATA_DIR.
    std::optional<std::string> url = g.url;
    if (!url && cli_dir) url = url_from_data_dir(*cli_dir);
    if (!url) url = env("KMS_URL");
    if (!url && env_dir) url = url_from_data_dir(*env_dir);
    if (!url)
        throw UsageError(
            "no server URL: give --url https://HOST:PORT or --data-dir DIR, or set "
            "KMS_URL or KMS_DATA_DIR");
    parse_url(*url, cfg);

    // CA: --ca, --data-dir, KMS_CA, KMS_DATA_DIR; none means the system's trusted CAs.
    auto dir_ca = [](const DataDir& d) { return (fs::path(d.path) / "tls" / "ca.pem").string(); };
    if (g.ca_file)
        cfg.ca_file = g.ca_file;
    else if (cli_dir)
        cfg.ca_file = dir_ca(*cli_dir);
    else if (auto ca = env("KMS_CA"))
        cfg.ca_file = ca;
    else if (env_dir)
        cfg.ca_file = dir_ca(*env_dir);
    if (cfg.ca_file) require_file(*cfg.ca_file, "CA file");

    // Client certificate for mTLS: options, then environment.
    cfg.cert_file = g.cert_file ? g.cert_file : env("KMS_CERT");
    cfg.key_file = g.key_file ? g.key_file : env("KMS_KEY");
    if (cfg.key_file && !cfg.cert_file) throw UsageError("--key needs --cert");
    if (cfg.cert_file) {
        require_file(*cfg.cert_file, "client certificate");
        if (!cfg.key_file) cfg.key_file = cfg.cert_file;
        require_file(*cfg.key_file, "client key");
    }

    if (!needs_auth) return cfg;

    // Token: --token, --token-file, --data-dir, KMS_TOKEN, KMS_TOKEN_FILE, KMS_DATA_DIR. A data
    // dir's admin token is not used when a client certificate names the caller.
    if (g.token && g.token_file) throw UsageError("give either --token or --token-file, not both");
    auto dir_token = [](const DataDir& d) { return (fs::path(d.path) / "admin.token").string(); };
    if (g.token)
        cfg.token = checked_token(*g.token, "--token");
    else if (g.token_file)
        cfg.token = token_from_file(*g.token_file, "--token-file");
    else if (cli_dir && !cfg.cert_file)
        cfg.token = token_from_file(dir_token(*cli_dir), "--data-dir");
    else if (auto t = env("KMS_TOKEN"))
        cfg.token = checked_token(*t, "KMS_TOKEN");
    else if (auto f = env("KMS_TOKEN_FILE"))
        cfg.token = token_from_file(*f, "KMS_TOKEN_FILE");
    else if (env_dir && !cfg.cert_file)
        cfg.token = token_from_file(dir_token(*env_dir), "KMS_DATA_DIR");

    if (!cfg.token && !cfg.cert_file)
        throw UsageError(
            "no credentials: give --token-file FILE (or --token, --data-dir DIR, "
            "--cert/--key), or set KMS_TOKEN_FILE, KMS_TOKEN or KMS_DATA_DIR");
    return cfg;
}

}  // namespace kms::cli
