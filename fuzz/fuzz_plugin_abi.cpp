// libFuzzer target: HTTPS requests as tsmd hands them to a plugin through the C ABI of
// tsm-services/plugin-api/tsm_plugin.h. The real sp-tsm plugin (the shared module this build
// made) is loaded by the real host code (tsm-services/host PluginInstance: dlopen,
// tsm_plugin_entry, create) over a real TSM store (LMDB in a temporary folder), configured
// with the transit purse scripts and a kmsd URL where nothing listens (127.0.0.1:1), so steps
// that need the KMS fail as they would with kmsd down.
//
// Input: a sequence of requests, each: method byte (GET, POST, PUT, DELETE), path, query and
// client (each a 1-byte length and its bytes), body (2-byte big-endian length and its bytes).
// "{op}" in a path becomes the id of the last operation the plugin created, so a sequence
// can start an operation and answer it.
// Properties: the plugin answers every request exactly once (no 500 "answered nothing"), never
// with 500 (an internal error: an exception the plugin did not expect), and only JSON.
#include <dlfcn.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "fuzz_check.hpp"
#include "plugin_host.hpp"
#include "tsm_store.hpp"

using kms::fuzz::check;
namespace fs = std::filesystem;

#ifndef KMS_FUZZ_SP_TSM_PLUGIN
#error "meson passes the sp-tsm plugin's path"
#endif

namespace {

struct Env {
    fs::path dir;
    std::unique_ptr<kms::tsm::TsmStore> store;
    std::unique_ptr<kms::tsm::PluginInstance> plugin;
    std::string last_operation;
    unsigned runs = 0;

    Env() {
        // libFuzzer keeps pointers into every instrumented module's counters: the plugin must
        // stay mapped when a PluginInstance dlclose()s it (renewals below).
        if (!dlopen(KMS_FUZZ_SP_TSM_PLUGIN, RTLD_NOW | RTLD_NODELETE)) std::abort();
        open();
    }
    ~Env() { close(); }

    void open() {
        char tmpl[] = "/tmp/fuzz_plugin_abi.XXXXXX";
        if (!mkdtemp(tmpl)) std::abort();
        dir = tmpl;
        const std::string scripts = KMS_FUZZ_SCRIPTS;
        const std::string config =
            R"({"name":"sp","kms":{"url":"https://127.0.0.1:1","ca":")" KMS_FUZZ_CA
            R"(","token":"fuzz"},"kmsKeys":{"sp-transit-credit-mac":"k1","sp-transit-scp":)"
            R"({"enc":"e","mac":"m","dek":"d"}},"scripts":{"transit-top-up":")" +
            scripts + R"(/transit-top-up.json","transit-balance":")" + scripts +
            R"(/transit-balance.json"},"checkAttributes":true,"syncClients":["se-tsm"]})";
        store = std::make_unique<kms::tsm::TsmStore>((dir / "store").string(), 64u << 20);
        plugin = std::make_unique<kms::tsm::PluginInstance>(
            kms::tsm::PluginSpec{"sp", KMS_FUZZ_SP_TSM_PLUGIN, config}, *store,
            [](int, const std::string&) {});
    }
    void close() {
        plugin.reset();
        store.reset();
        std::error_code ec;
        fs::remove_all(dir, ec);
    }
    /// A fresh store now and then, so a long run does not fill the map.
    void maybe_renew() {
        if (++runs % 20000 != 0) return;
        close();
        open();
    }
};

Env& env() {
    static Env e;
    return e;
}

std::string take_string(kms::fuzz::Reader& in, std::size_t n) {
    const auto v = in.take(n);
    return std::string(reinterpret_cast<const char*>(v.data()), v.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    Env& e = env();
    e.maybe_renew();
    kms::fuzz::Reader in(data, size);
    static const char* kMethods[] = {"GET", "POST", "PUT", "DELETE"};
    for (int k = 0; k < 8 && !in.empty(); ++k) {
        kms::tsm::PluginCall call;
        call.method = kMethods[in.byte() % 4];
        call.path = take_string(in, in.byte());
        call.query = take_string(in, in.byte());
        call.client = take_string(in, in.byte());
        const std::size_t body_size = (std::size_t{in.byte()} << 8) | in.byte();
        call.body = take_string(in, body_size);
        call.content_type = "application/json";
        call.request_id = "fuzz";
        if (const auto at = call.path.find("{op}"); at != std::string::npos)
            call.path.replace(at, 4, e.last_operation);

        const kms::tsm::PluginAnswer a = e.plugin->handle(call);
        if (a.status == 500 || a.status < 100 || a.status > 599) {
            std::fprintf(stderr, "%s %s -> %d %s\n", call.method.c_str(), call.path.c_str(),
                         a.status, a.body.c_str());
            check(false, "the plugin answered 500 (or no valid status)");
        }
        check(a.content_type == "application/json", "the plugin answered something else than JSON");
        if (const auto at = a.body.find("\"operation\":\""); at != std::string::npos) {
            const auto end = a.body.find('"', at + 13);
            if (end != std::string::npos) e.last_operation = a.body.substr(at + 13, end - at - 13);
        }
    }
    return 0;
}
