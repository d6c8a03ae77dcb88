// The SE TSM's use cases (see se_tsm_service.hpp). Tables of the store:
//   products     product id            -> Product record
//   ses          SEID                  -> SecureElement record
//   owners       owner                 -> list of SEIDs
//   se-products  SEID                  -> list of SP product ids with an attribute
//   attributes   SEID "/" product id   -> Attribute record
//   outbox       20-digit seq          -> OutboxEntry record
//   meta         "outbox-next"         -> next outbox seq (decimal)
//                "outbox-head"         -> every entry below it is delivered or rejected
#include "se_tsm_service.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>

#include "domain/error.hpp"
#include "se_codec.hpp"

namespace kms::tsm::se {
namespace {

const std::string kProducts = "products", kSes = "ses", kOwners = "owners",
                  kSeProducts = "se-products", kAttributes = "attributes", kOutbox = "outbox",
                  kMeta = "meta", kOutboxNext = "outbox-next", kOutboxHead = "outbox-head";

/// Bounds what an error text adds to a stored entry.
std::string bounded(const std::string& text) {
    return text.size() <= 300 ? text : text.substr(0, 300);
}

std::string normalized_seid(const std::string& seid) {
    try {
        return normalize_hex("seid", seid, 4, 32);
    } catch (const Error&) {
        throw Error(ErrorCode::NotFound, "no SE with seid " + seid.substr(0, 64));
    }
}

}  // namespace

std::string outbox_key(std::uint64_t seq) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "%020llu", static_cast<unsigned long long>(seq));
    return buf;
}

Product SeTsmService::register_product(Product p) {
    validate(p);
    std::lock_guard lock(m_mutex);
    if (m_store.get(kProducts, p.id) || !m_store.put_if(kProducts, p.id, std::nullopt, encode(p)))
        throw Error(ErrorCode::Conflict, "product " + p.id + " is registered already");
    return p;
}

Product SeTsmService::product(const std::string& id) {
    std::lock_guard lock(m_mutex);
    std::optional<std::string> text;
    try {
        check_id("id", id);
        text = m_store.get(kProducts, id);
    } catch (const Error& e) {
        if (e.code() != ErrorCode::InvalidArgument) throw;
    }
    if (!text) throw Error(ErrorCode::NotFound, "no product with id " + id.substr(0, 64));
    return decode_product(*text);
}

SecureElement SeTsmService::register_se(SecureElement se,
                                        std::optional<Diversification> diversification) {
    validate(se);
    std::lock_guard lock(m_mutex);
    const std::optional<std::string> product = m_store.get(kProducts, se.product_id);
    if (!product)
        throw Error(ErrorCode::NotFound, "productId: no product with id " + se.product_id);
    // Static keys are not diversified: their default is "none", not the product's method.
    se.isd_diversification = diversification       ? *diversification
                             : !se.isd_enc.empty() ? Diversification::None
                                                   : decode_product(*product).diversification;
    validate_isd_key(se);
    if (m_store.get(kSes, se.seid))
        throw Error(ErrorCode::Conflict, "the SE " + se.seid + " is registered already");
    append_to_list(kOwners, se.owner, se.seid);  // the index first: a crash leaves it dangling
    // Put-if-absent: of two processes registering one SEID at once, one wins, one gets 409.
    if (!m_store.put_if(kSes, se.seid, std::nullopt, encode(se)))
        throw Error(ErrorCode::Conflict, "the SE " + se.seid + " is registered already");
    return se;
}

SecureElement SeTsmService::load_se(const std::string& seid) {
    const std::string key = normalized_seid(seid);
    const std::optional<std::string> text = m_store.get(kSes, key);
    if (!text) throw Error(ErrorCode::NotFound, "no SE with seid " + key);
    return decode_se(*text);
}

SecureElement SeTsmService::se(const std::string& seid) {
    std::lock_guard lock(m_mutex);
    return load_se(seid);
}

SecureElement SeTsmService::change_state(const std::string& seid, CardState to) {
    std::lock_guard lock(m_mutex);
    SecureElement se;
    // Check the transition against the stored state and write over exactly that state: another
    // tsmd process moving the SE meanwhile makes this one check again (states only move along
    // the GP table, never back over a concurrent change).
    for (int attempt = 0;; ++attempt) {
        const std::string key = normalized_seid(seid);
        const std::optional<std::string> text = m_store.get(kSes, key);
        if (!text) throw Error(ErrorCode::NotFound, "no SE with seid " + key);
        se = decode_se(*text);
        if (!card_transition_allowed(se.state, to))
            throw Error(ErrorCode::WrongState, "the GP card life cycle does not allow " +
                                                   std::string(card_state_name(se.state)) + " -> " +
                                                   std::string(card_state_name(to)));
        se.state = to;
        if (m_store.put_if(kSes, se.seid, text, encode(se))) break;
        if (attempt >= 100) throw Error(ErrorCode::StoreError, "the SE record stayed contended");
    }
    if (to == CardState::Terminated) {
        const auto products = m_store.get(kSeProducts, se.seid);
        for (const std::string& product :
             products ? decode_list(*products) : std::vector<std::string>{}) {
            m_store.put(kAttributes, se.seid + "/" + product,
                        encode(Attribute{se.seid, product, false}));
            queue(se.seid, product, false, kEventTerminated);
        }
    }
    return se;
}

