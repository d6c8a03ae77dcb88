// The wallet's PC/SC card: a secure element in a reader managed by pcscd (a real reader, or the
// virtual SE behind vsmartcard-vpcd). T=0 and T=1; for T=0 the ISO/IEC 7816-4 rules a terminal
// applies (61xx: GET RESPONSE, 6Cxx: the same command again with Le = xx) are applied here, so
// the TSM sees the card's answer as over T=1.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "wallet_flow.hpp"

namespace kms::tsm::wallet {

/// The names of the readers pcscd knows (empty when none). Throws std::runtime_error when
/// pcscd cannot be reached.
std::vector<std::string> pcsc_readers();

class PcscCard : public CardPort {
  public:
    /// Connects (shared mode, T=0 or T=1) to the card in @p reader: a reader name as
    /// pcsc_readers() lists it, or its index there ("0", "1", ...). Throws std::runtime_error
    /// naming the reader and pcscd's reason (no such reader, no card, pcscd not running).
    explicit PcscCard(const std::string& reader);
    ~PcscCard() override;
    PcscCard(const PcscCard&) = delete;
    PcscCard& operator=(const PcscCard&) = delete;

    /// Sends @p command; returns the complete response (data || SW1 SW2). Throws
    /// std::runtime_error when the reader fails.
    Bytes transmit(ByteView command) override;
    /// The card's ATR.
    Bytes atr() const;
    /// The reader's name as pcscd gives it.
    const std::string& reader() const;

  private:
    struct Impl;
    std::unique_ptr<Impl> m_impl;
};

}  // namespace kms::tsm::wallet
