// Spawning kmsctl for the cli suite (see kmsctl_run.hpp).
#include "kmsctl_run.hpp"

#include <Poco/JSON/Parser.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace kms::test {

namespace {

std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

/// A folder for the captured output of this test program, removed at exit.
class CaptureDir {
  public:
    CaptureDir() {
        char tmpl[] = "/tmp/kmsctl-test-XXXXXX";
        if (::mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
        m_path = tmpl;
    }
    ~CaptureDir() {
        std::error_code ec;
        std::filesystem::remove_all(m_path, ec);
    }
    std::string next(const char* what) {
        return m_path + "/" + std::to_string(m_counter++) + "." + what;
    }

  private:
    std::string m_path;
    std::atomic<int> m_counter{0};
};

CaptureDir& capture_dir() {
    static CaptureDir dir;
    return dir;
}

std::vector<std::string> child_environment(
    const std::vector<std::pair<std::string, std::string>>& extra) {
    std::vector<std::string> env;
    for (char** e = environ; *e != nullptr; ++e)
        if (std::strncmp(*e, "KMS_", 4) != 0) env.emplace_back(*e);
    for (const auto& [name, value] : extra) env.push_back(name + "=" + value);
    return env;
}

}  // namespace

Poco::JSON::Object::Ptr KmsctlResult::json() const {
    Poco::JSON::Parser parser;
    return parser.parse(out).extract<Poco::JSON::Object::Ptr>();
}

KmsctlResult run_kmsctl(const std::vector<std::string>& args,
                        const std::vector<std::pair<std::string, std::string>>& env, int timeout_s,
                        const std::string& stdin_path) {
    const char* exe = std::getenv("KMSCTL");
    if (exe == nullptr || *exe == '\0') throw std::runtime_error("KMSCTL is not set");
    const std::string out_path = capture_dir().next("out");
    const std::string err_path = capture_dir().next("err");

    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, stdin_path.c_str(), O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&fa, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    std::vector<std::string> argv_s = {exe};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    auto env_s = child_environment(env);
    std::vector<char*> envp;
    for (auto& e : env_s) envp.push_back(e.data());
    envp.push_back(nullptr);

    pid_t pid = -1;
    const int rc = posix_spawn(&pid, exe, &fa, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) throw std::runtime_error(std::string("cannot start kmsctl: ") + std::strerror(rc));

    KmsctlResult result;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
    for (;;) {
        int status = 0;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            result.code = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
            break;
        }
        if (std::chrono::steady_clock::now() > deadline) {
            ::kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            result.code = -SIGKILL;
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    result.out = slurp(out_path);
    result.err = slurp(err_path);
    return result;
}

}  // namespace kms::test
