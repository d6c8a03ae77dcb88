// The SE TSM's use cases over the SeStore port: register and read SE products and SEs, move an
// SE through the GP card life cycle, set product private attributes, take a loss report (flow B)
// and keep the outbox of messages to sp-tsm: every change of an attribute (set, loss report,
// termination) queues one entry, which the delivery worker (plugin/outbox_delivery.hpp) takes
// in sequence order with next_pending() and settles with record_attempt().
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

/// How one attempt to deliver an outbox entry to sp-tsm ended.
enum class DeliveryResult {
    Delivered,  ///< sp-tsm answered 2xx: the entry is delivered
    Rejected,   ///< sp-tsm answered 4xx: the entry is rejected, not retried
    Failed      ///< no answer, or 5xx: the entry stays pending and is tried again
};

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
    /// Moves the SE to @p to. WrongState when GP does not allow the transition. Moving to
    /// TERMINATED also sets every attribute of the SE invalid, queuing one outbox entry each
    /// (event "terminated"): a terminated card serves no product.
    SecureElement change_state(const std::string& seid, CardState to);

    /// Records the SE's new ISD key set after a rotate-keys the card confirmed: the master key
    /// @p key_id with @p diversification, at @p key_version (1..127). InvalidArgument naming
    /// the field; NotFound for an unknown SE.
    SecureElement replace_isd_key(const std::string& seid, const std::string& key_id,
                                  Diversification diversification, int key_version);

    /// Sets the attribute of (seid, product) and queues one outbox entry (event
    /// "attribute-set") with the new value, also when the value did not change. NotFound for an
    /// unknown SE; WrongState for valid=true on a TERMINATED SE.
    Attribute set_attribute(const std::string& seid, const std::string& product, bool valid);
    /// NotFound when the SE or its attribute for @p product is unknown.
    Attribute attribute(const std::string& seid, const std::string& product);
    /// The SP products that have an attribute on @p seid, in the order they were first set.
    std::vector<std::string> attribute_products(const std::string& seid);

    /// Flow B: every SE of @p owner gets every product private attribute set invalid, and one
    /// pending outbox entry per (SE, product) (event "loss-report"). NotFound when the owner has no
    /// SE. Running it again is harmless: the attributes stay invalid and new entries are queued.
    LossReport report_loss(const std::string& owner);

    /// Outbox entries in sequence order, all or those with @p status.
    std::vector<OutboxEntry> outbox(std::optional<OutboxStatus> status);
    /// Marks one entry delivered (counting the attempt), whatever its status: an operator's
    /// way to settle an entry by hand. NotFound for an unknown seq; an entry delivered already
    /// is returned unchanged.
    OutboxEntry mark_delivered(std::uint64_t seq);

    /// Puts a rejected entry back in line (status pending; attempts and lastError kept), for
    /// when what made sp-tsm refuse it has been fixed. The worker sends it before any later
    /// pending entry; if newer entries for its SE and product were delivered meanwhile, sp-tsm
    /// does not apply it (older seq) and answers 2xx. A pending entry is returned unchanged.
    /// NotFound for an unknown seq; WrongState for a delivered entry.
    OutboxEntry requeue(std::uint64_t seq);

    /// The pending entry with the lowest sequence number, or std::nullopt when none is pending.
    /// The delivery worker sends entries one at a time in this order, so an entry is never
    /// overtaken by a later one (for any SE and product). Entries below the stored head
    /// (meta "outbox-head") are settled and not read again; the head moves past delivered and
    /// rejected entries, but stops at a number with no entry (a crash gap, or a number another
    /// process has taken and not yet written), which is read again next time.
    std::optional<OutboxEntry> next_pending();
    /// Records one delivery attempt of entry @p seq: attempts + 1, `last_error` = @p error
    /// ("" for Delivered), and the status Delivered, Rejected, or still Pending for Failed.
    /// An entry that is not pending any more (settled by hand meanwhile) is returned unchanged.
    /// NotFound for an unknown seq.
    OutboxEntry record_attempt(std::uint64_t seq, DeliveryResult result, const std::string& error);

  private:
    SecureElement load_se(const std::string& seid);
    void append_to_list(const std::string& table, const std::string& key, const std::string& name);
    std::uint64_t stored_outbox_next();
    std::uint64_t next_outbox_seq();
    std::uint64_t stored_number(const std::string& key, std::uint64_t absent);
    /// Writes one pending entry for (seid, product) = valid; returns its seq.
    std::uint64_t queue(const std::string& seid, const std::string& product, bool valid,
                        std::string_view event);

    SeStore& m_store;
    std::mutex m_mutex;
};

/// The store key of outbox entry @p seq: 20 digits, so keys sort in sequence order.
std::string outbox_key(std::uint64_t seq);

}  // namespace kms::tsm::se
