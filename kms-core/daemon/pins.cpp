// PIN sources of kmsd (see pins.hpp).
#include "daemon/pins.hpp"

#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>

#include "daemon/files.hpp"
#include "domain/error.hpp"

namespace kms::daemon {

namespace {

PinOrigin from_file(const std::string& path, const std::string& description) {
    return {hsm::PinSource{hsm::PinSource::Kind::File, path}, description, {}};
}

bool folder_empty(const std::string& path) {
    std::error_code ec;
    std::filesystem::directory_iterator it(path, ec);
    return ec || it == std::filesystem::directory_iterator();
}

}  // namespace

std::optional<std::string> credential_path(const char* name) {
    const char* dir = std::getenv("CREDENTIALS_DIRECTORY");
    if (dir == nullptr || *dir == '\0') return std::nullopt;
    std::string path = std::string(dir) + "/" + name;
    struct stat st {};
    // lstat: a credential is a regular file; anything else is reported by read_pin.
    if (::lstat(path.c_str(), &st) != 0) return std::nullopt;
    return path;
}

bool user_pin_credential_present() {
    return credential_path(kUserPinCredential).has_value();
}

PinPlan plan_pins(const DaemonConfig& cfg) {
    PinPlan plan;
    const auto user_cred = credential_path(kUserPinCredential);
    if (user_cred)
        plan.user = from_file(*user_cred, std::string("credential ") + kUserPinCredential);
    else if (!cfg.pin_file.empty())
        plan.user = from_file(cfg.pin_file, "PIN file " + cfg.pin_file);
    else if (cfg.embedded_hsm())
        plan.user = from_file(cfg.user_pin_file(), "PIN file " + cfg.user_pin_file());
    else
        plan.user = {hsm::PinSource{hsm::PinSource::Kind::Value, cfg.pin_value},
                     "hsm.pin in " + cfg.config_file, {}};
    if (!cfg.embedded_hsm()) return plan;

    const bool own_files = !user_cred && cfg.pin_file.empty();
    if (const auto so_cred = credential_path(kSoPinCredential))
        plan.so = from_file(*so_cred, std::string("credential ") + kSoPinCredential);
    else if (!cfg.so_pin_option.empty())
        plan.so = from_file(cfg.so_pin_option, "SO PIN file " + cfg.so_pin_option);
    else if (own_files)
        plan.so = from_file(cfg.so_pin_file(), "SO PIN file " + cfg.so_pin_file());

    if (own_files && !file_exists(cfg.user_pin_file())) {
        if (!folder_empty(cfg.token_dir())) {
            plan.user.unavailable = "no user PIN for the token in " + cfg.token_dir() +
                                    ": the credential " + kUserPinCredential + " is missing (" +
                                    (std::getenv("CREDENTIALS_DIRECTORY") != nullptr
                                         ? "not in $CREDENTIALS_DIRECTORY"
                                         : "$CREDENTIALS_DIRECTORY is not set") +
                                    "; LoadCredential=" + kUserPinCredential +
                                    ":FILE in the unit) and neither --pin-file nor " +
                                    cfg.user_pin_file() + " exists";
            return plan;
        }
        plan.generate = true;
    }
    return plan;
}

SecretString read_pin(const PinOrigin& origin, bool embedded) {
    if (!origin.unavailable.empty()) throw Error(ErrorCode::InvalidArgument, origin.unavailable);
    SecretString pin;
    try {
        pin = origin.source.resolve();
    } catch (const Error& e) {
        // resolve() names the file; say which role it plays.
        throw Error(e.code(), origin.description + ": " + e.what(), e.native_kind(),
                    e.native_code());
    }
    if (embedded && (pin.size() < kMinPinLength || pin.size() > kMaxPinLength))
        throw Error(ErrorCode::InvalidArgument,
                    origin.description + ": a PIN of " + std::to_string(pin.size()) +
                        " bytes; the embedded SoftHSM2 token accepts " +
                        std::to_string(kMinPinLength) + " to " + std::to_string(kMaxPinLength));
    return pin;
}

}  // namespace kms::daemon
