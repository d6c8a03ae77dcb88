// How the SE TSM's records are stored in the TSM store: versioned text, one "name=value" line
// per field after a header line ("se-tsm/1 product"), so a record is readable with mdb_dump.
// Decoding checks the header, every field and the domain rules again: a record that fails is
// kms::Error(Integrity), never a half-filled struct.
#pragma once

#include <string>
#include <vector>

#include "card_op.hpp"
#include "se_model.hpp"

namespace kms::tsm::se {

std::string encode(const Product& p);
std::string encode(const SecureElement& se);
std::string encode(const Attribute& a);
std::string encode(const OutboxEntry& e);

Product decode_product(const std::string& text);
SecureElement decode_se(const std::string& text);
Attribute decode_attribute(const std::string& text);
OutboxEntry decode_outbox_entry(const std::string& text);

/// A card operation's binding ("se-tsm/1 card-op").
std::string encode(const CardOpBinding& b);
CardOpBinding decode_card_op_binding(const std::string& text);

/// A list of names (SEIDs, product ids), one per line; "" is the empty list.
std::string encode_list(const std::vector<std::string>& names);
std::vector<std::string> decode_list(const std::string& text);

}  // namespace kms::tsm::se
