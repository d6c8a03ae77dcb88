// PostgresServer: initdb, postgres started and stopped by PID, psql for the tests' own SQL.
#include "postgres_server.hpp"

#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace kms::test {

namespace {

namespace fs = std::filesystem;

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

int pick_free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw std::runtime_error("socket failed");
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
        ::close(fd);
        throw std::runtime_error("cannot find a free port");
    }
    ::close(fd);
    return ntohs(a.sin_port);
}

/// Who PostgreSQL runs as: the `postgres` system user when we are root, else ourselves.
struct RunAs {
    bool switch_user = false;
    uid_t uid = 0;
    gid_t gid = 0;
};

RunAs postgres_user() {
    RunAs r;
    if (::geteuid() != 0) return r;
    const passwd* pw = ::getpwnam("postgres");  // before fork: not async-signal-safe
    if (pw == nullptr)
        throw std::runtime_error("running as root needs the postgres system user (postgresql-15)");
    r.switch_user = true;
    r.uid = pw->pw_uid;
    r.gid = pw->pw_gid;
    return r;
}

/// fork + exec @p args with stdin from /dev/null and stdout/stderr to @p out_fd; in the child
/// switches to @p as first. Returns the child's PID.
pid_t spawn(const std::vector<std::string>& args, int out_fd, const RunAs& as) {
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
    if (pid == 0) {
        const int null_fd = ::open("/dev/null", O_RDONLY);
        ::dup2(null_fd, 0);
        ::dup2(out_fd, 1);
        ::dup2(out_fd, 2);
        ::setpgid(0, 0);  // a Ctrl-C of the test run reaches us, not the server
        if (as.switch_user &&
            (::setgroups(0, nullptr) != 0 || ::setgid(as.gid) != 0 || ::setuid(as.uid) != 0))
            ::_exit(126);
        ::execv(argv[0], argv.data());
        ::_exit(127);
    }
    return pid;
}

int wait_exit(pid_t pid) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
}

}  // namespace

PostgresServer::PostgresServer() {
    const char* bin = std::getenv("KMS_PG_BIN");
    m_bin = bin && *bin ? bin : "/usr/lib/postgresql/15/bin";
    const char* base = std::getenv("TMPDIR");
    std::string pattern = std::string(base && *base ? base : "/tmp") + "/kms-pg-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr)
        throw std::runtime_error("mkdtemp failed: " + std::string(std::strerror(errno)));
    m_root = pattern;
    try {
        const RunAs as = postgres_user();
        if (as.switch_user && ::chown(m_root.c_str(), as.uid, as.gid) != 0)
            throw std::runtime_error("chown " + m_root + ": " + std::strerror(errno));
        m_port = pick_free_port();
        const std::string log_path = m_root + "/initdb.log";
        const int log_fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (log_fd < 0) throw std::runtime_error("cannot create " + log_path);
        const pid_t pid =
            spawn({m_bin + "/initdb", "-D", m_root + "/data", "-U", "kms", "--auth-local=trust",
                   "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync"},
                  log_fd, as);
        ::close(log_fd);
        if (const int rc = wait_exit(pid); rc != 0)
            throw std::runtime_error("initdb exited with " + std::to_string(rc) + ":\n" +
                                     read_file(log_path));
        start();
    } catch (...) {
        stop();
        std::error_code ec;
        fs::remove_all(m_root, ec);
        throw;
    }
}

PostgresServer::~PostgresServer() {
    stop();
    std::error_code ec;
    fs::remove_all(m_root, ec);
}

void PostgresServer::start() {
    if (running()) return;
    const RunAs as = postgres_user();
    const std::string log_path = m_root + "/postgres.log";
    const int log_fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log_fd < 0) throw std::runtime_error("cannot open " + log_path);
    if (as.switch_user && ::fchown(log_fd, as.uid, as.gid) != 0) {
        ::close(log_fd);
        throw std::runtime_error("chown " + log_path + ": " + std::strerror(errno));
    }
    m_pid = spawn({m_bin + "/postgres", "-D", m_root + "/data", "-p", std::to_string(m_port), "-c",
                   "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=" + m_root, "-c",
                   "max_connections=100", "-c", "shared_buffers=16MB"},
                  log_fd, as);
    ::close(log_fd);
    // postmaster.pid's 8th line becomes "ready" once connections are accepted (PostgreSQL
    // 15 manual, "Database File Layout").
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
        int status = 0;
        if (::waitpid(m_pid, &status, WNOHANG) == m_pid) {
            m_pid = -1;
            throw std::runtime_error("postgres exited at start:\n" + log());
        }
        const std::string pidfile = read_file(m_root + "/data/postmaster.pid");
        if (pidfile.find("\nready") != std::string::npos) return;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    stop();
    throw std::runtime_error("postgres did not become ready in 30 s:\n" + log());
}

void PostgresServer::stop() noexcept {
    if (m_pid <= 0) return;
    ::kill(m_pid, SIGINT);  // fast shutdown: roll back sessions, checkpoint, exit
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    int status = 0;
    while (::waitpid(m_pid, &status, WNOHANG) == 0) {
        if (std::chrono::steady_clock::now() > deadline) {
            ::kill(m_pid, SIGKILL);
            ::waitpid(m_pid, &status, 0);
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    m_pid = -1;
}

std::string PostgresServer::conninfo(const std::string& database) const {
    return "host=" + m_root + " port=" + std::to_string(m_port) + " user=kms dbname=" + database;
}

std::string PostgresServer::create_schema() {
    // One psql run (about 50 ms) makes the next 16 schemas.
    if (m_spare_schemas.empty()) {
        std::string batch;
        for (int i = 0; i < 16; ++i) {
            m_spare_schemas.push_back("t" + std::to_string(++m_next_db));
            batch += "CREATE SCHEMA " + m_spare_schemas.back() + ";";
        }
        sql(batch);
    }
    std::string name = std::move(m_spare_schemas.front());
    m_spare_schemas.erase(m_spare_schemas.begin());
    return name;
}

std::string PostgresServer::schema_conninfo(const std::string& schema) const {
    return conninfo() + " options='-c search_path=" + schema + "' application_name=" + schema;
}

std::string PostgresServer::sql(const std::string& statement, const std::string& database) const {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    pid_t pid;
    try {
        pid = spawn({m_bin + "/psql", "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-d",
                     conninfo(database), "-c", statement},
                    fds[1], RunAs{});
    } catch (...) {
        ::close(fds[0]);
        ::close(fds[1]);
        throw;
    }
    ::close(fds[1]);
    std::string out;
    char buf[4096];
    for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) != 0;) {
        if (n < 0) {
            if (errno == EINTR) continue;
            break;
        }
        out.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fds[0]);
    if (const int rc = wait_exit(pid); rc != 0)
        throw std::runtime_error("psql exited with " + std::to_string(rc) + " for '" + statement +
                                 "': " + out);
    return out;
}

std::string PostgresServer::log() const {
    return read_file(m_root + "/postgres.log");
}

}  // namespace kms::test
