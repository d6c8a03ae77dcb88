// The reader side of the virtual SE's TCP transport, for wallets and tests, without Poco: the
// vpcd framing of vsmartcard (every message a 2-byte big-endian length then the payload; a
// 1-byte payload is a control: 00 power off, 01 power on, 02 reset, 04 get ATR; the card answers
// only the ATR request and command APDUs). Built as virtual_se_link_lib / virtual_se_link_dep.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "domain/bytes.hpp"

namespace kms::tsm::vse {

/// vpcd control bytes (vsmartcard vpcd.h: VPCD_CTRL_OFF, _ON, _RESET, _ATR).
inline constexpr std::uint8_t kVpcdPowerOff = 0x00;
inline constexpr std::uint8_t kVpcdPowerOn = 0x01;
inline constexpr std::uint8_t kVpcdReset = 0x02;
inline constexpr std::uint8_t kVpcdGetAtr = 0x04;

/// Sends one frame (2-byte length, @p payload of 1..65535 bytes) on the connected socket @p fd,
/// waiting at most @p timeout_ms for the socket to take each part. Throws kms::Error
/// (HsmUnavailable, errno kept) when the peer is gone or the time runs out, (InvalidArgument)
/// for an empty or too long payload.
void vpcd_send(int fd, ByteView payload, int timeout_ms);

/// Receives one frame's payload from @p fd, waiting at most @p timeout_ms for each part (a
/// negative timeout waits for ever). Returns nullopt when the peer closed the connection cleanly
/// before the first byte of a frame; throws kms::Error(HsmUnavailable) on a timeout, a
/// connection error or a close in the middle of a frame.
std::optional<Bytes> vpcd_receive(int fd, int timeout_ms);

/// One connection to a virtual SE, playing the reader: a card started with `virtual-se --listen`
/// (connect with the constructor) or a card that connected to a listening socket of ours, as
/// vicc connects to vpcd (adopt()). Move-only; closes the socket on destruction. Not
/// thread-safe: one thread at a time per link (a card answers one APDU at a time).
///
/// Every call throws kms::Error(HsmUnavailable) with the host, port and reason when the
/// connection cannot be made, is closed by the card or the card does not answer within the
/// timeout; and kms::Error(Integrity) when the card answers something that is no response APDU
/// (fewer than 2 bytes). After an error the link is unusable: make a new one.
class TcpCardLink {
  public:
    /// Connects to @p host (a numeric IPv4 or IPv6 address, or a name) on @p port, giving up
    /// after @p timeout_ms; @p timeout_ms is also the longest wait for each answer.
    TcpCardLink(std::string host, std::uint16_t port, int timeout_ms);
    /// Takes ownership of the connected socket @p fd (closed by the destructor, even when this
    /// throws). @p peer names it in error messages.
    static TcpCardLink adopt(int fd, int timeout_ms, std::string peer = "card");
    ~TcpCardLink();
    TcpCardLink(TcpCardLink&& other) noexcept;
    TcpCardLink& operator=(TcpCardLink&& other) noexcept;
    TcpCardLink(const TcpCardLink&) = delete;
    TcpCardLink& operator=(const TcpCardLink&) = delete;

    /// The card's Answer To Reset (control 04).
    Bytes atr();
    /// Sends one command APDU and returns the response APDU (data || SW1 SW2).
    Bytes transmit(ByteView command_apdu);
    /// Resets the card (control 02): its session ends and the ISD is selected. No answer.
    void reset();
    /// Power on (01) and off (00): the card ends its session and selects the ISD. No answer.
    void power_on();
    void power_off();

    int fd() const noexcept { return m_fd; }

  private:
    TcpCardLink(int fd, int timeout_ms, std::string peer) noexcept;
    void control(std::uint8_t code);
    [[noreturn]] void fail(const std::string& what) const;

    int m_fd = -1;
    int m_timeout_ms = 0;
    std::string m_peer;
};

/// A TCP socket listening on @p host (a numeric address) and @p port (0: any free port), for the
/// vpcd side of a test or for `virtual-se --listen`. Returns the socket; the port actually bound
/// goes to @p bound_port. Throws kms::Error(HsmUnavailable, errno) when it cannot listen,
/// (InvalidArgument) for a host that is not a numeric address.
int tcp_listen(const std::string& host, std::uint16_t port, std::uint16_t& bound_port);

/// Accepts one connection on @p listen_fd, waiting at most @p timeout_ms (negative: for ever).
/// Returns the connected socket, or -1 when the time ran out.
int tcp_accept(int listen_fd, int timeout_ms);

/// Connects to @p host : @p port within @p timeout_ms; returns the socket. Throws
/// kms::Error(HsmUnavailable) naming the peer and the reason.
int tcp_connect(const std::string& host, std::uint16_t port, int timeout_ms);

}  // namespace kms::tsm::vse
