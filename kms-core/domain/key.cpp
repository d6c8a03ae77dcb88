// Rules about keys that do not depend on any store or HSM.
#include "key.hpp"

#include "error.hpp"

namespace kms::core {

bool usage_permits(UsageMask mask, Operation op) {
    switch (op) {
        case Operation::Encrypt:
            return mask.has(Usage::Encrypt);
        case Operation::Decrypt:
            return mask.has(Usage::Decrypt);
        case Operation::Mac:
            return mask.has(Usage::Mac);
        case Operation::MacVerify:
            return mask.has(Usage::Verify) || mask.has(Usage::Mac);
        case Operation::Sign:
            return mask.has(Usage::Sign);
        case Operation::Verify:
            return mask.has(Usage::Verify);
        case Operation::Wrap:
            return mask.has(Usage::Wrap);
        case Operation::Unwrap:
            return mask.has(Usage::Unwrap);
        case Operation::Derive:
            return mask.has(Usage::Derive);
    }
    return false;
}

void validate_key_name(std::string_view name) {
    if (name.empty() || name.size() > 128)
        throw Error(ErrorCode::InvalidArgument, "name: must be 1 to 128 characters");
    if (name.front() == '-')
        throw Error(ErrorCode::InvalidArgument, "name: must not start with '-'");
    for (char c : name) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '.' || c == '_' || c == ':' || c == '/' ||
                        c == '-';
        if (!ok)
            throw Error(ErrorCode::InvalidArgument,
                        "name: only letters, digits and . _ : / - are allowed");
    }
}

}  // namespace kms::core
