// Unit tests of the SE TSM's pure domain (tsm-services/se-tsm/domain): the GP card life cycle
// table, field validation, the record encoding, and the use cases over an in-memory store.
#include <gtest/gtest.h>

#include <map>

#include "domain/error.hpp"
#include "outbox_sync.hpp"
#include "se_codec.hpp"
#include "se_tsm_service.hpp"

namespace kms::tsm::se {
namespace {

class MapStore final : public SeStore {
  public:
    std::optional<std::string> get(const std::string& table, const std::string& key) override {
        auto it = m_data.find({table, key});
        if (it == m_data.end()) return std::nullopt;
        return it->second;
    }
    void put(const std::string& table, const std::string& key, const std::string& value) override {
        if (fail_puts) throw Error(ErrorCode::StoreError, "injected");
        m_data[{table, key}] = value;
    }
    bool put_if(const std::string& table, const std::string& key,
                const std::optional<std::string>& expected, const std::string& value) override {
        if (fail_puts) throw Error(ErrorCode::StoreError, "injected");
        if (get(table, key) != expected) return false;
        m_data[{table, key}] = value;
        return true;
    }
    std::map<std::pair<std::string, std::string>, std::string> m_data;
    bool fail_puts = false;
};

ErrorCode code_of(const std::function<void()>& f, std::string* message = nullptr) {
    try {
        f();
    } catch (const Error& e) {
        if (message) *message = e.what();
        return e.code();
    }
    ADD_FAILURE() << "no kms::Error thrown";
    return ErrorCode::Internal;
}

Product product() {
    Product p;
    p.id = "nxp-jcop4";
    p.vendor = "NXP";
    p.chip_model = "JCOP 4 P71";
    p.gp_version = "2.2";
    p.scp02 = {0x15, 0x55};
    p.scp03 = {0x70};
    p.isd_aid = "a000000151000000";
    p.diversification = Diversification::EmvCps11;
    p.default_key_version = 0x20;
    return p;
}

const std::string kCplc(84, 'A');

SecureElement se(const std::string& seid = "11223344556677889900",
                 const std::string& owner = "alice") {
    SecureElement s;
    s.seid = seid;
    s.cplc = kCplc;
    s.product_id = "nxp-jcop4";
    s.isd_key_id = "issuer-isd-master";
    s.owner = owner;
    return s;
}

constexpr CardState kStates[] = {CardState::OpReady, CardState::Initialized, CardState::Secured,
                                 CardState::CardLocked, CardState::Terminated};

TEST(SeLifeCycle, EveryPairOfStatesAgainstTheGpTable) {
    // GPCS 2.2 §5.1.1: rows are "from", columns "to", in kStates order.
    const bool allowed[5][5] = {
        /* OP_READY    */ {false, true, false, false, true},
        /* INITIALIZED */ {false, false, true, false, true},
        /* SECURED     */ {false, false, false, true, true},
        /* CARD_LOCKED */ {false, false, true, false, true},
        /* TERMINATED  */ {false, false, false, false, false},
    };
    int checked = 0;
    for (int f = 0; f < 5; ++f)
        for (int t = 0; t < 5; ++t, ++checked)
            EXPECT_EQ(card_transition_allowed(kStates[f], kStates[t]), allowed[f][t])
                << card_state_name(kStates[f]) << " -> " << card_state_name(kStates[t]);
    EXPECT_EQ(checked, 25);
}

TEST(SeLifeCycle, NamesRoundTripAndUnknownNamesAreRefused) {
    for (CardState s : kStates) EXPECT_EQ(parse_card_state(card_state_name(s)), s);
    EXPECT_EQ(card_state_name(CardState::CardLocked), "CARD_LOCKED");
    EXPECT_FALSE(parse_card_state("LOCKED"));
    EXPECT_FALSE(parse_card_state("op_ready"));
    for (auto d : {Diversification::None, Diversification::Visa2, Diversification::EmvCps11})
        EXPECT_EQ(parse_diversification(diversification_name(d)), d);
    EXPECT_FALSE(parse_diversification("visa2"));
}

TEST(SeLifeCycle, TheServiceAppliesTheTableAndKeepsTheStateOnRefusal) {
    MapStore store;
    SeTsmService s(store);
    s.register_product(product());
    for (int f = 0; f < 5; ++f)
        for (int t = 0; t < 5; ++t) {
            // A fresh SE walked to kStates[f] along allowed transitions.
            const std::string seid = "AABBCCDD0" + std::to_string(f) + "0" + std::to_string(t);
            s.register_se(se(seid), std::nullopt);
            const std::vector<CardState> path[5] = {
                {},
                {CardState::Initialized},
                {CardState::Initialized, CardState::Secured},
                {CardState::Initialized, CardState::Secured, CardState::CardLocked},
                {CardState::Terminated}};
            for (CardState step : path[f]) s.change_state(seid, step);
            ASSERT_EQ(s.se(seid).state, kStates[f]);
            if (card_transition_allowed(kStates[f], kStates[t])) {
                EXPECT_EQ(s.change_state(seid, kStates[t]).state, kStates[t]);
                EXPECT_EQ(s.se(seid).state, kStates[t]);
            } else {
                std::string message;
                EXPECT_EQ(code_of([&] { s.change_state(seid, kStates[t]); }, &message),
                          ErrorCode::WrongState);
                EXPECT_NE(message.find(std::string(card_state_name(kStates[t]))),
                          std::string::npos);
                EXPECT_EQ(s.se(seid).state, kStates[f]);
            }
        }
    EXPECT_EQ(code_of([&] { s.change_state("DEADBEEF", CardState::Secured); }),
              ErrorCode::NotFound);
}

TEST(SeValidation, ProductFieldsAreCheckedByName) {
    Product ok = product();
    validate(ok);
    EXPECT_EQ(ok.isd_aid, "A000000151000000");  // upper-cased
    struct Case {
        std::function<void(Product&)> change;
        std::string field;
    } cases[] = {
        {[](Product& p) { p.id = ""; }, "id"},
        {[](Product& p) { p.id = "a/b"; }, "id"},
        {[](Product& p) { p.id = std::string(65, 'x'); }, "id"},
        {[](Product& p) { p.vendor = ""; }, "vendor"},
        {[](Product& p) { p.chip_model = "bad\nline"; }, "chipModel"},
        {[](Product& p) { p.gp_version = "2.3"; }, "gpVersion"},
        {[](Product& p) { p.scp02.clear(), p.scp03.clear(); }, "scp02"},
        {[](Product& p) {
             p.scp02 = {0x15, 0x15};
         },
         "scp02"},
        {[](Product& p) {
             p.scp03 = {0x70, 0x70};
         },
         "scp03"},
        {[](Product& p) { p.isd_aid = "A0000001"; }, "isdAid"},
        {[](Product& p) { p.isd_aid = std::string(34, 'A'); }, "isdAid"},
        {[](Product& p) { p.isd_aid = "A00000015G"; }, "isdAid"},
        {[](Product& p) { p.isd_aid = "A000000151F"; }, "isdAid"},
        {[](Product& p) { p.default_key_version = 0; }, "defaultKeyVersion"},
        {[](Product& p) { p.default_key_version = 128; }, "defaultKeyVersion"},
    };
    for (const Case& c : cases) {
        Product p = product();
        c.change(p);
        std::string message;
        EXPECT_EQ(code_of([&] { validate(p); }, &message), ErrorCode::InvalidArgument) << c.field;
        EXPECT_EQ(message.rfind(c.field + " ", 0), 0u) << message;
    }
}

TEST(SeValidation, SeFieldsAreCheckedByName) {
    SecureElement ok = se("aabbccdd");
    validate(ok);
    EXPECT_EQ(ok.seid, "AABBCCDD");
    struct Case {
        std::function<void(SecureElement&)> change;
        std::string field;
    } cases[] = {
        {[](SecureElement& s) { s.seid = "AABBCC"; }, "seid"},
        {[](SecureElement& s) { s.seid = std::string(66, 'A'); }, "seid"},
        {[](SecureElement& s) { s.seid = "AABBCCDDX0"; }, "seid"},
        {[](SecureElement& s) { s.cplc = std::string(82, 'A'); }, "cplc"},
        {[](SecureElement& s) { s.cplc = std::string(86, 'A'); }, "cplc"},
        {[](SecureElement& s) { s.product_id = "no such!"; }, "productId"},
        {[](SecureElement& s) { s.isd_key_id = ""; }, "isdKey.keyId"},
        {[](SecureElement& s) { s.owner = ""; }, "owner"},
        {[](SecureElement& s) { s.owner = "al ice"; }, "owner"},
        {[](SecureElement& s) { s.owner = std::string(129, 'a'); }, "owner"},
    };
    for (const Case& c : cases) {
        SecureElement s = se();
        c.change(s);
        std::string message;
        EXPECT_EQ(code_of([&] { validate(s); }, &message), ErrorCode::InvalidArgument) << c.field;
        EXPECT_EQ(message.rfind(c.field + " ", 0), 0u) << message;
    }
}

TEST(SeCodec, RecordsRoundTrip) {
    Product p = product();
    validate(p);
    EXPECT_EQ(decode_product(encode(p)), p);
    p.scp03.clear();
    p.diversification = Diversification::None;
    EXPECT_EQ(decode_product(encode(p)), p);

    SecureElement s = se();
    validate(s);
    s.state = CardState::CardLocked;
    s.isd_diversification = Diversification::Visa2;
    EXPECT_EQ(decode_se(encode(s)), s);

    const Attribute a{"AABBCCDD", "transit-purse", false};
    EXPECT_EQ(decode_attribute(encode(a)), a);
    OutboxEntry e;
    e.seq = 18446744073709551615ull;
    e.seid = "AABBCCDD";
    e.product = "transit-purse";
    e.status = OutboxStatus::Delivered;
    e.attempts = 3;
    EXPECT_EQ(decode_outbox_entry(encode(e)), e);
    e.valid = true;
    e.event = "attribute-set";
    e.status = OutboxStatus::Rejected;
    e.last_error = "https://127.0.0.1:1/sp: 403 {\"error\":\"forbidden\"}\nsecond line";
    EXPECT_EQ(decode_outbox_entry(encode(e)), e);
    // An entry written by step 1 (no valid, no lastError) reads as an invalidation.
    const OutboxEntry old = decode_outbox_entry(
        "se-tsm/1 outbox\nseq=4\nseid=AABBCCDD\nproduct=transit\nevent=attribute-invalidated\n"
        "status=pending\nattempts=2\n");
    EXPECT_FALSE(old.valid);
    EXPECT_EQ(old.attempts, 2u);
    EXPECT_EQ(old.last_error, "");

    const std::vector<std::string> list{"a", "b%c", "d\ne"};
    EXPECT_EQ(decode_list(encode_list(list)), list);
    EXPECT_TRUE(decode_list("").empty());
    EXPECT_EQ(encode(a), "se-tsm/1 attribute\nseid=AABBCCDD\nproduct=transit-purse\nvalid=false\n");
}

TEST(SeCodec, CorruptRecordsAreIntegrityErrors) {
    Product p = product();
    validate(p);
    const std::string good = encode(p);
    auto replaced = [&](const std::string& from, const std::string& to) {
        std::string t = good;
        const auto pos = t.find(from);
        EXPECT_NE(pos, std::string::npos) << from;
        return t.replace(pos, from.size(), to);
    };
    const std::string bad[] = {
        "",
        "se-tsm/2 product\n" + good.substr(good.find('\n') + 1),
        replaced("se-tsm/1 product", "se-tsm/1 se"),
        good.substr(0, good.size() - 1),           // last line without its end
        replaced("gpVersion=2.2\n", ""),           // a field missing
        good + "extra=1\n",                        // an unknown field
        good + "id=again\n",                       // a field twice
        replaced("gpVersion=2.2", "gpVersion=9"),  // breaks a domain rule
        replaced("isdAid=A0", "isdAid=a0"),        // not in normal form
        replaced("scp02=15,55", "scp02=15,5"),     // a bad list
        replaced("diversification=EMV-CPS11", "diversification=emv"),
        replaced("defaultKeyVersion=32", "defaultKeyVersion=x"),
        replaced("vendor=NXP", "vendor=N%41"),  // a bad escape
        replaced("vendor=NXP", "vendorNXP"),
    };
    for (const std::string& text : bad)
        EXPECT_EQ(code_of([&] { decode_product(text); }), ErrorCode::Integrity) << text;
    EXPECT_EQ(code_of([] {
                  decode_attribute("se-tsm/1 attribute\nseid=AABBCCDD\nproduct=p\nvalid=yes\n");
              }),
              ErrorCode::Integrity);
    EXPECT_EQ(
        code_of([] {
            decode_outbox_entry(
                "se-tsm/1 "
                "outbox\nseq=0\nseid=AABBCCDD\nproduct=p\nevent=x\nstatus=pending\nattempts=0\n");
        }),
        ErrorCode::Integrity);
    EXPECT_EQ(code_of([] { decode_se("se-tsm/1 se\n"); }), ErrorCode::Integrity);
    const std::string entry =
        "se-tsm/1 outbox\nseq=1\nseid=AABBCCDD\nproduct=p\nvalid=false\nevent=loss-report\n"
        "status=pending\nattempts=0\n";
    EXPECT_NO_THROW(decode_outbox_entry(entry));
    for (auto [from, to] : {std::pair{"valid=false", "valid=no"},         // not a boolean
                            std::pair{"valid=false\n", ""},               // only step 1 lacks it
                            std::pair{"status=pending", "status=lost"},   // unknown status
                            std::pair{"seid=AABBCCDD", "seid=aabbccdd"},  // not in normal form
                            std::pair{"product=p", "product=a/b"}}) {
        std::string t = entry;
        t.replace(t.find(from), std::string(from).size(), to);
        EXPECT_EQ(code_of([&] { decode_outbox_entry(t); }), ErrorCode::Integrity) << t;
    }
}

TEST(SeRegistry, ProductsAndSesAreRegisteredOnceAndFound) {
    MapStore store;
    SeTsmService s(store);
    EXPECT_EQ(code_of([&] { s.register_se(se(), std::nullopt); }), ErrorCode::NotFound);
    const Product p = s.register_product(product());
    EXPECT_EQ(s.product("nxp-jcop4"), p);
    EXPECT_EQ(code_of([&] { s.register_product(product()); }), ErrorCode::Conflict);
    EXPECT_EQ(code_of([&] { s.product("other"); }), ErrorCode::NotFound);
    EXPECT_EQ(code_of([&] { s.product("a/b"); }), ErrorCode::NotFound);

    // The ISD diversification defaults to the product's; an explicit one wins.
    const SecureElement a = s.register_se(se("aabbccdd"), std::nullopt);
    EXPECT_EQ(a.seid, "AABBCCDD");
    EXPECT_EQ(a.isd_diversification, Diversification::EmvCps11);
    EXPECT_EQ(a.state, CardState::OpReady);
    EXPECT_EQ(s.register_se(se("AABBCCEE"), Diversification::None).isd_diversification,
              Diversification::None);
    EXPECT_EQ(s.se("aabbccdd"), a);
    EXPECT_EQ(code_of([&] { s.register_se(se("AABBCCDD", "bob"), std::nullopt); }),
              ErrorCode::Conflict);
    EXPECT_EQ(s.se("AABBCCDD").owner, "alice");
    EXPECT_EQ(code_of([&] { s.se("AABBCCFF"); }), ErrorCode::NotFound);
    EXPECT_EQ(code_of([&] { s.se("not hex"); }), ErrorCode::NotFound);
}

TEST(SeAttributes, SetReadAndTerminatedSes) {
    MapStore store;
    SeTsmService s(store);
    s.register_product(product());
    s.register_se(se("AABBCCDD"), std::nullopt);
    EXPECT_EQ(code_of([&] { s.attribute("AABBCCDD", "transit"); }), ErrorCode::NotFound);
    EXPECT_EQ(s.set_attribute("aabbccdd", "transit", true),
              (Attribute{"AABBCCDD", "transit", true}));
    EXPECT_TRUE(s.attribute("AABBCCDD", "transit").valid);
    EXPECT_FALSE(s.set_attribute("AABBCCDD", "transit", false).valid);
    EXPECT_FALSE(s.attribute("AABBCCDD", "transit").valid);
    s.set_attribute("AABBCCDD", "health", true);
    s.set_attribute("AABBCCDD", "transit", true);
    EXPECT_EQ(s.attribute_products("AABBCCDD"), (std::vector<std::string>{"transit", "health"}));
    EXPECT_EQ(code_of([&] { s.set_attribute("AABBCCEE", "transit", true); }), ErrorCode::NotFound);
    EXPECT_EQ(code_of([&] { s.set_attribute("AABBCCDD", "bad product", true); }),
              ErrorCode::InvalidArgument);
    s.change_state("AABBCCDD", CardState::Terminated);  // invalidates every attribute
    EXPECT_FALSE(s.attribute("AABBCCDD", "transit").valid);
    EXPECT_FALSE(s.attribute("AABBCCDD", "health").valid);
    EXPECT_EQ(code_of([&] { s.set_attribute("AABBCCDD", "transit", true); }),
              ErrorCode::WrongState);
    EXPECT_FALSE(s.set_attribute("AABBCCDD", "transit", false).valid);
}

TEST(SeOutbox, EveryChangeOfAnAttributeQueuesAnEntryWithItsValue) {
    MapStore store;
    SeTsmService s(store);
    s.register_product(product());
    s.register_se(se("AABBCCDD"), std::nullopt);
    s.set_attribute("AABBCCDD", "transit", true);
    s.set_attribute("AABBCCDD", "transit", true);  // unchanged: queued all the same
    s.set_attribute("AABBCCDD", "health", false);
    EXPECT_EQ(code_of([&] { s.set_attribute("AABBCCEE", "transit", true); }), ErrorCode::NotFound);
    auto all = s.outbox(std::nullopt);
    ASSERT_EQ(all.size(), 3u);
    for (std::size_t i = 0; i < all.size(); ++i) {
        EXPECT_EQ(all[i].seq, i + 1);
        EXPECT_EQ(all[i].event, "attribute-set");
        EXPECT_EQ(all[i].status, OutboxStatus::Pending);
    }
    EXPECT_TRUE(all[0].valid);
    EXPECT_FALSE(all[2].valid);
    EXPECT_EQ(all[2].product, "health");

    // TERMINATED invalidates every attribute of the SE and queues one entry each.
    s.change_state("AABBCCDD", CardState::Terminated);
    EXPECT_FALSE(s.attribute("AABBCCDD", "transit").valid);
    all = s.outbox(std::nullopt);
    ASSERT_EQ(all.size(), 5u);
    EXPECT_EQ(all[3].seid, "AABBCCDD");
    EXPECT_EQ(all[3].product, "transit");
    EXPECT_EQ(all[3].event, "terminated");
    EXPECT_FALSE(all[3].valid);
    EXPECT_EQ(all[4].product, "health");
    // Other transitions queue nothing.
    s.register_se(se("AABBCCEE"), std::nullopt);
    s.change_state("AABBCCEE", CardState::Initialized);
    EXPECT_EQ(s.outbox(std::nullopt).size(), 5u);
}

TEST(SeOutbox, TheWorkerTakesPendingEntriesInOrderAndSettlesThem) {
    MapStore store;
    SeTsmService s(store);
    s.register_product(product());
    s.register_se(se("AABBCCDD"), std::nullopt);
    EXPECT_FALSE(s.next_pending());
    for (bool v : {true, false, true, false}) s.set_attribute("AABBCCDD", "transit", v);

    ASSERT_EQ(s.next_pending()->seq, 1u);
    // A failed attempt leaves the entry first in line, counted, with its reason.
    OutboxEntry e = s.record_attempt(1, DeliveryResult::Failed, "connection refused");
    EXPECT_EQ(e.status, OutboxStatus::Pending);
    EXPECT_EQ(e.attempts, 1u);
    EXPECT_EQ(e.last_error, "connection refused");
    e = s.record_attempt(1, DeliveryResult::Failed, "503");
    EXPECT_EQ(e.attempts, 2u);
    ASSERT_EQ(s.next_pending()->seq, 1u);
    e = s.record_attempt(1, DeliveryResult::Delivered, "");
    EXPECT_EQ(e.status, OutboxStatus::Delivered);
    EXPECT_EQ(e.attempts, 3u);
    EXPECT_EQ(e.last_error, "");
    // Settled entries are not retried: a second report changes nothing.
    EXPECT_EQ(s.record_attempt(1, DeliveryResult::Rejected, "late"), e);

    ASSERT_EQ(s.next_pending()->seq, 2u);
    e = s.record_attempt(2, DeliveryResult::Rejected, "403 forbidden");
    EXPECT_EQ(e.status, OutboxStatus::Rejected);
    EXPECT_EQ(e.last_error, "403 forbidden");
    ASSERT_EQ(s.outbox(OutboxStatus::Rejected).size(), 1u);
    // Settled by hand (an operator), entry 3 is skipped by the worker.
    s.mark_delivered(3);
    ASSERT_EQ(s.next_pending()->seq, 4u);
    EXPECT_EQ(store.m_data.at({"meta", "outbox-head"}), "4");
    s.record_attempt(4, DeliveryResult::Delivered, "");
    EXPECT_FALSE(s.next_pending());
    EXPECT_EQ(store.m_data.at({"meta", "outbox-head"}), "5");
    // A rejected entry is put back in line: the cursor goes back to it, it is next.
    EXPECT_EQ(code_of([&] { s.requeue(1); }), ErrorCode::WrongState);  // delivered
    EXPECT_EQ(code_of([&] { s.requeue(99); }), ErrorCode::NotFound);
    e = s.requeue(2);
    EXPECT_EQ(e.status, OutboxStatus::Pending);
    EXPECT_EQ(e.attempts, 1u);
    EXPECT_EQ(s.requeue(2), e);  // pending already: unchanged
    EXPECT_EQ(store.m_data.at({"meta", "outbox-head"}), "2");
    ASSERT_EQ(s.next_pending()->seq, 2u);
    s.record_attempt(2, DeliveryResult::Rejected, "403 again");
    EXPECT_FALSE(s.next_pending());
    // A rejected entry can be settled by hand too.
    EXPECT_EQ(s.mark_delivered(2).status, OutboxStatus::Delivered);
    EXPECT_EQ(code_of([&] { s.record_attempt(9, DeliveryResult::Delivered, ""); }),
              ErrorCode::NotFound);
    EXPECT_EQ(code_of([&] { s.record_attempt(0, DeliveryResult::Delivered, ""); }),
              ErrorCode::NotFound);

    // A number without its entry (a crash gap, or another process writing it) stops the head
    // there but not the search: the entry after it is found, and the gap is read again.
    store.put("meta", "outbox-next", "6");
    s.set_attribute("AABBCCDD", "transit", true);  // seq 6; 5 has no entry
    ASSERT_EQ(s.next_pending()->seq, 6u);
    s.record_attempt(6, DeliveryResult::Delivered, "");
    EXPECT_FALSE(s.next_pending());
    EXPECT_EQ(store.m_data.at({"meta", "outbox-head"}), "5");
    OutboxEntry late;
    late.seq = 5;
    late.seid = "AABBCCDD";
    late.product = "transit";
    store.put("outbox", outbox_key(5), encode(late));
    ASSERT_EQ(s.next_pending()->seq, 5u);
}

TEST(SeOutboxSync, TheMessageTheStatusClassesAndTheBackoff) {
    OutboxEntry e;
    e.seq = 42;
    e.seid = "A1B2C3D4E5F60001";
    e.product = "transit";
    e.valid = false;
    e.event = "loss-report";
    EXPECT_EQ(sync_message_json(e, "se"),
              R"({"seq":42,"seid":"A1B2C3D4E5F60001","product":"transit","valid":false,)"
              R"("event":"loss-report","source":"se"})");
    e.valid = true;
    EXPECT_NE(sync_message_json(e, "a\"b").find(R"("valid":true)"), std::string::npos);
    EXPECT_NE(sync_message_json(e, "a\"b").find(R"("source":"a\"b")"), std::string::npos);

    for (int st : {200, 201, 204, 299})
        EXPECT_EQ(classify_sync_status(st), DeliveryResult::Delivered) << st;
    for (int st : {400, 401, 403, 404, 405, 409, 413, 422, 499})
        EXPECT_EQ(classify_sync_status(st), DeliveryResult::Rejected) << st;
    for (int st : {0, 100, 302, 408, 429, 500, 502, 503, 504})
        EXPECT_EQ(classify_sync_status(st), DeliveryResult::Failed) << st;

    EXPECT_EQ(backoff_ms(200, 30000, 1), 200u);
    EXPECT_EQ(backoff_ms(200, 30000, 2), 400u);
    EXPECT_EQ(backoff_ms(200, 30000, 3), 800u);
    EXPECT_EQ(backoff_ms(200, 30000, 8), 25600u);
    EXPECT_EQ(backoff_ms(200, 30000, 9), 30000u);
    EXPECT_EQ(backoff_ms(200, 30000, 4000000000u), 30000u);
    EXPECT_EQ(backoff_ms(500, 300, 1), 300u);
    EXPECT_EQ(backoff_ms(UINT64_MAX / 2 + 1, UINT64_MAX, 5), UINT64_MAX);
}

TEST(SeLossReport, InvalidatesEveryAttributeOfTheOwnersSesAndQueuesOneEntryEach) {
    MapStore store;
    SeTsmService s(store);
    s.register_product(product());
    s.register_se(se("AA000001", "alice"), std::nullopt);
    s.register_se(se("AA000002", "alice"), std::nullopt);
    s.register_se(se("BB000001", "bob"), std::nullopt);
    s.set_attribute("AA000001", "transit", true);
    s.set_attribute("AA000001", "health", true);
    s.set_attribute("AA000002", "transit", true);
    s.set_attribute("BB000001", "transit", true);
    for (std::uint64_t seq = 1; seq <= 4; ++seq) s.mark_delivered(seq);  // the four sets

    EXPECT_EQ(code_of([&] { s.report_loss("carol"); }), ErrorCode::NotFound);
    EXPECT_EQ(code_of([&] { s.report_loss("bad owner"); }), ErrorCode::InvalidArgument);
    EXPECT_TRUE(s.outbox(OutboxStatus::Pending).empty());

    const LossReport r = s.report_loss("alice");
    EXPECT_EQ(r.ses, (std::vector<std::string>{"AA000001", "AA000002"}));
    EXPECT_EQ(r.invalidated, 3u);
    EXPECT_EQ(r.outbox, (std::vector<std::uint64_t>{5, 6, 7}));
    EXPECT_FALSE(s.attribute("AA000001", "transit").valid);
    EXPECT_FALSE(s.attribute("AA000001", "health").valid);
    EXPECT_FALSE(s.attribute("AA000002", "transit").valid);
    EXPECT_TRUE(s.attribute("BB000001", "transit").valid);  // bob's SE is untouched

    const auto pending = s.outbox(OutboxStatus::Pending);
    ASSERT_EQ(pending.size(), 3u);
    EXPECT_EQ(pending[0].seq, 5u);
    EXPECT_EQ(pending[0].seid, "AA000001");
    EXPECT_EQ(pending[0].product, "transit");
    EXPECT_FALSE(pending[0].valid);
    EXPECT_EQ(pending[1].product, "health");
    EXPECT_EQ(pending[2].seid, "AA000002");
    EXPECT_EQ(pending[2].event, "loss-report");
    EXPECT_EQ(pending[2].attempts, 0u);

    const OutboxEntry d = s.mark_delivered(6);
    EXPECT_EQ(d.status, OutboxStatus::Delivered);
    EXPECT_EQ(d.attempts, 1u);
    EXPECT_EQ(s.mark_delivered(6), d);  // delivered already: unchanged
    EXPECT_EQ(s.outbox(OutboxStatus::Pending).size(), 2u);
    ASSERT_EQ(s.outbox(OutboxStatus::Delivered).size(), 5u);
    EXPECT_EQ(s.outbox(OutboxStatus::Delivered)[4].seq, 6u);
    EXPECT_EQ(s.outbox(std::nullopt).size(), 7u);
    EXPECT_EQ(code_of([&] { s.mark_delivered(8); }), ErrorCode::NotFound);
    EXPECT_EQ(code_of([&] { s.mark_delivered(0); }), ErrorCode::NotFound);

    // Again: harmless, new entries follow on.
    EXPECT_EQ(s.report_loss("alice").outbox, (std::vector<std::uint64_t>{8, 9, 10}));
    // An owner whose SEs have no attribute: the SEs are named, nothing is queued.
    const LossReport none = s.report_loss("bob");
    EXPECT_EQ(none.invalidated, 1u);
    s.register_se(se("CC000001", "carol"), std::nullopt);
    const LossReport carol = s.report_loss("carol");
    EXPECT_EQ(carol.ses, (std::vector<std::string>{"CC000001"}));
    EXPECT_EQ(carol.invalidated, 0u);
    EXPECT_TRUE(carol.outbox.empty());
}

TEST(SeLossReport, AnIndexEntryWithoutItsRecordAndAnUnusedSequenceNumberAreSkipped) {
    MapStore store;
    SeTsmService s(store);
    s.register_product(product());
    s.register_se(se("AA000001", "alice"), std::nullopt);
    s.set_attribute("AA000001", "transit", true);
    // As after a crash between the owner index write and the SE record write.
    store.put("owners", "alice", encode_list({"AA000001", "AA000009"}));
    // As after a crash between allocating a sequence number and writing its entry.
    store.put("meta", "outbox-next", "3");  // 1 is the set's entry, 2 is lost
    const LossReport r = s.report_loss("alice");
    EXPECT_EQ(r.ses, (std::vector<std::string>{"AA000001"}));
    EXPECT_EQ(r.outbox, (std::vector<std::uint64_t>{3}));
    ASSERT_EQ(s.outbox(std::nullopt).size(), 2u);
    store.put("meta", "outbox-next", "x");
    EXPECT_EQ(code_of([&] { s.outbox(std::nullopt); }), ErrorCode::Integrity);
}

TEST(SeRegistry, StoreFailuresReachTheCaller) {
    MapStore store;
    SeTsmService s(store);
    store.fail_puts = true;
    EXPECT_EQ(code_of([&] { s.register_product(product()); }), ErrorCode::StoreError);
    store.fail_puts = false;
    EXPECT_EQ(code_of([&] { s.product("nxp-jcop4"); }), ErrorCode::NotFound);
}

}  // namespace
}  // namespace kms::tsm::se
