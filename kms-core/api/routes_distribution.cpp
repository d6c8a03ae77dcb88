// Routes: key ceremonies, export and import (skeleton; filled in by the distribution work).
#include "api/api.hpp"

namespace kms::api {

void add_distribution_routes(Router&, ApiServices&) {}

}  // namespace kms::api
