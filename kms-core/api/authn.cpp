// Request authentication: bearer tokens (officers); client certificates come with the CA work.
#include "api/api.hpp"
#include "domain/error.hpp"

namespace kms::api {

core::Principal authenticate_request(const Poco::Net::HTTPServerRequest& req,
                                     ApiServices& services) {
    const std::string auth = req.get("Authorization", "");
    constexpr std::string_view kBearer = "Bearer ";
    if (auth.size() <= kBearer.size() || auth.compare(0, kBearer.size(), kBearer) != 0)
        throw Error(ErrorCode::Unauthenticated, "an Authorization: Bearer token is required");
    auto p = services.principals.authenticate(std::string_view(auth).substr(kBearer.size()));
    if (!p) throw Error(ErrorCode::Unauthenticated, "the bearer token is not valid");
    return *p;
}

}  // namespace kms::api
