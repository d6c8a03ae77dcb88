// Routes: the internal CA and plugin policies (skeleton; filled in by the CA work).
#include "api/api.hpp"

namespace kms::api {

void add_ca_routes(Router&, ApiServices&) {}

}  // namespace kms::api
