// The card behind the virtual-se executable's TCP transport: one VirtualSe shared by the
// connections (behind a mutex), the vpcd messages it answers, and the state file it saves
// atomically after every APDU that changed the card.
#pragma once

#include <atomic>
#include <mutex>
#include <optional>
#include <string>

#include "domain/bytes.hpp"
#include "virtual_se.hpp"

namespace kms::tsm::vse {

/// Writes @p text to @p path atomically: a temporary file in the same folder (mode 0600),
/// fsync, rename over @p path, fsync of the folder; a reader sees the old file or the new
/// one, whole. Throws kms::Error(StoreError, errno) on any failure (the old file stays).
void write_file_atomically(const std::string& path, const std::string& text);

/// One card served over vpcd frames. Thread-safe: every call takes the card's mutex.
class CardServer {
  public:
    /// @p state_path: where the card's state is saved (empty: not saved). The state is written
    /// once now, so the file always exists while the card runs.
    CardServer(VirtualSe card, Bytes atr, std::string state_path);

    /// Answers one vpcd payload: a 1-byte control (00 power off, 01 power on, 02 reset: the
    /// card resets, nullopt; 04: the ATR; others: ignored, nullopt) or a command APDU (the
    /// response APDU). The state is saved, when the APDU changed it, before the answer is
    /// returned, so an answered APDU survives a crash of the process. A failed save is
    /// reported on stderr and answered 6581 (memory failure, GPCS 2.2.1 §11.1.3) instead of
    /// the card's answer; the card in memory keeps the change.
    std::optional<Bytes> handle(ByteView payload);

    /// Serves one connected socket until the peer closes it, @p stop becomes true (checked at
    /// least every 200 ms) or a frame error; closes @p fd and resets the card (the next
    /// reader finds it as after a power cycle). Never throws.
    void serve(int fd, const std::atomic<bool>& stop);

  private:
    void save_if_changed();

    std::mutex m_mutex;
    VirtualSe m_card;
    Bytes m_atr;
    std::string m_state_path;
    std::string m_saved;  ///< the JSON last written
};

}  // namespace kms::tsm::vse
