// Test support: a real PostgreSQL 15 server in a temporary folder (initdb + postgres), on a
// free port on 127.0.0.1 and a unix socket inside the folder, started and stopped by PID.
// PostgreSQL refuses to run as root: when the test runs as root (CI on a fresh Debian 12),
// the folder is chowned to the `postgres` system user and initdb/postgres run as that user
// (setgid/setuid in the child before exec, so the PID we hold is the postmaster's own).
//
// Cost: initdb (with --no-sync) plus start-up, about 1-2 s on the CI machine; make one
// server per test binary (a gtest Environment or a function-local static), not per test.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace kms::test {

class PostgresServer {
  public:
    /// Creates the folder under $TMPDIR (or /tmp), runs initdb (superuser "kms", trust
    /// authentication on the unix socket only, scram-sha-256 with no password set on TCP,
    /// so nothing else on the machine gets in) and start(). The binaries come from
    /// $KMS_PG_BIN or /usr/lib/postgresql/15/bin. Throws std::runtime_error with the server's
    /// log when a step fails; the folder is removed then.
    PostgresServer();
    /// stop(), then removes the folder with everything in it. Never throws.
    ~PostgresServer();
    PostgresServer(const PostgresServer&) = delete;
    PostgresServer& operator=(const PostgresServer&) = delete;

    /// Starts postgres on the same data folder and port and waits (up to 30 s) until
    /// postmaster.pid says "ready". Throws std::runtime_error (with the log) otherwise.
    void start();
    /// Fast shutdown (SIGINT to the postmaster's PID), SIGKILL after 15 s; waits for it.
    /// Does nothing when not running.
    void stop() noexcept;
    bool running() const { return m_pid > 0; }
    pid_t pid() const { return m_pid; }
    int port() const { return m_port; }

    /// A libpq connection string for @p database over the unix socket, as user "kms".
    std::string conninfo(const std::string& database = "postgres") const;
    /// Creates a fresh empty schema "t<n>" in database "postgres" and returns its name; much
    /// cheaper than a database per test (no checkpoint, no copy of template1).
    std::string create_schema();
    /// conninfo() whose search_path is @p schema only and whose application_name is
    /// @p schema, so a test can find (and pg_terminate_backend) its own connections.
    std::string schema_conninfo(const std::string& schema) const;
    /// Runs @p sql with psql (-X -A -t -v ON_ERROR_STOP=1) in @p database and returns its
    /// output (rows, '|'-separated, one per line). Throws std::runtime_error on failure.
    std::string sql(const std::string& sql, const std::string& database = "postgres") const;
    /// Everything the server logged so far.
    std::string log() const;

  private:
    std::string m_root;  ///< the temporary folder: data/, postgres.log, the socket
    std::string m_bin;   ///< folder of initdb, postgres, psql
    int m_port = 0;
    pid_t m_pid = -1;
    int m_next_db = 0;
    std::vector<std::string> m_spare_schemas;  ///< made in advance by create_schema()
};

}  // namespace kms::test
