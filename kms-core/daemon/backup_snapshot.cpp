// Snapshot for the online backup (see backup_snapshot.hpp).
#include "daemon/backup_snapshot.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "daemon/files.hpp"
#include "domain/error.hpp"
#include "ports/clock.hpp"

namespace kms::daemon {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view kTmpPrefix = "backup-tmp.";

std::string read_all(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    if (!in) throw Error(ErrorCode::Internal, "backup: cannot read " + p.string());
    std::ostringstream s;
    s << in.rdbuf();
    if (!in.good() && !in.eof())
        throw Error(ErrorCode::Internal, "backup: cannot read " + p.string());
    return std::move(s).str();
}

/// Removes the temporary folder on every way out.
struct TempDir {
    fs::path path;
    ~TempDir() {
        std::error_code ec;
        if (!path.empty()) fs::remove_all(path, ec);
    }
};

/// Audit records are never written to the copy: a sealer that refuses.
Bytes no_seal(ByteView) {
    throw Error(ErrorCode::Internal, "backup copy: no audit record may be written");
}

}  // namespace

core::BackupSnapshot take_backup_snapshot(const DaemonConfig& cfg, store::LmdbStore& store) {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(cfg.data_dir, ec))
        if (e.path().filename().string().starts_with(kTmpPrefix)) fs::remove_all(e.path(), ec);

    std::string tmpl = cfg.path(std::string(kTmpPrefix) + "XXXXXX");
    if (::mkdtemp(tmpl.data()) == nullptr)
        throw Error(ErrorCode::StoreError,
                    "backup: cannot create a temporary folder in " + cfg.data_dir,
                    NativeKind::Errno, static_cast<std::uint64_t>(errno));
    TempDir tmp{tmpl};
    const fs::path copy_dir = tmp.path / "store";
    store.hot_backup(copy_dir.string());

    core::BackupSnapshot snap;
    {
        core::SystemClock clock;
        store::LmdbOptions o;
        o.path = copy_dir.string();
        o.map_size = cfg.store_map_size_mb << 20;
        o.max_readers = 8;
        auto copy = store::LmdbStore::open(o, no_seal, clock);
        const auto schema = copy->get_setting("schema_version");
        snap.store_schema = schema ? static_cast<std::uint32_t>(
                                         std::stoul(std::string(schema->begin(), schema->end())))
                                   : 0;
        std::string after;
        for (;;) {
            core::KeyPage page = copy->list_keys(core::KeyFilter{}, after, 1000);
            for (auto& k : page.keys) snap.keys.push_back(std::move(k));
            if (page.next_after.empty()) break;
            after = page.next_after;
        }
    }
    snap.files.push_back({"store/data.mdb", read_all(copy_dir / "data.mdb"), 0600});

    if (cfg.embedded_hsm()) {
        const fs::path tokens = cfg.token_dir();
        std::vector<fs::path> found;
        for (const auto& e : fs::recursive_directory_iterator(tokens))
            if (e.is_regular_file() && !e.is_symlink()) found.push_back(e.path());
        std::sort(found.begin(), found.end());
        for (const auto& p : found)
            snap.files.push_back(
                {"tokens/" + fs::relative(p, tokens).generic_string(), read_all(p), 0600});
    }
    snap.files.push_back({"tls/ca.pem", read_all(cfg.ca_pem()), 0644});
    snap.files.push_back({"tls/client-ca.pem", read_all(cfg.path("tls/client-ca.pem")), 0644});
    return snap;
}

}  // namespace kms::daemon
