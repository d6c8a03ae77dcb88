// Test support: a real kmsd on 127.0.0.1 with a fresh data directory, started and stopped by
// PID, and an HTTPS client that trusts its CA. Used by the rest and cli suites.
#pragma once

#include <Poco/JSON/Object.h>
#include <sys/types.h>

#include <string>
#include <vector>

namespace kms::test {

class KmsdProcess {
  public:
    /// Starts kmsd (path from the KMSD environment variable) with a new temporary data
    /// directory on a free port and waits up to 60 s for its "listening" line. Throws
    /// std::runtime_error (with kmsd's output) when it exits or does not start in time; the
    /// temporary folder is removed then.
    explicit KmsdProcess(std::vector<std::string> extra_args = {});
    /// Stops kmsd with SIGTERM (SIGKILL after 10 s) and removes the data directory.
    ~KmsdProcess();
    KmsdProcess(const KmsdProcess&) = delete;
    KmsdProcess& operator=(const KmsdProcess&) = delete;

    std::string url() const { return "https://127.0.0.1:" + std::to_string(m_port); }
    int port() const { return m_port; }
    pid_t pid() const { return m_pid; }
    const std::string& data_dir() const { return m_data_dir; }
    std::string admin_token() const;
    std::string ca_file() const { return m_data_dir + "/tls/ca.pem"; }
    /// Everything kmsd printed so far (stdout and stderr).
    std::string output() const;

    /// SIGTERM and wait; returns the exit status (as from waitpid's WEXITSTATUS, or -signal).
    int stop();
    void kill9();
    /// Starts again on the same data directory and port.
    void start();
    bool running() const { return m_pid > 0; }

  private:
    std::string m_root;  ///< temporary folder holding data/ and kmsd.log
    std::string m_data_dir;
    std::string m_log;
    int m_port = 0;
    pid_t m_pid = -1;
    std::vector<std::string> m_extra;
};

/// Runs kmsd with @p args to completion (for start-up failure tests); returns the exit code
/// and fills @p output. Gives up after @p timeout_s seconds (SIGKILL, returns -1).
int run_kmsd(const std::vector<std::string>& args, std::string& output, int timeout_s = 60);

/// A free TCP port on 127.0.0.1 (bound and released; a race is possible but unlikely).
int free_port();

/// The whole content of @p path ("" when it cannot be read).
std::string slurp(const std::string& path);
/// Starts args[0] with @p args, stdin from /dev/null, stdout and stderr appended to @p log.
/// Throws std::runtime_error when it cannot be started.
pid_t spawn(const std::vector<std::string>& args, const std::string& log);
/// Waits up to @p timeout_ms for @p pid to end: its exit code, -signal, or -1000 when it is
/// still running.
int wait_exit(pid_t pid, int timeout_ms);

struct HttpResponse {
    int status = 0;
    std::string body;
    std::string content_type;
    std::string request_id;  ///< the X-Request-Id response header ("" when absent)
    Poco::JSON::Object::Ptr json() const;  ///< parses body; throws on non-JSON
};

/// One keep-alive HTTPS connection to kmsd, verifying its certificate against @p ca_file.
/// With @p cert_file and @p key_file (PEM; the certificate file may hold the chain after the
/// leaf) the client presents that certificate (mutual TLS).
class HttpsClient {
  public:
    HttpsClient(const std::string& host, int port, const std::string& ca_file,
                const std::string& cert_file = "", const std::string& key_file = "");
    ~HttpsClient();
    HttpResponse request(const std::string& method, const std::string& path,
                         const std::string& body = "", const std::string& token = "",
                         const std::vector<std::pair<std::string, std::string>>& headers = {});
    HttpResponse get(const std::string& path, const std::string& token = "") {
        return request("GET", path, "", token);
    }
    HttpResponse post(const std::string& path, const std::string& body,
                      const std::string& token = "") {
        return request("POST", path, body, token);
    }

  private:
    struct Impl;
    Impl* m_impl;
};

}  // namespace kms::test
