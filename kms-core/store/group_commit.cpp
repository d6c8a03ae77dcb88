// The writer thread: batches of queued calls, each in a nested transaction, one durable
// commit per batch.
#include "store/group_commit.hpp"

#include <optional>

#include "domain/error.hpp"
#include "store/lmdb_env.hpp"

namespace kms::store {

namespace {

// A failure shared by a whole batch is rethrown on each caller's thread: give each caller its
// own copy of a kms::Error rather than one object rethrown concurrently.
std::exception_ptr copy_for_caller(const std::exception_ptr& failure) {
    try {
        std::rethrow_exception(failure);
    } catch (const Error& e) {
        return std::make_exception_ptr(Error(e));
    } catch (...) {
        return failure;
    }
}

}  // namespace

GroupCommitter::GroupCommitter(MDB_env* env, std::size_t max_batch, Runner runner,
                               BatchHooks hooks)
    : m_env(env),
      m_max_batch(max_batch == 0 ? 1 : max_batch),
      m_runner(std::move(runner)),
      m_hooks(std::move(hooks)) {
    m_thread = std::thread([this] { writer_loop(); });
    m_writer_id = m_thread.get_id();
}

GroupCommitter::~GroupCommitter() {
    stop();
}

void GroupCommitter::stop() noexcept {
    {
        std::lock_guard lock(m_mutex);
        m_stopping = true;
    }
    m_work_cv.notify_one();
    if (m_thread.joinable()) m_thread.join();
}

void GroupCommitter::Request::wait() {
    std::unique_lock lock(mutex);
    cv.wait(lock, [&] { return done; });
    if (error) std::rethrow_exception(error);
}

void GroupCommitter::Request::complete() noexcept {
    // Notified under the lock, so that the notification cannot reach a condition variable
    // whose request the last owner has already dropped.
    std::lock_guard lock(mutex);
    done = true;
    cv.notify_all();
}

GroupCommitter::RequestPtr GroupCommitter::push(WriteFn fn) {
    if (std::this_thread::get_id() == m_writer_id)
        throw Error(ErrorCode::Internal,
                    "MetadataStore::write() called from inside a write callback");
    auto request = std::make_shared<Request>(std::move(fn));
    {
        std::lock_guard lock(m_mutex);
        if (m_stopping) throw Error(ErrorCode::StoreError, "the metadata store is closing");
        m_queue.push_back(request);
    }
    m_work_cv.notify_one();
    return request;
}

void GroupCommitter::submit(const WriteFn& fn) {
    push(fn)->wait();
}

std::shared_ptr<core::QueuedWrite> GroupCommitter::enqueue(WriteFn fn) {
    return push(std::move(fn));
}

GroupCommitStats GroupCommitter::stats() const {
    GroupCommitStats s;
    s.batches = m_batches.load(std::memory_order_relaxed);
    s.calls = m_calls.load(std::memory_order_relaxed);
    std::lock_guard lock(m_mutex);
    s.queued = m_queue.size();
    return s;
}

void GroupCommitter::writer_loop() noexcept {
    std::vector<RequestPtr> batch;
    batch.reserve(m_max_batch);  // no allocation inside the loop
    std::unique_lock lock(m_mutex);
    for (;;) {
        m_work_cv.wait(lock, [&] { return m_stopping || !m_queue.empty(); });
        if (m_queue.empty()) return;  // stopping, and everything queued has been served
        batch.clear();
        while (!m_queue.empty() && batch.size() < m_max_batch) {
            batch.push_back(m_queue.front());
            m_queue.pop_front();
        }
        // Callers keep queueing while this batch runs; they form the next one.
        lock.unlock();
        run_batch(batch);
        lock.lock();
    }
}

void GroupCommitter::run_batch(const std::vector<RequestPtr>& batch) noexcept {
    auto finish = [&] {
        m_batches.fetch_add(1, std::memory_order_relaxed);
        m_calls.fetch_add(batch.size(), std::memory_order_relaxed);
        for (const RequestPtr& r : batch) r->complete();
    };
    std::optional<lmdb::Txn> parent;
    try {
        parent.emplace(lmdb::Txn::begin(m_env, nullptr, 0));
        if (m_hooks.begin) m_hooks.begin(parent->get());
    } catch (...) {
        const std::exception_ptr failure = std::current_exception();
        for (const RequestPtr& r : batch) r->error = copy_for_caller(failure);
        finish();
        return;
    }

    std::size_t succeeded = 0;
    for (const RequestPtr& r : batch) {
        try {
            // A child that fails is aborted on unwinding, which leaves the parent as it was.
            // A child whose commit fails may poison the parent (LMDB sets MDB_TXN_ERROR on it
            // when it cannot undo a half-merge); the parent's commit then fails below and
            // every call of the batch learns it.
            lmdb::Txn child = lmdb::Txn::begin(m_env, parent->get(), 0);
            m_runner(child.get(), r->fn);
            child.commit();
            ++succeeded;
        } catch (...) {
            r->error = std::current_exception();
        }
    }

    if (succeeded == 0) {
        parent->abort();
    } else {
        try {
            if (m_hooks.end) m_hooks.end(parent->get());
            parent->commit();
        } catch (...) {
            const std::exception_ptr failure = std::current_exception();
            for (const RequestPtr& r : batch)
                if (!r->error) r->error = copy_for_caller(failure);
        }
    }
    finish();
}

}  // namespace kms::store
