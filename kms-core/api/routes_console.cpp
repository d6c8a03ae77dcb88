// Routes: the web console (docs/console.md). kmsd serves the console's files from the table
// embed_console.py compiled in, under /console/ on the API's own HTTPS port, so the page and
// the REST API it calls share one origin and the strict Content-Security-Policy below can
// forbid every other host, inline scripts and inline styles.
#include <Poco/URI.h>

#include "api/api.hpp"
#include "api/console_assets.hpp"
#include "domain/error.hpp"

namespace kms::api {

namespace {

/// CSP Level 3 (W3C), §6: only this origin's scripts, styles, images (and data: images) and
/// fetches; no plugins, frames, forms posting anywhere, <base> or framing by other pages.
constexpr const char* kCsp =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

const ConsoleAsset* find_asset(std::string_view name) {
    for (const auto& a : console_assets())
        if (a.name == name) return &a;
    return nullptr;
}

/// The headers every console answer carries. HTML is never cached (it is the entry point and
/// names the scripts); the other files are revalidated with their ETag on each load
/// (RFC 9111 §5.2.2.4 "no-cache"), so an upgraded kmsd is picked up at once without
/// hashed file names.
void console_headers(Reply& reply, const ConsoleAsset& a) {
    const bool html = a.content_type.starts_with("text/html");
    reply.headers = {{"Content-Security-Policy", kCsp},
                     {"Referrer-Policy", "no-referrer"},
                     {"X-Frame-Options", "DENY"},
                     {"Cross-Origin-Opener-Policy", "same-origin"},
                     {"Cross-Origin-Resource-Policy", "same-origin"},
                     {"Cache-Control", html ? "no-store" : "no-cache"},
                     {"ETag", std::string(a.etag)}};
}

Reply serve(const Request& r, std::string_view name) {
    const ConsoleAsset* a = find_asset(name);
    if (a == nullptr)
        throw Error(ErrorCode::NotFound,
                    "no console asset '" + std::string(name.substr(0, 64)) +
                        "' (the console's files are /console/ and the names it links)");
    // RFC 9110 §13.1.2: a weak comparison; our ETags are strong, so this is string equality
    // against any of the listed tags (or "*").
    const std::string inm = r.http.get("If-None-Match", "");
    bool fresh = inm == "*";
    for (std::size_t i = 0; !fresh && i < inm.size();) {
        const std::size_t comma = inm.find(',', i);
        std::string tag = inm.substr(i, comma == std::string::npos ? std::string::npos : comma - i);
        while (!tag.empty() && tag.front() == ' ') tag.erase(0, 1);
        while (!tag.empty() && tag.back() == ' ') tag.pop_back();
        if (tag.starts_with("W/")) tag.erase(0, 2);
        fresh = tag == a->etag;
        if (comma == std::string::npos) break;
        i = comma + 1;
    }
    Reply reply = fresh ? Reply{304, std::string(), std::string(a->content_type)}
                        : Reply{200, std::string(a->body), std::string(a->content_type)};
    console_headers(reply, *a);
    return reply;
}

}  // namespace

void add_console_routes(Router& router) {
    // "/console" and "/console/" match the same route (the router ignores empty segments); only
    // the second is the console's base URL, against which its relative imports resolve.
    router.add(
        "GET", "/console/", "console.asset", BodyPolicy::None,
        [](Request& r) {
            const std::string path = Poco::URI(r.http.getURI()).getPath();
            if (!path.ends_with("/")) {
                Reply reply{301, std::string(), "text/plain"};
                reply.headers = {{"Location", "/console/"}};
                return reply;
            }
            return serve(r, "index.html");
        },
        false);
    // One segment only: "/console/a/b" and a percent-encoded "/" ("..%2Fx" decodes before the
    // router splits) match no route, and the name is looked up in the table, never on disk.
    router.add(
        "GET", "/console/{asset}", "console.asset", BodyPolicy::None,
        [](Request& r) { return serve(r, r.params[0]); }, false);
}

}  // namespace kms::api
