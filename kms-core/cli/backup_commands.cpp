// kmsctl backup create / backup verify / restore (see backup_commands.hpp).
#include "backup_commands.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "exit_codes.hpp"
#include "http_client.hpp"
#include "local_files.hpp"
#include "requests_common.hpp"

namespace kms::cli {

namespace fs = std::filesystem;

namespace {

/// The root CA file for the offline checks: --ca, else KMS_CA. Never the data dir's: the
/// officer names the root they trust.
std::string root_ca(const Invocation& inv, const EnvLookup& env) {
    if (inv.global.ca_file) return *inv.global.ca_file;
    if (auto v = env("KMS_CA"); v && !v->empty()) return *v;
    throw UsageError(inv.command->words == std::string_view("restore")
                         ? "restore: give the root CA certificate with --ca FILE"
                         : "backup verify: give the root CA certificate with --ca FILE");
}

/// A temporary file next to FILE (0600), removed unless renamed into place.
class TempFile {
  public:
    explicit TempFile(const std::string& target) {
        std::string tmpl = target + ".tmp-XXXXXX";
        m_fd = ::mkstemp(tmpl.data());
        if (m_fd < 0)
            throw UsageError("--out: cannot create a file next to " + target + ": " +
                             std::strerror(errno));
        ::fchmod(m_fd, 0600);
        m_path = tmpl;
    }
    ~TempFile() {
        if (m_fd >= 0) ::close(m_fd);
        if (!m_done) ::unlink(m_path.c_str());
    }
    TempFile(const TempFile&) = delete;
    TempFile& operator=(const TempFile&) = delete;

    /// Writes, fsyncs, and links the file to @p target (which must still not exist).
    void commit(std::string_view data, const std::string& target) {
        std::size_t done = 0;
        while (done < data.size()) {
            const ssize_t n = ::write(m_fd, data.data() + done, data.size() - done);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) fail(target, errno);
            done += static_cast<std::size_t>(n);
        }
        if (::fsync(m_fd) != 0) fail(target, errno);
        ::close(m_fd);
        m_fd = -1;
        // link() never replaces an existing file, unlike rename().
        if (::link(m_path.c_str(), target.c_str()) != 0) fail(target, errno);
        ::unlink(m_path.c_str());
        m_done = true;
        const fs::path dir = fs::absolute(target).parent_path();
        const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            ::fsync(dfd);
            ::close(dfd);
        }
    }

  private:
    [[noreturn]] void fail(const std::string& target, int err) {
        throw CliError(ExitCode::Usage, "--out: cannot write " + target + ": " +
                                            std::strerror(err) +
                                            " (the backup was made and audited; run it again)");
    }
    int m_fd = -1;
    std::string m_path;
    bool m_done = false;
};

int run_create(const Invocation& inv, const EnvLookup& env, Console& console) {
    const std::string out = *inv.value("out");
    std::error_code ec;
    if (fs::exists(fs::symlink_status(out, ec)))
        throw UsageError("--out: " + out + " exists already; choose a new file name");
    const ApiCall call = build_call(inv);
    ConnectionConfig cfg = resolve_connection(inv.global, call.needs_auth, env);
    cfg.max_answer_bytes = kMaxBackupArchive;
    TempFile tmp(out);  // before the request: a result that cannot be stored is never asked for
    HttpClient client(cfg);
    HttpResponse r = client.send(call);
    if (r.status < 200 || r.status >= 300) throw http_failure(r);
    if (r.content_type.rfind("application/x-tar", 0) != 0)
        throw CliError(ExitCode::ServerError,
                       "the server's answer is not a backup archive (" + r.content_type + ")");
    // Check what arrived before keeping it, against the CA this connection trusts.
    std::optional<VerifiedBackup> v;
    if (cfg.ca_file) v = verify_backup(r.body, "the received backup", *cfg.ca_file);
    tmp.commit(r.body, out);
    if (inv.global.json) {
        Poco::JSON::Object o = detail::ordered();
        o.set("file", out);
        o.set("size", static_cast<Poco::UInt64>(r.body.size()));
        o.set("verified", v.has_value());
        if (v) {
            o.set("keys", static_cast<Poco::UInt64>(v->keys));
            o.set("files", static_cast<Poco::UInt64>(v->files));
            o.set("manifestSha256", v->manifest_sha256);
        }
        print_json_line(console.out, o);
    } else {
        console.out << "Backup written to " << out << " (" << r.body.size() << " bytes)\n";
        if (v)
            console.out << "Verified against " << *cfg.ca_file << ": " << v->keys << " keys, "
                        << v->files << " files, manifest SHA-256 " << v->manifest_sha256 << "\n";
        else
            console.out << "Not verified (no --ca): run 'kmsctl backup verify " << out
                        << " --ca ROOT'\n";
    }
    return to_int(ExitCode::Ok);
}

