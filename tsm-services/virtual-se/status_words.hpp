// ISO/IEC 7816-4 §5.6 and GPCS 2.2.1 §11.1.3 status words the virtual SE answers with.
#pragma once

#include <cstdint>

namespace kms::tsm::vse::sw {

inline constexpr std::uint16_t kOk = 0x9000;
inline constexpr std::uint16_t kAuthenticationFailed = 0x6300;  ///< host cryptogram (GPCS 11.5.3)
inline constexpr std::uint16_t kWrongLength = 0x6700;
inline constexpr std::uint16_t kLogicalChannelNotSupported = 0x6881;
inline constexpr std::uint16_t kSecureMessagingNotSupported = 0x6882;
inline constexpr std::uint16_t kSecurityStatusNotSatisfied = 0x6982;
inline constexpr std::uint16_t kConditionsNotSatisfied = 0x6985;
inline constexpr std::uint16_t kWrongData = 0x6A80;
inline constexpr std::uint16_t kFunctionNotSupported = 0x6A81;
inline constexpr std::uint16_t kFileNotFound = 0x6A82;
inline constexpr std::uint16_t kIncorrectP1P2 = 0x6A86;
inline constexpr std::uint16_t kReferencedDataNotFound = 0x6A88;
inline constexpr std::uint16_t kInsNotSupported = 0x6D00;
inline constexpr std::uint16_t kClaNotSupported = 0x6E00;
inline constexpr std::uint16_t kAlgorithmNotSupported = 0x9484;  ///< PUT KEY (GPCS 11.8.3.2)
inline constexpr std::uint16_t kInvalidKeyCheckValue = 0x9485;   ///< PUT KEY (GPCS 11.8.3.2)

}  // namespace kms::tsm::vse::sw
