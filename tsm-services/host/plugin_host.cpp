// PluginInstance: dlopen, the ABI handshake, and the host side of tsm_host_api.
#include "plugin_host.hpp"

#include <dlfcn.h>

#include <cstring>
#include <stdexcept>

#include "plugin-api/tsm_plugin.h"

/// The opaque answer of one request (declared in tsm_plugin.h, defined by the host).
struct tsm_response {
    kms::tsm::PluginAnswer answer;
    bool answered = false;
    const kms::tsm::HostLog* log = nullptr;
    const std::string* instance = nullptr;
};

namespace kms::tsm {

namespace {

/// What host->host points to for an instance.
struct HostContext {
    std::string instance;
    TsmStore* store = nullptr;
    HostLog log;
};

HostContext& context_of(void* host) {
    return *static_cast<HostContext*>(host);
}

// The functions of tsm_host_api. None lets an exception cross the C boundary.

void host_log(void* host, int level, const char* message) noexcept {
    try {
        HostContext& h = context_of(host);
        h.log(level, h.instance + ": " + (message ? message : ""));
    } catch (...) {
    }
}

void host_respond(tsm_response* r, int status, const char* content_type, const char* body,
                  std::size_t body_size) noexcept {
    if (r == nullptr) return;
    try {
        if (r->answered) {
            (*r->log)(TSM_LOG_WARNING, *r->instance + ": answered a request twice; kept the first");
            return;
        }
        r->answered = true;
        r->answer.status = (status >= 100 && status <= 599) ? status : 500;
        r->answer.content_type = content_type ? content_type : "";
        if (body != nullptr) r->answer.body.assign(body, body_size);
    } catch (...) {
        r->answer = PluginAnswer{};
    }
}

/// Runs a store call for the C ABI: its result, or TSM_STORE_INVALID for a bad table or key,
/// TSM_STORE_FAILED (logged) when the store failed.
template <class Fn>
int store_call(void* host, Fn&& fn) noexcept {
    try {
        return fn(context_of(host));
    } catch (const std::invalid_argument&) {
        return TSM_STORE_INVALID;
    } catch (const std::exception& e) {
        host_log(host, TSM_LOG_ERROR, e.what());
        return TSM_STORE_FAILED;
    } catch (...) {
        return TSM_STORE_FAILED;
    }
}

int host_store_put(void* host, const char* table, const char* key, const void* value,
                   std::size_t size) noexcept {
    if (!table || !key || (!value && size != 0)) return TSM_STORE_INVALID;
    return store_call(host, [&](HostContext& h) {
        h.store->put(h.instance, table, key,
                     ByteView(static_cast<const std::uint8_t*>(value), size));
        return int{TSM_STORE_OK};
    });
}

int host_store_get(void* host, const char* table, const char* key, void* buffer,
                   std::size_t* size) noexcept {
    if (!table || !key || !size) return TSM_STORE_INVALID;
    return store_call(host, [&](HostContext& h) {
        const auto v = h.store->get(h.instance, table, key);
        if (!v) return int{TSM_STORE_NOT_FOUND};
        const std::size_t capacity = *size;
        *size = v->size();
        if (v->size() > capacity || (buffer == nullptr && !v->empty()))
            return int{TSM_STORE_TOO_LARGE};
        if (!v->empty()) std::memcpy(buffer, v->data(), v->size());
        return int{TSM_STORE_OK};
    });
}

int host_store_delete(void* host, const char* table, const char* key) noexcept {
    if (!table || !key) return TSM_STORE_INVALID;
    return store_call(host, [&](HostContext& h) {
        return int{h.store->erase(h.instance, table, key) ? TSM_STORE_OK : TSM_STORE_NOT_FOUND};
    });
}

int host_store_compare_and_put(void* host, const char* table, const char* key, const void* expected,
                               std::size_t expected_size, int expect_absent, const void* value,
                               std::size_t size) noexcept {
    if (!table || !key || (!value && size != 0) ||
        (!expect_absent && !expected && expected_size != 0))
        return TSM_STORE_INVALID;
    return store_call(host, [&](HostContext& h) {
        std::optional<ByteView> want;
        if (!expect_absent)
            want = ByteView(static_cast<const std::uint8_t*>(expected), expected_size);
        const bool written = h.store->compare_and_put(
            h.instance, table, key, want, ByteView(static_cast<const std::uint8_t*>(value), size));
        return int{written ? TSM_STORE_OK : TSM_STORE_CONFLICT};
    });
}

std::string json_string(const std::string& s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') out += '\\';
        if (static_cast<unsigned char>(c) < 0x20) continue;
        out += c;
    }
    return out + "\"";
}

}  // namespace

