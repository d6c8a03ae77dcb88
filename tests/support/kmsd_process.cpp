// KmsdProcess and HttpsClient (see kmsd_process.hpp).
#include "kmsd_process.hpp"

#include <Poco/JSON/Parser.h>
#include <Poco/Net/AcceptCertificateHandler.h>
#include <Poco/Net/Context.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/HTTPSClientSession.h>
#include <Poco/Net/SSLManager.h>
#include <Poco/StreamCopier.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace kms::test {

namespace {

std::string kmsd_path() {
    const char* p = std::getenv("KMSD");
    if (p == nullptr || *p == '\0') throw std::runtime_error("KMSD is not set");
    return p;
}

}  // namespace

std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

pid_t spawn(const std::vector<std::string>& args, const std::string& log) {
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    pid_t pid = -1;
    const int rc = posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) throw std::runtime_error("cannot start " + args[0]);
    return pid;
}

int wait_exit(pid_t pid, int timeout_ms) {
    for (int waited = 0; waited <= timeout_ms; waited += 20) {
        int status = 0;
        const pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return -1000;
}

int free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    const int port = ntohs(a.sin_port);
    ::close(fd);
    return port;
}

KmsdProcess::KmsdProcess(std::vector<std::string> extra_args) : m_extra(std::move(extra_args)) {
    char tmpl[] = "/tmp/kmsd-test-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
    m_root = tmpl;
    m_data_dir = m_root + "/data";
    m_log = m_root + "/kmsd.log";
    m_port = free_port();
    try {
        start();
    } catch (...) {
        // The destructor does not run for a constructor that throws: clean up here.
        std::error_code ec;
        std::filesystem::remove_all(m_root, ec);
        throw;
    }
}

KmsdProcess::~KmsdProcess() {
    if (m_pid > 0) stop();
    std::error_code ec;
    std::filesystem::remove_all(m_root, ec);
}

void KmsdProcess::start() {
    std::vector<std::string> args = {kmsd_path(), "--data-dir", m_data_dir, "--listen",
                                     "127.0.0.1:" + std::to_string(m_port)};
    args.insert(args.end(), m_extra.begin(), m_extra.end());
    const std::size_t log_before = slurp(m_log).size();
    m_pid = spawn(args, m_log);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (std::chrono::steady_clock::now() < deadline) {
        if (slurp(m_log).find("listening", log_before) != std::string::npos) return;
        int status = 0;
        if (waitpid(m_pid, &status, WNOHANG) == m_pid) {
            m_pid = -1;
            throw std::runtime_error("kmsd exited during start-up:\n" + slurp(m_log));
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    kill9();
    throw std::runtime_error("kmsd did not start within 60 s:\n" + slurp(m_log));
}

int KmsdProcess::stop() {
    if (m_pid <= 0) return -1;
    ::kill(m_pid, SIGTERM);
    int rc = wait_exit(m_pid, 10000);
    if (rc == -1000) {
        ::kill(m_pid, SIGKILL);
        rc = wait_exit(m_pid, 5000);
    }
    m_pid = -1;
    return rc;
}

void KmsdProcess::kill9() {
    if (m_pid <= 0) return;
    ::kill(m_pid, SIGKILL);
    wait_exit(m_pid, 5000);
    m_pid = -1;
}

std::string KmsdProcess::admin_token() const {
    std::string t = slurp(m_data_dir + "/admin.token");
    while (!t.empty() && (t.back() == '\n' || t.back() == '\r')) t.pop_back();
    return t;
}

std::string KmsdProcess::output() const {
    return slurp(m_log);
}

int run_kmsd(const std::vector<std::string>& args, std::string& output, int timeout_s) {
    char tmpl[] = "/tmp/kmsd-run-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
    const std::string log = std::string(tmpl) + "/out.log";
    std::vector<std::string> full = {kmsd_path()};
    full.insert(full.end(), args.begin(), args.end());
    const pid_t pid = spawn(full, log);
    int rc = wait_exit(pid, timeout_s * 1000);
    if (rc == -1000) {
        ::kill(pid, SIGKILL);
        wait_exit(pid, 5000);
        rc = -1;
    }
    output = slurp(log);
    std::error_code ec;
    std::filesystem::remove_all(tmpl, ec);
    return rc;
}

Poco::JSON::Object::Ptr HttpResponse::json() const {
    Poco::JSON::Parser p;
    return p.parse(body).extract<Poco::JSON::Object::Ptr>();
}

struct HttpsClient::Impl {
    Poco::Net::Context::Ptr ctx;
    std::unique_ptr<Poco::Net::HTTPSClientSession> session;
};

HttpsClient::HttpsClient(const std::string& host, int port, const std::string& ca_file,
                         const std::string& cert_file, const std::string& key_file)
    : m_impl(new Impl) {
    m_impl->ctx = new Poco::Net::Context(Poco::Net::Context::TLS_CLIENT_USE, key_file, cert_file,
                                         ca_file,
                                         Poco::Net::Context::VERIFY_STRICT, 9, false);
    m_impl->session = std::make_unique<Poco::Net::HTTPSClientSession>(
        host, static_cast<Poco::UInt16>(port), m_impl->ctx);
    m_impl->session->setKeepAlive(true);
    m_impl->session->setTimeout(Poco::Timespan(60, 0));
}

HttpsClient::~HttpsClient() {
    delete m_impl;
}

HttpResponse HttpsClient::request(const std::string& method, const std::string& path,
                                  const std::string& body, const std::string& token,
                                  const std::vector<std::pair<std::string, std::string>>& headers) {
    Poco::Net::HTTPRequest req(method, path, Poco::Net::HTTPMessage::HTTP_1_1);
    req.setKeepAlive(true);
    if (!token.empty()) req.set("Authorization", "Bearer " + token);
    for (const auto& [k, v] : headers) req.set(k, v);
    if (!body.empty() || method == "POST") {
        req.setContentType("application/json");
        req.setContentLength(static_cast<std::streamsize>(body.size()));
    }
    std::ostream& os = m_impl->session->sendRequest(req);
    os << body;
    Poco::Net::HTTPResponse resp;
    std::istream& is = m_impl->session->receiveResponse(resp);
    HttpResponse out;
    out.status = static_cast<int>(resp.getStatus());
    out.content_type = resp.getContentType();
    out.request_id = resp.get("X-Request-Id", "");
    Poco::StreamCopier::copyToString(is, out.body);
    return out;
}

}  // namespace kms::test
