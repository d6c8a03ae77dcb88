// Group commit through LmdbStore::write(): failure isolation inside a batch, exception
// transport, the batch size cap, fail-closed sealing, MDB_MAP_FULL, and 16 concurrent
// writers producing a gap-free, correctly chained and sealed audit log.
#include <atomic>
#include <chrono>
#include <future>
#include <thread>

#include "store_fixture.hpp"

namespace kms::store::test {
namespace {

using core::WriteTxn;

/// Not derived from std::exception: write() must transport any exception type.
struct Boom {
    int code;
};

/// Holds the writer thread inside one write() until release(), so that calls submitted
/// meanwhile queue up and form the next batch deterministically.
class WriterGate {
  public:
    explicit WriterGate(LmdbStore& store) : m_store(store) {
        m_blocker = std::async(std::launch::async, [this] {
            m_store.write([this](WriteTxn& txn) {
                txn.append_audit(event("gate", ""));
                m_entered.set_value();
                m_release.get_future().wait();
            });
        });
        m_entered.get_future().wait();
    }
    /// Waits until @p n calls are queued behind the gate.
    void wait_queued(std::size_t n) {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
        while (m_store.commit_stats().queued < n) {
            ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "calls never queued";
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
    }
    void release() {
        m_release.set_value();
        m_blocker.get();
    }

  private:
    LmdbStore& m_store;
    std::promise<void> m_entered;
    std::promise<void> m_release;
    std::future<void> m_blocker;
};

TEST_F(StoreTest, ThrowingCallbackWritesNothingAndTheChainStaysIntact) {
    audit("before");
    const core::AuditHead head = store->audit_head();
    try {
        store->write([&](WriteTxn& txn) {
            txn.put_key(make_key(1, "ghost"));
            txn.put_setting("ghost", as_view("1"));
            txn.append_audit(event("key.create", key_id(1)));
            throw std::runtime_error("boom");
        });
        FAIL() << "write() did not rethrow";
    } catch (const std::runtime_error& e) {
        EXPECT_STREQ(e.what(), "boom");
    }
    EXPECT_FALSE(store->find_key(key_id(1)));
    EXPECT_FALSE(store->find_key_id_by_name("ghost"));
    EXPECT_FALSE(store->get_setting("ghost"));
    EXPECT_EQ(store->audit_head().seq, head.seq);
    EXPECT_EQ(store->audit_head().hash, head.hash);

    audit("after");
    const auto records = all_audit();
    ASSERT_EQ(records.size(), 2u);
    expect_chain(records, 1, Bytes(32, 0));
    EXPECT_EQ(records[1].event.action, "after");
}

TEST_F(StoreTest, SealerFailureFailsTheWriteClosed) {
    store.reset();
    std::atomic<bool> hsm_down{true};
    store = LmdbStore::open(
        LmdbOptions{dir},
        [&](ByteView hash) -> Bytes {
            if (hsm_down) throw Error(ErrorCode::HsmUnavailable, "audit key unreachable");
            return test_seal(hash);
        },
        clock);
    expect_error(
        [&] {
            store->write([&](WriteTxn& txn) {
                txn.put_key(make_key(1, "a"));
                txn.append_audit(event("key.create", key_id(1)));
            });
        },
        ErrorCode::HsmUnavailable, "audit key unreachable");
    EXPECT_FALSE(store->find_key(key_id(1)));
    EXPECT_EQ(store->audit_head().seq, 0u);

    hsm_down = false;
    audit("recovered");
    const auto records = all_audit();
    ASSERT_EQ(records.size(), 1u);
    expect_chain(records, 1, Bytes(32, 0));
}

TEST_F(StoreTest, OneFailingCallInABatchDoesNotAffectTheOthers) {
    WriterGate gate(*store);
    std::vector<std::future<void>> calls;
    for (unsigned i = 0; i < 9; ++i)
        calls.push_back(std::async(std::launch::async, [this, i] {
            store->write([&](WriteTxn& txn) {
                txn.put_key(make_key(i, "key-" + std::to_string(i)));
                txn.append_audit(event("key.create", key_id(i)));
                if (i == 4) throw Boom{42};
            });
        }));
    gate.wait_queued(9);
    gate.release();

    for (unsigned i = 0; i < 9; ++i) {
        if (i == 4) {
            try {
                calls[i].get();
                ADD_FAILURE() << "the failing call returned normally";
            } catch (const Boom& b) {
                EXPECT_EQ(b.code, 42);
            }
        } else {
            EXPECT_NO_THROW(calls[i].get()) << i;
        }
    }
    for (unsigned i = 0; i < 9; ++i) EXPECT_EQ(store->find_key(key_id(i)).has_value(), i != 4) << i;

    const GroupCommitStats stats = store->commit_stats();
    EXPECT_EQ(stats.batches, 2u);  // the gate's batch, then all nine together
    EXPECT_EQ(stats.calls, 10u);
    EXPECT_EQ(stats.queued, 0u);
    const auto records = all_audit();
    ASSERT_EQ(records.size(), 9u);  // gate + 8 successful calls
    expect_chain(records, 1, Bytes(32, 0));
    for (const auto& r : records) EXPECT_NE(r.event.target, key_id(4));
}

TEST_F(StoreTest, BatchesAreCappedAtMaxBatch) {
    store.reset();
    store = open_store(LmdbOptions{dir, std::size_t{1} << 30, 64, 4});
    WriterGate gate(*store);
    std::vector<std::future<void>> calls;
    for (unsigned i = 0; i < 10; ++i)
        calls.push_back(std::async(std::launch::async, [this, i] {
            store->write([&](WriteTxn& txn) { txn.put_key(make_key(i, "k" + std::to_string(i))); });
        }));
    gate.wait_queued(10);
    gate.release();
    for (auto& c : calls) c.get();
    const GroupCommitStats stats = store->commit_stats();
    EXPECT_EQ(stats.batches, 1u + 3u);  // gate, then 4 + 4 + 2
    EXPECT_EQ(stats.calls, 11u);
    EXPECT_EQ(store->key_count(), 10u);
}

TEST_F(StoreTest, SixteenThreadsTimesTwoHundredWritesChainWithoutGaps) {
    constexpr unsigned kThreads = 16, kWrites = 200, kTotal = kThreads * kWrites;
    std::vector<std::thread> threads;
    std::atomic<unsigned> failures{0};
    for (unsigned t = 0; t < kThreads; ++t)
        threads.emplace_back([&, t] {
            for (unsigned i = 0; i < kWrites; ++i) {
                const unsigned n = t * kWrites + i;
                try {
                    store->write([&](WriteTxn& txn) {
                        txn.put_key(make_key(n, "t" + std::to_string(t) + "/" + std::to_string(i)));
                        txn.append_audit(event("key.create", key_id(n)));
                    });
                } catch (...) {
                    ++failures;
                }
            }
        });
    for (auto& th : threads) th.join();
    EXPECT_EQ(failures.load(), 0u);

    EXPECT_EQ(store->key_count(), kTotal);
    for (unsigned n = 0; n < kTotal; ++n) ASSERT_TRUE(store->find_key(key_id(n))) << n;
    const auto records = all_audit();
    ASSERT_EQ(records.size(), kTotal);
    expect_chain(records, 1, Bytes(32, 0));
    std::vector<bool> seen(kTotal, false);
    for (const auto& r : records) {
        const unsigned n = static_cast<unsigned>(std::stoul(r.event.target.substr(2), nullptr, 16));
        ASSERT_LT(n, kTotal);
        EXPECT_FALSE(seen[n]) << "two audit records for key " << n;
        seen[n] = true;
    }
    EXPECT_EQ(store->audit_head().seq, kTotal);
    EXPECT_EQ(store->audit_head().hash, records.back().hash);
    const GroupCommitStats stats = store->commit_stats();
    EXPECT_EQ(stats.calls, kTotal);
    EXPECT_LE(stats.batches, stats.calls);
    std::printf("[ info ] 16x200 writes in %llu batches\n",
                static_cast<unsigned long long>(stats.batches));
}

TEST_F(StoreTest, MapFullIsReportedClearlyAndFailsOnlyThatCall) {
    store.reset();
    store = open_store(LmdbOptions{dir, std::size_t{1} << 20, 16, 16});  // a 1 MiB map
    const Bytes big(2 << 20, 0x5A);
    try {
        store->write([&](WriteTxn& txn) { txn.put_setting("big", big); });
        FAIL() << "a 2 MiB value fitted in a 1 MiB map";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), ErrorCode::StoreError);
        EXPECT_EQ(e.native_kind(), NativeKind::Lmdb);
        EXPECT_EQ(static_cast<int>(static_cast<std::int64_t>(e.native_code())), MDB_MAP_FULL);
        EXPECT_NE(std::string(e.what()).find("map_size"), std::string::npos) << e.what();
    }
    // A callback that swallows the LMDB failure and returns still has its changes discarded.
    expect_error(
        [&] {
            store->write([&](WriteTxn& txn) {
                txn.put_setting("small-but-doomed", as_view("1"));
                try {
                    txn.put_setting("big", big);
                } catch (const Error&) {
                }
            });
        },
        ErrorCode::StoreError, "discarded");
    EXPECT_FALSE(store->get_setting("small-but-doomed"));
    // The store keeps working for writes that fit.
    put_key(make_key(1, "fits"));
    audit("fits");
    EXPECT_EQ(store->find_key_id_by_name("fits"), key_id(1));
    expect_chain(all_audit(), 1, Bytes(32, 0));
}

TEST_F(StoreTest, WriteInsideAWriteCallbackIsRefused) {
    expect_error([&] { store->write([&](WriteTxn&) { store->write([](WriteTxn&) {}); }); },
                 ErrorCode::Internal, "inside a write callback");
    expect_error([&] { store->write({}); }, ErrorCode::InvalidArgument);
    put_key(make_key(1, "still-fine"));
    EXPECT_EQ(store->key_count(), 1u);
}

TEST_F(StoreTest, ConcurrentReadersSeeConsistentSnapshotsWhileWritersRun) {
    std::atomic<bool> done{false};
    std::atomic<unsigned> bad{0};
    std::thread reader([&] {
        while (!done) {
            // Each key and its audit record commit together: a snapshot never has one
            // without the other.
            const std::size_t keys = store->key_count();
            const core::AuditHead head = store->audit_head();
            if (head.seq < keys) ++bad;
            if (!store->probe()) ++bad;
        }
    });
    std::vector<std::thread> writers;
    for (unsigned t = 0; t < 4; ++t)
        writers.emplace_back([&, t] {
            for (unsigned i = 0; i < 50; ++i) {
                const unsigned n = t * 50 + i;
                store->write([&](WriteTxn& txn) {
                    txn.append_audit(event("key.create", key_id(n)));
                    txn.put_key(make_key(n, "r" + std::to_string(n)));
                });
            }
        });
    for (auto& w : writers) w.join();
    done = true;
    reader.join();
    EXPECT_EQ(bad.load(), 0u);
    EXPECT_EQ(store->key_count(), 200u);
}

TEST_F(StoreTest, ABatchSealsOnlyItsLastRecordNamingItsFirst) {
    audit("alone");  // a batch of one: sealed, naming itself
    {
        WriterGate gate(*store);
        std::vector<std::shared_ptr<core::QueuedWrite>> calls;
        for (int i = 0; i < 5; ++i)
            calls.push_back(store->write_queued([i](WriteTxn& txn) {
                txn.append_audit(event("batched", std::to_string(i)));
                if (i == 4) throw Boom{4};  // the last call fails: its record is not written
            }));
        gate.wait_queued(5);
        gate.release();
        for (int i = 0; i < 4; ++i) calls[i]->wait();
        EXPECT_THROW(calls[4]->wait(), Boom);
    }
    const auto records = all_audit();
    ASSERT_EQ(records.size(), 6u);  // alone, gate, batched 0..3
    expect_chain(records, 1, Bytes(32, 0));
    EXPECT_EQ(core::audit_seal_parts(records[0])->first_seq, 1u);
    EXPECT_EQ(core::audit_seal_parts(records[1])->first_seq, 2u) << "the gate's own batch";
    for (std::size_t i = 2; i < 5; ++i) EXPECT_TRUE(records[i].seal.empty()) << i;
    EXPECT_EQ(core::audit_seal_parts(records[5])->first_seq, 3u);
    EXPECT_EQ(records[5].event.target, "3");
}

TEST_F(StoreTest, AWriteWithoutAuditRecordsLeavesTheSealsAlone) {
    audit("sealed");
    const auto before = all_audit();
    put_key(make_key(1, "no-record"));
    store->write([](WriteTxn&) {});
    EXPECT_EQ(all_audit().size(), 1u);
    EXPECT_EQ(all_audit()[0].seal, before[0].seal);
}

// ---- write_queued(): queued like write(), waited for later ----

TEST_F(StoreTest, AQueuedWriteCommitsInQueueOrderAndIsDoneOnceALaterWriteReturns) {
    WriterGate gate(*store);
    auto first = store->write_queued([](WriteTxn& txn) { txn.append_audit(event("queued", "1")); });
    gate.wait_queued(1);
    std::future<void> later = std::async(std::launch::async, [this] { audit("later"); });
    gate.wait_queued(2);
    EXPECT_EQ(store->audit_head().seq, 0u) << "nothing commits while the writer is held";
    gate.release();
    later.get();
    // The queued record is in the same batch as "later" or an earlier one: wait() returns
    // at once and the chain shows it first.
    first->wait();
    first->wait();  // again: same outcome
    const auto records = all_audit();
    ASSERT_EQ(records.size(), 3u);
    EXPECT_EQ(records[0].event.action, "gate");
    EXPECT_EQ(records[1].event.action, "queued");
    EXPECT_EQ(records[2].event.action, "later");
    expect_chain(records, 1, Bytes(32, 0));
}

TEST_F(StoreTest, AQueuedWriteThatFailsReportsItOnWaitAndWritesNothing) {
    auto failing = store->write_queued([](WriteTxn& txn) {
        txn.put_key(make_key(1, "ghost"));
        txn.append_audit(event("key.create", key_id(1)));
        throw Boom{7};
    });
    auto fine = store->write_queued([](WriteTxn& txn) { txn.put_key(make_key(2, "kept")); });
    try {
        failing->wait();
        FAIL() << "wait() did not rethrow";
    } catch (const Boom& b) {
        EXPECT_EQ(b.code, 7);
    }
    fine->wait();
    EXPECT_FALSE(store->find_key(key_id(1)));
    EXPECT_TRUE(store->find_key(key_id(2)));
    EXPECT_EQ(store->audit_head().seq, 0u);
}

TEST_F(StoreTest, ADroppedQueuedWriteStillCommits) {
    {
        WriterGate gate(*store);
        (void)store->write_queued([](WriteTxn& txn) { txn.append_audit(event("dropped", "")); });
        gate.wait_queued(1);
        gate.release();
    }
    audit("after");  // a later write: the dropped one is committed by now
    const auto records = all_audit();
    ASSERT_EQ(records.size(), 3u);
    EXPECT_EQ(records[1].event.action, "dropped");
    expect_error([&] { (void)store->write_queued({}); }, ErrorCode::InvalidArgument,
                 "needs a callback");
}

}  // namespace
}  // namespace kms::store::test
