// Shared fixture of the cli suite: one real kmsd per test program, and helpers that run the
// real kmsctl against it over TLS, connected through KMS_URL / KMS_CA / KMS_TOKEN_FILE.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "kmsctl_run.hpp"
#include "kmsd_process.hpp"

namespace kms::test {

class Cli : public ::testing::Test {
  public:
    static void SetUpTestSuite() { s_kmsd = std::make_unique<KmsdProcess>(); }
    static void TearDownTestSuite() { s_kmsd.reset(); }

  protected:
    /// The connection to the test kmsd, the way a script would set it up.
    static std::vector<std::pair<std::string, std::string>> connection() {
        return {{"KMS_URL", s_kmsd->url()},
                {"KMS_CA", s_kmsd->ca_file()},
                {"KMS_TOKEN_FILE", s_kmsd->data_dir() + "/admin.token"}};
    }
    /// kmsctl ARGS as the first administrator.
    static KmsctlResult ctl(const std::vector<std::string>& args) {
        return run_kmsctl(args, connection());
    }
    /// kmsctl ARGS with the given token instead (KMS_TOKEN beats nothing else here).
    static KmsctlResult ctl_as(const std::string& token, const std::vector<std::string>& args) {
        return run_kmsctl(
            args,
            {{"KMS_URL", s_kmsd->url()}, {"KMS_CA", s_kmsd->ca_file()}, {"KMS_TOKEN", token}});
    }
    /// A name unique to this test, for keys and principals.
    static std::string unique(const std::string& base) {
        const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
        std::string name = base + "-" + info->name();
        for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        return name;
    }
    /// Creates a key with `kmsctl key create --json` and returns its id (asserts exit 0).
    static std::string create_key(const std::string& name, const std::string& algorithm,
                                  const std::string& usage,
                                  const std::vector<std::string>& extra = {}) {
        std::vector<std::string> args = {"--json",      "key",     "create",  name,
                                         "--algorithm", algorithm, "--usage", usage};
        args.insert(args.end(), extra.begin(), extra.end());
        const auto r = ctl(args);
        EXPECT_EQ(r.code, 0) << r.err;
        return r.code == 0 ? r.json()->getValue<std::string>("id") : std::string("none");
    }
    /// The value of a "Label:  value" line of human output, or "" when absent.
    static std::string label(const std::string& text, const std::string& name) {
        const std::string head = name + ":";
        std::size_t pos = 0;
        while (pos < text.size()) {
            const auto end = text.find('\n', pos);
            const std::string line = text.substr(pos, end == std::string::npos ? end : end - pos);
            if (line.rfind(head, 0) == 0) {
                const auto v = line.find_first_not_of(' ', head.size());
                return v == std::string::npos ? std::string() : line.substr(v);
            }
            if (end == std::string::npos) break;
            pos = end + 1;
        }
        return {};
    }
    /// Flips the first hex digit of @p hex (keeps the length, so only the value is wrong).
    static std::string tamper(std::string hex) {
        hex[0] = hex[0] == '0' ? '1' : '0';
        return hex;
    }
    static bool is_upper_hex(const std::string& s) {
        return s.find_first_not_of("0123456789ABCDEF") == std::string::npos;
    }

    static inline std::unique_ptr<KmsdProcess> s_kmsd;
};

}  // namespace kms::test
