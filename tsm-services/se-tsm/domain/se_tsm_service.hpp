// The SE TSM's use cases over the SeStore port: register and read SE products and SEs, move an
// SE through the GP card life cycle, set product private attributes, take a loss report (flow B)
// and keep the outbox of messages to sp-tsm.
//
// Thread safety: one SeTsmService may be called from several threads; a mutex serializes its
// calls. Several processes sharing one store are NOT serialized against each other: the store
// port has no transactions (tsm_plugin.h ABI 1 commits each put alone), so two tsmd processes
// registering SEs of one owner, or writing the outbox, at the same instant can lose an index
// update or reuse a sequence number. docs/se-tsm.md lists this among what is next.
//
// Crash safety: every use case writes indexes before the records they index and allocates an
// outbox sequence number before writing its entry, so a crash leaves at worst an index entry
// without a record (skipped) or a gap in the sequence, never a record that no index finds.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "se_model.hpp"
#include "se_store.hpp"

namespace kms::tsm::se {

/// What a loss report did.
struct LossReport {
    std::vector<std::string> ses;       ///< the owner's SEIDs, in registration order
    std::size_t invalidated = 0;        ///< (SE, product) attributes set invalid
    std::vector<std::uint64_t> outbox;  ///< the outbox entries written, one per attribute
};

class SeTsmService {
  public:
    /// @p store must outlive the service.
    explicit SeTsmService(SeStore& store) : m_store(store) {}

    /// Validates and stores a new product. InvalidArgument naming the field; Conflict when
    /// the id is taken.
    Product register_product(Product p);
    /// NotFound for an unknown id.
    Product product(const std::string& id);

    /// Validates and stores a new SE. The ISD key diversification defaults to the product's.
    /// InvalidArgument naming the field; NotFound for an unknown productId; Conflict when the
    /// SEID is registered already.
    SecureElement register_se(SecureElement se, std::optional<Diversification> diversification);
    /// NotFound for an unknown (or malformed) SEID.
    SecureElement se(const std::string& seid);
    /// Moves the SE to @p to. WrongState when GP does not allow the transition.
    SecureElement change_state(const std::string& seid, CardState to);

    /// Sets the attribute of (seid, product). NotFound for an unknown SE; WrongState for
    /// valid=true on a TERMINATED SE.
    Attribute set_attribute(const std::string& seid, const std::string& product, bool valid);
    /// NotFound when the SE or its attribute for @p product is unknown.
    Attribute attribute(const std::string& seid, const std::string& product);
    /// The SP products that have an attribute on @p seid, in the order they were first set.
    std::vector<std::string> attribute_products(const std::string& seid);

    /// Flow B: every SE of @p owner gets every product private attribute set invalid, and one
    /// pending outbox entry per (SE, product). NotFound when the owner has no SE. Running it
    /// again is harmless: the attributes stay invalid and new entries are queued.
    LossReport report_loss(const std::string& owner);

    /// Outbox entries in sequence order, all or those with @p status.
    std::vector<OutboxEntry> outbox(std::optional<OutboxStatus> status);
    /// Marks one entry delivered (counting the attempt). NotFound for an unknown seq; an entry
    /// delivered already is returned unchanged.
    OutboxEntry mark_delivered(std::uint64_t seq);

  private:
    SecureElement load_se(const std::string& seid);
    void append_to_list(const std::string& table, const std::string& key, const std::string& name);
    std::uint64_t stored_outbox_next();
    std::uint64_t next_outbox_seq();

    SeStore& m_store;
    std::mutex m_mutex;
};

/// The store key of outbox entry @p seq: 20 digits, so keys sort in sequence order.
std::string outbox_key(std::uint64_t seq);

}  // namespace kms::tsm::se
