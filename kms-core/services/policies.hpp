// PolicyService: see docs (issue 3). Skeleton; the owner of this file fills it in.
#pragma once

#include "services/context.hpp"

namespace kms::core {

class PolicyService {
  public:
    explicit PolicyService(ServiceContext& ctx) : m_ctx(ctx) {}

  private:
    ServiceContext& m_ctx;
};

}  // namespace kms::core
