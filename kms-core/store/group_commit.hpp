// Group commit: one writer thread owns every LMDB write transaction and folds the calls that
// queue up while it is busy into one durable commit, each call in its own nested
// transaction so that one failing call does not take the others with it. This is what turns
// one fsync per write into one fsync per batch. Internal to kms-core/store.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "ports/metadata_store.hpp"

// Opaque LMDB handles, so that this header (and lmdb_store.hpp) does not pull in lmdb.h;
// lmdb.h declares them as typedefs of these same structs.
struct MDB_env;
struct MDB_txn;

namespace kms::store {

/// Counters for benchmarks and diagnostics; read with relaxed ordering.
struct GroupCommitStats {
    std::uint64_t batches = 0;  ///< batches run, i.e. parent transactions (committed or not)
    std::uint64_t calls = 0;    ///< submitted calls that have finished, whatever the outcome
    std::size_t queued = 0;     ///< calls waiting for the writer at the moment of the snapshot
};

class GroupCommitter {
  public:
    using WriteFn = std::function<void(core::WriteTxn&)>;
    /// Runs one call's @p fn in the nested write transaction @p child. Whatever it throws is
    /// that call's failure: the child is aborted and the exception goes to its caller.
    using Runner = std::function<void(MDB_txn* child, const WriteFn& fn)>;
    /// Run in each batch's parent transaction: begin before the first call, end after the
    /// last one and before the commit, when at least one call succeeded (the store seals the
    /// audit head here). What either throws fails every call of the batch that has not
    /// failed on its own; nothing of the batch is written. Either may be empty.
    struct BatchHooks {
        std::function<void(MDB_txn* parent)> begin;
        std::function<void(MDB_txn* parent)> end;
    };

    /// Starts the writer thread. @p env must be open and outlive this object; @p max_batch
    /// (>= 1) caps how many calls share one parent transaction.
    GroupCommitter(MDB_env* env, std::size_t max_batch, Runner runner, BatchHooks hooks = {});
    /// stop(), then nothing is left running.
    ~GroupCommitter();
    GroupCommitter(const GroupCommitter&) = delete;
    GroupCommitter& operator=(const GroupCommitter&) = delete;

    /// Queues @p fn and blocks until its batch is committed. The writer thread takes up to
    /// max_batch queued calls, begins one write transaction (the parent) and, for each call
    /// in queue order, begins a nested transaction, runs @p fn through the runner and
    /// commits the child, or aborts it if anything threw. Then it commits the parent once,
    /// durably (the env has neither MDB_NOSYNC nor MDB_NOMETASYNC).
    /// Outcome for the caller:
    ///   - returns when its child and the parent both committed;
    ///   - rethrows (std::exception_ptr, any type) what its own call threw: nothing of it
    ///     was written, the other calls of the batch are unaffected;
    ///   - throws Error(StoreError) when beginning or committing a transaction failed; if the
    ///     parent commit fails, every call of the batch gets it and nothing is written (a
    ///     child whose own commit fails can make LMDB mark the parent failed, when it cannot
    ///     undo a half-merged child).
    /// Throws Error(StoreError, "...closing") once stop() has begun, and Error(Internal) when
    /// called from the writer thread itself (a write() inside a write callback would wait
    /// for itself forever). Callable from any other thread, concurrently.
    void submit(const WriteFn& fn);

    /// Queues @p fn like submit() and returns at once; the returned handle's wait() blocks
    /// for the outcome submit() would have had. The committer keeps the call alive until it
    /// has run, whether or not the handle is kept. Same errors as submit() for a stopping
    /// committer or a call from the writer thread.
    std::shared_ptr<core::QueuedWrite> enqueue(WriteFn fn);

    /// Refuses new calls, lets the writer finish every call already queued, joins it.
    /// Idempotent, but not to be called concurrently with itself or from a write callback.
    void stop() noexcept;

    /// A snapshot of the counters; takes the queue lock briefly.
    GroupCommitStats stats() const;

  private:
    /// One queued call. Its waiter sleeps on the request's own condition variable, so a
    /// finished batch wakes exactly its callers, not every thread still queued.
    struct Request final : core::QueuedWrite {
        explicit Request(WriteFn f) : fn(std::move(f)) {}
        void wait() override;
        /// Sets done and wakes the waiters; error must be set before.
        void complete() noexcept;

        const WriteFn fn;
        /// Written by the writer thread before complete(); read by waiters once done.
        std::exception_ptr error;
        std::mutex mutex;
        std::condition_variable cv;
        bool done = false;  ///< guarded by mutex
    };
    using RequestPtr = std::shared_ptr<Request>;

    RequestPtr push(WriteFn fn);
    void writer_loop() noexcept;
    void run_batch(const std::vector<RequestPtr>& batch) noexcept;

    MDB_env* m_env;
    const std::size_t m_max_batch;
    const Runner m_runner;
    const BatchHooks m_hooks;

    mutable std::mutex m_mutex;
    std::condition_variable m_work_cv;  ///< writer waits here for requests or stop
    std::deque<RequestPtr> m_queue;     ///< guarded by m_mutex
    bool m_stopping = false;            ///< guarded by m_mutex

    std::atomic<std::uint64_t> m_batches{0};
    std::atomic<std::uint64_t> m_calls{0};
    std::thread m_thread;         ///< last: starts after everything above exists
    std::thread::id m_writer_id;  ///< m_thread's id, fixed before the constructor returns
};

}  // namespace kms::store
