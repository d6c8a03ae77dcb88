// libFuzzer target: the messages TSM plugins read through the tsmd plugin ABI
// (tsm-services/plugin-api/tsm_plugin.h: a tsm_request's body, and the records a plugin reads
// back from tsmd's store): the SP TSM's wallet conversation bodies and attribute updates from
// se-tsm (sp-tsm/plugin), its stored operation and instance records, and the SE TSM's stored
// records (se-tsm/domain/se_codec). The first byte picks the parser, the rest is the text.
// Properties: refusals are kms::Error only; a record that decodes re-encodes to a text that
// decodes and re-encodes to the same text.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "attribute_sync.hpp"
#include "conversation.hpp"
#include "fuzz_check.hpp"
#include "instances.hpp"
#include "se_codec.hpp"

using namespace kms;
using kms::fuzz::check;
namespace sp = kms::tsm::sp;
namespace se = kms::tsm::se;

namespace {

/// decode then encode must reach a fixed point at once: encode(decode(encode(decode(t)))) ==
/// encode(decode(t)).
template <typename Decode, typename Encode>
void round_trip(const char* what, const std::string& text, Decode decode, Encode encode) {
    fuzz::refusing_only_with_error(what, [&] {
        const std::string once = encode(decode(text));
        std::string twice;
        try {
            twice = encode(decode(once));
        } catch (const std::exception& e) {
            std::fprintf(stderr, "%s: the encoding of a decoded record does not decode: %s\n", what,
                         e.what());
            std::abort();
        }
        check(once == twice, what);
    });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
    switch (data[0] % 12) {
        case 0:  // POST /<sp-tsm>/operations
            fuzz::refusing_only_with_error("parse_start_request", [&] {
                const auto r = sp::parse_start_request(text);
                check(!r.script.empty(), "start request without a script");
            });
            break;
        case 1:  // POST /<sp-tsm>/operations/{id}/responses
            fuzz::refusing_only_with_error("parse_response_request", [&] {
                const auto r = sp::parse_response_request(text);
                check(r.response.size() >= 2, "card response shorter than SW1 SW2");
            });
            break;
        case 2:  // se-tsm's outbox delivery to sp-tsm
            fuzz::refusing_only_with_error("parse_attribute_update", [&] {
                const auto u = sp::parse_attribute_update(text);
                check(u.seq >= 1, "attribute update with seq 0");
            });
            break;
        case 3:
            round_trip(
                "OperationRecord", text,
                [](const std::string& t) { return sp::OperationRecord::from_json(t); },
                [](const sp::OperationRecord& r) { return r.to_json(); });
            break;
        case 4:
            round_trip(
                "InstanceRecord", text,
                [](const std::string& t) { return sp::InstanceRecord::from_json(t); },
                [](const sp::InstanceRecord& r) { return r.to_json(); });
            break;
        case 5:
            round_trip(
                "AttributeRecord", text,
                [](const std::string& t) { return sp::AttributeRecord::from_json(t); },
                [](const sp::AttributeRecord& r) { return r.to_json(); });
            break;
        case 6:
            fuzz::refusing_only_with_error("index_from_json", [&] { sp::index_from_json(text); });
            break;
        case 7:
            round_trip(
                "se product", text, [](const std::string& t) { return se::decode_product(t); },
                [](const se::Product& p) { return se::encode(p); });
            break;
        case 8:
            round_trip(
                "se secure element", text, [](const std::string& t) { return se::decode_se(t); },
                [](const se::SecureElement& s) { return se::encode(s); });
            break;
        case 9:
            round_trip(
                "se attribute", text, [](const std::string& t) { return se::decode_attribute(t); },
                [](const se::Attribute& a) { return se::encode(a); });
            break;
        case 10:
            round_trip(
                "se outbox entry", text,
                [](const std::string& t) { return se::decode_outbox_entry(t); },
                [](const se::OutboxEntry& e) { return se::encode(e); });
            break;
        case 11:
            round_trip(
                "se card-op binding", text,
                [](const std::string& t) { return se::decode_card_op_binding(t); },
                [](const se::CardOpBinding& b) { return se::encode(b); });
            round_trip(
                "se list", text, [](const std::string& t) { return se::decode_list(t); },
                [](const std::vector<std::string>& l) { return se::encode_list(l); });
            break;
    }
    return 0;
}
