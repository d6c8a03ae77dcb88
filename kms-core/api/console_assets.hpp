// The web console's files (console/www/), compiled into kmsd by embed_console.py so the
// appliance serves them with no file on disk (docs/console.md).
#pragma once

#include <span>
#include <string_view>

namespace kms::api {

/// One file of the console, served as GET /console/NAME.
struct ConsoleAsset {
    std::string_view name;          ///< base name, e.g. "app.js" (no folders)
    std::string_view content_type;  ///< from the extension, with charset for text
    std::string_view etag;          ///< strong ETag with its quotes: 128 bits of SHA-256
    std::string_view body;          ///< the exact bytes
};

/// Every asset, in the order meson listed them. Static storage: valid for the process's life,
/// safe to read from any thread.
std::span<const ConsoleAsset> console_assets();

}  // namespace kms::api
