// Test helper of the cli suite: runs the real kmsctl binary (path from the KMSCTL environment
// variable) as a child process and captures its exit code, stdout and stderr.
#pragma once

#include <Poco/JSON/Object.h>

#include <string>
#include <utility>
#include <vector>

namespace kms::test {

/// What one kmsctl run produced.
struct KmsctlResult {
    int code = -1;    ///< exit status; -SIGNAL when killed by a signal
    std::string out;  ///< stdout
    std::string err;  ///< stderr
    /// stdout parsed as a JSON object; throws when it is not one.
    Poco::JSON::Object::Ptr json() const;
};

/// Runs `$KMSCTL args...` with stdin from @p stdin_path (by default /dev/null, so not a
/// terminal), the test's environment minus every KMS_* variable, plus @p env. Kills it after
/// @p timeout_s seconds (code -9). Throws std::runtime_error when KMSCTL is unset or the
/// process cannot be started.
KmsctlResult run_kmsctl(const std::vector<std::string>& args,
                        const std::vector<std::pair<std::string, std::string>>& env = {},
                        int timeout_s = 120, const std::string& stdin_path = "/dev/null");

}  // namespace kms::test
