// What a service instance (sp-tsm, se-tsm) tells the fronts about itself: the "front" object of
// its tsmd instance configuration, parsed and checked, and the registration body built from it
// (docs/front.md, "Registration from the service side"). No I/O; Poco stays in the .cpp.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kms::tsm::registrar {

/// One actionCode the instance serves, and how the front reaches it there.
struct RegistrarAction {
    std::string action_code;        ///< 1..64 characters of [A-Za-z0-9._-]
    std::string path = "/actions";  ///< upstream path under the instance's base URL
    bool operation = false;         ///< the answer starts an operation (front affinity)
};

/// The instance configuration's "front" object:
///
///     "front": {"urls": ["https://127.0.0.1:9443/front"], "self": "https://127.0.0.1:9445/sp",
///               "ca": PEM, "certificate"?: PEM, "key"?: PEM, "ttlSeconds"?: 15,
///               "timeoutSeconds"?: 2,
///               "actions": [{"actionCode": "transit.topup", "path"?: "/operations",
///                            "operation"?: true}, ...]}
struct RegistrarSettings {
    /// Base URLs of the front instances to register at (each is told; none is preferred).
    std::vector<std::string> front_urls;
    /// This instance's own base URL as the fronts must call it ("https://HOST:PORT/INSTANCE").
    std::string self;
    std::string ca_file;  ///< CA bundle the fronts' tsmd certificates chain to
    std::optional<std::string>
        cert_file;                        ///< client certificate (its CN in the fronts' registrars)
    std::optional<std::string> key_file;  ///< its private key (given with cert_file)
    int ttl_seconds = 15;                 ///< 1..86400; renewed every ttl/3
    int timeout_seconds = 2;              ///< 1..60, per HTTPS call to a front (registrar.hpp)
    /// 1..256 actions, each with its own path and operation flag.
    std::vector<RegistrarAction> actions;
};

/// True when @p code is 1..64 characters of [A-Za-z0-9._-]: the front's own rule for
/// actionCodes (front/domain/routing.hpp, valid_action_code), checked here so that a bad code is
/// refused at create() rather than by every front at every heartbeat.
bool valid_action_code(std::string_view code);

/// The "front" member of the instance configuration @p instance_config_json (the whole JSON
/// object tsmd hands to create()), checked; std::nullopt when there is none (the instance does
/// not register). Throws std::invalid_argument with a message naming the field
/// ("front.actions[1].path must start with '/'") for unknown fields, wrong types, values out of
/// range and duplicate actionCodes or front URLs. Files are not opened here (the Registrar's
/// constructor loads them).
std::optional<RegistrarSettings> parse_front_registration(std::string_view instance_config_json);

/// True when every action of @p s has the path and operation flag of the first.
bool one_route(const RegistrarSettings& s);

/// The body of POST <front>/registrations for @p s (docs/front.md, "Requests"): {"instance",
/// "actionCodes", "ttlSeconds", "path", "operation"} when one_route(s), which any front takes;
/// otherwise "routes": {"CODE": {"path", "operation"}, ...} instead of "path" and "operation",
/// which needs a front that knows "routes" (an older one answers 400 "routes is not a known
/// field", and the registrar logs it).
std::string registration_body(const RegistrarSettings& s);

/// The target of DELETE <front>/registrations for @p self: "/registrations?instance=" and the
/// URL percent-encoded (RFC 3986 §2.1; the front decodes the query parameter).
std::string deregistration_target(const std::string& self);

}  // namespace kms::tsm::registrar