int run_verify(const Invocation& inv, const EnvLookup& env, Console& console) {
    const std::string file = *inv.positional;
    const std::string ca = root_ca(inv, env);
    const std::string archive = read_text_file("FILE", file, kMaxBackupArchive);
    const VerifiedBackup v = verify_backup(archive, file, ca);
    if (inv.global.json) {
        Poco::JSON::Object o = detail::ordered();
        o.set("valid", true);
        o.set("createdAt", v.created_at);
        o.set("hsm", v.hsm_kind);
        o.set("keys", static_cast<Poco::UInt64>(v.keys));
        o.set("files", static_cast<Poco::UInt64>(v.files));
        o.set("manifestSha256", v.manifest_sha256);
        print_json_line(console.out, o);
        return to_int(ExitCode::Ok);
    }
    console.out << "Backup " << file << " verifies against " << ca << "\n"
                << "Created:   " << v.created_at << " by "
                << v.manifest->optValue<std::string>("createdBy", "?") << " (kmsd "
                << v.manifest->optValue<std::string>("kmsdVersion", "?") << ", store schema "
                << v.manifest->optValue<int>("storeSchemaVersion", 0) << ")\n"
                << "HSM:       " << v.hsm_kind << "\n"
                << "Signed by: " << v.signer << "\n"
                << "Contents:  " << v.files << " files, " << v.keys << " keys\n"
                << "Manifest:  SHA-256 " << v.manifest_sha256 << "\n";
    return to_int(ExitCode::Ok);
}

}  // namespace

namespace detail {

std::optional<ApiCall> build_backup_call(const Invocation& inv) {
    if (inv.command->id != CommandId::BackupCreate) return std::nullopt;
    Poco::JSON::Object body = ordered();
    if (auto label = inv.value("label")) {
        if (label->size() > 128) throw UsageError("--label: at most 128 characters");
        for (char c : *label)
            if (c < 0x20 || c > 0x7E) throw UsageError("--label: only printable ASCII characters");
        body.set("label", *label);
    }
    ApiCall call = post("/v1/backups", body);
    call.accept = "application/x-tar";
    call.raw_answer = true;
    return call;
}

}  // namespace detail

void print_json_line(std::ostream& out, const Poco::JSON::Object& obj) {
    obj.stringify(out);
    out << '\n';
}

bool is_backup_command(CommandId id) {
    return id == CommandId::BackupCreate || id == CommandId::BackupVerify ||
           id == CommandId::Restore;
}

int run_backup_command(const Invocation& inv, const EnvLookup& env, Console& console) {
    switch (inv.command->id) {
        case CommandId::BackupCreate:
            return run_create(inv, env, console);
        case CommandId::BackupVerify:
            return run_verify(inv, env, console);
        case CommandId::Restore:
            return run_restore(inv, root_ca(inv, env), console);
        default:
            throw UsageError("internal: not a backup command");
    }
}

}  // namespace kms::cli