SecureElement SeTsmService::replace_isd_key(const std::string& seid, const std::string& key_id,
                                            Diversification diversification, int key_version) {
    std::lock_guard lock(m_mutex);
    SecureElement se = load_se(seid);
    se.isd_key_id = key_id;
    se.isd_enc.clear();
    se.isd_mac.clear();
    se.isd_dek.clear();
    se.isd_diversification = diversification;
    se.isd_key_version = key_version;
    validate(se);
    m_store.put(kSes, se.seid, encode(se));
    return se;
}

Attribute SeTsmService::set_attribute(const std::string& seid, const std::string& product,
                                      bool valid) {
    check_id("product", product);
    std::lock_guard lock(m_mutex);
    const SecureElement se = load_se(seid);
    if (valid && se.state == CardState::Terminated)
        throw Error(ErrorCode::WrongState,
                    "the SE " + se.seid + " is TERMINATED: no attribute can be made valid");
    append_to_list(kSeProducts, se.seid, product);
    const Attribute a{se.seid, product, valid};
    m_store.put(kAttributes, se.seid + "/" + product, encode(a));
    queue(se.seid, product, valid, kEventAttributeSet);
    return a;
}

Attribute SeTsmService::attribute(const std::string& seid, const std::string& product) {
    std::lock_guard lock(m_mutex);
    const SecureElement se = load_se(seid);
    std::optional<std::string> text;
    try {
        check_id("product", product);
        text = m_store.get(kAttributes, se.seid + "/" + product);
    } catch (const Error& e) {
        if (e.code() != ErrorCode::InvalidArgument) throw;
    }
    if (!text)
        throw Error(ErrorCode::NotFound,
                    "the SE " + se.seid + " has no attribute for product " + product.substr(0, 64));
    return decode_attribute(*text);
}

std::vector<std::string> SeTsmService::attribute_products(const std::string& seid) {
    std::lock_guard lock(m_mutex);
    const SecureElement se = load_se(seid);
    const auto list = m_store.get(kSeProducts, se.seid);
    return list ? decode_list(*list) : std::vector<std::string>{};
}

LossReport SeTsmService::report_loss(const std::string& owner) {
    check_owner("owner", owner);
    std::lock_guard lock(m_mutex);
    const auto ses = m_store.get(kOwners, owner);
    if (!ses) throw Error(ErrorCode::NotFound, "owner: no SE is registered for " + owner);
    LossReport report;
    for (const std::string& seid : decode_list(*ses)) {
        // An index entry whose SE record a crash did not let us write is skipped.
        if (!m_store.get(kSes, seid)) continue;
        report.ses.push_back(seid);
        const auto products = m_store.get(kSeProducts, seid);
        if (!products) continue;
        for (const std::string& product : decode_list(*products)) {
            m_store.put(kAttributes, seid + "/" + product, encode(Attribute{seid, product, false}));
            ++report.invalidated;
            report.outbox.push_back(queue(seid, product, false, kEventLossReport));
        }
    }
    return report;
}

std::vector<OutboxEntry> SeTsmService::outbox(std::optional<OutboxStatus> status) {
    std::lock_guard lock(m_mutex);
    const std::uint64_t end = stored_outbox_next();
    std::vector<OutboxEntry> out;
    // ABI 1 of the store has no range scan: entries are read by sequence number.
    for (std::uint64_t seq = 1; seq < end; ++seq) {
        const auto text = m_store.get(kOutbox, outbox_key(seq));
        if (!text) continue;  // a number a crash left unused
        OutboxEntry e = decode_outbox_entry(*text);
        if (!status || e.status == *status) out.push_back(std::move(e));
    }
    return out;
}

OutboxEntry SeTsmService::mark_delivered(std::uint64_t seq) {
    std::lock_guard lock(m_mutex);
    const auto text = seq == 0 ? std::nullopt : m_store.get(kOutbox, outbox_key(seq));
    if (!text) throw Error(ErrorCode::NotFound, "no outbox entry " + std::to_string(seq));
    OutboxEntry e = decode_outbox_entry(*text);
    if (e.status == OutboxStatus::Delivered) return e;
    e.status = OutboxStatus::Delivered;
    ++e.attempts;
    m_store.put(kOutbox, outbox_key(seq), encode(e));
    return e;
}

