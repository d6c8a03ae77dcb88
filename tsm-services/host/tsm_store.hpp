// The TSM store: tsmd's own LMDB environment (never kmsd's), shared by every tsmd instance on
// the machine (LMDB is safe across processes). Each plugin instance sees only its own
// namespace of (table, key) -> value; every put and delete is a durable commit, and concurrent
// ones share it (group commit: one fsync per batch, not per write).
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "domain/bytes.hpp"

namespace kms::tsm {

class TsmStore {
  public:
    /// Opens (creating when missing, mode 0700) the environment in @p dir. Throws
    /// std::runtime_error naming the directory and LMDB's reason.
    explicit TsmStore(const std::string& dir, std::size_t map_size = std::size_t{1} << 30);
    ~TsmStore();
    TsmStore(const TsmStore&) = delete;
    TsmStore& operator=(const TsmStore&) = delete;

    /// Largest value stored.
    static constexpr std::size_t kMaxValue = 1024 * 1024;

    /// True when @p name is 1..200 printable ASCII characters (a table or a key).
    static bool valid_name(std::string_view name);

    /// std::invalid_argument for a bad instance, table or key or a value over kMaxValue;
    /// std::runtime_error when LMDB fails (nothing is written then). Thread-safe: returns once
    /// the write is durable; writes made concurrently by other threads are committed together
    /// (each in its own nested transaction, so one failing write fails only its caller).
    void put(std::string_view instance, std::string_view table, std::string_view key,
             ByteView value);
    std::optional<Bytes> get(std::string_view instance, std::string_view table,
                             std::string_view key) const;
    /// True when something was deleted.
    bool erase(std::string_view instance, std::string_view table, std::string_view key);
    /// Writes @p value only if the key's value is @p expected (nullopt: only if the key has
    /// none), checked and written in one write transaction, so atomic against every writer of
    /// the environment, in this process or another. True when written, false (nothing written)
    /// when the value differs. Errors as put().
    bool compare_and_put(std::string_view instance, std::string_view table, std::string_view key,
                         std::optional<ByteView> expected, ByteView value);

  private:
    struct Env;
    struct Write;
    /// Queues @p w and returns when its batch is committed; rethrows its own error.
    void commit(Write& w);
    void run_batch(const std::vector<Write*>& batch) noexcept;
    std::unique_ptr<Env> m_env;
};

}  // namespace kms::tsm
