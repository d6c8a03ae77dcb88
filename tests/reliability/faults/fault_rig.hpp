// Test support for the fault-injection tests: a SoftHSM2 token made with softhsm2-util in a
// temporary folder, reached through libkms_faultshim.so (hsm-adapters/faultshim) whose control
// file the test rewrites, and small helpers to fire concurrent requests at a kmsd running on it.
//
// Environment: FaultRig sets SOFTHSM2_CONF and KMS_FAULTSHIM_CONTROL in this process, so every
// kmsd started afterwards (KmsdProcess passes the environment on) finds the token and the
// control file. One FaultRig at a time per process. The meson test sets KMS_FAULTSHIM (the
// shim's path) and SOFTHSM2_UTIL.
#pragma once

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "kmsd_process.hpp"

namespace kms::test {

inline std::string env_or_throw(const char* name) {
    const char* v = std::getenv(name);
    if (v == nullptr || *v == '\0') throw std::runtime_error(std::string(name) + " is not set");
    return v;
}

/// A token behind the fault shim, in a temporary folder removed by the destructor.
class FaultRig {
  public:
    static constexpr const char* kLabel = "kms-faults";

    /// Creates the folder, softhsm2.conf, the token (softhsm2-util --init-token), the PIN file
    /// (0600) and the control file with @p initial_control. Throws std::runtime_error.
    explicit FaultRig(const std::string& initial_control = "")
        : m_initial_control(initial_control) {
        char tmpl[] = "/tmp/kms-faults-XXXXXX";
        if (::mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
        m_root = tmpl;
        try {
            make();
        } catch (...) {
            // No destructor runs for a constructor that throws: remove the folder here.
            std::error_code ec;
            std::filesystem::remove_all(m_root, ec);
            throw;
        }
    }
    ~FaultRig() {
        std::error_code ec;
        std::filesystem::remove_all(m_root, ec);
    }
    FaultRig(const FaultRig&) = delete;
    FaultRig& operator=(const FaultRig&) = delete;

    std::string pin_file() const { return m_root + "/pin"; }
    std::string control_file() const { return m_root + "/control"; }

    /// kmsd's options for this token: --hsm-module (the shim), --token-label, --pin-file.
    std::vector<std::string> kmsd_args() const {
        return {"--hsm-module",  env_or_throw("KMS_FAULTSHIM"),
                "--token-label", kLabel,
                "--pin-file",    pin_file()};
    }

    /// Replaces the control file atomically (temporary file + rename, as the shim asks).
    void control(const std::string& text) const {
        const std::string tmp = control_file() + ".new";
        write(tmp, text + "\n");
        std::filesystem::rename(tmp, control_file());
    }

    /// The shim's counters ("injected", "resets", "called C_Login", "injected C_Sign
    /// CKR_DEVICE_ERROR", ...); a missing counter reads 0.
    std::map<std::string, std::uint64_t> stats() const {
        std::map<std::string, std::uint64_t> out;
        std::istringstream in(slurp(control_file() + ".stats"));
        for (std::string line; std::getline(in, line);) {
            const auto sp = line.rfind(' ');
            if (sp == std::string::npos) continue;
            out[line.substr(0, sp)] = std::stoull(line.substr(sp + 1));
        }
        return out;
    }
    std::uint64_t stat(const std::string& name) const {
        const auto s = stats();
        const auto it = s.find(name);
        return it == s.end() ? 0 : it->second;
    }

  private:
    /// Everything but the folder: configuration, PIN, control file, environment, token.
    void make() {
        std::filesystem::create_directory(m_root + "/tokens");
        write(m_root + "/softhsm2.conf", "directories.tokendir = " + m_root +
                                             "/tokens\nobjectstore.backend = file\n"
                                             "log.level = ERROR\n");
        write(pin_file(), "87654321");
        std::filesystem::permissions(
            pin_file(), std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
        control(m_initial_control);
        ::setenv("SOFTHSM2_CONF", (m_root + "/softhsm2.conf").c_str(), 1);
        ::setenv("KMS_FAULTSHIM_CONTROL", control_file().c_str(), 1);
        const std::string log = m_root + "/softhsm2-util.log";
        const pid_t pid = spawn({env_or_throw("SOFTHSM2_UTIL"), "--init-token", "--free", "--label",
                                 kLabel, "--so-pin", "12345678", "--pin", "87654321"},
                                log);
        const int rc = wait_exit(pid, 30000);
        if (rc == -1000) {  // still running: stop it, by its PID
            ::kill(pid, SIGKILL);
            wait_exit(pid, 5000);
        }
        if (rc != 0) throw std::runtime_error("softhsm2-util --init-token failed:\n" + slurp(log));
    }
    static void write(const std::string& path, const std::string& text) {
        std::ofstream out(path, std::ios::binary | std::ios::trunc);
        out << text;
        if (!out) throw std::runtime_error("cannot write " + path);
    }
    std::string m_initial_control;
    std::string m_root;
};

/// One request's outcome in a burst; status 0 = transport failure (text in body).
struct Outcome {
    std::string what;  ///< "mac", "create <name>", ...
    int status = 0;
    std::string body;
    double ms = 0;
};

/// Runs @p threads threads, each with its own HTTPS connection to @p kmsd, each calling
/// @p step(client, thread, i) for i in [0, per_thread). Returns every outcome.
inline std::vector<Outcome> burst(const KmsdProcess& kmsd, int threads, int per_thread,
                                  const std::function<Outcome(HttpsClient&, int, int)>& step) {
    std::vector<Outcome> all;
    std::mutex m;
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t)
        pool.emplace_back([&, t] {
            std::vector<Outcome> mine;
            try {
                HttpsClient c("127.0.0.1", kmsd.port(), kmsd.ca_file());
                for (int i = 0; i < per_thread; ++i) {
                    const auto start = std::chrono::steady_clock::now();
                    Outcome o = step(c, t, i);
                    o.ms = std::chrono::duration<double, std::milli>(
                               std::chrono::steady_clock::now() - start)
                               .count();
                    mine.push_back(std::move(o));
                }
            } catch (const std::exception& e) {
                mine.push_back(Outcome{"transport", 0, e.what(), 0});
            }
            std::lock_guard lock(m);
            all.insert(all.end(), mine.begin(), mine.end());
        });
    for (auto& th : pool) th.join();
    return all;
}

}  // namespace kms::test
