// Plugin instances of tsmd: a shared library loaded through the C ABI of
// plugin-api/tsm_plugin.h, created with its configuration, and called for requests.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "tsm_store.hpp"

namespace kms::tsm {

/// One configured instance: its name (1 to 64 of A-Z a-z 0-9 - _ .: the first path segment it
/// serves, and its store namespace), the library, and the configuration handed to create()
/// (JSON text).
struct PluginSpec {
    std::string instance;
    std::string library;
    std::string config_json;
};

/// A request as tsmd hands it to an instance.
struct PluginCall {
    std::string method, path, query, body, content_type, client, request_id;
};

/// What the instance answered.
struct PluginAnswer {
    int status = 500;
    std::string content_type;
    std::string body;
};

/// {"error": CODE, "message": MESSAGE} with both strings JSON-escaped (control characters
/// dropped): the error shape tsmd answers with, as kmsd does.
std::string json_error(const std::string& code, const std::string& message);

/// Writes one log line (level as in tsm_log_level).
using HostLog = std::function<void(int level, const std::string& line)>;

class PluginInstance {
  public:
    /// Loads @p spec.library (dlopen, RTLD_NOW | RTLD_LOCAL), asks tsm_plugin_entry for the
    /// host's ABI version and creates the instance. Throws std::runtime_error saying what
    /// failed: no such library or symbol, an ABI version newer than the host's, a descriptor
    /// without create/handle/destroy, or create() refusing (with the plugin's message).
    PluginInstance(const PluginSpec& spec, TsmStore& store, HostLog log);
    ~PluginInstance();
    PluginInstance(const PluginInstance&) = delete;
    PluginInstance& operator=(const PluginInstance&) = delete;

    const std::string& name() const;
    /// The plugin's name and version as it reports them ("sp-tsm 0.1.0").
    std::string description() const;

    /// Calls the plugin's handle(). Never throws: a plugin that answers nothing gives 500 with
    /// a JSON error naming the instance; a second answer is ignored and logged.
    PluginAnswer handle(const PluginCall& call);

  private:
    struct Impl;
    std::unique_ptr<Impl> m_impl;
};

}  // namespace kms::tsm
