// `kmsctl restore`: a verified backup into a fresh data directory, written in a temporary
// sibling folder and renamed into place (see command_specs_backup.cpp for the contract).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "backup_commands.hpp"
#include "exit_codes.hpp"
#include "local_files.hpp"

namespace kms::cli {

namespace fs = std::filesystem;

namespace {

/// Removes the temporary folder unless the restore completed.
struct TempTree {
    fs::path path;
    bool keep = false;
    ~TempTree() {
        std::error_code ec;
        if (!keep && !path.empty()) fs::remove_all(path, ec);
    }
};

[[noreturn]] void fail_io(const std::string& what, int err) {
    throw CliError(ExitCode::Usage,
                   "restore: " + what + ": " + std::strerror(err) + " (nothing was restored)");
}

void make_dir(const fs::path& p) {
    if (::mkdir(p.c_str(), 0700) != 0 && errno != EEXIST)
        fail_io("cannot create " + p.string(), errno);
}

/// Creates @p p (must not exist) with @p mode, writes @p data and fsyncs it.
void write_new_file(const fs::path& p, std::string_view data, mode_t mode) {
    const int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0) fail_io("cannot create " + p.string(), errno);
    std::size_t done = 0;
    while (done < data.size()) {
        const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            const int err = errno;
            ::close(fd);
            fail_io("cannot write " + p.string(), err);
        }
        done += static_cast<std::size_t>(n);
    }
    if (::fchmod(fd, mode) != 0 || ::fsync(fd) != 0) {
        const int err = errno;
        ::close(fd);
        fail_io("cannot write " + p.string(), err);
    }
    ::close(fd);
}

void fsync_dir(const fs::path& p) {
    const int fd = ::open(p.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        ::fsync(fd);
        ::close(fd);
    }
}

/// The user PIN from @p path: one line, trailing newline removed; 4 to 255 printable
/// characters without spaces (SoftHSM2's limits). The message never shows the PIN.
std::string read_pin(const std::string& path) {
    std::string pin = read_secret_file("--pin-file", path, 4096);
    while (!pin.empty() && (pin.back() == '\n' || pin.back() == '\r')) pin.pop_back();
    bool ok = pin.size() >= 4 && pin.size() <= 255;
    for (char c : pin) ok = ok && c > 0x20 && c < 0x7F;
    if (!ok) {
        wipe(pin);
        throw UsageError("--pin-file: " + path +
                         " must hold one line: the token's user PIN (4 to 255 printable "
                         "characters, no spaces)");
    }
    return pin;
}

}  // namespace

int run_restore(const Invocation& inv, const std::string& ca_file, Console& console) {
    const std::string file = *inv.positional;
    if (!inv.global.data_dir || inv.global.data_dir->empty())
        throw UsageError("restore: give the new data directory with --data-dir NEW");
    const fs::path target = fs::absolute(*inv.global.data_dir).lexically_normal();
    const fs::path parent = target.parent_path();
    std::error_code ec;
    if (fs::exists(fs::symlink_status(target, ec))) {
        if (!fs::is_directory(fs::symlink_status(target, ec)) || !fs::is_empty(target, ec) || ec)
            throw UsageError("--data-dir: " + target.string() +
                             " is not an empty folder; restore writes a fresh data directory "
                             "only (stop kmsd and choose a new or empty folder)");
    }
    if (!fs::is_directory(parent, ec))
        throw UsageError("--data-dir: the parent folder " + parent.string() + " does not exist");

    const std::string archive = read_text_file("FILE", file, kMaxBackupArchive);
    // No PIN is read before the archive is known to be good.
    const VerifiedBackup v = verify_backup(archive, file, ca_file);
    const bool embedded = v.hsm_kind == "softhsm2-embedded";
    if (!embedded && inv.has("pin-file"))
        throw UsageError(
            "--pin-file: this is a backup of a vendor HSM; its PIN goes in kmsd's "
            "configuration (--pin-file or hsm.pin_file), not in the data directory");
    if (embedded && !inv.has("pin-file"))
        throw UsageError(
            "--pin-file: give the file holding the backed-up token's user PIN (it is never "
            "in a backup)");
    std::string pin = embedded ? read_pin(*inv.value("pin-file")) : std::string();
    struct Wipe {
        std::string& s;
        ~Wipe() { wipe(s); }
    } wipe_pin{pin};

    std::string tmpl = (parent / ("." + target.filename().string() + ".restore-XXXXXX")).string();
    if (::mkdtemp(tmpl.data()) == nullptr)
        fail_io("cannot create a folder in " + parent.string(), errno);
    TempTree tmp{tmpl};
    for (const auto& e : v.entries) {
        if (e.path == crypto::kBackupManifest || e.path == crypto::kBackupSignature ||
            e.path == crypto::kBackupSignerCert || e.path == crypto::kBackupIssuingCert)
            continue;
        const fs::path dest = tmp.path / e.path;  // safe: is_safe_archive_path held
        fs::path dir = tmp.path;
        for (const auto& part : fs::path(e.path).parent_path()) make_dir(dir /= part);
        write_new_file(dest, e.data, e.path.starts_with("tls/") ? 0644 : 0600);
    }
    if (embedded) {
        // What kmsd's first start writes (daemon/bootstrap.cpp), for NEW's token directory.
        write_new_file(tmp.path / "softhsm2.conf",
                       "# SoftHSM2 configuration of kmsd's embedded token (written by kmsctl "
                       "restore)\n"
                       "directories.tokendir = " +
                           (target / "tokens").string() +
                           "\n"
                           "objectstore.backend = file\n"
                           "log.level = ERROR\n"
                           "slots.removable = false\n",
                       0600);
        std::string line = pin + "\n";
        write_new_file(tmp.path / "hsm.pin", line, 0600);
        wipe(line);
    }
    for (const auto& e : fs::recursive_directory_iterator(tmp.path))
        if (e.is_directory()) fsync_dir(e.path());
    fsync_dir(tmp.path);

    if (fs::exists(fs::symlink_status(target, ec)) && ::rmdir(target.c_str()) != 0)
        fail_io("cannot replace the empty folder " + target.string(), errno);
    if (::rename(tmp.path.c_str(), target.c_str()) != 0)
        fail_io("cannot rename the restored folder to " + target.string(), errno);
    tmp.keep = true;
    fsync_dir(parent);

    if (inv.global.json) {
        Poco::JSON::Object o(Poco::JSON_PRESERVE_KEY_ORDER);
        o.set("restored", true);
        o.set("dataDir", target.string());
        o.set("keys", static_cast<Poco::UInt64>(v.keys));
        o.set("files", static_cast<Poco::UInt64>(v.files));
        o.set("manifestSha256", v.manifest_sha256);
        print_json_line(console.out, o);
    } else {
        console.out << "Restored " << file << " (made " << v.created_at << ", " << v.keys
                    << " keys, " << v.files << " files) into " << target.string() << "\n"
                    << "Next: kmsd --data-dir " << target.string()
                    << " (it checks the master keys, runs the self-tests and issues a new TLS "
                       "certificate).\n"
                    << "No admin.token was written: the tokens of the backed-up principals "
                       "stay valid; use your own.\n";
    }
    return to_int(ExitCode::Ok);
}

}  // namespace kms::cli