std::string json_error(const std::string& code, const std::string& message) {
    return "{\"error\":" + json_string(code) + ",\"message\":" + json_string(message) + "}";
}

struct PluginInstance::Impl {
    HostContext host;
    tsm_host_api api{};
    void* library = nullptr;
    const tsm_plugin* plugin = nullptr;
    void* instance = nullptr;

    ~Impl() {
        if (plugin && instance) plugin->destroy(instance);
        if (library) ::dlclose(library);
    }
};

PluginInstance::PluginInstance(const PluginSpec& spec, TsmStore& store, HostLog log)
    : m_impl(std::make_unique<Impl>()) {
    bool ok = !spec.instance.empty() && spec.instance.size() <= 64;
    for (char c : spec.instance)
        ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || c == '.');
    if (!ok)
        throw std::runtime_error("plugin instance name '" + spec.instance +
                                 "': 1 to 64 of A-Z a-z 0-9 - _ .");
    Impl& im = *m_impl;
    im.host.instance = spec.instance;
    im.host.store = &store;
    im.host.log = std::move(log);
    const std::string who = "plugin instance '" + spec.instance + "' (" + spec.library + ")";

    im.library = ::dlopen(spec.library.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!im.library) throw std::runtime_error(who + ": cannot load: " + ::dlerror());
    auto entry =
        reinterpret_cast<tsm_plugin_entry_fn>(::dlsym(im.library, TSM_PLUGIN_ENTRY_SYMBOL));
    if (!entry)
        throw std::runtime_error(who + ": no symbol " TSM_PLUGIN_ENTRY_SYMBOL
                                       " (not a tsmd plugin)");
    im.plugin = entry(TSM_PLUGIN_ABI_VERSION);
    if (!im.plugin)
        throw std::runtime_error(who + ": the plugin cannot serve plugin ABI version " +
                                 std::to_string(TSM_PLUGIN_ABI_VERSION));
    if (im.plugin->abi_version == 0 || im.plugin->abi_version > TSM_PLUGIN_ABI_VERSION)
        throw std::runtime_error(who + ": built for plugin ABI version " +
                                 std::to_string(im.plugin->abi_version) + ", this tsmd has " +
                                 std::to_string(TSM_PLUGIN_ABI_VERSION));
    if (!im.plugin->create || !im.plugin->handle || !im.plugin->destroy)
        throw std::runtime_error(who + ": its descriptor lacks create, handle or destroy");

    im.api.abi_version = TSM_PLUGIN_ABI_VERSION;
    im.api.host = &im.host;
    im.api.log = host_log;
    im.api.respond = host_respond;
    im.api.store_put = host_store_put;
    im.api.store_get = host_store_get;
    im.api.store_delete = host_store_delete;
    im.api.store_compare_and_put = host_store_compare_and_put;
    char error[512] = {0};
    im.instance = im.plugin->create(&im.api, spec.config_json.c_str(), error, sizeof error);
    if (!im.instance) {
        error[sizeof error - 1] = '\0';
        throw std::runtime_error(who + ": create() refused: " +
                                 (error[0] ? std::string(error) : std::string("no reason given")));
    }
}

PluginInstance::~PluginInstance() = default;

const std::string& PluginInstance::name() const {
    return m_impl->host.instance;
}

std::string PluginInstance::description() const {
    const tsm_plugin* p = m_impl->plugin;
    return std::string(p->name ? p->name : "?") + " " + (p->version ? p->version : "?");
}

PluginAnswer PluginInstance::handle(const PluginCall& call) {
    Impl& im = *m_impl;
    tsm_request req{};
    req.method = call.method.c_str();
    req.path = call.path.c_str();
    req.query = call.query.c_str();
    req.body = call.body.data();
    req.body_size = call.body.size();
    req.content_type = call.content_type.c_str();
    req.client = call.client.c_str();
    req.request_id = call.request_id.c_str();
    tsm_response response;
    response.log = &im.host.log;
    response.instance = &im.host.instance;
    im.plugin->handle(im.instance, &req, &response);
    if (!response.answered) {
        im.host.log(TSM_LOG_ERROR, im.host.instance + ": gave no answer to " + call.method + " " +
                                       call.path + " (request " + call.request_id + ")");
        return PluginAnswer{500, "application/json",
                            json_error("plugin_error", "plugin instance '" + im.host.instance +
                                                           "' gave no answer")};
    }
    return std::move(response.answer);
}

}  // namespace kms::tsm
