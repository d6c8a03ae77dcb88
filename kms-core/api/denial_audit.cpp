// Denial records (see denial_audit.hpp).
#include "api/denial_audit.hpp"

namespace kms::api {

std::string printable(std::string_view text, std::size_t max) {
    std::string out(text.substr(0, max));
    for (auto& c : out) {
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u > 0x7E) c = '?';
    }
    return out;
}

}  // namespace kms::api