OutboxEntry SeTsmService::requeue(std::uint64_t seq) {
    std::lock_guard lock(m_mutex);
    const auto text = seq == 0 ? std::nullopt : m_store.get(kOutbox, outbox_key(seq));
    if (!text) throw Error(ErrorCode::NotFound, "no outbox entry " + std::to_string(seq));
    OutboxEntry e = decode_outbox_entry(*text);
    if (e.status == OutboxStatus::Pending) return e;
    if (e.status == OutboxStatus::Delivered)
        throw Error(ErrorCode::WrongState,
                    "outbox entry " + std::to_string(seq) + " is delivered already");
    e.status = OutboxStatus::Pending;
    m_store.put(kOutbox, outbox_key(seq), encode(e));
    // The cursor must not be past a pending entry.
    if (stored_number(kOutboxHead, 1) > seq) m_store.put(kMeta, kOutboxHead, std::to_string(seq));
    return e;
}

std::optional<OutboxEntry> SeTsmService::next_pending() {
    std::lock_guard lock(m_mutex);
    const std::uint64_t end = stored_outbox_next();
    const std::uint64_t head = stored_number(kOutboxHead, 1);
    std::uint64_t settled = head;  // every entry below it is delivered or rejected
    bool gap = false;
    std::optional<OutboxEntry> found;
    for (std::uint64_t seq = head; seq < end; ++seq) {
        const auto text = m_store.get(kOutbox, outbox_key(seq));
        if (!text) {
            gap = true;
            continue;
        }
        OutboxEntry e = decode_outbox_entry(*text);
        if (e.status == OutboxStatus::Pending) {
            found = std::move(e);
            break;
        }
        if (!gap) settled = seq + 1;
    }
    if (settled != head) m_store.put(kMeta, kOutboxHead, std::to_string(settled));
    return found;
}

OutboxEntry SeTsmService::record_attempt(std::uint64_t seq, DeliveryResult result,
                                         const std::string& error) {
    std::lock_guard lock(m_mutex);
    const auto text = seq == 0 ? std::nullopt : m_store.get(kOutbox, outbox_key(seq));
    if (!text) throw Error(ErrorCode::NotFound, "no outbox entry " + std::to_string(seq));
    OutboxEntry e = decode_outbox_entry(*text);
    if (e.status != OutboxStatus::Pending) return e;
    ++e.attempts;
    e.last_error = result == DeliveryResult::Delivered ? "" : bounded(error);
    if (result == DeliveryResult::Delivered) e.status = OutboxStatus::Delivered;
    if (result == DeliveryResult::Rejected) e.status = OutboxStatus::Rejected;
    m_store.put(kOutbox, outbox_key(seq), encode(e));
    return e;
}

std::uint64_t SeTsmService::queue(const std::string& seid, const std::string& product, bool valid,
                                  std::string_view event) {
    OutboxEntry entry;
    entry.seq = next_outbox_seq();
    entry.seid = seid;
    entry.product = product;
    entry.valid = valid;
    entry.event = std::string(event);
    m_store.put(kOutbox, outbox_key(entry.seq), encode(entry));
    return entry.seq;
}

void SeTsmService::append_to_list(const std::string& table, const std::string& key,
                                  const std::string& name) {
    // Read-modify-write with compare-and-put: no entry lost to another tsmd process.
    for (int attempt = 0; attempt < 100; ++attempt) {
        const auto text = m_store.get(table, key);
        std::vector<std::string> list = text ? decode_list(*text) : std::vector<std::string>{};
        if (std::find(list.begin(), list.end(), name) != list.end()) return;
        list.push_back(name);
        if (m_store.put_if(table, key, text, encode_list(list))) return;
    }
    throw Error(ErrorCode::StoreError, "the TSM store: " + table + " stayed contended");
}

std::uint64_t SeTsmService::stored_number(const std::string& key, std::uint64_t absent) {
    const auto text = m_store.get(kMeta, key);
    std::uint64_t n = absent;
    if (text) {
        auto [p, ec] = std::from_chars(text->data(), text->data() + text->size(), n);
        if (text->empty() || ec != std::errc() || p != text->data() + text->size() || n == 0)
            throw Error(ErrorCode::Integrity, "stored " + key + " is not a number");
    }
    return n;
}

std::uint64_t SeTsmService::stored_outbox_next() {
    return stored_number(kOutboxNext, 1);
}

std::uint64_t SeTsmService::next_outbox_seq() {
    // Taken with compare-and-put, so two tsmd processes never take the same number.
    for (int attempt = 0; attempt < 100; ++attempt) {
        const auto text = m_store.get(kMeta, kOutboxNext);
        const std::uint64_t seq = stored_outbox_next();
        if (m_store.put_if(kMeta, kOutboxNext, text, std::to_string(seq + 1))) return seq;
    }
    throw Error(ErrorCode::StoreError, "the TSM store: the outbox counter stayed contended");
}

}  // namespace kms::tsm::se
