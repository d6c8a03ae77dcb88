// Crash test: the model of what kmsd acknowledged, and the client threads that create, rotate
// and destroy keys (destroy under dual control) until kmsd is killed under them.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "kmsd_process.hpp"

namespace kms::test {

/// The operation a client had sent and not yet seen the final 2xx of when kmsd died: its
/// outcome is unknown, so the check after the restart accepts either the old or the new state,
/// but nothing in between.
enum class Pending { None, Create, Rotate, Deactivate, Destroy };

/// Where a key stands by the acknowledged operations. Absent: a create that was never
/// acknowledged and, after the restart, turned out not to have happened.
enum class Life { Absent, Active, Deactivated, Destroyed };

const char* pending_name(Pending p);
const char* life_name(Life l);

/// One key of the model. Only its owning worker touches it while a round runs; only the main
/// thread touches it between rounds (the workers are joined then).
struct ModelKey {
    std::string name;
    std::string id;  ///< "" while an unacknowledged create has not been resolved
    Life life = Life::Absent;
    std::uint32_t version = 0;                 ///< current version when Active or Deactivated
    std::map<std::uint32_t, std::string> kcv;  ///< version -> KCV (lower-case hex), as acknowledged
    std::map<std::uint32_t, std::string> tags;  ///< version -> AES-CMAC(K, 0^16), lower-case hex
    Pending pending = Pending::None;
    bool touched = false;  ///< changed or used in the current round: checked in full after it
    /// The dual-control request of a destroy whose execute's 200 did not come back, and whether
    /// the approver's vote was acknowledged: finished or checked after the restart
    /// (finish_destroy_approvals in crash_checks.hpp).
    std::string approval;
    bool approval_voted = false;
};

/// The keys of one worker slot, across all rounds.
struct Slot {
    std::vector<ModelKey> keys;
    unsigned next_name = 0;
};

/// Failures seen by any thread, reported by the main thread (gtest assertions stay there).
class Failures {
  public:
    void add(const std::string& what) {
        std::lock_guard<std::mutex> lock(m_mutex);
        m_list.push_back(what);
    }
    std::vector<std::string> take() {
        std::lock_guard<std::mutex> lock(m_mutex);
        return std::exchange(m_list, {});
    }

  private:
    std::mutex m_mutex;
    std::vector<std::string> m_list;
};

/// Acknowledged operations over the whole run (for the summary line and docs/crash-safety.md).
struct Counters {
    std::atomic<unsigned> created{0}, rotated{0}, deactivated{0}, destroyed{0};
    std::atomic<unsigned> transport_errors{0};  ///< requests cut by the kill
};

/// What every worker needs to reach kmsd.
struct Target {
    int port = 0;
    std::string ca_file;
    std::string officer;   ///< bearer token of a key-officer: requests and executes
    std::string approver;  ///< bearer token of a second key-officer: approves destroys
};

/// AES-CMAC over 16 zero bytes, the data every usability check MACs: for AES the KCV is its
/// first 3 bytes (docs/api.md, "The key object").
inline constexpr const char* kZeroBlockHex = "00000000000000000000000000000000";

/// Runs operations against kmsd for one round on its own connections until @p stop is set or
/// a request fails in transport (the kill). Every operation marks its key Pending before the
/// first request and clears the mark only after the final 2xx, so the model never claims more
/// than kmsd acknowledged. An unexpected answer (any status other than the documented one) is
/// added to @p failures and ends the worker.
class Worker {
  public:
    Worker(Slot& slot, const Target& target, unsigned round, unsigned slot_index,
           std::uint64_t seed, const std::atomic<bool>& stop, Failures& failures,
           Counters& counters)
        : m_slot(slot),
          m_target(target),
          m_round(round),
          m_index(slot_index),
          m_rng(seed),
          m_stop(stop),
          m_failures(failures),
          m_counters(counters) {}

    void run() noexcept;

  private:
    bool create();
    bool rotate(ModelKey& k);
    bool destroy(ModelKey& k);
    bool record_tag(ModelKey& k);
    bool fail(const std::string& what);

    Slot& m_slot;
    const Target& m_target;
    unsigned m_round;
    unsigned m_index;
    std::mt19937_64 m_rng;
    const std::atomic<bool>& m_stop;
    Failures& m_failures;
    Counters& m_counters;
    HttpsClient* m_officer = nullptr;
    HttpsClient* m_approver = nullptr;
};

}  // namespace kms::test
