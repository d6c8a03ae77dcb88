// The port through which the SE TSM keeps its state: a durable key-value store of named tables.
// The plugin implements it over tsm_host_api's store (tsmd's TSM store, shared by every tsmd
// process on the machine); the unit tests over a map.
#pragma once

#include <optional>
#include <string>

namespace kms::tsm::se {

class SeStore {
  public:
    virtual ~SeStore() = default;
    /// The value, or std::nullopt when there is none. Throws kms::Error(StoreError) when the
    /// store cannot be read.
    virtual std::optional<std::string> get(const std::string& table, const std::string& key) = 0;
    /// Writes durably before returning; throws kms::Error(StoreError) when it cannot.
    virtual void put(const std::string& table, const std::string& key,
                     const std::string& value) = 0;
    /// Writes @p value only if the key's value is @p expected (std::nullopt: only if it has
    /// none), atomically against every other writer, in any tsmd process sharing the store
    /// (tsm_plugin.h ABI 2, store_compare_and_put). False, nothing written, when the value
    /// differs. Throws like put().
    virtual bool put_if(const std::string& table, const std::string& key,
                        const std::optional<std::string>& expected, const std::string& value) = 0;
};

}  // namespace kms::tsm::se
