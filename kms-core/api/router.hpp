// Routes of the REST API: method + path pattern ("/v1/keys/{id}/mac") -> handler. One table,
// built once at start-up, read concurrently by every connection thread.
#pragma once

#include <Poco/JSON/Object.h>
#include <Poco/Net/HTTPServerRequest.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "domain/principal.hpp"

namespace kms::api {

struct Request {
    const Poco::Net::HTTPServerRequest& http;
    std::vector<std::string> params;          ///< path parameters in pattern order
    const core::Principal* caller = nullptr;  ///< null on public routes
    Poco::JSON::Object::Ptr body;             ///< null when the route takes no body
    std::vector<std::pair<std::string, std::string>> query;
    /// Set when an approved dual-control request is replayed (its approval id): the gate lets
    /// it through.
    std::string approved_by_approval;

    /// The query parameter or nullopt.
    std::optional<std::string> q(std::string_view name) const;
};

struct Reply {
    Reply(int status_, Poco::JSON::Object::Ptr json_) : status(status_), json(std::move(json_)) {}
    Reply(int status_, std::string raw_, std::string content_type_)
        : status(status_), raw(std::move(raw_)), content_type(std::move(content_type_)) {}
    int status = 200;
    Poco::JSON::Object::Ptr json;  ///< rendered as application/json when set
    std::string raw;               ///< otherwise this, with content_type
    std::string content_type = "application/json";
    /// Extra response headers, set after the defaults (Cache-Control: no-store,
    /// X-Content-Type-Options: nosniff), so a route may replace them (the console's assets).
    std::vector<std::pair<std::string, std::string>> headers;
};

using Handler = std::function<Reply(Request&)>;

enum class BodyPolicy { None, Required, Optional };

struct Route {
    std::string method;
    std::vector<std::string> segments;  ///< "{x}" marks a parameter
    bool authenticated = true;
    BodyPolicy body = BodyPolicy::None;
    std::string action;  ///< audit action name, e.g. "key.mac"
    Handler handler;
    /// Non-empty for operations under dual control ("key.export", "key.destroy",
    /// "principal.create", ...): the quorum of that name decides whether the request runs
    /// at once or waits for approval.
    std::string approval_operation;
};

class Router {
  public:
    void add(std::string method, std::string_view pattern, std::string action, BodyPolicy body,
             Handler handler, bool authenticated = true);

    struct Match {
        const Route* route = nullptr;
        std::vector<std::string> params;
        bool path_known = false;  ///< some route has this path (so a miss is a 405)
    };
    Match match(std::string_view method, std::string_view path) const;
    /// Marks the route just added (the last add()) as under dual control for @p operation.
    void require_approval(std::string operation);
    /// Every route in the order added (for the metrics series).
    const std::vector<Route>& routes() const noexcept { return m_routes; }
    /// The position of @p route (a pointer from match()) in routes().
    std::size_t index_of(const Route* route) const noexcept {
        return static_cast<std::size_t>(route - m_routes.data());
    }

  private:
    std::vector<Route> m_routes;
};

}  // namespace kms::api
