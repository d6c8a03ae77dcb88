// Crash test support: the key records in kmsd's LMDB store, read (and, to plant a store
// orphan, edited) directly while kmsd is stopped, independently of the reconciler under test.
#pragma once

#include <string>
#include <vector>

#include "domain/key.hpp"

namespace kms::test {

/// Every record of the `keys` table of the store under @p data_dir (DIR/store), in key order.
/// Opens and closes its own LMDB environment: **call it only while kmsd is stopped** (lmdb.h
/// "Caveats": one environment per file per process; a second process may read, but a stopped
/// kmsd keeps the picture still). Throws std::runtime_error naming the LMDB call and its rc.
std::vector<core::KeyRecord> read_key_records(const std::string& data_dir);

/// The store orphans by the reconciler's definition (docs/architecture.md "Crash consistency"):
/// keys that are not destroyed whose current version has neither a key block nor a public key
/// (or that have no version at all). Their ids, sorted.
std::vector<std::string> store_orphans(const std::vector<core::KeyRecord>& records);

/// Empties the key block of @p key_id's current version in the stopped kmsd's store: the
/// record of a live key whose material is gone, as a lost HSM write would leave it. Throws
/// std::runtime_error when the key does not exist or LMDB fails.
void strip_current_block(const std::string& data_dir, const std::string& key_id);

}  // namespace kms::test
