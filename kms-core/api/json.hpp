// JSON at the REST boundary: bounded parsing of request bodies with field-by-field validation
// that names the field in every error, and rendering of domain objects. Poco::JSON is used
// here and nowhere below the api layer.
#pragma once

#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>

#include <initializer_list>
#include <istream>
#include <optional>
#include <string>
#include <string_view>

#include "domain/audit.hpp"
#include "domain/bytes.hpp"
#include "domain/key.hpp"
#include "domain/principal.hpp"
#include "ports/hsm.hpp"

namespace kms::api {

inline constexpr std::size_t kMaxBody = 1 << 20;  ///< 1 MiB

/// Reads at most kMaxBody bytes (PayloadTooLarge past that) and parses one JSON object
/// (MalformedRequest otherwise). Nesting depth is limited to 16, NUL bytes are refused.
Poco::JSON::Object::Ptr parse_object(std::istream& body, std::streamsize content_length);
/// Parses @p text (already bounded) as one JSON object.
Poco::JSON::Object::Ptr parse_object_text(const std::string& text);

/// A request body with typed, validated accessors. Unknown fields are refused, so a typo in a
/// field name is an error instead of a silently ignored option.
class Body {
  public:
    Body(Poco::JSON::Object::Ptr obj, std::initializer_list<std::string_view> allowed);
    std::string string(std::string_view field, std::size_t max_len = 256) const;
    std::optional<std::string> opt_string(std::string_view field, std::size_t max_len = 256) const;
    Bytes hex(std::string_view field) const;
    std::optional<Bytes> opt_hex(std::string_view field) const;
    std::optional<std::int64_t> opt_int(std::string_view field, std::int64_t min,
                                        std::int64_t max) const;
    std::int64_t integer(std::string_view field, std::int64_t min, std::int64_t max) const;
    std::optional<bool> opt_bool(std::string_view field) const;
    std::vector<std::string> strings(std::string_view field, std::size_t max_items = 16) const;

  private:
    Poco::Dynamic::Var get(std::string_view field) const;
    Poco::JSON::Object::Ptr m_obj;
};

Poco::JSON::Object::Ptr new_object();
std::string stringify(const Poco::JSON::Object::Ptr& obj);

/// RFC 3339 UTC with milliseconds: "2026-11-26T07:30:00.123Z".
std::string format_time(std::int64_t ms);
/// Parses RFC 3339 "YYYY-MM-DDTHH:MM:SS[.fff]Z" (UTC, 1 to 3 fraction digits: ".5" is 500 ms,
/// a real date from 1970 on, no leap second, nothing after the 'Z') into milliseconds since the
/// epoch; InvalidArgument naming @p field otherwise.
std::int64_t parse_time(std::string_view text, std::string_view field);

Poco::JSON::Object::Ptr key_json(const core::KeyRecord& k, bool with_history);
Poco::JSON::Object::Ptr principal_json(const core::Principal& p);
Poco::JSON::Object::Ptr audit_json(const core::AuditRecord& r);
Poco::JSON::Object::Ptr hsm_json(const core::HsmInfo& info);
/// PEM of a DER SubjectPublicKeyInfo.
std::string spki_pem(ByteView der);

}  // namespace kms::api
