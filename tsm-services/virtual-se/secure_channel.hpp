// The card side of one GlobalPlatform secure channel session, as the Issuer Security Domain runs
// it between INITIALIZE UPDATE and the end of the session: the interface the ISD dispatcher
// (virtual_se.hpp) uses, implemented by Scp02CardChannel and Scp03CardChannel.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "domain/apdu.hpp"
#include "domain/bytes.hpp"
#include "domain/secure_bytes.hpp"

namespace kms::tsm::vse {

/// One session. Created by INITIALIZE UPDATE (it then holds the session keys and the card
/// cryptogram), authenticated by EXTERNAL AUTHENTICATE, then unwraps each command and wraps each
/// response in order: unwrap() of a command, then wrap() of its response, before the next
/// unwrap(). Session keys are wiped on destruction. Not thread-safe (a card is single-threaded).
class CardSecureChannel {
  public:
    virtual ~CardSecureChannel() = default;

    /// The INITIALIZE UPDATE response data, without SW1 SW2.
    virtual Bytes initialize_update_response() const = 0;

    /// Checks EXTERNAL AUTHENTICATE (already parsed, CLA 84 INS 82): the security level in P1, the
    /// host cryptogram and the C-MAC. Returns the status word: 9000 when the session is now
    /// authenticated, 6A86 for a level the card does not allow, 6300 when the host cryptogram
    /// is wrong, 6982 when the C-MAC is wrong, 6700 for a data field that is not 16 bytes.
    /// On anything but 9000 the caller drops the session.
    virtual std::uint16_t external_authenticate(const core::CommandApdu& command) = 0;

    virtual bool authenticated() const noexcept = 0;
    /// The level of EXTERNAL AUTHENTICATE P1 (0 before it).
    virtual std::uint8_t security_level() const noexcept = 0;

    /// Verifies and removes the protection the security level requires from @p command (as
    /// received). Returns the plain command (CLA without the secure messaging bit), or nullopt
    /// when the protection is missing or does not verify; the caller then answers 6982 and
    /// drops the session, as cards do. Must follow a successful external_authenticate().
    virtual std::optional<core::CommandApdu> unwrap(const core::CommandApdu& command) = 0;

    /// Protects the response to the command last unwrapped, as the level requires (R-MAC,
    /// R-ENCRYPTION). Error status words get no protection.
    virtual core::ResponseApdu wrap(const core::ResponseApdu& response) = 0;

    /// Decrypts key values and sensitive data sent under the DEK (PUT KEY, STORE DATA with
    /// encrypted data): SCP02 TDEA-ECB under the session DEK, SCP03 AES-CBC with a zero ICV under
    /// the static DEK. nullopt when @p data is not whole cipher blocks.
    virtual std::optional<SecureBytes> decrypt_with_dek(ByteView data) const = 0;
    /// Cipher block length of the DEK (8 for SCP02, 16 for SCP03).
    virtual std::size_t dek_block_size() const noexcept = 0;
};

}  // namespace kms::tsm::vse
